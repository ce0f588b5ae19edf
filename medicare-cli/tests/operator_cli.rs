//! `medicare operator ...` end to end, on a fresh SQLite workspace: adding the first
//! admin (the enrolment URI printed once, and only when asked for off a terminal),
//! listing, role and status changes, tokens, and bad input that changes nothing.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const PASSWORD: &str = "violet kettle sunrise";

fn medicare(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medicare"));
    cmd.arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("MEDICARE_DATABASE_URL")
        .env_remove("MEDICARE_OPERATOR_PASSWORD")
        .env("USER", "tester")
        .env("MEDICARE_LOG", "warn");
    cmd
}

/// Runs `medicare` with `stdin` as its standard input.
fn run_with(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = medicare(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("medicare runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("medicare ends")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    run_with(dir, args, "")
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

#[track_caller]
fn fails(out: &Output, code: i32, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr {stderr}");
    assert!(stderr.contains(says), "{stderr:?} should say {says:?}");
    assert!(!stderr.contains(PASSWORD), "no password in {stderr:?}");
}

fn usernames(dir: &Path) -> Vec<String> {
    json(&run(dir, &["--json", "operator", "list"]))
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| o["username"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_first_admin_is_added_locally_and_sees_the_enrolment_uri_once() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--json",
        "operator",
        "add",
        "Alice",
        "--role",
        "admin",
        "--display-name",
        "Alice Admin",
        "--show-enrolment",
    ];
    let added = json(&run_with(dir.path(), &args, &format!("{PASSWORD}\n")));
    assert_eq!(added["username"], "alice", "normalised");
    assert_eq!(added["role"], "admin");
    assert_eq!(added["status"], "pending");
    assert_eq!(added["actor"], "local:tester");
    let uri = added["enrolment_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains("secret="), "{uri}");

    // Off a terminal, without --show-enrolment, the URI is withheld.
    let out = run_with(
        dir.path(),
        &["--json", "operator", "add", "bob", "--role", "analyst"],
        &format!("{PASSWORD}\n"),
    );
    let bob = json(&out);
    assert!(bob["enrolment_uri"].is_null());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("otpauth"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("withheld"));

    let shown = json(&run(dir.path(), &["--json", "operator", "show", "ALICE"]));
    assert_eq!(shown["display_name"], "Alice Admin");
    assert_eq!(shown["status"], "pending");
    assert!(shown.get("password_hash").is_none() && shown.get("totp_secret").is_none());
    assert_eq!(usernames(dir.path()), ["alice", "bob"]);

    let text = run(dir.path(), &["operator", "list"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("alice") && text.contains("admin") && text.contains("pending"));

    // The key sealing TOTP secrets is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("keys/operator-secrets.key");
        let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn roles_status_and_second_factor_change_and_the_last_admin_stays() {
    let dir = tempfile::tempdir().unwrap();
    let pw = format!("{PASSWORD}\n");
    for (name, role) in [("alice", "admin"), ("bob", "analyst")] {
        json(&run_with(
            dir.path(),
            &["--json", "operator", "add", name, "--role", role],
            &pw,
        ));
    }
    let d = dir.path();
    let done = json(&run(
        d,
        &["--json", "operator", "set-role", "bob", "campaign_manager"],
    ));
    assert_eq!(done["actor"], "local:tester");
    let bob = json(&run(d, &["--json", "operator", "show", "bob"]));
    assert_eq!(bob["role"], "campaign_manager");

    json(&run(d, &["--json", "operator", "disable", "bob"]));
    assert_eq!(
        json(&run(d, &["--json", "operator", "show", "bob"]))["status"],
        "disabled"
    );
    json(&run(d, &["--json", "operator", "enable", "bob"]));
    assert_eq!(
        json(&run(d, &["--json", "operator", "show", "bob"]))["status"],
        "pending"
    );
    json(&run(d, &["--json", "operator", "unlock", "bob"]));
    let reset = json(&run(
        d,
        &["--json", "operator", "reset-mfa", "bob", "--show-enrolment"],
    ));
    assert!(reset["enrolment_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://"));

    // The only admin cannot be disabled or demoted.
    fails(
        &run(d, &["operator", "disable", "alice"]),
        5,
        "last enabled admin",
    );
    fails(
        &run(d, &["operator", "set-role", "alice", "analyst"]),
        5,
        "last enabled admin",
    );
    assert_eq!(
        json(&run(d, &["--json", "operator", "show", "alice"]))["role"],
        "admin"
    );
}

#[test]
fn bad_input_gets_a_clear_answer_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pw = format!("{PASSWORD}\n");
    json(&run_with(
        d,
        &["--json", "operator", "add", "alice", "--role", "admin"],
        &pw,
    ));

    fails(
        &run_with(
            d,
            &["operator", "add", "bad\u{7}name", "--role", "admin"],
            &pw,
        ),
        3,
        "username",
    );
    fails(
        &run_with(d, &["operator", "add", "carol", "--role", "root"], &pw),
        3,
        "role",
    );
    fails(
        &run_with(
            d,
            &["operator", "add", "carol", "--role", "analyst"],
            "short\n",
        ),
        3,
        "password",
    );
    fails(
        &run_with(d, &["operator", "add", "ALICE", "--role", "analyst"], &pw),
        5,
        "already exists",
    );
    fails(&run(d, &["operator", "show", "nobody"]), 4, "not found");
    fails(
        &run(d, &["operator", "set-role", "alice", "root"]),
        3,
        "role",
    );
    assert_eq!(usernames(d), ["alice"], "nothing stored");

    // Tokens are for active operators; unknown tokens cannot be revoked.
    fails(
        &run(d, &["operator", "token", "create", "alice", "--name", "ci"]),
        5,
        "not active",
    );
    fails(
        &run(
            d,
            &[
                "operator", "token", "create", "alice", "--name", "ci", "--days", "400",
            ],
        ),
        3,
        "--days",
    );
    assert_eq!(
        json(&run(d, &["--json", "operator", "token", "list", "alice"])),
        serde_json::json!([])
    );
    fails(
        &run(d, &["operator", "token", "revoke", "alice", "7"]),
        4,
        "not found",
    );
}
