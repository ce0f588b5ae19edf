//! Message templates: `{placeholder}` substitution, parsed once and rendered per
//! recipient at bulk-send speed.
//!
//! Placeholders: `{link}`, `{org}`, `{given_name}`, `{form_title}`, `{expires_on}`;
//! `{{` and `}}` write literal braces. An unknown placeholder is an error when the
//! template is parsed (at campaign creation), never at send time. In an HTML template the
//! values are HTML-escaped. A GSM-safe template ([`MessageTemplate::gsm_safe`])
//! transliterates every value but the link to the GSM-7 alphabet where a faithful
//! equivalent exists (see [`gsm7_transliterate`]); the fixed text is never altered.

use super::gsm7::gsm7_transliterate;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Whether substituted values are written as they are or HTML-escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    /// Plain text (SMS, email text part, subject).
    Text,
    /// HTML (email HTML part): values are escaped.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Link,
    Org,
    GivenName,
    FormTitle,
    ExpiresOn,
}

const SLOTS: [(&str, Slot); 5] = [
    ("link", Slot::Link),
    ("org", Slot::Org),
    ("given_name", Slot::GivenName),
    ("form_title", Slot::FormTitle),
    ("expires_on", Slot::ExpiresOn),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Slot(Slot),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTemplate {
    source: String,
    kind: TemplateKind,
    parts: Vec<Part>,
    gsm_safe: bool,
}

/// The values a template is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct MessageValues<'a> {
    /// The recipient's one-time link.
    pub link: &'a str,
    /// The sending organisation's name.
    pub org: &'a str,
    /// The recipient's given name.
    pub given_name: &'a str,
    /// The form's title.
    pub form_title: &'a str,
    /// The day the link expires, written for people (`21 December 2026`).
    pub expires_on: &'a str,
}

impl<'a> MessageValues<'a> {
    fn value(&self, slot: Slot) -> &'a str {
        match slot {
            Slot::Link => self.link,
            Slot::Org => self.org,
            Slot::GivenName => self.given_name,
            Slot::FormTitle => self.form_title,
            Slot::ExpiresOn => self.expires_on,
        }
    }
}

impl MessageTemplate {
    /// Parses `source`; `what` names it in errors (e.g. `SMS template`).
    pub fn parse(source: &str, kind: TemplateKind, what: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &source[i + 1..];
                    let end = rest.find('}').ok_or_else(|| {
                        Error::invalid(what, format!("unclosed '{{' at character {}", i + 1))
                    })?;
                    let name = &rest[..end];
                    let slot = SLOTS
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, s)| *s)
                        .ok_or_else(|| {
                            let shown: String = name.chars().take(32).collect();
                            Error::invalid(
                                what,
                                format!(
                                    "unknown placeholder {{{shown}}} at character {}; known: {}",
                                    i + 1,
                                    SLOTS
                                        .iter()
                                        .map(|(n, _)| format!("{{{n}}}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            )
                        })?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Slot(slot));
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(Error::invalid(
                        what,
                        format!(
                            "unmatched '}}' at character {} (write '}}}}' for a brace)",
                            i + 1
                        ),
                    ))
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(MessageTemplate {
            source: source.to_string(),
            kind,
            parts,
            gsm_safe: false,
        })
    }

    /// This template, rendering substituted values (never the link) transliterated to
    /// GSM-7 when `on`.
    pub fn gsm_safe(mut self, on: bool) -> Self {
        self.gsm_safe = on;
        self
    }

    /// True when substituted values are transliterated to GSM-7.
    pub fn is_gsm_safe(&self) -> bool {
        self.gsm_safe
    }

    /// The template's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template uses `{link}`.
    pub fn has_link(&self) -> bool {
        self.parts.contains(&Part::Slot(Slot::Link))
    }

    /// Renders the template with `values`.
    pub fn render(&self, values: &MessageValues<'_>) -> String {
        if self.gsm_safe {
            self.render_mapped(values, gsm7_transliterate)
        } else {
            self.render_mapped(values, Cow::Borrowed)
        }
    }

    /// Renders the template with every value but the link passed through `map` first.
    pub(super) fn render_mapped<'v>(
        &self,
        values: &MessageValues<'v>,
        map: impl Fn(&'v str) -> Cow<'v, str>,
    ) -> String {
        let mut out = String::with_capacity(self.source.len() + values.link.len() + 16);
        for part in &self.parts {
            let value = match part {
                Part::Literal(s) => {
                    out.push_str(s);
                    continue;
                }
                Part::Slot(Slot::Link) => Cow::Borrowed(values.link),
                Part::Slot(slot) => map(values.value(*slot)),
            };
            match self.kind {
                TemplateKind::Text => out.push_str(&value),
                TemplateKind::Html => escape_html_into(&value, &mut out),
            }
        }
        out
    }

    /// True when some value this template substitutes (the link aside) has a character
    /// that is not `allowed`.
    pub(super) fn values_outside(
        &self,
        values: &MessageValues<'_>,
        allowed: impl Fn(char) -> bool,
    ) -> bool {
        self.parts.iter().any(|part| match part {
            Part::Slot(Slot::Link) | Part::Literal(_) => false,
            Part::Slot(slot) => !values.value(*slot).chars().all(&allowed),
        })
    }
}

/// Appends `s` to `out` with `& < > " '` escaped.
pub(crate) fn escape_html_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: MessageValues<'static> = MessageValues {
        link: "https://x.org/f/abc",
        org: "MediCARE",
        given_name: "<b>Ann</b>",
        form_title: "Flu",
        expires_on: "1 May 2027",
    };

    #[test]
    fn renders_and_escapes() {
        let t =
            MessageTemplate::parse("{org}: {{hi}} {given_name} {link}", TemplateKind::Text, "t")
                .unwrap();
        assert_eq!(
            t.render(&V),
            "MediCARE: {hi} <b>Ann</b> https://x.org/f/abc"
        );
        let h = MessageTemplate::parse("<p>{given_name}</p>", TemplateKind::Html, "t").unwrap();
        assert_eq!(h.render(&V), "<p>&lt;b&gt;Ann&lt;/b&gt;</p>");
        assert!(t.has_link());
    }

    #[test]
    fn errors_name_the_place() {
        let e =
            MessageTemplate::parse("hi {name}", TemplateKind::Text, "SMS template").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown placeholder {name} at character 4"),
            "{e}"
        );
        assert!(MessageTemplate::parse("hi {link", TemplateKind::Text, "t").is_err());
        assert!(MessageTemplate::parse("hi }", TemplateKind::Text, "t").is_err());
    }

    #[test]
    fn gsm_safe_changes_values_never_the_fixed_text_or_the_link() {
        let source = "{org} – Hi {given_name}, “{form_title}” {link} ’";
        let values = MessageValues {
            link: "https://x.org/f/a’b–c",
            org: "St Mary’s",
            given_name: "Ann\u{2013}Marie O\u{2019}Neil",
            form_title: "“Flu”",
            expires_on: "1 May",
        };
        let t = MessageTemplate::parse(source, TemplateKind::Text, "t").unwrap();
        assert!(!t.is_gsm_safe());
        assert_eq!(
            t.render(&values),
            "St Mary’s – Hi Ann–Marie O’Neil, ““Flu”” https://x.org/f/a’b–c ’"
        );
        let safe = t.clone().gsm_safe(true);
        assert_eq!(
            safe.render(&values),
            "St Mary's – Hi Ann-Marie O'Neil, “\"Flu\"” https://x.org/f/a’b–c ’"
        );
        // A value without a faithful equivalent is left as it is.
        let welsh = MessageValues {
            given_name: "Dŵr’s",
            ..values
        };
        assert!(safe.render(&welsh).contains("Hi Dŵr’s,"));
        // In HTML the transliterated value is still escaped.
        let h = MessageTemplate::parse("<p>{org}</p>", TemplateKind::Html, "t")
            .unwrap()
            .gsm_safe(true);
        assert_eq!(h.render(&values), "<p>St Mary&#x27;s</p>");
    }
}
