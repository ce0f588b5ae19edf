//! Bulk send at the brief's scale: 112,500 patients on the embedded SQLite store.
//!
//! Each iteration creates a campaign over every patient (freeze 112,500 recipients,
//! issue 112,500 links, plan and suppress ~225,000 deliveries) and sends it to the
//! in-memory recording notifier with no rate limit, so what is measured is the engine
//! and the store, not a provider. Throughput is reported in recipients per second.
//! A second group measures the demo's audience (patients with a lung condition).
//!
//! Other backends follow at the end, each run only when its server's admin URL is set
//! (PostgreSQL: `MEDICARE_BENCH_POSTGRES_URL`; MySQL/MariaDB: `MEDICARE_BENCH_MYSQL_URL`),
//! each on a scratch database dropped afterwards.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medicare_core::campaign::{CampaignRequest, Engine, SendOptions};
use medicare_core::clock::SystemClock;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::link::HmacLinkSigner;
use medicare_core::notify::{Channel, RecordingNotifier};
use medicare_core::patient::{generate, GenerateOptions};
use medicare_core::publish::LocalFolderPublisher;
use medicare_core::store::sqlite::SqliteStore;
use medicare_core::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PATIENTS: usize = 112_500;

struct Setup {
    engine: Engine,
    form: medicare_core::campaign::FormId,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("store"),
    );
    setup_on(store, dir).await
}

/// The bench's patients and form on `store` (any backend).
async fn setup_on(store: Arc<dyn Store>, dir: tempfile::TempDir) -> Setup {
    let signer = Arc::new(
        HmacLinkSigner::from_key_file(&dir.path().join("link.key"), "https://forms.example.org")
            .expect("signer"),
    );
    let engine = Engine::new(
        store,
        Arc::new(LocalFolderPublisher::new(dir.path().join("forms"))),
        signer,
        Arc::new(SystemClock),
    );
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
        .expect("create form")
        .id;
    Setup {
        engine,
        form,
        _dir: dir,
    }
}

/// Creates and sends one campaign; returns (recipients, messages sent).
async fn create_and_send(setup: &Setup, filter: &Filter, n: u64) -> (u64, u64) {
    let notifier = Arc::new(RecordingNotifier::new());
    let engine = setup
        .engine
        .clone()
        .with_notifier(Channel::Sms, notifier.clone())
        .with_notifier(Channel::Email, notifier.clone());
    let request = CampaignRequest::new(format!("bench {n}"), setup.form, Arc::new(filter.clone()));
    let id = engine.create_campaign(&request).await.expect("create");
    let report = engine
        .send(id, &SendOptions::default(), &())
        .await
        .expect("send");
    let recipients = engine.store().recipient_count(id).await.expect("count");
    (recipients, report.sent.values().sum())
}

fn bulk_send(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let setup = rt.block_on(setup());
    let mut n = 0;
    for (name, filter, recipients) in [
        ("all_112500_patients", Filter::all(), PATIENTS as u64),
        (
            "lung_condition_audience",
            medicare_core::demo::lung_filter(),
            0,
        ),
    ] {
        let recipients = if recipients == 0 {
            rt.block_on(setup.engine.count_patients(&filter))
                .expect("count")
        } else {
            recipients
        };
        let mut group = c.benchmark_group("create_and_send");
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(20));
        group.throughput(Throughput::Elements(recipients));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let start = Instant::now();
                    let (got, sent) = rt.block_on(create_and_send(&setup, &filter, n));
                    total += start.elapsed();
                    assert_eq!(got, recipients);
                    assert!(sent > 0);
                }
                total
            });
        });
        group.finish();
    }
}

/// Creates and sends one campaign over every patient, timing each phase.
async fn timed_create_and_send(setup: &Setup, n: u64) -> (Duration, Duration) {
    let notifier = Arc::new(RecordingNotifier::new());
    let engine = setup
        .engine
        .clone()
        .with_notifier(Channel::Sms, notifier.clone())
        .with_notifier(Channel::Email, notifier);
    let request = CampaignRequest::new(format!("bench {n}"), setup.form, Arc::new(Filter::all()));
    let start = Instant::now();
    let id = engine.create_campaign(&request).await.expect("create");
    let created = start.elapsed();
    let report = engine
        .send(id, &SendOptions::default(), &())
        .await
        .expect("send");
    let sent = start.elapsed() - created;
    assert!(report.sent.values().sum::<u64>() > 0);
    let recipients = engine.store().recipient_count(id).await.expect("count");
    assert_eq!(recipients, PATIENTS as u64);
    (created, sent)
}

/// The create-and-send group of a server backend: `group` names it; the phase figures
/// (campaign creation, send, total, recipients per second) are printed after it.
fn server_group(c: &mut Criterion, rt: &tokio::runtime::Runtime, setup: &Setup, group: &str) {
    let mut n = 0;
    let (mut created, mut sent) = (Duration::ZERO, Duration::ZERO);
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(PATIENTS as u64));
    g.bench_function("all_112500_patients", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let (c, s) = rt.block_on(timed_create_and_send(setup, n));
                created += c;
                sent += s;
                total += c + s;
            }
            total
        });
    });
    g.finish();
    let runs = u32::try_from(n).unwrap_or(u32::MAX).max(1);
    let (created, sent) = (created / runs, sent / runs);
    let per_second = |d: Duration| PATIENTS as f64 / d.as_secs_f64();
    println!(
        "{group}: {PATIENTS} recipients, mean of {runs} runs: campaign create {created:.2?} \
         ({:.0} recipients/s), send {sent:.2?} ({:.0}/s), total {:.2?} ({:.0}/s)",
        per_second(created),
        per_second(sent),
        created + sent,
        per_second(created + sent),
    );
}

/// PostgreSQL: the same campaign on a scratch database of the server at
/// `MEDICARE_BENCH_POSTGRES_URL` (an admin URL); skipped, saying so, without it.
fn bulk_send_postgres(c: &mut Criterion) {
    use medicare_core::store::postgres::ScratchDatabase;
    let Some(url) = std::env::var("MEDICARE_BENCH_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped create_and_send_postgres: MEDICARE_BENCH_POSTGRES_URL is not set");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = rt
        .block_on(ScratchDatabase::create(&url))
        .expect("scratch database");
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Instant::now();
    let setup = rt.block_on(setup_on(Arc::new(db.store().clone()), dir));
    let import = start.elapsed();
    println!(
        "postgres: import of {PATIENTS} patients {import:.2?} ({:.0} patients/s)",
        PATIENTS as f64 / import.as_secs_f64()
    );
    server_group(c, &rt, &setup, "create_and_send_postgres");
    rt.block_on(db.drop_database())
        .expect("drop the scratch database");
}

/// MySQL / MariaDB: the same campaign on a fresh database of the server at
/// `MEDICARE_BENCH_MYSQL_URL` (an admin URL), dropped afterwards; skipped, saying so,
/// without it.
fn bulk_send_mysql(c: &mut Criterion) {
    use medicare_core::store::mysql::MySqlStore;
    use sqlx::Connection;
    let Some(url) = std::env::var("MEDICARE_BENCH_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped create_and_send_mysql: MEDICARE_BENCH_MYSQL_URL is not set");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let name = format!("medicare_bench_{}", std::process::id());
    let admin = |sql: String| {
        let url = url.clone();
        async move {
            let mut conn = sqlx::MySqlConnection::connect(&url)
                .await
                .expect("admin connection");
            sqlx::query(&sql)
                .execute(&mut conn)
                .await
                .expect("admin statement");
        }
    };
    rt.block_on(admin(format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
    )));
    let server = url.split('?').next().unwrap_or_default();
    let db_url = format!(
        "{}/{name}",
        server.rsplit_once('/').map_or(server, |(s, _)| s)
    );
    let store = rt
        .block_on(MySqlStore::connect(&db_url))
        .expect("MySQL store");
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Instant::now();
    let setup = rt.block_on(setup_on(Arc::new(store), dir));
    let import = start.elapsed();
    println!(
        "mysql: import of {PATIENTS} patients {import:.2?} ({:.0} patients/s)",
        PATIENTS as f64 / import.as_secs_f64()
    );
    server_group(c, &rt, &setup, "create_and_send_mysql");
    drop(setup);
    rt.block_on(admin(format!("DROP DATABASE `{name}`")));
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bulk_send, bulk_send_postgres, bulk_send_mysql
}
criterion_main!(benches);
