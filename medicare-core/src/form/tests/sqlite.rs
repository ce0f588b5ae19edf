//! The response table on a real (in-memory) SQLite database.

use chrono::NaiveDate;
use proptest::prelude::*;
use sqlx::{Connection, Row, SqliteConnection};

use super::props::{raw, spec_and_cases};
use super::schema::at;
use super::spec::checkup;
use super::{pairs, spec};
use crate::form::{insert_response, response_table_ddl, select_responses_sql, Answers, FormSpec};
use crate::sql::{Dialect, SqlFragment, SqlValue};

const KEYWORDISH: &str = r#"
name = "visit"
title = "Visit"

[[fields]]
name = "order_total"
label = "Total"
type = "decimal"
required = true

[[fields]]
name = "from_clinic"
label = "Clinic"
type = "single_choice"
options = ["North", "South"]

[[fields]]
name = "date"
label = "Date"
type = "date"

[[fields]]
name = "selected"
label = "OK?"
type = "yes_no"
required = true

[[fields]]
name = "user_count"
label = "Count"
type = "integer"

[[fields]]
name = "tags"
label = "Tags"
type = "multiple_choice"
options = ["a \"quoted\" tag", "b"]

[[fields]]
name = "note"
label = "Note"
type = "long_text"
"#;

async fn sqlite() -> SqliteConnection {
    SqliteConnection::connect("sqlite::memory:")
        .await
        .expect("in-memory sqlite")
}

async fn execute(conn: &mut SqliteConnection, fragment: &SqlFragment) -> Result<(), sqlx::Error> {
    let mut query = sqlx::query(&fragment.sql);
    for param in &fragment.params {
        query = match param {
            SqlValue::Text(s) => query.bind(s.clone()),
            SqlValue::Int(n) => query.bind(*n),
            SqlValue::Bool(b) => query.bind(*b),
            SqlValue::Date(d) => query.bind(*d),
            SqlValue::Null => query.bind(Option::<String>::None),
        };
    }
    query.execute(conn).await.map(|_| ())
}

fn answers(spec: &FormSpec, raw: &[(&str, &str)]) -> Answers {
    spec.check_submission(&pairs(raw)).expect("valid answers")
}

#[tokio::test]
async fn sqlite_table_round_trip() {
    let spec = spec(KEYWORDISH);
    let mut conn = sqlite().await;
    for statement in response_table_ddl(&spec, "resp_12", Dialect::Sqlite).expect("ddl") {
        sqlx::query(&statement)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let first = answers(
        &spec,
        &[
            ("order_total", "12.50"),
            ("from_clinic", "South"),
            ("date", "2026-01-31"),
            ("selected", "yes"),
            ("user_count", "-3"),
            ("tags", "b"),
            ("tags", "a \"quoted\" tag"),
        ],
    );
    let insert =
        insert_response(&spec, "resp_12", Dialect::Sqlite, 7, at(0), &first).expect("insert");
    assert_eq!(insert.params.len(), spec.fields.len() + 2);
    assert_eq!(insert.sql.matches('?').count(), insert.params.len());
    execute(&mut conn, &insert).await.expect("first insert");

    let second = answers(&spec, &[("order_total", "0.1"), ("selected", "no")]);
    let insert =
        insert_response(&spec, "resp_12", Dialect::Sqlite, 8, at(60), &second).expect("insert");
    execute(&mut conn, &insert).await.expect("second insert");

    // One response per link: the same recipient cannot answer twice.
    let again =
        insert_response(&spec, "resp_12", Dialect::Sqlite, 7, at(120), &second).expect("insert");
    let err = execute(&mut conn, &again)
        .await
        .expect_err("unique recipient");
    assert!(
        err.as_database_error()
            .is_some_and(|e| e.is_unique_violation()),
        "{err}"
    );

    let select = select_responses_sql(&spec, "resp_12", Dialect::Sqlite).expect("select");
    let rows = sqlx::query(&select)
        .fetch_all(&mut conn)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2);
    let row = &rows[0];
    assert_eq!(row.get::<i64, _>("recipient_id"), 7);
    assert_eq!(
        row.get::<String, _>("submitted_at"),
        "2026-01-01T00:00:00.123456Z"
    );
    assert_eq!(row.get::<String, _>("order_total"), "12.5");
    assert_eq!(row.get::<String, _>("from_clinic"), "South");
    assert_eq!(
        row.get::<NaiveDate, _>("date"),
        NaiveDate::from_ymd_opt(2026, 1, 31).expect("date")
    );
    assert!(row.get::<bool, _>("selected"));
    assert_eq!(row.get::<i64, _>("user_count"), -3);
    let tags: Vec<String> =
        serde_json::from_str(&row.get::<String, _>("tags")).expect("json array");
    assert_eq!(tags, ["a \"quoted\" tag", "b"]);
    assert_eq!(row.get::<Option<String>, _>("note"), None);
    let row = &rows[1];
    assert_eq!(row.get::<String, _>("order_total"), "0.1");
    assert!(!row.get::<bool, _>("selected"));
    assert_eq!(row.get::<Option<i64>, _>("user_count"), None);
    assert_eq!(row.get::<Option<String>, _>("tags"), None);

    // The table itself refuses what the checks would: nulls in required columns and
    // anything but 0/1 in a yes/no column.
    for bad in [
        r#"INSERT INTO "resp_12" ("recipient_id", "submitted_at", "order_total", "selected") VALUES (9, 'x', NULL, 1)"#,
        r#"INSERT INTO "resp_12" ("recipient_id", "submitted_at", "order_total", "selected") VALUES (9, 'x', '1', 2)"#,
        r#"INSERT INTO "resp_12" ("submitted_at", "order_total", "selected") VALUES ('x', '1', 1)"#,
    ] {
        assert!(sqlx::query(bad).execute(&mut conn).await.is_err(), "{bad}");
    }
}

#[tokio::test]
async fn every_field_type_works_on_sqlite() {
    let spec = checkup();
    let mut conn = sqlite().await;
    for statement in response_table_ddl(&spec, "resp_1", Dialect::Sqlite).expect("ddl") {
        sqlx::query(&statement)
            .execute(&mut conn)
            .await
            .expect("ddl runs");
    }
    let full = answers(
        &spec,
        &[
            ("full_name", "Ada"),
            ("age", "36"),
            ("weight_kg", "61.5"),
            ("last_visit", "2025-11-03"),
            ("smoker", "no"),
            ("clinic", "North"),
            ("symptoms", "Fever"),
            ("email", "ada@example.org"),
            ("phone", "0612345678"),
            (
                "notes",
                "<script>alert(1)</script>'); DROP TABLE resp_1; --",
            ),
        ],
    );
    let insert =
        insert_response(&spec, "resp_1", Dialect::Sqlite, 1, at(0), &full).expect("insert");
    execute(&mut conn, &insert).await.expect("insert runs");
    let select = select_responses_sql(&spec, "resp_1", Dialect::Sqlite).expect("select");
    let rows = sqlx::query(&select)
        .fetch_all(&mut conn)
        .await
        .expect("rows");
    assert_eq!(
        rows[0].get::<String, _>("notes"),
        "<script>alert(1)</script>'); DROP TABLE resp_1; --"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn accepted_answers_store_in_sqlite((spec, cases) in spec_and_cases()) {
        let answers = spec.check_submission(&raw(&cases, None)).expect("accepted");
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let stored = runtime.block_on(async {
            let mut conn = SqliteConnection::connect("sqlite::memory:").await?;
            for statement in response_table_ddl(&spec, "resp_99", Dialect::Sqlite).expect("ddl") {
                sqlx::query(&statement).execute(&mut conn).await?;
            }
            let insert = insert_response(&spec, "resp_99", Dialect::Sqlite, 42, at(0), &answers)
                .expect("insert");
            execute(&mut conn, &insert).await?;
            let select = select_responses_sql(&spec, "resp_99", Dialect::Sqlite).expect("select");
            sqlx::query(&select).fetch_all(&mut conn).await.map(|rows| rows.len())
        });
        prop_assert_eq!(stored.expect("sqlite"), 1);
    }
}
