//! Built-in roles and the one table that says what each may do.
//!
//! [`ROLE_PERMISSIONS`] is the only place a permission is granted: a role has exactly
//! the permissions its row lists, and anything else is refused (deny by default). The
//! README's "Operators and roles" table is generated from it ([`markdown_table`]) and a
//! test checks the two agree.

use super::Permission;
use std::fmt;
use std::str::FromStr;

/// A built-in operator role: a fixed set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Counts, tracking and reports; never identifiable patient data.
    Analyst,
    /// Designs and publishes forms.
    FormDesigner,
    /// Forms, campaigns, sending and reminders.
    CampaignManager,
    /// Imports, identifiable patient data, responses and their export.
    DataSteward,
    /// Runs, lists and verifies backups.
    BackupOperator,
    /// Reads the audit ledger, nothing else.
    Auditor,
    /// Manages operators and restores backups.
    Admin,
}

use Permission as P;

/// The role → permissions table: the single source of every grant.
pub const ROLE_PERMISSIONS: [(Role, &[Permission]); 7] = [
    (
        Role::Analyst,
        &[P::CountPatients, P::ReadTracking, P::ReadReports],
    ),
    (Role::FormDesigner, &[P::CreateForms]),
    (
        Role::CampaignManager,
        &[
            P::CountPatients,
            P::CreateForms,
            P::CreateCampaigns,
            P::SendCampaigns,
            P::SendReminders,
            P::ReadTracking,
        ],
    ),
    (
        Role::DataSteward,
        &[
            P::CountPatients,
            P::ImportPatients,
            P::ViewPatientIdentity,
            P::ReadResponses,
            P::ExportResponses,
        ],
    ),
    (Role::BackupOperator, &[P::RunBackups]),
    (Role::Auditor, &[P::ReadAuditLog]),
    (Role::Admin, &[P::ManageOperators, P::RestoreBackups]),
];

impl Role {
    /// Every role, in table order.
    pub const ALL: [Role; 7] = [
        Role::Analyst,
        Role::FormDesigner,
        Role::CampaignManager,
        Role::DataSteward,
        Role::BackupOperator,
        Role::Auditor,
        Role::Admin,
    ];

    /// The stable snake_case name (`campaign_manager`), as stored and typed in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::FormDesigner => "form_designer",
            Role::CampaignManager => "campaign_manager",
            Role::DataSteward => "data_steward",
            Role::BackupOperator => "backup_operator",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// The permissions this role has, from [`ROLE_PERMISSIONS`].
    pub fn permissions(self) -> &'static [Permission] {
        ROLE_PERMISSIONS
            .iter()
            .find(|(role, _)| *role == self)
            .map_or(&[], |(_, permissions)| permissions)
    }

    /// True when the role grants `permission`; false for anything not in its row.
    pub fn allows(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                crate::Error::invalid(
                    "role",
                    format!("not a known role (one of: {})", known.join(", ")),
                )
            })
    }
}

/// The role table as a markdown table: one row per permission, one column per role, a
/// check mark where granted, and a column saying which permissions ask for a fresh
/// second factor. This is what the README shows.
pub fn markdown_table() -> String {
    let mut out = String::from("| permission |");
    for role in Role::ALL {
        out.push_str(&format!(" `{role}` |"));
    }
    out.push_str(" fresh second factor |\n|---|");
    out.push_str(&":-:|".repeat(Role::ALL.len() + 1));
    out.push('\n');
    for p in Permission::ALL {
        out.push_str(&format!("| `{p}` |"));
        for role in Role::ALL {
            out.push_str(if role.allows(p) { " ✓ |" } else { " |" });
        }
        out.push_str(if p.needs_fresh_second_factor() {
            " ✓ |\n"
        } else {
            " |\n"
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_row_per_role_in_order() {
        let roles: Vec<_> = ROLE_PERMISSIONS.iter().map(|(r, _)| *r).collect();
        assert_eq!(roles, Role::ALL);
        for (role, permissions) in ROLE_PERMISSIONS {
            let mut sorted = permissions.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), permissions.len(), "{role} lists a duplicate");
        }
    }

    #[test]
    fn deny_by_default_and_least_privilege() {
        // Only what a row lists is allowed.
        for role in Role::ALL {
            for p in Permission::ALL {
                assert_eq!(role.allows(p), role.permissions().contains(&p));
            }
        }
        // The analyst never sees who a patient is.
        for p in [
            P::ViewPatientIdentity,
            P::ReadResponses,
            P::ExportResponses,
            P::ImportPatients,
        ] {
            assert!(!Role::Analyst.allows(p), "analyst must not have {p}");
        }
        assert_eq!(Role::Auditor.permissions(), [P::ReadAuditLog]);
        assert!(!Role::Admin.allows(P::ViewPatientIdentity));
        assert!(!Role::Admin.allows(P::SendCampaigns));
        // Every permission belongs to some role, and restore and operator management
        // to the admin alone.
        for p in Permission::ALL {
            let holders: Vec<_> = Role::ALL.into_iter().filter(|r| r.allows(p)).collect();
            assert!(!holders.is_empty(), "nobody has {p}");
            if matches!(p, P::RestoreBackups | P::ManageOperators) {
                assert_eq!(holders, [Role::Admin]);
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_roles_are_refused_clearly() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        let e = "root".parse::<Role>().unwrap_err().to_string();
        assert!(e.contains("role") && e.contains("campaign_manager"), "{e}");
    }

    #[test]
    fn the_markdown_table_marks_exactly_the_grants() {
        let table = markdown_table();
        let rows: Vec<_> = table.lines().skip(2).collect();
        assert_eq!(rows.len(), Permission::ALL.len());
        let send = rows
            .iter()
            .find(|r| r.starts_with("| `send_campaigns` |"))
            .unwrap();
        // Columns: permission, the seven roles, fresh factor.
        let cells: Vec<_> = send.split('|').map(str::trim).collect();
        assert_eq!(
            cells[1..10],
            ["`send_campaigns`", "", "", "✓", "", "", "", "", "✓"]
        );
    }

    /// The README's table is the one generated from [`ROLE_PERMISSIONS`].
    #[test]
    fn the_readme_shows_the_role_table() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("\n## Operators and roles\n")
            .nth(1)
            .expect("README has an \"Operators and roles\" section");
        let start = section.find("| permission |").expect("the role table");
        let shown: String = section[start..]
            .lines()
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            shown,
            markdown_table(),
            "README.md's role table is out of date; paste the output of access::role::markdown_table()"
        );
    }
}
