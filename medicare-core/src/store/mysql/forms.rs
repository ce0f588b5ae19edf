//! Forms on MySQL, and their response tables.
//!
//! `CREATE TABLE` commits implicitly, so it cannot share a transaction with the form's
//! row. The table is created first, under `resp_<id>` for an id no form and no table has
//! yet; the row follows with that id, and the table is dropped again if the row cannot be
//! written. A form row therefore always has its table; an interruption between the two
//! can leave an empty table no form names, which nothing reads (backups skip it) and
//! later forms step over.

use super::{error_number, MySqlStore};
use crate::audit::{Action, Detail, Target};
use crate::campaign::FormId;
use crate::error::{Error, Result};
use crate::form::{response_table_ddl, FormSpec};
use crate::sql::Dialect;
use crate::store::audit_sql::record;
use crate::store::{FormStore, StoredForm};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::MySql;

/// MySQL's "table already exists".
const TABLE_EXISTS: u16 = 1050;

/// Ids a creation tries before giving up (each taken by a racing creation or left over
/// by an interrupted one).
const ID_ATTEMPTS: i64 = 50;

impl MySqlStore {
    /// Creates the response table of `spec` under `resp_<id>` for the first free id from
    /// `first`, and returns the id.
    async fn create_response_table(&self, spec: &FormSpec, first: i64) -> Result<(i64, String)> {
        for id in first..first + ID_ATTEMPTS {
            let table = format!("resp_{id}");
            let mut ddl = response_table_ddl(spec, &table, Dialect::Mysql)?.into_iter();
            let create = ddl.next().unwrap_or_default();
            match sqlx::query(&create).execute(&self.pool).await {
                Ok(_) => {}
                Err(e) => {
                    let e = Error::from(e);
                    if error_number(&e) == Some(TABLE_EXISTS) {
                        continue;
                    }
                    return Err(e);
                }
            }
            for statement in ddl {
                if let Err(e) = sqlx::query(&statement).execute(&self.pool).await {
                    self.drop_table(&table).await;
                    return Err(e.into());
                }
            }
            return Ok((id, table));
        }
        Err(Error::Conflict(format!(
            "no free response table name among the next {ID_ATTEMPTS}: other forms are being created at the same time; try again"
        )))
    }

    /// Drops a response table this store just created (best effort: the table is empty
    /// and no form names it, so a failure leaves only an unused table).
    async fn drop_table(&self, table: &str) {
        let sql = format!("DROP TABLE IF EXISTS {}", Dialect::Mysql.quote_ident(table));
        if let Err(e) = sqlx::query(&sql).execute(&self.pool).await {
            tracing::warn!(table, error = %e, "could not drop an unused response table");
        }
    }
}

#[async_trait]
impl FormStore for MySqlStore {
    async fn create_form(
        &self,
        spec: &FormSpec,
        page_location: &str,
        now: DateTime<Utc>,
    ) -> Result<StoredForm> {
        spec.validate()?;
        let spec_json =
            serde_json::to_string(spec).map_err(|e| Error::invalid("form spec", e.to_string()))?;
        let taken = || Error::AlreadyExists {
            what: format!("form {:?}", spec.name),
        };
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM forms WHERE name = ?")
            .bind(&spec.name)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_some() {
            return Err(taken());
        }
        let next: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) + 1 AS SIGNED) FROM forms")
                .fetch_one(&self.pool)
                .await?;
        let (id, table) = self.create_response_table(spec, next).await?;
        let inserted = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO forms (id, name, spec_json, response_table, page_location, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(&spec.name)
            .bind(&spec_json)
            .bind(&table)
            .bind(page_location)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let detail = Detail::none().count("fields", spec.fields.len() as u64);
            let target = Target::form(FormId(id));
            record::<MySql>(&mut tx, Dialect::Mysql, None, Action::FormCreate, target, detail)
                .await?;
            tx.commit().await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = inserted {
            self.drop_table(&table).await;
            return Err(match e {
                // A racing creation of the same name (or, far less likely, the same id).
                Error::AlreadyExists { .. } => taken(),
                other => other,
            });
        }
        self.form(FormId(id)).await
    }

    crate::store::forward::shared_core!(form, form_by_name, forms);
}
