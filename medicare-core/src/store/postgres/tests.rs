//! The conformance suite and PostgreSQL-specific checks, each on a fresh database of the
//! server named by `MEDICARE_TEST_POSTGRES_URL` (an admin URL); skipped, saying so, when
//! it is unset (a failure in CI).

use super::ScratchDatabase;
use crate::store::conformance as c;
use std::future::Future;

const URL_VAR: &str = "MEDICARE_TEST_POSTGRES_URL";

/// Runs `body` on a fresh database, dropped afterwards even if `body` panics.
async fn scratch<F, Fut>(body: F)
where
    F: FnOnce(ScratchDatabase) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(url) = c::server_url(URL_VAR) {
        ScratchDatabase::run(&url, body).await;
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            scratch(|db| async move { c::$name(db.store()).await }).await;
        }
    )*};
}

conformance!(
    shards_and_concurrent_claims_split_the_queue,
    patients_round_trip_and_import_is_atomic,
    filters_select_the_same_patients_as_in_memory,
    forms_are_stored_once,
    the_delivery_queue_is_exactly_once,
    responses_are_stored_once_and_spend_the_link,
    reminder_rounds_cover_exactly_the_non_respondents,
);

/// Three stores, each with its own pool, stand for three sending processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_senders_deliver_every_message_once() {
    scratch(|db| async move {
        let mut stores: Vec<std::sync::Arc<dyn crate::store::Store>> =
            vec![std::sync::Arc::new(db.store().clone())];
        for _ in 0..2 {
            stores.push(std::sync::Arc::new(db.open_another().await.unwrap()));
        }
        c::several_senders_deliver_every_message_once(stores).await;
    })
    .await;
}
