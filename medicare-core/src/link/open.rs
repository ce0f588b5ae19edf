//! Opening a link and answering its form: the link rules every front end shares (the
//! form service, its Lambda, an integrator's own pages), as library calls on the
//! [`Engine`].
//!
//! A presented token is judged in this order, and the first failing rule decides:
//! its shape (22 URL-safe base64 characters), then its hash in the store compared in
//! constant time (unknown and tampered look alike), the campaign's state (a draft or
//! cancelled campaign's links do not exist for a patient), the link's expiry, and
//! whether it was already answered. Each refusal is a [`LinkRefusal`], never an
//! [`crate::Error`]: errors are kept for failures (the store is down), which a
//! front end shows differently. Refusals, opens and submissions are counted in the
//! metrics here, once for every front end; logs name recipient ids only.

use crate::campaign::{CampaignState, Engine};
use crate::error::{Error, Result};
use crate::form::FieldErrors;
use crate::link::{presented_token_hash, TokenHash};
use crate::metrics::{self, LinkRejection};
use crate::store::{LinkOpen, LinkRecord, Store, StoredForm, Submission, SubmitOutcome};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Why a presented link cannot be used. Front ends show each as a plain page that says
/// no more than a patient needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkRefusal {
    /// Malformed, unknown, tampered with, or of a campaign that is not (or no longer)
    /// sending: all look alike to the presenter.
    NotValid,
    /// Past its expiry.
    Expired,
    /// Already used for an accepted submission.
    Spent,
}

impl LinkRefusal {
    fn rejection(self) -> LinkRejection {
        match self {
            LinkRefusal::NotValid => LinkRejection::NotValid,
            LinkRefusal::Expired => LinkRejection::Expired,
            LinkRefusal::Spent => LinkRejection::Spent,
        }
    }

    /// Counts the refusal and hands it back.
    fn counted(self) -> Self {
        metrics::link_rejected(self.rejection());
        self
    }
}

/// A link that passed every rule, with the form it opens.
#[derive(Debug, Clone)]
pub struct OpenLink {
    /// The stored link (recipient, campaign, expiry).
    pub link: LinkRecord,
    /// The form to show.
    pub form: Arc<StoredForm>,
}

/// What became of an answer presented with a link.
#[derive(Debug)]
#[non_exhaustive]
pub enum Answered {
    /// Stored, and the link is now spent.
    Stored {
        /// The recipient who answered.
        recipient_id: i64,
    },
    /// The answers do not fit the form: nothing was stored; show the form again with a
    /// message per field.
    Invalid {
        /// The link and its form, to show again (boxed: it is the large case).
        open: Box<OpenLink>,
        /// What is wrong, per field.
        errors: FieldErrors,
    },
    /// The link cannot be used (a concurrent submission may have spent it meanwhile).
    Refused(LinkRefusal),
}

/// The rules for a stored link, given the presented token's hash and the time: `Ok` when
/// the link may be used. `stored` is what the store found for the hash, if anything.
pub fn judge(
    stored: Option<&LinkRecord>,
    presented: &TokenHash,
    now: DateTime<Utc>,
) -> Result<(), LinkRefusal> {
    let Some(link) = stored else {
        return Err(LinkRefusal::NotValid);
    };
    if !link.token_hash.ct_eq(presented) {
        return Err(LinkRefusal::NotValid);
    }
    match link.campaign_state {
        CampaignState::Sending | CampaignState::Sent => {}
        CampaignState::Draft | CampaignState::Cancelled => return Err(LinkRefusal::NotValid),
    }
    if now >= link.expires_at {
        return Err(LinkRefusal::Expired);
    }
    if link.submitted_at.is_some() {
        return Err(LinkRefusal::Spent);
    }
    Ok(())
}

impl Engine {
    /// Checks a presented token against every link rule, without recording anything:
    /// the link and its form, or why it cannot be used. `Err` only when the store fails.
    pub async fn check_link(&self, token: &str) -> Result<Result<OpenLink, LinkRefusal>> {
        let Some(hash) = presented_token_hash(token) else {
            return Ok(Err(LinkRefusal::NotValid.counted()));
        };
        let stored = self.store().link(&hash).await?;
        if let Err(refusal) = judge(stored.as_ref(), &hash, self.clock().now()) {
            return Ok(Err(refusal.counted()));
        }
        let link = stored.expect("judge accepts only a stored link");
        let form = self.forms.get(self.store(), link.form_id).await?;
        Ok(Ok(OpenLink { link, form }))
    }

    /// [`check_link`](Engine::check_link), then records the open. A failure to record
    /// the open is logged and the link still opens: the patient gets their form.
    pub async fn open_link(&self, token: &str) -> Result<Result<OpenLink, LinkRefusal>> {
        let open = match self.check_link(token).await? {
            Ok(open) => open,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let recipient = open.link.recipient_id;
        let open_at = LinkOpen {
            recipient_id: recipient,
            at: self.clock().now(),
        };
        // A failure is logged once for its group.
        let store = self.store().clone();
        self.opens
            .write(open_at, |group| record_opens(store, group))
            .await;
        metrics::link_opened();
        Ok(Ok(open))
    }

    /// Checks the link, then the answers (`raw`: the submitted name and value pairs)
    /// against its form, and stores them and spends the link in one transaction.
    pub async fn submit_answer(&self, token: &str, raw: &[(String, String)]) -> Result<Answered> {
        let open = match self.check_link(token).await? {
            Ok(open) => open,
            Err(refusal) => return Ok(Answered::Refused(refusal)),
        };
        let recipient_id = open.link.recipient_id;
        let answers = match open.form.spec.check_submission(raw) {
            Ok(answers) => answers,
            Err(errors) => {
                tracing::info!(
                    recipient = recipient_id,
                    problems = errors.len(),
                    "submission refused"
                );
                return Ok(Answered::Invalid {
                    open: Box::new(open),
                    errors,
                });
            }
        };
        let submission = Submission {
            recipient_id,
            form: open.form.clone(),
            answers,
            at: self.clock().now(),
        };
        let store = self.store().clone();
        let stored = self
            .submissions
            .write(submission, |group| submit_responses(store, group))
            .await
            .unwrap_or_else(|| Err(Error::database(sqlx::Error::WorkerCrashed)));
        match stored {
            Ok(SubmitOutcome::Stored) => {
                metrics::form_submitted();
                tracing::info!(
                    recipient = recipient_id,
                    campaign = open.link.campaign_id.0,
                    "response stored"
                );
                Ok(Answered::Stored { recipient_id })
            }
            Ok(SubmitOutcome::AlreadySubmitted) => {
                Ok(Answered::Refused(LinkRefusal::Spent.counted()))
            }
            Err(e) if e.kind() == crate::ErrorKind::AlreadyExists => {
                Ok(Answered::Refused(LinkRefusal::Spent.counted()))
            }
            Err(e) => Err(e),
        }
    }
}

/// Records a group of opens; a failure is logged once, naming recipient ids only (the
/// patients still get their forms).
async fn record_opens(store: Arc<dyn Store>, group: Vec<LinkOpen>) -> Vec<()> {
    if let Err(e) = store.record_opens(&group).await {
        let recipients: Vec<i64> = group.iter().map(|o| o.recipient_id).collect();
        tracing::error!(?recipients, error = %e, "recording link opens failed");
    }
    vec![(); group.len()]
}

/// Stores a group of submissions in one transaction; if that fails, each alone, so that
/// one bad submission (a racing duplicate, say) fails only itself.
async fn submit_responses(
    store: Arc<dyn Store>,
    group: Vec<Submission>,
) -> Vec<Result<SubmitOutcome>> {
    let failed = match store.submit_responses(&group).await {
        Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
        Err(e) if group.len() == 1 => return vec![Err(e)],
        Err(e) => e,
    };
    tracing::warn!(group = group.len(), error = %failed, "a group of submissions failed: storing each alone");
    let mut answers = Vec::with_capacity(group.len());
    for s in group {
        answers.push(
            store
                .submit_response(s.recipient_id, &s.form, &s.answers, s.at)
                .await,
        );
    }
    answers
}

#[cfg(all(test, feature = "sqlite"))]
mod tests;
