//! The command's exit statuses: one mapping from the library's [`ErrorKind`], plus the
//! statuses that are not errors (success, a send that finished with failed deliveries;
//! clap exits with 2 for a bad command line itself). The README's exit-code table is checked against it.

use medicare_core::campaign::SendReport;
use medicare_core::ErrorKind;
use std::process::ExitCode;

/// The send (or reminder round) finished, but some deliveries failed.
pub const DELIVERIES_FAILED: u8 = 7;

/// The send (or reminder round) stopped at the campaign's spend cap; the rest is pending.
pub const AT_BUDGET: u8 = 8;

/// `audit verify` found the ledger not intact.
pub const LEDGER_NOT_INTACT: u8 = 9;

/// The exit status a send report calls for: [`AT_BUDGET`] when it stopped at the cap,
/// [`DELIVERIES_FAILED`] when deliveries failed, else success.
pub fn of_send(report: &SendReport) -> ExitCode {
    if report.stopped_at_budget.is_some() {
        ExitCode::from(AT_BUDGET)
    } else if report.failed.values().any(|&n| n > 0) {
        ExitCode::from(DELIVERIES_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// The exit status of an error of `kind`.
pub fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInput => 3,
        ErrorKind::NotFound => 4,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => 5,
        ErrorKind::Config => 6,
        ErrorKind::Notify | ErrorKind::Database | ErrorKind::Io | ErrorKind::Internal => 1,
        // A kind added to the library after this release: outside the caller's control
        // until this table says otherwise (the tests fail until it does).
        _ => 1,
    }
}

/// [`code`] as an [`ExitCode`].
pub fn status(kind: ErrorKind) -> ExitCode {
    ExitCode::from(code(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A bad command line: clap's own status for usage errors (clap exits with it).
    const USAGE: u8 = 2;

    /// The README's exit-code table: status → the error kinds it lists (in backquotes).
    fn readme_table() -> BTreeMap<u8, Vec<String>> {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md");
        let start = readme
            .find("| Exit status |")
            .expect("the README has an exit-code table");
        let mut table = BTreeMap::new();
        for line in readme[start..].lines().skip(2) {
            let Some(row) = line.strip_prefix('|') else {
                break;
            };
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let status: u8 = cells[0].parse().unwrap_or_else(|_| panic!("row {line}"));
            let kinds = cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            assert!(
                table.insert(status, kinds).is_none(),
                "status {status} twice"
            );
        }
        table
    }

    #[test]
    fn readme_exit_code_table_matches_the_mapping() {
        let table = readme_table();
        for kind in ErrorKind::ALL {
            let rows: Vec<u8> = table
                .iter()
                .filter(|(_, kinds)| kinds.iter().any(|k| k == kind.as_str()))
                .map(|(status, _)| *status)
                .collect();
            assert_eq!(rows, vec![code(*kind)], "README row for kind {kind}");
        }
        let listed: usize = table.values().map(Vec::len).sum();
        assert_eq!(
            listed,
            ErrorKind::ALL.len(),
            "the README lists only real kinds"
        );
        for status in [0, USAGE, DELIVERIES_FAILED] {
            assert_eq!(table.get(&status), Some(&vec![]), "README row {status}");
        }
    }

    #[test]
    fn exit_codes_agree_with_the_api_statuses() {
        for kind in ErrorKind::ALL {
            let code = code(*kind);
            let http = medicare_core::server::api::http_status(*kind);
            assert!(
                code != 0 && code != USAGE && code != DELIVERIES_FAILED,
                "{kind}"
            );
            // 3, 4 and 5 are the caller's to fix, as a 4xx is; 1 and 6 are not, as a 5xx.
            assert_eq!(
                (3..=5).contains(&code),
                http.is_client_error(),
                "{kind}: exit {code}, HTTP {http}"
            );
            assert_eq!(http.is_client_error(), kind.is_caller_error(), "{kind}");
        }
        // The disagreement this mapping was made to end: a template error.
        assert_eq!(code(ErrorKind::Internal), 1);
    }
}
