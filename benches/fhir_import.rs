//! Patient import at the brief's scale: 112,500 patients read from the documented CSV and
//! from a FHIR Bulk Data export of the same patients (`Patient.ndjson` with one
//! `Condition` line per condition code), then stored in a fresh SQLite database.
//!
//! Two groups: reading and validating only (`parse`), and the whole import into SQLite
//! (`import`, the CLI's path: read, then one all-or-nothing insert). Throughput is in
//! patients per second.
//!
//! Peak memory, which criterion does not measure, needs one import per process: with
//! `MEDICARE_BENCH_IMPORT=csv:FILE` or `fhir:PATH` the bench binary instead imports that
//! file into a fresh SQLite database (the CLI's path) and prints the time and its peak
//! resident memory (`VmHWM`), e.g.
//! `MEDICARE_BENCH_IMPORT=fhir:ehr-export target/release/deps/fhir_import-*`.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use medicare_core::fhir::{self, CodeMap, ImportOptions};
use medicare_core::patient::{generate, parse_csv, write_csv, GenerateOptions, Patient};
use medicare_core::store::sqlite::SqliteStore;
use medicare_core::store::PatientStore;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PATIENTS: usize = 112_500;

struct Files {
    csv: PathBuf,
    fhir: PathBuf,
    _dir: tempfile::TempDir,
}

fn files() -> Files {
    let dir = tempfile::tempdir().expect("temp dir");
    let patients = generate(GenerateOptions {
        count: PATIENTS,
        seed: 1,
    });
    let csv = dir.path().join("patients.csv");
    write_csv(&patients, std::fs::File::create(&csv).expect("csv file")).expect("write csv");
    let fhir = dir.path().join("export");
    fhir::bulk::write_bulk_export(&patients, &fhir).expect("write export");
    Files {
        csv,
        fhir,
        _dir: dir,
    }
}

fn read_csv(path: &Path) -> Vec<Patient> {
    let today = chrono::Utc::now().date_naive();
    parse_csv(
        std::fs::File::open(path).expect("open"),
        "patients.csv",
        today,
    )
    .expect("valid CSV")
    .into_patients()
}

fn read_fhir(path: &Path) -> Vec<Patient> {
    let options = ImportOptions {
        codes: CodeMap::standard(),
        today: chrono::Utc::now().date_naive(),
    };
    fhir::read_path(path, &options)
        .expect("valid export")
        .patients
}

fn parse(c: &mut Criterion) {
    let f = files();
    assert_eq!(read_fhir(&f.fhir).len(), read_csv(&f.csv).len());
    let mut g = c.benchmark_group("parse");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(PATIENTS as u64));
    g.bench_function("csv_112500", |b| b.iter(|| read_csv(&f.csv)));
    g.bench_function("fhir_ndjson_112500", |b| b.iter(|| read_fhir(&f.fhir)));
    g.finish();
}

fn import(c: &mut Criterion) {
    let f = files();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = c.benchmark_group("import");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.throughput(Throughput::Elements(PATIENTS as u64));
    let fresh = || {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = rt
            .block_on(SqliteStore::open(&dir.path().join("bench.db")))
            .expect("store");
        (store, dir)
    };
    for (name, read) in [
        ("csv_112500", read_csv as fn(&Path) -> Vec<Patient>),
        ("fhir_ndjson_112500", read_fhir),
    ] {
        let path = if name.starts_with("csv") {
            &f.csv
        } else {
            &f.fhir
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                fresh,
                |(store, _dir)| {
                    let patients = read(path);
                    rt.block_on(store.insert_patients(&patients))
                        .expect("stored")
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// One import of `spec` (`csv:FILE` or `fhir:PATH`) into a fresh SQLite database.
fn import_once(spec: &str) {
    let (format, path) = spec.split_once(':').expect("csv:FILE or fhir:PATH");
    let path = Path::new(path);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("bench.db")))
        .expect("store");
    let start = std::time::Instant::now();
    let patients = match format {
        "csv" => read_csv(path),
        "fhir" => read_fhir(path),
        other => panic!("unknown format {other}"),
    };
    let stored = rt
        .block_on(store.insert_patients(&patients))
        .expect("stored");
    println!(
        "{format}: {stored} patients in {:.2} s, peak RSS {} KiB",
        start.elapsed().as_secs_f64(),
        medicare_benches::peak_rss_kib().map_or_else(|| "?".to_string(), |k| k.to_string())
    );
}

criterion_group!(benches, parse, import);

fn main() {
    if let Ok(spec) = std::env::var("MEDICARE_BENCH_IMPORT") {
        return import_once(&spec);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
