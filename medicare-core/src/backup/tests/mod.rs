//! Behaviour tests of the backup module: round trip, tampering, keys, canary, age
//! interoperability, retention over 70 days, and interrupted runs.

use super::keys::{generate_identity, BackupKeys, Identities, KeyPaths, ManifestSigner};
use super::local::LocalFolderSink;
use super::sink::{get_bytes, BackupSink, MemorySink};
use super::*;
use crate::campaign::CampaignRequest;
use crate::clock::FixedClock;
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::patient::{generate, GenerateOptions};
use crate::store::sqlite::SqliteStore;
use crate::store::PatientStore;
use crate::{Config, Workspace};
use chrono::{DateTime, Utc};
use std::path::Path;

const CANARY: &str = "Zqxcanary";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T02:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A workspace database with `count` patients (the first named [`CANARY`]), the demo
/// form, a campaign to the patients with a lung condition, and `responses` responses.
async fn fixture(dir: &Path, count: usize, responses: u32) -> SqliteStore {
    let clock = Arc::new(FixedClock::new(start()));
    let ws = Workspace::open_with_clock(dir, Config::default(), clock)
        .await
        .unwrap();
    let engine = ws.engine();
    let mut patients = generate(GenerateOptions { count, seed: 7 });
    patients[0].given_name = CANARY.to_string();
    engine.import_patients(&patients).await.unwrap();
    let form = engine
        .create_form(&FormSpec::from_toml_str(crate::demo::DEMO_FORM).unwrap())
        .await
        .unwrap();
    let filter = Arc::new(Filter::parse(r#"condition in ("asthma", "copd")"#).unwrap());
    engine
        .create_campaign(&CampaignRequest::new("flu", form.id, filter))
        .await
        .unwrap();
    let store = SqliteStore::open(&dir.join("medicare.db")).await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO {} (recipient_id, submitted_at, wants_vaccination, access_needs) \
         SELECT id, '2026-03-01T10:00:00Z', 1, 'step-free access {CANARY}' FROM recipients ORDER BY id LIMIT ?",
        form.response_table
    ))
    .bind(responses)
    .execute(store.pool())
    .await
    .unwrap();
    store
}

/// Keys for a test: an identity and recipient in `dir/keys`, the runner's keys.
fn keys(dir: &Path) -> (KeyPaths, BackupKeys, Identities) {
    let paths = KeyPaths::in_workspace(dir);
    generate_identity(&paths.identity(), &paths.recipients()).unwrap();
    let keys = BackupKeys::for_backup(&paths).unwrap();
    let identities = Identities::from_file(&paths.identity()).unwrap();
    (paths, keys, identities)
}

async fn fresh_target(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("restored.db")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_round_trip_of_112_500_patients_matches_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture(dir.path(), 112_500, 5_000).await;
    let (_, keys, identities) = keys(dir.path());
    let backups = Backups::new(
        Arc::new(MemorySink::new()),
        Arc::new(FixedClock::new(start())),
    );

    let manifest = backups.run(&source, &keys, None).await.unwrap();
    assert_eq!(manifest.kind, BackupKind::Full);
    let expected = table_summaries(&source).await.unwrap();
    let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    for t in [
        "patients",
        "patient_conditions",
        "forms",
        "campaigns",
        "recipients",
        "deliveries",
        "resp_1",
    ] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    let patients = manifest
        .tables
        .iter()
        .find(|t| t.name == "patients")
        .unwrap();
    assert_eq!(patients.rows, 112_500);
    assert_eq!(
        manifest
            .tables
            .iter()
            .find(|t| t.name == "resp_1")
            .unwrap()
            .rows,
        5_000
    );

    let target = fresh_target(dir.path()).await;
    let report = backups
        .restore(
            &manifest.id,
            &identities,
            &keys.trusted,
            &target,
            "restored.db",
            false,
        )
        .await
        .unwrap();
    assert_eq!(report.rows(), manifest.total_rows());
    let restored = table_summaries(&target).await.unwrap();
    assert_eq!(restored, expected);
    for entry in &manifest.tables {
        let (_, s) = expected.iter().find(|(n, _)| n == &entry.name).unwrap();
        assert_eq!(
            (s.rows, &s.sha256),
            (entry.rows, &entry.sha256),
            "{}",
            entry.name
        );
    }
    backups
        .verify(&manifest.id, &identities, &keys.trusted)
        .await
        .unwrap();
    backups
        .restore_test(&manifest.id, &identities, &keys.trusted)
        .await
        .unwrap();
}

/// A smaller database whose backup object spans several age chunks.
async fn small_backup(
    dir: &Path,
) -> (
    SqliteStore,
    BackupKeys,
    Identities,
    Backups,
    Manifest,
    LocalFolderSink,
) {
    let source = fixture(dir, 10_000, 300).await;
    let (_, keys, identities) = keys(dir);
    let sink = LocalFolderSink::new(dir.join("backups"));
    let backups = Backups::new(Arc::new(sink.clone()), Arc::new(FixedClock::new(start())));
    let manifest = backups.run(&source, &keys, None).await.unwrap();
    (source, keys, identities, backups, manifest, sink)
}

const AGE_CHUNK: usize = 64 * 1024 + 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_backups_fail_verify_and_restore_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, keys, identities, backups, manifest, sink) = small_backup(dir.path()).await;
    let path = sink.root().join(&manifest.object.key);
    let original = std::fs::read(&path).unwrap();
    assert!(
        original.len() > 2 * AGE_CHUNK,
        "object of {} bytes spans too few chunks",
        original.len()
    );
    let header = original.len() - (original.len() / AGE_CHUNK) * AGE_CHUNK;

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for at in [10, header + 5, original.len() / 2, original.len() - 1] {
        let mut b = original.clone();
        b[at] ^= 0x04;
        cases.push((format!("bit flipped at byte {at}"), b));
    }
    cases.push((
        "truncated".into(),
        original[..original.len() - 100].to_vec(),
    ));
    cases.push((
        "cut at a chunk boundary".into(),
        original[..header + AGE_CHUNK].to_vec(),
    ));
    let mut swapped = original.clone();
    let (a, b) = (header, header + AGE_CHUNK);
    let first = original[a..b].to_vec();
    swapped[a..b].copy_from_slice(&original[b..b + AGE_CHUNK]);
    swapped[b..b + AGE_CHUNK].copy_from_slice(&first);
    cases.push(("two chunks swapped".into(), swapped));
    let mut appended = original.clone();
    appended.extend_from_slice(b"more");
    cases.push(("data appended".into(), appended));

    // One target for every case: each failed restore must leave it empty.
    let target_dir = tempfile::tempdir().unwrap();
    let target = fresh_target(target_dir.path()).await;
    for (case, bytes) in &cases {
        std::fs::write(&path, bytes).unwrap();
        let err = backups
            .verify(&manifest.id, &identities, &keys.trusted)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&manifest.object.key) && err.contains("does not match"),
            "{case}: {err}"
        );
        let err = backups
            .restore(
                &manifest.id,
                &identities,
                &keys.trusted,
                &target,
                "restored.db",
                false,
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(&manifest.object.key),
            "{case}: {err}"
        );
        assert!(
            target.non_empty_tables().await.unwrap().is_empty(),
            "{case}: rows written"
        );

        // Below the manifest's hash, age's authenticated chunks and the stream's own
        // checks refuse the same damage on their own.
        let part = Part {
            what: "tampered object".into(),
            object: manifest.object.clone(),
            wanted: manifest.tables.clone(),
        };
        let mut tx = target.begin_restore(false).await.unwrap();
        let err = replay(&sink, &part, &identities, Some(tx.as_mut()))
            .await
            .unwrap_err();
        drop(tx);
        assert!(err.to_string().contains("tampered object"), "{case}: {err}");
        assert!(
            target.non_empty_tables().await.unwrap().is_empty(),
            "{case}: rows written"
        );
    }

    std::fs::write(&path, &original).unwrap();
    backups
        .verify(&manifest.id, &identities, &keys.trusted)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_unknown_signer_and_non_empty_target_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (source, keys, identities, backups, manifest, sink) = small_backup(dir.path()).await;
    let key = Manifest::key_for(&manifest.id);
    let signed = get_bytes(&sink, &key).await.unwrap();

    // A non-empty target is refused, and nothing changes in it.
    let before = table_summaries(&source).await.unwrap();
    let err = backups
        .restore(
            &manifest.id,
            &identities,
            &keys.trusted,
            &source,
            "medicare.db",
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert!(
        err.to_string().contains("medicare.db") && err.to_string().contains("--replace"),
        "{err}"
    );
    assert_eq!(table_summaries(&source).await.unwrap(), before);
    // Unless told: the restore replaces it, with the same content.
    backups
        .restore(
            &manifest.id,
            &identities,
            &keys.trusted,
            &source,
            "medicare.db",
            true,
        )
        .await
        .unwrap();
    assert_eq!(table_summaries(&source).await.unwrap(), before);

    let body = String::from_utf8(signed.clone()).unwrap();
    let unsigned = body.lines().next().unwrap().to_string();
    let stranger = ManifestSigner::generate();
    let resigned = manifest.sign(&stranger).unwrap();
    let edited = body.replacen("\"rows\":", "\"rows\":1", 1).into_bytes();
    let target_dir = tempfile::tempdir().unwrap();
    let target = fresh_target(target_dir.path()).await;
    for (case, bytes, needle) in [
        ("unsigned", unsigned.into_bytes(), "not signed"),
        ("unknown signer", resigned, "not signed by a trusted signer"),
        ("edited", edited, "not signed by a trusted signer"),
    ] {
        sink.put(&key, bytes).await.unwrap();
        let err = backups
            .restore(
                &manifest.id,
                &identities,
                &keys.trusted,
                &target,
                "restored.db",
                false,
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle) && err.contains(&key), "{case}: {err}");
        assert!(target.non_empty_tables().await.unwrap().is_empty());
        let listing = backups.list(&keys.trusted).await.unwrap();
        assert!(
            listing.backups.is_empty() && listing.skipped.len() == 1,
            "{case}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_keys_fail_clearly_and_upload_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, keys, _, backups, manifest, _) = small_backup(dir.path()).await;

    let other = tempfile::tempdir().unwrap();
    let paths = KeyPaths::in_workspace(other.path());
    generate_identity(&paths.identity(), &paths.recipients()).unwrap();
    let wrong = Identities::from_file(&paths.identity()).unwrap();
    let err = backups
        .verify(&manifest.id, &wrong, &keys.trusted)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("none of the identities") && err.contains("backup.identity"),
        "{err}"
    );

    let missing = other.path().join("nowhere.identity");
    let err = Identities::from_file(&missing).unwrap_err().to_string();
    assert!(
        err.contains("nowhere.identity") && err.contains("missing"),
        "{err}"
    );
    std::fs::write(&missing, "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    let err = Identities::from_file(&missing).unwrap_err().to_string();
    assert!(err.contains("line 1") && !err.contains("NOTAKEY"), "{err}");

    // No recipients: encryption is never optional, so nothing is taken or stored.
    let bare = tempfile::tempdir().unwrap();
    let err = BackupKeys::for_backup(&KeyPaths::in_workspace(bare.path())).unwrap_err();
    assert!(err.to_string().contains("backup.recipients"), "{err}");
    let empty = KeyPaths::in_workspace(bare.path());
    std::fs::create_dir_all(bare.path().join("keys")).unwrap();
    std::fs::write(empty.recipients(), "# nobody\n").unwrap();
    let err = BackupKeys::for_backup(&empty).unwrap_err();
    assert!(err.to_string().contains("no recipient"), "{err}");
    std::fs::write(empty.recipients(), "age1notarecipient\n").unwrap();
    let err = BackupKeys::for_backup(&empty).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[cfg(unix)]
#[test]
fn key_files_are_private_and_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let paths = KeyPaths::in_workspace(dir.path());
    let made = generate_identity(&paths.identity(), &paths.recipients()).unwrap();
    assert!(made.recipient.starts_with("age1"));
    let mode = std::fs::metadata(paths.identity())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(matches!(
        generate_identity(&paths.identity(), &paths.recipients()),
        Err(Error::AlreadyExists { .. })
    ));
    let keys = BackupKeys::for_backup(&paths).unwrap();
    let mode = std::fs::metadata(paths.signing_key())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = BackupKeys::for_backup(&paths).unwrap();
    assert_eq!(keys.signer.public_hex(), again.signer.public_hex());
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_never_reaches_a_file_the_backup_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (source, keys, identities, backups, manifest, sink) = small_backup(dir.path()).await;
    // An interrupted run too: whatever it leaves must be ciphertext.
    let failing = Failing {
        inner: source.clone(),
        after_tables: 3,
    };
    let clock = Arc::new(FixedClock::new(start() + chrono::Duration::days(7)));
    let second = Backups::new(Arc::new(sink.clone()), clock);
    assert!(second.run(&failing, &keys, None).await.is_err());
    let restored = tempfile::tempdir().unwrap();
    let target = fresh_target(restored.path()).await;
    backups
        .restore(
            &manifest.id,
            &identities,
            &keys.trusted,
            &target,
            "restored.db",
            false,
        )
        .await
        .unwrap();
    let canary_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM patients WHERE given_name = ?")
        .bind(CANARY)
        .fetch_one(target.pool())
        .await
        .unwrap();
    assert_eq!(canary_rows, 1, "the canary is in the data");

    let mut files = Vec::new();
    files_under(sink.root(), &mut files);
    files_under(&dir.path().join("keys"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "canary found in {}",
            f.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_age_tool_decrypts_a_backup_object() {
    let Ok(status) = std::process::Command::new("age").arg("--version").output() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the `age` command is missing in CI: .ci/run installs Debian's age package");
        }
        eprintln!("skipped: the `age` command is not installed (apt-get install age)");
        return;
    };
    assert!(status.status.success());
    let dir = tempfile::tempdir().unwrap();
    let (_, _, _, _, manifest, sink) = small_backup(dir.path()).await;
    let out = std::process::Command::new("age")
        .arg("--decrypt")
        .arg("--identity")
        .arg(KeyPaths::in_workspace(dir.path()).identity())
        .arg(sink.root().join(&manifest.object.key))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = zstd::decode_all(out.stdout.as_slice()).unwrap();
    let text = String::from_utf8(plain).unwrap();
    assert!(text.starts_with("{\"format\":\"medicare-backup\",\"version\":1}\n"));
    assert!(text.contains("{\"table\":{\"name\":\"patients\""));
    assert!(text.contains(CANARY), "the decrypted stream holds the data");
}

/// A source that fails part way through, as a killed database connection would.
#[derive(Debug)]
struct Failing {
    inner: SqliteStore,
    after_tables: usize,
}

struct FailingSnapshot {
    inner: Box<dyn snapshot::Snapshot>,
    left: usize,
}

#[async_trait::async_trait]
impl SnapshotSource for Failing {
    async fn open_snapshot(&self) -> Result<Box<dyn snapshot::Snapshot>> {
        Ok(Box::new(FailingSnapshot {
            inner: self.inner.open_snapshot().await?,
            left: self.after_tables,
        }))
    }
}

#[async_trait::async_trait]
impl snapshot::Snapshot for FailingSnapshot {
    fn tables(&self) -> &[TableInfo] {
        self.inner.tables()
    }

    async fn scan(
        &mut self,
        table: &TableInfo,
        visitor: &mut dyn snapshot::RowVisitor,
    ) -> Result<u64> {
        if self.left == 0 {
            return Err(Error::Conflict("connection lost (simulated)".into()));
        }
        self.left -= 1;
        self.inner.scan(table, visitor).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_leaves_nothing_list_or_restore_would_take() {
    let dir = tempfile::tempdir().unwrap();
    let (source, keys, identities, backups, first, sink) = small_backup(dir.path()).await;
    let later = Arc::new(FixedClock::new(start() + chrono::Duration::days(7)));
    let after = Backups::new(Arc::new(sink.clone()), later.clone());

    // Failing part way: the sink never commits the object, and no manifest is written.
    let failing = Failing {
        inner: source.clone(),
        after_tables: 4,
    };
    let err = after
        .run(&failing, &keys, Some(BackupKind::Full))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("simulated"), "{err}");

    // Aborted part way (the task is killed while the object streams).
    let task = {
        let after = after.clone();
        let source = source.clone();
        let paths = KeyPaths::in_workspace(dir.path());
        tokio::spawn(async move {
            let keys = BackupKeys::for_backup(&paths).unwrap();
            after.run(&source, &keys, Some(BackupKind::Full)).await
        })
    };
    let data = sink.root().join("data");
    let temporary = || {
        std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".tmp-")
            })
    };
    let streaming = || temporary().is_some();
    let mut partial = Vec::new();
    for _ in 0..5_000 {
        if let Some(tmp) = temporary() {
            partial = std::fs::read(tmp).unwrap_or_default();
            if partial.len() > 1_000 {
                break;
            }
        }
        if task.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(
        !task.is_finished(),
        "the backup ended before it could be killed"
    );
    // The temporary file holds ciphertext only: the first table (patients, with the
    // canary patient) is in it, yet the canary is not.
    assert!(partial.starts_with(b"age-encryption.org/v1"));
    assert!(!partial
        .windows(CANARY.len())
        .any(|w| w == CANARY.as_bytes()));
    task.abort();
    let _ = task.await;
    assert!(!streaming(), "a cancelled write removes its temporary file");

    // Killed outright: a temporary file and an unreferenced half object left behind.
    let original = std::fs::read(sink.root().join(&first.object.key)).unwrap();
    std::fs::write(sink.root().join("data/.tmp-killed"), &original[..1000]).unwrap();
    let orphan = format!("data/{}.age", "0".repeat(64));
    std::fs::write(sink.root().join(&orphan), &original[..original.len() / 2]).unwrap();

    let listing = after.list(&keys.trusted).await.unwrap();
    assert_eq!(listing.backups.len(), 1, "{:?}", listing.backups);
    assert_eq!(listing.backups[0].id, first.id);
    let objects: Vec<String> = sink
        .list("data/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(
        objects
            .iter()
            .all(|k| k == &first.object.key || k == &orphan),
        "{objects:?}"
    );

    let target_dir = tempfile::tempdir().unwrap();
    let target = fresh_target(target_dir.path()).await;
    backups
        .restore(
            &first.id,
            &identities,
            &keys.trusted,
            &target,
            "restored.db",
            false,
        )
        .await
        .unwrap();

    let plan = after.prune(&keys.trusted, true).await.unwrap();
    assert_eq!(plan.orphans, vec![orphan.clone()]);
    after.prune(&keys.trusted, false).await.unwrap();
    assert!(sink.list(&orphan).await.unwrap().is_empty());
    assert_eq!(after.list(&keys.trusted).await.unwrap().backups.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seventy_days_of_daily_backups_keep_exactly_the_last_35_restorable() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture(dir.path(), 60, 5).await;
    let (_, keys, identities) = keys(dir.path());
    let clock = Arc::new(FixedClock::new(start()));
    let backups = Backups::new(Arc::new(MemorySink::new()), clock.clone());
    let mut states = std::collections::BTreeMap::new();

    for day in 0..70i64 {
        clock.set(start() + chrono::Duration::days(day));
        // The data changes most days: a new patient; on some days only deliveries.
        if day % 3 != 2 {
            let mut p = generate(GenerateOptions {
                count: 1,
                seed: 1000 + day as u64,
            })
            .remove(0);
            p.external_id = format!("SIM{day:03}");
            p.nhs_number = Some(crate::patient::NhsNumber::parse(&nhs(day)).unwrap());
            source.insert_patients(&[p]).await.unwrap();
        } else {
            sqlx::query("UPDATE deliveries SET attempts = attempts + 1 WHERE id = 1")
                .execute(source.pool())
                .await
                .unwrap();
        }
        let report = backups.daily(&source, &keys).await.unwrap();
        let expected_kind = if day % 7 == 0 {
            BackupKind::Full
        } else {
            BackupKind::Incremental
        };
        assert_eq!(report.backup.kind, expected_kind, "day {day}");
        states.insert(
            report.backup.id.clone(),
            table_summaries(&source).await.unwrap(),
        );

        let now = clock.now();
        let kept = backups.list(&keys.trusted).await.unwrap().backups;
        for back in 0..35.min(day + 1) {
            let at = now - chrono::Duration::days(back);
            let m = kept
                .iter()
                .find(|m| m.created_at == at)
                .unwrap_or_else(|| panic!("day {day}: the backup of {back} days ago is gone"));
            backups
                .verify(&m.id, &identities, &keys.trusted)
                .await
                .unwrap();
        }
        for m in &kept {
            if now - m.created_at >= chrono::Duration::days(35) {
                assert_eq!(m.kind, BackupKind::Full, "day {day}: {} kept", m.id);
                assert!(
                    kept.iter().any(|k| k.parent.as_deref() == Some(&m.id)
                        && now - k.created_at < chrono::Duration::days(35)),
                    "day {day}: {} kept though no kept incremental needs it",
                    m.id
                );
            }
        }
        let objects = backups.sink().list("data/").await.unwrap().len();
        assert_eq!(
            objects,
            kept.len(),
            "day {day}: objects beyond the kept backups"
        );
    }

    // Every kept day restores to exactly what the database held that day, each one
    // replacing the previous day's restore in the same target.
    let target_dir = tempfile::tempdir().unwrap();
    let target = fresh_target(target_dir.path()).await;
    for m in backups.list(&keys.trusted).await.unwrap().backups {
        backups
            .restore(
                &m.id,
                &identities,
                &keys.trusted,
                &target,
                "restored.db",
                true,
            )
            .await
            .unwrap();
        assert_eq!(
            table_summaries(&target).await.unwrap(),
            states[&m.id],
            "{}",
            m.id
        );
    }
}

/// A valid NHS number (mod-11 check digit) for day `day`.
fn nhs(day: i64) -> String {
    let mut n = 900_000_000 + day * 17;
    loop {
        let digits: Vec<i64> = n.to_string().chars().map(|c| c as i64 - 48).collect();
        let sum: i64 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (10 - i as i64))
            .sum();
        let check = 11 - sum % 11;
        if check < 10 {
            return format!("{n}{check}");
        }
        n += 1;
    }
}

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;

/// A restored database file, like the workspace's own, is readable by its owner only, and
/// whole: no write-ahead log is left beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let source = fixture(dir.path(), 200, 5).await;
    let (_, keys, identities) = keys(dir.path());
    let backups = Backups::new(
        Arc::new(MemorySink::new()),
        Arc::new(FixedClock::new(start())),
    );
    let manifest = backups.run(&source, &keys, None).await.unwrap();
    let restored = dir.path().join("restored-private.db");
    backups
        .restore_to_sqlite_file(&manifest.id, &identities, &keys.trusted, &restored, false)
        .await
        .unwrap();
    for suffix in ["-wal", "-shm"] {
        let log = dir.path().join(format!("restored-private.db{suffix}"));
        assert!(!log.exists(), "{} was left", log.display());
    }
    for file in [dir.path().join("medicare.db"), restored] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
}

/// The database suite, on SQLite files.
mod sqlite_suite {
    use crate::backup::conformance::database as suite;
    use crate::store::sqlite::SqliteStore;
    use std::sync::Arc;

    async fn pair(dir: &std::path::Path) -> (Arc<SqliteStore>, Arc<SqliteStore>) {
        let source = SqliteStore::open(&dir.join("source.db")).await.unwrap();
        let target = SqliteStore::open(&dir.join("target.db")).await.unwrap();
        (Arc::new(source), Arc::new(target))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_restores_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = pair(dir.path()).await;
        suite::a_backup_restores_every_table(source, target).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_restore_leaves_the_target_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = pair(dir.path()).await;
        suite::a_failed_restore_leaves_the_target_empty(source, target).await;
    }
}

/// Every index of a SQLite database, with the statement that creates it.
async fn indexes(store: &SqliteStore) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

/// The SQLite restore drops the secondary indexes and builds them again before it
/// commits: a restored database has every one, and a failed restore (over a database
/// with rows, with `--replace`) leaves them, and the rows, as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_restore_rebuilds_every_index_and_a_failed_one_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let (source, keys, identities, backups, manifest, _sink) = small_backup(dir.path()).await;
    let expected = indexes(&source).await;
    assert!(expected.len() >= 5, "{expected:?}");

    let target = fresh_target(dir.path()).await;
    backups
        .restore(
            &manifest.id,
            &identities,
            &keys.trusted,
            &target,
            "target",
            false,
        )
        .await
        .unwrap();
    assert_eq!(indexes(&target).await, expected);
    let plan: Vec<(i64, i64, i64, String)> =
        sqlx::query_as("EXPLAIN QUERY PLAN SELECT id FROM patients WHERE postcode = 'X'")
            .fetch_all(target.pool())
            .await
            .unwrap();
    assert!(
        plan.iter().any(|p| p.3.contains("patients_by_postcode")),
        "{plan:?}"
    );

    // A restore over it with `replace` empties the target and drops its indexes inside
    // its transaction; failing part way (a row of the wrong width) and dropped, it
    // leaves everything as it was.
    let before = target.non_empty_tables().await.unwrap();
    let mut tx = target.begin_restore(true).await.unwrap();
    let patients = TableInfo {
        name: "patients".into(),
        columns: sqlx::query_scalar("SELECT name FROM pragma_table_info('patients') ORDER BY cid")
            .fetch_all(target.pool())
            .await
            .unwrap(),
    };
    tx.prepare_table(&patients).await.unwrap();
    let err = tx
        .insert(&patients, vec![vec![snapshot::Value::Int(1)]])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::Database, "{err}");
    drop(tx);
    assert_eq!(indexes(&target).await, expected);
    assert_eq!(target.non_empty_tables().await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_into_an_in_memory_sqlite_database_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (_, keys, identities, backups, manifest, _) = small_backup(dir.path()).await;
    let memory = SqliteStore::memory().await.unwrap();
    let err = backups
        .restore(
            &manifest.id,
            &identities,
            &keys.trusted,
            &memory,
            "memory",
            false,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("in-memory") && err.to_string().contains("database file"),
        "{err}"
    );
    assert!(memory.non_empty_tables().await.unwrap().is_empty());
}
