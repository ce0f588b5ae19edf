//! SMS segment counting: what an SMS costs is decided here.
//!
//! A message that fits the GSM 03.38 alphabet is sent 7 bits a character: 160 characters
//! in one segment, 153 a segment when concatenated; the extension characters
//! (`^ { } \ [ ~ ] | €` and form feed) take two. Any other character switches the whole
//! message to UCS-2: 70 code units in one segment, 67 a segment when concatenated.
//!
//! A concatenated message is cut so that a user-perceived character (an extended grapheme
//! cluster, as the `unicode-segmentation` crate finds them: an emoji with a skin tone or a
//! ZWJ sequence, a flag, a keycap, a letter with combining accents, CR LF) never straddles
//! two segments: the whole cluster moves to the next segment, as an escape pair or a
//! surrogate pair does. Only a cluster longer than a whole segment (which no real text
//! has) is cut inside, and then between code points, never inside a surrogate or escape
//! pair. So counts match what carriers bill, and what [`sms_parts`] returns is what the
//! handset shows as each part.

use super::gsm7::gsm7_width;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// The encoding an SMS is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsEncoding {
    /// The GSM 7-bit default alphabet.
    Gsm7,
    /// UCS-2 (UTF-16).
    Ucs2,
}

impl SmsEncoding {
    /// The encoding `text` is sent in.
    pub fn of(text: &str) -> SmsEncoding {
        if super::gsm7::is_gsm7(text) {
            SmsEncoding::Gsm7
        } else {
            SmsEncoding::Ucs2
        }
    }

    /// Units (septets or UTF-16 code units) that fit one unconcatenated SMS.
    pub fn single_limit(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 160,
            SmsEncoding::Ucs2 => 70,
        }
    }

    /// Units that fit one segment of a concatenated SMS (the rest is the header).
    pub fn segment_limit(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 153,
            SmsEncoding::Ucs2 => 67,
        }
    }

    /// The units `c` takes in this encoding (GSM-7 septets, or UTF-16 code units).
    fn width(self, c: char) -> usize {
        match self {
            SmsEncoding::Gsm7 => gsm7_width(c).unwrap_or(1),
            SmsEncoding::Ucs2 => c.len_utf16(),
        }
    }

    /// The units `s` takes in this encoding.
    fn units(self, s: &str) -> usize {
        s.chars().map(|c| self.width(c)).sum()
    }
}

/// How a text is split into SMS segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSegments {
    /// The encoding.
    pub encoding: SmsEncoding,
    /// Encoded length: septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    /// Number of segments billed.
    pub segments: usize,
}

/// Counts the segments `text` is billed as.
pub fn sms_segments(text: &str) -> SmsSegments {
    let encoding = SmsEncoding::of(text);
    let units = encoding.units(text);
    let segments = if units <= encoding.single_limit() {
        1
    } else {
        cuts(text, encoding).len() + 1
    };
    SmsSegments {
        encoding,
        units,
        segments,
    }
}

/// The parts a concatenated SMS of `text` arrives as (one part when it fits one SMS).
pub fn sms_parts(text: &str) -> Vec<&str> {
    let encoding = SmsEncoding::of(text);
    if encoding.units(text) <= encoding.single_limit() {
        return vec![text];
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for cut in cuts(text, encoding) {
        parts.push(&text[start..cut]);
        start = cut;
    }
    parts.push(&text[start..]);
    parts
}

/// The byte offsets where segments after the first start, for a text that does not fit
/// one SMS.
fn cuts(text: &str, encoding: SmsEncoding) -> Vec<usize> {
    let limit = encoding.segment_limit();
    let mut cuts = Vec::new();
    let mut used = 0;
    let mut place = |at: usize, width: usize, cuts: &mut Vec<usize>| {
        if used + width > limit && used > 0 {
            cuts.push(at);
            used = 0;
        }
        used += width;
    };
    for (at, cluster) in text.grapheme_indices(true) {
        let width = encoding.units(cluster);
        if width <= limit {
            place(at, width, &mut cuts);
        } else {
            // Longer than a segment: it has to be cut, between code points.
            for (offset, c) in cluster.char_indices() {
                place(at + offset, encoding.width(c), &mut cuts);
            }
        }
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `text` is cut into parts of the given unit lengths, and that no part
    /// starts with a character that extends the previous part's last cluster.
    fn assert_parts(text: &str, units: &[usize]) {
        let parts = sms_parts(text);
        let encoding = SmsEncoding::of(text);
        let got: Vec<usize> = parts.iter().map(|p| encoding.units(p)).collect();
        assert_eq!(got, units, "{text:?}");
        assert_eq!(parts.concat(), text);
        assert_eq!(sms_segments(text).segments, parts.len());
        for part in &parts {
            assert!(got.len() == 1 || encoding.units(part) <= encoding.segment_limit());
            let clusters: Vec<&str> = part.graphemes(true).collect();
            let whole: Vec<&str> = text.graphemes(true).collect();
            assert!(
                clusters.iter().all(|c| whole.contains(c)),
                "a cluster of {text:?} was split: {part:?}"
            );
        }
    }

    #[test]
    fn gsm7_limits() {
        assert_eq!(sms_segments(&"a".repeat(160)).segments, 1);
        assert_eq!(sms_segments(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_segments(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_segments(&"a".repeat(307)).segments, 3);
        assert_eq!(sms_segments("").segments, 1);
        assert_eq!(sms_parts(""), vec![""]);
    }

    #[test]
    fn extension_characters_count_double_and_never_split() {
        let s = sms_segments(&"€".repeat(80));
        assert_eq!(
            (s.encoding, s.units, s.segments),
            (SmsEncoding::Gsm7, 160, 1)
        );
        assert_eq!(sms_segments(&"[".repeat(81)).segments, 2);
        // 152 septets then an escape pair: the pair moves to segment 2.
        let text = format!("{}{}{}", "a".repeat(152), "{", "a".repeat(10));
        assert_eq!(sms_segments(&text).units, 164);
        assert_parts(&text, &[152, 12]);
        // Exactly 153 with the pair at the end stays in segment 1.
        assert_parts(
            &format!("{}€{}", "a".repeat(151), "a".repeat(10)),
            &[153, 10],
        );
    }

    #[test]
    fn gsm7_cr_lf_is_one_cluster() {
        // CR LF is one grapheme cluster: at septets 153-154 it moves whole.
        let text = format!("{}\r\n{}", "a".repeat(152), "a".repeat(10));
        assert_parts(&text, &[152, 12]);
        let text = format!("{}\r\n{}", "a".repeat(151), "a".repeat(10));
        assert_parts(&text, &[153, 10]);
    }

    #[test]
    fn ucs2_limits() {
        let s = sms_segments(&"ж".repeat(70));
        assert_eq!((s.encoding, s.segments), (SmsEncoding::Ucs2, 1));
        assert_eq!(sms_segments(&"ж".repeat(71)).segments, 2);
        assert_eq!(sms_segments(&"ж".repeat(134)).segments, 2);
        assert_eq!(sms_segments(&"ж".repeat(135)).segments, 3);
        // One emoji is two UTF-16 units and makes the whole message UCS-2.
        let s = sms_segments(&format!("{}😀", "a".repeat(68)));
        assert_eq!((s.units, s.segments), (70, 1));
        assert_eq!(sms_segments(&format!("{}😀", "a".repeat(66))).units, 68);
        // A surrogate pair straddling 67 moves whole to the next segment.
        assert_parts(
            &format!("{}😀{}", "a".repeat(66), "a".repeat(10)),
            &[66, 12],
        );
    }

    /// `cluster` placed so that it starts `before` units into a UCS-2 text, followed by
    /// filler, must move whole into segment 2 when it would straddle unit 67.
    fn straddles_ucs2_cut(cluster: &str, units: usize) {
        assert_eq!(SmsEncoding::Ucs2.units(cluster), units, "{cluster:?}");
        assert_eq!(cluster.graphemes(true).count(), 1, "{cluster:?}");
        for before in (67 - units + 1)..67 {
            let text = format!("{}{cluster}{}", "ж".repeat(before), "ж".repeat(20));
            assert_parts(&text, &[before, units + 20]);
        }
        // Ending exactly at unit 67, it stays in segment 1.
        let before = 67 - units;
        let text = format!("{}{cluster}{}", "ж".repeat(before), "ж".repeat(20));
        assert_parts(&text, &[67, 20]);
    }

    #[test]
    fn ucs2_clusters_straddling_the_cut_move_whole() {
        // ZWJ family: man, ZWJ, woman, ZWJ, girl, ZWJ, boy (4 surrogate pairs + 3 ZWJ).
        straddles_ucs2_cut("👨\u{200D}👩\u{200D}👧\u{200D}👦", 11);
        // Flag: two regional indicators (Wales is a tag sequence: 7 pairs).
        straddles_ucs2_cut("🇬🇧", 4);
        straddles_ucs2_cut(
            "🏴\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}",
            14,
        );
        // Keycap: digit, variation selector 16, combining enclosing keycap.
        straddles_ucs2_cut("1\u{FE0F}\u{20E3}", 3);
        // Combining marks: w + circumflex (no precomposed form needed), e + two marks.
        straddles_ucs2_cut("w\u{0302}", 2);
        straddles_ucs2_cut("e\u{0301}\u{0323}", 3);
        // Skin tone: waving hand + medium skin tone modifier.
        straddles_ucs2_cut("👋🏽", 4);
        // Skin tone inside a ZWJ sequence: woman health worker, dark skin tone.
        straddles_ucs2_cut("👩🏿\u{200D}⚕\u{FE0F}", 7);
    }

    #[test]
    fn ucs2_clusters_straddling_later_cuts_and_three_segments() {
        // The cut at 134 (second segment boundary) moves a flag whole as well.
        let text = format!("{}🇫🇷{}", "ж".repeat(67 + 65), "ж".repeat(10));
        assert_parts(&text, &[67, 65, 14]);
        assert_eq!(sms_segments(&text).segments, 3);
    }

    #[test]
    fn gsm7_text_with_a_non_gsm_cluster_is_ucs2_and_cut_there() {
        // A name with a combining circumflex makes the message UCS-2; at the cut it
        // moves whole, so the letter is never shown as "w" + a stray accent.
        let text = format!("{}Dw\u{0302}r{}", "a".repeat(65), "a".repeat(10));
        assert_eq!(sms_segments(&text).encoding, SmsEncoding::Ucs2);
        assert_parts(&text, &[66, 13]);
    }

    #[test]
    fn a_cluster_longer_than_a_segment_is_cut_between_code_points() {
        // 100 combining marks on one letter: 101 units, one cluster.
        let zalgo = format!("a{}", "\u{0301}".repeat(100));
        assert_eq!(zalgo.graphemes(true).count(), 1);
        let parts = sms_parts(&zalgo);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), zalgo);
        assert_eq!(SmsEncoding::Ucs2.units(parts[0]), 67);
        // Emoji (surrogate pairs) in an over-long cluster still never split a pair.
        let long = format!("🏳{}", "\u{FE0F}\u{200D}🌈".repeat(20));
        assert_eq!(long.graphemes(true).count(), 1);
        for part in sms_parts(&long) {
            assert!(SmsEncoding::Ucs2.units(part) <= 67);
        }
    }

    #[test]
    fn gsm_specials_stay_gsm7() {
        assert_eq!(sms_segments("£5 @ é ñ Ü ¿ _").encoding, SmsEncoding::Gsm7);
        assert_eq!(sms_segments("ë").encoding, SmsEncoding::Ucs2);
        assert_eq!(sms_segments("curly ’ quote").encoding, SmsEncoding::Ucs2);
    }
}
