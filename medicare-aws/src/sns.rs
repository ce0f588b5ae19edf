//! SMS through Amazon SNS: a direct `Publish` to each E.164 number.

use crate::connect::sns_client;
use crate::error::{sent_message_id, storage_error};
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;
use medicare_core::notify::{Channel, Notifier, NotifyError, OutboundMessage};
use medicare_core::{Error, Result};
use std::collections::HashSet;
use std::fmt;
use std::sync::RwLock;

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
/// number on the opted-out list last loaded by [`SnsSmsNotifier::sync_opted_out`]. SNS
/// itself would drop a message to an opted-out number; checking first keeps such a
/// delivery recorded as failed ("opted out") instead of sent.
///
/// One `Publish` per message, no SDK retry: see [`crate::connect`]. `Debug` shows the
/// options and how many numbers are opted out, never the numbers.
pub struct SnsSmsNotifier {
    client: aws_sdk_sns::Client,
    options: SmsOptions,
    attributes: Vec<(String, MessageAttributeValue)>,
    opted_out: RwLock<HashSet<String>>,
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
        })
    }

    /// Loads the account's opted-out numbers (`ListPhoneNumbersOptedOut`, every page),
    /// replacing the set checked before each send; returns how many there are. Call it
    /// before a send (and again before a long one resumes).
    pub async fn sync_opted_out(&self) -> Result<usize> {
        let mut numbers = HashSet::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_phone_numbers_opted_out()
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| {
                    storage_error("SNS ListPhoneNumbersOptedOut", "SNS opted-out list", &e)
                })?;
            numbers.extend(page.phone_numbers().iter().cloned());
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => break,
            }
        }
        let count = numbers.len();
        *self.opted_out.write().expect("opted-out lock") = numbers;
        tracing::info!(opted_out = count, "SNS opted-out numbers loaded");
        Ok(count)
    }

    /// How many numbers the last [`SnsSmsNotifier::sync_opted_out`] loaded.
    pub fn opted_out_count(&self) -> usize {
        self.opted_out.read().map(|s| s.len()).unwrap_or(0)
    }

    /// Why `message` cannot be sent, if it cannot (checked before calling SNS).
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
        if self
            .opted_out
            .read()
            .expect("opted-out lock")
            .contains(&message.to)
        {
            return permanent("opted out: the number replied STOP to this sender".into());
        }
        None
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
