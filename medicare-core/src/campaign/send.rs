//! Sending a campaign: paced, retried, recorded, resumable.
//!
//! Each channel runs its own worker, so a slow channel (SES at 1/s in the sandbox) never
//! holds up a fast one. A worker repeatedly claims a batch of pending deliveries (marking
//! them `sending`), sends them with bounded concurrency, each paced by the channel's rate
//! limiter and retried with exponential backoff and full jitter while the error is
//! retryable, flushes the notifier, and records every outcome in one transaction.
//!
//! Exactly-once where it can be had, at-least-once where it cannot: a killed send leaves
//! at most one batch per channel in `sending` (accepted by the provider or not, nobody
//! knows). The next send returns those to `pending`, sends them again and reports how
//! many there were ([`SendReport::requeued_in_flight`]): the crash window is bounded by
//! the batch size, which is the concurrency.

use super::engine::{human_date, Templates};
use super::{
    Campaign, CampaignId, CampaignState, ChannelSummary, DeliveryOutcome, DeliveryStatus, Engine,
    PendingDelivery, Shard,
};
use crate::error::{Error, Result};
use crate::notify::{Channel, MessageValues, Notifier, NotifyError, OutboundMessage};
use futures::{StreamExt, TryFutureExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a send is paced and retried.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Messages in flight per channel, and the size of each claimed batch (so also the
    /// most a crash can leave unrecorded per channel). A rate-limited channel claims at
    /// most one second's worth at a time, so its crash window is also at most one second
    /// of sending.
    pub concurrency: usize,
    /// Messages per second per channel; a channel not named is not limited.
    pub rate_limits: BTreeMap<Channel, NonZeroU32>,
    /// Attempts per message before it is recorded as failed (retryable errors only).
    pub max_attempts: u32,
    /// The first backoff; each retry doubles it, up to `max_backoff`, with full jitter.
    pub base_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// Send only this shard's recipients (absent: all of them), so that several
    /// processes or Lambda invocations can split one campaign.
    pub shard: Option<Shard>,
    /// Absent (the default): this is the campaign's only sender, so a delivery found
    /// `sending` at the start was left by a send that died, and goes back to the queue.
    /// Present: other senders may be working the same campaign (claims never overlap,
    /// so that is safe), and only claims older than this lease are presumed dead. Make it
    /// longer than a batch can take to send, retries included.
    pub in_flight_lease: Option<Duration>,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            concurrency: 1024,
            rate_limits: BTreeMap::new(),
            max_attempts: 10,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            shard: None,
            in_flight_lease: None,
        }
    }
}

/// Told about a send's progress (progress bars, logs). Every method has a no-op default.
pub trait SendObserver: Send + Sync {
    /// A channel's worker starts with `to_send` deliveries to go.
    fn started(&self, _channel: Channel, _to_send: u64) {}
    /// A batch was recorded: `sent` and `failed` are the batch's counts.
    fn recorded(&self, _channel: Channel, _sent: u64, _failed: u64) {}
}

impl SendObserver for () {}

/// What a send did.
#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    /// The campaign.
    pub campaign: CampaignId,
    /// The round sent (0: first send).
    pub round: i32,
    /// Deliveries an interrupted earlier send had left in flight, sent again now: each
    /// may have reached its patient twice.
    pub requeued_in_flight: u64,
    /// Sent by this call, per channel.
    pub sent: BTreeMap<Channel, u64>,
    /// Failed in this call, per channel.
    pub failed: BTreeMap<Channel, u64>,
    /// Retries this call made (attempts beyond the first).
    pub retries: u64,
    /// The round's standing afterwards, per channel.
    pub channels: Vec<ChannelSummary>,
    /// Wall time of this call.
    pub elapsed: Duration,
}

struct Worker<'a> {
    engine: &'a Engine,
    campaign: CampaignId,
    round: i32,
    channel: Channel,
    notifier: Arc<dyn Notifier>,
    limiter: Option<DefaultDirectRateLimiter>,
    templates: &'a Templates,
    form_title: &'a str,
    org: &'a str,
    expires_on: &'a str,
    options: &'a SendOptions,
}

#[derive(Default)]
struct WorkerTally {
    sent: u64,
    failed: u64,
    retries: u64,
}

impl Engine {
    /// Sends the campaign's first round, or resumes an interrupted send. Each
    /// (recipient, channel) ends sent, failed (with a reason) or suppressed.
    pub async fn send(
        &self,
        id: CampaignId,
        options: &SendOptions,
        observer: &dyn SendObserver,
    ) -> Result<SendReport> {
        let started = Instant::now();
        let campaign = self.store.campaign(id).await?;
        self.check_can_send(&campaign, options)?;
        self.store
            .set_campaign_state(
                id,
                &[CampaignState::Draft, CampaignState::Sending],
                CampaignState::Sending,
            )
            .await?;
        let report = self
            .send_round(&campaign, 0, options, observer, started)
            .await?;
        if report.channels.iter().all(ChannelSummary::is_complete) {
            // Senders working one campaign together finish together: any of them may
            // have marked it sent already.
            self.store
                .set_campaign_state(
                    id,
                    &[CampaignState::Sending, CampaignState::Sent],
                    CampaignState::Sent,
                )
                .await?;
        }
        Ok(report)
    }

    /// Checks that every channel of `campaign` has a notifier and the options are usable.
    pub(super) fn check_can_send(&self, campaign: &Campaign, options: &SendOptions) -> Result<()> {
        if options.concurrency == 0 || options.max_attempts == 0 {
            return Err(Error::invalid(
                "send options",
                "concurrency and attempts must be at least 1",
            ));
        }
        let missing: Vec<&str> = campaign
            .channels
            .iter()
            .filter(|c| !self.notifiers.contains_key(c))
            .map(|c| c.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "no notifier configured for {}",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// Sends (or resumes) one round of a campaign: the first send is round 0, reminders
    /// are 1 and up. Same pacing, retries and recording for every round.
    pub(super) async fn send_round(
        &self,
        campaign: &Campaign,
        round: i32,
        options: &SendOptions,
        observer: &dyn SendObserver,
        started: Instant,
    ) -> Result<SendReport> {
        let id = campaign.id;
        let claimed_before = match options.in_flight_lease {
            None => None,
            Some(lease) => Some(
                self.clock.now()
                    - chrono::Duration::from_std(lease).map_err(|_| {
                        Error::invalid("send options", "the in-flight lease is too long")
                    })?,
            ),
        };
        let requeued_in_flight = self
            .store
            .requeue_in_flight(id, round, options.shard, claimed_before)
            .await?;
        if requeued_in_flight > 0 {
            tracing::warn!(
                campaign = id.0,
                round,
                requeued_in_flight,
                "resuming an interrupted send: these deliveries may reach their patients twice"
            );
        }

        let form = self.store.form(campaign.form_id).await?;
        let templates = Templates::parse(&campaign.messages, &campaign.channels)?;
        let expires_on = human_date(campaign.link_expires_at);
        let before =
            ChannelSummary::from_counts(campaign, &self.store.delivery_counts(id).await?, round);

        let workers = campaign.channels.iter().map(|&channel| {
            let worker = Worker {
                engine: self,
                campaign: id,
                round,
                channel,
                notifier: self.notifiers[&channel].clone(),
                limiter: options.rate_limits.get(&channel).map(|&per_second| {
                    RateLimiter::direct(Quota::per_second(per_second).allow_burst(NonZeroU32::MIN))
                }),
                templates: &templates,
                form_title: &form.spec.title,
                org: &campaign.messages.org,
                expires_on: &expires_on,
                options,
            };
            let to_send = before
                .iter()
                .find(|s| s.channel == Some(channel))
                .map_or(0, |s| s.pending + s.sending);
            observer.started(channel, to_send);
            async move { worker.run(observer).map_ok(|tally| (channel, tally)).await }
        });
        let tallies = futures::future::try_join_all(workers).await?;

        let counts = self.store.delivery_counts(id).await?;
        let channels = ChannelSummary::from_counts(campaign, &counts, round);
        let report = SendReport {
            campaign: id,
            round,
            requeued_in_flight,
            sent: tallies.iter().map(|(c, t)| (*c, t.sent)).collect(),
            failed: tallies.iter().map(|(c, t)| (*c, t.failed)).collect(),
            retries: tallies.iter().map(|(_, t)| t.retries).sum(),
            channels,
            elapsed: started.elapsed(),
        };
        tracing::info!(campaign = id.0, round, sent = ?report.sent, failed = ?report.failed, "send finished");
        Ok(report)
    }
}

impl Worker<'_> {
    async fn run(self, observer: &dyn SendObserver) -> Result<WorkerTally> {
        let mut tally = WorkerTally::default();
        let mut batch_size = u32::try_from(self.options.concurrency).unwrap_or(u32::MAX);
        if let Some(per_second) = self.options.rate_limits.get(&self.channel) {
            batch_size = batch_size.min(per_second.get());
        }
        loop {
            let now = self.engine.clock.now();
            if self.round > 0 {
                // A patient who answered since the round was planned is never reminded.
                self.engine
                    .store
                    .suppress_responded(self.campaign, self.round, now)
                    .await?;
            }
            let claim_started = Instant::now();
            let batch = self
                .engine
                .store
                .claim_pending(
                    self.campaign,
                    self.channel,
                    self.round,
                    self.options.shard,
                    batch_size,
                    now,
                )
                .await?;
            crate::metrics::batch_claimed(self.channel, claim_started.elapsed());
            if batch.is_empty() {
                return Ok(tally);
            }
            // Owned items (not references) keep the stream's future `Send` for any caller.
            let worker = &self;
            let outcomes: Vec<DeliveryOutcome> = futures::stream::iter(batch)
                .map(|d| async move { worker.deliver(&d).await })
                .buffer_unordered(self.options.concurrency)
                .collect()
                .await;
            // A "sent" record must never outrun the transport: flush first. If the flush
            // fails, the batch stays `sending` and the next send resumes it.
            self.notifier.flush().await.map_err(|e| Error::Notify {
                channel: self.channel.to_string(),
                message: e.to_string(),
            })?;
            let record_started = Instant::now();
            self.engine
                .store
                .record_outcomes(&outcomes, self.engine.clock.now())
                .await?;
            crate::metrics::batch_record_time(self.channel, record_started.elapsed());
            let (mut sent, mut failed, mut retries) = (0, 0, 0);
            for o in &outcomes {
                retries += u64::from(o.attempts.saturating_sub(1));
                if o.status == DeliveryStatus::Sent {
                    sent += 1;
                } else {
                    failed += 1;
                }
            }
            tally.retries += retries;
            crate::metrics::batch_recorded(self.channel, sent, failed, retries);
            tally.sent += sent;
            tally.failed += failed;
            observer.recorded(self.channel, sent, failed);
        }
    }

    fn message(&self, d: &PendingDelivery, to: &str) -> OutboundMessage {
        let link = self
            .engine
            .signer
            .url(&self.engine.signer.token(&d.link_nonce));
        let values = MessageValues {
            link: &link,
            org: self.org,
            given_name: &d.given_name,
            form_title: self.form_title,
            expires_on: self.expires_on,
        };
        let (subject, text, html) = match self.channel {
            Channel::Sms => (None, self.templates.sms.render(&values), None),
            Channel::Email => (
                Some(self.templates.subject.render(&values)),
                self.templates.text.render(&values),
                Some(self.templates.html.render(&values)),
            ),
        };
        OutboundMessage {
            delivery_id: d.id,
            campaign_id: self.campaign.0,
            recipient_id: d.recipient_id,
            channel: self.channel,
            round: self.round,
            to: to.to_string(),
            subject,
            text,
            html,
        }
    }

    async fn deliver(&self, d: &PendingDelivery) -> DeliveryOutcome {
        let outcome = |status, detail: String, attempts| DeliveryOutcome {
            id: d.id,
            status,
            detail,
            attempts,
        };
        let Some(to) = d.address.as_deref() else {
            return outcome(
                DeliveryStatus::Failed,
                format!("no {} address", self.channel),
                0,
            );
        };
        let message = self.message(d, to);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(limiter) = &self.limiter {
                limiter.until_ready().await;
            }
            let call_started = Instant::now();
            let result = self.notifier.send(&message).await;
            crate::metrics::provider_call(
                self.channel,
                call_started.elapsed(),
                matches!(result, Err(NotifyError::Throttled { .. })),
            );
            match result {
                Ok(provider_id) => return outcome(DeliveryStatus::Sent, provider_id, attempt),
                Err(e) if e.is_retryable() && attempt < self.options.max_attempts => {
                    tracing::debug!(delivery = d.id, attempt, error = %e, "retrying");
                    tokio::time::sleep(self.backoff(attempt, &e)).await;
                }
                Err(e) => {
                    let detail = if e.is_retryable() {
                        format!("gave up after {attempt} attempts: {e}")
                    } else {
                        e.to_string()
                    };
                    tracing::warn!(delivery = d.id, recipient = d.recipient_id, channel = %self.channel, reason = %detail, "delivery failed");
                    return outcome(DeliveryStatus::Failed, detail, attempt);
                }
            }
        }
    }

    /// Exponential backoff with full jitter, never shorter than the provider asked.
    fn backoff(&self, attempt: u32, error: &NotifyError) -> Duration {
        let cap = self
            .options
            .base_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.options.max_backoff);
        let jittered = cap.mul_f64(rand::thread_rng().gen_range(0.0..=1.0));
        match error {
            NotifyError::Throttled {
                retry_after: Some(after),
                ..
            } => jittered.max(*after),
            _ => jittered,
        }
    }
}
