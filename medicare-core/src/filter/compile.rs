//! Compilation of a filter to a parameterised SQL predicate over `patients p`.
//!
//! Every value from the filter is bound as a [`SqlValue`]; the SQL text holds only
//! column names, operators, placeholders and the constants `1 = 1` / `1 = 0`. Every
//! compound is parenthesised, so the text keeps the filter's precedence in any dialect.
//! Every column a predicate reads is `NOT NULL` except `phone` and `email`, which are
//! only tested with `IS [NOT] NULL`, so SQL's three-valued logic never makes the result
//! differ from in-memory evaluation.

use super::age::{at_least, AgeBound};
use super::ast::{CmpOp, Expr, Flag, Predicate, Test};
use crate::sql::{Dialect, SqlFragment, SqlValue};
use chrono::NaiveDate;

/// SQL that is true for every row.
const TRUE: &str = "1 = 1";
/// SQL that is false for every row.
const FALSE: &str = "1 = 0";

/// The SQL predicate for `expr`, with placeholders numbered from 1.
pub(crate) fn compile(expr: &Expr, dialect: Dialect, today: NaiveDate) -> SqlFragment {
    let mut w = Writer {
        dialect,
        today,
        params: Vec::new(),
    };
    let sql = w.expr(expr);
    SqlFragment {
        sql,
        params: w.params,
    }
}

struct Writer {
    dialect: Dialect,
    today: NaiveDate,
    params: Vec<SqlValue>,
}

impl Writer {
    /// Binds `value` and returns its placeholder.
    fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        self.dialect.placeholder(self.params.len())
    }

    /// `(p1, p2, ...)` binding each value.
    fn bind_list<T>(&mut self, values: &[T], to_sql: impl Fn(&T) -> SqlValue) -> String {
        let placeholders: Vec<String> = values.iter().map(|v| self.bind(to_sql(v))).collect();
        format!("({})", placeholders.join(", "))
    }

    fn expr(&mut self, expr: &Expr) -> String {
        match expr {
            Expr::All => TRUE.to_string(),
            Expr::Not(inner) => format!("NOT ({})", self.expr(inner)),
            Expr::And(items) => self.join(items, " AND "),
            Expr::Or(items) => self.join(items, " OR "),
            Expr::Pred(p) => self.predicate(p),
        }
    }

    fn join(&mut self, items: &[Expr], joiner: &str) -> String {
        let parts: Vec<String> = items.iter().map(|e| self.expr(e)).collect();
        format!("({})", parts.join(joiner))
    }

    fn predicate(&mut self, p: &Predicate) -> String {
        match p {
            Predicate::Age(t) => self.age(t),
            Predicate::Dob(t) => self.column("p.date_of_birth", t, |d| SqlValue::Date(*d)),
            Predicate::Sex(t) => {
                self.column("p.sex", t, |s| SqlValue::Text(s.as_str().to_string()))
            }
            Predicate::Postcode(t) => self.column("p.postcode", t, |pc| {
                SqlValue::Text(pc.as_str().to_string())
            }),
            Predicate::PostcodePrefix(prefix) => {
                // The prefix is ASCII, so its length in bytes is its length in characters.
                let len = self.bind(SqlValue::Int(prefix.len() as i64));
                let len = match self.dialect {
                    // PostgreSQL binds an i64 as bigint, and substr wants integer.
                    Dialect::Postgres => format!("CAST({len} AS INTEGER)"),
                    Dialect::Sqlite | Dialect::Mysql => len,
                };
                let value = self.bind(SqlValue::Text(prefix.clone()));
                format!("substr(p.postcode, 1, {len}) = {value}")
            }
            Predicate::Condition(t) => self.condition(t),
            Predicate::ExternalId(t) => {
                self.column("p.external_id", t, |s| SqlValue::Text(s.clone()))
            }
            Predicate::Flag(Flag::HasPhone, has) => presence("p.phone", *has),
            Predicate::Flag(Flag::HasEmail, has) => presence("p.email", *has),
            Predicate::Flag(flag, value) => {
                let column = if *flag == Flag::SmsOptOut {
                    "p.sms_opt_out"
                } else {
                    "p.email_opt_out"
                };
                format!("{column} = {}", self.bind(SqlValue::Bool(*value)))
            }
        }
    }

    /// A `NOT NULL` column against a comparison or list.
    fn column<T>(
        &mut self,
        column: &str,
        test: &Test<T>,
        to_sql: impl Fn(&T) -> SqlValue,
    ) -> String {
        match test {
            Test::Cmp(op, v) => format!("{column} {} {}", op.sql(), self.bind(to_sql(v))),
            Test::In(values) => format!("{column} IN {}", self.bind_list(values, to_sql)),
            Test::NotIn(values) => format!("{column} NOT IN {}", self.bind_list(values, to_sql)),
        }
    }

    /// `EXISTS` / `NOT EXISTS` over the patient's condition rows.
    fn condition(&mut self, test: &Test<crate::patient::ConditionCode>) -> String {
        let code = |c: &crate::patient::ConditionCode| SqlValue::Text(c.as_str().to_string());
        let (negated, matcher) = match test {
            Test::Cmp(op, c) => (*op != CmpOp::Eq, format!("= {}", self.bind(code(c)))),
            Test::In(codes) => (false, format!("IN {}", self.bind_list(codes, code))),
            Test::NotIn(codes) => (true, format!("IN {}", self.bind_list(codes, code))),
        };
        format!(
            "{}EXISTS (SELECT 1 FROM patient_conditions c WHERE c.patient_id = p.id AND c.code {matcher})",
            if negated { "NOT " } else { "" }
        )
    }

    /// An age test as date-of-birth comparisons (see [`super::age`]).
    fn age(&mut self, test: &Test<i64>) -> String {
        match test {
            Test::Cmp(CmpOp::Ne, n) => format!("NOT ({})", self.age_range(*n, Some(*n))),
            Test::Cmp(op, n) => {
                let (low, high) = match op {
                    CmpOp::Lt => (i64::MIN, Some(n.saturating_sub(1))),
                    CmpOp::Le => (i64::MIN, Some(*n)),
                    CmpOp::Gt => (n.saturating_add(1), None),
                    CmpOp::Ge => (*n, None),
                    CmpOp::Eq | CmpOp::Ne => (*n, Some(*n)),
                };
                self.age_range(low, high)
            }
            Test::In(values) => self.age_any(values),
            Test::NotIn(values) => format!("NOT ({})", self.age_any(values)),
        }
    }

    /// Filter age equal to any of `values`.
    fn age_any(&mut self, values: &[i64]) -> String {
        let parts: Vec<String> = values
            .iter()
            .map(|n| self.age_range(*n, Some(*n)))
            .collect();
        format!("({})", parts.join(" OR "))
    }

    /// Filter age in `low..=high` (`None`: unbounded above).
    fn age_range(&mut self, low: i64, high: Option<i64>) -> String {
        let lower = at_least(self.today, low);
        // At most `high` years old: not at least `high + 1`.
        let upper = high.map(|h| at_least(self.today, h.saturating_add(1)));
        if high.is_some_and(|h| h < low)
            || lower == AgeBound::Never
            || upper == Some(AgeBound::Always)
        {
            return FALSE.to_string();
        }
        let mut parts = Vec::new();
        if let AgeBound::BornOnOrBefore(d) = lower {
            parts.push(format!(
                "p.date_of_birth <= {}",
                self.bind(SqlValue::Date(d))
            ));
        }
        if let Some(AgeBound::BornOnOrBefore(d)) = upper {
            parts.push(format!(
                "p.date_of_birth > {}",
                self.bind(SqlValue::Date(d))
            ));
        }
        match parts.len() {
            0 => TRUE.to_string(),
            1 => parts.remove(0),
            _ => format!("({})", parts.join(" AND ")),
        }
    }
}

/// `column IS NOT NULL` when `present`, else `column IS NULL`.
fn presence(column: &str, present: bool) -> String {
    if present {
        format!("{column} IS NOT NULL")
    } else {
        format!("{column} IS NULL")
    }
}
