//! The campaign dashboard's figures: send progress per channel and the funnel
//! (recipients → reached → opened → responded), read through the engine's own status
//! and the store's tracking counts. Counts only: no patient appears here.
//!
//! The page shows a [`Board`]; its script fetches the same [`Board`] as JSON to keep the
//! numbers live while a send runs.

use crate::campaign::{CampaignId, CampaignState, Engine};
use crate::error::Result;
use crate::store::TrackingCounts;
use serde::Serialize;

/// One channel's progress through the first round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelProgress {
    /// `sms` or `email`.
    pub channel: String,
    /// Deliveries in all.
    pub total: u64,
    /// Accepted by the provider.
    pub sent: u64,
    /// Given up.
    pub failed: u64,
    /// Never attempted (opted out, no contact).
    pub suppressed: u64,
    /// Still to send (waiting or in flight).
    pub remaining: u64,
    /// Finished (sent, failed or suppressed) out of the total, 0 to 100, rounded down.
    pub percent: u64,
    /// Suppressed deliveries by reason (`opted_out`, `no_phone`...).
    pub suppressed_reasons: Vec<(String, u64)>,
    /// Failed deliveries by reason.
    pub failed_reasons: Vec<(String, u64)>,
}

/// What the dashboard shows for one campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    /// The campaign's id.
    pub id: CampaignId,
    /// Its name.
    pub name: String,
    /// Its state (`draft`, `sending`, `sent`, `cancelled`).
    pub state: CampaignState,
    /// Per channel progress.
    pub channels: Vec<ChannelProgress>,
    /// The funnel.
    pub funnel: TrackingCounts,
    /// Responded over recipients, in whole percent.
    pub response_percent: u64,
    /// True once nothing of the first round is left to send.
    pub complete: bool,
}

/// `part` of `whole` in whole percent (0 when `whole` is 0).
fn percent(part: u64, whole: u64) -> u64 {
    (part.saturating_mul(100)).checked_div(whole).unwrap_or(0)
}

/// The dashboard's figures for campaign `id`.
pub async fn board(engine: &Engine, id: CampaignId) -> Result<Board> {
    let status = engine.status(id).await?;
    let funnel = engine.store().tracking_counts(id).await?;
    let channels: Vec<ChannelProgress> = status
        .channels
        .iter()
        .map(|s| {
            let finished = s.sent + s.failed + s.suppressed;
            ChannelProgress {
                channel: s.channel.map_or("unknown", |c| c.as_str()).to_string(),
                total: s.total,
                sent: s.sent,
                failed: s.failed,
                suppressed: s.suppressed,
                remaining: s.pending + s.sending,
                percent: percent(finished, s.total),
                suppressed_reasons: s.suppressed_reasons.clone().into_iter().collect(),
                failed_reasons: s.failed_reasons.clone().into_iter().collect(),
            }
        })
        .collect();
    Ok(Board {
        id,
        name: status.campaign.name.clone(),
        state: status.campaign.state,
        complete: status.channels.iter().all(|s| s.is_complete()),
        response_percent: percent(funnel.responded, funnel.recipients),
        channels,
        funnel,
    })
}
