//! A behaviour suite every [`AccessStore`] must pass: the in-memory test store runs it
//! now, and each SQL backend's tests will run it when the operator tables land.
//!
//! Each function takes a fresh, empty store and panics on a violation. Times are whole
//! seconds, which every backend stores exactly.

use super::operator::NewOperatorRecord;
use super::session::SessionRecord;
use super::store::SessionCutoffs;
use super::token::NewApiTokenRecord;
use super::*;
use crate::error::Error;
use chrono::{DateTime, Duration, TimeZone, Utc};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
}

fn new_operator(name: &str) -> NewOperatorRecord {
    NewOperatorRecord {
        username: Username::parse(name).unwrap(),
        display_name: DisplayName::parse("Conformance Operator").unwrap(),
        role: Role::Analyst,
        password_hash: PasswordHash::from_stored(
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        )
        .unwrap(),
        totp_secret: SealedSecret::from_stored(vec![1, 2, 3, 4]),
        created_at: t0(),
    }
}

fn codes(seed: u8) -> Vec<RecoveryCodeHash> {
    (0..10).map(|i| RecoveryCodeHash([seed + i; 32])).collect()
}

/// Operators round-trip; usernames are unique; unknown ids and names are `None`.
pub async fn operators_round_trip(store: &dyn AccessStore) {
    let alice = store.insert_operator(&new_operator("alice")).await.unwrap();
    let bob = store.insert_operator(&new_operator("bob")).await.unwrap();
    assert_ne!(alice, bob);
    let got = store.operator(alice).await.unwrap().unwrap();
    assert_eq!(got.username.as_str(), "alice");
    assert_eq!(got.display_name.as_str(), "Conformance Operator");
    assert_eq!(got.role, Role::Analyst);
    assert_eq!(got.status, OperatorStatus::Pending);
    assert_eq!(got.password_hash, new_operator("xyz").password_hash);
    assert_eq!(got.totp_secret.as_bytes(), [1, 2, 3, 4]);
    assert_eq!(got.sign_in, SignInState::default());
    assert_eq!((got.enrolled_at, got.last_sign_in_at), (None, None));
    assert_eq!(got.created_at, t0());
    let by_name = store
        .operator_by_username(&Username::parse("ALICE").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.id, alice);
    let all: Vec<_> = store
        .operators()
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(all, [alice, bob]);
    let clash = store
        .insert_operator(&new_operator("Alice"))
        .await
        .unwrap_err();
    assert!(matches!(clash, Error::AlreadyExists { .. }), "{clash}");
    assert_eq!(
        store.operators().await.unwrap().len(),
        2,
        "nothing half-written"
    );
    assert!(store.operator(OperatorId(9999)).await.unwrap().is_none());
    let nobody = Username::parse("nobody").unwrap();
    assert!(store.operator_by_username(&nobody).await.unwrap().is_none());
}

/// The sign-in state changes only from the expected state.
pub async fn sign_in_state_is_compare_and_swap(store: &dyn AccessStore) {
    let id = store.insert_operator(&new_operator("alice")).await.unwrap();
    let locked = SignInState {
        consecutive_failures: 0,
        locks: 3,
        locked_until: Some(t0() + Duration::minutes(60)),
        last_totp_step: Some(TimeStep(59_000_000)),
    };
    assert!(store
        .swap_sign_in_state(id, &SignInState::default(), &locked)
        .await
        .unwrap());
    assert_eq!(store.operator(id).await.unwrap().unwrap().sign_in, locked);
    let other = SignInState {
        consecutive_failures: 1,
        ..SignInState::default()
    };
    assert!(!store
        .swap_sign_in_state(id, &SignInState::default(), &other)
        .await
        .unwrap());
    assert_eq!(store.operator(id).await.unwrap().unwrap().sign_in, locked);
    assert!(store.swap_sign_in_state(id, &locked, &other).await.unwrap());
    assert!(!store
        .swap_sign_in_state(OperatorId(9999), &SignInState::default(), &other)
        .await
        .unwrap());
}

/// Each [`OperatorChange`] does all it says; recovery codes are consumed once.
pub async fn changes_and_recovery_codes(store: &dyn AccessStore) {
    let id = store.insert_operator(&new_operator("alice")).await.unwrap();
    let bob = store.insert_operator(&new_operator("bob")).await.unwrap();
    let activated = OperatorChange::Activated {
        at: t0(),
        recovery_codes: codes(1),
    };
    store.change_operator(id, &activated).await.unwrap();
    store
        .change_operator(
            bob,
            &OperatorChange::Activated {
                at: t0(),
                recovery_codes: codes(100),
            },
        )
        .await
        .unwrap();
    let got = store.operator(id).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.enrolled_at),
        (OperatorStatus::Active, Some(t0()))
    );
    assert!(store.consume_recovery_code(id, &codes(1)[3]).await.unwrap());
    assert!(
        !store.consume_recovery_code(id, &codes(1)[3]).await.unwrap(),
        "once"
    );
    assert!(
        !store
            .consume_recovery_code(id, &codes(100)[0])
            .await
            .unwrap(),
        "bob's"
    );

    let later = t0() + Duration::hours(1);
    for change in [
        OperatorChange::Role(Role::Admin),
        OperatorChange::Status(OperatorStatus::Disabled),
        OperatorChange::PasswordHash(
            PasswordHash::from_stored(
                "$argon2id$v=19$m=128,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            )
            .unwrap(),
        ),
        OperatorChange::SignedIn { at: later },
    ] {
        store.change_operator(id, &change).await.unwrap();
    }
    let got = store.operator(id).await.unwrap().unwrap();
    assert_eq!(got.role, Role::Admin);
    assert_eq!(got.status, OperatorStatus::Disabled);
    assert!(got.password_hash.as_str().contains("m=128"));
    assert_eq!(got.last_sign_in_at, Some(later));

    let state = SignInState {
        consecutive_failures: 2,
        last_totp_step: Some(TimeStep(5)),
        ..SignInState::default()
    };
    assert!(store
        .swap_sign_in_state(id, &SignInState::default(), &state)
        .await
        .unwrap());
    let reset = OperatorChange::MfaReset {
        totp_secret: SealedSecret::from_stored(vec![9, 9]),
    };
    store.change_operator(id, &reset).await.unwrap();
    let got = store.operator(id).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.enrolled_at),
        (OperatorStatus::Pending, None)
    );
    assert_eq!(got.totp_secret.as_bytes(), [9, 9]);
    assert_eq!(got.sign_in, SignInState::default());
    assert!(
        !store.consume_recovery_code(id, &codes(1)[4]).await.unwrap(),
        "codes gone"
    );
    assert!(
        store
            .consume_recovery_code(bob, &codes(100)[0])
            .await
            .unwrap(),
        "bob's kept"
    );

    let missing = store
        .change_operator(OperatorId(9999), &OperatorChange::Role(Role::Admin))
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
}

fn session(operator: OperatorId, stage: Stage, created: DateTime<Utc>) -> SessionRecord {
    SessionRecord {
        id_hash: SessionId::generate().hash(),
        operator,
        stage,
        created_at: created,
        last_seen_at: created,
        second_factor_at: None,
    }
}

/// Sessions round-trip, update only their times, and are removed singly, per operator
/// and when ended.
pub async fn sessions(store: &dyn AccessStore) {
    let alice = store.insert_operator(&new_operator("alice")).await.unwrap();
    let bob = store.insert_operator(&new_operator("bob")).await.unwrap();
    let mut a = session(alice, Stage::Active, t0());
    store.insert_session(&a).await.unwrap();
    assert_eq!(store.session(&a.id_hash).await.unwrap().unwrap(), a);
    a.last_seen_at = t0() + Duration::minutes(3);
    a.second_factor_at = Some(t0() + Duration::minutes(2));
    let mut changed = a.clone();
    changed.stage = Stage::Enrolment;
    changed.operator = bob;
    store.update_session(&changed).await.unwrap();
    assert_eq!(
        store.session(&a.id_hash).await.unwrap().unwrap(),
        a,
        "times only"
    );
    store.delete_session(&a.id_hash).await.unwrap();
    assert!(store.session(&a.id_hash).await.unwrap().is_none());
    store.delete_session(&a.id_hash).await.unwrap();

    let b1 = session(bob, Stage::Active, t0());
    let b2 = session(bob, Stage::SecondFactor, t0());
    let a2 = session(alice, Stage::Active, t0());
    for s in [&b1, &b2, &a2] {
        store.insert_session(s).await.unwrap();
    }
    assert_eq!(store.delete_operator_sessions(bob).await.unwrap(), 2);
    assert!(store.session(&a2.id_hash).await.unwrap().is_some());

    // Ended: idle, too old, unfinished; the rest stay.
    let now = t0() + Duration::hours(9);
    let idle = SessionRecord {
        last_seen_at: now - Duration::minutes(20),
        ..session(alice, Stage::Active, now - Duration::hours(1))
    };
    let old = SessionRecord {
        last_seen_at: now,
        ..session(
            alice,
            Stage::Active,
            now - Duration::hours(8) - Duration::seconds(1),
        )
    };
    let unfinished = SessionRecord {
        last_seen_at: now,
        ..session(alice, Stage::SecondFactor, now - Duration::minutes(6))
    };
    let live = SessionRecord {
        last_seen_at: now,
        ..session(alice, Stage::Active, now - Duration::hours(2))
    };
    let starting = session(alice, Stage::Enrolment, now - Duration::minutes(1));
    store.delete_operator_sessions(alice).await.unwrap();
    for s in [&idle, &old, &unfinished, &live, &starting] {
        store.insert_session(s).await.unwrap();
    }
    let cutoffs = SessionCutoffs {
        last_seen_before: now - Duration::minutes(15),
        created_before: now - Duration::hours(8),
        unfinished_created_before: now - Duration::minutes(5),
    };
    assert_eq!(store.delete_ended_sessions(&cutoffs).await.unwrap(), 3);
    for (s, kept) in [
        (&idle, false),
        (&old, false),
        (&unfinished, false),
        (&live, true),
        (&starting, true),
    ] {
        assert_eq!(
            store.session(&s.id_hash).await.unwrap().is_some(),
            kept,
            "{s:?}"
        );
    }
}

/// Tokens round-trip by hash, list per operator, and are revoked once, by their owner.
pub async fn tokens(store: &dyn AccessStore) {
    let alice = store.insert_operator(&new_operator("alice")).await.unwrap();
    let bob = store.insert_operator(&new_operator("bob")).await.unwrap();
    let token = ApiToken::generate();
    let new = NewApiTokenRecord {
        operator: alice,
        name: "deploy".into(),
        hash: token.hash(),
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
    };
    let id = store.insert_token(&new).await.unwrap();
    let other = store
        .insert_token(&NewApiTokenRecord {
            operator: bob,
            hash: ApiToken::generate().hash(),
            ..new.clone()
        })
        .await
        .unwrap();
    assert_ne!(id, other);
    let got = store.token_by_hash(&token.hash()).await.unwrap().unwrap();
    assert_eq!(
        (
            got.id,
            got.operator,
            got.name.as_str(),
            got.created_at,
            got.expires_at,
            got.revoked_at
        ),
        (id, alice, "deploy", t0(), t0() + Duration::days(30), None)
    );
    assert!(store
        .token_by_hash(&ApiToken::generate().hash())
        .await
        .unwrap()
        .is_none());
    let listed: Vec<_> = store
        .operator_tokens(alice)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [id]);
    assert!(
        !store.revoke_token(bob, id, t0()).await.unwrap(),
        "not bob's"
    );
    assert!(store.revoke_token(alice, id, t0()).await.unwrap());
    assert!(!store.revoke_token(alice, id, t0()).await.unwrap(), "once");
    let got = store.token_by_hash(&token.hash()).await.unwrap().unwrap();
    assert_eq!(got.revoked_at, Some(t0()));
    assert_eq!(
        store.operator_tokens(alice).await.unwrap().len(),
        1,
        "still listed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::memory::MemoryAccessStore;

    #[tokio::test]
    async fn the_memory_store_conforms() {
        operators_round_trip(&MemoryAccessStore::default()).await;
        sign_in_state_is_compare_and_swap(&MemoryAccessStore::default()).await;
        changes_and_recovery_codes(&MemoryAccessStore::default()).await;
        sessions(&MemoryAccessStore::default()).await;
        tokens(&MemoryAccessStore::default()).await;
    }
}
