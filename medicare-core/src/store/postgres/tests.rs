//! The conformance suite and PostgreSQL-specific checks, each on a fresh database of the
//! server named by `MEDICARE_TEST_POSTGRES_URL` (an admin URL); skipped, saying so, when
//! it is unset (a failure in CI).

use super::{PostgresStore, ScratchDatabase};
use crate::campaign::{CampaignId, CampaignRequest, Engine, SendOptions};
use crate::clock::FixedClock;
use crate::filter::Filter;
use crate::form::{Answers, FormSpec};
use crate::link::HmacLinkSigner;
use crate::notify::{Channel, RecordingNotifier};
use crate::patient::{generate, GenerateOptions};
use crate::publish::LocalFolderPublisher;
use crate::store::conformance as c;
use crate::store::{
    FollowUpStore, FormStore, PatientStore, ResponseStore, StoredForm, SubmitOutcome,
};
use chrono::{DateTime, TimeZone, Utc};
use std::future::Future;
use std::sync::Arc;

const URL_VAR: &str = "MEDICARE_TEST_POSTGRES_URL";

/// Runs `body` on a fresh database, dropped afterwards even if `body` panics.
pub(crate) async fn scratch<F, Fut>(body: F)
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
    campaigns_are_created_page_by_page_or_not_at_all,
    the_delivery_queue_is_exactly_once,
    responses_are_stored_once_and_spend_the_link,
    reminder_rounds_cover_exactly_the_non_respondents,
);

/// Three stores, each with its own pool, stand for three sending processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_senders_deliver_every_message_once() {
    scratch(|db| async move {
        let mut stores: Vec<Arc<dyn crate::store::Store>> = vec![Arc::new(db.store().clone())];
        for _ in 0..2 {
            stores.push(Arc::new(db.open_another().await.unwrap()));
        }
        c::several_senders_deliver_every_message_once(stores).await;
    })
    .await;
}

/// The cost suite (issue 15): the cap, three capped senders with pools of their own, the
/// second wave.
mod cost {
    use super::scratch;
    use crate::store::cost_conformance as cost;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spend_cap_stops_at_the_right_message() {
        scratch(|db| async move {
            cost::a_spend_cap_stops_at_the_right_message(Arc::new(db.store().clone())).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn email_first_second_wave_never_reaches_openers() {
        scratch(|db| async move {
            cost::email_first_second_wave_never_reaches_openers(Arc::new(db.store().clone())).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_senders_never_overspend() {
        scratch(|db| async move {
            let mut stores: Vec<Arc<dyn crate::store::Store>> = vec![Arc::new(db.store().clone())];
            for _ in 0..2 {
                stores.push(Arc::new(db.open_another().await.unwrap()));
            }
            cost::concurrent_senders_never_overspend(stores).await;
        })
        .await;
    }
}

/// Four stores, four pools, four threads: four sending processes, one killed mid-batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_senders_one_killed_deliver_every_message_once() {
    scratch(|db| async move {
        let mut stores: Vec<Arc<dyn crate::store::Store>> = vec![Arc::new(db.store().clone())];
        for _ in 0..3 {
            stores.push(Arc::new(db.open_another().await.unwrap()));
        }
        crate::store::killed_sender::four_senders_one_killed_deliver_every_message_once(stores)
            .await;
    })
    .await;
}

/// A form with a field of every type whose column type differs between engines.
pub(crate) const EVERY_TYPE_FORM: &str = r#"
name = "every_type"
title = "Every type"
[[fields]]
name = "attending"
label = "Attending?"
type = "yes_no"
required = true
[[fields]]
name = "dose_ml"
label = "Dose"
type = "decimal"
[[fields]]
name = "visits"
label = "Visits"
type = "integer"
[[fields]]
name = "earliest"
label = "Earliest date"
type = "date"
[[fields]]
name = "days"
label = "Days"
type = "multiple_choice"
options = ["Monday", "Tuesday"]
[[fields]]
name = "notes"
label = "Notes"
type = "long_text"
"#;

/// Answers to [`EVERY_TYPE_FORM`], varied by `i` (some left blank), with notes that need
/// escaping in every text format.
pub(crate) fn answers(form: &StoredForm, i: usize) -> Answers {
    let pairs: Vec<(String, String)> = [
        (
            "attending",
            if i.is_multiple_of(2) { "yes" } else { "no" }.to_string(),
        ),
        (
            "dose_ml",
            if i.is_multiple_of(3) {
                String::new()
            } else {
                format!("{i}.25")
            },
        ),
        ("visits", i.to_string()),
        ("earliest", format!("2026-12-{:02}", 1 + i % 28)),
        ("days", "Tuesday".to_string()),
        (
            "notes",
            format!("line {i}\ttab\\back\r\n\"quoted\" 'single' é \u{1F489}"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    form.spec.check_submission(&pairs).expect("valid answers")
}

pub(crate) fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 9, 0, 0).unwrap()
}

/// Fills `store`: `patients` patients, the every-type form, a campaign to all of them by
/// SMS and email, sent; `responses` responses, opens, and reminder round 1 planned.
pub(crate) async fn populate(
    store: &PostgresStore,
    patients: usize,
    responses: usize,
) -> (CampaignId, StoredForm) {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(RecordingNotifier::new());
    let engine = Engine::new(
        Arc::new(store.clone()),
        Arc::new(LocalFolderPublisher::new(dir.path().join("forms"))),
        Arc::new(
            HmacLinkSigner::new(
                secrecy::SecretBox::new(Box::new([3u8; 32])),
                "https://f.example",
            )
            .unwrap(),
        ),
        Arc::new(FixedClock::new(at())),
    )
    .with_notifier(Channel::Sms, recorder.clone())
    .with_notifier(Channel::Email, recorder);
    engine
        .import_patients(&generate(GenerateOptions {
            count: patients,
            seed: 21,
        }))
        .await
        .unwrap();
    let form = engine
        .create_form(&FormSpec::from_toml_str(EVERY_TYPE_FORM).unwrap())
        .await
        .unwrap();
    let id = engine
        .create_campaign(&CampaignRequest::new(
            "all",
            form.id,
            Arc::new(Filter::all()),
        ))
        .await
        .unwrap();
    engine.send(id, &SendOptions::default(), &()).await.unwrap();
    let recipients: Vec<i64> = sqlx::query_scalar("SELECT id FROM recipients ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    for (i, &r) in recipients.iter().enumerate().take(responses * 2) {
        store
            .record_opens(&[crate::store::LinkOpen {
                recipient_id: r,
                at: at(),
            }])
            .await
            .unwrap();
        if i < responses {
            let outcome = store
                .submit_response(r, &form, &answers(&form, i), at())
                .await
                .unwrap();
            assert_eq!(outcome, SubmitOutcome::Stored);
        }
    }
    store.plan_reminder_round(id, 1, at()).await.unwrap();
    (id, form)
}

async fn scalar(store: &PostgresStore, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// An import whose batch holds one NHS number twice fails on the unique key, late in the
/// copy, and the transaction takes back every row it had written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_holding_an_nhs_number_twice_stores_nothing() {
    scratch(|db| async move {
        let store = db.store();
        let first = generate(GenerateOptions {
            count: 100,
            seed: 1,
        });
        store.insert_patients(&first).await.unwrap();
        let conditions = scalar(store, "SELECT COUNT(*) FROM patient_conditions").await;
        let mut batch = generate(GenerateOptions {
            count: 3_000,
            seed: 2,
        });
        for (i, p) in batch.iter_mut().enumerate() {
            p.external_id = format!("batch-{i}");
        }
        batch[2_999].nhs_number = batch[7].nhs_number.clone();
        let err = store.insert_patients(&batch).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, crate::Error::AlreadyExists { .. }), "{text}");
        assert!(
            text.contains("twice") && text.contains("nothing was imported"),
            "{text}"
        );
        assert!(
            !text.contains(batch[7].nhs_number.as_ref().unwrap().as_str()),
            "{text}"
        );
        assert_eq!(store.all_patients().await.unwrap().len(), 100);
        assert_eq!(
            scalar(store, "SELECT COUNT(*) FROM patient_conditions").await,
            conditions
        );
        // The store is usable afterwards, and the batch goes in once fixed.
        batch[2_999].external_id = "batch-2999".into();
        batch.pop();
        assert_eq!(store.insert_patients(&batch).await.unwrap(), 2_999);
    })
    .await;
}

/// Submissions racing on one link (several connections at once) store one response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_submissions_store_one_response() {
    scratch(|db| async move {
        let store = db.store();
        let (_, form) = populate(store, 50, 0).await;
        let others: Vec<PostgresStore> = vec![
            db.open_another().await.unwrap(),
            db.open_another().await.unwrap(),
        ];
        for recipient in 1..=10i64 {
            let attempts = (0..6).map(|i| {
                let s = if i % 3 == 0 { store } else { &others[i % 2] };
                let answers = answers(&form, i);
                let form = &form;
                async move { s.submit_response(recipient, form, &answers, at()).await }
            });
            let outcomes = futures::future::join_all(attempts).await;
            let stored = outcomes
                .iter()
                .filter(|o| matches!(o, Ok(SubmitOutcome::Stored)))
                .count();
            let spent = outcomes
                .iter()
                .filter(|o| matches!(o, Ok(SubmitOutcome::AlreadySubmitted)))
                .count();
            assert_eq!((stored, spent), (1, 5), "{outcomes:?}");
        }
        assert_eq!(scalar(store, "SELECT COUNT(*) FROM resp_1").await, 10);
    })
    .await;
}

/// A response that fails to be written leaves the link unspent: the spend and the row
/// are one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_response_write_does_not_spend_the_link() {
    scratch(|db| async move {
        let store = db.store();
        let (_, form) = populate(store, 20, 0).await;
        sqlx::raw_sql(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON resp_1 FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let err = store
            .submit_response(1, &form, &answers(&form, 1), at())
            .await
            .unwrap_err();
        assert!(matches!(err, crate::Error::Database(_)), "{err}");
        let spent = "SELECT COUNT(*) FROM recipients WHERE submitted_at IS NOT NULL";
        assert_eq!(scalar(store, spent).await, 0);
        sqlx::query("DROP TRIGGER refuse ON resp_1")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(
            store
                .submit_response(1, &form, &answers(&form, 1), at())
                .await
                .unwrap(),
            SubmitOutcome::Stored
        );
        assert_eq!(scalar(store, spent).await, 1);
    })
    .await;
}

/// Responses read back as SQLite stores them: yes/no as 1/0, decimals without trailing
/// zeros, dates as YYYY-MM-DD, text exactly as given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_read_back_as_text_the_same_as_on_sqlite() {
    scratch(|db| async move {
        let store = db.store();
        let (id, form) = populate(store, 20, 4).await;
        let day = chrono::Duration::days(1);
        let rows = store
            .responses(id, &form, at() - day, at() + day)
            .await
            .unwrap();
        assert_eq!(rows.len(), 4);
        let values: Vec<Option<&str>> = rows[1].values.iter().map(|v| v.as_deref()).collect();
        // The form check turns line ends into `\n`.
        let notes = "line 1\ttab\\back\n\"quoted\" 'single' é \u{1F489}";
        assert_eq!(
            values,
            vec![
                Some("0"),
                Some("1.25"),
                Some("1"),
                Some("2026-12-02"),
                Some("[\"Tuesday\"]"),
                Some(notes)
            ]
        );
        assert_eq!(rows[0].values[1], None);
        assert_eq!(store.form(form.id).await.unwrap(), form);
    })
    .await;
}

/// A wrong, unparseable or unreachable URL fails with a message that names neither the
/// URL nor its password; so does `open_database`.
#[tokio::test]
async fn bad_urls_fail_without_showing_the_password() {
    const SECRET: &str = "pa55-w0rd-s3cret";
    for url in [
        format!("postgres://medicare:{SECRET}@127.0.0.1:1/medicare"),
        format!("postgres://medicare:{SECRET}@127.0.0.1:notaport/medicare"),
        format!("postgresql://medicare:{SECRET}@127.0.0.1/medicare?sslmode=bogus"),
    ] {
        let err = PostgresStore::connect(&url).await.unwrap_err();
        let shown = format!("{err} / {err:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("medicare:"),
            "{shown}"
        );
        let err = crate::store::open_database(&secrecy::SecretString::from(url))
            .await
            .expect_err("open_database fails too");
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains(SECRET), "{shown}");
    }
}

/// `sslmode` in the URL is honoured: `require` encrypts (rustls), `verify-full` checks the
/// server's certificate and refuses the test server's self-signed one. Skipped, saying
/// so, on a server without TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_follows_the_url_sslmode() {
    let Some(admin) = c::server_url(URL_VAR) else {
        return;
    };
    scratch(|db| async move {
        let ssl: String = sqlx::query_scalar("SHOW ssl")
            .fetch_one(db.store().pool())
            .await
            .unwrap();
        if ssl != "on" {
            eprintln!("skipped: the test server has no TLS (ssl = {ssl})");
            return;
        }
        let base = admin.split('?').next().unwrap();
        let base = &base[..base.rfind('/').unwrap()];
        let url = |mode: &str| format!("{base}/{}?sslmode={mode}", db.name());
        let store = PostgresStore::connect(&url("require")).await.unwrap();
        let encrypted: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(encrypted);
        store.pool().close().await;
        let err = PostgresStore::connect(&url("verify-full"))
            .await
            .unwrap_err();
        assert!(matches!(err, crate::Error::Database(_)), "{err}");
    })
    .await;
}
