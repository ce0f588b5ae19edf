//! Sending a campaign as an AWS Lambda handler, driven by the Step Functions state
//! machine `examples/send_campaign.asl.json` (deployed by `examples/template.yaml`).
//!
//! One function, three actions (the event's `action`), so that the state machine can fan a
//! campaign out over many concurrent invocations:
//!
//! - `plan` (`{"action": "plan", "campaign_id": 7, "round": 0}`): how many shards the
//!   round is split into (about `MEDICARE_SEND_SHARD_SIZE` recipients each). For a
//!   reminder round (`round` 1 and up) it also plans the round: the campaign's current
//!   non-respondents, once (a retried plan plans nothing twice). Its answer
//!   ([`PlanResponse`]) is the state the machine carries: the shards to map over, the
//!   reminder limits, and whether there is nothing left to do.
//! - `send` (`{"action": "send", "campaign_id": 7, "round": 0, "shard": "0/4"}`): sends one
//!   shard of one round. Claims never overlap, so invocations (and retries of a timed-out
//!   one) never send a message twice; a delivery an invocation claimed and did not record
//!   is taken back by a later one once its [`IN_FLIGHT_LEASE`] has run out.
//! - `finish` (`{"action": "finish", "campaign_id": 7, "round": 0}`): sends whatever no
//!   shard took (deliveries left in flight by a killed invocation, once their lease has
//!   run out), marks the campaign sent after its first round, and fails with
//!   `RoundIncomplete` while anything is still in flight, so the state machine retries it
//!   until the lease has run out.
//!
//! `main` opens the workspace once (the init phase, see [`lambda_support`]) and hands the
//! handler to `lambda_runtime`; tests invoke [`handler`] with sample events, and check the
//! state machine definition against the types here.

use medicare_core::campaign::{CampaignId, CampaignState, Engine, SendOptions, SendReport, Shard};
use medicare_core::Config;
use medicare_examples::lambda_support::{telemetry, unavailable, FreshWorkspace, HandlerError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The invocation event: what the state machine asks of the function.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CampaignTask {
    /// Plans a round and splits it into shards.
    Plan(PlanEvent),
    /// Sends one shard of a round.
    Send(SendEvent),
    /// Finishes a round once every shard has been sent.
    Finish(FinishEvent),
}

/// `plan`: the round to plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEvent {
    /// The campaign.
    pub campaign_id: i64,
    /// 0: the first send; 1 and up: a reminder round.
    pub round: i32,
}

/// `send`: the shard to send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendEvent {
    /// The campaign to send.
    pub campaign_id: i64,
    /// The round (0: the first send).
    #[serde(default)]
    pub round: i32,
    /// `index/count`: send only this shard's recipients.
    #[serde(default)]
    pub shard: Option<String>,
}

/// `finish`: the round to finish.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishEvent {
    /// The campaign.
    pub campaign_id: i64,
    /// The round.
    pub round: i32,
}

/// What `plan` returns: the state the machine carries from round to round (ids and
/// counts only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanResponse {
    /// The campaign.
    pub campaign_id: i64,
    /// The round planned.
    pub round: i32,
    /// Recipients the round covers.
    pub recipients: u64,
    /// The shards to send, `index/count` (empty when `done`).
    pub shards: Vec<String>,
    /// Nothing to send: every recipient has answered, the links have expired, or the
    /// reminders are used up.
    pub done: bool,
    /// Reminder rounds allowed (`MEDICARE_MAX_REMINDERS`).
    pub max_reminders: u32,
    /// Seconds to wait after a round before planning the next (`reminder_gap_hours`, and
    /// a margin so the engine's own gap check passes).
    pub reminder_wait_seconds: u64,
}

/// What `send` and `finish` return: counts only, no personal data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SendResponse {
    /// The campaign.
    pub campaign_id: i64,
    /// The round.
    pub round: i32,
    /// The shard sent, if one was named.
    pub shard: Option<String>,
    /// Messages sent by this invocation, per channel.
    pub sent: BTreeMap<String, u64>,
    /// Deliveries that failed in this invocation, per channel.
    pub failed: BTreeMap<String, u64>,
    /// Deliveries an earlier, interrupted invocation left in flight, sent again.
    pub requeued_in_flight: u64,
    /// Whether the whole round (every shard) is now sent.
    pub round_complete: bool,
}

/// The handler's answer to any action.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum TaskResponse {
    /// To `plan`.
    Plan(PlanResponse),
    /// To `send` and `finish`.
    Send(SendResponse),
}

/// How long a claim is presumed alive: longer than an invocation can run (15 minutes).
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(20 * 60);

/// Recipients per shard when `MEDICARE_SEND_SHARD_SIZE` is not set.
pub const DEFAULT_SHARD_SIZE: u32 = 5_000;

/// The most shards a round is split into (the state machine's payload stays small).
pub const MAX_SHARDS: u32 = 1_000;

/// Margin added to the reminder gap before planning the next round.
pub const REMINDER_WAIT_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The function's own settings (beyond the workspace's [`Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSettings {
    /// Recipients per shard (`MEDICARE_SEND_SHARD_SIZE`).
    pub shard_size: u32,
}

impl FunctionSettings {
    /// From the environment: `MEDICARE_SEND_SHARD_SIZE`, a whole number from 1.
    pub fn from_env() -> anyhow::Result<Self> {
        let shard_size = match std::env::var("MEDICARE_SEND_SHARD_SIZE") {
            Err(_) => DEFAULT_SHARD_SIZE,
            Ok(v) => v.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                anyhow::anyhow!("MEDICARE_SEND_SHARD_SIZE is {v:?}, not a whole number from 1")
            })?,
        };
        Ok(FunctionSettings { shard_size })
    }
}

/// Runs the task the event names.
pub async fn handler(
    task: CampaignTask,
    engine: &Engine,
    config: &Config,
    settings: FunctionSettings,
) -> Result<TaskResponse, HandlerError> {
    match task {
        CampaignTask::Plan(e) => plan(e, engine, config, settings)
            .await
            .map(TaskResponse::Plan),
        CampaignTask::Send(e) => send(e, engine, config).await.map(TaskResponse::Send),
        CampaignTask::Finish(e) => finish(e, engine, config).await.map(TaskResponse::Send),
    }
}

fn invalid(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::new("InvalidEvent", e)
}

/// `count` shards of about `shard_size` recipients each (at least one).
fn shards_for(recipients: u64, shard_size: u32) -> Vec<String> {
    let count = recipients
        .div_ceil(u64::from(shard_size.max(1)))
        .clamp(1, u64::from(MAX_SHARDS));
    let count = u32::try_from(count).unwrap_or(MAX_SHARDS);
    (0..count).map(|i| format!("{i}/{count}")).collect()
}

async fn plan(
    e: PlanEvent,
    engine: &Engine,
    config: &Config,
    settings: FunctionSettings,
) -> Result<PlanResponse, HandlerError> {
    let id = CampaignId(e.campaign_id);
    let policy = config.reminder_policy();
    let status = engine
        .status(id)
        .await
        .map_err(|e| HandlerError::new("PlanFailed", e))?;
    let gap = policy.min_gap.to_std().unwrap_or_default();
    let mut response = PlanResponse {
        campaign_id: e.campaign_id,
        round: e.round,
        recipients: 0,
        shards: Vec::new(),
        done: true,
        max_reminders: policy.max_reminders,
        reminder_wait_seconds: (gap + REMINDER_WAIT_MARGIN).as_secs(),
    };
    if e.round < 0 || e.round as u32 > policy.max_reminders {
        return Err(invalid(format!(
            "round {} of campaign {id}: rounds are 0 (the first send) to {}",
            e.round, policy.max_reminders
        )));
    }
    if e.round == 0 {
        if !matches!(
            status.campaign.state,
            CampaignState::Draft | CampaignState::Sending
        ) {
            return Err(invalid(format!(
                "campaign {id} is {}: only a draft (or an interrupted send) is sent",
                status.campaign.state
            )));
        }
        response.recipients = status.recipients;
    } else {
        if engine.clock().now() >= status.campaign.link_expires_at {
            tracing::info!(
                campaign = id.0,
                round = e.round,
                "links expired: no reminder"
            );
            return Ok(response);
        }
        let planned = engine
            .plan_reminder(id, Some(e.round), &policy, &config.send_options())
            .await
            .map_err(|e| HandlerError::new("PlanFailed", e))?;
        response.recipients = planned.non_respondents;
        if planned.non_respondents == 0 {
            return Ok(response);
        }
    }
    response.shards = shards_for(response.recipients, settings.shard_size);
    response.done = false;
    Ok(response)
}

fn options(config: &Config, shard: Option<Shard>) -> SendOptions {
    SendOptions {
        shard,
        in_flight_lease: Some(IN_FLIGHT_LEASE),
        ..config.send_options()
    }
}

fn response(
    campaign_id: i64,
    round: i32,
    shard: Option<Shard>,
    report: Option<&SendReport>,
) -> SendResponse {
    let by_channel = |m: &BTreeMap<medicare_core::notify::Channel, u64>| {
        m.iter().map(|(c, n)| (c.to_string(), *n)).collect()
    };
    SendResponse {
        campaign_id,
        round,
        shard: shard.map(|s| s.to_string()),
        sent: report.map(|r| by_channel(&r.sent)).unwrap_or_default(),
        failed: report.map(|r| by_channel(&r.failed)).unwrap_or_default(),
        requeued_in_flight: report.map_or(0, |r| r.requeued_in_flight),
        round_complete: report.is_none_or(|r| r.channels.iter().all(|c| c.is_complete())),
    }
}

/// Sends `shard` of round `round`; `None` when the first round is over already (the
/// campaign is sent: a late retry has nothing to do).
async fn send_round(
    engine: &Engine,
    config: &Config,
    id: CampaignId,
    round: i32,
    shard: Option<Shard>,
) -> Result<Option<SendReport>, HandlerError> {
    let failed = |e| HandlerError::new("SendFailed", e);
    let options = options(config, shard);
    if round == 0 {
        let status = engine.status(id).await.map_err(failed)?;
        if status.campaign.state == CampaignState::Sent {
            return Ok(None);
        }
        engine
            .send(id, &options, &())
            .await
            .map(Some)
            .map_err(failed)
    } else {
        engine
            .send_reminder(id, round, &options, &())
            .await
            .map(Some)
            .map_err(failed)
    }
}

async fn send(
    e: SendEvent,
    engine: &Engine,
    config: &Config,
) -> Result<SendResponse, HandlerError> {
    let shard = e
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(invalid)?;
    let id = CampaignId(e.campaign_id);
    let report = send_round(engine, config, id, e.round, shard).await?;
    Ok(response(e.campaign_id, e.round, shard, report.as_ref()))
}

async fn finish(
    e: FinishEvent,
    engine: &Engine,
    config: &Config,
) -> Result<SendResponse, HandlerError> {
    let id = CampaignId(e.campaign_id);
    let report = send_round(engine, config, id, e.round, None).await?;
    let response = response(e.campaign_id, e.round, None, report.as_ref());
    if !response.round_complete {
        return Err(HandlerError::new(
            "RoundIncomplete",
            format!(
                "round {} of campaign {id} still has deliveries in flight; retry once their lease ({} s) has run out",
                e.round,
                IN_FLIGHT_LEASE.as_secs()
            ),
        ));
    }
    Ok(response)
}

impl CampaignTask {
    /// The span every log line of the invocation is in: its request id and what it works
    /// on (ids only), so CloudWatch Logs Insights can follow one campaign or shard.
    pub fn span(&self, request_id: &str) -> tracing::Span {
        let (action, campaign, round, shard) = match self {
            CampaignTask::Plan(e) => ("plan", e.campaign_id, e.round, None),
            CampaignTask::Send(e) => ("send", e.campaign_id, e.round, e.shard.as_deref()),
            CampaignTask::Finish(e) => ("finish", e.campaign_id, e.round, None),
        };
        tracing::info_span!(
            "invocation",
            request_id,
            action,
            campaign,
            round,
            shard = shard.unwrap_or("all")
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use tracing::Instrument;
    let metrics = telemetry::init()?;
    let settings = FunctionSettings::from_env()?;
    let workspace = FreshWorkspace::open().await?;
    let workspace = &workspace;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<CampaignTask>| async move {
            let request_id = event.context.request_id;
            telemetry::begin(metrics, &request_id);
            let span = event.payload.span(&request_id);
            let result = async {
                let ws = workspace.get().await.map_err(unavailable)?;
                let result = handler(event.payload, ws.engine(), ws.config(), settings).await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, "task failed");
                }
                result
            }
            .instrument(span)
            .await;
            if let Err(e) = telemetry::flush(metrics, std::io::stdout()) {
                tracing::warn!(error = %e, "the metrics could not be written");
            }
            result
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
    use serde_json::{json, Value};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    const SETTINGS: FunctionSettings = FunctionSettings { shard_size: 60 };

    /// The sends of these tests one at a time: the metrics recorder is process-wide, and the
    /// EMF test counts what its own invocation recorded.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// A workspace with 200 patients and one draft campaign (id 1) to all of them.
    async fn campaign(config: Config) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path(), config).await.unwrap();
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
        assert_eq!(id.0, 1);
        (dir, ws)
    }

    fn task(json: &str) -> CampaignTask {
        serde_json::from_str(json).unwrap()
    }

    fn outbox_lines(ws: &Workspace) -> u64 {
        std::fs::read_to_string(ws.outbox_path())
            .map(|s| s.lines().count() as u64)
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn sample_events_plan_send_and_finish_a_campaign_shard_by_shard() {
        let _serial = SERIAL.lock().await;
        let (_dir, ws) = campaign(Config::default()).await;
        let (engine, config) = (ws.engine(), ws.config());
        let plan = match handler(
            task(r#"{"action": "plan", "campaign_id": 1, "round": 0}"#),
            engine,
            config,
            SETTINGS,
        )
        .await
        .unwrap()
        {
            TaskResponse::Plan(p) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(plan.recipients, 200);
        assert_eq!(plan.shards, ["0/4", "1/4", "2/4", "3/4"]);
        assert!(!plan.done);

        let mut total = 0;
        for (i, shard) in plan.shards.iter().enumerate() {
            let event = format!(
                r#"{{"action": "send", "campaign_id": 1, "round": 0, "shard": "{shard}"}}"#
            );
            let TaskResponse::Send(r) = handler(task(&event), engine, config, SETTINGS)
                .await
                .unwrap()
            else {
                panic!("a send answers with counts")
            };
            assert_eq!(r.round_complete, i == 3, "{r:?}");
            total += r.sent.values().sum::<u64>();
        }
        assert_eq!(outbox_lines(&ws), total);
        assert!(total > 200, "both channels were sent: {total}");
        // The campaign is sent; finishing (again) and a late retry send nothing more.
        for late in [
            r#"{"action": "finish", "campaign_id": 1, "round": 0}"#,
            r#"{"action": "send", "campaign_id": 1, "round": 0, "shard": "1/4"}"#,
        ] {
            let TaskResponse::Send(r) =
                handler(task(late), engine, config, SETTINGS).await.unwrap()
            else {
                panic!("a send answers with counts")
            };
            assert!(r.round_complete && r.sent.is_empty(), "{r:?}");
        }
        assert_eq!(outbox_lines(&ws), total);

        for (bad, kind) in [
            (
                r#"{"action": "send", "campaign_id": 1, "shard": "4/4"}"#,
                "InvalidEvent",
            ),
            (r#"{"action": "send", "campaign_id": 99}"#, "SendFailed"),
            (
                r#"{"action": "plan", "campaign_id": 1, "round": 0}"#,
                "InvalidEvent",
            ),
            (
                r#"{"action": "plan", "campaign_id": 1, "round": 9}"#,
                "InvalidEvent",
            ),
            (
                r#"{"action": "send", "campaign_id": 1, "round": 4}"#,
                "SendFailed",
            ),
        ] {
            let err = handler(task(bad), engine, config, SETTINGS)
                .await
                .unwrap_err();
            assert_eq!(err.error_type, kind, "{bad}: {err}");
        }
        for unknown in [
            r#"{"action": "launch", "campaign_id": 1}"#,
            r#"{"action": "send", "campaign_id": 1, "shards": "0/1"}"#,
            r#"{"campaign_id": 1}"#,
        ] {
            assert!(
                serde_json::from_str::<CampaignTask>(unknown).is_err(),
                "{unknown}"
            );
        }
    }

    #[test]
    fn shards_cover_the_round_within_bounds() {
        assert_eq!(shards_for(0, 100), ["0/1"]);
        assert_eq!(shards_for(100, 100), ["0/1"]);
        assert_eq!(shards_for(101, 100), ["0/2", "1/2"]);
        assert_eq!(shards_for(10_000_000, 1).len(), MAX_SHARDS as usize);
        for s in shards_for(1234, 100) {
            Shard::parse(&s).unwrap();
        }
    }

    // ---- the state machine definition, read and run against the handler ----

    fn definition() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/send_campaign.asl.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The value of a JSONPath the definition uses (`$`, `$.field`, `$$.Map.Item.Value`,
    /// `States.MathAdd(path, n)`); panics on a path that names nothing.
    fn resolve(path: &str, input: &Value, context: &Value) -> Value {
        if let Some(args) = path
            .strip_prefix("States.MathAdd(")
            .and_then(|a| a.strip_suffix(')'))
        {
            let (p, n) = args.split_once(',').unwrap();
            let base = resolve(p.trim(), input, context).as_i64().unwrap();
            return json!(base + n.trim().parse::<i64>().unwrap());
        }
        let (root, rest) = match path.strip_prefix("$$") {
            Some(rest) => (context, rest),
            None => (input, path.strip_prefix('$').unwrap()),
        };
        let pointer = rest.replace('.', "/");
        root.pointer(&pointer)
            .unwrap_or_else(|| panic!("{path} names nothing in {root}"))
            .clone()
    }

    /// A payload template (`"key.$": path` entries) filled in.
    fn render(template: &Value, input: &Value, context: &Value) -> Value {
        match template {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| match k.strip_suffix(".$") {
                        Some(key) => (
                            key.to_string(),
                            resolve(v.as_str().unwrap(), input, context),
                        ),
                        None => (k.clone(), render(v, input, context)),
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    const LAMBDA_ERRORS: [&str; 3] = [
        "Lambda.ServiceException",
        "Lambda.TooManyRequestsException",
        "Lambda.Unknown",
    ];

    /// What running the machine did.
    #[derive(Default)]
    struct Trace {
        states: Vec<String>,
        tasks: Vec<String>,
        waits: Vec<u64>,
    }

    struct Runner<'a> {
        engine: &'a Engine,
        config: &'a Config,
    }

    impl Runner<'_> {
        /// Runs `machine` (a definition or a Map's item processor) from its start on `input`,
        /// as Step Functions would, each task calling [`handler`] in-process.
        fn run<'s>(
            &'s self,
            machine: &'s Value,
            input: Value,
            trace: &'s std::sync::Mutex<Trace>,
        ) -> Pin<Box<dyn Future<Output = Value> + 's>> {
            Box::pin(async move {
                let states = machine["States"].as_object().unwrap();
                let mut name = machine["StartAt"].as_str().unwrap().to_string();
                let mut input = input;
                loop {
                    trace.lock().unwrap().states.push(name.clone());
                    let state = &states[&name];
                    let output = match state["Type"].as_str().unwrap() {
                        "Task" => self.task(state, &input, &json!({}), trace).await,
                        "Map" => {
                            let items =
                                resolve(state["ItemsPath"].as_str().unwrap(), &input, &json!({}));
                            for (i, item) in items.as_array().unwrap().iter().enumerate() {
                                let context = json!({"Map": {"Item": {"Value": item, "Index": i}}});
                                let item_input = render(&state["ItemSelector"], &input, &context);
                                self.run(&state["ItemProcessor"], item_input, trace).await;
                            }
                            assert!(state["ResultPath"].is_null());
                            input.clone()
                        }
                        "Choice" => {
                            let next = state["Choices"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .find(|c| {
                                    let v = resolve(
                                        c["Variable"].as_str().unwrap(),
                                        &input,
                                        &json!({}),
                                    );
                                    if let Some(p) = c["NumericGreaterThanEqualsPath"].as_str() {
                                        v.as_f64().unwrap()
                                            >= resolve(p, &input, &json!({})).as_f64().unwrap()
                                    } else {
                                        v.as_bool().unwrap()
                                            == c["BooleanEquals"].as_bool().unwrap()
                                    }
                                })
                                .map_or(&state["Default"], |c| &c["Next"]);
                            name = next.as_str().unwrap().to_string();
                            continue;
                        }
                        "Wait" => {
                            let seconds =
                                resolve(state["SecondsPath"].as_str().unwrap(), &input, &json!({}));
                            trace.lock().unwrap().waits.push(seconds.as_u64().unwrap());
                            input.clone()
                        }
                        "Succeed" => return input,
                        other => {
                            panic!("state {name} is a {other}, which this runner does not know")
                        }
                    };
                    input = output;
                    if state["End"] == json!(true) {
                        return input;
                    }
                    name = state["Next"].as_str().unwrap().to_string();
                }
            })
        }

        async fn task(
            &self,
            state: &Value,
            input: &Value,
            context: &Value,
            trace: &std::sync::Mutex<Trace>,
        ) -> Value {
            assert_eq!(state["Resource"], "arn:aws:states:::lambda:invoke");
            let params = render(&state["Parameters"], input, context);
            assert_eq!(params["FunctionName"], "${SendCampaignFunctionArn}");
            let payload = params["Payload"].clone();
            trace.lock().unwrap().tasks.push(payload.to_string());
            let task: CampaignTask = serde_json::from_value(payload.clone())
                .unwrap_or_else(|e| panic!("the handler refuses {payload}: {e}"));
            let response = handler(task, self.engine, self.config, SETTINGS)
                .await
                .unwrap_or_else(|e| panic!("{payload}: {e}"));
            let result = json!({"Payload": response, "StatusCode": 200});
            if state["ResultPath"].is_null() && state.get("ResultPath").is_some() {
                input.clone()
            } else {
                assert_eq!(state["OutputPath"], "$.Payload");
                result["Payload"].clone()
            }
        }
    }

    /// Every state of `machine` and of the Map item processors in it, by name.
    fn all_states(machine: &Value) -> Vec<(String, Value)> {
        let mut found = Vec::new();
        for (name, state) in machine["States"].as_object().unwrap() {
            found.push((name.clone(), state.clone()));
            if let Some(inner) = state.get("ItemProcessor") {
                found.extend(all_states(inner));
            }
        }
        found
    }

    #[test]
    fn every_task_retries_lambda_errors_and_the_finish_outlasts_the_lease() {
        let machine = definition();
        let states = all_states(&machine);
        let names: Vec<&str> = states.iter().map(|(n, _)| n.as_str()).collect();
        for (name, state) in &states {
            for next in [&state["Next"], &state["Default"]]
                .into_iter()
                .chain(
                    state["Choices"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| &c["Next"]),
                )
                .filter_map(Value::as_str)
            {
                assert!(
                    names.contains(&next),
                    "{name} goes to {next}, which is not a state"
                );
            }
            if state["Type"] != "Task" {
                continue;
            }
            let retries = state["Retry"].as_array().unwrap();
            for error in LAMBDA_ERRORS {
                assert!(
                    retries
                        .iter()
                        .any(|r| r["ErrorEquals"].as_array().unwrap().contains(&json!(error))),
                    "{name} does not retry {error}"
                );
            }
            let timeout = state["TimeoutSeconds"].as_u64().unwrap();
            assert!(timeout > 0 && timeout <= 960, "{name}: {timeout}");
        }
        // A shard killed mid-batch leaves claims the finish step can only take back once
        // their lease has run out: its retries must wait longer than that.
        let finish = &machine["States"]["FinishRound"];
        let retry = finish["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("RoundIncomplete"))
            })
            .expect("the finish step retries RoundIncomplete");
        let (mut wait, mut total) = (retry["IntervalSeconds"].as_f64().unwrap(), 0.0);
        for _ in 0..retry["MaxAttempts"].as_u64().unwrap() {
            total += wait;
            wait *= retry["BackoffRate"].as_f64().unwrap();
        }
        assert!(total > IN_FLIGHT_LEASE.as_secs_f64(), "{total} s");
        // The Map never runs more sends at once than the function may run.
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
        let function = template
            .split("\n  SendCampaignFunction:\n")
            .nth(1)
            .unwrap()
            .split("\n  ")
            .find_map(|l| l.trim().strip_prefix("ReservedConcurrentExecutions:"))
            .expect("the send function reserves its concurrency")
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap();
        let map = machine["States"]["SendRound"]["MaxConcurrency"]
            .as_u64()
            .unwrap();
        assert!(
            map >= 1 && map <= function,
            "MaxConcurrency {map}, reserved {function}"
        );
    }

    /// The alarms and the dashboard name metrics, dimensions and stack resources only: no
    /// patient's name, number or address can be in them (canary patients).
    #[test]
    fn the_templates_carry_no_patient_data() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let templates: Vec<String> = ["template.yaml", "standby.yaml", "send_campaign.asl.json"]
            .iter()
            .map(|f| std::fs::read_to_string(format!("{dir}/{f}")).unwrap())
            .collect();
        assert!(templates[0].contains("BackupMissingAlarm") && templates[0].contains("Dashboard"));
        for p in generate(GenerateOptions {
            count: 500,
            seed: 4,
        }) {
            let full_name = format!("{} {}", p.given_name, p.family_name);
            let secrets = [
                Some(full_name.as_str()),
                p.nhs_number.as_ref().map(|x| x.as_str()),
                p.phone.as_ref().map(|x| x.as_str()),
                p.email.as_ref().map(|x| x.as_str()),
            ];
            for secret in secrets.into_iter().flatten() {
                for t in &templates {
                    assert!(!t.contains(secret), "a template carries {secret:?}");
                }
            }
        }
    }

    #[tokio::test]
    async fn the_state_machine_sends_the_campaign_then_each_reminder_round() {
        let _serial = SERIAL.lock().await;
        let config = Config {
            reminder_gap_hours: 0,
            max_reminders: 2,
            ..Config::default()
        };
        let (_dir, ws) = campaign(config).await;
        let runner = Runner {
            engine: ws.engine(),
            config: ws.config(),
        };
        let machine = definition();
        let trace = std::sync::Mutex::new(Trace::default());
        let end = runner
            .run(&machine, json!({"campaign_id": 1}), &trace)
            .await;
        let trace = trace.into_inner().unwrap();
        assert_eq!(end["round"], 2, "{end}");
        let status = ws.engine().status(CampaignId(1)).await.unwrap();
        assert_eq!(status.campaign.state, CampaignState::Sent);
        // Nobody answered: every round reached every recipient on both channels.
        let first: u64 = status
            .channels
            .iter()
            .filter(|c| c.channel.is_some())
            .map(|c| c.sent)
            .sum();
        assert!(first > 200, "{first}");
        assert_eq!(outbox_lines(&ws), 3 * first);
        // Four shards per round, then the finish; a wait before each reminder.
        let sends = trace
            .tasks
            .iter()
            .filter(|t| t.contains(r#""action":"send""#))
            .count();
        assert_eq!(sends, 3 * 4, "{:?}", trace.tasks);
        assert_eq!(trace.waits, [REMINDER_WAIT_MARGIN.as_secs(); 2]);
        assert_eq!(trace.states.last().unwrap(), "Done");
    }

    /// Log lines, kept.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Checks one line against the EMF specification's required members: `_aws` with a
    /// millisecond `Timestamp` and `CloudWatchMetrics` directives (a `Namespace`, dimension
    /// sets of at most 30 names, at most 100 metrics with `Name`), and every dimension
    /// and metric a root member (dimension values strings, metric values numbers or
    /// arrays of at most 100 numbers).
    fn check_emf(line: &str) -> Value {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let aws = &doc["_aws"];
        assert!(
            aws["Timestamp"].as_u64().unwrap() > 1_600_000_000_000,
            "{line}"
        );
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert!(!directives.is_empty());
        for d in directives {
            assert_eq!(d["Namespace"], telemetry::NAMESPACE);
            for set in d["Dimensions"].as_array().unwrap() {
                let set = set.as_array().unwrap();
                assert!(set.len() <= 30);
                for name in set {
                    assert!(doc[name.as_str().unwrap()].is_string(), "{name}: {line}");
                }
            }
            let metrics = d["Metrics"].as_array().unwrap();
            assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
            for m in metrics {
                let name = m["Name"].as_str().unwrap();
                assert!(!name.is_empty() && name.len() <= 1024);
                // A number, or an array of at most 100 numbers (histogram values).
                let value = &doc[name];
                let numbers = value.as_array().map_or(vec![value], |a| a.iter().collect());
                assert!(
                    !numbers.is_empty() && numbers.len() <= 100,
                    "{name}: {line}"
                );
                assert!(numbers.iter().all(|v| v.is_number()), "{name}: {line}");
                if let Some(unit) = m.get("Unit") {
                    assert!(unit.is_string());
                }
            }
        }
        doc
    }

    #[tokio::test]
    async fn an_invocation_logs_json_with_its_ids_and_emits_valid_emf_without_patient_data() {
        let _serial = SERIAL.lock().await;
        let metrics = telemetry::recorder("send-campaign-test").unwrap();
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(move || writer.clone())
            .finish();
        let (_dir, ws) = campaign(Config::default()).await;
        let _logging = tracing::subscriber::set_default(subscriber);
        // Whatever earlier tests recorded is not this invocation's.
        telemetry::flush(metrics, std::io::sink()).unwrap();

        telemetry::begin(metrics, "req-7f3a");
        let event = task(r#"{"action": "send", "campaign_id": 1, "round": 0, "shard": "1/2"}"#);
        let span = event.span("req-7f3a");
        let response = {
            use tracing::Instrument;
            handler(event, ws.engine(), ws.config(), SETTINGS)
                .instrument(span)
                .await
                .unwrap()
        };
        let TaskResponse::Send(response) = response else {
            panic!("a send answers with counts")
        };
        let mut emf = Vec::new();
        telemetry::flush(metrics, &mut emf).unwrap();
        let emf = String::from_utf8(emf).unwrap();

        let mut sent = BTreeMap::new();
        for line in emf.lines() {
            let doc = check_emf(line);
            assert_eq!(doc["RequestId"], "req-7f3a");
            assert_eq!(doc["function"], "send-campaign-test");
            if let Some(n) = doc["medicare_messages_sent_total"].as_u64() {
                sent.insert(doc["channel"].as_str().unwrap().to_string(), n);
            }
        }
        assert_eq!(sent, response.sent, "{emf}");

        let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = logs
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(
            lines.iter().any(|l| l["message"] == "send finished"),
            "{logs}"
        );
        for line in &lines {
            let span = &line["span"];
            assert_eq!(span["request_id"], "req-7f3a", "{line}");
            assert_eq!(span["campaign"], 1, "{line}");
            assert_eq!(span["shard"], "1/2", "{line}");
        }

        // The canary: the patients' names, numbers and addresses appear in neither.
        let patients = generate(GenerateOptions {
            count: 200,
            seed: 4,
        });
        for p in &patients {
            let secrets = [
                Some(p.family_name.as_str()),
                p.nhs_number.as_ref().map(|x| x.as_str()),
                p.phone.as_ref().map(|x| x.as_str()),
                p.email.as_ref().map(|x| x.as_str()),
            ];
            for secret in secrets.into_iter().flatten() {
                assert!(!emf.contains(secret), "EMF carries {secret:?}");
                assert!(!logs.contains(secret), "logs carry {secret:?}");
            }
        }
    }
}
