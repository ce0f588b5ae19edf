//! The `medicare` binary as an operator uses it: scripted commands with JSON output and
//! exit codes, the demo, and a send killed with SIGKILL and resumed.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn medicare(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medicare"));
    cmd.arg("--dir")
        .arg(dir)
        .env_remove("MEDICARE_DATABASE_URL")
        .env("MEDICARE_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("medicare runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "status {:?}\nstdout {}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn write_form(dir: &Path) -> std::path::PathBuf {
    let spec = dir.join("form.toml");
    std::fs::write(&spec, medicare_core_demo_form()).unwrap();
    spec
}

fn medicare_core_demo_form() -> &'static str {
    r#"
name = "vaccination_registration"
title = "Register for your vaccination"
[[fields]]
name = "wants_vaccination"
label = "Would you like to be vaccinated?"
type = "yes_no"
required = true
"#
}

/// Creates a campaign for the test form with `filter`; returns its JSON preview.
fn create_campaign(dir: &Path, filter: &str) -> Value {
    create_campaign_with(medicare(dir), filter)
}

/// [`create_campaign`] run by `cmd` (with its own environment, say).
fn create_campaign_with(mut cmd: Command, filter: &str) -> Value {
    json(&run(cmd.args([
        "--json",
        "campaign",
        "create",
        "--form",
        "vaccination_registration",
        "--filter",
        filter,
    ])))
}

/// The outbox's complete lines: a send still writing may have put only part of its
/// last line on disk yet (the outbox itself drops such a tail when it reopens).
/// Every command closes the workspace database before it exits, so `medicare.db` alone
/// holds every write: no write-ahead log or shared-memory file is left beside it.
fn assert_closed(dir: &Path) {
    for suffix in ["-wal", "-shm"] {
        let file = dir.join(format!("medicare.db{suffix}"));
        assert!(!file.exists(), "{} was left behind", file.display());
    }
}

fn outbox_lines(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("outbox.jsonl")).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
    complete
        .lines()
        .map(|l| serde_json::from_str(l).expect("every outbox line is whole JSON"))
        .collect()
}

#[test]
fn scripted_campaign_with_json_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        json(&run(medicare(d).args([
            "--json", "patients", "generate", "--count", "500", "--seed", "3"
        ])))["generated"],
        500
    );
    let count = json(&run(medicare(d).args([
        "--json",
        "patients",
        "count",
        "--filter",
        "age >= 65",
    ])))["patients"]
        .as_u64()
        .unwrap();
    assert!(count > 0 && count < 500);

    // Bad filter: exit code 3 and a caret under the position.
    let bad = run(medicare(d).args(["patients", "count", "--filter", "age >= 65 and agee < 3"]));
    assert_eq!(bad.status.code(), Some(3));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("agee") && err.contains('^'), "{err}");

    let spec = write_form(d);
    let form = json(&run(medicare(d)
        .arg("--json")
        .arg("form")
        .arg("create")
        .arg(&spec)));
    assert_eq!(form["spec"]["name"], "vaccination_registration");
    assert_eq!(
        run(medicare(d).arg("form").arg("create").arg(&spec))
            .status
            .code(),
        Some(5),
        "a second create conflicts"
    );
    assert_eq!(
        run(medicare(d).args(["form", "show", "nope"]))
            .status
            .code(),
        Some(4)
    );

    let preview = create_campaign(d, "age >= 65");
    assert_eq!(preview["recipients"].as_u64().unwrap(), count);
    let id = preview["campaign"]["id"].as_i64().unwrap().to_string();

    // Not on a terminal and no --yes: refuse, send nothing.
    let refused = run(medicare(d).args(["campaign", "send", &id]));
    assert_eq!(refused.status.code(), Some(3));
    assert!(outbox_lines(d).is_empty());

    let report = json(&run(
        medicare(d).args(["--json", "campaign", "send", &id, "--yes"])
    ));
    let sent: u64 = report["sent"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(outbox_lines(d).len() as u64, sent);
    assert_closed(d);
    let status = json(&run(medicare(d).args(["--json", "campaign", "status", &id])));
    assert_eq!(status["campaign"]["state"], "sent");
    assert_eq!(
        run(medicare(d).args(["campaign", "status", "99"]))
            .status
            .code(),
        Some(4)
    );
    assert_closed(d);
}

#[test]
fn a_send_killed_with_sigkill_resumes_with_every_delivery_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    json(&run(medicare(d).args([
        "--json", "patients", "generate", "--count", "3000", "--seed", "5",
    ])));
    let spec = write_form(d);
    json(&run(medicare(d)
        .arg("--json")
        .arg("form")
        .arg("create")
        .arg(&spec)));
    let preview = create_campaign(d, "all");
    let id = preview["campaign"]["id"].as_i64().unwrap().to_string();
    let eligible: u64 = preview["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pending"].as_u64().unwrap())
        .sum();

    // A slow send (400/s per channel), killed once a good part is out.
    let mut child = medicare(d)
        .args(["--json", "campaign", "send", &id, "--yes"])
        .env("MEDICARE_SMS_RATE", "400")
        .env("MEDICARE_EMAIL_RATE", "400")
        .env("MEDICARE_CONCURRENCY", "20")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while outbox_lines(d).len() < 1_000 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the send made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the send finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush.
    child.wait().unwrap();

    let midway = json(&run(medicare(d).args(["--json", "campaign", "status", &id])));
    assert_eq!(midway["campaign"]["state"], "sending");

    let report = json(&run(
        medicare(d).args(["--json", "campaign", "send", &id, "--yes"])
    ));
    let requeued = report["requeued_in_flight"].as_u64().unwrap();
    assert!(
        requeued <= 2 * 20,
        "the crash window is bounded by the concurrency: {requeued}"
    );

    let status = json(&run(medicare(d).args(["--json", "campaign", "status", &id])));
    assert_eq!(status["campaign"]["state"], "sent");
    let mut sent = 0;
    for c in status["channels"].as_array().unwrap() {
        assert_eq!(c["pending"], 0);
        assert_eq!(c["sending"], 0);
        sent += c["sent"].as_u64().unwrap();
    }
    assert_eq!(
        sent, eligible,
        "every eligible delivery is recorded sent, once"
    );

    let mut times: BTreeMap<i64, u64> = BTreeMap::new();
    for line in outbox_lines(d) {
        *times
            .entry(line["delivery_id"].as_i64().unwrap())
            .or_default() += 1;
    }
    assert_eq!(
        times.len() as u64,
        eligible,
        "every eligible delivery reached the outbox"
    );
    let twice = times.values().filter(|&&n| n > 1).count() as u64;
    assert!(times.values().all(|&n| n <= 2));
    assert!(twice <= requeued, "{twice} sent twice, {requeued} reported");
}

#[test]
fn the_demo_runs_in_a_fresh_folder_and_its_summary_matches_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("demo");
    let summary = json(&run(Command::new(env!("CARGO_BIN_EXE_medicare"))
        .args(["--json", "demo", "--count", "4000", "--into"])
        .arg(&into)));
    let sent: u64 = summary["send"]["sent"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(summary["outbox_lines"].as_u64().unwrap(), sent);
    assert!(summary["preview"]["recipients"].as_u64().unwrap() > 800);
    // The follow-up: answers over HTTP, one reminder round, the weekly report.
    let f = &summary["follow_up"];
    let reminded: u64 = f["remind"]["send"]["sent"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(outbox_lines(&into).len() as u64, sent + reminded);
    assert_eq!(f["unexpected"], 0);
    assert!(f["answered"].as_u64().unwrap() > 100);
    assert_eq!(f["tracking"]["responded"], f["answered"]);
    assert_eq!(
        f["remind"]["non_respondents"].as_u64().unwrap(),
        f["tracking"]["recipients"].as_u64().unwrap() - f["answered"].as_u64().unwrap()
    );
    let html = std::fs::read_to_string(f["report"]["html"].as_str().unwrap()).unwrap();
    assert!(html.contains("<svg"));
    assert_closed(&into);
    // Running it again resets its own folder; a folder with other files is refused.
    json(&run(Command::new(env!("CARGO_BIN_EXE_medicare"))
        .args(["--json", "demo", "--count", "300", "--into"])
        .arg(&into)));
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "x").unwrap();
    let refused = run(Command::new(env!("CARGO_BIN_EXE_medicare"))
        .args(["demo", "--count", "10", "--into"])
        .arg(&other));
    assert_eq!(refused.status.code(), Some(3));
    assert!(other.join("keep.txt").exists());
}

#[test]
fn reminders_reports_and_the_form_service_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    json(&run(
        medicare(d).args(["--json", "patients", "generate", "--count", "200"])
    ));
    let spec = write_form(d);
    json(&run(medicare(d)
        .arg("--json")
        .arg("form")
        .arg("create")
        .arg(&spec)));
    let preview = create_campaign(d, "all");
    let id = preview["campaign"]["id"].as_i64().unwrap().to_string();
    // Before the send: a conflict (exit 5).
    assert_eq!(
        run(medicare(d).args(["campaign", "remind", &id]))
            .status
            .code(),
        Some(5)
    );
    json(&run(
        medicare(d).args(["--json", "campaign", "send", &id, "--yes"])
    ));
    // Within the minimum gap (72 hours by default): refused, naming the gap.
    let early = run(medicare(d).args(["campaign", "remind", &id]));
    assert_eq!(early.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&early.stderr).contains("minimum gap"));
    let remind = json(&run(medicare(d)
        .env("MEDICARE_REMINDER_GAP_HOURS", "0")
        .args(["--json", "campaign", "remind", &id])));
    assert_eq!(remind["round"], 1);
    assert_eq!(remind["non_respondents"], 200);
    let bad = run(medicare(d)
        .env("MEDICARE_MAX_REMINDERS", "9")
        .args(["campaign", "remind", &id]));
    assert_eq!(
        bad.status.code(),
        Some(6),
        "a bad setting is a configuration error"
    );

    let report = json(&run(medicare(d).args(["--json", "report", "weekly"])));
    assert_eq!(report["campaigns"], 1);
    let csv = std::fs::read_to_string(report["files"]["csv"].as_str().unwrap()).unwrap();
    assert_eq!(csv.lines().count(), 201);

    // The form service answers on the address it is given.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = medicare(d)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(
                b"GET /f/AAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            break out;
        }
        assert!(Instant::now() < deadline, "medicare serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        answer
            .to_lowercase()
            .contains("referrer-policy: no-referrer"),
        "{answer}"
    );
}

/// The shared API token is gone: `serve` refuses to start while `MEDICARE_API_TOKEN` is
/// set (exit 6), naming the per-operator tokens instead and never echoing the value, and
/// has no `--api-token` flag.
#[test]
fn serve_refuses_the_retired_shared_api_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = "0123456789abcdef0123456789abcdef-shared";
    let out = run(medicare(d)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("MEDICARE_API_TOKEN", secret));
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("operator token create"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
    let out = run(medicare(d).args(["serve", "--api-token", secret]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn gsm_safe_from_the_settings_keeps_an_organisation_s_apostrophe_out_of_ucs2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("medicare.toml"),
        "org = \"St Mary’s Surgery\"\ngsm_safe = true\n",
    )
    .unwrap();
    json(&run(medicare(d).args([
        "--json", "patients", "generate", "--count", "60", "--seed", "3",
    ])));
    json(&run(medicare(d)
        .args(["--json", "form", "create"])
        .arg(write_form(d))));
    let create = |gsm_safe: &str| {
        let mut cmd = medicare(d);
        cmd.env("MEDICARE_GSM_SAFE", gsm_safe);
        create_campaign_with(cmd, "has_phone")
    };

    // Off (the environment overrides the file): every SMS is UCS-2 because of the name.
    let plain = create("false");
    let counts = &plain["encoding"];
    let messages = counts["messages"].as_u64().unwrap();
    assert!(messages > 0, "{counts}");
    assert_eq!(counts["ucs2_by_value"].as_u64(), Some(messages), "{counts}");
    assert_eq!(counts["gsm_safe_gsm7_messages"].as_u64(), Some(messages));
    assert_eq!(plain["sample_sms_segments"]["encoding"], "ucs2");
    assert!(plain["sample_sms"]
        .as_str()
        .unwrap()
        .starts_with("St Mary’s Surgery:"));

    // On: the organisation's name is written with ', and the saving is the difference.
    let safe = create("true");
    assert_eq!(safe["campaign"]["messages"]["gsm_safe"], true);
    assert_eq!(safe["encoding"]["ucs2_by_value"], 0);
    assert_eq!(
        safe["encoding"]["gsm_safe_saving"],
        counts["gsm_safe_saving"]
    );
    assert_eq!(safe["sample_sms_segments"]["encoding"], "gsm7");
    let segments = |p: &Value| p["sms_segments_to_send"].as_u64().unwrap();
    assert_eq!(
        segments(&safe) + counts["gsm_safe_segments"].as_u64().unwrap(),
        segments(&plain)
    );
    assert!(safe["sample_reminder_sms"]
        .as_str()
        .unwrap()
        .starts_with("St Mary's Surgery reminder:"));

    let id = safe["campaign"]["id"].as_i64().unwrap().to_string();
    json(&run(
        medicare(d).args(["--json", "campaign", "send", &id, "--yes"])
    ));
    let sms: Vec<String> = outbox_lines(d)
        .into_iter()
        .filter(|l| l["channel"] == "sms")
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sms.len() as u64, messages);
    assert!(sms.iter().all(|t| t.starts_with("St Mary's Surgery: ")));
}

/// Generates 50 patients and creates the test form in `d`, each command through `run`.
fn with_patients_and_form(d: &Path, run: impl Fn(&mut Command) -> Output) {
    json(&run(medicare(d).args([
        "--json", "patients", "generate", "--count", "50", "--seed", "5",
    ])));
    json(&run(medicare(d)
        .arg("--json")
        .arg("form")
        .arg("create")
        .arg(write_form(d))));
}

/// `campaign create` of the test form for every patient, with `extra` arguments.
fn create_for_all(d: &Path, extra: &[&str]) -> Command {
    let mut cmd = medicare(d);
    cmd.args([
        "campaign",
        "create",
        "--form",
        "vaccination_registration",
        "--filter",
        "all",
    ])
    .args(extra);
    cmd
}

/// Input that once panicked the CLI: a link lifetime no clock can add, a filter too large
/// for the database, and a reader that hangs up (`| head -1`) after the campaign exists.
#[test]
fn hostile_input_and_a_closed_pipe_end_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    with_patients_and_form(d, run);

    let create = |extra: &[&str]| create_for_all(d, extra);
    let huge = run(&mut create(&["--link-days", "9223372036854775807"]));
    assert_eq!(huge.status.code(), Some(3), "{huge:?}");
    let err = String::from_utf8_lossy(&huge.stderr);
    assert!(
        err.contains("link days") && !err.contains("panicked"),
        "{err}"
    );

    let terms = vec!["age=7"; 1000].join(" or ");
    let big = run(medicare(d).args(["patients", "count", "--filter", &terms]));
    assert_eq!(big.status.code(), Some(3), "{big:?}");
    let err = String::from_utf8_lossy(&big.stderr);
    assert!(
        err.contains("filter too large") && err.contains('^'),
        "{err}"
    );

    // The reader is gone before the first line is written.
    let mut child = create(&[])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(err.is_empty(), "{err}");
    let list = json(&run(medicare(d).args(["--json", "campaign", "list"])));
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "the campaign was created"
    );
}

/// With `sms = "sns"` and SNS out of reach, commands that send nothing work: the
/// opted-out list is fetched by a send, not when the command starts.
#[test]
fn commands_that_send_nothing_never_reach_sns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let sns = |cmd: &mut Command| -> Output {
        run(cmd
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-west-2")
            .env("MEDICARE_AWS_ENDPOINT_URL", &endpoint)
            .env("MEDICARE_SMS", "sns"))
    };
    with_patients_and_form(d, sns);
    json(&sns(medicare(d).args(["--json", "patients", "count"])));
    let preview = json(&sns(&mut create_for_all(
        d,
        &["--json", "--channels", "sms"],
    )));
    let id = preview["campaign"]["id"].as_i64().unwrap().to_string();
    let status = json(&sns(medicare(d).args(["--json", "campaign", "status", &id])));
    assert_eq!(status["campaign"]["state"], "draft", "{status}");
}

/// `medicare` with prices that make the figures plain: £1 a segment, 1p an email.
fn priced(dir: &Path) -> Command {
    let mut cmd = medicare(dir);
    cmd.env("MEDICARE_SMS_PRICE", "1")
        .env("MEDICARE_EMAIL_PRICE", "0.01")
        .stdin(Stdio::null());
    cmd
}

/// The cost commands (issue 15): a strategy and a budget at creation, a send stopped by
/// the cap (exit 8) and resumed after `campaign budget`, the strategy comparison in the
/// preview, and the refusals.
#[test]
fn a_capped_send_exits_8_and_resumes_after_the_cap_is_raised() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    json(
        &priced(d)
            .args([
                "--json", "patients", "generate", "--count", "80", "--seed", "4",
            ])
            .output()
            .unwrap(),
    );
    let spec = d.join("form.toml");
    std::fs::write(
        &spec,
        "name = \"cost\"\ntitle = \"Cost\"\n[[fields]]\nname = \"ok\"\nlabel = \"OK?\"\ntype = \"yes_no\"\n",
    )
    .unwrap();
    json(
        &priced(d)
            .args(["--json", "form", "create"])
            .arg(&spec)
            .output()
            .unwrap(),
    );
    let create = |extra: &[&str]| {
        let mut cmd = priced(d);
        cmd.args([
            "--json", "campaign", "create", "--form", "cost", "--filter", "all",
        ])
        .args(extra);
        cmd.output().unwrap()
    };

    // A strategy whose channels are not the ones named is refused (invalid input).
    let refused = create(&["--strategy", "email_first", "--channels", "sms"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("strategy"));

    let preview = json(&create(&["--strategy", "sms_only", "--budget", "3.5"]));
    let id = preview["campaign"]["id"].as_i64().unwrap().to_string();
    assert_eq!(preview["campaign"]["strategy"], "sms_only");
    let sms = preview["campaign"]["reach"]["sms"].as_u64().unwrap();
    assert_eq!(
        preview["campaign"]["reach"]["sms_segments"].as_u64(),
        Some(sms)
    );
    let compare = &preview["cost_comparison"];
    assert_eq!(compare["chosen"]["strategy"], "sms_only");
    assert_eq!(compare["both"]["strategy"], "both");

    // £3.50 buys three one-segment SMS: the send stops there, exit 8.
    let capped = priced(d)
        .args(["--json", "campaign", "send", &id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(capped.status.code(), Some(8));
    let report: Value = serde_json::from_slice(&capped.stdout).unwrap();
    assert_eq!(
        report["stopped_at_budget"]["left_pending"].as_u64(),
        Some(sms - 3)
    );
    assert_eq!(outbox_lines(d).len(), 3);

    // Raised: the same send finishes, nothing twice.
    json(
        &priced(d)
            .args(["--json", "campaign", "budget", &id, "--set", "500"])
            .output()
            .unwrap(),
    );
    let rest = priced(d)
        .args(["--json", "campaign", "send", &id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(rest.status.code(), Some(0));
    assert_eq!(outbox_lines(d).len() as u64, sms);
    let status = json(
        &priced(d)
            .args(["--json", "campaign", "status", &id])
            .output()
            .unwrap(),
    );
    assert_eq!(status["campaign"]["state"], "sent");
    assert_eq!(status["spend"][0]["spent"], format!("{sms}.000000"));

    // Only an email_first campaign has a second wave; a budget needs --set or --none.
    let wave = priced(d)
        .args(["campaign", "second-wave", &id])
        .output()
        .unwrap();
    assert_eq!(wave.status.code(), Some(5));
    let neither = priced(d)
        .args(["campaign", "budget", &id])
        .output()
        .unwrap();
    assert_eq!(neither.status.code(), Some(3));
}
