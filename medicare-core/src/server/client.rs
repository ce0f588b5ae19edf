//! A patient's side of the form service, over real HTTP: find the link in a message,
//! open it, answer it. The demo, the benchmarks and the tests use it.

use reqwest::StatusCode;

pub use crate::link::link_path;

/// Opens `base` + `path` (recording the view) and returns the status.
pub async fn open(client: &reqwest::Client, base: &str, path: &str) -> reqwest::Result<StatusCode> {
    let response = client.get(format!("{base}{path}")).send().await?;
    let status = response.status();
    response.bytes().await?;
    Ok(status)
}

/// Submits `answers` (name/value pairs; repeat a name for several choices) to
/// `base` + `path` and returns the status: `200` stored, `422` refused with messages,
/// `410` already answered or expired, `404` unknown link.
pub async fn submit(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    answers: &[(String, String)],
) -> reqwest::Result<StatusCode> {
    let response = client
        .post(format!("{base}{path}"))
        .form(answers)
        .send()
        .await?;
    let status = response.status();
    response.bytes().await?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_are_found_in_messages() {
        let text =
            "MediCARE: register here: http://127.0.0.1:8080/f/AbCdEfGhIjKlMnOpQrSt-_ Reply STOP";
        assert_eq!(super::link_path(text), Some("/f/AbCdEfGhIjKlMnOpQrSt-_"));
        assert_eq!(super::link_path("no link"), None);
    }
}
