//! Backup keys: age recipients and identities, and the Ed25519 manifest signing key.
//!
//! The cloud side that takes backups holds only *public* age recipients (the
//! on-premises one, plus an escrow one kept offline), so it can write backups but never
//! read them. The on-premises side holds the identity. Secrets are kept in `secrecy`
//! types and parsed only when used; key files are created with mode 0600 and never
//! overwritten.
//!
//! | file (in the workspace) | what | who holds it |
//! |---|---|---|
//! | `keys/backup.identity` | age identity (secret, 0600) | on premises |
//! | `keys/escrow.identity` | escrow age identity (secret, 0600) | offline, after `keys generate --escrow` |
//! | `keys/backup.recipients` | age recipients, one a line | the backup runner |
//! | `keys/backup-signing.key` | Ed25519 seed, hex (secret, 0600) | the backup runner |
//! | `keys/backup-signers.pub` | trusted signer public keys, hex, one a line | whoever restores |
//! | `keys/audit-signing.key` | Ed25519 seed of audit checkpoints, hex (secret, 0600) | the backup runner |
//! | `keys/audit-signers.pub` | trusted checkpoint signer public keys, hex | whoever verifies the ledger |

use crate::error::{Error, Result};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where a workspace keeps its backup keys.
#[derive(Debug, Clone)]
pub struct KeyPaths {
    dir: PathBuf,
}

impl KeyPaths {
    /// The key files under `<workspace>/keys`.
    pub fn in_workspace(workspace: &Path) -> Self {
        KeyPaths {
            dir: workspace.join("keys"),
        }
    }

    /// The on-premises age identity.
    pub fn identity(&self) -> PathBuf {
        self.dir.join("backup.identity")
    }

    /// The escrow age identity (to be moved offline).
    pub fn escrow_identity(&self) -> PathBuf {
        self.dir.join("escrow.identity")
    }

    /// The recipients backups are encrypted to.
    pub fn recipients(&self) -> PathBuf {
        self.dir.join("backup.recipients")
    }

    /// The manifest signing key.
    pub fn signing_key(&self) -> PathBuf {
        self.dir.join("backup-signing.key")
    }

    /// The trusted manifest signers.
    pub fn signers(&self) -> PathBuf {
        self.dir.join("backup-signers.pub")
    }

    /// The audit checkpoint signing key (see `crate::audit::checkpoint`).
    pub fn audit_signing_key(&self) -> PathBuf {
        self.dir.join("audit-signing.key")
    }

    /// The trusted audit checkpoint signers.
    pub fn audit_signers(&self) -> PathBuf {
        self.dir.join("audit-signers.pub")
    }
}

/// A short, stable fingerprint of an age recipient (first 16 hex digits of the SHA-256
/// of its `age1...` string), recorded in manifests.
pub fn fingerprint(recipient: &str) -> String {
    hex::encode(Sha256::digest(recipient.as_bytes()))[..16].to_string()
}

fn read(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Config(format!(
                "{what} {} is missing (run `medicare keys generate`)",
                path.display()
            ))
        } else {
            Error::io(path, e)
        }
    })
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// The age recipients a backup is encrypted to (at least one).
#[derive(Debug, Clone)]
pub struct Recipients {
    keys: Vec<age::x25519::Recipient>,
}

impl Recipients {
    /// Parses recipients (`age1...`), one a line, `#` comments allowed; `source` names
    /// the input in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let keys = lines(text)
            .map(|(n, l)| {
                age::x25519::Recipient::from_str(l).map_err(|m| {
                    Error::invalid(
                        format!("{source} line {n}"),
                        format!("not an age X25519 recipient: {m}"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(Error::Config(format!(
                "{source} names no recipient: backups are always encrypted; run `medicare keys generate`"
            )));
        }
        Ok(Recipients { keys })
    }

    /// Reads a recipients file.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::parse(
            &read(path, "the backup recipients file")?,
            &path.display().to_string(),
        )
    }

    /// The recipients' fingerprints.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| fingerprint(&k.to_string()))
            .collect()
    }

    pub(crate) fn encryptor(&self) -> Result<age::Encryptor> {
        age::Encryptor::with_recipients(self.keys.iter().map(|k| k as &dyn age::Recipient))
            .map_err(|e| Error::Config(format!("backup recipients: {e}")))
    }
}

/// Age identities that can decrypt backups; kept secret, parsed only when used.
#[derive(Debug, Clone)]
pub struct Identities {
    text: SecretString,
    source: String,
}

impl Identities {
    /// Identities from text (an age identity file); `source` names it in errors.
    pub fn parse(text: SecretString, source: &str) -> Result<Self> {
        let me = Identities {
            text,
            source: source.to_string(),
        };
        me.keys()?;
        Ok(me)
    }

    /// Reads an identity file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = SecretString::from(read(path, "the backup identity file")?);
        Self::parse(text, &path.display().to_string())
    }

    fn keys(&self) -> Result<Vec<age::x25519::Identity>> {
        let keys = lines(self.text.expose_secret())
            .map(|(n, l)| {
                age::x25519::Identity::from_str(l).map_err(|_| {
                    // Never echo the line: it is a secret.
                    Error::invalid(
                        format!("{} line {n}", self.source),
                        "not an age X25519 identity",
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(Error::invalid(self.source.clone(), "holds no age identity"));
        }
        Ok(keys)
    }

    /// Starts decrypting an age file; `what` names it in errors.
    pub(crate) fn decrypt<R: BufRead>(
        &self,
        input: R,
        what: &str,
    ) -> Result<age::stream::StreamReader<R>> {
        let keys = self.keys()?;
        let bad = |e: age::DecryptError| {
            match e {
            age::DecryptError::NoMatchingKeys => Error::invalid(
                what.to_string(),
                format!(
                    "none of the identities in {} can decrypt it (wrong key, or not a recipient of this backup)",
                    self.source
                ),
            ),
            other => Error::invalid(
                what.to_string(),
                format!("is not a valid age file (corrupt or tampered header): {other}"),
            ),
        }
        };
        let decryptor = age::Decryptor::new_buffered(input).map_err(bad)?;
        decryptor
            .decrypt(keys.iter().map(|k| k as &dyn age::Identity))
            .map_err(bad)
    }
}

/// Writes a new secret file with mode 0600; never overwrites one.
fn write_new_secret(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // NamedTempFile is created 0600 on Unix; persist_noclobber refuses to overwrite.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::AlreadyExists {
                what: format!("key file {}", path.display()),
            }
        } else {
            Error::io(path, e.error)
        }
    })?;
    Ok(())
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(f, "{line}")
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// What `keys generate` made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GeneratedKey {
    /// The identity file (secret, 0600).
    pub identity_file: PathBuf,
    /// The public recipient to give to the cloud side (`age1...`).
    pub recipient: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The recipients file it was added to.
    pub recipients_file: PathBuf,
}

/// Generates an age identity at `identity_file` (0600, refusing to overwrite one) and
/// adds its recipient to `recipients_file`.
pub fn generate_identity(identity_file: &Path, recipients_file: &Path) -> Result<GeneratedKey> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let text = format!(
        "# medicare backup identity: keep on premises, never give to the cloud side\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    write_new_secret(identity_file, &text)?;
    append_line(recipients_file, &recipient)?;
    Ok(GeneratedKey {
        identity_file: identity_file.to_path_buf(),
        fingerprint: fingerprint(&recipient),
        recipient,
        recipients_file: recipients_file.to_path_buf(),
    })
}

/// The Ed25519 key manifests are signed with.
#[derive(Debug)]
pub struct ManifestSigner {
    seed: SecretBox<[u8; 32]>,
}

impl ManifestSigner {
    /// A signer from a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        ManifestSigner {
            seed: SecretBox::new(Box::new(seed)),
        }
    }

    /// A new random signer.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let me = Self::from_seed(seed);
        zeroize::Zeroize::zeroize(&mut seed);
        me
    }

    /// Loads the key at `path`, creating it (0600) if missing and adding its public key
    /// to the trusted signers file `signers`.
    pub fn load_or_create(path: &Path, signers: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = SecretString::from(text);
                let mut seed = [0u8; 32];
                hex::decode_to_slice(text.expose_secret().trim(), &mut seed).map_err(|_| {
                    Error::invalid(path.display().to_string(), "not a hex Ed25519 seed")
                })?;
                let me = Self::from_seed(seed);
                zeroize::Zeroize::zeroize(&mut seed);
                Ok(me)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let me = Self::generate();
                let text = SecretString::from(hex::encode(me.seed.expose_secret()));
                write_new_secret(path, text.expose_secret())?;
                append_line(signers, &me.public_hex())?;
                Ok(me)
            }
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn key(&self) -> SigningKey {
        SigningKey::from_bytes(self.seed.expose_secret())
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key().verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.key().sign(message)
    }
}

/// The public keys whose manifests restore and verify accept.
#[derive(Debug, Clone, Default)]
pub struct TrustedSigners {
    keys: Vec<VerifyingKey>,
}

impl TrustedSigners {
    /// Parses hex public keys, one a line; `source` names the input in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let keys = lines(text)
            .map(|(n, l)| {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(l, &mut bytes)
                    .ok()
                    .and_then(|()| VerifyingKey::from_bytes(&bytes).ok())
                    .ok_or_else(|| {
                        Error::invalid(format!("{source} line {n}"), "not a hex Ed25519 public key")
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TrustedSigners { keys })
    }

    /// Reads a trusted signers file.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::parse(
            &read(path, "the trusted backup signers file")?,
            &path.display().to_string(),
        )
    }

    /// Trusts `signer` too.
    pub fn with(mut self, signer: &ManifestSigner) -> Self {
        self.keys.push(signer.key().verifying_key());
        self
    }

    /// Checks that `signature` over `message` is by a trusted `signer` (hex).
    pub(crate) fn verify(&self, signer: &str, message: &[u8], signature: &Signature) -> bool {
        self.keys
            .iter()
            .any(|k| hex::encode(k.to_bytes()) == signer && k.verify(message, signature).is_ok())
    }
}

/// What the backup runner needs: recipients to encrypt to, the key to sign manifests
/// with, and the signers it trusts (itself included) when it lists earlier backups.
#[derive(Debug)]
pub struct BackupKeys {
    /// The recipients every backup is encrypted to.
    pub recipients: Recipients,
    /// The manifest signing key.
    pub signer: ManifestSigner,
    /// The trusted signers.
    pub trusted: TrustedSigners,
}

impl BackupKeys {
    /// Loads the runner's keys from `paths`: the recipients file must exist and name at
    /// least one recipient; the signing key is created on first use.
    pub fn for_backup(paths: &KeyPaths) -> Result<Self> {
        let recipients = Recipients::from_file(&paths.recipients())?;
        let signer = ManifestSigner::load_or_create(&paths.signing_key(), &paths.signers())?;
        let trusted = TrustedSigners::from_file(&paths.signers())?.with(&signer);
        Ok(BackupKeys {
            recipients,
            signer,
            trusted,
        })
    }
}
