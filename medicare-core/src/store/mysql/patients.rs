//! Patients on MySQL: the bulk import and the audience queries.

use super::{rows_per_statement, MySqlStore};
use crate::audit::{Action, Detail, Target};
use crate::error::{Error, Result};
use crate::patient::{Patient, PatientId};
use crate::sql::Dialect;
use crate::store::audit_sql::record;
use crate::store::rows::{self, ReadRow};
use crate::store::PatientStore;
use async_trait::async_trait;
use chrono::Utc;
use sqlx::{MySql, MySqlConnection, QueryBuilder};
use std::collections::HashMap;

/// Columns of one patient row in the import.
const PATIENT_COLUMNS: usize = 12;

#[async_trait]
impl PatientStore for MySqlStore {
    async fn insert_patients(&self, patients: &[Patient]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        for chunk in patients.chunks(rows_per_statement(PATIENT_COLUMNS)) {
            check_stored(&mut tx, chunk).await?;
            insert_chunk(&mut tx, chunk).await.map_err(|e| match e {
                // Not a stored patient (checked just above): a clash inside the batch.
                Error::AlreadyExists { .. } => Error::AlreadyExists {
                    what: "patient (an external id or NHS number appears twice in the batch); nothing was imported".into(),
                },
                other => other,
            })?;
        }
        let detail = Detail::none().count("imported", patients.len() as u64);
        let (action, target) = (Action::PatientImport, Target::none());
        record::<MySql>(&mut tx, Dialect::Mysql, None, action, target, detail).await?;
        tx.commit().await?;
        Ok(patients.len() as u64)
    }

    async fn all_patients(&self) -> Result<Vec<(PatientId, Patient)>> {
        // Conditions are read on their own (not with GROUP_CONCAT, whose result MySQL
        // cuts at 1,024 bytes by default) and joined here.
        let codes = sqlx::query("SELECT patient_id, code FROM patient_conditions")
            .fetch_all(&self.pool)
            .await?;
        let mut conditions: HashMap<i64, Vec<String>> = HashMap::new();
        for r in &codes {
            conditions.entry(r.int(0)?).or_default().push(r.text(1)?);
        }
        let sql = format!(
            "SELECT {} FROM patients p ORDER BY p.id",
            rows::PATIENT_COLUMNS
        );
        let found = sqlx::query(&sql).fetch_all(&self.pool).await?;
        found
            .iter()
            .map(|r| rows::patient(r, conditions.remove(&r.int(0)?).unwrap_or_default()))
            .collect()
    }

    crate::store::forward::shared_core!(count_patients, matching_contacts);
    crate::store::forward::shared_core!(retrying: upsert_patients);
}

/// Fails if a patient of `chunk` clashes with a stored one.
async fn check_stored(conn: &mut MySqlConnection, chunk: &[Patient]) -> Result<()> {
    let mut check =
        QueryBuilder::<MySql>::new("SELECT external_id FROM patients WHERE external_id IN (");
    let mut ids = check.separated(", ");
    for p in chunk {
        ids.push_bind(p.external_id.as_str());
    }
    check.push(") OR nhs_number IN (");
    let mut nhs = check.separated(", ");
    // `IN (NULL)` matches nothing: a chunk may hold no NHS number at all.
    nhs.push("NULL");
    for n in chunk.iter().filter_map(|p| p.nhs_number.as_ref()) {
        nhs.push_bind(n.as_str());
    }
    check.push(") LIMIT 5");
    let clashes = check.build().fetch_all(&mut *conn).await?;
    if !clashes.is_empty() {
        let ids = clashes
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<Vec<_>>>()?;
        return Err(Error::AlreadyExists {
            what: format!(
                "patient (external id or NHS number already stored; e.g. stored external ids {}); nothing was imported",
                ids.join(", ")
            ),
        });
    }
    Ok(())
}

/// Inserts one chunk of patients and their conditions.
async fn insert_chunk(conn: &mut MySqlConnection, chunk: &[Patient]) -> Result<()> {
    let now = Utc::now();
    let mut insert = rows::insert_patients::<MySql>(chunk, now);
    insert.build().execute(&mut *conn).await?;

    if chunk.iter().all(|p| p.conditions.is_empty()) {
        return Ok(());
    }
    // The new ids, by external id (auto-increment values of one statement are not
    // guaranteed consecutive under every lock mode, so they are read back).
    let mut read =
        QueryBuilder::<MySql>::new("SELECT external_id, id FROM patients WHERE external_id IN (");
    let mut list = read.separated(", ");
    for p in chunk.iter().filter(|p| !p.conditions.is_empty()) {
        list.push_bind(p.external_id.as_str());
    }
    read.push(")");
    let mut ids = HashMap::new();
    for r in read.build().fetch_all(&mut *conn).await? {
        ids.insert(r.text(0)?, r.int(1)?);
    }
    let codes: Vec<(i64, &str)> = chunk
        .iter()
        .filter_map(|p| ids.get(&p.external_id).map(|id| (*id, p)))
        .flat_map(|(id, p)| p.conditions.iter().map(move |c| (id, c.as_str())))
        .collect();
    for codes in codes.chunks(rows_per_statement(2)) {
        let mut q =
            QueryBuilder::<MySql>::new("INSERT INTO patient_conditions (patient_id, code) ");
        q.push_values(codes, |mut b, (id, code)| {
            b.push_bind(*id).push_bind(*code);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}
