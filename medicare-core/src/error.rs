//! The crate's error type.
//!
//! [`Error`] is an enum of *meanings* (bad input, not found, conflict, ...), so a caller can
//! decide what to do without parsing messages; each variant names *what* went wrong and
//! *where* (a line, a field, a position). Messages never carry personal data: they name
//! rows, fields and ids, never a name, a phone number, an email address or an answer.

use std::path::PathBuf;

/// A `Result` with medicare's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in medicare, grouped by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input failed validation: `what` names the input (a file and line, a field, a
    /// setting), `message` says what is wrong with it.
    #[error("invalid {what}: {message}")]
    InvalidInput {
        /// The input that was rejected, e.g. `patients.csv line 12, column phone`.
        what: String,
        /// Why it was rejected.
        message: String,
    },
    /// A patient filter did not parse or does not type-check.
    #[error(transparent)]
    Filter(#[from] crate::filter::FilterError),
    /// Something looked up by id or name does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `campaign 7`.
        what: String,
    },
    /// Something with the same identity already exists.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What clashed, e.g. `form "flu_2026"`.
        what: String,
    },
    /// The operation does not fit the current state (e.g. sending a cancelled campaign).
    #[error("{0}")]
    Conflict(String),
    /// The configuration is incomplete or inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// A notifier failed in a way the engine could not classify or recover from.
    #[error("notifier for {channel}: {message}")]
    Notify {
        /// The channel (`sms`, `email`).
        channel: String,
        /// What went wrong (never the recipient's address).
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A template failed to render (a bug in a custom template, never in the data).
    #[error("template {name}: {message}")]
    Template {
        /// The template's name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True for errors caused by the caller's input (bad file, bad filter, bad form):
    /// retrying the same call cannot succeed, fixing the input can.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::InvalidInput { .. } | Error::Filter(_))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Error::not_found("row"),
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::AlreadyExists {
                // The constraint name identifies the table and columns, never the values.
                what: format!("row ({})", db.constraint().unwrap_or("unique constraint")),
            },
            _ => Error::Database(e),
        }
    }
}
