//! SMS through Amazon SNS: a direct `Publish` to each E.164 number.

use crate::connect::sns_client;
use crate::error::{sent_message_id, Failure};
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;
use medicare_core::notify::{Channel, Notifier, NotifyError, OutboundMessage};
use medicare_core::{Error, Result};
use std::collections::HashSet;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a loaded opted-out list is trusted before a send reloads it.
pub const OPTED_OUT_MAX_AGE: Duration = Duration::from_secs(3600);

/// The longest SMS SNS accepts, in bytes of the message text.
pub const MAX_SMS_BYTES: usize = 1600;

/// SNS's SMS type: it decides the route and the price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmsType {
    /// Critical messages (the default): the most reliable route.
    #[default]
    Transactional,
    /// Marketing messages: the cheapest route.
    Promotional,
}

impl SmsType {
    /// The value of the `AWS.SNS.SMS.SMSType` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsType::Transactional => "Transactional",
            SmsType::Promotional => "Promotional",
        }
    }
}

/// How SMS are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsOptions {
    /// The alphanumeric sender ID shown on the phone (1 to 11 letters and digits, at
    /// least one letter), where the destination country supports it.
    pub sender_id: Option<String>,
    /// The SMS type (Transactional by default).
    pub sms_type: SmsType,
}

/// Sends SMS with SNS `Publish` straight to the phone number (no topic).
///
/// Before calling SNS it refuses, as permanent errors, a message that is not for the SMS
/// channel, an address that is not an E.164 number, a text over [`MAX_SMS_BYTES`], and a
/// number on the account's opted-out list. SNS itself would drop a message to an
/// opted-out number; checking first keeps such a delivery recorded as failed ("opted
/// out") instead of sent.
///
/// The opted-out list is fetched lazily: by the first message sent (every message of the
/// send waits for that one fetch), again when the list is older than
/// an hour (`OPTED_OUT_MAX_AGE`, a long-running service), or on demand with
/// [`SnsSmsNotifier::sync_opted_out`]. Building the notifier calls nothing, so commands
/// that send nothing never reach SNS. A fetch that fails fails the message that needed
/// it, classified like a failed `Publish` (throttled or transient: the engine retries).
///
/// One `Publish` per message, no SDK retry: see [`crate::connect`]. `Debug` shows the
/// options and how many numbers are opted out, never the numbers.
pub struct SnsSmsNotifier {
    client: aws_sdk_sns::Client,
    options: SmsOptions,
    attributes: Vec<(String, MessageAttributeValue)>,
    opted_out: RwLock<HashSet<String>>,
    /// When the opted-out list was last loaded (`None`: never); the async lock makes
    /// concurrent messages wait for one fetch instead of each starting their own.
    loaded_at: tokio::sync::Mutex<Option<Instant>>,
}

impl fmt::Debug for SnsSmsNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsSmsNotifier")
            .field("options", &self.options)
            .field("opted_out", &self.opted_out_count())
            .finish_non_exhaustive()
    }
}

impl SnsSmsNotifier {
    /// A notifier with a client from `config` (one attempt per call).
    pub fn new(config: &SdkConfig, options: SmsOptions) -> Result<Self> {
        Self::from_client(sns_client(config), options)
    }

    /// As [`SnsSmsNotifier::new`], with a client the caller built (disable its retries:
    /// the engine retries).
    pub fn from_client(client: aws_sdk_sns::Client, options: SmsOptions) -> Result<Self> {
        let string = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| Error::Config(format!("SNS message attribute: {e}")))
        };
        let mut attributes = vec![(
            "AWS.SNS.SMS.SMSType".to_string(),
            string(options.sms_type.as_str())?,
        )];
        if let Some(id) = &options.sender_id {
            check_sender_id(id)?;
            attributes.push(("AWS.SNS.SMS.SenderID".to_string(), string(id)?));
        }
        Ok(SnsSmsNotifier {
            client,
            options,
            attributes,
            opted_out: RwLock::new(HashSet::new()),
            loaded_at: tokio::sync::Mutex::new(None),
        })
    }

    /// Loads the account's opted-out numbers (`ListPhoneNumbersOptedOut`, every page),
    /// replacing the set checked before each send; returns how many there are. Sending
    /// loads the list by itself when needed; call this to refresh it on demand.
    pub async fn sync_opted_out(&self) -> Result<usize> {
        let mut loaded_at = self.loaded_at.lock().await;
        self.load_opted_out(&mut loaded_at)
            .await
            .map_err(|f| f.into_error("SNS opted-out list"))
    }

    /// Loads the list unless a load younger than [`OPTED_OUT_MAX_AGE`] is in place.
    async fn ensure_opted_out(&self) -> std::result::Result<(), Failure> {
        let mut loaded_at = self.loaded_at.lock().await;
        if loaded_at.is_some_and(|at| at.elapsed() < OPTED_OUT_MAX_AGE) {
            return Ok(());
        }
        self.load_opted_out(&mut loaded_at).await.map(drop)
    }

    async fn load_opted_out(
        &self,
        loaded_at: &mut Option<Instant>,
    ) -> std::result::Result<usize, Failure> {
        let mut numbers = HashSet::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_phone_numbers_opted_out()
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| Failure::classify("SNS ListPhoneNumbersOptedOut", &e))?;
            numbers.extend(page.phone_numbers().iter().cloned());
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => break,
            }
        }
        let count = numbers.len();
        match self.opted_out.write() {
            Ok(mut set) => *set = numbers,
            Err(poisoned) => *poisoned.into_inner() = numbers,
        }
        *loaded_at = Some(Instant::now());
        tracing::info!(opted_out = count, "SNS opted-out numbers loaded");
        Ok(count)
    }

    /// How many numbers the last [`SnsSmsNotifier::sync_opted_out`] loaded.
    pub fn opted_out_count(&self) -> usize {
        self.opted_out.read().map(|s| s.len()).unwrap_or(0)
    }

    /// Why `message` cannot be sent whatever the opted-out list says, if it cannot.
    fn refuse(&self, message: &OutboundMessage) -> Option<NotifyError> {
        let permanent = |reason: String| Some(NotifyError::Permanent { reason });
        if message.channel != Channel::Sms {
            return permanent(format!(
                "the SNS SMS notifier cannot send on the {} channel",
                message.channel
            ));
        }
        if !is_e164(&message.to) {
            return permanent("the address is not an E.164 phone number".into());
        }
        let bytes = message.text.len();
        if bytes > MAX_SMS_BYTES {
            return permanent(format!(
                "the SMS text is {bytes} bytes, over SNS's {MAX_SMS_BYTES}-byte limit"
            ));
        }
        None
    }

    /// Whether `to` is on the loaded opted-out list.
    fn is_opted_out(&self, to: &str) -> bool {
        match self.opted_out.read() {
            Ok(set) => set.contains(to),
            Err(poisoned) => poisoned.into_inner().contains(to),
        }
    }
}

/// `+` then 8 to 15 digits, the first not 0.
fn is_e164(to: &str) -> bool {
    to.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn check_sender_id(id: &str) -> Result<()> {
    let ok = (1..=11).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && id.bytes().any(|b| b.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("SMS sender ID {id:?}"),
            "must be 1 to 11 ASCII letters and digits, at least one a letter",
        ))
    }
}

#[async_trait]
impl Notifier for SnsSmsNotifier {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        if let Some(refused) = self.refuse(message) {
            return Err(refused);
        }
        if let Err(failure) = self.ensure_opted_out().await {
            tracing::debug!(
                delivery = message.delivery_id,
                error = %failure.description,
                "the opted-out list could not be loaded"
            );
            return Err(failure.into_notify_error());
        }
        if self.is_opted_out(&message.to) {
            return Err(NotifyError::Permanent {
                reason: "opted out: the number replied STOP to this sender".into(),
            });
        }
        let mut request = self
            .client
            .publish()
            .phone_number(&message.to)
            .message(&message.text);
        for (name, value) in &self.attributes {
            request = request.message_attributes(name, value.clone());
        }
        let result = request.send().await;
        sent_message_id(
            "SNS Publish",
            message.delivery_id,
            result.map(|o| o.message_id().map(str::to_string)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_and_sender_ids_are_checked() {
        assert!(is_e164("+447700900123"));
        assert!(!is_e164("07700900123"));
        assert!(!is_e164("+4477009001234567"));
        assert!(!is_e164("+44 7700 900123"));
        assert!(!is_e164("+0447700900123"));
        check_sender_id("MediCARE").unwrap();
        for bad in ["", "TwelveChars1", "12345", "Medi CARE", "Médi"] {
            let err = check_sender_id(bad).unwrap_err().to_string();
            assert!(err.contains("sender ID"), "{err}");
        }
    }

    #[test]
    fn sms_types_name_the_attribute_values() {
        assert_eq!(SmsType::default().as_str(), "Transactional");
        assert_eq!(SmsType::Promotional.as_str(), "Promotional");
    }
}
