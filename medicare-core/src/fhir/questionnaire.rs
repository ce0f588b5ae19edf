//! A form as a FHIR R4 `Questionnaire`.
//!
//! | medicare field | `item.type` | rules |
//! |---|---|---|
//! | `text`, `email`, `phone` | `string` | `maxLength`; `pattern` as the `regex` extension |
//! | `long_text` | `text` | as above |
//! | `integer` | `integer` | `min`/`max` as the `minValue`/`maxValue` extensions (`valueInteger`) |
//! | `decimal` | `decimal` | `minValue`/`maxValue` (`valueDecimal`) |
//! | `date` | `date` | `minValue`/`maxValue` (`valueDate`) |
//! | `yes_no` | `boolean` | |
//! | `single_choice` | `choice` | `answerOption` (`valueString`) |
//! | `multiple_choice` | `choice`, `repeats` | `answerOption`; `min`/`max` as `questionnaire-minOccurs`/`-maxOccurs` |
//!
//! `required` is `item.required`; a field's help text is a nested `display` item. medicare
//! forms have no free-text "other" answer, so no item is `open-choice`. The resource id
//! is the form's name with `_` written `-` (FHIR ids allow no `_`), and its canonical URL
//! ([`questionnaire_url`]) is `{base_url}/fhir/Questionnaire/{id}`: exported responses
//! point at it.

use super::model::{AnswerOption, Extension, Questionnaire, QuestionnaireItem, Value};
use crate::form::{Bound, FieldSpec, FieldType, FormSpec};

const EXT: &str = "http://hl7.org/fhir/StructureDefinition/";

/// The FHIR resource id of a form.
pub fn questionnaire_id(form_name: &str) -> String {
    form_name.replace('_', "-")
}

/// The canonical URL of a form's `Questionnaire` under `base_url`.
pub fn questionnaire_url(base_url: &str, form_name: &str) -> String {
    format!(
        "{}/fhir/Questionnaire/{}",
        base_url.trim_end_matches('/'),
        questionnaire_id(form_name)
    )
}

/// A form name as a FHIR `name` (`flu_2026` → `Flu2026`).
fn computer_name(form_name: &str) -> String {
    let name: String = form_name
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_uppercase()) {
        name
    } else {
        format!("Form{name}")
    }
}

/// The `Questionnaire` of `spec`, whose canonical URL is under `base_url`.
pub fn questionnaire(spec: &FormSpec, base_url: &str) -> Questionnaire {
    Questionnaire {
        resource_type: "Questionnaire".to_string(),
        id: questionnaire_id(&spec.name),
        url: questionnaire_url(base_url, &spec.name),
        name: computer_name(&spec.name),
        title: spec.title.clone(),
        status: "active".to_string(),
        description: spec.description.clone(),
        item: spec.fields.iter().map(item).collect(),
    }
}

/// A decimal as a JSON number (exact up to 15 significant digits).
pub(crate) fn json_number(text: &str) -> Value {
    match text.parse::<serde_json::Number>() {
        Ok(n) => Value::Decimal(n),
        Err(_) => Value::String(text.to_string()),
    }
}

fn bound_value(kind: FieldType, bound: &Bound) -> Option<Value> {
    Some(match (kind, bound) {
        (FieldType::Integer, Bound::Integer(n)) => Value::Integer(*n),
        (FieldType::Decimal, b) => json_number(&b.as_decimal()?.to_string()),
        (FieldType::Date, Bound::Date(d)) => Value::Date(d.format("%Y-%m-%d").to_string()),
        (FieldType::MultipleChoice, Bound::Integer(n)) => Value::Integer(*n),
        _ => return None,
    })
}

fn item(field: &FieldSpec) -> QuestionnaireItem {
    let kind = match field.kind {
        FieldType::Text | FieldType::Email | FieldType::Phone => "string",
        FieldType::LongText => "text",
        FieldType::Integer => "integer",
        FieldType::Decimal => "decimal",
        FieldType::Date => "date",
        FieldType::YesNo => "boolean",
        FieldType::SingleChoice | FieldType::MultipleChoice => "choice",
    };
    let (min_url, max_url) = if field.kind == FieldType::MultipleChoice {
        ("questionnaire-minOccurs", "questionnaire-maxOccurs")
    } else {
        ("minValue", "maxValue")
    };
    let mut extension = Vec::new();
    for (url, bound) in [(min_url, &field.min), (max_url, &field.max)] {
        if let Some(value) = bound.as_ref().and_then(|b| bound_value(field.kind, b)) {
            extension.push(Extension {
                url: format!("{EXT}{url}"),
                value,
            });
        }
    }
    if let Some(pattern) = &field.pattern {
        extension.push(Extension {
            url: format!("{EXT}regex"),
            value: Value::String(pattern.clone()),
        });
    }
    let help = field.help.as_ref().map(|help| QuestionnaireItem {
        extension: Vec::new(),
        link_id: format!("{}-help", field.name),
        text: help.clone(),
        kind: "display".to_string(),
        required: false,
        repeats: false,
        max_length: None,
        answer_option: Vec::new(),
        item: Vec::new(),
    });
    QuestionnaireItem {
        extension,
        link_id: field.name.clone(),
        text: field.label.clone(),
        kind: kind.to_string(),
        required: field.required,
        repeats: field.kind == FieldType::MultipleChoice,
        max_length: field.max_length.filter(|_| field.kind.is_text_like()),
        answer_option: field
            .options
            .iter()
            .map(|o| AnswerOption {
                value: Value::String(o.clone()),
            })
            .collect(),
        item: help.into_iter().collect(),
    }
}
