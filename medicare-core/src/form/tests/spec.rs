use chrono::NaiveDate;

use super::{one_field, spec, spec_error};
use crate::form::{Bound, Decimal, FieldType, FormSpec};

const CHECKUP: &str = r#"
name = "checkup_2026"
title = "Annual check-up"
description = "A few questions before your visit.\n\nIt takes two minutes."
submit_label = "Send my answers"

[[fields]]
name = "full_name"
label = "Your name"
type = "text"
required = true
max_length = 80

[[fields]]
name = "age"
label = "Age"
type = "integer"
min = 0
max = 130

[[fields]]
name = "weight_kg"
label = "Weight (kg)"
type = "decimal"
min = 0.5
max = 400

[[fields]]
name = "last_visit"
label = "Last visit"
type = "date"
min = "2000-01-01"
max = 2030-12-31

[[fields]]
name = "smoker"
label = "Do you smoke?"
type = "yes_no"
required = true

[[fields]]
name = "clinic"
label = "Clinic"
type = "single_choice"
options = ["North", "South"]

[[fields]]
name = "symptoms"
label = "Symptoms"
help = "Tick all that apply."
type = "multiple_choice"
options = ["Cough", "Fever", "Headache"]
max = 2

[[fields]]
name = "email"
label = "Email"
type = "email"

[[fields]]
name = "phone"
label = "Phone"
type = "phone"
pattern = '\+?[0-9 ]+'

[[fields]]
name = "notes"
label = "Anything else?"
type = "long_text"
"#;

pub(super) fn checkup() -> FormSpec {
    spec(CHECKUP)
}

#[test]
fn parses_toml() {
    let s = checkup();
    assert_eq!(s.name, "checkup_2026");
    assert_eq!(s.fields.len(), 10);
    assert_eq!(s.submit_label.as_deref(), Some("Send my answers"));
    let kinds: Vec<FieldType> = s.fields.iter().map(|f| f.kind).collect();
    use FieldType as T;
    assert_eq!(
        kinds,
        [
            T::Text,
            T::Integer,
            T::Decimal,
            T::Date,
            T::YesNo,
            T::SingleChoice,
            T::MultipleChoice,
            T::Email,
            T::Phone,
            T::LongText
        ]
    );
    assert!(s.fields[0].required);
    assert!(!s.fields[1].required);
    assert_eq!(s.fields[1].min, Some(Bound::Integer(0)));
    assert_eq!(
        s.fields[2].min,
        Some(Bound::Decimal("0.5".parse::<Decimal>().expect("decimal")))
    );
    assert_eq!(s.fields[2].max, Some(Bound::Integer(400)));
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
    assert_eq!(s.fields[3].min, Some(Bound::Date(date(2000, 1, 1))));
    // A native TOML date works as well as a string.
    assert_eq!(s.fields[3].max, Some(Bound::Date(date(2030, 12, 31))));
    assert_eq!(s.field("symptoms").map(|f| f.options.len()), Some(3));
    assert!(s.field("nope").is_none());
}

#[test]
fn json_round_trip() {
    let s = checkup();
    let json = s.to_json().expect("json");
    let back = FormSpec::from_json_str(&json).expect("valid json");
    assert_eq!(back, s);
    // serde's own entry point validates as well.
    let via_serde: FormSpec = serde_json::from_str(&json).expect("valid json");
    assert_eq!(via_serde, s);
    // Optional things left out are not written.
    assert!(!json.contains("null"));
    assert!(json.contains(r#""type":"multiple_choice""#));
}

#[test]
fn decimal_bounds_survive_json_exactly() {
    let s = one_field("type = \"decimal\"\nmin = \"0.1234567890\"\nmax = \"12345678.0000000001\"");
    let json = s.to_json().expect("json");
    let back = FormSpec::from_json_str(&json).expect("valid");
    assert_eq!(back, s);
    assert_eq!(
        back.fields[0]
            .max
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("12345678.0000000001")
    );
}

#[test]
fn parses_json() {
    let s = FormSpec::from_json_str(
        r#"{"name":"flu","title":"Flu","fields":[
            {"name":"dose","label":"Dose","type":"decimal","min":0,"max":2.5,"required":true}
        ]}"#,
    )
    .expect("valid");
    assert_eq!(s.fields[0].kind, FieldType::Decimal);
    assert_eq!(
        s.fields[0].max.as_ref().map(ToString::to_string).as_deref(),
        Some("2.5")
    );
}

#[test]
fn unknown_type_names_the_field_and_the_valid_types() {
    let e = spec_error(
        "name = \"f\"\ntitle = \"T\"\n[[fields]]\nname = \"a\"\nlabel = \"A\"\ntype = \"text\"\n\
         [[fields]]\nname = \"bmi\"\nlabel = \"BMI\"\ntype = \"float\"\n",
    );
    assert!(e.starts_with(r#"form spec field 2 ("bmi")"#), "{e}");
    assert!(e.contains(r#"unknown type "float""#), "{e}");
    for t in FieldType::ALL {
        assert!(e.contains(t.as_str()), "{e}");
    }
}

#[test]
fn unknown_keys_are_rejected() {
    let e = spec_error("name = \"f\"\ntitle = \"T\"\ncolour = \"red\"\n[[fields]]\nname = \"a\"\nlabel = \"A\"\ntype = \"text\"\n");
    assert!(e.contains("colour"), "{e}");
    let e = spec_error("name = \"f\"\ntitle = \"T\"\n[[fields]]\nname = \"a\"\nlabel = \"A\"\ntype = \"text\"\nrequried = true\n");
    assert!(e.starts_with(r#"form spec field 1 ("a")"#), "{e}");
    assert!(e.contains("requried"), "{e}");
    let e = FormSpec::from_json_str(r#"{"name":"f","title":"T","fields":[],"extra":1}"#)
        .expect_err("unknown key");
    assert!(e.to_string().contains("extra"), "{e}");
}

#[test]
fn syntax_errors_are_reported() {
    assert!(FormSpec::from_toml_str("name = ").is_err());
    assert!(FormSpec::from_json_str("{").is_err());
    assert!(FormSpec::from_json_str("[]").is_err());
    assert!(FormSpec::from_toml_str("name = \"f\"\ntitle = \"T\"\n").is_err());
}

fn field_named(name: &str) -> String {
    format!(
        "name = \"f\"\ntitle = \"T\"\n[[fields]]\nname = \"ok\"\nlabel = \"A\"\ntype = \"text\"\n\
         [[fields]]\nname = \"b\"\nlabel = \"B\"\ntype = \"text\"\n\
         [[fields]]\nname = {name}\nlabel = \"C\"\ntype = \"text\"\n"
    )
}

#[test]
fn hostile_field_names_are_rejected_and_escaped() {
    let e = spec_error(&field_named("\"x; drop table patients\""));
    assert!(
        e.starts_with(r#"form spec field 3 ("x; drop table patients"): name "#),
        "{e}"
    );
    let e = spec_error(&field_named(r#"'a"b\nc'"#));
    assert!(e.starts_with(r#"form spec field 3 ("a\"b\\nc")"#), "{e}");
    let e = spec_error(&field_named("\"a\\nb\\u0000\""));
    assert!(e.starts_with(r#"form spec field 3 ("a\nb\0")"#), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let long = format!("\"{}\"", "y".repeat(300));
    let e = spec_error(&field_named(&long));
    assert!(e.len() < 200, "{e}");
    assert!(e.contains('…'), "{e}");
    for bad in [
        "\"\\\"quoted\\\"\"",
        "\"Name\"",
        "\"ümlaut\"",
        "\"select\"",
        "\"id\"",
        "\"submitted_at\"",
        "\"sqlite_x\"",
        "\"pg_x\"",
        &format!("\"{}\"", "a".repeat(64)),
        "\"\"",
    ] {
        spec_error(&field_named(bad));
    }
    spec(&field_named(&format!("\"{}\"", "a".repeat(63))));
    spec(&field_named("\"order_total\""));
}

#[test]
fn form_level_rules() {
    let base = "[[fields]]\nname = \"a\"\nlabel = \"A\"\ntype = \"text\"\n";
    let e = spec_error(&format!("name = \"Form\"\ntitle = \"T\"\n{base}"));
    assert!(e.starts_with("form spec: name \"Form\""), "{e}");
    let e = spec_error(&format!("name = \"f\"\ntitle = \"  \"\n{base}"));
    assert!(e.contains("title must not be empty"), "{e}");
    let e = spec_error(&format!(
        "name = \"f\"\ntitle = \"{}\"\n{base}",
        "t".repeat(201)
    ));
    assert!(e.contains("title must be at most 200"), "{e}");
    spec(&format!(
        "name = \"f\"\ntitle = \"{}\"\n{base}",
        "t".repeat(200)
    ));
    let e = spec_error(&format!(
        "name = \"f\"\ntitle = \"T\"\nsubmit_label = \"\"\n{base}"
    ));
    assert!(e.contains("submit_label"), "{e}");
    let e = spec_error(&format!(
        "name = \"f\"\ntitle = \"T\"\n{}",
        base.replace("\"A\"", "\" \"")
    ));
    assert!(
        e.contains(r#"field 1 ("a"): label must not be empty"#),
        "{e}"
    );
    let e = spec_error(&format!(
        "name = \"f\"\ntitle = \"T\"\n{}",
        base.replace("\"A\"", "\"A\\nB\"")
    ));
    assert!(
        e.contains("label must not contain control characters"),
        "{e}"
    );
    let e = spec_error("name = \"f\"\ntitle = \"T\"\nfields = []\n");
    assert!(e.contains("1 to 100 fields"), "{e}");
    let many: String = (0..101)
        .map(|i| format!("[[fields]]\nname = \"f{i}\"\nlabel = \"L\"\ntype = \"text\"\n"))
        .collect();
    let e = spec_error(&format!("name = \"f\"\ntitle = \"T\"\n{many}"));
    assert!(e.contains("this one has 101"), "{e}");
    let e = spec_error(&format!("name = \"f\"\ntitle = \"T\"\n{base}{base}"));
    assert!(
        e.starts_with(r#"form spec field 2 ("a"): the name is already used by field 1"#),
        "{e}"
    );
}

#[test]
fn field_level_rules() {
    let cases: &[(&str, &str)] = &[
        ("type = \"text\"\noptions = [\"a\"]", "options apply only"),
        ("type = \"yes_no\"\noptions = [\"a\"]", "options apply only"),
        ("type = \"single_choice\"", "needs 1 to 100 options"),
        (
            "type = \"single_choice\"\noptions = [\"a\", \"a\"]",
            "option 2 repeats option 1",
        ),
        (
            "type = \"single_choice\"\noptions = [\"\"]",
            "option 1 must not be empty",
        ),
        ("type = \"single_choice\"\noptions = [\" a\"]", "spaces"),
        (
            "type = \"integer\"\nmin = 5\nmax = 4",
            "min is greater than max",
        ),
        (
            "type = \"decimal\"\nmin = 5.5\nmax = 5.25",
            "min is greater than max",
        ),
        (
            "type = \"date\"\nmin = \"2020-01-02\"\nmax = \"2020-01-01\"",
            "min is greater than max",
        ),
        ("type = \"integer\"\nmin = 1.5", "must be a whole number"),
        (
            "type = \"integer\"\nmin = \"2020-01-01\"",
            "must be a whole number",
        ),
        ("type = \"date\"\nmin = 3", "must be a \"YYYY-MM-DD\" date"),
        (
            "type = \"date\"\nmin = \"2020-02-30\"",
            "expected a number or",
        ),
        (
            "type = \"date\"\nmin = \"tomorrow\"",
            "expected a number or",
        ),
        (
            "type = \"decimal\"\nmin = \"2020-01-01\"",
            "must be a number",
        ),
        ("type = \"text\"\nmin = 1", "min and max apply only"),
        ("type = \"yes_no\"\nmax = 1", "min and max apply only"),
        (
            "type = \"text\"\nmax_length = 0",
            "max_length must be between 1 and 10000",
        ),
        (
            "type = \"text\"\nmax_length = 10001",
            "max_length must be between",
        ),
        (
            "type = \"integer\"\nmax_length = 5",
            "max_length applies only",
        ),
        ("type = \"date\"\npattern = \"x\"", "pattern applies only"),
        (
            "type = \"text\"\npattern = \"(\"",
            "not a valid regular expression",
        ),
        (
            "type = \"text\"\npattern = \"a)|(b\"",
            "not a valid regular expression",
        ),
        (
            "type = \"text\"\npattern = \"\\\\w{1000}{1000}\"",
            "pattern",
        ),
        (
            "type = \"multiple_choice\"\noptions = [\"a\", \"b\"]\nmin = 3",
            "more than the number of options",
        ),
        (
            "type = \"multiple_choice\"\noptions = [\"a\", \"b\"]\nmin = -1",
            "negative",
        ),
        (
            "type = \"multiple_choice\"\noptions = [\"a\", \"b\"]\nmax = 0",
            "max must be at least 1",
        ),
        ("type = \"decimal\"\nmax = 1e300", "finite"),
        ("type = \"decimal\"\nmax = 0.00000000001", "finite"),
        ("type = \"text\"\nhelp = \"\"", "help must not be empty"),
    ];
    for (body, expected) in cases {
        let e = spec_error(&format!(
            "name = \"f\"\ntitle = \"T\"\n[[fields]]\nname = \"x\"\nlabel = \"X\"\n{body}\n"
        ));
        assert!(
            e.contains(expected),
            "{body:?} gave {e:?}, expected {expected:?}"
        );
        assert!(e.starts_with(r#"form spec field 1 ("x")"#), "{e}");
    }
}

#[test]
fn duplicate_keys_are_syntax_errors() {
    // A duplicate TOML key is a syntax error, not a silent override.
    assert!(FormSpec::from_toml_str(
        "name = \"f\"\ntitle = \"T\"\n[[fields]]\nname = \"x\"\nlabel = \"X\"\nlabel = \"Y\"\ntype = \"text\"\n"
    )
    .is_err());
}

#[test]
fn accepted_field_shapes() {
    one_field("type = \"multiple_choice\"\noptions = [\"a\", \"b\"]\nmin = 0\nmax = 5");
    one_field("type = \"decimal\"\nmin = -3\nmax = \"-1.5\"");
    one_field("type = \"email\"\nmax_length = 100\npattern = '.+@clinic\\.example'");
    one_field("type = \"long_text\"\nmax_length = 10000");
    one_field("type = \"integer\"\nmin = -9223372036854775808\nmax = 9223372036854775807");
}

#[test]
fn from_path_picks_the_format_by_extension() {
    let dir = std::env::temp_dir().join(format!("form-spec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let toml = dir.join("checkup.toml");
    std::fs::write(&toml, CHECKUP).expect("write");
    let from_toml = FormSpec::from_path(&toml).expect("toml file");
    let json = dir.join("checkup.JSON");
    std::fs::write(&json, from_toml.to_json().expect("json")).expect("write");
    assert_eq!(FormSpec::from_path(&json).expect("json file"), from_toml);
    let txt = dir.join("checkup.txt");
    std::fs::write(&txt, CHECKUP).expect("write");
    assert!(FormSpec::from_path(&txt).is_err());
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "name = \"Bad\"\ntitle = \"T\"\nfields = []\n").expect("write");
    let e = FormSpec::from_path(&broken).expect_err("invalid");
    assert!(e.to_string().contains("broken.toml"), "{e}");
    let missing = FormSpec::from_path(&dir.join("missing.toml")).expect_err("missing");
    assert!(matches!(missing, crate::error::Error::Io { .. }));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
