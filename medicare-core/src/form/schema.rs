//! The response table of a form: its DDL, the insert of one submission, and the select
//! that reads them back, for each [`Dialect`].
//!
//! One row per response and one natively typed column per field. `recipient_id` is
//! `UNIQUE`, so a one-time link can be answered once even when two submissions race.
//! Names are validated identifiers, quoted by the dialect; values are always bound.
//!
//! Values that [`SqlValue`] has no variant for are bound as text: decimals (exact
//! strings), `multiple_choice` answers (a JSON array) and `submitted_at` (RFC 3339 in UTC;
//! for MySQL `YYYY-MM-DD HH:MM:SS.ffffff` in UTC). On PostgreSQL every field placeholder
//! is cast to its column's type, so text and nulls land in any column.

use chrono::{DateTime, SecondsFormat, Utc};

use super::ident::{describe_name, validate_table_name};
use super::spec::{FieldSpec, FieldType, FormSpec};
use super::submission::{AnswerValue, Answers, MAX_EMAIL_CHARS, MAX_PHONE_DIGITS};
use crate::error::{Error, Result};
use crate::sql::{Dialect, SqlFragment, SqlValue};

/// MySQL text columns are `VARCHAR(n)` up to this many characters, `TEXT` above.
pub const MYSQL_MAX_VARCHAR: u32 = 2_000;
/// MySQL counts `VARCHAR` columns against a 65,535-byte row limit (4 bytes per character
/// in utf8mb4); once this budget is spent, further text columns are `TEXT`.
const MYSQL_VARCHAR_BUDGET_BYTES: u32 = 48_000;

/// The statements that create the response table of `spec`: a `CREATE TABLE` and an
/// index on `submitted_at`.
pub fn response_table_ddl(spec: &FormSpec, table: &str, dialect: Dialect) -> Result<Vec<String>> {
    check_names(spec, table)?;
    let q = |name: &str| dialect.quote_ident(name);
    let mut columns = vec![
        format!(
            "{} {}",
            q("id"),
            match dialect {
                Dialect::Sqlite => "INTEGER PRIMARY KEY",
                Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
                Dialect::Mysql => "BIGINT AUTO_INCREMENT PRIMARY KEY",
            }
        ),
        format!(
            "{} {} NOT NULL UNIQUE",
            q("recipient_id"),
            match dialect {
                Dialect::Sqlite => "INTEGER",
                Dialect::Postgres | Dialect::Mysql => "BIGINT",
            }
        ),
        format!(
            "{} {} NOT NULL",
            q("submitted_at"),
            submitted_at_type(dialect)
        ),
    ];
    let types = column_types(spec, dialect);
    for (field, ty) in spec.fields.iter().zip(&types) {
        let mut column = format!("{} {ty}", q(&field.name));
        if field.required {
            column.push_str(" NOT NULL");
        }
        if dialect == Dialect::Sqlite && field.kind == FieldType::YesNo {
            column.push_str(&format!(" CHECK ({} IN (0, 1))", q(&field.name)));
        }
        columns.push(column);
    }
    let options = match dialect {
        Dialect::Mysql => " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        Dialect::Sqlite | Dialect::Postgres => "",
    };
    Ok(vec![
        format!(
            "CREATE TABLE {} (\n  {}\n){options}",
            q(table),
            columns.join(",\n  ")
        ),
        format!(
            "CREATE INDEX {} ON {} ({})",
            q(&format!("{table}_submitted_idx")),
            q(table),
            q("submitted_at")
        ),
    ])
}

/// The `INSERT` of one checked submission. `answers` must come from
/// [`FormSpec::check_submission`] on this same `spec`. Inserting a second response for
/// the same `recipient_id` fails on the table's unique constraint.
pub fn insert_response(
    spec: &FormSpec,
    table: &str,
    dialect: Dialect,
    recipient_id: i64,
    submitted_at: DateTime<Utc>,
    answers: &Answers,
) -> Result<SqlFragment> {
    check_names(spec, table)?;
    if answers.len() != spec.fields.len() {
        return Err(answers_mismatch(spec));
    }
    let q = |name: &str| dialect.quote_ident(name);
    let types = column_types(spec, dialect);
    let mut names = vec![q("recipient_id"), q("submitted_at")];
    let mut params = vec![
        SqlValue::Int(recipient_id),
        SqlValue::Text(format_timestamp(submitted_at, dialect)),
    ];
    let mut placeholders = vec![
        dialect.placeholder(1),
        cast_placeholder(dialect, 2, submitted_at_type(dialect)),
    ];
    for ((field, ty), (name, answer)) in spec.fields.iter().zip(&types).zip(answers.iter()) {
        if field.name != name {
            return Err(answers_mismatch(spec));
        }
        let value = bind_value(field, answer).ok_or_else(|| {
            Error::invalid(
                format!("answer to field {}", describe_name(&field.name)),
                format!("does not fit a {} field", field.kind),
            )
        })?;
        names.push(q(&field.name));
        params.push(value);
        placeholders.push(cast_placeholder(dialect, params.len(), ty));
    }
    Ok(SqlFragment {
        sql: format!(
            "INSERT INTO {} ({}) VALUES ({})",
            q(table),
            names.join(", "),
            placeholders.join(", ")
        ),
        params,
    })
}

/// The `SELECT` of every response, oldest first: `id`, `recipient_id`, `submitted_at`,
/// then one column per field in spec order. Decimal columns are read as text (exact; the
/// server may pad the fraction with zeros), every other column in its native type.
pub fn select_responses_sql(spec: &FormSpec, table: &str, dialect: Dialect) -> Result<String> {
    check_names(spec, table)?;
    let q = |name: &str| dialect.quote_ident(name);
    let mut columns = vec![q("id"), q("recipient_id"), q("submitted_at")];
    for field in &spec.fields {
        let column = q(&field.name);
        columns.push(match (field.kind, dialect) {
            (FieldType::Decimal, Dialect::Postgres) => {
                format!("CAST({column} AS TEXT) AS {column}")
            }
            (FieldType::Decimal, Dialect::Mysql) => format!("CAST({column} AS CHAR) AS {column}"),
            _ => column,
        });
    }
    Ok(format!(
        "SELECT {} FROM {} ORDER BY {}, {}",
        columns.join(", "),
        q(table),
        q("submitted_at"),
        q("id")
    ))
}

/// Validates the spec (again: its fields are public) and the table name.
fn check_names(spec: &FormSpec, table: &str) -> Result<()> {
    spec.validate()?;
    validate_table_name(table)
        .map_err(|m| Error::invalid(format!("response table {}", describe_name(table)), m))
}

fn answers_mismatch(spec: &FormSpec) -> Error {
    Error::invalid(
        "answers",
        format!(
            "they were not checked against form {}",
            describe_name(&spec.name)
        ),
    )
}

fn submitted_at_type(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "TEXT",
        Dialect::Postgres => "TIMESTAMPTZ",
        Dialect::Mysql => "DATETIME(6)",
    }
}

/// Fixed-width timestamps, so SQLite's text sorts in time order.
pub(crate) fn format_timestamp(at: DateTime<Utc>, dialect: Dialect) -> String {
    match dialect {
        Dialect::Mysql => at.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        Dialect::Sqlite | Dialect::Postgres => at.to_rfc3339_opts(SecondsFormat::Micros, true),
    }
}

/// The placeholder for the `n`th value, cast to `ty` where the dialect needs it.
fn cast_placeholder(dialect: Dialect, n: usize, ty: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("CAST({} AS {ty})", dialect.placeholder(n)),
        Dialect::Sqlite | Dialect::Mysql => dialect.placeholder(n),
    }
}

/// The column type of each field, in order (MySQL's depend on the fields before).
fn column_types(spec: &FormSpec, dialect: Dialect) -> Vec<String> {
    let mut varchar_budget = MYSQL_VARCHAR_BUDGET_BYTES;
    spec.fields
        .iter()
        .map(|field| column_type(field, dialect, &mut varchar_budget))
        .collect()
}

fn column_type(field: &FieldSpec, dialect: Dialect, varchar_budget: &mut u32) -> String {
    let exact = |sqlite: &str, other: &str| match dialect {
        Dialect::Sqlite => sqlite.to_string(),
        Dialect::Postgres | Dialect::Mysql => other.to_string(),
    };
    match field.kind {
        FieldType::Integer => exact("INTEGER", "BIGINT"),
        FieldType::Decimal => match dialect {
            Dialect::Sqlite => "TEXT".to_string(),
            Dialect::Postgres => "NUMERIC(38,10)".to_string(),
            Dialect::Mysql => "DECIMAL(38,10)".to_string(),
        },
        FieldType::Date => exact("TEXT", "DATE"),
        FieldType::YesNo => exact("INTEGER", "BOOLEAN"),
        FieldType::MultipleChoice => "TEXT".to_string(),
        FieldType::Text
        | FieldType::LongText
        | FieldType::Email
        | FieldType::Phone
        | FieldType::SingleChoice => {
            if dialect != Dialect::Mysql {
                return "TEXT".to_string();
            }
            let chars = match field.kind {
                FieldType::SingleChoice => field
                    .options
                    .iter()
                    .map(|o| o.chars().count())
                    .max()
                    .and_then(|n| u32::try_from(n).ok()),
                // Stored normalised: `+` and digits.
                FieldType::Phone => u32::try_from(MAX_PHONE_DIGITS + 1).ok(),
                FieldType::Email => Some(
                    field
                        .max_length
                        .unwrap_or(u32::MAX)
                        .min(u32::try_from(MAX_EMAIL_CHARS).unwrap_or(u32::MAX)),
                ),
                _ => field.max_length,
            };
            match chars {
                Some(n) if n <= MYSQL_MAX_VARCHAR && n * 4 + 2 <= *varchar_budget => {
                    *varchar_budget -= n * 4 + 2;
                    format!("VARCHAR({n})")
                }
                _ => "TEXT".to_string(),
            }
        }
    }
}

/// The bound value of one answer, or `None` when it does not fit the field's type.
fn bind_value(field: &FieldSpec, answer: &AnswerValue) -> Option<SqlValue> {
    use FieldType as T;
    Some(match (field.kind, answer) {
        (_, AnswerValue::Null) => SqlValue::Null,
        (T::Text | T::LongText | T::Email | T::Phone, AnswerValue::Text(s)) => {
            SqlValue::Text(s.clone())
        }
        (T::Integer, AnswerValue::Integer(n)) => SqlValue::Int(*n),
        (T::Decimal, AnswerValue::Decimal(d)) => SqlValue::Text(d.clone()),
        (T::Date, AnswerValue::Date(d)) => SqlValue::Date(*d),
        (T::YesNo, AnswerValue::Bool(b)) => SqlValue::Bool(*b),
        (T::SingleChoice, AnswerValue::Choice(c)) => SqlValue::Text(c.clone()),
        (T::MultipleChoice, AnswerValue::Choices(cs)) => {
            SqlValue::Text(serde_json::to_string(cs).ok()?)
        }
        _ => return None,
    })
}
