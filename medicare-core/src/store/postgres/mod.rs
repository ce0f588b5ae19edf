//! The PostgreSQL store (and Aurora PostgreSQL), feature `postgres`.
//!
//! The schema (`migrations/postgres`) has the SQLite schema's tables, columns, keys and
//! constraints in native types: identity keys, `date`, `timestamptz`, `boolean`,
//! `bytea`. Bulk writes take PostgreSQL's fast paths: patients, recipients and
//! deliveries are streamed with `COPY ... FROM STDIN` (the `copy` module), outcomes and condition
//! codes are bound as arrays and spread with `UNNEST`, each inside one transaction, so a
//! failed import or campaign creation leaves nothing behind.
//!
//! Several senders, in one process or many (Lambda invocations), can work one campaign at
//! once: a claim is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`, so
//! concurrent claimers take disjoint batches without waiting for each other.
//!
//! The URL is the standard `postgres://user:password@host:port/database?sslmode=...`;
//! TLS (rustls) follows its `sslmode` and `sslrootcert`, and the `PG*` environment
//! variables fill what it leaves out (`PGPASSWORD`, ...). Neither the URL nor the
//! password appears in any error or log line.

mod access;
mod audit;
mod campaigns;
pub(crate) mod copy;
mod cost;
mod follow_up;
mod patients;
mod scratch;
mod snapshot;
#[cfg(test)]
pub(crate) mod tests;

pub use scratch::ScratchDatabase;

use crate::error::{Error, Result};
use crate::sql::Dialect;
use crate::store::shared::Shared;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres};
use std::str::FromStr;
use std::time::Duration;

/// Connections one store opens at most: a sender holds one or two per channel (a claim,
/// a record), the form service one per request in flight.
const MAX_CONNECTIONS: u32 = 8;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the `postgres://` (or `postgresql://`) URL and applies the migrations.
    /// TLS follows the URL's `sslmode` / `sslrootcert`; errors never repeat the URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|_| {
            Error::Config(
                "the database URL is not a valid postgres:// URL (postgres://user:password@host:port/database)"
                    .into(),
            )
        })?;
        Self::connect_with(options).await
    }

    /// Connects with `options` (built in code rather than parsed from a URL) and applies
    /// the migrations.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        // Bulk statements legitimately take seconds: keep them out of warnings.
        let options = options.log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        // One connection first: a wrong host, port or password fails at once (a pool
        // would retry until its timeout), and migrations run on it. The migrator takes
        // an advisory lock, so processes starting together migrate once.
        let mut first = options.connect().await.map_err(connect_error)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&mut first)
            .await?;
        first.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(PostgresStore { pool })
    }

    /// The connection pool, for queries outside the traits (reports, checks, tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The statements PostgreSQL runs like every backend.
    fn shared(&self) -> Shared<'_, Postgres> {
        Shared {
            pool: &self.pool,
            dialect: Dialect::Postgres,
            turn: None,
        }
    }
}

#[async_trait::async_trait]
impl super::Close for PostgresStore {
    async fn close(&self) {
        self.shared().close().await;
    }
}

/// A connection failure, said without the URL (sqlx's own message names no password, but
/// configuration errors may quote the option they reject).
fn connect_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Configuration(_) => {
            Error::Config("the PostgreSQL connection options are invalid".into())
        }
        other => Error::database(other),
    }
}
