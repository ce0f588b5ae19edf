//! `medicare backup pull` against S3 (the moto server in `MEDICARE_TEST_MOTO_URL`): a
//! day's backup ends on the premises' disk, verified; a second pull copies nothing; an
//! object changed in the bucket is refused and reported, and leaves nothing behind; an
//! object no manifest names is reported and not pulled; the pulled copy restores into a
//! PostgreSQL database (`MEDICARE_TEST_POSTGRES_URL`), as after a failover.

mod common;

use medicare_core::store::conformance::server_url;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn medicare(dir: &Path, moto: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medicare"))
        .arg("--dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .env_remove("MEDICARE_DATABASE_URL")
        .env_remove("MEDICARE_BACKUP_DIR")
        .env_remove("MEDICARE_BACKUPS")
        .env_remove("MEDICARE_KMS_KEY_ID")
        .env("MEDICARE_LOG", "warn")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-2")
        .env("MEDICARE_AWS_ENDPOINT_URL", moto)
        .stdin(Stdio::null())
        .output()
        .expect("medicare runs")
}

fn json(out: &Output, code: i32) -> Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["data", "manifests"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries {
                found.push(format!(
                    "{sub}/{}",
                    e.unwrap().file_name().to_string_lossy()
                ));
            }
        }
    }
    found.sort();
    found
}

/// Puts `body` under `key` in the bucket, as anyone with write access to it could.
async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn pulls_verified_backups_once_and_refuses_a_changed_one() {
    let Some(moto) = server_url("MEDICARE_TEST_MOTO_URL") else {
        return;
    };
    let bucket = format!(
        "medicare-pull-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let s3 = common::bucket(&common::moto_config(&moto).await, &bucket).await;
    let cloud = format!("s3://{bucket}/backups");
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let premises = tmp.path().join("premises");
    let premises_arg = premises.to_str().unwrap();
    let run = |args: &[&str]| medicare(&ws, &moto, args);
    json(&run(&["patients", "generate", "--count", "300"]), 0);
    json(&run(&["keys", "generate"]), 0);
    let first = json(&run(&["backup", "run", "--to", &cloud]), 0);
    let id = first["backup"]["id"].as_str().unwrap().to_string();

    // The day's backup reaches the premises, checked with the private key.
    let pull = ["backup", "pull", "--from", &cloud, "--to", premises_arg];
    let report = json(&run(&pull), 0);
    assert_eq!(report["pulled"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["pulled"][0]["id"], id.as_str());
    assert!(report["pulled"][0]["rows"].as_u64().unwrap() >= 300);
    let object = first["backup"]["object"]["key"].as_str().unwrap();
    assert_eq!(
        files(&premises),
        [object.to_string(), format!("manifests/{id}.manifest")]
    );
    let local = json(&run(&["backup", "verify", &id, "--to", premises_arg]), 0);
    assert_eq!(local["id"], id.as_str());

    // The failover restore: from the pulled copy into a fresh PostgreSQL database.
    if let Some(admin) = server_url("MEDICARE_TEST_POSTGRES_URL") {
        let db = common::ServerDatabase::create(&admin).await;
        let restore = [
            "backup",
            "restore",
            &id,
            "--to",
            premises_arg,
            "--into-database",
            &db.url,
        ];
        let restored = json(&run(&restore), 0);
        assert_eq!(restored["id"], id.as_str());
        let patients = restored["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "patients")
            .unwrap();
        assert_eq!(patients["rows"], 300);
        let again = run(&restore);
        assert_eq!(
            again.status.code(),
            Some(5),
            "a non-empty target is refused"
        );
        let password = db.url.split('@').next().and_then(|s| s.rsplit(':').next());
        assert!(!String::from_utf8_lossy(&again.stderr).contains(password.unwrap()));
        db.drop_it().await;
    }

    // A second pull copies nothing.
    let again = json(&run(&pull), 0);
    assert_eq!(again["pulled"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["already_present"], 1);

    // The next backup's object is changed in the bucket: refused, reported, not kept.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = json(&run(&["backup", "run", "--to", &cloud, "--no-prune"]), 0);
    let second_id = second["backup"]["id"].as_str().unwrap().to_string();
    let second_key = second["backup"]["object"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &s3,
        &bucket,
        &format!("backups/{second_key}"),
        b"not what was signed",
    )
    .await;
    // And an object no manifest names (a backup being written).
    let stray = format!("data/{}.age", "ab".repeat(32));
    put(&s3, &bucket, &format!("backups/{stray}"), b"half a backup").await;
    let before = files(&premises);
    let tampered = json(&run(&pull), 3);
    let refused = tampered["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{tampered}");
    assert_eq!(
        refused[0]["manifest"],
        format!("manifests/{second_id}.manifest")
    );
    assert!(
        refused[0]["reason"].as_str().unwrap().contains("changed"),
        "{tampered}"
    );
    assert_eq!(tampered["unreferenced"], serde_json::json!([stray]));
    assert_eq!(
        files(&premises),
        before,
        "nothing of the refused backup stays"
    );

    // Without --json, the operator reads what happened.
    let text = Command::new(env!("CARGO_BIN_EXE_medicare"))
        .arg("--dir")
        .arg(&ws)
        .args(pull)
        .env("MEDICARE_LOG", "warn")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-2")
        .env("MEDICARE_AWS_ENDPOINT_URL", &moto)
        .env_remove("MEDICARE_BACKUPS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        stderr.contains(&format!("refused manifests/{second_id}.manifest")),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains("0 pulled, 1 already here, 1 refused"));
}
