//! `medicare operator add|list|show|disable|enable|unlock|reset-mfa|set-role` and
//! `medicare operator token create|list|revoke`.
//!
//! Glue only: every command is one call into the workspace's `access::Service`. The local
//! CLI acts with the database credentials it was given and names itself
//! `local:<os user>` as the actor of what it changes. An enrolment URI holds the TOTP
//! secret: it is printed once, to a terminal only; when standard output is not a
//! terminal it is withheld unless `--show-enrolment` asks for it.

use crate::output::{print_json, say};
use clap::{Args, Subcommand};
use medicare_core::access::{
    AccessError, DisplayName, Enrolment, NewOperator, OperatorSummary, Role, Service, Username,
};
use medicare_core::config::Workspace;
use medicare_core::Error;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::io::{BufRead, IsTerminal};

/// `medicare operator ...`
#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Add an operator (pending until they confirm a first code from their app).
    Add {
        /// Their username (letters, digits, '.', '_', '-'; compared case-insensitively).
        username: String,
        /// Their role (analyst, form_designer, campaign_manager, data_steward,
        /// backup_operator, auditor, admin).
        #[arg(long)]
        role: String,
        /// Their name, for display (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        enrolment: ShowEnrolment,
    },
    /// List operators.
    List,
    /// Show one operator.
    Show {
        /// Their username.
        username: String,
    },
    /// Disable an operator: their sessions end, their tokens stop working.
    Disable {
        /// Their username.
        username: String,
    },
    /// Enable a disabled operator again.
    Enable {
        /// Their username.
        username: String,
    },
    /// Lift a lock after repeated failures.
    Unlock {
        /// Their username.
        username: String,
    },
    /// Replace an operator's second factor (a lost phone): they enrol again.
    ResetMfa {
        /// Their username.
        username: String,
        #[command(flatten)]
        enrolment: ShowEnrolment,
    },
    /// Give an operator another role (their sessions end).
    SetRole {
        /// Their username.
        username: String,
        /// The new role.
        role: String,
    },
    /// Per-operator API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `medicare operator token ...`
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make an API token for an operator; it is printed once.
    Create {
        /// Whose token.
        username: String,
        /// Its name (what it is for).
        #[arg(long)]
        name: String,
        /// Days until it stops working (at most 366).
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
    /// List an operator's tokens (never the tokens themselves).
    List {
        /// Whose tokens.
        username: String,
    },
    /// Revoke one of an operator's tokens.
    Revoke {
        /// Whose token.
        username: String,
        /// The token's id (from `token list`).
        id: i64,
    },
}

/// Whether an enrolment URI may go to a standard output that is not a terminal.
#[derive(Args)]
pub struct ShowEnrolment {
    /// Print the enrolment URI even when standard output is not a terminal.
    #[arg(long)]
    show_enrolment: bool,
}

/// The actor the local CLI records: `local:<os user>`.
pub fn local_actor() -> String {
    let user = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    let user: String = user.chars().filter(|c| !c.is_control()).take(64).collect();
    format!("local:{user}")
}

/// The core error of an access error (the admin commands meet no sign-in refusal).
fn core(e: AccessError) -> Error {
    match e {
        AccessError::Other(e) => e,
        other => Error::Conflict(other.to_string()),
    }
}

/// The new operator's password: the first line of standard input, or
/// `MEDICARE_OPERATOR_PASSWORD`.
fn read_password() -> Result<SecretString, Error> {
    if let Ok(p) = std::env::var("MEDICARE_OPERATOR_PASSWORD") {
        return Ok(SecretString::from(p));
    }
    if std::io::stdin().is_terminal() {
        eprintln!("Password for the new operator (at least 12 characters), then Enter:");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::invalid("password", format!("cannot read standard input: {e}")))?;
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_string(),
    ))
}

/// Prints an enrolment once, to a terminal (or where `--show-enrolment` says).
fn print_enrolment(enrolment: &Enrolment, show: &ShowEnrolment, json: bool) -> Option<String> {
    let uri = enrolment.otpauth_uri.expose_secret().to_string();
    if !(show.show_enrolment || std::io::stdout().is_terminal()) {
        eprintln!(
            "enrolment URI withheld: standard output is not a terminal (run on a terminal, or pass --show-enrolment)"
        );
        return None;
    }
    if !json {
        say!("Add this to the operator's authenticator app (shown once):");
        say!("{uri}");
    }
    Some(uri)
}

async fn find(service: &Service, username: &str) -> Result<OperatorSummary, Error> {
    service.operator_by_username(username).await.map_err(core)
}

fn print_operators(json: bool, operators: &[OperatorSummary]) {
    if json {
        print_json(&operators);
        return;
    }
    for o in operators {
        say!(
            "{:>4}  {:<24} {:<17} {:<9} {}",
            o.id.0,
            o.username.as_str(),
            o.role.as_str(),
            o.status,
            o.display_name.as_str()
        );
    }
}

/// What a change reports.
#[derive(Serialize)]
struct Changed<'a> {
    operator: &'a str,
    done: &'a str,
    actor: String,
}

fn changed(json: bool, username: &str, done: &str) {
    let actor = local_actor();
    tracing::info!(%actor, done, "operator changed by the local CLI");
    if json {
        print_json(&Changed {
            operator: username,
            done,
            actor,
        });
    } else {
        say!("{username}: {done}");
    }
}

/// Runs an operator command on the workspace.
pub async fn run(ws: &Workspace, command: OperatorCommand, json: bool) -> Result<(), Error> {
    let service = ws.access()?;
    match command {
        OperatorCommand::Add {
            username,
            role,
            display_name,
            enrolment,
        } => {
            let username = Username::parse(&username)?;
            let role: Role = role.parse()?;
            let display_name =
                DisplayName::parse(display_name.as_deref().unwrap_or(username.as_str()))?;
            let password = read_password()?;
            let new = NewOperator {
                username: username.clone(),
                display_name,
                role,
            };
            let (id, e) = service.add_operator(new, password).await.map_err(core)?;
            tracing::info!(actor = %local_actor(), operator = %id, "operator added by the local CLI");
            let uri = print_enrolment(&e, &enrolment, json);
            if json {
                print_json(&serde_json::json!({
                    "id": id,
                    "username": username,
                    "role": role,
                    "status": "pending",
                    "actor": local_actor(),
                    "enrolment_uri": uri,
                }));
            } else {
                say!("added {username} ({id}, {role}): pending until a first code from the app");
            }
        }
        OperatorCommand::List => {
            print_operators(json, &service.operators().await.map_err(core)?);
        }
        OperatorCommand::Show { username } => {
            let o = find(&service, &username).await?;
            if json {
                print_json(&o);
            } else {
                print_operators(false, std::slice::from_ref(&o));
                if let Some(until) = o.locked_until {
                    say!("      locked until {until}");
                }
            }
        }
        OperatorCommand::Disable { username } => {
            let o = find(&service, &username).await?;
            let ended = service.disable(o.id).await.map_err(core)?;
            changed(
                json,
                o.username.as_str(),
                &format!("disabled ({ended} sessions ended)"),
            );
        }
        OperatorCommand::Enable { username } => {
            let o = find(&service, &username).await?;
            service.enable(o.id).await.map_err(core)?;
            changed(json, o.username.as_str(), "enabled");
        }
        OperatorCommand::Unlock { username } => {
            let o = find(&service, &username).await?;
            service.unlock(o.id).await.map_err(core)?;
            changed(json, o.username.as_str(), "unlocked");
        }
        OperatorCommand::ResetMfa {
            username,
            enrolment,
        } => {
            let o = find(&service, &username).await?;
            let e = service.reset_mfa(o.id).await.map_err(core)?;
            let uri = print_enrolment(&e, &enrolment, json);
            if json {
                print_json(&serde_json::json!({
                    "operator": o.username,
                    "done": "second factor reset",
                    "actor": local_actor(),
                    "enrolment_uri": uri,
                }));
            } else {
                say!(
                    "{}: second factor reset, pending enrolment",
                    o.username.as_str()
                );
            }
        }
        OperatorCommand::SetRole { username, role } => {
            let role: Role = role.parse()?;
            let o = find(&service, &username).await?;
            service.set_role(o.id, role).await.map_err(core)?;
            changed(json, o.username.as_str(), &format!("role {role}"));
        }
        OperatorCommand::Token(command) => run_token(&service, command, json).await?,
    }
    Ok(())
}

async fn run_token(service: &Service, command: TokenCommand, json: bool) -> Result<(), Error> {
    match command {
        TokenCommand::Create {
            username,
            name,
            days,
        } => {
            let o = find(service, &username).await?;
            if !(1..=366).contains(&days) {
                return Err(Error::invalid("--days", "must be 1 to 366"));
            }
            let expires_at = chrono::Utc::now() + chrono::Duration::days(days);
            let issued = service
                .create_token(o.id, &name, expires_at)
                .await
                .map_err(core)?;
            if json {
                print_json(&serde_json::json!({
                    "id": issued.id,
                    "operator": o.username,
                    "expires_at": issued.expires_at,
                    "token": issued.token.expose(),
                    "actor": local_actor(),
                }));
            } else {
                say!(
                    "token {} for {} until {} (shown once):",
                    issued.id,
                    o.username.as_str(),
                    issued.expires_at
                );
                say!("{}", issued.token.expose());
            }
        }
        TokenCommand::List { username } => {
            let o = find(service, &username).await?;
            let tokens = service.tokens(o.id).await.map_err(core)?;
            if json {
                print_json(&tokens);
            } else {
                for t in &tokens {
                    let state = match t.revoked_at {
                        Some(at) => format!("revoked {at}"),
                        None => format!("expires {}", t.expires_at),
                    };
                    say!("{:>4}  {:<24} {state}", t.id.0, t.name);
                }
            }
        }
        TokenCommand::Revoke { username, id } => {
            let o = find(service, &username).await?;
            service
                .revoke_token(o.id, medicare_core::access::ApiTokenId(id))
                .await
                .map_err(core)?;
            changed(json, o.username.as_str(), &format!("token {id} revoked"));
        }
    }
    Ok(())
}
