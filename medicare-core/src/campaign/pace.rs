//! Pacing a channel so that no sliding one-second window holds more sends than its rate.
//!
//! A provider's quota is a rolling window. Spacing sends `1/rate` apart (a token bucket
//! with no burst) still lets a window that starts exactly on a send hold `rate + 1`, and
//! any late wake-up followed by an on-time one squeezes two sends closer than the
//! spacing. [`Pacer`] keeps the start times of the last `rate` sends and lets a new one
//! start only when the oldest of them is a whole window old, and never sooner than the
//! spacing after the previous one: so every window of one second, wherever it starts,
//! holds at most `rate` starts, evenly spread.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The window a rate is counted over.
const WINDOW: Duration = Duration::from_secs(1);

/// How much later than a whole window after the oldest counted send the next may start,
/// so that a window closed at both ends (as a provider may count) holds `rate` at most.
const MARGIN: Duration = Duration::from_millis(1);

/// Admits at most `rate` sends in any sliding one-second window, spaced evenly.
#[derive(Debug)]
pub(crate) struct Pacer {
    rate: usize,
    spacing: Duration,
    starts: Mutex<VecDeque<Instant>>,
}

impl Pacer {
    /// A pacer for `rate` sends a second.
    pub(crate) fn new(rate: NonZeroU32) -> Self {
        Pacer {
            rate: usize::try_from(rate.get()).unwrap_or(usize::MAX),
            spacing: WINDOW / rate.get(),
            starts: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until a send may start, and counts it as started.
    pub(crate) async fn ready(&self) {
        // Holding the lock while waiting queues callers in order: each waits its turn.
        let mut starts = self.starts.lock().await;
        let now = Instant::now();
        let mut at = now;
        if let Some(&last) = starts.back() {
            at = at.max(last + self.spacing);
        }
        if starts.len() >= self.rate {
            if let Some(&oldest) = starts.front() {
                at = at.max(oldest + WINDOW + MARGIN);
            }
        }
        if at > now {
            tokio::time::sleep_until(at).await;
        }
        let started = Instant::now();
        starts.push_back(started);
        while starts.len() > self.rate {
            starts.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Counts starts in every window of one second that begins at a start (the windows
    /// holding the most), with sends from many tasks at once.
    #[tokio::test(start_paused = true)]
    async fn no_sliding_window_holds_more_than_the_rate() {
        for rate in [1u32, 3, 20, 250] {
            let pacer = Arc::new(Pacer::new(NonZeroU32::new(rate).unwrap()));
            let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (pacer, starts) = (pacer.clone(), starts.clone());
                    tokio::spawn(async move {
                        for i in 0..(rate as u64 * 3 / 16 + 2) {
                            pacer.ready().await;
                            starts.lock().unwrap().push(Instant::now());
                            // Uneven work between sends, as a provider's latency is.
                            tokio::time::sleep(Duration::from_millis(7 * (i % 5))).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let mut starts = starts.lock().unwrap().clone();
            starts.sort();
            for (i, &from) in starts.iter().enumerate() {
                let within = starts[i..]
                    .iter()
                    .take_while(|&&t| t <= from + WINDOW)
                    .count();
                assert!(
                    within <= rate as usize,
                    "{within} sends within one second at rate {rate}"
                );
            }
        }
    }
}
