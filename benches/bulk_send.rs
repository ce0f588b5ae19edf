//! Bulk send at the brief's scale: 112,500 patients, on each database.
//!
//! Each iteration creates a campaign over every patient (freeze 112,500 recipients,
//! issue 112,500 links, plan and suppress ~225,000 deliveries) and sends it to the
//! in-memory recording notifier with no rate limit, so what is measured is the engine
//! and the store, not a provider. After each backend's group the same run prints the
//! database's own floor for the same rows: one `INSERT … SELECT` of the recipients and
//! one of their deliveries (same tables, same indexes, one transaction), then one
//! `UPDATE` recording every pending delivery as sent; and the engine's ratio to it.
//!
//! SQLite always runs (with a second group for the demo's audience, patients with a lung
//! condition); the server backends run when their admin URL is set (PostgreSQL:
//! `MEDICARE_BENCH_POSTGRES_URL`; MySQL/MariaDB: `MEDICARE_BENCH_MYSQL_URL`), each on a
//! scratch database dropped afterwards.
//!
//! Last, time and peak memory at scale, one process per measurement (the peak resident
//! set never falls, so a process measures one thing): for each patient count of
//! `MEDICARE_BENCH_SCALES` (default `112500,1000000`; empty to skip) one child process
//! imports the patients into a fresh SQLite file, and a second one creates and sends the
//! campaign over all of them and prints its time and peak RSS (`VmHWM`).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use async_trait::async_trait;
use criterion::{criterion_group, Criterion, Throughput};
use medicare_core::campaign::{CampaignRequest, Engine, FormId, SendOptions};
use medicare_core::clock::SystemClock;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::link::HmacLinkSigner;
use medicare_core::notify::{Channel, Notifier, NotifyError, OutboundMessage, RecordingNotifier};
use medicare_core::patient::{generate, GenerateOptions};
use medicare_core::publish::LocalFolderPublisher;
use medicare_core::store::sqlite::SqliteStore;
use medicare_core::store::Store;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PATIENTS: usize = 112_500;

/// The backend under measurement, with its pool for the floor's raw statements.
#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(medicare_core::store::postgres::PostgresStore),
    Mysql(medicare_core::store::mysql::MySqlStore),
}

impl Backend {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
            Backend::Mysql(s) => Arc::new(s.clone()),
        }
    }
}

struct Setup {
    engine: Engine,
    backend: Backend,
    form: FormId,
    _dir: tempfile::TempDir,
}

/// The engine over `backend`, its link key and form pages in `dir`.
fn engine_on(backend: &Backend, dir: &Path) -> Engine {
    let signer = Arc::new(
        HmacLinkSigner::from_key_file(&dir.join("link.key"), "https://forms.example.org")
            .expect("signer"),
    );
    Engine::new(
        backend.store(),
        Arc::new(LocalFolderPublisher::new(dir.join("forms"))),
        signer,
        Arc::new(SystemClock),
    )
}

/// `count` generated patients and the demo form on `backend`; returns the form.
async fn populate(engine: &Engine, count: usize) -> FormId {
    engine
        .import_patients(&generate(GenerateOptions { count, seed: 1 }))
        .await
        .expect("import");
    engine
        .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).expect("form"))
        .await
        .expect("create form")
        .id
}

/// The bench's patients and form on `backend`, timing the import.
async fn setup_on(backend: Backend, dir: tempfile::TempDir, label: &str) -> Setup {
    let engine = engine_on(&backend, dir.path());
    let start = Instant::now();
    let form = populate(&engine, PATIENTS).await;
    let import = start.elapsed();
    println!(
        "{label}: import of {PATIENTS} patients {import:.2?} ({:.0} patients/s)",
        PATIENTS as f64 / import.as_secs_f64()
    );
    Setup {
        engine,
        backend,
        form,
        _dir: dir,
    }
}

/// Creates and sends one campaign over `filter`, timing each phase; returns
/// (create, send, recipients, messages sent).
async fn create_and_send(
    engine: &Engine,
    form: FormId,
    filter: &Filter,
    name: String,
    notifier: Arc<dyn Notifier>,
) -> (Duration, Duration, u64, u64) {
    let engine = engine
        .clone()
        .with_notifier(Channel::Sms, notifier.clone())
        .with_notifier(Channel::Email, notifier);
    let request = CampaignRequest::new(name, form, Arc::new(filter.clone()));
    let start = Instant::now();
    let id = engine.create_campaign(&request).await.expect("create");
    let created = start.elapsed();
    let report = engine
        .send(id, &SendOptions::default(), &())
        .await
        .expect("send");
    let sent = start.elapsed() - created;
    let recipients = engine.store().recipient_count(id).await.expect("count");
    (created, sent, recipients, report.sent.values().sum())
}

/// One backend's create-and-send group over `filter` (`expected` recipients), then the
/// phase means. Returns the mean create + send.
fn group(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    setup: &Setup,
    (group, name): (&str, &str),
    filter: &Filter,
    expected: u64,
) -> Duration {
    let mut n = 0u32;
    let (mut created, mut sent) = (Duration::ZERO, Duration::ZERO);
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(expected));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let (c, s, recipients, messages) = rt.block_on(create_and_send(
                    &setup.engine,
                    setup.form,
                    filter,
                    format!("bench {group} {name} {n}"),
                    Arc::new(RecordingNotifier::new()),
                ));
                assert_eq!(recipients, expected);
                assert!(messages > 0);
                created += c;
                sent += s;
                total += c + s;
            }
            total
        });
    });
    g.finish();
    if n == 0 {
        // Filtered out of this run: nothing was measured.
        return Duration::ZERO;
    }
    let (created, sent) = (created / n, sent / n);
    let per_second = |d: Duration| expected as f64 / d.as_secs_f64();
    println!(
        "{group}/{name}: {expected} recipients, mean of {n} runs: campaign create \
         {created:.2?} ({:.0} recipients/s), send {sent:.2?} ({:.0}/s), total {:.2?} ({:.0}/s)",
        per_second(created),
        per_second(sent),
        created + sent,
        per_second(created + sent),
    );
    created + sent
}

/// The floor's statements for one database: what the engine writes for a campaign over
/// every patient, written by the database itself.
struct FloorSql {
    /// The campaign row.
    campaign: String,
    /// Recipients and their deliveries (`INSERT … SELECT`, one transaction).
    insert: [String; 2],
    /// Every pending delivery recorded as sent (one `UPDATE`).
    update: String,
}

impl FloorSql {
    /// The statements for floor campaign `id` of form `form`, in the backend's SQL.
    fn new(backend: &Backend, id: i64, form: FormId) -> Self {
        // Random link nonces (16 bytes) and token hashes (32 bytes), a boolean test, a
        // time literal: the only differences between the three.
        let (nonce, hash, yes, now) = match backend {
            Backend::Sqlite(_) => (
                "randomblob(16)",
                "randomblob(32)",
                " <> 0",
                "'2026-01-01T00:00:00Z'",
            ),
            Backend::Postgres(_) => (
                "decode(md5(random()::text || p.id::text), 'hex')",
                "sha256(decode(md5(random()::text || p.id::text), 'hex'))",
                "",
                "'2026-01-01T00:00:00Z'",
            ),
            Backend::Mysql(_) => (
                "UNHEX(MD5(CONCAT(RAND(), p.id)))",
                "UNHEX(SHA2(CONCAT(RAND(), '/', p.id), 256))",
                " <> 0",
                "'2026-01-01 00:00:00'",
            ),
        };
        FloorSql {
            campaign: format!(
                "INSERT INTO campaigns (id, name, form_id, filter, channels, state, messages_json, \
                 link_expires_at, created_at) VALUES ({id}, 'floor {id}', {}, 'all', 'sms,email', \
                 'sending', '{{}}', {now}, {now})",
                form.0
            ),
            insert: [
                format!(
                    "INSERT INTO recipients (campaign_id, patient_id, given_name, phone, email, \
                     link_nonce, token_hash) SELECT {id}, p.id, p.given_name, p.phone, p.email, \
                     {nonce}, {hash} FROM patients p"
                ),
                format!(
                    "INSERT INTO deliveries (campaign_id, recipient_id, channel, round, status, \
                     reason, segments) \
                     SELECT campaign_id, id, channel, 0, \
                     CASE WHEN reason IS NULL THEN 'pending' ELSE 'suppressed' END, reason, \
                     CASE WHEN reason IS NULL AND channel = 'sms' THEN 1 ELSE 0 END \
                     FROM (SELECT r.campaign_id, r.id, c.channel, \
                           CASE WHEN c.channel = 'sms' THEN \
                             CASE WHEN p.sms_opt_out{yes} THEN 'opted_out' \
                                  WHEN r.phone IS NULL THEN 'no_phone' END \
                           ELSE \
                             CASE WHEN p.email_opt_out{yes} THEN 'opted_out' \
                                  WHEN r.email IS NULL THEN 'no_email' END \
                           END AS reason \
                           FROM recipients r JOIN patients p ON p.id = r.patient_id \
                           CROSS JOIN (SELECT 'sms' AS channel UNION ALL SELECT 'email') c \
                           WHERE r.campaign_id = {id}) x"
                ),
            ],
            update: format!(
                "UPDATE deliveries SET status = 'sent', provider_id = 'floor', attempts = 1, \
                 updated_at = {now} WHERE campaign_id = {id} AND status = 'pending'"
            ),
        }
    }
}

/// Runs `statements` in one transaction; returns how long it took, commit included.
async fn timed_transaction<DB>(pool: &sqlx::Pool<DB>, statements: &[&str]) -> Duration
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let start = Instant::now();
    let mut tx = pool.begin().await.expect("begin");
    for sql in statements {
        sqlx::query(sql)
            .execute(&mut *tx)
            .await
            .expect("floor statement");
    }
    tx.commit().await.expect("commit");
    start.elapsed()
}

/// The database's floor for the rows of one campaign over every patient: (insert,
/// update), each one transaction.
async fn floor(setup: &Setup, id: i64) -> (Duration, Duration) {
    let sql = FloorSql::new(&setup.backend, id, setup.form);
    let insert: Vec<&str> = std::iter::once(sql.campaign.as_str())
        .chain(sql.insert.iter().map(String::as_str))
        .collect();
    let update = [sql.update.as_str()];
    match &setup.backend {
        Backend::Sqlite(s) => (
            timed_transaction(s.pool(), &insert).await,
            timed_transaction(s.pool(), &update).await,
        ),
        Backend::Postgres(s) => (
            timed_transaction(s.pool(), &insert).await,
            timed_transaction(s.pool(), &update).await,
        ),
        Backend::Mysql(s) => (
            timed_transaction(s.pool(), &insert).await,
            timed_transaction(s.pool(), &update).await,
        ),
    }
}

/// The floor, measured three times (the fastest is reported, as the floor), printed
/// beside the engine's mean and their ratio.
fn report_floor(rt: &tokio::runtime::Runtime, setup: &Setup, label: &str, engine: Duration) {
    if engine.is_zero() {
        // The engine's benchmark was filtered out: no ratio to print.
        return;
    }
    // Ids far above the engine's, so they never meet.
    let runs: Vec<(Duration, Duration)> = (0..3)
        .map(|k| rt.block_on(floor(setup, 900_000_000 + k)))
        .collect();
    let (insert, update) = runs
        .iter()
        .min_by_key(|(i, u)| *i + *u)
        .copied()
        .unwrap_or_default();
    let floor = insert + update;
    println!(
        "{label}: floor for the same rows: INSERT … SELECT {insert:.2?} + UPDATE {update:.2?} \
         = {floor:.2?} (best of {}); engine create + send {engine:.2?}, {:.2}× the floor",
        runs.len(),
        engine.as_secs_f64() / floor.as_secs_f64()
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn bulk_send(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("bench.db")))
        .expect("store");
    let setup = rt.block_on(setup_on(Backend::Sqlite(store), dir, "sqlite"));
    let all = Filter::all();
    let engine = group(
        c,
        &rt,
        &setup,
        ("create_and_send", "all_112500_patients"),
        &all,
        PATIENTS as u64,
    );
    report_floor(&rt, &setup, "sqlite", engine);
    let lung = medicare_core::demo::lung_filter();
    let audience = rt
        .block_on(setup.engine.count_patients(&lung))
        .expect("count");
    group(
        c,
        &rt,
        &setup,
        ("create_and_send", "lung_condition_audience"),
        &lung,
        audience,
    );
}

/// A server backend's group and floor on `backend`.
fn server(c: &mut Criterion, rt: &tokio::runtime::Runtime, backend: Backend, label: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = rt.block_on(setup_on(backend, dir, label));
    let engine = group(
        c,
        rt,
        &setup,
        (&format!("create_and_send_{label}"), "all_112500_patients"),
        &Filter::all(),
        PATIENTS as u64,
    );
    report_floor(rt, &setup, label, engine);
}

/// The admin URL in `var`, or `None` having said the group is skipped.
fn admin_url(var: &str, group: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped {group}: {var} is not set");
    }
    url
}

/// PostgreSQL: the same campaign on a scratch database of the server at
/// `MEDICARE_BENCH_POSTGRES_URL` (an admin URL); skipped, saying so, without it.
fn bulk_send_postgres(c: &mut Criterion) {
    use medicare_core::store::postgres::ScratchDatabase;
    let Some(url) = admin_url("MEDICARE_BENCH_POSTGRES_URL", "create_and_send_postgres") else {
        return;
    };
    let rt = runtime();
    let db = rt
        .block_on(ScratchDatabase::create(&url))
        .expect("scratch database");
    server(c, &rt, Backend::Postgres(db.store().clone()), "postgres");
    rt.block_on(db.drop_database())
        .expect("drop the scratch database");
}

/// MySQL / MariaDB: the same campaign on a fresh database of the server at
/// `MEDICARE_BENCH_MYSQL_URL` (an admin URL), dropped afterwards; skipped, saying so,
/// without it.
fn bulk_send_mysql(c: &mut Criterion) {
    use medicare_core::store::mysql::MySqlStore;
    use sqlx::Connection;
    let Some(url) = admin_url("MEDICARE_BENCH_MYSQL_URL", "create_and_send_mysql") else {
        return;
    };
    let rt = runtime();
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
    let server_url = url.split('?').next().unwrap_or_default();
    let db_url = format!(
        "{}/{name}",
        server_url.rsplit_once('/').map_or(server_url, |(s, _)| s)
    );
    let store = rt
        .block_on(MySqlStore::connect(&db_url))
        .expect("MySQL store");
    server(c, &rt, Backend::Mysql(store), "mysql");
    rt.block_on(admin(format!("DROP DATABASE `{name}`")));
}

/// A notifier that accepts every message and keeps only a count: at a million patients
/// the recording notifier's copies of every message would dwarf what is measured.
#[derive(Debug, Default)]
struct CountingNotifier {
    sent: AtomicU64,
}

#[async_trait]
impl Notifier for CountingNotifier {
    async fn send(&self, _message: &OutboundMessage) -> Result<String, NotifyError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(format!("msg-{n}"))
    }
}

/// The child process's part (`MEDICARE_BENCH_CHILD`): `prepare` imports
/// `MEDICARE_BENCH_PATIENTS` patients into the SQLite file in `MEDICARE_BENCH_DIR`;
/// `measure` creates and sends a campaign over all of them there and prints its time
/// and the process's peak resident memory.
fn child(role: &str) {
    let dir = std::path::PathBuf::from(std::env::var("MEDICARE_BENCH_DIR").expect("dir"));
    let count: usize = std::env::var("MEDICARE_BENCH_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .expect("MEDICARE_BENCH_PATIENTS");
    let rt = runtime();
    rt.block_on(async {
        let store = SqliteStore::open(&dir.join("bench.db"))
            .await
            .expect("store");
        let engine = engine_on(&Backend::Sqlite(store), &dir);
        match role {
            "prepare" => {
                let start = Instant::now();
                populate(&engine, count).await;
                println!("imported {count} patients in {:.2?}", start.elapsed());
            }
            "measure" => {
                let (create, send, recipients, sent) = create_and_send(
                    &engine,
                    FormId(1),
                    &Filter::all(),
                    format!("scale {count}"),
                    Arc::new(CountingNotifier::default()),
                )
                .await;
                assert_eq!(recipients, count as u64);
                println!(
                    "{recipients} recipients, {sent} messages: create {create:.2?} + send \
                     {send:.2?} = {:.2?}; peak RSS {} MiB",
                    create + send,
                    medicare_benches::peak_rss_mib()
                );
            }
            other => panic!("unknown MEDICARE_BENCH_CHILD {other}"),
        }
    });
}

/// Time and peak memory at each scale of `MEDICARE_BENCH_SCALES`, one child process
/// per measurement.
fn scales() {
    let scales =
        std::env::var("MEDICARE_BENCH_SCALES").unwrap_or_else(|_| format!("{PATIENTS},1000000"));
    let exe = std::env::current_exe().expect("own path");
    for count in scales.split(',').filter(|s| !s.trim().is_empty()) {
        let count = count.trim();
        let dir = tempfile::tempdir().expect("temp dir");
        for role in ["prepare", "measure"] {
            let out = Command::new(&exe)
                .env("MEDICARE_BENCH_CHILD", role)
                .env("MEDICARE_BENCH_DIR", dir.path())
                .env("MEDICARE_BENCH_PATIENTS", count)
                .output()
                .expect("run the bench's child process");
            assert!(
                out.status.success(),
                "{role} {count}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            print!(
                "scale {count} ({role}, own process): {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

criterion_group!(benches, bulk_send, bulk_send_postgres, bulk_send_mysql);

fn main() {
    if let Ok(role) = std::env::var("MEDICARE_BENCH_CHILD") {
        return child(&role);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    scales();
}
