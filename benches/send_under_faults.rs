//! Sending under provider faults (issue 16): a 5,000-recipient SMS send against a
//! loopback HTTP stand-in for the provider that throttles 30% of requests (429) and
//! fails 5% (500), against the same send with no faults.
//!
//! Each send creates an SMS-only campaign over the patients with a phone, on a fresh
//! SQLite file, and sends it with the default options (1,024 in flight, up to 10
//! attempts, backoff from 200 ms, no rate limit). The stand-in is an HTTP/1.1 server on
//! 127.0.0.1 that decides each request's fate from a seeded sequence and counts every
//! message it accepts; the notifier posts the delivery id and classifies the answer as
//! a provider client does (429: throttled, 5xx: transient, 200: accepted). Printed: each
//! send's rate, the faulted rate as a share of the fault-free one (target: at least
//! half), and whether every recipient was accepted exactly once.

#![allow(missing_docs)] // a bench binary

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use medicare_core::campaign::{CampaignRequest, Engine, SendOptions};
use medicare_core::clock::SystemClock;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::link::HmacLinkSigner;
use medicare_core::notify::{Channel, Notifier, NotifyError, OutboundMessage};
use medicare_core::patient::{generate, GenerateOptions};
use medicare_core::publish::LocalFolderPublisher;
use medicare_core::store::sqlite::SqliteStore;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Patients generated: about 5,000 of them have a phone and no SMS opt-out.
const PATIENTS: usize = 5_600;

/// Sends measured per setting (the median is compared).
const RUNS: usize = 3;

/// The provider stand-in: each request's fate, and what it accepted.
#[derive(Debug)]
struct Stub {
    /// Share of requests answered 429.
    throttle: f64,
    /// Share of requests answered 500 (not accepted).
    error: f64,
    /// Requests so far (the seed of each one's fate).
    requests: AtomicU64,
    /// Accepted messages by delivery id.
    accepted: Mutex<HashMap<i64, u32>>,
}

impl Stub {
    /// A uniform number in [0, 1) for request `n` (splitmix64: reproducible runs).
    fn roll(n: u64) -> f64 {
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }
}

async fn publish(State(stub): State<Arc<Stub>>, body: String) -> (StatusCode, String) {
    let roll = Stub::roll(stub.requests.fetch_add(1, Ordering::Relaxed));
    if roll < stub.throttle {
        return (StatusCode::TOO_MANY_REQUESTS, "Throttling".into());
    }
    if roll < stub.throttle + stub.error {
        return (StatusCode::INTERNAL_SERVER_ERROR, "InternalError".into());
    }
    let Ok(id) = body.parse::<i64>() else {
        return (StatusCode::BAD_REQUEST, "bad delivery id".into());
    };
    *stub.accepted.lock().expect("lock").entry(id).or_default() += 1;
    (StatusCode::OK, format!("msg-{id}"))
}

/// Posts each message's delivery id to the stand-in and classifies the answer.
#[derive(Debug)]
struct StubNotifier {
    client: reqwest::Client,
    url: String,
}

#[async_trait]
impl Notifier for StubNotifier {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        let transient = |reason: String| NotifyError::Transient { reason };
        let answer = self
            .client
            .post(&self.url)
            .body(message.delivery_id.to_string())
            .send()
            .await
            .map_err(|e| transient(format!("request failed: {e}")))?;
        let status = answer.status();
        let text = answer
            .text()
            .await
            .map_err(|e| transient(format!("answer unreadable: {e}")))?;
        match status.as_u16() {
            200 => Ok(text),
            429 => Err(NotifyError::Throttled {
                reason: text,
                retry_after: None,
            }),
            500..=599 => Err(transient(text)),
            _ => Err(NotifyError::Permanent { reason: text }),
        }
    }
}

/// One send at (`throttle`, `error`): returns (messages sent, rate per second, every
/// recipient accepted exactly once).
async fn one_send(throttle: f64, error: f64) -> (u64, f64, bool) {
    let stub = Arc::new(Stub {
        throttle,
        error,
        requests: AtomicU64::new(0),
        accepted: Mutex::new(HashMap::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/publish", listener.local_addr().expect("address"));
    let app = axum::Router::new()
        .route("/publish", post(publish))
        .with_state(stub.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("bench.db"))
        .await
        .expect("store");
    let signer = Arc::new(
        HmacLinkSigner::from_key_file(&dir.path().join("link.key"), "https://forms.example.org")
            .expect("signer"),
    );
    let notifier = Arc::new(StubNotifier {
        client: reqwest::Client::new(),
        url,
    });
    let engine = Engine::new(
        Arc::new(store),
        Arc::new(LocalFolderPublisher::new(dir.path().join("forms"))),
        signer,
        Arc::new(SystemClock),
    )
    .with_notifier(Channel::Sms, notifier);
    engine
        .import_patients(&generate(GenerateOptions {
            count: PATIENTS,
            seed: 1,
        }))
        .await
        .expect("import");
    let form = engine
        .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).expect("form"))
        .await
        .expect("form")
        .id;
    let mut request = CampaignRequest::new(
        "faults",
        form,
        Arc::new(Filter::parse("has_phone").expect("filter")),
    );
    request.channels = vec![Channel::Sms];
    let id = engine.create_campaign(&request).await.expect("create");
    let report = engine
        .send(id, &SendOptions::default(), &())
        .await
        .expect("send");
    server.abort();
    let sent = report.sent.get(&Channel::Sms).copied().unwrap_or_default();
    let failed = report
        .failed
        .get(&Channel::Sms)
        .copied()
        .unwrap_or_default();
    let accepted = stub.accepted.lock().expect("lock");
    let once = failed == 0 && accepted.len() as u64 == sent && accepted.values().all(|&n| n == 1);
    (sent, sent as f64 / report.elapsed.as_secs_f64(), once)
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut medians = Vec::new();
    for (label, throttle, error) in [("no faults", 0.0, 0.0), ("30% 429 + 5% 500", 0.3, 0.05)] {
        let mut rates = Vec::new();
        for run in 1..=RUNS {
            let (sent, rate, once) = rt.block_on(one_send(throttle, error));
            println!(
                "{label}, run {run}: {sent} SMS at {rate:.0}/s; every recipient accepted \
                 exactly once: {once}"
            );
            rates.push(rate);
        }
        let m = median(rates);
        println!("{label}: median {m:.0} SMS/s over {RUNS} sends");
        medians.push(m);
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "under faults: {:.0}% of the fault-free rate (target: at least 50%)",
        100.0 * medians[1] / medians[0]
    );
}
