use chrono::NaiveDate;

use super::spec::checkup;
use super::{one_field, pairs};
use crate::form::submission::{MAX_TOTAL_INPUT_BYTES, MAX_VALUE_CHARS};
use crate::form::{AnswerValue, FieldErrors, FormSpec};

/// The answer to field `x` of a one-field form, which must be accepted.
fn accepted(spec: &FormSpec, values: &[&str]) -> AnswerValue {
    let raw: Vec<(String, String)> = values
        .iter()
        .map(|v| ("x".to_string(), v.to_string()))
        .collect();
    match spec.check_submission(&raw) {
        Ok(answers) => answers.get("x").cloned().expect("an answer for x"),
        Err(e) => panic!("{values:?} should be accepted: {e:?}"),
    }
}

/// The message for field `x` of a one-field form, which must be refused for `x` only.
fn refused(spec: &FormSpec, values: &[&str]) -> String {
    let raw: Vec<(String, String)> = values
        .iter()
        .map(|v| ("x".to_string(), v.to_string()))
        .collect();
    match spec.check_submission(&raw) {
        Ok(a) => panic!("{values:?} should be refused, got {a:?}"),
        Err(e) => {
            assert!(e.form.is_empty(), "{e:?}");
            assert_eq!(e.fields.len(), 1, "{e:?}");
            assert_eq!(e.fields[0].field, "x");
            let message = e.fields[0].message.clone();
            for v in values.iter().filter(|v| v.trim().len() > 2) {
                assert!(!message.contains(v.trim()), "{message:?} echoes {v:?}");
            }
            message
        }
    }
}

#[test]
fn a_full_submission() {
    let spec = checkup();
    let answers = spec
        .check_submission(&pairs(&[
            ("full_name", "  Ada Lovelace "),
            ("age", "36"),
            ("weight_kg", "61.50"),
            ("last_visit", "2025-11-03"),
            ("smoker", "no"),
            ("clinic", "South"),
            ("symptoms", "Fever"),
            ("symptoms", "Cough"),
            ("email", "ada@example.org"),
            ("phone", "+44 20 7946 0000"),
            ("notes", "line one\r\nline two"),
        ]))
        .expect("valid");
    let got: Vec<(&str, &AnswerValue)> = answers.iter().collect();
    let date = NaiveDate::from_ymd_opt(2025, 11, 3).expect("date");
    assert_eq!(
        got,
        vec![
            ("full_name", &AnswerValue::Text("Ada Lovelace".into())),
            ("age", &AnswerValue::Integer(36)),
            ("weight_kg", &AnswerValue::Decimal("61.5".into())),
            ("last_visit", &AnswerValue::Date(date)),
            ("smoker", &AnswerValue::Bool(false)),
            ("clinic", &AnswerValue::Choice("South".into())),
            (
                "symptoms",
                &AnswerValue::Choices(vec!["Cough".into(), "Fever".into()])
            ),
            ("email", &AnswerValue::Text("ada@example.org".into())),
            ("phone", &AnswerValue::Text("+442079460000".into())),
            ("notes", &AnswerValue::Text("line one\nline two".into())),
        ]
    );
    assert_eq!(answers.len(), 10);
}

#[test]
fn empty_answers_are_null_or_required() {
    let spec = checkup();
    let e = spec.check_submission(&[]).expect_err("two required fields");
    assert_eq!(
        e.for_field("full_name"),
        Some("Please answer this question.")
    );
    assert_eq!(e.for_field("smoker"), Some("Please choose yes or no."));
    assert_eq!(e.fields.len(), 2);
    let answers = spec
        .check_submission(&pairs(&[
            ("full_name", "Ada"),
            ("smoker", "yes"),
            ("age", "   "),
            ("symptoms", ""),
        ]))
        .expect("valid");
    assert_eq!(answers.get("age"), Some(&AnswerValue::Null));
    assert_eq!(answers.get("symptoms"), Some(&AnswerValue::Null));
    assert_eq!(answers.get("notes"), Some(&AnswerValue::Null));
    let required = one_field("type = \"text\"\nrequired = true");
    assert_eq!(
        refused(&required, &[" \t "]),
        "Please answer this question."
    );
}

#[test]
fn unknown_names_and_repeats() {
    let spec = one_field("type = \"text\"");
    let e = spec
        .check_submission(&pairs(&[("x", "a"), ("csrf", "t"), ("y'; --", "z")]))
        .expect_err("unknown names");
    assert_eq!(e.form.len(), 1);
    assert!(e.fields.is_empty());
    assert!(!e.form[0].contains("csrf"));
    assert_eq!(
        refused(&spec, &["a", "b"]),
        "Please give only one answer to this question."
    );
}

#[test]
fn input_caps() {
    let spec = one_field("type = \"long_text\"");
    let big = "a".repeat(MAX_VALUE_CHARS + 1);
    assert!(refused(&spec, &[&big]).contains("at most 10000 characters"));
    accepted(&spec, &["a".repeat(MAX_VALUE_CHARS).as_str()]);
    let raw: Vec<(String, String)> = (0..8)
        .map(|_| ("x".to_string(), "a".repeat(MAX_TOTAL_INPUT_BYTES / 8)))
        .collect();
    let e = spec.check_submission(&raw).expect_err("too much");
    assert_eq!(e.form.len(), 1);
    assert!(e.fields.is_empty());
    let raw: Vec<(String, String)> = (0..1001).map(|_| (String::new(), String::new())).collect();
    assert_eq!(
        spec.check_submission(&raw)
            .expect_err("too many")
            .form
            .len(),
        1
    );
}

#[test]
fn text_rules() {
    let spec = one_field("type = \"text\"\nmax_length = 5\npattern = '[A-Z]+[0-9]*'");
    assert_eq!(
        accepted(&spec, &[" AB12 "]),
        AnswerValue::Text("AB12".into())
    );
    // Counted in characters, not bytes.
    let umlauts = one_field("type = \"text\"\nmax_length = 3");
    assert_eq!(
        accepted(&umlauts, &["äöü"]),
        AnswerValue::Text("äöü".into())
    );
    assert_eq!(
        refused(&umlauts, &["äöüß"]),
        "Please shorten this answer to at most 3 characters."
    );
    assert_eq!(
        refused(&spec, &["ab12"]),
        "Please check this answer: it is not in the expected format."
    );
    // The whole value must match, not a part of it.
    refused(&spec, &["AB-12"]);
    refused(&spec, &["A1B"]);
    assert!(refused(&spec, &["ABCDEF"]).contains("at most 5"));
    assert_eq!(
        refused(&spec, &["A\nB"]),
        "Please keep this answer on one line."
    );
    assert!(refused(&spec, &["A\u{0}B"]).contains("characters we cannot accept"));
    let alternation = one_field("type = \"text\"\npattern = 'a|b'");
    accepted(&alternation, &["a"]);
    refused(&alternation, &["ab"]);
    let long = one_field("type = \"long_text\"");
    assert_eq!(
        accepted(&long, &["\r\n one\r\n\r\ntwo\rthree \n"]),
        AnswerValue::Text("one\n\ntwo\nthree".into())
    );
}

#[test]
fn integer_rules() {
    let spec = one_field("type = \"integer\"\nmin = 1\nmax = 10");
    assert_eq!(accepted(&spec, &[" 7 "]), AnswerValue::Integer(7));
    assert_eq!(accepted(&spec, &["1"]), AnswerValue::Integer(1));
    assert_eq!(accepted(&spec, &["10"]), AnswerValue::Integer(10));
    assert_eq!(accepted(&spec, &["007"]), AnswerValue::Integer(7));
    let message = "Please enter a whole number between 1 and 10.";
    for bad in [
        "0",
        "11",
        "-1",
        "1.5",
        "abc",
        "+5",
        "1e1",
        "99999999999999999999",
        "5 5",
        "٣",
    ] {
        assert_eq!(refused(&spec, &[bad]), message, "{bad:?}");
    }
    let open = one_field("type = \"integer\"");
    assert_eq!(
        accepted(&open, &["-9223372036854775808"]),
        AnswerValue::Integer(i64::MIN)
    );
    assert_eq!(
        refused(&open, &["9223372036854775808"]),
        "Please enter a whole number."
    );
    let at_least = one_field("type = \"integer\"\nmin = 18");
    assert_eq!(
        refused(&at_least, &["17"]),
        "Please enter a whole number of 18 or more."
    );
    let at_most = one_field("type = \"integer\"\nmax = -1");
    assert_eq!(
        refused(&at_most, &["0"]),
        "Please enter a whole number of -1 or less."
    );
}

#[test]
fn decimal_rules() {
    let spec = one_field("type = \"decimal\"\nmin = 0.1\nmax = \"99.99\"");
    assert_eq!(
        accepted(&spec, &["0.1"]),
        AnswerValue::Decimal("0.1".into())
    );
    assert_eq!(
        accepted(&spec, &["99.990"]),
        AnswerValue::Decimal("99.99".into())
    );
    assert_eq!(
        accepted(&spec, &["042.50"]),
        AnswerValue::Decimal("42.5".into())
    );
    // Exact comparison: no float rounding lets these through.
    for bad in ["0.0999999999", "99.9900000001", "100", "-5"] {
        assert_eq!(
            refused(&spec, &[bad]),
            "Please enter a number between 0.1 and 99.99."
        );
    }
    for bad in ["1,5", ".5", "5.", "1e2", "abc", "+1", "0x1", "NaN", "inf"] {
        assert!(
            refused(&spec, &[bad]).contains("using a dot for decimals"),
            "{bad}"
        );
    }
    assert!(refused(&spec, &["1.00000000001"]).contains("at most 10 digits after"));
    let open = one_field("type = \"decimal\"");
    assert!(refused(&open, &["1234567890123456789"]).contains("at most 18 digits"));
    assert_eq!(
        accepted(&open, &["-12345678.1234567890"]),
        AnswerValue::Decimal("-12345678.123456789".into())
    );
    assert_eq!(accepted(&open, &["-0.0"]), AnswerValue::Decimal("0".into()));
}

#[test]
fn date_rules() {
    let spec = one_field("type = \"date\"\nmin = \"2020-01-01\"\nmax = \"2020-12-31\"");
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
    assert_eq!(
        accepted(&spec, &["2020-02-29"]),
        AnswerValue::Date(date(2020, 2, 29))
    );
    assert_eq!(
        accepted(&spec, &["2020-01-01"]),
        AnswerValue::Date(date(2020, 1, 1))
    );
    assert_eq!(
        refused(&spec, &["2021-01-01"]),
        "Please enter a date between 1 January 2020 and 31 December 2020."
    );
    refused(&spec, &["2019-12-31"]);
    for bad in [
        "2020-02-30",
        "2020-2-3",
        "01/02/2020",
        "2020-01-01T00:00",
        "+2020-01-01",
        "today",
    ] {
        assert!(refused(&spec, &[bad]).contains("real date"), "{bad}");
    }
}

#[test]
fn yes_no_rules() {
    let spec = one_field("type = \"yes_no\"");
    for (raw, expected) in [
        ("yes", true),
        ("YES", true),
        ("true", true),
        ("on", true),
        ("No", false),
        ("false", false),
        ("off", false),
    ] {
        assert_eq!(
            accepted(&spec, &[raw]),
            AnswerValue::Bool(expected),
            "{raw}"
        );
    }
    assert_eq!(refused(&spec, &["maybe"]), "Please choose yes or no.");
    assert_eq!(refused(&spec, &["1"]), "Please choose yes or no.");
    assert_eq!(accepted(&spec, &[]), AnswerValue::Null);
    // Required means "answer it", not "answer yes": an explicit "no" is fine.
    let required = one_field("type = \"yes_no\"\nrequired = true");
    assert_eq!(accepted(&required, &["no"]), AnswerValue::Bool(false));
    assert_eq!(refused(&required, &[]), "Please choose yes or no.");
}

#[test]
fn single_choice_rules() {
    let spec = one_field(
        "type = \"single_choice\"\noptions = [\"Morning\", \"Evening\"]\nrequired = true",
    );
    assert_eq!(
        accepted(&spec, &["Evening"]),
        AnswerValue::Choice("Evening".into())
    );
    assert_eq!(
        refused(&spec, &["evening"]),
        "Please choose one of the options listed."
    );
    assert_eq!(
        refused(&spec, &["Night"]),
        "Please choose one of the options listed."
    );
    assert_eq!(refused(&spec, &[""]), "Please choose an option.");
    refused(&spec, &["Morning", "Evening"]);
}

#[test]
fn multiple_choice_rules() {
    let spec = one_field(
        "type = \"multiple_choice\"\noptions = [\"a\", \"b\", \"c\", \"d\"]\nmin = 2\nmax = 3",
    );
    assert_eq!(
        accepted(&spec, &["c", "a"]),
        AnswerValue::Choices(vec!["a".into(), "c".into()])
    );
    assert_eq!(accepted(&spec, &[]), AnswerValue::Null);
    let message = "Please choose between 2 and 3 options.";
    assert_eq!(refused(&spec, &["a"]), message);
    assert_eq!(refused(&spec, &["a", "b", "c", "d"]), message);
    assert_eq!(
        refused(&spec, &["a", "a"]),
        "Please choose each option only once."
    );
    assert_eq!(
        refused(&spec, &["a", "e"]),
        "Please choose only from the options listed."
    );
    let required =
        one_field("type = \"multiple_choice\"\noptions = [\"a\", \"b\"]\nrequired = true");
    assert_eq!(
        refused(&required, &[]),
        "Please choose at least one option."
    );
    assert_eq!(
        refused(&required, &["", " "]),
        "Please choose at least one option."
    );
    assert_eq!(
        accepted(&required, &["b", "a"]),
        AnswerValue::Choices(vec!["a".into(), "b".into()])
    );
    let one = one_field("type = \"multiple_choice\"\noptions = [\"a\", \"b\"]\nmax = 1");
    assert_eq!(refused(&one, &["a", "b"]), "Please choose only one option.");
    assert_eq!(accepted(&one, &[]), AnswerValue::Null);
    let two = one_field("type = \"multiple_choice\"\noptions = [\"a\", \"b\", \"c\"]\nmax = 2");
    assert_eq!(
        refused(&two, &["a", "b", "c"]),
        "Please choose at most 2 options."
    );
    let some = one_field(
        "type = \"multiple_choice\"\noptions = [\"a\", \"b\", \"c\"]\nmin = 2\nrequired = true",
    );
    assert_eq!(refused(&some, &[]), "Please choose at least 2 options.");
    assert_eq!(refused(&some, &["c"]), "Please choose at least 2 options.");
    let exactly =
        one_field("type = \"multiple_choice\"\noptions = [\"a\", \"b\", \"c\"]\nmin = 2\nmax = 2");
    assert_eq!(
        refused(&exactly, &["a"]),
        "Please choose exactly 2 options."
    );
}

#[test]
fn email_rules() {
    let spec = one_field("type = \"email\"");
    for ok in [
        "a@b.co",
        "first.last+tag@sub.example.org",
        "o'brien@example.ie",
        "jörg@bücher.de",
    ] {
        assert_eq!(accepted(&spec, &[ok]), AnswerValue::Text(ok.into()), "{ok}");
    }
    for bad in [
        "plain",
        "@example.org",
        "a@",
        "a@b",
        "a@b.c",
        "a b@example.org",
        "a@exa mple.org",
        "a..b@example.org",
        ".a@example.org",
        "a@-example.org",
        "a@example..org",
        "a@1.2.3.4",
        "<a@example.org>",
        "a@b@example.org",
        "\"a\"@example.org",
    ] {
        assert!(refused(&spec, &[bad]).contains("name@example.com"), "{bad}");
    }
    let long_local = format!("{}@example.org", "a".repeat(65));
    refused(&spec, &[&long_local]);
}

#[test]
fn phone_rules() {
    let spec = one_field("type = \"phone\"");
    assert_eq!(
        accepted(&spec, &["+1 555 010 9999"]),
        AnswerValue::Text("+15550109999".into())
    );
    assert_eq!(
        accepted(&spec, &["0612345678"]),
        AnswerValue::Text("0612345678".into())
    );
    assert_eq!(
        accepted(&spec, &["12345678"]),
        AnswerValue::Text("12345678".into())
    );
    accepted(&spec, &["123456789012345"]);
    for bad in [
        "1234567",
        "1234567890123456",
        "+44-20-7946",
        "(020) 7946 0000",
        "++4412345678",
        "44+12345678",
        "call me",
    ] {
        assert!(refused(&spec, &[bad]).contains("8 to 15"), "{bad}");
    }
}

#[test]
fn errors_display_without_values() {
    let spec = one_field("type = \"integer\"\nmax = 3");
    let e: FieldErrors = spec
        .check_submission(&pairs(&[("x", "123456")]))
        .expect_err("too big");
    let shown = e.to_string();
    assert!(shown.contains("fields: x"), "{shown}");
    assert!(!shown.contains("123456"), "{shown}");
    assert_eq!(e.len(), 1);
    assert!(!e.is_empty());
}
