//! `medicare campaign send` killed with SIGKILL, as a process really dies: no destructor,
//! no flush. Five kills at random points of one send re-send at most what each left in
//! flight, and the status counts exactly the deliveries that may have arrived twice
//! (issue 16); four sender processes splitting a campaign into shards on PostgreSQL and
//! on MariaDB, one of them killed mid-batch and its shard retried after its lease,
//! record every delivery exactly once (issue 13). The outbox of each process's folder is
//! the provider: one line per message it accepted.

mod common;

use common::{rand_suffix, ServerDatabase};
use medicare_core::store::conformance::server_url;
use serde_json::Value;
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Messages in flight per channel in every send here (the crash window per channel).
const CONCURRENCY: usize = 20;

/// Channels of the campaigns here (SMS and email).
const CHANNELS: usize = 2;

/// `medicare --dir DIR`, on `database` if given (else the folder's SQLite file).
fn medicare(dir: &Path, database: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medicare"));
    cmd.arg("--dir")
        .arg(dir)
        .env_remove("MEDICARE_DATABASE_URL")
        .env("MEDICARE_LOG", "warn")
        .stdin(Stdio::null());
    if let Some(url) = database {
        cmd.env("MEDICARE_DATABASE_URL", url);
    }
    cmd
}

/// The JSON a successful command printed.
fn json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "status {:?}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// Patients, the form and an SMS + email campaign to all of them; returns the campaign id
/// and its number of deliveries to send.
fn campaign(dir: &Path, database: Option<&str>, patients: usize) -> (String, u64) {
    let run = |args: &[&str]| json(medicare(dir, database).args(args).output().unwrap());
    run(&[
        "--json",
        "patients",
        "generate",
        "--count",
        &patients.to_string(),
        "--seed",
        "5",
    ]);
    let spec = dir.join("form.toml");
    std::fs::write(
        &spec,
        "name = \"kills\"\ntitle = \"Kills\"\n[[fields]]\nname = \"ok\"\nlabel = \"OK?\"\ntype = \"yes_no\"\n",
    )
    .unwrap();
    run(&["--json", "form", "create", spec.to_str().unwrap()]);
    let preview = run(&[
        "--json", "campaign", "create", "--form", "kills", "--filter", "all",
    ]);
    let eligible = preview["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pending"].as_u64().unwrap())
        .sum();
    (preview["campaign"]["id"].to_string(), eligible)
}

/// `medicare campaign send`, paced at `rate` per channel, with `extra` arguments.
fn spawn_send(dir: &Path, database: Option<&str>, id: &str, rate: u32, extra: &[&str]) -> Child {
    medicare(dir, database)
        .args(["--json", "campaign", "send", id, "--yes"])
        .args(extra)
        .env("MEDICARE_SMS_RATE", rate.to_string())
        .env("MEDICARE_EMAIL_RATE", rate.to_string())
        .env("MEDICARE_CONCURRENCY", CONCURRENCY.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("medicare starts")
}

/// The delivery id of every message in the folder's outbox, one per whole line (a kill
/// may leave a partial last line, which the next send drops: it was never sent).
fn outbox(dir: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(dir.join("outbox.jsonl")).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).expect("every outbox line is whole JSON");
            line["delivery_id"].as_i64().unwrap()
        })
        .collect()
}

/// Waits until `dir`'s outbox holds at least `lines` messages, then kills `child` with
/// SIGKILL and reaps it.
fn kill_after(child: &mut Child, dir: &Path, lines: usize) {
    let start = Instant::now();
    while outbox(dir).len() < lines {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the send made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the send finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The ids of the deliveries recorded `sending` (claimed, outcome never recorded).
async fn in_flight(url: &str) -> BTreeSet<i64> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connects");
    sqlx::query_scalar::<_, i64>("SELECT id FROM deliveries WHERE status = 'sending'")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// How many times each delivery reached the outboxes of `dirs`.
fn times_sent(dirs: &[PathBuf]) -> BTreeMap<i64, u64> {
    let mut times = BTreeMap::new();
    for d in dirs {
        for id in outbox(d) {
            *times.entry(id).or_default() += 1;
        }
    }
    times
}

/// Sums `field` over the channels of a status or report.
fn channel_sum(status: &Value, field: &str) -> u64 {
    status["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[field].as_u64().unwrap())
        .sum()
}

/// A pseudo-random number below `n`, different in every run (printed on failure).
fn random_below(n: u64) -> u64 {
    rand_suffix() % n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sigkills_resend_at_most_what_each_left_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (id, eligible) = campaign(d, None, 3_000);
    let url = format!("sqlite://{}", d.join("medicare.db").display());

    let mut requeued_ever = BTreeSet::new();
    let mut previous_in_flight = BTreeSet::new();
    let mut before = Vec::new();
    let mut kill_points = Vec::new();
    for kill in 1..=5 {
        // A random point: 100 to 399 messages into this process's send.
        let point = before.len() + 100 + random_below(300) as usize;
        kill_points.push(point);
        let mut child = spawn_send(d, None, &id, 400, &[]);
        kill_after(&mut child, d, point);
        let now = outbox(d);
        check_resent(&before, &now, &previous_in_flight, kill, &kill_points);
        let left = in_flight(&url).await;
        assert!(
            left.len() <= CHANNELS * CONCURRENCY,
            "kill {kill} (points {kill_points:?}) left {} in flight",
            left.len()
        );
        requeued_ever.extend(left.iter().copied());
        previous_in_flight = left;
        before = now;
    }

    let report = json(
        spawn_send(d, None, &id, 400, &[])
            .wait_with_output()
            .unwrap(),
    );
    assert_eq!(
        report["requeued_in_flight"].as_u64().unwrap(),
        previous_in_flight.len() as u64
    );
    check_resent(&before, &outbox(d), &previous_in_flight, 6, &kill_points);

    let status = json(
        medicare(d, None)
            .args(["--json", "campaign", "status", &id])
            .output()
            .unwrap(),
    );
    assert_eq!(status["campaign"]["state"], "sent");
    assert_eq!(channel_sum(&status, "sent"), eligible);
    assert_eq!(
        channel_sum(&status, "pending") + channel_sum(&status, "sending"),
        0
    );
    // The status names exactly the deliveries any kill left in flight: each may have
    // arrived twice, and no other may have.
    assert_eq!(
        channel_sum(&status, "possible_duplicates"),
        requeued_ever.len() as u64,
        "kill points {kill_points:?}"
    );
    let times = times_sent(&[d.to_path_buf()]);
    assert_eq!(
        times.len() as u64,
        eligible,
        "every delivery reached the outbox"
    );
    for (delivery, n) in &times {
        assert!(
            *n == 1 || requeued_ever.contains(delivery),
            "delivery {delivery} sent {n} times but never in flight at a kill ({kill_points:?})"
        );
    }
}

/// What the process after kill `kill` sent again (delivery ids it wrote that were in
/// the outbox `before` it started) is among what the kill left in flight.
fn check_resent(
    before: &[i64],
    now: &[i64],
    in_flight: &BTreeSet<i64>,
    kill: usize,
    points: &[usize],
) {
    assert!(now.len() >= before.len() && now[..before.len()] == *before);
    let earlier: BTreeSet<i64> = before.iter().copied().collect();
    let resent: Vec<i64> = now[before.len()..]
        .iter()
        .copied()
        .filter(|d| earlier.contains(d))
        .collect();
    assert!(
        resent.iter().all(|d| in_flight.contains(d)),
        "after kill {} (points {points:?}) a delivery not in flight was sent again",
        kill - 1
    );
    assert!(resent.len() <= in_flight.len());
}

/// Four sender processes on shards 0/4 to 3/4 of one campaign on a server database,
/// the last killed mid-batch; once the others are done and its lease has passed, its
/// shard is sent again by a fifth process, which takes back exactly what the dead one
/// left in flight. Every delivery ends sent once; only those may have gone out twice,
/// and the status says how many.
async fn four_senders_one_killed(admin_url: &str) {
    let db = ServerDatabase::create(admin_url).await;
    let url = Some(db.url.as_str());
    let root = tempfile::tempdir().unwrap();
    let setup = root.path().join("setup");
    std::fs::create_dir_all(&setup).unwrap();
    let (id, eligible) = campaign(&setup, url, 2_000);
    // Each process works in its own folder (its own outbox) with the same link key.
    let dirs: Vec<PathBuf> = (0..5)
        .map(|i| root.path().join(format!("sender{i}")))
        .collect();
    for d in &dirs {
        std::fs::create_dir_all(d.join("keys")).unwrap();
        std::fs::copy(setup.join("keys/link.key"), d.join("keys/link.key")).unwrap();
    }
    let lease = 2;
    let lease_arg = lease.to_string();
    let mut senders: Vec<Child> = (0..4)
        .map(|i| {
            let shard = format!("{i}/4");
            spawn_send(
                &dirs[i],
                url,
                &id,
                150,
                &["--shard", &shard, "--lease-secs", &lease_arg],
            )
        })
        .collect();
    let mut killed = senders.pop().unwrap();
    kill_after(&mut killed, &dirs[3], 60 + random_below(100) as usize);
    let killed_at = Instant::now();
    let mut reports = Vec::new();
    for s in senders {
        reports.push(json(s.wait_with_output().unwrap()));
    }
    let left = in_flight(&db.url).await;
    assert!(
        !left.is_empty() && left.len() <= CHANNELS * CONCURRENCY,
        "the killed sender left {} in flight",
        left.len()
    );
    let midway = json(
        medicare(&setup, url)
            .args(["--json", "campaign", "status", &id])
            .output()
            .unwrap(),
    );
    assert_eq!(midway["campaign"]["state"], "sending");

    // Its shard is retried once the lease has passed (as Step Functions retries it).
    std::thread::sleep(Duration::from_secs(lease + 1).saturating_sub(killed_at.elapsed()));
    let retry = json(
        spawn_send(
            &dirs[4],
            url,
            &id,
            150,
            &["--shard", "3/4", "--lease-secs", &lease_arg],
        )
        .wait_with_output()
        .unwrap(),
    );
    assert_eq!(
        retry["requeued_in_flight"].as_u64().unwrap(),
        left.len() as u64
    );
    assert!(reports.iter().all(|r| r["requeued_in_flight"] == 0));

    let status = json(
        medicare(&setup, url)
            .args(["--json", "campaign", "status", &id])
            .output()
            .unwrap(),
    );
    assert_eq!(status["campaign"]["state"], "sent");
    assert_eq!(channel_sum(&status, "sent"), eligible);
    assert_eq!(
        channel_sum(&status, "pending") + channel_sum(&status, "sending"),
        0
    );
    assert_eq!(
        channel_sum(&status, "possible_duplicates"),
        left.len() as u64
    );
    let times = times_sent(&dirs);
    assert_eq!(
        times.len() as u64,
        eligible,
        "every delivery reached an outbox"
    );
    for (delivery, n) in &times {
        assert!(
            *n == 1 || (*n == 2 && left.contains(delivery)),
            "delivery {delivery} sent {n} times"
        );
    }
    // The live senders sent their shards exactly once, each delivery by one process.
    for (i, d) in dirs.iter().enumerate().take(3) {
        let mine = outbox(d);
        assert_eq!(
            mine.len() as u64,
            reports[i]["sent"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>()
        );
        assert!(mine.iter().all(|delivery| times[delivery] == 1));
    }
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_sender_processes_on_postgres_one_killed_deliver_every_message_once() {
    if let Some(url) = server_url("MEDICARE_TEST_POSTGRES_URL") {
        four_senders_one_killed(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_sender_processes_on_mariadb_one_killed_deliver_every_message_once() {
    if let Some(url) = server_url("MEDICARE_TEST_MYSQL_URL") {
        four_senders_one_killed(&url).await;
    }
}
