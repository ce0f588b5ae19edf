//! The form service on loopback: pages served and submissions stored per second, with
//! p50/p99 latency, under concurrent clients.
//!
//! Setup: a campaign over 30,000 generated patients (SMS to those with a phone), sent to
//! the outbox of a workspace on the embedded SQLite store, and the router served on
//! 127.0.0.1 with the per-IP link budget lifted (every client is 127.0.0.1). Clients are
//! tokio tasks sharing one HTTP/1.1 connection pool, each issuing requests back to back.
//!
//! - `pages/clients_N`: `GET /f/{token}` of unanswered links (checks the link, records
//!   the view, renders the form).
//! - `submissions/clients_N`: `GET` then `POST /f/{token}` with valid answers (checks the
//!   link and the answers, writes the response row and spends the link in one
//!   transaction). Each submission spends a link; when the pool of fresh links runs out
//!   the responses are cleared outside the timed part.
//!
//! Criterion reports throughput (elements/s = pages/s or submissions/s); p50/p99 of the
//! single requests are printed after each benchmark.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medicare_core::campaign::CampaignRequest;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::notify::Channel;
use medicare_core::server::{client, router, serve, ServerOptions};
use medicare_core::store::sqlite::SqliteStore;
use medicare_core::{Config, Workspace};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PATIENTS: usize = 30_000;

struct Setup {
    base: String,
    links: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    store: SqliteStore,
    http: reqwest::Client,
    _ws: Workspace,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = Workspace::open(dir.path(), Config::default())
        .await
        .expect("workspace");
    let engine = ws.engine();
    engine
        .import_patients(&medicare_core::patient::generate(
            medicare_core::patient::GenerateOptions {
                count: PATIENTS,
                seed: 7,
            },
        ))
        .await
        .expect("patients");
    let form = engine
        .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).expect("form"))
        .await
        .expect("form");
    let mut request = CampaignRequest::new(
        "bench",
        form.id,
        Arc::new(Filter::parse("has_phone").expect("filter")),
    );
    request.channels = vec![Channel::Sms];
    let campaign = engine.create_campaign(&request).await.expect("campaign");
    engine
        .send(campaign, &Default::default(), &())
        .await
        .expect("send");
    let outbox = std::fs::read_to_string(ws.outbox_path()).expect("outbox");
    let links: Vec<String> = outbox
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            client::link_path(v["text"].as_str()?).map(str::to_string)
        })
        .collect();
    let unlimited = NonZeroU32::new(u32::MAX).expect("non-zero");
    let options = ServerOptions {
        link_requests_per_minute: unlimited,
        link_burst: unlimited,
        ..ServerOptions::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(serve(
        listener,
        router(engine.clone(), options),
        std::future::pending(),
    ));
    let store = SqliteStore::open(&dir.path().join("medicare.db"))
        .await
        .expect("store");
    Setup {
        base,
        links: Arc::new(links),
        next: Arc::new(AtomicUsize::new(0)),
        store,
        http: reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client"),
        _ws: ws,
        _dir: dir,
    }
}

impl Setup {
    /// Clears every response, so every link is fresh again (not timed).
    async fn reset(&self) {
        sqlx::query("DELETE FROM resp_1")
            .execute(self.store.pool())
            .await
            .expect("reset");
        sqlx::query("UPDATE recipients SET submitted_at = NULL")
            .execute(self.store.pool())
            .await
            .expect("reset");
        self.next.store(0, Ordering::SeqCst);
    }

    /// Runs `n` requests over `clients` tasks; returns the wall time and records each
    /// request's latency.
    async fn run(
        &self,
        n: u64,
        clients: usize,
        submit: bool,
        latencies: &Mutex<Vec<Duration>>,
    ) -> Duration {
        let remaining = Arc::new(AtomicUsize::new(n as usize));
        let answers: Vec<(String, String)> = [
            ("wants_vaccination", "yes"),
            ("preferred_site", "A local pharmacy"),
            ("available_days", "Monday"),
            ("earliest_date", "2026-12-01"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let answers = Arc::new(answers);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (remaining, links, next, http, base, answers) = (
                    remaining.clone(),
                    self.links.clone(),
                    self.next.clone(),
                    self.http.clone(),
                    self.base.clone(),
                    answers.clone(),
                );
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while remaining
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
                        .is_ok()
                    {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let path = &links[i % links.len()];
                        let t = Instant::now();
                        let status = if submit {
                            client::open(&http, &base, path).await.expect("GET");
                            client::submit(&http, &base, path, &answers)
                                .await
                                .expect("POST")
                        } else {
                            client::open(&http, &base, path).await.expect("GET")
                        };
                        assert!(status.is_success(), "{status} for link {i}");
                        mine.push(t.elapsed());
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        let elapsed = started.elapsed();
        latencies.lock().expect("latencies").extend(all);
        elapsed
    }
}

fn percentiles(name: &str, latencies: &Mutex<Vec<Duration>>) {
    let mut l = latencies.lock().expect("latencies");
    if l.is_empty() {
        return;
    }
    l.sort();
    let at = |q: f64| l[((l.len() - 1) as f64 * q) as usize];
    println!(
        "{name}: {} requests, p50 {:.2?}, p99 {:.2?}",
        l.len(),
        at(0.50),
        at(0.99)
    );
    l.clear();
}

fn form_service(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let setup = rt.block_on(setup());
    let mut group = c.benchmark_group("form_service");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for clients in [1, 16] {
        let latencies = Mutex::new(Vec::new());
        group.bench_function(format!("pages/clients_{clients}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (setup, latencies) = (&setup, &latencies);
                async move {
                    setup.reset().await;
                    setup.run(iters, clients, false, latencies).await
                }
            })
        });
        percentiles(&format!("pages/clients_{clients}"), &latencies);
        group.bench_function(format!("submissions/clients_{clients}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (setup, latencies) = (&setup, &latencies);
                async move {
                    // Fresh links only: spend at most the pool per timed chunk.
                    let mut total = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        setup.reset().await;
                        let chunk = left.min(setup.links.len() as u64);
                        total += setup.run(chunk, clients, true, latencies).await;
                        left -= chunk;
                    }
                    total
                }
            })
        });
        percentiles(&format!("submissions/clients_{clients}"), &latencies);
    }
    group.finish();
}

criterion_group!(benches, form_service);
criterion_main!(benches);
