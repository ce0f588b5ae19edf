//! Typed forms: what an operator asks, what a patient answers, and where it is kept.
//!
//! The flow, one file per step:
//!
//! 1. **Spec** ([`spec`]): the operator writes a [`FormSpec`] in TOML or JSON: a name, a
//!    title and up to 100 typed fields ([`FieldType`]) with their rules (`required`,
//!    `min`/`max`, `max_length`, `pattern`, `options`). [`FormSpec::validate`] runs on
//!    every constructor; field names are strict identifiers ([`ident`]) because they
//!    become SQL columns and HTML names. The store keeps the spec as JSON
//!    ([`FormSpec::to_json`]).
//! 2. **Table** ([`schema`]): each form gets a response table, one natively typed column
//!    per field plus `id`, `recipient_id` (unique: one response per one-time link) and
//!    `submitted_at` — [`response_table_ddl`] for SQLite, PostgreSQL and MySQL.
//! 3. **Page** ([`render`]): following the link, the patient gets a self-contained,
//!    accessible HTML page ([`render_form_page`]) with no script and a single inline style
//!    ([`style_sha256_base64`] for the Content-Security-Policy). Plain pages (thank you,
//!    link expired) share its layout ([`render_message_page`]).
//! 4. **Submission** ([`submission`]): the POSTed pairs go through
//!    [`FormSpec::check_submission`], which returns typed [`Answers`] or patient-friendly
//!    [`FieldErrors`] (shown by rendering the page again with the values and errors).
//!    Accepted answers are stored with [`insert_response`], every value bound, and read
//!    back with [`select_responses_sql`].
//!
//! Decimal answers are exact throughout ([`Decimal`]): never a binary float.
//!
//! Helpers: [`decimal`] (exact numbers for `decimal` fields and bounds), [`ident`]
//! (the identifier rule) and a private `csp` (SHA-256 + base64 for the style hash).

pub mod decimal;
pub mod ident;
pub mod render;
pub mod schema;
pub mod spec;
pub mod submission;

pub use decimal::{Decimal, DecimalError};
pub use ident::{validate_identifier, validate_table_name};
pub use render::{render_form_page, render_message_page, style_sha256_base64, FormPage, SKELETON};
pub use schema::{insert_response, response_table_ddl, select_responses_sql};
pub use spec::{Bound, FieldSpec, FieldType, FormSpec};
pub use submission::{AnswerValue, Answers, FieldError, FieldErrors};

#[cfg(test)]
mod tests;
