//! The audit ledger on PostgreSQL: the statements shared by every backend
//! (`store::audit_sql`), nothing PostgreSQL-specific.

use super::PostgresStore;

#[async_trait::async_trait]
impl crate::audit::AuditStore for PostgresStore {
    crate::store::forward::shared_core!(append_event, audit_head, audit_entries);
}

#[cfg(test)]
mod tests {
    //! Each check on a fresh database of `MEDICARE_TEST_POSTGRES_URL` (skipped, saying
    //! so, when it is unset; a failure in CI). The test role owns the database, so its
    //! connection stands for both the application's and the privileged one.
    use super::super::tests::scratch;
    use super::PostgresStore;
    use crate::audit::LedgerEntry;
    use crate::error::Result;
    use crate::sql::Dialect;
    use crate::store::audit_sql::insert_entry;
    use crate::store::audit_suite::{self as suite, Privileged, Tamper};
    use std::sync::Arc;

    struct Raw(PostgresStore);

    #[async_trait::async_trait]
    impl Privileged for Raw {
        async fn exec(&self, sql: &str) -> Result<()> {
            sqlx::raw_sql(sql).execute(self.0.pool()).await?;
            Ok(())
        }
        async fn insert_entry(&self, entry: &LedgerEntry) -> Result<()> {
            let mut conn = self.0.pool().acquire().await?;
            insert_entry::<sqlx::Postgres>(&mut conn, Dialect::Postgres, entry).await
        }
        fn drop_triggers(&self) -> &'static str {
            "DROP TRIGGER audit_events_append_only ON audit_events"
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_intact_chain_verifies() {
        scratch(
            |db| async move { suite::an_intact_chain_verifies(Arc::new(db.store().clone())).await },
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_application_cannot_change_the_ledger() {
        scratch(|db| async move {
            let store = db.store().clone();
            suite::the_application_cannot_change_the_ledger(Arc::new(store.clone()), &Raw(store))
                .await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tampering_is_found() {
        for tamper in Tamper::ALL {
            scratch(|db| async move {
                let store = db.store().clone();
                suite::tampering_is_found(Arc::new(store.clone()), &Raw(store), tamper).await
            })
            .await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_keep_one_chain() {
        scratch(|db| async move {
            suite::concurrent_appends_keep_one_chain(Arc::new(db.store().clone())).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_action_and_its_event_commit_together() {
        scratch(|db| async move {
            suite::an_action_and_its_event_commit_together(Arc::new(db.store().clone())).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lifecycle_is_recorded_without_personal_data() {
        scratch(|db| async move {
            suite::a_lifecycle_is_recorded_without_personal_data(Arc::new(db.store().clone())).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restore_keeps_the_ledger_verifiable() {
        scratch(|source| async move {
            scratch(|target| async move {
                suite::a_restore_keeps_the_ledger_verifiable(
                    Arc::new(source.store().clone()),
                    Arc::new(target.store().clone()),
                )
                .await;
            })
            .await;
        })
        .await;
    }
}
