//! Unit tests: parsing, errors and their positions, hostile input, limits, rendering,
//! evaluation and SQL shape.

use super::ast::{CmpOp, Expr, Flag, Predicate, Printer, Test};
use super::lexer::{Lexer, TokenKind};
use super::*;
use crate::patient::{ConditionCode, Email, NhsNumber, Phone, Postcode, Sex};
use crate::sql::SqlValue;
use std::collections::BTreeSet;

/// A date from `YYYY-MM-DD`.
pub(super) fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

/// A valid NHS number unique to `i`.
pub(super) fn nhs_number(i: u32) -> NhsNumber {
    let base = 400_000_000 + i * 10;
    (base..base + 10)
        .find_map(|stem| {
            let digits: Vec<u32> = stem
                .to_string()
                .bytes()
                .map(|b| u32::from(b - b'0'))
                .collect();
            let check = NhsNumber::check_digit(&digits)?;
            NhsNumber::parse(&format!("{stem}{check}")).ok()
        })
        .expect("a valid stem among ten")
}

/// Patient `i` (external id `P{i}`) born on `dob`, with a phone and email, no
/// conditions, in `SW1A 1AA`, not opted out.
pub(super) fn patient(i: u32, dob: NaiveDate) -> Patient {
    Patient {
        external_id: format!("P{i}"),
        nhs_number: Some(nhs_number(i)),
        given_name: "Test".into(),
        family_name: "Patient".into(),
        date_of_birth: dob,
        sex: Sex::Female,
        phone: Some(Phone::parse("+447700900123").expect("phone")),
        email: Some(Email::parse("test@example.org").expect("email")),
        postcode: Postcode::parse("SW1A 1AA").expect("postcode"),
        conditions: BTreeSet::new(),
        sms_opt_out: false,
        email_opt_out: false,
    }
}

fn parse(src: &str) -> Filter {
    Filter::parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
}

fn err(src: &str) -> FilterError {
    match Filter::parse(src) {
        Ok(f) => panic!("{src:?} should not parse, got {f:?}"),
        Err(e) => e,
    }
}

/// Asserts `src` fails at 1-based `column` with a message containing `needle`.
fn assert_err(src: &str, column: usize, needle: &str) {
    let e = err(src);
    assert_eq!(e.column, column, "{src:?}: {e}");
    assert!(e.message.contains(needle), "{src:?}: {e}");
    assert_eq!(
        e.column,
        src[..e.position].chars().count() + 1,
        "position and column agree"
    );
}

fn canonical(f: &Filter) -> String {
    Printer {
        expr: &f.expr,
        redact: false,
    }
    .to_string()
}

fn flag(f: Flag) -> Expr {
    Expr::Pred(Predicate::Flag(f, true))
}

// ---- parsing ----------------------------------------------------------------------

#[test]
fn precedence_is_not_then_and_then_or() {
    let f = parse("has_phone or has_email and not sms_opt_out");
    assert_eq!(
        f.expr,
        Expr::Or(vec![
            flag(Flag::HasPhone),
            Expr::And(vec![
                flag(Flag::HasEmail),
                Expr::Not(Box::new(flag(Flag::SmsOptOut)))
            ])
        ])
    );
    let f = parse("not has_phone and has_email");
    assert_eq!(
        f.expr,
        Expr::And(vec![
            Expr::Not(Box::new(flag(Flag::HasPhone))),
            flag(Flag::HasEmail)
        ])
    );
}

#[test]
fn parentheses_group_and_chains_are_flat() {
    let f = parse("(has_phone or has_email) and sms_opt_out");
    assert_eq!(canonical(&f), "(has_phone or has_email) and sms_opt_out");
    let f = parse("has_phone and has_email and sms_opt_out and email_opt_out");
    assert!(matches!(&f.expr, Expr::And(items) if items.len() == 4));
    let f = parse("((has_phone))");
    assert_eq!(f.expr, flag(Flag::HasPhone));
    let f = parse("not (has_phone and has_email) or not not all");
    assert_eq!(
        canonical(&f),
        "not (has_phone and has_email) or not not all"
    );
}

#[test]
fn keywords_and_fields_are_case_insensitive() {
    let f = parse("AGE >= 65 AND NOT Sms_Opt_Out OR Condition NOT IN (\"COPD\") or ALL");
    assert_eq!(
        canonical(&f),
        "age >= 65 and not sms_opt_out or condition not in (\"copd\") or all"
    );
    let f = parse("has_phone = TRUE and postcode STARTS_WITH \"sw1a \"");
    assert_eq!(
        canonical(&f),
        "has_phone and postcode starts_with \"SW1A \""
    );
}

#[test]
fn strings_unescape_and_reprint() {
    let f = parse(r#"external_id = "a\"b\\c""#);
    assert_eq!(
        f.expr,
        Expr::Pred(Predicate::ExternalId(Test::Cmp(
            CmpOp::Eq,
            "a\"b\\c".to_string()
        )))
    );
    assert_eq!(canonical(&f), r#"external_id = "a\"b\\c""#);
    assert_eq!(parse(&canonical(&f)).expr, f.expr);
    let f = parse("external_id = \"zoë ünïcode\"");
    assert!(
        matches!(&f.expr, Expr::Pred(Predicate::ExternalId(Test::Cmp(_, s))) if s == "zoë ünïcode")
    );
}

#[test]
fn values_are_normalised() {
    let f = parse(
        "date_of_birth >= \"1950-01-31\" and age > -3 and sex in (\"FEMALE\", \"other\") and \
         postcode = \"sw1a1aa\" and condition = \"Copd\" and has_email != true \
         and sms_opt_out = false",
    );
    assert_eq!(
        canonical(&f),
        "dob >= \"1950-01-31\" and age > -3 and sex in (\"female\", \"other\") and postcode = \
         \"SW1A 1AA\" and condition = \"copd\" and has_email = false and sms_opt_out = false"
    );
}

#[test]
fn lexer_tokens() {
    let toks = Lexer::all("age>=-5,(!=<)").expect("lexes");
    assert_eq!(
        toks,
        vec![
            TokenKind::Word("age".into()),
            TokenKind::Cmp(CmpOp::Ge),
            TokenKind::Int(-5),
            TokenKind::Comma,
            TokenKind::LParen,
            TokenKind::Cmp(CmpOp::Ne),
            TokenKind::Cmp(CmpOp::Lt),
            TokenKind::RParen,
        ]
    );
}

#[test]
fn all_and_display_and_source() {
    let all = Filter::all();
    assert_eq!("all".parse::<Filter>(), Ok(all.clone()));
    assert_eq!(all, parse("all"));
    assert_eq!(all.source(), "all");
    let src = "  age >= 65\n  and has_phone ";
    let f = parse(src);
    assert_eq!(f.source(), src);
    assert_eq!(f.to_string(), src);
    assert_eq!(PatientFilter::describe(&f), src);
}

// ---- errors -----------------------------------------------------------------------

#[test]
fn unknown_field() {
    assert_err(
        "age >= 1 and agee = 2",
        14,
        "unknown field \"agee\"; known fields: age, dob",
    );
    let long = "x".repeat(100);
    let e = err(&format!("{long} = 1"));
    assert!(
        e.message.contains(&format!("\"{}…\"", "x".repeat(32))),
        "{e}"
    );
    assert!(!e.message.contains(&"x".repeat(33)), "{e}");
    assert_err("and = 1", 1, "found keyword \"and\"");
    assert_err("\"name\" = 1", 1, "expected a condition");
}

#[test]
fn operator_not_allowed_for_field() {
    assert_err(
        "age starts_with \"1\"",
        5,
        "operator \"starts_with\" is not allowed for age",
    );
    assert_err("sex < \"male\"", 5, "operator \"<\" is not allowed for sex");
    assert_err(
        "dob in (\"2020-01-01\")",
        5,
        "operator \"in\" is not allowed for dob",
    );
    assert_err(
        "postcode not in (\"SW1A 1AA\")",
        10,
        "\"not in\" is not allowed for postcode",
    );
    assert_err(
        "has_phone > true",
        11,
        "operator \">\" is not allowed for has_phone",
    );
    assert_err("condition >= \"copd\"", 11, "not allowed for condition");
    assert_err("age not 5", 9, "expected \"in\" after \"not\"");
    assert_err(
        "age",
        4,
        "unexpected end of filter; expected an operator after age",
    );
    assert_err("age 5", 5, "expected an operator after age");
}

#[test]
fn type_mismatch() {
    assert_err(
        "age = \"old\"",
        7,
        "type mismatch: age expects a whole number of years, found a string",
    );
    assert_err("sex = 1", 7, "type mismatch: sex expects");
    assert_err("dob = 2020", 7, "type mismatch: dob expects a date");
    assert_err("has_phone = \"yes\"", 13, "has_phone expects true or false");
    assert_err("has_phone = 1", 13, "has_phone expects true or false");
    assert_err("age in (1, \"2\")", 12, "age expects a whole number");
    assert_err("age = true", 7, "found keyword \"true\"");
    assert_err("external_id = Smith", 15, "found a bare word");
}

#[test]
fn invalid_values() {
    assert_err("sex = \"x\"", 7, "invalid value for sex");
    assert_err("dob = \"2023-02-29\"", 7, "invalid value for dob");
    assert_err("dob = \"2023-2-1\"", 7, "invalid value for dob");
    assert_err("condition = \"COPD!\"", 13, "invalid value for condition");
    assert_err(
        "condition in (\"copd\", \"\")",
        23,
        "invalid value for condition",
    );
    assert_err("postcode = \"nowhere\"", 12, "invalid value for postcode");
    assert_err(
        "postcode starts_with \"SW1A 1AAA\"",
        22,
        "invalid postcode prefix",
    );
    assert_err(
        "postcode starts_with \"S W 1\"",
        22,
        "invalid postcode prefix",
    );
    assert_err("postcode starts_with \"\"", 22, "invalid postcode prefix");
    assert_err(
        "postcode starts_with \"SW1-\"",
        22,
        "invalid postcode prefix",
    );
    assert_err("age = 99999999999999999999", 7, "number out of range");
    assert_err("age = 65years", 7, "invalid number");
}

#[test]
fn lexical_errors() {
    assert_err("external_id = \"abc", 15, "unterminated string");
    assert_err("external_id = \"a\\nb\"", 17, "unsupported escape");
    assert_err(
        "age = 1; drop table patients",
        8,
        "unexpected character \";\"",
    );
    assert_err("age == 1", 6, "type mismatch");
    assert_err("age = 1 & has_phone", 9, "unexpected character \"&\"");
    assert_err("has_phone and !has_email", 15, "unexpected character \"!\"");
    assert_err("age ≥ 5", 5, "unexpected character U+2265");
    assert_err("age = - 5", 7, "unexpected character \"-\"");
}

#[test]
fn structural_errors() {
    assert_err(
        "age >=",
        7,
        "unexpected end of filter; expected a whole number",
    );
    assert_err(
        "age >= 1 and",
        13,
        "unexpected end of filter; expected a condition",
    );
    assert_err(
        "age = 1 2",
        9,
        "unexpected a number after a complete condition",
    );
    assert_err(
        "age = 1 has_phone",
        9,
        "field \"has_phone\" after a complete condition",
    );
    assert_err("age = 1)", 8, "unmatched \")\"");
    assert_err(
        "(age = 1",
        9,
        "expected \")\" to close the \"(\" at column 1",
    );
    assert_err("(age = 1 has_phone)", 10, "expected \")\" to close");
    assert_err("", 1, "empty filter");
    assert_err(" \n\t ", 1, "empty filter");
    assert_err("()", 2, "expected a condition");
    assert_err("age in ()", 9, "at least one value");
    assert_err("age in 1", 8, "expected \"(\" to start the list");
    assert_err("age in (1,)", 11, "type mismatch");
    assert_err("age in (1 2)", 11, "expected \",\" or \")\"");
    assert_err(
        "has_phone not in (true)",
        11,
        "\"not in\" is not allowed for has_phone",
    );
}

#[test]
fn list_length_limit() {
    let items = |n: usize| vec!["\"x\""; n].join(", ");
    parse(&format!("external_id in ({})", items(MAX_LIST_ITEMS)));
    let src = format!("external_id in ({})", items(MAX_LIST_ITEMS + 1));
    let e = err(&src);
    assert!(e.message.contains("at most 1000 values"), "{e}");
    assert_eq!(e.position, src.len() - 4, "points at the 1001st value");
}

#[test]
fn depth_limit() {
    let nested = |n: usize| format!("{}has_phone{}", "(".repeat(n), ")".repeat(n));
    parse(&nested(MAX_DEPTH));
    assert_err(&nested(MAX_DEPTH + 1), MAX_DEPTH + 1, "nested too deeply");
    let nots = |n: usize| format!("{}has_phone", "not ".repeat(n));
    parse(&nots(MAX_DEPTH));
    assert_err(&nots(MAX_DEPTH + 1), 4 * MAX_DEPTH + 1, "nested too deeply");
    // Far deeper than any stack could take by recursion, within the length limit.
    let e = err(&"(".repeat(MAX_SOURCE_BYTES));
    assert!(e.message.contains("nested too deeply"), "{e}");
    let e = err(&"not ".repeat(MAX_SOURCE_BYTES / 4));
    assert!(e.message.contains("nested too deeply"), "{e}");
    // A long flat chain is not deep.
    let chain = vec!["has_phone"; MAX_CONDITIONS].join(" and ");
    assert!(chain.len() <= MAX_SOURCE_BYTES);
    let f = parse(&chain);
    assert!(f.matches(&patient(1, d("1980-01-01")), d("2024-01-01")));
}

#[test]
fn size_limit() {
    // 1,000 `or` terms once reached SQLite, which refused them ("Expression tree is too
    // large"); the parser now refuses them itself, pointing at the first one too many.
    let chain = |n: usize| vec!["age=7"; n].join(" or ");
    let src = chain(1000);
    assert!(src.len() <= MAX_SOURCE_BYTES);
    let e = err(&src);
    assert!(e.message.contains("filter too large"), "{e}");
    assert!(e.message.contains(&MAX_CONDITIONS.to_string()), "{e}");
    assert_eq!(e.position, chain(MAX_CONDITIONS).len() + " or ".len());
    parse(&chain(MAX_CONDITIONS));
    // `all` counts, and so does each value of an age list (one date range each).
    let with_all = format!("{} or all", chain(MAX_CONDITIONS));
    assert_err(&with_all, with_all.len() - 2, "filter too large");
    let ages = |n: usize| {
        (0..n)
            .map(|i| (i % 100).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    parse(&format!("age in ({})", ages(MAX_CONDITIONS)));
    let e = err(&format!(
        "has_phone and age not in ({})",
        ages(MAX_CONDITIONS)
    ));
    assert!(e.message.contains("filter too large"), "{e}");
    assert_eq!(e.column, "has_phone and ".len() + 1);
    // Other lists are one condition however long.
    parse(&format!(
        "has_email or external_id in ({})",
        vec!["\"x\""; MAX_LIST_ITEMS].join(", ")
    ));
}

#[test]
fn length_limit() {
    let ok = format!("all{}", " ".repeat(MAX_SOURCE_BYTES - 3));
    parse(&ok);
    let too_long = format!("all{}", " ".repeat(MAX_SOURCE_BYTES - 2));
    let e = err(&too_long);
    assert_eq!(e.position, MAX_SOURCE_BYTES);
    assert!(e.message.contains("too long"), "{e}");
    // The limit is in bytes; a multi-byte character straddling it is still pointed at.
    let src = format!("{}\"{}\"", "external_id = ", "é".repeat(MAX_SOURCE_BYTES));
    let e = err(&src);
    assert!(src.is_char_boundary(e.position) && e.position <= MAX_SOURCE_BYTES);
}

#[test]
fn errors_never_echo_string_literals() {
    let secret = "Smithsonian";
    let sources = [
        format!("age = \"{secret}\""),
        format!("sex = \"{secret}\""),
        format!("dob = \"{secret}\""),
        format!("postcode = \"{secret}\""),
        format!("postcode starts_with \"{secret}\""),
        format!("condition = \"{secret} x\""),
        format!("has_phone = \"{secret}\""),
        format!("external_id = {secret}"),
        format!("external_id = \"x\" {secret}"),
        format!("external_id = \"x\" \"{secret}\""),
        format!("external_id = \"{secret}"),
        format!("external_id in (\"{secret}\" 1)"),
        format!("(external_id = \"{secret}\" x"),
        format!("age = 1 or \"{secret}\""),
        format!("sex = \"x' or '1'='1{secret}\""),
    ];
    for src in &sources {
        let e = err(src);
        for text in [e.to_string(), format!("{e:?}"), e.message.clone()] {
            assert!(!text.contains(secret), "{src:?} echoed: {text}");
            assert!(!text.contains("'1'='1"), "{src:?} echoed: {text}");
        }
    }
    let f = parse(&format!(
        "external_id = \"{secret}\" and dob = \"1970-01-01\""
    ));
    let debug = format!("{f:?}");
    assert!(
        !debug.contains(secret) && !debug.contains("1970"),
        "{debug}"
    );
    assert_eq!(debug, "Filter(external_id = \"…\" and dob = \"…\")");
}

// ---- hostile input ----------------------------------------------------------------

#[test]
fn injection_attempts_are_errors_or_bound_values() {
    assert_err("age = 1; drop table patients", 8, "unexpected character");
    assert_err("sex = \"x' or '1'='1\"", 7, "invalid value for sex");
    assert_err(
        "postcode starts_with \"' OR 1=1 --\"",
        22,
        "invalid postcode prefix",
    );
    assert_err("age = 1 -- comment", 9, "unexpected character \"-\"");
    assert_err("age = 1 /* x */", 9, "unexpected character \"/\"");
    let hostile = [
        "x' or '1'='1",
        "'); DROP TABLE patients; --",
        "\\\" OR 1=1",
        "$1",
        "?",
    ];
    for value in hostile {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        let f = parse(&format!(
            "external_id = \"{escaped}\" or external_id in (\"{escaped}\", \"b\")"
        ));
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
            let q = f.to_sql(dialect, d("2024-01-01"));
            assert!(!q.sql.contains('\''), "{}", q.sql);
            assert!(
                !q.sql.contains("DROP") && !q.sql.contains("--"),
                "{}",
                q.sql
            );
            assert_eq!(q.params[0], SqlValue::Text(value.to_string()));
            assert_eq!(q.params.len(), 3);
        }
    }
}

#[test]
fn sql_text_holds_no_literal() {
    let f = parse(
        "age >= 65 and dob < \"1990-05-06\" and sex = \"male\" and postcode = \"M1 1AE\" and \
         postcode starts_with \"M1\" and condition in (\"copd\") and external_id != \"Q77\" \
         and sms_opt_out = true",
    );
    let q = f.to_sql(Dialect::Sqlite, d("2024-01-01"));
    for literal in [
        "65", "1990", "1959", "male", "M1", "copd", "Q77", "true", "2",
    ] {
        assert!(!q.sql.contains(literal), "{literal} in {}", q.sql);
    }
    assert_eq!(q.sql.matches('?').count(), q.params.len());
}

// ---- SQL shape --------------------------------------------------------------------

#[test]
fn sql_shapes() {
    let today = d("2024-02-29");
    let q = Filter::all().to_sql(Dialect::Postgres, today);
    assert_eq!((q.sql.as_str(), q.params.len()), ("1 = 1", 0));

    let q = parse("condition = \"copd\" and not has_phone").to_sql(Dialect::Sqlite, today);
    assert_eq!(
        q.sql,
        "(EXISTS (SELECT 1 FROM patient_conditions c WHERE c.patient_id = p.id AND c.code = ?) \
         AND NOT (p.phone IS NOT NULL))"
    );
    assert_eq!(q.params, vec![SqlValue::Text("copd".into())]);

    let q = parse("condition not in (\"copd\", \"asthma\") or has_email = false")
        .to_sql(Dialect::Postgres, today);
    assert_eq!(
        q.sql,
        "(NOT EXISTS (SELECT 1 FROM patient_conditions c WHERE c.patient_id = p.id AND \
         c.code IN ($1, $2)) OR p.email IS NULL)"
    );

    let q = parse("postcode starts_with \"sw1\"").to_sql(Dialect::Mysql, today);
    assert_eq!(q.sql, "substr(p.postcode, 1, ?) = ?");
    assert_eq!(
        q.params,
        vec![SqlValue::Int(3), SqlValue::Text("SW1".into())]
    );
    let q = parse("postcode starts_with \"sw1\"").to_sql(Dialect::Postgres, today);
    assert_eq!(q.sql, "substr(p.postcode, 1, CAST($1 AS INTEGER)) = $2");

    let q = parse("age = 65").to_sql(Dialect::Postgres, today);
    assert_eq!(q.sql, "(p.date_of_birth <= $1 AND p.date_of_birth > $2)");
    assert_eq!(
        q.params,
        vec![
            SqlValue::Date(d("1959-02-28")),
            SqlValue::Date(d("1958-02-28"))
        ]
    );
    let q = parse("age >= 0 or age > 200 or age < 0").to_sql(Dialect::Sqlite, today);
    assert_eq!(q.sql, "(1 = 1 OR 1 = 0 OR 1 = 0)");
    assert!(q.params.is_empty());
    let q = parse("sms_opt_out != true").to_sql(Dialect::Mysql, today);
    assert_eq!(q.sql, "p.sms_opt_out = ?");
    assert_eq!(q.params, vec![SqlValue::Bool(false)]);
}

#[test]
fn postgres_placeholders_are_numbered_in_order() {
    let f = parse(
        "age in (1, 2, 3) and sex not in (\"male\", \"other\") and not (dob != \"2000-01-01\" \
         or external_id = \"x\") and email_opt_out",
    );
    let q = f.to_sql(Dialect::Postgres, d("2025-06-30"));
    let mut at = 0;
    for n in 1..=q.params.len() {
        let p = format!("${n}");
        let found = q.sql[at..].find(&p).expect("placeholder present") + at;
        at = found + p.len();
    }
    assert!(!q.sql.contains(&format!("${}", q.params.len() + 1)));
    let q = f.to_sql(Dialect::Sqlite, d("2025-06-30"));
    assert_eq!(q.sql.matches('?').count(), q.params.len());
}

// ---- evaluation -------------------------------------------------------------------

#[test]
fn ages_around_birthdays_and_leap_days() {
    let cases = [
        // (dob, today, age)
        ("1960-03-01", "2026-02-28", 65),
        ("1960-03-01", "2026-03-01", 66),
        ("1960-02-29", "2025-02-28", 64),
        ("1960-02-29", "2025-03-01", 65),
        ("1960-02-29", "2024-02-29", 64),
        ("1959-02-28", "2024-02-29", 65),
        ("2030-01-01", "2026-03-01", 0),
        ("1800-01-01", "2024-01-01", MAX_AGE),
    ];
    for (dob, today, age) in cases {
        let p = patient(1, d(dob));
        let today = d(today);
        for (src, expected) in [
            (format!("age = {age}"), true),
            (format!("age >= {age}"), true),
            (format!("age > {age}"), false),
            (format!("age <= {age}"), true),
            (format!("age < {}", age + 1), true),
            (format!("age != {age}"), false),
            (format!("age in (-1, {age}, 300)"), true),
            (format!("age not in ({age})"), false),
        ] {
            assert_eq!(
                parse(&src).matches(&p, today),
                expected,
                "{dob} {today} {src}"
            );
        }
    }
}

#[test]
fn absurd_ages() {
    let p = patient(1, d("1980-05-05"));
    let today = d("2024-01-01");
    for (src, expected) in [
        ("age > -5", true),
        ("age >= -9223372036854775808", true),
        ("age < -9223372036854775808", false),
        ("age > 9223372036854775807", false),
        ("age = -1", false),
        ("age != -1", true),
        ("age < 300", true),
        ("age > 200", false),
    ] {
        assert_eq!(parse(src).matches(&p, today), expected, "{src}");
        let q = parse(src).to_sql(Dialect::Sqlite, today);
        assert!(q.sql.contains("1 = 1") || q.sql.contains("1 = 0") || src.contains('<'));
    }
}

#[test]
fn conditions_postcodes_and_flags() {
    let today = d("2024-06-01");
    let mut p = patient(7, d("1950-01-01"));
    p.conditions = ["copd", "chd"]
        .iter()
        .map(|c| ConditionCode::parse(c).expect("code"))
        .collect();
    p.postcode = Postcode::parse("SW1A 2AB").expect("postcode");
    p.phone = None;
    p.sms_opt_out = true;
    p.sex = Sex::Other;
    for (src, expected) in [
        ("condition = \"copd\"", true),
        ("condition != \"copd\"", false),
        ("condition = \"asthma\"", false),
        ("condition != \"asthma\"", true),
        ("condition in (\"asthma\", \"chd\")", true),
        ("condition not in (\"asthma\", \"chd\")", false),
        ("condition not in (\"asthma\")", true),
        ("postcode = \"sw1a2ab\"", true),
        ("postcode != \"SW1A 1AA\"", true),
        ("postcode starts_with \"SW1A 2\"", true),
        ("postcode starts_with \"SW1A 1\"", false),
        ("postcode starts_with \"sw\"", true),
        ("has_phone", false),
        ("not has_phone and has_email", true),
        ("sms_opt_out and not email_opt_out", true),
        (
            "sex = \"other\" and sex in (\"other\") and sex not in (\"male\")",
            true,
        ),
        ("external_id = \"P7\" and external_id != \"P8\"", true),
        (
            "dob = \"1950-01-01\" and dob >= \"1950-01-01\" and dob < \"1950-01-02\"",
            true,
        ),
    ] {
        assert_eq!(parse(src).matches(&p, today), expected, "{src}");
    }
}

// ---- render, serde, trait ---------------------------------------------------------

#[test]
fn render_points_a_caret_at_the_column() {
    let src = "age >= 1 and agee = 2";
    let e = err(src);
    let lines: Vec<String> = e.render(src).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], src);
    assert_eq!(lines[1], format!("{}^", " ".repeat(13)));
    assert_eq!(lines[2], e.to_string());
    assert!(lines[2].starts_with("filter error at column 14: unknown field \"agee\""));

    let src = "age >= 1\n  and\tsex < \"male\"";
    let e = err(src);
    let rendered = e.render(src);
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines[0], "  and sex < \"male\"");
    assert_eq!(lines[1], "          ^");
    assert!(lines[2].starts_with("filter error on line 2 at column 11: operator"));

    let src = format!("{} and agee = 1", vec!["has_phone"; 30].join(" and "));
    let e = err(&src);
    let rendered = e.render(&src);
    let lines: Vec<&str> = rendered.lines().collect();
    let caret = lines[1].chars().count() - 1;
    assert_eq!(
        lines[0].chars().skip(caret).take(4).collect::<String>(),
        "agee"
    );
    assert!(lines[0].starts_with('…'));

    let e = err("age >=");
    assert_eq!(e.render("age >="), format!("age >=\n      ^\n{e}"));
}

#[test]
fn serde_uses_the_source() {
    let f = parse("age >= 65 and has_phone");
    let json = serde_json::to_string(&f).expect("serialize");
    assert_eq!(json, "\"age >= 65 and has_phone\"");
    let back: Filter = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, f);
    let bad = serde_json::from_str::<Filter>("\"sex = \\\"Jones\\\"\"").expect_err("invalid");
    let text = bad.to_string();
    assert!(
        text.contains("invalid value for sex") && !text.contains("Jones"),
        "{text}"
    );
}

#[test]
fn filter_is_a_patient_filter_object() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Filter>();
    assert_send_sync::<Box<dyn PatientFilter>>();
    let boxed: Box<dyn PatientFilter> = Box::new(parse("age >= 18"));
    let today = d("2024-01-01");
    assert!(boxed.matches(&patient(1, d("2000-01-01")), today));
    assert!(!boxed.matches(&patient(2, d("2010-01-01")), today));
    assert_eq!(
        boxed.to_sql(Dialect::Sqlite, today),
        parse("age >= 18").to_sql(Dialect::Sqlite, today)
    );
    assert_eq!(boxed.describe(), "age >= 18");
    assert_eq!(format!("{boxed:?}"), "Filter(age >= 18)");
}
