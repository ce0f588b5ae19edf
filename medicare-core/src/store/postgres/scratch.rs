//! Throw-away databases for tests and benchmarks.

use super::PostgresStore;
use crate::error::{Error, Result};
use futures::FutureExt;
use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;

/// A fresh, uniquely named database on a PostgreSQL server, created (and migrated)
/// through an admin URL and dropped again by [`ScratchDatabase::drop_database`], for
/// tests and benchmarks that must not share state. [`ScratchDatabase::run`] drops it
/// even when the code using it panics.
#[derive(Debug, Clone)]
pub struct ScratchDatabase {
    admin: PgConnectOptions,
    name: String,
    store: PostgresStore,
}

impl ScratchDatabase {
    /// Creates a database named `medicare_scratch_<pid>_<random>` on the server of
    /// `admin_url` (a role allowed to create databases) and opens a store on it.
    pub async fn create(admin_url: &str) -> Result<Self> {
        let admin = PgConnectOptions::from_str(admin_url).map_err(|_| {
            Error::Config("the admin database URL is not a valid postgres:// URL".into())
        })?;
        let name = format!(
            "medicare_scratch_{}_{:016x}",
            std::process::id(),
            rand::thread_rng().gen::<u64>()
        );
        let mut conn = admin.connect().await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let store = match PostgresStore::connect_with(admin.clone().database(&name)).await {
            Ok(store) => store,
            Err(e) => {
                drop_named(&admin, &name).await?;
                return Err(e);
            }
        };
        Ok(ScratchDatabase { admin, name, store })
    }

    /// Runs `body` on a fresh database, then drops the database, whether `body` returned
    /// or panicked (the panic then goes on).
    pub async fn run<F, Fut>(admin_url: &str, body: F)
    where
        F: FnOnce(ScratchDatabase) -> Fut,
        Fut: Future<Output = ()>,
    {
        let db = ScratchDatabase::create(admin_url)
            .await
            .expect("a scratch database on the test server");
        let outcome = AssertUnwindSafe(body(db.clone())).catch_unwind().await;
        let dropped = db.drop_database().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        dropped.expect("the scratch database is dropped");
    }

    /// The store on the database (one pool).
    pub fn store(&self) -> &PostgresStore {
        &self.store
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Another store on the same database, with its own pool, as another process would
    /// have.
    pub async fn open_another(&self) -> Result<PostgresStore> {
        PostgresStore::connect_with(self.admin.clone().database(&self.name)).await
    }

    /// Closes this store's pool and drops the database (other pools' connections are
    /// ended by the server).
    pub async fn drop_database(self) -> Result<()> {
        self.store.pool().close().await;
        drop_named(&self.admin, &self.name).await
    }
}

async fn drop_named(admin: &PgConnectOptions, name: &str) -> Result<()> {
    let mut conn: PgConnection = admin.connect().await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
