//! Email through Amazon SES v2: one `SendEmail` per recipient, with their own link.
//!
//! SNS can email too, but only to addresses subscribed to a topic (each must confirm
//! first), and every subscriber gets the same text: it cannot carry a per-patient link.
//! SES sends each patient their own message.

use crate::connect::ses_client;
use crate::error::sent_message_id;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use medicare_core::notify::{Channel, Notifier, NotifyError, OutboundMessage};
use medicare_core::{Error, Result};

/// How emails are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailOptions {
    /// The sender address: an identity verified in SES (`flu@example.org`, or
    /// `"MediCARE" <flu@example.org>`).
    pub from: String,
    /// The SES configuration set (event publishing, dedicated IPs), if any.
    pub configuration_set: Option<String>,
}

/// Sends email with SES v2 `SendEmail`: simple content (subject, text and HTML parts,
/// UTF-8) to one recipient; returns SES's message id.
///
/// Refused before calling SES, as permanent errors: a message not for the email channel,
/// one without a subject, and an address that cannot be one (no single `@`, spaces or
/// line breaks). One call per message, no SDK retry: see [`crate::connect`].
#[derive(Debug, Clone)]
pub struct SesEmailNotifier {
    client: aws_sdk_sesv2::Client,
    options: EmailOptions,
}

impl SesEmailNotifier {
    /// A notifier with a client from `config` (one attempt per call).
    pub fn new(config: &SdkConfig, options: EmailOptions) -> Result<Self> {
        Self::from_client(ses_client(config), options)
    }

    /// As [`SesEmailNotifier::new`], with a client the caller built (disable its retries:
    /// the engine retries).
    pub fn from_client(client: aws_sdk_sesv2::Client, options: EmailOptions) -> Result<Self> {
        let address = options
            .from
            .rsplit_once('<')
            .map_or(options.from.as_str(), |(_, a)| a.trim_end_matches('>'));
        if !is_plausible_address(address) {
            return Err(Error::invalid(
                "email sender (from)",
                "must be an address like flu@example.org or \"Name\" <flu@example.org>",
            ));
        }
        Ok(SesEmailNotifier { client, options })
    }

    fn refuse(message: &OutboundMessage) -> Option<NotifyError> {
        let reason = if message.channel != Channel::Email {
            format!(
                "the SES email notifier cannot send on the {} channel",
                message.channel
            )
        } else if message.subject.is_none() {
            "the email has no subject".into()
        } else if !is_plausible_address(&message.to) {
            "the address is not a usable email address".into()
        } else {
            return None;
        };
        Some(NotifyError::Permanent { reason })
    }
}

/// One `@` with something on each side, no whitespace or control characters, and at
/// most 320 characters. SES validates the rest.
fn is_plausible_address(to: &str) -> bool {
    to.len() <= 320
        && !to
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && matches!(to.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@') && !domain.starts_with('.') && !domain.ends_with('.'))
}

fn utf8(text: &str) -> std::result::Result<Content, NotifyError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| NotifyError::Permanent {
            reason: format!("SES SendEmail: the content could not be built: {e}"),
        })
}

#[async_trait]
impl Notifier for SesEmailNotifier {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        if let Some(refused) = Self::refuse(message) {
            return Err(refused);
        }
        let subject = message.subject.as_deref().unwrap_or_default();
        let mut body = Body::builder().text(utf8(&message.text)?);
        if let Some(html) = &message.html {
            body = body.html(utf8(html)?);
        }
        let content = EmailContent::builder()
            .simple(
                Message::builder()
                    .subject(utf8(subject)?)
                    .body(body.build())
                    .build(),
            )
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.options.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(content)
            .set_configuration_set_name(self.options.configuration_set.clone())
            .send()
            .await;
        sent_message_id(
            "SES SendEmail",
            message.delivery_id,
            result.map(|o| o.message_id().map(str::to_string)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_addresses_are_refused() {
        for good in ["a@example.org", "first.last+tag@sub.example.co.uk"] {
            assert!(is_plausible_address(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@example.org",
            "a@@example.org",
            "a b@example.org",
            "a@example.org\r\nBcc: x@y.z",
            "a@.org",
            "a@example.",
        ] {
            assert!(!is_plausible_address(bad), "{bad:?}");
        }
    }
}
