//! The SQLite snapshot reader: a consistent read of every table, on a connection of its
//! own ([`super::direct`]).
//!
//! The reader holds one read transaction for the whole snapshot (WAL keeps it consistent
//! while campaigns run, and writers are not blocked) and hands rows over a batch at a
//! time. An in-memory database, which no second connection can open, is first copied
//! with `VACUUM INTO` into a private temporary folder that lives as long as the snapshot.

use super::direct::{stopped, strings, Direct};
use super::SqliteStore;
use crate::error::{Error, Result};
use crate::sql::Dialect;
use crate::store::snapshot::{quoted_name, sort_for_restore, table_index, Blob, Row, Value};
use crate::store::snapshot::{RowVisitor, Snapshot, TableInfo, BATCH};
use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Every table a backup holds: all but SQLite's own and the migration ledger.
pub(super) const TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' \
     AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name";

/// Batches in flight between the reader's thread and the backup.
const DEPTH: usize = 4;

/// A batch of rows, or `None` at the end of the table.
type Batch = Result<Option<Vec<Row>>>;

/// A table to read: its columns, and the statement that reads it in key order.
struct Plan {
    info: TableInfo,
    select: String,
}

/// A consistent read of a SQLite database (see the module's documentation).
pub(super) struct SqliteSnapshot {
    tables: Vec<TableInfo>,
    plans: Arc<Vec<Plan>>,
    conn: Direct,
    /// The copy of an in-memory database, removed when the snapshot is dropped (after
    /// the connection: fields drop in order).
    _copy: Option<tempfile::TempDir>,
}

impl SqliteSnapshot {
    /// Opens a snapshot of `store`.
    pub(super) async fn open(store: &SqliteStore) -> Result<Self> {
        let (copy, path) = match &store.file {
            Some(file) => (None, file.clone()),
            None => {
                let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
                let path = dir.path().join("snapshot.db");
                sqlx::query("VACUUM INTO ?")
                    .bind(file_uri(&path)?)
                    .execute(store.pool())
                    .await?;
                (Some(dir), path)
            }
        };
        let conn = Direct::open(path, "sqlite-snapshot").await?;
        let plans = conn.run(begin).await?;
        Ok(SqliteSnapshot {
            tables: plans.iter().map(|p| p.info.clone()).collect(),
            plans: Arc::new(plans),
            conn,
            _copy: copy,
        })
    }
}

/// `path` as a SQLite URI that creates a file. sqlx opens an in-memory database in
/// memory mode, which `VACUUM INTO` would pass on to a plain file name (making the copy
/// in memory too); the URI's `mode=rwc` asks for a file on disk.
fn file_uri(path: &std::path::Path) -> Result<String> {
    let text = path
        .to_str()
        .ok_or_else(|| Error::Config("the temporary folder's path is not UTF-8".into()))?;
    let mut uri = String::from("file:");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=rwc");
    Ok(uri)
}

/// Starts the read transaction and plans every table's read.
fn begin(conn: &mut Connection) -> Result<Vec<Plan>> {
    conn.execute_batch("PRAGMA query_only = ON; BEGIN")?;
    // The transaction's first read fixes the snapshot every later read sees.
    let names = table_names(conn)?;
    let mut plans = Vec::with_capacity(names.len());
    for name in names {
        let table = q(&name)?;
        let mut columns = Vec::new();
        let mut key = Vec::new();
        let mut info = conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let mut rows = info.query([])?;
        while let Some(r) = rows.next()? {
            let column: String = r.get("name")?;
            let pk: i64 = r.get("pk")?;
            if pk > 0 {
                key.push((pk, q(&column)?));
            }
            columns.push(column);
        }
        key.sort();
        let order = if key.is_empty() {
            "rowid".to_string()
        } else {
            key.into_iter()
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let select = format!(
            "SELECT {} FROM {table} ORDER BY {order}",
            columns
                .iter()
                .map(|c| q(c))
                .collect::<Result<Vec<_>>>()?
                .join(", ")
        );
        plans.push(Plan {
            info: TableInfo { name, columns },
            select,
        });
    }
    Ok(plans)
}

/// Every table a backup holds, in restore order.
pub(super) fn table_names(conn: &Connection) -> Result<Vec<String>> {
    let mut names = strings(conn, TABLES, [])?;
    sort_for_restore(&mut names);
    Ok(names)
}

/// Checks and quotes a table or column name.
pub(super) fn q(name: &str) -> Result<String> {
    quoted_name(name, Dialect::Sqlite)
}

/// Sends every row of `plan`'s table, a batch at a time, then `None`; stops early,
/// quietly, if the caller went away.
fn read(conn: &Connection, plan: &Plan, batches: &mpsc::Sender<Batch>) {
    let result = (|| -> Result<bool> {
        let mut statement = conn.prepare(&plan.select)?;
        let width = plan.info.columns.len();
        let mut rows = statement.query([])?;
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(width);
            for i in 0..width {
                row.push(value(r.get_ref(i)?, &plan.info.name)?);
            }
            batch.push(row);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if batches.blocking_send(Ok(Some(full))).is_err() {
                    return Ok(false);
                }
            }
        }
        Ok(batch.is_empty() || batches.blocking_send(Ok(Some(batch))).is_ok())
    })();
    let _ = match result {
        Ok(true) => batches.blocking_send(Ok(None)),
        Ok(false) => Ok(()),
        Err(e) => batches.blocking_send(Err(e)),
    };
}

/// One stored value, by its storage class.
fn value(v: ValueRef<'_>, table: &str) -> Result<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(
            std::str::from_utf8(t)
                .map_err(|_| {
                    Error::invalid(format!("table {table}"), "holds text that is not UTF-8")
                })?
                .to_owned(),
        ),
        ValueRef::Blob(b) => Value::Blob(Blob { bytes: b.to_vec() }),
    })
}

#[async_trait]
impl Snapshot for SqliteSnapshot {
    fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    async fn scan(&mut self, table: &TableInfo, visitor: &mut dyn RowVisitor) -> Result<u64> {
        let index = table_index(&self.tables, table)?;
        let (batches, mut received) = mpsc::channel(DEPTH);
        let plans = Arc::clone(&self.plans);
        self.conn
            .send(move |conn| read(conn, &plans[index], &batches))?;
        let mut count = 0u64;
        loop {
            match received.recv().await.ok_or_else(stopped)?? {
                Some(batch) => {
                    count += batch.len() as u64;
                    visitor.rows(batch).await?;
                }
                None => return Ok(count),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patient::{generate, GenerateOptions};
    use crate::store::snapshot::SnapshotSource;
    use crate::store::PatientStore;

    fn patients(count: usize, seed: u64) -> Vec<crate::patient::Patient> {
        generate(GenerateOptions { count, seed })
    }

    /// Counts the rows a scan hands over, failing on the first batch when `fail`.
    struct Counter {
        rows: u64,
        fail: bool,
    }

    #[async_trait]
    impl RowVisitor for Counter {
        async fn rows(&mut self, batch: Vec<Row>) -> Result<()> {
            if self.fail {
                return Err(Error::Conflict("visitor refused".into()));
            }
            self.rows += batch.len() as u64;
            Ok(())
        }
    }

    async fn count(snapshot: &mut dyn Snapshot, table: &str) -> Result<u64> {
        let info = snapshot
            .tables()
            .iter()
            .find(|t| t.name == table)
            .cloned()
            .expect("table in the snapshot");
        let mut counter = Counter {
            rows: 0,
            fail: false,
        };
        let scanned = snapshot.scan(&info, &mut counter).await?;
        assert_eq!(scanned, counter.rows);
        Ok(scanned)
    }

    #[tokio::test]
    async fn a_snapshot_sees_the_database_as_it_was_when_it_opened() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("medicare.db"))
            .await
            .unwrap();
        let all = patients(2_500, 7);
        store.insert_patients(&all[..1_200]).await.unwrap();
        let mut before = store.open_snapshot().await.unwrap();
        store.insert_patients(&all[1_200..]).await.unwrap();
        assert_eq!(count(before.as_mut(), "patients").await.unwrap(), 1_200);
        let mut after = store.open_snapshot().await.unwrap();
        assert_eq!(count(after.as_mut(), "patients").await.unwrap(), 2_500);
        // The older snapshot still reads its own moment, table after table.
        assert_eq!(count(before.as_mut(), "patients").await.unwrap(), 1_200);
    }

    #[tokio::test]
    async fn an_in_memory_database_is_read_through_a_private_copy() {
        let store = SqliteStore::memory().await.unwrap();
        store.insert_patients(&patients(30, 1)).await.unwrap();
        let mut snapshot = store.open_snapshot().await.unwrap();
        let names: Vec<&str> = snapshot.tables().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(&names[..2], ["patients", "patient_conditions"], "{names:?}");
        assert_eq!(count(snapshot.as_mut(), "patients").await.unwrap(), 30);
    }

    #[tokio::test]
    async fn a_scan_abandoned_by_its_caller_leaves_the_snapshot_usable() {
        let store = SqliteStore::memory().await.unwrap();
        store.insert_patients(&patients(3_500, 2)).await.unwrap();
        let mut snapshot = store.open_snapshot().await.unwrap();
        let info = snapshot.tables()[0].clone();
        let mut failing = Counter {
            rows: 0,
            fail: true,
        };
        let err = snapshot.scan(&info, &mut failing).await.unwrap_err();
        assert!(err.to_string().contains("visitor refused"), "{err}");
        assert_eq!(count(snapshot.as_mut(), "patients").await.unwrap(), 3_500);
    }

    #[tokio::test]
    async fn text_that_is_not_utf8_is_refused_naming_its_table_not_its_content() {
        let store = SqliteStore::memory().await.unwrap();
        store.insert_patients(&patients(3, 3)).await.unwrap();
        sqlx::query("UPDATE patients SET family_name = CAST(X'FF' AS TEXT) WHERE id = 2")
            .execute(store.pool())
            .await
            .unwrap();
        let mut snapshot = store.open_snapshot().await.unwrap();
        let err = count(snapshot.as_mut(), "patients").await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("table patients") && message.contains("not UTF-8"),
            "{message}"
        );
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
    }
}
