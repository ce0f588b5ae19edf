//! What the audit ledger costs: appends per second, one writer and eight concurrent
//! writers, on a SQLite file and (when `MEDICARE_TEST_POSTGRES_URL` names an admin URL)
//! on a scratch PostgreSQL database.
//!
//! Every append takes its turn on the chain head (one row lock, SQLite's write lock), so
//! concurrent writers do not go faster than one: the figure to read is how much an event
//! adds to the transaction of the action it records. A send call adds a constant number
//! of events (its `send` event and its campaign state changes), whatever its size, so a
//! 112,500-recipient send pays a few appends, not 112,500.
//!
//! Last, the ledger's share of a real send at the brief's scale (`send_112500`, printed,
//! one run; `MEDICARE_BENCH_AUDIT_SEND=0` skips it): 112,500 patients on a SQLite file,
//! one campaign over all of them created and sent to the in-memory notifier. It prints
//! how many events the create-and-send added (a constant handful), the time of the whole
//! (with the ledger), the time the same number of appends take alone, and so the send
//! without them and the ledger's share. The appends cannot be switched off (no action
//! goes unrecorded), so "without" is the measured whole less the measured appends.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, Criterion, Throughput};
use medicare_core::audit::{Action, Actor, AuditEvent, AuditStore, Target};
use medicare_core::campaign::CampaignId;
use medicare_core::store::sqlite::SqliteStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Appends per measured batch.
const BATCH: u64 = 200;

/// `BATCH` appends split over `writers` concurrent tasks; returns the elapsed time.
async fn appends(ledger: Arc<dyn AuditStore>, writers: u64) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..BATCH / writers {
                let event = AuditEvent::new(
                    chrono::Utc::now(),
                    Actor::system("bench").expect("a job name"),
                    Action::ResponsesRead,
                    Target::campaign(CampaignId((w * BATCH + i) as i64)),
                );
                ledger.append_event(&event).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    started.elapsed()
}

fn run(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, ledger: Arc<dyn AuditStore>) {
    let mut group = c.benchmark_group(format!("audit_append/{name}"));
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    for writers in [1u64, 8] {
        group.bench_function(format!("{writers}_writers"), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let ledger = ledger.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += appends(ledger.clone(), writers).await;
                    }
                    total
                }
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = rt
        .block_on(SqliteStore::open(&dir.path().join("audit.db")))
        .expect("sqlite");
    run(c, &rt, "sqlite_file", Arc::new(sqlite));
    if let Ok(url) = std::env::var("MEDICARE_TEST_POSTGRES_URL") {
        let scratch = rt
            .block_on(medicare_core::store::postgres::ScratchDatabase::create(
                &url,
            ))
            .expect("a scratch database");
        run(c, &rt, "postgres", Arc::new(scratch.store().clone()));
        rt.block_on(scratch.drop_database())
            .expect("drop the scratch database");
    }
}

/// Creates and sends one campaign over 112,500 patients and prints the ledger's share.
fn send_112500() {
    use medicare_core::campaign::{CampaignRequest, Engine, SendOptions};
    use medicare_core::notify::{Channel, RecordingNotifier};
    const PATIENTS: usize = 112_500;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("send.db"))
            .await
            .expect("sqlite");
        let signer = medicare_core::link::HmacLinkSigner::from_key_file(
            &dir.path().join("link.key"),
            "https://forms.example.org",
        )
        .expect("signer");
        let notifier = Arc::new(RecordingNotifier::new());
        let engine = Engine::new(
            Arc::new(store.clone()),
            Arc::new(medicare_core::publish::LocalFolderPublisher::new(
                dir.path().join("forms"),
            )),
            Arc::new(signer),
            Arc::new(medicare_core::clock::SystemClock),
        )
        .with_notifier(Channel::Sms, notifier.clone())
        .with_notifier(Channel::Email, notifier);
        let patients = medicare_core::patient::generate(medicare_core::patient::GenerateOptions {
            count: PATIENTS,
            seed: 1,
        });
        engine.import_patients(&patients).await.expect("import");
        let spec = medicare_core::form::FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM)
            .expect("form");
        let form = engine.create_form(&spec).await.expect("form").id;
        let filter = medicare_core::filter::Filter::parse("age >= 0").expect("filter");
        let request = CampaignRequest::new("bench", form, Arc::new(filter));
        let (before, _) = store.audit_head().await.expect("head");
        let start = Instant::now();
        let id = engine.create_campaign(&request).await.expect("create");
        let report = engine
            .send(id, &SendOptions::default(), &())
            .await
            .expect("send");
        let with = start.elapsed();
        let (after, _) = store.audit_head().await.expect("head");
        let events = u64::try_from(after - before).expect("the head moves on");
        let sent: u64 = report.sent.values().sum();
        let ledger: Arc<dyn AuditStore> = Arc::new(store);
        let appended = appends_of(&ledger, events).await;
        println!(
            "audit/send_112500: {sent} messages, {events} ledger events; with the ledger \
             {with:.2?}, its appends alone {appended:.2?}, so without {:.2?} \
             (the ledger {:.3}% of the send)",
            with.saturating_sub(appended),
            100.0 * appended.as_secs_f64() / with.as_secs_f64()
        );
    });
}

/// `n` appends by one writer; the elapsed time.
async fn appends_of(ledger: &Arc<dyn AuditStore>, n: u64) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        let event = AuditEvent::new(
            chrono::Utc::now(),
            Actor::system("bench").expect("a job name"),
            Action::Send,
            Target::campaign(CampaignId(i as i64)),
        );
        ledger.append_event(&event).await.expect("append");
    }
    started.elapsed()
}

criterion_group!(benches, bench);

fn main() {
    benches();
    if std::env::var("MEDICARE_BENCH_AUDIT_SEND").as_deref() != Ok("0") {
        send_112500();
    }
    Criterion::default().configure_from_args().final_summary();
}
