//! What sending costs, as the store keeps it: claims that reserve spend under a
//! campaign's cap, the cost recorded for each sent message, and the figures previews and
//! reports are priced from.
//!
//! A capped claim ([`CostStore::claim_metered`]) is one transaction that locks the
//! campaign's row, adds up what the campaign has spent and holds in flight, and takes
//! pending deliveries in id order only while each still fits under the cap, reserving
//! its cost on the delivery. Concurrent senders queue on the campaign's row, so together
//! they can never spend past the cap.

use crate::campaign::{CampaignId, PendingDelivery, Shard};
use crate::error::Result;
use crate::notify::{Channel, Money};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A claim that reserves each delivery's cost under the campaign's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeteredClaim {
    /// The campaign (its budget is read, under lock, by the claim).
    pub campaign: CampaignId,
    /// The channel.
    pub channel: Channel,
    /// The round.
    pub round: i32,
    /// Only this shard's recipients, if given.
    pub shard: Option<Shard>,
    /// At most this many deliveries.
    pub limit: u32,
    /// The price in force: of one SMS segment, or of one email.
    pub unit_price: Money,
    /// Skip (leave pending) deliveries to recipients who have opened their link or
    /// answered: an `email_first` second wave never reaches them.
    pub skip_engaged: bool,
}

/// What a metered claim took.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeteredBatch {
    /// The claimed deliveries, now `sending` with their cost reserved.
    pub deliveries: Vec<PendingDelivery>,
    /// True when a pending delivery was left because its cost would cross the budget.
    pub capped: bool,
}

/// What one sent or failed message cost, recorded with its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryCost {
    /// SMS segments the sent message took (0 for email); `None` when it failed.
    pub sent_segments: Option<u32>,
    /// The price in force: of one segment, or of one email.
    pub unit_price: Money,
    /// What it cost (0 when it failed).
    pub cost: Money,
}

/// Spend recorded for one channel in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecordedSpend {
    /// The round.
    pub round: i32,
    /// The channel.
    pub channel: Channel,
    /// Sent messages with a recorded cost.
    pub messages: u64,
    /// Their segments (SMS).
    pub segments: u64,
    /// What they cost.
    pub spent: Money,
    /// Held for deliveries in flight (claimed under a cap, outcome not yet recorded).
    pub reserved: Money,
}

/// Link opens measured on past campaigns' first-round emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MeasuredOpens {
    /// Recipients of other campaigns who were sent a first-round email.
    pub emailed: u64,
    /// How many of them opened their link.
    pub opened: u64,
}

/// Cost and spend: metered claims, recorded costs, budgets, second-wave suppression.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CostStore: Send + Sync + std::fmt::Debug {
    /// Claims like [`super::DeliveryStore::claim_pending`], in one transaction that
    /// locks the campaign row and takes pending deliveries in id order only while the
    /// campaign's spend plus reservations plus each one's cost stays within its budget
    /// (all fit when it has none), reserving each one's cost.
    async fn claim_metered(&self, claim: &MeteredClaim, now: DateTime<Utc>)
        -> Result<MeteredBatch>;

    /// Sets (or, with `None`, removes) the campaign's spend cap.
    async fn set_budget(&self, campaign: CampaignId, budget: Option<Money>) -> Result<()>;

    /// Suppresses (reason `opened`) the round's pending deliveries to recipients who have
    /// opened their link. Returns how many.
    async fn suppress_opened(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64>;

    /// Recorded spend by round and channel.
    async fn recorded_spend(&self, campaign: CampaignId) -> Result<Vec<RecordedSpend>>;

    /// Opens measured on every other campaign's sent first-round emails.
    async fn measured_opens(&self, except: CampaignId) -> Result<MeasuredOpens>;
}
