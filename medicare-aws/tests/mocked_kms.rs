//! The KMS sealer against mocked KMS answers: what moto does not answer as AWS does
//! (`IncorrectKeyException`), and what must be refused before any call.

mod support;

use aws_smithy_mocks::{mock, RuleMode};
use medicare_aws::KmsSealer;
use medicare_core::access::{SealedSecret, SecretSealer};
use support::{kms_error, kms_mock};

const CONTEXT: &str = "medicare-totp-v1:alice";

#[tokio::test]
async fn kms_refusals_are_named_without_quoting_the_sealed_bytes() {
    let sealed = SealedSecret::from_stored(b"K\x01opaque-kms-ciphertext-blob".to_vec());
    for (code, expected) in [
        (
            "IncorrectKeyException",
            "sealed under another KMS key than key-1",
        ),
        ("InvalidCiphertextException", "cannot decrypt it"),
        ("AccessDeniedException", "this caller may not use the key"),
    ] {
        let rule =
            mock!(aws_sdk_kms::Client::decrypt).then_http_response(move || kms_error(400, code));
        let sealer = KmsSealer::from_client(kms_mock(RuleMode::Sequential, &[&rule]), "key-1");
        let err = sealer.open(&sealed, CONTEXT).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!("KMS-sealed secret ({CONTEXT})")) && err.contains(expected),
            "{code}: {err}"
        );
        assert!(!err.contains("opaque-kms-ciphertext-blob"), "{err}");
    }
}

#[tokio::test]
async fn foreign_formats_are_refused_before_any_kms_call() {
    // No rules: any call to KMS would fail the test with another error.
    let sealer = KmsSealer::from_client(kms_mock(RuleMode::Sequential, &[]), "key-1");
    for (bytes, expected) in [
        (vec![1u8; 40], "not sealed with KMS"),
        (vec![], "not sealed with KMS"),
        (b"K".to_vec(), "not sealed with KMS"),
        (b"K\x01".to_vec(), "truncated"),
        (b"K\x07blob".to_vec(), "format version 7 is not supported"),
    ] {
        let err = sealer
            .open(&SealedSecret::from_stored(bytes.clone()), CONTEXT)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{bytes:?}: {err}");
    }
}
