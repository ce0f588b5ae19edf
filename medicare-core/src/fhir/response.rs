//! A campaign's answers as FHIR R4 `QuestionnaireResponse` NDJSON, and back.
//!
//! One resource per response, one per line ([`export_responses`]): `id`
//! `{campaign}-{recipient}`, `questionnaire` the form's canonical URL
//! ([`super::questionnaire_url`]), `status` `completed`, `subject` the patient by NHS
//! number identifier (never a resource id the receiving system would not know),
//! `authored` the submission instant in UTC, and one `item` per answered field, its
//! `linkId` the field's name: `valueString` (text, email, phone, a choice),
//! `valueInteger`, `valueDecimal`, `valueDate`, `valueBoolean`, and one answer per
//! option chosen in a multiple choice. Unanswered fields have no item.
//!
//! [`answers_from_response`] reads one back into medicare's typed answers, so a system
//! that received the export (or a test) can check it.

use super::model::{Answer, IdentifierReference, QuestionnaireResponse, ResponseItem, Value};
use super::questionnaire::{json_number, questionnaire_url};
use crate::campaign::CampaignId;
use crate::error::{Error, Result};
use crate::form::{AnswerValue, Decimal, FieldSpec, FieldType, FormSpec};
use crate::patient::PatientId;
use crate::store::{ResponseRow, Store};
use chrono::{NaiveDate, SecondsFormat, Utc};
use std::collections::{HashMap, HashSet};
use std::io::Write;

/// The typed answer of `field` from its stored text (as [`ResponseRow`] holds it).
pub fn stored_answer(
    field: &FieldSpec,
    text: Option<&str>,
) -> std::result::Result<AnswerValue, String> {
    let Some(text) = text else {
        return Ok(AnswerValue::Null);
    };
    let bad = |what: &str| format!("the stored answer is not {what}");
    Ok(match field.kind {
        FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Phone => {
            AnswerValue::Text(text.to_string())
        }
        FieldType::Integer => {
            AnswerValue::Integer(text.trim().parse().map_err(|_| bad("an integer"))?)
        }
        FieldType::Decimal => AnswerValue::Decimal(
            text.trim()
                .parse::<Decimal>()
                .map_err(|_| bad("a decimal"))?
                .to_string(),
        ),
        FieldType::Date => AnswerValue::Date(
            text.get(..10)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .ok_or_else(|| bad("a date"))?,
        ),
        FieldType::YesNo => AnswerValue::Bool(match text.trim() {
            "1" | "true" | "t" => true,
            "0" | "false" | "f" => false,
            _ => return Err(bad("yes or no")),
        }),
        FieldType::SingleChoice => AnswerValue::Choice(text.to_string()),
        FieldType::MultipleChoice => {
            AnswerValue::Choices(serde_json::from_str(text).map_err(|_| bad("a list of choices"))?)
        }
    })
}

/// The FHIR answers of one typed answer (none when unanswered).
fn fhir_answers(answer: AnswerValue) -> Vec<Answer> {
    let values = match answer {
        AnswerValue::Null => Vec::new(),
        AnswerValue::Text(s) | AnswerValue::Choice(s) => vec![Value::String(s)],
        AnswerValue::Integer(n) => vec![Value::Integer(n)],
        AnswerValue::Decimal(d) => vec![json_number(&d)],
        AnswerValue::Date(d) => vec![Value::Date(d.format("%Y-%m-%d").to_string())],
        AnswerValue::Bool(b) => vec![Value::Boolean(b)],
        AnswerValue::Choices(cs) => cs.into_iter().map(Value::String).collect(),
    };
    values.into_iter().map(|value| Answer { value }).collect()
}

/// One response as a `QuestionnaireResponse`. Errors name the recipient and field.
pub fn response_resource(
    spec: &FormSpec,
    base_url: &str,
    campaign: CampaignId,
    row: &ResponseRow,
    subject: &IdentifierReference,
) -> Result<QuestionnaireResponse> {
    let mut item = Vec::new();
    for (i, field) in spec.fields.iter().enumerate() {
        let text = row.values.get(i).and_then(Option::as_deref);
        let answer = stored_answer(field, text).map_err(|m| {
            Error::invalid(
                format!(
                    "response of recipient {}, field {}",
                    row.recipient_id, field.name
                ),
                m,
            )
        })?;
        let answer = fhir_answers(answer);
        if !answer.is_empty() {
            item.push(ResponseItem {
                link_id: field.name.clone(),
                answer,
            });
        }
    }
    Ok(QuestionnaireResponse {
        resource_type: "QuestionnaireResponse".to_string(),
        id: format!("{}-{}", campaign.0, row.recipient_id),
        questionnaire: questionnaire_url(base_url, &spec.name),
        status: "completed".to_string(),
        subject: subject.clone(),
        authored: row.submitted_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        item,
    })
}

/// Writes every response to `campaign` as NDJSON `QuestionnaireResponse`s to `out`, in
/// submission order. Returns how many. The export is recorded in the audit ledger
/// (`responses_export`, with the count) before the first response is written.
pub async fn export_responses(
    store: &dyn Store,
    campaign: CampaignId,
    base_url: &str,
    out: &mut (dyn Write + Send),
) -> Result<u64> {
    let c = store.campaign(campaign).await?;
    let form = store.form(c.form_id).await?;
    // Every response falls between the campaign's creation and the later of its links'
    // expiry and now (bounds every backend's time type can hold).
    let day = chrono::Duration::days(1);
    let from = c.created_at - day;
    let to = c.link_expires_at.max(Utc::now()) + day;
    let rows = store.responses(campaign, &form, from, to).await?;
    let wanted: HashSet<PatientId> = rows.iter().map(|r| r.patient_id).collect();
    let subjects: HashMap<PatientId, IdentifierReference> = store
        .all_patients()
        .await?
        .into_iter()
        .filter(|(id, _)| wanted.contains(id))
        .map(|(id, p)| (id, IdentifierReference::to_patient(&p)))
        .collect();
    crate::audit::record(
        store,
        crate::audit::Action::ResponsesExport,
        crate::audit::Target::campaign(campaign),
        crate::audit::Detail::none().count("responses", rows.len() as u64),
    )
    .await?;
    let io = |e: std::io::Error| Error::io("<responses output>", e);
    for row in &rows {
        let subject = subjects
            .get(&row.patient_id)
            .ok_or_else(|| Error::NotFound {
                what: format!(
                    "patient {} of recipient {}",
                    row.patient_id, row.recipient_id
                ),
            })?;
        let resource = response_resource(&form.spec, base_url, campaign, row, subject)?;
        serde_json::to_writer(&mut *out, &resource).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
}

/// A JSON number as an exact decimal (`1e-7` too, which JSON writers may produce).
fn decimal_of_number(n: &serde_json::Number) -> Option<Decimal> {
    let text = n.to_string();
    text.parse::<Decimal>().ok().or_else(|| {
        let x = n.as_f64()?;
        format!("{x:.10}").parse::<Decimal>().ok()
    })
}

/// Reads a `QuestionnaireResponse` back into one typed answer per field of `spec`, in
/// its order (unanswered: [`AnswerValue::Null`]). Errors name the item, never a value.
pub fn answers_from_response(
    spec: &FormSpec,
    response: &QuestionnaireResponse,
) -> Result<Vec<(String, AnswerValue)>> {
    let what = |i: usize| format!("QuestionnaireResponse.item[{i}]");
    let mut by_link: HashMap<&str, (usize, &ResponseItem)> = HashMap::new();
    for (i, item) in response.item.iter().enumerate() {
        if !spec.fields.iter().any(|f| f.name == item.link_id) {
            return Err(Error::invalid(what(i), "linkId is not a field of the form"));
        }
        by_link.insert(item.link_id.as_str(), (i, item));
    }
    let mut out = Vec::new();
    for field in &spec.fields {
        let Some((i, item)) = by_link.get(field.name.as_str()) else {
            out.push((field.name.clone(), AnswerValue::Null));
            continue;
        };
        let wrong = || {
            Error::invalid(
                what(*i),
                format!("the answer does not fit a {} field", field.kind),
            )
        };
        let values: Vec<&Value> = item.answer.iter().map(|a| &a.value).collect();
        let one = || match values.as_slice() {
            [v] => Ok(*v),
            _ => Err(wrong()),
        };
        let answer = match field.kind {
            FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Phone => {
                match one()? {
                    Value::String(s) => AnswerValue::Text(s.clone()),
                    _ => return Err(wrong()),
                }
            }
            FieldType::SingleChoice => match one()? {
                Value::String(s) => AnswerValue::Choice(s.clone()),
                _ => return Err(wrong()),
            },
            FieldType::Integer => match one()? {
                Value::Integer(n) => AnswerValue::Integer(*n),
                _ => return Err(wrong()),
            },
            FieldType::Decimal => match one()? {
                Value::Decimal(n) => {
                    AnswerValue::Decimal(decimal_of_number(n).ok_or_else(wrong)?.to_string())
                }
                _ => return Err(wrong()),
            },
            FieldType::Date => match one()? {
                Value::Date(d) => AnswerValue::Date(
                    NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| wrong())?,
                ),
                _ => return Err(wrong()),
            },
            FieldType::YesNo => match one()? {
                Value::Boolean(b) => AnswerValue::Bool(*b),
                _ => return Err(wrong()),
            },
            FieldType::MultipleChoice => AnswerValue::Choices(
                values
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(wrong()),
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        out.push((field.name.clone(), answer));
    }
    Ok(out)
}
