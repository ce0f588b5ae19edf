//! The embedded notifier: every message is appended as one JSON line to a file.
//!
//! The outbox stands in for SNS and SES on a laptop: it holds exactly what would have
//! been sent (it is therefore as sensitive as the database). Lines are buffered and made
//! durable by [`Notifier::flush`], which the engine calls before recording a batch as
//! sent.

use super::{Notifier, NotifyError, OutboundMessage};
use async_trait::async_trait;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Appends messages to a JSON-lines file.
#[derive(Debug)]
pub struct OutboxNotifier {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
}

#[derive(Serialize)]
struct Line<'a> {
    id: String,
    #[serde(flatten)]
    message: &'a OutboundMessage,
}

impl OutboxNotifier {
    /// Opens (creating, with permissions 0600, if needed) the outbox file for appending.
    pub fn open(path: impl Into<PathBuf>) -> crate::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&path)
            .map_err(|e| crate::Error::io(&path, e))?;
        drop_partial_last_line(&file).map_err(|e| crate::Error::io(&path, e))?;
        Ok(OutboxNotifier {
            path,
            file: Mutex::new(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The outbox file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, e: &std::io::Error) -> NotifyError {
        NotifyError::Transient {
            reason: format!("writing the outbox {}: {e}", self.path.display()),
        }
    }
}

#[async_trait]
impl Notifier for OutboxNotifier {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        let id = format!("outbox-{}-{}", message.delivery_id, message.channel);
        let mut line = serde_json::to_vec(&Line {
            id: id.clone(),
            message,
        })
        .map_err(|e| NotifyError::Permanent {
            reason: format!("message could not be serialised: {e}"),
        })?;
        line.push(b'\n');
        let mut file = self.file.lock().expect("outbox lock");
        file.write_all(&line).map_err(|e| self.io_error(&e))?;
        Ok(id)
    }

    async fn flush(&self) -> Result<(), NotifyError> {
        let mut file = self.file.lock().expect("outbox lock");
        file.flush().map_err(|e| self.io_error(&e))
    }
}

/// Cuts a trailing partial line (a write interrupted by a crash or a full disk). Its
/// message was never recorded as sent, so the next send writes it again, whole.
fn drop_partial_last_line(file: &File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut reader = file;
    let mut pos = len;
    let mut buf = [0u8; 4096];
    while pos > 0 {
        let start = pos.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(pos - start) as usize];
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep != len {
                tracing::warn!(
                    dropped_bytes = len - keep,
                    "outbox ended in a partial line; dropped it"
                );
                file.set_len(keep)?;
            }
            return Ok(());
        }
        pos = start;
    }
    file.set_len(0)
}

impl Drop for OutboxNotifier {
    fn drop(&mut self) {
        if let Ok(mut file) = self.file.lock() {
            // Best effort: the engine flushes before recording, so nothing recorded is lost.
            let _ = file.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Channel;

    fn message(id: i64) -> OutboundMessage {
        OutboundMessage {
            delivery_id: id,
            campaign_id: 1,
            recipient_id: id,
            channel: Channel::Sms,
            round: 0,
            to: "+447700900001".into(),
            subject: None,
            text: "hello".into(),
            html: None,
        }
    }

    #[tokio::test]
    async fn lines_are_appended_and_a_torn_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        let outbox = OutboxNotifier::open(&path).unwrap();
        outbox.send(&message(1)).await.unwrap();
        outbox.send(&message(2)).await.unwrap();
        outbox.flush().await.unwrap();
        drop(outbox);
        let mut text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        text.push_str("{\"id\":\"torn");
        std::fs::write(&path, &text).unwrap();
        let outbox = OutboxNotifier::open(&path).unwrap();
        outbox.send(&message(3)).await.unwrap();
        outbox.flush().await.unwrap();
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["delivery_id"], 3);
        assert_eq!(lines[2]["id"], "outbox-3-sms");
    }
}
