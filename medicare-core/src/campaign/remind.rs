//! Reminders: the follow-up rounds of a sent campaign.
//!
//! A reminder round materialises the campaign's current non-respondents (who, and why:
//! never opened, or opened without answering) into the `non_respondents` table, plans one
//! delivery per channel for each of them, and sends those with the same worker as the
//! first send: rate limits, retries with backoff and jitter, per-delivery records, resume
//! after a kill. A patient who answers is never reminded again, not even one whose round
//! was planned before they answered (their pending reminder is suppressed as
//! `responded`). At most [`MAX_REMINDERS`] rounds per campaign, and at least
//! [`ReminderPolicy::min_gap`] between the end of one round and the start of the next.

use super::spend::RoundKind;
use super::{
    Campaign, CampaignId, CampaignState, Engine, SendObserver, SendOptions, SendReport, Strategy,
    SECOND_WAVE_ROUND,
};
use crate::error::{Error, Result};
use serde::Serialize;
use std::time::Instant;

/// The most reminder rounds a campaign can have.
pub const MAX_REMINDERS: u32 = 5;

/// How often reminders may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderPolicy {
    /// Reminder rounds allowed per campaign (1 to [`MAX_REMINDERS`]).
    pub max_reminders: u32,
    /// The least time between the last recorded delivery of a round and the next round.
    pub min_gap: chrono::Duration,
}

impl Default for ReminderPolicy {
    fn default() -> Self {
        ReminderPolicy {
            max_reminders: MAX_REMINDERS,
            min_gap: chrono::Duration::days(3),
        }
    }
}

/// What a reminder call did.
#[derive(Debug, Clone, Serialize)]
pub struct RemindReport {
    /// The round (1: the first reminder).
    pub round: i32,
    /// True when this call resumed an interrupted round rather than planning a new one.
    pub resumed: bool,
    /// Non-respondents materialised for the round.
    pub non_respondents: u64,
    /// The send of the round.
    pub send: SendReport,
}

/// A reminder round planned (or found already planned) and ready to send, shard by shard
/// if need be ([`Engine::send_reminder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlannedReminder {
    /// The round (1: the first reminder).
    pub round: i32,
    /// True when the round had been planned before (an interrupted or repeated call).
    pub resumed: bool,
    /// Non-respondents the round covers.
    pub non_respondents: u64,
}

impl Engine {
    /// Plans and sends the next reminder round of a sent campaign to its non-respondents
    /// only, or resumes a round that was interrupted.
    pub async fn remind(
        &self,
        id: CampaignId,
        policy: &ReminderPolicy,
        options: &SendOptions,
        observer: &dyn SendObserver,
    ) -> Result<RemindReport> {
        let started = Instant::now();
        let planned = self.plan_reminder(id, None, policy, options).await?;
        let campaign = self.store.campaign(id).await?;
        let send = self
            .send_round(&campaign, planned.round, options, observer, started)
            .await?;
        Ok(RemindReport {
            round: planned.round,
            resumed: planned.resumed,
            non_respondents: planned.non_respondents,
            send,
        })
    }

    /// Plans a reminder round of a sent campaign without sending it, so that several
    /// senders can then send its shards ([`Engine::send_reminder`]). `round`: `None` is
    /// the next round (or the unfinished one); `Some(n)` is exactly round `n`, and asking
    /// again for a round already planned returns it as it stands (a retried call plans
    /// nothing twice).
    pub async fn plan_reminder(
        &self,
        id: CampaignId,
        round: Option<i32>,
        policy: &ReminderPolicy,
        options: &SendOptions,
    ) -> Result<PlannedReminder> {
        if policy.max_reminders == 0 || policy.max_reminders > MAX_REMINDERS {
            return Err(Error::invalid(
                "reminder policy",
                format!("at most 1 to {MAX_REMINDERS} reminders per campaign"),
            ));
        }
        let campaign = self.store.campaign(id).await?;
        if campaign.state != CampaignState::Sent {
            return Err(Error::Conflict(format!(
                "campaign {id} is {}; reminders follow a completed first send",
                campaign.state
            )));
        }
        self.check_can_send(&campaign, options)?;
        let now = self.clock.now();
        let rounds = self.store.rounds(id).await?;
        let first_reminder = first_reminder_round(&campaign);
        if let Some(wave) = rounds
            .iter()
            .find(|r| RoundKind::of(&campaign, r.round) == RoundKind::SecondWave)
            .filter(|r| r.unfinished > 0)
        {
            return Err(Error::Conflict(format!(
                "campaign {id}: send its second wave first ({} deliveries of round {} to go)",
                wave.unfinished, wave.round
            )));
        }
        if let Some(existing) =
            round.and_then(|n| rounds.iter().find(|r| r.round == n && n >= first_reminder))
        {
            return Ok(PlannedReminder {
                round: existing.round,
                resumed: true,
                non_respondents: existing.recipients,
            });
        }
        if now >= campaign.link_expires_at {
            return Err(Error::Conflict(format!(
                "the links of campaign {id} have expired; a reminder would not help"
            )));
        }
        // The earliest reminder round with deliveries still to send is resumed first.
        let unfinished = rounds
            .iter()
            .find(|r| r.round >= first_reminder && r.unfinished > 0);
        let (next, resumed) = match unfinished {
            Some(r) if round.is_none() => (r.round, true),
            _ => {
                let previous = rounds.last();
                let next = previous.map_or(1, |r| r.round + 1).max(first_reminder);
                if round.is_some_and(|n| n != next) {
                    return Err(Error::invalid(
                        "reminder round",
                        format!("campaign {id}: the next reminder round is {next}"),
                    ));
                }
                if campaign.strategy.text_round(next) as u32 > policy.max_reminders {
                    return Err(Error::Conflict(format!(
                        "campaign {id} has had its {} reminder rounds",
                        policy.max_reminders
                    )));
                }
                if let Some(at) = previous.and_then(|r| r.last_activity) {
                    let allowed = at + policy.min_gap;
                    if now < allowed {
                        return Err(Error::Conflict(format!(
                            "campaign {id}: the next reminder may go from {} (minimum gap {} hours)",
                            allowed.format("%Y-%m-%d %H:%M UTC"),
                            policy.min_gap.num_hours()
                        )));
                    }
                }
                (next, false)
            }
        };
        let non_respondents = self.store.plan_reminder_round(id, next, now).await?;
        tracing::info!(
            campaign = id.0,
            round = next,
            non_respondents,
            resumed,
            "reminder round"
        );
        Ok(PlannedReminder {
            round: next,
            resumed,
            non_respondents,
        })
    }

    /// Sends (or resumes) reminder round `round`, planned by [`Engine::plan_reminder`]:
    /// with [`SendOptions::shard`] and [`SendOptions::in_flight_lease`], one of several
    /// senders working the round together.
    pub async fn send_reminder(
        &self,
        id: CampaignId,
        round: i32,
        options: &SendOptions,
        observer: &dyn SendObserver,
    ) -> Result<SendReport> {
        let started = Instant::now();
        let campaign = self.store.campaign(id).await?;
        self.check_can_send(&campaign, options)?;
        let rounds = self.store.rounds(id).await?;
        if round < first_reminder_round(&campaign) || !rounds.iter().any(|r| r.round == round) {
            return Err(Error::invalid(
                "reminder round",
                format!("campaign {id} has no planned reminder round {round}"),
            ));
        }
        self.send_round(&campaign, round, options, observer, started)
            .await
    }
}

/// The first reminder round of `campaign`: 1, or after an `email_first` second wave.
fn first_reminder_round(campaign: &Campaign) -> i32 {
    match campaign.strategy {
        Strategy::EmailFirst => SECOND_WAVE_ROUND + 1,
        _ => 1,
    }
}
