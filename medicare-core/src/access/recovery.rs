//! Recovery codes: ten single-use codes for the lost phone, stored hashed.
//!
//! Each code is 16 characters of Crockford base32 (80 random bits), shown grouped as
//! `abcd-efgh-jkmn-pqrs`. With 80 bits of entropy a plain SHA-256 (domain-separated) is
//! enough to store them: nobody can search that space, and sign-in attempts are limited
//! by the lockout. Typing is forgiving: case, spaces and dashes are ignored, and `i`,
//! `l` and `o` are read as `1`, `1` and `0`.

use crate::error::{Error, Result};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// How many codes an operator gets.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters in a code (without dashes).
pub const RECOVERY_CODE_CHARS: usize = 16;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// One recovery code, normalised (16 lowercase Crockford base32 characters).
pub struct RecoveryCode(SecretString);

impl RecoveryCode {
    /// Parses what the operator typed. A malformed code is bad input; the error never
    /// repeats it.
    pub fn parse(input: &str) -> Result<Self> {
        let mut out = String::with_capacity(RECOVERY_CODE_CHARS);
        for c in input.chars().filter(|c| !matches!(c, '-' | ' ')) {
            let c = match c.to_ascii_lowercase() {
                'i' | 'l' => '1',
                'o' => '0',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || out.len() == RECOVERY_CODE_CHARS {
                return Err(malformed());
            }
            out.push(c);
        }
        if out.len() != RECOVERY_CODE_CHARS {
            return Err(malformed());
        }
        Ok(RecoveryCode(SecretString::from(out)))
    }

    /// The hash that is stored for this code.
    pub fn hash(&self) -> RecoveryCodeHash {
        let mut h = Sha256::new();
        h.update(b"medicare-recovery-code-v1\0");
        h.update(self.0.expose_secret().as_bytes());
        RecoveryCodeHash(h.finalize().into())
    }

    /// The code grouped for reading (`abcd-efgh-jkmn-pqrs`).
    pub fn grouped(&self) -> SecretString {
        let code = self.0.expose_secret();
        let groups: Vec<&str> = (0..RECOVERY_CODE_CHARS)
            .step_by(4)
            .filter_map(|i| code.get(i..i + 4))
            .collect();
        SecretString::from(groups.join("-"))
    }
}

fn malformed() -> Error {
    Error::invalid(
        "recovery code",
        format!("must be {RECOVERY_CODE_CHARS} letters and digits, as printed"),
    )
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

/// The stored form of a recovery code (SHA-256).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecoveryCodeHash(pub [u8; 32]);

impl fmt::Debug for RecoveryCodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCodeHash(..)")
    }
}

/// A fresh set of codes, shown once to the operator; only [`RecoveryCodes::hashes`]
/// are stored.
pub struct RecoveryCodes(Vec<RecoveryCode>);

impl RecoveryCodes {
    /// Ten new random codes.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        RecoveryCodes(
            (0..RECOVERY_CODE_COUNT)
                .map(|_| {
                    let code: String = (0..RECOVERY_CODE_CHARS)
                        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                        .collect();
                    RecoveryCode(SecretString::from(code))
                })
                .collect(),
        )
    }

    /// The codes, grouped for reading; to show once.
    pub fn grouped(&self) -> Vec<SecretString> {
        self.0.iter().map(RecoveryCode::grouped).collect()
    }

    /// What is stored.
    pub fn hashes(&self) -> Vec<RecoveryCodeHash> {
        self.0.iter().map(RecoveryCode::hash).collect()
    }
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ten_distinct_codes_whose_typed_forms_hash_to_what_is_stored() {
        let codes = RecoveryCodes::generate();
        let shown = codes.grouped();
        let stored = codes.hashes();
        assert_eq!(shown.len(), RECOVERY_CODE_COUNT);
        assert_eq!(
            stored.iter().collect::<HashSet<_>>().len(),
            RECOVERY_CODE_COUNT
        );
        for (text, hash) in shown.iter().zip(&stored) {
            let text = text.expose_secret();
            assert_eq!(text.len(), 19);
            assert_eq!(text.matches('-').count(), 3);
            assert_eq!(RecoveryCode::parse(text).unwrap().hash(), *hash);
            let sloppy = text.to_uppercase().replace('-', " ");
            assert_eq!(RecoveryCode::parse(&sloppy).unwrap().hash(), *hash);
        }
    }

    #[test]
    fn confusable_letters_read_as_digits() {
        let a = RecoveryCode::parse("1010-0000-aaaa-bbbb").unwrap();
        let b = RecoveryCode::parse("iOlo-OoOo-AAAA-bbbb").unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_ne!(
            a.hash(),
            RecoveryCode::parse("1010-0000-aaaa-bbbc").unwrap().hash()
        );
    }

    #[test]
    fn malformed_codes_are_refused_without_echo() {
        for bad in [
            "",
            "abcd-efgh-jkmn",
            "abcd-efgh-jkmn-pqrs-t",
            "abcd-efgh-jkmn-pqru",
            "abcd-efgh-jkmn-pqr!",
            "abcd-éfgh-jkmn-pqrs",
        ] {
            let e = RecoveryCode::parse(bad).unwrap_err();
            assert!(e.is_invalid_input());
            let m = e.to_string();
            assert!(m.contains("recovery code"), "{m}");
            if !bad.is_empty() {
                assert!(!m.contains(bad));
            }
        }
    }
}
