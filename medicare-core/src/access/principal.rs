//! Who is asking, and whether they may: the one decision every route makes.
//!
//! A [`Principal`] is made only by the [`super::Service`] from a live session or a
//! usable API token. [`Principal::decide`] checks the role table (deny by default) and,
//! for the actions that need one, a second factor entered within the fresh window. An
//! API token never counts as a fresh second factor, so those actions need a browser
//! session.

use super::{AccessError, ApiTokenId, OperatorId, Permission, Role};
use chrono::{DateTime, Utc};

/// How the principal proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A browser session; its second factor counts as fresh until the given time.
    Session {
        /// End of the fresh-second-factor window, if one is open.
        fresh_until: Option<DateTime<Utc>>,
    },
    /// An API token.
    ApiToken(ApiTokenId),
}

/// A signed-in operator acting now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    operator: OperatorId,
    role: Role,
    credential: Credential,
}

/// The answer to "may this principal do that?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Yes.
    Allowed,
    /// No: the role does not grant it.
    NotInRole,
    /// Not yet: enter a second factor again (in a browser session).
    NeedsFreshSecondFactor,
}

impl Principal {
    pub(crate) fn new(operator: OperatorId, role: Role, credential: Credential) -> Self {
        Principal {
            operator,
            role,
            credential,
        }
    }

    /// The operator.
    pub fn operator(&self) -> OperatorId {
        self.operator
    }

    /// Their role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// How they signed in.
    pub fn credential(&self) -> Credential {
        self.credential
    }

    /// May they do `permission` at `now`?
    pub fn decide(&self, permission: Permission, now: DateTime<Utc>) -> Decision {
        if !self.role.allows(permission) {
            return Decision::NotInRole;
        }
        if !permission.needs_fresh_second_factor() {
            return Decision::Allowed;
        }
        match self.credential {
            Credential::Session {
                fresh_until: Some(until),
            } if now < until => Decision::Allowed,
            _ => Decision::NeedsFreshSecondFactor,
        }
    }

    /// [`Principal::decide`] as a `Result`, for `?` in handlers.
    pub fn require(&self, permission: Permission, now: DateTime<Utc>) -> Result<(), AccessError> {
        match self.decide(permission, now) {
            Decision::Allowed => Ok(()),
            Decision::NotInRole => Err(AccessError::Forbidden(permission)),
            Decision::NeedsFreshSecondFactor => {
                Err(AccessError::FreshSecondFactorRequired(permission))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    #[test]
    fn every_role_and_permission_follows_the_table() {
        for role in Role::ALL {
            let fresh = Principal::new(
                OperatorId(1),
                role,
                Credential::Session {
                    fresh_until: Some(t0() + Duration::minutes(5)),
                },
            );
            let stale = Principal::new(
                OperatorId(1),
                role,
                Credential::Session { fresh_until: None },
            );
            let token = Principal::new(OperatorId(1), role, Credential::ApiToken(ApiTokenId(3)));
            for p in Permission::ALL {
                let expected = match (role.allows(p), p.needs_fresh_second_factor()) {
                    (false, _) => [Decision::NotInRole; 3],
                    (true, false) => [Decision::Allowed; 3],
                    (true, true) => [
                        Decision::Allowed,
                        Decision::NeedsFreshSecondFactor,
                        Decision::NeedsFreshSecondFactor,
                    ],
                };
                let got = [fresh, stale, token].map(|who| who.decide(p, t0()));
                assert_eq!(got, expected, "{role} {p}");
            }
        }
    }

    #[test]
    fn the_fresh_window_closes() {
        let who = Principal::new(
            OperatorId(1),
            Role::CampaignManager,
            Credential::Session {
                fresh_until: Some(t0() + Duration::minutes(5)),
            },
        );
        assert!(who.require(Permission::SendCampaigns, t0()).is_ok());
        let e = who
            .require(Permission::SendCampaigns, t0() + Duration::minutes(5))
            .unwrap_err();
        assert!(matches!(e, AccessError::FreshSecondFactorRequired(_)));
        let e = who.require(Permission::RestoreBackups, t0()).unwrap_err();
        assert!(matches!(
            e,
            AccessError::Forbidden(Permission::RestoreBackups)
        ));
    }
}
