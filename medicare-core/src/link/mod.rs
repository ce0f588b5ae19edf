//! One-time links.
//!
//! Each recipient gets one link, `{base_url}/f/{token}`. The token must be unguessable,
//! must not be stored, and must still be available when a crashed send resumes days
//! later. So: at campaign creation a 128-bit nonce is drawn from the operating system's
//! CSPRNG per recipient and stored; the token is `HMAC-SHA256(key, nonce)` cut to 128
//! bits, written in URL-safe base64 (22 characters); the store keeps only the nonce and
//! the SHA-256 of the token. The database alone cannot rebuild a link (that needs the
//! key, kept outside it); the key alone cannot either (that needs the nonces); the form
//! service needs neither: it hashes the presented token and looks the hash up.
//!
//! Tokens carry no personal data. Expiry and single use are recorded by the store; the
//! rules a presented link must pass are in [`open`].

pub(crate) mod forms;
pub mod open;

use crate::error::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// The length of a token in bytes (128 bits).
pub const TOKEN_BYTES: usize = 16;

/// The per-link random nonce that is stored (useless without the signing key).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LinkNonce(pub [u8; TOKEN_BYTES]);

impl fmt::Debug for LinkNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkNonce(<redacted>)")
    }
}

/// The SHA-256 of a token: what the store keeps to recognise a presented link.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A short prefix is enough to correlate log lines and reveals nothing usable.
        write!(f, "TokenHash({}..)", hex::encode(&self.0[..4]))
    }
}

impl TokenHash {
    /// The hash of a token as presented in a URL.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Compares two hashes in constant time.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

/// A freshly issued link: what the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedLink {
    /// The random nonce the token is derived from.
    pub nonce: LinkNonce,
    /// The hash of the token.
    pub token_hash: TokenHash,
}

/// Issues per-recipient link tokens and rebuilds them for sending.
///
/// Unlike the other seams this trait is synchronous: issuing and deriving are pure
/// computation (also for presigned-URL signers, whose signing is local), and they run
/// once per recipient on the bulk paths, where a boxed future per call would cost more
/// than the work.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LinkSigner: Send + Sync + fmt::Debug {
    /// Issues a new link (a fresh random nonce and the hash of its token).
    fn issue(&self) -> IssuedLink;

    /// The token for a stored nonce.
    fn token(&self, nonce: &LinkNonce) -> SecretString;

    /// The full URL the patient opens for `token`.
    fn url(&self, token: &SecretString) -> String;
}

/// Checks the *shape* of a presented token (length and alphabet) before any lookup, and
/// returns its hash. Anything else (unknown, expired, spent) is decided by the store.
pub fn presented_token_hash(presented: &str) -> Option<TokenHash> {
    let ok = presented.len() == 22
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| TokenHash::of(presented))
}

/// The embedded signer: HMAC-SHA256 over a CSPRNG nonce with a local 256-bit key.
pub struct HmacLinkSigner {
    key: SecretBox<[u8; 32]>,
    base_url: String,
}

impl fmt::Debug for HmacLinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacLinkSigner")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl HmacLinkSigner {
    /// A signer with the given key and base URL (`https://forms.example.org`).
    pub fn new(key: SecretBox<[u8; 32]>, base_url: &str) -> Result<Self> {
        Ok(HmacLinkSigner {
            key,
            base_url: validate_base_url(base_url)?,
        })
    }

    /// A signer whose key is read from `path`, or generated there (32 random bytes,
    /// permissions 0600) when the file does not exist yet.
    pub fn from_key_file(path: &Path, base_url: &str) -> Result<Self> {
        let key = match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    Error::invalid(
                        path.display().to_string(),
                        "a link key file holds exactly 32 bytes",
                    )
                })?;
                key
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                write_private_file(path, &key)?;
                key
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        Self::new(SecretBox::new(Box::new(key)), base_url)
    }

    /// The base URL links start with.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl LinkSigner for HmacLinkSigner {
    fn issue(&self) -> IssuedLink {
        // `thread_rng` is a CSPRNG (ChaCha, seeded and periodically reseeded from the
        // operating system): as strong as `OsRng` without a system call per link.
        let mut nonce = [0u8; TOKEN_BYTES];
        rand::thread_rng().fill_bytes(&mut nonce);
        let nonce = LinkNonce(nonce);
        let token = self.token(&nonce);
        IssuedLink {
            nonce,
            token_hash: TokenHash::of(token.expose_secret()),
        }
    }

    fn token(&self, nonce: &LinkNonce) -> SecretString {
        // The key stays in its zeroising box; a cached keyed HMAC state would be faster
        // but could not be zeroised.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(b"medicare-link-v1");
        mac.update(&nonce.0);
        let tag = mac.finalize().into_bytes();
        SecretString::from(URL_SAFE_NO_PAD.encode(&tag[..TOKEN_BYTES]))
    }

    fn url(&self, token: &SecretString) -> String {
        format!("{}/f/{}", self.base_url, token.expose_secret())
    }
}

/// The `/f/{token}` path of the first link in a message's text, if any.
pub fn link_path(text: &str) -> Option<&str> {
    let start = text.find("/f/")?;
    let rest = &text[start..];
    let end = rest[3..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map_or(rest.len(), |i| i + 3);
    Some(&rest[..end])
}

/// Checks that a base URL is an absolute `http(s)` URL without query or fragment, and
/// strips a trailing `/`.
pub fn validate_base_url(base_url: &str) -> Result<String> {
    let trimmed = base_url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ', '<', '>', '"']) => {
            Ok(trimmed.to_string())
        }
        _ => Err(Error::invalid(
            "base URL",
            "must be an absolute http:// or https:// URL without query or fragment",
        )),
    }
}

/// Writes a file readable by its owner only (0600 on Unix), creating its folder.
pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> HmacLinkSigner {
        HmacLinkSigner::new(
            SecretBox::new(Box::new([7u8; 32])),
            "https://forms.example.org/",
        )
        .unwrap()
    }

    #[test]
    fn tokens_are_derived_hashed_and_distinct() {
        let s = signer();
        let a = s.issue();
        let b = s.issue();
        assert_ne!(a.nonce, b.nonce);
        let token = s.token(&a.nonce);
        assert_eq!(token.expose_secret().len(), 22);
        assert_eq!(
            presented_token_hash(token.expose_secret()),
            Some(a.token_hash)
        );
        assert_eq!(
            s.url(&token),
            format!("https://forms.example.org/f/{}", token.expose_secret())
        );
        let other =
            HmacLinkSigner::new(SecretBox::new(Box::new([8u8; 32])), "https://x.org").unwrap();
        assert_ne!(other.token(&a.nonce).expose_secret(), token.expose_secret());
    }

    #[test]
    fn malformed_tokens_are_refused_before_lookup() {
        assert!(presented_token_hash("short").is_none());
        assert!(presented_token_hash("../../../../etc/passwd").is_none());
        assert!(presented_token_hash("AAAAAAAAAAAAAAAAAAAAA'").is_none());
        assert!(presented_token_hash("AAAAAAAAAAAAAAAAAAAAAA").is_some());
    }

    #[test]
    fn key_files_are_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/link.key");
        let a = HmacLinkSigner::from_key_file(&path, "http://localhost:8080").unwrap();
        let b = HmacLinkSigner::from_key_file(&path, "http://localhost:8080").unwrap();
        let n = a.issue().nonce;
        assert_eq!(a.token(&n).expose_secret(), b.token(&n).expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("bad.key"), b"short").unwrap();
        let err =
            HmacLinkSigner::from_key_file(&dir.path().join("bad.key"), "http://x.org").unwrap_err();
        assert!(err.to_string().contains("exactly 32 bytes"));
        assert!(HmacLinkSigner::from_key_file(&path, "ftp://x").is_err());
    }
}
