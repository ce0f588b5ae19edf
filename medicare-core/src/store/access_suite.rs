//! What every SQL backend's access tests run (test builds only): the access conformance
//! suite's checks, the sign-in refusals issue 9 asks to see on every database (a
//! replayed code, a code two steps away, the sixth failure on a locked account), and a
//! backup round trip that keeps operators, sessions and tokens.

use crate::access::conformance as c;
use crate::access::password::cheap_hasher;
use crate::access::service::SecondFactor;
use crate::access::{
    AccessError, AccessStore, DisplayName, Enrolment, LocalSealer, NewOperator, Refusal, Role,
    Service, TimeStep, TotpSecret, Username,
};
use crate::clock::{Clock, FixedClock};
use crate::store::snapshot::{RestoreTarget, SnapshotSource};
use chrono::{Duration, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::sync::Arc;

/// Runs every access conformance check, each on a fresh store from `fresh`.
pub(crate) async fn conformance<S, F, Fut>(fresh: F)
where
    S: AccessStore + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    c::operators_round_trip(&fresh().await).await;
    c::sign_in_state_is_compare_and_swap(&fresh().await).await;
    c::changes_and_recovery_codes(&fresh().await).await;
    c::sessions(&fresh().await).await;
    c::tokens(&fresh().await).await;
}

const PASSWORD: &str = "violet kettle sunrise";

fn password() -> SecretString {
    SecretString::from(PASSWORD.to_string())
}

/// The code an authenticator app shows `steps` steps from `clock`'s now, from what
/// enrolment showed.
fn code(enrolment: &Enrolment, clock: &FixedClock, steps: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(enrolment.secret_base32.expose_secret().to_string())
        .to_bytes()
        .expect("the enrolment secret is base32");
    let secret = TotpSecret::from_bytes(bytes.into()).expect("a TOTP secret");
    let now = TimeStep::at(clock.now()).expect("a time step").0;
    let step = TimeStep(now.checked_add_signed(steps).expect("a step"));
    secret
        .code_at(step)
        .expect("a code")
        .expose_secret()
        .to_string()
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, AccessError>, why: Refusal) {
    match result {
        Err(AccessError::SignInRefused { reason, .. }) => assert_eq!(reason, why),
        other => panic!("expected {why:?}, got {other:?}"),
    }
}

/// Through the sign-in service on `store`: a replayed code, codes two steps before and
/// after now, and the sixth attempt after five failures (a right code, on a locked
/// account) are all refused; the lock shows, and an admin's unlock lifts it.
pub(crate) async fn sign_in_refusals(store: Arc<dyn AccessStore>) {
    // Five seconds into a 30-second step.
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 5).unwrap(),
    ));
    let service = Service::new(
        store.clone(),
        Arc::new(LocalSealer::new(SecretBox::new(Box::new([7u8; 32])))),
        clock.clone(),
        cheap_hasher(),
    );
    let new = NewOperator {
        username: Username::parse("alice").unwrap(),
        display_name: DisplayName::parse("Alice Operator").unwrap(),
        role: Role::Admin,
    };
    let (id, enrolment) = service.add_operator(new, password()).await.unwrap();
    let pending = service.sign_in("ALICE", &password()).await.unwrap();
    let first = code(&enrolment, &clock, 0);
    service
        .confirm_enrolment(&pending.id, &first)
        .await
        .unwrap();

    // The same code again, in the same step: a replay.
    let pending = service.sign_in("alice", &password()).await.unwrap();
    assert_refused(
        service
            .second_factor(&pending.id, SecondFactor::Totp(&first))
            .await,
        Refusal::ReplayedCode,
    );
    // Next step: codes two steps away either way are refused, the current one works.
    clock.advance(Duration::seconds(30));
    for steps in [-2, 2] {
        assert_refused(
            service
                .second_factor(
                    &pending.id,
                    SecondFactor::Totp(&code(&enrolment, &clock, steps)),
                )
                .await,
            Refusal::WrongCode,
        );
    }
    let failures = store.operator(id).await.unwrap().unwrap().sign_in;
    assert_eq!(failures.consecutive_failures, 3, "each refusal counted");
    service
        .second_factor(
            &pending.id,
            SecondFactor::Totp(&code(&enrolment, &clock, 0)),
        )
        .await
        .unwrap();
    let state = store.operator(id).await.unwrap().unwrap().sign_in;
    assert_eq!(state.consecutive_failures, 0, "a sign-in resets the count");
    assert!(state.last_totp_step.is_some());

    // Five wrong codes lock; the sixth attempt, with the right code, is refused.
    clock.advance(Duration::seconds(30));
    let pending = service.sign_in("alice", &password()).await.unwrap();
    for _ in 0..5 {
        assert_refused(
            service
                .second_factor(
                    &pending.id,
                    SecondFactor::Totp(&code(&enrolment, &clock, 5)),
                )
                .await,
            Refusal::WrongCode,
        );
    }
    let right = code(&enrolment, &clock, 0);
    assert_refused(
        service
            .second_factor(&pending.id, SecondFactor::Totp(&right))
            .await,
        Refusal::Locked,
    );
    assert_refused(service.sign_in("alice", &password()).await, Refusal::Locked);
    assert_eq!(
        service.operator_by_username("alice").await.unwrap().status,
        "locked"
    );
    service.unlock(id).await.unwrap();
    let pending = service.sign_in("alice", &password()).await.unwrap();
    service
        .second_factor(&pending.id, SecondFactor::Totp(&right))
        .await
        .unwrap();

    // Each step is in the ledger, in order: what changed in its own transaction, what
    // was refused without a write on its own; the operator themself once proved.
    let entries = crate::audit::all_entries(store.as_ref()).await.unwrap();
    let got: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            let reason = e.detail.split(',').find_map(|p| p.strip_prefix("reason="));
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.outcome.as_str(),
                reason.unwrap_or(""),
            )
        })
        .collect();
    let (nobody, alice) = ("system:unattributed", format!("operator:{}", id.0));
    let failed = (nobody, "sign_in", "failed", "wrong_credential");
    let locked = (nobody, "sign_in", "failed", "locked");
    let signed_in = (alice.as_str(), "sign_in", "ok", "");
    let mut want = vec![
        (nobody, "operator_change", "ok", ""),
        (alice.as_str(), "enrolment", "ok", ""),
        signed_in,
        failed,
        failed,
        failed,
        signed_in,
    ];
    want.extend([failed; 5]);
    want.extend([
        (nobody, "lockout", "ok", ""),
        locked,
        locked,
        (nobody, "operator_change", "ok", ""),
        signed_in,
    ]);
    assert_eq!(got, want);
    let target = format!("operator:{}", id.0);
    assert!(entries.iter().all(|e| e.target == target), "{entries:?}");
    assert_eq!(entries[0].detail, "change=added,role=admin");
    assert_eq!(entries[12].detail, "locks=1");
    assert_eq!(entries[15].detail, "change=unlock");
}

/// Copies every table of `source` into the empty `target` through the snapshot traits
/// (what a backup and a restore do, without the files), and checks that the operator,
/// their session and token arrived.
pub(crate) async fn backup_keeps_operators<S, T>(source: Arc<S>, target: Arc<T>)
where
    S: AccessStore + SnapshotSource + 'static,
    T: AccessStore + RestoreTarget + 'static,
{
    sign_in_refusals(source.clone()).await;
    let alice = Username::parse("alice").unwrap();
    let before = source.operator_by_username(&alice).await.unwrap().unwrap();
    let token = crate::access::ApiToken::generate();
    let token_id = source
        .insert_token(&crate::access::token::NewApiTokenRecord {
            operator: before.id,
            name: "ci".into(),
            hash: token.hash(),
            created_at: before.created_at,
            expires_at: before.created_at + Duration::days(30),
        })
        .await
        .unwrap();
    let mut snapshot = source.open_snapshot().await.unwrap();
    let tables = snapshot.tables().to_vec();
    for name in [
        "operators",
        "operator_recovery_codes",
        "operator_sessions",
        "operator_tokens",
    ] {
        assert!(tables.iter().any(|t| t.name == name), "{name} is backed up");
    }
    let mut restore = target.begin_restore(false).await.unwrap();
    for table in &tables {
        let mut rows = Collect::default();
        snapshot.scan(table, &mut rows).await.unwrap();
        restore.prepare_table(table).await.unwrap();
        if !rows.0.is_empty() {
            restore.insert(table, rows.0).await.unwrap();
        }
    }
    restore.commit().await.unwrap();
    drop(snapshot);
    let after = target.operator_by_username(&alice).await.unwrap().unwrap();
    assert_eq!(
        (
            after.id,
            after.role,
            after.status,
            after.sign_in,
            after.created_at
        ),
        (
            before.id,
            before.role,
            before.status,
            before.sign_in,
            before.created_at
        )
    );
    assert_eq!(after.totp_secret.as_bytes(), before.totp_secret.as_bytes());
    assert_eq!(after.password_hash, before.password_hash);
    let restored = target.token_by_hash(&token.hash()).await.unwrap().unwrap();
    assert_eq!((restored.id, restored.operator), (token_id, before.id));
    assert_eq!(
        target.operators().await.unwrap().len(),
        source.operators().await.unwrap().len()
    );
}

/// Every row a scan yields.
#[derive(Default)]
pub(crate) struct Collect(pub(crate) Vec<crate::store::snapshot::Row>);

#[async_trait::async_trait]
impl crate::store::snapshot::RowVisitor for Collect {
    async fn rows(&mut self, batch: Vec<crate::store::snapshot::Row>) -> crate::Result<()> {
        self.0.extend(batch);
        Ok(())
    }
}
