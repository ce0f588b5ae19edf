//! A connection of its own to the SQLite file, on a thread of its own, for the work that
//! moves every row of the database: backup snapshots ([`super::reader`]) and restores
//! ([`super::writer`]).
//!
//! sqlx hands rows and bound values between the caller and its connection thread one
//! at a time, copying each value on the way; for a backup or a restore of a whole
//! database that hand-over cost more than SQLite's own work. rusqlite (over the same
//! SQLite library sqlx links) runs those statements directly, on this thread; callers
//! send it jobs and await their results.

use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// A job for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A rusqlite connection on its own thread. Dropping it closes the connection (an open
/// transaction rolls back) and waits for the thread to end.
pub(super) struct Direct {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The error when the connection's thread is gone.
pub(super) fn stopped() -> Error {
    Error::Conflict("the SQLite connection's thread stopped before its work was done".into())
}

impl Direct {
    /// Opens the database file at `path` (which must exist) on a new thread named `name`.
    pub(super) async fn open(path: PathBuf, name: &str) -> Result<Self> {
        let (opened, ready) = oneshot::channel();
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .and_then(|c| {
                    c.busy_timeout(std::time::Duration::from_secs(30))?;
                    Ok(c)
                });
                let mut conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = opened.send(Err(Error::from(e)));
                        return;
                    }
                };
                if opened.send(Ok(())).is_err() {
                    return;
                }
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| Error::io(format!("the {name} thread"), e))?;
        let direct = Direct {
            jobs: Some(jobs),
            thread: Some(thread),
        };
        ready.await.map_err(|_| stopped())??;
        Ok(direct)
    }

    /// Runs `job` on the connection's thread and returns its result.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done, result) = oneshot::channel();
        self.send(move |conn| {
            let _ = done.send(job(conn));
        })?;
        result.await.map_err(|_| stopped())?
    }

    /// Queues `job` on the connection's thread without waiting for it.
    pub(super) fn send(&self, job: impl FnOnce(&mut Connection) + Send + 'static) -> Result<()> {
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(Box::new(job))
            .map_err(|_| stopped())
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        // Closing the queue ends the thread after its current job; its connection closes
        // with it. Waiting keeps "dropped" meaning "rolled back and closed".
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The first column, as text, of every row `sql` returns with `params`.
pub(super) fn strings(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<String>> {
    Ok(conn
        .prepare(sql)?
        .query_map(params, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}
