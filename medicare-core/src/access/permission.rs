//! What an operator can do: one [`Permission`] per action, and which actions need a
//! fresh second factor.
//!
//! Every route, page and CLI entry point an operator can reach names the permission it
//! needs; what is not granted is refused (see [`super::role`]).

use std::fmt;
use std::str::FromStr;

/// One thing an operator can do. Granted only through a [`super::Role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Permission {
    /// Count patients matching a filter (numbers only, never who).
    CountPatients,
    /// Import patients from a CSV file.
    ImportPatients,
    /// See identifiable patient data (names, contacts, NHS numbers).
    ViewPatientIdentity,
    /// Create and publish forms.
    CreateForms,
    /// Create campaigns and preview their audience and cost.
    CreateCampaigns,
    /// Send a campaign.
    SendCampaigns,
    /// Send reminder rounds.
    SendReminders,
    /// Follow a campaign's delivery and response counts (read tracking).
    ReadTracking,
    /// Read individual responses.
    ReadResponses,
    /// Export responses (a file of identifiable answers).
    ExportResponses,
    /// Read the weekly and campaign reports (aggregates).
    ReadReports,
    /// Run, list and verify backups.
    RunBackups,
    /// Restore a backup over the database.
    RestoreBackups,
    /// Add, change, disable and unlock operators.
    ManageOperators,
    /// Read the audit ledger.
    ReadAuditLog,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Permission; 15] = [
        Permission::CountPatients,
        Permission::ImportPatients,
        Permission::ViewPatientIdentity,
        Permission::CreateForms,
        Permission::CreateCampaigns,
        Permission::SendCampaigns,
        Permission::SendReminders,
        Permission::ReadTracking,
        Permission::ReadResponses,
        Permission::ExportResponses,
        Permission::ReadReports,
        Permission::RunBackups,
        Permission::RestoreBackups,
        Permission::ManageOperators,
        Permission::ReadAuditLog,
    ];

    /// The stable snake_case name (used in the OpenAPI document, the README and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CountPatients => "count_patients",
            Permission::ImportPatients => "import_patients",
            Permission::ViewPatientIdentity => "view_patient_identity",
            Permission::CreateForms => "create_forms",
            Permission::CreateCampaigns => "create_campaigns",
            Permission::SendCampaigns => "send_campaigns",
            Permission::SendReminders => "send_reminders",
            Permission::ReadTracking => "read_tracking",
            Permission::ReadResponses => "read_responses",
            Permission::ExportResponses => "export_responses",
            Permission::ReadReports => "read_reports",
            Permission::RunBackups => "run_backups",
            Permission::RestoreBackups => "restore_backups",
            Permission::ManageOperators => "manage_operators",
            Permission::ReadAuditLog => "read_audit_log",
        }
    }

    /// True when the action needs a second factor entered within the last few minutes
    /// (see [`super::SessionPolicy::fresh_second_factor`]): sending, restoring,
    /// exporting and managing operators.
    pub fn needs_fresh_second_factor(self) -> bool {
        matches!(
            self,
            Permission::SendCampaigns
                | Permission::RestoreBackups
                | Permission::ExportResponses
                | Permission::ManageOperators
        )
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| crate::Error::invalid("permission", "not a known permission name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
        for p in Permission::ALL {
            assert_eq!(p.to_string().parse::<Permission>().unwrap(), p);
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        assert!("send".parse::<Permission>().is_err());
    }

    #[test]
    fn exactly_send_restore_export_and_manage_operators_need_a_fresh_factor() {
        let fresh: Vec<_> = Permission::ALL
            .into_iter()
            .filter(|p| p.needs_fresh_second_factor())
            .collect();
        assert_eq!(
            fresh,
            [
                Permission::SendCampaigns,
                Permission::ExportResponses,
                Permission::RestoreBackups,
                Permission::ManageOperators
            ]
        );
    }
}
