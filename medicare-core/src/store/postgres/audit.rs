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
    use crate::store::audit_sql::insert_entries;
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
            insert_entries::<sqlx::Postgres>(
                &mut conn,
                Dialect::Postgres,
                std::slice::from_ref(entry),
            )
            .await
        }
        fn drop_triggers(&self) -> &'static str {
            "DROP TRIGGER audit_events_append_only ON audit_events"
        }
    }

    /// A login role under the documented grant set, on `db`'s database.
    struct Granted(sqlx::PgPool);

    #[async_trait::async_trait]
    impl suite::GrantedRole for Granted {
        async fn append(&self, event: &crate::audit::AuditEvent) -> Result<LedgerEntry> {
            crate::store::shared::Shared {
                pool: &self.0,
                dialect: Dialect::Postgres,
                turn: None,
            }
            .append_event(event)
            .await
        }
        async fn exec(&self, sql: &str) -> Result<()> {
            sqlx::raw_sql(sql).execute(&self.0).await?;
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_grant_set_allows_only_insert_and_select() {
        use sqlx::postgres::PgConnectOptions;
        use std::str::FromStr;
        scratch(|db| async move {
            let role = format!("medicare_app_{:016x}", rand::random::<u64>());
            let owner = db.store().pool();
            // The grant set of migrations/postgres/0011_audit.sql.
            sqlx::raw_sql(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD 'app'; \
                 REVOKE ALL ON audit_events, audit_head FROM {role}; \
                 GRANT SELECT, INSERT ON audit_events TO {role}; \
                 GRANT SELECT, INSERT, UPDATE ON audit_head TO {role};"
            ))
            .execute(owner)
            .await
            .expect("the test role may create roles (CREATEROLE, .ci/servers.sh)");
            let url = std::env::var("MEDICARE_TEST_POSTGRES_URL").unwrap();
            let options = PgConnectOptions::from_str(&url)
                .unwrap()
                .username(&role)
                .password("app")
                .database(db.name());
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap();
            let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
                suite::the_grant_set_allows_only_insert_and_select(
                    Arc::new(db.store().clone()),
                    &Granted(pool.clone()),
                ),
            ))
            .await;
            pool.close().await;
            sqlx::raw_sql(&format!(
                "REVOKE ALL ON audit_events, audit_head FROM {role}; DROP ROLE {role};"
            ))
            .execute(owner)
            .await
            .unwrap();
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        })
        .await;
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
