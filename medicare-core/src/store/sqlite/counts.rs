//! A campaign's delivery counts, added up in the process on the queue's connection.
//!
//! SQLite groups with a sort: `GROUP BY channel, round, status, reason` over the 188,703
//! deliveries of a 112,500-recipient campaign sorted every row on four text columns
//! (0.15 s, of which reading the rows is 0.04 s). The groups are a handful, so reading
//! the rows once and adding each to its group in a short list costs little more than
//! the read. A send ends with these counts, and the console and `campaign status` read
//! them, so the saving comes with every look at a campaign.
//!
//! The queue's own connection ([`super::queue`]) reads them: after a send its page cache
//! already holds the deliveries. An in-memory database keeps the shared statement.

use super::SqliteStore;
use crate::campaign::{CampaignId, DeliveryCount, DeliveryStatus};
use crate::error::Result;
use crate::notify::Channel;
use crate::store::rows::{self, corrupt};
use rusqlite::types::ValueRef;
use std::collections::HashMap;

/// Every delivery of a campaign, with what its count adds up.
const DELIVERIES: &str = "SELECT channel, round, status, reason, segments, maybe_duplicate \
     FROM deliveries WHERE campaign_id = ?";

impl SqliteStore {
    /// The campaign's delivery counts by channel, round, status and reason, in the
    /// order [`rows::sort_delivery_counts`] gives.
    pub(super) async fn delivery_count_rows(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<DeliveryCount>> {
        match self.queue_connection().await? {
            Some(direct) => direct.run(move |c| add_up(c, campaign)).await,
            None => self.shared().delivery_counts(campaign).await,
        }
    }
}

/// The groups found so far, and where each is in the list.
#[derive(Default)]
struct Groups {
    counts: Vec<DeliveryCount>,
    /// By channel, round and status: where their groups are.
    index: HashMap<(Channel, i32, DeliveryStatus), Reasons>,
}

/// Where the groups of one channel, round and status are in the list: the one without
/// a reason, and those with one.
type Reasons = (Option<usize>, HashMap<String, usize>);

impl Groups {
    /// The group of a delivery, added if it is the first of its kind.
    fn of(
        &mut self,
        channel: Channel,
        round: i32,
        status: DeliveryStatus,
        reason: Option<&str>,
    ) -> &mut DeliveryCount {
        let (without, with) = self.index.entry((channel, round, status)).or_default();
        let found = match reason {
            None => *without,
            Some(reason) => with.get(reason).copied(),
        };
        let i = match found {
            Some(i) => i,
            None => {
                let i = self.counts.len();
                match reason {
                    None => *without = Some(i),
                    Some(reason) => {
                        with.insert(reason.to_string(), i);
                    }
                }
                self.counts.push(DeliveryCount {
                    channel,
                    round,
                    status,
                    reason: reason.map(str::to_string),
                    count: 0,
                    segments: 0,
                    possible_duplicates: 0,
                });
                i
            }
        };
        &mut self.counts[i]
    }
}

/// A text column of one of `campaign`'s deliveries, or null.
fn text(value: ValueRef<'_>, campaign: CampaignId) -> Result<Option<&str>> {
    value
        .as_str_or_null()
        .map_err(|e| corrupt("delivery of campaign", campaign.0, e.to_string()))
}

/// Reads the campaign's deliveries once and adds each to its group.
fn add_up(conn: &rusqlite::Connection, campaign: CampaignId) -> Result<Vec<DeliveryCount>> {
    let bad = |why: String| corrupt("delivery of campaign", campaign.0, why);
    let mut groups = Groups::default();
    let mut select = conn.prepare_cached(DELIVERIES)?;
    let mut found = select.query([campaign.0])?;
    while let Some(row) = found.next()? {
        let channel = text(row.get_ref(0)?, campaign)?.unwrap_or_default();
        let channel = Channel::parse(channel).map_err(bad)?;
        let round =
            i32::try_from(row.get::<_, i64>(1)?).map_err(|_| bad("a round out of range".into()))?;
        let status = text(row.get_ref(2)?, campaign)?.unwrap_or_default();
        let status = DeliveryStatus::parse(status)
            .ok_or_else(|| bad(format!("unknown status {status:?}")))?;
        let reason = text(row.get_ref(3)?, campaign)?;
        let segments = u64::try_from(row.get::<_, i64>(4)?).unwrap_or_default();
        let duplicate = status == DeliveryStatus::Sent && row.get::<_, i64>(5)? != 0;
        let group = groups.of(channel, round, status, reason);
        group.count += 1;
        group.segments += segments;
        group.possible_duplicates += u64::from(duplicate);
    }
    let mut counts = groups.counts;
    rows::sort_delivery_counts(&mut counts);
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::DeliveryOutcome;
    use crate::notify::Channel;
    use crate::store::sqlite::queue::Claim;
    use crate::test_support;
    use chrono::Utc;
    use std::sync::Arc;

    /// An outcome of delivery `id`.
    fn outcome(
        id: i64,
        status: DeliveryStatus,
        detail: &str,
        may_duplicate: bool,
    ) -> DeliveryOutcome {
        DeliveryOutcome {
            id,
            status,
            detail: detail.into(),
            attempts: 1,
            may_duplicate,
            transient: false,
            cost: None,
        }
    }

    /// Counts added up in the process are the shared statement's, group for group, over
    /// every status, two rounds and several reasons (suppressed at creation, failed two
    /// ways, possible duplicates, still in flight, still pending).
    #[tokio::test]
    async fn added_up_counts_are_the_grouped_statements() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("counts.db"))
            .await
            .unwrap();
        let id = test_support::populate(Arc::new(store.clone()), dir.path(), 400, 20).await;
        let claim = |channel, limit| Claim {
            campaign: id,
            channel,
            round: 1,
            shard: None,
            limit,
        };
        let sms = store
            .claim_rows(claim(Channel::Sms, 12), Utc::now())
            .await
            .unwrap();
        let email = store
            .claim_rows(claim(Channel::Email, 3), Utc::now())
            .await
            .unwrap();
        assert_eq!(
            (sms.len(), email.len()),
            (12, 3),
            "the reminder round has a queue"
        );
        let outcomes: Vec<_> = sms[..10]
            .iter()
            .enumerate()
            .map(|(i, d)| match i % 4 {
                0 => outcome(d.id, DeliveryStatus::Sent, "m-1", true),
                1 => outcome(d.id, DeliveryStatus::Sent, "m-2", false),
                2 => outcome(d.id, DeliveryStatus::Failed, "invalid number", false),
                _ => outcome(d.id, DeliveryStatus::Failed, "throttled", false),
            })
            .collect();
        store
            .record_outcome_rows(&outcomes, Utc::now())
            .await
            .unwrap();

        let added = store.delivery_count_rows(id).await.unwrap();
        let grouped = store.shared().delivery_counts(id).await.unwrap();
        assert_eq!(added, grouped);
        let has = |status, reason: Option<&str>| {
            added
                .iter()
                .any(|c| c.status == status && c.reason.as_deref() == reason)
        };
        assert!(has(DeliveryStatus::Sending, None));
        assert!(has(DeliveryStatus::Pending, None));
        assert!(has(DeliveryStatus::Failed, Some("throttled")));
        assert!(has(DeliveryStatus::Failed, Some("invalid number")));
        assert!(added.iter().any(|c| c.possible_duplicates > 0));
        assert!(added.iter().any(|c| c.round == 0) && added.iter().any(|c| c.round == 1));
    }

    /// A delivery whose status the code does not know is reported as corrupt, naming
    /// the campaign, not counted.
    #[tokio::test]
    async fn an_unknown_status_is_reported_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("counts.db"))
            .await
            .unwrap();
        let id = test_support::populate(Arc::new(store.clone()), dir.path(), 50, 0).await;
        let direct = store.queue_connection().await.unwrap().unwrap();
        let campaign = id.0;
        let error = direct
            .run(move |c| {
                // The table's check refuses such a status; a damaged file need not.
                c.execute_batch("PRAGMA ignore_check_constraints = ON")?;
                c.execute(
                    "UPDATE deliveries SET status = 'lost' WHERE id = \
                     (SELECT min(id) FROM deliveries WHERE campaign_id = ?)",
                    [campaign],
                )?;
                Ok(add_up(c, id).unwrap_err().to_string())
            })
            .await
            .unwrap();
        assert!(
            error.contains("lost") && error.contains(&id.0.to_string()),
            "{error}"
        );
    }
}
