//! Kinds and retention: which backup to take today, and which ones may go.
//!
//! A full is taken when the newest full is a week old (or there is none); every other
//! day takes an incremental on top of the newest full (so restoring any day needs at
//! most two objects). Retention keeps every backup of the last `retention_days` days,
//! and any older full that a kept incremental still needs; everything else may go.

use super::manifest::{BackupKind, Manifest};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

/// How often fulls are taken and how long backups are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Days between fulls (7: a weekly full).
    pub full_every_days: i64,
    /// Days a backup is kept (35 by default).
    pub retention_days: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            full_every_days: 7,
            retention_days: 35,
        }
    }
}

impl Policy {
    /// The kind of backup to take at `now`, and the parent for an incremental.
    /// `backups` are the complete backups, oldest first.
    pub fn next_kind(
        &self,
        backups: &[Manifest],
        now: DateTime<Utc>,
    ) -> (BackupKind, Option<String>) {
        match backups.iter().rev().find(|m| m.kind == BackupKind::Full) {
            Some(full) if now - full.created_at < Duration::days(self.full_every_days) => {
                (BackupKind::Incremental, Some(full.id.clone()))
            }
            _ => (BackupKind::Full, None),
        }
    }

    /// What retention would delete at `now`, and why the rest is kept.
    pub fn plan(&self, backups: &[Manifest], now: DateTime<Utc>) -> PrunePlan {
        let cutoff = now - Duration::days(self.retention_days);
        let recent: Vec<&Manifest> = backups.iter().filter(|m| m.created_at > cutoff).collect();
        let needed: BTreeSet<&str> = recent.iter().filter_map(|m| m.parent.as_deref()).collect();
        let mut plan = PrunePlan::default();
        for m in backups {
            if m.created_at > cutoff {
                plan.keep.push(m.id.clone());
            } else if needed.contains(m.id.as_str()) {
                plan.keep_as_parent.push(m.id.clone());
            } else {
                plan.delete.push(m.id.clone());
            }
        }
        plan
    }
}

/// What a prune does (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrunePlan {
    /// Backups within the retention window.
    pub keep: Vec<String>,
    /// Older fulls kept because a kept incremental needs them.
    pub keep_as_parent: Vec<String>,
    /// Backups to delete (manifest and object).
    pub delete: Vec<String>,
    /// Objects no kept manifest names (left by interrupted runs), to delete.
    pub orphans: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::ObjectRef;

    fn manifest(day: i64, kind: BackupKind, parent: Option<i64>) -> Manifest {
        let at = |d: i64| DateTime::from_timestamp(1_767_225_600 + d * 86_400, 0).unwrap();
        Manifest {
            format_version: 1,
            id: format!("d{day:03}"),
            created_at: at(day),
            kind,
            parent: parent.map(|p| format!("d{p:03}")),
            tables: vec![],
            object: ObjectRef {
                key: format!("data/{day}.age"),
                sha256: String::new(),
                size: 0,
            },
            recipients: vec![],
        }
    }

    #[test]
    fn a_full_an_incremental_needs_outlives_the_window() {
        let backups = vec![
            manifest(0, BackupKind::Full, None),
            manifest(1, BackupKind::Incremental, Some(0)),
            manifest(7, BackupKind::Full, None),
            manifest(8, BackupKind::Incremental, Some(7)),
        ];
        let p = Policy::default().plan(&backups, backups[3].created_at);
        assert!(p.delete.is_empty() && p.keep.len() == 4);
        let policy = Policy {
            full_every_days: 7,
            retention_days: 3,
        };
        let plan = policy.plan(&backups, backups[3].created_at + Duration::days(2));
        assert_eq!(plan.keep, vec!["d008"]);
        assert_eq!(plan.keep_as_parent, vec!["d007"]);
        assert_eq!(plan.delete, vec!["d000", "d001"]);
    }

    #[test]
    fn weekly_full_then_incrementals() {
        let p = Policy::default();
        let first = manifest(0, BackupKind::Full, None);
        assert_eq!(p.next_kind(&[], first.created_at).0, BackupKind::Full);
        let t0 = first.created_at;
        let at = |d| t0 + Duration::days(d);
        assert_eq!(
            p.next_kind(std::slice::from_ref(&first), at(6)),
            (BackupKind::Incremental, Some("d000".to_string()))
        );
        assert_eq!(p.next_kind(&[first], at(7)).0, BackupKind::Full);
    }
}
