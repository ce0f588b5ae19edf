//! Operators' TOTP secrets sealed with KMS: the [`SecretSealer`] for AWS deployments.
//!
//! A TOTP secret is 20 bytes, far below KMS's 4 KiB limit, so it is sealed by KMS
//! `Encrypt` directly (no data key, no local cipher): the key material never leaves KMS,
//! and a copy of the database alone cannot mint codes. Every seal carries the KMS
//! encryption context `purpose = medicare-operator-secret-v1` and `binding = <SHA-256 of
//! the sealing context>` (the context names the operator; CloudTrail records encryption
//! contexts, so only its hash is sent). KMS refuses to decrypt under any other context,
//! so a sealed secret copied onto another operator's row does not open, and one sealed
//! for another purpose with the same key is refused.
//!
//! ## Format (version 1)
//!
//! | bytes | content |
//! |---|---|
//! | 2 | `K` and the version byte `1` |
//! | rest | the KMS `CiphertextBlob` |
//!
//! The first byte tells it from the workspace key's format ([`LocalSealer`]'s starts with
//! `1`), so a secret sealed with the other sealer is refused by name.
//!
//! [`LocalSealer`]: medicare_core::access::LocalSealer

use crate::connect::kms_client;
use crate::error::storage_error;
use crate::kms::decrypt_refusal;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_kms::primitives::Blob;
use medicare_core::access::{SealedSecret, SecretSealer};
use medicare_core::{Error, Result};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

const MAGIC: u8 = b'K';
const VERSION: u8 = 1;
const PURPOSE_KEY: &str = "purpose";
const PURPOSE: &str = "medicare-operator-secret-v1";
const BINDING_KEY: &str = "binding";

/// Seals small secrets (operators' TOTP secrets) with KMS `Encrypt` and opens them with
/// `Decrypt` (see the module docs).
#[derive(Debug, Clone)]
pub struct KmsSealer {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSealer {
    /// Seals under the KMS key `key_id` (a key id, ARN or alias).
    pub fn new(config: &SdkConfig, key_id: impl Into<String>) -> Self {
        Self::from_client(kms_client(config), key_id)
    }

    /// As [`KmsSealer::new`], with a client the caller built.
    pub fn from_client(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        KmsSealer {
            client,
            key_id: key_id.into(),
        }
    }

    /// The KMS key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// What a sealed secret is called in errors: the context names the operator's row (a
/// username, never personal data of a patient); no secret byte is ever quoted.
fn what(context: &str) -> String {
    format!("KMS-sealed secret ({context})")
}

/// The hash of the sealing context sent to KMS as the `binding` encryption context.
fn binding(context: &str) -> String {
    hex::encode(Sha256::digest(context.as_bytes()))
}

#[async_trait]
impl SecretSealer for KmsSealer {
    async fn seal(&self, secret: &SecretSlice<u8>, context: &str) -> Result<SealedSecret> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(secret.expose_secret().to_vec()))
            .encryption_context(PURPOSE_KEY, PURPOSE)
            .encryption_context(BINDING_KEY, binding(context))
            .send()
            .await
            .map_err(|e| storage_error("KMS Encrypt", format!("KMS key {}", self.key_id), &e))?;
        let blob = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    format!("KMS Encrypt answer for KMS key {}", self.key_id),
                    "it carries no ciphertext",
                )
            })?;
        let mut sealed = Vec::with_capacity(2 + blob.len());
        sealed.extend_from_slice(&[MAGIC, VERSION]);
        sealed.extend_from_slice(&blob);
        Ok(SealedSecret::from_stored(sealed))
    }

    async fn open(&self, sealed: &SealedSecret, context: &str) -> Result<SecretSlice<u8>> {
        let blob = match sealed.as_bytes() {
            [MAGIC, VERSION] => {
                return Err(Error::invalid(
                    what(context),
                    "truncated: it holds no ciphertext",
                ))
            }
            [MAGIC, VERSION, blob @ ..] => blob,
            [MAGIC, version, ..] => {
                return Err(Error::invalid(
                    what(context),
                    format!("format version {version} is not supported (this build reads version {VERSION})"),
                ))
            }
            _ => {
                return Err(Error::invalid(
                    what(context),
                    "it was not sealed with KMS (sealed with a workspace key file, or not a sealed secret): set up the sealer it was made with, or reset the operator's MFA",
                ))
            }
        };
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(blob.to_vec()))
            .encryption_context(PURPOSE_KEY, PURPOSE)
            .encryption_context(BINDING_KEY, binding(context))
            .send()
            .await
            .map_err(|e| decrypt_refusal(&e, &what(context), "it", &self.key_id))?;
        out.plaintext
            .map(|p| SecretSlice::from(p.into_inner()))
            .ok_or_else(|| Error::invalid(what(context), "KMS Decrypt returned no plaintext"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_is_a_hash_of_the_context_not_the_context() {
        let b = binding("medicare-totp-v1:alice");
        assert_eq!(b.len(), 64);
        assert!(!b.contains("alice"));
        assert_ne!(b, binding("medicare-totp-v1:bob"));
    }
}
