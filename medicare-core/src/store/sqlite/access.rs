//! Operators, sessions and API tokens on SQLite: the statements shared by every backend
//! (`store::access_sql`), nothing SQLite-specific.

use super::SqliteStore;

crate::store::access_sql::impl_access_store!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::SqliteStore;
    use crate::store::access_suite as suite;
    use std::sync::Arc;

    async fn fresh() -> SqliteStore {
        SqliteStore::memory().await.unwrap()
    }

    #[tokio::test]
    async fn the_access_conformance_suite_passes() {
        suite::conformance(fresh).await;
    }

    #[tokio::test]
    async fn replayed_far_and_locked_codes_are_refused() {
        suite::sign_in_refusals(Arc::new(fresh().await)).await;
    }

    #[tokio::test]
    async fn a_restore_keeps_operators() {
        // A restore needs a database file to write into.
        let dir = tempfile::tempdir().unwrap();
        let target = SqliteStore::open(&dir.path().join("target.db"))
            .await
            .unwrap();
        suite::backup_keeps_operators(Arc::new(fresh().await), Arc::new(target)).await;
    }
}
