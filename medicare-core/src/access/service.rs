//! The sign-in service: operators, their second factor, sessions and API tokens, over
//! the [`AccessStore`] seam.
//!
//! Signing in takes two steps. [`Service::sign_in`] checks the password and opens an
//! *unfinished* session (5 minutes to finish); [`Service::second_factor`] (a TOTP or a
//! recovery code) or, for an operator who has not enrolled yet,
//! [`Service::confirm_enrolment`] (the first valid code from the app) ends it and opens
//! a new, signed-in session with a new id, so an id seen before the second factor is
//! worth nothing after it. Every wrong password or code counts towards the lockout;
//! malformed input is bad input and counts for nothing.
//!
//! The service never decides *what* a principal may do beyond the role table
//! ([`Principal::decide`]); the routes and the CLI ask it who is calling and then
//! decide with the permission they declare.

use super::denial::NotAuthenticated;
use super::operator::NewOperatorRecord;
use super::principal::Credential;
use super::store::SessionCutoffs;
use super::token::{max_token_lifetime, validate_token_name, NewApiTokenRecord};
use super::totp::TotpCheck;
use super::{
    AccessError, AccessStore, ApiToken, ApiTokenId, ApiTokenRecord, CsrfToken, Enrolment,
    LockoutPolicy, NewOperator, NewPassword, OperatorChange, OperatorId, OperatorRecord,
    OperatorStatus, OperatorSummary, PasswordHasher, Principal, RecoveryCode, RecoveryCodes,
    Refusal, Role, SecretSealer, SessionId, SessionPolicy, SessionRecord, SignInState, Stage,
    TimeStep, TotpCode, TotpSecret, Username,
};
use crate::clock::Clock;
use crate::error::Error;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;

type Result<T, E = AccessError> = std::result::Result<T, E>;

/// How many times a compare-and-swap of the sign-in state is retried under contention.
const SWAP_ATTEMPTS: usize = 5;

/// A session just opened: its id goes in the cookie, its CSRF token in the forms.
pub struct IssuedSession {
    /// The id (cookie value).
    pub id: SessionId,
    /// The CSRF token.
    pub csrf: CsrfToken,
    /// How far through signing in it is.
    pub stage: Stage,
}

impl fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSession")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

/// A completed enrolment: the signed-in session and the recovery codes, shown once.
#[derive(Debug)]
pub struct Enrolled {
    /// The signed-in session.
    pub session: IssuedSession,
    /// The ten recovery codes.
    pub recovery_codes: RecoveryCodes,
}

/// A new API token, shown once.
#[derive(Debug)]
pub struct IssuedToken {
    /// Its id (for lists and revocation).
    pub id: ApiTokenId,
    /// The token.
    pub token: ApiToken,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The second factor presented at sign-in.
#[derive(Clone, Copy)]
pub enum SecondFactor<'a> {
    /// A code from the authenticator app, as typed.
    Totp(&'a str),
    /// A recovery code, as typed.
    RecoveryCode(&'a str),
}

impl fmt::Debug for SecondFactor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecondFactor::Totp(_) => "Totp(..)",
            SecondFactor::RecoveryCode(_) => "RecoveryCode(..)",
        })
    }
}

/// Operators' sign-in, sessions and tokens.
pub struct Service {
    store: Arc<dyn AccessStore>,
    sealer: Arc<dyn SecretSealer>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    lockout: LockoutPolicy,
    sessions: SessionPolicy,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("hasher", &self.hasher)
            .field("lockout", &self.lockout)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

fn totp_context(username: &Username) -> String {
    format!("medicare-totp-v1:{username}")
}

fn refused(reason: Refusal, operator: OperatorId) -> AccessError {
    tracing::info!(%operator, reason = reason.as_str(), "operator sign-in step refused");
    AccessError::refused(reason, Some(operator))
}

fn unauthenticated(why: NotAuthenticated) -> AccessError {
    tracing::debug!(?why, "not authenticated");
    AccessError::Unauthenticated(why)
}

impl Service {
    /// A service with the default lockout and session policies.
    pub fn new(
        store: Arc<dyn AccessStore>,
        sealer: Arc<dyn SecretSealer>,
        clock: Arc<dyn Clock>,
        hasher: PasswordHasher,
    ) -> Self {
        Service {
            store,
            sealer,
            clock,
            hasher,
            lockout: LockoutPolicy::default(),
            sessions: SessionPolicy::default(),
        }
    }

    /// Uses another lockout policy.
    pub fn with_lockout(mut self, lockout: LockoutPolicy) -> Self {
        self.lockout = lockout;
        self
    }

    /// Uses another session policy.
    pub fn with_sessions(mut self, sessions: SessionPolicy) -> Self {
        self.sessions = sessions;
        self
    }

    /// The session policy in force.
    pub fn session_policy(&self) -> &SessionPolicy {
        &self.sessions
    }

    // ----- operators -------------------------------------------------------------

    /// Adds an operator (pending until their first valid code) with `password`, and
    /// returns their enrolment, to show once to them alone.
    pub async fn add_operator(
        &self,
        new: NewOperator,
        password: SecretString,
    ) -> Result<(OperatorId, Enrolment)> {
        let password = NewPassword::new(password, &new.username)?;
        let hasher = self.hasher.clone();
        let password_hash = blocking(move || hasher.hash(&password)).await?;
        let secret = TotpSecret::generate();
        let totp_secret = self
            .sealer
            .seal(secret.bytes(), &totp_context(&new.username))
            .await?;
        let id = self
            .store
            .insert_operator(&NewOperatorRecord {
                username: new.username.clone(),
                display_name: new.display_name,
                role: new.role,
                password_hash,
                totp_secret,
                created_at: self.clock.now(),
            })
            .await?;
        tracing::info!(operator = %id, role = %new.role, "operator added");
        Ok((id, Enrolment::new(&secret, &new.username)?))
    }

    async fn record(&self, id: OperatorId) -> Result<OperatorRecord> {
        self.store
            .operator(id)
            .await?
            .ok_or_else(|| Error::not_found(id.to_string()).into())
    }

    /// Every operator, by id.
    pub async fn operators(&self) -> Result<Vec<OperatorSummary>> {
        let now = self.clock.now();
        Ok(self
            .store
            .operators()
            .await?
            .iter()
            .map(|r| OperatorSummary::of(r, now))
            .collect())
    }

    /// One operator, by id.
    pub async fn operator(&self, id: OperatorId) -> Result<OperatorSummary> {
        let record = self.record(id).await?;
        Ok(OperatorSummary::of(&record, self.clock.now()))
    }

    /// One operator, by username (as typed; compared case-insensitively).
    pub async fn operator_by_username(&self, username: &str) -> Result<OperatorSummary> {
        let username = Username::parse(username)?;
        let record = self
            .store
            .operator_by_username(&username)
            .await?
            .ok_or_else(|| Error::not_found(format!("operator {username}")))?;
        Ok(OperatorSummary::of(&record, self.clock.now()))
    }

    /// Refuses a change that would leave no enabled admin.
    async fn keep_an_admin(&self, id: OperatorId) -> Result<()> {
        let operators = self.store.operators().await?;
        let other_admin = operators
            .iter()
            .any(|o| o.id != id && o.role == Role::Admin && o.status != OperatorStatus::Disabled);
        let is_admin = operators
            .iter()
            .any(|o| o.id == id && o.role == Role::Admin && o.status != OperatorStatus::Disabled);
        if is_admin && !other_admin {
            return Err(Error::Conflict(format!(
                "{id} is the last enabled admin: add or enable another admin first"
            ))
            .into());
        }
        Ok(())
    }

    /// Gives an operator another role. Their sessions end (they sign in again with the
    /// new role); tokens carry the new role from their next use.
    pub async fn set_role(&self, id: OperatorId, role: Role) -> Result<()> {
        let record = self.record(id).await?;
        if record.role == role {
            return Ok(());
        }
        self.keep_an_admin(id).await?;
        self.store
            .change_operator(id, &OperatorChange::Role(role))
            .await?;
        self.store.delete_operator_sessions(id).await?;
        tracing::info!(operator = %id, %role, "operator role changed");
        Ok(())
    }

    /// Disables an operator: their sessions end at once, their tokens stop working.
    /// Returns how many sessions ended.
    pub async fn disable(&self, id: OperatorId) -> Result<u64> {
        self.record(id).await?;
        self.keep_an_admin(id).await?;
        self.store
            .change_operator(id, &OperatorChange::Status(OperatorStatus::Disabled))
            .await?;
        let ended = self.store.delete_operator_sessions(id).await?;
        tracing::info!(operator = %id, sessions_ended = ended, "operator disabled");
        Ok(ended)
    }

    /// Enables a disabled operator again (active if enrolled, else pending).
    pub async fn enable(&self, id: OperatorId) -> Result<()> {
        let record = self.record(id).await?;
        if record.status != OperatorStatus::Disabled {
            return Ok(());
        }
        let status = if record.enrolled_at.is_some() {
            OperatorStatus::Active
        } else {
            OperatorStatus::Pending
        };
        self.store
            .change_operator(id, &OperatorChange::Status(status))
            .await?;
        tracing::info!(operator = %id, "operator enabled");
        Ok(())
    }

    /// Lifts a lock and clears the failure count.
    pub async fn unlock(&self, id: OperatorId) -> Result<()> {
        self.record(id).await?;
        self.store
            .change_operator(id, &OperatorChange::Unlocked)
            .await?;
        tracing::info!(operator = %id, "operator unlocked");
        Ok(())
    }

    /// Records a refused sign-in step that wrote nothing (an unknown username, a
    /// disabled or locked account) as a failed `sign_in`; a wrong password or code is
    /// recorded with the failure it counts, in the same transaction.
    async fn record_refusal(&self, reason: Refusal, operator: Option<OperatorId>) -> Result<()> {
        let target =
            operator.map_or_else(crate::audit::Target::none, crate::audit::Target::operator);
        crate::audit::record_outcome(
            self.store.as_ref(),
            crate::audit::Action::SignIn,
            target,
            crate::audit::Detail::none().word("reason", reason.as_str()),
            crate::audit::Outcome::Failed,
        )
        .await?;
        Ok(())
    }

    /// Replaces an operator's second factor (a lost phone): a new secret, back to
    /// pending, recovery codes deleted, sessions ended. Returns the new enrolment.
    pub async fn reset_mfa(&self, id: OperatorId) -> Result<Enrolment> {
        let record = self.record(id).await?;
        let secret = TotpSecret::generate();
        let totp_secret = self
            .sealer
            .seal(secret.bytes(), &totp_context(&record.username))
            .await?;
        self.store
            .change_operator(id, &OperatorChange::MfaReset { totp_secret })
            .await?;
        self.store.delete_operator_sessions(id).await?;
        tracing::info!(operator = %id, "operator second factor reset");
        Ok(Enrolment::new(&secret, &record.username)?)
    }

    // ----- signing in --------------------------------------------------------------

    /// Step one: the password. An unknown username, a wrong password, a locked or
    /// disabled account all cost the same argon2 work and get the same refusal. On
    /// success, an unfinished session: [`Stage::SecondFactor`], or [`Stage::Enrolment`]
    /// for an operator who has not confirmed an authenticator yet.
    pub async fn sign_in(&self, username: &str, password: &SecretString) -> Result<IssuedSession> {
        let username = Username::parse(username)?;
        let record = self.store.operator_by_username(&username).await?;
        let hasher = self.hasher.clone();
        let stored = record.as_ref().map(|r| r.password_hash.clone());
        let presented = SecretString::from(password.expose_secret().to_owned());
        let password_ok = blocking(move || Ok(hasher.verify(stored.as_ref(), &presented))).await?;
        let Some(record) = record else {
            tracing::info!(
                reason = Refusal::UnknownUser.as_str(),
                "operator sign-in refused"
            );
            self.record_refusal(Refusal::UnknownUser, None).await?;
            return Err(AccessError::refused(Refusal::UnknownUser, None));
        };
        let now = self.clock.now();
        if record.status == OperatorStatus::Disabled {
            self.record_refusal(Refusal::Disabled, Some(record.id))
                .await?;
            return Err(refused(Refusal::Disabled, record.id));
        }
        if self.lockout.locked_until(&record.sign_in, now).is_some() {
            self.record_refusal(Refusal::Locked, Some(record.id))
                .await?;
            return Err(refused(Refusal::Locked, record.id));
        }
        if !password_ok {
            self.count_failure(record.id).await?;
            return Err(refused(Refusal::WrongPassword, record.id));
        }
        if self.hasher.needs_rehash(&record.password_hash) {
            let hasher = self.hasher.clone();
            let presented = SecretString::from(password.expose_secret().to_owned());
            let rehashed = blocking(move || hasher.rehash(&presented)).await?;
            self.store
                .change_operator(record.id, &OperatorChange::PasswordHash(rehashed))
                .await?;
        }
        let stage = if record.status == OperatorStatus::Pending {
            Stage::Enrolment
        } else {
            Stage::SecondFactor
        };
        self.open_session(record.id, stage, None).await
    }

    async fn open_session(
        &self,
        operator: OperatorId,
        stage: Stage,
        second_factor_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedSession> {
        let id = SessionId::generate();
        let now = self.clock.now();
        self.store
            .insert_session(&SessionRecord {
                id_hash: id.hash(),
                operator,
                stage,
                created_at: now,
                last_seen_at: now,
                second_factor_at,
            })
            .await?;
        Ok(IssuedSession {
            csrf: id.csrf_token(),
            id,
            stage,
        })
    }

    /// The live session `id` at `stage`, with its operator. Ended sessions are removed.
    async fn live_session(
        &self,
        id: &SessionId,
        stage: Stage,
    ) -> Result<(SessionRecord, OperatorRecord)> {
        let hash = id.hash();
        let session = self
            .store
            .session(&hash)
            .await?
            .ok_or_else(|| unauthenticated(NotAuthenticated::UnknownSession))?;
        if let Some(end) = self.sessions.ended(&session, self.clock.now()) {
            self.store.delete_session(&hash).await?;
            return Err(unauthenticated(NotAuthenticated::SessionEnded(end)));
        }
        if session.stage != stage {
            return Err(unauthenticated(NotAuthenticated::WrongStage));
        }
        let operator = self.store.operator(session.operator).await?;
        let expected_status = if stage == Stage::Enrolment {
            OperatorStatus::Pending
        } else {
            OperatorStatus::Active
        };
        match operator {
            Some(op) if op.status == expected_status => Ok((session, op)),
            _ => {
                self.store.delete_session(&hash).await?;
                Err(unauthenticated(NotAuthenticated::OperatorUnavailable))
            }
        }
    }

    /// The enrolment (URI, QR code) for an unfinished session of an operator who has not
    /// enrolled yet.
    pub async fn enrolment(&self, session: &SessionId) -> Result<Enrolment> {
        let (_, op) = self.live_session(session, Stage::Enrolment).await?;
        let secret = self.totp_secret(&op).await?;
        Ok(Enrolment::new(&secret, &op.username)?)
    }

    async fn totp_secret(&self, op: &OperatorRecord) -> Result<TotpSecret> {
        let bytes = self
            .sealer
            .open(&op.totp_secret, &totp_context(&op.username))
            .await?;
        Ok(TotpSecret::from_bytes(bytes)?)
    }

    /// Step two for an operator not enrolled yet: the first valid code from their app
    /// makes them active. Returns the signed-in session and their recovery codes.
    pub async fn confirm_enrolment(&self, session: &SessionId, code: &str) -> Result<Enrolled> {
        let (pending, op) = self.live_session(session, Stage::Enrolment).await?;
        let code = TotpCode::parse(code)?;
        self.check_totp(&op, &code).await?;
        let now = self.clock.now();
        let recovery_codes = RecoveryCodes::generate();
        self.store
            .change_operator(
                op.id,
                &OperatorChange::Activated {
                    at: now,
                    recovery_codes: recovery_codes.hashes(),
                },
            )
            .await?;
        tracing::info!(operator = %op.id, "operator enrolled");
        let session = self.finish_sign_in(&pending, now).await?;
        Ok(Enrolled {
            session,
            recovery_codes,
        })
    }

    /// Step two: a TOTP or a recovery code. Returns the signed-in session (a new id).
    pub async fn second_factor(
        &self,
        session: &SessionId,
        factor: SecondFactor<'_>,
    ) -> Result<IssuedSession> {
        let (pending, op) = self.live_session(session, Stage::SecondFactor).await?;
        match factor {
            SecondFactor::Totp(code) => {
                let code = TotpCode::parse(code)?;
                self.check_totp(&op, &code).await?;
            }
            SecondFactor::RecoveryCode(code) => {
                let code = RecoveryCode::parse(code)?;
                self.use_recovery_code(&op, &code).await?;
            }
        }
        self.finish_sign_in(&pending, self.clock.now()).await
    }

    async fn finish_sign_in(
        &self,
        pending: &SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession> {
        self.store.delete_session(&pending.id_hash).await?;
        self.store
            .change_operator(pending.operator, &OperatorChange::SignedIn { at: now })
            .await?;
        tracing::info!(operator = %pending.operator, "operator signed in");
        self.open_session(pending.operator, Stage::Active, Some(now))
            .await
    }

    /// Checks a TOTP code for `op`, counting a failure or recording the accepted step.
    async fn check_totp(&self, op: &OperatorRecord, code: &TotpCode) -> Result<TimeStep> {
        let secret = self.totp_secret(op).await?;
        let now = self.clock.now();
        let lockout = self.lockout;
        let mut check_error = None;
        let outcome = self
            .transition(op.id, |state| {
                if lockout.locked_until(state, now).is_some() {
                    return (*state, Err(Refusal::Locked));
                }
                match secret.check(code, now, state.last_totp_step) {
                    Ok(TotpCheck::Accepted(step)) => {
                        (lockout.after_success(state, Some(step)), Ok(step))
                    }
                    Ok(TotpCheck::Replayed) => (
                        lockout.after_failure(state, now),
                        Err(Refusal::ReplayedCode),
                    ),
                    Ok(TotpCheck::Wrong) => {
                        (lockout.after_failure(state, now), Err(Refusal::WrongCode))
                    }
                    Err(e) => {
                        check_error = Some(e);
                        (*state, Err(Refusal::WrongCode))
                    }
                }
            })
            .await?;
        if let Some(e) = check_error {
            return Err(e.into());
        }
        if matches!(outcome, Err(Refusal::Locked)) {
            self.record_refusal(Refusal::Locked, Some(op.id)).await?;
        }
        outcome.map_err(|reason| refused(reason, op.id))
    }

    async fn use_recovery_code(&self, op: &OperatorRecord, code: &RecoveryCode) -> Result<()> {
        let now = self.clock.now();
        if self.lockout.locked_until(&op.sign_in, now).is_some() {
            self.record_refusal(Refusal::Locked, Some(op.id)).await?;
            return Err(refused(Refusal::Locked, op.id));
        }
        let lockout = self.lockout;
        if self
            .store
            .consume_recovery_code(op.id, &code.hash())
            .await?
        {
            self.transition(op.id, |s| (lockout.after_success(s, None), ()))
                .await?;
            tracing::info!(operator = %op.id, "operator used a recovery code");
            Ok(())
        } else {
            self.count_failure(op.id).await?;
            Err(refused(Refusal::WrongRecoveryCode, op.id))
        }
    }

    async fn count_failure(&self, id: OperatorId) -> Result<()> {
        let now = self.clock.now();
        let lockout = self.lockout;
        self.transition(id, |s| (lockout.after_failure(s, now), ()))
            .await
    }

    /// Applies `step` to the operator's sign-in state by compare-and-swap, re-reading
    /// and retrying when another attempt changed it meanwhile.
    async fn transition<T>(
        &self,
        id: OperatorId,
        mut step: impl FnMut(&SignInState) -> (SignInState, T),
    ) -> Result<T> {
        for _ in 0..SWAP_ATTEMPTS {
            let current = self.record(id).await?.sign_in;
            let (next, out) = step(&current);
            if next == current || self.store.swap_sign_in_state(id, &current, &next).await? {
                return Ok(out);
            }
        }
        Err(refused(Refusal::Concurrent, id))
    }

    /// Re-enters a second factor in a signed-in session (before sending, restoring,
    /// exporting or managing operators): it counts as fresh for the policy's window.
    pub async fn step_up(&self, session: &SessionId, code: &str) -> Result<()> {
        let (mut record, op) = self.live_session(session, Stage::Active).await?;
        let code = TotpCode::parse(code)?;
        self.check_totp(&op, &code).await?;
        let now = self.clock.now();
        record.last_seen_at = now;
        record.second_factor_at = Some(now);
        self.store.update_session(&record).await?;
        Ok(())
    }

    /// Who a signed-in session belongs to; refreshes its idle timer. A lock stops new
    /// sign-in attempts, not a session already signed in; disabling ends it.
    pub async fn authenticate_session(&self, session: &SessionId) -> Result<Principal> {
        let (mut record, op) = self.live_session(session, Stage::Active).await?;
        let now = self.clock.now();
        record.last_seen_at = now;
        self.store.update_session(&record).await?;
        let fresh_until = record
            .second_factor_at
            .map(|at| at + self.sessions.fresh_second_factor)
            .filter(|until| now < *until);
        Ok(Principal::new(
            op.id,
            op.role,
            Credential::Session { fresh_until },
        ))
    }

    /// Ends a session (sign-out). Unknown ids are fine.
    pub async fn sign_out(&self, session: &SessionId) -> Result<()> {
        self.store.delete_session(&session.hash()).await?;
        Ok(())
    }

    /// Removes every ended session; how many.
    pub async fn expire_sessions(&self) -> Result<u64> {
        let now = self.clock.now();
        Ok(self
            .store
            .delete_ended_sessions(&SessionCutoffs {
                last_seen_before: now - self.sessions.idle,
                created_before: now - self.sessions.absolute,
                unfinished_created_before: now - self.sessions.unfinished,
            })
            .await?)
    }

    // ----- API tokens ----------------------------------------------------------------

    /// Makes a token for `operator`, named `name`, working until `expires_at` (at most a
    /// year and a day ahead). The token is in the answer and nowhere else.
    pub async fn create_token(
        &self,
        operator: OperatorId,
        name: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<IssuedToken> {
        let name = validate_token_name(name)?;
        let now = self.clock.now();
        if expires_at <= now || expires_at > now + max_token_lifetime() {
            return Err(Error::invalid(
                "token expiry",
                "must be in the future and at most 366 days ahead",
            )
            .into());
        }
        let op = self.record(operator).await?;
        if op.status != OperatorStatus::Active {
            return Err(Error::Conflict(format!(
                "{operator} is not active: tokens are for enrolled, enabled operators"
            ))
            .into());
        }
        let token = ApiToken::generate();
        let id = self
            .store
            .insert_token(&NewApiTokenRecord {
                operator,
                name,
                hash: token.hash(),
                created_at: now,
                expires_at,
            })
            .await?;
        tracing::info!(%operator, token = %id, "API token created");
        Ok(IssuedToken {
            id,
            token,
            expires_at,
        })
    }

    /// An operator's tokens (never the tokens themselves).
    pub async fn tokens(&self, operator: OperatorId) -> Result<Vec<ApiTokenRecord>> {
        Ok(self.store.operator_tokens(operator).await?)
    }

    /// Revokes one of `operator`'s tokens; it stops working at once.
    pub async fn revoke_token(&self, operator: OperatorId, id: ApiTokenId) -> Result<()> {
        if !self
            .store
            .revoke_token(operator, id, self.clock.now())
            .await?
        {
            return Err(Error::not_found(format!("API token {id} of {operator}")).into());
        }
        tracing::info!(%operator, token = %id, "API token revoked");
        Ok(())
    }

    /// Who a presented bearer token belongs to. Malformed, unknown, expired and revoked
    /// tokens, and tokens of operators who are not active, get the same refusal.
    pub async fn authenticate_token(&self, presented: &str) -> Result<Principal> {
        let token = ApiToken::parse(presented.trim())
            .ok_or_else(|| unauthenticated(NotAuthenticated::UnknownToken))?;
        let record = self
            .store
            .token_by_hash(&token.hash())
            .await?
            .ok_or_else(|| unauthenticated(NotAuthenticated::UnknownToken))?;
        if !record.usable_at(self.clock.now()) {
            return Err(unauthenticated(NotAuthenticated::TokenEnded));
        }
        match self.store.operator(record.operator).await? {
            Some(op) if op.status == OperatorStatus::Active => Ok(Principal::new(
                op.id,
                op.role,
                Credential::ApiToken(record.id),
            )),
            _ => Err(unauthenticated(NotAuthenticated::OperatorUnavailable)),
        }
    }
}

/// Runs CPU-heavy work (argon2) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::Config("password hashing was interrupted".into()))?
        .map_err(Into::into)
}

#[cfg(test)]
pub(crate) mod tests;
