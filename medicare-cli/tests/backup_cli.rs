//! `medicare keys generate` and `medicare backup run|list|verify|restore|prune` as an
//! operator scripts them: JSON output and exit codes.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn medicare(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medicare"))
        .arg("--dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .env_remove("MEDICARE_DATABASE_URL")
        .env_remove("MEDICARE_BACKUP_DIR")
        .env("MEDICARE_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("medicare runs")
}

fn ok(out: Output) -> Value {
    assert!(
        out.status.success(),
        "status {:?}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn fails(out: Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

#[test]
fn keys_then_backup_list_verify_restore_and_prune() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    ok(medicare(&ws, &["patients", "generate", "--count", "500"]));

    // No recipient yet: nothing is backed up, and the operator is told what to do.
    fails(medicare(&ws, &["backup", "run"]), 6, "keys generate");
    assert!(!ws.join("backups").exists());

    let key = ok(medicare(&ws, &["keys", "generate"]));
    assert!(key["recipient"].as_str().unwrap().starts_with("age1"));
    ok(medicare(&ws, &["keys", "generate", "--escrow"]));
    fails(medicare(&ws, &["keys", "generate"]), 5, "already exists");

    let run = ok(medicare(&ws, &["backup", "run"]));
    assert_eq!(run["backup"]["kind"], "full");
    assert_eq!(run["backup"]["recipients"].as_array().unwrap().len(), 2);
    let id = run["backup"]["id"].as_str().unwrap().to_string();
    // The backup closed the database it read: the file alone holds every write.
    for suffix in ["-wal", "-shm"] {
        assert!(
            !ws.join(format!("medicare.db{suffix}")).exists(),
            "{suffix} left"
        );
    }
    let list = ok(medicare(&ws, &["backup", "list"]));
    assert_eq!(list["backups"][0]["id"], id.as_str());

    let checked = ok(medicare(
        &ws,
        &["backup", "verify", "latest", "--restore-test"],
    ));
    assert_eq!(checked["id"], id.as_str());

    let into = tmp.path().join("restored.db");
    let into = into.to_str().unwrap();
    ok(medicare(&ws, &["backup", "restore", &id, "--into", into]));
    fails(
        medicare(&ws, &["backup", "restore", &id, "--into", into]),
        5,
        "not empty",
    );
    ok(medicare(
        &ws,
        &["backup", "restore", &id, "--into", into, "--replace"],
    ));

    let plan = ok(medicare(&ws, &["backup", "prune", "--dry-run"]));
    assert_eq!(plan["delete"].as_array().unwrap().len(), 0);

    // A wrong identity fails clearly, and a missing one is named.
    let other = tmp.path().join("other");
    ok(medicare(&other, &["keys", "generate"]));
    let wrong = other.join("keys/backup.identity");
    fails(
        medicare(
            &ws,
            &[
                "backup",
                "verify",
                &id,
                "--identity",
                wrong.to_str().unwrap(),
            ],
        ),
        3,
        "none of the identities",
    );
    fails(
        medicare(
            &ws,
            &["backup", "verify", &id, "--identity", "/nonexistent/id"],
        ),
        6,
        "/nonexistent/id",
    );
}
