//! The audit ledger on MySQL: the statements shared by every backend
//! (`store::audit_sql`); an append that InnoDB picked as a deadlock victim (appends queue
//! on the chain head) runs again whole.

use super::{retry_transient, MySqlStore};
use crate::audit::{AuditEvent, LedgerEntry};
use crate::error::Result;

#[async_trait::async_trait]
impl crate::audit::AuditStore for MySqlStore {
    async fn append_event(&self, event: &AuditEvent) -> Result<LedgerEntry> {
        let shared = self.shared();
        retry_transient(|| shared.append_event(event)).await
    }

    crate::store::forward::shared_core!(audit_head, audit_entries);
}

#[cfg(test)]
mod tests {
    //! Each check on a fresh database of `MEDICARE_TEST_MYSQL_URL` (skipped, saying so,
    //! when it is unset; a failure in CI). The test account owns the database, so its
    //! connection stands for both the application's and the privileged one.
    use super::super::tests::TestDb;
    use super::MySqlStore;
    use crate::audit::LedgerEntry;
    use crate::error::Result;
    use crate::sql::Dialect;
    use crate::store::audit_sql::insert_entries;
    use crate::store::audit_suite::{self as suite, Privileged, Tamper};
    use std::sync::Arc;

    struct Raw(MySqlStore);

    #[async_trait::async_trait]
    impl Privileged for Raw {
        async fn exec(&self, sql: &str) -> Result<()> {
            sqlx::raw_sql(sql).execute(self.0.pool()).await?;
            Ok(())
        }
        async fn insert_entry(&self, entry: &LedgerEntry) -> Result<()> {
            let mut conn = self.0.pool().acquire().await?;
            insert_entries::<sqlx::MySql>(&mut conn, Dialect::Mysql, std::slice::from_ref(entry))
                .await
        }
        fn drop_triggers(&self) -> &'static str {
            "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;"
        }
    }

    /// An account under the documented grant set, on the test database.
    struct Granted(sqlx::MySqlPool);

    #[async_trait::async_trait]
    impl suite::GrantedRole for Granted {
        async fn append(&self, event: &crate::audit::AuditEvent) -> Result<LedgerEntry> {
            crate::store::shared::Shared {
                pool: &self.0,
                dialect: Dialect::Mysql,
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
        let Some(db) = TestDb::create().await else {
            return;
        };
        let store = db.store().await;
        let account = format!("medicare_app_{:08x}", rand::random::<u32>());
        let name = db.name().to_string();
        // The grant set of migrations/mysql/0011_audit.sql.
        sqlx::raw_sql(&format!(
            "CREATE USER '{account}'@'%' IDENTIFIED BY 'app'; \
             GRANT SELECT, INSERT ON `{name}`.audit_events TO '{account}'@'%'; \
             GRANT SELECT, INSERT, UPDATE ON `{name}`.audit_head TO '{account}'@'%';"
        ))
        .execute(store.pool())
        .await
        .expect("the test account may grant (WITH GRANT OPTION, .ci/servers.sh)");
        let pool = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(1)
            .connect_with(db.options().username(&account).password("app"))
            .await
            .unwrap();
        let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            suite::the_grant_set_allows_only_insert_and_select(
                Arc::new(store.clone()),
                &Granted(pool.clone()),
            ),
        ))
        .await;
        pool.close().await;
        sqlx::raw_sql(&format!("DROP USER '{account}'@'%';"))
            .execute(store.pool())
            .await
            .unwrap();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    macro_rules! on_mysql {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = TestDb::create().await else { return };
                suite::$name(Arc::new(db.store().await)).await;
            }
        )*};
    }

    on_mysql!(
        an_intact_chain_verifies,
        concurrent_appends_keep_one_chain,
        an_action_and_its_event_commit_together,
        a_lifecycle_is_recorded_without_personal_data,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_application_cannot_change_the_ledger() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let store = db.store().await;
        suite::the_application_cannot_change_the_ledger(Arc::new(store.clone()), &Raw(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tampering_is_found() {
        for tamper in Tamper::ALL {
            let Some(db) = TestDb::create().await else {
                return;
            };
            let store = db.store().await;
            suite::tampering_is_found(Arc::new(store.clone()), &Raw(store), tamper).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restore_keeps_the_ledger_verifiable() {
        let Some(source) = TestDb::create().await else {
            return;
        };
        let Some(target) = TestDb::create().await else {
            return;
        };
        let target = target.store().await;
        suite::a_restore_keeps_the_ledger_verifiable(
            Arc::new(source.store().await),
            Arc::new(target.clone()),
        )
        .await;
        let e = Raw(target)
            .exec("DELETE FROM audit_events WHERE seq = 1")
            .await
            .expect_err("only a flagged restore session may empty the ledger");
        assert!(e.to_string().contains("append-only"), "{e}");
    }
}
