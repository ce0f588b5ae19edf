//! The audit ledger on SQLite: the statements shared by every backend
//! (`store::audit_sql`), nothing SQLite-specific.

use super::SqliteStore;

#[async_trait::async_trait]
impl crate::audit::AuditStore for SqliteStore {
    crate::store::forward::shared_core!(append_event, audit_head, audit_entries);
}

#[cfg(test)]
mod tests {
    use super::SqliteStore;
    use crate::audit::LedgerEntry;
    use crate::error::Result;
    use crate::sql::Dialect;
    use crate::store::audit_sql::insert_entries;
    use crate::store::audit_suite::{self as suite, Privileged, Tamper};
    use std::sync::Arc;

    /// Raw SQL on the store's own pool: SQLite has no roles, so the application's
    /// connection is also the privileged one (only the triggers stand in the way).
    struct Raw(SqliteStore);

    #[async_trait::async_trait]
    impl Privileged for Raw {
        async fn exec(&self, sql: &str) -> Result<()> {
            sqlx::raw_sql(sql).execute(self.0.pool()).await?;
            Ok(())
        }
        async fn insert_entry(&self, entry: &LedgerEntry) -> Result<()> {
            let mut conn = self.0.pool().acquire().await?;
            insert_entries::<sqlx::Sqlite>(&mut conn, Dialect::Sqlite, std::slice::from_ref(entry))
                .await
        }
        fn drop_triggers(&self) -> &'static str {
            "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;"
        }
    }

    async fn fresh() -> SqliteStore {
        SqliteStore::memory().await.unwrap()
    }

    #[tokio::test]
    async fn an_intact_chain_verifies() {
        suite::an_intact_chain_verifies(Arc::new(fresh().await)).await;
    }

    #[tokio::test]
    async fn the_application_cannot_change_the_ledger() {
        let db = fresh().await;
        suite::the_application_cannot_change_the_ledger(Arc::new(db.clone()), &Raw(db)).await;
    }

    #[tokio::test]
    async fn tampering_is_found() {
        for tamper in Tamper::ALL {
            let db = fresh().await;
            suite::tampering_is_found(Arc::new(db.clone()), &Raw(db), tamper).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_keep_one_chain() {
        // A file database: several connections, one writer at a time.
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteStore::open(&dir.path().join("a.db")).await.unwrap();
        suite::concurrent_appends_keep_one_chain(Arc::new(db)).await;
    }

    #[tokio::test]
    async fn an_action_and_its_event_commit_together() {
        suite::an_action_and_its_event_commit_together(Arc::new(fresh().await)).await;
    }

    #[tokio::test]
    async fn a_lifecycle_is_recorded_without_personal_data() {
        suite::a_lifecycle_is_recorded_without_personal_data(Arc::new(fresh().await)).await;
    }

    #[tokio::test]
    async fn a_restore_keeps_the_ledger_verifiable() {
        // A restore needs a database file to write into.
        let dir = tempfile::tempdir().unwrap();
        let target = SqliteStore::open(&dir.path().join("target.db"))
            .await
            .unwrap();
        let source = fresh().await;
        suite::a_restore_keeps_the_ledger_verifiable(Arc::new(source), Arc::new(target.clone()))
            .await;
        let e = Raw(target)
            .exec("DELETE FROM audit_events WHERE seq = 1")
            .await
            .expect_err("the triggers are back");
        assert!(e.to_string().contains("append-only"), "{e}");
    }
}
