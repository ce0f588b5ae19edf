//! Who has not answered, counted four ways for the campaign dashboard: by reason (never
//! opened, or opened without answering), by condition, by five-year age band and by
//! postcode district. Counts only: no patient is named, and the long tails (districts,
//! conditions) are folded into one "other" row.
//!
//! The non-respondents are the store's own ([`crate::store::FollowUpStore::non_respondents`]);
//! the patients' conditions, ages and postcodes are read from the patient table.

use super::subset::age_band;
use crate::campaign::{CampaignId, Engine};
use crate::error::Result;
use crate::patient::{Patient, PatientId};
use crate::store::{NonRespondent, NonResponseReason};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Rows shown per breakdown before the rest are folded into one.
pub const TOP_ROWS: usize = 12;

/// One row of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// What is counted (a reason, a condition code, an age band, a district), or
    /// `other` for the folded tail.
    pub label: String,
    /// Non-respondents it covers.
    pub count: u64,
}

/// The non-respondents of one campaign, counted four ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    /// Non-respondents in all.
    pub total: u64,
    /// By reason, in a fixed order (`not opened`, `opened, not answered`).
    pub by_reason: Vec<Tally>,
    /// By condition, most first (a patient with two conditions counts in both;
    /// `none recorded` for none).
    pub by_condition: Vec<Tally>,
    /// By five-year age band, youngest first.
    pub by_age_band: Vec<Tally>,
    /// By postcode district, most first.
    pub by_district: Vec<Tally>,
}

/// How a reason is worded on the page.
pub fn reason_label(reason: NonResponseReason) -> &'static str {
    match reason {
        NonResponseReason::NotOpened => "Never opened the link",
        NonResponseReason::OpenedNotSubmitted => "Opened the link, did not answer",
    }
}

/// `counts` most first (then by label), the rows past [`TOP_ROWS`] folded into `other`.
fn most_first(counts: HashMap<String, u64>, other: &str) -> Vec<Tally> {
    let mut rows: Vec<Tally> = counts
        .into_iter()
        .map(|(label, count)| Tally { label, count })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    if rows.len() > TOP_ROWS {
        let rest: u64 = rows.drain(TOP_ROWS - 1..).map(|t| t.count).sum();
        rows.push(Tally {
            label: other.to_string(),
            count: rest,
        });
    }
    rows
}

/// Counts `non_respondents` four ways, their patients looked up in `patients` and
/// their ages taken on `today`. A non-respondent whose patient is missing counts in
/// the total and by reason only.
pub fn breakdown(
    non_respondents: &[NonRespondent],
    patients: &[(PatientId, Patient)],
    today: NaiveDate,
) -> Breakdown {
    let by_id: HashMap<PatientId, &Patient> = patients.iter().map(|(id, p)| (*id, p)).collect();
    let mut reasons: HashMap<NonResponseReason, u64> = HashMap::new();
    let mut conditions: HashMap<String, u64> = HashMap::new();
    // Keyed by the band's lowest age, so the bands sort youngest first.
    let mut bands: BTreeMap<i64, (String, u64)> = BTreeMap::new();
    let mut districts: HashMap<String, u64> = HashMap::new();
    for n in non_respondents {
        *reasons.entry(n.reason).or_default() += 1;
        let Some(p) = by_id.get(&n.patient_id) else {
            continue;
        };
        if p.conditions.is_empty() {
            *conditions.entry("none recorded".to_string()).or_default() += 1;
        }
        for c in &p.conditions {
            *conditions.entry(c.to_string()).or_default() += 1;
        }
        let age = p.age_on(today).clamp(0, 90);
        let band = bands
            .entry(if age >= 90 { 90 } else { age / 5 * 5 })
            .or_insert_with(|| (age_band(age), 0));
        band.1 += 1;
        *districts
            .entry(p.postcode.outward().to_string())
            .or_default() += 1;
    }
    let by_reason = [
        NonResponseReason::NotOpened,
        NonResponseReason::OpenedNotSubmitted,
    ]
    .into_iter()
    .map(|r| Tally {
        label: reason_label(r).to_string(),
        count: reasons.get(&r).copied().unwrap_or(0),
    })
    .collect();
    Breakdown {
        total: non_respondents.len() as u64,
        by_reason,
        by_condition: most_first(conditions, "other conditions"),
        by_age_band: bands
            .into_values()
            .map(|(label, count)| Tally { label, count })
            .collect(),
        by_district: most_first(districts, "other districts"),
    }
}

/// The breakdown of campaign `id`'s non-respondents today (the engine's clock).
pub async fn campaign_breakdown(engine: &Engine, id: CampaignId) -> Result<Breakdown> {
    let store = engine.store();
    let non_respondents = store.non_respondents(id).await?;
    let patients = if non_respondents.is_empty() {
        Vec::new()
    } else {
        store.all_patients().await?
    };
    Ok(breakdown(
        &non_respondents,
        &patients,
        engine.clock().now().date_naive(),
    ))
}
