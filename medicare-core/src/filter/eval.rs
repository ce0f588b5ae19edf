//! In-memory evaluation of a filter against one [`Patient`].

use super::age::filter_age;
use super::ast::{Expr, Flag, Predicate, Test};
use crate::patient::Patient;
use chrono::NaiveDate;

/// True when `patient` satisfies `expr` on `today`.
pub(crate) fn matches(expr: &Expr, patient: &Patient, today: NaiveDate) -> bool {
    match expr {
        Expr::All => true,
        Expr::Not(inner) => !matches(inner, patient, today),
        Expr::And(items) => items.iter().all(|e| matches(e, patient, today)),
        Expr::Or(items) => items.iter().any(|e| matches(e, patient, today)),
        Expr::Pred(p) => predicate(p, patient, today),
    }
}

fn predicate(p: &Predicate, patient: &Patient, today: NaiveDate) -> bool {
    match p {
        Predicate::Age(t) => test(t, &filter_age(patient, today)),
        Predicate::Dob(t) => test(t, &patient.date_of_birth),
        Predicate::Sex(t) => test(t, &patient.sex),
        Predicate::Postcode(t) => test(t, &patient.postcode),
        Predicate::PostcodePrefix(prefix) => patient.postcode.as_str().starts_with(prefix.as_str()),
        Predicate::Condition(t) => match t {
            Test::Cmp(op, code) => {
                // `=` has the code, `!=` lacks it (the parser allows no other operator).
                patient.conditions.contains(code) == (*op == super::ast::CmpOp::Eq)
            }
            Test::In(codes) => codes.iter().any(|c| patient.conditions.contains(c)),
            Test::NotIn(codes) => !codes.iter().any(|c| patient.conditions.contains(c)),
        },
        Predicate::ExternalId(t) => test(t, &patient.external_id),
        Predicate::Flag(flag, value) => {
            let actual = match flag {
                Flag::SmsOptOut => patient.sms_opt_out,
                Flag::EmailOptOut => patient.email_opt_out,
                Flag::HasPhone => patient.phone.is_some(),
                Flag::HasEmail => patient.email.is_some(),
            };
            actual == *value
        }
    }
}

/// `actual` against a comparison or list.
fn test<T: Ord>(t: &Test<T>, actual: &T) -> bool {
    match t {
        Test::Cmp(op, value) => op.holds(actual, value),
        Test::In(values) => values.contains(actual),
        Test::NotIn(values) => !values.contains(actual),
    }
}
