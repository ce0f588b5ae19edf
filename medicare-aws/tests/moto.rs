//! The conformance suites, and what only a server can show, against a moto server (URL in
//! `MEDICARE_TEST_MOTO_URL`; skipped, saying so, when unset outside CI). Every test works
//! in its own bucket, prefix, key and sender, so runs never collide.

mod support;

use aws_sdk_s3::types::ServerSideEncryption;
use medicare_aws::connect::s3_client;
use medicare_aws::{
    EmailOptions, KmsEnvelope, KmsSealer, PresignedLinkSigner, S3BackupSink, S3FormPublisher,
    S3Location, SesEmailNotifier,
};
use medicare_core::backup::conformance as sink_suite;
use medicare_core::backup::sink::{get_bytes, BackupSink};
use medicare_core::link::{HmacLinkSigner, LinkSigner};
use medicare_core::notify::conformance::{
    accepts_messages_with_distinct_ids, refuses_permanently_without_personal_data, sample_message,
};
use medicare_core::notify::Channel;
use medicare_core::publish::conformance as publisher_suite;
use medicare_core::publish::FormPublisher;
use rand::Rng;
use secrecy::{ExposeSecret, SecretBox};
use std::sync::Arc;
use std::time::Duration;
use support::*;

async fn raw_object(
    config: &aws_config::SdkConfig,
    bucket: &str,
    key: &str,
) -> (
    Vec<u8>,
    aws_sdk_s3::operation::head_object::HeadObjectOutput,
) {
    let s3 = s3_client(config);
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    (body.body.collect().await.unwrap().to_vec(), head)
}

#[tokio::test]
async fn s3_form_publisher_conforms_with_sse_kms_and_html_headers() {
    let Some(url) = moto_url() else { return };
    let config = moto_config(&url).await;
    let bucket = create_bucket(&config).await;
    let key = create_kms_key(&config).await;
    let publisher = S3FormPublisher::new(
        &config,
        S3Location::new(&bucket, "forms/2026").unwrap(),
        Some(key.clone()),
    );
    publisher_suite::publishes_fetches_and_replaces(&publisher).await;
    publisher_suite::refuses_hostile_keys(&publisher).await;

    let location = publisher.publish("flu", "<p>flu</p>").await.unwrap();
    assert_eq!(location, format!("s3://{bucket}/forms/2026/flu.html"));
    let (body, head) = raw_object(&config, &bucket, "forms/2026/flu.html").await;
    assert_eq!(body, b"<p>flu</p>");
    assert_eq!(head.content_type(), Some("text/html; charset=utf-8"));
    assert_eq!(head.cache_control(), Some("no-cache"));
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert!(
        head.ssekms_key_id().is_some_and(|k| k.contains(&key)),
        "{head:?}"
    );

    // Without a key id: still SSE-KMS (the AWS-managed key).
    let managed = S3FormPublisher::new(&config, S3Location::new(&bucket, "managed").unwrap(), None);
    managed.publish("flu", "<p>x</p>").await.unwrap();
    let (_, head) = raw_object(&config, &bucket, "managed/flu.html").await;
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );

    // A bucket that does not exist is an error naming the location, not a panic.
    let missing = S3FormPublisher::new(
        &config,
        S3Location::new(&unique("medicare-none"), "").unwrap(),
        None,
    );
    let err = missing.publish("flu", "x").await.unwrap_err().to_string();
    assert!(
        err.contains("S3 PutObject") && err.contains("NoSuchBucket"),
        "{err}"
    );
}

#[tokio::test]
async fn sns_notifier_conforms_and_moto_receives_each_sms() {
    let Some(url) = moto_url() else { return };
    let config = moto_config(&url).await;
    let sms = sms_notifier(&config);
    // moto ships a fixed opted-out list (the UK drama numbers among them).
    let opted_out = sms.sync_opted_out().await.unwrap();
    assert!(opted_out > 0);
    let first = rand::thread_rng().gen_range(1_000_000..1_000_000_000);
    let number = "+447700900123";
    let accepted =
        accepts_messages_with_distinct_ids(sms.clone(), Channel::Sms, number, first).await;
    let recorded = moto_data(&url).await;
    let by_id: Vec<_> = recorded["sns"]["SMS"].as_array().unwrap().iter().collect();
    for (message, id) in &accepted {
        let seen = by_id
            .iter()
            .find(|m| m["message_id"] == id.as_str())
            .unwrap_or_else(|| panic!("moto has no SMS {id}"));
        assert_eq!(seen["phone_number"], number);
        assert_eq!(seen["message"], message.text.as_str());
    }

    let err = refuses_permanently_without_personal_data(
        sms.as_ref(),
        &sample_message(Channel::Sms, "+447700900149", first),
    )
    .await;
    assert!(err.to_string().contains("opted out"), "{err}");
    let mut long = sample_message(Channel::Sms, number, first);
    long.text = "x".repeat(1601);
    refuses_permanently_without_personal_data(sms.as_ref(), &long).await;
    let sms_after = moto_sms(&moto_data(&url).await);
    assert!(
        !sms_after.iter().any(|(to, _)| to == "+447700900149"),
        "nothing was published to the opted-out number"
    );
}

#[tokio::test]
async fn ses_notifier_conforms_and_moto_receives_each_email() {
    let Some(url) = moto_url() else { return };
    let config = moto_config(&url).await;
    let from = format!("{}@example.org", unique("medicare"));
    verify_sender(&config, &from).await;
    let email = Arc::new(
        SesEmailNotifier::new(
            &config,
            EmailOptions {
                from: from.clone(),
                configuration_set: None,
            },
        )
        .unwrap(),
    );
    let first = rand::thread_rng().gen_range(1_000_000..1_000_000_000);
    let to = "patient@example.org";
    let accepted = accepts_messages_with_distinct_ids(email, Channel::Email, to, first).await;
    let recorded = moto_data(&url).await;
    let all: Vec<_> = recorded["ses"]["Message"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    for (message, id) in &accepted {
        let seen = all
            .iter()
            .find(|m| m["id"] == id.as_str())
            .unwrap_or_else(|| panic!("moto has no email {id}"));
        assert_eq!(seen["source"], from.as_str());
        assert_eq!(seen["destinations"]["ToAddresses"][0], to);
        assert_eq!(seen["subject"], message.subject.as_deref().unwrap());
        // moto keeps the HTML part when there is one.
        assert_eq!(seen["body"], message.html.as_deref().unwrap());
    }

    // An unverified sender: SES (here moto) rejects it; the notifier classifies the real
    // answer as permanent, without the address.
    let unverified = SesEmailNotifier::new(
        &config,
        EmailOptions {
            from: format!("{}@example.org", unique("unverified")),
            configuration_set: None,
        },
    )
    .unwrap();
    let err = refuses_permanently_without_personal_data(
        &unverified,
        &sample_message(Channel::Email, to, first),
    )
    .await;
    assert!(err.to_string().contains("MessageRejected"), "{err}");
    refuses_permanently_without_personal_data(
        &unverified,
        &sample_message(Channel::Email, "not-an-address", first),
    )
    .await;
}

#[tokio::test]
async fn kms_envelopes_round_trip_and_refuse_tampering_and_other_keys() {
    let Some(url) = moto_url() else { return };
    let config = moto_config(&url).await;
    let envelope = KmsEnvelope::new(&config, create_kms_key(&config).await);
    let plaintext = b"age-encryption.org/v1 ... the backup".repeat(1000);
    let sealed = envelope.seal(&plaintext).await.unwrap();
    assert!(sealed.starts_with(b"MCKMS\x01"));
    assert!(
        !sealed.windows(20).any(|w| w == &plaintext[..20]),
        "the plaintext does not show"
    );
    assert_eq!(
        envelope.open(&sealed).await.unwrap().as_slice(),
        plaintext.as_slice()
    );
    // Two seals of the same data differ (fresh data key and nonce).
    assert_ne!(envelope.seal(&plaintext).await.unwrap(), sealed);
    assert_eq!(
        envelope
            .open(&envelope.seal(b"").await.unwrap())
            .await
            .unwrap()
            .len(),
        0
    );

    let key_len = usize::from(u16::from_be_bytes([sealed[6], sealed[7]]));
    let nonce_at = 8 + key_len;
    for (what, at) in [
        ("ciphertext", sealed.len() - 100),
        ("tag", sealed.len() - 1),
        ("nonce", nonce_at),
    ] {
        let mut bad = sealed.clone();
        bad[at] ^= 0x01;
        let err = envelope.open(&bad).await.unwrap_err().to_string();
        assert!(err.contains("authentication failed"), "{what}: {err}");
    }
    let mut bad_key = sealed.clone();
    bad_key[8 + key_len / 2] ^= 0x01;
    let err = envelope.open(&bad_key).await.unwrap_err().to_string();
    assert!(err.contains("cannot decrypt its data key"), "{err}");
    let err = envelope
        .open(&sealed[..sealed.len() - 20])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("authentication failed") || err.contains("truncated"),
        "{err}"
    );

    let other = KmsEnvelope::new(&config, create_kms_key(&config).await);
    let err = other.open(&sealed).await.unwrap_err().to_string();
    // AWS answers IncorrectKeyException, moto AccessDeniedException: both name the cause.
    assert!(
        err.contains("another KMS key") || err.contains("sealed under another key"),
        "{err}"
    );
    let missing = KmsEnvelope::new(&config, "alias/does-not-exist");
    let err = missing.seal(b"x").await.unwrap_err().to_string();
    assert!(
        err.contains("KMS GenerateDataKey") && err.contains("alias/does-not-exist"),
        "{err}"
    );
}

#[tokio::test]
async fn kms_sealed_totp_secrets_round_trip_and_refuse_other_keys_contexts_and_tampering() {
    use medicare_core::access::{LocalSealer, SealedSecret, SecretSealer};
    use secrecy::SecretSlice;
    let Some(url) = moto_url() else { return };
    let config = moto_config(&url).await;
    let key = create_kms_key(&config).await;
    let sealer = KmsSealer::new(&config, key.clone());
    let raw = b"12345678901234567890";
    let secret = SecretSlice::from(raw.to_vec());
    let context = "medicare-totp-v1:alice";
    let sealed = sealer.seal(&secret, context).await.unwrap();
    assert_eq!(&sealed.as_bytes()[..2], b"K\x01");
    assert!(!sealed.as_bytes().windows(raw.len()).any(|w| w == raw));
    let opened = sealer.open(&sealed, context).await.unwrap();
    assert_eq!(opened.expose_secret(), raw);

    // Every refusal names what and why, and never quotes the secret or the sealed bytes.
    let no_secret = |err: &str| {
        assert!(!err.contains("12345678901234567890"), "{err}");
        assert!(!err.contains(&format!("{:?}", sealed.as_bytes())), "{err}");
        assert!(!err.contains(&hex::encode(sealed.as_bytes())), "{err}");
    };
    let err = sealer
        .open(&sealed, "medicare-totp-v1:mallory")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("KMS-sealed secret (medicare-totp-v1:mallory)"),
        "{err}"
    );
    assert!(err.contains(&key), "{err}");
    no_secret(&err);

    let other = KmsSealer::new(&config, create_kms_key(&config).await);
    let err = other.open(&sealed, context).await.unwrap_err().to_string();
    // AWS answers IncorrectKeyException, moto AccessDeniedException: both name the cause.
    assert!(
        err.contains("another KMS key") || err.contains("sealed under another key"),
        "{err}"
    );
    no_secret(&err);

    for at in [2, sealed.as_bytes().len() / 2, sealed.as_bytes().len() - 1] {
        let mut bytes = sealed.as_bytes().to_vec();
        bytes[at] ^= 0x01;
        let err = sealer
            .open(&SealedSecret::from_stored(bytes), context)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("KMS-sealed secret"), "byte {at}: {err}");
        no_secret(&err);
    }

    // A secret the workspace key sealed is refused by name, before any KMS call.
    let local = LocalSealer::new(SecretBox::new(Box::new([3u8; 32])));
    let local_sealed = local.seal(&secret, context).await.unwrap();
    let err = sealer
        .open(&local_sealed, context)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not sealed with KMS"), "{err}");

    let missing = KmsSealer::new(&config, "alias/does-not-exist");
    let err = missing
        .seal(&secret, context)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("KMS Encrypt") && err.contains("alias/does-not-exist"),
        "{err}"
    );
}

#[tokio::test]
async fn s3_backup_sinks_conform_with_and_without_an_envelope() {
    let Some(url) = moto_url() else { return };
    let config = moto_config(&url).await;
    let bucket = create_bucket(&config).await;
    let key = create_kms_key(&config).await;
    for kms in [Some(key.clone()), None] {
        let sink = |prefix: &str| {
            S3BackupSink::new(
                &config,
                S3Location::new(&bucket, prefix).unwrap(),
                kms.clone(),
            )
        };
        let tag = if kms.is_some() { "kms" } else { "plain" };
        sink_suite::stores_lists_reads_and_deletes(&sink(&format!("{tag}/a"))).await;
        sink_suite::a_failed_body_stores_nothing(&sink(&format!("{tag}/b"))).await;
        sink_suite::hostile_keys_are_refused(&sink(&format!("{tag}/c"))).await;

        // Paged listing: five objects, two per page.
        let paged = sink(&format!("{tag}/d")).with_list_page_size(2);
        for i in 0..5 {
            paged
                .put(&format!("manifests/{i}.manifest"), vec![b'm'; i + 1])
                .await
                .unwrap();
        }
        let listed = paged.list("manifests/").await.unwrap();
        let sizes: Vec<u64> = listed.iter().map(|o| o.size).collect();
        assert_eq!(sizes, vec![1, 2, 3, 4, 5], "{listed:?}");

        // What S3 holds: SSE-KMS always; with a key, an envelope (never the bytes).
        let (raw, head) =
            raw_object(&config, &bucket, &format!("{tag}/d/manifests/4.manifest")).await;
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        match &kms {
            Some(k) => {
                assert!(raw.starts_with(b"MCKMS\x01"));
                assert!(head
                    .ssekms_key_id()
                    .is_some_and(|id| id.contains(k.as_str())));
            }
            None => assert_eq!(raw, b"mmmmm"),
        }
    }

    // An enveloped object changed in S3 is refused on read, naming the object.
    let sink = S3BackupSink::new(
        &config,
        S3Location::new(&bucket, "tamper").unwrap(),
        Some(key),
    );
    sink.put("manifests/x.manifest", b"manifest".to_vec())
        .await
        .unwrap();
    let (mut raw, _) = raw_object(&config, &bucket, "tamper/manifests/x.manifest").await;
    let last = raw.len() - 1;
    raw[last] ^= 1;
    s3_client(&config)
        .put_object()
        .bucket(&bucket)
        .key("tamper/manifests/x.manifest")
        .metadata("medicare-size", "8")
        .body(raw.into())
        .send()
        .await
        .unwrap();
    let err = get_bytes(&sink, "manifests/x.manifest")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tamper/manifests/x.manifest") && err.contains("authentication failed"),
        "{err}"
    );
}

#[tokio::test]
async fn presigned_links_fetch_the_recipients_object() {
    let Some(url) = moto_url() else { return };
    let config = moto_config(&url).await;
    let bucket = create_bucket(&config).await;
    let tokens = Arc::new(
        HmacLinkSigner::new(
            SecretBox::new(Box::new([1u8; 32])),
            "https://unused.example.org",
        )
        .unwrap(),
    );
    let location = S3Location::new(&bucket, "links").unwrap();
    let signer =
        PresignedLinkSigner::new(&config, location.clone(), tokens, Duration::from_secs(3600))
            .await
            .unwrap();
    let token = signer.token(&signer.issue().nonce);
    let key = signer.object_key(&token);
    assert_eq!(key, format!("links/{}.html", token.expose_secret()));
    s3_client(&config)
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(b"<p>your page</p>".to_vec().into())
        .send()
        .await
        .unwrap();
    let link = signer.url(&token);
    assert!(
        link.starts_with(&format!("{}/{bucket}/{key}?", url.trim_end_matches('/'))),
        "{link}"
    );
    assert!(link.contains("X-Amz-Signature=") && link.contains("X-Amz-Expires=3600"));
    // moto routes the signed URL to the object (it does not check the signature: the
    // unit tests check that against AWS's published example).
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "<p>your page</p>");
}
