//! Operators, sessions and API tokens in SQL: the [`AccessStore`] of every backend.
//!
//! The statements are the same on SQLite, PostgreSQL and MySQL bar the placeholders and
//! one NULL-safe comparison, so they are written once here, on [`Shared`]; each backend
//! folder's `access.rs` implements the traits by delegating with [`impl_access_store!`].
//! New ids are read back by their unique key (username, token hash) inside the inserting
//! transaction, so no engine needs `RETURNING`. The sign-in state changes only by
//! compare-and-swap: one `UPDATE ... WHERE` every state column still holds the expected
//! value, true when it matched the row.
//!
//! Every change the audit ledger records is appended in the change's own transaction
//! ([`change_event`], [`sign_in_state_events`]): an operator added, enrolled, signed
//! in, changed (status, role, unlock), their second factor reset, a failed sign-in step
//! and the lock it caused, a token created or revoked.
//!
//! [`AccessStore`]: crate::access::AccessStore

use super::audit_sql::{record, record_outcome};
use super::rows::{corrupt, Affected, ReadRow};
use super::shared::Shared;
use crate::access::operator::NewOperatorRecord;
use crate::access::store::SessionCutoffs;
use crate::access::token::NewApiTokenRecord;
use crate::access::{
    ApiTokenHash, ApiTokenId, ApiTokenRecord, DisplayName, OperatorChange, OperatorId,
    OperatorRecord, OperatorStatus, PasswordHash, RecoveryCodeHash, Role, SealedSecret,
    SessionIdHash, SessionRecord, SignInState, Stage, TimeStep, Username,
};
use crate::audit::{Action, Actor, Detail, Outcome, Target, TargetKind};
use crate::error::{Error, Result};
use crate::sql::Dialect;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Type};

/// The columns [`operator`] reads.
const OPERATOR_COLUMNS: &str = "id, username, display_name, role, status, password_hash, \
     totp_secret, consecutive_failures, locks, locked_until, COALESCE(last_totp_step, -1), \
     enrolled_at, created_at, last_sign_in_at";

/// The columns [`session`] reads.
const SESSION_COLUMNS: &str =
    "id_hash, operator_id, stage, created_at, last_seen_at, second_factor_at";

/// The columns [`token`] reads.
const TOKEN_COLUMNS: &str = "id, operator_id, name, token_hash, created_at, expires_at, revoked_at";

/// A stored counter as the domain's `u32` (negative or huge: corrupt).
fn counter<R: ReadRow>(r: &R, i: usize, id: i64) -> Result<u32> {
    let n = r.int(i)?;
    u32::try_from(n).map_err(|_| corrupt("operator counter of operator", id, "out of range".into()))
}

/// A 32-byte hash column.
fn hash<R: ReadRow>(r: &R, i: usize, what: &str, id: i64) -> Result<[u8; 32]> {
    r.bytes(i)?
        .try_into()
        .map_err(|_| corrupt(what, id, "wrong length".into()))
}

/// An operator from [`OPERATOR_COLUMNS`].
fn operator<R: ReadRow>(r: &R) -> Result<OperatorRecord> {
    let id = r.int(0)?;
    let bad = |e: Error| corrupt("operator", id, e.to_string());
    let step = r.int(10)?;
    Ok(OperatorRecord {
        id: OperatorId(id),
        username: Username::parse(&r.text(1)?).map_err(bad)?,
        display_name: DisplayName::parse(&r.text(2)?).map_err(bad)?,
        role: r.text(3)?.parse::<Role>().map_err(bad)?,
        status: OperatorStatus::from_stored(&r.text(4)?).map_err(bad)?,
        password_hash: PasswordHash::from_stored(r.text(5)?).map_err(bad)?,
        totp_secret: SealedSecret::from_stored(r.bytes(6)?),
        sign_in: SignInState {
            consecutive_failures: counter(r, 7, id)?,
            locks: counter(r, 8, id)?,
            locked_until: r.opt_time(9)?,
            last_totp_step: u64::try_from(step).ok().map(TimeStep),
        },
        enrolled_at: r.opt_time(11)?,
        created_at: r.time(12)?,
        last_sign_in_at: r.opt_time(13)?,
    })
}

/// A session from [`SESSION_COLUMNS`].
fn session<R: ReadRow>(r: &R) -> Result<SessionRecord> {
    let operator = r.int(1)?;
    Ok(SessionRecord {
        id_hash: SessionIdHash(hash(r, 0, "session of operator", operator)?),
        operator: OperatorId(operator),
        stage: Stage::from_stored(&r.text(2)?)
            .map_err(|e| corrupt("session of operator", operator, e.to_string()))?,
        created_at: r.time(3)?,
        last_seen_at: r.time(4)?,
        second_factor_at: r.opt_time(5)?,
    })
}

/// A token from [`TOKEN_COLUMNS`].
fn token<R: ReadRow>(r: &R) -> Result<ApiTokenRecord> {
    let id = r.int(0)?;
    Ok(ApiTokenRecord {
        id: ApiTokenId(id),
        operator: OperatorId(r.int(1)?),
        name: r.text(2)?,
        hash: ApiTokenHash(hash(r, 3, "API token", id)?),
        created_at: r.time(4)?,
        expires_at: r.time(5)?,
        revoked_at: r.opt_time(6)?,
    })
}

/// `column` equals placeholder `p`, NULL equal to NULL.
fn null_safe_eq(dialect: Dialect, column: &str, p: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("{column} IS {p}"),
        Dialect::Postgres => format!("{column} IS NOT DISTINCT FROM {p}"),
        Dialect::Mysql => format!("{column} <=> {p}"),
    }
}

/// The ledger event a change records (none for a password rehash, which changes no
/// one's access): who (`None`: the acting party of the task; `Some`: the operator
/// themself, who has just proved who they are), what, and its detail.
fn change_event(
    id: OperatorId,
    change: &OperatorChange,
) -> Option<(Option<Actor>, Action, Detail)> {
    let themself = Some(Actor::Operator(id));
    match change {
        OperatorChange::Activated { .. } => Some((themself, Action::Enrolment, Detail::none())),
        OperatorChange::SignedIn { .. } => Some((themself, Action::SignIn, Detail::none())),
        OperatorChange::MfaReset { .. } => Some((None, Action::MfaReset, Detail::none())),
        OperatorChange::Status(status) => Some((
            None,
            Action::OperatorChange,
            Detail::none().word("status", status.as_str()),
        )),
        OperatorChange::Unlocked => Some((
            None,
            Action::OperatorChange,
            Detail::none().word("change", "unlock"),
        )),
        OperatorChange::Role(role) => Some((
            None,
            Action::RoleChange,
            Detail::none().word("role", role.as_str()),
        )),
        OperatorChange::PasswordHash(_) => None,
    }
}

/// The ledger events a sign-in state change records: a failed step (a wrong password,
/// code or recovery code counted), and the lock it caused, if any. Successes and unlocks
/// are recorded with their own change.
fn sign_in_state_events(
    expected: &SignInState,
    new: &SignInState,
) -> Vec<(Action, Detail, Outcome)> {
    let wrong = Detail::none().word("reason", "wrong_credential");
    if new.locks > expected.locks {
        let locks = Detail::none().count("locks", u64::from(new.locks));
        vec![
            (Action::SignIn, wrong, Outcome::Failed),
            (Action::Lockout, locks, Outcome::Ok),
        ]
    } else if new.consecutive_failures > expected.consecutive_failures {
        let failures = u64::from(new.consecutive_failures);
        vec![(
            Action::SignIn,
            wrong.count("failures", failures),
            Outcome::Failed,
        )]
    } else {
        Vec::new()
    }
}

/// A counter as stored.
fn stored_counter(n: u32) -> i64 {
    i64::from(n)
}

/// A TOTP step as stored (steps are about 2^26 today; one past `i64` is refused).
fn stored_step(step: Option<TimeStep>) -> Result<Option<i64>> {
    step.map(|s| i64::try_from(s.0))
        .transpose()
        .map_err(|_| Error::invalid("TOTP time step", "out of range"))
}

impl<DB> Shared<'_, DB>
where
    DB: Database,
    DB::Row: ReadRow,
    DB::QueryResult: Affected,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB> + Type<DB>,
{
    /// The `n`th placeholder.
    fn ph(&self, n: usize) -> String {
        self.dialect.placeholder(n)
    }

    /// Stores a new operator; `AlreadyExists` when the username is taken.
    pub async fn insert_operator(&self, new: &NewOperatorRecord) -> Result<OperatorId> {
        let insert = format!(
            "INSERT INTO operators (username, display_name, role, status, password_hash, \
             totp_secret, created_at) VALUES ({})",
            self.dialect.placeholders(1, 7)
        );
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(&insert)
            .bind(new.username.as_str())
            .bind(new.display_name.as_str())
            .bind(new.role.as_str())
            .bind(OperatorStatus::Pending.as_str())
            .bind(new.password_hash.as_str())
            .bind(new.totp_secret.as_bytes())
            .bind(new.created_at)
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(Error::AlreadyExists {
                    what: format!("operator {}", new.username),
                })
            }
            other => other?,
        };
        let select = format!("SELECT id FROM operators WHERE username = {}", self.ph(1));
        let id = sqlx::query(&select)
            .bind(new.username.as_str())
            .fetch_one(&mut *tx)
            .await?
            .int(0)?;
        let detail = Detail::none()
            .word("change", "added")
            .word("role", new.role.as_str());
        let target = Target::operator(OperatorId(id));
        record::<DB>(
            &mut tx,
            self.dialect,
            None,
            Action::OperatorChange,
            target,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(OperatorId(id))
    }

    /// The operators matching `condition` (on placeholder 1, bound by `bind`), by id.
    async fn operators_where(
        &self,
        condition: &str,
        bind: Option<OperatorKey<'_>>,
    ) -> Result<Vec<OperatorRecord>> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators{condition} ORDER BY id");
        let query = sqlx::query(&sql);
        let query = match bind {
            None => query,
            Some(OperatorKey::Id(id)) => query.bind(id.0),
            Some(OperatorKey::Username(name)) => query.bind(name.as_str()),
        };
        query
            .fetch_all(self.pool)
            .await?
            .iter()
            .map(operator)
            .collect()
    }

    /// The operator with this id.
    pub async fn operator(&self, id: OperatorId) -> Result<Option<OperatorRecord>> {
        let condition = format!(" WHERE id = {}", self.ph(1));
        Ok(self
            .operators_where(&condition, Some(OperatorKey::Id(id)))
            .await?
            .pop())
    }

    /// The operator with this (normalised) username.
    pub async fn operator_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<OperatorRecord>> {
        let condition = format!(" WHERE username = {}", self.ph(1));
        Ok(self
            .operators_where(&condition, Some(OperatorKey::Username(username)))
            .await?
            .pop())
    }

    /// Every operator, by id.
    pub async fn operators(&self) -> Result<Vec<OperatorRecord>> {
        self.operators_where("", None).await
    }

    /// Sets the sign-in state to `new` if it is still `expected`.
    pub async fn swap_sign_in_state(
        &self,
        id: OperatorId,
        expected: &SignInState,
        new: &SignInState,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE operators SET consecutive_failures = {}, locks = {}, locked_until = {}, \
             last_totp_step = {} WHERE id = {} AND consecutive_failures = {} AND locks = {} \
             AND {} AND {}",
            self.ph(1),
            self.ph(2),
            self.ph(3),
            self.ph(4),
            self.ph(5),
            self.ph(6),
            self.ph(7),
            null_safe_eq(self.dialect, "locked_until", &self.ph(8)),
            null_safe_eq(self.dialect, "last_totp_step", &self.ph(9)),
        );
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&sql)
            .bind(stored_counter(new.consecutive_failures))
            .bind(stored_counter(new.locks))
            .bind(new.locked_until)
            .bind(stored_step(new.last_totp_step)?)
            .bind(id.0)
            .bind(stored_counter(expected.consecutive_failures))
            .bind(stored_counter(expected.locks))
            .bind(expected.locked_until)
            .bind(stored_step(expected.last_totp_step)?)
            .execute(&mut *tx)
            .await?;
        if done.affected() != 1 {
            return Ok(false);
        }
        for (action, detail, outcome) in sign_in_state_events(expected, new) {
            let what = (action, Target::operator(id), detail, outcome);
            record_outcome::<DB>(&mut tx, self.dialect, None, what).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Applies `change` in one transaction; `NotFound` when the operator does not exist.
    pub async fn change_operator(&self, id: OperatorId, change: &OperatorChange) -> Result<()> {
        let (p1, p2) = (self.ph(1), self.ph(2));
        let set = match change {
            OperatorChange::Activated { .. } => {
                format!("status = 'active', enrolled_at = {p1} WHERE id = {p2}")
            }
            OperatorChange::MfaReset { .. } => format!(
                "status = 'pending', enrolled_at = NULL, totp_secret = {p1}, \
                 consecutive_failures = 0, locks = 0, locked_until = NULL, \
                 last_totp_step = NULL WHERE id = {p2}"
            ),
            OperatorChange::Status(_) => format!("status = {p1} WHERE id = {p2}"),
            OperatorChange::Role(_) => format!("role = {p1} WHERE id = {p2}"),
            OperatorChange::PasswordHash(_) => format!("password_hash = {p1} WHERE id = {p2}"),
            OperatorChange::SignedIn { .. } => format!("last_sign_in_at = {p1} WHERE id = {p2}"),
            OperatorChange::Unlocked => {
                format!("consecutive_failures = 0, locks = 0, locked_until = NULL WHERE id = {p1}")
            }
        };
        let sql = format!("UPDATE operators SET {set}");
        let query = sqlx::query(&sql);
        let query = match change {
            OperatorChange::Activated { at, .. } | OperatorChange::SignedIn { at } => {
                query.bind(*at)
            }
            OperatorChange::MfaReset { totp_secret } => query.bind(totp_secret.as_bytes()),
            OperatorChange::Status(status) => query.bind(status.as_str()),
            OperatorChange::Role(role) => query.bind(role.as_str()),
            OperatorChange::PasswordHash(hash) => query.bind(hash.as_str()),
            OperatorChange::Unlocked => query,
        };
        let mut tx = self.pool.begin().await?;
        if query.bind(id.0).execute(&mut *tx).await?.affected() == 0 {
            return Err(Error::not_found(id.to_string()));
        }
        let codes = match change {
            OperatorChange::Activated { recovery_codes, .. } => Some(recovery_codes.as_slice()),
            OperatorChange::MfaReset { .. } => Some(&[][..]),
            _ => None,
        };
        if let Some(codes) = codes {
            let delete = format!("DELETE FROM operator_recovery_codes WHERE operator_id = {p1}");
            sqlx::query(&delete).bind(id.0).execute(&mut *tx).await?;
            let insert = format!(
                "INSERT INTO operator_recovery_codes (operator_id, code_hash) VALUES ({p1}, {p2})"
            );
            for code in codes {
                sqlx::query(&insert)
                    .bind(id.0)
                    .bind(code.0.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some((actor, action, detail)) = change_event(id, change) {
            let target = Target::operator(id);
            record::<DB>(&mut tx, self.dialect, actor, action, target, detail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes `code` from the operator's unused recovery codes; true if it was there.
    pub async fn consume_recovery_code(
        &self,
        id: OperatorId,
        code: &RecoveryCodeHash,
    ) -> Result<bool> {
        let sql = format!(
            "DELETE FROM operator_recovery_codes WHERE operator_id = {} AND code_hash = {}",
            self.ph(1),
            self.ph(2)
        );
        let done = sqlx::query(&sql)
            .bind(id.0)
            .bind(code.0.as_slice())
            .execute(self.pool)
            .await?;
        Ok(done.affected() == 1)
    }

    /// Stores a new session.
    pub async fn insert_session(&self, s: &SessionRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO operator_sessions ({SESSION_COLUMNS}) VALUES ({})",
            self.dialect.placeholders(1, 6)
        );
        sqlx::query(&sql)
            .bind(s.id_hash.0.as_slice())
            .bind(s.operator.0)
            .bind(s.stage.as_str())
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(s.second_factor_at)
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// The session with this id hash.
    pub async fn session(&self, id: &SessionIdHash) -> Result<Option<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM operator_sessions WHERE id_hash = {}",
            self.ph(1)
        );
        let row = sqlx::query(&sql)
            .bind(id.0.as_slice())
            .fetch_optional(self.pool)
            .await?;
        row.as_ref().map(session).transpose()
    }

    /// Stores a session's new `last_seen_at` and `second_factor_at`.
    pub async fn update_session(&self, s: &SessionRecord) -> Result<()> {
        let sql = format!(
            "UPDATE operator_sessions SET last_seen_at = {}, second_factor_at = {} \
             WHERE id_hash = {}",
            self.ph(1),
            self.ph(2),
            self.ph(3)
        );
        sqlx::query(&sql)
            .bind(s.last_seen_at)
            .bind(s.second_factor_at)
            .bind(s.id_hash.0.as_slice())
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// Removes a session.
    pub async fn delete_session(&self, id: &SessionIdHash) -> Result<()> {
        let sql = format!(
            "DELETE FROM operator_sessions WHERE id_hash = {}",
            self.ph(1)
        );
        sqlx::query(&sql)
            .bind(id.0.as_slice())
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// Removes every session of an operator; how many.
    pub async fn delete_operator_sessions(&self, operator: OperatorId) -> Result<u64> {
        let sql = format!(
            "DELETE FROM operator_sessions WHERE operator_id = {}",
            self.ph(1)
        );
        let done = sqlx::query(&sql)
            .bind(operator.0)
            .execute(self.pool)
            .await?;
        Ok(done.affected())
    }

    /// Removes every ended session; how many.
    pub async fn delete_ended_sessions(&self, c: &SessionCutoffs) -> Result<u64> {
        let sql = format!(
            "DELETE FROM operator_sessions WHERE last_seen_at < {} OR created_at < {} \
             OR (stage <> 'active' AND created_at < {})",
            self.ph(1),
            self.ph(2),
            self.ph(3)
        );
        let done = sqlx::query(&sql)
            .bind(c.last_seen_before)
            .bind(c.created_before)
            .bind(c.unfinished_created_before)
            .execute(self.pool)
            .await?;
        Ok(done.affected())
    }

    /// Stores a new token.
    pub async fn insert_token(&self, t: &NewApiTokenRecord) -> Result<ApiTokenId> {
        let insert = format!(
            "INSERT INTO operator_tokens (operator_id, name, token_hash, created_at, expires_at) \
             VALUES ({})",
            self.dialect.placeholders(1, 5)
        );
        let mut tx = self.pool.begin().await?;
        sqlx::query(&insert)
            .bind(t.operator.0)
            .bind(t.name.as_str())
            .bind(t.hash.0.as_slice())
            .bind(t.created_at)
            .bind(t.expires_at)
            .execute(&mut *tx)
            .await?;
        let select = format!(
            "SELECT id FROM operator_tokens WHERE token_hash = {}",
            self.ph(1)
        );
        let id = sqlx::query(&select)
            .bind(t.hash.0.as_slice())
            .fetch_one(&mut *tx)
            .await?
            .int(0)?;
        let target = Target::operator(t.operator).with_id(TargetKind::Token, id);
        let detail = Detail::none();
        record::<DB>(
            &mut tx,
            self.dialect,
            None,
            Action::TokenCreate,
            target,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(ApiTokenId(id))
    }

    /// The tokens matching `condition` on placeholder 1 (bound to `key`), by id.
    async fn tokens_where(
        &self,
        condition: &str,
        key: TokenKey<'_>,
    ) -> Result<Vec<ApiTokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM operator_tokens WHERE {condition} = {} ORDER BY id",
            self.ph(1)
        );
        let query = sqlx::query(&sql);
        let query = match key {
            TokenKey::Hash(hash) => query.bind(hash.0.as_slice()),
            TokenKey::Operator(id) => query.bind(id.0),
        };
        query
            .fetch_all(self.pool)
            .await?
            .iter()
            .map(token)
            .collect()
    }

    /// The token with this hash.
    pub async fn token_by_hash(&self, hash: &ApiTokenHash) -> Result<Option<ApiTokenRecord>> {
        Ok(self
            .tokens_where("token_hash", TokenKey::Hash(hash))
            .await?
            .pop())
    }

    /// An operator's tokens, by id.
    pub async fn operator_tokens(&self, operator: OperatorId) -> Result<Vec<ApiTokenRecord>> {
        self.tokens_where("operator_id", TokenKey::Operator(operator))
            .await
    }

    /// Marks the operator's unrevoked token `id` revoked at `at`.
    pub async fn revoke_token(
        &self,
        operator: OperatorId,
        id: ApiTokenId,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE operator_tokens SET revoked_at = {} WHERE id = {} AND operator_id = {} \
             AND revoked_at IS NULL",
            self.ph(1),
            self.ph(2),
            self.ph(3)
        );
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&sql)
            .bind(at)
            .bind(id.0)
            .bind(operator.0)
            .execute(&mut *tx)
            .await?;
        if done.affected() != 1 {
            return Ok(false);
        }
        let target = Target::operator(operator).with_id(TargetKind::Token, id.0);
        let detail = Detail::none();
        record::<DB>(
            &mut tx,
            self.dialect,
            None,
            Action::TokenRevoke,
            target,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// What an operator lookup binds.
#[derive(Debug, Clone, Copy)]
enum OperatorKey<'a> {
    Id(OperatorId),
    Username(&'a Username),
}

/// What a token lookup binds.
#[derive(Debug, Clone, Copy)]
enum TokenKey<'a> {
    Hash(&'a ApiTokenHash),
    Operator(OperatorId),
}

/// Implements the access traits for a backend type with a `shared()` method returning
/// its [`Shared`], by delegating every method (invoked in each backend folder's
/// `access.rs`, which can see the backend's private `shared`).
#[allow(unused_macros)] // unused in a build with no database backend
macro_rules! impl_access_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::access::OperatorStore for $store {
            async fn insert_operator(
                &self,
                operator: &$crate::access::operator::NewOperatorRecord,
            ) -> $crate::error::Result<$crate::access::OperatorId> {
                self.shared().insert_operator(operator).await
            }
            async fn operator(
                &self,
                id: $crate::access::OperatorId,
            ) -> $crate::error::Result<Option<$crate::access::OperatorRecord>> {
                self.shared().operator(id).await
            }
            async fn operator_by_username(
                &self,
                username: &$crate::access::Username,
            ) -> $crate::error::Result<Option<$crate::access::OperatorRecord>> {
                self.shared().operator_by_username(username).await
            }
            async fn operators(
                &self,
            ) -> $crate::error::Result<Vec<$crate::access::OperatorRecord>> {
                self.shared().operators().await
            }
            async fn swap_sign_in_state(
                &self,
                id: $crate::access::OperatorId,
                expected: &$crate::access::SignInState,
                new: &$crate::access::SignInState,
            ) -> $crate::error::Result<bool> {
                self.shared().swap_sign_in_state(id, expected, new).await
            }
            async fn change_operator(
                &self,
                id: $crate::access::OperatorId,
                change: &$crate::access::OperatorChange,
            ) -> $crate::error::Result<()> {
                self.shared().change_operator(id, change).await
            }
            async fn consume_recovery_code(
                &self,
                id: $crate::access::OperatorId,
                code: &$crate::access::RecoveryCodeHash,
            ) -> $crate::error::Result<bool> {
                self.shared().consume_recovery_code(id, code).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::access::SessionStore for $store {
            async fn insert_session(
                &self,
                session: &$crate::access::SessionRecord,
            ) -> $crate::error::Result<()> {
                self.shared().insert_session(session).await
            }
            async fn session(
                &self,
                id: &$crate::access::SessionIdHash,
            ) -> $crate::error::Result<Option<$crate::access::SessionRecord>> {
                self.shared().session(id).await
            }
            async fn update_session(
                &self,
                session: &$crate::access::SessionRecord,
            ) -> $crate::error::Result<()> {
                self.shared().update_session(session).await
            }
            async fn delete_session(
                &self,
                id: &$crate::access::SessionIdHash,
            ) -> $crate::error::Result<()> {
                self.shared().delete_session(id).await
            }
            async fn delete_operator_sessions(
                &self,
                operator: $crate::access::OperatorId,
            ) -> $crate::error::Result<u64> {
                self.shared().delete_operator_sessions(operator).await
            }
            async fn delete_ended_sessions(
                &self,
                cutoffs: &$crate::access::store::SessionCutoffs,
            ) -> $crate::error::Result<u64> {
                self.shared().delete_ended_sessions(cutoffs).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::access::ApiTokenStore for $store {
            async fn insert_token(
                &self,
                token: &$crate::access::token::NewApiTokenRecord,
            ) -> $crate::error::Result<$crate::access::ApiTokenId> {
                self.shared().insert_token(token).await
            }
            async fn token_by_hash(
                &self,
                hash: &$crate::access::ApiTokenHash,
            ) -> $crate::error::Result<Option<$crate::access::ApiTokenRecord>> {
                self.shared().token_by_hash(hash).await
            }
            async fn operator_tokens(
                &self,
                operator: $crate::access::OperatorId,
            ) -> $crate::error::Result<Vec<$crate::access::ApiTokenRecord>> {
                self.shared().operator_tokens(operator).await
            }
            async fn revoke_token(
                &self,
                operator: $crate::access::OperatorId,
                id: $crate::access::ApiTokenId,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<bool> {
                self.shared().revoke_token(operator, id, at).await
            }
        }
    };
}
pub(crate) use impl_access_store;
