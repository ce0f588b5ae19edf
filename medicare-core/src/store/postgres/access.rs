//! Operators, sessions and API tokens on PostgreSQL: the statements shared by every
//! backend (`store::access_sql`), nothing PostgreSQL-specific.

use super::PostgresStore;

crate::store::access_sql::impl_access_store!(PostgresStore);

#[cfg(test)]
mod tests {
    //! Each check on a fresh database of `MEDICARE_TEST_POSTGRES_URL` (skipped, saying
    //! so, when it is unset; a failure in CI).
    use super::super::tests::scratch;
    use crate::access::conformance as c;
    use crate::store::access_suite as suite;
    use std::sync::Arc;

    macro_rules! conformance {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                scratch(|db| async move { c::$name(db.store()).await }).await;
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
        scratch(|db| async move { suite::sign_in_refusals(Arc::new(db.store().clone())).await })
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restore_keeps_operators() {
        scratch(|source| async move {
            scratch(|target| async move {
                suite::backup_keeps_operators(
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
