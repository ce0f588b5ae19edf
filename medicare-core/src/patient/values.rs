//! Validated patient values. Each `parse` returns a message that describes the problem
//! without repeating the value (the value may be personal data).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! redacted_debug {
    ($t:ty, $name:literal) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!($name, "(<redacted>)"))
            }
        }
    };
}

/// `TryFrom<String>` (through `parse`) and `From<T> for String`, so serde reads and
/// writes each value as a plain string and validates it on the way in.
macro_rules! string_value {
    ($($t:ty),+) => {$(
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                <$t>::parse(&s)
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    )+};
}

string_value!(NhsNumber, Phone, Email, Postcode, ConditionCode);

/// Checks a required free-text value (a name): 1 to 200 characters, no control
/// characters. Returns it unchanged.
pub fn check_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("is required".to_string())
    } else if s.chars().count() > 200 || s.chars().any(char::is_control) {
        Err("must be at most 200 characters, with no control characters".to_string())
    } else {
        Ok(s.to_string())
    }
}

/// Checks an external id: 1 to 64 ASCII letters, digits or `- _ . /`.
pub fn check_external_id(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        return Err("must be 1 to 64 letters, digits or - _ . /".to_string());
    }
    Ok(s.to_string())
}

/// A 10-digit NHS number whose modulus-11 check digit is correct.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NhsNumber(String);
redacted_debug!(NhsNumber, "NhsNumber");

impl NhsNumber {
    /// Parses `s` (spaces and hyphens allowed between digit groups).
    pub fn parse(s: &str) -> Result<Self, String> {
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("an NHS number has exactly 10 digits".into());
        }
        let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
        match Self::check_digit(&d[..9]) {
            Some(c) if c == d[9] => Ok(NhsNumber(digits)),
            _ => Err("the NHS number's check digit is wrong".into()),
        }
    }

    /// The modulus-11 check digit of nine digits, or `None` when no digit is valid
    /// (such a nine-digit stem is never issued).
    pub fn check_digit(stem: &[u32]) -> Option<u32> {
        debug_assert_eq!(stem.len(), 9);
        let sum: u32 = stem.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        match 11 - sum % 11 {
            11 => Some(0),
            10 => None,
            c => Some(c),
        }
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form (`+` then 8 to 15 digits).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);
redacted_debug!(Phone, "Phone");

impl Phone {
    /// Parses an E.164 number; a UK national mobile number (`07...`) is converted to
    /// `+44...`. Spaces, hyphens and brackets are ignored.
    pub fn parse(s: &str) -> Result<Self, String> {
        let compact: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let e164 = match compact.strip_prefix('0') {
            Some(rest) if !rest.starts_with('0') => format!("+44{rest}"),
            _ => compact,
        };
        let digits = e164
            .strip_prefix('+')
            .ok_or("a phone number must be E.164 (+447700900123) or UK national (07700900123)")?;
        if !(8..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(
                "a phone number must be E.164: '+', a country code, then 8 to 15 digits in all"
                    .into(),
            );
        }
        Ok(Phone(e164))
    }

    /// The E.164 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address (checked for shape, not deliverability).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);
redacted_debug!(Email, "Email");

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, no spaces or
    /// control characters, at most 254 characters.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || "an email address must look like name@example.org".to_string();
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
            || s.contains(['<', '>', '"', ',', ';', '\\'])
        {
            return Err(bad());
        }
        Ok(Email(s.to_string()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A UK postcode, normalised to upper case with one space before the inward code
/// (`SW1A 1AA`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Postcode(String);
redacted_debug!(Postcode, "Postcode");

impl Postcode {
    /// Parses and normalises a UK postcode.
    pub fn parse(s: &str) -> Result<Self, String> {
        let compact: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let bad = || "a postcode must be a UK postcode such as SW1A 1AA".to_string();
        if !(5..=7).contains(&compact.len()) || !compact.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(bad());
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        let ib = inward.as_bytes();
        let ob = outward.as_bytes();
        let inward_ok =
            ib[0].is_ascii_digit() && ib[1].is_ascii_alphabetic() && ib[2].is_ascii_alphabetic();
        let outward_ok = ob[0].is_ascii_alphabetic() && ob.iter().any(u8::is_ascii_digit);
        if !(inward_ok && outward_ok) {
            return Err(bad());
        }
        Ok(Postcode(format!("{outward} {inward}")))
    }

    /// The normalised postcode.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The outward code (the part before the space, e.g. `SW1A`).
    pub fn outward(&self) -> &str {
        self.0.split(' ').next().unwrap_or(&self.0)
    }
}

/// Administrative sex as recorded by the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Not known or not recorded.
    Unknown,
}

impl Sex {
    /// All values, in their stored order.
    pub const ALL: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Other, Sex::Unknown];

    /// Parses `female|f|male|m|other|o|unknown|u` (any case; empty is unknown).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "female" | "f" => Ok(Sex::Female),
            "male" | "m" => Ok(Sex::Male),
            "other" | "o" => Ok(Sex::Other),
            "unknown" | "u" | "" => Ok(Sex::Unknown),
            _ => Err("sex must be one of female, male, other, unknown".into()),
        }
    }

    /// The stored, lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition code: lower-case letters, digits and `_`, 1 to 32 characters (`copd`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConditionCode(String);

impl ConditionCode {
    /// Parses a code; upper case is folded to lower case.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty()
            || s.len() > 32
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err("a condition code is 1 to 32 letters, digits or '_'".into());
        }
        Ok(ConditionCode(s))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConditionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_numbers_check_their_digit() {
        assert!(NhsNumber::parse("943 476 5919").is_ok());
        assert!(NhsNumber::parse("9434765918").is_err());
        assert!(NhsNumber::parse("94347659").is_err());
        assert!(NhsNumber::parse("94347659ab").is_err());
    }

    #[test]
    fn phones_are_e164() {
        assert_eq!(
            Phone::parse("07700 900123").unwrap().as_str(),
            "+447700900123"
        );
        assert_eq!(
            Phone::parse("+447700900123").unwrap().as_str(),
            "+447700900123"
        );
        assert!(Phone::parse("12345").is_err());
        assert!(Phone::parse("+44 77OO").is_err());
        let e = Phone::parse("+1; drop table").unwrap_err();
        assert!(!e.contains("drop"), "message must not echo the value");
    }

    #[test]
    fn emails_and_postcodes() {
        assert!(Email::parse("a.b@example.org").is_ok());
        for bad in [
            "",
            "a@b",
            "@example.org",
            "a b@example.org",
            "a@@example.org",
            "<x>@e.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Postcode::parse("sw1a1aa").unwrap().as_str(), "SW1A 1AA");
        assert_eq!(Postcode::parse("M1 1AE").unwrap().outward(), "M1");
        assert!(Postcode::parse("12345").is_err());
        assert!(Postcode::parse("SW1A 1A").is_err());
    }
}
