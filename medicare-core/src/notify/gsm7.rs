//! The GSM 03.38 7-bit alphabet, and faithful transliteration into it.
//!
//! A text made only of the basic alphabet and its extension table is sent 7 bits a
//! character; one other character anywhere switches the whole SMS to UCS-2, which fits
//! less than half as much per segment. A patient's name or an organisation name with a
//! typographic apostrophe (`O’Brien`) therefore costs more than the same name typed with
//! `'`. [`gsm7_transliterate`] replaces such characters, but only by an equivalent a
//! reader sees as the same text:
//!
//! | written | sent as | why it is faithful |
//! |---|---|---|
//! | `‘ ’ ‚ ‛ ′ ʼ` (U+2018, U+2019, U+201A, U+201B, U+2032, U+02BC) | `'` | typographic forms of the apostrophe / single quote |
//! | `“ ” „ ‟ ″` (U+201C–U+201F, U+2033) | `"` | typographic forms of the double quote |
//! | `‐ ‑ ‒ – — ― −` (U+2010–U+2015, U+2212) | `-` | hyphen and dash forms |
//! | `…` (U+2026) | `...` | the ellipsis is three full stops |
//! | no-break and typographic spaces (U+00A0, U+2000–U+200A, U+202F, U+205F) | space | spaces |
//! | soft hyphen, zero-width space, word joiner, byte-order mark (U+00AD, U+200B, U+2060, U+FEFF) | removed | invisible |
//! | a letter written as base + combining mark whose composed form is in the alphabet (`e` + U+0301) | the composed letter (`é`) | canonically equivalent (Unicode NFC) |
//!
//! Nothing else is changed. In particular letters that are letters of their own and not
//! in the GSM-7 alphabet keep their spelling: `ŵ ŷ` (Welsh), `ł ą ę ś ź ż ć ń ó`
//! (Polish), `ë ï á í ú`, lower-case `ç` (GSM-7 has only `Ç`). Writing `Łukasz` as `Lukasz`
//! or `Dŵr` as `Dwr` misspells a person's or a place's name, so such a value stays as it
//! is and its message stays UCS-2 (the campaign preview counts those). And a value is
//! returned unchanged unless transliteration makes all of it GSM-7: half a repair saves
//! nothing, since one remaining character keeps the message UCS-2.

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// True when `c` is in the GSM-7 basic alphabet (one septet).
pub fn is_gsm7_basic(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ' ' || BASIC.contains(c)
}

/// The septets `c` takes in GSM-7 (1, or 2 for the extension table), or `None` when it is
/// not in the alphabet.
pub fn gsm7_width(c: char) -> Option<usize> {
    if is_gsm7_basic(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// True when all of `text` can be sent in GSM-7.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_width(c).is_some())
}

/// The faithful GSM-7 equivalent of one character outside the alphabet (see the module
/// table), if it has one.
fn equivalent(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => "\"",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '\u{2026}' => "...",
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' => " ",
        '\u{00AD}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}' => "",
        _ => return None,
    })
}

/// `value` written in the GSM-7 alphabet by the faithful equivalents of the module table,
/// or `value` unchanged when it is GSM-7 already or some character has no faithful
/// equivalent.
pub fn gsm7_transliterate(value: &str) -> Cow<'_, str> {
    if is_gsm7(value) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    for c in value.nfc() {
        if gsm7_width(c).is_some() {
            out.push(c);
        } else if let Some(s) = equivalent(c) {
            out.push_str(s);
        } else {
            return Cow::Borrowed(value);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typography_becomes_plain() {
        assert_eq!(gsm7_transliterate("O’Brien"), "O'Brien");
        assert_eq!(gsm7_transliterate("‘Sam’ “Jo”"), "'Sam' \"Jo\"");
        assert_eq!(
            gsm7_transliterate("Smith–Jones — x − y"),
            "Smith-Jones - x - y"
        );
        assert_eq!(gsm7_transliterate("Ann\u{00A0}Marie…"), "Ann Marie...");
        assert_eq!(gsm7_transliterate("Jo\u{00AD}hann\u{200B}"), "Johann");
        assert_eq!(
            gsm7_transliterate("Kaʻiulani ʼOkay").as_ref(),
            "Kaʻiulani ʼOkay"
        );
        assert_eq!(gsm7_transliterate("ʼOkay"), "'Okay");
    }

    #[test]
    fn decomposed_letters_are_composed() {
        let decomposed = "Rene\u{0301}e Mun\u{0303}oz A\u{030A}sa";
        assert!(!is_gsm7(decomposed));
        let t = gsm7_transliterate(decomposed);
        assert_eq!(t, "Renée Muñoz Åsa");
        assert!(is_gsm7(&t));
    }

    #[test]
    fn letters_without_a_faithful_equivalent_are_kept() {
        for name in [
            "Dŵr",
            "Łukasz",
            "Zoë",
            "François",
            "José",
            "Ольга",
            "O’Brien-Łoś",
        ] {
            assert_eq!(gsm7_transliterate(name), name, "{name}");
            assert!(matches!(gsm7_transliterate(name), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn gsm7_text_is_borrowed_as_is() {
        for text in ["Renée", "Ça va", "a{b}€", "ΔΦΓ"] {
            assert!(is_gsm7(text), "{text}");
            assert!(
                matches!(gsm7_transliterate(text), Cow::Borrowed(_)),
                "{text}"
            );
        }
        assert!(is_gsm7("Renée [Ça] €5"));
        assert_eq!(gsm7_width('€'), Some(2));
        assert_eq!(gsm7_width('e'), Some(1));
        assert_eq!(gsm7_width('ë'), None);
    }
}
