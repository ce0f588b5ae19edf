//! Envelope encryption with KMS: a fresh data key per object, AES-256-GCM locally.
//!
//! KMS encrypts at most 4 KiB per call and bills per call, so large data is sealed the
//! usual way: `GenerateDataKey` returns a 256-bit key in plaintext and encrypted under the
//! KMS key; the data is encrypted locally with the plaintext key (AES-256-GCM, random
//! 96-bit nonce), the plaintext key is wiped, and the *encrypted* key is stored beside the
//! ciphertext. Opening asks KMS to decrypt that key (which KMS only does for a caller
//! allowed to use the KMS key) and decrypts locally.
//!
//! ## Format (version 1)
//!
//! | bytes | content |
//! |---|---|
//! | 6 | `MCKMS` and the version byte `1` |
//! | 2 | length of the encrypted data key, big-endian |
//! | n | the encrypted data key (KMS `CiphertextBlob`) |
//! | 12 | the nonce |
//! | rest | AES-256-GCM ciphertext and 16-byte tag |
//!
//! Everything before the ciphertext is authenticated as associated data, so changing the
//! header, the key blob or the nonce fails the tag check like changing the ciphertext
//! does. The data key is generated and decrypted under the encryption context
//! `purpose = medicare-envelope-v1`, so a key blob made for anything else is refused by
//! KMS.

use crate::connect::kms_client;
use crate::error::{storage_error, Failure, FailureKind};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_config::SdkConfig;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use medicare_core::{Error, Result};
use rand::RngCore;
use zeroize::Zeroizing;

const MAGIC: &[u8; 5] = b"MCKMS";
const VERSION: u8 = 1;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const CONTEXT_KEY: &str = "purpose";
const CONTEXT_VALUE: &str = "medicare-envelope-v1";
/// What an envelope is called in error messages.
const WHAT: &str = "KMS envelope";

/// Seals and opens data under a KMS key (see the module docs for the format).
#[derive(Debug, Clone)]
pub struct KmsEnvelope {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsEnvelope {
    /// Envelopes under the KMS key `key_id` (a key id, ARN or alias).
    pub fn new(config: &SdkConfig, key_id: impl Into<String>) -> Self {
        Self::from_client(kms_client(config), key_id)
    }

    /// As [`KmsEnvelope::new`], with a client the caller built.
    pub fn from_client(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        KmsEnvelope {
            client,
            key_id: key_id.into(),
        }
    }

    /// The KMS key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `plaintext` under a fresh data key.
    pub async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let generated = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(|e| storage_error("KMS GenerateDataKey", self.location(), &e))?;
        let key = Zeroizing::new(
            generated
                .plaintext
                .map(Blob::into_inner)
                .unwrap_or_default(),
        );
        let encrypted_key = generated
            .ciphertext_blob
            .map(Blob::into_inner)
            .unwrap_or_default();
        if key.len() != 32
            || encrypted_key.is_empty()
            || encrypted_key.len() > usize::from(u16::MAX)
        {
            return Err(Error::invalid(
                format!("KMS GenerateDataKey answer for {}", self.location()),
                "expected a 256-bit data key and its encrypted form",
            ));
        }
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut sealed = Vec::with_capacity(
            MAGIC.len() + 3 + encrypted_key.len() + NONCE_BYTES + plaintext.len() + TAG_BYTES,
        );
        sealed.extend_from_slice(MAGIC);
        sealed.push(VERSION);
        sealed.extend_from_slice(&(encrypted_key.len() as u16).to_be_bytes());
        sealed.extend_from_slice(&encrypted_key);
        sealed.extend_from_slice(&nonce);
        let cipher = Aes256Gcm::new_from_slice(&key).expect("a 256-bit key");
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &sealed,
                },
            )
            .map_err(|_| Error::invalid(WHAT, "the data is too large to seal in one envelope"))?;
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Decrypts an envelope made by [`KmsEnvelope::seal`] under this key. A changed,
    /// truncated or foreign envelope, or one sealed under another KMS key, is refused
    /// with a clear error and no plaintext.
    pub async fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let parts = Parts::split(sealed)?;
        let decrypted = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(parts.encrypted_key))
            .encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(|e| decrypt_refusal(&e, WHAT, "its data key", &self.key_id))?;
        let key = Zeroizing::new(
            decrypted
                .plaintext
                .map(Blob::into_inner)
                .unwrap_or_default(),
        );
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| Error::invalid(WHAT, "KMS returned a data key that is not 256 bits"))?;
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(parts.nonce),
                Payload {
                    msg: parts.ciphertext,
                    aad: parts.header,
                },
            )
            .map_err(|_| {
                Error::invalid(
                    WHAT,
                    "authentication failed: the ciphertext, nonce or header was changed",
                )
            })?;
        Ok(Zeroizing::new(plaintext))
    }

    fn location(&self) -> String {
        format!("KMS key {}", self.key_id)
    }
}

/// The error for a KMS `Decrypt` that failed while opening `what`: the refusals that
/// mean "not sealed under this key, or altered" say so in words (naming `what`, `part`,
/// the thing KMS decrypts, and the key); anything else is classified as a storage error.
/// No ciphertext or plaintext is quoted.
pub(crate) fn decrypt_refusal<E: ProvideErrorMetadata>(
    e: &SdkError<E, HttpResponse>,
    what: &str,
    part: &str,
    key_id: &str,
) -> Error {
    let failure = Failure::classify("KMS Decrypt", e);
    match (failure.kind, failure.code.as_deref()) {
        (FailureKind::Permanent, Some("IncorrectKeyException")) => Error::invalid(
            what,
            format!("it was sealed under another KMS key than {key_id}"),
        ),
        (FailureKind::Permanent, Some("AccessDeniedException")) => Error::invalid(
            what,
            format!(
                "KMS refused to decrypt {part} with key {key_id} (AccessDeniedException): it was sealed under another key, or this caller may not use the key"
            ),
        ),
        (FailureKind::Permanent, Some("InvalidCiphertextException")) => Error::invalid(
            what,
            format!(
                "KMS key {key_id} cannot decrypt {part}: it was changed, sealed for another use, or sealed under another key"
            ),
        ),
        _ => failure.into_error(format!("KMS key {key_id}")),
    }
}

/// An envelope cut into its parts (nothing decrypted yet).
struct Parts<'a> {
    /// Everything before the ciphertext (the associated data).
    header: &'a [u8],
    encrypted_key: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

impl<'a> Parts<'a> {
    fn split(sealed: &'a [u8]) -> Result<Self> {
        let bad = |m: &str| Error::invalid(WHAT, m.to_string());
        if sealed.len() < MAGIC.len() + 1 || &sealed[..MAGIC.len()] != MAGIC {
            return Err(bad("not a medicare KMS envelope (no MCKMS header)"));
        }
        let version = sealed[MAGIC.len()];
        if version != VERSION {
            return Err(bad(&format!(
                "format version {version} is not supported (this build reads version {VERSION})"
            )));
        }
        let at = MAGIC.len() + 1;
        let len_bytes = sealed
            .get(at..at + 2)
            .ok_or_else(|| bad("truncated in its header"))?;
        let key_len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let key_start = at + 2;
        let nonce_start = key_start + key_len;
        let ciphertext_start = nonce_start + NONCE_BYTES;
        if key_len == 0 || sealed.len() < ciphertext_start + TAG_BYTES {
            return Err(bad("truncated: shorter than its header says"));
        }
        Ok(Parts {
            header: &sealed[..ciphertext_start],
            encrypted_key: &sealed[key_start..nonce_start],
            nonce: &sealed[nonce_start..ciphertext_start],
            ciphertext: &sealed[ciphertext_start..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_envelopes_are_refused_before_any_kms_call() {
        let err = |b: &[u8]| Parts::split(b).err().unwrap().to_string();
        assert!(err(b"").contains("no MCKMS header"));
        assert!(err(b"age-encryption.org/v1").contains("no MCKMS header"));
        assert!(err(b"MCKMS\x02rest").contains("format version 2 is not supported"));
        assert!(err(b"MCKMS\x01\x00").contains("truncated in its header"));
        assert!(err(b"MCKMS\x01\x00\x00").contains("truncated"));
        let mut short = b"MCKMS\x01\x00\x04blob".to_vec();
        short.extend_from_slice(&[0u8; NONCE_BYTES + TAG_BYTES - 1]);
        assert!(err(&short).contains("shorter than its header says"));
        short.push(0);
        let parts = Parts::split(&short).unwrap();
        assert_eq!(parts.encrypted_key, b"blob");
        assert_eq!(parts.ciphertext.len(), TAG_BYTES);
        assert_eq!(parts.header.len(), 6 + 2 + 4 + NONCE_BYTES);
    }
}
