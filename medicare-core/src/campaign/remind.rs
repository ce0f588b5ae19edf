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
use crate::store::RoundInfo;
use chrono::{DateTime, Utc};
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

/// Why a reminder cannot go now ([`ReminderOutlook::blocked`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ReminderBlock {
    /// The first send has not completed: reminders follow it.
    NotSent {
        /// The campaign's state.
        state: CampaignState,
    },
    /// An `email_first` campaign's second wave still has deliveries to send.
    SecondWaveFirst {
        /// The second wave's round.
        round: i32,
        /// Its deliveries still to send.
        unfinished: u64,
    },
    /// The campaign's links have expired.
    LinksExpired,
    /// Every reminder round the policy allows has been planned.
    NoRoundsLeft {
        /// The policy's limit.
        max_reminders: u32,
    },
    /// The minimum gap since the last round has not passed.
    TooSoon {
        /// When the next reminder may go.
        available_from: DateTime<Utc>,
        /// The policy's minimum gap, in hours.
        min_gap_hours: i64,
    },
}

impl ReminderBlock {
    /// The engine's refusal of campaign `id` for this reason.
    fn error(&self, id: CampaignId) -> Error {
        Error::Conflict(match self {
            ReminderBlock::NotSent { state } => {
                format!("campaign {id} is {state}; reminders follow a completed first send")
            }
            ReminderBlock::SecondWaveFirst { round, unfinished } => format!(
                "campaign {id}: send its second wave first ({unfinished} deliveries of round {round} to go)"
            ),
            ReminderBlock::LinksExpired => {
                format!("the links of campaign {id} have expired; a reminder would not help")
            }
            ReminderBlock::NoRoundsLeft { max_reminders } => {
                format!("campaign {id} has had its {max_reminders} reminder rounds")
            }
            ReminderBlock::TooSoon {
                available_from,
                min_gap_hours,
            } => format!(
                "campaign {id}: the next reminder may go from {} (minimum gap {min_gap_hours} hours)",
                available_from.format("%Y-%m-%d %H:%M UTC"),
            ),
        })
    }
}

/// Whether a reminder can go now, and the rules it is held to: what
/// [`Engine::remind`] would do if called now, without doing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReminderOutlook {
    /// Reminder rounds the policy allows.
    pub max_reminders: u32,
    /// The least time between rounds, in hours.
    pub min_gap_hours: i64,
    /// Reminder rounds planned so far.
    pub rounds_done: u32,
    /// The round a reminder now would plan (or resume).
    pub next_round: i32,
    /// True when that round was interrupted and would be resumed.
    pub resumes: bool,
    /// Why it cannot go now (`None`: it can).
    pub blocked: Option<ReminderBlock>,
}

/// The reminder rules applied to a campaign's rounds at one moment, in the order
/// [`Engine::plan_reminder`] checks them.
struct RoundRules {
    /// What stops any new or resumed round (state, second wave, expiry).
    before: Option<ReminderBlock>,
    /// The earliest reminder round with deliveries still to send.
    unfinished: Option<i32>,
    /// The next new round.
    fresh: i32,
    /// What stops that new round (the limit, the gap).
    fresh_block: Option<ReminderBlock>,
    /// Reminder rounds planned so far.
    done: u32,
}

impl RoundRules {
    fn of(
        campaign: &Campaign,
        rounds: &[RoundInfo],
        policy: &ReminderPolicy,
        now: DateTime<Utc>,
    ) -> Self {
        let first_reminder = first_reminder_round(campaign);
        let second_wave = rounds
            .iter()
            .find(|r| RoundKind::of(campaign, r.round) == RoundKind::SecondWave)
            .filter(|r| r.unfinished > 0);
        let before = if campaign.state != CampaignState::Sent {
            Some(ReminderBlock::NotSent {
                state: campaign.state,
            })
        } else if let Some(wave) = second_wave {
            Some(ReminderBlock::SecondWaveFirst {
                round: wave.round,
                unfinished: wave.unfinished,
            })
        } else if now >= campaign.link_expires_at {
            Some(ReminderBlock::LinksExpired)
        } else {
            None
        };
        let previous = rounds.last();
        let fresh = previous.map_or(1, |r| r.round + 1).max(first_reminder);
        let fresh_block = if campaign.strategy.text_round(fresh) as u32 > policy.max_reminders {
            Some(ReminderBlock::NoRoundsLeft {
                max_reminders: policy.max_reminders,
            })
        } else {
            previous
                .and_then(|r| r.last_activity)
                .map(|at| at + policy.min_gap)
                .filter(|allowed| now < *allowed)
                .map(|available_from| ReminderBlock::TooSoon {
                    available_from,
                    min_gap_hours: policy.min_gap.num_hours(),
                })
        };
        RoundRules {
            before,
            unfinished: rounds
                .iter()
                .find(|r| r.round >= first_reminder && r.unfinished > 0)
                .map(|r| r.round),
            fresh,
            fresh_block,
            done: rounds.iter().filter(|r| r.round >= first_reminder).count() as u32,
        }
    }

    /// What a call without a round number would do.
    fn outlook(self, policy: &ReminderPolicy) -> ReminderOutlook {
        let (next_round, resumes, blocked) = match (self.before, self.unfinished) {
            (Some(block), _) => (self.unfinished.unwrap_or(self.fresh), false, Some(block)),
            (None, Some(round)) => (round, true, None),
            (None, None) => (self.fresh, false, self.fresh_block),
        };
        ReminderOutlook {
            max_reminders: policy.max_reminders,
            min_gap_hours: policy.min_gap.num_hours(),
            rounds_done: self.done,
            next_round,
            resumes,
            blocked,
        }
    }
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
    /// Whether campaign `id` can have a reminder now under `policy`, and why not: the
    /// checks [`Engine::remind`] makes, without planning or sending anything (it does
    /// not check that a notifier is configured).
    pub async fn reminder_outlook(
        &self,
        id: CampaignId,
        policy: &ReminderPolicy,
    ) -> Result<ReminderOutlook> {
        let campaign = self.store.campaign(id).await?;
        let rounds = self.store.rounds(id).await?;
        Ok(RoundRules::of(&campaign, &rounds, policy, self.clock.now()).outlook(policy))
    }

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
        let now = self.clock.now();
        let rounds = self.store.rounds(id).await?;
        let rules = RoundRules::of(&campaign, &rounds, policy, now);
        if let Some(block @ ReminderBlock::NotSent { .. }) = &rules.before {
            return Err(block.error(id));
        }
        self.check_can_send(&campaign, options)?;
        if let Some(block @ ReminderBlock::SecondWaveFirst { .. }) = &rules.before {
            return Err(block.error(id));
        }
        let first_reminder = first_reminder_round(&campaign);
        if let Some(existing) =
            round.and_then(|n| rounds.iter().find(|r| r.round == n && n >= first_reminder))
        {
            return Ok(PlannedReminder {
                round: existing.round,
                resumed: true,
                non_respondents: existing.recipients,
            });
        }
        if let Some(block) = &rules.before {
            return Err(block.error(id));
        }
        // The earliest reminder round with deliveries still to send is resumed first.
        let (next, resumed) = match rules.unfinished {
            Some(r) if round.is_none() => (r, true),
            _ => {
                if round.is_some_and(|n| n != rules.fresh) {
                    return Err(Error::invalid(
                        "reminder round",
                        format!("campaign {id}: the next reminder round is {}", rules.fresh),
                    ));
                }
                if let Some(block) = &rules.fresh_block {
                    return Err(block.error(id));
                }
                (rules.fresh, false)
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
