//! Backup and restore throughput on the demo's 112,500-patient database.
//!
//! The database is the demo's: 112,500 patients, the vaccination form, the lung-condition
//! campaign with its recipients and sent deliveries. A backup streams every table through
//! zstd and age into an on-premises folder sink (fsync included); a restore hash-checks
//! the object, decrypts it and writes every row into a fresh SQLite file in one
//! transaction. Each is reported twice: in MB/s of ciphertext, and in rows per second.
//!
//! Also printed: how long the demo took to build that database (`run_demo`, the whole of
//! `medicare demo` but its printing), and a backup followed by its verified restore, the
//! pair the storage targets (issue 12: 2 s together) are about.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use medicare_core::backup::keys::{generate_identity, BackupKeys, Identities, KeyPaths};
use medicare_core::backup::local::LocalFolderSink;
use medicare_core::backup::manifest::{BackupKind, Manifest};
use medicare_core::backup::Backups;
use medicare_core::clock::FixedClock;
use medicare_core::demo::{run_demo, DemoOptions};
use medicare_core::store::sqlite::SqliteStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Setup {
    dir: tempfile::TempDir,
    source: SqliteStore,
    keys: BackupKeys,
    identities: Identities,
    clock: Arc<FixedClock>,
    backups: Backups,
    manifest: Manifest,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("demo");
    let start = Instant::now();
    let demo = run_demo(&ws, DemoOptions::default(), &())
        .await
        .expect("demo");
    let t = &demo.timings;
    let follow_up = demo.follow_up.as_ref();
    println!(
        "demo (run_demo, embedded defaults): {:.2?} end to end (generate {:.2?}, import {:.2?}, form {:.2?}, create {:.2?}, send {:.2?}, answers over HTTP {:.2?}, remind {:.2?}, report {:.2?})",
        start.elapsed(),
        t.generate,
        t.import,
        t.form,
        t.create,
        t.send,
        follow_up.map(|f| f.answer_time).unwrap_or_default(),
        follow_up.map(|f| f.remind_time).unwrap_or_default(),
        follow_up.map(|f| f.report_time).unwrap_or_default(),
    );
    let source = SqliteStore::open(&ws.join("medicare.db"))
        .await
        .expect("db");
    let paths = KeyPaths::in_workspace(&ws);
    generate_identity(&paths.identity(), &paths.recipients()).expect("identity");
    let keys = BackupKeys::for_backup(&paths).expect("keys");
    let identities = Identities::from_file(&paths.identity()).expect("identities");
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let backups = Backups::new(
        Arc::new(LocalFolderSink::new(dir.path().join("backups"))),
        clock.clone(),
    );
    let manifest = backups
        .run(&source, &keys, Some(BackupKind::Full))
        .await
        .expect("first backup");
    Setup {
        dir,
        source,
        keys,
        identities,
        clock,
        backups,
        manifest,
    }
}

async fn backup_once(s: &Setup) -> Duration {
    s.clock.advance(chrono::Duration::seconds(1));
    let start = Instant::now();
    s.backups
        .run(&s.source, &s.keys, Some(BackupKind::Full))
        .await
        .expect("backup");
    start.elapsed()
}

async fn restore_once(s: &Setup, n: u64) -> Duration {
    let path = s.dir.path().join(format!("restore-{n}.db"));
    let start = Instant::now();
    s.backups
        .restore_to_sqlite_file(&s.manifest.id, &s.identities, &s.keys.trusted, &path, false)
        .await
        .expect("restore");
    let elapsed = start.elapsed();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    elapsed
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s = rt.block_on(setup());
    let rows = s.manifest.total_rows();
    let bytes = s.manifest.object.size;
    let db_bytes = std::fs::metadata(s.dir.path().join("demo/medicare.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "database: {} tables, {rows} rows, file {db_bytes} bytes; backup object {bytes} bytes",
        s.manifest.tables.len()
    );
    let counter = std::sync::atomic::AtomicU64::new(0);

    for (name, throughput) in [
        ("MB", Throughput::BytesDecimal(bytes)),
        ("rows", Throughput::Elements(rows)),
    ] {
        let mut group = c.benchmark_group("backup_112500_patients");
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(10))
            .throughput(throughput);
        group.bench_function(BenchmarkId::new("backup", name), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let s = &s;
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += backup_once(s).await;
                    }
                    total
                }
            })
        });
        group.bench_function(BenchmarkId::new("restore", name), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (s, counter) = (&s, &counter);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        total += restore_once(s, n).await;
                    }
                    total
                }
            })
        });
        group.finish();
    }
    let pairs: Vec<(Duration, Duration)> = (0..3)
        .map(|_| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(async { (backup_once(&s).await, restore_once(&s, n).await) })
        })
        .collect();
    for (backup, restore) in &pairs {
        println!(
            "backup {backup:.2?} + verified restore {restore:.2?} = {:.2?}",
            *backup + *restore
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
