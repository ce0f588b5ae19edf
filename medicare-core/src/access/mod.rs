//! Operators: who may do what, and how they prove who they are.
//!
//! Two kinds of people touch medicare: patients, who hold nothing but a one-time link,
//! and operators, who run campaigns over everyone's health data. This module is the
//! operators' side, written once and used by the server, the CLI and the Lambda
//! examples through the same calls:
//!
//! - **What they may do**: a [`Permission`] per action and a built-in [`Role`] per job;
//!   [`ROLE_PERMISSIONS`] is the one table of grants, and what it does not grant is
//!   refused. Sending, restoring, exporting and managing operators also need a fresh
//!   second factor.
//! - **Who they are**: a [`Username`] (case-insensitive), an argon2id password
//!   ([`password`]), and a mandatory TOTP second factor ([`totp`]) with ten single-use
//!   [`recovery`] codes; [`lockout`] locks an account after repeated failures. TOTP
//!   secrets are stored sealed ([`SecretSealer`]).
//! - **How they stay signed in**: browser [`session`]s (opaque 256-bit ids, only their
//!   hash stored, CSRF tokens, idle and absolute expiry, a `__Host-` [`cookie`]) and
//!   per-operator API [`token`]s.
//!
//! [`Service`] ties these together over the storage seam [`AccessStore`]; it never logs
//! or returns a password, secret, code or token except to the one caller meant to see
//! it once (an enrolment, new recovery codes, a new token or session id).

pub mod cookie;
pub mod denial;
pub mod lockout;
pub mod operator;
pub mod password;
pub mod permission;
pub mod principal;
pub mod recovery;
pub mod role;
pub mod sealer;
pub mod service;
pub mod session;
pub mod store;
pub mod token;
pub mod totp;
pub mod username;

#[cfg(test)]
pub(crate) mod canary;
#[cfg(test)]
pub(crate) mod conformance;
#[cfg(test)]
pub(crate) mod memory;

pub use cookie::SessionCookie;
pub use denial::{AccessError, Refusal};
pub use lockout::{LockoutPolicy, SignInState};
pub use operator::{NewOperator, OperatorId, OperatorRecord, OperatorStatus, OperatorSummary};
pub use password::{NewPassword, PasswordHash, PasswordHasher};
pub use permission::Permission;
pub use principal::{Decision, Principal};
pub use recovery::{RecoveryCode, RecoveryCodeHash, RecoveryCodes};
pub use role::{Role, ROLE_PERMISSIONS};
pub use sealer::{LocalSealer, SealedSecret, SecretSealer};
pub use service::Service;
pub use session::{CsrfToken, SessionId, SessionIdHash, SessionPolicy, SessionRecord, Stage};
pub use store::{AccessStore, ApiTokenStore, OperatorChange, OperatorStore, SessionStore};
pub use token::{ApiToken, ApiTokenHash, ApiTokenId, ApiTokenRecord};
pub use totp::{Enrolment, TimeStep, TotpCode, TotpSecret};
pub use username::{DisplayName, Username};
