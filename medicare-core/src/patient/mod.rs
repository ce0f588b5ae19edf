//! Patients: the validated domain type, its identifiers and contact details, CSV import
//! and a deterministic synthetic population.
//!
//! Every field is validated when a [`Patient`] is built, so the rest of the crate can
//! rely on it: an NHS number has a correct check digit, a phone number is E.164, a
//! postcode is a normalised UK postcode. `Debug` shows only the external id: a patient
//! printed into a log carries no personal data.

mod generate;
mod import;
mod values;

pub use generate::{generate, GenerateOptions, LUNG_CONDITIONS};
pub use import::{parse_csv, write_csv, CsvPatients, CSV_HEADER};
pub use values::{
    check_external_id, check_name, ConditionCode, Email, NhsNumber, Phone, Postcode, Sex,
};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A patient's row id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PatientId(pub i64);

impl fmt::Display for PatientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A patient as the provider knows them. Built only from validated parts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    /// The provider's own id for the patient (unique; safe to log).
    pub external_id: String,
    /// The NHS number (check digit validated). A CSV row always has one; a FHIR record
    /// from outside England may not, and is then known by its external id alone.
    pub nhs_number: Option<NhsNumber>,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Administrative sex as recorded.
    pub sex: Sex,
    /// Mobile number in E.164, if known.
    pub phone: Option<Phone>,
    /// Email address, if known.
    pub email: Option<Email>,
    /// Home postcode (normalised: upper case, one space before the inward code).
    pub postcode: Postcode,
    /// Condition codes (e.g. `copd`, `asthma`).
    pub conditions: BTreeSet<ConditionCode>,
    /// The patient asked not to be sent SMS.
    pub sms_opt_out: bool,
    /// The patient asked not to be sent email.
    pub email_opt_out: bool,
}

impl fmt::Debug for Patient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Patient")
            .field("external_id", &self.external_id)
            .finish_non_exhaustive()
    }
}

impl Patient {
    /// Age in completed years on `today` (0 for a date of birth in the future).
    pub fn age_on(&self, today: NaiveDate) -> i64 {
        age_on(self.date_of_birth, today)
    }

    /// True when the patient has `code` among their conditions.
    pub fn has_condition(&self, code: &str) -> bool {
        self.conditions.iter().any(|c| c.as_str() == code)
    }
}

/// Age in completed years of someone born on `dob`, on `today` (never negative).
pub fn age_on(dob: NaiveDate, today: NaiveDate) -> i64 {
    let mut years = i64::from(today.year() - dob.year());
    if (today.month(), today.day()) < (dob.month(), dob.day()) {
        years -= 1;
    }
    years.max(0)
}

/// The latest date of birth of someone who is at least `years` old on `today`: a person
/// is `>= years` old exactly when their date of birth is `<=` this date. A 29 February
/// that does not exist in the target year becomes 28 February, matching [`age_on`].
pub fn born_on_or_before_for_age(today: NaiveDate, years: i64) -> NaiveDate {
    let year = i64::from(today.year()) - years;
    let year = i32::try_from(year.clamp(-9999, 9999)).unwrap_or(1);
    NaiveDate::from_ymd_opt(year, today.month(), today.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, today.month(), today.day() - 1))
        .expect("a valid date one day earlier")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn age_counts_completed_years() {
        assert_eq!(age_on(d("1960-03-01"), d("2026-02-28")), 65);
        assert_eq!(age_on(d("1960-03-01"), d("2026-03-01")), 66);
        assert_eq!(age_on(d("2030-01-01"), d("2026-03-01")), 0);
    }

    #[test]
    fn age_threshold_agrees_with_age_on_around_leap_days() {
        let days = [
            "2024-02-28",
            "2024-02-29",
            "2024-03-01",
            "2025-02-28",
            "2025-03-01",
        ];
        for today in days.iter().map(|s| d(s)) {
            for n in 0..6 {
                let limit = born_on_or_before_for_age(today, n);
                let mut dob = today - chrono::Duration::days(6 * 366);
                while dob <= today {
                    assert_eq!(age_on(dob, today) >= n, dob <= limit, "{dob} {today} {n}");
                    dob += chrono::Duration::days(1);
                }
            }
        }
    }
}
