//! Per-operator API tokens: random 256-bit bearer tokens with a recognisable prefix,
//! shown once, stored hashed, named, expiring and revocable.
//!
//! A token is `medicare_` followed by 43 base64url characters (32 random bytes). The
//! prefix lets secret scanners and people recognise a leaked one. Only a
//! domain-separated SHA-256 of it is stored: with 256 random bits a slow hash adds
//! nothing. A token carries its operator's role; it never counts as a fresh second
//! factor (see [`super::Principal`]).

use super::OperatorId;
use crate::error::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "medicare_";
const RANDOM_CHARS: usize = 43;
/// Longest token name, in characters.
pub const TOKEN_NAME_MAX: usize = 64;

/// The longest a token may live.
pub fn max_token_lifetime() -> Duration {
    Duration::days(366)
}

/// A token as the operator holds it.
pub struct ApiToken(SecretString);

impl ApiToken {
    /// A new random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        ApiToken(SecretString::from(format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// A presented token (from an `Authorization: Bearer` header); `None` unless it has
    /// the shape of one, so junk never reaches the database.
    pub fn parse(presented: &str) -> Option<Self> {
        let random = presented.strip_prefix(TOKEN_PREFIX)?;
        let ok = random.len() == RANDOM_CHARS
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| ApiToken(SecretString::from(presented.to_string())))
    }

    /// What is stored for this token.
    pub fn hash(&self) -> ApiTokenHash {
        let mut h = Sha256::new();
        h.update(b"medicare-api-token-v1\0");
        h.update(self.0.expose_secret().as_bytes());
        ApiTokenHash(h.finalize().into())
    }

    /// The token, to show once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

/// The stored form of a token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiTokenHash(pub [u8; 32]);

impl fmt::Debug for ApiTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiTokenHash(..)")
    }
}

/// A stored token's id (what lists show and revoke takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ApiTokenId(pub i64);

impl fmt::Display for ApiTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Checks a token's name: 1 to 64 characters after trimming, no control characters.
pub fn validate_token_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.chars().any(char::is_control) {
        return Err(Error::invalid("token name", "contains a control character"));
    }
    let len = name.chars().count();
    if len == 0 || len > TOKEN_NAME_MAX {
        return Err(Error::invalid(
            "token name",
            format!("must be 1 to {TOKEN_NAME_MAX} characters long"),
        ));
    }
    Ok(name.to_string())
}

/// A token to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiTokenRecord {
    /// Whose it is.
    pub operator: OperatorId,
    /// Its name (validated).
    pub name: String,
    /// Its hash.
    pub hash: ApiTokenHash,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A stored token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiTokenRecord {
    /// Its id.
    pub id: ApiTokenId,
    /// Whose it is.
    pub operator: OperatorId,
    /// Its name.
    pub name: String,
    /// Its hash.
    #[serde(skip)]
    pub hash: ApiTokenHash,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiTokenRecord {
    /// True when the token works at `now`: not revoked, not expired.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_stored_as_a_hash() {
        let a = ApiToken::generate();
        let b = ApiToken::generate();
        assert!(a.expose().starts_with("medicare_"));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + RANDOM_CHARS);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(ApiToken::parse(a.expose()).unwrap().hash(), a.hash());
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "ApiToken(..)");
    }

    #[test]
    fn malformed_tokens_are_not_looked_up() {
        let good = ApiToken::generate();
        let random = &good.expose()[TOKEN_PREFIX.len()..];
        for junk in [
            "",
            random,
            &format!("other_{random}"),
            &format!("{TOKEN_PREFIX}{}", &random[1..]),
            &format!("{TOKEN_PREFIX}{random}x"),
            &format!("{TOKEN_PREFIX}{}+", &random[1..]),
        ] {
            assert!(ApiToken::parse(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(validate_token_name("  ci deploy ").unwrap(), "ci deploy");
        for bad in ["", "   ", "a\nb", &"n".repeat(65)] {
            let e = validate_token_name(bad).unwrap_err();
            assert!(e.to_string().contains("token name"), "{e}");
        }
    }

    #[test]
    fn usable_until_expiry_or_revocation() {
        let now = Utc::now();
        let mut r = ApiTokenRecord {
            id: ApiTokenId(1),
            operator: OperatorId(1),
            name: "ci".into(),
            hash: ApiToken::generate().hash(),
            created_at: now,
            expires_at: now + Duration::days(1),
            revoked_at: None,
        };
        assert!(r.usable_at(now));
        assert!(!r.usable_at(now + Duration::days(1)));
        r.revoked_at = Some(now);
        assert!(!r.usable_at(now));
    }
}
