//! A send stopped part way (its future dropped mid-batch, as when a process dies) is
//! resumed by the next send: every delivery ends recorded exactly once as sent, failed
//! or suppressed, and the number that may have gone out twice is reported and bounded by
//! the concurrency.

mod common;

use async_trait::async_trait;
use common::{recorder, Harness};
use medicare_core::campaign::{CampaignState, SendOptions};
use medicare_core::notify::{Notifier, NotifyError, OutboundMessage, RecordingNotifier};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Accepts `limit` messages, then hangs forever, like a process that froze or died.
#[derive(Debug)]
struct DiesAfter {
    accepted: RecordingNotifier,
    limit: usize,
    seen: AtomicUsize,
    dead: Notify,
}

#[async_trait]
impl Notifier for DiesAfter {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.limit {
            self.dead.notify_one();
            std::future::pending::<()>().await;
        }
        self.accepted.send(message).await
    }
}

#[tokio::test]
async fn a_killed_send_resumes_and_every_delivery_is_recorded_once() {
    let h = Harness::new().await;
    h.populate(2_000).await;
    let id = h.campaign("all").await;
    let eligible = h
        .scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'")
        .await as usize;
    let planned = h.scalar("SELECT COUNT(*) FROM deliveries").await;

    let options = SendOptions {
        concurrency: 16,
        ..SendOptions::default()
    };
    let dying = Arc::new(DiesAfter {
        accepted: RecordingNotifier::new(),
        limit: 1_000,
        seen: AtomicUsize::new(0),
        dead: Notify::new(),
    });
    let engine = h.engine_with(dying.clone());
    let send = tokio::spawn({
        let options = options.clone();
        async move { engine.send(id, &options, &()).await }
    });
    dying.dead.notified().await;
    send.abort();
    assert!(send.await.unwrap_err().is_cancelled());

    h.settle().await;
    let settled = (
        h.scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'sending'")
            .await as u64,
        h.scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'")
            .await as usize,
    );
    let (in_flight, recorded_sent) = settled;
    assert!(in_flight > 0, "the kill left a batch in flight");
    assert!(
        in_flight <= 2 * 16,
        "the crash window is bounded by the concurrency per channel: {in_flight}"
    );
    assert!(recorded_sent <= 1_000);
    assert_eq!(
        h.engine.status(id).await.unwrap().campaign.state,
        CampaignState::Sending
    );

    let second = recorder();
    let report = h
        .engine_with(second.clone())
        .send(id, &options, &())
        .await
        .unwrap();
    assert_eq!(report.requeued_in_flight, in_flight);

    // Every delivery is final, once.
    assert_eq!(h.scalar("SELECT COUNT(*) FROM deliveries").await, planned);
    assert_eq!(
        h.scalar("SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')")
            .await,
        0
    );
    assert_eq!(
        h.scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'")
            .await as usize,
        eligible
    );
    assert_eq!(
        h.engine.status(id).await.unwrap().campaign.state,
        CampaignState::Sent
    );

    // Every eligible delivery reached the provider at least once; the ones that reached
    // it twice are among the requeued ones, and no more than reported.
    let mut times: BTreeMap<i64, u32> = BTreeMap::new();
    for m in dying.accepted.sent().iter().chain(second.sent().iter()) {
        *times.entry(m.delivery_id).or_default() += 1;
    }
    assert_eq!(times.len(), eligible);
    let twice = times.values().filter(|&&n| n == 2).count() as u64;
    assert!(times.values().all(|&n| n <= 2));
    assert!(
        twice <= report.requeued_in_flight,
        "{twice} duplicates, {} reported",
        report.requeued_in_flight
    );
    // Before the kill, messages accepted were 1,000: recorded ones plus the in-flight ones.
    assert_eq!(dying.accepted.count(), 1_000);
    assert_eq!(recorded_sent as u64 + twice, 1_000);
}
