//! Re-importing patients: [`PatientStore::upsert_patients`](super::PatientStore) written
//! once for every SQL backend. In one transaction, chunk by chunk: the stored patients
//! the chunk names are read (by NHS number, and by external id), each found one is
//! updated in place with its conditions replaced, and the rest are inserted with theirs.

use super::rows::{Affected, ReadRow};
use super::shared::Shared;
use super::UpsertCounts;
use crate::error::{Error, Result};
use crate::patient::{ConditionCode, Email, NhsNumber, Patient, Phone};
use crate::sql::Dialect;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Arguments, Database, Encode, Executor, IntoArguments, Type};
use std::collections::HashMap;

/// Patients per chunk: an insert binds 12 values a patient, within every engine's limit.
const CHUNK: usize = 1_000;

/// A stored patient a chunk names: what matching and updating it needs.
struct StoredKey {
    id: i64,
    external_id: String,
    nhs_number: Option<String>,
    sms_opt_out: bool,
    email_opt_out: bool,
}

/// A value bound to a statement.
#[derive(Clone, Copy)]
enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Bool(bool),
    Date(NaiveDate),
    Time(DateTime<Utc>),
}

/// A statement and its values, in placeholder order.
struct Statement<'a> {
    dialect: Dialect,
    sql: String,
    params: Vec<Param<'a>>,
}

impl<'a> Statement<'a> {
    fn new(dialect: Dialect, sql: &str) -> Self {
        Statement {
            dialect,
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }

    /// Appends `sql` verbatim.
    fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    fn bind(&mut self, value: Param<'a>) -> &mut Self {
        self.params.push(value);
        let placeholder = self.dialect.placeholder(self.params.len());
        self.sql.push_str(&placeholder);
        self
    }

    /// Appends `values` as placeholders separated by commas.
    fn list(&mut self, values: impl IntoIterator<Item = Param<'a>>) -> &mut Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self
    }
}

/// The columns an insert writes, in [`new_row`]'s order.
const INSERT_COLUMNS: &str = "INSERT INTO patients (external_id, nhs_number, given_name, \
     family_name, date_of_birth, sex, phone, email, postcode, sms_opt_out, email_opt_out, \
     created_at) VALUES ";

/// The values of a new patient's row.
fn new_row(p: &Patient, now: DateTime<Utc>) -> [Param<'_>; 12] {
    [
        Param::Text(&p.external_id),
        Param::OptText(p.nhs_number.as_ref().map(NhsNumber::as_str)),
        Param::Text(&p.given_name),
        Param::Text(&p.family_name),
        Param::Date(p.date_of_birth),
        Param::Text(p.sex.as_str()),
        Param::OptText(p.phone.as_ref().map(Phone::as_str)),
        Param::OptText(p.email.as_ref().map(Email::as_str)),
        Param::Text(p.postcode.as_str()),
        Param::Bool(p.sms_opt_out),
        Param::Bool(p.email_opt_out),
        Param::Time(now),
    ]
}

/// The arguments binding `params`, in order.
fn arguments<'q, DB>(params: &[Param<'q>]) -> Result<<DB as Database>::Arguments<'q>>
where
    DB: Database,
    <DB as Database>::Arguments<'q>: Default,
    i64: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    NaiveDate: Encode<'q, DB> + Type<DB>,
    DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    let mut args = <DB as Database>::Arguments::default();
    for p in params {
        let added = match *p {
            Param::Text(s) => args.add(s),
            Param::OptText(s) => args.add(s),
            Param::Int(i) => args.add(i),
            Param::Bool(b) => args.add(b),
            Param::Date(d) => args.add(d),
            Param::Time(t) => args.add(t),
        };
        added.map_err(|e| Error::database(sqlx::Error::Encode(e)))?;
    }
    Ok(args)
}

impl<DB> Shared<'_, DB>
where
    DB: Database,
    DB::Row: ReadRow,
    DB::QueryResult: Affected,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> NaiveDate: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    /// See [`PatientStore::upsert_patients`](super::PatientStore::upsert_patients); the
    /// `patient_import` ledger event (its counts) is appended in the same transaction.
    pub async fn upsert_patients(&self, patients: &[Patient]) -> Result<UpsertCounts> {
        let mut counts = UpsertCounts::default();
        let mut tx = self.pool.begin().await?;
        let now = Utc::now();
        for chunk in patients.chunks(CHUNK) {
            let stored = self.stored_keys(&mut tx, chunk).await?;
            let by_nhs: HashMap<&str, &StoredKey> = stored
                .iter()
                .filter_map(|s| s.nhs_number.as_deref().map(|n| (n, s)))
                .collect();
            let by_external: HashMap<&str, &StoredKey> =
                stored.iter().map(|s| (s.external_id.as_str(), s)).collect();
            let mut new = Vec::new();
            for p in chunk {
                // By NHS number; else by external id (a patient stored without an NHS
                // number, or one imported again without it).
                let found = match &p.nhs_number {
                    Some(n) => by_nhs.get(n.as_str()).or_else(|| {
                        by_external
                            .get(p.external_id.as_str())
                            .filter(|s| s.nhs_number.is_none())
                    }),
                    None => by_external.get(p.external_id.as_str()),
                };
                match found {
                    Some(s) => {
                        self.update(&mut tx, s, p).await?;
                        counts.updated += 1;
                    }
                    None if by_external.contains_key(p.external_id.as_str()) => {
                        return Err(Error::AlreadyExists {
                            what: format!(
                                "patient {} (its external id is stored for a patient with \
                                 another NHS number); nothing was imported",
                                p.external_id
                            ),
                        });
                    }
                    None => new.push(p),
                }
            }
            if !new.is_empty() {
                let mut insert = Statement::new(self.dialect, INSERT_COLUMNS);
                for (i, p) in new.iter().enumerate() {
                    insert.push(if i == 0 { "(" } else { ", (" });
                    insert.list(new_row(p, now)).push(")");
                }
                self.execute(&mut tx, insert).await?;
                self.insert_new_conditions(&mut tx, &new).await?;
                counts.inserted += new.len() as u64;
            }
        }
        let detail = crate::audit::Detail::none()
            .count("inserted", counts.inserted)
            .count("updated", counts.updated);
        let (action, target) = (
            crate::audit::Action::PatientImport,
            crate::audit::Target::none(),
        );
        super::audit_sql::record::<DB>(&mut tx, self.dialect, None, action, target, detail).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Runs `statement` on `conn`.
    async fn execute(
        &self,
        conn: &mut <DB as Database>::Connection,
        statement: Statement<'_>,
    ) -> Result<()> {
        let args = arguments::<DB>(&statement.params)?;
        sqlx::query_with(&statement.sql, args)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Runs the query `statement` on `conn` and returns its rows.
    async fn fetch(
        &self,
        conn: &mut <DB as Database>::Connection,
        statement: Statement<'_>,
    ) -> Result<Vec<DB::Row>> {
        let args = arguments::<DB>(&statement.params)?;
        Ok(sqlx::query_with(&statement.sql, args)
            .fetch_all(&mut *conn)
            .await?)
    }

    /// The stored patients sharing an NHS number or an external id with `chunk`.
    async fn stored_keys(
        &self,
        conn: &mut <DB as Database>::Connection,
        chunk: &[Patient],
    ) -> Result<Vec<StoredKey>> {
        let mut q = Statement::new(
            self.dialect,
            "SELECT id, external_id, nhs_number, sms_opt_out, email_opt_out FROM patients \
             WHERE external_id IN (",
        );
        q.list(chunk.iter().map(|p| Param::Text(&p.external_id)));
        // `IN (NULL)` matches nothing: a chunk may hold no NHS number at all.
        q.push(") OR nhs_number IN (NULL");
        for n in chunk.iter().filter_map(|p| p.nhs_number.as_ref()) {
            q.push(", ").bind(Param::Text(n.as_str()));
        }
        q.push(")");
        self.fetch(conn, q)
            .await?
            .iter()
            .map(|r| {
                Ok(StoredKey {
                    id: r.int(0)?,
                    external_id: r.text(1)?,
                    nhs_number: r.opt_text(2)?,
                    sms_opt_out: r.flag(3)?,
                    email_opt_out: r.flag(4)?,
                })
            })
            .collect()
    }

    /// Updates `stored` from `p` and replaces its conditions. Opt-outs are only added.
    async fn update(
        &self,
        conn: &mut <DB as Database>::Connection,
        stored: &StoredKey,
        p: &Patient,
    ) -> Result<()> {
        let mut q = Statement::new(self.dialect, "UPDATE patients SET given_name = ");
        q.bind(Param::Text(&p.given_name))
            .push(", family_name = ")
            .bind(Param::Text(&p.family_name))
            .push(", date_of_birth = ")
            .bind(Param::Date(p.date_of_birth))
            .push(", sex = ")
            .bind(Param::Text(p.sex.as_str()))
            .push(", phone = ")
            .bind(Param::OptText(p.phone.as_ref().map(Phone::as_str)))
            .push(", email = ")
            .bind(Param::OptText(p.email.as_ref().map(Email::as_str)))
            .push(", postcode = ")
            .bind(Param::Text(p.postcode.as_str()))
            .push(", sms_opt_out = ")
            .bind(Param::Bool(stored.sms_opt_out || p.sms_opt_out))
            .push(", email_opt_out = ")
            .bind(Param::Bool(stored.email_opt_out || p.email_opt_out));
        if stored.nhs_number.is_none() {
            // A patient first known without an NHS number gains the one it now has.
            q.push(", nhs_number = ")
                .bind(Param::OptText(p.nhs_number.as_ref().map(NhsNumber::as_str)));
        }
        q.push(" WHERE id = ").bind(Param::Int(stored.id));
        self.execute(conn, q).await?;

        let mut delete = Statement::new(
            self.dialect,
            "DELETE FROM patient_conditions WHERE patient_id = ",
        );
        delete.bind(Param::Int(stored.id));
        self.execute(conn, delete).await?;
        let codes: Vec<(i64, &ConditionCode)> =
            p.conditions.iter().map(|c| (stored.id, c)).collect();
        self.insert_conditions(conn, &codes).await
    }

    /// Inserts `(patient id, code)` pairs.
    async fn insert_conditions(
        &self,
        conn: &mut <DB as Database>::Connection,
        codes: &[(i64, &ConditionCode)],
    ) -> Result<()> {
        for part in codes.chunks(CHUNK) {
            let mut insert = Statement::new(
                self.dialect,
                "INSERT INTO patient_conditions (patient_id, code) VALUES ",
            );
            for (i, (id, code)) in part.iter().enumerate() {
                insert.push(if i == 0 { "(" } else { ", (" });
                insert
                    .list([Param::Int(*id), Param::Text(code.as_str())])
                    .push(")");
            }
            self.execute(conn, insert).await?;
        }
        Ok(())
    }

    /// The conditions of the patients just inserted, found by external id.
    async fn insert_new_conditions(
        &self,
        conn: &mut <DB as Database>::Connection,
        new: &[&Patient],
    ) -> Result<()> {
        let with_codes: Vec<&Patient> = new
            .iter()
            .copied()
            .filter(|p| !p.conditions.is_empty())
            .collect();
        if with_codes.is_empty() {
            return Ok(());
        }
        let mut q = Statement::new(
            self.dialect,
            "SELECT id, external_id FROM patients WHERE external_id IN (",
        );
        q.list(with_codes.iter().map(|p| Param::Text(&p.external_id)))
            .push(")");
        let ids: HashMap<String, i64> = self
            .fetch(conn, q)
            .await?
            .iter()
            .map(|r| Ok((r.text(1)?, r.int(0)?)))
            .collect::<Result<_>>()?;
        let codes: Vec<(i64, &ConditionCode)> = with_codes
            .iter()
            .filter_map(|p| ids.get(&p.external_id).map(|&id| (id, &p.conditions)))
            .flat_map(|(id, codes)| codes.iter().map(move |c| (id, c)))
            .collect();
        self.insert_conditions(conn, &codes).await
    }
}
