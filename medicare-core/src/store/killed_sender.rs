//! The property a fanned-out send relies on, shown on a backend: four senders, each with
//! its own store (its own pool, as separate processes have), on four threads, split a
//! campaign into shards with a lease; one is killed mid-batch, and once its lease has
//! passed its shard is retried. Every delivery is recorded once and reaches the provider
//! exactly once.

use super::Store;
use crate::campaign::{
    CampaignRequest, CampaignState, DeliveryStatus, Engine, SendOptions, SendReport, Shard,
};
use crate::clock::FixedClock;
use crate::filter::Filter;
use crate::link::HmacLinkSigner;
use crate::notify::{Channel, Notifier, NotifyError, OutboundMessage, RecordingNotifier};
use crate::patient::{generate, GenerateOptions};
use crate::publish::LocalFolderPublisher;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Messages in flight per channel and sender.
const CONCURRENCY: usize = 16;

/// Accepts `limit` messages, then never answers again: a sender about to be killed.
#[derive(Debug)]
struct Freezes {
    accepted: Arc<RecordingNotifier>,
    limit: usize,
    seen: AtomicUsize,
    frozen: Notify,
}

#[async_trait]
impl Notifier for Freezes {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.limit {
            self.frozen.notify_one();
            std::future::pending::<()>().await;
        }
        self.accepted.send(message).await
    }
}

/// An engine over `store` on `clock`, sending both channels through `notifier`.
fn engine(
    store: Arc<dyn Store>,
    forms: &std::path::Path,
    clock: Arc<FixedClock>,
    notifier: Arc<dyn Notifier>,
) -> Engine {
    let signer = HmacLinkSigner::new(
        secrecy::SecretBox::new(Box::new([7u8; 32])),
        "https://forms.example.org",
    )
    .expect("valid base URL");
    Engine::new(
        store,
        Arc::new(LocalFolderPublisher::new(forms)),
        Arc::new(signer),
        clock,
    )
    .with_notifier(Channel::Sms, notifier.clone())
    .with_notifier(Channel::Email, notifier)
}

/// Sender `index` of 4 with a ten-minute lease.
fn options(index: u32) -> SendOptions {
    SendOptions {
        concurrency: CONCURRENCY,
        shard: Some(Shard::new(index, 4).expect("a shard of 4")),
        in_flight_lease: Some(Duration::from_secs(600)),
        ..SendOptions::default()
    }
}

/// Deliveries of the campaign in `status`, over every channel.
async fn total(engine: &Engine, id: crate::campaign::CampaignId, status: DeliveryStatus) -> u64 {
    engine
        .store()
        .delivery_counts(id)
        .await
        .expect("counts")
        .iter()
        .filter(|c| c.status == status)
        .map(|c| c.count)
        .sum()
}

/// Polls until `total(status)` reads `want`, for up to twenty seconds.
async fn wait_for(
    engine: &Engine,
    id: crate::campaign::CampaignId,
    status: DeliveryStatus,
    want: u64,
) {
    for _ in 0..400 {
        if total(engine, id, status).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{status:?} deliveries never reached {want}");
}

/// Four senders on `stores` (four stores on one database), the last killed mid-batch
/// and its shard retried after its lease. Run on a multi-threaded runtime.
pub(crate) async fn four_senders_one_killed_deliver_every_message_once(
    stores: Vec<Arc<dyn Store>>,
) {
    assert_eq!(stores.len(), 4, "four senders need four stores");
    let dir = tempfile::tempdir().expect("temporary folder");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::new(t0));
    let provider = Arc::new(RecordingNotifier::new());
    let dying = Arc::new(Freezes {
        accepted: provider.clone(),
        limit: 50,
        seen: AtomicUsize::new(0),
        frozen: Notify::new(),
    });
    let engines: Vec<Engine> = stores
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            let notifier: Arc<dyn Notifier> = if i == 3 {
                dying.clone()
            } else {
                provider.clone()
            };
            engine(store, dir.path(), clock.clone(), notifier)
        })
        .collect();
    let first = &engines[0];
    first
        .import_patients(&generate(GenerateOptions {
            count: 1_200,
            seed: 11,
        }))
        .await
        .unwrap();
    let form = first
        .create_form(&super::conformance::sample_form())
        .await
        .unwrap();
    let id = first
        .create_campaign(&CampaignRequest::new(
            "four senders",
            form.id,
            Arc::new(Filter::all()),
        ))
        .await
        .unwrap();
    let eligible = total(first, id, DeliveryStatus::Pending).await;

    let tasks: Vec<tokio::task::JoinHandle<crate::Result<SendReport>>> = engines
        .iter()
        .enumerate()
        .map(|(i, engine)| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.send(id, &options(i as u32), &()).await })
        })
        .collect();
    let mut tasks = tasks.into_iter();
    let live: Vec<_> = tasks.by_ref().take(3).collect();
    let killed = tasks.next().expect("the fourth sender");
    let mut reports = Vec::new();
    for task in live {
        reports.push(task.await.expect("sender runs").expect("sender succeeds"));
    }
    dying.frozen.notified().await;
    // What the provider accepted is recorded; the rest of the batch hangs in flight.
    wait_for(first, id, DeliveryStatus::Sent, provider.count() as u64).await;
    killed.abort();
    assert!(killed.await.expect_err("killed").is_cancelled());
    let mut left = total(first, id, DeliveryStatus::Sending).await;
    loop {
        // A statement the killed sender had already sent still completes, as it would
        // in a real crash: read once the record has settled.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = total(first, id, DeliveryStatus::Sending).await;
        if now == left {
            break;
        }
        left = now;
    }
    assert!(
        left > 0 && left <= 2 * CONCURRENCY as u64,
        "the killed sender left {left} in flight"
    );
    assert_eq!(
        first.status(id).await.unwrap().campaign.state,
        CampaignState::Sending
    );

    // Retried before its lease ends, the shard's claims are not taken back: the dead
    // sender might still be alive.
    let early = engines[3]
        .clone()
        .with_notifier(Channel::Sms, provider.clone())
        .with_notifier(Channel::Email, provider.clone());
    let report = early.send(id, &options(3), &()).await.unwrap();
    assert_eq!(report.requeued_in_flight, 0);
    assert_eq!(total(first, id, DeliveryStatus::Sending).await, left);

    // Once the lease has passed, the retry takes them back and sends them.
    clock.advance(chrono::Duration::minutes(11));
    let retry = early.send(id, &options(3), &()).await.unwrap();
    assert_eq!(retry.requeued_in_flight, left);

    let sent = provider.sent();
    let mut once = BTreeSet::new();
    for m in &sent {
        assert!(
            once.insert(m.delivery_id),
            "delivery {} sent twice",
            m.delivery_id
        );
    }
    assert_eq!(sent.len() as u64, eligible);
    assert_eq!(total(first, id, DeliveryStatus::Sent).await, eligible);
    assert_eq!(
        total(first, id, DeliveryStatus::Pending).await
            + total(first, id, DeliveryStatus::Sending).await,
        0
    );
    let status = first.status(id).await.unwrap();
    assert_eq!(status.campaign.state, CampaignState::Sent);
    let flagged: u64 = status.channels.iter().map(|c| c.possible_duplicates).sum();
    assert_eq!(
        flagged, left,
        "the requeued deliveries are flagged, no others"
    );
    // Each live sender sent a share of its own; the dead one's shard went out in part
    // before the kill (50 messages) and the rest on the retry.
    assert!(reports.iter().all(|r| r.requeued_in_flight == 0));
    assert!(reports.iter().all(|r| r.sent.values().sum::<u64>() > 0));
    let by_live: u64 = reports.iter().flat_map(|r| r.sent.values()).sum();
    let by_retries: u64 = report.sent.values().sum::<u64>() + retry.sent.values().sum::<u64>();
    assert_eq!(by_live + 50 + by_retries, eligible);
}
