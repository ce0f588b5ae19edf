//! Property tests: random valid specs with random answers that satisfy every rule must be
//! accepted (and stored); one answer pushed just outside its bounds must be refused for
//! exactly that field.

use chrono::{NaiveDate, TimeDelta};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::form::{AnswerValue, Bound, Decimal, FieldSpec, FieldType, FormSpec};

/// A generated field with answers that satisfy it, and (when it has bounds) answers
/// just outside them.
#[derive(Debug, Clone)]
pub(super) struct Case {
    field: FieldSpec,
    valid: Vec<String>,
    invalid: Option<Vec<String>>,
}

fn field(kind: FieldType, required: bool) -> FieldSpec {
    FieldSpec {
        name: String::new(),
        label: "Question".to_string(),
        help: None,
        kind,
        required,
        min: None,
        max: None,
        max_length: None,
        pattern: None,
        options: Vec::new(),
    }
}

/// A value in `lo..=hi` picked by `pick`, computed without overflow.
fn between(lo: i64, hi: i64, pick: u64) -> i64 {
    let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
    let offset = u128::from(pick) % span;
    i64::try_from(i128::from(lo) + offset as i128).expect("in range")
}

/// The bounds as (min, max, valid value, value just outside a bound).
fn bounded(
    lo: i64,
    hi: i64,
    has_min: bool,
    has_max: bool,
    pick: u64,
) -> (Option<i64>, Option<i64>, i64, Option<i64>) {
    let value = between(lo, hi, pick);
    let outside = if has_max {
        hi.checked_add(1)
    } else if has_min {
        lo.checked_sub(1)
    } else {
        None
    };
    (has_min.then_some(lo), has_max.then_some(hi), value, outside)
}

fn integer_case() -> impl Strategy<Value = Case> {
    let wide = (any::<i64>(), any::<i64>());
    let narrow = (-1000i64..1000, -1000i64..1000);
    (
        prop_oneof![wide, narrow],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|((a, b), has_min, has_max, required, pick)| {
            let (min, max, value, outside) = bounded(a.min(b), a.max(b), has_min, has_max, pick);
            let mut f = field(FieldType::Integer, required);
            f.min = min.map(Bound::Integer);
            f.max = max.map(Bound::Integer);
            Case {
                field: f,
                valid: vec![value.to_string()],
                invalid: outside.map(|n| vec![n.to_string()]),
            }
        })
}

/// `m` ten-thousandths as decimal text, with all four fraction digits.
fn units(m: i64) -> String {
    let sign = if m < 0 { "-" } else { "" };
    let a = m.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

fn decimal_case() -> impl Strategy<Value = Case> {
    let range = -10i64.pow(13)..10i64.pow(13);
    (
        range.clone(),
        range,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(a, b, has_min, has_max, required, pick)| {
            let (min, max, value, outside) = bounded(a.min(b), a.max(b), has_min, has_max, pick);
            let bound = |m: i64| Bound::Decimal(units(m).parse::<Decimal>().expect("decimal"));
            let mut f = field(FieldType::Decimal, required);
            f.min = min.map(bound);
            f.max = max.map(bound);
            Case {
                field: f,
                valid: vec![units(value)],
                invalid: outside.map(|m| vec![units(m)]),
            }
        })
}

fn date_case() -> impl Strategy<Value = Case> {
    (
        0i64..40_000,
        0i64..40_000,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(a, b, has_min, has_max, required, pick)| {
            let (min, max, value, outside) = bounded(a.min(b), a.max(b), has_min, has_max, pick);
            let base = NaiveDate::from_ymd_opt(1950, 1, 1).expect("date");
            let day = |n: i64| {
                base.checked_add_signed(TimeDelta::days(n))
                    .expect("date in range")
            };
            let mut f = field(FieldType::Date, required);
            f.min = min.map(|n| Bound::Date(day(n)));
            f.max = max.map(|n| Bound::Date(day(n)));
            let iso = |n: i64| day(n).format("%Y-%m-%d").to_string();
            Case {
                field: f,
                valid: vec![iso(value)],
                invalid: outside.map(|n| vec![iso(n)]),
            }
        })
}

/// Patterns with a generator of strings that match them.
const PATTERNS: [&str; 3] = ["[A-Z]{2}[0-9]{3}", "[a-z]+(-[a-z]+)*", "(yes|no|maybe)"];

fn text_case() -> impl Strategy<Value = Case> {
    let plain = "[a-zA-Z0-9äöüßé]([a-zA-Z0-9äöüßé ,.'<>&\"]{0,30}[a-zA-Z0-9äöüßé])?";
    let patterned = (0..PATTERNS.len()).prop_flat_map(|i| {
        proptest::string::string_regex(PATTERNS[i])
            .expect("regex")
            .prop_map(move |s| (Some(PATTERNS[i].to_string()), s))
    });
    let text = prop_oneof![
        proptest::string::string_regex(plain)
            .expect("regex")
            .prop_map(|s| (None, s)),
        patterned,
    ];
    (
        text,
        proptest::option::of(1u32..40),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|((pattern, value), max_length, required, long)| {
            let kind = if long && pattern.is_none() {
                FieldType::LongText
            } else {
                FieldType::Text
            };
            let mut f = field(kind, required);
            let len = value.chars().count() as u32;
            // The limit sits at or above the answer's length.
            f.max_length = max_length.map(|n| n.max(len));
            f.pattern = pattern;
            let invalid = f.max_length.map(|n| {
                let mut too_long = value.clone();
                while too_long.chars().count() <= n as usize {
                    too_long.push_str("Z1");
                }
                vec![too_long]
            });
            // A too-long answer that breaks the pattern too is still this field's error.
            Case {
                field: f,
                valid: vec![if kind == FieldType::LongText {
                    value.replacen(' ', "\r\n", 1)
                } else {
                    value
                }],
                invalid,
            }
        })
}

fn yes_no_case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["yes", "no", "YES", "True", "false", "on", "Off"]),
        any::<bool>(),
    )
        .prop_map(|(value, required)| Case {
            field: field(FieldType::YesNo, required),
            valid: vec![format!(" {value} ")],
            invalid: None,
        })
}

fn options(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("Option {i} <&>")).collect()
}

fn single_choice_case() -> impl Strategy<Value = Case> {
    (1usize..6, any::<Index>(), any::<bool>()).prop_map(|(n, pick, required)| {
        let mut f = field(FieldType::SingleChoice, required);
        f.options = options(n);
        Case {
            valid: vec![f.options[pick.index(n)].clone()],
            field: f,
            invalid: None,
        }
    })
}

fn multiple_choice_case() -> impl Strategy<Value = Case> {
    (1usize..7)
        .prop_flat_map(|n| {
            (
                Just(n),
                proptest::option::of(0..=n),
                proptest::option::of(1..=n),
                any::<bool>(),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                any::<Index>(),
            )
        })
        .prop_map(|(n, min, max, required, order, pick)| {
            let (min, max) = match (min, max) {
                (Some(lo), Some(hi)) if lo > hi => (Some(hi), Some(lo)),
                other => other,
            };
            let mut f = field(FieldType::MultipleChoice, required);
            f.options = options(n);
            f.min = min.map(|v| Bound::Integer(v as i64));
            f.max = max.map(|v| Bound::Integer(v as i64));
            let lo = min.unwrap_or(1).max(1);
            let hi = max.unwrap_or(n);
            let count = lo + pick.index(hi - lo + 1);
            let choose = |k: usize| -> Vec<String> {
                order[..k].iter().map(|&i| f.options[i].clone()).collect()
            };
            let invalid = if hi < n {
                Some(choose(hi + 1))
            } else if lo > 1 {
                Some(choose(lo - 1))
            } else {
                None
            };
            Case {
                valid: choose(count),
                invalid,
                field: f,
            }
        })
}

fn email_case() -> impl Strategy<Value = Case> {
    let email = "[a-z0-9]([a-z0-9_+-]{0,8}[a-z0-9])?(\\.[a-z0-9]{1,5})?@[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\\.[a-z]{2,6}";
    (
        proptest::string::string_regex(email).expect("regex"),
        any::<bool>(),
    )
        .prop_map(|(value, required)| Case {
            field: field(FieldType::Email, required),
            valid: vec![value],
            invalid: None,
        })
}

fn phone_case() -> impl Strategy<Value = Case> {
    let phone = "\\+?[0-9]{2}( ?[0-9]{2}){3,6}";
    (
        proptest::string::string_regex(phone).expect("regex"),
        any::<bool>(),
    )
        .prop_map(|(value, required)| Case {
            field: field(FieldType::Phone, required),
            valid: vec![value],
            invalid: None,
        })
}

fn any_case() -> impl Strategy<Value = Case> {
    prop_oneof![
        integer_case(),
        decimal_case(),
        date_case(),
        text_case(),
        yes_no_case(),
        single_choice_case(),
        multiple_choice_case(),
        email_case(),
        phone_case(),
    ]
}

/// A valid spec of random fields, each with its satisfying and (maybe) violating answers,
/// and for each optional field whether to leave it unanswered.
pub(super) fn spec_and_cases() -> impl Strategy<Value = (FormSpec, Vec<Case>)> {
    prop::collection::vec((any_case(), "[a-z0-9_]{0,12}", any::<bool>()), 1..12).prop_map(
        |generated| {
            let cases: Vec<Case> = generated
                .into_iter()
                .enumerate()
                .map(|(i, (mut case, suffix, skip))| {
                    // `q<i>_...`: unique, and never a reserved word or prefix.
                    case.field.name = format!("q{i}_{suffix}");
                    if skip && !case.field.required {
                        case.valid.clear();
                    }
                    case
                })
                .collect();
            let spec = FormSpec {
                name: "generated".to_string(),
                title: "Generated <form>".to_string(),
                description: None,
                submit_label: None,
                fields: cases.iter().map(|c| c.field.clone()).collect(),
            };
            (spec, cases)
        },
    )
}

pub(super) fn raw(cases: &[Case], replace: Option<(usize, &[String])>) -> Vec<(String, String)> {
    cases
        .iter()
        .enumerate()
        .flat_map(|(i, case)| {
            let values = match replace {
                Some((j, values)) if j == i => values,
                _ => case.valid.as_slice(),
            };
            values
                .iter()
                .map(move |v| (case.field.name.clone(), v.clone()))
        })
        .collect()
}

fn kind_matches(kind: FieldType, value: &AnswerValue) -> bool {
    use FieldType as T;
    matches!(
        (kind, value),
        (
            T::Text | T::LongText | T::Email | T::Phone,
            AnswerValue::Text(_)
        ) | (T::Integer, AnswerValue::Integer(_))
            | (T::Decimal, AnswerValue::Decimal(_))
            | (T::Date, AnswerValue::Date(_))
            | (T::YesNo, AnswerValue::Bool(_))
            | (T::SingleChoice, AnswerValue::Choice(_))
            | (T::MultipleChoice, AnswerValue::Choices(_))
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn satisfying_answers_are_accepted((spec, cases) in spec_and_cases()) {
        prop_assert!(spec.validate().is_ok(), "{:?}", spec.validate());
        let json = spec.to_json().expect("json");
        prop_assert_eq!(&FormSpec::from_json_str(&json).expect("round trip"), &spec);
        let answers = spec.check_submission(&raw(&cases, None));
        prop_assert!(answers.is_ok(), "{:?}", answers);
        let answers = answers.expect("checked above");
        prop_assert_eq!(answers.len(), cases.len());
        for (case, (name, value)) in cases.iter().zip(answers.iter()) {
            prop_assert_eq!(name, case.field.name.as_str());
            if case.valid.is_empty() {
                prop_assert_eq!(value, &AnswerValue::Null);
            } else {
                prop_assert!(kind_matches(case.field.kind, value), "{:?} for {:?}", value, case.field.kind);
            }
        }
    }

    #[test]
    fn an_answer_outside_its_bounds_fails_that_field_only(
        (spec, cases) in spec_and_cases(),
        pick in any::<Index>(),
    ) {
        let bounded: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].invalid.is_some()).collect();
        prop_assume!(!bounded.is_empty());
        let target = bounded[pick.index(bounded.len())];
        let invalid = cases[target].invalid.clone().expect("has invalid");
        let result = spec.check_submission(&raw(&cases, Some((target, &invalid))));
        let errors = match result {
            Ok(answers) => return Err(TestCaseError::fail(format!("accepted {answers:?}"))),
            Err(errors) => errors,
        };
        prop_assert!(errors.form.is_empty(), "{:?}", errors);
        prop_assert_eq!(errors.fields.len(), 1, "{:?}", errors);
        prop_assert_eq!(&errors.fields[0].field, &cases[target].field.name);
    }
}
