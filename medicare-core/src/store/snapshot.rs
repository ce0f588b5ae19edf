//! The engine-neutral snapshot: tables of typed values, read and written through two
//! small traits that every SQL backend implements.
//!
//! A backup never copies a database file: it reads each table as rows of [`Value`]s
//! (the five storage classes every SQL engine can hold), so a backup taken from SQLite can
//! be restored into PostgreSQL or MySQL once those stores exist. Tables are discovered
//! from the database itself, not from a fixed list, so tables added later (per-form
//! response tables, non-respondent rounds) are covered without touching this module.
//!
//! Each backend implements the traits in its own folder (`store/<db>/snapshot.rs`) on the
//! helpers at the end of this module; the backup format and pipeline (`crate::backup`)
//! read and write through the traits only.

// The helpers at the end serve the backends: a build without any has no use for them.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]

use crate::error::{Error, Result};
use crate::form::{response_table_ddl, FormSpec};
use crate::sql::Dialect;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One stored value, engine-neutral.
///
/// In a backup stream a value is plain JSON: `null`, a number (whole numbers that fit
/// 64 bits read back as [`Value::Int`], every other number as [`Value::Real`]), a string,
/// or `{"b": "<base64>"}` for bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes (serialised as `{"b": "<base64>"}`).
    Blob(Blob),
}

// Read by hand rather than as an untagged enum: serde's untagged enums buffer every
// value and try each variant in turn, formatting an error for each miss, which made
// decoding a restore's rows its slowest stage.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("null, a number, a string or {\"b\": base64 bytes}")
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Real(v as f64), Value::Int))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Value::Real(v))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::Text(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::Text(v))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        map: A,
    ) -> std::result::Result<Value, A::Error> {
        Blob::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Value::Blob)
    }
}

/// Bytes, serialised as `{"b": "<base64>"}` so they never read as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blob {
    /// The bytes, base64 in the stream.
    #[serde(rename = "b", with = "base64_bytes")]
    pub bytes: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// A table as the snapshot sees it: its name and its columns, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    /// The table's name.
    pub name: String,
    /// Its columns, in the order rows carry them.
    pub columns: Vec<String>,
}

/// One row: one value per column.
pub type Row = Vec<Value>;

/// Receives a table's rows, batch by batch, while a [`Snapshot`] scans it.
#[async_trait]
pub trait RowVisitor: Send {
    /// Takes the next batch of rows (never empty).
    async fn rows(&mut self, batch: Vec<Row>) -> Result<()>;
}

/// A database that can be backed up.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SnapshotSource: Send + Sync + std::fmt::Debug {
    /// Starts a consistent read of every table (one read transaction).
    async fn open_snapshot(&self) -> Result<Box<dyn Snapshot>>;
}

/// A consistent read of a database, table by table.
#[async_trait]
pub trait Snapshot: Send {
    /// Every table to back up, in restore order (a table after those it refers to).
    fn tables(&self) -> &[TableInfo];

    /// Reads every row of `table` in a stable order (primary key), batch by batch, into
    /// `visitor`; returns how many rows there were.
    async fn scan(&mut self, table: &TableInfo, visitor: &mut dyn RowVisitor) -> Result<u64>;
}

/// A database a backup can be restored into.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RestoreTarget: Send + Sync + std::fmt::Debug {
    /// The tables that hold rows, with their counts (empty: the target is empty).
    async fn non_empty_tables(&self) -> Result<Vec<(String, u64)>>;

    /// Starts one transaction that the whole restore runs in. With `replace`, every
    /// existing row (and every per-form response table) is removed first, inside it.
    async fn begin_restore(&self, replace: bool) -> Result<Box<dyn RestoreTx>>;
}

/// A restore in progress: nothing is visible until [`RestoreTx::commit`]; dropping it
/// rolls everything back.
#[async_trait]
pub trait RestoreTx: Send {
    /// Makes sure `table` exists with these columns (creating a per-form response table
    /// from its form's stored spec).
    async fn prepare_table(&mut self, table: &TableInfo) -> Result<()>;

    /// Inserts rows into a prepared table.
    async fn insert(&mut self, table: &TableInfo, rows: Vec<Row>) -> Result<()>;

    /// Makes the restore visible, all at once.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// The tables the migrations create, in an order that respects their references; every
/// other table follows in name order (see [`sort_for_restore`]).
const KNOWN_ORDER: [&str; 7] = [
    "patients",
    "patient_conditions",
    "forms",
    "campaigns",
    "recipients",
    "deliveries",
    // Before `operator_recovery_codes`, `operator_sessions` and `operator_tokens`,
    // which name sort first.
    "operators",
];

/// Sorts table names into restore order: a table after those it refers to.
pub(crate) fn sort_for_restore(names: &mut [String]) {
    names.sort();
    let rank = |n: &String| {
        KNOWN_ORDER
            .iter()
            .position(|k| k == n)
            .unwrap_or(KNOWN_ORDER.len())
    };
    names.sort_by_key(rank);
}

/// Checks a table or column name read from a database or a backup, then quotes it for
/// `dialect`: only ASCII letters, digits and underscores, at most 63 characters.
pub(crate) fn quoted_name(name: &str, dialect: Dialect) -> Result<String> {
    if !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(dialect.quote_ident(name))
    } else {
        Err(Error::invalid(
            "table or column name in backup",
            "only ASCII letters, digits and underscores are allowed",
        ))
    }
}

/// Rows one scan batch carries.
pub(crate) const BATCH: usize = 1_000;

/// Feeds the rows of `stream` to `visitor` in batches, each row converted by `read`;
/// returns how many there were. Every backend's [`Snapshot::scan`] ends here.
// SQLite reads and writes on a connection of its own (`store::sqlite::direct`).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) async fn visit_rows<R, S>(
    mut stream: S,
    read: impl Fn(&R) -> Result<Row>,
    visitor: &mut dyn RowVisitor,
) -> Result<u64>
where
    S: futures::Stream<Item = std::result::Result<R, sqlx::Error>> + Unpin,
{
    use futures::TryStreamExt;
    let mut batch = Vec::with_capacity(BATCH);
    let mut count = 0u64;
    while let Some(row) = stream.try_next().await? {
        batch.push(read(&row)?);
        if batch.len() == BATCH {
            count += BATCH as u64;
            visitor.rows(std::mem::take(&mut batch)).await?;
        }
    }
    count += batch.len() as u64;
    if !batch.is_empty() {
        visitor.rows(batch).await?;
    }
    Ok(count)
}

/// Where `table` is among a snapshot's `tables` (an error if it is not one of them).
pub(crate) fn table_index(tables: &[TableInfo], table: &TableInfo) -> Result<usize> {
    tables
        .iter()
        .position(|t| t == table)
        .ok_or_else(|| Error::not_found(format!("table {} in the snapshot", table.name)))
}

/// What a restore must run to prepare `table`, whose columns in the target are `existing`
/// (empty: it has no such table): nothing when they match the backup's, the response
/// table's DDL (in `dialect`) from `spec_json`, the spec of the form naming `table` as
/// its response table, when it is missing, and an error otherwise.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn prepare_statements(
    table: &TableInfo,
    existing: &[String],
    spec_json: Option<&str>,
    dialect: Dialect,
) -> Result<Vec<String>> {
    let what = || format!("backup table {}", table.name);
    if !existing.is_empty() {
        return if existing == table.columns.as_slice() {
            Ok(Vec::new())
        } else {
            Err(Error::invalid(
                what(),
                "its columns differ from the target database's (restore into a database of the same version)",
            ))
        };
    }
    let Some(spec) = spec_json else {
        return Err(Error::invalid(
            what(),
            "the target database has no such table and no form names it as its response table (restore into a database of the same version)",
        ));
    };
    let spec: FormSpec = serde_json::from_str(spec)
        .map_err(|_| Error::invalid(what(), "its form's stored spec does not parse"))?;
    response_table_ddl(&spec, &table.name, dialect)
}

/// The tables among `names` that hold rows, with their counts (the same statement on
/// every engine; a backend's [`RestoreTarget::non_empty_tables`] ends here).
pub(crate) async fn row_counts<DB>(
    conn: &mut DB::Connection,
    names: Vec<String>,
    dialect: Dialect,
) -> Result<Vec<(String, u64)>>
where
    DB: sqlx::Database,
    DB::Row: super::rows::ReadRow,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    use super::rows::ReadRow;
    let mut out = Vec::new();
    for name in names {
        let sql = format!("SELECT COUNT(*) FROM {}", quoted_name(&name, dialect)?);
        let n = sqlx::query(&sql).fetch_one(&mut *conn).await?.int(0)?;
        if n > 0 {
            out.push((name, n.unsigned_abs()));
        }
    }
    Ok(out)
}

/// The stored spec of the form whose response table is `table`, if one names it.
// SQLite reads and writes on a connection of its own (`store::sqlite::direct`).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) async fn response_table_spec<DB>(
    conn: &mut DB::Connection,
    table: &str,
    dialect: Dialect,
) -> Result<Option<String>>
where
    DB: sqlx::Database,
    DB::Row: super::rows::ReadRow,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    use super::rows::ReadRow;
    let sql = format!(
        "SELECT spec_json FROM forms WHERE response_table = {}",
        dialect.placeholder(1)
    );
    let row = sqlx::query(&sql)
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.text(0)).transpose()
}
