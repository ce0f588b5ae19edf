//! Patients (bulk import by `COPY`) and forms (each with its response table).

use super::copy::copy_in;
use super::PostgresStore;
use crate::audit::{Action, Detail, Target};
use crate::error::{Error, Result};
use crate::patient::{Email, NhsNumber, Patient, Phone};
use crate::sql::Dialect;
use crate::store::audit_sql::record;
use crate::store::{FormStore, PatientStore};
use async_trait::async_trait;
use chrono::Utc;
use sqlx::Postgres;

/// What the import's error says (the clash is in the constraint, never a value).
const NOTHING_IMPORTED: &str = "nothing was imported";

#[async_trait]
impl PatientStore for PostgresStore {
    async fn insert_patients(&self, patients: &[Patient]) -> Result<u64> {
        if patients.is_empty() {
            return Ok(0);
        }
        let external: Vec<&str> = patients.iter().map(|p| p.external_id.as_str()).collect();
        let nhs: Vec<&str> = patients
            .iter()
            .filter_map(|p| p.nhs_number.as_ref().map(NhsNumber::as_str))
            .collect();
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
                    .opt_text(p.nhs_number.as_ref().map(NhsNumber::as_str))
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
        let detail = Detail::none().count("imported", patients.len() as u64);
        let (action, target) = (Action::PatientImport, Target::none());
        record::<Postgres>(&mut tx, Dialect::Postgres, None, action, target, detail).await?;
        tx.commit().await?;
        Ok(stored)
    }

    crate::store::forward::shared_core!(
        upsert_patients,
        count_patients,
        matching_contacts,
        all_patients
    );
}

#[async_trait]
impl FormStore for PostgresStore {
    crate::store::forward::shared_core!(create_form, form, form_by_name, forms);
}
