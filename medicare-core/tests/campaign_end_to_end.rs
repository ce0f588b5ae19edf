//! A campaign from creation to send on the embedded store: every eligible (recipient,
//! channel) gets exactly one message with its own working link; suppressions, retries and
//! permanent failures are recorded; the preview and status agree with the database.

mod common;

use common::{recorder, Harness};
use medicare_core::campaign::{CampaignState, SendOptions};
use medicare_core::link::presented_token_hash;
use medicare_core::notify::{Channel, NotifyError, RecordingNotifier};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

fn fast_retries() -> SendOptions {
    SendOptions {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..SendOptions::default()
    }
}

#[tokio::test]
async fn every_eligible_delivery_is_sent_once_with_its_own_working_link() {
    let h = Harness::new().await;
    h.populate(3_000).await;
    let id = h
        .campaign(r#"condition in ("asthma", "copd", "bronchiectasis", "cystic_fibrosis", "ild")"#)
        .await;
    let recipients = h
        .scalar(&format!(
            "SELECT COUNT(*) FROM recipients WHERE campaign_id = {}",
            id.0
        ))
        .await;
    assert!(recipients > 500, "about a quarter of 3,000: {recipients}");

    let preview = h.engine.preview(id).await.unwrap();
    assert_eq!(preview.recipients as i64, recipients);
    let eligible = h
        .scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'")
        .await;
    let suppressed = h
        .scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'suppressed'")
        .await;
    assert_eq!(
        preview.channels.iter().map(|c| c.pending).sum::<u64>() as i64,
        eligible
    );
    assert_eq!(
        preview.channels.iter().map(|c| c.suppressed).sum::<u64>() as i64,
        suppressed
    );
    assert!(
        suppressed > 0,
        "the population has opted-out and contactless patients"
    );
    assert_eq!(
        preview.sample_sms_segments.segments, 1,
        "the default SMS fits one segment: {}",
        preview.sample_sms
    );
    assert!(
        preview.sample_sms.contains(common::BASE_URL),
        "{}",
        preview.sample_sms
    );

    let notifier = recorder();
    let report = h
        .engine_with(notifier.clone())
        .send(id, &SendOptions::default(), &())
        .await
        .unwrap();
    assert_eq!(report.requeued_in_flight, 0);
    let sent = notifier.sent();
    assert_eq!(sent.len() as i64, eligible);
    assert_eq!(report.sent.values().sum::<u64>() as i64, eligible);

    // One message per (recipient, channel).
    let keys: BTreeSet<(i64, Channel)> = sent.iter().map(|m| (m.recipient_id, m.channel)).collect();
    assert_eq!(keys.len(), sent.len());

    // Each recipient's link is distinct, resolves to that recipient by hash, and is the
    // same on both channels.
    let mut link_of: BTreeMap<i64, String> = BTreeMap::new();
    for m in &sent {
        let link = m
            .text
            .split_whitespace()
            .find(|w| w.starts_with(common::BASE_URL))
            .expect("a link in every message")
            .to_string();
        assert_eq!(
            link_of
                .entry(m.recipient_id)
                .or_insert_with(|| link.clone()),
            &link
        );
        if let Some(html) = &m.html {
            assert!(html.contains(&link));
        }
        let token = link.rsplit('/').next().unwrap();
        let hash = presented_token_hash(token).expect("well-formed token");
        let owner: i64 = sqlx::query_scalar("SELECT id FROM recipients WHERE token_hash = ?")
            .bind(hash.0.as_slice())
            .fetch_one(h.store.pool())
            .await
            .unwrap();
        assert_eq!(owner, m.recipient_id);
        let address = match m.channel {
            Channel::Sms => "phone",
            Channel::Email => "email",
        };
        let stored: String =
            sqlx::query_scalar(&format!("SELECT {address} FROM recipients WHERE id = ?"))
                .bind(m.recipient_id)
                .fetch_one(h.store.pool())
                .await
                .unwrap();
        assert_eq!(stored, m.to);
    }
    let distinct: BTreeSet<&String> = link_of.values().collect();
    assert_eq!(distinct.len(), link_of.len());

    let status = h.engine.status(id).await.unwrap();
    assert_eq!(status.campaign.state, CampaignState::Sent);
    assert_eq!(
        h.scalar("SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')")
            .await,
        0
    );
    assert_eq!(
        status.channels.iter().map(|c| c.sent).sum::<u64>() as i64,
        eligible
    );

    // Sending a finished campaign again is refused and sends nothing.
    let again = h
        .engine_with(notifier.clone())
        .send(id, &SendOptions::default(), &())
        .await;
    assert!(matches!(again, Err(medicare_core::Error::Conflict(_))));
    assert_eq!(notifier.count() as i64, eligible);
}

#[tokio::test]
async fn throttling_is_retried_and_permanent_errors_are_recorded_not_retried() {
    let h = Harness::new().await;
    h.populate(600).await;
    let id = h.campaign("all").await;
    // Every delivery with an id divisible by 7 is throttled twice then accepted; by 13
    // is permanently invalid; by 11 is always transient (gives up).
    let notifier = Arc::new(RecordingNotifier::with_failures(Arc::new(|m, attempt| {
        if m.delivery_id % 13 == 0 {
            Some(NotifyError::Permanent {
                reason: "invalid parameter: phone number".into(),
            })
        } else if m.delivery_id % 11 == 0 {
            Some(NotifyError::Transient {
                reason: "service unavailable".into(),
            })
        } else if m.delivery_id % 7 == 0 && attempt <= 2 {
            Some(NotifyError::Throttled {
                reason: "rate exceeded".into(),
                retry_after: None,
            })
        } else {
            None
        }
    })));
    let options = SendOptions {
        max_attempts: 4,
        ..fast_retries()
    };
    let report = h
        .engine_with(notifier.clone())
        .send(id, &options, &())
        .await
        .unwrap();

    let rows: Vec<(i64, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT id, status, attempts, reason FROM deliveries WHERE status != 'suppressed'",
    )
    .fetch_all(h.store.pool())
    .await
    .unwrap();
    assert!(!rows.is_empty());
    for (id, status, attempts, reason) in rows {
        let (want_status, want_attempts) = if id % 13 == 0 {
            ("failed", 1)
        } else if id % 11 == 0 {
            ("failed", 4)
        } else if id % 7 == 0 {
            ("sent", 3)
        } else {
            ("sent", 1)
        };
        assert_eq!(
            (status.as_str(), attempts),
            (want_status, want_attempts),
            "delivery {id}"
        );
        assert_eq!(
            notifier.attempts(id, 0) as i64,
            want_attempts,
            "delivery {id}"
        );
        if status == "failed" {
            let reason = reason.unwrap();
            assert!(
                reason.contains("invalid parameter") || reason.contains("gave up after 4 attempts"),
                "{reason}"
            );
        }
    }
    assert!(report.retries > 0);
    assert!(report.failed.values().sum::<u64>() > 0);
    // Nothing is left pending: every delivery ended sent, failed or suppressed.
    assert_eq!(
        h.scalar("SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')")
            .await,
        0
    );
    let status = h.engine.status(id).await.unwrap();
    assert_eq!(status.campaign.state, CampaignState::Sent);
    let failed_reasons: u64 = status
        .channels
        .iter()
        .flat_map(|c| c.failed_reasons.values())
        .sum();
    assert_eq!(
        failed_reasons,
        status.channels.iter().map(|c| c.failed).sum::<u64>()
    );
}

#[tokio::test]
async fn rate_limits_are_obeyed_per_channel() {
    let h = Harness::new().await;
    h.populate(60).await;
    let id = h.campaign("has_phone and not sms_opt_out").await;
    let sms = h
        .scalar("SELECT COUNT(*) FROM deliveries WHERE channel = 'sms' AND status = 'pending'")
        .await;
    assert!(sms >= 30, "{sms}");
    let mut options = SendOptions::default();
    options
        .rate_limits
        .insert(Channel::Sms, std::num::NonZeroU32::new(100).unwrap());
    let start = std::time::Instant::now();
    h.engine_with(recorder())
        .send(id, &options, &())
        .await
        .unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    // n messages at 100/s with a burst of 1 take at least (n - 1) / 100 seconds.
    assert!(
        elapsed >= (sms - 1) as f64 / 100.0 * 0.95,
        "{sms} SMS in {elapsed}s"
    );
}

#[tokio::test]
async fn a_campaign_needs_notifiers_for_its_channels() {
    let h = Harness::new().await;
    h.populate(50).await;
    let id = h.campaign("all").await;
    let err = h
        .engine
        .send(id, &SendOptions::default(), &())
        .await
        .unwrap_err();
    assert!(matches!(err, medicare_core::Error::Config(_)), "{err}");
    assert_eq!(
        h.engine.status(id).await.unwrap().campaign.state,
        CampaignState::Draft
    );
}
