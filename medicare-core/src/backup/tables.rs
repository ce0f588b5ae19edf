//! What the SQL backends share to back up and restore: table names and their order,
//! the scan loop, and the preparation of a restored table.

use super::snapshot::{Row, RowVisitor, TableInfo};
use crate::error::{Error, Result};
use crate::form::{response_table_ddl, FormSpec};
use crate::sql::Dialect;
use futures::{Stream, TryStreamExt};

/// Rows one scan batch carries.
const BATCH: usize = 1_000;

/// The tables the migrations create, in an order that respects their references; every
/// other table follows in name order (the same on every engine).
const KNOWN_ORDER: [&str; 6] = [
    "patients",
    "patient_conditions",
    "forms",
    "campaigns",
    "recipients",
    "deliveries",
];

/// Sorts table names into restore order (see [`KNOWN_ORDER`]); names must come in name
/// order.
pub(crate) fn sort_for_restore(names: &mut [String]) {
    let rank = |n: &String| {
        KNOWN_ORDER
            .iter()
            .position(|k| k == n)
            .unwrap_or(KNOWN_ORDER.len())
    };
    names.sort_by_key(|n| rank(n));
}

/// Checks a table or column name read from a database or a backup, and quotes it for SQL
/// (SQLite and PostgreSQL quote alike).
pub(crate) fn checked_name(name: &str) -> Result<String> {
    if !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(crate::sql::Dialect::Sqlite.quote_ident(name))
    } else {
        Err(Error::invalid(
            "table or column name in backup",
            "only ASCII letters, digits and underscores are allowed",
        ))
    }
}

/// Hands `rows` to `visitor` in batches; returns how many there were.
pub(crate) async fn visit_rows(
    rows: impl Stream<Item = Result<Row>>,
    visitor: &mut dyn RowVisitor,
) -> Result<u64> {
    let mut rows = std::pin::pin!(rows);
    let mut batch = Vec::with_capacity(BATCH);
    let mut count = 0u64;
    while let Some(row) = rows.try_next().await? {
        batch.push(row);
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

/// What a restore must run to prepare `table`, whose columns in the target are `existing`
/// (empty: it has no such table): nothing when they match the backup's, the response
/// table's DDL (in `dialect`) from `spec_json`, the spec of the form naming `table` as
/// its response table, when it is missing, and an error otherwise.
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
