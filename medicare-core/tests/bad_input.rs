//! Bad input gets a clear error that names what and where, and nothing already stored
//! changes: malformed CSV rows, hostile form field names, `<script>` labels, and filters
//! with unknown fields, bad operators, unterminated strings and injection attempts.

mod common;

use common::Harness;
use medicare_core::campaign::CampaignRequest;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::patient::{parse_csv, write_csv, CSV_HEADER};
use medicare_core::Error;
use std::sync::Arc;

#[tokio::test]
async fn a_csv_with_one_bad_row_imports_nothing() {
    let h = Harness::new().await;
    h.populate(100).await;
    let before = h.fingerprint().await;

    let mut good = Vec::new();
    write_csv(
        &medicare_core::patient::generate(medicare_core::patient::GenerateOptions {
            count: 5,
            seed: 99,
        }),
        &mut good,
    )
    .unwrap();
    let mut text = String::from_utf8(good).unwrap();
    text.push_str("P9,943 476 5919,Robert'); DROP TABLE patients;--,X,1950-01-01,m,07700 900000,,SW1A 1AA,,,\n");
    text.push_str("P10,943 476 5919,A,B,1950-13-45,m,,,SW1A 1AA,,,\n");
    let today = h.engine.clock().today();
    let err = parse_csv(text.as_bytes(), "upload.csv", today).unwrap_err();
    let msg = err.to_string();
    assert!(err.is_invalid_input());
    assert!(msg.contains("upload.csv"), "{msg}");
    assert!(msg.contains("line 8, column date_of_birth"), "{msg}");
    assert!(!msg.contains("DROP TABLE"), "no values in messages: {msg}");
    assert_eq!(h.fingerprint().await, before);

    // Re-importing patients already stored stores nothing.
    let dup = medicare_core::patient::generate(medicare_core::patient::GenerateOptions {
        count: 100,
        seed: 11,
    });
    assert!(matches!(
        h.engine.import_patients(&dup).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(h.fingerprint().await, before);
    assert!(CSV_HEADER.starts_with("external_id,"));

    // The same through a CSV file: the error names the file's lines and columns, and no
    // stored record (the store's own message named stored external ids).
    let mut file = Vec::new();
    write_csv(&dup[95..], &mut file).unwrap();
    let mut text = String::from_utf8(file).unwrap();
    let mut fresh = medicare_core::patient::generate(medicare_core::patient::GenerateOptions {
        count: 1,
        seed: 12345,
    });
    fresh[0].external_id = "NEW-1".into();
    let mut fresh_csv = Vec::new();
    write_csv(&fresh, &mut fresh_csv).unwrap();
    text.push_str(
        String::from_utf8(fresh_csv)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap(),
    );
    text.push('\n');
    let parsed = parse_csv(text.as_bytes(), "again.csv", today).unwrap();
    let err = h.engine.import_csv(&parsed).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Conflict(_)), "{msg}");
    assert!(
        msg.contains("again.csv") && msg.contains("5 row(s)"),
        "{msg}"
    );
    for line in 2..=6 {
        assert!(
            msg.contains(&format!("line {line}, column external_id"))
                && msg.contains(&format!("line {line}, column nhs_number")),
            "{msg}"
        );
    }
    assert!(
        !msg.contains("line 7"),
        "the new patient is not named: {msg}"
    );
    for p in &dup {
        assert!(!msg.contains(&p.external_id), "{msg}");
    }
    assert_eq!(h.fingerprint().await, before);
}

#[tokio::test]
async fn hostile_field_names_are_refused_and_no_table_is_created() {
    let h = Harness::new().await;
    let before = h.fingerprint().await;
    for name in [
        "x; drop table patients",
        "x\"; drop table patients; --",
        "Name",
        "select",
        "id",
        "a b",
        "ümlaut",
        "1abc",
        "",
    ] {
        let spec = format!(
            "name = \"f\"\ntitle = \"T\"\n[[fields]]\nname = {name:?}\nlabel = \"L\"\ntype = \"text\"\n"
        );
        let err = FormSpec::from_toml_str(&spec).unwrap_err();
        assert!(err.is_invalid_input(), "{name}: {err}");
        assert!(err.to_string().contains("field"), "{name}: {err}");
    }
    let unknown = FormSpec::from_toml_str(
        "name = \"f\"\ntitle = \"T\"\n[[fields]]\nname = \"a\"\nlabel = \"L\"\ntype = \"blob\"\n",
    )
    .unwrap_err();
    assert!(
        unknown.to_string().contains("blob") || unknown.to_string().contains("type"),
        "{unknown}"
    );
    assert_eq!(h.fingerprint().await, before);
}

#[tokio::test]
async fn labels_and_options_are_escaped_in_the_published_page() {
    let h = Harness::new().await;
    let spec = FormSpec::from_toml_str(
        r#"
        name = "escaping"
        title = "<script>alert('title')</script>"
        [[fields]]
        name = "q"
        label = "<script>alert('label')</script>"
        type = "single_choice"
        options = ["<img src=x onerror=alert(1)>", "fine"]
        "#,
    )
    .unwrap();
    let form = h.engine.create_form(&spec).await.unwrap();
    let page = std::fs::read_to_string(&form.page_location).unwrap();
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    // The response table exists with the typed column.
    assert_eq!(
        h.scalar(&format!("SELECT COUNT(*) FROM {}", form.response_table))
            .await,
        0
    );
}

#[tokio::test]
async fn bad_filters_are_refused_with_a_position_and_nothing_changes() {
    let h = Harness::new().await;
    h.populate(200).await;
    let form = h.demo_form().await;
    let before = h.fingerprint().await;
    let cases = [
        ("agee >= 65", "unknown field"),
        ("age => 65", "column"),
        ("age starts_with 6", "column"),
        (r#"condition = "copd"#, "unterminated"),
        ("age >= 65 and", "column"),
        (r#"sex = "x' or '1'='1""#, "column"),
        ("age >= 65; DROP TABLE patients", "column"),
        (r#"postcode = "SW1A 1AA" -- comment"#, "column"),
        ("1 = 1", "column"),
        ("", "empty"),
    ];
    for (source, expect) in cases {
        let err = Filter::parse(source).unwrap_err();
        let text = err.to_string();
        assert!(text.to_lowercase().contains(expect), "{source:?} -> {text}");
        assert!(
            !text.contains("DROP TABLE") && !text.contains("'1'='1"),
            "{source:?} -> {text}"
        );
        assert!(err.column >= 1);
    }
    // A filter that parses but carries quotes and SQL in a value is bound, not spliced:
    // it matches nobody and breaks nothing.
    let sneaky = Filter::parse(
        r#"external_id = "x' OR '1'='1" or external_id in ("'); DROP TABLE patients; --")"#,
    )
    .unwrap();
    assert_eq!(h.engine.count_patients(&sneaky).await.unwrap(), 0);
    let err = h
        .engine
        .create_campaign(&CampaignRequest::new("sneaky", form, Arc::new(sneaky)))
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert_eq!(h.fingerprint().await, before);
}
