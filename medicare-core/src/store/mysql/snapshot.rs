//! The MySQL store as a backup source and restore target (Aurora MySQL's daily backup).
//!
//! Tables are discovered from `information_schema` (every base table of the database but
//! the migration ledger), so tables later issues add are backed up without a change
//! here; a per-form response table is taken when a form in the snapshot names it (an
//! unnamed one is an empty leftover of an interrupted form creation or restore, see
//! [`crate::store::mysql`]). A snapshot is one `START TRANSACTION WITH CONSISTENT
//! SNAPSHOT, READ ONLY` at `REPEATABLE READ`, consistent while campaigns run.
//!
//! Values are written the way the SQLite store holds them (dates `YYYY-MM-DD`, times
//! RFC 3339 in UTC, flags 0/1, exact decimals as text), so a backup restores into either
//! engine, and a restore converts text back to the target column's type.
//!
//! A restore is one transaction for every row. Creating a missing response table is DDL,
//! which MySQL commits at once: it runs on a connection of its own, outside the restore
//! transaction, so a failed restore rolls every row back and leaves at most empty
//! response tables that no form names. With `replace`, rows are deleted inside the
//! transaction; tables are never dropped, except an unnamed leftover whose columns differ
//! from the backup's.

use super::MySqlStore;
use crate::error::{Error, Result};
use crate::form::{response_table_ddl, Decimal, FormSpec};
use crate::sql::Dialect;
use crate::store::snapshot::{
    quoted_name, response_table_spec, row_counts, sort_for_restore, table_index, visit_rows, Blob,
    RestoreTarget, RestoreTx, Row, RowVisitor, Snapshot, SnapshotSource, TableInfo, Value,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use sqlx::mysql::{MySqlArguments, MySqlRow};
use sqlx::{Arguments, MySql, MySqlConnection, Row as _, Transaction, ValueRef};
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

/// Values one multi-row `INSERT` binds at most (the protocol allows 65,535).
const MAX_BINDS: usize = 60_000;

/// Bytes of values one multi-row `INSERT` carries at most (the server's packet limit is
/// 16 MB by default on MariaDB, 64 MB on MySQL 8).
const MAX_BYTES: usize = 4 << 20;

/// The migration ledger: the target's own, never backed up or restored.
const LEDGER: &str = "_sqlx_migrations";

fn q(name: &str) -> Result<String> {
    quoted_name(name, Dialect::Mysql)
}

/// How a column's values are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Real,
    Decimal,
    Date,
    /// A time; `response` for a response table's `submitted_at`, which SQLite holds in
    /// the fixed-width form the form module writes.
    DateTime {
        response: bool,
    },
    Bytes,
    /// `VARBINARY`: the schema's byte-compared text (read as text when it is UTF-8).
    ByteText,
    Text,
}

impl Kind {
    fn of(data_type: &str, table: &str, column: &str, response_tables: &BTreeSet<String>) -> Kind {
        match data_type.to_ascii_lowercase().as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                Kind::Int
            }
            "float" | "double" | "real" => Kind::Real,
            "decimal" | "numeric" => Kind::Decimal,
            "date" => Kind::Date,
            "datetime" | "timestamp" => Kind::DateTime {
                response: column == "submitted_at" && response_tables.contains(table),
            },
            "binary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Kind::Bytes,
            "varbinary" => Kind::ByteText,
            _ => Kind::Text,
        }
    }

    /// The select-list expression reading `column` (decimals as exact text).
    fn select(self, column: &str) -> Result<String> {
        let c = q(column)?;
        Ok(match self {
            Kind::Decimal => format!("CAST({c} AS CHAR)"),
            Kind::Real => format!("CAST({c} AS DOUBLE)"),
            _ => c,
        })
    }

    /// Reads column `i` of `row`.
    fn read(self, row: &MySqlRow, i: usize) -> Result<Value> {
        if row.try_get_raw(i)?.is_null() {
            return Ok(Value::Null);
        }
        Ok(match self {
            Kind::Int => Value::Int(row.try_get(i)?),
            Kind::Real => Value::Real(row.try_get(i)?),
            Kind::Decimal => {
                let text: String = row.try_get_unchecked(i)?;
                Value::Text(
                    Decimal::from_str(&text)
                        .map(|d| d.to_string())
                        .unwrap_or(text),
                )
            }
            Kind::Date => Value::Text(
                row.try_get::<NaiveDate, _>(i)?
                    .format("%Y-%m-%d")
                    .to_string(),
            ),
            Kind::DateTime { response } => {
                let at = Utc.from_utc_datetime(&row.try_get::<NaiveDateTime, _>(i)?);
                Value::Text(if response {
                    crate::form::schema::format_timestamp(at, Dialect::Sqlite)
                } else {
                    // As sqlx writes a `DateTime<Utc>` into SQLite.
                    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
                })
            }
            Kind::Bytes => Value::Blob(Blob {
                bytes: row.try_get(i)?,
            }),
            Kind::ByteText => match String::from_utf8(row.try_get(i)?) {
                Ok(text) => Value::Text(text),
                Err(e) => Value::Blob(Blob {
                    bytes: e.into_bytes(),
                }),
            },
            Kind::Text => Value::Text(row.try_get_unchecked(i)?),
        })
    }
}

/// A table's columns with their kinds, and its primary key in key order.
struct Layout {
    columns: Vec<(String, Kind)>,
    key: Vec<String>,
}

/// The database's base tables but the ledger, in restore order.
async fn table_names(conn: &mut MySqlConnection) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut names = rows
        .iter()
        .map(|r| Ok(r.try_get_unchecked::<String, _>(0)?))
        .filter(|n: &Result<String>| n.as_ref().map_or(true, |n| n != LEDGER))
        .collect::<Result<Vec<_>>>()?;
    sort_for_restore(&mut names);
    Ok(names)
}

/// The response tables the forms name (as `conn` sees the forms).
async fn response_tables(conn: &mut MySqlConnection) -> Result<BTreeSet<String>> {
    let names: Vec<String> = sqlx::query_scalar("SELECT response_table FROM forms")
        .fetch_all(&mut *conn)
        .await?;
    Ok(names.into_iter().collect())
}

/// Whether `name` is a per-form response table's name (named by a form or not).
fn is_response_table(name: &str) -> bool {
    name.starts_with("resp_")
}

async fn layout(
    conn: &mut MySqlConnection,
    table: &str,
    response_tables: &BTreeSet<String>,
) -> Result<Layout> {
    let rows = sqlx::query(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_KEY FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let mut columns = Vec::with_capacity(rows.len());
    for r in &rows {
        let name: String = r.try_get_unchecked(0)?;
        let data_type: String = r.try_get_unchecked(1)?;
        columns.push((
            name.clone(),
            Kind::of(&data_type, table, &name, response_tables),
        ));
    }
    let key: Vec<String> = sqlx::query(
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
         ORDER BY ORDINAL_POSITION",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get_unchecked::<String, _>(0))
    .collect::<std::result::Result<_, _>>()?;
    Ok(Layout { columns, key })
}

/// A consistent read of a MySQL database.
struct MySqlSnapshot {
    tx: Transaction<'static, MySql>,
    tables: Vec<TableInfo>,
    layouts: Vec<Layout>,
}

#[async_trait]
impl SnapshotSource for MySqlStore {
    async fn open_snapshot(&self) -> Result<Box<dyn Snapshot>> {
        // The isolation level applies to the next transaction only, on this connection.
        let mut tx = self
            .pool()
            .begin_with(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
                 START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
            )
            .await?;
        let named = response_tables(&mut tx).await?;
        let mut tables = Vec::new();
        let mut layouts = Vec::new();
        for name in table_names(&mut tx).await? {
            if is_response_table(&name) && !named.contains(&name) {
                continue;
            }
            let layout = layout(&mut tx, &name, &named).await?;
            tables.push(TableInfo {
                name,
                columns: layout.columns.iter().map(|(c, _)| c.clone()).collect(),
            });
            layouts.push(layout);
        }
        Ok(Box::new(MySqlSnapshot {
            tx,
            tables,
            layouts,
        }))
    }
}

#[async_trait]
impl Snapshot for MySqlSnapshot {
    fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    async fn scan(&mut self, table: &TableInfo, visitor: &mut dyn RowVisitor) -> Result<u64> {
        let index = table_index(&self.tables, table)?;
        let layout = &self.layouts[index];
        let select = layout
            .columns
            .iter()
            .map(|(c, kind)| kind.select(c))
            .collect::<Result<Vec<_>>>()?;
        // Every table the migrations and forms create has a primary key; a foreign table
        // without one is read in the order of all its columns.
        let order = if layout.key.is_empty() {
            &table.columns
        } else {
            &layout.key
        };
        let order = order.iter().map(|c| q(c)).collect::<Result<Vec<_>>>()?;
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            select.join(", "),
            q(&table.name)?,
            order.join(", ")
        );
        let kinds: Vec<Kind> = layout.columns.iter().map(|(_, k)| *k).collect();
        let stream = sqlx::query(&sql).fetch(&mut *self.tx);
        let read = |row: &MySqlRow| {
            kinds
                .iter()
                .enumerate()
                .map(|(i, k)| k.read(row, i))
                .collect()
        };
        visit_rows(stream, read, visitor).await
    }
}

#[async_trait]
impl RestoreTarget for MySqlStore {
    async fn non_empty_tables(&self) -> Result<Vec<(String, u64)>> {
        let mut conn = self.pool().acquire().await?;
        let names = table_names(&mut conn).await?;
        row_counts::<MySql>(&mut conn, names, Dialect::Mysql).await
    }

    async fn begin_restore(&self, replace: bool) -> Result<Box<dyn RestoreTx>> {
        let mut tx = self.pool().begin().await?;
        if replace {
            // Unnamed response tables are left alone (empty leftovers; touching them
            // here would keep `prepare_table` from replacing one). The audit ledger's
            // trigger lets this session (and only while it is flagged) empty it.
            let named = response_tables(&mut tx).await?;
            sqlx::query("SET @medicare_restore_replace = 1")
                .execute(&mut *tx)
                .await?;
            for name in table_names(&mut tx).await?.iter().rev() {
                if is_response_table(name) && !named.contains(name) {
                    continue;
                }
                sqlx::query(&format!("DELETE FROM {}", q(name)?))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("SET @medicare_restore_replace = NULL")
                .execute(&mut *tx)
                .await?;
        }
        Ok(Box::new(MySqlRestore {
            store: self.clone(),
            tx,
            kinds: HashMap::new(),
        }))
    }
}

/// A restore into MySQL: one transaction for the rows; response tables created beside it.
struct MySqlRestore {
    store: MySqlStore,
    tx: Transaction<'static, MySql>,
    /// The target's column kinds of each prepared table.
    kinds: HashMap<String, Vec<Kind>>,
}

impl MySqlRestore {
    /// Creates a missing response table from its form's spec (read in the restore
    /// transaction, which holds the restored forms), outside the transaction.
    async fn create_response_table(&mut self, table: &TableInfo) -> Result<()> {
        let what = || format!("backup table {}", table.name);
        let spec: Option<String> =
            response_table_spec::<MySql>(&mut *self.tx, &table.name, Dialect::Mysql).await?;
        let Some(spec) = spec else {
            return Err(Error::invalid(
                what(),
                "the target database has no such table and no form names it as its response table (restore into a database of the same version)",
            ));
        };
        let spec: FormSpec = serde_json::from_str(&spec)
            .map_err(|_| Error::invalid(what(), "its form's stored spec does not parse"))?;
        for ddl in response_table_ddl(&spec, &table.name, Dialect::Mysql)? {
            sqlx::query(&ddl).execute(self.store.pool()).await?;
        }
        Ok(())
    }

    /// Whether no committed form names `table` (an empty leftover).
    async fn is_unnamed(&self, table: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM forms WHERE response_table = ?")
            .bind(table)
            .fetch_one(self.store.pool())
            .await?;
        Ok(n == 0)
    }
}

#[async_trait]
impl RestoreTx for MySqlRestore {
    async fn prepare_table(&mut self, table: &TableInfo) -> Result<()> {
        let quoted = q(&table.name)?;
        let mut layout = layout_of(&mut self.tx, &table.name).await?;
        let differs = |l: &Layout| l.columns.iter().map(|(c, _)| c).ne(table.columns.iter());
        if is_response_table(&table.name)
            && !layout.columns.is_empty()
            && differs(&layout)
            && self.is_unnamed(&table.name).await?
        {
            sqlx::query(&format!("DROP TABLE {quoted}"))
                .execute(self.store.pool())
                .await?;
            layout.columns.clear();
        }
        if layout.columns.is_empty() {
            self.create_response_table(table).await?;
            layout = layout_of(&mut self.tx, &table.name).await?;
        }
        if differs(&layout) {
            return Err(Error::invalid(
                format!("backup table {} ({quoted})", table.name),
                "its columns differ from the target database's (restore into a database of the same version)",
            ));
        }
        self.kinds.insert(
            table.name.clone(),
            layout.columns.into_iter().map(|(_, k)| k).collect(),
        );
        Ok(())
    }

    async fn insert(&mut self, table: &TableInfo, rows: Vec<Row>) -> Result<()> {
        let kinds = self.kinds.get(&table.name).ok_or_else(|| {
            Error::invalid(
                format!("backup table {}", table.name),
                "rows arrived before the table was prepared",
            )
        })?;
        let cols = table
            .columns
            .iter()
            .map(|c| q(c))
            .collect::<Result<Vec<_>>>()?;
        let one = format!("({})", vec!["?"; cols.len()].join(", "));
        let mut start = 0;
        while start < rows.len() {
            // As many rows as fit the bind and packet limits (at least one).
            let (mut end, mut bytes) = (start, 0usize);
            while end < rows.len()
                && (end == start
                    || ((end - start + 1) * cols.len() <= MAX_BINDS
                        && bytes + row_bytes(&rows[end]) <= MAX_BYTES))
            {
                bytes += row_bytes(&rows[end]);
                end += 1;
            }
            let chunk = &rows[start..end];
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                q(&table.name)?,
                cols.join(", "),
                vec![one.as_str(); chunk.len()].join(", ")
            );
            let mut args = MySqlArguments::default();
            for row in chunk {
                if row.len() != kinds.len() {
                    return Err(Error::invalid(
                        format!("backup table {}", table.name),
                        "a row has the wrong number of values",
                    ));
                }
                for ((value, kind), column) in row.iter().zip(kinds).zip(&table.columns) {
                    bind(&mut args, value, *kind).map_err(|why| {
                        Error::invalid(format!("backup table {}, column {column}", table.name), why)
                    })?;
                }
            }
            sqlx::query_with(&sql, args).execute(&mut *self.tx).await?;
            start = end;
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// A table's layout as the restore needs it (no response-table distinction).
async fn layout_of(conn: &mut MySqlConnection, table: &str) -> Result<Layout> {
    layout(conn, table, &BTreeSet::new()).await
}

/// Roughly how many bytes a row takes on the wire.
fn row_bytes(row: &Row) -> usize {
    row.iter()
        .map(|v| match v {
            Value::Null => 1,
            Value::Int(_) | Value::Real(_) => 9,
            Value::Text(s) => s.len() + 9,
            Value::Blob(b) => b.bytes.len() + 9,
        })
        .sum()
}

/// Binds `value` for a column of `kind`, converting the engine-neutral text of dates and
/// times to the column's type.
fn bind(args: &mut MySqlArguments, value: &Value, kind: Kind) -> std::result::Result<(), String> {
    let added = match (value, kind) {
        (Value::Null, _) => args.add(None::<String>),
        (Value::Text(s), Kind::DateTime { .. }) => args.add(parse_time(s)?),
        (Value::Text(s), Kind::Date) => args
            .add(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "not a date (YYYY-MM-DD)")?),
        (Value::Int(i), _) => args.add(*i),
        (Value::Real(f), _) => args.add(*f),
        (Value::Text(s), _) => args.add(s.as_str()),
        (Value::Blob(b), _) => args.add(b.bytes.as_slice()),
    };
    added.map_err(|e| e.to_string())
}

/// A time as a backup holds it: RFC 3339 (any offset; stored in UTC), or
/// `YYYY-MM-DD HH:MM:SS[.f]` taken as UTC.
fn parse_time(s: &str) -> std::result::Result<NaiveDateTime, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .map_err(|_| "not a time (RFC 3339)".to_string())
}
