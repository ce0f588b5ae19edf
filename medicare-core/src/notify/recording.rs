//! An in-memory notifier that records what it was asked to send; for tests, benchmarks
//! and dry runs. It can be told to fail some messages, to exercise retries.

use super::{Notifier, NotifyError, OutboundMessage};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Decides, per message and attempt (1-based), whether the recorder fails it.
pub type FailureScript = Arc<dyn Fn(&OutboundMessage, u32) -> Option<NotifyError> + Send + Sync>;

/// Records every accepted message in memory.
#[derive(Default)]
pub struct RecordingNotifier {
    sent: Mutex<Vec<OutboundMessage>>,
    attempts: Mutex<HashMap<(i64, i32), u32>>,
    script: Option<FailureScript>,
}

impl std::fmt::Debug for RecordingNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingNotifier")
            .field("sent", &self.sent.lock().map(|s| s.len()).unwrap_or(0))
            .finish_non_exhaustive()
    }
}

impl RecordingNotifier {
    /// A recorder that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder that fails the messages `script` says to fail.
    pub fn with_failures(script: FailureScript) -> Self {
        RecordingNotifier {
            script: Some(script),
            ..Self::default()
        }
    }

    /// The messages accepted so far, in order.
    pub fn sent(&self) -> Vec<OutboundMessage> {
        self.sent.lock().expect("recorder lock").clone()
    }

    /// How many messages were accepted so far.
    pub fn count(&self) -> usize {
        self.sent.lock().expect("recorder lock").len()
    }

    /// How many times the message for `delivery_id` in `round` was tried.
    pub fn attempts(&self, delivery_id: i64, round: i32) -> u32 {
        self.attempts
            .lock()
            .expect("recorder lock")
            .get(&(delivery_id, round))
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn send(&self, message: &OutboundMessage) -> Result<String, NotifyError> {
        let attempt = {
            let mut attempts = self.attempts.lock().expect("recorder lock");
            let n = attempts
                .entry((message.delivery_id, message.round))
                .or_insert(0);
            *n += 1;
            *n
        };
        if let Some(err) = self.script.as_ref().and_then(|s| s(message, attempt)) {
            return Err(err);
        }
        let mut sent = self.sent.lock().expect("recorder lock");
        sent.push(message.clone());
        Ok(format!("rec-{}", sent.len()))
    }
}
