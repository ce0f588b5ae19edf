//! Cost estimates, in exact integer millionths of a pound.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in millionths of the currency unit (exact, no floating point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Money(pub i64);

impl Money {
    /// Parses a decimal amount such as `0.027556` or `2` (at most 6 decimals).
    pub fn parse(s: &str) -> Result<Money, String> {
        let bad =
            || "an amount is a decimal number with at most 6 decimals, e.g. 0.0276".to_string();
        let s = s.trim().trim_start_matches('£');
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() && frac.is_empty()
            || frac.len() > 6
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let frac: i64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(frac))
            .map(Money)
            .ok_or_else(bad)
    }

    /// This amount times `n`.
    pub fn times(self, n: u64) -> Money {
        Money(self.0.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

impl fmt::Display for Money {
    /// Rounded to pence: `£3,100.06`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pence = (self.0 + 5_000).div_euclid(10_000);
        let (pounds, pence) = (pence / 100, pence % 100);
        let digits = pounds.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "£{grouped}.{pence:02}")
    }
}

impl TryFrom<String> for Money {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Money::parse(&s)
    }
}

impl From<Money> for String {
    fn from(m: Money) -> String {
        format!("{}.{:06}", m.0 / 1_000_000, m.0 % 1_000_000)
    }
}

/// What one SMS segment and one email cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    /// The price of one SMS segment.
    pub sms_segment: Money,
    /// The price of one email.
    pub email: Money,
}

impl Default for Prices {
    /// The brief's figures: about £3,100 for 112,500 SMS and £2 for 112,500 emails.
    fn default() -> Self {
        Prices {
            sms_segment: Money(27_556),
            email: Money(18),
        }
    }
}

impl Prices {
    /// The cost of `segments` SMS segments and `emails` emails.
    pub fn estimate(&self, segments: u64, emails: u64) -> Money {
        Money(self.sms_segment.times(segments).0 + self.email.times(emails).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brief_figures() {
        let p = Prices::default();
        assert_eq!(p.estimate(112_500, 0).to_string(), "£3,100.05");
        assert_eq!(p.estimate(0, 112_500).to_string(), "£2.03");
    }

    #[test]
    fn parsing_is_exact() {
        assert_eq!(Money::parse("0.027556"), Ok(Money(27_556)));
        assert_eq!(Money::parse("£2"), Ok(Money(2_000_000)));
        assert_eq!(Money::parse(".5"), Ok(Money(500_000)));
        assert!(Money::parse("0.0000001").is_err());
        assert!(Money::parse("-1").is_err());
        assert!(Money::parse("").is_err());
        assert_eq!(String::from(Money(27_556)), "0.027556");
    }
}
