//! `medicare audit checkpoint|log|verify` as an operator scripts them: the CLI acts as
//! `local:<os user>`, every backup run leaves a checkpoint, and a ledger that is not the
//! one the checkpoints vouch for fails verification with exit code 9 naming the seq.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn medicare(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medicare"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("MEDICARE_DATABASE_URL")
        .env_remove("MEDICARE_BACKUP_DIR")
        .env("USER", "clitest")
        .env("MEDICARE_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("medicare runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("JSON output")
}

#[test]
fn checkpoints_log_and_verify_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    json(&medicare(
        &ws,
        &["--json", "patients", "generate", "--count", "20"],
    ));
    json(&medicare(&ws, &["--json", "keys", "generate"]));
    json(&medicare(&ws, &["--json", "backup", "run"]));
    let checkpoint = json(&medicare(&ws, &["--json", "audit", "checkpoint"]));
    assert!(checkpoint["seq"].as_i64().unwrap() >= 2, "{checkpoint}");
    assert!(ws.join("keys/audit-signing.key").exists());
    assert!(ws.join("keys/audit-signers.pub").exists());
    let stored = std::fs::read_dir(ws.join("backups/audit/checkpoints"))
        .expect("checkpoints beside the backups")
        .count();
    assert_eq!(stored, 2, "one from the backup run, one asked for");

    let log = json(&medicare(
        &ws,
        &["--json", "audit", "log", "--actor", "local:clitest"],
    ));
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The backup run is recorded, then its checkpoint, then the retention it applied.
    assert_eq!(
        actions,
        [
            "patient_import",
            "backup_run",
            "audit_checkpoint",
            "backup_prune",
            "audit_checkpoint"
        ]
    );
    let csv = ok(&medicare(
        &ws,
        &["audit", "log", "--csv", "--action", "patient_import"],
    ));
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("seq,at,actor,action"));
    assert!(lines
        .next()
        .unwrap()
        .contains("\"local:clitest\",\"patient_import\""));
    assert_eq!(lines.next(), None);

    let intact = json(&medicare(&ws, &["--json", "audit", "verify"]));
    assert_eq!(intact["problem"], Value::Null, "{intact}");
    assert_eq!(intact["checkpoints"], 2);

    // Another database in its place: its second event (the first checkpoint vouches for
    // seq 2, the backup run's) is not the one the checkpoints vouch for.
    std::fs::remove_file(ws.join("medicare.db")).unwrap();
    let _ = std::fs::remove_file(ws.join("medicare.db-wal"));
    let _ = std::fs::remove_file(ws.join("medicare.db-shm"));
    json(&medicare(
        &ws,
        &["--json", "patients", "generate", "--count", "5"],
    ));
    json(&medicare(&ws, &["--json", "audit", "log"]));
    let out = medicare(&ws, &["--json", "audit", "verify"]);
    assert_eq!(out.status.code(), Some(9));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["problem"]["kind"], "checkpoint_mismatch", "{found}");
    assert_eq!(found["problem"]["seq"], 2, "{found}");
    let text = medicare(&ws, &["audit", "verify"]);
    assert_eq!(text.status.code(), Some(9));
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("NOT INTACT: seq 2: hash"));
}
