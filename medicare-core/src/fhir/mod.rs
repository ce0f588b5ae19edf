//! HL7 FHIR R4: patients and conditions in, questionnaires and their responses out.
//!
//! A provider's patient list lives in an electronic health record, and records speak
//! FHIR. One file per concept:
//!
//! - [`model`]: typed serde structs for just the resources used here; unknown elements
//!   are tolerated (no FHIR crate: see the module's docs for why).
//! - [`patient`]: a `Patient` → a medicare [`Patient`](crate::patient::Patient),
//!   through the same value checks as the CSV import.
//! - [`condition`]: a `Condition` → a condition code, through a documented, extendable
//!   [`CodeMap`] (SNOMED CT, ICD-10, ICD-10-CM).
//! - [`import`]: reading Bundles, single resources and Bulk Data NDJSON (streamed line
//!   by line), all-or-nothing, every problem named by file, line or entry and element.
//!   Store the result with [`Engine::import_patients`](crate::campaign::Engine::import_patients),
//!   the same path as the CSV import.
//! - [`questionnaire`](mod@questionnaire): a form → a `Questionnaire`.
//! - [`response`]: a campaign's responses → `QuestionnaireResponse` NDJSON, and back.
//! - [`bulk`]: patients → a Bulk Data export (`Patient.ndjson`, `Condition.ndjson`), for
//!   demos, tests and benchmarks.

pub mod bulk;
pub mod condition;
pub mod import;
pub mod model;
pub mod patient;
pub mod questionnaire;
pub mod response;

#[cfg(test)]
mod tests;

pub use condition::{CodeMap, STANDARD_CODES};
pub use import::{read_json, read_ndjson, read_path, FhirImport, ImportOptions, ImportSummary};
pub use questionnaire::{questionnaire, questionnaire_url};
pub use response::{answers_from_response, export_responses, response_resource};

/// The media type of FHIR NDJSON (Bulk Data).
pub const NDJSON_MEDIA_TYPE: &str = "application/fhir+ndjson";

/// A problem with one element of one resource: where (a FHIR path such as
/// `Patient.telecom[1].value`) and why. Never carries the element's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementError {
    /// The FHIR element path.
    pub path: String,
    /// What is wrong, without the value.
    pub message: String,
}

/// Creates (or truncates) a file only its owner can read and write (0600 on Unix):
/// exports hold patient data.
pub fn create_private_file(path: &std::path::Path) -> crate::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| crate::Error::io(path, e))
}
