//! Operators, sessions and API tokens on MySQL: the statements shared by every backend
//! (`store::access_sql`), nothing MySQL-specific (the compare-and-swap counts matched
//! rows, which the driver asks for).

use super::MySqlStore;

crate::store::access_sql::impl_access_store!(MySqlStore);

#[cfg(test)]
mod tests {
    //! Each check on a fresh database of `MEDICARE_TEST_MYSQL_URL` (skipped, saying so,
    //! when it is unset; a failure in CI).
    use super::super::tests::TestDb;
    use crate::access::conformance as c;
    use crate::store::access_suite as suite;
    use std::sync::Arc;

    macro_rules! conformance {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = TestDb::create().await else { return };
                c::$name(&db.store().await).await;
            }
        )*};
    }

    conformance!(
        operators_round_trip,
        sign_in_state_is_compare_and_swap,
        changes_and_recovery_codes,
        sessions,
        tokens,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replayed_far_and_locked_codes_are_refused() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        suite::sign_in_refusals(Arc::new(db.store().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restore_keeps_operators() {
        let Some(source) = TestDb::create().await else {
            return;
        };
        let target = TestDb::create().await.expect("the same server");
        suite::backup_keeps_operators(
            Arc::new(source.store().await),
            Arc::new(target.store().await),
        )
        .await;
    }
}
