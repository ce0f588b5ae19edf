//! What `age` means in a filter, shared by in-memory evaluation and SQL compilation so
//! the two cannot drift apart.
//!
//! A patient's filter age is their age in completed years on `today`
//! ([`Patient::age_on`], never negative), capped at [`MAX_AGE`]: a record whose date of
//! birth is more than [`MAX_AGE`] years ago counts as [`MAX_AGE`] years old. So
//! `age > 200` matches nobody, `age >= 200` matches those records, and a negative age
//! literal compares like any other integer (`age > -5` matches everybody,
//! `age = -1` nobody).
//!
//! Every age comparison reduces to thresholds "filter age is at least `k`", and
//! [`at_least`] turns one threshold into a date-of-birth bound: for `1 <= k <= MAX_AGE`,
//! age is at least `k` exactly when the date of birth is on or before
//! [`born_on_or_before_for_age`]`(today, k)`.

use crate::patient::{born_on_or_before_for_age, Patient};
use chrono::NaiveDate;

/// The largest age a filter distinguishes; older records count as this old.
pub const MAX_AGE: i64 = 200;

/// A patient's age as filters see it: completed years on `today`, 0 to [`MAX_AGE`].
pub(crate) fn filter_age(patient: &Patient, today: NaiveDate) -> i64 {
    patient.age_on(today).min(MAX_AGE)
}

/// Which patients have a filter age of at least some threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgeBound {
    /// Every patient (threshold 0 or less).
    Always,
    /// No patient (threshold above [`MAX_AGE`]).
    Never,
    /// Patients born on or before this date.
    BornOnOrBefore(NaiveDate),
}

/// The patients whose filter age on `today` is at least `years`.
pub(crate) fn at_least(today: NaiveDate, years: i64) -> AgeBound {
    if years <= 0 {
        AgeBound::Always
    } else if years > MAX_AGE {
        AgeBound::Never
    } else {
        AgeBound::BornOnOrBefore(born_on_or_before_for_age(today, years))
    }
}
