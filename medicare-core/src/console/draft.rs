//! The form wizard's draft: what the operator typed on the first two screens, checked
//! field by field and turned into a [`FormSpec`].
//!
//! Screen 1 asks how many fields ([`parse_field_count`], 1 to [`MAX_WIZARD_FIELDS`]);
//! screen 2 asks, per field, its name, label, type and the constraints that type allows,
//! plus the form's name, title and introduction. The page posts them as flat pairs named
//! by [`FieldPart::input_name`] (`field-3-name`), read by [`FormDraft::from_pairs`].
//!
//! [`FormDraft::to_spec`] reports *every* problem at once, each at its place
//! ([`DraftError::place`], whose [`Place::input_id`] is the input the page's error
//! summary links to), then runs [`FormSpec::validate`] — the very check a TOML spec
//! from the CLI goes through — so the console can accept nothing the CLI would refuse.
//! Messages never repeat what was typed: a hostile name stays in its (escaped) input.

use crate::form::decimal::Decimal;
use crate::form::spec::{
    check_text_msg, compile_pattern, parse_iso_date, MAX_DESCRIPTION_CHARS, MAX_HELP_CHARS,
    MAX_LABEL_CHARS, MAX_PATTERN_CHARS,
};
use crate::form::submission::MAX_VALUE_CHARS;
use crate::form::{validate_identifier, Bound, FieldSpec, FieldType, FormSpec};
use std::fmt;

/// The most fields the wizard builds (a spec written by hand may have more).
pub const MAX_WIZARD_FIELDS: usize = 50;

/// The most characters kept of any one typed value; longer input is refused at its
/// place rather than stored.
pub const MAX_INPUT_CHARS: usize = 10_000;

/// Reads screen 1's answer: a whole number of fields from 1 to [`MAX_WIZARD_FIELDS`].
pub fn parse_field_count(input: &str) -> Result<usize, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err("Enter the number of fields you need".to_string());
    }
    if !text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "The number of fields must be a whole number, like 6, from 1 to {MAX_WIZARD_FIELDS}"
        ));
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_WIZARD_FIELDS).contains(&n) => Ok(n),
        _ => Err(format!(
            "The number of fields must be from 1 to {MAX_WIZARD_FIELDS}"
        )),
    }
}

/// Checks a field name as the operator types it: `None` when it is a valid identifier,
/// otherwise the reason (for the inline hint shown next to the name).
pub fn check_field_name(name: &str) -> Option<String> {
    validate_identifier(name.trim())
        .err()
        .map(|reason| format!("The name {reason}"))
}

/// One input of a field on screen 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldPart {
    /// The identifier (column and HTML name).
    Name,
    /// The question shown to patients.
    Label,
    /// A hint under the question.
    Help,
    /// The type (one of [`FieldType::ALL`]).
    Type,
    /// Whether an answer is needed.
    Required,
    /// The lowest value, date or number of choices.
    Min,
    /// The highest value, date or number of choices.
    Max,
    /// The longest answer in characters.
    MaxLength,
    /// A regular expression the answer must match.
    Pattern,
    /// The choices, one per line.
    Options,
}

impl FieldPart {
    /// Every part, in page order.
    pub const ALL: [FieldPart; 10] = [
        FieldPart::Name,
        FieldPart::Label,
        FieldPart::Help,
        FieldPart::Type,
        FieldPart::Required,
        FieldPart::Min,
        FieldPart::Max,
        FieldPart::MaxLength,
        FieldPart::Pattern,
        FieldPart::Options,
    ];

    /// The suffix of the input's name (`max_length`).
    pub fn key(self) -> &'static str {
        match self {
            FieldPart::Name => "name",
            FieldPart::Label => "label",
            FieldPart::Help => "help",
            FieldPart::Type => "type",
            FieldPart::Required => "required",
            FieldPart::Min => "min",
            FieldPart::Max => "max",
            FieldPart::MaxLength => "max_length",
            FieldPart::Pattern => "pattern",
            FieldPart::Options => "options",
        }
    }

    /// How the part is named to people (`maximum length`).
    pub fn label(self) -> &'static str {
        match self {
            FieldPart::Name => "name",
            FieldPart::Label => "question",
            FieldPart::Help => "hint",
            FieldPart::Type => "type",
            FieldPart::Required => "required",
            FieldPart::Min => "minimum",
            FieldPart::Max => "maximum",
            FieldPart::MaxLength => "maximum length",
            FieldPart::Pattern => "pattern",
            FieldPart::Options => "options",
        }
    }

    /// The input's name and id for field `number` (1-based): `field-3-max_length`.
    pub fn input_name(self, number: usize) -> String {
        format!("field-{number}-{}", self.key())
    }
}

/// Where on screen 2 a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// The number of fields (screen 1, or a tampered count on screen 2).
    Count,
    /// The form's identifier.
    FormName,
    /// The page title.
    Title,
    /// The introduction.
    Intro,
    /// A part of field `number` (1-based).
    Field(usize, FieldPart),
}

impl Place {
    /// The id of the input the error summary links to.
    pub fn input_id(self) -> String {
        match self {
            Place::Count => "count".to_string(),
            Place::FormName => "form_name".to_string(),
            Place::Title => "title".to_string(),
            Place::Intro => "intro".to_string(),
            Place::Field(n, part) => part.input_name(n),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Count => f.write_str("Number of fields"),
            Place::FormName => f.write_str("Form name"),
            Place::Title => f.write_str("Title"),
            Place::Intro => f.write_str("Introduction"),
            Place::Field(n, part) => write!(f, "Field {n} {}", part.label()),
        }
    }
}

/// One problem with the draft, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftError {
    /// The input at fault.
    pub place: Place,
    /// What is wrong, as a sentence that names the place and never the typed value.
    pub message: String,
}

impl fmt::Display for DraftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the operator typed for one field, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldDraft {
    /// The identifier.
    pub name: String,
    /// The question.
    pub label: String,
    /// The hint.
    pub help: String,
    /// The type's name (`long_text`).
    pub kind: String,
    /// Whether the "required" box was ticked.
    pub required: bool,
    /// The lowest value.
    pub min: String,
    /// The highest value.
    pub max: String,
    /// The longest answer.
    pub max_length: String,
    /// The pattern.
    pub pattern: String,
    /// The options, one per line.
    pub options: String,
}

impl FieldDraft {
    /// The typed text of `part` (`"yes"` or `""` for [`FieldPart::Required`]).
    pub fn value(&self, part: FieldPart) -> &str {
        match part {
            FieldPart::Name => &self.name,
            FieldPart::Label => &self.label,
            FieldPart::Help => &self.help,
            FieldPart::Type => &self.kind,
            FieldPart::Required => {
                if self.required {
                    "yes"
                } else {
                    ""
                }
            }
            FieldPart::Min => &self.min,
            FieldPart::Max => &self.max,
            FieldPart::MaxLength => &self.max_length,
            FieldPart::Pattern => &self.pattern,
            FieldPart::Options => &self.options,
        }
    }

    fn set(&mut self, part: FieldPart, value: &str) {
        let value = value.to_string();
        match part {
            FieldPart::Name => self.name = value,
            FieldPart::Label => self.label = value,
            FieldPart::Help => self.help = value,
            FieldPart::Type => self.kind = value,
            FieldPart::Required => self.required = value == "yes",
            FieldPart::Min => self.min = value,
            FieldPart::Max => self.max = value,
            FieldPart::MaxLength => self.max_length = value,
            FieldPart::Pattern => self.pattern = value,
            FieldPart::Options => self.options = value,
        }
    }

    /// The options as the spec will hold them: one per non-blank line, trimmed.
    pub fn option_list(&self) -> Vec<String> {
        self.options
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Builds field `number`'s spec, or every problem found, each at its part.
    fn to_field(&self, number: usize) -> Result<FieldSpec, Vec<DraftError>> {
        let mut errors = Vec::new();
        let fail = |errors: &mut Vec<DraftError>, part: FieldPart, message: String| {
            push(errors, Place::Field(number, part), message)
        };
        for part in FieldPart::ALL {
            if self.value(part).chars().count() > MAX_INPUT_CHARS {
                fail(
                    &mut errors,
                    part,
                    format!("must be at most {MAX_INPUT_CHARS} characters"),
                );
            }
        }
        let name = self.name.trim();
        if let Err(reason) = validate_identifier(name) {
            fail(&mut errors, FieldPart::Name, reason);
        }
        if let Err(reason) = check_text(&self.label, MAX_LABEL_CHARS, false) {
            fail(&mut errors, FieldPart::Label, reason);
        }
        let help = non_blank(&self.help);
        if let Some(h) = help {
            if let Err(reason) = check_text(h, MAX_HELP_CHARS, true) {
                fail(&mut errors, FieldPart::Help, reason);
            }
        }
        let Some(kind) = FieldType::from_name(self.kind.trim()) else {
            fail(
                &mut errors,
                FieldPart::Type,
                "choose one of the listed types".to_string(),
            );
            return Err(errors);
        };

        let min = non_blank(&self.min).map(|t| parse_bound(kind, t));
        let max = non_blank(&self.max).map(|t| parse_bound(kind, t));
        for (part, bound) in [(FieldPart::Min, &min), (FieldPart::Max, &max)] {
            if let Some(Err(reason)) = bound {
                fail(&mut errors, part, reason.clone());
            }
        }
        let max_length = non_blank(&self.max_length).map(|t| {
            if !kind.is_text_like() {
                return Err(format!(
                    "applies only to text, long text, email and phone fields, not {kind}"
                ));
            }
            t.parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_VALUE_CHARS as u32).contains(n))
                .ok_or_else(|| format!("must be a whole number from 1 to {MAX_VALUE_CHARS}"))
        });
        if let Some(Err(reason)) = &max_length {
            fail(&mut errors, FieldPart::MaxLength, reason.clone());
        }
        let pattern = non_blank(&self.pattern);
        if let Some(p) = pattern {
            let checked = if !kind.is_text_like() {
                Err(format!(
                    "applies only to text, long text, email and phone fields, not {kind}"
                ))
            } else if p.chars().count() > MAX_PATTERN_CHARS {
                Err(format!("must be at most {MAX_PATTERN_CHARS} characters"))
            } else {
                compile_pattern(p).map(drop)
            };
            if let Err(reason) = checked {
                fail(&mut errors, FieldPart::Pattern, reason);
            }
        }

        let spec = FieldSpec {
            name: name.to_string(),
            label: self.label.trim().to_string(),
            help: help.map(str::to_string),
            kind,
            required: self.required,
            min: min.and_then(Result::ok),
            max: max.and_then(Result::ok),
            max_length: max_length.and_then(Result::ok),
            pattern: pattern.map(str::to_string),
            options: self.option_list(),
        };
        if let Err(reason) = spec.validate_options() {
            fail(&mut errors, FieldPart::Options, reason);
        }
        if errors
            .iter()
            .all(|e| !matches!(e.place, Place::Field(_, FieldPart::Min | FieldPart::Max)))
        {
            if let Err(reason) = spec.validate_bounds() {
                let part = if reason.starts_with("max") {
                    FieldPart::Max
                } else {
                    FieldPart::Min
                };
                fail(&mut errors, part, reason);
            }
        }
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }
}

/// The spec's rule for display text (not blank, not too long, no control characters),
/// as a reason without a subject: `must not be empty`.
fn check_text(text: &str, max: usize, multiline: bool) -> Result<(), String> {
    check_text_msg("it", text.trim(), max, multiline)
        .map_err(|m| m.trim_start_matches("it ").to_string())
}

/// Records a problem at `place`, the message naming the place.
fn push(errors: &mut Vec<DraftError>, place: Place, reason: String) {
    errors.push(DraftError {
        message: format!("{place}: {reason}"),
        place,
    });
}

/// The trimmed text, or `None` when it is blank.
fn non_blank(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

/// Reads a typed `min`/`max` for a field of type `kind`.
fn parse_bound(kind: FieldType, text: &str) -> Result<Bound, String> {
    match kind {
        FieldType::Integer | FieldType::MultipleChoice => text
            .parse::<i64>()
            .map(Bound::Integer)
            .map_err(|_| "must be a whole number, like 18".to_string()),
        FieldType::Decimal => text
            .parse::<i64>()
            .map(Bound::Integer)
            .or_else(|_| text.parse::<Decimal>().map(Bound::Decimal))
            .map_err(|_| "must be a number, like 37.5".to_string()),
        FieldType::Date => parse_iso_date(text)
            .map(Bound::Date)
            .ok_or_else(|| "must be a real date written YYYY-MM-DD, like 2026-12-31".to_string()),
        other => Err(format!(
            "applies only to whole number, decimal, date and multiple choice fields, not {other}"
        )),
    }
}

/// What the operator typed on screen 2 for the form itself and its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormDraft {
    /// The form's identifier.
    pub name: String,
    /// The page title.
    pub title: String,
    /// The introduction under the title.
    pub intro: String,
    /// The fields, in order (as many as screen 1 asked for).
    pub fields: Vec<FieldDraft>,
}

impl FormDraft {
    /// An empty draft with `count` blank fields, each typed `text` by default.
    pub fn blank(count: usize) -> FormDraft {
        FormDraft {
            fields: vec![
                FieldDraft {
                    kind: FieldType::Text.as_str().to_string(),
                    ..FieldDraft::default()
                };
                count
            ],
            ..FormDraft::default()
        }
    }

    /// Reads a posted screen 2: `count` (checked again: a hidden field can be edited),
    /// `form_name`, `title`, `intro`, and `field-N-PART` for N from 1 to the count.
    /// Other pairs (the CSRF token, the audience inputs) are left to their readers; a
    /// field numbered beyond the count is refused at the count.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<FormDraft, DraftError> {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map_or("", |(_, v)| v.as_str())
        };
        let count = parse_field_count(get("count")).map_err(|message| DraftError {
            place: Place::Count,
            message,
        })?;
        let mut draft = FormDraft::blank(count);
        for field in &mut draft.fields {
            field.kind.clear();
        }
        draft.name = get("form_name").to_string();
        draft.title = get("title").to_string();
        draft.intro = get("intro").to_string();
        for (key, value) in pairs {
            let Some((number, part)) = parse_field_key(key) else {
                continue;
            };
            match draft.fields.get_mut(number.wrapping_sub(1)) {
                Some(field) => field.set(part, value),
                None => {
                    return Err(DraftError {
                        place: Place::Count,
                        message: format!(
                            "The page sent more fields than the {count} asked for; start again"
                        ),
                    })
                }
            }
        }
        Ok(draft)
    }

    /// The spec this draft describes, or every problem found (in page order). The spec
    /// has passed [`FormSpec::validate`], like one read from TOML.
    pub fn to_spec(&self) -> Result<FormSpec, Vec<DraftError>> {
        let mut errors = Vec::new();
        let fail = push;
        if self.fields.is_empty() || self.fields.len() > MAX_WIZARD_FIELDS {
            fail(
                &mut errors,
                Place::Count,
                format!("a form needs 1 to {MAX_WIZARD_FIELDS} fields"),
            );
        }
        let name = self.name.trim();
        if let Err(reason) = validate_identifier(name) {
            fail(&mut errors, Place::FormName, reason);
        }
        if let Err(reason) = check_text(&self.title, MAX_LABEL_CHARS, false) {
            fail(&mut errors, Place::Title, reason);
        }
        let intro = non_blank(&self.intro);
        if let Some(text) = intro {
            if let Err(reason) = check_text(text, MAX_DESCRIPTION_CHARS, true) {
                fail(&mut errors, Place::Intro, reason);
            }
        }
        let mut fields = Vec::with_capacity(self.fields.len());
        for (i, draft) in self.fields.iter().enumerate() {
            let number = i + 1;
            match draft.to_field(number) {
                Ok(field) => {
                    if let Some(j) = fields.iter().position(|f: &FieldSpec| f.name == field.name) {
                        fail(
                            &mut errors,
                            Place::Field(number, FieldPart::Name),
                            format!("the name is already used by field {}", j + 1),
                        );
                    }
                    fields.push(field);
                }
                Err(mut found) => errors.append(&mut found),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let spec = FormSpec {
            name: name.to_string(),
            title: self.title.trim().to_string(),
            description: intro.map(str::to_string),
            submit_label: None,
            fields,
        };
        // The CLI's own check has the last word; a rule the checks above missed is
        // still reported, at the form's name.
        spec.validate().map_err(|e| {
            vec![DraftError {
                place: Place::FormName,
                message: e.to_string(),
            }]
        })?;
        Ok(spec)
    }
}

/// `field-3-max_length` → (3, [`FieldPart::MaxLength`]).
fn parse_field_key(key: &str) -> Option<(usize, FieldPart)> {
    let rest = key.strip_prefix("field-")?;
    let (number, part) = rest.split_once('-')?;
    if number.is_empty() || number.len() > 3 || !number.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let part = FieldPart::ALL.into_iter().find(|p| p.key() == part)?;
    Some((number.parse().ok()?, part))
}
