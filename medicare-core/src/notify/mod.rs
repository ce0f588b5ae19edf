//! Sending one message on one channel.
//!
//! A [`Notifier`] is deliberately tiny: send one [`OutboundMessage`] and return the
//! provider's message id, or a [`NotifyError`] that says whether trying again can help.
//! Pacing, retries, batching and recording are the campaign engine's job, so every
//! implementation (the outbox file, the in-memory recorder, SNS, SES) gets them for free
//! and behaves the same under throttling.

pub mod conformance;
mod cost;
mod encoding;
mod gsm7;
mod outbox;
mod recording;
mod sms;
mod template;

pub use cost::{Money, Prices};
pub use encoding::{EncodingReport, EncodingSurprises, SmsCost};
pub use gsm7::{gsm7_transliterate, gsm7_width, is_gsm7, is_gsm7_basic};
pub use outbox::OutboxNotifier;
pub use recording::{FailureScript, RecordingNotifier};
pub use sms::{sms_parts, sms_segments, SmsEncoding, SmsSegments};
pub use template::{MessageTemplate, MessageValues, TemplateKind};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A channel a patient can be reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A text message to the patient's mobile.
    Sms,
    /// An email.
    Email,
}

impl Channel {
    /// Both channels, in their usual order.
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Email];

    /// The lower-case name (`sms`, `email`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    /// Parses `sms` or `email`.
    pub fn parse(s: &str) -> Result<Channel, String> {
        // The stored spellings first: a database column holds nothing else, and the
        // counts read one per delivery.
        match s {
            "sms" => return Ok(Channel::Sms),
            "email" => return Ok(Channel::Email),
            _ => {}
        }
        match s.trim().to_ascii_lowercase().as_str() {
            "sms" => Ok(Channel::Sms),
            "email" => Ok(Channel::Email),
            _ => Err("a channel is sms or email".to_string()),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message to one patient on one channel. `Debug` shows ids only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The delivery row this message fulfils (the idempotency key).
    pub delivery_id: i64,
    /// The campaign.
    pub campaign_id: i64,
    /// The recipient (one per patient per campaign).
    pub recipient_id: i64,
    /// The channel.
    pub channel: Channel,
    /// The reminder round (0 for the first send).
    pub round: i32,
    /// The address: an E.164 number or an email address.
    pub to: String,
    /// The email subject (`None` for SMS).
    pub subject: Option<String>,
    /// The text body.
    pub text: String,
    /// The HTML body (email only).
    pub html: Option<String>,
}

impl fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("delivery_id", &self.delivery_id)
            .field("campaign_id", &self.campaign_id)
            .field("recipient_id", &self.recipient_id)
            .field("channel", &self.channel)
            .field("round", &self.round)
            .finish_non_exhaustive()
    }
}

/// Why a message was not accepted, classified by what the engine should do next.
/// Reasons name the failure, never the address or the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The provider is throttling: wait (at least `retry_after`, if given) and retry.
    #[error("throttled: {reason}")]
    Throttled {
        /// The provider's reason.
        reason: String,
        /// How long the provider asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// A transient failure (timeout, 5xx, connection reset): retry with backoff.
    #[error("transient: {reason}")]
    Transient {
        /// What failed.
        reason: String,
    },
    /// A permanent failure for this message (invalid number, address rejected, message
    /// too long): do not retry, record it.
    #[error("permanent: {reason}")]
    Permanent {
        /// What failed.
        reason: String,
    },
}

impl NotifyError {
    /// True when trying the same message again may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, NotifyError::Permanent { .. })
    }
}

/// Sends one message on one channel. See the module docs for what it leaves out.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    /// Sends `message`; returns the provider's message id.
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError>;

    /// Makes every message accepted so far durable. The engine calls it before it
    /// records a batch as sent, so a "sent" record never outruns the transport. The
    /// default does nothing (for providers that accept synchronously).
    async fn flush(&self) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[async_trait]
impl<T: Notifier + ?Sized> Notifier for std::sync::Arc<T> {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        (**self).send(message).await
    }

    async fn flush(&self) -> Result<(), NotifyError> {
        (**self).flush().await
    }
}
