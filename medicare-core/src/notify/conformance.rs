//! A behaviour suite every [`Notifier`] must pass.
//!
//! A notifier hands messages to a provider the suite cannot see, so each check returns
//! what was accepted and the caller confirms that its provider holds it (the outbox file,
//! the recorder, the messages an AWS-compatible server recorded). Checks that need the
//! provider to refuse something take the message to refuse from the caller, since what a
//! provider refuses (an opted-out number, an address it cannot deliver to) is its own.

use super::{Channel, Notifier, NotifyError, OutboundMessage};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A message for the suite, to `to` on `channel`; its texts carry the marker
/// `medicare conformance message {n}` so the caller can find it at the provider.
pub fn sample_message(channel: Channel, to: &str, n: i64) -> OutboundMessage {
    let text = format!("medicare conformance message {n}: https://forms.example.org/f/conformance");
    OutboundMessage {
        delivery_id: n,
        campaign_id: 1,
        recipient_id: n,
        channel,
        round: 0,
        to: to.to_string(),
        subject: (channel == Channel::Email).then(|| format!("medicare conformance {n}")),
        html: (channel == Channel::Email).then(|| format!("<p>{text}</p>")),
        text,
    }
}

/// Sends three sample messages (`first`, `first + 1`, `first + 2`) to `to` through
/// `Arc<dyn Notifier>` (the forwarding impl) and the notifier itself: each is accepted
/// with its own non-empty provider id, and flushing succeeds. Returns each message with
/// its id, for the caller to find at its provider.
pub async fn accepts_messages_with_distinct_ids(
    notifier: Arc<dyn Notifier>,
    channel: Channel,
    to: &str,
    first: i64,
) -> Vec<(OutboundMessage, String)> {
    let mut accepted = Vec::new();
    for n in first..first + 3 {
        let message = sample_message(channel, to, n);
        let id = if n % 2 == 0 {
            notifier.send(&message).await
        } else {
            Notifier::send(&notifier, &message).await
        }
        .unwrap_or_else(|e| panic!("message {n} was refused: {e}"));
        assert!(
            !id.trim().is_empty(),
            "message {n} got an empty provider id"
        );
        accepted.push((message, id));
    }
    notifier
        .flush()
        .await
        .expect("flush after accepted messages");
    let ids: BTreeSet<&str> = accepted.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids.len(),
        accepted.len(),
        "provider ids are distinct: {ids:?}"
    );
    accepted
}

/// `refused` (a message the caller knows its provider refuses for good) fails with a
/// permanent, non-retryable error whose reason names neither the address nor the text.
pub async fn refuses_permanently_without_personal_data(
    notifier: &dyn Notifier,
    refused: &OutboundMessage,
) -> NotifyError {
    let err = notifier
        .send(refused)
        .await
        .expect_err("the message should have been refused");
    assert!(
        matches!(err, NotifyError::Permanent { .. }) && !err.is_retryable(),
        "a refusal for good is permanent: {err}"
    );
    let reason = err.to_string();
    assert!(
        !reason.contains(&refused.to),
        "the reason names the address: {reason}"
    );
    assert!(
        !reason.contains(&refused.text),
        "the reason carries the text: {reason}"
    );
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{OutboxNotifier, RecordingNotifier};

    #[tokio::test]
    async fn the_recorder_passes() {
        let recorder = Arc::new(RecordingNotifier::with_failures(Arc::new(|m, _| {
            (m.to == "+10").then(|| NotifyError::Permanent {
                reason: "invalid number".into(),
            })
        })));
        let accepted =
            accepts_messages_with_distinct_ids(recorder.clone(), Channel::Sms, "+447700900001", 1)
                .await;
        let sent = recorder.sent();
        assert_eq!(sent.len(), 3);
        for ((message, _), seen) in accepted.iter().zip(&sent) {
            assert_eq!(message, seen);
        }
        refuses_permanently_without_personal_data(
            recorder.as_ref(),
            &sample_message(Channel::Sms, "+10", 9),
        )
        .await;
    }

    #[tokio::test]
    async fn the_outbox_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        let outbox = Arc::new(OutboxNotifier::open(&path).unwrap());
        let accepted =
            accepts_messages_with_distinct_ids(outbox, Channel::Email, "a@example.org", 10).await;
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), accepted.len());
        for ((message, id), line) in accepted.iter().zip(&lines) {
            assert_eq!(line["id"], id.as_str());
            assert_eq!(line["text"], message.text.as_str());
            assert_eq!(line["to"], message.to.as_str());
        }
    }
}
