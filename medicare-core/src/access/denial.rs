//! Why access was refused: one error type for the access layer.
//!
//! What a caller is *told* never helps an attacker: every failed sign-in (unknown user,
//! wrong password, locked or disabled account, wrong, replayed or spent code) reads the
//! same, and every unusable session or token reads the same. The precise reason is kept
//! beside the message (the `reason` fields, with the operator id when one is known) for
//! the audit ledger and logs, which name ids only.

use super::session::SessionEnd;
use super::{OperatorId, Permission};

/// Why a sign-in step was refused (for the ledger; never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No operator has that username.
    UnknownUser,
    /// The password is wrong.
    WrongPassword,
    /// The account is locked after repeated failures.
    Locked,
    /// The account is disabled.
    Disabled,
    /// The TOTP code is wrong (or outside the one-step window).
    WrongCode,
    /// The TOTP code was already used (or is older than one that was).
    ReplayedCode,
    /// The recovery code is not one of the operator's unused codes.
    WrongRecoveryCode,
    /// The attempt lost a race with a concurrent one; try again.
    Concurrent,
}

impl Refusal {
    /// A stable name for the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownUser => "unknown_user",
            Refusal::WrongPassword => "wrong_password",
            Refusal::Locked => "locked",
            Refusal::Disabled => "disabled",
            Refusal::WrongCode => "wrong_code",
            Refusal::ReplayedCode => "replayed_code",
            Refusal::WrongRecoveryCode => "wrong_recovery_code",
            Refusal::Concurrent => "concurrent",
        }
    }
}

/// Why a session or token does not authenticate (for the ledger; never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAuthenticated {
    /// No session with that id (never made, signed out, or removed).
    UnknownSession,
    /// The session ended.
    SessionEnded(SessionEnd),
    /// The session has not finished signing in (or is past that step).
    WrongStage,
    /// The operator is disabled or not enrolled.
    OperatorUnavailable,
    /// Not a token medicare issued, or not well-formed.
    UnknownToken,
    /// The token expired or was revoked.
    TokenEnded,
}

/// An access refusal, or a failure underneath.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// A sign-in step was refused.
    #[error(
        "sign-in refused: the username, password or code is wrong, or the account is locked for a while after repeated failures"
    )]
    SignInRefused {
        /// Why (for the ledger).
        reason: Refusal,
        /// Whose account, when the username named one.
        operator: Option<OperatorId>,
    },
    /// No usable session or token: sign in (again).
    #[error("not signed in, or the session or token has ended")]
    Unauthenticated(NotAuthenticated),
    /// The role does not grant the permission.
    #[error("your role does not allow {0}")]
    Forbidden(Permission),
    /// The action needs a second factor entered within the last few minutes.
    #[error("{0} needs a fresh second factor: enter a code from your authenticator app again")]
    FreshSecondFactorRequired(Permission),
    /// Bad input, a missing operator, a storage failure...
    #[error(transparent)]
    Other(#[from] crate::Error),
}

impl AccessError {
    pub(crate) fn refused(reason: Refusal, operator: Option<OperatorId>) -> Self {
        AccessError::SignInRefused { reason, operator }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sign_in_refusal_reads_the_same() {
        let reasons = [
            Refusal::UnknownUser,
            Refusal::WrongPassword,
            Refusal::Locked,
            Refusal::Disabled,
            Refusal::WrongCode,
            Refusal::ReplayedCode,
            Refusal::WrongRecoveryCode,
            Refusal::Concurrent,
        ];
        let messages: std::collections::HashSet<_> = reasons
            .iter()
            .map(|r| AccessError::refused(*r, Some(OperatorId(1))).to_string())
            .collect();
        assert_eq!(messages.len(), 1);
        let names: std::collections::HashSet<_> = reasons.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), reasons.len());
        assert_eq!(
            AccessError::Unauthenticated(NotAuthenticated::UnknownToken).to_string(),
            AccessError::Unauthenticated(NotAuthenticated::SessionEnded(SessionEnd::Idle))
                .to_string()
        );
    }
}
