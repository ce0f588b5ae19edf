//! Verification: recompute the chain from the first entry, check it against every
//! signed checkpoint, and name the first bad `seq` and what is wrong with it.

use super::chain::{recompute, GENESIS};
use super::checkpoint::StoredCheckpoint;
use super::event::LedgerEntry;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// What is wrong at a `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's stored hash is not the hash of its stored parts: it was edited.
    HashMismatch,
    /// An entry's `seq` is missing: it was deleted.
    Gap,
    /// The entry does not belong here: it was inserted (the next entry chains past it).
    Inserted,
    /// The entry chains on a later entry: entries were reordered.
    Reordered,
    /// The entry does not chain on the one before it (one before it was deleted or
    /// replaced, and the rest renumbered).
    BrokenLink,
    /// The ledger is shorter than a signed checkpoint says: its tail was dropped.
    Truncated,
    /// The entry's hash differs from the one a signed checkpoint vouches for: the chain
    /// up to it was rewritten.
    CheckpointMismatch,
    /// A checkpoint in the sink does not parse or is not signed by a trusted key.
    UntrustedCheckpoint,
}

/// The first thing wrong with the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The first bad seq.
    pub seq: i64,
    /// What is wrong.
    pub kind: ProblemKind,
    /// What is wrong, in words (seqs and hashes only).
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.message)
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// How many entries were read.
    pub entries: u64,
    /// The last entry's seq (0 when empty).
    pub head_seq: i64,
    /// The last entry's hash, hex.
    pub head_hash: String,
    /// How many checkpoints were checked.
    pub checkpoints: usize,
    /// The first problem, if any: `None` means intact.
    pub problem: Option<Problem>,
}

impl Verification {
    /// True when nothing is wrong.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

fn short(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

/// The first problem of the chain itself: `entries` in `seq` order, as stored.
fn chain_problem(entries: &[LedgerEntry]) -> Option<Problem> {
    let by_hash: HashMap<[u8; 32], i64> = entries.iter().map(|e| (e.hash, e.seq)).collect();
    let mut prev = GENESIS;
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        let problem = |kind, message: String| {
            Some(Problem {
                seq: expected_seq.min(e.seq),
                kind,
                message,
            })
        };
        if e.seq != expected_seq {
            return problem(
                ProblemKind::Gap,
                format!(
                    "missing: the entry after seq {} is seq {}",
                    expected_seq - 1,
                    e.seq
                ),
            );
        }
        if e.prev_hash != prev {
            let two_back = i.checked_sub(2).map_or(GENESIS, |j| entries[j].hash);
            if i >= 1 && e.prev_hash == two_back {
                return Some(Problem {
                    seq: e.seq - 1,
                    kind: ProblemKind::Inserted,
                    message: format!(
                        "does not belong to the chain: seq {} chains on seq {} past it",
                        e.seq,
                        e.seq - 2
                    ),
                });
            }
            if let Some(&later) = by_hash.get(&e.prev_hash).filter(|&&s| s > e.seq) {
                return problem(
                    ProblemKind::Reordered,
                    format!("out of order: it chains on seq {later}, which comes after it"),
                );
            }
            return problem(
                ProblemKind::BrokenLink,
                format!(
                    "prev_hash {} is not the hash {} of seq {}: an entry before it was deleted or replaced",
                    short(&e.prev_hash),
                    short(&prev),
                    e.seq - 1
                ),
            );
        }
        let hash = recompute(e);
        if hash != e.hash {
            return problem(
                ProblemKind::HashMismatch,
                format!(
                    "stored hash {} is not the hash {} of its contents: it was edited",
                    short(&e.hash),
                    short(&hash)
                ),
            );
        }
        prev = e.hash;
    }
    None
}

/// The first problem a checkpoint shows.
fn checkpoint_problem(
    entries: &[LedgerEntry],
    checkpoints: &[StoredCheckpoint],
) -> Option<Problem> {
    let last = entries.last().map_or(0, |e| e.seq);
    let mut found: Option<Problem> = None;
    let mut keep = |p: Problem| {
        if found.as_ref().is_none_or(|f| p.seq < f.seq) {
            found = Some(p);
        }
    };
    for stored in checkpoints {
        let Some(c) = stored.checkpoint.as_ref().filter(|_| stored.trusted) else {
            keep(Problem {
                seq: stored.checkpoint.as_ref().map_or(0, |c| c.seq),
                kind: ProblemKind::UntrustedCheckpoint,
                message: format!(
                    "checkpoint {} is not a checkpoint signed by a trusted key",
                    stored.key
                ),
            });
            continue;
        };
        if c.seq > last {
            keep(Problem {
                seq: last + 1,
                kind: ProblemKind::Truncated,
                message: format!(
                    "missing: the ledger ends at seq {last}, but checkpoint {} vouches for seq {}",
                    stored.key, c.seq
                ),
            });
            continue;
        }
        let stored_hash = usize::try_from(c.seq - 1)
            .ok()
            .and_then(|i| entries.get(i))
            .map_or(GENESIS, |e| e.hash);
        if hex::encode(stored_hash) != c.hash {
            keep(Problem {
                seq: c.seq,
                kind: ProblemKind::CheckpointMismatch,
                message: format!(
                    "hash {} is not the hash checkpoint {} vouches for: the chain up to it was rewritten",
                    short(&stored_hash),
                    stored.key
                ),
            });
        }
    }
    found
}

/// Verifies `entries` (every stored entry, in `seq` order) against `checkpoints`, and
/// names the first bad seq.
pub fn verify(entries: &[LedgerEntry], checkpoints: &[StoredCheckpoint]) -> Verification {
    let chain = chain_problem(entries);
    let anchored = checkpoint_problem(entries, checkpoints);
    let problem = match (chain, anchored) {
        (Some(a), Some(b)) => Some(if b.seq < a.seq { b } else { a }),
        (a, b) => a.or(b),
    };
    let head = entries.last();
    Verification {
        entries: entries.len() as u64,
        head_seq: head.map_or(0, |e| e.seq),
        head_hash: hex::encode(head.map_or(GENESIS, |e| e.hash)),
        checkpoints: checkpoints.len(),
        problem,
    }
}
