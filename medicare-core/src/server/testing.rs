//! Operators for tests of the server (feature `testing`): one enrolled operator per
//! role, each with an API token, and what a test needs to sign them in (their
//! authenticator secret, to compute codes as an app would).

use crate::access::{
    AccessStore, DisplayName, Enrolment, LocalSealer, NewOperator, OperatorId, PasswordHasher,
    Role, Service, TimeStep, TotpSecret, Username,
};
use crate::clock::Clock;
use chrono::Duration;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The password every test operator has.
pub const PASSWORD: &str = "violet kettle sunrise";

/// One test operator.
#[derive(Debug)]
pub struct TestOperator {
    /// Their id.
    pub id: OperatorId,
    /// Their username (the role's name with `-op`, e.g. `admin-op`).
    pub username: String,
    /// What their enrolment showed (the secret, to compute codes).
    pub enrolment: Enrolment,
    /// Their API token (valid for 30 days from the clock's now).
    pub token: SecretString,
}

/// One enrolled operator per role, over a store and a clock.
#[derive(Debug)]
pub struct Operators {
    /// The sign-in service (cheap argon2 parameters, a fixed sealing key).
    pub service: Arc<Service>,
    /// The clock it reads.
    pub clock: Arc<dyn Clock>,
    /// The operators, by role.
    pub by_role: BTreeMap<&'static str, TestOperator>,
}

/// The code an authenticator app holding `enrolment`'s secret shows at `clock`'s now
/// plus `steps` 30-second steps.
pub fn totp_code(enrolment: &Enrolment, clock: &dyn Clock, steps: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(enrolment.secret_base32.expose_secret().to_string())
        .to_bytes()
        .expect("enrolment secrets are base32");
    let secret = TotpSecret::from_bytes(bytes.into()).expect("a 20-byte secret");
    let step = TimeStep::at(clock.now()).expect("after 1970").0;
    let step = TimeStep(step.checked_add_signed(steps).expect("in range"));
    secret
        .code_at(step)
        .expect("a code")
        .expose_secret()
        .to_string()
}

impl Operators {
    /// The sign-in service over `store` and `clock`, without operators.
    pub fn service(store: Arc<dyn AccessStore>, clock: Arc<dyn Clock>) -> Arc<Service> {
        Arc::new(Service::new(
            store,
            Arc::new(LocalSealer::new(SecretBox::new(Box::new([7u8; 32])))),
            clock,
            PasswordHasher::with_params(64, 1, 1).expect("valid parameters"),
        ))
    }

    /// One operator per role, enrolled, each with a token; the clock is only read.
    pub async fn enrol_every_role(
        store: Arc<dyn AccessStore>,
        clock: Arc<dyn Clock>,
    ) -> crate::Result<Operators> {
        let service = Self::service(store, clock.clone());
        let mut by_role = BTreeMap::new();
        for role in Role::ALL {
            let op = enrol(&service, clock.as_ref(), role).await?;
            by_role.insert(role.as_str(), op);
        }
        Ok(Operators {
            service,
            clock,
            by_role,
        })
    }

    /// The operator of `role`.
    pub fn of(&self, role: Role) -> &TestOperator {
        &self.by_role[role.as_str()]
    }

    /// The API token of `role`'s operator.
    pub fn token(&self, role: Role) -> &str {
        self.of(role).token.expose_secret()
    }
}

fn access(e: crate::access::AccessError) -> crate::Error {
    match e {
        crate::access::AccessError::Other(e) => e,
        other => crate::Error::Config(other.to_string()),
    }
}

/// Adds `role`'s test operator, confirms their enrolment and makes them a token.
pub async fn enrol(
    service: &Service,
    clock: &dyn Clock,
    role: Role,
) -> crate::Result<TestOperator> {
    let username = format!("{}-op", role.as_str().replace('_', "-"));
    let (id, enrolment) = service
        .add_operator(
            NewOperator {
                username: Username::parse(&username)?,
                display_name: DisplayName::parse("Test Operator")?,
                role,
            },
            SecretString::from(PASSWORD),
        )
        .await
        .map_err(access)?;
    let pending = service
        .sign_in(&username, &SecretString::from(PASSWORD))
        .await
        .map_err(access)?;
    service
        .confirm_enrolment(&pending.id, &totp_code(&enrolment, clock, 0))
        .await
        .map_err(access)?;
    let issued = service
        .create_token(id, "tests", clock.now() + Duration::days(30))
        .await
        .map_err(access)?;
    Ok(TestOperator {
        id,
        username,
        enrolment,
        token: SecretString::from(issued.token.expose().to_string()),
    })
}
