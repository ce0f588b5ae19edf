//! The SQLite store as a backup source and restore target.
//!
//! Tables are discovered from `sqlite_master` (every table but SQLite's own and the
//! migration ledger), so tables later issues add are backed up without a change here. A
//! snapshot is one read transaction (WAL keeps it consistent while campaigns run); a
//! restore is one write transaction with foreign keys checked at commit, so a failed
//! restore leaves the target exactly as it was.

use super::SqliteStore;
use crate::error::{Error, Result};
use crate::sql::Dialect;
use crate::store::snapshot::{
    prepare_statements, quoted_name, response_table_spec, row_counts, sort_for_restore,
    table_index, visit_rows, RestoreTarget, RestoreTx, Row, RowVisitor, Snapshot, SnapshotSource,
    TableInfo, Value,
};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row as _, Sqlite, SqliteConnection, Transaction, TypeInfo, ValueRef};

/// Checks and quotes a table or column name.
fn q(name: &str) -> Result<String> {
    quoted_name(name, Dialect::Sqlite)
}

/// Values one multi-row `INSERT` binds at most (SQLite allows 32,766).
const MAX_BINDS: usize = 30_000;

async fn table_names(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let mut names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    sort_for_restore(&mut names);
    Ok(names)
}

/// A table's columns, and the columns of its primary key in key order.
async fn columns(conn: &mut SqliteConnection, table: &str) -> Result<(Vec<String>, Vec<String>)> {
    let rows = sqlx::query(&format!("PRAGMA table_info({})", q(table)?))
        .fetch_all(&mut *conn)
        .await?;
    let mut columns = Vec::with_capacity(rows.len());
    let mut key = Vec::new();
    for r in rows {
        let name: String = r.try_get("name")?;
        let pk: i64 = r.try_get("pk")?;
        if pk > 0 {
            key.push((pk, name.clone()));
        }
        columns.push(name);
    }
    key.sort();
    Ok((columns, key.into_iter().map(|(_, n)| n).collect()))
}

fn value(row: &SqliteRow, i: usize) -> Result<Value> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_string();
    Ok(match kind.as_str() {
        "INTEGER" => Value::Int(row.try_get(i)?),
        "REAL" => Value::Real(row.try_get(i)?),
        "BLOB" => Value::Blob(crate::store::snapshot::Blob {
            bytes: row.try_get(i)?,
        }),
        _ => Value::Text(row.try_get(i)?),
    })
}

/// A consistent read of a SQLite database.
struct SqliteSnapshot {
    tx: Transaction<'static, Sqlite>,
    tables: Vec<TableInfo>,
    order: Vec<String>,
}

#[async_trait]
impl SnapshotSource for SqliteStore {
    async fn open_snapshot(&self) -> Result<Box<dyn Snapshot>> {
        let mut tx = self.pool().begin().await?;
        let mut tables = Vec::new();
        let mut order = Vec::new();
        for name in table_names(&mut tx).await? {
            let (cols, key) = columns(&mut tx, &name).await?;
            let key = if key.is_empty() {
                "rowid".to_string()
            } else {
                key.iter()
                    .map(|k| q(k))
                    .collect::<Result<Vec<_>>>()?
                    .join(", ")
            };
            order.push(key);
            tables.push(TableInfo {
                name,
                columns: cols,
            });
        }
        Ok(Box::new(SqliteSnapshot { tx, tables, order }))
    }
}

#[async_trait]
impl Snapshot for SqliteSnapshot {
    fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    async fn scan(&mut self, table: &TableInfo, visitor: &mut dyn RowVisitor) -> Result<u64> {
        let index = table_index(&self.tables, table)?;
        let cols = table
            .columns
            .iter()
            .map(|c| q(c))
            .collect::<Result<Vec<_>>>()?;
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            cols.join(", "),
            q(&table.name)?,
            self.order[index]
        );
        let width = cols.len();
        let rows = sqlx::query(&sql).fetch(&mut *self.tx);
        visit_rows(
            rows,
            |row| (0..width).map(|i| value(row, i)).collect(),
            visitor,
        )
        .await
    }
}

#[async_trait]
impl RestoreTarget for SqliteStore {
    async fn non_empty_tables(&self) -> Result<Vec<(String, u64)>> {
        let mut conn = self.pool().acquire().await?;
        let names = table_names(&mut conn).await?;
        row_counts::<Sqlite>(&mut conn, names, Dialect::Sqlite).await
    }

    async fn begin_restore(&self, replace: bool) -> Result<Box<dyn RestoreTx>> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("PRAGMA defer_foreign_keys = ON")
            .execute(&mut *tx)
            .await?;
        if replace {
            let response_tables: Vec<String> =
                sqlx::query_scalar("SELECT response_table FROM forms")
                    .fetch_all(&mut *tx)
                    .await?;
            // The audit ledger's append-only triggers step aside inside this transaction
            // only: dropped, the ledger emptied, and created again as they were.
            let triggers: Vec<String> = sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'",
            )
            .fetch_all(&mut *tx)
            .await?;
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'",
            )
            .fetch_all(&mut *tx)
            .await?;
            for name in &names {
                sqlx::query(&format!("DROP TRIGGER {}", q(name)?))
                    .execute(&mut *tx)
                    .await?;
            }
            for name in table_names(&mut tx).await?.iter().rev() {
                let sql = if response_tables.contains(name) {
                    format!("DROP TABLE {}", q(name)?)
                } else {
                    format!("DELETE FROM {}", q(name)?)
                };
                sqlx::query(&sql).execute(&mut *tx).await?;
            }
            for sql in &triggers {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
        }
        Ok(Box::new(SqliteRestore { tx }))
    }
}

/// A restore into SQLite: one transaction.
struct SqliteRestore {
    tx: Transaction<'static, Sqlite>,
}

#[async_trait]
impl RestoreTx for SqliteRestore {
    async fn prepare_table(&mut self, table: &TableInfo) -> Result<()> {
        let (existing, _) = columns(&mut self.tx, &table.name).await?;
        let spec: Option<String> = if existing.is_empty() {
            response_table_spec::<Sqlite>(&mut *self.tx, &table.name, Dialect::Sqlite).await?
        } else {
            None
        };
        for ddl in prepare_statements(table, &existing, spec.as_deref(), Dialect::Sqlite)? {
            sqlx::query(&ddl).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn insert(&mut self, table: &TableInfo, rows: &[Row]) -> Result<()> {
        let cols = table
            .columns
            .iter()
            .map(|c| q(c))
            .collect::<Result<Vec<_>>>()?;
        let one = format!("({})", vec!["?"; cols.len()].join(", "));
        let per_statement = (MAX_BINDS / cols.len().max(1)).max(1);
        for chunk in rows.chunks(per_statement) {
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                q(&table.name)?,
                cols.join(", "),
                vec![one.as_str(); chunk.len()].join(", ")
            );
            let mut args = SqliteArguments::default();
            for row in chunk {
                for v in row {
                    let added = match v {
                        Value::Null => args.add(None::<i64>),
                        Value::Int(i) => args.add(*i),
                        Value::Real(f) => args.add(*f),
                        Value::Text(s) => args.add(s.as_str()),
                        Value::Blob(b) => args.add(b.bytes.as_slice()),
                    };
                    added.map_err(|e| Error::database(sqlx::Error::Encode(e)))?;
                }
            }
            sqlx::query_with(&sql, args).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}
