//! Browser sessions: opaque ids, CSRF tokens, and when a session ends.
//!
//! A session id is 256 random bits, sent only in the session cookie; the database keeps
//! only its SHA-256 ([`SessionIdHash`]), so a copy of the sessions table cannot be used
//! to sign in. The CSRF token is derived from the id (a domain-separated SHA-256), so it
//! needs no storage, differs from the stored hash, and is checked in constant time.
//! A session lasts 15 minutes idle and 8 hours at most; a session that has passed the
//! password but not yet the second factor lasts 5 minutes. Actions that need a fresh
//! second factor need one entered within the last 5 minutes.

use super::OperatorId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

const ID_BYTES: usize = 32;
/// Characters in an encoded session id or CSRF token (base64url of 32 bytes).
pub const ENCODED_LEN: usize = 43;

fn well_formed(presented: &str) -> bool {
    presented.len() == ENCODED_LEN
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn tagged_sha256(tag: &[u8], value: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(value.as_bytes());
    h.finalize().into()
}

/// A session id as the cookie carries it.
pub struct SessionId(SecretString);

impl SessionId {
    /// A new random id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; ID_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SessionId(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A presented id (from a cookie); `None` unless it has the shape of one, so junk
    /// never reaches the database.
    pub fn parse(presented: &str) -> Option<Self> {
        well_formed(presented).then(|| SessionId(SecretString::from(presented.to_string())))
    }

    /// What is stored for this id.
    pub fn hash(&self) -> SessionIdHash {
        SessionIdHash(tagged_sha256(
            b"medicare-session-v1\0",
            self.0.expose_secret(),
        ))
    }

    /// The CSRF token forms of this session must carry.
    pub fn csrf_token(&self) -> CsrfToken {
        CsrfToken(SecretString::from(URL_SAFE_NO_PAD.encode(tagged_sha256(
            b"medicare-csrf-v1\0",
            self.0.expose_secret(),
        ))))
    }

    /// The id, for the `Set-Cookie` header only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// The stored form of a session id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionIdHash(pub [u8; 32]);

impl fmt::Debug for SessionIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionIdHash(..)")
    }
}

/// A session's CSRF token: put in every form, checked on every state-changing request.
pub struct CsrfToken(SecretString);

impl CsrfToken {
    /// True when `presented` is this token (constant time).
    pub fn verify(&self, presented: &str) -> bool {
        well_formed(presented)
            && bool::from(
                self.0
                    .expose_secret()
                    .as_bytes()
                    .ct_eq(presented.as_bytes()),
            )
    }

    /// The token, to write into a form.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

/// How far through signing in a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Password accepted; a TOTP or recovery code is next.
    SecondFactor,
    /// Password accepted for an operator not enrolled yet; the first valid code from
    /// the authenticator app is next.
    Enrolment,
    /// Signed in.
    Active,
}

impl Stage {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::SecondFactor => "second_factor",
            Stage::Enrolment => "enrolment",
            Stage::Active => "active",
        }
    }

    /// The stage a stored name names.
    pub fn from_stored(s: &str) -> crate::Result<Self> {
        [Stage::SecondFactor, Stage::Enrolment, Stage::Active]
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| crate::Error::invalid("stored session stage", "unknown"))
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The hash of its id.
    pub id_hash: SessionIdHash,
    /// Whose it is.
    pub operator: OperatorId,
    /// How far through signing in.
    pub stage: Stage,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_seen_at: DateTime<Utc>,
    /// When a second factor was last entered in it.
    pub second_factor_at: Option<DateTime<Utc>>,
}

/// Why a session no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Unused for longer than the idle limit.
    Idle,
    /// Older than the absolute limit.
    Absolute,
    /// The second factor was not entered in time.
    Unfinished,
}

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Idle limit.
    pub idle: Duration,
    /// Absolute limit.
    pub absolute: Duration,
    /// How long a second factor counts as fresh.
    pub fresh_second_factor: Duration,
    /// How long a session may wait for its second factor.
    pub unfinished: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::minutes(15),
            absolute: Duration::hours(8),
            fresh_second_factor: Duration::minutes(5),
            unfinished: Duration::minutes(5),
        }
    }
}

impl SessionPolicy {
    /// Whether (and why) `session` has ended at `now`; `None` while it still works.
    pub fn ended(&self, session: &SessionRecord, now: DateTime<Utc>) -> Option<SessionEnd> {
        if now >= session.created_at + self.absolute {
            Some(SessionEnd::Absolute)
        } else if session.stage != Stage::Active && now >= session.created_at + self.unfinished {
            Some(SessionEnd::Unfinished)
        } else if now >= session.last_seen_at + self.idle {
            Some(SessionEnd::Idle)
        } else {
            None
        }
    }

    /// True when a second factor was entered in `session` within the fresh window.
    pub fn has_fresh_second_factor(&self, session: &SessionRecord, now: DateTime<Utc>) -> bool {
        session
            .second_factor_at
            .is_some_and(|at| at <= now && now < at + self.fresh_second_factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    fn record(stage: Stage) -> SessionRecord {
        SessionRecord {
            id_hash: SessionId::generate().hash(),
            operator: OperatorId(1),
            stage,
            created_at: t0(),
            last_seen_at: t0(),
            second_factor_at: Some(t0()),
        }
    }

    #[test]
    fn ids_are_256_bit_random_and_only_their_hash_is_kept() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_eq!(a.expose().len(), ENCODED_LEN);
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash(), b.hash());
        let again = SessionId::parse(a.expose()).unwrap();
        assert_eq!(again.hash(), a.hash());
        for junk in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", &a.expose()[..42]),
        ] {
            assert!(SessionId::parse(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn csrf_tokens_belong_to_one_session_and_differ_from_the_stored_hash() {
        let a = SessionId::generate();
        let token = a.csrf_token();
        assert!(token.verify(a.csrf_token().expose()));
        assert!(!token.verify(SessionId::generate().csrf_token().expose()));
        assert!(!token.verify(""));
        assert!(!token.verify(a.expose()));
        assert_ne!(URL_SAFE_NO_PAD.encode(a.hash().0), token.expose());
    }

    #[test]
    fn fifteen_minutes_idle_eight_hours_absolute() {
        let p = SessionPolicy::default();
        let mut s = record(Stage::Active);
        assert_eq!(p.ended(&s, t0() + Duration::minutes(14)), None);
        assert_eq!(
            p.ended(&s, t0() + Duration::minutes(15)),
            Some(SessionEnd::Idle)
        );
        // Kept alive by use, until the absolute limit.
        s.last_seen_at = t0() + Duration::hours(7) + Duration::minutes(59);
        assert_eq!(
            p.ended(&s, t0() + Duration::hours(7) + Duration::minutes(59)),
            None
        );
        assert_eq!(
            p.ended(&s, t0() + Duration::hours(8)),
            Some(SessionEnd::Absolute)
        );
    }

    #[test]
    fn an_unfinished_sign_in_lasts_five_minutes() {
        let p = SessionPolicy::default();
        for stage in [Stage::SecondFactor, Stage::Enrolment] {
            let mut s = record(stage);
            s.last_seen_at = t0() + Duration::minutes(4);
            assert_eq!(p.ended(&s, t0() + Duration::minutes(4)), None);
            assert_eq!(
                p.ended(&s, t0() + Duration::minutes(5)),
                Some(SessionEnd::Unfinished)
            );
        }
    }

    #[test]
    fn a_second_factor_is_fresh_for_five_minutes() {
        let p = SessionPolicy::default();
        let mut s = record(Stage::Active);
        assert!(p.has_fresh_second_factor(&s, t0() + Duration::minutes(4)));
        assert!(!p.has_fresh_second_factor(&s, t0() + Duration::minutes(5)));
        assert!(!p.has_fresh_second_factor(&s, t0() - Duration::seconds(1)));
        s.second_factor_at = None;
        assert!(!p.has_fresh_second_factor(&s, t0()));
    }

    #[test]
    fn stages_round_trip_through_storage() {
        for stage in [Stage::SecondFactor, Stage::Enrolment, Stage::Active] {
            assert_eq!(Stage::from_stored(stage.as_str()).unwrap(), stage);
        }
        assert!(Stage::from_stored("root").is_err());
    }
}
