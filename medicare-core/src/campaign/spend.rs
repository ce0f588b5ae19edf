//! Spending: the strategy comparison a preview shows, the spend cap, the `email_first`
//! second wave, and spent versus estimated per round and channel.
//!
//! A campaign with a budget is sent through metered claims ([`crate::store::CostStore`]):
//! each claim reserves its deliveries' cost under the campaign row's lock, so no number
//! of senders together can spend past the cap, and a send that reaches it stops before
//! the message that would cross it, leaving the rest pending. Raising the cap
//! ([`Engine::set_budget`]) and sending again resumes where it stopped, nothing twice.

use super::strategy::{DEFAULT_OPEN_RATE_PERCENT, DEFAULT_SECOND_WAVE_HOURS, SECOND_WAVE_ROUND};
use super::{
    Campaign, CampaignId, CampaignRequest, CampaignState, DeliveryCount, DeliveryStatus, Engine,
    Reach, SendObserver, SendOptions, SendReport, Strategy, StrategyEstimate,
};
use crate::error::{Error, Result};
use crate::notify::{Channel, Money, Prices};
use crate::store::RecordedSpend;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Instant;

/// The longest second-wave delay: 60 days.
const MAX_SECOND_WAVE_HOURS: u32 = 60 * 24;

/// The second-wave delay a request asks for, checked: `email_first` only, 1 hour to 60
/// days, and shorter than the links' lifetime.
pub(super) fn second_wave_hours(
    strategy: Strategy,
    request: &CampaignRequest,
) -> Result<Option<u32>> {
    if strategy != Strategy::EmailFirst {
        return match request.second_wave_hours {
            Some(_) => Err(Error::invalid(
                "second wave delay",
                "only an email_first campaign has a second wave",
            )),
            None => Ok(None),
        };
    }
    let hours = request
        .second_wave_hours
        .unwrap_or(DEFAULT_SECOND_WAVE_HOURS);
    if hours == 0 || hours > MAX_SECOND_WAVE_HOURS {
        return Err(Error::invalid(
            "second wave delay",
            format!("must be between 1 and {MAX_SECOND_WAVE_HOURS} hours"),
        ));
    }
    if chrono::Duration::hours(hours.into()) >= request.link_ttl {
        return Err(Error::invalid(
            "second wave delay",
            "must be shorter than the links' lifetime, or the second wave would send dead links",
        ));
    }
    Ok(Some(hours))
}

/// Where the second-wave open rate a preview assumes comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum OpenRateSource {
    /// Set by the operator (`second_wave_open_rate` in the configuration).
    Configured,
    /// Measured on other campaigns: of the recipients sent a first-round email, how many
    /// opened their link (at any time).
    Measured {
        /// Recipients emailed.
        emailed: u64,
        /// Of them, opened.
        opened: u64,
    },
    /// Neither: [`DEFAULT_OPEN_RATE_PERCENT`].
    Default,
}

/// The chosen strategy's estimate beside `both`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CostComparison {
    /// The campaign's strategy, priced.
    pub chosen: StrategyEstimate,
    /// `both`, priced.
    pub both: StrategyEstimate,
    /// What the chosen strategy saves on `both` (negative: costs more).
    pub saving: Money,
    /// Assumed: the share of an `email_first` second wave's recipients who will have
    /// opened their email's link by then (percent).
    pub open_rate_percent: u32,
    /// Where that share comes from.
    pub open_rate_source: OpenRateSource,
    /// Assumed: the prices.
    pub prices: Prices,
}

impl CostComparison {
    /// `both` and `email_first` priced for `reach` on this comparison's assumptions, in
    /// that order: what the operator chooses between when a campaign has both channels.
    pub fn both_and_email_first(&self, reach: &Reach) -> [StrategyEstimate; 2] {
        [Strategy::Both, Strategy::EmailFirst]
            .map(|s| reach.estimate(s, &self.prices, self.open_rate_percent))
    }
}

/// What kind of round a round is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundKind {
    /// The first send.
    First,
    /// An `email_first` campaign's SMS second wave.
    SecondWave,
    /// A reminder.
    Reminder,
}

impl RoundKind {
    /// The kind of `round` in `campaign`.
    pub fn of(campaign: &Campaign, round: i32) -> RoundKind {
        match round {
            0 => RoundKind::First,
            SECOND_WAVE_ROUND if campaign.strategy == Strategy::EmailFirst => RoundKind::SecondWave,
            _ => RoundKind::Reminder,
        }
    }
}

/// Spent versus estimated, for one channel in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RoundSpend {
    /// The round.
    pub round: i32,
    /// What kind of round.
    pub kind: RoundKind,
    /// The channel.
    pub channel: Channel,
    /// The planned deliveries still to send or sent (not suppressed, not failed), at
    /// today's prices.
    pub estimated: Money,
    /// What the sent messages cost, at the prices in force when they went.
    pub spent: Money,
    /// Held for messages in flight under a spend cap.
    pub reserved: Money,
    /// Sent messages with a recorded cost.
    pub messages: u64,
    /// Their segments (SMS).
    pub segments: u64,
}

/// Where a send stopped because the next message would have crossed the spend cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpendCap {
    /// The cap.
    pub budget: Money,
    /// Spent and reserved by the campaign when the send stopped.
    pub committed: Money,
    /// Deliveries of the round left pending (raise the cap and send again).
    pub left_pending: u64,
}

/// Spent versus estimated per round and channel, from the delivery counts and the
/// recorded spend.
pub(super) fn round_spend(
    campaign: &Campaign,
    counts: &[DeliveryCount],
    recorded: &[RecordedSpend],
    prices: &Prices,
) -> Vec<RoundSpend> {
    let mut keys: Vec<(i32, Channel)> = counts
        .iter()
        .map(|c| (c.round, c.channel))
        .chain(recorded.iter().map(|r| (r.round, r.channel)))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(round, channel)| {
            let live = counts.iter().filter(|c| {
                c.round == round
                    && c.channel == channel
                    && matches!(
                        c.status,
                        DeliveryStatus::Pending | DeliveryStatus::Sending | DeliveryStatus::Sent
                    )
            });
            let (messages, segments) = live.fold((0, 0), |(m, s), c| (m + c.count, s + c.segments));
            let estimated = match channel {
                Channel::Sms => prices.estimate(segments, 0),
                Channel::Email => prices.estimate(0, messages),
            };
            let spent = recorded
                .iter()
                .find(|r| r.round == round && r.channel == channel);
            RoundSpend {
                round,
                kind: RoundKind::of(campaign, round),
                channel,
                estimated,
                spent: spent.map_or(Money(0), |r| r.spent),
                reserved: spent.map_or(Money(0), |r| r.reserved),
                messages: spent.map_or(0, |r| r.messages),
                segments: spent.map_or(0, |r| r.segments),
            }
        })
        .collect()
}

impl Engine {
    /// The price of one unit on `channel` now: an SMS segment or an email.
    pub(super) fn unit_price(&self, channel: Channel) -> Money {
        match channel {
            Channel::Sms => self.prices.sms_segment,
            Channel::Email => self.prices.email,
        }
    }

    /// The open rate previews assume, and where it comes from.
    async fn open_rate(&self, campaign: CampaignId) -> Result<(u32, OpenRateSource)> {
        if let Some(percent) = self.open_rate_percent {
            return Ok((percent.min(100), OpenRateSource::Configured));
        }
        let measured = self.store.measured_opens(campaign).await?;
        if measured.emailed == 0 {
            return Ok((DEFAULT_OPEN_RATE_PERCENT, OpenRateSource::Default));
        }
        let percent = (measured.opened * 100 + measured.emailed / 2) / measured.emailed;
        Ok((
            u32::try_from(percent.min(100)).unwrap_or(100),
            OpenRateSource::Measured {
                emailed: measured.emailed,
                opened: measured.opened,
            },
        ))
    }

    /// The campaign's strategy priced beside `both` (`None` without a counted reach).
    pub async fn cost_comparison(&self, campaign: &Campaign) -> Result<Option<CostComparison>> {
        let Some(reach) = campaign.reach else {
            return Ok(None);
        };
        let (open_rate_percent, open_rate_source) = self.open_rate(campaign.id).await?;
        let chosen = reach.estimate(campaign.strategy, &self.prices, open_rate_percent);
        let both = reach.estimate(Strategy::Both, &self.prices, open_rate_percent);
        Ok(Some(CostComparison {
            saving: Money(both.total.0 - chosen.total.0),
            chosen,
            both,
            open_rate_percent,
            open_rate_source,
            prices: self.prices,
        }))
    }

    /// Spent versus estimated, per round and channel.
    pub async fn spend(&self, id: CampaignId) -> Result<Vec<RoundSpend>> {
        // Three independent reads, each on a connection of its own.
        let (campaign, counts, recorded) = futures::try_join!(
            self.store.campaign(id),
            self.store.delivery_counts(id),
            self.store.recorded_spend(id)
        )?;
        Ok(round_spend(&campaign, &counts, &recorded, &self.prices))
    }

    /// Sets (or, with `None`, removes) a campaign's spend cap. A send stopped by the cap
    /// resumes when it is sent again.
    pub async fn set_budget(&self, id: CampaignId, budget: Option<Money>) -> Result<Campaign> {
        let campaign = self.store.campaign(id).await?;
        if campaign.state == CampaignState::Cancelled {
            return Err(Error::Conflict(format!(
                "campaign {id} is cancelled; nothing more is sent"
            )));
        }
        self.store.set_budget(id, budget).await?;
        tracing::info!(campaign = id.0, budget = ?budget.map(|b| b.0), "budget set");
        self.store.campaign(id).await
    }

    /// When an `email_first` campaign's second wave may go: its delay after the first
    /// send's last recorded delivery (or the campaign's creation, if none was).
    pub async fn second_wave_due(&self, campaign: &Campaign) -> Result<DateTime<Utc>> {
        let Some(hours) = campaign
            .second_wave_hours
            .filter(|_| campaign.strategy == Strategy::EmailFirst)
        else {
            return Err(Error::Conflict(format!(
                "campaign {} is {}: only an email_first campaign has a second wave",
                campaign.id, campaign.strategy
            )));
        };
        let rounds = self.store.rounds(campaign.id).await?;
        let first = rounds
            .iter()
            .find(|r| r.round == 0)
            .and_then(|r| r.last_activity)
            .unwrap_or(campaign.created_at);
        Ok(first + chrono::Duration::hours(hours.into()))
    }

    /// Sends (or resumes) an `email_first` campaign's SMS second wave, once it is due, to
    /// the recipients with a usable email who have neither opened their link nor
    /// answered; the others' second-wave SMS end suppressed (`opened`, `responded`).
    pub async fn send_second_wave(
        &self,
        id: CampaignId,
        options: &SendOptions,
        observer: &dyn SendObserver,
    ) -> Result<SendReport> {
        let started = Instant::now();
        let campaign = self.store.campaign(id).await?;
        let due = self.second_wave_due(&campaign).await?;
        if campaign.state != CampaignState::Sent {
            return Err(Error::Conflict(format!(
                "campaign {id} is {}; the second wave follows a completed first send",
                campaign.state
            )));
        }
        self.check_can_send(&campaign, options)?;
        let now = self.clock.now();
        if now < due {
            return Err(Error::Conflict(format!(
                "campaign {id}: the second wave may go from {}",
                due.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        if now >= campaign.link_expires_at {
            return Err(Error::Conflict(format!(
                "the links of campaign {id} have expired; a second wave would not help"
            )));
        }
        self.send_round(&campaign, SECOND_WAVE_ROUND, options, observer, started)
            .await
    }
}
