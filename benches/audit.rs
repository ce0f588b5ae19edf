//! What the audit ledger costs: appends per second, one writer and eight concurrent
//! writers, on a SQLite file and (when `MEDICARE_TEST_POSTGRES_URL` names an admin URL)
//! on a scratch PostgreSQL database.
//!
//! Every append takes its turn on the chain head (one row lock, SQLite's write lock), so
//! concurrent writers do not go faster than one: the figure to read is how much an event
//! adds to the transaction of the action it records. A send call adds a constant number
//! of events (its `send` event and its campaign state changes), whatever its size, so a
//! 112,500-recipient send pays a few appends, not 112,500.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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

criterion_group!(benches, bench);
criterion_main!(benches);
