//! The parsed form of a filter, and its canonical printer.
//!
//! Values in the tree are already validated and normalised (a [`Postcode`] is
//! normalised, a [`ConditionCode`] lower case, a postcode prefix upper case), so
//! evaluation and SQL compilation cannot fail. The canonical printer writes source that
//! parses back to the same tree.

use crate::patient::{ConditionCode, Postcode, Sex};
use chrono::NaiveDate;
use std::fmt::{self, Write as _};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written in a filter.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator as written in SQL.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            CmpOp::Ne => "<>",
            other => other.symbol(),
        }
    }

    /// `left <op> right`.
    pub(crate) fn holds<T: Ord + ?Sized>(self, left: &T, right: &T) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }
}

/// A boolean field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Flag {
    /// `sms_opt_out`
    SmsOptOut,
    /// `email_opt_out`
    EmailOptOut,
    /// `has_phone`
    HasPhone,
    /// `has_email`
    HasEmail,
}

/// A field a filter can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    /// `age`
    Age,
    /// `dob` / `date_of_birth`
    Dob,
    /// `sex`
    Sex,
    /// `postcode`
    Postcode,
    /// `condition`
    Condition,
    /// `external_id`
    ExternalId,
    /// A boolean field.
    Flag(Flag),
}

/// The field names an error message lists.
pub(crate) const KNOWN_FIELDS: &str = "age, dob, date_of_birth, sex, postcode, condition, \
     external_id, sms_opt_out, email_opt_out, has_phone, has_email";

impl Field {
    /// The field called `name` (any case).
    pub(crate) fn lookup(name: &str) -> Option<Field> {
        Some(match name.to_ascii_lowercase().as_str() {
            "age" => Field::Age,
            "dob" | "date_of_birth" => Field::Dob,
            "sex" => Field::Sex,
            "postcode" => Field::Postcode,
            "condition" => Field::Condition,
            "external_id" => Field::ExternalId,
            "sms_opt_out" => Field::Flag(Flag::SmsOptOut),
            "email_opt_out" => Field::Flag(Flag::EmailOptOut),
            "has_phone" => Field::Flag(Flag::HasPhone),
            "has_email" => Field::Flag(Flag::HasEmail),
            _ => return None,
        })
    }

    /// The canonical name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Age => "age",
            Field::Dob => "dob",
            Field::Sex => "sex",
            Field::Postcode => "postcode",
            Field::Condition => "condition",
            Field::ExternalId => "external_id",
            Field::Flag(Flag::SmsOptOut) => "sms_opt_out",
            Field::Flag(Flag::EmailOptOut) => "email_opt_out",
            Field::Flag(Flag::HasPhone) => "has_phone",
            Field::Flag(Flag::HasEmail) => "has_email",
        }
    }

    /// What values the field takes, for error messages.
    pub(crate) fn value_kind(self) -> &'static str {
        match self {
            Field::Age => "a whole number of years",
            Field::Dob => "a date in double quotes, \"YYYY-MM-DD\"",
            Field::Sex => "one of \"female\", \"male\", \"other\", \"unknown\"",
            Field::Postcode => "a postcode in double quotes",
            Field::Condition => "a condition code in double quotes",
            Field::ExternalId => "a string in double quotes",
            Field::Flag(_) => "true or false",
        }
    }

    /// The operators the field allows, as written, for error messages.
    pub(crate) fn allowed_ops(self) -> &'static str {
        match self {
            Field::Age => "=, !=, <, <=, >, >=, in, not in",
            Field::Dob => "=, !=, <, <=, >, >=",
            Field::Sex | Field::Condition | Field::ExternalId => "=, !=, in, not in",
            Field::Postcode => "=, !=, starts_with",
            Field::Flag(_) => "=, != (or the bare field name, meaning = true)",
        }
    }

    /// True when `op` may follow the field.
    pub(crate) fn allows(self, op: Op) -> bool {
        matches!(
            (self, op),
            (Field::Age, Op::Cmp(_) | Op::In | Op::NotIn)
                | (Field::Dob, Op::Cmp(_))
                | (
                    Field::Sex | Field::Condition | Field::ExternalId,
                    Op::In | Op::NotIn
                )
                | (
                    Field::Sex
                        | Field::Condition
                        | Field::ExternalId
                        | Field::Postcode
                        | Field::Flag(_),
                    Op::Cmp(CmpOp::Eq | CmpOp::Ne),
                )
                | (Field::Postcode, Op::StartsWith)
        )
    }
}

/// An operator after a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// A comparison.
    Cmp(CmpOp),
    /// `in (...)`
    In,
    /// `not in (...)`
    NotIn,
    /// `starts_with`
    StartsWith,
}

impl Op {
    /// The operator as written.
    pub(crate) fn text(self) -> &'static str {
        match self {
            Op::Cmp(op) => op.symbol(),
            Op::In => "in",
            Op::NotIn => "not in",
            Op::StartsWith => "starts_with",
        }
    }
}

/// A test of one field against a value or a list of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Test<T> {
    /// `field <op> value`
    Cmp(CmpOp, T),
    /// `field in (values)` (1 to 1000 values)
    In(Vec<T>),
    /// `field not in (values)` (1 to 1000 values)
    NotIn(Vec<T>),
}

/// One comparison of a patient field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Predicate {
    /// Age in completed years.
    Age(Test<i64>),
    /// Date of birth (comparisons only).
    Dob(Test<NaiveDate>),
    /// Sex (`=`, `!=`, lists).
    Sex(Test<Sex>),
    /// The full normalised postcode (`=`, `!=`).
    Postcode(Test<Postcode>),
    /// `postcode starts_with "PREFIX"`: upper case, `A-Z0-9` and at most one space, 1 to 8
    /// characters.
    PostcodePrefix(String),
    /// Has (`=`), lacks (`!=`), has any of (`in`), has none of (`not in`) the codes.
    Condition(Test<ConditionCode>),
    /// The provider's id (`=`, `!=`, lists).
    ExternalId(Test<String>),
    /// A boolean field equals the value.
    Flag(Flag, bool),
}

impl Predicate {
    /// How many conditions the predicate counts for towards
    /// [`MAX_CONDITIONS`](super::MAX_CONDITIONS): one, or one per value of an age list
    /// (each becomes its own date range in SQL).
    pub(crate) fn weight(&self) -> usize {
        match self {
            Predicate::Age(Test::In(values) | Test::NotIn(values)) => values.len(),
            _ => 1,
        }
    }
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// `all`: every patient.
    All,
    /// `not e`
    Not(Box<Expr>),
    /// `a and b and ...` (two or more operands).
    And(Vec<Expr>),
    /// `a or b or ...` (two or more operands).
    Or(Vec<Expr>),
    /// A field test.
    Pred(Predicate),
}

/// Writes an [`Expr`] as canonical filter source: lower-case keywords, single spaces,
/// parentheses only where precedence needs them. With `redact`, every string literal is
/// written as `"…"` (for `Debug` output that may reach a log).
pub(crate) struct Printer<'a> {
    /// The expression to print.
    pub(crate) expr: &'a Expr,
    /// Replace string literals with `"…"`.
    pub(crate) redact: bool,
}

impl fmt::Display for Printer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self.expr, self.redact)
    }
}

fn write_expr(f: &mut fmt::Formatter<'_>, expr: &Expr, redact: bool) -> fmt::Result {
    // Whether `child` needs parentheses as an operand of `parent`.
    fn grouped(child: &Expr, parent: &Expr) -> bool {
        matches!(
            (parent, child),
            (Expr::Or(_), Expr::Or(_)) | (Expr::And(_) | Expr::Not(_), Expr::Or(_) | Expr::And(_))
        )
    }
    let operand = |f: &mut fmt::Formatter<'_>, child: &Expr| {
        if grouped(child, expr) {
            f.write_char('(')?;
            write_expr(f, child, redact)?;
            f.write_char(')')
        } else {
            write_expr(f, child, redact)
        }
    };
    match expr {
        Expr::All => f.write_str("all"),
        Expr::Not(inner) => {
            f.write_str("not ")?;
            operand(f, inner)
        }
        Expr::And(items) | Expr::Or(items) => {
            let joiner = if matches!(expr, Expr::And(_)) {
                " and "
            } else {
                " or "
            };
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(joiner)?;
                }
                operand(f, item)?;
            }
            Ok(())
        }
        Expr::Pred(p) => write_predicate(f, p, redact),
    }
}

fn write_predicate(f: &mut fmt::Formatter<'_>, p: &Predicate, redact: bool) -> fmt::Result {
    let string = |f: &mut fmt::Formatter<'_>, s: &str| write_string(f, s, redact);
    match p {
        Predicate::Age(t) => write_test(f, "age", t, |f, n| write!(f, "{n}")),
        Predicate::Dob(t) => write_test(f, "dob", t, |f, d| {
            string(f, &d.format("%Y-%m-%d").to_string())
        }),
        Predicate::Sex(t) => write_test(f, "sex", t, |f, s| string(f, s.as_str())),
        Predicate::Postcode(t) => write_test(f, "postcode", t, |f, p| string(f, p.as_str())),
        Predicate::PostcodePrefix(prefix) => {
            f.write_str("postcode starts_with ")?;
            string(f, prefix)
        }
        Predicate::Condition(t) => write_test(f, "condition", t, |f, c| string(f, c.as_str())),
        Predicate::ExternalId(t) => write_test(f, "external_id", t, |f, s| string(f, s)),
        Predicate::Flag(flag, true) => f.write_str(Field::Flag(*flag).name()),
        Predicate::Flag(flag, false) => write!(f, "{} = false", Field::Flag(*flag).name()),
    }
}

fn write_test<T>(
    f: &mut fmt::Formatter<'_>,
    field: &str,
    test: &Test<T>,
    value: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    let (op, values) = match test {
        Test::Cmp(op, v) => {
            write!(f, "{field} {} ", op.symbol())?;
            return value(f, v);
        }
        Test::In(values) => ("in", values),
        Test::NotIn(values) => ("not in", values),
    };
    write!(f, "{field} {op} (")?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        value(f, v)?;
    }
    f.write_char(')')
}

/// Writes `s` as a string literal, escaping `"` and `\`.
fn write_string(f: &mut fmt::Formatter<'_>, s: &str, redact: bool) -> fmt::Result {
    if redact {
        return f.write_str("\"…\"");
    }
    f.write_char('"')?;
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}
