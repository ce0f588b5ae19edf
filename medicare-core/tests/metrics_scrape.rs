//! `/metrics` during a campaign send: Prometheus text that parses, counters equal to what
//! the engine recorded, and no patient's data in the metrics or the logs (a canary
//! patient). Its own test binary: the Prometheus recorder and the log subscriber are
//! process-wide.
#![cfg(feature = "server")]

mod common;

use common::Harness;
use medicare_core::campaign::{CampaignId, SendOptions};
use medicare_core::metrics;
use medicare_core::notify::{Channel, NotifyError, RecordingNotifier};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Log lines, kept for the canary check.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The parsed counters `name{channel}` (or `name{reason}`), by label value.
fn counters(text: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{name} is not a counter: {other:?}"),
            };
            (s.labels.get(label).unwrap_or("").to_string(), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_counters_equal_the_recorded_counts_and_carry_no_patient_data() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();
    let handle = metrics::prometheus::install().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, metrics::prometheus::router(handle))
            .await
            .unwrap()
    });

    let h = Harness::new().await;
    h.populate(600).await;
    let canary = medicare_core::patient::generate(medicare_core::patient::GenerateOptions {
        count: 600,
        seed: 11,
    })
    .into_iter()
    .find(|p| p.phone.is_some() && p.email.is_some())
    .unwrap();
    let id = h.campaign("age >= 0").await;

    // Every 7th message is refused for good, every 5th throttled once; each call is slow
    // enough for a scrape to land mid-send.
    let throttles = Arc::new(AtomicU64::new(0));
    let counted = throttles.clone();
    let notifier = Arc::new(RecordingNotifier::with_failures(Arc::new(
        move |m, attempt| {
            std::thread::sleep(Duration::from_micros(300));
            if m.recipient_id % 7 == 0 {
                Some(NotifyError::Permanent {
                    reason: "rejected".into(),
                })
            } else if m.recipient_id % 5 == 0 && attempt == 1 {
                counted.fetch_add(1, Ordering::SeqCst);
                Some(NotifyError::Throttled {
                    reason: "slow down".into(),
                    retry_after: None,
                })
            } else {
                None
            }
        },
    )));
    let engine = h.engine_with(notifier);
    let options = SendOptions {
        concurrency: 16,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        ..SendOptions::default()
    };
    let send = tokio::spawn(async move { engine.send(id, &options, &()).await.unwrap() });
    let mut during = String::new();
    while !send.is_finished() {
        during = scrape(addr).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = send.await.unwrap();
    let after = scrape(addr).await;
    assert!(!during.is_empty(), "scraped while sending");
    counters(&during, metrics::MESSAGES_SENT, "channel");

    let status = h.engine.status(CampaignId(id.0)).await.unwrap();
    type Recorded = fn(&medicare_core::campaign::ChannelSummary) -> u64;
    let checks: [(&str, Recorded); 2] = [
        (metrics::MESSAGES_SENT, |c| c.sent),
        (metrics::MESSAGES_FAILED, |c| c.failed),
    ];
    for (metric, recorded) in checks {
        let scraped = counters(&after, metric, "channel");
        for c in status.channels.iter() {
            let Some(channel) = c.channel else { continue };
            assert_eq!(
                scraped.get(channel.as_str()).copied().unwrap_or(0.0),
                recorded(c) as f64,
                "{metric} {channel}"
            );
        }
    }
    let sent: u64 = report.sent.values().sum();
    assert!(
        sent > 100 && report.failed.values().sum::<u64>() > 10,
        "{report:?}"
    );
    let total = |name, label| counters(&after, name, label).values().sum::<f64>();
    assert_eq!(
        total(metrics::MESSAGES_THROTTLED, "channel"),
        throttles.load(Ordering::SeqCst) as f64
    );
    assert_eq!(
        total(metrics::MESSAGES_RETRIED, "channel"),
        report.retries as f64
    );
    // Audit events by outcome: as many as the ledger holds (nothing here rolled back).
    let ledger = medicare_core::audit::all_entries(h.engine.store().as_ref())
        .await
        .unwrap();
    let audited = counters(&after, metrics::AUDIT_EVENTS, "outcome");
    assert!(ledger.len() >= 3, "{ledger:?}");
    for outcome in medicare_core::audit::Outcome::ALL {
        let n = ledger
            .iter()
            .filter(|e| e.outcome == outcome.as_str())
            .count();
        assert_eq!(
            audited.get(outcome.as_str()).copied().unwrap_or(0.0),
            n as f64,
            "{outcome}"
        );
    }
    assert!(after.contains(metrics::PROVIDER_LATENCY) && after.contains(metrics::CLAIM_BATCH));
    for channel in Channel::ALL {
        assert!(after.contains(&format!("channel=\"{channel}\"")), "{after}");
    }

    // The canary: nothing that identifies a patient in the metrics or the logs.
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("send finished"), "the logs were captured");
    let secrets = [
        canary.given_name.clone(),
        canary.family_name.clone(),
        canary.phone.as_ref().unwrap().as_str().to_string(),
        canary.email.as_ref().unwrap().as_str().to_string(),
        canary.nhs_number.as_ref().unwrap().as_str().to_string(),
    ];
    for secret in &secrets {
        assert!(!after.contains(secret.as_str()), "metrics carry {secret:?}");
        assert!(!logs.contains(secret.as_str()), "logs carry {secret:?}");
    }
}
