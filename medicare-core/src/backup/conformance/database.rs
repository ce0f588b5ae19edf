//! A behaviour suite every database must pass as a backup source and restore target.
//!
//! Each function takes a source and a target store, both empty, fills the source with
//! [`crate::test_support::populate`] (every table holds rows, a per-form response table
//! included) and panics on a violation. Every backend's tests run it, so SQLite,
//! PostgreSQL and MySQL keep one contract: a restore reproduces every table row for row
//! (checksums equal), a non-empty target is refused unless replaced, and a restore that
//! fails part way leaves the target as it was, empty.

use crate::backup::keys::{generate_identity, BackupKeys, Identities, KeyPaths};
use crate::backup::manifest::Manifest;
use crate::backup::sink::MemorySink;
use crate::backup::snapshot::{RestoreTarget, RestoreTx, Row, TableInfo};
use crate::backup::{table_summaries, Backups};
use crate::clock::FixedClock;
use crate::error::{Error, Result};
use crate::store::Database;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use std::sync::Arc;

/// A populated source backed up into memory, with what restoring it takes.
struct Backed {
    backups: Backups,
    manifest: Manifest,
    keys: BackupKeys,
    identities: Identities,
    _dir: tempfile::TempDir,
}

impl Backed {
    /// Populates `source` and backs it up.
    async fn of(source: Arc<dyn Database>, patients: usize, responses: usize) -> Backed {
        let dir = tempfile::tempdir().expect("a temporary folder");
        crate::test_support::populate(source.clone(), dir.path(), patients, responses).await;
        let paths = KeyPaths::in_workspace(dir.path());
        generate_identity(&paths.identity(), &paths.recipients()).expect("backup keys");
        let keys = BackupKeys::for_backup(&paths).expect("backup keys load");
        let backups = Backups::new(
            Arc::new(MemorySink::new()),
            Arc::new(FixedClock::new(
                Utc.with_ymd_and_hms(2026, 3, 4, 2, 0, 0).unwrap(),
            )),
        );
        let manifest = backups
            .run(source.as_ref(), &keys, None)
            .await
            .expect("the backup runs");
        Backed {
            backups,
            manifest,
            keys,
            identities: Identities::from_file(&paths.identity()).expect("the identity"),
            _dir: dir,
        }
    }

    async fn restore(&self, target: &dyn RestoreTarget, replace: bool) -> Result<u64> {
        let report = self
            .backups
            .restore(
                &self.manifest.id,
                &self.identities,
                &self.keys.trusted,
                target,
                "target",
                replace,
            )
            .await?;
        Ok(report.rows())
    }
}

/// Every table restores into an empty target with the same rows and checksums; the
/// restored database serves the same patients; a second restore is refused unless it
/// replaces, and replacing gives the same tables again.
pub async fn a_backup_restores_every_table(source: Arc<dyn Database>, target: Arc<dyn Database>) {
    let backed = Backed::of(source.clone(), 600, 12).await;
    let expected = table_summaries(source.as_ref()).await.unwrap();
    for table in [
        "patients",
        "patient_conditions",
        "recipients",
        "deliveries",
        "resp_1",
    ] {
        assert!(
            expected.iter().any(|(n, s)| n == table && s.rows > 0),
            "{table} is empty or missing in {expected:?}"
        );
    }
    let rows = backed.restore(target.as_ref(), false).await.unwrap();
    assert_eq!(rows, backed.manifest.total_rows());
    assert_eq!(table_summaries(target.as_ref()).await.unwrap(), expected);
    assert_eq!(
        target.all_patients().await.unwrap(),
        source.all_patients().await.unwrap()
    );
    let refused = backed.restore(target.as_ref(), false).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused}");
    backed.restore(target.as_ref(), true).await.unwrap();
    assert_eq!(table_summaries(target.as_ref()).await.unwrap(), expected);
}

/// A restore that fails part way (after rows went into several tables) leaves the
/// target empty, on a fresh target and on one being replaced.
pub async fn a_failed_restore_leaves_the_target_empty(
    source: Arc<dyn Database>,
    target: Arc<dyn Database>,
) {
    let backed = Backed::of(source, 300, 5).await;
    let failing = FailingTarget {
        inner: target.clone(),
    };
    let err = backed.restore(&failing, false).await.unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(target.non_empty_tables().await.unwrap(), vec![]);
}

/// A restore target that fails when the restore reaches `deliveries`, after the tables
/// before it (patients, forms, campaigns, recipients) took their rows.
#[derive(Debug)]
struct FailingTarget {
    inner: Arc<dyn Database>,
}

#[async_trait]
impl RestoreTarget for FailingTarget {
    async fn non_empty_tables(&self) -> Result<Vec<(String, u64)>> {
        self.inner.non_empty_tables().await
    }

    async fn begin_restore(&self, replace: bool) -> Result<Box<dyn RestoreTx>> {
        Ok(Box::new(FailingTx {
            inner: self.inner.begin_restore(replace).await?,
        }))
    }
}

struct FailingTx {
    inner: Box<dyn RestoreTx>,
}

#[async_trait]
impl RestoreTx for FailingTx {
    async fn prepare_table(&mut self, table: &TableInfo) -> Result<()> {
        self.inner.prepare_table(table).await
    }

    async fn insert(&mut self, table: &TableInfo, rows: Vec<Row>) -> Result<()> {
        if table.name == "deliveries" {
            return Err(Error::invalid("restore", "injected failure"));
        }
        self.inner.insert(table, rows).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.inner.commit().await
    }
}
