//! The hash chain: the canonical encoding of an event, and how each hash is made.
//!
//! ## The canonical encoding (version 1)
//!
//! An entry is encoded as UTF-8 text, nine lines, each ending with one `\n` (0x0A):
//!
//! ```text
//! medicare-audit-v1
//! seq=<seq, decimal, no leading zeros>
//! at=<time, UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ: always six fractional digits>
//! actor=<actor, e.g. operator:7, local:alice, patient-link:42, system:reminders>
//! action=<action, e.g. campaign_create>
//! target=<kind:id pairs joined by ',', empty for none>
//! outcome=<ok | denied | failed>
//! detail=<key=value pairs joined by ',', empty for none>
//! request=<request id, empty for none>
//! ```
//!
//! No part can hold a line break (every part is a number, a fixed word or an id of
//! ASCII letters, digits, `.`, `_`, `-`, `:`, `,`, `=`), so the encoding is unambiguous.
//!
//! `hash = SHA-256(prev_hash || encoding)`, where `prev_hash` is the 32 raw bytes of the
//! previous entry's hash, and 32 zero bytes for `seq = 1`. An auditor can recompute the
//! chain from an export with any tool, e.g. in a shell:
//!
//! ```text
//! { printf '%s' "$PREV_HASH_HEX" | xxd -r -p; printf 'medicare-audit-v1\nseq=1\n...'; } | sha256sum
//! ```

use super::event::{AuditEvent, LedgerEntry};
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// The first line of every encoding: the version of this format.
pub const VERSION_LINE: &str = "medicare-audit-v1";

/// A time as the encoding writes it (six fractional digits, `Z`).
pub fn encode_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The canonical encoding of an entry's parts (see the module documentation).
#[allow(clippy::too_many_arguments)]
pub fn encode(
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &str,
    request: &str,
) -> String {
    format!(
        "{VERSION_LINE}\nseq={seq}\nat={}\nactor={actor}\naction={action}\ntarget={target}\n\
         outcome={outcome}\ndetail={detail}\nrequest={request}\n",
        encode_time(at)
    )
}

/// `SHA-256(prev_hash || encoding)`.
pub fn chain_hash(prev_hash: &[u8; 32], encoding: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(encoding.as_bytes());
    h.finalize().into()
}

/// The entry `event` becomes at `seq`, after an entry whose hash is `prev_hash`.
pub fn seal(event: &AuditEvent, seq: i64, prev_hash: [u8; 32]) -> LedgerEntry {
    let mut entry = LedgerEntry {
        seq,
        at: event.at,
        actor: event.actor.to_string(),
        action: event.action.to_string(),
        target: event.target.to_string(),
        outcome: event.outcome.to_string(),
        detail: event.detail.to_string(),
        request_id: event.request_id.as_str().to_string(),
        prev_hash,
        hash: [0; 32],
    };
    entry.hash = recompute(&entry);
    entry
}

/// The hash `entry` should have, from its stored parts and `prev_hash`.
pub fn recompute(entry: &LedgerEntry) -> [u8; 32] {
    let encoding = encode(
        entry.seq,
        entry.at,
        &entry.actor,
        &entry.action,
        &entry.target,
        &entry.outcome,
        &entry.detail,
        &entry.request_id,
    );
    chain_hash(&entry.prev_hash, &encoding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, Actor, Target};
    use chrono::TimeZone;

    #[test]
    fn the_encoding_is_the_documented_one_and_the_hash_is_sha256_over_it() {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 9, 5, 7).unwrap();
        let event = AuditEvent::new(
            at,
            Actor::local("alice").unwrap(),
            Action::FormCreate,
            Target::none().with_id(crate::audit::TargetKind::Form, 3),
        );
        let entry = seal(&event, 1, GENESIS);
        let text = "medicare-audit-v1\nseq=1\nat=2026-11-30T09:05:07.000000Z\nactor=local:alice\n\
                    action=form_create\ntarget=form:3\noutcome=ok\ndetail=\nrequest=\n";
        let mut bytes = vec![0u8; 32];
        bytes.extend_from_slice(text.as_bytes());
        // The same digest computed without this module's helpers.
        let expected: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(entry.hash, expected);
        // The next entry chains on it.
        let next = seal(&event, 2, entry.hash);
        assert_eq!(next.prev_hash, entry.hash);
        assert_ne!(next.hash, entry.hash);
    }
}
