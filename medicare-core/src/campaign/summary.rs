//! Per-channel summaries of a campaign's deliveries.

use super::{Campaign, DeliveryCount, DeliveryStatus};
use crate::notify::Channel;
use serde::Serialize;
use std::collections::BTreeMap;

/// What happened on one channel in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChannelSummary {
    /// The channel.
    pub channel: Option<Channel>,
    /// Deliveries in all.
    pub total: u64,
    /// Waiting to be sent.
    pub pending: u64,
    /// Claimed, outcome not yet recorded.
    pub sending: u64,
    /// Accepted by the provider.
    pub sent: u64,
    /// Given up (see `failed_reasons`).
    pub failed: u64,
    /// Never attempted (see `suppressed_reasons`).
    pub suppressed: u64,
    /// Suppressed deliveries by reason.
    pub suppressed_reasons: BTreeMap<String, u64>,
    /// Failed deliveries by reason.
    pub failed_reasons: BTreeMap<String, u64>,
    /// SMS segments of the deliveries that are or will be sent (not suppressed/failed).
    pub segments: u64,
    /// Sent deliveries that may have reached the patient more than once (an attempt
    /// timed out or failed with a 5xx after the request went out, or a send was killed
    /// while they were in flight), over every resume.
    pub possible_duplicates: u64,
}

impl ChannelSummary {
    /// Summaries per channel of `campaign` for `round`, from the store's counts.
    pub fn from_counts(
        campaign: &Campaign,
        counts: &[DeliveryCount],
        round: i32,
    ) -> Vec<ChannelSummary> {
        campaign
            .channels
            .iter()
            .map(|&channel| {
                let mut s = ChannelSummary {
                    channel: Some(channel),
                    ..Default::default()
                };
                for c in counts
                    .iter()
                    .filter(|c| c.channel == channel && c.round == round)
                {
                    s.total += c.count;
                    s.possible_duplicates += c.possible_duplicates;
                    let reason = c.reason.clone().unwrap_or_else(|| "unknown".into());
                    match c.status {
                        DeliveryStatus::Pending => s.pending += c.count,
                        DeliveryStatus::Sending => s.sending += c.count,
                        DeliveryStatus::Sent => s.sent += c.count,
                        DeliveryStatus::Failed => {
                            s.failed += c.count;
                            *s.failed_reasons.entry(reason).or_default() += c.count;
                        }
                        DeliveryStatus::Suppressed => {
                            s.suppressed += c.count;
                            *s.suppressed_reasons.entry(reason).or_default() += c.count;
                        }
                    }
                    if matches!(
                        c.status,
                        DeliveryStatus::Pending | DeliveryStatus::Sending | DeliveryStatus::Sent
                    ) {
                        s.segments += c.segments;
                    }
                }
                s
            })
            .collect()
    }

    /// True when nothing is left to send.
    pub fn is_complete(&self) -> bool {
        self.pending == 0 && self.sending == 0
    }
}

/// A campaign and where each channel stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignStatus {
    /// The campaign.
    pub campaign: Campaign,
    /// How many patients were frozen as recipients.
    pub recipients: u64,
    /// The first round, per channel.
    pub channels: Vec<ChannelSummary>,
    /// Every count, by channel, round, status and reason.
    pub counts: Vec<DeliveryCount>,
    /// Spent versus estimated, per round and channel.
    pub spend: Vec<super::RoundSpend>,
}
