//! The cost commands as an operator uses them (issue 15): a strategy and a budget at
//! creation, a send stopped by the cap (exit 8) and resumed after `campaign budget`, the
//! strategy comparison in the preview, and the refusals.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn medicare(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medicare"));
    cmd.arg("--dir")
        .arg(dir)
        .env_remove("MEDICARE_DATABASE_URL")
        .env("MEDICARE_LOG", "warn")
        // £1 a segment, 1p an email: the figures below are plain.
        .env("MEDICARE_SMS_PRICE", "1")
        .env("MEDICARE_EMAIL_PRICE", "0.01")
        .stdin(Stdio::null());
    cmd
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

fn outbox_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_capped_send_exits_8_and_resumes_after_the_cap_is_raised() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    json(
        &medicare(d)
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
        &medicare(d)
            .args(["--json", "form", "create"])
            .arg(&spec)
            .output()
            .unwrap(),
    );
    let create = |extra: &[&str]| {
        let mut cmd = medicare(d);
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
    let capped = medicare(d)
        .args(["--json", "campaign", "send", &id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(capped.status.code(), Some(8));
    let report: Value = serde_json::from_slice(&capped.stdout).unwrap();
    assert_eq!(
        report["stopped_at_budget"]["left_pending"].as_u64(),
        Some(sms - 3)
    );
    assert_eq!(outbox_lines(d), 3);

    // Raised: the same send finishes, nothing twice.
    json(
        &medicare(d)
            .args(["--json", "campaign", "budget", &id, "--set", "500"])
            .output()
            .unwrap(),
    );
    let rest = medicare(d)
        .args(["--json", "campaign", "send", &id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(rest.status.code(), Some(0));
    assert_eq!(outbox_lines(d) as u64, sms);
    let status = json(
        &medicare(d)
            .args(["--json", "campaign", "status", &id])
            .output()
            .unwrap(),
    );
    assert_eq!(status["campaign"]["state"], "sent");
    assert_eq!(status["spend"][0]["spent"], format!("{sms}.000000"));

    // Only an email_first campaign has a second wave; a budget needs --set or --none.
    let wave = medicare(d)
        .args(["campaign", "second-wave", &id])
        .output()
        .unwrap();
    assert_eq!(wave.status.code(), Some(5));
    let neither = medicare(d)
        .args(["campaign", "budget", &id])
        .output()
        .unwrap();
    assert_eq!(neither.status.code(), Some(3));
}
