//! What the SQL backends share: the dialect, bound values and query fragments.
//!
//! Filters and form schemas are compiled to a [`SqlFragment`]: SQL text with numbered
//! placeholders written by the [`Dialect`], plus the values to bind. Values are *always*
//! bound, never spliced into the text.

use chrono::NaiveDate;

/// The SQL dialect a query is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.35 or later.
    Sqlite,
    /// PostgreSQL 13 or later (and Aurora PostgreSQL).
    Postgres,
    /// MySQL 8 / MariaDB 10.6 or later (and Aurora MySQL).
    Mysql,
}

impl Dialect {
    /// The placeholder for the `n`th bound value (1-based).
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite | Dialect::Mysql => "?".to_string(),
        }
    }

    /// The placeholders for bound values `from..from + n` (1-based), comma-separated.
    pub fn placeholders(self, from: usize, n: usize) -> String {
        (from..from + n)
            .map(|i| self.placeholder(i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Quotes an identifier that has *already been validated* as a strict identifier
    /// (see [`crate::form::validate_identifier`]); quoting is a second line of defence,
    /// not the first.
    pub fn quote_ident(self, ident: &str) -> String {
        debug_assert!(ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        match self {
            Dialect::Mysql => format!("`{ident}`"),
            Dialect::Sqlite | Dialect::Postgres => format!("\"{ident}\""),
        }
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A calendar date.
    Date(NaiveDate),
}

/// SQL text with its bound values, in placeholder order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SqlFragment {
    /// The SQL text, with the dialect's placeholders.
    pub sql: String,
    /// The values, in the order of their placeholders.
    pub params: Vec<SqlValue>,
}
