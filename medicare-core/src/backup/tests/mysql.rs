//! Backups of a MySQL database (from `MEDICARE_TEST_MYSQL_URL`): the round trip,
//! the refusals, a restore failing part way, and backups across engines.

use super::super::keys::{generate_identity, BackupKeys, Identities, KeyPaths};
use super::super::sink::MemorySink;
use super::super::{table_summaries, Backups};
use crate::clock::FixedClock;
use crate::store::snapshot::{RestoreTarget, SnapshotSource};

use crate::store::mysql::tests::TestDb;
use crate::store::{DeliveryStore, FollowUpStore, FormStore, PatientStore, Store};
use chrono::{TimeZone, Utc};
use std::path::Path;
use std::sync::Arc;

/// A backup of a fixture database, with what restoring it takes.
struct Backed {
    backups: Backups,
    manifest: super::super::manifest::Manifest,
    keys: BackupKeys,
    identities: Identities,
}

impl Backed {
    /// Fills `source` with [`fixture`] and backs it up into memory.
    async fn of<S: Store + SnapshotSource + 'static>(
        source: Arc<S>,
        dir: &Path,
        count: usize,
        responses: usize,
    ) -> Backed {
        crate::test_support::populate(source.clone(), dir, count, responses).await;
        let paths = KeyPaths::in_workspace(dir);
        generate_identity(&paths.identity(), &paths.recipients()).unwrap();
        let keys = BackupKeys::for_backup(&paths).unwrap();
        let backups = Backups::new(
            Arc::new(MemorySink::new()),
            Arc::new(FixedClock::new(
                Utc.with_ymd_and_hms(2026, 3, 4, 2, 0, 0).unwrap(),
            )),
        );
        let manifest = backups.run(source.as_ref(), &keys, None).await.unwrap();
        Backed {
            backups,
            manifest,
            keys,
            identities: Identities::from_file(&paths.identity()).unwrap(),
        }
    }

    async fn restore(
        &self,
        target: &dyn RestoreTarget,
        replace: bool,
    ) -> crate::Result<super::super::CheckReport> {
        let (b, m) = (&self.backups, &self.manifest);
        b.restore(
            &m.id,
            &self.identities,
            &self.keys.trusted,
            target,
            "target",
            replace,
        )
        .await
    }
}

/// Every table, the response table and the reminder round included, restores into
/// an empty MySQL database with the same rows and checksums; a non-empty target is
/// refused unless replaced; the backup also restores into SQLite (the restore test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_round_trip_matches_every_table() {
    let Some(source_db) = TestDb::create().await else {
        return;
    };
    let target_db = TestDb::create().await.expect("the same server");
    let dir = tempfile::tempdir().unwrap();
    let source = Arc::new(source_db.store().await);
    let backed = Backed::of(source.clone(), dir.path(), 2_000, 40).await;
    let expected = table_summaries(source.as_ref()).await.unwrap();
    let rows = |name: &str| {
        expected
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.rows)
            .unwrap_or_else(|| panic!("{name} missing from {expected:?}"))
    };
    assert_eq!(rows("patients"), 2_000);
    assert_eq!(rows("resp_1"), 40);
    assert!(rows("patient_conditions") > 0 && rows("non_respondents") > 0);
    assert!(expected.iter().all(|(n, _)| n != "_sqlx_migrations"));

    let target = target_db.store().await;
    let report = backed.restore(&target, false).await.unwrap();
    assert_eq!(report.rows(), backed.manifest.total_rows());
    assert_eq!(table_summaries(&target).await.unwrap(), expected);
    assert_eq!(
        target.all_patients().await.unwrap(),
        source.all_patients().await.unwrap()
    );
    // New rows follow the restored ones.
    let mut spec = crate::store::conformance::sample_form();
    spec.name = "after_restore".into();
    let form = target.create_form(&spec, "x", Utc::now()).await.unwrap();
    assert_eq!(form.response_table, "resp_2");

    let refused = backed.restore(&target, false).await.unwrap_err();
    assert!(matches!(refused, crate::Error::Conflict(_)), "{refused}");
    backed.restore(&target, true).await.unwrap();
    assert_eq!(table_summaries(&target).await.unwrap(), expected);

    // Into a scratch SQLite database, checksums read back from it.
    let (b, m) = (&backed.backups, &backed.manifest);
    b.restore_test(&m.id, &backed.identities, &backed.keys.trusted)
        .await
        .unwrap();
}

/// A restore that fails part way (a table of the target differs from the backup's)
/// leaves the target as it was: empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_failing_part_way_leaves_the_target_empty() {
    let Some(source_db) = TestDb::create().await else {
        return;
    };
    let target_db = TestDb::create().await.expect("the same server");
    let dir = tempfile::tempdir().unwrap();
    let source = Arc::new(source_db.store().await);
    let backed = Backed::of(source, dir.path(), 300, 5).await;
    let target = target_db.store().await;
    sqlx::raw_sql("ALTER TABLE deliveries ADD COLUMN extra INT NULL")
        .execute(target.pool())
        .await
        .unwrap();
    let err = backed.restore(&target, false).await.unwrap_err();
    assert!(err.to_string().contains("deliveries"), "{err}");
    assert_eq!(target.non_empty_tables().await.unwrap(), vec![]);
}

/// A backup of the embedded SQLite store restores into MySQL, which then serves the
/// same patients, forms and responses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_restores_into_mysql() {
    let Some(target_db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = Arc::new(
        crate::store::sqlite::SqliteStore::open(&dir.path().join("s.db"))
            .await
            .unwrap(),
    );
    let backed = Backed::of(source.clone(), dir.path(), 500, 10).await;
    let target = target_db.store().await;
    backed.restore(&target, false).await.unwrap();
    assert_eq!(
        target.all_patients().await.unwrap(),
        source.all_patients().await.unwrap()
    );
    let form = target.form(crate::campaign::FormId(1)).await.unwrap();
    assert_eq!(form, source.form(crate::campaign::FormId(1)).await.unwrap());
    let campaign = crate::campaign::CampaignId(1);
    let (from, to) = (
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
    );
    assert_eq!(
        target.responses(campaign, &form, from, to).await.unwrap(),
        source.responses(campaign, &form, from, to).await.unwrap()
    );
    assert_eq!(
        target.tracking_counts(campaign).await.unwrap(),
        source.tracking_counts(campaign).await.unwrap()
    );
    assert_eq!(
        target.delivery_counts(campaign).await.unwrap(),
        source.delivery_counts(campaign).await.unwrap()
    );
}

/// The database suite, on two test databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_suite_passes() {
    use crate::backup::conformance::database as suite;
    let Some(source) = TestDb::create().await else {
        return;
    };
    let target = TestDb::create().await.expect("the same server");
    suite::a_backup_restores_every_table(
        Arc::new(source.store().await),
        Arc::new(target.store().await),
    )
    .await;
    let source = TestDb::create().await.expect("the same server");
    let target = TestDb::create().await.expect("the same server");
    suite::a_failed_restore_leaves_the_target_empty(
        Arc::new(source.store().await),
        Arc::new(target.store().await),
    )
    .await;
}
