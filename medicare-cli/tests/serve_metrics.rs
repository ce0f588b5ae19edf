//! `medicare serve --metrics-bind`: Prometheus text on its own address (with the age and
//! size of the newest backup), and nothing at `/metrics` on the public form address.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first `http://...` address on a line starting with `prefix`.
fn address(line: &str, prefix: &str) -> Option<String> {
    let rest = line.strip_prefix(prefix)?;
    let start = rest.find("http://")?;
    let url = &rest[start..];
    let end = url[7..].find(['/', ' ', ')']).map_or(url.len(), |i| i + 7);
    Some(url[..end].to_string())
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_only() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["patients", "generate", "--count", "50"][..],
        &["keys", "generate"],
        &["backup", "run"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_medicare"))
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .env("MEDICARE_LOG", "warn")
            .env_remove("MEDICARE_DATABASE_URL")
            .env_remove("MEDICARE_BACKUP_DIR")
            .env_remove("MEDICARE_BACKUPS")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_medicare"))
        .arg("--dir")
        .arg(dir.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
        ])
        .env("MEDICARE_LOG", "warn")
        .env_remove("MEDICARE_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("medicare runs");
    let stderr = child.stderr.take().unwrap();
    let _server = Server(child);
    let (mut public, mut metrics) = (None, None);
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        public = public.or_else(|| address(&line, "medicare form service on "));
        metrics = metrics.or_else(|| address(&line, "metrics on "));
        if public.is_some() && metrics.is_some() {
            break;
        }
    }
    let (public, metrics) = (public.unwrap(), metrics.unwrap());
    assert_ne!(public, metrics);

    let scraped = reqwest::get(format!("{metrics}/metrics")).await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    // The backup gauges are set from the backup folder shortly after start.
    let mut text = String::new();
    for _ in 0..50 {
        text = reqwest::get(format!("{metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("medicare_backup_size_bytes ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let size = text
        .lines()
        .find_map(|l| l.strip_prefix("medicare_backup_size_bytes "))
        .unwrap_or_else(|| panic!("no backup size in {text}"));
    assert!(size.trim().parse::<f64>().unwrap() > 0.0, "{text}");
    assert!(text.contains("medicare_backup_age_seconds "), "{text}");
    let open = reqwest::get(format!("{public}/metrics")).await.unwrap();
    assert_eq!(open.status(), 404, "metrics must not be public");
}
