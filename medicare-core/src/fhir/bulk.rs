//! Patients as a FHIR Bulk Data export: `Patient.ndjson` and `Condition.ndjson`, one
//! resource a line — what an electronic health record's `$export` produces, for demos,
//! tests and benchmarks of [`super::import`].
//!
//! Each patient is a `Patient` (id: the external id; the NHS number identifier; an
//! `official` name; `gender`, `birthDate`; the phone as a `mobile` `phone` of rank 1, the
//! email; a `home` address with the postcode) and one active, confirmed `Condition` per
//! condition code: a lung condition by its SNOMED CT code from the standard map, any
//! other in medicare's own code system ([`MEDICARE_CONDITION_SYSTEM`]), which the
//! import maps back to itself. Opt-outs are not part of a FHIR `Patient` and are not
//! written. Files are created with permissions 0600: they hold patient data.

use super::condition::{MEDICARE_CONDITION_SYSTEM, SNOMED_CT, STANDARD_CODES};
use super::create_private_file;
use super::model::NHS_NUMBER_SYSTEM;
use crate::error::{Error, Result};
use crate::patient::{ConditionCode, Patient};
use serde_json::json;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The FHIR `Patient` of a medicare patient.
pub fn patient_resource(p: &Patient) -> serde_json::Value {
    let mut telecom = Vec::new();
    if let Some(phone) = &p.phone {
        telecom
            .push(json!({"system": "phone", "value": phone.as_str(), "use": "mobile", "rank": 1}));
    }
    if let Some(email) = &p.email {
        telecom.push(json!({"system": "email", "value": email.as_str()}));
    }
    json!({
        "resourceType": "Patient",
        "id": p.external_id,
        "identifier": p.nhs_number.iter().map(|n| json!({"system": NHS_NUMBER_SYSTEM, "value": n.as_str()})).collect::<Vec<_>>(),
        "active": true,
        "name": [{"use": "official", "family": p.family_name, "given": p.given_name.split(' ').collect::<Vec<_>>()}],
        "telecom": telecom,
        "gender": p.sex.as_str(),
        "birthDate": p.date_of_birth.format("%Y-%m-%d").to_string(),
        "address": [{"use": "home", "postalCode": p.postcode.as_str()}],
    })
}

/// The FHIR `Condition` (active, confirmed) of `code` for the patient `external_id`.
pub fn condition_resource(external_id: &str, n: usize, code: &ConditionCode) -> serde_json::Value {
    let (system, value) = STANDARD_CODES
        .iter()
        .find(|(system, _, c)| *system == SNOMED_CT && *c == code.as_str())
        .map_or((MEDICARE_CONDITION_SYSTEM, code.as_str()), |(s, v, _)| {
            (*s, *v)
        });
    json!({
        "resourceType": "Condition",
        "id": format!("{external_id}-c{n}"),
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "code": {"coding": [{"system": system, "code": value}]},
        "subject": {"reference": format!("Patient/{external_id}")},
    })
}

/// Writes `patients` as `Patient.ndjson` and `Condition.ndjson` in `dir` (created).
pub fn write_bulk_export(patients: &[Patient], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let open = |name: &str| -> Result<(std::path::PathBuf, BufWriter<std::fs::File>)> {
        let path = dir.join(name);
        Ok((path.clone(), BufWriter::new(create_private_file(&path)?)))
    };
    let (patient_path, mut patient_file) = open("Patient.ndjson")?;
    let (condition_path, mut condition_file) = open("Condition.ndjson")?;
    let line = |out: &mut BufWriter<std::fs::File>, path: &Path, value: &serde_json::Value| {
        serde_json::to_writer(&mut *out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| Error::io(path, e))
    };
    for p in patients {
        line(&mut patient_file, &patient_path, &patient_resource(p))?;
        for (n, code) in p.conditions.iter().enumerate() {
            line(
                &mut condition_file,
                &condition_path,
                &condition_resource(&p.external_id, n + 1, code),
            )?;
        }
    }
    patient_file
        .flush()
        .map_err(|e| Error::io(&patient_path, e))?;
    condition_file
        .flush()
        .map_err(|e| Error::io(&condition_path, e))
}
