//! "Subset of patients": the first few patients an audience filter selects, as the
//! operator may see them.
//!
//! An operator without [`crate::access::Permission::ViewPatientIdentity`] sees each
//! patient masked ([`SubsetRow::Masked`]: initials, a five-year age band and the
//! postcode district); one with it sees the name, NHS number, age and postcode
//! ([`SubsetRow::Identified`]). The rows are chosen by the filter's own
//! [`Filter::matches`], which agrees with the stores' SQL by construction.

use crate::campaign::{Campaign, Engine};
use crate::error::Result;
use crate::filter::Filter;
use crate::patient::{Patient, PatientId};
use chrono::NaiveDate;

/// How many rows the view shows.
pub const SUBSET_ROWS: usize = 20;

/// One patient of the subset, as the operator may see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubsetRow {
    /// For operators without the identifiable-data permission.
    Masked {
        /// Initials of the given and family names, such as `J. S.`.
        initials: String,
        /// A five-year age band such as `65 to 69` (`90 or over` at the top).
        age_band: String,
        /// The postcode's outward part (its district), such as `SW1A`.
        district: String,
    },
    /// For operators with the identifiable-data permission.
    Identified {
        /// Given and family name.
        name: String,
        /// The NHS number.
        nhs_number: String,
        /// Age in completed years today.
        age: i64,
        /// The full postcode.
        postcode: String,
    },
}

/// The subset of `campaign`'s audience today, masked unless `identifiable`, with how
/// many patients its filter selects. An identifiable subset is recorded in the audit
/// ledger (`recipients_preview` of the campaign, with how many rows) before it is
/// returned.
pub async fn campaign_subset(
    engine: &Engine,
    campaign: &Campaign,
    identifiable: bool,
) -> Result<(u64, Vec<SubsetRow>)> {
    let filter = Filter::parse(&campaign.filter)?;
    let total = engine.count_patients(&filter).await?;
    let patients = engine.store().all_patients().await?;
    let rows = subset(&patients, &filter, engine.clock().today(), identifiable);
    if identifiable {
        crate::audit::record(
            engine.store().as_ref(),
            crate::audit::Action::RecipientsPreview,
            crate::audit::Target::campaign(campaign.id),
            crate::audit::Detail::none().count("rows", rows.len() as u64),
        )
        .await?;
    }
    Ok((total, rows))
}

/// The first [`SUBSET_ROWS`] patients (in id order) that `filter` selects on `today`,
/// masked unless `identifiable`.
pub fn subset(
    patients: &[(PatientId, Patient)],
    filter: &Filter,
    today: NaiveDate,
    identifiable: bool,
) -> Vec<SubsetRow> {
    let mut matching: Vec<&(PatientId, Patient)> = patients
        .iter()
        .filter(|(_, p)| filter.matches(p, today))
        .collect();
    matching.sort_by_key(|(id, _)| id.0);
    matching
        .into_iter()
        .take(SUBSET_ROWS)
        .map(|(_, p)| row(p, today, identifiable))
        .collect()
}

/// One patient as the operator may see them.
pub fn row(patient: &Patient, today: NaiveDate, identifiable: bool) -> SubsetRow {
    let age = patient.age_on(today);
    if identifiable {
        return SubsetRow::Identified {
            name: format!("{} {}", patient.given_name, patient.family_name),
            nhs_number: patient
                .nhs_number
                .as_ref()
                .map_or_else(|| "not recorded".to_string(), |n| n.as_str().to_string()),
            age,
            postcode: patient.postcode.as_str().to_string(),
        };
    }
    SubsetRow::Masked {
        initials: format!(
            "{} {}",
            initial(&patient.given_name),
            initial(&patient.family_name)
        ),
        age_band: age_band(age),
        district: patient.postcode.outward().to_string(),
    }
}

/// `J.` for `Jane` (`?` for a blank name).
fn initial(name: &str) -> String {
    let first = name
        .trim()
        .chars()
        .next()
        .map_or('?', |c| c.to_uppercase().next().unwrap_or(c));
    format!("{first}.")
}

/// The five-year band an age falls in: `65 to 69`; `90 or over` at the top.
pub fn age_band(age: i64) -> String {
    if age >= 90 {
        return "90 or over".to_string();
    }
    let low = age.max(0) / 5 * 5;
    format!("{low} to {}", low + 4)
}
