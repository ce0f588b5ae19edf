//! The wizard's audience and sending choices: the filter typed on screen 2, the
//! channels and the sending strategy, the spend cap, how long links work and the SMS
//! text, checked and turned into a [`CampaignRequest`].
//!
//! A filter that does not parse is reported at its line and column
//! ([`FilterProblem`]), with the same message the CLI prints; the message never repeats
//! a string literal from the filter. The engine checks the request again when it
//! creates the campaign: these checks only put each problem next to its input.

use crate::campaign::{CampaignMessages, CampaignRequest, FormId, Strategy};
use crate::filter::{Filter, FilterError};
use crate::notify::{Channel, MessageTemplate, Money, TemplateKind};
use std::fmt;
use std::sync::Arc;

/// The link lifetime the wizard offers first, in days.
pub const DEFAULT_LINK_DAYS: i64 = 30;
/// The longest link lifetime, in days (the engine's limit).
pub const MAX_LINK_DAYS: i64 = 366;

/// The inputs of screen 2 about who gets the form and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceDraft {
    /// The filter, as typed.
    pub filter: String,
    /// The ticked channels' names (`sms`, `email`).
    pub channels: Vec<String>,
    /// With both channels: `both` (at once) or `email_first` (SMS later, only to those
    /// who have not opened their email's link).
    pub strategy: String,
    /// The spend cap in pounds, as typed (blank: none).
    pub budget: String,
    /// How many days links work, as typed.
    pub link_days: String,
    /// The SMS text, as typed (placeholders such as `{link}` allowed).
    pub sms: String,
}

impl Default for AudienceDraft {
    /// What the wizard starts with: everyone, both channels, 30-day links, the default
    /// invitation SMS.
    fn default() -> Self {
        AudienceDraft {
            filter: String::new(),
            channels: Channel::ALL
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            strategy: Strategy::Both.as_str().to_string(),
            budget: String::new(),
            link_days: DEFAULT_LINK_DAYS.to_string(),
            sms: CampaignMessages::default().sms,
        }
    }
}

/// An input of the audience part of screen 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudiencePlace {
    /// The filter text box.
    Filter,
    /// The channel check boxes.
    Channels,
    /// The strategy radios.
    Strategy,
    /// The spend cap.
    Budget,
    /// The link lifetime.
    LinkDays,
    /// The SMS text.
    Sms,
}

impl AudiencePlace {
    /// The input's name and the id the error summary links to (the first check box for
    /// the channels).
    pub fn input_id(self) -> &'static str {
        match self {
            AudiencePlace::Filter => "filter",
            AudiencePlace::Channels => "channel-sms",
            AudiencePlace::Strategy => "strategy-both",
            AudiencePlace::Budget => "budget",
            AudiencePlace::LinkDays => "link_days",
            AudiencePlace::Sms => "sms",
        }
    }
}

impl fmt::Display for AudiencePlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AudiencePlace::Filter => "Audience filter",
            AudiencePlace::Channels => "Channels",
            AudiencePlace::Strategy => "Sending order",
            AudiencePlace::Budget => "Spend cap",
            AudiencePlace::LinkDays => "Link lifetime",
            AudiencePlace::Sms => "SMS text",
        })
    }
}

/// Where a filter went wrong, for the page: line and column within the text box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterProblem {
    /// 1-based line.
    pub line: usize,
    /// 1-based character column within that line.
    pub column: usize,
    /// Byte offset in the filter (for the live check's caret).
    pub position: usize,
    /// What is wrong (never a string literal from the filter).
    pub reason: String,
}

impl FilterProblem {
    /// Locates `error` in `source`.
    pub fn new(source: &str, error: &FilterError) -> FilterProblem {
        let position = error.position.min(source.len());
        let before = source.get(..position).unwrap_or(source);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        FilterProblem {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            position,
            reason: error.message.clone(),
        }
    }
}

impl fmt::Display for FilterProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.reason
        )
    }
}

/// One problem with the audience inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceError {
    /// The input at fault.
    pub place: AudiencePlace,
    /// Where in the filter, for a filter that does not parse.
    pub filter: Option<FilterProblem>,
    /// The sentence shown in the error summary and next to the input.
    pub message: String,
}

impl fmt::Display for AudienceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The audience inputs, checked.
#[derive(Debug, Clone)]
pub struct CheckedAudience {
    /// The parsed filter.
    pub filter: Filter,
    /// The channels, in the engine's order, each once.
    pub channels: Vec<Channel>,
    /// The strategy asked for (`None`: the channels' own).
    pub strategy: Option<Strategy>,
    /// The spend cap, if any.
    pub budget: Option<Money>,
    /// How many days links work.
    pub link_days: i64,
    /// The messages (the defaults with the typed SMS).
    pub messages: CampaignMessages,
}

impl CheckedAudience {
    /// The request the engine creates the campaign from, named `name`, for `form`.
    pub fn request(&self, name: &str, form: FormId) -> crate::Result<CampaignRequest> {
        let mut request = CampaignRequest::new(name, form, Arc::new(self.filter.clone()));
        request.channels = self.channels.clone();
        request.strategy = self.strategy;
        request.budget = self.budget;
        request.messages = self.messages.clone();
        request.set_link_days(self.link_days)?;
        Ok(request)
    }
}

/// Parses a filter typed in the console: a blank box is an error (type `all` for
/// everyone), otherwise the problem is placed at its line and column.
pub fn parse_filter(source: &str) -> Result<Filter, AudienceError> {
    let fail = |filter: Option<FilterProblem>, message: String| AudienceError {
        place: AudiencePlace::Filter,
        filter,
        message,
    };
    if source.trim().is_empty() {
        return Err(fail(
            None,
            "Audience filter: enter a filter, or all for every patient".to_string(),
        ));
    }
    Filter::parse(source).map_err(|e| {
        let problem = FilterProblem::new(source, &e);
        let message = format!("{}: {problem}", AudiencePlace::Filter);
        fail(Some(problem), message)
    })
}

impl AudienceDraft {
    /// Reads the posted pairs: `filter`, `channel` (once per ticked box), `strategy`,
    /// `budget`, `link_days` and `sms`.
    pub fn from_pairs(pairs: &[(String, String)]) -> AudienceDraft {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map_or(String::new(), |(_, v)| v.clone())
        };
        AudienceDraft {
            filter: get("filter"),
            channels: pairs
                .iter()
                .filter(|(k, _)| k == "channel")
                .map(|(_, v)| v.clone())
                .collect(),
            strategy: get("strategy"),
            budget: get("budget"),
            link_days: get("link_days"),
            sms: get("sms"),
        }
    }

    /// True when the channel named `name` is ticked (for re-rendering the boxes).
    pub fn has_channel(&self, name: &str) -> bool {
        self.channels.iter().any(|c| c == name)
    }

    /// Checks every input; every problem is returned, in page order.
    pub fn check(&self) -> Result<CheckedAudience, Vec<AudienceError>> {
        let mut errors = Vec::new();
        let fail = |errors: &mut Vec<AudienceError>, place: AudiencePlace, reason: String| {
            errors.push(AudienceError {
                place,
                filter: None,
                message: format!("{place}: {reason}"),
            })
        };
        let filter = parse_filter(&self.filter);
        let mut channels = Vec::new();
        for name in &self.channels {
            match Channel::parse(name) {
                Ok(c) if !channels.contains(&c) => channels.push(c),
                Ok(_) => {}
                Err(_) => fail(
                    &mut errors,
                    AudiencePlace::Channels,
                    "choose from the listed channels".to_string(),
                ),
            }
        }
        channels.sort();
        if channels.is_empty() && errors.is_empty() {
            fail(
                &mut errors,
                AudiencePlace::Channels,
                "choose at least one way to send the form".to_string(),
            );
        }
        let strategy = match self.strategy.trim() {
            "" | "both" => None,
            "email_first" if channels.len() == Channel::ALL.len() => Some(Strategy::EmailFirst),
            "email_first" => {
                fail(
                    &mut errors,
                    AudiencePlace::Strategy,
                    "email first needs both text message and email ticked".to_string(),
                );
                None
            }
            _ => {
                fail(
                    &mut errors,
                    AudiencePlace::Strategy,
                    "choose one of the listed sending orders".to_string(),
                );
                None
            }
        };
        let budget = match self.budget.trim() {
            "" => None,
            typed => match Money::parse(typed) {
                Ok(m) if m.0 >= 0 => Some(m),
                _ => {
                    fail(
                        &mut errors,
                        AudiencePlace::Budget,
                        "enter an amount in pounds, such as 1500 or 1500.50, or leave it blank for no cap"
                            .to_string(),
                    );
                    None
                }
            },
        };
        let link_days = self.link_days.trim();
        let link_days = match link_days.parse::<i64>() {
            Ok(n) if (1..=MAX_LINK_DAYS).contains(&n) => Some(n),
            _ => {
                fail(
                    &mut errors,
                    AudiencePlace::LinkDays,
                    format!("enter a whole number of days from 1 to {MAX_LINK_DAYS}"),
                );
                None
            }
        };
        let messages = CampaignMessages {
            sms: self.sms.trim().to_string(),
            ..CampaignMessages::default()
        };
        if channels.contains(&Channel::Sms) {
            match MessageTemplate::parse(&messages.sms, TemplateKind::Text, "SMS text") {
                Ok(t) if t.has_link() => {}
                Ok(_) => fail(
                    &mut errors,
                    AudiencePlace::Sms,
                    "must contain {link}, where each patient's link goes".to_string(),
                ),
                Err(crate::Error::InvalidInput { message, .. }) => {
                    fail(&mut errors, AudiencePlace::Sms, message)
                }
                Err(e) => fail(&mut errors, AudiencePlace::Sms, e.to_string()),
            }
        }
        let filter = match filter {
            Ok(f) => Some(f),
            Err(e) => {
                errors.insert(0, e);
                None
            }
        };
        match (filter, link_days) {
            (Some(filter), Some(link_days)) if errors.is_empty() => Ok(CheckedAudience {
                filter,
                channels,
                strategy,
                budget,
                link_days,
                messages,
            }),
            _ => Err(errors),
        }
    }
}
