//! Who is acting, for the store methods that append an event inside their own
//! transaction.
//!
//! The store traits do not take an actor: a store method that changes patient data
//! (importing, creating a form or a campaign, changing a campaign's state, planning a
//! reminder round) reads the acting [`AuditContext`] of the task it runs in and appends
//! its event in its transaction. Callers set it once around what they do with [`scope`]
//! (the CLI as `local:<os user>`, the server per request as the signed-in operator, jobs
//! as `system:<job>`), or through [`crate::campaign::Engine::acting_as`]. A store method
//! called outside any scope records `system:unattributed`, so nothing goes unrecorded
//! and the gap shows in the ledger. Patient actions (a link opened, a form submitted)
//! name the recipient whatever the scope.

use super::event::{Action, Actor, AuditEvent, Detail, RequestId, Target};
use chrono::{DateTime, Utc};
use std::future::Future;

/// The acting party and the request it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// Who acts.
    pub actor: Actor,
    /// The request being served, if any.
    pub request_id: RequestId,
    /// What the caller knows about the action and the store does not (the SHA-256 of an
    /// imported file): added after the event's own detail of every event recorded in
    /// this scope.
    pub noted: Detail,
}

impl AuditContext {
    /// `actor`, outside any request.
    pub fn new(actor: Actor) -> AuditContext {
        AuditContext {
            actor,
            request_id: RequestId::none(),
            noted: Detail::none(),
        }
    }

    /// Noting `detail` on every event recorded in this scope (see [`AuditContext::noted`]).
    pub fn noting(mut self, detail: Detail) -> AuditContext {
        self.noted = detail;
        self
    }

    /// The same request and notes, acted by `actor` (a patient's link, an operator who
    /// has just signed in).
    pub fn acted_by(mut self, actor: Actor) -> AuditContext {
        self.actor = actor;
        self
    }

    /// Serving `request`.
    pub fn with_request(mut self, request: RequestId) -> AuditContext {
        self.request_id = request;
        self
    }

    /// An `action` of this actor on `target`, with `detail`, at `at`.
    pub fn event(
        &self,
        at: DateTime<Utc>,
        action: Action,
        target: Target,
        detail: Detail,
    ) -> AuditEvent {
        AuditEvent::new(at, self.actor.clone(), action, target)
            .with_detail(detail.and(&self.noted))
            .with_request(self.request_id.clone())
    }
}

tokio::task_local! {
    static CONTEXT: AuditContext;
}

/// Runs `work` with `context` as the acting party of every event it records.
pub async fn scope<F: Future>(context: AuditContext, work: F) -> F::Output {
    CONTEXT.scope(context, work).await
}

/// The acting party of the current task (`system:unattributed` outside any [`scope`]).
pub fn current() -> AuditContext {
    CONTEXT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| AuditContext::new(Actor::System("unattributed".to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_scope_names_the_actor_and_outside_it_nobody_is_assumed() {
        assert_eq!(current().actor.to_string(), "system:unattributed");
        let alice = AuditContext::new(Actor::local("alice").unwrap());
        let seen = scope(alice.clone(), async { current() }).await;
        assert_eq!(seen, alice);
    }
}
