//! The PostgreSQL store as a backup source and restore target (Aurora PostgreSQL too).
//!
//! Tables are discovered from the catalog (every table of the current schema but the
//! migration ledger), so per-form response tables and tables later issues add are
//! covered. A snapshot is one `REPEATABLE READ, READ ONLY` transaction: every table is
//! read as of one instant while campaigns go on. Values are written as SQLite holds them
//! (booleans as 0/1, dates and timestamps as text), so a backup restores into either
//! engine. A restore is one transaction, rows streamed with `COPY`, foreign keys checked
//! at commit and identity sequences moved past the restored ids, so a failed restore
//! leaves the target as it was and a finished one takes new rows at once.

use super::copy::copy_in;
use super::PostgresStore;
use crate::error::{Error, Result};
use crate::sql::Dialect;
use crate::store::snapshot::{
    prepare_statements, quoted_name, response_table_spec, row_counts, sort_for_restore,
    table_index, visit_rows, Blob, RestoreTarget, RestoreTx, Row, RowVisitor, Snapshot,
    SnapshotSource, TableInfo, Value,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Postgres, Row as _, Transaction};

/// Checks and quotes a table or column name.
fn q(name: &str) -> Result<String> {
    quoted_name(name, Dialect::Postgres)
}

/// How a column is read into a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Integers and booleans (as 0/1), read as `bigint`.
    Int,
    /// Floats, read as `double precision`.
    Real,
    /// `bytea`.
    Blob,
    /// `timestamptz`, written as sqlx writes timestamps into SQLite.
    Timestamp,
    /// Everything else, read as text (dates as `YYYY-MM-DD`, decimals without trailing
    /// zeros).
    Text,
}

impl Kind {
    fn of(type_name: &str) -> Kind {
        match type_name {
            "int2" | "int4" | "int8" | "bool" => Kind::Int,
            "float4" | "float8" => Kind::Real,
            "bytea" => Kind::Blob,
            "timestamptz" => Kind::Timestamp,
            _ => Kind::Text,
        }
    }

    /// The select expression reading `column` (quoted) of type `type_name`.
    fn select(type_name: &str, column: &str) -> String {
        match type_name {
            "bool" => format!("CAST(CAST({column} AS INTEGER) AS BIGINT)"),
            "int2" | "int4" => format!("CAST({column} AS BIGINT)"),
            "float4" => format!("CAST({column} AS DOUBLE PRECISION)"),
            "int8" | "float8" | "bytea" | "timestamptz" => column.to_string(),
            "date" => format!("to_char({column}, 'YYYY-MM-DD')"),
            "numeric" => format!("CAST(trim_scale({column}) AS TEXT)"),
            _ => format!("CAST({column} AS TEXT)"),
        }
    }

    fn read(self, row: &PgRow, i: usize) -> Result<Value> {
        Ok(match self {
            Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
            Kind::Real => row.try_get::<Option<f64>, _>(i)?.map(Value::Real),
            Kind::Blob => row
                .try_get::<Option<Vec<u8>>, _>(i)?
                .map(|bytes| Value::Blob(Blob { bytes })),
            Kind::Timestamp => row
                .try_get::<Option<DateTime<Utc>>, _>(i)?
                .map(|t| Value::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))),
            Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
        }
        .unwrap_or(Value::Null))
    }
}

/// The tables of the current schema, in restore order.
async fn table_names(conn: &mut PgConnection) -> Result<Vec<String>> {
    let mut names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(relname AS TEXT) FROM pg_class \
         WHERE relnamespace = CAST(current_schema() AS regnamespace) AND relkind = 'r' \
         AND relname <> '_sqlx_migrations' ORDER BY relname",
    )
    .fetch_all(&mut *conn)
    .await?;
    sort_for_restore(&mut names);
    Ok(names)
}

/// A table's columns with their type names, in order (none: no such table).
async fn columns(conn: &mut PgConnection, table: &str) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT CAST(a.attname AS TEXT), CAST(t.typname AS TEXT) FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid \
         WHERE c.relname = $1 AND c.relnamespace = CAST(current_schema() AS regnamespace) \
         AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?)
}

/// A table's primary key columns, in key order.
async fn primary_key(conn: &mut PgConnection, table: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(a.attname AS TEXT) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE c.relname = $1 AND c.relnamespace = CAST(current_schema() AS regnamespace) \
         AND i.indisprimary ORDER BY k.ord",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?)
}

/// A consistent read of a PostgreSQL database.
struct PostgresSnapshot {
    tx: Transaction<'static, Postgres>,
    tables: Vec<TableInfo>,
    /// Per table: its select and how each column is read.
    reads: Vec<(String, Vec<Kind>)>,
}

#[async_trait]
impl SnapshotSource for PostgresStore {
    async fn open_snapshot(&self) -> Result<Box<dyn Snapshot>> {
        let mut tx = self
            .pool()
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let mut tables = Vec::new();
        let mut reads = Vec::new();
        for name in table_names(&mut tx).await? {
            let cols = columns(&mut tx, &name).await?;
            let mut selects = Vec::with_capacity(cols.len());
            for (column, type_name) in &cols {
                selects.push(Kind::select(type_name, &q(column)?));
            }
            // A stable order: the primary key, text compared bytewise as SQLite does.
            let mut order = Vec::new();
            for key in primary_key(&mut tx, &name).await? {
                let text = cols
                    .iter()
                    .any(|(c, t)| c == &key && Kind::of(t) == Kind::Text);
                let quoted = q(&key)?;
                order.push(if text {
                    format!("{quoted} COLLATE \"C\"")
                } else {
                    quoted
                });
            }
            if order.is_empty() {
                order = (1..=cols.len()).map(|i| i.to_string()).collect();
            }
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {}",
                selects.join(", "),
                q(&name)?,
                order.join(", ")
            );
            reads.push((sql, cols.iter().map(|(_, t)| Kind::of(t)).collect()));
            tables.push(TableInfo {
                name,
                columns: cols.into_iter().map(|(c, _)| c).collect(),
            });
        }
        Ok(Box::new(PostgresSnapshot { tx, tables, reads }))
    }
}

#[async_trait]
impl Snapshot for PostgresSnapshot {
    fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    async fn scan(&mut self, table: &TableInfo, visitor: &mut dyn RowVisitor) -> Result<u64> {
        let index = table_index(&self.tables, table)?;
        let (sql, kinds) = &self.reads[index];
        let rows = sqlx::query(sql).fetch(&mut *self.tx);
        let read = |row: &PgRow| {
            kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| kind.read(row, i))
                .collect()
        };
        visit_rows(rows, read, visitor).await
    }
}

#[async_trait]
impl RestoreTarget for PostgresStore {
    async fn non_empty_tables(&self) -> Result<Vec<(String, u64)>> {
        let mut conn = self.pool().acquire().await?;
        let names = table_names(&mut conn).await?;
        row_counts::<Postgres>(&mut conn, names, Dialect::Postgres).await
    }

    async fn begin_restore(&self, replace: bool) -> Result<Box<dyn RestoreTx>> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET CONSTRAINTS ALL DEFERRED")
            .execute(&mut *tx)
            .await?;
        if replace {
            let response_tables: Vec<String> =
                sqlx::query_scalar("SELECT response_table FROM forms")
                    .fetch_all(&mut *tx)
                    .await?;
            let mut emptied = Vec::new();
            for name in table_names(&mut tx).await? {
                if response_tables.contains(&name) {
                    sqlx::query(&format!("DROP TABLE {}", q(&name)?))
                        .execute(&mut *tx)
                        .await?;
                } else {
                    emptied.push(q(&name)?);
                }
            }
            if !emptied.is_empty() {
                sqlx::query(&format!("TRUNCATE {}", emptied.join(", ")))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(Box::new(PostgresRestore { tx }))
    }
}

/// A restore into PostgreSQL: one transaction.
struct PostgresRestore {
    tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl RestoreTx for PostgresRestore {
    async fn prepare_table(&mut self, table: &TableInfo) -> Result<()> {
        let existing: Vec<String> = columns(&mut self.tx, &table.name)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let spec: Option<String> = if existing.is_empty() {
            response_table_spec::<Postgres>(&mut *self.tx, &table.name, Dialect::Postgres).await?
        } else {
            None
        };
        for ddl in prepare_statements(table, &existing, spec.as_deref(), Dialect::Postgres)? {
            sqlx::query(&ddl).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn insert(&mut self, table: &TableInfo, rows: Vec<Row>) -> Result<()> {
        let cols = table
            .columns
            .iter()
            .map(|c| q(c))
            .collect::<Result<Vec<_>>>()?;
        let statement = format!("COPY {} ({}) FROM STDIN", q(&table.name)?, cols.join(", "));
        copy_in(&mut self.tx, &statement, &rows, |out, row| {
            if row.len() != cols.len() {
                return Err(Error::invalid(
                    format!("backup table {}", table.name),
                    "a row has the wrong number of values",
                ));
            }
            for value in row {
                match value {
                    Value::Null => out.null(),
                    Value::Int(i) => out.int(*i),
                    Value::Real(f) => out.real(*f),
                    Value::Text(s) => out.text(s),
                    Value::Blob(b) => out.bytes(&b.bytes),
                };
            }
            out.end_row();
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        // Identity and serial columns continue after the restored ids.
        let sequences: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT CAST(c.relname AS TEXT), CAST(a.attname AS TEXT), \
             pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS seq \
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE c.relnamespace = CAST(current_schema() AS regnamespace) AND c.relkind = 'r' \
             AND a.attnum > 0 AND NOT a.attisdropped \
             AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        for (table, column, sequence) in sequences {
            sqlx::query(&format!(
                "SELECT setval(CAST($1 AS regclass), COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)",
                q(&column)?,
                q(&table)?
            ))
            .bind(sequence)
            .execute(&mut *self.tx)
            .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}
