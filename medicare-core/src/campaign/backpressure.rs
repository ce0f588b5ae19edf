//! How long a refused or failed message waits before its next attempt: decided by the
//! whole channel, not by the message's own bad luck.
//!
//! A provider that throttles or fails a share of calls at random (a noisy shared quota,
//! a flaky front end) is best answered by trying the refused message again almost at
//! once: every attempt is as likely to pass as the first. A provider that refuses most
//! of what it is sent (a quota far exceeded, an outage) needs the whole channel to slow
//! down. Per-message exponential backoff does neither well: under random faults the
//! unluckiest few messages of a large send sleep for tens of seconds and set the
//! length of the whole send, while under an outage each message backs off alone.
//!
//! [`Backpressure`] therefore keeps one *level* per channel, moved by the share of
//! faults (throttles and transient errors) among the channel's recent calls, counted in
//! windows of [`WINDOW_CALLS`] calls or [`WINDOW_TIME`], whichever fills first:
//!
//! - more than [`RAISE_ABOVE`] (half) of a window's calls failed: the level goes up one
//!   (the provider refuses more than it accepts);
//! - otherwise it comes down one, to 0 at least.
//!
//! A steady share of random faults below half keeps the level at 0 (a noisy window may
//! raise it for one window); a quota exceeded keeps it oscillating around the point
//! where about half the calls pass; an outage raises it to the top within a few windows.
//!
//! At level 0 a retry waits a quick random pause of up to [`QUICK_RETRY`]; at level `n`
//! it waits a random time of up to `base × 2^(n-1)`, at most `max` (full jitter). A
//! provider's own `Retry-After` is always honoured.

use rand::Rng;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Calls one window counts at most before it is judged. Large enough that random faults
/// below half seldom fill more than half of one by chance: a fast send fills hundreds of
/// windows a second, and with windows of 32 calls a steady 35 % fault share crossed half
/// in 2.7 % of them (with 128, in 0.02 %), each time making the next window's retries
/// sleep up to `base` for nothing. A slow send's windows are cut by [`WINDOW_TIME`].
pub(crate) const WINDOW_CALLS: u32 = 128;

/// The longest a window lasts before it is judged (if it saw any call).
pub(crate) const WINDOW_TIME: Duration = Duration::from_millis(250);

/// A window whose share of faults is above this raises the level.
pub(crate) const RAISE_ABOVE: f64 = 0.5;

/// The longest quick retry pause, at level 0.
pub(crate) const QUICK_RETRY: Duration = Duration::from_millis(4);

/// The highest level (past it, the wait is `max` anyway).
const TOP_LEVEL: u32 = 16;

/// One channel's shared retry state.
#[derive(Debug)]
pub(crate) struct Backpressure {
    base: Duration,
    max: Duration,
    state: Mutex<Window>,
}

/// The window being counted, and the level earlier windows set.
#[derive(Debug)]
struct Window {
    started: Instant,
    calls: u32,
    faults: u32,
    level: u32,
}

impl Backpressure {
    /// Backpressure whose level 1 waits up to `base`, each level above it twice as long,
    /// never more than `max`.
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Backpressure {
            base,
            max,
            state: Mutex::new(Window {
                started: Instant::now(),
                calls: 0,
                faults: 0,
                level: 0,
            }),
        }
    }

    /// Counts one provider call's outcome: `fault` when it was throttled or failed
    /// transiently.
    pub(crate) fn observe(&self, fault: bool) {
        self.observe_at(fault, Instant::now());
    }

    fn observe_at(&self, fault: bool, now: Instant) {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        w.calls += 1;
        w.faults += u32::from(fault);
        if w.calls < WINDOW_CALLS && now.duration_since(w.started) < WINDOW_TIME {
            return;
        }
        let share = f64::from(w.faults) / f64::from(w.calls);
        if share > RAISE_ABOVE {
            w.level = (w.level + 1).min(TOP_LEVEL);
        } else {
            w.level = w.level.saturating_sub(1);
        }
        if w.level > 0 || share > 0.0 {
            tracing::debug!(
                level = w.level,
                calls = w.calls,
                faults = w.faults,
                "channel backpressure"
            );
        }
        w.started = now;
        w.calls = 0;
        w.faults = 0;
    }

    /// The channel's level now (0: faults, if any, are isolated).
    pub(crate) fn level(&self) -> u32 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).level
    }

    /// The longest wait before a retry at the current level.
    pub(crate) fn ceiling(&self) -> Duration {
        match self.level() {
            0 => QUICK_RETRY.min(self.max),
            n => self
                .base
                .saturating_mul(2u32.saturating_pow(n - 1))
                .min(self.max),
        }
    }

    /// How long to wait before retrying: a random share of [`Self::ceiling`], never
    /// less than the provider asked for.
    pub(crate) fn delay(&self, retry_after: Option<Duration>) -> Duration {
        let jittered = self
            .ceiling()
            .mul_f64(rand::thread_rng().gen_range(0.0..=1.0));
        retry_after.map_or(jittered, |after| jittered.max(after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn pressure() -> Backpressure {
        Backpressure::new(Duration::from_millis(200), Duration::from_secs(30))
    }

    /// Feeds `windows` full windows in each of which `percent` % of the calls fail.
    fn feed(b: &Backpressure, windows: u32, percent: u32) {
        let now = Instant::now();
        for _ in 0..windows {
            for j in 0..WINDOW_CALLS {
                b.observe_at(j * 100 < percent * WINDOW_CALLS, now);
            }
        }
    }

    #[test]
    fn random_faults_below_the_raise_share_keep_retries_quick() {
        let b = pressure();
        // 35 % of calls refused, as in the fault bench: retries stay quick however long
        // it goes on.
        feed(&b, 100, 35);
        assert_eq!(b.level(), 0);
        assert_eq!(b.ceiling(), QUICK_RETRY);
        assert!(b.delay(None) <= QUICK_RETRY);
    }

    #[test]
    fn random_faults_at_a_high_rate_seldom_raise_the_level() {
        // Random faults, 35 % of calls, window after window as a fast send fills them:
        // by chance a window now and then holds more than half, but it must stay rare
        // (windows of 32 calls raised the level after 2.7 % of them).
        let b = pressure();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let now = Instant::now();
        let windows = 2_000;
        let mut raised = 0;
        for _ in 0..windows {
            for _ in 0..WINDOW_CALLS {
                b.observe_at(rng.gen_bool(0.35), now);
            }
            if b.level() > 0 {
                raised += 1;
            }
        }
        assert!(
            raised * 500 <= windows,
            "{raised} of {windows} windows left the level raised"
        );
    }

    #[test]
    fn a_channel_refusing_most_calls_backs_off_to_the_cap_and_recovers() {
        let b = pressure();
        feed(&b, 1, 90);
        assert_eq!(b.level(), 1);
        assert_eq!(b.ceiling(), Duration::from_millis(200));
        feed(&b, 3, 90);
        assert_eq!(b.ceiling(), Duration::from_millis(1_600));
        feed(&b, 40, 100);
        assert_eq!(b.level(), TOP_LEVEL);
        assert_eq!(b.ceiling(), Duration::from_secs(30));
        // Windows where most calls pass bring it down one at a time.
        feed(&b, 3, 0);
        assert_eq!(b.level(), TOP_LEVEL - 3);
        feed(&b, 2, 40);
        assert_eq!(b.level(), TOP_LEVEL - 5);
        feed(&b, TOP_LEVEL, 0);
        assert_eq!(b.level(), 0);
    }

    #[test]
    fn a_slow_trickle_is_judged_by_time() {
        let b = pressure();
        let start = Instant::now();
        b.observe_at(true, start);
        b.observe_at(true, start + Duration::from_millis(100));
        assert_eq!(b.level(), 0, "the window is still open");
        b.observe_at(true, start + WINDOW_TIME);
        assert_eq!(b.level(), 1);
    }

    #[test]
    fn the_providers_retry_after_is_a_floor() {
        let b = pressure();
        let after = Duration::from_secs(3);
        assert!(b.delay(Some(after)) >= after);
    }
}
