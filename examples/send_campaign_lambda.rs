//! Sending a campaign as an AWS Lambda handler: the event names the campaign and,
//! optionally, one shard of its recipients, so a large campaign can be split across
//! several concurrent invocations (`{"campaign_id": 1, "shard": "0/4"}` ... `"3/4"`).
//! Claims never overlap, so invocations (and retries of a timed-out one) never send a
//! message twice; a delivery an invocation claimed and did not record is taken back by a
//! later one once its lease has run out.
//!
//! `main` opens the workspace once (the init phase, see [`lambda_support`]) and hands the
//! handler to `lambda_runtime`; tests invoke [`handler`] with a sample event.

use medicare_core::campaign::{CampaignId, Engine, SendOptions, Shard};
use medicare_core::Config;
use medicare_examples::lambda_support::{open_workspace, HandlerError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The invocation event.
#[derive(Debug, Clone, Deserialize)]
pub struct SendEvent {
    /// The campaign to send.
    pub campaign_id: i64,
    /// `index/count`: send only this shard's recipients.
    #[serde(default)]
    pub shard: Option<String>,
}

/// What the handler returns: counts only, no personal data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SendResponse {
    /// The campaign.
    pub campaign_id: i64,
    /// The shard sent, if one was named.
    pub shard: Option<String>,
    /// Messages sent by this invocation, per channel.
    pub sent: BTreeMap<String, u64>,
    /// Deliveries that failed in this invocation, per channel.
    pub failed: BTreeMap<String, u64>,
    /// Deliveries an earlier, interrupted invocation left in flight, sent again.
    pub requeued_in_flight: u64,
    /// Whether the whole campaign (every shard) is now sent.
    pub campaign_complete: bool,
}

/// How long a claim is presumed alive: longer than an invocation can run (15 minutes).
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(20 * 60);

/// Sends the campaign (or shard) the event names.
pub async fn handler(
    event: SendEvent,
    engine: &Engine,
    config: &Config,
) -> Result<SendResponse, HandlerError> {
    let shard = event
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(|e| HandlerError::new("InvalidEvent", e))?;
    let options = SendOptions {
        shard,
        in_flight_lease: Some(IN_FLIGHT_LEASE),
        ..config.send_options()
    };
    let report = engine
        .send(CampaignId(event.campaign_id), &options, &())
        .await
        .map_err(|e| HandlerError::new("SendFailed", e))?;
    let by_channel = |m: &BTreeMap<medicare_core::notify::Channel, u64>| {
        m.iter().map(|(c, n)| (c.to_string(), *n)).collect()
    };
    Ok(SendResponse {
        campaign_id: event.campaign_id,
        shard: shard.map(|s| s.to_string()),
        sent: by_channel(&report.sent),
        failed: by_channel(&report.failed),
        requeued_in_flight: report.requeued_in_flight,
        campaign_complete: report.channels.iter().all(|c| c.is_complete()),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ws = open_workspace().await?;
    let (engine, config) = (ws.engine(), ws.config());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SendEvent>| async move {
            handler(event.payload, engine, config).await
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use medicare_core::campaign::CampaignRequest;
    use medicare_core::filter::Filter;
    use medicare_core::form::FormSpec;
    use medicare_core::patient::{generate, GenerateOptions};
    use medicare_core::Workspace;
    use std::sync::Arc;

    #[tokio::test]
    async fn sample_events_send_a_campaign_shard_by_shard() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path(), Config::default())
            .await
            .unwrap();
        let engine = ws.engine();
        engine
            .import_patients(&generate(GenerateOptions {
                count: 200,
                seed: 4,
            }))
            .await
            .unwrap();
        let form = engine
            .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).unwrap())
            .await
            .unwrap();
        let id = engine
            .create_campaign(&CampaignRequest::new(
                "lambda",
                form.id,
                Arc::new(Filter::all()),
            ))
            .await
            .unwrap();

        let mut total = 0;
        for (i, sample) in [
            r#"{"campaign_id": 1, "shard": "0/2"}"#,
            r#"{"campaign_id": 1, "shard": "1/2"}"#,
        ]
        .into_iter()
        .enumerate()
        {
            let event: SendEvent = serde_json::from_str(sample).unwrap();
            let response = handler(event, engine, ws.config()).await.unwrap();
            assert_eq!(response.campaign_id, id.0);
            assert_eq!(response.campaign_complete, i == 1, "{response:?}");
            total += response.sent.values().sum::<u64>();
        }
        let outbox = std::fs::read_to_string(ws.outbox_path()).unwrap();
        assert_eq!(outbox.lines().count() as u64, total);
        assert!(total > 200, "both channels were sent: {total}");

        let bad: SendEvent = serde_json::from_str(r#"{"campaign_id": 1, "shard": "2/2"}"#).unwrap();
        let err = handler(bad, engine, ws.config()).await.unwrap_err();
        assert_eq!(err.error_type, "InvalidEvent");
        let missing: SendEvent = serde_json::from_str(r#"{"campaign_id": 99}"#).unwrap();
        let err = handler(missing, engine, ws.config()).await.unwrap_err();
        assert_eq!(err.error_type, "SendFailed");
    }
}
