//! Work that must run to its end even when whoever awaits it goes away.

use crate::error::{Error, Result};

/// Runs `work` in its own task and awaits it: if the caller is cancelled (an aborted
/// task, a timed-out invocation, a dropped request), `work` still runs to its end, so a
/// transaction is never abandoned half-run with its locks held (SQLite's one writer
/// would wait on it until its busy timeout) and what it was writing is kept. A panic in
/// it is the caller's panic.
pub(crate) async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::database(sqlx::Error::WorkerCrashed)),
    }
}
