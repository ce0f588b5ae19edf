//! FHIR `Patient` → medicare [`crate::patient::Patient`].
//!
//! The rules (each value then goes through the same checks as a CSV row: the NHS
//! number's check digit, E.164 phone numbers, UK postcodes, name lengths):
//!
//! - **external id**: the resource id (in a Bundle without ids, the entry's
//!   `urn:uuid:` full URL).
//! - **NHS number**: the first `identifier` with system
//!   `https://fhir.nhs.uk/Id/nhs-number`. A patient without one (records from outside
//!   England carry other identifiers) is imported keyed by its external id alone, and
//!   counted in the summary.
//! - **name**: among names not `old` and not ended, the `official` one, else the
//!   `usual`, else the first; `given` names joined by spaces.
//! - **birthDate** (a full date), **gender** (`male | female | other | unknown`,
//!   absent: unknown).
//! - **phone** (for SMS): among `telecom` entries of system `phone` or `sms`, not `old`
//!   and not ended, a `mobile` one first, then those without a `use`, then `temp`,
//!   `home`, `work`; within each, by `rank` (1 first; no rank last), then in order.
//! - **email**: among `email` entries not `old` and not ended, by `rank`, then in order.
//! - **postcode**: the `postalCode` of the `home` address, else of one without a `use`,
//!   else `temp`, else `work` (never `old` or `billing`, never ended).
//! - `active: false`, `deceasedBoolean: true` or any `deceasedDateTime`: imported but
//!   not invited (both channels opted out), counted in the summary.
//!
//! A problem names its element (`Patient.telecom[1].value`) and never repeats a value.

use super::model::{self, Period, NHS_NUMBER_SYSTEM};
use super::ElementError;
use crate::patient::{
    check_external_id, check_name, Email, NhsNumber, Patient, Phone, Postcode, Sex,
};
use chrono::NaiveDate;
use std::collections::BTreeSet;

/// What one `Patient` resource becomes.
#[derive(Debug)]
pub struct PatientOutcome {
    /// The patient to store (without an NHS number if the resource carries none).
    pub patient: Box<Patient>,
    /// True for an inactive or deceased patient (stored with both channels opted out).
    pub not_invited: bool,
}

type Mapped<T> = std::result::Result<T, ElementError>;

fn at(path: impl Into<String>, message: impl Into<String>) -> ElementError {
    ElementError {
        path: path.into(),
        message: message.into(),
    }
}

/// Maps one `Patient`. `fallback_id` is the entry's full URL id for a Bundle entry
/// without `id`; `today` decides which periods have ended.
pub fn map_patient(
    p: &model::Patient,
    fallback_id: Option<&str>,
    today: NaiveDate,
) -> Mapped<PatientOutcome> {
    let external_id = match p.id.as_deref().or(fallback_id) {
        Some(id) => check_external_id(id).map_err(|m| at("Patient.id", m))?,
        None => return Err(at("Patient.id", "is required (it becomes the external id)")),
    };
    let nhs = p
        .identifier
        .iter()
        .enumerate()
        .find(|(_, i)| i.system.as_deref() == Some(NHS_NUMBER_SYSTEM) && i.value.is_some());
    let nhs_number = nhs
        .map(|(i, identifier)| {
            NhsNumber::parse(identifier.value.as_deref().unwrap_or_default())
                .map_err(|m| at(format!("Patient.identifier[{i}].value"), m))
        })
        .transpose()?;

    let (given_name, family_name) = name(p, today)?;
    let birth_date = p
        .birth_date
        .as_deref()
        .ok_or_else(|| at("Patient.birthDate", "is required"))?;
    let date_of_birth = NaiveDate::parse_from_str(birth_date, "%Y-%m-%d")
        .map_err(|_| at("Patient.birthDate", "must be a full date, YYYY-MM-DD"))?;
    let sex = Sex::parse(p.gender.as_deref().unwrap_or_default())
        .map_err(|_| at("Patient.gender", "must be male, female, other or unknown"))?;
    let phone = phone(p, today)?;
    let email = email(p, today)?;
    let postcode = postcode(p, today)?;
    let not_invited = p.active == Some(false)
        || p.deceased_boolean == Some(true)
        || p.deceased_date_time.is_some();
    Ok(PatientOutcome {
        patient: Box::new(Patient {
            external_id,
            nhs_number,
            given_name,
            family_name,
            date_of_birth,
            sex,
            phone,
            email,
            postcode,
            conditions: BTreeSet::new(),
            sms_opt_out: not_invited,
            email_opt_out: not_invited,
        }),
        not_invited,
    })
}

/// True when `period` ended before `today`. FHIR dates may be partial (`2024`,
/// `2024-05`): a period ending in 2024 has not ended during 2024.
pub(crate) fn ended(period: Option<&Period>, today: NaiveDate, path: &str) -> Mapped<bool> {
    let Some(end) = period.and_then(|p| p.end.as_deref()) else {
        return Ok(false);
    };
    let date = end.get(..end.len().min(10)).unwrap_or_default();
    let shape_ok = date.len() >= 4
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return Err(at(
            format!("{path}.period.end"),
            "must be a FHIR date or dateTime",
        ));
    }
    let today = today.format("%Y-%m-%d").to_string();
    Ok(date < &today[..date.len()])
}

fn name(p: &model::Patient, today: NaiveDate) -> Mapped<(String, String)> {
    let mut current = Vec::new();
    for (i, n) in p.name.iter().enumerate() {
        let path = format!("Patient.name[{i}]");
        if n.use_.as_deref() != Some("old") && !ended(n.period.as_ref(), today, &path)? {
            current.push((i, n));
        }
    }
    let by_use = |u: &str| current.iter().find(|(_, n)| n.use_.as_deref() == Some(u));
    let (i, n) = by_use("official")
        .or_else(|| by_use("usual"))
        .or_else(|| current.first())
        .ok_or_else(|| at("Patient.name", "no current name (one is required)"))?;
    let given = n.given.join(" ");
    let given = check_name(&given).map_err(|m| at(format!("Patient.name[{i}].given"), m))?;
    let family = check_name(n.family.as_deref().unwrap_or_default())
        .map_err(|m| at(format!("Patient.name[{i}].family"), m))?;
    Ok((given, family))
}

/// The index of the preferred current telecom entry among `systems`: by `use_rank`
/// (`None`: never chosen), then `rank` (1 first, none last), then position.
fn preferred_telecom(
    p: &model::Patient,
    systems: &[&str],
    use_rank: impl Fn(Option<&str>) -> Option<usize>,
    today: NaiveDate,
) -> Mapped<Option<usize>> {
    let mut best: Option<(usize, u32, usize)> = None;
    for (i, t) in p.telecom.iter().enumerate() {
        if !systems.contains(&t.system.as_deref().unwrap_or_default()) || t.value.is_none() {
            continue;
        }
        let Some(u) = use_rank(t.use_.as_deref()) else {
            continue;
        };
        if ended(t.period.as_ref(), today, &format!("Patient.telecom[{i}]"))? {
            continue;
        }
        let key = (u, t.rank.unwrap_or(u32::MAX), i);
        if best.is_none_or(|b| key < b) {
            best = Some(key);
        }
    }
    Ok(best.map(|(_, _, i)| i))
}

/// The checked value of telecom entry `i`, or the error at its path.
fn telecom<T>(
    p: &model::Patient,
    i: usize,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Mapped<T> {
    let value = p
        .telecom
        .get(i)
        .and_then(|t| t.value.as_deref())
        .unwrap_or_default();
    parse(value).map_err(|m| at(format!("Patient.telecom[{i}].value"), m))
}

fn phone(p: &model::Patient, today: NaiveDate) -> Mapped<Option<Phone>> {
    const ORDER: [Option<&str>; 5] = [
        Some("mobile"),
        None,
        Some("temp"),
        Some("home"),
        Some("work"),
    ];
    let use_rank = |u: Option<&str>| ORDER.iter().position(|o| *o == u);
    preferred_telecom(p, &["phone", "sms"], use_rank, today)?
        .map(|i| telecom(p, i, Phone::parse))
        .transpose()
}

fn email(p: &model::Patient, today: NaiveDate) -> Mapped<Option<Email>> {
    // Any use but `old` is as good for email: rank decides.
    let use_rank = |u: Option<&str>| (u != Some("old")).then_some(0);
    preferred_telecom(p, &["email"], use_rank, today)?
        .map(|i| telecom(p, i, Email::parse))
        .transpose()
}

fn postcode(p: &model::Patient, today: NaiveDate) -> Mapped<Postcode> {
    let order = [Some("home"), None, Some("temp"), Some("work")];
    let mut best: Option<(usize, usize)> = None;
    for (i, a) in p.address.iter().enumerate() {
        let Some(rank) = order.iter().position(|u| *u == a.use_.as_deref()) else {
            continue;
        };
        if a.postal_code.is_none()
            || ended(a.period.as_ref(), today, &format!("Patient.address[{i}]"))?
        {
            continue;
        }
        if best.is_none_or(|(r, _)| rank < r) {
            best = Some((rank, i));
        }
    }
    let (_, i) = best.ok_or_else(|| {
        at(
            "Patient.address",
            "no current home address with a postalCode (one is required)",
        )
    })?;
    let code = p
        .address
        .get(i)
        .and_then(|a| a.postal_code.as_deref())
        .unwrap_or_default();
    Postcode::parse(code).map_err(|m| at(format!("Patient.address[{i}].postalCode"), m))
}
