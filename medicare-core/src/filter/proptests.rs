//! Property tests: random filters against random patients. The canonical printer round
//! trips, and the SQL a filter compiles to selects exactly the patients in-memory
//! evaluation accepts, run on an in-memory SQLite built from the real migration.

use super::ast::{CmpOp, Expr, Flag, Predicate, Printer, Test};
use super::tests::d;
use super::*;
use crate::patient::{born_on_or_before_for_age, ConditionCode, Postcode, Sex};
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use proptest::sample::select;

/// The "today"s a case is evaluated on.
const TODAYS: [&str; 5] = [
    "2024-02-29",
    "2024-02-28",
    "2024-03-01",
    "2025-02-28",
    "2026-12-31",
];
const POSTCODES: [&str; 10] = [
    "SW1A 1AA", "SW1A 2AB", "SW1B 1AA", "SW19 3AB", "M1 1AE", "M11 2BB", "E1 6AN", "EC1A 1BB",
    "B1 1AA", "B11 1AA",
];
const PREFIXES: [&str; 14] = [
    "S", "SW", "SW1", "SW1A", "SW1A ", "SW1A 1", "SW1A 1AA", "M1", "M1 ", "M11", "E", "EC1A",
    "B1 1", "Z9",
];
/// Patients have conditions from the first five; `hf` nobody has.
const CONDITIONS: [&str; 6] = ["copd", "asthma", "diabetes", "chd", "ckd", "hf"];
const EXTERNAL_IDS: [&str; 8] = [
    "P0",
    "P1",
    "P7",
    "P42",
    "P199",
    "nobody",
    "x' or '1'='1",
    "quote \" back \\ slash",
];

fn today_strategy() -> impl Strategy<Value = NaiveDate> {
    select(TODAYS.to_vec()).prop_map(d)
}

/// Dates of birth spread over every interesting case on `today`: exact birthdays and the
/// days around them, 29 February, anywhere in 120 years, the future, and over 200 years
/// ago.
fn dob_strategy(today: NaiveDate) -> impl Strategy<Value = NaiveDate> {
    let leap_years: Vec<i32> = (1904..=2024).step_by(4).collect();
    prop_oneof![
        4 => (0i64..=110, -2i64..=2).prop_map(move |(years, days)| {
            born_on_or_before_for_age(today, years) + Duration::days(days)
        }),
        2 => (select(leap_years), -1i64..=1).prop_map(|(year, days)| {
            NaiveDate::from_ymd_opt(year, 2, 29).unwrap_or_default() + Duration::days(days)
        }),
        2 => (0i64..45_000).prop_map(move |days| today - Duration::days(days)),
        1 => (1i64..800).prop_map(move |days| today + Duration::days(days)),
        1 => (198i64..=205, -1i64..=1).prop_map(move |(years, days)| {
            born_on_or_before_for_age(today, years) + Duration::days(days)
        }),
    ]
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn eq_op() -> impl Strategy<Value = CmpOp> {
    select(vec![CmpOp::Eq, CmpOp::Ne])
}

/// `=`/`!=` or a short `in`/`not in` list of `value`s.
fn membership<T: Clone + std::fmt::Debug>(
    value: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Test<T>> {
    prop_oneof![
        (eq_op(), value.clone()).prop_map(|(op, v)| Test::Cmp(op, v)),
        proptest::collection::vec(value.clone(), 1..4).prop_map(Test::In),
        proptest::collection::vec(value, 1..4).prop_map(Test::NotIn),
    ]
}

fn age_value() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![
        6 => 0i64..=110,
        2 => 195i64..=205,
        1 => -3i64..0,
        1 => select(vec![i64::MIN, i64::MAX, 1_000, 10_000]),
    ]
}

fn leaf(today: NaiveDate) -> impl Strategy<Value = Expr> {
    let age = prop_oneof![
        (cmp_op(), age_value()).prop_map(|(op, n)| Test::Cmp(op, n)),
        proptest::collection::vec(age_value(), 1..4).prop_map(Test::In),
        proptest::collection::vec(age_value(), 1..4).prop_map(Test::NotIn),
    ];
    let dob = (cmp_op(), dob_strategy(today)).prop_map(|(op, v)| Test::Cmp(op, v));
    let postcode = select(POSTCODES.to_vec()).prop_map(|p| Postcode::parse(p).expect("pool"));
    let code = select(CONDITIONS.to_vec()).prop_map(|c| ConditionCode::parse(c).expect("pool"));
    let flag = select(vec![
        Flag::SmsOptOut,
        Flag::EmailOptOut,
        Flag::HasPhone,
        Flag::HasEmail,
    ]);
    prop_oneof![
        1 => Just(Expr::All),
        3 => age.prop_map(Predicate::Age).prop_map(Expr::Pred),
        2 => dob.prop_map(Predicate::Dob).prop_map(Expr::Pred),
        1 => membership(select(Sex::ALL.to_vec())).prop_map(Predicate::Sex).prop_map(Expr::Pred),
        1 => (eq_op(), postcode)
            .prop_map(|(op, p)| Expr::Pred(Predicate::Postcode(Test::Cmp(op, p)))),
        2 => select(PREFIXES.to_vec())
            .prop_map(|p| Expr::Pred(Predicate::PostcodePrefix(p.to_string()))),
        3 => membership(code).prop_map(Predicate::Condition).prop_map(Expr::Pred),
        1 => membership(select(EXTERNAL_IDS.to_vec()).prop_map(str::to_string))
            .prop_map(Predicate::ExternalId)
            .prop_map(Expr::Pred),
        2 => (flag, any::<bool>()).prop_map(|(f, v)| Expr::Pred(Predicate::Flag(f, v))),
    ]
}

fn expr_strategy(today: NaiveDate) -> impl Strategy<Value = Expr> {
    leaf(today).prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            proptest::collection::vec(inner, 2..4).prop_map(Expr::Or),
        ]
    })
}

fn canonical(expr: &Expr) -> String {
    Printer {
        expr,
        redact: false,
    }
    .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Printing an expression and parsing the text gives the same expression, and every
    /// dialect's SQL has exactly one placeholder per parameter.
    #[test]
    fn canonical_source_round_trips(
        (today, expr) in today_strategy().prop_flat_map(|t| (Just(t), expr_strategy(t)))
    ) {
        let text = canonical(&expr);
        let parsed = Filter::parse(&text);
        prop_assert!(parsed.is_ok(), "{text}: {:?}", parsed.err());
        let filter = parsed.unwrap_or_else(|_| Filter::all());
        prop_assert_eq!(&filter.expr, &expr, "{}", text);
        prop_assert_eq!(canonical(&filter.expr), text);

        let q = filter.to_sql(Dialect::Sqlite, today);
        prop_assert_eq!(q.sql.matches('?').count(), q.params.len());
        let q = filter.to_sql(Dialect::Postgres, today);
        prop_assert!(!q.sql.contains('?'));
        let beyond = format!("${}", q.params.len() + 1);
        prop_assert!(!q.sql.contains(&beyond));
        if !q.params.is_empty() {
            let last = format!("${}", q.params.len());
            prop_assert!(q.sql.contains(&last));
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    //! SQL and in-memory evaluation agree, on SQLite.

    use super::super::tests::patient;
    use super::*;
    use crate::patient::{Email, Phone};
    use crate::sql::SqlValue;
    use sqlx::{Connection, SqliteConnection};
    use std::collections::BTreeSet;

    const PATIENTS_PER_CASE: usize = 200;

    /// Everything about a generated patient but its index.
    #[derive(Debug, Clone)]
    pub(super) struct PatientSpec {
        dob: NaiveDate,
        sex: Sex,
        postcode: &'static str,
        conditions: u8,
        phone: bool,
        email: bool,
        sms_opt_out: bool,
        email_opt_out: bool,
    }

    fn patient_strategy(today: NaiveDate) -> impl Strategy<Value = PatientSpec> {
        (
            dob_strategy(today),
            select(Sex::ALL.to_vec()),
            select(POSTCODES.to_vec()),
            0u8..32,
            any::<(bool, bool, bool, bool)>(),
        )
            .prop_map(
                |(dob, sex, postcode, conditions, (phone, email, sms_opt_out, email_opt_out))| {
                    PatientSpec {
                        dob,
                        sex,
                        postcode,
                        conditions,
                        phone,
                        email,
                        sms_opt_out,
                        email_opt_out,
                    }
                },
            )
    }

    pub(super) fn build_patient(i: usize, spec: &PatientSpec) -> Patient {
        let mut p = patient(u32::try_from(i).unwrap_or(u32::MAX), spec.dob);
        p.sex = spec.sex;
        p.postcode = Postcode::parse(spec.postcode).expect("pool postcode");
        p.conditions = CONDITIONS[..5]
            .iter()
            .enumerate()
            .filter(|(bit, _)| spec.conditions & (1 << bit) != 0)
            .map(|(_, c)| ConditionCode::parse(c).expect("pool code"))
            .collect();
        p.phone = spec
            .phone
            .then(|| Phone::parse(&format!("+4477009{i:05}")).expect("phone"));
        p.email = spec
            .email
            .then(|| Email::parse(&format!("p{i}@example.org")).expect("email"));
        p.sms_opt_out = spec.sms_opt_out;
        p.email_opt_out = spec.email_opt_out;
        p
    }

    /// A copy of the real schema (`migrations/sqlite/0001_patients.sql`).
    const SCHEMA: &str = include_str!("../../migrations/sqlite/0001_patients.sql");

    async fn load(conn: &mut SqliteConnection, patients: &[Patient]) -> sqlx::Result<()> {
        sqlx::raw_sql(SCHEMA).execute(&mut *conn).await?;
        let mut tx = conn.begin().await?;
        for (id, p) in (1i64..).zip(patients) {
            sqlx::query(
                "INSERT INTO patients (id, external_id, nhs_number, given_name, family_name, \
                 date_of_birth, sex, phone, email, postcode, sms_opt_out, email_opt_out, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(&p.external_id)
            .bind(p.nhs_number.as_ref().map(|n| n.as_str()))
            .bind(&p.given_name)
            .bind(&p.family_name)
            .bind(p.date_of_birth)
            .bind(p.sex.as_str())
            .bind(p.phone.as_ref().map(Phone::as_str))
            .bind(p.email.as_ref().map(Email::as_str))
            .bind(p.postcode.as_str())
            .bind(p.sms_opt_out)
            .bind(p.email_opt_out)
            .bind("2024-01-01T00:00:00Z")
            .execute(&mut *tx)
            .await?;
            for code in &p.conditions {
                sqlx::query("INSERT INTO patient_conditions (patient_id, code) VALUES (?, ?)")
                    .bind(id)
                    .bind(code.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await
    }

    async fn select_ids(
        conn: &mut SqliteConnection,
        filter: &Filter,
        today: NaiveDate,
    ) -> sqlx::Result<BTreeSet<i64>> {
        let q = filter.to_sql(Dialect::Sqlite, today);
        let sql = format!("SELECT p.id FROM patients p WHERE {}", q.sql);
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for param in &q.params {
            query = match param {
                SqlValue::Text(s) => query.bind(s.as_str()),
                SqlValue::Int(n) => query.bind(*n),
                SqlValue::Bool(b) => query.bind(*b),
                SqlValue::Date(d) => query.bind(*d),
                other => panic!("a filter bound an unexpected value: {other:?}"),
            };
        }
        Ok(query.fetch_all(conn).await?.into_iter().collect())
    }

    pub(super) fn case_strategy() -> impl Strategy<Value = (NaiveDate, Vec<PatientSpec>, Vec<Expr>)>
    {
        today_strategy().prop_flat_map(|today| {
            (
                Just(today),
                proptest::collection::vec(patient_strategy(today), PATIENTS_PER_CASE),
                proptest::collection::vec(expr_strategy(today), 4),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// `SELECT p.id FROM patients p WHERE <to_sql>` returns exactly the patients
        /// `matches` accepts.
        #[test]
        fn sql_selects_exactly_the_matching_patients((today, specs, exprs) in case_strategy()) {
            let patients: Vec<Patient> =
                specs.iter().enumerate().map(|(i, s)| build_patient(i, s)).collect();
            let filters: Vec<Filter> = exprs
                .iter()
                .map(|e| Filter::parse(&canonical(e)))
                .collect::<Result<_, _>>()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let selected: Vec<BTreeSet<i64>> = runtime
                .block_on(async {
                    let mut conn = SqliteConnection::connect("sqlite::memory:").await?;
                    load(&mut conn, &patients).await?;
                    let mut out = Vec::new();
                    for f in &filters {
                        out.push(select_ids(&mut conn, f, today).await?);
                    }
                    sqlx::Result::Ok(out)
                })
                .map_err(|e: sqlx::Error| TestCaseError::fail(e.to_string()))?;
            for (filter, from_sql) in filters.iter().zip(selected) {
                let in_memory: BTreeSet<i64> = (1i64..)
                    .zip(&patients)
                    .filter(|(_, p)| filter.matches(p, today))
                    .map(|(id, _)| id)
                    .collect();
                prop_assert_eq!(
                    &from_sql,
                    &in_memory,
                    "today {} filter {} sql {}",
                    today,
                    filter.source(),
                    filter.to_sql(Dialect::Sqlite, today).sql
                );
            }
        }
    }
}

#[cfg(all(feature = "postgres", feature = "sqlite"))]
mod postgres {
    //! SQL and in-memory evaluation agree, on PostgreSQL (one scratch database for every
    //! case, emptied between them), through the store's own count and match queries.

    use super::sqlite::{build_patient, case_strategy};
    use super::*;
    use crate::store::postgres::tests::scratch;
    use crate::store::PatientStore;
    use proptest::test_runner::{Config, TestRunner};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sql_selects_exactly_the_matching_patients() {
        scratch(|db| async move {
            let store = db.store().clone();
            let handle = tokio::runtime::Handle::current();
            // proptest runs cases synchronously: each blocks this worker on the store.
            tokio::task::spawn_blocking(move || {
                let mut runner = TestRunner::new(Config {
                    cases: 32,
                    ..Config::default()
                });
                runner
                    .run(&case_strategy(), |(today, specs, exprs)| {
                        let patients: Vec<Patient> = specs
                            .iter()
                            .enumerate()
                            .map(|(i, s)| build_patient(i, s))
                            .collect();
                        handle.block_on(async {
                            sqlx::query("TRUNCATE patients RESTART IDENTITY CASCADE")
                                .execute(store.pool())
                                .await
                                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                            store
                                .insert_patients(&patients)
                                .await
                                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                            for expr in &exprs {
                                let filter = Filter::parse(&canonical(expr))
                                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                                let in_memory: Vec<i64> = (1i64..)
                                    .zip(&patients)
                                    .filter(|(_, p)| filter.matches(p, today))
                                    .map(|(id, _)| id)
                                    .collect();
                                let matched: Vec<i64> = store
                                    .matching_contacts(&filter, today)
                                    .await
                                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                                    .iter()
                                    .map(|c| c.id.0)
                                    .collect();
                                let counted = store
                                    .count_patients(&filter, today)
                                    .await
                                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                                prop_assert_eq!(
                                    &matched,
                                    &in_memory,
                                    "today {} filter {} sql {}",
                                    today,
                                    filter.source(),
                                    filter.to_sql(Dialect::Postgres, today).sql
                                );
                                prop_assert_eq!(counted, in_memory.len() as u64);
                            }
                            Ok(())
                        })
                    })
                    .unwrap();
            })
            .await
            .unwrap();
        })
        .await;
    }
}
