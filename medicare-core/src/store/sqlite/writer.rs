//! The SQLite restore writer: one write transaction on a connection of its own
//! ([`super::direct`]), with one prepared insert per table.
//!
//! Secondary indexes are dropped at the start and built again just before the commit,
//! inside the same transaction (one sorted build per index instead of a random insert
//! per row), with a page cache the size of a demo database so that half-built pages are
//! not spilled mid-transaction. Foreign keys are checked at the commit. Nothing is
//! visible before it, and a restore dropped or failed part way rolls back whole.
//!
//! The target must be a database file: an in-memory database cannot be opened by a second
//! connection, and a restore is meant to outlive the process anyway.

use super::direct::{strings, Direct};
use super::reader::{q, table_names};
use super::SqliteStore;
use crate::error::{Error, Result};
use crate::sql::Dialect;
use crate::store::snapshot::{prepare_statements, RestoreTx, Row, TableInfo, Value};
use async_trait::async_trait;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension};

/// The page cache a restore's connection uses, in KiB (SQLite's default is 2,000).
const RESTORE_CACHE_KIB: u32 = 64 * 1024;

/// A restore into SQLite in progress.
pub(super) struct SqliteRestore {
    conn: Direct,
    /// The statements that create the secondary indexes dropped for the restore.
    indexes: Vec<String>,
}

impl SqliteRestore {
    /// Starts the restore's transaction in `store`; with `replace`, every existing row and
    /// every per-form response table is removed first, inside it.
    pub(super) async fn begin(store: &SqliteStore, replace: bool) -> Result<Self> {
        let path = store.file.clone().ok_or_else(|| {
            Error::Conflict(
                "an in-memory SQLite database cannot be restored into; restore into a database file"
                    .into(),
            )
        })?;
        let conn = Direct::open(path, "sqlite-restore").await?;
        let indexes = conn.run(move |c| begin(c, replace)).await?;
        Ok(SqliteRestore { conn, indexes })
    }
}

/// Opens the transaction, empties the target when replacing, and drops the secondary
/// indexes; returns the statements that create them again.
fn begin(conn: &mut Connection, replace: bool) -> Result<Vec<String>> {
    // Foreign keys are a connection's setting (the bundled SQLite's default is on, and
    // sqlx asks for them too): asked for here as well, outside the transaction, where
    // the setting can change.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON",
    )?;
    if replace {
        let response_tables = strings(conn, "SELECT response_table FROM forms", [])?;
        // The audit ledger's append-only triggers step aside inside this transaction
        // only: dropped, the ledger emptied, and created again as they were.
        let triggers = dropped(conn, "trigger", "tbl_name = 'audit_events'")?;
        for name in table_names(conn)?.iter().rev() {
            let verb = if response_tables.contains(name) {
                "DROP TABLE"
            } else {
                "DELETE FROM"
            };
            conn.execute_batch(&format!("{verb} {}", q(name)?))?;
        }
        for sql in &triggers {
            conn.execute_batch(sql)?;
        }
    }
    let indexes = dropped(conn, "index", "sql IS NOT NULL")?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{RESTORE_CACHE_KIB}"))?;
    Ok(indexes)
}

/// Drops every schema object of `kind` (`index`, `trigger`) that `filter` selects from
/// `sqlite_master`; returns the statements that create them again.
fn dropped(conn: &Connection, kind: &str, filter: &str) -> Result<Vec<String>> {
    let found: Vec<(String, String)> = conn
        .prepare(&format!(
            "SELECT name, sql FROM sqlite_master WHERE type = ?1 AND {filter}"
        ))?
        .query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut statements = Vec::with_capacity(found.len());
    for (name, sql) in found {
        conn.execute_batch(&format!("DROP {} {}", kind.to_uppercase(), q(&name)?))?;
        statements.push(sql);
    }
    Ok(statements)
}

/// Makes sure `table` exists with the backup's columns (creating a per-form response
/// table from its form's stored spec).
fn prepare(conn: &mut Connection, table: &TableInfo) -> Result<()> {
    let existing = strings(
        conn,
        "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        [&table.name],
    )?;
    let spec: Option<String> = if existing.is_empty() {
        conn.query_row(
            "SELECT spec_json FROM forms WHERE response_table = ?1",
            [&table.name],
            |r| r.get(0),
        )
        .optional()?
    } else {
        None
    };
    for ddl in prepare_statements(table, &existing, spec.as_deref(), Dialect::Sqlite)? {
        conn.execute_batch(&ddl)?;
    }
    Ok(())
}

/// A stored value as a bound parameter, borrowed.
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(&b.bytes),
        }))
    }
}

/// Inserts `rows` into `table`, one execution of its prepared statement per row.
fn insert(conn: &mut Connection, table: &TableInfo, rows: &[Row]) -> Result<()> {
    let columns = table
        .columns
        .iter()
        .map(|c| q(c))
        .collect::<Result<Vec<_>>>()?;
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        q(&table.name)?,
        columns.join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    let mut statement = conn.prepare_cached(&sql)?;
    for row in rows {
        statement.execute(rusqlite::params_from_iter(row.iter().map(Param)))?;
    }
    Ok(())
}

/// Builds the dropped indexes again and commits (foreign keys are checked here).
fn commit(conn: &mut Connection, indexes: &[String]) -> Result<()> {
    for sql in indexes {
        conn.execute_batch(sql)?;
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

#[async_trait]
impl RestoreTx for SqliteRestore {
    async fn prepare_table(&mut self, table: &TableInfo) -> Result<()> {
        let table = table.clone();
        self.conn.run(move |c| prepare(c, &table)).await
    }

    async fn insert(&mut self, table: &TableInfo, rows: Vec<Row>) -> Result<()> {
        let table = table.clone();
        self.conn.run(move |c| insert(c, &table, &rows)).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let SqliteRestore { conn, indexes } = *self;
        conn.run(move |c| commit(c, &indexes)).await
    }
}

#[cfg(test)]
mod tests {
    use crate::store::snapshot::{RestoreTarget, TableInfo, Value};
    use crate::store::sqlite::SqliteStore;

    /// A row whose parent is missing fails the commit, and nothing is written.
    #[tokio::test]
    async fn a_restore_breaking_a_foreign_key_fails_at_its_commit_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("target.db"))
            .await
            .unwrap();
        let conditions = TableInfo {
            name: "patient_conditions".into(),
            columns: vec!["patient_id".into(), "code".into()],
        };
        let mut tx = store.begin_restore(false).await.unwrap();
        tx.prepare_table(&conditions).await.unwrap();
        tx.insert(
            &conditions,
            vec![vec![Value::Int(42), Value::Text("copd".into())]],
        )
        .await
        .unwrap();
        let err = tx.commit().await.unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
        assert!(store.non_empty_tables().await.unwrap().is_empty());
    }
}
