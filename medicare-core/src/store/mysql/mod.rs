//! The MySQL store: Aurora MySQL, MySQL 8 and MariaDB 10.6 or later.
//!
//! ## Why it looks the way it does
//!
//! - **Bulk writes** are multi-row `INSERT`s inside one transaction, each statement as
//!   large as the protocol allows (65,535 bound values, a few MB of packet), so a
//!   112,500-recipient campaign is a few dozen statements. Bulk updates (recording a
//!   batch of outcomes) join the table to a derived table of the batch's values: one
//!   statement a batch, one index lookup a row.
//! - **Claims** lock pending deliveries with `SELECT ... FOR UPDATE SKIP LOCKED` and mark
//!   them `sending` in the same transaction, so senders in any number of processes split
//!   the queue without waiting on each other and never get the same row. A claim that
//!   comes back empty while the queue still holds pending rows (all of them locked for
//!   a moment by other claimers) tries again, so an empty claim really means "done".
//! - **DDL is not transactional** in MySQL (it commits implicitly). A form's response
//!   table is therefore created *before* its form row, under a name no other form has
//!   taken, and dropped again if the row cannot be written: an interruption can leave
//!   an unused, empty table, never a form without its table.
//! - **Time** is `DATETIME(6)` in UTC: every session's time zone is UTC, and the driver
//!   reads and writes `DateTime<Utc>` as UTC. Every session also runs in strict mode, so
//!   a value that does not fit is an error, never silently truncated.
//! - **TLS and credentials** come from the URL (`ssl-mode`, `ssl-ca`, user and
//!   password), or from [`MySqlConnectOptions`] built by the caller; no error repeats the
//!   URL.

mod access;
mod audit;
mod campaigns;
mod cost;
mod follow_up;
mod forms;
mod patients;
mod snapshot;
#[cfg(test)]
pub(crate) mod tests;

use crate::error::{Error, Result};
use crate::sql::Dialect;
use crate::store::shared::Shared;
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, MySql, MySqlPool};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// Values one statement binds at most (the protocol's limit is 65,535).
const MAX_BINDS: usize = 65_000;

/// Rows one multi-row statement carries at most, whatever its width: larger statements
/// gain nothing and risk the server's packet limit (16 MB by default on MariaDB).
const MAX_ROWS: usize = 5_000;

/// How long a claim keeps retrying while every pending row it could take is locked by
/// other transactions (claimers, a reminder planner) before it gives up.
const LOCKED_QUEUE_PATIENCE: Duration = Duration::from_secs(60);

/// The MySQL store.
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
}

impl MySqlStore {
    /// Connects to the database a `mysql://` (or `mariadb://`) URL names and applies
    /// migrations. TLS follows the URL's `ssl-mode` (`disabled`, `preferred` — the
    /// default —, `required`, `verify_ca`, `verify_identity`) and `ssl-ca`; for Aurora,
    /// use `ssl-mode=verify_identity&ssl-ca=<the RDS CA bundle>`.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = MySqlConnectOptions::from_str(url).map_err(|_| {
            Error::Config("the database URL is not a valid mysql:// URL".to_string())
        })?;
        Self::connect_with(options).await
    }

    /// Connects with options the caller built (e.g. a password fetched from a secret
    /// store) and applies migrations. The session time zone is set to UTC whatever the
    /// options say.
    pub async fn connect_with(options: MySqlConnectOptions) -> Result<Self> {
        let options = options
            .timezone(Some("+00:00".to_string()))
            .charset("utf8mb4")
            // Bulk statements legitimately take a while and carry thousands of
            // placeholders: keep them out of warnings.
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        // One connection first: a refused connection or login fails at once (the pool
        // would keep retrying until its acquire timeout), and migrations run on it.
        let mut first = options.connect().await?;
        sqlx::migrate!("./migrations/mysql").run(&mut first).await?;
        first.close().await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Strict mode: a value that does not fit fails the statement.
                    conn.execute(
                        "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES')",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(MySqlStore { pool })
    }

    /// The connection pool, for queries outside the traits (reports, checks, tests).
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Runs `attempt` (one whole transaction) again while it fails transiently: the
    /// hook of the shared core's `retrying:` forwards.
    async fn retry_transient<T, F, Fut>(&self, attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        retry_transient(attempt).await
    }

    /// The statements MySQL runs like every backend.
    fn shared(&self) -> Shared<'_, MySql> {
        Shared {
            pool: &self.pool,
            dialect: Dialect::Mysql,
            turn: None,
        }
    }
}

#[async_trait::async_trait]
impl super::Close for MySqlStore {
    async fn close(&self) {
        self.shared().close().await;
    }
}

/// Rows a multi-row statement of `columns` bound values a row carries.
fn rows_per_statement(columns: usize) -> usize {
    (MAX_BINDS / columns.max(1)).clamp(1, MAX_ROWS)
}

/// The MySQL error number of a database error, if it is one.
fn error_number(e: &Error) -> Option<u16> {
    match e.as_sqlx() {
        Some(sqlx::Error::Database(db)) => db
            .try_downcast_ref::<MySqlDatabaseError>()
            .map(MySqlDatabaseError::number),
        _ => None,
    }
}

/// Whether the server rolled the transaction back to break a deadlock (1213) or gave up
/// waiting for a lock (1205): the whole transaction can simply run again.
fn is_transient(e: &Error) -> bool {
    matches!(error_number(e), Some(1213 | 1205))
}

/// Runs `attempt` (one whole transaction) again while it fails transiently, a few times.
async fn retry_transient<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut tries = 0u32;
    loop {
        match attempt().await {
            Err(e) if is_transient(&e) && tries < 8 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(5 << tries.min(6))).await;
            }
            other => return other,
        }
    }
}
