//! Channel strategies: which channel goes to whom, and when.
//!
//! A campaign's [`Strategy`] is chosen when it is created and decides its deliveries:
//! `both` sends the SMS and the email at once (the original behaviour), `sms_only` and
//! `email_only` one channel, and `email_first` the email at once, the SMS at once only
//! to recipients without a usable email, and the SMS to everyone else as a *second wave*
//! ([`SECOND_WAVE_ROUND`]) sent after a delay to those who have neither opened their link
//! nor answered by then. The second wave's deliveries are planned (frozen) with the
//! campaign, so they are sent at most once and never silently skipped: each ends sent,
//! failed, or suppressed with a reason (`opened`, `responded`, `no_phone`, ...).
//!
//! [`Reach`] counts, at creation, who each channel could reach, so that a preview can
//! price every strategy side by side ([`Reach::estimate`]).

use crate::error::{Error, Result};
use crate::notify::{Channel, Money, Prices};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The round an `email_first` campaign's SMS second wave is (reminders follow it).
pub const SECOND_WAVE_ROUND: i32 = 1;

/// The default delay before an `email_first` second wave: three days.
pub const DEFAULT_SECOND_WAVE_HOURS: u32 = 72;

/// The second-wave open rate assumed when neither the operator nor past campaigns give
/// one: half of the emailed recipients open their link in time.
pub const DEFAULT_OPEN_RATE_PERCENT: u32 = 50;

/// Which channels a campaign sends on, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// SMS and email to everyone at once.
    #[default]
    Both,
    /// Email at once; SMS at once to those without a usable email, and as a second wave
    /// to those who have not opened their link after the delay.
    EmailFirst,
    /// SMS only.
    SmsOnly,
    /// Email only.
    EmailOnly,
}

impl Strategy {
    /// Every strategy.
    pub const ALL: [Strategy; 4] = [
        Strategy::Both,
        Strategy::EmailFirst,
        Strategy::SmsOnly,
        Strategy::EmailOnly,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Both => "both",
            Strategy::EmailFirst => "email_first",
            Strategy::SmsOnly => "sms_only",
            Strategy::EmailOnly => "email_only",
        }
    }

    /// Parses a stored or typed name (`email-first` is accepted for `email_first`).
    pub fn parse(s: &str) -> std::result::Result<Strategy, String> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| "a strategy is both, email_first, sms_only or email_only".to_string())
    }

    /// The channels its campaigns send on.
    pub fn channels(self) -> Vec<Channel> {
        match self {
            Strategy::Both | Strategy::EmailFirst => Channel::ALL.to_vec(),
            Strategy::SmsOnly => vec![Channel::Sms],
            Strategy::EmailOnly => vec![Channel::Email],
        }
    }

    /// The strategy of a request: the one asked for, whose channels the request's must
    /// then be (or be left at both); without one, the one the channels imply.
    pub fn resolve(requested: Option<Strategy>, channels: &[Channel]) -> Result<Strategy> {
        let both = channels.len() == 2;
        match requested {
            Some(s) if both || channels == s.channels().as_slice() => Ok(s),
            Some(s) => Err(Error::invalid(
                "strategy",
                format!(
                    "{s} sends on {}; leave the channels out or name the same ones",
                    s.channels()
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )),
            None if both => Ok(Strategy::Both),
            None => Ok(match channels.first() {
                Some(Channel::Email) => Strategy::EmailOnly,
                _ => Strategy::SmsOnly,
            }),
        }
    }

    /// The round whose message texts round `round` sends: an `email_first` second wave
    /// sends the invitation, and its reminders are numbered from round 2.
    pub fn text_round(self, round: i32) -> i32 {
        match self {
            Strategy::EmailFirst if round >= SECOND_WAVE_ROUND => round - SECOND_WAVE_ROUND,
            _ => round,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who each channel could reach, counted when the campaign was created (opt-outs and
/// missing contacts already left out), with the SMS segments they would take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    /// Recipients with a usable email (present, not opted out).
    pub email: u64,
    /// Recipients an SMS can reach (a phone, not opted out).
    pub sms: u64,
    /// The segments of those SMS.
    pub sms_segments: u64,
    /// Of `sms`: recipients without a usable email.
    pub sms_without_email: u64,
    /// The segments of those SMS.
    pub sms_without_email_segments: u64,
}

/// What a strategy would cost, wave by wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StrategyEstimate {
    /// The strategy.
    pub strategy: Strategy,
    /// Emails of the first round.
    pub emails: u64,
    /// SMS of the first round.
    pub first_round_sms: u64,
    /// Their segments.
    pub first_round_segments: u64,
    /// SMS expected in the second wave (`email_first` only): those planned times the
    /// share expected not to have opened.
    pub second_wave_sms: u64,
    /// Their segments.
    pub second_wave_segments: u64,
    /// The first round's cost.
    pub first_round_cost: Money,
    /// The second wave's expected cost.
    pub second_wave_cost: Money,
    /// Both together.
    pub total: Money,
}

impl Reach {
    /// Counts one recipient: whether their email is usable, and the segments of their
    /// SMS if a phone reaches them.
    pub fn count(&mut self, usable_email: bool, sms_segments: Option<u32>) {
        self.email += u64::from(usable_email);
        if let Some(segments) = sms_segments {
            self.sms += 1;
            self.sms_segments += u64::from(segments);
            if !usable_email {
                self.sms_without_email += 1;
                self.sms_without_email_segments += u64::from(segments);
            }
        }
    }

    /// The SMS an `email_first` second wave plans (recipients with a usable email and a
    /// reachable phone), and their segments.
    pub fn second_wave(&self) -> (u64, u64) {
        (
            self.sms.saturating_sub(self.sms_without_email),
            self.sms_segments
                .saturating_sub(self.sms_without_email_segments),
        )
    }

    /// What `strategy` costs at `prices`, when `open_rate_percent` of the second wave's
    /// recipients are expected to open their email's link in time (rounded to whole
    /// messages, half up).
    pub fn estimate(
        &self,
        strategy: Strategy,
        prices: &Prices,
        open_rate_percent: u32,
    ) -> StrategyEstimate {
        let (emails, sms, segments) = match strategy {
            Strategy::Both => (self.email, self.sms, self.sms_segments),
            Strategy::SmsOnly => (0, self.sms, self.sms_segments),
            Strategy::EmailOnly => (self.email, 0, 0),
            Strategy::EmailFirst => (
                self.email,
                self.sms_without_email,
                self.sms_without_email_segments,
            ),
        };
        let (wave_sms, wave_segments) = match strategy {
            Strategy::EmailFirst => {
                let unopened = u64::from(100 - open_rate_percent.min(100));
                let (n, s) = self.second_wave();
                ((n * unopened + 50) / 100, (s * unopened + 50) / 100)
            }
            _ => (0, 0),
        };
        let first = prices.estimate(segments, emails);
        let wave = prices.estimate(wave_segments, 0);
        StrategyEstimate {
            strategy,
            emails,
            first_round_sms: sms,
            first_round_segments: segments,
            second_wave_sms: wave_sms,
            second_wave_segments: wave_segments,
            first_round_cost: first,
            second_wave_cost: wave,
            total: Money(first.0 + wave.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach() -> Reach {
        Reach {
            email: 80,
            sms: 90,
            sms_segments: 95,
            sms_without_email: 15,
            sms_without_email_segments: 16,
        }
    }

    #[test]
    fn each_strategy_prices_what_it_sends() {
        let p = Prices {
            sms_segment: Money(1_000_000),
            email: Money(10_000),
        };
        let r = reach();
        assert_eq!(r.estimate(Strategy::Both, &p, 50).total, Money(95_800_000));
        assert_eq!(
            r.estimate(Strategy::SmsOnly, &p, 50).total,
            Money(95_000_000)
        );
        assert_eq!(
            r.estimate(Strategy::EmailOnly, &p, 50).total,
            Money(800_000)
        );
        let first = r.estimate(Strategy::EmailFirst, &p, 40);
        // 75 SMS with 79 segments in the wave; 60% of them not opened.
        assert_eq!(
            (first.second_wave_sms, first.second_wave_segments),
            (45, 47)
        );
        assert_eq!(first.first_round_cost, Money(16_800_000));
        assert_eq!(first.total, Money(63_800_000));
        // Nobody opens: email_first costs what both does, in two waves.
        assert_eq!(
            r.estimate(Strategy::EmailFirst, &p, 0).total,
            r.estimate(Strategy::Both, &p, 0).total
        );
    }

    #[test]
    fn strategies_and_channels_agree() {
        let both = Channel::ALL.to_vec();
        assert_eq!(Strategy::resolve(None, &both).unwrap(), Strategy::Both);
        assert_eq!(
            Strategy::resolve(None, &[Channel::Email]).unwrap(),
            Strategy::EmailOnly
        );
        assert_eq!(
            Strategy::resolve(Some(Strategy::EmailFirst), &both).unwrap(),
            Strategy::EmailFirst
        );
        let err = Strategy::resolve(Some(Strategy::EmailFirst), &[Channel::Sms]).unwrap_err();
        assert!(err.to_string().contains("strategy"), "{err}");
        assert_eq!(Strategy::parse("Email-First"), Ok(Strategy::EmailFirst));
        assert!(Strategy::parse("cheapest").is_err());
        assert_eq!(Strategy::EmailFirst.text_round(1), 0);
        assert_eq!(Strategy::EmailFirst.text_round(3), 2);
        assert_eq!(Strategy::Both.text_round(2), 2);
    }
}
