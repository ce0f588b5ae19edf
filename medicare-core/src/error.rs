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
    /// The database failed (a query, a connection or a schema migration).
    #[error("database: {0}")]
    Database(#[source] DatabaseError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: IoError,
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
            source: IoError(source),
        }
    }

    /// A database failure as it is, without the classification `From<sqlx::Error>`
    /// applies (for encode and decode failures, which are never "not found").
    pub(crate) fn database(e: sqlx::Error) -> Self {
        Error::Database(DatabaseError(DatabaseFailure::Query(e)))
    }

    /// The sqlx error behind a [`Error::Database`], for the backends' own classification
    /// (deadlocks, error numbers).
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    pub(crate) fn as_sqlx(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Database(DatabaseError(DatabaseFailure::Query(e))) => Some(e),
            _ => None,
        }
    }

    /// What kind of failure this is: the one classification that the CLI's exit codes,
    /// the API's HTTP statuses and callers' retry decisions are all derived from.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } | Error::Filter(_) => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Config(_) => ErrorKind::Config,
            Error::Notify { .. } => ErrorKind::Notify,
            Error::Database(_) => ErrorKind::Database,
            Error::Io { .. } => ErrorKind::Io,
            // The page template is built in: a failure to render it is a bug.
            Error::Template { .. } => ErrorKind::Internal,
        }
    }

    /// True for errors caused by the caller's input (bad file, bad filter, bad form):
    /// retrying the same call cannot succeed, fixing the input can.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }
}

/// What kind of failure an [`Error`] is, from the caller's side: whose fault, and what
/// can be done about it. Front ends map kinds (never variants or messages) to their own
/// codes: the CLI to exit statuses, the JSON API to HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input is wrong (a file, a filter, a form, an argument); fixing it can
    /// succeed, retrying it cannot.
    InvalidInput,
    /// What was asked for does not exist.
    NotFound,
    /// Something with the same identity already exists.
    AlreadyExists,
    /// The request does not fit the current state (e.g. sending a cancelled campaign).
    Conflict,
    /// The configuration is incomplete or inconsistent: an operator must fix it.
    Config,
    /// A notifier (SMS or email provider) failed.
    Notify,
    /// The database failed.
    Database,
    /// A file, folder or object store could not be read or written.
    Io,
    /// A bug in medicare itself (e.g. a built-in template that does not render).
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order (for front ends' tests that each one is mapped).
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Conflict,
        ErrorKind::Config,
        ErrorKind::Notify,
        ErrorKind::Database,
        ErrorKind::Io,
        ErrorKind::Internal,
    ];

    /// The kind's stable snake_case name (`invalid_input`, `not_found`, ...), as the
    /// JSON API and the CLI's `--json` output show it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Config => "config",
            ErrorKind::Notify => "notify",
            ErrorKind::Database => "database",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
        }
    }

    /// True when the caller can fix the failure by changing the request (bad input, a
    /// missing or clashing name, the wrong state); false when it lies outside the
    /// caller's control (configuration, providers, storage, bugs).
    pub fn is_caller_error(self) -> bool {
        match self {
            ErrorKind::InvalidInput
            | ErrorKind::NotFound
            | ErrorKind::AlreadyExists
            | ErrorKind::Conflict => true,
            ErrorKind::Config
            | ErrorKind::Notify
            | ErrorKind::Database
            | ErrorKind::Io
            | ErrorKind::Internal => false,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A database failure, opaque: its message and [`source`](std::error::Error::source)
/// describe it, and no database driver's type appears in medicare's public API.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DatabaseError(DatabaseFailure);

#[derive(Debug, thiserror::Error)]
enum DatabaseFailure {
    #[error(transparent)]
    Query(sqlx::Error),
    #[error("migration: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The SQLite store's own connection for backups and restores
    /// (`store::sqlite::direct`).
    #[cfg(feature = "sqlite")]
    #[error(transparent)]
    Direct(rusqlite::Error),
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Database(DatabaseError(DatabaseFailure::Direct(e)))
    }
}

/// A file or folder failure, opaque: its message and [`kind`](IoError::kind) describe it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct IoError(std::io::Error);

impl IoError {
    /// The operating system's classification (not found, permission denied, ...).
    pub fn kind(&self) -> std::io::ErrorKind {
        self.0.kind()
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Database(DatabaseError(DatabaseFailure::Migrate(e)))
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
            _ => Error::database(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_kind_once_in_order() {
        // An exhaustive match: a new kind does not compile here until it has a position,
        // and then this test fails until `ALL` lists it there.
        let position = |k: ErrorKind| match k {
            ErrorKind::InvalidInput => 0,
            ErrorKind::NotFound => 1,
            ErrorKind::AlreadyExists => 2,
            ErrorKind::Conflict => 3,
            ErrorKind::Config => 4,
            ErrorKind::Notify => 5,
            ErrorKind::Database => 6,
            ErrorKind::Io => 7,
            ErrorKind::Internal => 8,
        };
        let positions: Vec<usize> = ErrorKind::ALL.iter().map(|k| position(*k)).collect();
        assert_eq!(positions, (0..ErrorKind::ALL.len()).collect::<Vec<_>>());
        assert_eq!(ErrorKind::ALL.len(), 9);
        let names: std::collections::BTreeSet<&str> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len(), "names are distinct");
    }

    #[test]
    fn each_variant_has_its_kind() {
        let filter = crate::filter::Filter::parse("age >").unwrap_err();
        let cases = [
            (Error::invalid("x", "y"), ErrorKind::InvalidInput),
            (Error::Filter(filter), ErrorKind::InvalidInput),
            (Error::not_found("campaign 7"), ErrorKind::NotFound),
            (
                Error::AlreadyExists {
                    what: "form".into(),
                },
                ErrorKind::AlreadyExists,
            ),
            (Error::Conflict("cancelled".into()), ErrorKind::Conflict),
            (Error::Config("no key".into()), ErrorKind::Config),
            (
                Error::Notify {
                    channel: "sms".into(),
                    message: "down".into(),
                },
                ErrorKind::Notify,
            ),
            (Error::from(sqlx::Error::PoolTimedOut), ErrorKind::Database),
            (
                Error::from(sqlx::migrate::MigrateError::VersionMissing(3)),
                ErrorKind::Database,
            ),
            (
                Error::io("a.csv", std::io::ErrorKind::NotFound.into()),
                ErrorKind::Io,
            ),
            (
                Error::Template {
                    name: "page".into(),
                    message: "bad".into(),
                },
                ErrorKind::Internal,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.is_invalid_input(), kind == ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn sqlx_errors_are_classified_and_kept_opaque() {
        assert_eq!(
            Error::from(sqlx::Error::RowNotFound).kind(),
            ErrorKind::NotFound
        );
        let e = Error::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(e.as_sqlx(), Some(sqlx::Error::PoolTimedOut)));
        assert!(e.to_string().starts_with("database: "), "{e}");
        let m = Error::from(sqlx::migrate::MigrateError::VersionMissing(3));
        assert!(m.as_sqlx().is_none());
        assert!(m.to_string().starts_with("database: migration: "), "{m}");
        assert!(std::error::Error::source(&m).is_some());
    }
}
