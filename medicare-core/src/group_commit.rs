//! Concurrent writes grouped into one transaction: a group commit.
//!
//! The form service records every link open before it shows the form, and every answer
//! before it thanks the patient; each is a transaction with its ledger event. One
//! transaction each would make the database's commit the service's limit (and on
//! SQLite, concurrent writers queue on its one write lock). Instead a write joins a
//! queue; whoever holds the writer's turn takes the whole queue and writes it as one
//! group, and the writes that arrive meanwhile form the next group. Alone, a write goes
//! at once, as before; under load each costs a share of one commit. Each writer hears
//! its own answer, and a group is written and answered to its end even if the writer
//! that took it goes away.

use crate::task::detached;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use tokio::sync::oneshot;

/// A write waiting for its group, and how its writer hears the answer.
type Waiting<T, R> = (T, oneshot::Sender<R>);

/// The queue of writes not yet made and the writer's turn. Share it (in an `Arc`) among
/// everyone whose writes may be grouped.
#[derive(Debug)]
pub(crate) struct GroupCommit<T, R> {
    queue: Mutex<Vec<Waiting<T, R>>>,
    turn: tokio::sync::Mutex<()>,
}

impl<T, R> Default for GroupCommit<T, R> {
    fn default() -> Self {
        GroupCommit {
            queue: Mutex::new(Vec::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Writes `item` in the group it joins: `write` (called only if this writer takes
    /// the group) gets the group's items in arrival order and answers each, in order.
    /// `None` if the answer was lost (the group's write panicked or was dropped).
    pub(crate) async fn write<W, F>(&self, item: T, write: W) -> Option<R>
    where
        W: FnOnce(Vec<T>) -> F,
        F: Future<Output = Vec<R>> + Send + 'static,
    {
        let (done, mut answer) = oneshot::channel();
        self.waiting().push((item, done));
        let _turn = self.turn.lock().await;
        // A writer before us may have taken this item into its group already: it
        // answers before it gives up the turn (or, cancelled, its write answers later).
        if let Ok(answer) = answer.try_recv() {
            return Some(answer);
        }
        let (items, answers): (Vec<T>, Vec<oneshot::Sender<R>>) =
            std::mem::take(&mut *self.waiting()).into_iter().unzip();
        if !items.is_empty() {
            let write = write(items);
            let written = detached(async move {
                // The write, and all it holds, is gone before anyone hears its answer.
                let written = write.await;
                for (answer, done) in written.into_iter().zip(answers) {
                    // A writer that went away needs no answer.
                    let _ = done.send(answer);
                }
                Ok(())
            })
            .await;
            if written.is_err() {
                return None;
            }
        }
        answer.await.ok()
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting<T, R>>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    type Groups = Arc<Mutex<Vec<Vec<i64>>>>;

    /// A writer that takes `pause` per group, keeps the groups, and answers each item
    /// with whether the group was written (`fail`: it was not).
    fn writer(
        groups: &Groups,
        pause: Duration,
        fail: bool,
    ) -> impl FnOnce(Vec<i64>) -> futures::future::BoxFuture<'static, Vec<bool>> {
        let groups = groups.clone();
        move |items| {
            Box::pin(async move {
                tokio::time::sleep(pause).await;
                let answers = vec![!fail; items.len()];
                groups.lock().unwrap().push(items);
                answers
            })
        }
    }

    /// Writes `n` items at once through one group commit; returns each one's answer.
    async fn write_all(
        commit: &Arc<GroupCommit<i64, bool>>,
        groups: &Groups,
        n: i64,
        fail: bool,
    ) -> Vec<bool> {
        let tasks: Vec<_> = (0..n)
            .map(|id| {
                let (commit, groups) = (commit.clone(), groups.clone());
                tokio::spawn(async move {
                    let write = writer(&groups, Duration::from_millis(5), fail);
                    commit.write(id, write).await == Some(true)
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        answers
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_groups_and_each_is_written_once() {
        let (commit, groups) = (Arc::new(GroupCommit::default()), Groups::default());
        let answers = write_all(&commit, &groups, 64, false).await;
        assert!(answers.iter().all(|&recorded| recorded));
        let groups = groups.lock().unwrap().clone();
        let mut written: Vec<i64> = groups.iter().flatten().copied().collect();
        written.sort_unstable();
        assert_eq!(written, (0..64).collect::<Vec<_>>(), "each item once");
        assert!(
            groups.len() < 16,
            "64 concurrent writes took {} groups",
            groups.len()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_group_is_reported_to_each_of_its_writers() {
        let (commit, groups) = (Arc::new(GroupCommit::default()), Groups::default());
        let answers = write_all(&commit, &groups, 8, true).await;
        assert_eq!(answers, vec![false; 8]);
        // The group commit still works afterwards.
        let fine = writer(&groups, Duration::ZERO, false);
        assert!(commit.write(100, fine).await == Some(true));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_that_goes_away_does_not_lose_its_group() {
        let (commit, groups) = (Arc::new(GroupCommit::default()), Groups::default());
        let slow = writer(&groups, Duration::from_millis(50), false);
        let gone = tokio::time::timeout(Duration::from_millis(5), commit.write(1, slow)).await;
        assert!(
            gone.is_err(),
            "the writer gave up while its group was written"
        );
        let next = writer(&groups, Duration::ZERO, false);
        assert!(commit.write(2, next).await == Some(true));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut written: Vec<i64> = groups.lock().unwrap().iter().flatten().copied().collect();
        written.sort_unstable();
        assert_eq!(written, vec![1, 2]);
    }
}
