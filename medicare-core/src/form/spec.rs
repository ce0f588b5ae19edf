//! The form specification an operator writes: [`FormSpec`], its fields and their rules.
//!
//! A spec is read from TOML or JSON, checked by [`FormSpec::validate`] (every constructor
//! and every deserialisation does this), and stored back as JSON. Errors name their place
//! (`form spec field 3 ("age")`) with hostile names cut and escaped.

use std::fmt;
use std::path::Path;

use chrono::NaiveDate;
use regex::{Regex, RegexBuilder};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::decimal::Decimal;
use super::ident::{describe_name, validate_identifier};
use super::submission::MAX_VALUE_CHARS;
use crate::error::{Error, Result};

/// At most this many fields in a form.
pub const MAX_FIELDS: usize = 100;
/// At most this many characters in a title, a label or an option.
pub const MAX_LABEL_CHARS: usize = 200;
/// At most this many characters in a field's help text.
pub const MAX_HELP_CHARS: usize = 1_000;
/// At most this many characters in a form's description.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// At most this many characters in a submit button's label.
pub const MAX_SUBMIT_LABEL_CHARS: usize = 60;
/// At most this many options in a choice field.
pub const MAX_OPTIONS: usize = 100;
/// At most this many characters in a `pattern`.
pub const MAX_PATTERN_CHARS: usize = 500;
/// The most memory a compiled `pattern` may take, in bytes.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A form: what the operator asks, and how each answer is checked and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct FormSpec {
    /// The form's identifier (see [`validate_identifier`]).
    pub name: String,
    /// The page title shown to the patient.
    pub title: String,
    /// An introduction shown under the title; blank lines separate paragraphs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The submit button's text (default "Submit").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_label: Option<String>,
    /// The questions, in display order (1 to [`MAX_FIELDS`]).
    pub fields: Vec<FieldSpec>,
}

/// One question of a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's identifier: the HTML input name and the response column.
    pub name: String,
    /// The question shown to the patient.
    pub label: String,
    /// A hint shown under the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// What kind of answer is expected.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Whether an answer is mandatory. For `yes_no` this means "answer yes or no", not
    /// "must answer yes": the question is shown as two radio buttons, so an untouched
    /// question is unanswered rather than "no". (For a consent box use a required
    /// `single_choice` with one option.)
    #[serde(default)]
    pub required: bool,
    /// The lowest value (`integer`, `decimal`: a number; `date`: `"YYYY-MM-DD"`;
    /// `multiple_choice`: the fewest choices when any is made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Bound>,
    /// The highest value, like [`FieldSpec::min`] (`multiple_choice`: the most choices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Bound>,
    /// The longest answer in characters (text-like fields only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// A regular expression the whole answer must match (text-like fields only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The choices (`single_choice` and `multiple_choice` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// The kind of answer a field expects. Written in snake case (`long_text`, `yes_no`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// One line of text.
    Text,
    /// Several lines of text.
    LongText,
    /// A whole number (64-bit).
    Integer,
    /// An exact decimal number (see [`Decimal`]).
    Decimal,
    /// A calendar date.
    Date,
    /// Yes or no.
    YesNo,
    /// Exactly one of the options.
    SingleChoice,
    /// Any number of the options.
    MultipleChoice,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
}

impl FieldType {
    /// Every field type, in documentation order.
    pub const ALL: [FieldType; 10] = [
        FieldType::Text,
        FieldType::LongText,
        FieldType::Integer,
        FieldType::Decimal,
        FieldType::Date,
        FieldType::YesNo,
        FieldType::SingleChoice,
        FieldType::MultipleChoice,
        FieldType::Email,
        FieldType::Phone,
    ];

    /// The name used in specs, e.g. `long_text`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::LongText => "long_text",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Date => "date",
            FieldType::YesNo => "yes_no",
            FieldType::SingleChoice => "single_choice",
            FieldType::MultipleChoice => "multiple_choice",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
        }
    }

    /// The type with this spec name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// True for free-text answers (`text`, `long_text`, `email`, `phone`), which may have
    /// a `max_length` and a `pattern`.
    pub fn is_text_like(self) -> bool {
        matches!(
            self,
            FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Phone
        )
    }

    /// True for `single_choice` and `multiple_choice`, which need `options`.
    pub fn is_choice(self) -> bool {
        matches!(self, FieldType::SingleChoice | FieldType::MultipleChoice)
    }

    /// True for the types that take `min` and `max`.
    pub fn has_bounds(self) -> bool {
        matches!(
            self,
            FieldType::Integer | FieldType::Decimal | FieldType::Date | FieldType::MultipleChoice
        )
    }

    fn valid_names() -> String {
        Self::ALL.map(FieldType::as_str).join(", ")
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        FieldType::from_name(&name).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown type {}; valid types are: {}",
                describe_name(&name),
                FieldType::valid_names()
            ))
        })
    }
}

/// A `min` or `max` bound. Written as a number (integer or decimal) or as a
/// `"YYYY-MM-DD"` string (or a TOML date) for dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// A whole number: for `integer` and `decimal` fields, and choice counts.
    Integer(i64),
    /// A decimal number: for `decimal` fields.
    Decimal(Decimal),
    /// A date: for `date` fields.
    Date(NaiveDate),
}

impl Bound {
    /// The bound as a decimal, when it is a number.
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Bound::Integer(n) => Some(Decimal::from_i64(*n)),
            Bound::Decimal(d) => Some(d.clone()),
            Bound::Date(_) => None,
        }
    }

    /// What kind of bound this is, for messages.
    fn kind_name(&self) -> &'static str {
        match self {
            Bound::Integer(_) => "a whole number",
            Bound::Decimal(_) => "a decimal number",
            Bound::Date(_) => "a date",
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Integer(n) => write!(f, "{n}"),
            Bound::Decimal(d) => write!(f, "{d}"),
            Bound::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
        }
    }
}

impl Serialize for Bound {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Bound::Integer(n) => serializer.serialize_i64(*n),
            Bound::Decimal(d) => {
                // A JSON number when a float reads back exactly, a string otherwise.
                let text = d.to_string();
                match text.parse::<f64>() {
                    Ok(x) if Decimal::from_f64(x).as_ref() == Some(d) => {
                        serializer.serialize_f64(x)
                    }
                    _ => serializer.serialize_str(&text),
                }
            }
            Bound::Date(date) => serializer.serialize_str(&date.format("%Y-%m-%d").to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BoundVisitor)
    }
}

struct BoundVisitor;

impl Visitor<'_> for BoundVisitor {
    type Value = Bound;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a \"YYYY-MM-DD\" date")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bound, E> {
        Ok(Bound::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bound, E> {
        i64::try_from(v)
            .map(Bound::Integer)
            .map_err(|_| E::custom("the number is too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bound, E> {
        Decimal::from_f64(v).map(Bound::Decimal).ok_or_else(|| {
            E::custom("the number must be finite, with at most 18 digits of which at most 10 after the decimal point")
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bound, E> {
        if let Some(date) = parse_iso_date(v) {
            return Ok(Bound::Date(date));
        }
        if let Ok(n) = v.parse::<i64>() {
            return Ok(Bound::Integer(n));
        }
        v.parse::<Decimal>().map(Bound::Decimal).map_err(|_| {
            E::custom("expected a number or a \"YYYY-MM-DD\" date (a valid one, e.g. 2026-02-28)")
        })
    }
}

/// Parses exactly `YYYY-MM-DD` (four-digit year), nothing more lenient.
pub(crate) fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Compiles a field's `pattern` so that it must match the whole answer, within a memory
/// limit. The pattern is first compiled alone, so that it cannot close the wrapping group
/// (`a)|(b`) and escape the anchors.
pub(crate) fn compile_pattern(pattern: &str) -> std::result::Result<Regex, String> {
    let build = |p: &str| {
        RegexBuilder::new(p)
            .size_limit(PATTERN_SIZE_LIMIT)
            .dfa_size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => "the pattern is too complex".to_string(),
                _ => "the pattern is not a valid regular expression".to_string(),
            })
    };
    build(pattern)?;
    build(&format!(r"\A(?:{pattern})\z"))
}

impl FormSpec {
    /// Reads and validates a spec written in TOML (fields as `[[fields]]` tables).
    pub fn from_toml_str(s: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(s)
            .map_err(|e| Error::invalid("form spec (TOML)", clean_message(e.message())))?;
        Self::from_value(toml_to_json(toml::Value::Table(table))?)
    }

    /// Reads and validates a spec written in JSON (as stored by [`FormSpec::to_json`]).
    pub fn from_json_str(s: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(s)
            .map_err(|e| Error::invalid("form spec (JSON)", clean_message(&e.to_string())))?;
        Self::from_value(value)
    }

    /// Reads and validates a spec from a `.toml` or `.json` file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let parse: fn(&str) -> Result<Self> = match ext.as_deref() {
            Some("toml") => Self::from_toml_str,
            Some("json") => Self::from_json_str,
            _ => {
                return Err(Error::invalid(
                    format!("form spec {}", path.display()),
                    "expected a .toml or .json file",
                ))
            }
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        parse(&text).map_err(|e| match e {
            Error::InvalidInput { what, message } => {
                Error::invalid(format!("{what} in {}", path.display()), message)
            }
            other => other,
        })
    }

    /// Builds and validates a spec from a parsed JSON value; each field is read on its
    /// own so that an error names the field it is in.
    fn from_value(value: serde_json::Value) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawFormSpec {
            name: String,
            title: String,
            #[serde(default)]
            description: Option<String>,
            #[serde(default)]
            submit_label: Option<String>,
            fields: Vec<serde_json::Value>,
        }
        let raw: RawFormSpec = serde_json::from_value(value)
            .map_err(|e| Error::invalid("form spec", clean_message(&e.to_string())))?;
        let fields = raw
            .fields
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("");
                let what = field_what(i, name);
                serde_json::from_value(v)
                    .map_err(|e| Error::invalid(what, clean_message(&e.to_string())))
            })
            .collect::<Result<Vec<FieldSpec>>>()?;
        let spec = FormSpec {
            name: raw.name,
            title: raw.title,
            description: raw.description,
            submit_label: raw.submit_label,
            fields,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The spec as compact JSON, the form it is stored in.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::invalid("form spec", e.to_string()))
    }

    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks every rule of the spec; the first problem found is returned, naming where
    /// it is (e.g. `form spec field 3 ("age")`).
    pub fn validate(&self) -> Result<()> {
        let form = "form spec";
        validate_identifier(&self.name).map_err(|m| {
            Error::invalid(form, format!("name {}: {m}", describe_name(&self.name)))
        })?;
        check_text(form, "title", &self.title, MAX_LABEL_CHARS, false)?;
        if let Some(d) = &self.description {
            check_text(form, "description", d, MAX_DESCRIPTION_CHARS, true)?;
        }
        if let Some(s) = &self.submit_label {
            check_text(form, "submit_label", s, MAX_SUBMIT_LABEL_CHARS, false)?;
        }
        if self.fields.is_empty() || self.fields.len() > MAX_FIELDS {
            return Err(Error::invalid(
                form,
                format!(
                    "a form needs 1 to {MAX_FIELDS} fields, this one has {}",
                    self.fields.len()
                ),
            ));
        }
        for (i, field) in self.fields.iter().enumerate() {
            let what = field_what(i, &field.name);
            if let Some(j) = self.fields[..i].iter().position(|f| f.name == field.name) {
                return Err(Error::invalid(
                    what,
                    format!("the name is already used by field {}", j + 1),
                ));
            }
            field.validate().map_err(|m| Error::invalid(what, m))?;
        }
        Ok(())
    }
}

impl TryFrom<serde_json::Value> for FormSpec {
    type Error = Error;

    fn try_from(value: serde_json::Value) -> Result<Self> {
        Self::from_value(value)
    }
}

impl FieldSpec {
    /// Checks the field's own rules; the message does not repeat the field's name.
    fn validate(&self) -> std::result::Result<(), String> {
        validate_identifier(&self.name).map_err(|m| format!("name {m}"))?;
        check_text_msg("label", &self.label, MAX_LABEL_CHARS, false)?;
        if let Some(h) = &self.help {
            check_text_msg("help", h, MAX_HELP_CHARS, true)?;
        }
        self.validate_options()?;
        self.validate_bounds()?;
        if let Some(n) = self.max_length {
            if !self.kind.is_text_like() {
                return Err(format!(
                    "max_length applies only to text, long_text, email and phone fields, not {}",
                    self.kind
                ));
            }
            if n == 0 || n as usize > MAX_VALUE_CHARS {
                return Err(format!(
                    "max_length must be between 1 and {MAX_VALUE_CHARS}"
                ));
            }
        }
        if let Some(p) = &self.pattern {
            if !self.kind.is_text_like() {
                return Err(format!(
                    "pattern applies only to text, long_text, email and phone fields, not {}",
                    self.kind
                ));
            }
            if p.chars().count() > MAX_PATTERN_CHARS {
                return Err(format!(
                    "pattern must be at most {MAX_PATTERN_CHARS} characters"
                ));
            }
            compile_pattern(p)?;
        }
        Ok(())
    }

    /// Checks `options` against the type (the console reports it at the options box).
    pub(crate) fn validate_options(&self) -> std::result::Result<(), String> {
        if !self.kind.is_choice() {
            if !self.options.is_empty() {
                return Err(format!(
                    "options apply only to single_choice and multiple_choice fields, not {}",
                    self.kind
                ));
            }
            return Ok(());
        }
        if self.options.is_empty() || self.options.len() > MAX_OPTIONS {
            return Err(format!(
                "a {} field needs 1 to {MAX_OPTIONS} options",
                self.kind
            ));
        }
        for (i, option) in self.options.iter().enumerate() {
            let which = format!("option {}", i + 1);
            check_text_msg(&which, option, MAX_LABEL_CHARS, false)?;
            if option.trim() != option {
                return Err(format!("{which} must not start or end with spaces"));
            }
            if let Some(j) = self.options[..i].iter().position(|o| o == option) {
                return Err(format!("{which} repeats option {}", j + 1));
            }
        }
        Ok(())
    }

    /// Checks `min` and `max` against the type (the console reports it at the bounds).
    pub(crate) fn validate_bounds(&self) -> std::result::Result<(), String> {
        if self.min.is_none() && self.max.is_none() {
            return Ok(());
        }
        if !self.kind.has_bounds() {
            return Err(format!(
                "min and max apply only to integer, decimal, date and multiple_choice fields, not {}",
                self.kind
            ));
        }
        for (which, bound) in [("min", &self.min), ("max", &self.max)] {
            let Some(bound) = bound else { continue };
            let fits = matches!(
                (self.kind, bound),
                (
                    FieldType::Integer | FieldType::MultipleChoice,
                    Bound::Integer(_)
                ) | (FieldType::Decimal, Bound::Integer(_) | Bound::Decimal(_))
                    | (FieldType::Date, Bound::Date(_))
            );
            if !fits {
                let expected = match self.kind {
                    FieldType::Integer => "a whole number",
                    FieldType::Decimal => "a number",
                    FieldType::Date => "a \"YYYY-MM-DD\" date",
                    _ => "a whole number of choices",
                };
                return Err(format!(
                    "{which} of a {} field must be {expected}, not {}",
                    self.kind,
                    bound.kind_name()
                ));
            }
        }
        let min_above_max = match (&self.min, &self.max) {
            (Some(Bound::Date(a)), Some(Bound::Date(b))) => a > b,
            (Some(a), Some(b)) => match (a.as_decimal(), b.as_decimal()) {
                (Some(a), Some(b)) => a > b,
                _ => false,
            },
            _ => false,
        };
        if min_above_max {
            return Err("min is greater than max".to_string());
        }
        if self.kind == FieldType::MultipleChoice {
            let (min, max) = self.choice_count_bounds();
            if self.min.is_some() && min > self.options.len() {
                return Err("min is more than the number of options".to_string());
            }
            if matches!(self.min, Some(Bound::Integer(n)) if n < 0) {
                return Err("min must not be negative".to_string());
            }
            if self.max.is_some() && max == 0 {
                return Err("max must be at least 1".to_string());
            }
        }
        Ok(())
    }

    /// Integer bounds of an `integer` field.
    pub(crate) fn integer_bounds(&self) -> (Option<i64>, Option<i64>) {
        let get = |b: &Option<Bound>| match b {
            Some(Bound::Integer(n)) => Some(*n),
            _ => None,
        };
        (get(&self.min), get(&self.max))
    }

    /// Decimal bounds of a `decimal` field.
    pub(crate) fn decimal_bounds(&self) -> (Option<Decimal>, Option<Decimal>) {
        let get = |b: &Option<Bound>| b.as_ref().and_then(Bound::as_decimal);
        (get(&self.min), get(&self.max))
    }

    /// Date bounds of a `date` field.
    pub(crate) fn date_bounds(&self) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let get = |b: &Option<Bound>| match b {
            Some(Bound::Date(d)) => Some(*d),
            _ => None,
        };
        (get(&self.min), get(&self.max))
    }

    /// How many choices a `multiple_choice` answer may have when it has any: `min` (at
    /// least 1) to `max` (at most the number of options).
    pub(crate) fn choice_count_bounds(&self) -> (usize, usize) {
        let as_count = |n: i64| usize::try_from(n.max(0)).unwrap_or(usize::MAX);
        let (min, max) = self.integer_bounds();
        let min = min.map_or(1, as_count).max(1);
        let max = max
            .map_or(self.options.len(), as_count)
            .min(self.options.len());
        (min, max)
    }
}

/// `form spec field 3 ("age")`: where a field-level problem is, with the name made safe.
fn field_what(index: usize, name: &str) -> String {
    format!("form spec field {} ({})", index + 1, describe_name(name))
}

/// Checks a piece of display text (not empty, not too long, no control characters).
fn check_text(what: &str, which: &str, text: &str, max: usize, multiline: bool) -> Result<()> {
    check_text_msg(which, text, max, multiline).map_err(|m| Error::invalid(what, m))
}

/// [`check_text`]'s rule as a message without a place (the console names the place).
pub(crate) fn check_text_msg(
    which: &str,
    text: &str,
    max: usize,
    multiline: bool,
) -> std::result::Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{which} must not be empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{which} must be at most {max} characters"));
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\r' || c == '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(format!("{which} must not contain control characters"));
    }
    Ok(())
}

/// A parser's message made safe for logs: control characters replaced, length capped.
fn clean_message(message: &str) -> String {
    const MAX_CHARS: usize = 300;
    let mut out: String = message
        .trim()
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if message.trim().chars().count() > MAX_CHARS {
        out.push('…');
    }
    out
}

/// Converts parsed TOML to JSON; TOML dates become `"YYYY-MM-DD"` strings.
fn toml_to_json(value: toml::Value) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    Ok(match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(n) => J::from(n),
        toml::Value::Float(x) => serde_json::Number::from_f64(x)
            .map(J::Number)
            .ok_or_else(|| Error::invalid("form spec (TOML)", "numbers must be finite"))?,
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(
            items
                .into_iter()
                .map(toml_to_json)
                .collect::<Result<Vec<_>>>()?,
        ),
        toml::Value::Table(table) => J::Object(
            table
                .into_iter()
                .map(|(k, v)| Ok((k, toml_to_json(v)?)))
                .collect::<Result<serde_json::Map<_, _>>>()?,
        ),
    })
}
