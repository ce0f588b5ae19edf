//! The storage the sign-in service needs: three small traits, one per table family.
//!
//! Each SQL backend implements them (that comes with the storage rework: operators,
//! recovery codes, sessions and tokens tables on SQLite, PostgreSQL and MySQL); the
//! tests here use an in-memory implementation. Every method is one transaction. The
//! failure counters, lock and last accepted TOTP step change only by compare-and-swap
//! ([`OperatorStore::swap_sign_in_state`]), so two concurrent attempts cannot both
//! pass a lockout or both use one code.
//!
//! The tables the SQL backends will need (a sketch for the storage work; the in-memory
//! test store and `access::conformance` pin the behaviour):
//!
//! | table | columns |
//! |---|---|
//! | `operators` | `id`, `username` (unique, normalised), `display_name`, `role`, `status`, `password_hash` (PHC text), `totp_secret` (sealed bytes), `consecutive_failures`, `locks`, `locked_until`, `last_totp_step`, `enrolled_at`, `created_at`, `last_sign_in_at` |
//! | `operator_recovery_codes` | `operator_id`, `code_hash` (32 bytes); primary key both |
//! | `operator_sessions` | `id_hash` (32 bytes, primary key), `operator_id`, `stage`, `created_at`, `last_seen_at`, `second_factor_at` |
//! | `operator_tokens` | `id`, `operator_id`, `name`, `token_hash` (32 bytes, unique), `created_at`, `expires_at`, `revoked_at` |
//!
//! The swap is one `UPDATE operators SET <new state> WHERE id = ? AND <each state column
//! equals the expected value, NULL-safe>`, true when it touched a row.

use super::operator::NewOperatorRecord;
use super::session::SessionRecord;
use super::token::NewApiTokenRecord;
use super::{
    ApiTokenHash, ApiTokenId, ApiTokenRecord, OperatorId, OperatorRecord, OperatorStatus,
    PasswordHash, RecoveryCodeHash, Role, SealedSecret, SessionIdHash, SignInState, Username,
};
use crate::audit::AuditStore;
use crate::error::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// One change to an operator, applied atomically.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorChange {
    /// The first valid code was entered: status active, `enrolled_at` set, and the
    /// operator's recovery codes replaced by these.
    Activated {
        /// When.
        at: DateTime<Utc>,
        /// The new recovery codes' hashes.
        recovery_codes: Vec<RecoveryCodeHash>,
    },
    /// Second factor reset by an admin: a new sealed secret, status pending,
    /// `enrolled_at` cleared, every recovery code deleted, the sign-in state cleared.
    MfaReset {
        /// The new sealed TOTP secret.
        totp_secret: SealedSecret,
    },
    /// A new status (disable, enable).
    Status(OperatorStatus),
    /// A new role.
    Role(Role),
    /// A new password hash (a rehash with current parameters).
    PasswordHash(PasswordHash),
    /// A lock lifted by an admin: failures, locks and the lock cleared (the last
    /// accepted TOTP step kept).
    Unlocked,
    /// A completed sign-in.
    SignedIn {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Operators and their recovery codes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OperatorStore: Send + Sync + std::fmt::Debug {
    /// Stores a new operator (pending, no failures). `AlreadyExists` when the username
    /// is taken.
    async fn insert_operator(&self, operator: &NewOperatorRecord) -> Result<OperatorId>;

    /// The operator with this id.
    async fn operator(&self, id: OperatorId) -> Result<Option<OperatorRecord>>;

    /// The operator with this (normalised) username.
    async fn operator_by_username(&self, username: &Username) -> Result<Option<OperatorRecord>>;

    /// Every operator, by id.
    async fn operators(&self) -> Result<Vec<OperatorRecord>>;

    /// Sets the sign-in state to `new` if it is still `expected`; false (nothing
    /// written) if it changed meanwhile or the operator does not exist.
    async fn swap_sign_in_state(
        &self,
        id: OperatorId,
        expected: &SignInState,
        new: &SignInState,
    ) -> Result<bool>;

    /// Applies `change`. `NotFound` when the operator does not exist.
    async fn change_operator(&self, id: OperatorId, change: &OperatorChange) -> Result<()>;

    /// Deletes `code` from the operator's unused recovery codes; true if it was there.
    async fn consume_recovery_code(&self, id: OperatorId, code: &RecoveryCodeHash) -> Result<bool>;
}

/// The cut-off times for removing ended sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCutoffs {
    /// Sessions last used before this are idle.
    pub last_seen_before: DateTime<Utc>,
    /// Sessions started before this are past the absolute limit.
    pub created_before: DateTime<Utc>,
    /// Sessions not yet active and started before this are unfinished sign-ins.
    pub unfinished_created_before: DateTime<Utc>,
}

/// Browser sessions, by the hash of their id.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Stores a new session.
    async fn insert_session(&self, session: &SessionRecord) -> Result<()>;

    /// The session with this id hash.
    async fn session(&self, id: &SessionIdHash) -> Result<Option<SessionRecord>>;

    /// Stores a session's new `last_seen_at` and `second_factor_at` (nothing else
    /// changes); nothing happens if it is gone.
    async fn update_session(&self, session: &SessionRecord) -> Result<()>;

    /// Removes a session (sign-out); nothing happens if it is gone.
    async fn delete_session(&self, id: &SessionIdHash) -> Result<()>;

    /// Removes every session of an operator; how many.
    async fn delete_operator_sessions(&self, operator: OperatorId) -> Result<u64>;

    /// Removes every ended session; how many.
    async fn delete_ended_sessions(&self, cutoffs: &SessionCutoffs) -> Result<u64>;
}

/// API tokens, by the hash of the token.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ApiTokenStore: Send + Sync + std::fmt::Debug {
    /// Stores a new token.
    async fn insert_token(&self, token: &NewApiTokenRecord) -> Result<ApiTokenId>;

    /// The token with this hash.
    async fn token_by_hash(&self, hash: &ApiTokenHash) -> Result<Option<ApiTokenRecord>>;

    /// An operator's tokens (revoked and expired ones too), by id.
    async fn operator_tokens(&self, operator: OperatorId) -> Result<Vec<ApiTokenRecord>>;

    /// Marks the operator's token `id` revoked at `at`; false if they have no such
    /// unrevoked token.
    async fn revoke_token(
        &self,
        operator: OperatorId,
        id: ApiTokenId,
        at: DateTime<Utc>,
    ) -> Result<bool>;
}

/// Everything the sign-in service needs from storage, the audit ledger included: the
/// SQL stores append the ledger events of operator and token changes inside those
/// changes' transactions; the service appends the refusals that write nothing.
pub trait AccessStore: OperatorStore + SessionStore + ApiTokenStore + AuditStore {}

impl<T> AccessStore for T where T: OperatorStore + SessionStore + ApiTokenStore + AuditStore {}
