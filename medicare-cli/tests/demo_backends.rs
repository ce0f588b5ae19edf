//! `medicare demo` on the other backends, as an operator runs it: with `--database` on a
//! PostgreSQL and a MariaDB server, and with the S3, SNS and SES backends against the
//! moto server. The servers' URLs come from `MEDICARE_TEST_POSTGRES_URL`,
//! `MEDICARE_TEST_MYSQL_URL` and `MEDICARE_TEST_MOTO_URL` (skipped, saying so, when
//! unset outside CI).

mod common;

use common::{rand_suffix, ServerDatabase};
use medicare_core::link::{link_path, presented_token_hash};
use medicare_core::store::conformance::server_url;
use serde_json::Value;
use sqlx::{Connection, Row};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn demo(into: &Path, count: u32, envs: &[(&str, &str)], database: Option<&str>) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medicare"));
    cmd.env("MEDICARE_LOG", "warn")
        .env_remove("MEDICARE_DATABASE_URL");
    if let Some(url) = database {
        cmd.args(["--database", url]);
    }
    cmd.args(["--json", "demo", "--count", &count.to_string(), "--into"])
        .arg(into)
        .envs(envs.iter().copied())
        .stdin(Stdio::null());
    let out: Output = cmd.output().expect("medicare runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?}\nstderr {stderr}",
        out.status
    );
    if let Some(url) = database {
        let password = url.split('@').next().and_then(|s| s.rsplit(':').next());
        if let Some(p) = password.filter(|p| p.len() > 3) {
            assert!(
                !stderr.contains(p),
                "the database password leaked to stderr"
            );
        }
    }
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

fn total(map: &Value) -> u64 {
    map.as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// The follow-up ran over HTTP on the server database and its figures agree.
fn check_summary(summary: &Value, patients: u64) {
    assert_eq!(summary["patients"].as_u64(), Some(patients));
    let recipients = summary["preview"]["recipients"].as_u64().unwrap();
    assert!(recipients > patients / 5, "{recipients} recipients");
    let f = &summary["follow_up"];
    assert_eq!(f["unexpected"], 0, "{f}");
    assert!(f["answered"].as_u64().unwrap() > 0);
    assert_eq!(f["tracking"]["responded"], f["answered"]);
    assert_eq!(
        f["tracking"]["delivered_to_provider"].as_u64().unwrap(),
        total(&summary["send"]["sent"]) + total(&f["remind"]["send"]["sent"])
    );
}

async fn demo_on_server(admin_url: &str) {
    sqlx::any::install_default_drivers();
    let db = ServerDatabase::create(admin_url).await;
    let dir = tempfile::tempdir().unwrap();
    let (into, url) = (dir.path().join("demo"), db.url.clone());
    let summary = tokio::task::spawn_blocking(move || demo(&into, 3_000, &[], Some(&url)))
        .await
        .unwrap();
    check_summary(&summary, 3_000);
    assert!(
        summary["outbox_lines"].as_u64().unwrap() > 0,
        "messages still go to the outbox"
    );
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let stored: i64 = sqlx::query("SELECT COUNT(*) FROM patients")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 3_000, "the patients are in the server database");
    drop(conn);

    // A second demo on the same database refuses: it never mixes populations.
    let dir2 = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_medicare"))
        .args(["--database", &db.url, "demo", "--count", "10", "--into"])
        .arg(dir2.path().join("demo"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_postgres() {
    if let Some(url) = server_url("MEDICARE_TEST_POSTGRES_URL") {
        demo_on_server(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_mysql() {
    if let Some(url) = server_url("MEDICARE_TEST_MYSQL_URL") {
        demo_on_server(&url).await;
    }
}

/// Creates what an AWS account would already have: the bucket, the KMS key and the
/// verified sender. Returns the key id and the S3 client.
async fn prepare_moto(moto: &str, bucket: &str, sender: &str) -> (String, aws_sdk_s3::Client) {
    let config = common::moto_config(moto).await;
    let s3 = common::bucket(&config, bucket).await;
    let key = aws_sdk_kms::Client::new(&config)
        .create_key()
        .description("medicare demo test")
        .send()
        .await
        .unwrap();
    aws_sdk_sesv2::Client::new(&config)
        .create_email_identity()
        .email_identity(sender)
        .send()
        .await
        .unwrap();
    (key.key_metadata.unwrap().key_id, s3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_s3_sns_and_ses_in_moto() {
    let Some(moto) = server_url("MEDICARE_TEST_MOTO_URL") else {
        return;
    };
    // Unique names: other tests share this moto server.
    let run = format!("{}{}", std::process::id(), rand_suffix());
    let bucket = format!("medicare-demo-{run}");
    let sender = format!("flu-{run}@example.org");
    let base_url = format!("https://f{run}.example.org");
    let (key_id, s3) = prepare_moto(&moto, &bucket, &sender).await;

    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("demo");
    let forms = format!("s3://{bucket}/forms");
    let envs: Vec<(String, String)> = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "eu-west-2"),
        ("MEDICARE_AWS_ENDPOINT_URL", moto.as_str()),
        ("MEDICARE_FORMS", forms.as_str()),
        ("MEDICARE_KMS_KEY_ID", key_id.as_str()),
        ("MEDICARE_SMS", "sns"),
        ("MEDICARE_EMAIL", "ses"),
        ("MEDICARE_EMAIL_FROM", sender.as_str()),
        ("MEDICARE_BASE_URL", base_url.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let demo_dir = into.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        demo(&demo_dir, 2_000, &envs, None)
    })
    .await
    .unwrap();
    check_summary(&summary, 2_000);
    assert!(
        summary["outbox_lines"].is_null(),
        "nothing went to the outbox"
    );

    // What moto received, this run's messages only.
    let data: Value = reqwest::get(format!("{moto}/moto-api/data.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sms: Vec<(String, String)> = data["sns"]["SMS"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message"].as_str().unwrap().contains(&base_url))
        .map(|m| {
            (
                m["phone_number"].as_str().unwrap().to_string(),
                m["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let emails: Vec<(String, String)> = data["ses"]["Message"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == sender.as_str())
        .map(|m| {
            (
                m["destinations"]["ToAddresses"][0]
                    .as_str()
                    .unwrap()
                    .to_string(),
                m["body"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let sent = &summary["send"]["sent"];
    let reminded = &summary["follow_up"]["remind"]["send"]["sent"];
    let per = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    assert_eq!(sms.len() as u64, per(sent, "sms") + per(reminded, "sms"));
    assert_eq!(
        emails.len() as u64,
        per(sent, "email") + per(reminded, "email")
    );
    assert!(
        sms.len() > 300 && emails.len() > 300,
        "{} SMS, {} emails",
        sms.len(),
        emails.len()
    );

    // Every message carries its own patient's link: the token hashes to a recipient whose
    // frozen contact is the address moto delivered to.
    let db = format!("sqlite://{}", into.join("medicare.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    let mut seen = BTreeSet::new();
    for (channel, column, messages) in [("sms", "phone", &sms), ("email", "email", &emails)] {
        for (to, text) in messages {
            let path = link_path(text).unwrap_or_else(|| panic!("a {channel} without a link"));
            let hash = presented_token_hash(&path[3..]).expect("a well-formed token");
            let row = sqlx::query(&format!(
                "SELECT id, {column} FROM recipients WHERE token_hash = ?"
            ))
            .bind(&hash.0[..])
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("a {channel} link matches no recipient: {e}"));
            let (recipient, address): (i64, String) = (row.get(0), row.get(1));
            assert_eq!(
                &address, to,
                "recipient {recipient}'s {channel} went elsewhere"
            );
            seen.insert((channel, recipient));
        }
    }
    // First round plus one reminder: each (recipient, channel) at most twice, and as many
    // distinct pairs as first-round messages.
    assert_eq!(
        seen.len() as u64,
        total(sent),
        "every first-round message went to a different recipient"
    );
    // The form page went to S3, encrypted with the KMS key, as HTML.
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("forms/")
        .send()
        .await
        .unwrap();
    let page_key = listed.contents()[0].key().unwrap().to_string();
    let page = s3
        .head_object()
        .bucket(&bucket)
        .key(&page_key)
        .send()
        .await
        .unwrap();
    assert_eq!(page.content_type(), Some("text/html; charset=utf-8"));
    assert_eq!(
        page.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms)
    );
}
