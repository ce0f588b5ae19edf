//! The sign-in service against the in-memory store, on a pinned clock.

use super::*;
use crate::access::memory::MemoryAccessStore;
use crate::access::{DisplayName, LocalSealer, OperatorStore as _, Permission, SealedSecret};
use crate::clock::FixedClock;
use chrono::{Duration, TimeZone};
use secrecy::SecretBox;

pub(crate) const PASSWORD: &str = "violet kettle sunrise";

pub(crate) struct Fixture {
    pub service: Service,
    pub store: Arc<MemoryAccessStore>,
    pub clock: Arc<FixedClock>,
}

pub(crate) fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

impl Fixture {
    pub fn new() -> Self {
        let store = Arc::new(MemoryAccessStore::default());
        // Five seconds into a 30-second step, so "now" and "+29 s" share a step.
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 5).unwrap(),
        ));
        let service = Service::new(
            store.clone(),
            Arc::new(LocalSealer::new(SecretBox::new(Box::new([9u8; 32])))),
            clock.clone(),
            crate::access::password::cheap_hasher(),
        );
        Fixture {
            service,
            store,
            clock,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub async fn add(&self, name: &str, role: Role) -> (OperatorId, Enrolment) {
        self.service
            .add_operator(
                NewOperator {
                    username: Username::parse(name).unwrap(),
                    display_name: DisplayName::parse("Test Operator").unwrap(),
                    role,
                },
                secret(PASSWORD),
            )
            .await
            .unwrap()
    }

    /// The code an authenticator app would show now, from what enrolment showed (as the
    /// browser test will: read the secret from the page).
    pub fn code(&self, enrolment: &Enrolment) -> String {
        self.code_at(enrolment, 0)
    }

    pub fn code_at(&self, enrolment: &Enrolment, steps_from_now: i64) -> String {
        let bytes = totp_rs::Secret::Encoded(enrolment.secret_base32.expose_secret().to_string())
            .to_bytes()
            .unwrap();
        let s = TotpSecret::from_bytes(bytes.into()).unwrap();
        let step = TimeStep::at(self.now()).unwrap().0;
        let step = TimeStep(step.checked_add_signed(steps_from_now).unwrap());
        s.code_at(step).unwrap().expose_secret().to_string()
    }

    /// Adds an operator and completes their enrolment; the clock moves to the next step.
    pub async fn enrolled(&self, name: &str, role: Role) -> (OperatorId, Enrolment) {
        let (id, enrolment, _) = self.enrolled_with_codes(name, role).await;
        (id, enrolment)
    }

    /// [`Fixture::enrolled`], with the recovery codes.
    pub async fn enrolled_with_codes(
        &self,
        name: &str,
        role: Role,
    ) -> (OperatorId, Enrolment, RecoveryCodes) {
        let (id, enrolment) = self.add(name, role).await;
        let pending = self.service.sign_in(name, &secret(PASSWORD)).await.unwrap();
        let done = self
            .service
            .confirm_enrolment(&pending.id, &self.code(&enrolment))
            .await
            .unwrap();
        self.advance(Duration::seconds(30));
        (id, enrolment, done.recovery_codes)
    }

    /// Signs in fully with a TOTP code; the clock moves to the next step.
    pub async fn signed_in(&self, name: &str, enrolment: &Enrolment) -> IssuedSession {
        let pending = self.service.sign_in(name, &secret(PASSWORD)).await.unwrap();
        let session = self
            .service
            .second_factor(&pending.id, SecondFactor::Totp(&self.code(enrolment)))
            .await
            .unwrap();
        self.advance(Duration::seconds(30));
        session
    }

    /// The status the console would show for `name`.
    pub async fn status(&self, name: &str) -> &'static str {
        self.service
            .operator_by_username(name)
            .await
            .unwrap()
            .status
    }

    pub async fn record(&self, id: OperatorId) -> OperatorRecord {
        self.store.operator(id).await.unwrap().unwrap()
    }
}

fn reason(e: &AccessError) -> Option<Refusal> {
    match e {
        AccessError::SignInRefused { reason, .. } => Some(*reason),
        _ => None,
    }
}

/// Asserts that a sign-in step was refused, for `why`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T>, why: Refusal) {
    match result {
        Err(e) => assert_eq!(reason(&e), Some(why), "{e:?}"),
        Ok(v) => panic!("accepted: {v:?}"),
    }
}

fn not_authenticated(e: &AccessError) -> Option<NotAuthenticated> {
    match e {
        AccessError::Unauthenticated(why) => Some(*why),
        _ => None,
    }
}

fn is_invalid(e: &AccessError) -> bool {
    matches!(e, AccessError::Other(inner) if inner.is_invalid_input())
}

#[tokio::test]
async fn enrol_on_first_sign_in_then_sign_in_with_a_code() {
    let f = Fixture::new();
    let (id, enrolment) = f.add("Alice", Role::CampaignManager).await;
    assert_eq!(f.record(id).await.status, OperatorStatus::Pending);

    let pending = f.service.sign_in("ALICE", &secret(PASSWORD)).await.unwrap();
    assert_eq!(pending.stage, Stage::Enrolment);
    // The unfinished session is good for nothing else.
    let e = f
        .service
        .authenticate_session(&pending.id)
        .await
        .unwrap_err();
    assert_eq!(not_authenticated(&e), Some(NotAuthenticated::WrongStage));
    let e = f
        .service
        .second_factor(&pending.id, SecondFactor::Totp(&f.code(&enrolment)))
        .await
        .unwrap_err();
    assert_eq!(not_authenticated(&e), Some(NotAuthenticated::WrongStage));
    // The enrolment can be shown again in that session (same secret).
    let shown = f.service.enrolment(&pending.id).await.unwrap();
    assert_eq!(
        shown.otpauth_uri.expose_secret(),
        enrolment.otpauth_uri.expose_secret()
    );
    assert!(enrolment
        .otpauth_uri
        .expose_secret()
        .starts_with("otpauth://totp/medicare:alice?secret="));

    // A wrong code does not activate.
    assert_refused(
        f.service
            .confirm_enrolment(&pending.id, &f.code_at(&enrolment, 3))
            .await,
        Refusal::WrongCode,
    );
    assert_eq!(f.record(id).await.status, OperatorStatus::Pending);

    let done = f
        .service
        .confirm_enrolment(&pending.id, &f.code(&enrolment))
        .await
        .unwrap();
    assert_eq!(done.session.stage, Stage::Active);
    assert_eq!(done.recovery_codes.grouped().len(), 10);
    assert_eq!(f.store.recovery_codes_left(id), 10);
    let record = f.record(id).await;
    assert_eq!(record.status, OperatorStatus::Active);
    assert_eq!(record.enrolled_at, Some(f.now()));
    assert_eq!(record.last_sign_in_at, Some(f.now()));
    assert_eq!(record.sign_in.consecutive_failures, 0, "success resets");
    // A new id after the second factor; the unfinished one is gone.
    assert_ne!(done.session.id.expose(), pending.id.expose());
    assert!(f.service.authenticate_session(&pending.id).await.is_err());
    let who = f
        .service
        .authenticate_session(&done.session.id)
        .await
        .unwrap();
    assert_eq!((who.operator(), who.role()), (id, Role::CampaignManager));

    // Later sign-ins go through the second-factor stage.
    f.advance(Duration::seconds(30));
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    assert_eq!(pending.stage, Stage::SecondFactor);
    assert!(
        f.service.enrolment(&pending.id).await.is_err(),
        "no QR after enrolment"
    );
    let session = f
        .service
        .second_factor(&pending.id, SecondFactor::Totp(&f.code(&enrolment)))
        .await
        .unwrap();
    assert_eq!(session.stage, Stage::Active);
    assert!(session.csrf.verify(session.id.csrf_token().expose()));
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_get_the_same_answer() {
    let f = Fixture::new();
    let (id, _) = f.enrolled("alice", Role::Analyst).await;
    let sessions = f.store.session_count();
    let unknown = f
        .service
        .sign_in("nobody", &secret(PASSWORD))
        .await
        .unwrap_err();
    let wrong = f
        .service
        .sign_in("alice", &secret("not the password"))
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), wrong.to_string());
    assert_eq!(reason(&unknown), Some(Refusal::UnknownUser));
    assert_eq!(reason(&wrong), Some(Refusal::WrongPassword));
    assert_eq!(f.record(id).await.sign_in.consecutive_failures, 1);
    assert_eq!(f.store.session_count(), sessions);
}

#[tokio::test]
async fn the_sixth_attempt_is_refused_while_locked_and_locks_double() {
    let f = Fixture::new();
    let (id, enrolment) = f.enrolled("alice", Role::Analyst).await;
    for _ in 0..5 {
        assert_refused(
            f.service.sign_in("alice", &secret("wrong password!")).await,
            Refusal::WrongPassword,
        );
    }
    // Sixth: even the right password is refused, with the same message.
    assert_refused(
        f.service.sign_in("alice", &secret(PASSWORD)).await,
        Refusal::Locked,
    );
    let summary = f.service.operator_by_username("alice").await.unwrap();
    assert_eq!(summary.status, "locked");
    assert_eq!(summary.locked_until, Some(f.now() + Duration::minutes(15)));

    f.advance(Duration::minutes(15));
    assert!(f.service.sign_in("alice", &secret(PASSWORD)).await.is_ok());
    // Wrong TOTP codes count too; the second lock lasts 30 minutes.
    for i in 0..5 {
        let pending = f.service.sign_in("alice", &secret(PASSWORD)).await;
        let Ok(pending) = pending else {
            panic!("attempt {i} refused before the fifth code")
        };
        assert_refused(
            f.service
                .second_factor(&pending.id, SecondFactor::Totp(&f.code_at(&enrolment, 2)))
                .await,
            Refusal::WrongCode,
        );
    }
    let record = f.record(id).await;
    assert_eq!(record.sign_in.locks, 2);
    assert_eq!(
        record.sign_in.locked_until,
        Some(f.now() + Duration::minutes(30))
    );
    // An admin can unlock.
    f.service.unlock(id).await.unwrap();
    assert_eq!(f.status("alice").await, "active");
    f.signed_in("alice", &enrolment).await;
}

#[tokio::test]
async fn a_code_is_never_accepted_twice_nor_two_steps_away() {
    let f = Fixture::new();
    let (_, enrolment) = f.enrolled("alice", Role::Analyst).await;
    let code = f.code(&enrolment);
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    f.service
        .second_factor(&pending.id, SecondFactor::Totp(&code))
        .await
        .unwrap();
    // The same code, in a new sign-in, within its validity.
    f.advance(Duration::seconds(10));
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    assert_refused(
        f.service
            .second_factor(&pending.id, SecondFactor::Totp(&code))
            .await,
        Refusal::ReplayedCode,
    );
    // The previous step's code is older than the accepted one: a replay too.
    assert_refused(
        f.service
            .second_factor(&pending.id, SecondFactor::Totp(&f.code_at(&enrolment, -1)))
            .await,
        Refusal::ReplayedCode,
    );
    for steps in [-2, 2] {
        // {steps} steps away
        assert_refused(
            f.service
                .second_factor(
                    &pending.id,
                    SecondFactor::Totp(&f.code_at(&enrolment, steps)),
                )
                .await,
            Refusal::WrongCode,
        );
    }
    // The next step's code (clock skew) is fine.
    f.service
        .second_factor(&pending.id, SecondFactor::Totp(&f.code_at(&enrolment, 1)))
        .await
        .unwrap();
}

#[tokio::test]
async fn malformed_input_gets_a_clear_error_and_changes_nothing() {
    let f = Fixture::new();
    let (id, _) = f.enrolled("alice", Role::Analyst).await;
    let before = f.record(id).await.sign_in;
    let e = f
        .service
        .sign_in("ali\u{0}ce", &secret(PASSWORD))
        .await
        .unwrap_err();
    assert!(
        is_invalid(&e) && e.to_string().contains("control character"),
        "{e}"
    );
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    for bad in ["12ab56", "", "1234567"] {
        let e = f
            .service
            .second_factor(&pending.id, SecondFactor::Totp(bad))
            .await
            .unwrap_err();
        assert!(is_invalid(&e) && e.to_string().contains("6 digits"), "{e}");
    }
    let e = f
        .service
        .second_factor(&pending.id, SecondFactor::RecoveryCode("nope"))
        .await
        .unwrap_err();
    assert!(
        is_invalid(&e) && e.to_string().contains("recovery code"),
        "{e}"
    );
    assert_eq!(f.record(id).await.sign_in, before);
    assert_eq!(f.store.recovery_codes_left(id), 10);
}

#[tokio::test]
async fn recovery_codes_work_once() {
    let f = Fixture::new();
    let (id, _, codes) = f.enrolled_with_codes("alice", Role::Analyst).await;
    let codes = codes.grouped();
    let first = codes[0].expose_secret().to_string();
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    let session = f
        .service
        .second_factor(
            &pending.id,
            SecondFactor::RecoveryCode(&first.to_uppercase()),
        )
        .await
        .unwrap();
    assert!(f.service.authenticate_session(&session.id).await.is_ok());
    assert_eq!(f.store.recovery_codes_left(id), 9);

    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    assert_refused(
        f.service
            .second_factor(&pending.id, SecondFactor::RecoveryCode(&first))
            .await,
        Refusal::WrongRecoveryCode,
    );
    assert_eq!(f.record(id).await.sign_in.consecutive_failures, 1);
    // Another operator's code is not yours.
    let (_, _, bobs) = f.enrolled_with_codes("bob", Role::Analyst).await;
    assert_refused(
        f.service
            .second_factor(
                &pending.id,
                SecondFactor::RecoveryCode(bobs.grouped()[0].expose_secret()),
            )
            .await,
        Refusal::WrongRecoveryCode,
    );
}

#[tokio::test]
async fn sessions_end_idle_absolute_unfinished_and_at_sign_out() {
    let f = Fixture::new();
    let (_, enrolment) = f.enrolled("alice", Role::Analyst).await;

    // Idle: 15 minutes without a request.
    let s = f.signed_in("alice", &enrolment).await;
    f.advance(Duration::minutes(14));
    assert!(f.service.authenticate_session(&s.id).await.is_ok());
    f.advance(Duration::minutes(15));
    let e = f.service.authenticate_session(&s.id).await.unwrap_err();
    assert_eq!(
        not_authenticated(&e),
        Some(NotAuthenticated::SessionEnded(
            crate::access::session::SessionEnd::Idle
        ))
    );
    assert!(
        f.service.authenticate_session(&s.id).await.is_err(),
        "and removed"
    );

    // Absolute: 8 hours even when used every 10 minutes.
    let s = f.signed_in("alice", &enrolment).await;
    let started = f.now() - Duration::seconds(30);
    while f.now() + Duration::minutes(10) < started + Duration::hours(8) {
        f.advance(Duration::minutes(10));
        assert!(f.service.authenticate_session(&s.id).await.is_ok());
    }
    f.clock.set(started + Duration::hours(8));
    assert!(f.service.authenticate_session(&s.id).await.is_err());

    // Unfinished: the second factor within 5 minutes.
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    f.advance(Duration::minutes(5));
    let e = f
        .service
        .second_factor(&pending.id, SecondFactor::Totp(&f.code(&enrolment)))
        .await
        .unwrap_err();
    assert!(not_authenticated(&e).is_some(), "{e:?}");

    // Sign-out.
    let s = f.signed_in("alice", &enrolment).await;
    f.service.sign_out(&s.id).await.unwrap();
    assert!(f.service.authenticate_session(&s.id).await.is_err());
    f.service.sign_out(&s.id).await.unwrap();

    // Housekeeping removes what has ended and keeps what has not.
    let live = f.signed_in("alice", &enrolment).await;
    let _old = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    let _stale = f.signed_in("alice", &enrolment).await;
    f.advance(Duration::minutes(10));
    f.service.authenticate_session(&live.id).await.unwrap();
    f.advance(Duration::minutes(6));
    // The idle one enrolment opened, the unfinished one and the stale one.
    assert_eq!(f.service.expire_sessions().await.unwrap(), 3);
    assert_eq!(f.store.session_count(), 1);
    assert!(f.service.authenticate_session(&live.id).await.is_ok());
}

#[tokio::test]
async fn a_fresh_second_factor_lasts_five_minutes_and_step_up_renews_it() {
    let f = Fixture::new();
    let (_, enrolment) = f.enrolled("carol", Role::CampaignManager).await;
    let s = f.signed_in("carol", &enrolment).await;
    let who = f.service.authenticate_session(&s.id).await.unwrap();
    assert_eq!(
        who.decide(Permission::SendCampaigns, f.now()),
        Decision::Allowed
    );
    f.advance(Duration::minutes(5));
    let who = f.service.authenticate_session(&s.id).await.unwrap();
    assert_eq!(
        who.decide(Permission::SendCampaigns, f.now()),
        Decision::NeedsFreshSecondFactor
    );
    assert_eq!(
        who.decide(Permission::CreateForms, f.now()),
        Decision::Allowed
    );
    assert_eq!(
        who.decide(Permission::ExportResponses, f.now()),
        Decision::NotInRole
    );
    f.service.step_up(&s.id, &f.code(&enrolment)).await.unwrap();
    let who = f.service.authenticate_session(&s.id).await.unwrap();
    assert_eq!(
        who.decide(Permission::SendCampaigns, f.now()),
        Decision::Allowed
    );
    // The same code cannot step up again.
    assert_refused(
        f.service.step_up(&s.id, &f.code(&enrolment)).await,
        Refusal::ReplayedCode,
    );
}

use crate::access::principal::Decision;

#[tokio::test]
async fn disabling_ends_sessions_and_tokens_at_once_and_enable_restores() {
    let f = Fixture::new();
    let (_, admin_enrolment) = f.enrolled("root-admin", Role::Admin).await;
    let (id, enrolment) = f.enrolled("alice", Role::DataSteward).await;
    let s = f.signed_in("alice", &enrolment).await;
    let token = f
        .service
        .create_token(id, "ci", f.now() + Duration::days(30))
        .await
        .unwrap();
    assert!(f
        .service
        .authenticate_token(token.token.expose())
        .await
        .is_ok());

    // Two sessions: the one enrolment opened, and `s`.
    assert_eq!(f.service.disable(id).await.unwrap(), 2);
    let e = f.service.authenticate_session(&s.id).await.unwrap_err();
    assert!(not_authenticated(&e).is_some());
    let e = f
        .service
        .authenticate_token(token.token.expose())
        .await
        .unwrap_err();
    assert_eq!(
        not_authenticated(&e),
        Some(NotAuthenticated::OperatorUnavailable)
    );
    assert_refused(
        f.service.sign_in("alice", &secret(PASSWORD)).await,
        Refusal::Disabled,
    );
    assert_eq!(f.status("alice").await, "disabled");

    f.service.enable(id).await.unwrap();
    assert_eq!(f.record(id).await.status, OperatorStatus::Active);
    assert!(f
        .service
        .authenticate_token(token.token.expose())
        .await
        .is_ok());
    f.signed_in("alice", &enrolment).await;

    // The last enabled admin cannot be disabled or demoted.
    let admin = f
        .service
        .operator_by_username("root-admin")
        .await
        .unwrap()
        .id;
    let e = f.service.disable(admin).await.unwrap_err();
    assert!(e.to_string().contains("last enabled admin"), "{e}");
    let e = f.service.set_role(admin, Role::Auditor).await.unwrap_err();
    assert!(e.to_string().contains("last enabled admin"), "{e}");
    f.service.set_role(id, Role::Admin).await.unwrap();
    f.service.set_role(admin, Role::Auditor).await.unwrap();
    assert_eq!(f.record(admin).await.role, Role::Auditor);
    // A role change ends the operator's sessions.
    let s = f.signed_in("root-admin", &admin_enrolment).await;
    f.service.set_role(admin, Role::Analyst).await.unwrap();
    assert!(f.service.authenticate_session(&s.id).await.is_err());
}

#[tokio::test]
async fn reset_mfa_starts_enrolment_again() {
    let f = Fixture::new();
    let (id, old, old_codes) = f.enrolled_with_codes("alice", Role::Analyst).await;
    let s = f.signed_in("alice", &old).await;
    let new = f.service.reset_mfa(id).await.unwrap();
    assert_ne!(
        new.secret_base32.expose_secret(),
        old.secret_base32.expose_secret()
    );
    assert!(
        f.service.authenticate_session(&s.id).await.is_err(),
        "sessions end"
    );
    assert_eq!(f.store.recovery_codes_left(id), 0);
    let record = f.record(id).await;
    assert_eq!(
        (record.status, record.enrolled_at),
        (OperatorStatus::Pending, None)
    );

    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    assert_eq!(pending.stage, Stage::Enrolment);
    // the old phone no longer works
    assert_refused(
        f.service
            .confirm_enrolment(&pending.id, &f.code(&old))
            .await,
        Refusal::WrongCode,
    );
    let done = f
        .service
        .confirm_enrolment(&pending.id, &f.code(&new))
        .await
        .unwrap();
    assert_eq!(done.session.stage, Stage::Active);
    assert_eq!(f.store.recovery_codes_left(id), 10);

    // The recovery codes from before the reset have expired with it: refused like any
    // wrong code, and the new ones are untouched.
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    assert_refused(
        f.service
            .second_factor(
                &pending.id,
                SecondFactor::RecoveryCode(old_codes.grouped()[0].expose_secret()),
            )
            .await,
        Refusal::WrongRecoveryCode,
    );
    assert_eq!(f.store.recovery_codes_left(id), 10);
    assert!(f.service.authenticate_session(&pending.id).await.is_err());
}

#[tokio::test]
async fn api_tokens_are_shown_once_expire_and_can_be_revoked() {
    let f = Fixture::new();
    let (id, _) = f.enrolled("alice", Role::Analyst).await;
    let issued = f
        .service
        .create_token(id, " deploy ", f.now() + Duration::days(7))
        .await
        .unwrap();
    let who = f
        .service
        .authenticate_token(&format!(" {} ", issued.token.expose()))
        .await
        .unwrap();
    assert_eq!((who.operator(), who.role()), (id, Role::Analyst));
    assert_eq!(
        who.credential(),
        crate::access::principal::Credential::ApiToken(issued.id)
    );
    let listed = f.service.tokens(id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "deploy");
    let json = serde_json::to_string(&listed).unwrap();
    assert!(!json.contains(&issued.token.expose()[9..]), "{json}");
    assert!(!json.contains("hash"));

    // Malformed and unknown tokens: the same refusal, no lookup for junk.
    for junk in [
        "",
        "Bearer x",
        "medicare_short",
        ApiToken::generate().expose(),
    ] {
        let e = f.service.authenticate_token(junk).await.unwrap_err();
        assert_eq!(
            not_authenticated(&e),
            Some(NotAuthenticated::UnknownToken),
            "{junk}"
        );
    }
    // Expiry.
    let short = f
        .service
        .create_token(id, "short", f.now() + Duration::hours(1))
        .await
        .unwrap();
    f.advance(Duration::hours(1));
    let e = f
        .service
        .authenticate_token(short.token.expose())
        .await
        .unwrap_err();
    assert_eq!(not_authenticated(&e), Some(NotAuthenticated::TokenEnded));
    // Revocation, once; someone else's token id is not found.
    let (bob, _) = f.enrolled("bob", Role::Analyst).await;
    assert!(f.service.revoke_token(bob, issued.id).await.is_err());
    f.service.revoke_token(id, issued.id).await.unwrap();
    let e = f
        .service
        .authenticate_token(issued.token.expose())
        .await
        .unwrap_err();
    assert_eq!(not_authenticated(&e), Some(NotAuthenticated::TokenEnded));
    let e = f.service.revoke_token(id, issued.id).await.unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");

    // Bad names and expiries are refused.
    for (name, expires) in [
        ("", f.now() + Duration::days(1)),
        ("ok", f.now()),
        ("ok", f.now() + Duration::days(367)),
    ] {
        let e = f.service.create_token(id, name, expires).await.unwrap_err();
        assert!(is_invalid(&e), "{e}");
    }
    // Pending operators get no token.
    let (carol, _) = f.add("carol", Role::Analyst).await;
    assert!(f
        .service
        .create_token(carol, "x", f.now() + Duration::days(1))
        .await
        .is_err());
}

#[tokio::test]
async fn adding_operators_checks_names_and_passwords_and_stores_nothing_on_error() {
    let f = Fixture::new();
    f.add("alice", Role::Analyst).await;
    let new = |name: &str| NewOperator {
        username: Username::parse(name).unwrap(),
        display_name: DisplayName::parse("Someone").unwrap(),
        role: Role::Analyst,
    };
    let e = f
        .service
        .add_operator(new("ALICE"), secret(PASSWORD))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    for weak in ["tiny-pw", "qwerty123456", "bob-is-my-name"] {
        let e = f
            .service
            .add_operator(new("bob"), secret(weak))
            .await
            .unwrap_err();
        assert!(is_invalid(&e), "{e}");
        assert!(!e.to_string().contains(weak));
    }
    assert_eq!(f.service.operators().await.unwrap().len(), 1);
    assert!(f.service.operator_by_username("bob").await.is_err());
}

#[tokio::test]
async fn totp_secrets_are_stored_sealed_and_bound_to_their_operator() {
    let f = Fixture::new();
    let (alice, alice_enrolment, _) = f.enrolled_with_codes("alice", Role::Analyst).await;
    let (bob, _, _) = f.enrolled_with_codes("bob", Role::Analyst).await;
    let raw = totp_rs::Secret::Encoded(alice_enrolment.secret_base32.expose_secret().to_string())
        .to_bytes()
        .unwrap();
    let stored = f.record(alice).await.totp_secret;
    assert!(!stored
        .as_bytes()
        .windows(raw.len())
        .any(|w| w == raw.as_slice()));

    // Copying Alice's sealed secret onto Bob's row does not let Alice's codes in.
    let copied: SealedSecret = stored.clone();
    f.store
        .change_operator(
            bob,
            &OperatorChange::MfaReset {
                totp_secret: copied,
            },
        )
        .await
        .unwrap();
    let pending = f.service.sign_in("bob", &secret(PASSWORD)).await.unwrap();
    let e = f
        .service
        .confirm_enrolment(&pending.id, &f.code(&alice_enrolment))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("does not open"),
        "refused as unopenable, not accepted: {e}"
    );
    // A service with another key cannot open them either.
    let other = Service::new(
        f.store.clone(),
        Arc::new(LocalSealer::new(SecretBox::new(Box::new([1u8; 32])))),
        f.clock.clone(),
        crate::access::password::cheap_hasher(),
    );
    let pending = other.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    let e = other
        .second_factor(&pending.id, SecondFactor::Totp(&f.code(&alice_enrolment)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not open"), "{e}");
}

#[tokio::test]
async fn old_password_hashes_are_upgraded_at_sign_in() {
    let f = Fixture::new();
    let (id, _) = f.enrolled("alice", Role::Analyst).await;
    let before = f.record(id).await.password_hash;
    let stronger = Service::new(
        f.store.clone(),
        Arc::new(LocalSealer::new(SecretBox::new(Box::new([9u8; 32])))),
        f.clock.clone(),
        PasswordHasher::with_params(128, 1, 1).unwrap(),
    );
    stronger.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    let after = f.record(id).await.password_hash;
    assert_ne!(before, after);
    assert!(
        after.as_str().contains("m=128,t=1,p=1"),
        "{}",
        after.as_str()
    );
    stronger.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    assert_eq!(
        f.record(id).await.password_hash,
        after,
        "not rehashed twice"
    );
}

#[tokio::test]
async fn concurrent_attempts_are_all_counted_and_a_code_wins_once() {
    let f = Fixture::new();
    let (id, enrolment) = f.enrolled("alice", Role::Analyst).await;
    // A wrong password racing with two others: every failure is counted.
    f.store.contend(2);
    assert_refused(
        f.service.sign_in("alice", &secret("wrong password!")).await,
        Refusal::WrongPassword,
    );
    assert_eq!(f.record(id).await.sign_in.consecutive_failures, 3);
    // A right code that keeps losing the race is refused, not accepted unrecorded.
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    f.store.contend(usize::MAX);
    assert_refused(
        f.service
            .second_factor(&pending.id, SecondFactor::Totp(&f.code(&enrolment)))
            .await,
        Refusal::Concurrent,
    );
    f.store.contend(0);
    assert_eq!(
        f.record(id).await.sign_in.last_totp_step,
        TimeStep::at(f.now() - Duration::seconds(30))
    );
}

#[tokio::test]
async fn refusals_that_write_nothing_are_recorded_without_the_username() {
    let f = Fixture::new();
    let (id, _) = f.enrolled("carol", Role::Analyst).await;
    assert_refused(
        f.service.sign_in("mallory", &secret(PASSWORD)).await,
        Refusal::UnknownUser,
    );
    f.service.disable(id).await.unwrap();
    assert_refused(
        f.service.sign_in("carol", &secret(PASSWORD)).await,
        Refusal::Disabled,
    );
    // The in-memory store records only what the service appends itself.
    let ledger = f.store.ledger();
    let got: Vec<(&str, &str, &str, &str)> = ledger
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.target.as_str(),
                e.outcome.as_str(),
                e.detail.as_str(),
            )
        })
        .collect();
    let carol = format!("operator:{}", id.0);
    assert_eq!(
        got,
        [
            ("sign_in", "", "failed", "reason=unknown_user"),
            ("sign_in", carol.as_str(), "failed", "reason=disabled"),
        ]
    );
    let text = format!("{ledger:?}");
    assert!(
        !text.contains("mallory") && !text.contains("carol"),
        "{text}"
    );
}
