//! Bulk send at the brief's scale: 112,500 patients on the embedded SQLite store.
//!
//! Each iteration creates a campaign over every patient (freeze 112,500 recipients,
//! issue 112,500 links, plan and suppress ~225,000 deliveries) and sends it to the
//! in-memory recording notifier with no rate limit, so what is measured is the engine
//! and the store, not a provider. Throughput is reported in recipients per second.
//! A second group measures the demo's audience (patients with a lung condition).

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

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bulk_send
}
criterion_main!(benches);
