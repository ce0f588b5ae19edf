//! Exact decimal numbers for `decimal` fields and their bounds.
//!
//! Answers to a `decimal` question are compared against the form's bounds and stored
//! without ever passing through a binary float, so `0.1` stays `0.1`. A [`Decimal`] is kept
//! in a normalised form (no leading zeros in the whole part, no trailing zeros in the
//! fraction, no negative zero), which makes equality, ordering and display exact and cheap.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// At most this many digits (whole part and fraction together, after normalisation).
pub const MAX_DECIMAL_DIGITS: usize = 18;
/// At most this many digits after the decimal point (the response column keeps 10).
pub const MAX_FRACTION_DIGITS: usize = 10;

/// An exact decimal number: `-?digits[.digits]`, at most [`MAX_DECIMAL_DIGITS`] digits of
/// which at most [`MAX_FRACTION_DIGITS`] after the point.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    /// The whole part, without leading zeros; `"0"` when it is zero.
    whole: String,
    /// The fraction digits, without trailing zeros; empty when there are none.
    fraction: String,
}

/// Why a string is not an acceptable [`Decimal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not of the shape `-?digits[.digits]`.
    Syntax,
    /// More than [`MAX_DECIMAL_DIGITS`] digits.
    TooManyDigits,
    /// More than [`MAX_FRACTION_DIGITS`] digits after the point.
    TooManyFractionDigits,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecimalError::Syntax => {
                f.write_str("not a decimal number (expected -?digits[.digits])")
            }
            DecimalError::TooManyDigits => {
                write!(f, "more than {MAX_DECIMAL_DIGITS} digits")
            }
            DecimalError::TooManyFractionDigits => {
                write!(
                    f,
                    "more than {MAX_FRACTION_DIGITS} digits after the decimal point"
                )
            }
        }
    }
}

impl std::error::Error for DecimalError {}

impl Decimal {
    /// The decimal equal to an integer.
    pub fn from_i64(n: i64) -> Self {
        Decimal {
            negative: n < 0,
            whole: n.unsigned_abs().to_string(),
            fraction: String::new(),
        }
    }

    /// The decimal with the shortest digits that read back as `x` (what a person wrote in
    /// a TOML or JSON file), or `None` when `x` is not finite or does not fit the limits.
    pub fn from_f64(x: f64) -> Option<Self> {
        if !x.is_finite() {
            return None;
        }
        // `Display` for f64 writes the shortest round-tripping digits, never an exponent.
        format!("{x}").parse().ok()
    }

    /// True when the number is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The number of digits after the decimal point.
    pub fn scale(&self) -> usize {
        self.fraction.len()
    }

    /// Compares the absolute values.
    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        self.whole
            .len()
            .cmp(&other.whole.len())
            .then_with(|| self.whole.cmp(&other.whole))
            // Normalised fractions compare correctly as strings: "5" < "51" < "6".
            .then_with(|| self.fraction.cmp(&other.fraction))
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (negative, unsigned) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (unsigned, None),
        };
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || !fraction.is_none_or(all_digits) {
            return Err(DecimalError::Syntax);
        }
        let whole = whole.trim_start_matches('0');
        let fraction = fraction.unwrap_or("").trim_end_matches('0');
        if fraction.len() > MAX_FRACTION_DIGITS {
            return Err(DecimalError::TooManyFractionDigits);
        }
        if whole.len() + fraction.len() > MAX_DECIMAL_DIGITS {
            return Err(DecimalError::TooManyDigits);
        }
        let is_zero = whole.is_empty() && fraction.is_empty();
        Ok(Decimal {
            negative: negative && !is_zero,
            whole: if whole.is_empty() {
                "0".to_string()
            } else {
                whole.to_string()
            },
            fraction: fraction.to_string(),
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        f.write_str(&self.whole)?;
        if !self.fraction.is_empty() {
            write!(f, ".{}", self.fraction)?;
        }
        Ok(())
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("valid decimal")
    }

    #[test]
    fn normalises() {
        assert_eq!(d("007.500").to_string(), "7.5");
        assert_eq!(d("-0.000").to_string(), "0");
        assert!(!d("-0").is_negative());
        assert_eq!(d("0.25").to_string(), "0.25");
        assert_eq!(d("-12").to_string(), "-12");
        assert_eq!(d("10.0"), d("10"));
        assert_eq!(d("0.0000000001").scale(), 10);
    }

    #[test]
    fn rejects_bad_shapes_and_sizes() {
        for bad in [
            "", "-", ".5", "5.", "1e5", "+1", "1,5", " 1", "1.2.3", "--1", "0x10", "١٢",
        ] {
            assert_eq!(bad.parse::<Decimal>(), Err(DecimalError::Syntax), "{bad:?}");
        }
        assert_eq!(
            "1234567890123456789".parse::<Decimal>(),
            Err(DecimalError::TooManyDigits)
        );
        assert!("123456789012345678".parse::<Decimal>().is_ok());
        assert!("00000000000000000000001".parse::<Decimal>().is_ok());
        assert_eq!(
            "0.00000000001".parse::<Decimal>(),
            Err(DecimalError::TooManyFractionDigits)
        );
        assert!("1.00000000000000000000".parse::<Decimal>().is_ok());
    }

    #[test]
    fn orders_exactly() {
        assert!(d("0.1") < d("0.1000000001"));
        assert!(d("-1.5") < d("-1.25"));
        assert!(d("-0.5") < d("0"));
        assert!(d("9.99") < d("10"));
        assert!(d("0.5") < d("0.51"));
        assert!(d("0.51") < d("0.6"));
        assert_eq!(d("2.50").cmp(&d("2.5")), Ordering::Equal);
    }

    #[test]
    fn from_floats() {
        assert_eq!(Decimal::from_f64(0.1), Some(d("0.1")));
        assert_eq!(Decimal::from_f64(-2.0), Some(d("-2")));
        assert_eq!(Decimal::from_f64(1e-7), Some(d("0.0000001")));
        assert_eq!(Decimal::from_f64(f64::NAN), None);
        assert_eq!(Decimal::from_f64(1e300), None);
        assert_eq!(
            Decimal::from_i64(i64::MIN).to_string(),
            i64::MIN.to_string()
        );
    }

    proptest! {
        #[test]
        fn order_matches_scaled_integers(a in -10i64.pow(15)..10i64.pow(15), b in -10i64.pow(15)..10i64.pow(15), sa in 0u32..=3, sb in 0u32..=3) {
            let text = |m: i64, s: u32| {
                let p = 10i64.pow(s);
                let sign = if m < 0 { "-" } else { "" };
                let m = m.unsigned_abs();
                format!("{sign}{}.{:0width$}", m / p as u64, m % p as u64, width = s as usize)
            };
            let (ta, tb) = (text(a, sa), text(b, sb));
            let (ta, tb) = (ta.trim_end_matches('.'), tb.trim_end_matches('.'));
            // Compare a/10^sa with b/10^sb exactly in i128.
            let lhs = a as i128 * 10i128.pow(sb);
            let rhs = b as i128 * 10i128.pow(sa);
            prop_assert_eq!(d(ta).cmp(&d(tb)), lhs.cmp(&rhs));
            prop_assert_eq!(d(&d(ta).to_string()), d(ta));
        }
    }
}
