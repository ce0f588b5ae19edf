//! Daily encrypted backups kept on premises: take, list, verify, restore and prune.
//!
//! ## Why it looks the way it does
//!
//! A backup is a *logical* snapshot ([`snapshot`]): every table of the database read as
//! typed rows, in one read transaction, so the same code runs from the CLI and from a
//! Lambda function, and a backup from one SQL engine restores into another. The rows
//! are streamed through zstd and age ([`pipeline`]) straight into a [`sink::BackupSink`]:
//! no plaintext byte reaches a disk or a sink, not even a temporary file. Encryption is
//! not optional: the runner needs at least one age recipient ([`keys::Recipients`]) and
//! holds only public keys, so the cloud side can write backups but never read them.
//!
//! Each backup is one encrypted object, named by its SHA-256, and a signed
//! [`manifest::Manifest`] written *after* it: a run killed part way leaves at most an
//! unreferenced object (or a `.tmp-*` file), which listing and restore never take for a
//! backup, and which [`Backups::prune`] removes. Restore and verify refuse manifests not
//! signed by a trusted Ed25519 key, check the object's hash before decrypting, and
//! restore in one transaction, so a corrupt backup or a wrong key leaves the target as
//! it was.
//!
//! A full backup is taken weekly, an incremental (the tables changed since that full)
//! on the other days; retention keeps 35 days and any older full a kept incremental
//! needs ([`retention`]).
//!
//! ```no_run
//! # async fn run() -> medicare_core::Result<()> {
//! use medicare_core::backup::{local::LocalFolderSink, keys::{BackupKeys, KeyPaths}, Backups};
//! use medicare_core::clock::SystemClock;
//! use std::sync::Arc;
//!
//! let store = medicare_core::store::sqlite::SqliteStore::open("medicare.db".as_ref()).await?;
//! let keys = BackupKeys::for_backup(&KeyPaths::in_workspace(".".as_ref()))?;
//! let backups = Backups::new(Arc::new(LocalFolderSink::new("/srv/backups")), Arc::new(SystemClock));
//! let report = backups.daily(&store, &keys).await?;
//! println!("backup {} ({} rows)", report.backup.id, report.backup.total_rows());
//! # Ok(()) }
//! ```

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod format;
pub mod keys;
pub mod local;
pub mod manifest;
pub mod pipeline;
pub mod retention;
pub mod sink;
#[cfg(test)]
mod tests;

/// The engine-neutral snapshot a backup reads and a restore writes (it lives with the
/// stores, which implement it; re-exported here, where backups use it).
pub use crate::store::snapshot;

use crate::clock::Clock;
use crate::error::{Error, Result};
use format::{Event, TableDigest};
use keys::{BackupKeys, Identities, TrustedSigners};
use manifest::{BackupKind, Manifest, ObjectRef, TableEntry};
use pipeline::{ChannelReader, DigestRows, Encoder};
use retention::{Policy, PrunePlan};
use serde::Serialize;
use sink::BackupSink;
use snapshot::{RestoreTarget, RestoreTx, SnapshotSource, TableInfo};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The sink folder encrypted objects go in.
pub const DATA_PREFIX: &str = "data";
/// The sink folder signed manifests go in.
pub const MANIFEST_PREFIX: &str = "manifests/";

/// Backups kept in one sink: the library call behind `medicare backup ...` and the
/// scheduled Lambda handler.
#[derive(Debug, Clone)]
pub struct Backups {
    sink: Arc<dyn BackupSink>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    ledger: Option<Arc<dyn crate::audit::AuditStore>>,
}

/// The complete, trusted backups in a sink, and the manifests that were passed over.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Listing {
    /// Complete backups whose manifest is signed by a trusted key, oldest first.
    pub backups: Vec<Manifest>,
    /// Manifests passed over, with the reason (unsigned, unknown signer, object missing).
    pub skipped: Vec<(String, String)>,
}

/// What a verify or restore checked.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The backup.
    pub id: String,
    /// Every table, as checked.
    pub tables: Vec<TableEntry>,
    /// Ciphertext bytes read and checked.
    pub bytes: u64,
    /// How long it took.
    pub elapsed: Duration,
}

impl CheckReport {
    /// Total rows.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// What a daily run did.
#[derive(Debug, Clone, Serialize)]
pub struct DailyReport {
    /// The backup taken.
    pub backup: Manifest,
    /// What retention removed.
    pub pruned: PrunePlan,
}

fn backup_id(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

impl Backups {
    /// Backups in `sink`, timed by `clock`, with the default [`Policy`].
    pub fn new(sink: Arc<dyn BackupSink>, clock: Arc<dyn Clock>) -> Self {
        Backups {
            sink,
            clock,
            policy: Policy::default(),
            ledger: None,
        }
    }

    /// Recording every run, verification, restore and prune in `ledger` (the audit
    /// ledger of the database backed up), by the acting party of the task
    /// ([`crate::audit::current`]), with its outcome. A ledger that cannot be written
    /// fails the call.
    pub fn with_ledger(mut self, ledger: Arc<dyn crate::audit::AuditStore>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Records `action` on backup `id` (none: not known) with `result`'s outcome in the
    /// ledger, when there is one; then hands `result` back.
    async fn recorded<T>(
        &self,
        action: crate::audit::Action,
        id: Option<&str>,
        result: Result<T>,
        detail: impl FnOnce(&T) -> crate::audit::Detail,
    ) -> Result<T> {
        use crate::audit::{Detail, Outcome, Target, TargetKind};
        let Some(ledger) = &self.ledger else {
            return result;
        };
        let target = id
            .and_then(|id| Target::none().with_name(TargetKind::Backup, id).ok())
            .unwrap_or_default();
        let (detail, outcome) = match &result {
            Ok(done) => (detail(done), Outcome::Ok),
            Err(_) => (Detail::none(), Outcome::Failed),
        };
        crate::audit::record_outcome(ledger.as_ref(), action, target, detail, outcome).await?;
        result
    }

    /// With another full/retention policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The sink.
    pub fn sink(&self) -> &Arc<dyn BackupSink> {
        &self.sink
    }

    /// The daily job: take the backup the policy calls for, then apply retention.
    pub async fn daily(
        &self,
        source: &dyn SnapshotSource,
        keys: &BackupKeys,
    ) -> Result<DailyReport> {
        let backup = self.run(source, keys, None).await?;
        let pruned = self.prune(&keys.trusted, false).await?;
        Ok(DailyReport { backup, pruned })
    }

    /// Takes one backup (`kind`, or what the policy calls for) and returns its manifest.
    /// Nothing is stored unless the whole backup is: the object first, then its signed
    /// manifest. Recorded as `backup_run` (its kind and size).
    pub async fn run(
        &self,
        source: &dyn SnapshotSource,
        keys: &BackupKeys,
        kind: Option<BackupKind>,
    ) -> Result<Manifest> {
        let result = self.take(source, keys, kind).await;
        let id = result.as_ref().ok().map(|m| m.id.clone());
        self.recorded(
            crate::audit::Action::BackupRun,
            id.as_deref(),
            result,
            |m| {
                crate::audit::Detail::none()
                    .word("kind", m.kind.as_str())
                    .count("bytes", m.object.size)
            },
        )
        .await
    }

    /// [`Self::run`] without its ledger event.
    async fn take(
        &self,
        source: &dyn SnapshotSource,
        keys: &BackupKeys,
        kind: Option<BackupKind>,
    ) -> Result<Manifest> {
        let now = self.clock.now();
        let id = backup_id(now);
        let listing = self.list(&keys.trusted).await?;
        if listing.backups.iter().any(|m| m.id == id) {
            return Err(Error::AlreadyExists {
                what: format!("backup {id}"),
            });
        }
        let (kind, parent) = match (kind, self.policy.next_kind(&listing.backups, now)) {
            (Some(BackupKind::Full), _) => (BackupKind::Full, None),
            (Some(BackupKind::Incremental), (BackupKind::Full, _)) => return Err(Error::Conflict(
                "an incremental backup needs a full one within the last week; take a full backup"
                    .into(),
            )),
            (_, planned) => planned,
        };
        let parent_manifest = parent
            .as_ref()
            .and_then(|p| listing.backups.iter().find(|m| &m.id == p));

        let mut snapshot = source.open_snapshot().await?;
        let tables: Vec<TableInfo> = snapshot.tables().to_vec();
        let stored = match parent_manifest {
            None => vec![true; tables.len()],
            Some(parent) => changed_tables(snapshot.as_mut(), &tables, parent).await?,
        };

        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let mut encoder = Encoder::new(&keys.recipients, tx)?;
        let produce = async {
            let mut entries = Vec::with_capacity(tables.len());
            for (table, store) in tables.iter().zip(&stored) {
                let summary = if *store {
                    encoder.table(snapshot.as_mut(), table).await?
                } else {
                    let mut digest = DigestRows(TableDigest::new(table));
                    snapshot.scan(table, &mut digest).await?;
                    digest.0.finish()
                };
                entries.push(TableEntry {
                    name: table.name.clone(),
                    rows: summary.rows,
                    sha256: summary.sha256,
                    stored: *store,
                });
            }
            encoder.finish().await?;
            Ok::<_, Error>(entries)
        };
        let consume = self
            .sink
            .put_object(DATA_PREFIX, Box::new(ChannelReader::new(rx)));
        let (entries, object) = tokio::try_join!(produce, consume)?;
        drop(snapshot);

        let manifest = Manifest {
            format_version: format::FORMAT_VERSION,
            id: id.clone(),
            created_at: now,
            kind,
            parent,
            tables: entries,
            object: ObjectRef {
                key: object.key,
                sha256: object.sha256,
                size: object.size,
            },
            recipients: keys.recipients.fingerprints(),
        };
        self.sink
            .put(&Manifest::key_for(&id), manifest.sign(&keys.signer)?)
            .await?;
        tracing::info!(backup = %id, kind = kind.as_str(), bytes = manifest.object.size, "backup stored");
        Ok(manifest)
    }

    /// The complete backups signed by a `trusted` key, oldest first.
    pub async fn list(&self, trusted: &TrustedSigners) -> Result<Listing> {
        let objects: BTreeSet<(String, u64)> = self
            .sink
            .list(&format!("{DATA_PREFIX}/"))
            .await?
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect();
        let mut listing = Listing::default();
        for info in self.sink.list(MANIFEST_PREFIX).await? {
            let text = sink::get_bytes(self.sink.as_ref(), &info.key).await?;
            match Manifest::verify(&text, trusted, &format!("backup manifest {}", info.key)) {
                Ok(m) if objects.contains(&(m.object.key.clone(), m.object.size)) => {
                    listing.backups.push(m)
                }
                Ok(m) => listing.skipped.push((
                    info.key,
                    format!(
                        "its object {} is missing or has the wrong size",
                        m.object.key
                    ),
                )),
                Err(e) => listing.skipped.push((info.key, e.to_string())),
            }
        }
        listing.backups.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listing)
    }

    /// The id `name` stands for: `latest` is the newest complete, trusted backup.
    pub async fn resolve(&self, name: &str, trusted: &TrustedSigners) -> Result<String> {
        if name != "latest" {
            return Ok(name.to_string());
        }
        let mut listing = self.list(trusted).await?;
        match (listing.backups.pop(), listing.skipped.pop()) {
            (Some(m), _) => Ok(m.id),
            (None, Some((key, why))) => Err(Error::invalid(
                format!("backup manifest {key}"),
                format!("no complete, trusted backup; this one was passed over: {why}"),
            )),
            (None, None) => Err(Error::not_found("a complete, trusted backup")),
        }
    }

    /// Reads and checks the signed manifest of backup `id`.
    pub async fn manifest(&self, id: &str, trusted: &TrustedSigners) -> Result<Manifest> {
        let key = Manifest::key_for(id);
        let text = sink::get_bytes(self.sink.as_ref(), &key)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(format!("backup {id}")),
                other => other,
            })?;
        let manifest = Manifest::verify(&text, trusted, &format!("backup manifest {key}"))?;
        if manifest.id != id {
            return Err(Error::invalid(
                format!("backup manifest {key}"),
                format!("names backup {}, not {id}: refused", manifest.id),
            ));
        }
        Ok(manifest)
    }

    /// The objects backup `id` is made of, each with the tables to take from it, after
    /// checking every object's SHA-256 and size against the signed manifests.
    async fn plan_read(&self, id: &str, trusted: &TrustedSigners) -> Result<(Manifest, Vec<Part>)> {
        let manifest = self.manifest(id, trusted).await?;
        let mut parts = Vec::new();
        if let Some(parent_id) = &manifest.parent {
            let parent = self.manifest(parent_id, trusted).await?;
            let wanted: Vec<TableEntry> = manifest
                .tables
                .iter()
                .filter(|t| !t.stored)
                .cloned()
                .collect();
            parts.push(Part {
                what: format!(
                    "backup {parent_id} (parent of {id}) object {}",
                    parent.object.key
                ),
                object: parent.object,
                wanted,
            });
        }
        parts.push(Part {
            what: format!("backup {id} object {}", manifest.object.key),
            object: manifest.object.clone(),
            wanted: manifest
                .tables
                .iter()
                .filter(|t| t.stored)
                .cloned()
                .collect(),
        });
        for part in &parts {
            let (sha256, size) =
                pipeline::hash_object(self.sink.get(&part.object.key).await?, &part.what).await?;
            if sha256 != part.object.sha256 || size != part.object.size {
                return Err(Error::invalid(
                    part.what.clone(),
                    format!(
                        "its SHA-256 or size ({size} bytes, expected {}) does not match the signed manifest: the object was changed, truncated or extended",
                        part.object.size
                    ),
                ));
            }
        }
        Ok((manifest, parts))
    }

    /// Decrypts every object of backup `id` and checks every table's row count and
    /// checksum against the signed manifest. Recorded as `backup_verify`.
    pub async fn verify(
        &self,
        id: &str,
        identities: &Identities,
        trusted: &TrustedSigners,
    ) -> Result<CheckReport> {
        let result = self.check(id, identities, trusted).await;
        let action = crate::audit::Action::BackupVerify;
        self.recorded(action, Some(id), result, rows_detail).await
    }

    /// [`Self::verify`] without its ledger event.
    async fn check(
        &self,
        id: &str,
        identities: &Identities,
        trusted: &TrustedSigners,
    ) -> Result<CheckReport> {
        let start = Instant::now();
        let (manifest, parts) = self.plan_read(id, trusted).await?;
        let mut bytes = 0;
        for part in &parts {
            replay(self.sink.as_ref(), part, identities, None).await?;
            bytes += part.object.size;
        }
        Ok(CheckReport {
            id: manifest.id,
            tables: manifest.tables,
            bytes,
            elapsed: start.elapsed(),
        })
    }

    /// Restores backup `id` into `target` (named `target_name` in messages), in one
    /// transaction. A target holding rows is refused unless `replace`. Every object is
    /// hash-checked before the target is touched; any later failure rolls back.
    /// Recorded as `backup_restore` (after the restore: restored over the ledger's own
    /// database, the event follows the restored chain).
    pub async fn restore(
        &self,
        id: &str,
        identities: &Identities,
        trusted: &TrustedSigners,
        target: &dyn RestoreTarget,
        target_name: &str,
        replace: bool,
    ) -> Result<CheckReport> {
        let result = self
            .restore_unrecorded(id, identities, trusted, target, target_name, replace)
            .await;
        let action = crate::audit::Action::BackupRestore;
        self.recorded(action, Some(id), result, rows_detail).await
    }

    /// [`Self::restore`] without its ledger event.
    async fn restore_unrecorded(
        &self,
        id: &str,
        identities: &Identities,
        trusted: &TrustedSigners,
        target: &dyn RestoreTarget,
        target_name: &str,
        replace: bool,
    ) -> Result<CheckReport> {
        let start = Instant::now();
        let (manifest, parts) = self.plan_read(id, trusted).await?;
        let held = target.non_empty_tables().await?;
        if !held.is_empty() && !replace {
            let list: Vec<String> = held.iter().map(|(t, n)| format!("{t}: {n} rows")).collect();
            return Err(Error::Conflict(format!(
                "restore target {target_name} is not empty ({}); nothing was restored; pass --replace to overwrite it",
                list.join(", ")
            )));
        }
        let mut tx = target.begin_restore(replace).await?;
        let mut bytes = 0;
        for part in &parts {
            replay(self.sink.as_ref(), part, identities, Some(tx.as_mut())).await?;
            bytes += part.object.size;
        }
        tx.commit().await?;
        tracing::info!(backup = %id, target = target_name, "backup restored");
        Ok(CheckReport {
            id: manifest.id,
            tables: manifest.tables,
            bytes,
            elapsed: start.elapsed(),
        })
    }

    /// Restores backup `id` into the SQLite database file at `path` (created if missing),
    /// which it leaves one whole file. If the restore fails, a file it created is removed
    /// again, and an existing one is left as it was.
    #[cfg(feature = "sqlite")]
    pub async fn restore_to_sqlite_file(
        &self,
        id: &str,
        identities: &Identities,
        trusted: &TrustedSigners,
        path: &std::path::Path,
        replace: bool,
    ) -> Result<CheckReport> {
        let created = !path.exists();
        let target = crate::store::sqlite::SqliteStore::open(path).await?;
        let name = path.display().to_string();
        let result = self
            .restore(id, identities, trusted, &target, &name, replace)
            .await;
        // Closed, a restored file is whole: its write-ahead log folded in.
        crate::store::Close::close(&target).await;
        if result.is_err() && created {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                let _ = std::fs::remove_file(std::path::PathBuf::from(p));
            }
        }
        result
    }

    /// Restores backup `id` into a scratch SQLite database and compares every table's row
    /// count and checksum, read back from the database, with the manifest. Recorded as
    /// `backup_verify` (with `restore_test=yes`).
    #[cfg(feature = "sqlite")]
    pub async fn restore_test(
        &self,
        id: &str,
        identities: &Identities,
        trusted: &TrustedSigners,
    ) -> Result<CheckReport> {
        let result = self.scratch_restore(id, identities, trusted).await;
        let action = crate::audit::Action::BackupVerify;
        self.recorded(action, Some(id), result, |r| {
            rows_detail(r).word("restore_test", "yes")
        })
        .await
    }

    /// [`Self::restore_test`] without its ledger event.
    #[cfg(feature = "sqlite")]
    async fn scratch_restore(
        &self,
        id: &str,
        identities: &Identities,
        trusted: &TrustedSigners,
    ) -> Result<CheckReport> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let path = dir.path().join("restore-test.db");
        let scratch = crate::store::sqlite::SqliteStore::open(&path).await?;
        let report = self
            .restore_unrecorded(id, identities, trusted, &scratch, "scratch database", false)
            .await?;
        let actual = table_summaries(&scratch).await?;
        for entry in &report.tables {
            match actual.iter().find(|(name, _)| name == &entry.name) {
                Some((_, s)) if s.rows == entry.rows && s.sha256 == entry.sha256 => {}
                _ => {
                    return Err(Error::invalid(
                        format!("backup {id} restore test, table {}", entry.name),
                        "the restored table's row count or checksum differs from the manifest",
                    ))
                }
            }
        }
        scratch.pool().close().await;
        Ok(report)
    }

    /// Applies retention (or, with `dry_run`, only says what it would delete): old
    /// backups, then objects no kept backup names. A prune that deletes (not a dry run)
    /// is recorded as `backup_prune` (how many backups and orphan objects it deleted).
    pub async fn prune(&self, trusted: &TrustedSigners, dry_run: bool) -> Result<PrunePlan> {
        let result = self.apply_retention(trusted, dry_run).await;
        if dry_run {
            return result;
        }
        let action = crate::audit::Action::BackupPrune;
        self.recorded(action, None, result, |plan| {
            crate::audit::Detail::none()
                .count("deleted", plan.delete.len() as u64)
                .count("orphans", plan.orphans.len() as u64)
        })
        .await
    }

    /// [`Self::prune`] without its ledger event.
    async fn apply_retention(&self, trusted: &TrustedSigners, dry_run: bool) -> Result<PrunePlan> {
        let listing = self.list(trusted).await?;
        let mut plan = self.policy.plan(&listing.backups, self.clock.now());
        if listing.skipped.is_empty() {
            let kept: BTreeSet<&str> = listing
                .backups
                .iter()
                .filter(|m| !plan.delete.contains(&m.id))
                .map(|m| m.object.key.as_str())
                .collect();
            let doomed: BTreeSet<&str> = listing
                .backups
                .iter()
                .filter(|m| plan.delete.contains(&m.id))
                .map(|m| m.object.key.as_str())
                .collect();
            for o in self.sink.list(&format!("{DATA_PREFIX}/")).await? {
                if !kept.contains(o.key.as_str()) && !doomed.contains(o.key.as_str()) {
                    plan.orphans.push(o.key);
                }
            }
        }
        if dry_run {
            return Ok(plan);
        }
        for id in &plan.delete {
            let m = listing
                .backups
                .iter()
                .find(|m| &m.id == id)
                .expect("planned from listing");
            self.sink.delete(&Manifest::key_for(id)).await?;
            let still_used = listing
                .backups
                .iter()
                .any(|k| !plan.delete.contains(&k.id) && k.object.key == m.object.key);
            if !still_used {
                self.sink.delete(&m.object.key).await?;
            }
        }
        for key in &plan.orphans {
            self.sink.delete(key).await?;
        }
        Ok(plan)
    }
}

/// A check's or restore's ledger detail: how many rows.
fn rows_detail(report: &CheckReport) -> crate::audit::Detail {
    crate::audit::Detail::none().count("rows", report.rows())
}

/// One object of a backup and the tables to take from it.
#[derive(Debug)]
struct Part {
    what: String,
    object: ObjectRef,
    wanted: Vec<TableEntry>,
}

/// Which tables changed since `parent` (per-form response tables are stored with
/// `forms` whenever it changed, so a restore always creates them after their form).
async fn changed_tables(
    snapshot: &mut dyn snapshot::Snapshot,
    tables: &[TableInfo],
    parent: &Manifest,
) -> Result<Vec<bool>> {
    let mut changed = Vec::with_capacity(tables.len());
    for table in tables {
        let mut digest = DigestRows(TableDigest::new(table));
        snapshot.scan(table, &mut digest).await?;
        let summary = digest.0.finish();
        changed.push(
            !parent.tables.iter().any(|t| {
                t.name == table.name && t.rows == summary.rows && t.sha256 == summary.sha256
            }),
        );
    }
    let forms_changed = tables
        .iter()
        .zip(&changed)
        .any(|(t, c)| t.name == "forms" && *c);
    if forms_changed {
        for (t, c) in tables.iter().zip(changed.iter_mut()) {
            *c |= t.name.starts_with("resp_");
        }
    }
    Ok(changed)
}

/// Every table's row count and checksum, read from a live database.
pub async fn table_summaries(
    source: &dyn SnapshotSource,
) -> Result<Vec<(String, format::TableSummary)>> {
    let mut snapshot = source.open_snapshot().await?;
    let tables = snapshot.tables().to_vec();
    let mut out = Vec::with_capacity(tables.len());
    for table in &tables {
        let mut digest = DigestRows(TableDigest::new(table));
        snapshot.scan(table, &mut digest).await?;
        out.push((table.name.clone(), digest.0.finish()));
    }
    Ok(out)
}

/// Decrypts and decodes one object, checking its tables against `part.wanted` and
/// inserting the wanted ones into `tx` when given.
async fn replay(
    sink: &dyn BackupSink,
    part: &Part,
    identities: &Identities,
    mut tx: Option<&mut dyn RestoreTx>,
) -> Result<()> {
    let body = sink.get(&part.object.key).await?;
    let (mut events, join) = pipeline::decode(body, identities.clone(), part.what.clone());
    let mut current: Option<(TableInfo, bool)> = None;
    let mut seen = BTreeSet::new();
    let mismatch = |table: &str, m: &str| {
        Error::invalid(format!("{}, table {table}", part.what), m.to_string())
    };
    while let Some(event) = events.recv().await {
        match event {
            Event::Table(info) => {
                let wanted = part.wanted.iter().any(|t| t.name == info.name);
                if wanted {
                    if let Some(tx) = tx.as_deref_mut() {
                        tx.prepare_table(&info).await?;
                    }
                }
                current = Some((info, wanted));
            }
            Event::Rows(rows) => {
                if let (Some((info, true)), Some(tx)) = (&current, tx.as_deref_mut()) {
                    tx.insert(info, rows).await?;
                }
            }
            Event::End(summary) => {
                let Some((info, _)) = current.take() else {
                    return Err(mismatch("?", "a table ends that never started"));
                };
                let expected = part.wanted.iter().find(|t| t.name == info.name);
                if let Some(e) = expected {
                    if e.rows != summary.rows || e.sha256 != summary.sha256 {
                        return Err(mismatch(
                            &info.name,
                            "its row count or checksum differs from the signed manifest",
                        ));
                    }
                    seen.insert(info.name);
                }
            }
        }
    }
    join.await
        .map_err(|e| Error::io(part.what.clone(), std::io::Error::other(e)))??;
    if let Some(missing) = part.wanted.iter().find(|t| !seen.contains(&t.name)) {
        return Err(mismatch(
            &missing.name,
            "the manifest lists it but the object does not hold it",
        ));
    }
    Ok(())
}
