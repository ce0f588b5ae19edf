//! SMS segment counting: what an SMS costs is decided here.
//!
//! A message that fits the GSM 03.38 alphabet is sent 7 bits a character: 160 characters
//! in one segment, 153 a segment when concatenated; the extension characters
//! (`^ { } \ [ ~ ] | €` and form feed) take two. Any other character switches the whole
//! message to UCS-2: 70 code units in one segment, 67 a segment when concatenated. A
//! character is never split across segments (an escape pair or a surrogate pair moves
//! whole to the next segment), so counts match what carriers bill.

use serde::Serialize;

/// The encoding an SMS is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsEncoding {
    /// The GSM 7-bit default alphabet.
    Gsm7,
    /// UCS-2 (UTF-16).
    Ucs2,
}

/// How a text is split into SMS segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmsSegments {
    /// The encoding.
    pub encoding: SmsEncoding,
    /// Encoded length: septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    /// Number of segments billed.
    pub segments: usize,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

fn gsm7_width(c: char) -> Option<usize> {
    if c.is_ascii_alphanumeric() || c == ' ' || GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts the segments `text` is billed as.
pub fn sms_segments(text: &str) -> SmsSegments {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_width).collect();
    let (encoding, widths, single, multi) = match gsm {
        Some(w) => (SmsEncoding::Gsm7, w, 160, 153),
        None => (
            SmsEncoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let units: usize = widths.iter().sum();
    let segments = if units <= single {
        1
    } else {
        let (mut segments, mut used) = (1, 0);
        for w in widths {
            if used + w > multi {
                segments += 1;
                used = 0;
            }
            used += w;
        }
        segments
    };
    SmsSegments {
        encoding,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_limits() {
        assert_eq!(sms_segments(&"a".repeat(160)).segments, 1);
        assert_eq!(sms_segments(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_segments(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_segments(&"a".repeat(307)).segments, 3);
        assert_eq!(sms_segments("").segments, 1);
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
        assert_eq!(sms_segments(&text).segments, 2);
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
        let s = sms_segments(&format!("{}😀{}", "a".repeat(66), "a".repeat(10)));
        assert_eq!(s.segments, 2);
    }

    #[test]
    fn gsm_specials_stay_gsm7() {
        assert_eq!(sms_segments("£5 @ é ñ Ü ¿ _").encoding, SmsEncoding::Gsm7);
        assert_eq!(sms_segments("ë").encoding, SmsEncoding::Ucs2);
        assert_eq!(sms_segments("curly ’ quote").encoding, SmsEncoding::Ucs2);
    }
}
