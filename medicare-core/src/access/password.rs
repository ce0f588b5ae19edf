//! Passwords: the policy a new one must meet, and argon2id hashing.
//!
//! Hashes are argon2id with the OWASP password storage parameters (19 MiB of memory,
//! 2 iterations, 1 lane), as PHC strings that carry their own salt and parameters. A
//! sign-in for an unknown user verifies the presented password against a dummy hash made
//! with the same parameters, so it costs the same time and gets the same answer as a
//! wrong password for a real one. A new password has at least 12 characters, does not
//! contain the username, and is not in the list of common passwords shipped with the
//! crate (see `common-passwords.NOTICE` beside this file for where it comes from).

use super::Username;
use crate::error::{Error, Result};
use argon2::password_hash::{PasswordHashString, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Fewest characters a new password may have.
pub const PASSWORD_MIN_CHARS: usize = 12;
/// Most bytes a password may have (longer input is refused without being hashed).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// OWASP's argon2id memory cost, in KiB (19 MiB).
pub const OWASP_MEMORY_KIB: u32 = 19 * 1024;
/// OWASP's argon2id iteration count.
pub const OWASP_ITERATIONS: u32 = 2;
/// OWASP's argon2id parallelism.
pub const OWASP_LANES: u32 = 1;

static COMMON_ZST: &[u8] = include_bytes!("common-passwords.txt.zst");

fn common_list() -> &'static [&'static str] {
    static TEXT: OnceLock<String> = OnceLock::new();
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        let text = TEXT.get_or_init(|| {
            // The list is part of the crate; a failure here is a build defect, and then
            // the list is empty rather than the process dead.
            zstd::decode_all(COMMON_ZST)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_default()
        });
        text.lines().collect()
    })
}

/// True when `password` (compared lowercased) is in the shipped list of common
/// passwords.
pub fn is_common(password: &str) -> bool {
    common_list()
        .binary_search(&password.to_lowercase().as_str())
        .is_ok()
}

/// A new password that meets the policy; only these get hashed.
pub struct NewPassword(SecretString);

impl NewPassword {
    /// Checks `candidate` against the policy for `username`. Errors say which rule it
    /// broke and never repeat it.
    pub fn new(candidate: SecretString, username: &Username) -> Result<Self> {
        let text = candidate.expose_secret();
        let bad = |message: String| Err(Error::invalid("password", message));
        if text.len() > PASSWORD_MAX_BYTES {
            return bad(format!("is longer than {PASSWORD_MAX_BYTES} bytes"));
        }
        if text.chars().count() < PASSWORD_MIN_CHARS {
            return bad(format!("is shorter than {PASSWORD_MIN_CHARS} characters"));
        }
        if text.to_lowercase().contains(username.as_str()) {
            return bad("contains the username".into());
        }
        if is_common(text) {
            return bad(
                "is in the list of common passwords that attackers try first; choose another"
                    .into(),
            );
        }
        Ok(NewPassword(candidate))
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// A stored argon2 hash (a PHC string: algorithm, parameters, salt and hash).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// A hash read back from storage; refused unless it is a well-formed PHC string.
    pub fn from_stored(phc: String) -> Result<Self> {
        PasswordHashString::new(&phc)
            .map_err(|_| Error::invalid("stored password hash", "is not a PHC string"))?;
        Ok(PasswordHash(phc))
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Hashes and verifies passwords with one set of argon2id parameters. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    params: Params,
    dummy: PasswordHash,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("memory_kib", &self.inner.params.m_cost())
            .field("iterations", &self.inner.params.t_cost())
            .field("lanes", &self.inner.params.p_cost())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// The OWASP parameters; what production uses.
    pub fn owasp() -> Result<Self> {
        Self::with_params(OWASP_MEMORY_KIB, OWASP_ITERATIONS, OWASP_LANES)
    }

    /// Other parameters (tests use cheap ones; production should not).
    pub fn with_params(memory_kib: u32, iterations: u32, lanes: u32) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, lanes, None)
            .map_err(|e| Error::Config(format!("argon2 parameters: {e}")))?;
        // The dummy is the hash of a random password nobody knows, with these
        // parameters, so verifying against it costs what verifying a real one does.
        let random = SecretString::from(SaltString::generate(&mut rand::rngs::OsRng).to_string());
        let dummy = hash_with(&params, &random)?;
        Ok(PasswordHasher {
            inner: Arc::new(HasherInner { params, dummy }),
        })
    }

    /// Hashes a new password (argon2id, a fresh random salt).
    pub fn hash(&self, password: &NewPassword) -> Result<PasswordHash> {
        hash_with(&self.inner.params, &password.0)
    }

    /// True when `presented` matches `stored`. With no stored hash (an unknown user) or
    /// an over-long input it verifies against the dummy and answers false: the same
    /// work and the same answer as a wrong password.
    pub fn verify(&self, stored: Option<&PasswordHash>, presented: &SecretString) -> bool {
        let presented = presented.expose_secret();
        let (hash, real) = match stored {
            Some(h) if presented.len() <= PASSWORD_MAX_BYTES => (h, true),
            _ => (&self.inner.dummy, false),
        };
        let input = if presented.len() <= PASSWORD_MAX_BYTES {
            presented.as_bytes()
        } else {
            &presented.as_bytes()[..PASSWORD_MAX_BYTES]
        };
        let ok = argon2::PasswordHash::new(&hash.0)
            .map(|parsed| Argon2::default().verify_password(input, &parsed).is_ok())
            .unwrap_or(false);
        ok && real
    }

    /// Hashes a password that was just verified, to bring its hash to these parameters
    /// (no policy check: it is already in use).
    pub(crate) fn rehash(&self, verified: &SecretString) -> Result<PasswordHash> {
        hash_with(&self.inner.params, verified)
    }

    /// True when `stored` was made with other parameters than these (rehash it at the
    /// next successful sign-in).
    pub fn needs_rehash(&self, stored: &PasswordHash) -> bool {
        argon2::PasswordHash::new(&stored.0)
            .ok()
            .and_then(|parsed| {
                Params::try_from(&parsed)
                    .ok()
                    .map(|p| (parsed.algorithm, p))
            })
            .is_none_or(|(algorithm, p)| {
                algorithm != Algorithm::Argon2id.ident()
                    || p.m_cost() != self.inner.params.m_cost()
                    || p.t_cost() != self.inner.params.t_cost()
                    || p.p_cost() != self.inner.params.p_cost()
            })
    }
}

fn hash_with(params: &Params, password: &SecretString) -> Result<PasswordHash> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| Error::Config(format!("argon2: {e}")))
}

#[cfg(test)]
pub(crate) fn cheap_hasher() -> PasswordHasher {
    PasswordHasher::with_params(64, 1, 1).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Username {
        Username::parse("alice").unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn the_shipped_list_is_sorted_lowercase_long_and_loaded() {
        let list = common_list();
        assert!(list.len() > 40_000, "{}", list.len());
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "sorted and deduplicated"
        );
        for entry in list {
            assert_eq!(entry.to_lowercase(), *entry);
            assert!(entry.chars().count() >= PASSWORD_MIN_CHARS, "{entry}");
        }
        assert!(is_common("qwerty123456"));
        assert!(is_common("QWERTY123456"), "compared case-insensitively");
        assert!(!is_common("correct horse battery staple 42"));
    }

    #[test]
    fn new_passwords_follow_the_policy_and_errors_do_not_echo_them() {
        let cases = [
            ("short-pass1", "shorter than 12"),
            ("q1w2e3r4t5y6", "common passwords"),
            ("1qaz2wsx3edc", "common passwords"),
            ("my-ALICE-password", "contains the username"),
        ];
        for (candidate, why) in cases {
            let e = NewPassword::new(secret(candidate), &alice()).unwrap_err();
            let message = e.to_string();
            assert!(e.is_invalid_input());
            assert!(
                message.contains("password") && message.contains(why),
                "{message}"
            );
            assert!(!message.contains(candidate));
        }
        let long = "x".repeat(PASSWORD_MAX_BYTES + 1);
        assert!(NewPassword::new(secret(&long), &alice()).is_err());
        // Twelve characters, counted as characters, not bytes.
        assert!(NewPassword::new(secret("ééééééééééé"), &alice()).is_err());
        assert!(NewPassword::new(secret("éééééééééééé"), &alice()).is_ok());
        assert!(NewPassword::new(secret("violet kettle sunrise"), &alice()).is_ok());
    }

    #[test]
    fn owasp_parameters_are_argon2id_19_mib_2_iterations_1_lane() {
        let hasher = PasswordHasher::owasp().unwrap();
        let pw = NewPassword::new(secret("violet kettle sunrise"), &alice()).unwrap();
        let hash = hasher.hash(&pw).unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(hasher.verify(Some(&hash), &secret("violet kettle sunrise")));
        assert!(!hasher.needs_rehash(&hash));
        assert!(cheap_hasher().needs_rehash(&hash));
    }

    #[test]
    fn verify_accepts_only_the_password_and_unknown_users_get_the_same_answer() {
        let hasher = cheap_hasher();
        let pw = NewPassword::new(secret("violet kettle sunrise"), &alice()).unwrap();
        let hash = hasher.hash(&pw).unwrap();
        assert_ne!(hash, hasher.hash(&pw).unwrap(), "salted");
        assert!(hasher.verify(Some(&hash), &secret("violet kettle sunrise")));
        assert!(!hasher.verify(Some(&hash), &secret("violet kettle sunrisE")));
        assert!(!hasher.verify(None, &secret("violet kettle sunrise")));
        assert!(!hasher.verify(Some(&hash), &secret(&"v".repeat(5000))));
        // The dummy is a real hash with the same parameters: the same work.
        assert_eq!(
            hasher.inner.dummy.as_str().split('$').nth(3),
            hash.as_str().split('$').nth(3)
        );
    }

    #[test]
    fn stored_hashes_are_checked_and_never_printed() {
        assert!(PasswordHash::from_stored("not a hash".into()).is_err());
        let hash = cheap_hasher()
            .hash(&NewPassword::new(secret("violet kettle sunrise"), &alice()).unwrap())
            .unwrap();
        let again = PasswordHash::from_stored(hash.as_str().to_string()).unwrap();
        assert_eq!(again, hash);
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
    }
}
