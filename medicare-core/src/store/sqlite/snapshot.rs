//! The SQLite store as a backup source and restore target.
//!
//! Tables are discovered from `sqlite_master` (every table but SQLite's own and the
//! migration ledger), so tables later issues add are backed up without a change here. Both
//! directions move every row of the database, so both run on a connection of their own
//! rather than through the pool: a snapshot is one read transaction ([`super::reader`]),
//! a restore one write transaction with foreign keys checked at commit
//! ([`super::writer`]), so a failed restore leaves the target exactly as it was.

use super::reader::{SqliteSnapshot, TABLES};
use super::writer::SqliteRestore;
use super::SqliteStore;
use crate::error::Result;
use crate::sql::Dialect;
use crate::store::snapshot::{
    row_counts, sort_for_restore, RestoreTarget, RestoreTx, Snapshot, SnapshotSource,
};
use async_trait::async_trait;
use sqlx::Sqlite;

#[async_trait]
impl SnapshotSource for SqliteStore {
    async fn open_snapshot(&self) -> Result<Box<dyn Snapshot>> {
        Ok(Box::new(SqliteSnapshot::open(self).await?))
    }
}

#[async_trait]
impl RestoreTarget for SqliteStore {
    async fn non_empty_tables(&self) -> Result<Vec<(String, u64)>> {
        let mut conn = self.pool().acquire().await?;
        let mut names: Vec<String> = sqlx::query_scalar(TABLES).fetch_all(&mut *conn).await?;
        sort_for_restore(&mut names);
        row_counts::<Sqlite>(&mut conn, names, Dialect::Sqlite).await
    }

    async fn begin_restore(&self, replace: bool) -> Result<Box<dyn RestoreTx>> {
        Ok(Box::new(SqliteRestore::begin(self, replace).await?))
    }
}
