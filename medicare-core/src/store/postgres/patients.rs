//! Patients (bulk import by `COPY`) and forms (each with its response table).

use super::copy::copy_in;
use super::{arguments, PostgresStore};
use crate::campaign::{FormId, PatientContact};
use crate::error::{Error, Result};
use crate::filter::AnyFilter;
use crate::form::{response_table_ddl, FormSpec};
use crate::patient::{Email, Patient, PatientId, Phone};
use crate::sql::Dialect;
use crate::store::rows::{self, count, FORM_COLUMNS, PATIENT_COLUMNS};
use crate::store::{FormStore, PatientStore, StoredForm};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

/// What the import's error says (the clash is in the constraint, never a value).
const NOTHING_IMPORTED: &str = "nothing was imported";

#[async_trait]
impl PatientStore for PostgresStore {
    async fn insert_patients(&self, patients: &[Patient]) -> Result<u64> {
        if patients.is_empty() {
            return Ok(0);
        }
        let external: Vec<&str> = patients.iter().map(|p| p.external_id.as_str()).collect();
        let nhs: Vec<&str> = patients.iter().map(|p| p.nhs_number.as_str()).collect();
        let mut tx = self.pool.begin().await?;
        let clashes: Vec<String> = sqlx::query_scalar(
            "SELECT external_id FROM patients \
             WHERE external_id = ANY($1) OR nhs_number = ANY($2) ORDER BY id LIMIT 5",
        )
        .bind(&external)
        .bind(&nhs)
        .fetch_all(&mut *tx)
        .await?;
        if !clashes.is_empty() {
            return Err(Error::AlreadyExists {
                what: format!(
                    "patient (external id or NHS number already stored; e.g. stored external ids {}); {NOTHING_IMPORTED}",
                    clashes.join(", ")
                ),
            });
        }

        let now = Utc::now();
        let stored = copy_in(
            &mut tx,
            "COPY patients (external_id, nhs_number, given_name, family_name, date_of_birth, sex, \
             phone, email, postcode, sms_opt_out, email_opt_out, created_at) FROM STDIN",
            patients,
            |row, p| {
                row.text(&p.external_id)
                    .text(p.nhs_number.as_str())
                    .text(&p.given_name)
                    .text(&p.family_name)
                    .date(p.date_of_birth)
                    .text(p.sex.as_str())
                    .opt_text(p.phone.as_ref().map(Phone::as_str))
                    .opt_text(p.email.as_ref().map(Email::as_str))
                    .text(p.postcode.as_str())
                    .bool(p.sms_opt_out)
                    .bool(p.email_opt_out)
                    .timestamp(now)
                    .end_row();
                Ok(())
            },
        )
        .await
        .map_err(|e| match e {
            // Two patients of the batch share an external id or NHS number.
            Error::AlreadyExists { what } => Error::AlreadyExists {
                what: format!(
                    "patient (the batch holds an external id or NHS number twice: {}); {NOTHING_IMPORTED}",
                    what.trim_start_matches("row (").trim_end_matches(')')
                ),
            },
            other => other,
        })?;

        let (owners, codes): (Vec<&str>, Vec<&str>) = patients
            .iter()
            .flat_map(|p| {
                p.conditions
                    .iter()
                    .map(move |c| (p.external_id.as_str(), c.as_str()))
            })
            .unzip();
        sqlx::query(
            "INSERT INTO patient_conditions (patient_id, code) \
             SELECT p.id, v.code FROM UNNEST($1::text[], $2::text[]) AS v (external_id, code) \
             JOIN patients p ON p.external_id = v.external_id",
        )
        .bind(&owners)
        .bind(&codes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn count_patients(&self, filter: &AnyFilter, today: NaiveDate) -> Result<u64> {
        let predicate = filter.to_sql(Dialect::Postgres, today);
        let sql = format!("SELECT COUNT(*) FROM patients p WHERE {}", predicate.sql);
        let n: i64 = sqlx::query_scalar_with(&sql, arguments(&predicate.params)?)
            .fetch_one(&self.pool)
            .await?;
        Ok(count(n))
    }

    async fn matching_contacts(
        &self,
        filter: &AnyFilter,
        today: NaiveDate,
    ) -> Result<Vec<PatientContact>> {
        let predicate = filter.to_sql(Dialect::Postgres, today);
        let sql = format!(
            "SELECT p.id, p.given_name, p.phone, p.email, p.sms_opt_out, p.email_opt_out \
             FROM patients p WHERE {} ORDER BY p.id",
            predicate.sql
        );
        type Contact = (i64, String, Option<String>, Option<String>, bool, bool);
        let rows: Vec<Contact> = sqlx::query_as_with(&sql, arguments(&predicate.params)?)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, given_name, phone, email, sms_opt_out, email_opt_out)| PatientContact {
                    id: PatientId(id),
                    given_name,
                    phone,
                    email,
                    sms_opt_out,
                    email_opt_out,
                },
            )
            .collect())
    }

    async fn all_patients(&self) -> Result<Vec<(PatientId, Patient)>> {
        let sql = format!(
            "SELECT {PATIENT_COLUMNS}, \
             (SELECT string_agg(c.code, ';') FROM patient_conditions c WHERE c.patient_id = p.id) \
             FROM patients p ORDER BY p.id"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(rows::patient).collect()
    }
}

#[async_trait]
impl FormStore for PostgresStore {
    async fn create_form(
        &self,
        spec: &FormSpec,
        page_location: &str,
        now: DateTime<Utc>,
    ) -> Result<StoredForm> {
        spec.validate()?;
        let spec_json =
            serde_json::to_string(spec).map_err(|e| Error::invalid("form spec", e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        // A second form of the same name waits for this one's unique key, then clashes.
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO forms (name, spec_json, response_table, page_location, created_at) \
             VALUES ($1, $2, '', $3, $4) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(&spec.name)
        .bind(&spec_json)
        .bind(page_location)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = inserted else {
            return Err(Error::AlreadyExists {
                what: format!("form {:?}", spec.name),
            });
        };
        let table = format!("resp_{id}");
        sqlx::query("UPDATE forms SET response_table = $1 WHERE id = $2")
            .bind(&table)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for ddl in response_table_ddl(spec, &table, Dialect::Postgres)? {
            sqlx::query(&ddl).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.form(FormId(id)).await
    }

    async fn form(&self, id: FormId) -> Result<StoredForm> {
        let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::not_found(format!("form {id}")))?;
        rows::form(&row)
    }

    async fn form_by_name(&self, name: &str) -> Result<StoredForm> {
        let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "form {:?}",
                    name.chars().take(64).collect::<String>()
                ))
            })?;
        rows::form(&row)
    }

    async fn forms(&self) -> Result<Vec<StoredForm>> {
        let sql = format!("SELECT {FORM_COLUMNS} FROM forms ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(rows::form).collect()
    }
}
