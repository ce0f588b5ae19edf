//! An in-memory [`AccessStore`] for the tests: what each SQL backend will do, kept as
//! simple as possible (one mutex, whole-state transactions).

use super::operator::NewOperatorRecord;
use super::session::SessionRecord;
use super::store::SessionCutoffs;
use super::token::NewApiTokenRecord;
use super::*;
use crate::error::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Default)]
struct State {
    ledger: Vec<crate::audit::LedgerEntry>,
    operators: Vec<OperatorRecord>,
    recovery: HashMap<OperatorId, Vec<RecoveryCodeHash>>,
    sessions: Vec<SessionRecord>,
    tokens: Vec<ApiTokenRecord>,
}

/// The in-memory store.
#[derive(Default)]
pub(crate) struct MemoryAccessStore(Mutex<State>, AtomicUsize);

impl std::fmt::Debug for MemoryAccessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryAccessStore")
    }
}

impl MemoryAccessStore {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().expect("memory store lock"))
    }

    /// How many unused recovery codes an operator has.
    pub(crate) fn recovery_codes_left(&self, id: OperatorId) -> usize {
        self.with(|s| s.recovery.get(&id).map_or(0, Vec::len))
    }

    /// Makes the next `n` compare-and-swaps of a sign-in state lose to a concurrent
    /// failure (which is counted, as another request's would be).
    pub(crate) fn contend(&self, n: usize) {
        self.1.store(n, Ordering::SeqCst);
    }

    /// The ledger events appended through [`crate::audit::AuditStore`] (the SQL stores
    /// also record the changes above; this one records only what the service appends).
    pub(crate) fn ledger(&self) -> Vec<crate::audit::LedgerEntry> {
        self.with(|s| s.ledger.clone())
    }

    /// How many sessions are stored.
    pub(crate) fn session_count(&self) -> usize {
        self.with(|s| s.sessions.len())
    }
}

fn find(state: &mut State, id: OperatorId) -> Result<&mut OperatorRecord> {
    state
        .operators
        .iter_mut()
        .find(|o| o.id == id)
        .ok_or_else(|| Error::not_found(id.to_string()))
}

#[async_trait]
impl OperatorStore for MemoryAccessStore {
    async fn insert_operator(&self, new: &NewOperatorRecord) -> Result<OperatorId> {
        self.with(|s| {
            if s.operators.iter().any(|o| o.username == new.username) {
                return Err(Error::AlreadyExists {
                    what: format!("operator {}", new.username),
                });
            }
            let id = OperatorId(s.operators.len() as i64 + 1);
            s.operators.push(OperatorRecord {
                id,
                username: new.username.clone(),
                display_name: new.display_name.clone(),
                role: new.role,
                status: OperatorStatus::Pending,
                password_hash: new.password_hash.clone(),
                totp_secret: new.totp_secret.clone(),
                sign_in: SignInState::default(),
                enrolled_at: None,
                created_at: new.created_at,
                last_sign_in_at: None,
            });
            Ok(id)
        })
    }

    async fn operator(&self, id: OperatorId) -> Result<Option<OperatorRecord>> {
        Ok(self.with(|s| s.operators.iter().find(|o| o.id == id).cloned()))
    }

    async fn operator_by_username(&self, username: &Username) -> Result<Option<OperatorRecord>> {
        Ok(self.with(|s| {
            s.operators
                .iter()
                .find(|o| o.username == *username)
                .cloned()
        }))
    }

    async fn operators(&self) -> Result<Vec<OperatorRecord>> {
        Ok(self.with(|s| s.operators.clone()))
    }

    async fn swap_sign_in_state(
        &self,
        id: OperatorId,
        expected: &SignInState,
        new: &SignInState,
    ) -> Result<bool> {
        let contended = self
            .1
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Ok(self.with(|s| match find(s, id) {
            Ok(op) if contended => {
                op.sign_in.consecutive_failures += 1;
                false
            }
            Ok(op) if op.sign_in == *expected => {
                op.sign_in = *new;
                true
            }
            _ => false,
        }))
    }

    async fn change_operator(&self, id: OperatorId, change: &OperatorChange) -> Result<()> {
        self.with(|s| {
            let op = find(s, id)?;
            match change {
                OperatorChange::Activated { at, .. } => {
                    op.status = OperatorStatus::Active;
                    op.enrolled_at = Some(*at);
                }
                OperatorChange::MfaReset { totp_secret } => {
                    op.status = OperatorStatus::Pending;
                    op.enrolled_at = None;
                    op.totp_secret = totp_secret.clone();
                    op.sign_in = SignInState::default();
                }
                OperatorChange::Status(status) => op.status = *status,
                OperatorChange::Role(role) => op.role = *role,
                OperatorChange::PasswordHash(hash) => op.password_hash = hash.clone(),
                OperatorChange::SignedIn { at } => op.last_sign_in_at = Some(*at),
                OperatorChange::Unlocked => {
                    op.sign_in = SignInState {
                        last_totp_step: op.sign_in.last_totp_step,
                        ..SignInState::default()
                    }
                }
            }
            match change {
                OperatorChange::Activated { recovery_codes, .. } => {
                    s.recovery.insert(id, recovery_codes.clone());
                }
                OperatorChange::MfaReset { .. } => {
                    s.recovery.remove(&id);
                }
                _ => {}
            }
            Ok(())
        })
    }

    async fn consume_recovery_code(&self, id: OperatorId, code: &RecoveryCodeHash) -> Result<bool> {
        Ok(self.with(|s| {
            let codes = s.recovery.entry(id).or_default();
            let before = codes.len();
            codes.retain(|c| c != code);
            codes.len() < before
        }))
    }
}

#[async_trait]
impl SessionStore for MemoryAccessStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<()> {
        self.with(|s| s.sessions.push(session.clone()));
        Ok(())
    }

    async fn session(&self, id: &SessionIdHash) -> Result<Option<SessionRecord>> {
        Ok(self.with(|s| s.sessions.iter().find(|r| r.id_hash == *id).cloned()))
    }

    async fn update_session(&self, session: &SessionRecord) -> Result<()> {
        self.with(|s| {
            if let Some(r) = s.sessions.iter_mut().find(|r| r.id_hash == session.id_hash) {
                r.last_seen_at = session.last_seen_at;
                r.second_factor_at = session.second_factor_at;
            }
        });
        Ok(())
    }

    async fn delete_session(&self, id: &SessionIdHash) -> Result<()> {
        self.with(|s| s.sessions.retain(|r| r.id_hash != *id));
        Ok(())
    }

    async fn delete_operator_sessions(&self, operator: OperatorId) -> Result<u64> {
        Ok(self.with(|s| {
            let before = s.sessions.len();
            s.sessions.retain(|r| r.operator != operator);
            (before - s.sessions.len()) as u64
        }))
    }

    async fn delete_ended_sessions(&self, c: &SessionCutoffs) -> Result<u64> {
        Ok(self.with(|s| {
            let before = s.sessions.len();
            s.sessions.retain(|r| {
                r.last_seen_at >= c.last_seen_before
                    && r.created_at >= c.created_before
                    && (r.stage == Stage::Active || r.created_at >= c.unfinished_created_before)
            });
            (before - s.sessions.len()) as u64
        }))
    }
}

#[async_trait]
impl ApiTokenStore for MemoryAccessStore {
    async fn insert_token(&self, token: &NewApiTokenRecord) -> Result<ApiTokenId> {
        Ok(self.with(|s| {
            let id = ApiTokenId(s.tokens.len() as i64 + 1);
            s.tokens.push(ApiTokenRecord {
                id,
                operator: token.operator,
                name: token.name.clone(),
                hash: token.hash,
                created_at: token.created_at,
                expires_at: token.expires_at,
                revoked_at: None,
            });
            id
        }))
    }

    async fn token_by_hash(&self, hash: &ApiTokenHash) -> Result<Option<ApiTokenRecord>> {
        Ok(self.with(|s| s.tokens.iter().find(|t| t.hash == *hash).cloned()))
    }

    async fn operator_tokens(&self, operator: OperatorId) -> Result<Vec<ApiTokenRecord>> {
        Ok(self.with(|s| {
            s.tokens
                .iter()
                .filter(|t| t.operator == operator)
                .cloned()
                .collect()
        }))
    }

    async fn revoke_token(
        &self,
        operator: OperatorId,
        id: ApiTokenId,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(self.with(|s| {
            match s
                .tokens
                .iter_mut()
                .find(|t| t.id == id && t.operator == operator && t.revoked_at.is_none())
            {
                Some(t) => {
                    t.revoked_at = Some(at);
                    true
                }
                None => false,
            }
        }))
    }
}

#[async_trait]
impl crate::audit::AuditStore for MemoryAccessStore {
    async fn append_event(
        &self,
        event: &crate::audit::AuditEvent,
    ) -> Result<crate::audit::LedgerEntry> {
        Ok(self.with(|s| {
            let (seq, prev) = s
                .ledger
                .last()
                .map_or((1, crate::audit::chain::GENESIS), |e| (e.seq + 1, e.hash));
            let entry = crate::audit::chain::seal(event, seq, prev);
            s.ledger.push(entry.clone());
            entry
        }))
    }

    async fn audit_head(&self) -> Result<(i64, [u8; 32])> {
        Ok(self.with(|s| {
            s.ledger
                .last()
                .map_or((0, crate::audit::chain::GENESIS), |e| (e.seq, e.hash))
        }))
    }

    async fn audit_entries(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<crate::audit::LedgerEntry>> {
        Ok(self.with(|s| {
            s.ledger
                .iter()
                .filter(|e| e.seq > after)
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }
}
