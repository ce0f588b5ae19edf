//! Campaign domain types: what is frozen at creation, and what each delivery became.

use super::{Reach, Strategy};
use crate::link::IssuedLink;
use crate::notify::{Channel, EncodingSurprises, Money};
use crate::patient::PatientId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A campaign's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CampaignId(pub i64);

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A form's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FormId(pub i64);

impl fmt::Display for FormId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignState {
    /// Created and previewable; nothing sent yet.
    Draft,
    /// A send has started (and may have been interrupted: sending again resumes it).
    Sending,
    /// Every delivery of the first round is sent, failed or suppressed.
    Sent,
    /// Cancelled before completion; nothing more is sent.
    Cancelled,
}

impl CampaignState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Sending => "sending",
            CampaignState::Sent => "sent",
            CampaignState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Sending, Self::Sent, Self::Cancelled]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for CampaignState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The message templates a campaign sends (sources, validated at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignMessages {
    /// The sending organisation's name, used as `{org}`.
    pub org: String,
    /// The SMS text.
    pub sms: String,
    /// The email subject.
    pub email_subject: String,
    /// The email text part.
    pub email_text: String,
    /// The email HTML part (values are escaped when rendered).
    pub email_html: String,
    /// Transliterate substituted values in SMS (never the fixed text, never the link) to
    /// the GSM-7 alphabet where a faithful equivalent exists (the `gsm_safe` setting; see
    /// [`crate::notify::gsm7_transliterate`]).
    #[serde(default)]
    pub gsm_safe: bool,
    /// The reminders' texts: reminder round `n` uses entry `n - 1`, or the last entry
    /// when there are fewer; with none, every reminder uses [`MessageTexts::reminder`].
    #[serde(default)]
    pub reminders: Vec<MessageTexts>,
    /// Encoding surprises of the first round's SMS, counted by the engine when it creates
    /// the campaign (a value given in a request is replaced). `None` for campaigns
    /// created before they were counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_encoding: Option<EncodingSurprises>,
}

/// The texts of one round: the SMS and the email's subject, text and HTML parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTexts {
    /// The SMS text.
    pub sms: String,
    /// The email subject.
    pub email_subject: String,
    /// The email text part.
    pub email_text: String,
    /// The email HTML part (values are escaped when rendered).
    pub email_html: String,
}

impl MessageTexts {
    /// The texts of an email and SMS opening with `opening` (the invitation sentence) and
    /// saying `sms_opening` before the link in the SMS.
    fn written(subject: &str, opening: &str, sms_opening: &str) -> MessageTexts {
        MessageTexts {
            sms: format!("{{org}}{sms_opening} Your personal link: {{link}} Reply STOP to opt out"),
            email_subject: subject.to_string(),
            email_text: format!("Dear {{given_name}},\n\n{opening} Please open your personal link:\n\n{{link}}\n\nThe link is for you only and works until {{expires_on}}.\n\n{{org}}\n\nTo stop these emails, reply with the word unsubscribe."),
            email_html: format!("<!doctype html><html lang=\"en\"><body><p>Dear {{given_name}},</p><p>{opening}</p><p><a href=\"{{link}}\">Open your personal form</a></p><p>The link is for you only and works until {{expires_on}}.</p><p>{{org}}</p><p>To stop these emails, reply with the word unsubscribe.</p></body></html>"),
        }
    }

    /// The first send's default texts (the vaccination invitation). The SMS (greeting,
    /// link, opt-out line) fits one GSM-7 segment with a base URL of up to about 40
    /// characters.
    pub fn invitation() -> MessageTexts {
        MessageTexts::written(
            "{form_title}",
            "You are invited to register for your vaccination.",
            ": you are invited to register for your vaccination.",
        )
    }

    /// The default reminder texts: they say they are a reminder, and the SMS is no
    /// longer than the invitation's.
    pub fn reminder() -> MessageTexts {
        MessageTexts::written(
            "Reminder: {form_title}",
            "This is a reminder: you are invited to register for your vaccination and have not done so yet.",
            " reminder: please register for your vaccination.",
        )
    }
}

impl Default for CampaignMessages {
    /// Defaults written for the vaccination campaign ([`MessageTexts::invitation`]; the
    /// reminders use [`MessageTexts::reminder`]).
    fn default() -> Self {
        let MessageTexts {
            sms,
            email_subject,
            email_text,
            email_html,
        } = MessageTexts::invitation();
        CampaignMessages {
            org: "MediCARE".to_string(),
            sms,
            email_subject,
            email_text,
            email_html,
            gsm_safe: false,
            reminders: Vec::new(),
            sms_encoding: None,
        }
    }
}

impl CampaignMessages {
    /// The texts of `round` (0: the first send; 1 and up: reminders).
    pub fn texts(&self, round: i32) -> MessageTexts {
        if round <= 0 {
            return MessageTexts {
                sms: self.sms.clone(),
                email_subject: self.email_subject.clone(),
                email_text: self.email_text.clone(),
                email_html: self.email_html.clone(),
            };
        }
        let index = usize::try_from(round - 1).unwrap_or(usize::MAX);
        self.reminders
            .get(index)
            .or(self.reminders.last())
            .cloned()
            .unwrap_or_else(MessageTexts::reminder)
    }
}

/// What creating a campaign stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// A name for people.
    pub name: String,
    /// The form the links open.
    pub form_id: FormId,
    /// The audience filter's source.
    pub filter: String,
    /// The channels messages go on.
    pub channels: Vec<Channel>,
    /// The templates.
    pub messages: CampaignMessages,
    /// When every link of the campaign stops working.
    pub link_expires_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Which channels go when.
    pub strategy: Strategy,
    /// The spend cap, if any.
    pub budget: Option<Money>,
    /// `email_first`: hours after the first send before the second wave may go.
    pub second_wave_hours: Option<u32>,
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// A name for people.
    pub name: String,
    /// The form.
    pub form_id: FormId,
    /// The audience filter's source.
    pub filter: String,
    /// The channels.
    pub channels: Vec<Channel>,
    /// Where it is in its life.
    pub state: CampaignState,
    /// The templates.
    pub messages: CampaignMessages,
    /// When its links expire.
    pub link_expires_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Which channels go when.
    pub strategy: Strategy,
    /// The spend cap, if any: no send or reminder spends beyond it.
    pub budget: Option<Money>,
    /// `email_first`: hours after the first send before the second wave may go.
    pub second_wave_hours: Option<u32>,
    /// Who each channel could reach, counted at creation (`None` for campaigns created
    /// before it was counted).
    pub reach: Option<Reach>,
}

/// Why a delivery was not attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    /// The patient opted out of this channel.
    OptedOut,
    /// No phone number on record.
    NoPhone,
    /// No email address on record.
    NoEmail,
    /// A reminder not sent because the patient answered after its round was planned.
    Responded,
    /// A second-wave SMS not sent because the patient had opened their link.
    Opened,
}

impl SuppressReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressReason::OptedOut => "opted_out",
            SuppressReason::NoPhone => "no_phone",
            SuppressReason::NoEmail => "no_email",
            SuppressReason::Responded => "responded",
            SuppressReason::Opened => "opened",
        }
    }
}

/// One planned delivery of a new recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedDelivery {
    /// The channel.
    pub channel: Channel,
    /// `Some` when it is suppressed from the start.
    pub suppressed: Option<SuppressReason>,
    /// SMS segments the message will take (0 for email).
    pub segments: u32,
    /// The round it belongs to (0; an `email_first` second wave's SMS are
    /// [`super::SECOND_WAVE_ROUND`]).
    pub round: i32,
}

/// A recipient frozen at campaign creation: who, how to reach them, their link.
#[derive(Clone, PartialEq, Eq)]
pub struct NewRecipient {
    /// The patient.
    pub patient_id: PatientId,
    /// Given name, for the greeting.
    pub given_name: String,
    /// Phone at creation time.
    pub phone: Option<String>,
    /// Email at creation time.
    pub email: Option<String>,
    /// The issued link (nonce and token hash).
    pub link: IssuedLink,
    /// One entry per campaign channel.
    pub deliveries: Vec<PlannedDelivery>,
}

/// Turns a campaign's audience into recipients, one page at a time.
///
/// The store reads the patients the filter selects in id order, a page
/// ([`crate::store::AUDIENCE_PAGE`] patients) at a time, inside the transaction that
/// creates the campaign, hands each page to [`Self::plan`] and writes what it returns
/// before reading the next: a campaign of any size is created in bounded memory, and
/// all of it or nothing is stored. [`Self::finish`] then gives what the campaign row
/// records of the whole audience, or the error that stops the creation (an empty
/// audience), which rolls everything back.
pub trait RecipientPlanner: Send {
    /// The recipients of one page of matching patients, in the page's order.
    fn plan(&mut self, page: Vec<PatientContact>) -> crate::Result<Vec<NewRecipient>>;
    /// Once every page is planned: the campaign's messages and reach as the campaign
    /// row stores them.
    fn finish(&mut self) -> crate::Result<AudienceTotals>;
}

/// What a [`RecipientPlanner`] counted over a whole audience.
#[derive(Debug, Clone)]
pub struct AudienceTotals {
    /// The campaign's messages, with the SMS encoding surprises the audience's names
    /// cause.
    pub messages: CampaignMessages,
    /// Who each channel can reach.
    pub reach: Reach,
    /// Recipients planned.
    pub recipients: u64,
}

impl fmt::Debug for NewRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRecipient")
            .field("patient_id", &self.patient_id)
            .finish_non_exhaustive()
    }
}

/// A patient's contact details and opt-outs, as campaign creation reads them.
#[derive(Clone, PartialEq, Eq)]
pub struct PatientContact {
    /// The patient.
    pub id: PatientId,
    /// Given name.
    pub given_name: String,
    /// Phone (E.164), if any.
    pub phone: Option<String>,
    /// Email, if any.
    pub email: Option<String>,
    /// Opted out of SMS.
    pub sms_opt_out: bool,
    /// Opted out of email.
    pub email_opt_out: bool,
}

impl fmt::Debug for PatientContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientContact")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The state of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting to be sent.
    Pending,
    /// Claimed by a sender; its outcome is not recorded yet.
    Sending,
    /// Accepted by the provider.
    Sent,
    /// Given up, with a reason.
    Failed,
    /// Never attempted, with a reason.
    Suppressed,
}

impl DeliveryStatus {
    /// All states.
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Sending,
        DeliveryStatus::Sent,
        DeliveryStatus::Failed,
        DeliveryStatus::Suppressed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Suppressed => "suppressed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// One of `count` disjoint parts of a campaign's recipients, so several senders (processes,
/// Lambda invocations) can split one campaign: shard `index` holds the recipients whose
/// id leaves remainder `index` when divided by `count`. A recipient's SMS and email fall
/// in the same shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count` (`index < count`, `count >= 1`).
    pub fn new(index: u32, count: u32) -> crate::Result<Shard> {
        if count == 0 || index >= count {
            return Err(crate::Error::invalid(
                "shard",
                format!(
                    "shard {index} of {count} does not exist: shards are numbered 0 to count - 1"
                ),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `index/count`, e.g. `0/4`.
    pub fn parse(text: &str) -> crate::Result<Shard> {
        let bad = || {
            crate::Error::invalid(
                "shard",
                format!("{text:?} is not of the form index/count, e.g. 0/4"),
            )
        };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        Shard::new(
            index.trim().parse().map_err(|_| bad())?,
            count.trim().parse().map_err(|_| bad())?,
        )
    }

    /// Its number, from 0.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards there are.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether the recipient belongs to this shard.
    pub fn contains(self, recipient_id: i64) -> bool {
        recipient_id.rem_euclid(i64::from(self.count)) == i64::from(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A delivery claimed for sending, with what is needed to build its message.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    /// The delivery.
    pub id: i64,
    /// Its recipient.
    pub recipient_id: i64,
    /// The address on the delivery's channel.
    pub address: Option<String>,
    /// The recipient's given name.
    pub given_name: String,
    /// The recipient's link nonce.
    pub link_nonce: crate::link::LinkNonce,
}

impl fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("id", &self.id)
            .field("recipient_id", &self.recipient_id)
            .finish_non_exhaustive()
    }
}

/// What became of one claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// The delivery.
    pub id: i64,
    /// `Sent` or `Failed`.
    pub status: DeliveryStatus,
    /// The provider's message id (sent) or the reason (failed).
    pub detail: String,
    /// How many attempts this send made.
    pub attempts: u32,
    /// An attempt before the last may have reached the provider (it timed out or failed
    /// with a 5xx after the request went out): if the delivery ends sent, the patient may
    /// have it twice.
    pub may_duplicate: bool,
    /// A failure that was a provider or network fault (retries exhausted), not a verdict
    /// on the message: it may be retried later.
    pub transient: bool,
    /// What it cost, recorded with the outcome in the same write; `None` leaves the
    /// delivery's cost as it is.
    pub cost: Option<crate::store::DeliveryCost>,
}

/// A count of deliveries sharing channel, round, status and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryCount {
    /// The channel.
    pub channel: Channel,
    /// The round (0: first send).
    pub round: i32,
    /// The status.
    pub status: DeliveryStatus,
    /// The reason, for suppressed and failed deliveries.
    pub reason: Option<String>,
    /// How many.
    pub count: u64,
    /// Their SMS segments in all.
    pub segments: u64,
    /// How many of them may have reached the provider more than once (over every
    /// resume of the send).
    pub possible_duplicates: u64,
}
