//! Time-based one-time passwords (RFC 6238): SHA-1, 6 digits, 30-second steps, one step
//! of skew either way; enrolment as an `otpauth://` URI and a QR code.
//!
//! Codes are made by `totp-rs`; checking is done here, step by step, because medicare
//! needs to know *which* step matched: a code is accepted only when its step is later
//! than the last step accepted for that operator, so a code (or an older one) is never
//! accepted twice. All three candidate steps are always computed and compared in
//! constant time.

use super::Username;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use std::fmt;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Digits in a code.
pub const TOTP_DIGITS: usize = 6;
/// Seconds in a time step.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Steps of clock skew accepted either side of now.
pub const TOTP_SKEW_STEPS: u64 = 1;
/// Bytes in a generated secret (160 bits, as RFC 4226 recommends).
pub const TOTP_SECRET_BYTES: usize = 20;
/// The issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "medicare";

/// A TOTP time step: Unix seconds divided by 30.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct TimeStep(pub u64);

impl TimeStep {
    /// The step `at` falls in; `None` before 1970.
    pub fn at(at: DateTime<Utc>) -> Option<Self> {
        u64::try_from(at.timestamp())
            .ok()
            .map(|s| TimeStep(s / TOTP_STEP_SECONDS))
    }
}

/// A TOTP shared secret (raw bytes; at least 128 bits).
pub struct TotpSecret(SecretSlice<u8>);

impl TotpSecret {
    /// A new random 160-bit secret.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TotpSecret(SecretSlice::from(bytes))
    }

    /// A secret from raw bytes (as opened from storage); refused when shorter than 128
    /// bits.
    pub fn from_bytes(bytes: SecretSlice<u8>) -> Result<Self> {
        if bytes.expose_secret().len() < 16 {
            return Err(Error::invalid("TOTP secret", "is shorter than 128 bits"));
        }
        Ok(TotpSecret(bytes))
    }

    /// The raw bytes (to seal for storage).
    pub fn bytes(&self) -> &SecretSlice<u8> {
        &self.0
    }

    fn totp(&self, algorithm: Algorithm, digits: usize, account: &str) -> Result<TOTP> {
        TOTP::new(
            algorithm,
            digits,
            // Skew is applied by `check` below, step by step.
            0,
            TOTP_STEP_SECONDS,
            self.0.expose_secret().to_vec(),
            Some(TOTP_ISSUER.to_string()),
            account.to_string(),
        )
        .map_err(|_| Error::invalid("TOTP secret", "cannot make codes (bad length)"))
    }

    /// The code for `step` (SHA-1, 6 digits).
    pub fn code_at(&self, step: TimeStep) -> Result<SecretString> {
        let totp = self.totp(Algorithm::SHA1, TOTP_DIGITS, "")?;
        Ok(SecretString::from(
            totp.generate(step.0.saturating_mul(TOTP_STEP_SECONDS)),
        ))
    }

    /// Checks `code` at `now` against the steps `now - 1 ..= now + 1`, refusing any step
    /// at or before `last_accepted`.
    pub fn check(
        &self,
        code: &TotpCode,
        now: DateTime<Utc>,
        last_accepted: Option<TimeStep>,
    ) -> Result<TotpCheck> {
        let Some(current) = TimeStep::at(now) else {
            return Ok(TotpCheck::Wrong);
        };
        let totp = self.totp(Algorithm::SHA1, TOTP_DIGITS, "")?;
        let mut matched: Option<TimeStep> = None;
        let first = current.0.saturating_sub(TOTP_SKEW_STEPS);
        for step in first..=current.0.saturating_add(TOTP_SKEW_STEPS) {
            let expected = totp.generate(step.saturating_mul(TOTP_STEP_SECONDS));
            if bool::from(expected.as_bytes().ct_eq(code.0.expose_secret().as_bytes())) {
                // The latest matching step wins (a collision across steps is harmless).
                matched = Some(TimeStep(step));
            }
        }
        Ok(match matched {
            None => TotpCheck::Wrong,
            Some(step) if last_accepted.is_some_and(|last| step <= last) => TotpCheck::Replayed,
            Some(step) => TotpCheck::Accepted(step),
        })
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// What [`TotpSecret::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// A valid code for a step later than any accepted before; record the step.
    Accepted(TimeStep),
    /// A valid code, but for a step already used (or older): refused.
    Replayed,
    /// Not a code for any step in the window: refused.
    Wrong,
}

/// A presented code, syntactically valid (six ASCII digits; spaces ignored).
pub struct TotpCode(SecretString);

impl TotpCode {
    /// Parses what the operator typed. A malformed code is bad input (and counts as no
    /// attempt); the error never repeats it.
    pub fn parse(input: &str) -> Result<Self> {
        let digits: String = input.chars().filter(|c| *c != ' ').collect();
        if digits.len() != TOTP_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                "authentication code",
                format!("must be {TOTP_DIGITS} digits"),
            ));
        }
        Ok(TotpCode(SecretString::from(digits)))
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(..)")
    }
}

/// What an operator needs to add medicare to an authenticator app: shown once, at
/// enrolment, to that operator only.
pub struct Enrolment {
    /// The `otpauth://totp/medicare:<username>?secret=...&issuer=medicare` URI.
    pub otpauth_uri: SecretString,
    /// The URI as a QR code, an SVG document (no script, no external reference).
    pub qr_svg: SecretString,
    /// The secret in base32, for typing in by hand.
    pub secret_base32: SecretString,
}

impl Enrolment {
    /// The enrolment for `secret` and `username`.
    pub fn new(secret: &TotpSecret, username: &Username) -> Result<Self> {
        let totp = secret.totp(Algorithm::SHA1, TOTP_DIGITS, username.as_str())?;
        let uri = SecretString::from(totp.get_url());
        let qr = qrcode::QrCode::new(uri.expose_secret().as_bytes())
            .map_err(|e| Error::invalid("enrolment QR code", e.to_string()))?;
        let svg = qr
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build();
        Ok(Enrolment {
            otpauth_uri: uri,
            qr_svg: SecretString::from(svg),
            secret_base32: SecretString::from(totp.get_secret_base32()),
        })
    }
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Enrolment(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).unwrap()
    }

    fn secret(bytes: &[u8]) -> TotpSecret {
        TotpSecret::from_bytes(SecretSlice::from(bytes.to_vec())).unwrap()
    }

    /// RFC 6238 Appendix B: every algorithm, 8 digits, at every listed time.
    #[test]
    fn rfc_6238_appendix_b_test_vectors() {
        let seeds: [(Algorithm, &[u8], [&str; 6]); 3] = [
            (
                Algorithm::SHA1,
                b"12345678901234567890",
                [
                    "94287082", "07081804", "14050471", "89005924", "69279037", "65353130",
                ],
            ),
            (
                Algorithm::SHA256,
                b"12345678901234567890123456789012",
                [
                    "46119246", "68084774", "67062674", "91819424", "90698825", "77737706",
                ],
            ),
            (
                Algorithm::SHA512,
                b"1234567890123456789012345678901234567890123456789012345678901234",
                [
                    "90693936", "25091201", "99943326", "93441116", "38618901", "47863826",
                ],
            ),
        ];
        let times = [
            59u64,
            1_111_111_109,
            1_111_111_111,
            1_234_567_890,
            2_000_000_000,
            20_000_000_000,
        ];
        for (algorithm, seed, expected) in seeds {
            let totp = secret(seed).totp(algorithm, 8, "rfc").unwrap();
            for (time, code) in times.iter().zip(expected) {
                assert_eq!(totp.generate(*time), code, "{algorithm:?} at {time}");
            }
        }
        // medicare's own parameters are the 6-digit truncation of the SHA-1 vectors.
        let s = secret(b"12345678901234567890");
        let code = s.code_at(TimeStep::at(at(59)).unwrap()).unwrap();
        assert_eq!(code.expose_secret(), "287082");
        let code = TotpCode::parse("287 082").unwrap();
        assert_eq!(
            s.check(&code, at(59), None).unwrap(),
            TotpCheck::Accepted(TimeStep(1))
        );
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let s = TotpSecret::generate();
        let now = at(1_700_000_015);
        let current = TimeStep::at(now).unwrap();
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let step = TimeStep(current.0.checked_add_signed(offset).unwrap());
            let code = TotpCode::parse(s.code_at(step).unwrap().expose_secret()).unwrap();
            let got = s.check(&code, now, None).unwrap();
            if accepted {
                assert_eq!(got, TotpCheck::Accepted(step), "offset {offset}");
            } else {
                assert_eq!(got, TotpCheck::Wrong, "offset {offset}");
            }
        }
    }

    #[test]
    fn a_code_at_or_before_the_last_accepted_step_is_a_replay() {
        let s = TotpSecret::generate();
        let now = at(1_700_000_015);
        let current = TimeStep::at(now).unwrap();
        let code = TotpCode::parse(s.code_at(current).unwrap().expose_secret()).unwrap();
        let TotpCheck::Accepted(step) = s.check(&code, now, None).unwrap() else {
            panic!("first use accepted")
        };
        assert_eq!(
            s.check(&code, now, Some(step)).unwrap(),
            TotpCheck::Replayed
        );
        let previous =
            TotpCode::parse(s.code_at(TimeStep(current.0 - 1)).unwrap().expose_secret()).unwrap();
        assert_eq!(
            s.check(&previous, now, Some(step)).unwrap(),
            TotpCheck::Replayed,
            "an older code after a newer one"
        );
        let next =
            TotpCode::parse(s.code_at(TimeStep(current.0 + 1)).unwrap().expose_secret()).unwrap();
        assert_eq!(
            s.check(&next, now, Some(step)).unwrap(),
            TotpCheck::Accepted(TimeStep(current.0 + 1))
        );
    }

    #[test]
    fn malformed_codes_and_secrets_are_refused_clearly() {
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６", "123456\n"] {
            let e = TotpCode::parse(bad).unwrap_err();
            assert!(e.is_invalid_input());
            assert!(e.to_string().contains("must be 6 digits"), "{e}");
        }
        assert!(TotpSecret::from_bytes(SecretSlice::from(vec![1u8; 15])).is_err());
        let s = TotpSecret::generate();
        let code = TotpCode::parse("000000").unwrap();
        assert_eq!(s.check(&code, at(-100), None).unwrap(), TotpCheck::Wrong);
    }

    #[test]
    fn enrolment_gives_an_otpauth_uri_and_an_svg_qr_code() {
        let s = secret(b"12345678901234567890");
        let e = Enrolment::new(&s, &Username::parse("Alice").unwrap()).unwrap();
        assert_eq!(
            e.otpauth_uri.expose_secret(),
            "otpauth://totp/medicare:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=medicare"
        );
        assert_eq!(
            e.secret_base32.expose_secret(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        let svg = e.qr_svg.expose_secret();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<script") && !svg.contains("href"));
        assert!(
            !svg.contains("GEZDGNBV"),
            "the secret is drawn, not written"
        );
        assert_eq!(format!("{e:?}"), "Enrolment(..)");
    }
}
