//! What the form service and the follow-up read and write: links as patients present
//! them, responses, reminder rounds and the figures reports are made of.
//!
//! Two small traits, split by who uses them: [`ResponseStore`] is the form service's
//! whole view of storage (look a link up, count an open, store a response and spend the
//! link in one transaction); [`FollowUpStore`] is the reminder and report side.

use super::StoredForm;
use crate::campaign::{CampaignId, CampaignState, FormId};
use crate::error::Result;
use crate::form::Answers;
use crate::link::TokenHash;
use crate::patient::PatientId;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::sync::Arc;

/// Answers a patient submitted through their link, checked against its form.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The recipient whose link it was.
    pub recipient_id: i64,
    /// The link's form.
    pub form: Arc<StoredForm>,
    /// The checked answers.
    pub answers: Answers,
    /// When.
    pub at: DateTime<Utc>,
}

/// One open of a recipient's link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOpen {
    /// The recipient whose link was opened.
    pub recipient_id: i64,
    /// When.
    pub at: DateTime<Utc>,
}

/// A link as the store knows it, found by the hash of a presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    /// The recipient the link was issued to.
    pub recipient_id: i64,
    /// Their campaign.
    pub campaign_id: CampaignId,
    /// The campaign's state.
    pub campaign_state: CampaignState,
    /// The form the link opens.
    pub form_id: FormId,
    /// The stored hash (compare it in constant time with the presented one).
    pub token_hash: TokenHash,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When the patient answered, if they have (the link is then spent).
    pub submitted_at: Option<DateTime<Utc>>,
}

/// What became of a submission the form accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmitOutcome {
    /// Stored; the link is now spent.
    Stored,
    /// The link was already spent: nothing was stored.
    AlreadySubmitted,
}

/// The form service's storage: links, opens and responses.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ResponseStore: Send + Sync + std::fmt::Debug {
    /// The link whose token hashes to `token_hash`, if any.
    async fn link(&self, token_hash: &TokenHash) -> Result<Option<LinkRecord>>;

    /// Counts each of `opens` (a recipient's first open is also recorded as such), with
    /// one ledger event per open of a stored recipient, all in one transaction: every
    /// open is recorded, or none. Concurrent opens are written together this way
    /// ([`crate::campaign::Engine::open_link`] groups them), so each costs a share of one
    /// commit.
    async fn record_opens(&self, opens: &[LinkOpen]) -> Result<()>;

    /// In one transaction, each in turn: marks the link spent (only if it is not
    /// already) and writes the response row to the form's table; answers each with what
    /// became of it, in order. Two racing submissions for one link store one row. Any
    /// error stores none of them. Concurrent submissions are written together this way
    /// ([`crate::campaign::Engine::submit_answer`] groups them).
    async fn submit_responses(&self, submissions: &[Submission]) -> Result<Vec<SubmitOutcome>>;

    /// [`Self::submit_responses`] of one submission.
    async fn submit_response(
        &self,
        recipient_id: i64,
        form: &StoredForm,
        answers: &Answers,
        now: DateTime<Utc>,
    ) -> Result<SubmitOutcome> {
        let submission = Submission {
            recipient_id,
            form: Arc::new(form.clone()),
            answers: answers.clone(),
            at: now,
        };
        let mut outcomes = self.submit_responses(&[submission]).await?;
        Ok(outcomes.pop().unwrap_or(SubmitOutcome::AlreadySubmitted))
    }
}

/// Why a recipient is a non-respondent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NonResponseReason {
    /// The link was never opened.
    NotOpened,
    /// The link was opened, the form not submitted.
    OpenedNotSubmitted,
}

impl NonResponseReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NonResponseReason::NotOpened => "not_opened",
            NonResponseReason::OpenedNotSubmitted => "opened_not_submitted",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::NotOpened, Self::OpenedNotSubmitted]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// One recipient who has not answered (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NonRespondent {
    /// The recipient.
    pub recipient_id: i64,
    /// The patient.
    pub patient_id: PatientId,
    /// The patient's external id (the provider's own record number; not a name).
    pub external_id: String,
    /// Why.
    pub reason: NonResponseReason,
    /// How often the link was opened.
    pub open_count: u64,
    /// Reminder rounds this recipient was included in.
    pub reminders: u64,
}

/// One round of a campaign (0: the first send; then the reminders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoundInfo {
    /// The round.
    pub round: i32,
    /// Recipients the round covers (every recipient for round 0, the materialised
    /// non-respondents for reminders).
    pub recipients: u64,
    /// Deliveries still pending or in flight.
    pub unfinished: u64,
    /// The latest recorded delivery outcome, if any.
    pub last_activity: Option<DateTime<Utc>>,
}

/// Per-campaign tracking figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrackingCounts {
    /// Recipients frozen at creation.
    pub recipients: u64,
    /// Recipients reached: at least one message accepted by a provider.
    pub sent: u64,
    /// Messages accepted by a provider (every channel and round).
    pub delivered_to_provider: u64,
    /// Recipients who opened their link at least once.
    pub opened: u64,
    /// Recipients who submitted the form.
    pub responded: u64,
    /// Messages suppressed (every channel and round).
    pub suppressed: u64,
    /// Messages failed (every channel and round).
    pub failed: u64,
    /// Messages accepted by a provider that may have reached the patient more than once
    /// (every channel and round, over every resume).
    pub possible_duplicates: u64,
}

/// Per-recipient tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientTracking {
    /// The recipient.
    pub recipient_id: i64,
    /// The first open.
    pub first_opened_at: Option<DateTime<Utc>>,
    /// Opens in all.
    pub open_count: u64,
    /// The submission.
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A stored response, every answer as text (for reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseRow {
    /// The recipient who answered.
    pub recipient_id: i64,
    /// The patient who answered (for exports; not shown in reports).
    #[serde(skip)]
    pub patient_id: PatientId,
    /// When.
    pub submitted_at: DateTime<Utc>,
    /// One value per field of the form, in its order (`None`: not answered).
    pub values: Vec<Option<String>>,
}

/// Follow-up and reports: reminder rounds, non-respondents, tracking figures.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FollowUpStore: Send + Sync + std::fmt::Debug {
    /// In one transaction: materialises the campaign's current non-respondents as
    /// `round` (campaign, round, patient, reason) and plans one delivery of that round per
    /// channel for each (suppressed where round 0 was). Idempotent. Returns the round's
    /// non-respondent count.
    async fn plan_reminder_round(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64>;

    /// Suppresses (reason `responded`) the round's pending deliveries to recipients who
    /// have answered since it was planned. Returns how many.
    async fn suppress_responded(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64>;

    /// The campaign's rounds, in order.
    async fn rounds(&self, campaign: CampaignId) -> Result<Vec<RoundInfo>>;

    /// The recipients materialised as non-respondents of `round`, by recipient id.
    async fn round_non_respondents(&self, campaign: CampaignId, round: i32) -> Result<Vec<i64>>;

    /// Who has not answered now, by recipient id.
    async fn non_respondents(&self, campaign: CampaignId) -> Result<Vec<NonRespondent>>;

    /// The campaign's tracking figures.
    async fn tracking_counts(&self, campaign: CampaignId) -> Result<TrackingCounts>;

    /// One recipient's tracking.
    async fn recipient_tracking(&self, recipient_id: i64) -> Result<RecipientTracking>;

    /// Responses per day (UTC) to the campaign, by day.
    async fn responses_by_day(&self, campaign: CampaignId) -> Result<Vec<(NaiveDate, u64)>>;

    /// The campaign's responses submitted in `[from, to)`, by time.
    async fn responses(
        &self,
        campaign: CampaignId,
        form: &StoredForm,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ResponseRow>>;
}
