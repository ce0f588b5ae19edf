use chrono::{DateTime, TimeZone, Utc};

use super::spec::checkup;
use super::{one_field, pairs, spec};
use crate::form::{insert_response, response_table_ddl, select_responses_sql};
use crate::sql::{Dialect, SqlValue};

pub(super) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + secs, 123_456_000)
        .single()
        .expect("timestamp")
}

#[test]
fn table_names_are_validated() {
    let spec = checkup();
    for bad in [
        "x; drop table patients",
        "\"quoted\"",
        "Resp",
        "ümlaut",
        "select",
        "sqlite_master",
        "",
        &"r".repeat(49),
    ] {
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
            assert!(response_table_ddl(&spec, bad, dialect).is_err(), "{bad:?}");
            assert!(
                select_responses_sql(&spec, bad, dialect).is_err(),
                "{bad:?}"
            );
        }
    }
    assert!(response_table_ddl(&spec, &"r".repeat(48), Dialect::Postgres).is_ok());
}

#[test]
fn specs_are_checked_again_before_use() {
    // The fields are public, so a spec can be changed after it was validated.
    let mut spec = checkup();
    spec.fields[0].name = "x\"; drop table patients; --".to_string();
    let e = response_table_ddl(&spec, "resp_1", Dialect::Postgres).expect_err("bad name");
    assert!(
        e.to_string()
            .contains(r#"form spec field 1 ("x\"; drop table patients; --")"#),
        "{e}"
    );
    let answers = checkup()
        .check_submission(&pairs(&[("full_name", "A"), ("smoker", "yes")]))
        .expect("valid");
    assert!(insert_response(&spec, "resp_1", Dialect::Sqlite, 1, at(0), &answers).is_err());
}

#[test]
fn answers_must_match_the_spec() {
    let spec = checkup();
    let other = one_field("type = \"text\"");
    let answers = other
        .check_submission(&pairs(&[("x", "hello")]))
        .expect("valid");
    assert!(insert_response(&spec, "resp_1", Dialect::Sqlite, 1, at(0), &answers).is_err());
    let same_name_other_type = one_field("type = \"integer\"");
    assert!(insert_response(
        &same_name_other_type,
        "resp_1",
        Dialect::Sqlite,
        1,
        at(0),
        &answers
    )
    .is_err());
}

#[test]
fn postgres_statements() {
    let spec = checkup();
    let ddl = response_table_ddl(&spec, "resp_3", Dialect::Postgres).expect("ddl");
    assert_eq!(ddl.len(), 2);
    let create = &ddl[0];
    for expected in [
        "CREATE TABLE \"resp_3\" (",
        "\"id\" BIGSERIAL PRIMARY KEY",
        "\"recipient_id\" BIGINT NOT NULL UNIQUE",
        "\"submitted_at\" TIMESTAMPTZ NOT NULL",
        "\"full_name\" TEXT NOT NULL",
        "\"age\" BIGINT,",
        "\"weight_kg\" NUMERIC(38,10),",
        "\"last_visit\" DATE,",
        "\"smoker\" BOOLEAN NOT NULL,",
        "\"symptoms\" TEXT,",
    ] {
        assert!(create.contains(expected), "{expected} not in {create}");
    }
    assert_eq!(
        ddl[1],
        "CREATE INDEX \"resp_3_submitted_idx\" ON \"resp_3\" (\"submitted_at\")"
    );
    let answers = spec
        .check_submission(&pairs(&[
            ("full_name", "A"),
            ("smoker", "yes"),
            ("weight_kg", "1.25"),
        ]))
        .expect("valid");
    let insert =
        insert_response(&spec, "resp_3", Dialect::Postgres, 5, at(0), &answers).expect("insert");
    assert!(insert.sql.starts_with(
        "INSERT INTO \"resp_3\" (\"recipient_id\", \"submitted_at\", \"full_name\", \"age\""
    ));
    assert!(insert.sql.contains("VALUES ($1, CAST($2 AS TIMESTAMPTZ), CAST($3 AS TEXT), CAST($4 AS BIGINT), CAST($5 AS NUMERIC(38,10))"));
    assert!(insert.sql.contains("CAST($12 AS TEXT))"), "{}", insert.sql);
    assert_eq!(insert.params[0], SqlValue::Int(5));
    assert_eq!(
        insert.params[1],
        SqlValue::Text("2026-01-01T00:00:00.123456Z".into())
    );
    assert_eq!(insert.params[3], SqlValue::Null);
    assert_eq!(insert.params[4], SqlValue::Text("1.25".into()));
    assert_eq!(insert.params[6], SqlValue::Bool(true));
    let select = select_responses_sql(&spec, "resp_3", Dialect::Postgres).expect("select");
    assert!(
        select.contains("CAST(\"weight_kg\" AS TEXT) AS \"weight_kg\""),
        "{select}"
    );
    assert!(
        select.ends_with("FROM \"resp_3\" ORDER BY \"submitted_at\", \"id\""),
        "{select}"
    );
}

#[test]
fn mysql_statements() {
    let spec = checkup();
    let ddl = response_table_ddl(&spec, "resp_4", Dialect::Mysql).expect("ddl");
    let create = &ddl[0];
    for expected in [
        "CREATE TABLE `resp_4` (",
        "`id` BIGINT AUTO_INCREMENT PRIMARY KEY",
        "`recipient_id` BIGINT NOT NULL UNIQUE",
        "`submitted_at` DATETIME(6) NOT NULL",
        "`full_name` VARCHAR(80) NOT NULL",
        "`weight_kg` DECIMAL(38,10),",
        "`smoker` BOOLEAN NOT NULL,",
        "`clinic` VARCHAR(5),",
        "`email` VARCHAR(254),",
        "`phone` VARCHAR(16),",
        "`notes` TEXT\n",
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    ] {
        assert!(create.contains(expected), "{expected} not in {create}");
    }
    assert_eq!(
        ddl[1],
        "CREATE INDEX `resp_4_submitted_idx` ON `resp_4` (`submitted_at`)"
    );
    let answers = spec
        .check_submission(&pairs(&[("full_name", "A"), ("smoker", "yes")]))
        .expect("valid");
    let insert =
        insert_response(&spec, "resp_4", Dialect::Mysql, 5, at(0), &answers).expect("insert");
    assert_eq!(insert.sql.matches('?').count(), insert.params.len());
    assert!(!insert.sql.contains("CAST"));
    assert_eq!(
        insert.params[1],
        SqlValue::Text("2026-01-01 00:00:00.123456".into())
    );
    let select = select_responses_sql(&spec, "resp_4", Dialect::Mysql).expect("select");
    assert!(
        select.contains("CAST(`weight_kg` AS CHAR) AS `weight_kg`"),
        "{select}"
    );
}

#[test]
fn mysql_rows_stay_under_the_row_size_limit() {
    let fields: String = (0..100)
        .map(|i| {
            format!(
                "[[fields]]\nname = \"t{i}\"\nlabel = \"L\"\ntype = \"text\"\nmax_length = 2000\n"
            )
        })
        .collect();
    let spec = spec(&format!("name = \"wide\"\ntitle = \"Wide\"\n{fields}"));
    let ddl = response_table_ddl(&spec, "resp_5", Dialect::Mysql).expect("ddl");
    let varchars = ddl[0].matches("VARCHAR(2000)").count();
    assert!(varchars >= 1, "{}", ddl[0]);
    assert!(varchars * (2000 * 4 + 2) < 65_535, "{varchars}");
    assert_eq!(ddl[0].matches(" TEXT").count(), 100 - varchars);
}
