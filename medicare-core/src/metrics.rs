//! Operational metrics, through the [`metrics`] facade: what is sent, how fast, what is
//! refused, how old the last backup is. Whoever embeds medicare installs a recorder (the
//! `medicare serve` Prometheus endpoint, [`prometheus`]; CloudWatch Embedded Metric Format
//! lines in the Lambda functions); without one, recording costs next to nothing.
//!
//! Every metric is named here, once, with its unit and help text ([`describe`]). Labels are
//! closed sets chosen by the code (a channel, a reason, an outcome), never a value a
//! patient or a client supplied: no name, number, address, answer, token or id is ever a
//! label or a value.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `medicare_messages_sent_total` | counter | `channel` |
//! | `medicare_messages_failed_total` | counter | `channel` |
//! | `medicare_messages_retried_total` | counter | `channel` |
//! | `medicare_messages_throttled_total` | counter | `channel` |
//! | `medicare_provider_latency_seconds` | histogram | `channel` |
//! | `medicare_claim_batch_seconds` | histogram | `channel` |
//! | `medicare_record_batch_seconds` | histogram | `channel` |
//! | `medicare_link_opens_total` | counter | |
//! | `medicare_form_submissions_total` | counter | |
//! | `medicare_links_rejected_total` | counter | `reason` |
//! | `medicare_backups_total` | counter | `outcome` |
//! | `medicare_backup_size_bytes` | gauge | |
//! | `medicare_backup_age_seconds` | gauge | |
//! | `medicare_audit_events_total` | counter | `outcome` (`ok`, `denied`, `failed`) |

use crate::notify::Channel;
use ::metrics::Unit;
use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use std::time::Duration;

/// Messages a provider accepted, per channel.
pub const MESSAGES_SENT: &str = "medicare_messages_sent_total";
/// Deliveries recorded as failed, per channel.
pub const MESSAGES_FAILED: &str = "medicare_messages_failed_total";
/// Send attempts beyond the first, per channel.
pub const MESSAGES_RETRIED: &str = "medicare_messages_retried_total";
/// Sends the provider throttled, per channel.
pub const MESSAGES_THROTTLED: &str = "medicare_messages_throttled_total";
/// Time of one provider call, per channel.
pub const PROVIDER_LATENCY: &str = "medicare_provider_latency_seconds";
/// Time to claim a batch of pending deliveries, per channel.
pub const CLAIM_BATCH: &str = "medicare_claim_batch_seconds";
/// Time to record a batch's outcomes, per channel.
pub const RECORD_BATCH: &str = "medicare_record_batch_seconds";
/// Forms opened through a valid link.
pub const LINK_OPENS: &str = "medicare_link_opens_total";
/// Responses stored.
pub const FORM_SUBMISSIONS: &str = "medicare_form_submissions_total";
/// Links refused, per [`LinkRejection`].
pub const LINKS_REJECTED: &str = "medicare_links_rejected_total";
/// Backup runs, per outcome (`success`, `failure`).
pub const BACKUPS: &str = "medicare_backups_total";
/// Ciphertext size of the newest backup.
pub const BACKUP_SIZE: &str = "medicare_backup_size_bytes";
/// Age of the newest backup when last checked.
pub const BACKUP_AGE: &str = "medicare_backup_age_seconds";

/// Audit ledger events appended, per outcome (`ok`, `denied`, `failed`). Counted when
/// appended: an event appended inside an action's transaction that then rolled back is
/// counted too (it never reaches the ledger).
pub const AUDIT_EVENTS: &str = "medicare_audit_events_total";

/// Why a presented link was refused (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRejection {
    /// Malformed, unknown, or of a campaign not sent.
    NotValid,
    /// Past its expiry.
    Expired,
    /// Already used for a submission.
    Spent,
    /// The client spent its request budget.
    RateLimited,
}

impl LinkRejection {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkRejection::NotValid => "not_valid",
            LinkRejection::Expired => "expired",
            LinkRejection::Spent => "spent",
            LinkRejection::RateLimited => "rate_limited",
        }
    }
}

/// Registers every metric's unit and help text with the installed recorder. Call once,
/// after installing it.
pub fn describe() {
    for (name, help) in [
        (MESSAGES_SENT, "Messages a provider accepted."),
        (MESSAGES_FAILED, "Deliveries recorded as failed."),
        (MESSAGES_RETRIED, "Send attempts beyond the first."),
        (MESSAGES_THROTTLED, "Sends the provider throttled."),
        (LINK_OPENS, "Forms opened through a valid link."),
        (FORM_SUBMISSIONS, "Responses stored."),
        (LINKS_REJECTED, "Links refused, by reason."),
        (BACKUPS, "Backup runs, by outcome."),
        (AUDIT_EVENTS, "Audit ledger events appended, by outcome."),
    ] {
        describe_counter!(name, Unit::Count, help);
    }
    for (name, help) in [
        (PROVIDER_LATENCY, "Time of one provider call."),
        (CLAIM_BATCH, "Time to claim a batch of pending deliveries."),
        (RECORD_BATCH, "Time to record a batch's outcomes."),
    ] {
        describe_histogram!(name, Unit::Seconds, help);
    }
    describe_gauge!(
        BACKUP_SIZE,
        Unit::Bytes,
        "Ciphertext size of the newest backup."
    );
    describe_gauge!(
        BACKUP_AGE,
        Unit::Seconds,
        "Age of the newest backup when last checked."
    );
}

/// A batch's recorded outcomes on `channel`: `sent` accepted, `failed` failed, `retries`
/// attempts beyond the first.
pub fn batch_recorded(channel: Channel, sent: u64, failed: u64, retries: u64) {
    let channel = channel.as_str();
    counter!(MESSAGES_SENT, "channel" => channel).increment(sent);
    counter!(MESSAGES_FAILED, "channel" => channel).increment(failed);
    counter!(MESSAGES_RETRIED, "channel" => channel).increment(retries);
}

/// One provider call on `channel` took `elapsed`; `throttled` if the provider said so.
pub fn provider_call(channel: Channel, elapsed: Duration, throttled: bool) {
    let channel = channel.as_str();
    histogram!(PROVIDER_LATENCY, "channel" => channel).record(elapsed.as_secs_f64());
    if throttled {
        counter!(MESSAGES_THROTTLED, "channel" => channel).increment(1);
    }
}

/// Claiming a batch on `channel` took `elapsed`.
pub fn batch_claimed(channel: Channel, elapsed: Duration) {
    histogram!(CLAIM_BATCH, "channel" => channel.as_str()).record(elapsed.as_secs_f64());
}

/// Recording a batch on `channel` took `elapsed`.
pub fn batch_record_time(channel: Channel, elapsed: Duration) {
    histogram!(RECORD_BATCH, "channel" => channel.as_str()).record(elapsed.as_secs_f64());
}

/// A form was opened through a valid link.
pub fn link_opened() {
    counter!(LINK_OPENS).increment(1);
}

/// A response was stored.
pub fn form_submitted() {
    counter!(FORM_SUBMISSIONS).increment(1);
}

/// A presented link was refused.
pub fn link_rejected(reason: LinkRejection) {
    counter!(LINKS_REJECTED, "reason" => reason.as_str()).increment(1);
}

/// An audit event with `outcome` was appended (the label is the outcome's fixed word,
/// never anything about the actor or the target).
pub fn audit_event(outcome: crate::audit::Outcome) {
    counter!(AUDIT_EVENTS, "outcome" => outcome.as_str()).increment(1);
}

/// A backup run ended: with the stored ciphertext's size, or failed.
pub fn backup_finished(size_bytes: Option<u64>) {
    match size_bytes {
        Some(size) => {
            counter!(BACKUPS, "outcome" => "success").increment(1);
            gauge!(BACKUP_SIZE).set(size as f64);
            gauge!(BACKUP_AGE).set(0.0);
        }
        None => counter!(BACKUPS, "outcome" => "failure").increment(1),
    }
}

/// The newest backup is `age` old and `size_bytes` big (a check of the backup folder).
pub fn backup_observed(age: Duration, size_bytes: u64) {
    gauge!(BACKUP_AGE).set(age.as_secs_f64());
    gauge!(BACKUP_SIZE).set(size_bytes as f64);
}

/// Sets the backup age and size gauges from the newest complete backup signed by a
/// `trusted` key in `backups` (none yet: the gauges stay unset).
pub async fn observe_backups(
    backups: &crate::backup::Backups,
    trusted: &crate::backup::keys::TrustedSigners,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::Result<()> {
    let listing = backups.list(trusted).await?;
    if let Some(newest) = listing.backups.last() {
        let age = (now - newest.created_at).to_std().unwrap_or_default();
        backup_observed(age, newest.object.size);
    }
    Ok(())
}

/// Prometheus text exposition for `medicare serve`: a recorder kept in this process and
/// rendered on request. The endpoint is never public: it listens on its own address, or
/// asks for a token (see the `medicare serve` options).
#[cfg(feature = "server")]
pub mod prometheus {
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

    /// Installs the process-wide Prometheus recorder and describes the metrics; the handle
    /// renders the text. Fails if a recorder is installed already.
    pub fn install() -> crate::Result<PrometheusHandle> {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| crate::Error::Config(format!("the metrics recorder: {e}")))?;
        super::describe();
        Ok(handle)
    }

    /// A router answering `GET /metrics` with the rendered text (to serve on the metrics
    /// address only, or behind a token).
    pub fn router(handle: PrometheusHandle) -> axum::Router {
        axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        handle.render(),
                    )
                }
            }),
        )
    }
}
