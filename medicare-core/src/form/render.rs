//! The patient-facing pages: a form page built from a [`FormSpec`], and plain message
//! pages (thank you, link expired, ...), both from the one [`SKELETON`] template.
//!
//! The page is self-contained: one inline `<style>` element (allow it with
//! [`style_sha256_base64`] in a Content-Security-Policy), no script, no external asset.
//! Everything that comes from a spec or a submission is HTML-escaped by the template
//! engine (auto-escaping is forced on), never assembled into markup by hand.

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::spec::{FieldSpec, FieldType, FormSpec};
use super::submission::{FieldErrors, MAX_EMAIL_CHARS, MAX_VALUE_CHARS};
use crate::error::{Error, Result};

/// The page template: layout, inline style, form and message markup.
pub const SKELETON: &str = include_str!("skeleton.html");

const TEMPLATE_NAME: &str = "skeleton.html";
const DEFAULT_SUBMIT_LABEL: &str = "Submit";

/// What a form page shows: the form, and after a refused submission the patient's
/// answers and what to fix.
#[derive(Debug, Clone, Copy)]
pub struct FormPage<'a> {
    /// The form.
    pub spec: &'a FormSpec,
    /// Where the form posts to; `None` posts back to the page's own URL.
    pub action: Option<&'a str>,
    /// The submitted name/value pairs, to fill the form in again after an error.
    pub values: Option<&'a [(String, String)]>,
    /// The problems found with the submission, shown at the top and by each field.
    pub errors: Option<&'a FieldErrors>,
}

impl<'a> FormPage<'a> {
    /// A blank form that posts back to its own URL.
    pub fn new(spec: &'a FormSpec) -> Self {
        FormPage {
            spec,
            action: None,
            values: None,
            errors: None,
        }
    }
}

/// Renders a form page (see [`FormPage`]).
pub fn render_form_page(page: &FormPage<'_>) -> Result<String> {
    page.spec.validate()?;
    let spec = page.spec;
    let values = page.values.unwrap_or(&[]);
    let fields: Vec<FieldView> = spec
        .fields
        .iter()
        .map(|field| field_view(field, values, page.errors))
        .collect();
    let mut summary: Vec<SummaryItem> = page
        .errors
        .map(|e| e.form.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|message| SummaryItem {
            href: None,
            text: message.clone(),
        })
        .collect();
    summary.extend(fields.iter().filter_map(|f| {
        f.error.as_ref().map(|message| SummaryItem {
            href: Some(format!("#{}", f.focus_id)),
            text: summary_text(&f.label, message),
        })
    }));
    render(&PageView {
        title: spec.title.clone(),
        has_errors: !summary.is_empty(),
        paragraphs: paragraphs(spec.description.as_deref().unwrap_or("")),
        form: Some(FormView {
            action: page.action.map(str::to_string),
            submit_label: spec
                .submit_label
                .clone()
                .unwrap_or_else(|| DEFAULT_SUBMIT_LABEL.to_string()),
            summary,
            fields,
        }),
    })
}

/// Renders a plain page with a title and a message (blank lines separate paragraphs), in
/// the same layout as the form pages.
pub fn render_message_page(title: &str, message: &str) -> Result<String> {
    render(&PageView {
        title: title.to_string(),
        has_errors: false,
        paragraphs: paragraphs(message),
        form: None,
    })
}

/// The base64 SHA-256 of the inline `<style>` element's text, for a
/// Content-Security-Policy of `style-src 'sha256-<this>'`. Every page has the same style.
pub fn style_sha256_base64() -> String {
    csp_hash(inline_style())
}

/// The text between `<style>` and `</style>` in the skeleton.
fn inline_style() -> &'static str {
    SKELETON
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map_or("", |(style, _)| style)
}

#[derive(Serialize)]
struct PageView {
    title: String,
    has_errors: bool,
    paragraphs: Vec<String>,
    form: Option<FormView>,
}

#[derive(Serialize)]
struct FormView {
    action: Option<String>,
    submit_label: String,
    summary: Vec<SummaryItem>,
    fields: Vec<FieldView>,
}

#[derive(Serialize)]
struct SummaryItem {
    href: Option<String>,
    text: String,
}

#[derive(Serialize)]
struct FieldView {
    name: String,
    id: String,
    /// Where the error summary links to: the input, or a group's first option.
    focus_id: String,
    label: String,
    required: bool,
    help: Option<String>,
    help_id: String,
    error: Option<String>,
    error_id: String,
    described_by: Option<String>,
    /// An `<input type>`, or `textarea`; `radio`/`checkbox` for option groups.
    input_type: &'static str,
    attrs: Vec<Attr>,
    value: String,
    options: Vec<OptionView>,
}

#[derive(Serialize)]
struct Attr {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
struct OptionView {
    id: String,
    value: String,
    label: String,
    checked: bool,
}

fn field_view(
    field: &FieldSpec,
    values: &[(String, String)],
    errors: Option<&FieldErrors>,
) -> FieldView {
    let id = format!("field-{}", field.name);
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    let error = errors
        .and_then(|e| e.for_field(&field.name))
        .map(str::to_string);
    let described_by = [
        field.help.as_ref().map(|_| help_id.as_str()),
        error.as_ref().map(|_| error_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let submitted: Vec<&str> = values
        .iter()
        .filter(|(name, _)| name == &field.name)
        .map(|(_, value)| value.as_str())
        .collect();
    let (input_type, attrs) = input_type_and_attrs(field);
    let options: Vec<OptionView> = choices(field)
        .into_iter()
        .enumerate()
        .map(|(i, (value, label))| OptionView {
            id: format!("{id}-{i}"),
            checked: submitted
                .iter()
                .any(|s| is_same_choice(field.kind, s, &value)),
            value,
            label,
        })
        .collect();
    FieldView {
        name: field.name.clone(),
        focus_id: if options.is_empty() {
            id.clone()
        } else {
            format!("{id}-0")
        },
        id,
        label: field.label.clone(),
        required: field.required,
        help: field.help.clone(),
        help_id,
        error,
        error_id,
        described_by: (!described_by.is_empty()).then_some(described_by),
        input_type,
        attrs,
        value: if options.is_empty() {
            submitted
                .first()
                .map_or_else(String::new, |s| s.to_string())
        } else {
            String::new()
        },
        options,
    }
}

/// The options of a choice or yes/no field as (value, label); empty for other fields.
fn choices(field: &FieldSpec) -> Vec<(String, String)> {
    match field.kind {
        FieldType::YesNo => vec![
            ("yes".to_string(), "Yes".to_string()),
            ("no".to_string(), "No".to_string()),
        ],
        FieldType::SingleChoice | FieldType::MultipleChoice => field
            .options
            .iter()
            .map(|o| (o.clone(), o.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a submitted value selects an option (as [`FormSpec::check_submission`] reads it).
fn is_same_choice(kind: FieldType, submitted: &str, option: &str) -> bool {
    let submitted = submitted.trim();
    if kind != FieldType::YesNo {
        return submitted == option;
    }
    let as_bool = |s: &str| match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Some(true),
        "no" | "false" | "off" => Some(false),
        _ => None,
    };
    as_bool(submitted).is_some() && as_bool(submitted) == as_bool(option)
}

/// The input's type and the constraint attributes mirroring the spec (the server checks
/// them again: attributes only spare the patient a round trip).
fn input_type_and_attrs(field: &FieldSpec) -> (&'static str, Vec<Attr>) {
    let attr = |name: &'static str, value: String| Attr { name, value };
    let mut attrs = Vec::new();
    let bound_attrs = |attrs: &mut Vec<Attr>| {
        if let Some(min) = &field.min {
            attrs.push(attr("min", min.to_string()));
        }
        if let Some(max) = &field.max {
            attrs.push(attr("max", max.to_string()));
        }
    };
    let input_type = match field.kind {
        FieldType::Text => "text",
        FieldType::LongText => "textarea",
        FieldType::Email => "email",
        FieldType::Phone => "tel",
        FieldType::Integer => {
            attrs.push(attr("step", "1".to_string()));
            attrs.push(attr("inputmode", "numeric".to_string()));
            bound_attrs(&mut attrs);
            "number"
        }
        FieldType::Decimal => {
            attrs.push(attr("step", "any".to_string()));
            attrs.push(attr("inputmode", "decimal".to_string()));
            bound_attrs(&mut attrs);
            "number"
        }
        FieldType::Date => {
            bound_attrs(&mut attrs);
            "date"
        }
        FieldType::YesNo | FieldType::SingleChoice => "radio",
        FieldType::MultipleChoice => "checkbox",
    };
    if field.kind.is_text_like() {
        let cap = if field.kind == FieldType::Email {
            MAX_EMAIL_CHARS
        } else {
            MAX_VALUE_CHARS
        };
        let max = field.max_length.map_or(cap, |n| (n as usize).min(cap));
        attrs.push(attr("maxlength", max.to_string()));
        if let (Some(pattern), true) = (&field.pattern, field.kind != FieldType::LongText) {
            attrs.push(attr("pattern", pattern.clone()));
        }
    }
    (input_type, attrs)
}

/// "Age: Please enter ..." (or "Do you smoke? Please ..." after a label's own punctuation).
fn summary_text(label: &str, message: &str) -> String {
    let label = label.trim();
    if label.ends_with(['?', '.', ':', '!']) {
        format!("{label} {message}")
    } else {
        format!("{label}: {message}")
    }
}

/// Text split into paragraphs at blank lines.
fn paragraphs(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn environment() -> std::result::Result<&'static Environment<'static>, Error> {
    static ENV: OnceLock<std::result::Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Forced on for every template name, whatever the default callback would say.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.add_template(TEMPLATE_NAME, SKELETON)
            .map_err(|e| e.to_string())?;
        Ok(env)
    })
    .as_ref()
    .map_err(|message| template_error(message.clone()))
}

fn render(view: &PageView) -> Result<String> {
    let env = environment()?;
    let template = env
        .get_template(TEMPLATE_NAME)
        .map_err(|e| template_error(e.to_string()))?;
    template
        .render(view)
        .map_err(|e| template_error(e.to_string()))
}

fn template_error(message: String) -> Error {
    Error::Template {
        name: TEMPLATE_NAME.to_string(),
        message,
    }
}

/// The CSP source hash of `text`: base64 (with padding) of its SHA-256, as in
/// `style-src 'sha256-...'`.
pub(crate) fn csp_hash(text: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
}
