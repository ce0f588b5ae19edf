//! Typed serde structs for the few FHIR R4 resources medicare reads and writes.
//!
//! Only the elements medicare uses are declared. Reading tolerates every other element
//! (FHIR resources carry many: `meta`, `text`, extensions, `_birthDate`...): serde skips
//! unknown keys. A declared element with the wrong JSON shape is an error whose path
//! the reader reports (`Patient.telecom[1].value`), never its value.
//!
//! Why not a FHIR crate: the maintained Rust FHIR models generate every resource of a
//! release (hundreds of thousands of lines) and add minutes to a clean build, for the
//! dozen elements used here.

use serde::{Deserialize, Serialize};

/// The code system of NHS numbers in `Identifier.system`.
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";

/// The two keys every resource is first read by, to decide how to read the rest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceHeader {
    /// `Patient`, `Condition`, `Bundle`, ...
    pub resource_type: Option<String>,
}

/// A `Bundle` (`collection`, `transaction`, `searchset`, ... all read alike). Entries are
/// kept as JSON so each one is read, and its errors reported, on its own.
#[derive(Debug, Deserialize)]
pub struct Bundle {
    /// The bundle's entries, in order.
    #[serde(default)]
    pub entry: Vec<serde_json::Value>,
}

/// One `Bundle.entry`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// The entry's absolute URL (`urn:uuid:...` in transactions); references may use it.
    pub full_url: Option<String>,
    /// The resource.
    pub resource: Option<serde_json::Value>,
}

/// A time range; only its end matters here (an ended contact point is ignored).
#[derive(Debug, Default, Deserialize)]
pub struct Period {
    /// When it ended (`YYYY`, `YYYY-MM`, `YYYY-MM-DD` or a date-time).
    pub end: Option<String>,
}

/// `Identifier`: a system and a value.
#[derive(Debug, Deserialize)]
pub struct Identifier {
    /// The namespace, e.g. [`NHS_NUMBER_SYSTEM`].
    pub system: Option<String>,
    /// The identifier.
    pub value: Option<String>,
    /// When it was valid.
    pub period: Option<Period>,
}

/// `HumanName`.
#[derive(Debug, Deserialize)]
pub struct HumanName {
    /// `usual | official | temp | nickname | anonymous | old | maiden`.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// The family name.
    pub family: Option<String>,
    /// Given names, in order.
    #[serde(default)]
    pub given: Vec<String>,
    /// When the name was in use.
    pub period: Option<Period>,
}

/// `ContactPoint`: a phone number, an email address, ...
#[derive(Debug, Deserialize)]
pub struct ContactPoint {
    /// `phone | fax | email | pager | url | sms | other`.
    pub system: Option<String>,
    /// The number or address.
    pub value: Option<String>,
    /// `home | work | temp | old | mobile`.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// Preference order: 1 is the most preferred.
    pub rank: Option<u32>,
    /// When it was in use.
    pub period: Option<Period>,
}

/// `Address` (only what medicare keeps).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// `home | work | temp | old | billing`.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// The postcode.
    pub postal_code: Option<String>,
    /// When it was in use.
    pub period: Option<Period>,
}

/// `Patient` (only what medicare keeps).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// The resource id (the patient's external id in medicare).
    pub id: Option<String>,
    /// Identifiers; the NHS number is the one with [`NHS_NUMBER_SYSTEM`].
    #[serde(default)]
    pub identifier: Vec<Identifier>,
    /// `false` for a record no longer in use.
    pub active: Option<bool>,
    /// Names.
    #[serde(default)]
    pub name: Vec<HumanName>,
    /// Phone numbers and email addresses.
    #[serde(default)]
    pub telecom: Vec<ContactPoint>,
    /// `male | female | other | unknown`.
    pub gender: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// `deceasedBoolean`.
    pub deceased_boolean: Option<bool>,
    /// `deceasedDateTime`.
    pub deceased_date_time: Option<String>,
    /// Addresses.
    #[serde(default)]
    pub address: Vec<Address>,
}

/// `Coding`: one code in one system.
#[derive(Debug, Default, Deserialize)]
pub struct Coding {
    /// The code system's URI.
    pub system: Option<String>,
    /// The code.
    pub code: Option<String>,
}

/// `CodeableConcept`: several codings of one idea.
#[derive(Debug, Default, Deserialize)]
pub struct CodeableConcept {
    /// The codings.
    #[serde(default)]
    pub coding: Vec<Coding>,
}

/// `Reference` (literal references only).
#[derive(Debug, Default, Deserialize)]
pub struct Reference {
    /// `Patient/123`, `urn:uuid:...` or an absolute URL.
    pub reference: Option<String>,
}

/// `Condition` (only what medicare keeps).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `active | recurrence | relapse | inactive | remission | resolved`.
    pub clinical_status: Option<CodeableConcept>,
    /// `unconfirmed | provisional | differential | confirmed | refuted | entered-in-error`.
    pub verification_status: Option<CodeableConcept>,
    /// What the condition is.
    pub code: Option<CodeableConcept>,
    /// Who has it.
    pub subject: Option<Reference>,
}

/// An extension with one value (the standard `minValue`, `maxValue`, `regex`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// The extension's canonical URL.
    pub url: String,
    /// Its value, as `valueInteger`, `valueDecimal`, `valueDate` or `valueString`.
    #[serde(flatten)]
    pub value: Value,
}

/// A typed FHIR value (`value[x]`), as used by extensions, answer options and answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// `valueString`.
    #[serde(rename = "valueString")]
    String(String),
    /// `valueInteger`.
    #[serde(rename = "valueInteger")]
    Integer(i64),
    /// `valueDecimal` (a JSON number).
    #[serde(rename = "valueDecimal")]
    Decimal(serde_json::Number),
    /// `valueDate`.
    #[serde(rename = "valueDate")]
    Date(String),
    /// `valueBoolean`.
    #[serde(rename = "valueBoolean")]
    Boolean(bool),
}

/// `Questionnaire.item.answerOption`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerOption {
    /// The option.
    #[serde(flatten)]
    pub value: Value,
}

/// One `Questionnaire.item`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireItem {
    /// The standard extensions (`minValue`, `maxValue`, `regex`, `minOccurs`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// The field's name.
    pub link_id: String,
    /// The question.
    pub text: String,
    /// `string | text | integer | decimal | date | boolean | choice | open-choice | display`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether an answer is needed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Whether several answers are allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeats: bool,
    /// The longest answer, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// The choices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_option: Vec<AnswerOption>,
    /// Nested items (the field's help text, as a `display` item).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<QuestionnaireItem>,
}

/// `Questionnaire`: a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Questionnaire {
    /// Always `Questionnaire`.
    pub resource_type: String,
    /// The resource id.
    pub id: String,
    /// The canonical URL responses point at.
    pub url: String,
    /// A computer-friendly name.
    pub name: String,
    /// The title shown to patients.
    pub title: String,
    /// `active`.
    pub status: String,
    /// The introduction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The questions.
    pub item: Vec<QuestionnaireItem>,
}

/// One answer of a `QuestionnaireResponse.item`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The value.
    #[serde(flatten)]
    pub value: Value,
}

/// One `QuestionnaireResponse.item`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseItem {
    /// The question's `linkId` (the field's name).
    pub link_id: String,
    /// The answers (several for a multiple choice).
    pub answer: Vec<Answer>,
}

/// `Identifier` as written in a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentifierOut {
    /// The namespace.
    pub system: String,
    /// The identifier.
    pub value: String,
}

/// The patient a response is about: by NHS-number identifier (a logical reference), or,
/// for a patient imported without one, by its resource id (`Patient/<id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentifierReference {
    /// `Patient/<resource id>`, for a patient without an NHS number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The NHS number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<IdentifierOut>,
}

impl IdentifierReference {
    /// The reference to `patient`: its NHS number if it has one, else its resource id.
    pub fn to_patient(patient: &crate::patient::Patient) -> IdentifierReference {
        match &patient.nhs_number {
            Some(n) => IdentifierReference {
                reference: None,
                identifier: Some(IdentifierOut {
                    system: NHS_NUMBER_SYSTEM.to_string(),
                    value: n.as_str().to_string(),
                }),
            },
            None => IdentifierReference {
                reference: Some(format!("Patient/{}", patient.external_id)),
                identifier: None,
            },
        }
    }
}

/// `QuestionnaireResponse`: one patient's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireResponse {
    /// Always `QuestionnaireResponse`.
    pub resource_type: String,
    /// The resource id.
    pub id: String,
    /// The Questionnaire's canonical URL.
    pub questionnaire: String,
    /// `completed`.
    pub status: String,
    /// The patient, by NHS number.
    pub subject: IdentifierReference,
    /// When the answers were submitted (an instant with a time zone).
    pub authored: String,
    /// The answered questions, in the form's order.
    #[serde(default)]
    pub item: Vec<ResponseItem>,
}
