//! Sealing small secrets (TOTP seeds) before they are stored.
//!
//! The database keeps only [`SealedSecret`]s: a copy of the database alone cannot mint
//! codes. [`SecretSealer`] is the seam: [`LocalSealer`] (AES-256-GCM with a 256-bit key
//! kept in the workspace's `keys/operator-secrets.key`, 0600, like the link key) is the
//! embedded one; a KMS sealer in medicare-aws implements the same trait. Every seal is
//! bound to a context (the operator's username), so a sealed secret copied onto another
//! operator's row does not open.

use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretSlice};
use std::fmt;
use std::path::Path;

/// Opaque sealed bytes, as stored. Only the sealer that made them can open them.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// Sealed bytes read back from storage.
    pub fn from_stored(bytes: Vec<u8>) -> Self {
        SealedSecret(bytes)
    }

    /// The bytes, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

/// Encrypts small secrets for storage and decrypts them when used.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SecretSealer: Send + Sync + fmt::Debug {
    /// Seals `secret`, bound to `context` (e.g. `totp:alice`).
    async fn seal(&self, secret: &SecretSlice<u8>, context: &str) -> Result<SealedSecret>;

    /// Opens `sealed`; fails (never panics) when it was sealed with another key or
    /// another context, or was altered.
    async fn open(&self, sealed: &SealedSecret, context: &str) -> Result<SecretSlice<u8>>;
}

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

/// AES-256-GCM with a local 256-bit key: `[1][12-byte random nonce][ciphertext+tag]`,
/// the context as associated data.
pub struct LocalSealer {
    key: SecretBox<[u8; 32]>,
}

impl fmt::Debug for LocalSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSealer").finish_non_exhaustive()
    }
}

impl LocalSealer {
    /// The key file's place in a workspace.
    pub const KEY_FILE: &'static str = "keys/operator-secrets.key";

    /// A sealer with `key`.
    pub fn new(key: SecretBox<[u8; 32]>) -> Self {
        LocalSealer { key }
    }

    /// The workspace's sealer: its key in `<workspace>/keys/operator-secrets.key`, made
    /// on first use.
    pub fn in_workspace(workspace: &Path) -> Result<Self> {
        Self::from_key_file(&workspace.join(Self::KEY_FILE))
    }

    /// A sealer whose key is read from `path` (exactly 32 bytes), or generated there
    /// (random, mode 0600, never overwriting) when the file does not exist yet.
    pub fn from_key_file(path: &Path) -> Result<Self> {
        let mut key = Box::new([0u8; 32]);
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = SecretSlice::from(bytes);
                if bytes.expose_secret().len() != 32 {
                    return Err(Error::invalid(
                        path.display().to_string(),
                        "an operator secrets key file holds exactly 32 bytes",
                    ));
                }
                key.copy_from_slice(bytes.expose_secret());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                rand::rngs::OsRng.fill_bytes(key.as_mut_slice());
                crate::link::write_private_file(path, key.as_slice())?;
            }
            Err(e) => return Err(Error::io(path, e)),
        }
        Ok(LocalSealer::new(SecretBox::new(key)))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.expose_secret().into())
    }
}

fn unsealable(context: &str) -> Error {
    Error::invalid(
        format!("sealed secret ({context})"),
        "does not open with this key (another workspace's key, or altered)",
    )
}

#[async_trait]
impl SecretSealer for LocalSealer {
    async fn seal(&self, secret: &SecretSlice<u8>, context: &str) -> Result<SealedSecret> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose_secret(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Config("AES-GCM refused to seal".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(SealedSecret(out))
    }

    async fn open(&self, sealed: &SealedSecret, context: &str) -> Result<SecretSlice<u8>> {
        match sealed.0.split_first() {
            Some((&FORMAT_V1, rest)) if rest.len() > NONCE_LEN => {
                let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
                self.cipher()
                    .decrypt(
                        Nonce::from_slice(nonce),
                        Payload {
                            msg: ciphertext,
                            aad: context.as_bytes(),
                        },
                    )
                    .map(SecretSlice::from)
                    .map_err(|_| unsealable(context))
            }
            _ => Err(unsealable(context)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> LocalSealer {
        LocalSealer::new(SecretBox::new(Box::new([byte; 32])))
    }

    fn secret() -> SecretSlice<u8> {
        SecretSlice::from(b"12345678901234567890".to_vec())
    }

    #[tokio::test]
    async fn seals_and_opens_bound_to_key_and_context() {
        let s = sealer(1);
        let sealed = s.seal(&secret(), "totp:alice").await.unwrap();
        assert!(!sealed
            .as_bytes()
            .windows(20)
            .any(|w| w == b"12345678901234567890"));
        assert_ne!(
            sealed,
            s.seal(&secret(), "totp:alice").await.unwrap(),
            "random nonce"
        );
        let opened = s.open(&sealed, "totp:alice").await.unwrap();
        assert_eq!(opened.expose_secret(), b"12345678901234567890");

        assert!(s.open(&sealed, "totp:mallory").await.is_err(), "context");
        assert!(sealer(2).open(&sealed, "totp:alice").await.is_err(), "key");
        let mut bytes = sealed.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let e = s
            .open(&SealedSecret::from_stored(bytes), "totp:alice")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not open"), "{e}");
        for junk in [vec![], vec![1], vec![9; 40], vec![1; 13]] {
            assert!(s.open(&SealedSecret::from_stored(junk), "x").await.is_err());
        }
    }

    #[tokio::test]
    async fn key_files_are_made_private_reused_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LocalSealer::KEY_FILE);
        let a = LocalSealer::in_workspace(dir.path()).unwrap();
        let b = LocalSealer::from_key_file(&path).unwrap();
        let sealed = a.seal(&secret(), "c").await.unwrap();
        assert!(b.open(&sealed, "c").await.is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("short.key"), b"short").unwrap();
        let e = LocalSealer::from_key_file(&dir.path().join("short.key")).unwrap_err();
        assert!(e.to_string().contains("exactly 32 bytes"), "{e}");
        assert_eq!(format!("{a:?}"), "LocalSealer { .. }");
    }
}
