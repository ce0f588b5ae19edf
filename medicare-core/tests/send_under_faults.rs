//! Sending under provider faults (issue 16): a slow message holds only its own slot,
//! kills re-send only what was in flight, possible duplicates are counted over every
//! resume, and transient failures can be retried while permanent ones stay failed.

mod common;

use async_trait::async_trait;
use common::{recorder, Harness};
use medicare_core::campaign::{
    CampaignId, CampaignRequest, CampaignState, ReminderPolicy, SendOptions,
};
use medicare_core::filter::Filter;
use medicare_core::notify::Channel;
use medicare_core::notify::{Notifier, NotifyError, OutboundMessage, RecordingNotifier};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Quick retries, a small window.
fn options() -> SendOptions {
    SendOptions {
        concurrency: 8,
        max_attempts: 3,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        ..SendOptions::default()
    }
}

/// Holds the message of one delivery until released; accepts every other at once.
#[derive(Debug)]
struct OneSlow {
    accepted: RecordingNotifier,
    slow: i64,
    release: Notify,
}

#[async_trait]
impl Notifier for OneSlow {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        if message.delivery_id == self.slow {
            self.release.notified().await;
        }
        self.accepted.send(message).await
    }
}

/// Polls `sql` until it reads `want`, for up to ten seconds.
async fn wait_for(h: &Harness, sql: &str, want: i64) {
    for _ in 0..200 {
        if h.scalar(sql).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql} never reached {want} (now {})", h.scalar(sql).await);
}

/// An SMS-only campaign to the patients with a phone; returns it with its pending count.
async fn sms_campaign(h: &Harness, patients: usize) -> (CampaignId, i64) {
    h.populate(patients).await;
    let form = h.demo_form().await;
    let mut request =
        CampaignRequest::new("sms", form, Arc::new(Filter::parse("has_phone").unwrap()));
    request.channels = vec![Channel::Sms];
    let id = h.engine.create_campaign(&request).await.unwrap();
    let pending = h
        .scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND channel = 'sms'")
        .await;
    (id, pending)
}

/// While one message hangs, every other is sent and recorded: it holds one slot, not
/// a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_message_holds_only_its_own_slot() {
    let h = Harness::new().await;
    let (id, pending) = sms_campaign(&h, 300).await;
    let first = h
        .scalar("SELECT MIN(id) FROM deliveries WHERE status = 'pending' AND channel = 'sms'")
        .await;
    let slow = Arc::new(OneSlow {
        accepted: RecordingNotifier::new(),
        slow: first,
        release: Notify::new(),
    });
    let engine = h.engine_with(slow.clone());
    let send = tokio::spawn(async move { engine.send(id, &options(), &()).await });
    wait_for(
        &h,
        "SELECT COUNT(*) FROM deliveries WHERE status = 'sent' AND channel = 'sms'",
        pending - 1,
    )
    .await;
    assert_eq!(
        h.scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'sending'")
            .await,
        1
    );
    slow.release.notify_one();
    let report = send.await.unwrap().unwrap();
    assert_eq!(report.sent[&Channel::Sms], pending as u64);
}

/// Accepts `limit` messages, then hangs on every further one (a process about to die).
#[derive(Debug)]
struct DiesAfter {
    accepted: Arc<RecordingNotifier>,
    limit: usize,
    seen: AtomicUsize,
}

#[async_trait]
impl Notifier for DiesAfter {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.limit {
            std::future::pending::<()>().await;
        }
        self.accepted.send(message).await
    }
}

/// Five kills, each once every accepted message was recorded: each resume re-sends
/// only what was in flight (at most the concurrency), never a message the provider
/// had accepted, and the status counts exactly the requeued deliveries that went out
/// again as possible duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_kills_resend_only_what_was_in_flight() {
    let h = Harness::new().await;
    let (id, pending) = sms_campaign(&h, 600).await;
    let accepted = recorder();
    let mut requeued_ever = std::collections::BTreeSet::new();
    for kill in 1..=5usize {
        let engine = h.engine_with(Arc::new(DiesAfter {
            accepted: accepted.clone(),
            limit: 40,
            seen: AtomicUsize::new(0),
        }));
        let send = tokio::spawn(async move { engine.send(id, &options(), &()).await });
        // Everything the provider accepted gets recorded while the rest hangs.
        wait_for(
            &h,
            "SELECT COUNT(*) FROM deliveries WHERE status = 'sent' AND channel = 'sms'",
            (40 * kill) as i64,
        )
        .await;
        send.abort();
        let _ = send.await;
        h.settle().await;
        let in_flight: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM deliveries WHERE status = 'sending' ORDER BY id")
                .fetch_all(h.store.pool())
                .await
                .unwrap();
        assert!(
            !in_flight.is_empty() && in_flight.len() <= options().concurrency,
            "kill {kill} left {} in flight",
            in_flight.len()
        );
        requeued_ever.extend(in_flight);
    }
    let report = h
        .engine_with(accepted.clone())
        .send(id, &options(), &())
        .await
        .unwrap();
    assert!(report.requeued_in_flight as usize <= options().concurrency);

    let mut times: BTreeMap<i64, u32> = BTreeMap::new();
    for m in accepted.sent() {
        *times.entry(m.delivery_id).or_default() += 1;
    }
    assert_eq!(times.len() as i64, pending);
    assert!(times.values().all(|&n| n == 1), "a message went out twice");
    let status = h.engine.status(id).await.unwrap();
    assert_eq!(status.campaign.state, CampaignState::Sent);
    let sms = &status.channels[0];
    assert_eq!(sms.sent as i64, pending);
    assert_eq!(sms.possible_duplicates, requeued_ever.len() as u64);
}

/// A timeout or 5xx answered to a message the provider may have taken, then a retry
/// that succeeds: the delivery is counted as a possible duplicate, also after another
/// send of the campaign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn possible_duplicates_are_counted_and_shown() {
    let h = Harness::new().await;
    let (id, pending) = sms_campaign(&h, 300).await;
    // Throttling is a refusal: it never makes a duplicate.
    let flaky = Arc::new(RecordingNotifier::with_failures(Arc::new(
        |m, attempt| match (m.delivery_id % 5, attempt) {
            (0, 1) => Some(NotifyError::Transient {
                reason: "500 after the request was sent".into(),
            }),
            (1, 1) => Some(NotifyError::Throttled {
                reason: "rate".into(),
                retry_after: None,
            }),
            _ => None,
        },
    )));
    let report = h
        .engine_with(flaky.clone())
        .send(id, &options(), &())
        .await
        .unwrap();
    assert!(report.retries > 0);
    let expected = h
        .scalar(
            "SELECT COUNT(*) FROM deliveries WHERE channel = 'sms' AND status = 'sent' AND id % 5 = 0",
        )
        .await as u64;
    assert!(expected > 0);
    let status = h.engine.status(id).await.unwrap();
    assert_eq!(status.channels[0].sent as i64, pending);
    assert_eq!(status.channels[0].possible_duplicates, expected);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["channels"][0]["possible_duplicates"], expected);
    let tracking = h.engine.store().tracking_counts(id).await.unwrap();
    assert_eq!(tracking.possible_duplicates, expected);
    // Another send of the finished campaign changes nothing: the count is stored.
    h.engine
        .store()
        .requeue_in_flight(id, 0, None, None)
        .await
        .unwrap();
    assert_eq!(
        h.engine.status(id).await.unwrap().channels[0].possible_duplicates,
        expected
    );
}

/// Every publish answered 500 for some deliveries, a permanent refusal for others: the
/// send ends with both failed; retrying requeues only the transient ones, the campaign
/// sends again and they go out; the permanent ones stay failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_can_be_retried() {
    let h = Harness::new().await;
    let (id, pending) = sms_campaign(&h, 300).await;
    let failing = Arc::new(RecordingNotifier::with_failures(Arc::new(|m, _| {
        match m.delivery_id % 4 {
            0 => Some(NotifyError::Transient {
                reason: "503".into(),
            }),
            1 => Some(NotifyError::Permanent {
                reason: "invalid number".into(),
            }),
            _ => None,
        }
    })));
    h.engine_with(failing)
        .send(id, &options(), &())
        .await
        .unwrap();
    let transient = h
        .scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'failed' AND reason LIKE 'gave up%'",
        )
        .await as u64;
    let permanent = h
        .scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'failed' AND reason LIKE 'permanent%'",
        )
        .await as u64;
    let status = h.engine.status(id).await.unwrap();
    assert_eq!(status.campaign.state, CampaignState::Sent);
    assert_eq!(status.channels[0].failed, transient + permanent);

    let refused = h
        .engine_with(recorder())
        .send(id, &options(), &())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, medicare_core::Error::Conflict(_)),
        "{refused}"
    );
    assert_eq!(h.engine.retry_failed(id).await.unwrap(), transient);
    assert_eq!(
        h.engine.status(id).await.unwrap().campaign.state,
        CampaignState::Sending
    );
    let report = h
        .engine_with(recorder())
        .send(id, &options(), &())
        .await
        .unwrap();
    assert_eq!(report.sent[&Channel::Sms], transient);
    let status = h.engine.status(id).await.unwrap();
    assert_eq!(status.campaign.state, CampaignState::Sent);
    assert_eq!(status.channels[0].failed, permanent);
    assert_eq!(status.channels[0].sent as i64, pending - permanent as i64);
    // Nothing transient is left: a second retry requeues nothing.
    assert_eq!(h.engine.retry_failed(id).await.unwrap(), 0);
}

/// A reminder round whose transient failures are retried after a later round went out:
/// the send that follows the retry delivers them, whatever round they belong to, and
/// only then is the campaign sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_failures_of_an_older_reminder_round_are_sent() {
    let h = Harness::new().await;
    let (id, _) = sms_campaign(&h, 200).await;
    let policy = ReminderPolicy {
        max_reminders: 3,
        min_gap: chrono::Duration::zero(),
    };
    h.engine_with(recorder())
        .send(id, &options(), &())
        .await
        .unwrap();
    let failing = Arc::new(RecordingNotifier::with_failures(Arc::new(|m, _| {
        (m.delivery_id % 3 == 0).then(|| NotifyError::Transient {
            reason: "503".into(),
        })
    })));
    let first = h
        .engine_with(failing)
        .remind(id, &policy, &options(), &())
        .await
        .unwrap();
    assert_eq!(first.round, 1);
    let failed_in_round_1: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM deliveries WHERE round = 1 AND status = 'failed' ORDER BY id",
    )
    .fetch_all(h.store.pool())
    .await
    .unwrap();
    assert!(!failed_in_round_1.is_empty());
    let second = h
        .engine_with(recorder())
        .remind(id, &policy, &options(), &())
        .await
        .unwrap();
    assert_eq!(second.round, 2);

    assert_eq!(
        h.engine.retry_failed(id).await.unwrap(),
        failed_in_round_1.len() as u64
    );
    let resent = recorder();
    h.engine_with(resent.clone())
        .send(id, &options(), &())
        .await
        .unwrap();
    let delivered: Vec<i64> = resent.sent().iter().map(|m| m.delivery_id).collect();
    let mut delivered_sorted = delivered.clone();
    delivered_sorted.sort_unstable();
    assert_eq!(
        delivered_sorted, failed_in_round_1,
        "the round-1 retries went out"
    );
    assert_eq!(
        h.scalar("SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')")
            .await,
        0
    );
    assert_eq!(
        h.engine.status(id).await.unwrap().campaign.state,
        CampaignState::Sent
    );
}

/// Refuses one delivery's first `refusals` attempts (a throttle), noting when each of
/// its attempts came; accepts every other message at once.
#[derive(Debug)]
struct Unlucky {
    accepted: Arc<RecordingNotifier>,
    unlucky: i64,
    refusals: usize,
    attempts: std::sync::Mutex<Vec<tokio::time::Instant>>,
}

#[async_trait]
impl Notifier for Unlucky {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        if message.delivery_id == self.unlucky {
            let mut attempts = self.attempts.lock().unwrap();
            attempts.push(tokio::time::Instant::now());
            if attempts.len() <= self.refusals {
                return Err(NotifyError::Throttled {
                    reason: "Rate exceeded".into(),
                    retry_after: None,
                });
            }
        }
        self.accepted.send(message).await
    }
}

/// A message refused eight times in a row while the rest of the channel goes through
/// is retried after a quick pause each time, with the default options (200 ms base):
/// one message's bad luck no longer stretches the whole send by the tens of seconds
/// its own exponential backoff used to add (with it, the eight waits summed to 25 s on
/// average and under 2 s almost never; now they are at most 4 ms each, and the bound
/// leaves a loaded machine plenty of room).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlucky_message_is_retried_quickly_while_the_channel_is_healthy() {
    let h = Harness::new().await;
    let (id, pending) = sms_campaign(&h, 300).await;
    let unlucky = h
        .scalar("SELECT MAX(id) FROM deliveries WHERE status = 'pending' AND channel = 'sms'")
        .await;
    let notifier = Arc::new(Unlucky {
        accepted: recorder(),
        unlucky,
        refusals: 8,
        attempts: std::sync::Mutex::new(Vec::new()),
    });
    let report = h
        .engine_with(notifier.clone())
        .send(id, &SendOptions::default(), &())
        .await
        .unwrap();
    assert_eq!(report.sent[&Channel::Sms], pending as u64);
    assert_eq!(report.retries, 8);
    let attempts = notifier.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 9);
    let waited = *attempts.last().unwrap() - attempts[0];
    assert!(
        waited < Duration::from_secs(2),
        "nine attempts took {waited:?}: retries of an isolated fault wait a few ms"
    );
}
