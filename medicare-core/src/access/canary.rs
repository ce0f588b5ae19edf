//! The canary test: no password, secret, code or token appears in the `Debug` or
//! `Display` of any public type of this module, nor in any log line the service writes.
//!
//! A full operator life (enrolment, sign-in with a code and a recovery code, failures,
//! a lock, step-up, tokens, sign-out) runs with every log level captured; every secret
//! that passes through is collected, and then every value and error it produced is
//! printed and searched for each of them.

use super::operator::NewOperatorRecord;
use super::service::tests::{secret, Fixture, PASSWORD};
use super::service::{IssuedSession, SecondFactor};
use super::token::NewApiTokenRecord;
use super::*;
use chrono::Duration;
use secrecy::{ExposeSecret, SecretBox, SecretSlice};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A log writer that keeps every line in memory (the server's log canary uses it too).
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[derive(Default)]
struct Canaries {
    secrets: Vec<String>,
    printed: Vec<(String, String)>,
}

impl Canaries {
    fn secret(&mut self, s: &str) {
        self.secrets.push(s.to_string());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.secrets.push(hex::encode(b));
        self.secrets.push(format!("{b:?}"));
    }

    fn session(&mut self, s: &IssuedSession) {
        self.secret(s.id.expose());
        self.secret(s.csrf.expose());
        self.bytes(&s.id.hash().0);
    }

    fn debug(&mut self, what: &str, value: &dyn std::fmt::Debug) {
        self.printed.push((what.to_string(), format!("{value:?}")));
        self.printed.push((what.to_string(), format!("{value:#?}")));
    }

    fn display(&mut self, what: &str, value: &dyn std::fmt::Display) {
        self.printed.push((what.to_string(), value.to_string()));
    }

    fn check(&self) {
        assert!(self.secrets.len() > 30, "the canaries were collected");
        for (what, text) in &self.printed {
            for s in &self.secrets {
                assert!(!text.contains(s.as_str()), "{what} prints a secret: {text}");
            }
        }
    }
}

#[tokio::test]
async fn no_secret_in_debug_display_or_logs() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut c = Canaries::default();
    let f = Fixture::new();
    c.secret(PASSWORD);
    c.secret("canary wrong password");

    // Enrolment.
    let (id, enrolment) = f.add("alice", Role::CampaignManager).await;
    c.secret(enrolment.secret_base32.expose_secret());
    c.secret(enrolment.otpauth_uri.expose_secret());
    let raw = totp_rs::Secret::Encoded(enrolment.secret_base32.expose_secret().to_string())
        .to_bytes()
        .unwrap();
    c.bytes(&raw);
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    c.session(&pending);
    let code = f.code(&enrolment);
    c.secret(&code);
    let enrolled = f
        .service
        .confirm_enrolment(&pending.id, &code)
        .await
        .unwrap();
    c.session(&enrolled.session);
    for code in enrolled.recovery_codes.grouped() {
        c.secret(code.expose_secret());
        c.secret(&code.expose_secret().replace('-', ""));
    }
    for hash in enrolled.recovery_codes.hashes() {
        c.bytes(&hash.0);
    }
    let record = f.record(id).await;
    c.secret(record.password_hash.as_str());
    c.bytes(record.totp_secret.as_bytes());

    // Failures, a lock, an unlock.
    f.advance(Duration::seconds(30));
    let mut errors = vec![];
    errors.push(
        f.service
            .sign_in("alice", &secret("canary wrong password"))
            .await
            .unwrap_err(),
    );
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    c.session(&pending);
    let wrong = f.code_at(&enrolment, 3);
    c.secret(&wrong);
    errors.push(
        f.service
            .second_factor(&pending.id, SecondFactor::Totp(&wrong))
            .await
            .unwrap_err(),
    );
    errors.push(
        f.service
            .second_factor(&pending.id, SecondFactor::Totp("12x456"))
            .await
            .unwrap_err(),
    );
    let recovery = enrolled.recovery_codes.grouped()[0]
        .expose_secret()
        .to_string();
    let session = f
        .service
        .second_factor(&pending.id, SecondFactor::RecoveryCode(&recovery))
        .await
        .unwrap();
    c.session(&session);
    let pending = f.service.sign_in("alice", &secret(PASSWORD)).await.unwrap();
    c.session(&pending);
    errors.push(
        f.service
            .second_factor(&pending.id, SecondFactor::RecoveryCode(&recovery))
            .await
            .unwrap_err(),
    );
    for _ in 0..5 {
        if let Err(e) = f
            .service
            .sign_in("alice", &secret("canary wrong password"))
            .await
        {
            errors.push(e);
        }
    }
    f.service.unlock(id).await.unwrap();

    // Step-up, tokens, sign-out.
    let session = f.signed_in("alice", &enrolment).await;
    c.session(&session);
    let step_code = f.code(&enrolment);
    c.secret(&step_code);
    f.service.step_up(&session.id, &step_code).await.unwrap();
    errors.push(
        f.service
            .step_up(&session.id, &step_code)
            .await
            .unwrap_err(),
    );
    let principal = f.service.authenticate_session(&session.id).await.unwrap();
    let token = f
        .service
        .create_token(id, "ci", f.now() + Duration::days(1))
        .await
        .unwrap();
    c.secret(token.token.expose());
    c.secret(&token.token.expose()["medicare_".len()..]);
    c.bytes(&token.token.hash().0);
    f.service
        .authenticate_token(token.token.expose())
        .await
        .unwrap();
    f.service.revoke_token(id, token.id).await.unwrap();
    errors.push(
        f.service
            .authenticate_token(token.token.expose())
            .await
            .unwrap_err(),
    );
    f.service.sign_out(&session.id).await.unwrap();
    errors.push(
        f.service
            .authenticate_session(&session.id)
            .await
            .unwrap_err(),
    );
    errors.push(
        principal
            .require(Permission::RestoreBackups, f.now())
            .unwrap_err(),
    );
    let reset = f.service.reset_mfa(id).await.unwrap();
    c.secret(reset.secret_base32.expose_secret());

    // Print every public type.
    let username = Username::parse("alice").unwrap();
    let new_password = NewPassword::new(secret(PASSWORD), &username).unwrap();
    let totp_secret = TotpSecret::from_bytes(SecretSlice::from(raw.clone())).unwrap();
    let record = f.record(id).await;
    let tokens = f.service.tokens(id).await.unwrap();
    let session_record = SessionRecord {
        id_hash: session.id.hash(),
        operator: id,
        stage: Stage::Active,
        created_at: f.now(),
        last_seen_at: f.now(),
        second_factor_at: None,
    };
    c.debug("Permission", &Permission::SendCampaigns);
    c.display("Permission", &Permission::SendCampaigns);
    c.debug("Role", &Role::Admin);
    c.display("Role", &Role::Admin);
    c.debug("Username", &username);
    c.display("Username", &username);
    c.debug("DisplayName", &record.display_name);
    c.debug("NewPassword", &new_password);
    c.debug("PasswordHash", &record.password_hash);
    c.debug("PasswordHasher", &PasswordHasher::owasp().unwrap());
    c.debug("SealedSecret", &record.totp_secret);
    c.debug(
        "LocalSealer",
        &LocalSealer::new(SecretBox::new(Box::new([9u8; 32]))),
    );
    c.debug("TotpSecret", &totp_secret);
    c.debug("TotpCode", &TotpCode::parse(&code).unwrap());
    c.debug("Enrolment", &enrolment);
    c.debug("Enrolment (reset)", &reset);
    c.debug("TimeStep", &TimeStep::at(f.now()).unwrap());
    c.debug("RecoveryCode", &RecoveryCode::parse(&recovery).unwrap());
    c.debug(
        "RecoveryCodeHash",
        &RecoveryCode::parse(&recovery).unwrap().hash(),
    );
    c.debug("RecoveryCodes", &enrolled.recovery_codes);
    c.debug("SessionId", &session.id);
    c.debug("SessionIdHash", &session.id.hash());
    c.debug("CsrfToken", &session.csrf);
    c.debug("IssuedSession", &session);
    c.debug("Enrolled", &enrolled);
    c.debug("SessionRecord", &session_record);
    c.debug("SessionPolicy", &SessionPolicy::default());
    c.debug("SessionCookie", &SessionCookie::secure());
    c.debug("ApiToken", &token.token);
    c.debug("ApiTokenHash", &token.token.hash());
    c.debug("IssuedToken", &token);
    c.debug("ApiTokenRecord", &tokens);
    c.display("ApiTokenId", &token.id);
    c.debug(
        "NewApiTokenRecord",
        &NewApiTokenRecord {
            operator: id,
            name: "ci".into(),
            hash: token.token.hash(),
            created_at: f.now(),
            expires_at: f.now(),
        },
    );
    c.debug("OperatorRecord", &record);
    c.debug(
        "NewOperatorRecord",
        &NewOperatorRecord {
            username: record.username.clone(),
            display_name: record.display_name.clone(),
            role: record.role,
            password_hash: record.password_hash.clone(),
            totp_secret: record.totp_secret.clone(),
            created_at: record.created_at,
        },
    );
    c.debug("OperatorSummary", &OperatorSummary::of(&record, f.now()));
    c.display("OperatorId", &id);
    c.debug(
        "OperatorChange",
        &OperatorChange::MfaReset {
            totp_secret: record.totp_secret.clone(),
        },
    );
    c.debug(
        "OperatorChange",
        &OperatorChange::PasswordHash(record.password_hash.clone()),
    );
    c.debug("SignInState", &record.sign_in);
    c.debug("LockoutPolicy", &LockoutPolicy::default());
    c.debug("SecondFactor", &SecondFactor::Totp(&code));
    c.debug("SecondFactor", &SecondFactor::RecoveryCode(&recovery));
    c.debug("Principal", &principal);
    c.debug("Service", &f.service);
    for e in &errors {
        c.debug("AccessError", e);
        c.display("AccessError", e);
    }
    assert!(errors.len() >= 10, "{}", errors.len());

    let logged = logs.text();
    assert!(
        logged.contains("operator signed in"),
        "the logs were captured"
    );
    assert!(logged.contains("wrong_password") && logged.contains("operator 1"));
    c.printed.push(("the logs".into(), logged));
    c.check();
}
