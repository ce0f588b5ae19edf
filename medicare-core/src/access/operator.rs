//! Operators as stored, and what is shown about them.

use super::{DisplayName, PasswordHash, Role, SealedSecret, SignInState, Username};
use chrono::{DateTime, Utc};
use std::fmt;

/// An operator's id: what logs, audit entries and sessions name (never the username or
/// the display name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct OperatorId(pub i64);

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operator {}", self.0)
    }
}

/// An account's stored status. A lock is not a status: it is a time in the
/// [`SignInState`], over by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorStatus {
    /// Made, but the first valid code from the authenticator app has not been entered.
    Pending,
    /// Can sign in.
    Active,
    /// Cannot sign in; sessions ended, tokens refused.
    Disabled,
}

impl OperatorStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorStatus::Pending => "pending",
            OperatorStatus::Active => "active",
            OperatorStatus::Disabled => "disabled",
        }
    }

    /// The status a stored name names.
    pub fn from_stored(s: &str) -> crate::Result<Self> {
        [
            OperatorStatus::Pending,
            OperatorStatus::Active,
            OperatorStatus::Disabled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| crate::Error::invalid("stored operator status", "unknown"))
    }
}

/// Who to add: what an admin types.
#[derive(Debug, Clone)]
pub struct NewOperator {
    /// Their username.
    pub username: Username,
    /// Their name, for display.
    pub display_name: DisplayName,
    /// Their role.
    pub role: Role,
}

/// An operator to store (status pending, no failures).
#[derive(Debug, Clone)]
pub struct NewOperatorRecord {
    /// Username (unique, normalised).
    pub username: Username,
    /// Display name.
    pub display_name: DisplayName,
    /// Role.
    pub role: Role,
    /// argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// The sealed TOTP secret.
    pub totp_secret: SealedSecret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A stored operator, as the sign-in service reads it.
#[derive(Debug, Clone)]
pub struct OperatorRecord {
    /// Id.
    pub id: OperatorId,
    /// Username (normalised).
    pub username: Username,
    /// Display name.
    pub display_name: DisplayName,
    /// Role.
    pub role: Role,
    /// Status.
    pub status: OperatorStatus,
    /// argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// The sealed TOTP secret.
    pub totp_secret: SealedSecret,
    /// Failure counters, lock and last accepted TOTP step.
    pub sign_in: SignInState,
    /// When the authenticator was confirmed (`None` while pending).
    pub enrolled_at: Option<DateTime<Utc>>,
    /// When the operator was added.
    pub created_at: DateTime<Utc>,
    /// When they last signed in.
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// What may be shown about an operator (no hash, no secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct OperatorSummary {
    /// Id.
    pub id: OperatorId,
    /// Username.
    pub username: Username,
    /// Display name.
    pub display_name: DisplayName,
    /// Role.
    pub role: Role,
    /// `pending`, `active`, `locked` or `disabled`.
    pub status: &'static str,
    /// Until when it is locked, if it is.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the operator was added.
    pub created_at: DateTime<Utc>,
    /// When they last signed in.
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

impl OperatorSummary {
    /// The summary of `record` at `now` (a lock shows while it lasts).
    pub fn of(record: &OperatorRecord, now: DateTime<Utc>) -> Self {
        let locked_until = record.sign_in.locked_until.filter(|until| *until > now);
        let status = match (record.status, locked_until) {
            (OperatorStatus::Disabled, _) => "disabled",
            (_, Some(_)) => "locked",
            (status, None) => status.as_str(),
        };
        OperatorSummary {
            id: record.id,
            username: record.username.clone(),
            display_name: record.display_name.clone(),
            role: record.role,
            status,
            locked_until,
            created_at: record.created_at,
            last_sign_in_at: record.last_sign_in_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_storage() {
        for s in [
            OperatorStatus::Pending,
            OperatorStatus::Active,
            OperatorStatus::Disabled,
        ] {
            assert_eq!(OperatorStatus::from_stored(s.as_str()).unwrap(), s);
        }
        assert!(OperatorStatus::from_stored("locked").is_err());
        assert_eq!(OperatorId(7).to_string(), "operator 7");
    }
}
