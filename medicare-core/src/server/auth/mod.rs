//! Who may reach which route: every route of the service is declared, with the access it
//! needs, in one [`RouteTable`], and one middleware ([`guard`](mod@guard)) enforces the declarations
//! on every request. Deny by default: a route the table does not declare is refused.
//!
//! # How a route declares its permission
//!
//! A module contributes its routes as a table; the server merges the tables into its
//! router (`server::router`):
//!
//! ```
//! use medicare_core::access::Permission;
//! use medicare_core::server::auth::{Access, RouteTable};
//! use axum::routing::{get, post};
//!
//! async fn list() -> &'static str { "the campaigns" }
//! async fn send() -> &'static str { "sent" }
//!
//! pub fn routes() -> RouteTable {
//!     RouteTable::new()
//!         .get("/console/campaigns", Access::Requires(Permission::ReadTracking), get(list))
//!         .post("/console/campaigns/{id}/send", Access::Requires(Permission::SendCampaigns), post(send))
//! }
//! # let _ = routes();
//! ```
//!
//! [`Access`] is one of: [`Access::Public`] (patients' links, the OpenAPI document, the
//! stylesheet, the sign-in page), [`Access::SigningIn`] (the second-factor and enrolment
//! steps: a session part-way through signing in), [`Access::SignedIn`] (any signed-in
//! operator: the console's home, sign-out, step-up) and [`Access::Requires`] (a
//! [`Permission`](crate::access::Permission) of the operator's role, checked against
//! [`ROLE_PERMISSIONS`](crate::access::ROLE_PERMISSIONS), plus a fresh second factor for
//! the actions that need one).
//!
//! # How a handler gets the principal and the CSRF token
//!
//! The guard has already authenticated the caller by the time a handler runs: a browser
//! page by its session cookie, an `/api/` route by its bearer token. A handler takes the
//! [`SignedIn`] extractor: [`SignedIn::principal`], [`SignedIn::username`] and, for
//! pages, [`SignedIn::csrf_token`] to put in every form as the hidden field
//! [`CSRF_FIELD`] (the view layer's layout does that for the sign-out form). The guard
//! checks that field on every state-changing browser request (`POST`, `PUT`, `PATCH`,
//! `DELETE`) before the handler runs: missing or wrong is `403`.
//!
//! # Where a refusal is decided
//!
//! Every refusal the guard makes (not signed in, the role does not allow it, a fresh
//! second factor is needed, a bad CSRF token, a cross-site form post, an undeclared
//! route) goes through [`guard::refuse`], the one place to record it (the audit ledger's
//! "denied" entries hook in there).

mod extract;
pub mod guard;
mod table;
#[cfg(test)]
pub(crate) mod tests;

pub use extract::{SignedIn, SigningInSession};
pub use guard::{guard, Denied, Guard};
pub use table::{Access, RouteDeclaration, RouteTable, Surface};

/// The name of the hidden form field that carries the session's CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

/// Where the sign-in page is (unauthenticated page requests are sent there).
pub const SIGN_IN_PATH: &str = "/console/sign-in";

/// Where the step-up page is (pages needing a fresh second factor send the operator
/// there, with the page they wanted in `?next=`).
pub const STEP_UP_PATH: &str = "/console/step-up";
