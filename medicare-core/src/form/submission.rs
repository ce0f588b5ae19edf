//! Checking a patient's answers against a [`FormSpec`]: raw POST pairs in, typed
//! [`Answers`] or friendly [`FieldErrors`] out.
//!
//! Every value is trimmed (and its line breaks normalised to `\n`); an empty value is
//! [`AnswerValue::Null`], an error when the field is required. Messages are written for
//! the patient ("Please enter a whole number between 1 and 10.") and never repeat what
//! was submitted, so they can be logged and shown without leaking an answer.

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

use super::decimal::{Decimal, DecimalError, MAX_DECIMAL_DIGITS, MAX_FRACTION_DIGITS};
use super::spec::{compile_pattern, parse_iso_date, FieldSpec, FieldType, FormSpec};

/// The longest single value accepted, in characters.
pub const MAX_VALUE_CHARS: usize = 10_000;
/// The most input accepted in one submission, names and values together, in bytes.
pub const MAX_TOTAL_INPUT_BYTES: usize = 64 * 1024;
/// The most name/value pairs accepted in one submission.
pub const MAX_PAIRS: usize = 1_000;
/// The longest email address accepted (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Phone numbers have this many digits at least...
pub const MIN_PHONE_DIGITS: usize = 8;
/// ... and at most this many (E.164).
pub const MAX_PHONE_DIGITS: usize = 15;

/// A checked answer, typed after its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum AnswerValue {
    /// No answer (the field was optional and left empty).
    Null,
    /// Text (`text`, `long_text`, `email`; `phone` as `+` and digits, spaces removed).
    Text(String),
    /// A whole number.
    Integer(i64),
    /// An exact decimal number, normalised (`"12.5"`, never `"12.50"`).
    Decimal(String),
    /// A date.
    Date(NaiveDate),
    /// Yes (`true`) or no (`false`).
    Bool(bool),
    /// The chosen option of a `single_choice` field.
    Choice(String),
    /// The chosen options of a `multiple_choice` field, in the spec's option order.
    Choices(Vec<String>),
}

/// The checked answers of one submission: one value per field, in the spec's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answers {
    values: Vec<(String, AnswerValue)>,
}

impl Answers {
    /// The answer to the named field.
    pub fn get(&self, field: &str) -> Option<&AnswerValue> {
        self.values
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value)
    }

    /// The fields' names and answers, in the spec's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AnswerValue)> {
        self.values
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// The number of answers (the number of fields in the form).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True for a form without fields (which a valid spec never is).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The fields' names and answers, in the spec's order.
    pub fn into_vec(self) -> Vec<(String, AnswerValue)> {
        self.values
    }
}

/// A problem with one field's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name.
    pub field: String,
    /// What to fix, for the patient; never contains the submitted value.
    pub message: String,
}

/// Why a submission was refused: problems with fields, and with the form as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldErrors {
    /// Problems with individual answers, in the spec's field order.
    pub fields: Vec<FieldError>,
    /// Problems with the submission as a whole (unexpected answers, too much input).
    pub form: Vec<String>,
}

impl FieldErrors {
    /// True when there is no problem at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_empty()
    }

    /// The number of problems.
    pub fn len(&self) -> usize {
        self.fields.len() + self.form.len()
    }

    /// The message for the named field, if its answer has a problem.
    pub fn for_field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    fn form_error(message: &str) -> Self {
        FieldErrors {
            fields: Vec::new(),
            form: vec![message.to_string()],
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names of fields only: the messages are safe too, but this stays short for logs.
        write!(f, "{} problem(s) with the submission", self.len())?;
        if !self.fields.is_empty() {
            let names: Vec<&str> = self.fields.iter().map(|e| e.field.as_str()).collect();
            write!(f, " (fields: {})", names.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

const TOO_MUCH_INPUT: &str =
    "Your answers are too long to send. Please shorten them and try again.";
const UNEXPECTED_ANSWER: &str =
    "This page seems to be out of date. Please reload it and answer again.";
const FORM_MISCONFIGURED: &str =
    "Sorry, this form cannot be checked at the moment. Please try again later.";

impl FormSpec {
    /// Checks a submission: `raw` is the URL-decoded POST body, as name/value pairs in
    /// order (a `multiple_choice` field appears once per ticked box).
    ///
    /// Every field gets an answer ([`AnswerValue::Null`] when left empty). Names that are
    /// not fields of the form are an error of the form as a whole, so a caller must remove
    /// any field of its own (a CSRF token, say) first.
    pub fn check_submission(&self, raw: &[(String, String)]) -> Result<Answers, FieldErrors> {
        let total: usize = raw.iter().map(|(n, v)| n.len() + v.len()).sum();
        if raw.len() > MAX_PAIRS || total > MAX_TOTAL_INPUT_BYTES {
            return Err(FieldErrors::form_error(TOO_MUCH_INPUT));
        }
        let mut by_field: Vec<Vec<&str>> = vec![Vec::new(); self.fields.len()];
        let mut errors = FieldErrors::default();
        for (name, value) in raw {
            match self.fields.iter().position(|f| &f.name == name) {
                Some(i) => by_field[i].push(value),
                None => {
                    if errors.form.is_empty() {
                        errors.form.push(UNEXPECTED_ANSWER.to_string());
                    }
                }
            }
        }
        let mut values = Vec::with_capacity(self.fields.len());
        for (field, submitted) in self.fields.iter().zip(&by_field) {
            match check_field(field, submitted) {
                Ok(value) => values.push((field.name.clone(), value)),
                Err(Problem::Field(message)) => errors.fields.push(FieldError {
                    field: field.name.clone(),
                    message,
                }),
                Err(Problem::Form(message)) => {
                    if !errors.form.iter().any(|m| m == message) {
                        errors.form.push(message.to_string());
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(Answers { values })
        } else {
            Err(errors)
        }
    }
}

/// Why one field's answer was refused.
enum Problem {
    /// A message for the patient about this answer.
    Field(String),
    /// The spec itself is broken (an unvalidated spec): not the patient's fault.
    Form(&'static str),
}

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Problem::Field(message)
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Self {
        Problem::Field(message.to_string())
    }
}

fn check_field(field: &FieldSpec, submitted: &[&str]) -> Result<AnswerValue, Problem> {
    let mut cleaned = Vec::with_capacity(submitted.len());
    for raw in submitted {
        cleaned.push(clean_value(field, raw)?);
    }
    if field.kind == FieldType::MultipleChoice {
        return check_choices(field, &cleaned);
    }
    let value = match cleaned.as_slice() {
        [] => "",
        [one] => one.as_str(),
        _ => return Err("Please give only one answer to this question.".into()),
    };
    if value.is_empty() {
        return if field.required {
            Err(required_message(field.kind).into())
        } else {
            Ok(AnswerValue::Null)
        };
    }
    match field.kind {
        FieldType::Text | FieldType::LongText => {
            check_text_rules(field, value)?;
            Ok(AnswerValue::Text(value.to_string()))
        }
        FieldType::Email => {
            if !is_email(value) {
                return Err("Please enter an email address in the form name@example.com.".into());
            }
            check_text_rules(field, value)?;
            Ok(AnswerValue::Text(value.to_string()))
        }
        FieldType::Phone => {
            let normalised = normalise_phone(value).ok_or_else(|| {
                format!(
                    "Please enter a phone number of {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} \
                     digits, using only digits, spaces and a + at the start."
                )
            })?;
            check_text_rules(field, value)?;
            Ok(AnswerValue::Text(normalised))
        }
        FieldType::Integer => check_integer(field, value),
        FieldType::Decimal => check_decimal(field, value),
        FieldType::Date => check_date(field, value),
        FieldType::YesNo => match value.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" => Ok(AnswerValue::Bool(true)),
            "no" | "false" | "off" => Ok(AnswerValue::Bool(false)),
            _ => Err("Please choose yes or no.".into()),
        },
        FieldType::SingleChoice => {
            if field.options.iter().any(|o| o == value) {
                Ok(AnswerValue::Choice(value.to_string()))
            } else {
                Err("Please choose one of the options listed.".into())
            }
        }
        FieldType::MultipleChoice => check_choices(field, &cleaned),
    }
}

/// Length cap, line-break normalisation, control characters, then trimming.
fn clean_value(field: &FieldSpec, raw: &str) -> Result<String, Problem> {
    if raw.chars().count() > MAX_VALUE_CHARS {
        return Err(too_long_message(field).into());
    }
    let value = raw.replace("\r\n", "\n").replace('\r', "\n");
    let value = value.trim();
    if value.contains('\n') && field.kind != FieldType::LongText {
        return Err("Please keep this answer on one line.".into());
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("This answer contains characters we cannot accept. Please retype it.".into());
    }
    Ok(value.to_string())
}

fn too_long_message(field: &FieldSpec) -> String {
    let max = field
        .max_length
        .map_or(MAX_VALUE_CHARS, |n| n as usize)
        .min(MAX_VALUE_CHARS);
    format!("Please shorten this answer to at most {max} characters.")
}

fn required_message(kind: FieldType) -> &'static str {
    match kind {
        FieldType::YesNo => "Please choose yes or no.",
        FieldType::SingleChoice => "Please choose an option.",
        FieldType::MultipleChoice => "Please choose at least one option.",
        _ => "Please answer this question.",
    }
}

/// `max_length` (in characters) and `pattern` (whole value) of text-like fields.
fn check_text_rules(field: &FieldSpec, value: &str) -> Result<(), Problem> {
    if let Some(max) = field.max_length {
        if value.chars().count() > max as usize {
            return Err(too_long_message(field).into());
        }
    }
    if let Some(pattern) = &field.pattern {
        let regex = compile_pattern(pattern).map_err(|_| Problem::Form(FORM_MISCONFIGURED))?;
        if !regex.is_match(value) {
            return Err("Please check this answer: it is not in the expected format.".into());
        }
    }
    Ok(())
}

/// " between 1 and 10", " of 1 or more", " of 10 or less", or "".
fn range_phrase<T: fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!(" between {lo} and {hi}"),
        (Some(lo), None) => format!(" of {lo} or more"),
        (None, Some(hi)) => format!(" of {hi} or less"),
        (None, None) => String::new(),
    }
}

fn check_integer(field: &FieldSpec, value: &str) -> Result<AnswerValue, Problem> {
    let (min, max) = field.integer_bounds();
    let message = || format!("Please enter a whole number{}.", range_phrase(min, max));
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(message().into());
    }
    let n: i64 = value.parse().map_err(|_| message())?;
    if min.is_some_and(|lo| n < lo) || max.is_some_and(|hi| n > hi) {
        return Err(message().into());
    }
    Ok(AnswerValue::Integer(n))
}

fn check_decimal(field: &FieldSpec, value: &str) -> Result<AnswerValue, Problem> {
    let (min, max) = field.decimal_bounds();
    let range = range_phrase(min.as_ref(), max.as_ref());
    let d: Decimal = value.parse().map_err(|e| match e {
        DecimalError::Syntax => {
            format!("Please enter a number{range}, using a dot for decimals (for example 12.5).")
        }
        DecimalError::TooManyDigits => {
            format!("Please enter a number with at most {MAX_DECIMAL_DIGITS} digits.")
        }
        DecimalError::TooManyFractionDigits => {
            format!("Please use at most {MAX_FRACTION_DIGITS} digits after the decimal point.")
        }
    })?;
    if min.as_ref().is_some_and(|lo| &d < lo) || max.as_ref().is_some_and(|hi| &d > hi) {
        return Err(format!("Please enter a number{range}.").into());
    }
    Ok(AnswerValue::Decimal(d.to_string()))
}

fn check_date(field: &FieldSpec, value: &str) -> Result<AnswerValue, Problem> {
    let (min, max) = field.date_bounds();
    let show = |d: NaiveDate| d.format("%-d %B %Y").to_string();
    let range = range_phrase(min.map(show), max.map(show));
    let date = parse_iso_date(value).ok_or_else(|| {
        format!(
            "Please enter a real date{range}, written as year-month-day (for example 2026-03-31)."
        )
    })?;
    if min.is_some_and(|lo| date < lo) || max.is_some_and(|hi| date > hi) {
        return Err(format!("Please enter a date{range}.").into());
    }
    Ok(AnswerValue::Date(date))
}

fn check_choices(field: &FieldSpec, values: &[String]) -> Result<AnswerValue, Problem> {
    let chosen: Vec<&str> = values
        .iter()
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .collect();
    let (min, max) = field.choice_count_bounds();
    if chosen.is_empty() {
        return if field.required {
            Err(choice_count_message(min, max, field.options.len()).into())
        } else {
            Ok(AnswerValue::Null)
        };
    }
    if chosen.iter().any(|c| !field.options.iter().any(|o| o == c)) {
        return Err("Please choose only from the options listed.".into());
    }
    for (i, c) in chosen.iter().enumerate() {
        if chosen[..i].contains(c) {
            return Err("Please choose each option only once.".into());
        }
    }
    if chosen.len() < min || chosen.len() > max {
        return Err(choice_count_message(min, max, field.options.len()).into());
    }
    // In the spec's order, whatever order the browser sent them in.
    let ordered = field
        .options
        .iter()
        .filter(|o| chosen.contains(&o.as_str()))
        .cloned()
        .collect();
    Ok(AnswerValue::Choices(ordered))
}

fn choice_count_message(min: usize, max: usize, option_count: usize) -> String {
    if min > 1 && min == max {
        format!("Please choose exactly {min} options.")
    } else if min > 1 && max < option_count {
        format!("Please choose between {min} and {max} options.")
    } else if min > 1 {
        format!("Please choose at least {min} options.")
    } else if max == 1 && option_count > 1 {
        "Please choose only one option.".to_string()
    } else if max < option_count {
        format!("Please choose at most {max} options.")
    } else {
        "Please choose at least one option.".to_string()
    }
}

/// A plausible email address: `local@domain.tld`, without spaces or quoting.
fn is_email(s: &str) -> bool {
    if s.chars().count() > MAX_EMAIL_CHARS {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.chars().count() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| {
            tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit())
        });
    local_ok && domain_ok
}

/// `+44 20 7946 0000` → `+442079460000`; `None` unless it is an optional `+`, then
/// digits and spaces with 8 to 15 digits.
fn normalise_phone(s: &str) -> Option<String> {
    let (plus, rest) = match s.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", s),
    };
    if !rest.chars().all(|c| c.is_ascii_digit() || c == ' ') {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    (MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS)
        .contains(&digits.len())
        .then(|| format!("{plus}{digits}"))
}
