//! What one ledger event says: who ([`Actor`]) did what ([`Action`]) to which ids
//! ([`Target`]), with what [`Outcome`], plus counts and digests ([`Detail`]).
//!
//! Every part is built from typed ids, numbers, hex digests and fixed words, so an event
//! cannot carry a name, a phone number, an email address or an answer: there is no
//! constructor that takes free text. Each part's text form is what the ledger stores and
//! what the chain hashes ([`super::chain`]).

use crate::access::{OperatorId, Permission};
use crate::campaign::{CampaignId, FormId};
use crate::error::{Error, Result};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// True for the characters an id, a user name or a job name may hold in the ledger:
/// ASCII letters, digits and `.`, `_`, `-`.
fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Checks `text` as a ledger word of at most `max` characters; `what` names it in errors.
fn check_word(text: &str, max: usize, what: &str) -> Result<()> {
    if text.is_empty() || text.len() > max || !text.chars().all(word_char) {
        return Err(Error::invalid(
            what,
            format!("must be 1 to {max} ASCII letters, digits, '.', '_' or '-'"),
        ));
    }
    Ok(())
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A signed-in operator, or one acting through an API token: `operator:<id>`.
    Operator(OperatorId),
    /// The local CLI, with the database credentials it was given: `local:<os user>`.
    Local(String),
    /// A patient holding a one-time link: `patient-link:<recipient id>`.
    PatientLink(i64),
    /// A scheduled or background job: `system:<job>`.
    System(String),
    /// Nobody identified yet: a request refused before (or without) signing in, a
    /// failed sign-in: `anonymous`.
    Anonymous,
}

impl Actor {
    /// The local CLI as the OS user `user` (letters, digits, `.`, `_`, `-`).
    pub fn local(user: &str) -> Result<Actor> {
        check_word(user, 64, "local OS user name")?;
        Ok(Actor::Local(user.to_string()))
    }

    /// The local CLI as the user the process runs as (`USER`, else `USERNAME`, else
    /// `LOGNAME`); a name the ledger cannot hold becomes `unknown`.
    pub fn local_os_user() -> Actor {
        ["USER", "USERNAME", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok())
            .and_then(|u| Actor::local(&u).ok())
            .unwrap_or_else(|| Actor::Local("unknown".to_string()))
    }

    /// A background job named `job` (letters, digits, `.`, `_`, `-`).
    pub fn system(job: &str) -> Result<Actor> {
        check_word(job, 64, "system job name")?;
        Ok(Actor::System(job.to_string()))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Operator(id) => write!(f, "operator:{}", id.0),
            Actor::Local(user) => write!(f, "local:{user}"),
            Actor::PatientLink(recipient) => write!(f, "patient-link:{recipient}"),
            Actor::System(job) => write!(f, "system:{job}"),
            Actor::Anonymous => f.write_str("anonymous"),
        }
    }
}

impl FromStr for Actor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Actor> {
        let bad = || {
            Error::invalid(
                "actor",
                "must be operator:<id>, local:<user>, patient-link:<recipient id>, system:<job> \
                 or anonymous",
            )
        };
        if s == "anonymous" {
            return Ok(Actor::Anonymous);
        }
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "operator" => rest
                .parse()
                .map(|id| Actor::Operator(OperatorId(id)))
                .map_err(|_| bad()),
            "local" => Actor::local(rest),
            "patient-link" => rest.parse().map(Actor::PatientLink).map_err(|_| bad()),
            "system" => Actor::system(rest),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

macro_rules! words {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// Its stored (and hashed) text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<$name> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(Error::invalid(
                        $what,
                        format!(
                            "must be one of {}",
                            [$($text,)*].join(", ")
                        ),
                    )),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

words!(
    /// What was done (or refused).
    Action, "audit action" {
        /// An operator signed in (ok), or a sign-in failed (failed).
        SignIn => "sign_in",
        /// An operator confirmed their second factor for the first time.
        Enrolment => "enrolment",
        /// Repeated failures locked an account.
        Lockout => "lockout",
        /// An operator's second factor was reset.
        MfaReset => "mfa_reset",
        /// An operator was added, disabled, enabled or unlocked.
        OperatorChange => "operator_change",
        /// An operator's role changed.
        RoleChange => "role_change",
        /// An API token was created.
        TokenCreate => "token_create",
        /// An API token was revoked.
        TokenRevoke => "token_revoke",
        /// Patients were imported (counts and the file's hash).
        PatientImport => "patient_import",
        /// A form was created.
        FormCreate => "form_create",
        /// A campaign was created.
        CampaignCreate => "campaign_create",
        /// Identifiable recipients of a campaign were previewed.
        RecipientsPreview => "recipients_preview",
        /// A send call ran (one event per call, with its counts).
        Send => "send",
        /// A reminder round was planned.
        ReminderRound => "reminder_round",
        /// A campaign's status changed.
        CampaignStatus => "campaign_status",
        /// Responses were read.
        ResponsesRead => "responses_read",
        /// Responses were exported.
        ResponsesExport => "responses_export",
        /// A report was generated.
        ReportGenerate => "report_generate",
        /// A backup was taken.
        BackupRun => "backup_run",
        /// A backup was verified.
        BackupVerify => "backup_verify",
        /// A backup was restored.
        BackupRestore => "backup_restore",
        /// Old backups were pruned.
        BackupPrune => "backup_prune",
        /// A patient opened their link.
        LinkOpen => "link_open",
        /// A patient submitted the form.
        FormSubmit => "form_submit",
        /// A request was made (the action of a refusal that names only the permission).
        Request => "request",
        /// The ledger was read or exported.
        AuditRead => "audit_read",
        /// A signed checkpoint of the ledger was written.
        AuditCheckpoint => "audit_checkpoint",
    }
);

words!(
    /// How it ended.
    Outcome, "audit outcome" {
        /// Done.
        Ok => "ok",
        /// Refused: the actor lacked a permission (or a fresh second factor).
        Denied => "denied",
        /// Attempted and failed.
        Failed => "failed",
    }
);

words!(
    /// The kinds of id an event may name.
    TargetKind, "audit target kind" {
        /// A campaign id.
        Campaign => "campaign",
        /// A form id.
        Form => "form",
        /// An operator id.
        Operator => "operator",
        /// An API token id.
        Token => "token",
        /// A backup id.
        Backup => "backup",
        /// A campaign recipient id.
        Recipient => "recipient",
        /// A patient id.
        Patient => "patient",
        /// A report's name (a fixed word, e.g. `weekly`).
        Report => "report",
    }
);

/// The ids an event touched: `kind:id` pairs, in the order they were added. Ids are
/// numbers or ledger words (backup ids, report names), never free text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target(Vec<(TargetKind, String)>);

impl Target {
    /// No target (e.g. a sign-in failure for an unknown user, a patient import).
    pub fn none() -> Target {
        Target(Vec::new())
    }

    /// Adds a numeric id.
    pub fn with_id(mut self, kind: TargetKind, id: i64) -> Target {
        self.0.push((kind, id.to_string()));
        self
    }

    /// Adds a textual id (a backup id, a report name): letters, digits, `.`, `_`, `-`.
    pub fn with_name(mut self, kind: TargetKind, id: &str) -> Result<Target> {
        check_word(id, 80, &format!("{kind} id in an audit target"))?;
        self.0.push((kind, id.to_string()));
        Ok(self)
    }

    /// A campaign.
    pub fn campaign(id: CampaignId) -> Target {
        Target::none().with_id(TargetKind::Campaign, id.0)
    }

    /// A form.
    pub fn form(id: FormId) -> Target {
        Target::none().with_id(TargetKind::Form, id.0)
    }

    /// An operator.
    pub fn operator(id: OperatorId) -> Target {
        Target::none().with_id(TargetKind::Operator, id.0)
    }

    /// The `kind:id` pairs.
    pub fn ids(&self) -> &[(TargetKind, String)] {
        &self.0
    }

    /// True when it names `kind:id` (as `medicare audit log --target` matches).
    pub fn names(&self, kind: TargetKind, id: &str) -> bool {
        self.0.iter().any(|(k, i)| *k == kind && i == id)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (kind, id)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{kind}:{id}")?;
        }
        Ok(())
    }
}

impl FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Target> {
        let mut target = Target::none();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (kind, id) = part.split_once(':').ok_or_else(|| {
                Error::invalid("audit target", "must be kind:id pairs joined by ','")
            })?;
            target = target.with_name(kind.parse()?, id)?;
        }
        Ok(target)
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Counts, digests and fixed words about an event (`key=value` pairs): how many
/// messages a send call sent, the SHA-256 of an imported file, the permission a refusal
/// lacked. Values are numbers, hex digests or fixed words only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail(Vec<(&'static str, String)>);

impl Detail {
    /// No detail.
    pub fn none() -> Detail {
        Detail(Vec::new())
    }

    /// Adds a count.
    pub fn count(mut self, key: &'static str, n: u64) -> Detail {
        self.0.push((key, n.to_string()));
        self
    }

    /// Adds a SHA-256 digest, hex.
    pub fn digest(mut self, key: &'static str, sha256: &[u8; 32]) -> Detail {
        self.0.push((key, hex::encode(sha256)));
        self
    }

    /// Adds a fixed word (a state, a channel, a reason code).
    pub fn word(mut self, key: &'static str, word: &'static str) -> Detail {
        self.0.push((key, word.to_string()));
        self
    }

    /// Adds the permission a refusal lacked.
    pub fn permission(self, permission: Permission) -> Detail {
        self.word("permission", permission.as_str())
    }

    /// These pairs followed by `more`'s.
    pub fn and(mut self, more: &Detail) -> Detail {
        self.0.extend(more.0.iter().cloned());
        self
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

impl Serialize for Detail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A request's id (from the server's request-id header, or made up by the CLI), so an
/// event can be matched with the server's logs: letters, digits, `.`, `_`, `-`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// No request (the CLI, a job).
    pub fn none() -> RequestId {
        RequestId(String::new())
    }

    /// Checks and wraps a request id (at most 64 characters).
    pub fn parse(id: &str) -> Result<RequestId> {
        check_word(id, 64, "request id")?;
        Ok(RequestId(id.to_string()))
    }

    /// The id (empty for none).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An event to append: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// When it happened (kept to the microsecond, as every database stores it).
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor: Actor,
    /// What was done.
    pub action: Action,
    /// The ids it touched.
    pub target: Target,
    /// How it ended.
    pub outcome: Outcome,
    /// Counts, digests and fixed words.
    pub detail: Detail,
    /// The request it answered, if any.
    pub request_id: RequestId,
}

impl AuditEvent {
    /// A successful `action` by `actor` on `target` at `at` (rounded to the microsecond).
    pub fn new(at: DateTime<Utc>, actor: Actor, action: Action, target: Target) -> AuditEvent {
        AuditEvent {
            at: at.trunc_subsecs(6),
            actor,
            action,
            target,
            outcome: Outcome::Ok,
            detail: Detail::none(),
            request_id: RequestId::none(),
        }
    }

    /// A refusal: `actor` asked for `action` without `permission` (none: the request
    /// needed no permission of a role, e.g. a sign-in step), for `reason` (a fixed word
    /// such as `not_in_role` or `unauthenticated`).
    pub fn denied(
        at: DateTime<Utc>,
        actor: Actor,
        action: Action,
        target: Target,
        permission: Option<Permission>,
        reason: &'static str,
    ) -> AuditEvent {
        let detail = match permission {
            Some(p) => Detail::none().permission(p),
            None => Detail::none(),
        };
        AuditEvent::new(at, actor, action, target)
            .with_outcome(Outcome::Denied)
            .with_detail(detail.word("reason", reason))
    }

    /// With another outcome.
    pub fn with_outcome(mut self, outcome: Outcome) -> AuditEvent {
        self.outcome = outcome;
        self
    }

    /// With counts, digests and words.
    pub fn with_detail(mut self, detail: Detail) -> AuditEvent {
        self.detail = detail;
        self
    }

    /// Answering `request`.
    pub fn with_request(mut self, request: RequestId) -> AuditEvent {
        self.request_id = request;
        self
    }
}

/// An event as stored: its place in the chain, and the stored text of each part (an
/// edited row may no longer parse, and verification must still read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Its position, gapless from 1.
    pub seq: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The actor, as stored (`operator:7`, `local:alice`, ...).
    pub actor: String,
    /// The action, as stored.
    pub action: String,
    /// The target, as stored (`campaign:3,form:2`).
    pub target: String,
    /// The outcome, as stored.
    pub outcome: String,
    /// The detail, as stored (`sent=10,failed=0`).
    pub detail: String,
    /// The request id, as stored (empty for none).
    pub request_id: String,
    /// The previous entry's hash (32 zero bytes for the first).
    #[serde(with = "hex_bytes")]
    pub prev_hash: [u8; 32],
    /// SHA-256 over `prev_hash` and this entry's canonical encoding.
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_through_their_text() {
        for actor in [
            Actor::Operator(OperatorId(7)),
            Actor::local("alice").unwrap(),
            Actor::PatientLink(42),
            Actor::system("reminders").unwrap(),
            Actor::Anonymous,
        ] {
            assert_eq!(actor.to_string().parse::<Actor>().unwrap(), actor);
        }
        assert_eq!(Actor::PatientLink(42).to_string(), "patient-link:42");
        for bad in [
            "alice",
            "local:",
            "local:a b",
            "operator:x",
            "robot:1",
            "local:é",
        ] {
            assert!(bad.parse::<Actor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_and_details_hold_ids_and_numbers_only() {
        let t = Target::campaign(CampaignId(3)).with_id(TargetKind::Form, 2);
        assert_eq!(t.to_string(), "campaign:3,form:2");
        assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
        assert!(t.names(TargetKind::Form, "2"));
        let e = Target::none()
            .with_name(TargetKind::Backup, "Jane Doe")
            .unwrap_err();
        assert!(e.to_string().contains("backup id"), "{e}");
        assert!(!e.to_string().contains("Jane"), "{e}");
        let d = Detail::none().count("sent", 10).word("state", "sending");
        assert_eq!(d.to_string(), "sent=10,state=sending");
        assert!(RequestId::parse("req-1.a_b").is_ok());
        assert!(RequestId::parse("a\nb").is_err());
    }

    #[test]
    fn words_parse_back_and_refuse_others() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), *a);
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), *o);
        }
        assert!("delete_everything".parse::<Action>().is_err());
    }
}
