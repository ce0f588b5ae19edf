//! Sending a campaign: paced, retried, recorded, resumable.
//!
//! Each channel runs its own worker, so a slow channel (SES at 1/s in the sandbox) never
//! holds up a fast one. A worker is a continuous pipeline: it keeps up to `concurrency`
//! deliveries in flight, claiming more (marking them `sending`) as slots free up, each
//! paced by the channel's [`Pacer`] and retried while the error is retryable, after a
//! wait the whole channel's recent faults decide ([`Backpressure`]: quick while faults
//! are isolated, exponential while the provider refuses most calls). Outcomes are recorded as they complete, grouped into
//! short transactions (after a notifier flush), so a message retrying towards its last
//! attempt holds only its own slot, never a whole batch.
//!
//! Exactly-once where it can be had, at-least-once where it cannot: a killed send leaves
//! in `sending` only what was in flight or completed in the last moments before the
//! kill (accepted by the provider or not, nobody knows). The next send returns those to
//! `pending`, marked as possible duplicates, sends them again and reports how many there
//! were ([`SendReport::requeued_in_flight`]). Each delivery also records its attempts
//! and whether an earlier attempt may have reached the provider (a timeout or 5xx), so
//! the campaign's status counts every possible duplicate over every resume.

use super::backpressure::Backpressure;
use super::engine::{human_date, Templates};
use super::pace::Pacer;
use super::spend::RoundKind;
use super::SpendCap;
use super::{
    Campaign, CampaignId, CampaignState, ChannelSummary, DeliveryOutcome, DeliveryStatus, Engine,
    PendingDelivery, Shard,
};
use crate::audit;
use crate::error::{Error, Result};
use crate::notify::{
    sms_segments, Channel, MessageValues, Money, Notifier, NotifyError, OutboundMessage,
};
use crate::store::{DeliveryCost, MeteredClaim};
use crate::task::detached;
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryFutureExt};
use serde::Serialize;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Outcomes one recording transaction holds at most.
const RECORD_GROUP: usize = 1_000;

/// How often a reminder round or second wave suppresses, before a claim, its pending
/// deliveries to patients who engaged since it was planned. Each pass scans every
/// answer (or open) of the campaign, and claims come every few milliseconds: it runs
/// before the first claim, then at most this often, and once more when a metered claim
/// finds the queue empty. A patient who answers this close to their reminder's claim
/// may still receive it.
const SUPPRESS_EVERY: Duration = Duration::from_secs(1);

/// How long the recorder waits for more outcomes before recording what it has.
const RECORD_WINDOW: Duration = Duration::from_millis(50);

/// How a send is paced and retried.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Messages in flight per channel (so also about the most a crash can leave
    /// unrecorded per channel). A rate-limited channel keeps at most one second's worth
    /// in flight, so its crash window is also at most one second of sending.
    pub concurrency: usize,
    /// Messages per second per channel; a channel not named is not limited.
    pub rate_limits: BTreeMap<Channel, NonZeroU32>,
    /// Attempts per message before it is recorded as failed (retryable errors only).
    pub max_attempts: u32,
    /// The longest wait before a retry once the channel as a whole is refusing most
    /// calls (its backpressure level 1); each further level doubles it, up to
    /// `max_backoff`, with full jitter. Isolated faults are retried after a few
    /// milliseconds, whatever the message's attempt count: the channel's share of
    /// faults, not one message's bad luck, decides how long retries wait.
    pub base_backoff: Duration,
    /// The longest wait before a retry.
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
    /// Set when the send stopped before a message that would have crossed the
    /// campaign's spend cap (the rest is left pending: raise the cap and send again).
    pub stopped_at_budget: Option<SpendCap>,
}

impl SendReport {
    /// Adds what a send of a later round did to this report, keeping this round's
    /// standing (`channels`) and the wall time of the whole call.
    fn absorb(&mut self, later: SendReport) {
        self.requeued_in_flight += later.requeued_in_flight;
        for (channel, n) in later.sent {
            *self.sent.entry(channel).or_default() += n;
        }
        for (channel, n) in later.failed {
            *self.failed.entry(channel).or_default() += n;
        }
        self.retries += later.retries;
        self.elapsed = self.elapsed.max(later.elapsed);
    }
}

struct Worker<'a> {
    engine: &'a Engine,
    campaign: CampaignId,
    round: i32,
    channel: Channel,
    notifier: Arc<dyn Notifier>,
    pacer: Option<Pacer>,
    /// How long a retry waits, judged by the whole channel's recent faults.
    backpressure: Backpressure,
    templates: &'a Templates,
    form_title: &'a str,
    org: &'a str,
    expires_on: &'a str,
    options: &'a SendOptions,
    /// Claims reserve spend under the campaign's budget (and skip engaged recipients in a
    /// second wave).
    metered: bool,
    /// The round is an `email_first` second wave: openers and answerers are left out.
    second_wave: bool,
    /// The price in force of one unit on the channel (segment or email).
    unit_price: Money,
    /// Set by any channel's worker that reached the cap: every worker stops claiming.
    capped: &'a AtomicBool,
    /// When this worker last suppressed the deliveries to engaged recipients.
    suppressed_at: std::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
struct WorkerTally {
    sent: u64,
    failed: u64,
    retries: u64,
}

impl Engine {
    /// Sends the campaign's first round, or resumes an interrupted send, then the
    /// deliveries of any reminder round returned to the queue by
    /// [`Engine::retry_failed`]. Each (recipient, channel) ends sent, failed (with a
    /// reason) or suppressed. The report's `sent`, `failed`, `retries` and
    /// `requeued_in_flight` cover every round sent; its `channels` are round 0's.
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
        let mut report = self
            .send_round(&campaign, 0, options, observer, started)
            .await?;
        let mut complete = report.channels.iter().all(ChannelSummary::is_complete);
        // Deliveries of reminder rounds go back to the queue only through a retry of
        // transient failures (which makes the campaign `sending` again): whatever round
        // they belong to, this send delivers them. An `email_first` second wave is not a
        // reminder: it waits for its own send after its delay.
        // Read from the queue's index: a finished first send costs no scan of its
        // deliveries here.
        for round in self.store.queued_rounds(id).await? {
            if round == 0 || RoundKind::of(&campaign, round) == RoundKind::SecondWave {
                continue;
            }
            let reminder = self
                .send_round(&campaign, round, options, observer, started)
                .await?;
            complete &= reminder.channels.iter().all(ChannelSummary::is_complete);
            report.absorb(reminder);
        }
        if complete {
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

    /// Returns the campaign's deliveries that failed transiently (a provider or network
    /// fault that outlasted every retry) to the queue, so that the next `send` tries
    /// them again, whatever their round; permanent failures stay failed.
    /// A sent campaign goes back to sending. Returns how many were requeued.
    pub async fn retry_failed(&self, id: CampaignId) -> Result<u64> {
        let campaign = self.store.campaign(id).await?;
        if !matches!(campaign.state, CampaignState::Sending | CampaignState::Sent) {
            return Err(Error::Conflict(format!(
                "campaign {id} is {}; only a sending or sent campaign has failed deliveries to retry",
                campaign.state
            )));
        }
        let requeued = self.store.retry_failed(id).await?;
        if requeued > 0 {
            self.store
                .set_campaign_state(
                    id,
                    &[CampaignState::Sent, CampaignState::Sending],
                    CampaignState::Sending,
                )
                .await?;
            tracing::info!(campaign = id.0, requeued, "transient failures requeued");
        }
        Ok(requeued)
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
    /// are 1 and up. Same pacing, retries and recording for every round. The call is one
    /// `send` event in the audit ledger with its counts (never one per message), by the
    /// acting party of the task ([`crate::audit::scope`]); a failed call is recorded as
    /// failed.
    pub(super) async fn send_round(
        &self,
        campaign: &Campaign,
        round: i32,
        options: &SendOptions,
        observer: &dyn SendObserver,
        started: Instant,
    ) -> Result<SendReport> {
        let result = self
            .send_round_unrecorded(campaign, round, options, observer, started)
            .await;
        let mut detail = audit::Detail::none().count("round", u64::try_from(round).unwrap_or(0));
        let outcome = match &result {
            Ok(report) => {
                detail = detail
                    .count("sent", report.sent.values().sum())
                    .count("failed", report.failed.values().sum())
                    .count("requeued", report.requeued_in_flight);
                audit::Outcome::Ok
            }
            Err(_) => audit::Outcome::Failed,
        };
        let event = audit::current()
            .event(
                chrono::Utc::now(),
                audit::Action::Send,
                audit::Target::campaign(campaign.id),
                detail,
            )
            .with_outcome(outcome);
        self.store.append_event(&event).await?;
        result
    }

    /// [`Self::send_round`] without its ledger event.
    async fn send_round_unrecorded(
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
        // A campaign that was a draft when this send began was never claimed from: no
        // delivery can be in flight (and a large campaign's scan for them is skipped).
        let requeued_in_flight = if campaign.state == CampaignState::Draft {
            0
        } else {
            self.store
                .requeue_in_flight(id, round, options.shard, claimed_before)
                .await?
        };
        if requeued_in_flight > 0 {
            tracing::warn!(
                campaign = id.0,
                round,
                requeued_in_flight,
                "resuming an interrupted send: these deliveries may reach their patients twice"
            );
        }

        let form = self.store.form(campaign.form_id).await?;
        let templates = Templates::for_round(
            &campaign.messages,
            &campaign.channels,
            campaign.strategy.text_round(round),
        )?;
        let second_wave = RoundKind::of(campaign, round) == RoundKind::SecondWave;
        let metered = campaign.budget.is_some() || second_wave;
        let capped = AtomicBool::new(false);
        let expires_on = human_date(campaign.link_expires_at);
        let queued = self.store.queued(id, round).await?;

        let workers = campaign.channels.iter().map(|&channel| {
            let worker = Worker {
                engine: self,
                campaign: id,
                round,
                channel,
                notifier: self.notifiers[&channel].clone(),
                pacer: options
                    .rate_limits
                    .get(&channel)
                    .map(|&rate| Pacer::new(rate)),
                backpressure: Backpressure::new(options.base_backoff, options.max_backoff),
                templates: &templates,
                form_title: &form.spec.title,
                org: &campaign.messages.org,
                expires_on: &expires_on,
                options,
                metered,
                second_wave,
                unit_price: self.unit_price(channel),
                capped: &capped,
                suppressed_at: std::sync::Mutex::new(None),
            };
            let to_send = queued
                .iter()
                .find(|(c, _)| *c == channel)
                .map_or(0, |(_, n)| *n);
            observer.started(channel, to_send);
            async move { worker.run(observer).map_ok(|tally| (channel, tally)).await }
        });
        let tallies = futures::future::try_join_all(workers).await?;

        let counts = self.store.delivery_counts(id).await?;
        let channels = ChannelSummary::from_counts(campaign, &counts, round);
        let stopped_at_budget = match (capped.load(Ordering::SeqCst), campaign.budget) {
            (true, Some(budget)) => {
                let recorded = self.store.recorded_spend(id).await?;
                let budget = self.store.campaign(id).await?.budget.unwrap_or(budget);
                Some(SpendCap {
                    budget,
                    committed: Money(recorded.iter().map(|r| r.spent.0 + r.reserved.0).sum()),
                    left_pending: channels.iter().map(|c| c.pending).sum(),
                })
            }
            _ => None,
        };
        if let Some(cap) = &stopped_at_budget {
            tracing::warn!(
                campaign = id.0,
                round,
                left_pending = cap.left_pending,
                "send stopped at the spend cap"
            );
        }
        let report = SendReport {
            campaign: id,
            round,
            requeued_in_flight,
            sent: tallies.iter().map(|(c, t)| (*c, t.sent)).collect(),
            failed: tallies.iter().map(|(c, t)| (*c, t.failed)).collect(),
            retries: tallies.iter().map(|(_, t)| t.retries).sum(),
            channels,
            elapsed: started.elapsed(),
            stopped_at_budget,
        };
        tracing::info!(campaign = id.0, round, sent = ?report.sent, failed = ?report.failed, "send finished");
        Ok(report)
    }
}

impl Worker<'_> {
    /// Runs the pipeline until the channel's queue is empty and every outcome recorded.
    async fn run(self, observer: &dyn SendObserver) -> Result<WorkerTally> {
        let limit = self.in_flight_limit();
        let (outcomes, recorded) = tokio::sync::mpsc::channel(limit);
        // Claimed but not yet recorded, in flight or completed and waiting for their
        // transaction: at most `limit`. This is the crash window.
        let unrecorded = tokio::sync::Semaphore::new(limit);
        let (_, tally) = tokio::try_join!(
            self.produce(outcomes, &unrecorded),
            self.record(recorded, &unrecorded, observer)
        )?;
        Ok(tally)
    }

    /// How many deliveries may be in flight at once.
    fn in_flight_limit(&self) -> usize {
        let mut limit = self.options.concurrency.max(1);
        if let Some(rate) = self.options.rate_limits.get(&self.channel) {
            limit = limit.min(usize::try_from(rate.get()).unwrap_or(usize::MAX));
        }
        limit
    }

    /// Claims up to `limit` pending deliveries (a reminder round first suppresses those
    /// whose patient has answered since it was planned).
    async fn claim(&self, limit: usize) -> Result<Vec<PendingDelivery>> {
        let now = self.engine.clock.now();
        self.suppress_engaged(now, false).await?;
        if self.capped.load(Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        let claim_started = Instant::now();
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let claimed = if self.metered {
            let store = self.engine.store.clone();
            let claim = MeteredClaim {
                campaign: self.campaign,
                channel: self.channel,
                round: self.round,
                shard: self.options.shard,
                limit,
                unit_price: self.unit_price,
                skip_engaged: self.second_wave,
            };
            let batch = detached(async move { store.claim_metered(&claim, now).await }).await?;
            if batch.capped {
                self.capped.store(true, Ordering::SeqCst);
            }
            if batch.deliveries.is_empty() {
                // Whoever the claim skipped for opening or answering since the last
                // suppression ends suppressed, not pending.
                self.suppress_engaged(now, true).await?;
            }
            batch.deliveries
        } else {
            let store = self.engine.store.clone();
            let (campaign, channel, round, shard) =
                (self.campaign, self.channel, self.round, self.options.shard);
            detached(async move {
                store
                    .claim_pending(campaign, channel, round, shard, limit, now)
                    .await
            })
            .await?
        };
        crate::metrics::batch_claimed(self.channel, claim_started.elapsed());
        Ok(claimed)
    }

    /// Suppresses the round's pending deliveries to recipients who have answered (any
    /// round after the first) or, in a second wave, opened their link: before the first
    /// claim, then at most every [`SUPPRESS_EVERY`] unless `always`.
    async fn suppress_engaged(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        always: bool,
    ) -> Result<()> {
        if self.round == 0 && !self.second_wave {
            return Ok(());
        }
        {
            let mut last = self
                .suppressed_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !always && last.is_some_and(|t| t.elapsed() < SUPPRESS_EVERY) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        if self.round > 0 {
            self.engine
                .store
                .suppress_responded(self.campaign, self.round, now)
                .await?;
        }
        if self.second_wave {
            self.engine
                .store
                .suppress_opened(self.campaign, self.round, now)
                .await?;
        }
        Ok(())
    }

    /// Keeps the in-flight set full: claims as slots free up, sends, and hands each
    /// outcome to the recorder as it completes.
    async fn produce(
        &self,
        outcomes: tokio::sync::mpsc::Sender<DeliveryOutcome>,
        unrecorded: &tokio::sync::Semaphore,
    ) -> Result<()> {
        let limit = self.in_flight_limit();
        // Claim again once a quarter of the slots is free: claims stay few and large
        // while the in-flight set never drains.
        let refill = (limit / 4).max(1);
        let mut in_flight = FuturesUnordered::new();
        let mut claim: Option<futures::future::BoxFuture<'_, Result<Vec<PendingDelivery>>>> = None;
        let mut exhausted = false;
        let mut claiming = 0;
        loop {
            let slots = limit.saturating_sub(in_flight.len());
            // The fewest deliveries worth a claim.
            let wanted = if in_flight.is_empty() { 1 } else { refill };
            let can_claim = claim.is_none() && !exhausted && slots >= wanted;
            if can_claim && unrecorded.available_permits() >= wanted {
                // The permits go back when the recorder has recorded the outcomes.
                claiming = unrecorded.forget_permits(slots);
                claim = Some(Box::pin(self.claim(claiming)));
            }
            if exhausted && claim.is_none() && in_flight.is_empty() {
                return Ok(());
            }
            // Slots are free but still waiting for their outcomes to be recorded.
            let short = can_claim && claim.is_none();
            let wanted = u32::try_from(wanted).unwrap_or(u32::MAX);
            tokio::select! {
                _ = unrecorded.acquire_many(wanted), if short => {}
                claimed = async { claim.as_mut().expect("guarded").await }, if claim.is_some() => {
                    claim = None;
                    let claimed = claimed?;
                    exhausted = claimed.is_empty();
                    // Slots claimed for but not taken are free again.
                    unrecorded.add_permits(claiming.saturating_sub(claimed.len()));
                    claiming = 0;
                    for d in claimed {
                        in_flight.push(self.deliver(d));
                    }
                }
                Some(outcome) = in_flight.next(), if !in_flight.is_empty() => {
                    if outcomes.send(outcome).await.is_err() {
                        // The recorder stopped on an error, which the join reports.
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Records outcomes as they arrive, grouped into short transactions, each after a
    /// notifier flush (a "sent" record never outruns the transport; if the flush fails,
    /// the group stays `sending` and the next send resumes it).
    async fn record(
        &self,
        mut arriving: tokio::sync::mpsc::Receiver<DeliveryOutcome>,
        unrecorded: &tokio::sync::Semaphore,
        observer: &dyn SendObserver,
    ) -> Result<WorkerTally> {
        let mut tally = WorkerTally::default();
        // Half the window: one half is recorded while the other is sent.
        let most = RECORD_GROUP.min(self.in_flight_limit().div_ceil(2));
        while let Some(first) = arriving.recv().await {
            let mut group = vec![first];
            let deadline = tokio::time::Instant::now() + RECORD_WINDOW;
            while group.len() < most {
                match tokio::time::timeout_at(deadline, arriving.recv()).await {
                    Ok(Some(outcome)) => group.push(outcome),
                    Ok(None) | Err(_) => break,
                }
            }
            self.notifier.flush().await.map_err(|e| Error::Notify {
                channel: self.channel.to_string(),
                message: e.to_string(),
            })?;
            let record_started = Instant::now();
            let (store, now) = (self.engine.store.clone(), self.engine.clock.now());
            let group = detached(async move {
                store.record_outcomes(&group, now).await?;
                Ok(group)
            })
            .await?;
            crate::metrics::batch_record_time(self.channel, record_started.elapsed());
            unrecorded.add_permits(group.len());
            let (mut sent, mut failed, mut retries) = (0, 0, 0);
            for o in &group {
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
        Ok(tally)
    }

    /// What a finished delivery cost: its segments (or one email) at the price in force;
    /// nothing when it failed.
    fn cost(&self, status: DeliveryStatus, segments: u32) -> DeliveryCost {
        let sent = status == DeliveryStatus::Sent;
        let cost = match self.channel {
            Channel::Sms => self.unit_price.times(segments.into()),
            Channel::Email => self.unit_price,
        };
        DeliveryCost {
            sent_segments: sent.then_some(segments),
            unit_price: self.unit_price,
            cost: if sent { cost } else { Money(0) },
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

    /// Sends one claimed delivery (retrying while it helps) and says what it became and
    /// what it cost (one write records both).
    async fn deliver(&self, d: PendingDelivery) -> DeliveryOutcome {
        let message = d.address.as_deref().map(|to| self.message(&d, to));
        let segments = match (&message, self.channel) {
            (Some(m), Channel::Sms) => u32::try_from(sms_segments(&m.text).segments).unwrap_or(0),
            _ => 0,
        };
        let outcome = self.attempt(&d, message).await;
        DeliveryOutcome {
            cost: Some(self.cost(outcome.status, segments)),
            ..outcome
        }
    }

    async fn attempt(
        &self,
        d: &PendingDelivery,
        message: Option<OutboundMessage>,
    ) -> DeliveryOutcome {
        // Whether an attempt may have reached the provider although it did not say so.
        let mut maybe_reached = false;
        let outcome =
            |status, detail: String, attempts, maybe_reached, transient| DeliveryOutcome {
                id: d.id,
                status,
                detail,
                attempts,
                may_duplicate: maybe_reached,
                transient,
                cost: None,
            };
        let Some(message) = message else {
            return outcome(
                DeliveryStatus::Failed,
                format!("no {} address", self.channel),
                0,
                false,
                false,
            );
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(pacer) = &self.pacer {
                pacer.ready().await;
            }
            let call_started = Instant::now();
            let result = self.notifier.send(&message).await;
            crate::metrics::provider_call(
                self.channel,
                call_started.elapsed(),
                matches!(result, Err(NotifyError::Throttled { .. })),
            );
            self.backpressure
                .observe(matches!(&result, Err(e) if e.is_retryable()));
            match result {
                Ok(provider_id) => {
                    return outcome(
                        DeliveryStatus::Sent,
                        provider_id,
                        attempt,
                        maybe_reached,
                        false,
                    )
                }
                Err(e) if e.is_retryable() && attempt < self.options.max_attempts => {
                    tracing::debug!(delivery = d.id, attempt, error = %e, "retrying");
                    // A throttle is a refusal; a timeout or 5xx may follow an acceptance.
                    maybe_reached |= matches!(e, NotifyError::Transient { .. });
                    let retry_after = match e {
                        NotifyError::Throttled { retry_after, .. } => retry_after,
                        _ => None,
                    };
                    tokio::time::sleep(self.backpressure.delay(retry_after)).await;
                }
                Err(e) => {
                    let detail = if e.is_retryable() {
                        format!("gave up after {attempt} attempts: {e}")
                    } else {
                        e.to_string()
                    };
                    tracing::warn!(delivery = d.id, recipient = d.recipient_id, channel = %self.channel, reason = %detail, "delivery failed");
                    maybe_reached |= matches!(e, NotifyError::Transient { .. });
                    return outcome(
                        DeliveryStatus::Failed,
                        detail,
                        attempt,
                        maybe_reached,
                        e.is_retryable(),
                    );
                }
            }
        }
    }
}
