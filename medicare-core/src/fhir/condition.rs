//! FHIR `Condition` → medicare condition codes, through a documented code map.
//!
//! A `Condition` counts when it is current and confirmed: its `clinicalStatus` is
//! `active`, `recurrence` or `relapse`, and its `verificationStatus` is `confirmed` or
//! absent (`unconfirmed`, `provisional`, `differential`, `refuted` and
//! `entered-in-error` do not count). Its `code.coding` entries are looked up in a
//! [`CodeMap`] by system and code; the first that maps gives the medicare condition.
//!
//! The standard map ([`CodeMap::standard`], listed in [`STANDARD_CODES`]) covers the
//! lung conditions of the demo in SNOMED CT, ICD-10 (WHO and the UK edition) and
//! ICD-10-CM. ICD-10 codes match by their three-character category, so `J45.9`, `J459`
//! and `J45` all map to asthma. Codes of medicare's own system
//! ([`MEDICARE_CONDITION_SYSTEM`]) map to themselves. A deployment adds codes (or other conditions) with a
//! TOML file ([`CodeMap::extend_from_toml`]; the CLI reads `fhir-codes.toml` in the
//! workspace folder, or `--code-map FILE`):
//!
//! ```toml
//! [[code]]
//! system = "http://snomed.info/sct"
//! code = "426979002"          # Mild asthma
//! condition = "asthma"
//! ```

use super::model::{self, CodeableConcept};
use super::ElementError;
use crate::error::{Error, Result};
use crate::patient::ConditionCode;
use serde::Deserialize;
use std::collections::HashMap;

/// SNOMED CT.
pub const SNOMED_CT: &str = "http://snomed.info/sct";
/// ICD-10 (WHO).
pub const ICD_10: &str = "http://hl7.org/fhir/sid/icd-10";
/// ICD-10, UK edition (as NHS England profiles name it).
pub const ICD_10_UK: &str = "http://hl7.org/fhir/sid/icd-10-uk";
/// ICD-10-CM (US clinical modification).
pub const ICD_10_CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
/// medicare's own condition codes (`copd`, `diabetes`...): every valid code of this
/// system maps to itself, so what medicare exports ([`super::bulk`]) imports back.
pub const MEDICARE_CONDITION_SYSTEM: &str = "urn:medicare:condition";

const ICD_SYSTEMS: [&str; 3] = [ICD_10, ICD_10_UK, ICD_10_CM];

/// The standard map: (system, code, medicare condition). ICD-10 entries are categories
/// and apply in each ICD-10 system above.
pub const STANDARD_CODES: &[(&str, &str, &str)] = &[
    // Asthma
    (SNOMED_CT, "195967001", "asthma"), // Asthma
    (SNOMED_CT, "389145006", "asthma"), // Allergic asthma
    (SNOMED_CT, "266361008", "asthma"), // Non-allergic asthma
    (ICD_10, "J45", "asthma"),          // Asthma
    (ICD_10, "J46", "asthma"),          // Status asthmaticus
    // Chronic obstructive pulmonary disease
    (SNOMED_CT, "13645005", "copd"), // Chronic obstructive lung disease
    (SNOMED_CT, "185086009", "copd"), // Chronic obstructive bronchitis
    (SNOMED_CT, "87433001", "copd"), // Pulmonary emphysema
    (ICD_10, "J44", "copd"),         // Other COPD
    (ICD_10, "J43", "copd"),         // Emphysema
    // Bronchiectasis
    (SNOMED_CT, "12295008", "bronchiectasis"),
    (ICD_10, "J47", "bronchiectasis"),
    // Cystic fibrosis
    (SNOMED_CT, "190905008", "cystic_fibrosis"),
    (ICD_10, "E84", "cystic_fibrosis"),
    // Interstitial lung disease
    (SNOMED_CT, "233703007", "ild"), // Interstitial lung disease
    (SNOMED_CT, "51615001", "ild"),  // Fibrosis of lung
    (ICD_10, "J84", "ild"),          // Other interstitial pulmonary diseases
];

/// Codes (system, code) to medicare condition codes.
#[derive(Debug, Clone, Default)]
pub struct CodeMap {
    codes: HashMap<(String, String), ConditionCode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeFile {
    #[serde(default)]
    code: Vec<CodeEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeEntry {
    system: String,
    code: String,
    condition: String,
}

impl CodeMap {
    /// The map of [`STANDARD_CODES`].
    pub fn standard() -> Self {
        let mut map = CodeMap::default();
        for (system, code, condition) in STANDARD_CODES {
            // The table is a constant of valid codes; a bad one would fail the tests.
            if let Ok(c) = ConditionCode::parse(condition) {
                map.insert(system, code, c);
            }
        }
        map
    }

    /// Maps `system` + `code` to `condition` (replacing an earlier mapping). An ICD-10
    /// code is stored for every ICD-10 system.
    pub fn insert(&mut self, system: &str, code: &str, condition: ConditionCode) {
        let code = normalise(system, code);
        if ICD_SYSTEMS.contains(&system) {
            for s in ICD_SYSTEMS {
                self.codes
                    .insert((s.to_string(), code.clone()), condition.clone());
            }
        } else {
            self.codes.insert((system.to_string(), code), condition);
        }
    }

    /// Adds the `[[code]]` entries of a TOML document (see the module docs). `source`
    /// names the file in errors.
    pub fn extend_from_toml(&mut self, text: &str, source: &str) -> Result<()> {
        let file: CodeFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" (at byte {})", s.start))
                .unwrap_or_default();
            Error::invalid(
                source,
                format!("not a code map{at}: each [[code]] has system, code and condition"),
            )
        })?;
        for (i, entry) in file.code.into_iter().enumerate() {
            let condition = ConditionCode::parse(&entry.condition)
                .map_err(|m| Error::invalid(format!("{source} code {}", i + 1), m))?;
            if entry.system.trim().is_empty() || entry.code.trim().is_empty() {
                return Err(Error::invalid(
                    format!("{source} code {}", i + 1),
                    "system and code must not be empty",
                ));
            }
            self.insert(entry.system.trim(), entry.code.trim(), condition);
        }
        Ok(())
    }

    /// The medicare condition of `system` + `code`, if mapped.
    pub fn lookup(&self, system: &str, code: &str) -> Option<ConditionCode> {
        if system == MEDICARE_CONDITION_SYSTEM {
            return ConditionCode::parse(code).ok();
        }
        let code = normalise(system, code);
        let key = (system.to_string(), code);
        self.codes
            .get(&key)
            .or_else(|| {
                if !ICD_SYSTEMS.contains(&system) {
                    return None;
                }
                let category: String = key.1.chars().take(3).collect();
                self.codes.get(&(key.0, category))
            })
            .cloned()
    }

    /// How many (system, code) pairs are mapped.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}

/// ICD codes are compared in upper case without the dot; other codes as written.
fn normalise(system: &str, code: &str) -> String {
    if ICD_SYSTEMS.contains(&system) {
        code.chars()
            .filter(|c| *c != '.')
            .map(|c| c.to_ascii_uppercase())
            .collect()
    } else {
        code.trim().to_string()
    }
}

/// What one `Condition` resource becomes.
#[derive(Debug, PartialEq, Eq)]
pub enum ConditionOutcome {
    /// A current, confirmed condition with a mapped code, for the patient `subject`
    /// refers to (`Patient/123`, `urn:uuid:...`).
    Mapped {
        /// The subject reference as written.
        subject: String,
        /// The medicare condition.
        code: ConditionCode,
    },
    /// Not current (inactive, remission, resolved) or not confirmed (refuted,
    /// entered-in-error, provisional, ...): ignored, counted.
    NotCurrent,
    /// No coding in the map: ignored, counted.
    Unmapped,
}

fn has_code(concept: Option<&CodeableConcept>, codes: &[&str]) -> bool {
    concept.is_some_and(|c| {
        c.coding
            .iter()
            .any(|coding| codes.contains(&coding.code.as_deref().unwrap_or_default()))
    })
}

/// Maps one `Condition` through `codes`.
pub fn map_condition(
    c: &model::Condition,
    codes: &CodeMap,
) -> std::result::Result<ConditionOutcome, ElementError> {
    let current = has_code(
        c.clinical_status.as_ref(),
        &["active", "recurrence", "relapse"],
    );
    let confirmed = c
        .verification_status
        .as_ref()
        .is_none_or(|v| has_code(Some(v), &["confirmed"]));
    if !current || !confirmed {
        return Ok(ConditionOutcome::NotCurrent);
    }
    let mapped = c
        .code
        .iter()
        .flat_map(|cc| &cc.coding)
        .find_map(|coding| codes.lookup(coding.system.as_deref()?, coding.code.as_deref()?));
    let Some(code) = mapped else {
        return Ok(ConditionOutcome::Unmapped);
    };
    let subject = c
        .subject
        .as_ref()
        .and_then(|s| s.reference.clone())
        .ok_or_else(|| ElementError {
            path: "Condition.subject.reference".into(),
            message: "is required (the patient the condition belongs to)".into(),
        })?;
    Ok(ConditionOutcome::Mapped { subject, code })
}
