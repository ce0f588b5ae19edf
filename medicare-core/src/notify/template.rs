//! Message templates: `{placeholder}` substitution, parsed once and rendered per
//! recipient at bulk-send speed.
//!
//! Placeholders: `{link}`, `{org}`, `{given_name}`, `{form_title}`, `{expires_on}`;
//! `{{` and `}}` write literal braces. An unknown placeholder is an error when the
//! template is parsed (at campaign creation), never at send time. In an HTML template the
//! values are HTML-escaped.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

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
        })
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
        let mut out = String::with_capacity(self.source.len() + values.link.len() + 16);
        for part in &self.parts {
            let value = match part {
                Part::Literal(s) => {
                    out.push_str(s);
                    continue;
                }
                Part::Slot(Slot::Link) => values.link,
                Part::Slot(Slot::Org) => values.org,
                Part::Slot(Slot::GivenName) => values.given_name,
                Part::Slot(Slot::FormTitle) => values.form_title,
                Part::Slot(Slot::ExpiresOn) => values.expires_on,
            };
            match self.kind {
                TemplateKind::Text => out.push_str(value),
                TemplateKind::Html => escape_html_into(value, &mut out),
            }
        }
        out
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
}
