//! The MySQL store against a real server named by `MEDICARE_TEST_MYSQL_URL` (an admin
//! URL, e.g. `mysql://root@127.0.0.1:3306/test`): each test runs on a fresh database of
//! its own, dropped afterwards. Without the variable the tests say so and pass (in CI
//! they fail).

use super::MySqlStore;
use crate::campaign::{CampaignRequest, FormId};
use crate::error::Error;
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::patient::{generate, GenerateOptions, Patient};
use crate::store::conformance::{self as c, server_url};
use crate::store::{FormStore, PatientStore, ResponseStore, Store, SubmitOutcome};
use chrono::{TimeZone, Utc};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// The variable naming the test server.
const URL_VAR: &str = "MEDICARE_TEST_MYSQL_URL";

/// A database of its own for one test, dropped when the test ends (passed or not).
pub(crate) struct TestDb {
    admin: MySqlConnectOptions,
    admin_url: String,
    name: String,
}

impl TestDb {
    /// A fresh, empty database, or `None` (having said so) when no server is named.
    pub(crate) async fn create() -> Option<TestDb> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let url = server_url(URL_VAR)?;
        let admin = MySqlConnectOptions::from_str(&url)
            .unwrap_or_else(|_| panic!("{URL_VAR} is not a valid mysql:// URL"));
        let name = format!(
            "medicare_test_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut conn = admin.connect().await.expect("connect to the test server");
        conn.execute(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4").as_str())
            .await
            .expect("create a test database");
        conn.close().await.ok();
        Some(TestDb {
            admin,
            admin_url: url,
            name,
        })
    }

    /// The database's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Options connecting to this database.
    pub(crate) fn options(&self) -> MySqlConnectOptions {
        self.admin.clone().database(&self.name)
    }

    /// A store (a pool of its own) on this database.
    pub(crate) async fn store(&self) -> MySqlStore {
        MySqlStore::connect_with(self.options())
            .await
            .expect("connect the store")
    }

    /// A URL for this database with the admin URL's user, host and port (no password:
    /// the test server's admin has none).
    /// The test database's URL: the admin URL (credentials included) with its name.
    fn url(&self) -> String {
        let server = self.admin_url.split('?').next().unwrap_or_default();
        let (server, _) = server.rsplit_once('/').unwrap_or((server, ""));
        format!("{server}/{}", self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // No async in `drop`: a thread with a runtime of its own drops the database, also
        // when the test panicked.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = admin.connect().await.map_err(|e| e.to_string())?;
                conn.execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                conn.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// Every conformance check, each on a fresh database; `COVERED` names them so a check
/// added to the suite and not run here fails [`every_conformance_check_runs_here`].
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        const COVERED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = TestDb::create().await else { return };
                c::$name(&db.store().await).await;
            }
        )*
    };
}

conformance!(
    patients_round_trip_and_import_is_atomic,
    filters_select_the_same_patients_as_in_memory,
    forms_are_stored_once,
    campaigns_are_created_page_by_page_or_not_at_all,
    the_delivery_queue_is_exactly_once,
    responses_are_stored_once_and_spend_the_link,
    reminder_rounds_cover_exactly_the_non_respondents,
    shards_and_concurrent_claims_split_the_queue,
);

#[test]
fn every_conformance_check_runs_here() {
    let suite = include_str!("../conformance.rs");
    let mut checks: Vec<&str> = suite
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub async fn "))
        .filter_map(|l| l.split('(').next())
        .collect();
    // Run below with several stores rather than one.
    checks.retain(|n| *n != "several_senders_deliver_every_message_once");
    let missing: Vec<&&str> = checks.iter().filter(|n| !COVERED.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "conformance checks not run on MySQL: {missing:?}"
    );
}

/// Three stores, three pools, one database: three sending processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_senders_deliver_every_message_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(db.store().await));
    }
    c::several_senders_deliver_every_message_once(stores).await;
}

/// The cost suite (issue 15): the cap, three capped senders with pools of their own, the
/// second wave.
mod cost {
    use super::TestDb;
    use crate::store::cost_conformance as cost;
    use crate::store::Store;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spend_cap_stops_at_the_right_message() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        cost::a_spend_cap_stops_at_the_right_message(Arc::new(db.store().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn email_first_second_wave_never_reaches_openers() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        cost::email_first_second_wave_never_reaches_openers(Arc::new(db.store().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_senders_never_overspend() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..3 {
            stores.push(Arc::new(db.store().await));
        }
        cost::concurrent_senders_never_overspend(stores).await;
    }
}

/// Four stores, four pools, four threads: four sending processes, one killed mid-batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_senders_one_killed_deliver_every_message_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(db.store().await));
    }
    crate::store::killed_sender::four_senders_one_killed_deliver_every_message_once(stores).await;
}

/// A batch whose last patient repeats an NHS number of the batch (so that several
/// multi-row statements have already run) stores nothing, conditions included.
#[tokio::test]
async fn a_failed_import_leaves_nothing() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let mut patients = generate(GenerateOptions {
        count: 12_000,
        seed: 21,
    });
    let last = patients.len() - 1;
    patients[last].nhs_number = patients[3].nhs_number.clone();
    let err = store.insert_patients(&patients).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("nothing was imported"), "{err}");
    assert!(store.all_patients().await.unwrap().is_empty());
    let conditions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM patient_conditions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(conditions, 0);
    // The same batch without the clash goes in whole.
    patients.pop();
    assert_eq!(store.insert_patients(&patients).await.unwrap(), 11_999);
    assert_eq!(store.all_patients().await.unwrap().len(), 11_999);
}

/// No error repeats the URL's password: not a malformed URL, an unreachable server or a
/// refused login; and both URL schemes reach the store through `open_database`.
#[tokio::test]
async fn connection_errors_never_show_the_password() {
    const SECRET: &str = "s3cr3t-Pa55word";
    let secret = |url: &str| secrecy::SecretString::from(url.to_string());
    let mut urls = vec![
        format!("mysql://medicare:{SECRET}@[::1/db"),
        format!("mysql://medicare:{SECRET}@127.0.0.1:1/db?connect-timeout=1"),
        format!("mariadb://medicare:{SECRET}@127.0.0.1:1/db"),
    ];
    let db = TestDb::create().await;
    if let Some(db) = &db {
        urls.push(format!(
            "mysql://{}:{SECRET}@{}:{}/{}",
            db.admin.get_username(),
            db.admin.get_host(),
            db.admin.get_port(),
            db.name
        ));
    }
    for url in &urls {
        let err = crate::store::open_database(&secret(url)).await.err();
        let err = err.unwrap_or_else(|| panic!("connecting with a bad password succeeded"));
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains(SECRET), "the password leaked: {shown}");
    }
    if let Some(db) = &db {
        for scheme in ["mysql", "mariadb"] {
            let url = db.url().replacen("mysql", scheme, 1);
            let store = crate::store::open_database(&secret(&url)).await.unwrap();
            assert!(store.forms().await.unwrap().is_empty());
        }
    }
}

/// `ssl-mode` from the URL is obeyed: `required` connects over TLS or not at all.
#[tokio::test]
async fn tls_required_by_the_url_is_enforced() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let row = sqlx::query("SHOW VARIABLES LIKE 'have_ssl'")
        .fetch_optional(store.pool())
        .await
        .unwrap();
    let server_tls = match row {
        Some(r) => crate::store::rows::ReadRow::text(&r, 1).unwrap() == "YES",
        None => true, // MySQL 8.0.26+ dropped the variable: TLS is always available
    };
    let required = MySqlStore::connect(&format!("{}?ssl-mode=required", db.url())).await;
    if server_tls {
        let store = required.unwrap();
        let cipher: (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(!cipher.1.is_empty(), "connected without TLS");
    } else {
        let err = required.unwrap_err();
        assert!(matches!(err, Error::Database(_)), "{err}");
    }
}

fn at(day: u32, hour: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

pub(crate) use crate::test_support::engine;

/// A draft campaign to `count` generated patients with the form `spec`.
async fn draft_campaign(
    store: Arc<dyn Store>,
    dir: &std::path::Path,
    spec: &FormSpec,
    count: usize,
) -> (crate::store::StoredForm, crate::campaign::CampaignId) {
    let engine = engine(store, dir, at(17, 9));
    engine
        .import_patients(&generate(GenerateOptions { count, seed: 2 }))
        .await
        .unwrap();
    let form = engine.create_form(spec).await.unwrap();
    let campaign = engine
        .create_campaign(&CampaignRequest::new("t", form.id, Arc::new(Filter::all())))
        .await
        .unwrap();
    (form, campaign)
}

const EVERY_TYPE: &str = r#"
name = "every_type"
title = "Every type"
[[fields]]
name = "dose"
label = "Dose"
type = "decimal"
[[fields]]
name = "visits"
label = "Visits"
type = "integer"
[[fields]]
name = "seen_on"
label = "Seen on"
type = "date"
[[fields]]
name = "ok"
label = "OK?"
type = "yes_no"
required = true
[[fields]]
name = "site"
label = "Site"
type = "single_choice"
options = ["North", "South"]
[[fields]]
name = "days"
label = "Days"
type = "multiple_choice"
options = ["Mon", "Tue"]
[[fields]]
name = "note"
label = "Note"
type = "long_text"
"#;

/// Every field type goes into its native column and reads back as the SQLite store
/// reports it (decimals exact and without MySQL's padding).
#[tokio::test]
async fn every_field_type_round_trips_through_a_response() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(db.store().await);
    let spec = FormSpec::from_toml_str(EVERY_TYPE).unwrap();
    let (form, campaign) = draft_campaign(store.clone(), dir.path(), &spec, 20).await;
    let answers = spec
        .check_submission(&[
            ("dose".into(), "0.10".into()),
            ("visits".into(), "-3".into()),
            ("seen_on".into(), "2026-02-28".into()),
            ("ok".into(), "yes".into()),
            ("site".into(), "South".into()),
            ("days".into(), "Tue".into()),
            ("note".into(), "naïve ☃ \"quoted\"".into()),
        ])
        .unwrap();
    let recipient: i64 = sqlx::query_scalar("SELECT MIN(id) FROM recipients WHERE campaign_id = ?")
        .bind(campaign.0)
        .fetch_one(store.pool())
        .await
        .unwrap();
    let now = at(18, 10);
    assert_eq!(
        store
            .submit_response(recipient, &form, &answers, now)
            .await
            .unwrap(),
        SubmitOutcome::Stored
    );
    let rows = crate::store::FollowUpStore::responses(
        store.as_ref(),
        campaign,
        &form,
        at(18, 0),
        at(19, 0),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].submitted_at, now);
    let values: Vec<Option<&str>> = rows[0].values.iter().map(|v| v.as_deref()).collect();
    assert_eq!(
        values,
        vec![
            Some("0.1"),
            Some("-3"),
            Some("2026-02-28"),
            Some("1"),
            Some("South"),
            Some(r#"["Tue"]"#),
            Some("naïve ☃ \"quoted\"")
        ]
    );
}

/// A response that fails to be written leaves the link unspent: the spend and the row
/// are one transaction.
#[tokio::test]
async fn a_failed_response_write_does_not_spend_the_link() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(db.store().await);
    let (form, _) = draft_campaign(store.clone(), dir.path(), &c::sample_form(), 5).await;
    let table = Dialect::Mysql.quote_ident(&form.response_table);
    sqlx::raw_sql(&format!(
        "CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW \
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'"
    ))
    .execute(store.pool())
    .await
    .unwrap();
    let answers = c::sample_form()
        .check_submission(&[("attending".into(), "yes".into())])
        .unwrap();
    let err = store
        .submit_response(1, &form, &answers, at(18, 9))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Database(_)), "{err}");
    let spent: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM recipients WHERE submitted_at IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(spent, 0);
    sqlx::raw_sql("DROP TRIGGER refuse")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(
        store
            .submit_response(1, &form, &answers, at(18, 9))
            .await
            .unwrap(),
        SubmitOutcome::Stored
    );
}

/// A leftover response table (an interrupted creation) is stepped over, and of two
/// racing creations of one form, one wins and the other leaves no table behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_creation_never_leaves_a_form_without_its_table() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    sqlx::raw_sql("CREATE TABLE resp_1 (id BIGINT PRIMARY KEY)")
        .execute(store.pool())
        .await
        .unwrap();
    let now = at(17, 9);
    let form = store
        .create_form(&c::sample_form(), "x", now)
        .await
        .unwrap();
    assert_eq!(
        (form.id, form.response_table.as_str()),
        (FormId(2), "resp_2")
    );

    let mut spec = c::sample_form();
    spec.name = "raced".into();
    let (a, b) = tokio::join!(
        store.create_form(&spec, "a", now),
        store.create_form(&spec, "b", now)
    );
    let failed = [a.is_err(), b.is_err()];
    assert_eq!(failed.iter().filter(|f| **f).count(), 1, "{a:?} {b:?}");
    let err = a.err().or(b.err()).unwrap();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'resp\\_%' ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut named: Vec<String> = store
        .forms()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.response_table)
        .collect();
    named.insert(0, "resp_1".into());
    named.sort();
    assert_eq!(
        tables, named,
        "every form has its table, and only the leftover is extra"
    );
}

/// A wide range of filters, the dialect's edge cases included (case-sensitive ids,
/// postcode prefixes ending in a space), select what in-memory evaluation selects.
#[tokio::test]
async fn filters_agree_with_in_memory_evaluation() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let mut patients: Vec<Patient> = generate(GenerateOptions {
        count: 3_000,
        seed: 8,
    });
    patients[0].external_id = "p0000002".into(); // differs from P0000002 by case only
    store.insert_patients(&patients).await.unwrap();
    let stored = store.all_patients().await.unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    for source in [
        "all",
        r#"external_id = "P0000002""#,
        r#"external_id = "p0000002""#,
        r#"external_id in ("P0000007", "p0000002", "nobody")"#,
        r#"postcode starts_with "SW1A ""#,
        r#"postcode starts_with "M1 " or postcode starts_with "B1""#,
        r#"external_id = "P0000002 ""#,
        r#"postcode != "SW1A 1AA""#,
        r#"sex = "female" and age >= 65"#,
        r#"sex not in ("male", "unknown") and not (age >= 18 and age <= 64)"#,
        r#"age in (0, 1, 17, 18, 64, 65, 100)"#,
        r#"dob < "1950-01-01" or dob >= "2020-02-29""#,
        r#"condition = "asthma" and not condition in ("copd", "diabetes")"#,
        r#"condition != "asthma""#,
        r#"has_email and not email_opt_out and (not has_phone or sms_opt_out)"#,
    ] {
        let filter = match Filter::parse(source) {
            Ok(f) => f,
            Err(e) => panic!("{source}: {e}"),
        };
        let expected: Vec<_> = stored
            .iter()
            .filter(|(_, p)| filter.matches(p, today))
            .map(|(id, _)| *id)
            .collect();
        let got: Vec<_> = store
            .matching_contacts(&filter, today)
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(got, expected, "{source}");
        assert_eq!(
            store.count_patients(&filter, today).await.unwrap(),
            expected.len() as u64,
            "{source}"
        );
    }
}

use crate::sql::Dialect;
