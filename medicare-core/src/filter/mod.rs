//! The patient filter language: how an operator picks a campaign's audience.
//!
//! A filter is a boolean expression over a patient's fields, such as
//!
//! ```text
//! condition in ("copd", "asthma") and age >= 65 and not sms_opt_out
//! ```
//!
//! [`Filter::parse`] checks it and reports the first problem as a [`FilterError`] that
//! points at the offending token. A parsed filter can be evaluated against one patient in
//! memory ([`Filter::matches`]) or compiled to a parameterised SQL predicate for a store
//! ([`Filter::to_sql`]); the two always agree. Stores accept any [`PatientFilter`], so
//! integrators can supply their own.
//!
//! # Fields
//!
//! | field | type | operators |
//! | --- | --- | --- |
//! | `age` | integer: completed years on `today` | `=` `!=` `<` `<=` `>` `>=` `in` `not in` |
//! | `dob`, `date_of_birth` | date, `"YYYY-MM-DD"` | `=` `!=` `<` `<=` `>` `>=` |
//! | `sex` | `"female"`, `"male"`, `"other"` or `"unknown"` | `=` `!=` `in` `not in` |
//! | `postcode` | string | `=` `!=` (full postcode), `starts_with` (prefix) |
//! | `condition` | condition code, e.g. `"copd"` | `=` `!=` `in` `not in` |
//! | `external_id` | string | `=` `!=` `in` `not in` |
//! | `sms_opt_out`, `email_opt_out`, `has_phone`, `has_email` | `true` or `false` | `=` `!=`, or the bare name |
//!
//! - `age` is the age in completed years on the `today` passed to [`Filter::matches`] or
//!   [`Filter::to_sql`], capped at [`MAX_AGE`] (a record born longer ago than that counts
//!   as [`MAX_AGE`]). Any integer may be written: `age > -1` matches everyone,
//!   `age > 200` no one.
//! - `postcode = "sw1a1aa"` compares the normalised postcode (`SW1A 1AA`); the literal
//!   must be a valid UK postcode. `postcode starts_with "sw1"` compares a prefix: it is
//!   upper-cased and must be 1 to 8 letters and digits with at most one space.
//! - `condition = "copd"` means the patient has that condition, `condition != "copd"`
//!   that they do not, `condition in (...)` that they have any of the codes and
//!   `condition not in (...)` that they have none of them.
//! - A bare boolean field means `= true`: `not sms_opt_out` is `sms_opt_out = false`.
//! - `all` matches every patient; on its own it is the filter for "everyone".
//!
//! # Syntax
//!
//! Keywords and field names are case-insensitive; whitespace (including line breaks)
//! separates tokens. `not` binds tighter than `and`, which binds tighter than `or`;
//! parentheses group.
//!
//! ```text
//! filter    = or_expr
//! or_expr   = and_expr { "or" and_expr }
//! and_expr  = unary { "and" unary }
//! unary     = "not" unary | primary
//! primary   = "(" or_expr ")" | "all" | predicate
//! predicate = field op value
//!           | field [ "not" ] "in" "(" value { "," value } ")"
//!           | "postcode" "starts_with" string
//!           | flag
//! op        = "=" | "!=" | "<" | "<=" | ">" | ">="
//! value     = integer | string | "true" | "false"
//! integer   = [ "-" ] digit { digit }
//! string    = '"' { character other than '"' and '\' | '\"' | '\\' } '"'
//! ```
//!
//! Which operators and value types a field accepts is in the table above; an `in` list
//! holds 1 to [`MAX_LIST_ITEMS`] values, all of the field's type.
//!
//! Limits: a filter is at most [`MAX_SOURCE_BYTES`] bytes, and parentheses and `not`
//! nest at most [`MAX_DEPTH`] deep.
//!
//! # Examples
//!
//! ```text
//! all
//! age >= 65
//! condition = "copd" and not sms_opt_out
//! condition in ("copd", "asthma") and (age >= 65 or has_email = false)
//! sex = "female" and dob <= "1975-03-31" and age not in (50, 51)
//! postcode starts_with "SW1" or postcode = "M1 1AE"
//! external_id in ("A-1001", "A-1002") and has_phone
//! external_id = "quote \" and backslash \\"
//! ```
//!
//! # Errors
//!
//! A [`FilterError`] carries the byte position and character column of the offending
//! token and a message such as
//! `filter error at column 14: unknown field "agee"; known fields: age, dob, ...`.
//! Messages never repeat a string literal (it may be personal data); they name the field
//! instead. [`FilterError::render`] shows the source line with a caret under the column.
//!
//! # SQL
//!
//! [`Filter::to_sql`] writes a predicate over the `patients` table aliased `p` (and
//! `patient_conditions` in `EXISTS` sub-queries), with every value from the filter bound
//! as a parameter numbered from 1.

mod age;
mod ast;
mod compile;
mod error;
mod eval;
mod lexer;
mod parser;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use age::MAX_AGE;
pub use error::FilterError;
pub use parser::{MAX_CONDITIONS, MAX_DEPTH, MAX_LIST_ITEMS, MAX_PREFIX_CHARS, MAX_SOURCE_BYTES};

use crate::patient::Patient;
use crate::sql::{Dialect, SqlFragment};
use ast::{Expr, Printer};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A parsed, validated patient filter and the source it came from.
///
/// `Display` and serde use the source text (deserializing parses it); `Debug` shows the
/// canonical form with string literals redacted, so a filter in a log carries no
/// personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct Filter {
    source: String,
    expr: Expr,
}

impl Filter {
    /// Parses `source` (see the [module documentation](self) for the language).
    pub fn parse(source: &str) -> Result<Filter, FilterError> {
        Ok(Filter {
            expr: parser::parse(source)?,
            source: source.to_string(),
        })
    }

    /// The filter `all`, which matches every patient.
    pub fn all() -> Filter {
        Filter {
            source: "all".to_string(),
            expr: Expr::All,
        }
    }

    /// The source text, as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when `patient` is in the audience on `today`.
    pub fn matches(&self, patient: &Patient, today: NaiveDate) -> bool {
        eval::matches(&self.expr, patient, today)
    }

    /// The filter as a boolean SQL predicate over `patients p` for `dialect`, with every
    /// value bound as a parameter (placeholders numbered from 1). It selects exactly the
    /// patients [`Filter::matches`] accepts on `today`.
    pub fn to_sql(&self, dialect: Dialect, today: NaiveDate) -> SqlFragment {
        compile::compile(&self.expr, dialect, today)
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    /// Same as [`Filter::parse`].
    fn from_str(source: &str) -> Result<Filter, FilterError> {
        Filter::parse(source)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = Printer {
            expr: &self.expr,
            redact: true,
        };
        f.debug_tuple("Filter")
            .field(&format_args!("{redacted}"))
            .finish()
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Filter::parse(&source).map_err(serde::de::Error::custom)
    }
}

/// A filter as the stores take it: any [`PatientFilter`] (a type alias, so the trait
/// object's lifetime is `'static` and the traits that take it stay mockable).
pub type AnyFilter = dyn PatientFilter;

/// A compiled audience predicate that a store can run, in memory or as SQL.
///
/// Object safe, `Send + Sync`, so integrators can supply their own. An implementation's
/// [`matches`](PatientFilter::matches) and [`to_sql`](PatientFilter::to_sql) must select
/// the same patients.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PatientFilter: Send + Sync + fmt::Debug {
    /// True when `patient` is in the audience on `today`.
    fn matches(&self, patient: &Patient, today: NaiveDate) -> bool;

    /// A boolean SQL predicate over `patients p` selecting the same patients, with every
    /// value bound (placeholders numbered from 1).
    fn to_sql(&self, dialect: Dialect, today: NaiveDate) -> SqlFragment;

    /// The filter's source text, for previews.
    fn describe(&self) -> String;
}

impl PatientFilter for Filter {
    fn matches(&self, patient: &Patient, today: NaiveDate) -> bool {
        eval::matches(&self.expr, patient, today)
    }

    fn to_sql(&self, dialect: Dialect, today: NaiveDate) -> SqlFragment {
        compile::compile(&self.expr, dialect, today)
    }

    fn describe(&self) -> String {
        self.source.clone()
    }
}
