//! Locking an account after repeated failures: pure functions over the counters and a
//! time, so the rule is tested without a database or a clock.
//!
//! Five consecutive failures (a wrong password, or a wrong, replayed or spent second
//! factor) lock the account for 15 minutes; each further lock doubles the time (capped
//! at 2^10 × 15 minutes, about ten days). A full sign-in (password and second factor)
//! resets the counters; so does an admin's unlock. Attempts while locked are refused
//! without being counted, so they neither extend nor shorten the lock.

use super::TimeStep;
use chrono::{DateTime, Duration, Utc};

/// The per-operator counters the lockout rule and replay protection need. Stored as one
/// unit and updated by compare-and-swap, so concurrent attempts cannot both win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignInState {
    /// Failures since the last success or lock.
    pub consecutive_failures: u32,
    /// Locks since the last success or unlock.
    pub locks: u32,
    /// Until when the account is locked, if it is.
    pub locked_until: Option<DateTime<Utc>>,
    /// The last TOTP step accepted (codes at or before it are replays).
    pub last_totp_step: Option<TimeStep>,
}

/// How many failures lock, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account.
    pub threshold: u32,
    /// How long the first lock lasts.
    pub first_lock: Duration,
    /// How many times a lock may double.
    pub max_doublings: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            threshold: 5,
            first_lock: Duration::minutes(15),
            max_doublings: 10,
        }
    }
}

impl LockoutPolicy {
    /// Until when `state` is locked at `now`, if it is.
    pub fn locked_until(&self, state: &SignInState, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        state.locked_until.filter(|until| *until > now)
    }

    /// The state after a failure at `now`. Does not count while locked.
    pub fn after_failure(&self, state: &SignInState, now: DateTime<Utc>) -> SignInState {
        if self.locked_until(state, now).is_some() {
            return *state;
        }
        let failures = state.consecutive_failures.saturating_add(1);
        if failures < self.threshold {
            return SignInState {
                consecutive_failures: failures,
                ..*state
            };
        }
        let locks = state.locks.saturating_add(1);
        let doublings = (locks - 1).min(self.max_doublings);
        SignInState {
            consecutive_failures: 0,
            locks,
            locked_until: Some(now + self.first_lock * 2i32.pow(doublings)),
            last_totp_step: state.last_totp_step,
        }
    }

    /// The state after a full sign-in (or a step-up) that accepted `step`.
    pub fn after_success(&self, state: &SignInState, step: Option<TimeStep>) -> SignInState {
        SignInState {
            last_totp_step: step.max(state.last_totp_step),
            ..SignInState::default()
        }
    }

    /// The state after an admin's unlock: no lock, no failures, replay memory kept.
    pub fn unlocked(&self, state: &SignInState) -> SignInState {
        SignInState {
            last_totp_step: state.last_totp_step,
            ..SignInState::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    fn fail(policy: &LockoutPolicy, state: SignInState, n: u32, at: DateTime<Utc>) -> SignInState {
        (0..n).fold(state, |s, _| policy.after_failure(&s, at))
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes() {
        let p = LockoutPolicy::default();
        let four = fail(&p, SignInState::default(), 4, t0());
        assert_eq!(four.consecutive_failures, 4);
        assert_eq!(p.locked_until(&four, t0()), None);
        let five = p.after_failure(&four, t0());
        assert_eq!(
            p.locked_until(&five, t0()),
            Some(t0() + Duration::minutes(15))
        );
        assert_eq!(five.consecutive_failures, 0);
        // Still locked a second before the end, free at the end.
        assert!(p
            .locked_until(&five, t0() + Duration::minutes(15) - Duration::seconds(1))
            .is_some());
        assert_eq!(p.locked_until(&five, t0() + Duration::minutes(15)), None);
    }

    #[test]
    fn attempts_while_locked_do_not_count() {
        let p = LockoutPolicy::default();
        let locked = fail(&p, SignInState::default(), 5, t0());
        let later = t0() + Duration::minutes(5);
        assert_eq!(fail(&p, locked, 20, later), locked);
    }

    #[test]
    fn each_further_lock_doubles_and_the_doubling_is_capped() {
        let p = LockoutPolicy::default();
        let mut state = SignInState::default();
        let mut now = t0();
        let mut lengths = vec![];
        for _ in 0..13 {
            state = fail(&p, state, 5, now);
            let until = p.locked_until(&state, now).unwrap();
            lengths.push((until - now).num_minutes());
            now = until;
        }
        assert_eq!(lengths[..4], [15, 30, 60, 120]);
        assert_eq!(lengths[10], 15 * 1024);
        assert_eq!(lengths[12], 15 * 1024, "capped");
    }

    #[test]
    fn success_and_unlock_reset_the_counters_but_keep_the_last_step() {
        let p = LockoutPolicy::default();
        let state = SignInState {
            last_totp_step: Some(TimeStep(10)),
            ..fail(&p, SignInState::default(), 7, t0())
        };
        assert_eq!(state.locks, 1);
        let ok = p.after_success(&state, Some(TimeStep(12)));
        assert_eq!(
            ok,
            SignInState {
                last_totp_step: Some(TimeStep(12)),
                ..SignInState::default()
            }
        );
        assert_eq!(
            p.after_success(&state, None).last_totp_step,
            Some(TimeStep(10))
        );
        let unlocked = p.unlocked(&state);
        assert_eq!(p.locked_until(&unlocked, t0()), None);
        assert_eq!(unlocked.locks, 0);
        assert_eq!(unlocked.last_totp_step, Some(TimeStep(10)));
        // After an unlock the next lock is a first lock again.
        let relocked = fail(&p, unlocked, 5, t0());
        assert_eq!(
            p.locked_until(&relocked, t0()),
            Some(t0() + Duration::minutes(15))
        );
    }
}
