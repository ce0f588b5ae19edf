//! The wizard's first two screens: how many fields, then each field with the audience,
//! and "Create" (the form, then the campaign, through the engine's own calls).
//!
//! Nothing is carried in a hidden field that is not checked again: the count is parsed
//! anew from every post, and the draft and the audience are validated as a whole each
//! time ([`crate::console::draft`], [`crate::console::audience`]). Nothing is stored
//! until every input is good and the filter selects at least one patient.

use super::{failure, may, refuse, render, FormPairs, SignedIn};
use crate::access::Permission;
use crate::console::audience::{parse_filter, AudienceDraft, AudienceError, MAX_LINK_DAYS};
use crate::console::draft::{
    check_field_name, parse_field_count, DraftError, FieldPart, FormDraft, MAX_WIZARD_FIELDS,
};
use crate::form::FieldType;
use crate::server::views::ErrorItem;
use crate::server::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use minijinja::context;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One entry of an error summary: the message and the input it links to.
#[derive(Debug, serde::Serialize)]
pub(super) struct Problem {
    id: String,
    message: String,
}

impl Problem {
    fn of_draft(e: &DraftError) -> Problem {
        Problem {
            id: e.place.input_id(),
            message: e.message.clone(),
        }
    }

    fn of_audience(e: &AudienceError) -> Problem {
        Problem {
            id: e.place.input_id().to_string(),
            message: e.message.clone(),
        }
    }
}

/// The error summary's items, and the inline message of every input in `ids` (`""`
/// for none: the templates are rendered strictly, so every id is present).
fn errors_for(
    ids: impl IntoIterator<Item = String>,
    problems: &[Problem],
) -> (Vec<ErrorItem>, BTreeMap<String, String>) {
    let mut map: BTreeMap<String, String> = ids.into_iter().map(|id| (id, String::new())).collect();
    for p in problems {
        let slot = map.entry(p.id.clone()).or_default();
        if slot.is_empty() {
            *slot = p.message.clone();
        }
    }
    let items = problems
        .iter()
        .map(|p| ErrorItem::new(&p.id, p.message.clone()))
        .collect();
    (items, map)
}

/// Screen 1's title (the question, as the GOV.UK question pattern has it).
const COUNT_TITLE: &str = "Please enter the number of data fields you require";

/// Screen 2's title.
const FIELDS_TITLE: &str = "Field names and data types";

/// A field type as the type list shows it.
fn type_label(t: FieldType) -> &'static str {
    match t {
        FieldType::Text => "Text (one line)",
        FieldType::LongText => "Long text (several lines)",
        FieldType::Integer => "Whole number",
        FieldType::Decimal => "Decimal number",
        FieldType::Date => "Date",
        FieldType::YesNo => "Yes or no",
        FieldType::SingleChoice => "One of several options",
        FieldType::MultipleChoice => "Any of several options",
        FieldType::Email => "Email address",
        FieldType::Phone => "Phone number",
    }
}

/// GET `/console/forms/new`: screen 1.
pub(super) async fn count_page(who: SignedIn) -> Response {
    render_count(&who, "", &[])
}

fn render_count(who: &SignedIn, count: &str, problems: &[Problem]) -> Response {
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let (errors, errors_by_id) = errors_for(["count".to_string()], problems);
    render(
        who,
        status,
        "console/wizard_count.html",
        COUNT_TITLE,
        errors,
        context! {
            csrf => who.csrf_token().unwrap_or_default(),
            count,
            max_fields => MAX_WIZARD_FIELDS,
            errors_by_id,
        },
    )
}

/// POST `/console/forms/new`: checks the count and goes on to screen 2.
pub(super) async fn count_submit(who: SignedIn, FormPairs(pairs): FormPairs) -> Response {
    let typed = pairs
        .iter()
        .find(|(k, _)| k == "count")
        .map_or("", |(_, v)| v.as_str());
    match parse_field_count(typed) {
        Ok(n) => Redirect::to(&format!("/console/forms/new/fields?count={n}")).into_response(),
        Err(message) => render_count(
            &who,
            typed,
            &[Problem {
                id: "count".to_string(),
                message,
            }],
        ),
    }
}

/// The query of screen 2's address.
#[derive(Debug, Deserialize)]
pub(super) struct CountQuery {
    #[serde(default)]
    count: String,
}

/// GET `/console/forms/new/fields?count=N`: screen 2, blank.
pub(super) async fn fields_page(who: SignedIn, Query(q): Query<CountQuery>) -> Response {
    match parse_field_count(&q.count) {
        Ok(n) => render_fields(
            &who,
            &FormDraft::blank(n),
            &AudienceDraft::default(),
            &[],
            None,
            None,
        ),
        // A hand-edited address: back to screen 1, with the reason.
        Err(message) => render_count(
            &who,
            &q.count,
            &[Problem {
                id: "count".to_string(),
                message,
            }],
        ),
    }
}

fn render_fields(
    who: &SignedIn,
    draft: &FormDraft,
    audience: &AudienceDraft,
    problems: &[Problem],
    filter_problem: Option<String>,
    filter_count: Option<u64>,
) -> Response {
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let fields: Vec<_> = draft
        .fields
        .iter()
        .map(|f| {
            let mut map: BTreeMap<&str, minijinja::Value> = FieldPart::ALL
                .into_iter()
                .map(|p| (p.key(), minijinja::Value::from(f.value(p))))
                .collect();
            map.insert("kind", f.kind.clone().into());
            map.insert("required", f.required.into());
            map
        })
        .collect();
    let mut errors_in: BTreeMap<String, bool> = (1..=draft.fields.len())
        .map(|n| (n.to_string(), false))
        .collect();
    for p in problems {
        if let Some(n) =
            p.id.strip_prefix("field-")
                .and_then(|r| r.split('-').next())
        {
            errors_in.insert(n.to_string(), true);
        }
    }
    let ids = [
        "count",
        "form_name",
        "title",
        "intro",
        "filter",
        "channel-sms",
        "strategy-both",
        "budget",
        "link_days",
        "sms",
    ]
    .map(str::to_string)
    .into_iter()
    .chain((1..=draft.fields.len()).flat_map(|n| FieldPart::ALL.map(|p| p.input_name(n))));
    let (errors, errors_by_id) = errors_for(ids, problems);
    let types: Vec<_> = FieldType::ALL
        .into_iter()
        .map(|t| context! { value => t.as_str(), label => type_label(t) })
        .collect();
    let constraint_parts = [
        (FieldPart::Min, "Lowest value (optional)", "Whole number and decimal fields: a number. Date fields: a date written YYYY-MM-DD. Any-of-several fields: the fewest choices."),
        (FieldPart::Max, "Highest value (optional)", "Like the lowest value."),
        (FieldPart::MaxLength, "Longest answer in characters (optional)", "Text, long text, email and phone fields."),
        (FieldPart::Pattern, "Pattern (optional)", "A regular expression the whole answer must match. Text, long text, email and phone fields."),
        (FieldPart::Options, "Options", "One per line. Needed for the one-of and any-of types; not allowed for the others."),
    ]
    .map(|(p, label, hint)| context! { key => p.key(), label, hint });
    render(
        who,
        status,
        "console/wizard_fields.html",
        FIELDS_TITLE,
        errors,
        context! {
            csrf => who.csrf_token().unwrap_or_default(),
            count => draft.fields.len(),
            form => context! { form_name => draft.name, title => draft.title, intro => draft.intro },
            fields,
            types,
            constraint_parts,
            audience => context! { filter => audience.filter, channels => audience.channels, strategy => audience.strategy, budget => audience.budget, link_days => audience.link_days, sms => audience.sms },
            max_link_days => MAX_LINK_DAYS,
            errors_by_id,
            errors_in,
            filter_problem,
            filter_count,
        },
    )
}

/// POST `/console/forms/new/fields`: "Create". Checks everything; when all is good,
/// creates the form and then the campaign, and shows the check before sending.
pub(super) async fn fields_submit(
    State(state): State<AppState>,
    who: SignedIn,
    FormPairs(pairs): FormPairs,
) -> Response {
    if !may(&who, &state, Permission::CreateForms) {
        return refuse(&who, StatusCode::FORBIDDEN);
    }
    let draft = match FormDraft::from_pairs(&pairs) {
        Ok(d) => d,
        Err(e) => {
            let typed = pairs
                .iter()
                .find(|(k, _)| k == "count")
                .map_or(String::new(), |(_, v)| v.clone());
            return render_count(&who, &typed, &[Problem::of_draft(&e)]);
        }
    };
    let audience = AudienceDraft::from_pairs(&pairs);
    let spec = draft.to_spec();
    let checked = audience.check();
    let mut problems: Vec<Problem> = Vec::new();
    let mut filter_problem = None;
    if let Err(errors) = &spec {
        problems.extend(errors.iter().map(Problem::of_draft));
    }
    if let Err(errors) = &checked {
        for e in errors {
            if let Some(at) = &e.filter {
                filter_problem = Some(caret(&audience.filter, at.line, at.column));
            }
        }
        problems.extend(errors.iter().map(Problem::of_audience));
    }
    let engine = state.engine();
    let mut filter_count = None;
    if let Ok(checked) = &checked {
        match engine.count_patients(&checked.filter).await {
            Ok(0) => problems.push(Problem {
                id: "filter".to_string(),
                message: "Audience filter: selects no patient today; widen it".to_string(),
            }),
            Ok(n) => filter_count = Some(n),
            Err(e) => return failure(&who, &e),
        }
    }
    let (Ok(spec), Ok(checked), true) = (spec, checked, problems.is_empty()) else {
        return render_fields(
            &who,
            &draft,
            &audience,
            &problems,
            filter_problem,
            filter_count,
        );
    };
    let form = match engine.create_form(&spec).await {
        Ok(form) => form,
        Err(crate::Error::AlreadyExists { .. }) => {
            let problems = [Problem {
                id: "form_name".to_string(),
                message: "Form name: a form with this name exists already; choose another"
                    .to_string(),
            }];
            return render_fields(&who, &draft, &audience, &problems, None, filter_count);
        }
        Err(e) => return failure(&who, &e),
    };
    let created = match checked.request(&spec.title, form.id) {
        Ok(request) => engine.create_campaign(&request).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(id) => {
            tracing::info!(campaign = id.0, form = form.id.0, operator = %who.principal().operator(), "console: campaign created");
            Redirect::to(&format!("/console/campaigns/{id}/preview")).into_response()
        }
        Err(e) => failure(&who, &e),
    }
}

/// The filter's line with a caret under the column, for the inline message.
fn caret(source: &str, line: usize, column: usize) -> String {
    let text: String = source
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("{text}\n{}^", " ".repeat(column.saturating_sub(1)))
}

/// The query of the live checks.
#[derive(Debug, Deserialize)]
pub(super) struct NameQuery {
    #[serde(default)]
    name: String,
}

/// GET `/console/forms/check-name?name=`: the identifier rule's verdict, as JSON.
pub(super) async fn check_name(Query(q): Query<NameQuery>) -> Response {
    Json(serde_json::json!({ "problem": check_field_name(&q.name) })).into_response()
}

/// The query of the live count.
#[derive(Debug, Deserialize)]
pub(super) struct FilterQuery {
    #[serde(default)]
    filter: String,
}

/// GET `/console/audience/count?filter=`: how many patients the filter selects today,
/// or where it goes wrong, as JSON. Counts only.
pub(super) async fn audience_count(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<FilterQuery>,
) -> Response {
    match parse_filter(&q.filter) {
        Err(e) => Json(serde_json::json!({
            "error": e.message,
            "line": e.filter.as_ref().map(|p| p.line),
            "column": e.filter.as_ref().map(|p| p.column),
        }))
        .into_response(),
        Ok(filter) => match state.engine().count_patients(&filter).await {
            Ok(n) => Json(serde_json::json!({ "count": n })).into_response(),
            Err(e) => failure(&who, &e),
        },
    }
}
