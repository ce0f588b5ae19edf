//! Patient import from CSV.
//!
//! The header is [`CSV_HEADER`]; columns may come in any order, unknown columns are an
//! error (a typo would otherwise drop data silently). Every row is validated before
//! anything is stored: a file with one bad row imports nothing, and the error lists every
//! problem of each bad row by line number and column, without repeating the offending
//! value. A row whose external id or NHS number is already stored is named the same way
//! ([`CsvPatients::already_stored`]), never by the stored record it clashes with.

use super::{
    check_external_id, check_name, ConditionCode, Email, NhsNumber, Patient, PatientId, Phone,
    Postcode, Sex,
};
use crate::error::{Error, Result};
use chrono::NaiveDate;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;

/// The documented CSV header. `phone`, `email`, `conditions` and the opt-out columns may
/// be empty; `conditions` separates codes with `;`; opt-outs take `true/false`,
/// `yes/no`, `1/0` (empty is false).
pub const CSV_HEADER: &str = "external_id,nhs_number,given_name,family_name,date_of_birth,sex,phone,email,postcode,conditions,sms_opt_out,email_opt_out";

const REQUIRED: [&str; 7] = [
    "external_id",
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
];

/// How many bad rows one error lists before summarising the rest.
const MAX_LISTED_ERRORS: usize = 20;

/// A CSV file's valid patients, each with the line of the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvPatients {
    source: String,
    patients: Vec<Patient>,
    lines: Vec<u64>,
    sha256: [u8; 32],
}

/// A reader that hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

impl CsvPatients {
    /// The SHA-256 of the whole file (the audit ledger's record of which file was
    /// imported).
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The patients, in file order.
    pub fn patients(&self) -> &[Patient] {
        &self.patients
    }

    /// The patients, in file order.
    pub fn into_patients(self) -> Vec<Patient> {
        self.patients
    }

    /// The error for an import the store refused because some of these patients' keys
    /// are stored already: each clashing row by line and column of the file, never the
    /// stored record (nor its ids) it clashes with.
    pub fn already_stored<'a>(
        &self,
        stored: impl IntoIterator<Item = &'a (PatientId, Patient)>,
    ) -> Error {
        let mut ids = std::collections::HashSet::new();
        let mut nhs = std::collections::HashSet::new();
        for (_, p) in stored {
            ids.insert(p.external_id.as_str());
            if let Some(n) = &p.nhs_number {
                nhs.insert(n.as_str());
            }
        }
        let mut problems = Problems::default();
        for (p, line) in self.patients.iter().zip(&self.lines) {
            let mut row = Vec::new();
            if ids.contains(p.external_id.as_str()) {
                row.push((
                    "external_id",
                    "a patient with this id is already stored".into(),
                ));
            }
            if p.nhs_number
                .as_ref()
                .is_some_and(|n| nhs.contains(n.as_str()))
            {
                row.push((
                    "nhs_number",
                    "a patient with this NHS number is already stored".into(),
                ));
            }
            problems.row(*line, row);
        }
        if problems.count == 0 {
            // The store saw a clash this list does not hold (another import since).
            return Error::Conflict(format!(
                "{}: some of its patients are already stored (each external id and NHS \
                 number may be stored once), nothing was imported",
                self.source
            ));
        }
        let listed = problems.render(|rows| format!("{rows} row(s) are already stored"));
        Error::Conflict(format!("{}: {listed}", self.source))
    }
}

/// The problems found in a file, listed up to [`MAX_LISTED_ERRORS`].
#[derive(Default)]
struct Problems {
    listed: Vec<String>,
    count: usize,
    rows: usize,
}

impl Problems {
    /// Notes one problem of a row (or of the file) without a column.
    fn line(&mut self, line: u64, why: &str) {
        self.rows += 1;
        self.push(format!("line {line}: {why}"));
    }

    /// Notes every problem of one row (nothing when `errors` is empty).
    fn row(&mut self, line: u64, errors: Vec<RowError>) {
        if errors.is_empty() {
            return;
        }
        self.rows += 1;
        for (column, why) in errors {
            self.push(format!("line {line}, column {column}: {why}"));
        }
    }

    fn push(&mut self, message: String) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(message);
        }
    }

    /// `headline(rows), nothing was imported:` and the list.
    fn render(&self, headline: impl Fn(usize) -> String) -> String {
        let mut message = format!(
            "{}, nothing was imported:\n  {}",
            headline(self.rows),
            self.listed.join("\n  ")
        );
        if self.count > self.listed.len() {
            message.push_str(&format!(
                "\n  ... and {} more",
                self.count - self.listed.len()
            ));
        }
        message
    }
}

/// Parses and validates a whole CSV file of patients. `source` names the file in errors;
/// a date of birth after `today` is refused.
///
/// All-or-nothing: either every row is valid and unique (by external id and NHS number)
/// and all are returned, or an [`Error::InvalidInput`] lists every problem of each bad
/// row (up to 20 lines).
pub fn parse_csv(reader: impl Read, source: &str, today: NaiveDate) -> Result<CsvPatients> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(Hashing {
            inner: reader,
            hasher: sha2::Sha256::default(),
        });
    let columns = header_columns(&mut csv, source)?;

    let mut patients = Vec::new();
    let mut lines = Vec::new();
    let mut problems = Problems::default();
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut seen_nhs: HashMap<String, u64> = HashMap::new();

    for record in csv.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let why = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("the row has {len} fields, the header has {expected_len}")
                    }
                    csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_string(),
                    _ => "the row could not be read as CSV".to_string(),
                };
                problems.line(line, &why);
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let row = Row {
            record: &record,
            columns: &columns,
        };
        match patient_from_row(&row, today) {
            Ok(p) => {
                let mut clashes = Vec::new();
                if let Some(first) = seen_ids.get(&p.external_id) {
                    clashes.push(("external_id", format!("the same id is on line {first}")));
                }
                if let Some(first) = p.nhs_number.as_ref().and_then(|n| seen_nhs.get(n.as_str())) {
                    clashes.push((
                        "nhs_number",
                        format!("the same NHS number is on line {first}"),
                    ));
                }
                if clashes.is_empty() {
                    seen_ids.insert(p.external_id.clone(), line);
                    if let Some(n) = &p.nhs_number {
                        seen_nhs.insert(n.as_str().to_string(), line);
                    }
                    patients.push(p);
                    lines.push(line);
                } else {
                    problems.row(line, clashes);
                }
            }
            Err(errors) => problems.row(line, errors),
        }
    }

    if problems.count > 0 {
        let message = problems.render(|rows| format!("{rows} bad row(s)"));
        return Err(Error::invalid(source, message));
    }
    let mut rest = csv.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| Error::io(source, e))?;
    Ok(CsvPatients {
        source: source.to_string(),
        patients,
        lines,
        sha256: sha2::Digest::finalize(rest.hasher).into(),
    })
}

fn header_columns<R: Read>(
    csv: &mut csv::Reader<R>,
    source: &str,
) -> Result<HashMap<String, usize>> {
    let header = csv
        .headers()
        .map_err(|_| {
            Error::invalid(
                format!("{source} line 1"),
                "the header could not be read as CSV",
            )
        })?
        .clone();
    let known: BTreeSet<&str> = CSV_HEADER.split(',').collect();
    let mut columns = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        if !known.contains(name.as_str()) {
            let shown: String = name.chars().take(32).collect();
            return Err(Error::invalid(
                format!("{source} line 1, column {}", i + 1),
                format!("unknown column {shown:?}; the header is {CSV_HEADER}"),
            ));
        }
        if columns.insert(name.clone(), i).is_some() {
            return Err(Error::invalid(
                format!("{source} line 1"),
                format!("column {name} appears twice"),
            ));
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            format!("{source} line 1"),
            format!(
                "missing column(s) {}; the header is {CSV_HEADER}",
                missing.join(", ")
            ),
        ));
    }
    Ok(columns)
}

type RowError = (&'static str, String);

/// One CSV row, read by column name.
struct Row<'a> {
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn get(&self, name: &str) -> &str {
        self.columns
            .get(name)
            .and_then(|&i| self.record.get(i))
            .unwrap_or("")
    }
}

/// Collects every problem of a row, column by column.
#[derive(Default)]
struct RowErrors(Vec<RowError>);

impl RowErrors {
    /// The value, or `None` having noted why `column` is bad.
    fn take<T>(&mut self, column: &'static str, r: std::result::Result<T, String>) -> Option<T> {
        r.map_err(|why| self.0.push((column, why))).ok()
    }
}

fn patient_from_row(
    row: &Row<'_>,
    today: NaiveDate,
) -> std::result::Result<Patient, Vec<RowError>> {
    let get = |name: &str| row.get(name);
    let non_empty = |col: &str| check_name(get(col));
    let optional = |col: &str| Some(get(col)).filter(|v| !v.is_empty());
    let mut e = RowErrors::default();

    let external_id = e.take("external_id", check_external_id(get("external_id")));
    let nhs_number = e.take("nhs_number", NhsNumber::parse(get("nhs_number")));
    let given_name = e.take("given_name", non_empty("given_name"));
    let family_name = e.take("family_name", non_empty("family_name"));
    let date_of_birth = e.take(
        "date_of_birth",
        NaiveDate::parse_from_str(get("date_of_birth"), "%Y-%m-%d")
            .map_err(|_| "must be a date written YYYY-MM-DD".to_string())
            .and_then(|d| {
                if d > today {
                    Err("is in the future".to_string())
                } else {
                    Ok(d)
                }
            }),
    );
    let sex = e.take("sex", Sex::parse(get("sex")));
    let phone = e.take("phone", optional("phone").map(Phone::parse).transpose());
    let email = e.take("email", optional("email").map(Email::parse).transpose());
    let postcode = e.take("postcode", Postcode::parse(get("postcode")));
    let conditions = e.take(
        "conditions",
        get("conditions")
            .split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(ConditionCode::parse)
            .collect::<std::result::Result<BTreeSet<_>, _>>(),
    );
    let sms_opt_out = e.take("sms_opt_out", parse_flag(get("sms_opt_out")));
    let email_opt_out = e.take("email_opt_out", parse_flag(get("email_opt_out")));
    // Every column was read (so every problem is listed) before any is given up on.
    let patient = (|| {
        Some(Patient {
            external_id: external_id?,
            nhs_number: Some(nhs_number?),
            given_name: given_name?,
            family_name: family_name?,
            date_of_birth: date_of_birth?,
            sex: sex?,
            phone: phone?,
            email: email?,
            postcode: postcode?,
            conditions: conditions?,
            sms_opt_out: sms_opt_out?,
            email_opt_out: email_opt_out?,
        })
    })();
    match patient {
        Some(p) if e.0.is_empty() => Ok(p),
        _ => Err(e.0),
    }
}

fn parse_flag(s: &str) -> std::result::Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" | "n" => Ok(false),
        "true" | "yes" | "1" | "y" => Ok(true),
        _ => Err("must be true or false".to_string()),
    }
}

/// Writes patients as CSV with [`CSV_HEADER`] (the inverse of [`parse_csv`]).
pub fn write_csv(patients: &[Patient], writer: impl std::io::Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(writer);
    let io = |e: csv::Error| Error::io("<csv output>", std::io::Error::other(e.to_string()));
    w.write_record(CSV_HEADER.split(',')).map_err(io)?;
    for p in patients {
        let conditions: Vec<&str> = p.conditions.iter().map(ConditionCode::as_str).collect();
        w.write_record([
            p.external_id.as_str(),
            p.nhs_number.as_ref().map_or("", NhsNumber::as_str),
            &p.given_name,
            &p.family_name,
            &p.date_of_birth.to_string(),
            p.sex.as_str(),
            p.phone.as_ref().map_or("", Phone::as_str),
            p.email.as_ref().map_or("", Email::as_str),
            p.postcode.as_str(),
            &conditions.join(";"),
            if p.sms_opt_out { "true" } else { "false" },
            if p.email_opt_out { "true" } else { "false" },
        ])
        .map_err(io)?;
    }
    w.flush().map_err(|e| Error::io("<csv output>", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "943 476 5919";

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    fn csv_of(rows: &[&str]) -> String {
        let mut s = CSV_HEADER.to_string();
        for r in rows {
            s.push('\n');
            s.push_str(r);
        }
        s
    }

    #[test]
    fn a_valid_file_imports() {
        let text = csv_of(&[&format!(
            "P1,{GOOD},Ada,Lovelace,1950-12-10,f,07700900123,ada@example.org,sw1a1aa,copd;Asthma,no,"
        )]);
        let ps = parse_csv(text.as_bytes(), "t.csv", today())
            .unwrap()
            .into_patients();
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].phone.as_ref().unwrap().as_str(), "+447700900123");
        assert!(ps[0].has_condition("asthma"));
        let mut out = Vec::new();
        write_csv(&ps, &mut out).unwrap();
        assert_eq!(
            parse_csv(out.as_slice(), "round trip", today())
                .unwrap()
                .into_patients(),
            ps
        );
    }

    #[test]
    fn bad_rows_are_listed_by_line_and_column_without_values() {
        let text = csv_of(&[
            &format!("P1,{GOOD},Ada,Lovelace,1950-12-10,f,,,SW1A 1AA,,,"),
            "P2,9434765918,Secret,Name,1950-12-10,f,,,SW1A 1AA,,,",
            &format!("P3,{GOOD},Bob,B,10/12/1950,m,,,SW1A 1AA,,,"),
            "P4,too,few",
            &format!("P1,{GOOD},Ada,Lovelace,1950-12-10,f,,,SW1A 1AA,,,"),
            "P6,943 476 5870,Eve,E,1950-12-10,f,x; drop table patients,,SW1A 1AA,,,",
        ]);
        let err = parse_csv(text.as_bytes(), "p.csv", today())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3, column nhs_number"), "{err}");
        assert!(err.contains("line 4, column date_of_birth"), "{err}");
        assert!(err.contains("line 5: the row has 3 fields"), "{err}");
        assert!(err.contains("line 6, column external_id"), "{err}");
        assert!(err.contains("line 7, column phone"), "{err}");
        assert!(err.contains("5 bad row(s)"), "{err}");
        assert!(
            !err.contains("Secret") && !err.contains("drop table"),
            "{err}"
        );
    }

    #[test]
    fn header_problems_are_named() {
        let err = parse_csv("external_id,nhs\nP1,1".as_bytes(), "h.csv", today())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown column \"nhs\""), "{err}");
        let err = parse_csv("external_id\nP1".as_bytes(), "h.csv", today())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing column(s) nhs_number"), "{err}");
    }

    #[test]
    fn every_problem_of_a_row_is_listed_and_future_births_are_refused() {
        let text = csv_of(&[
            "P 1,9434765918,,Name,2026-12-01,q,0123,not-an-email,SW1A,zz top,maybe,",
            &format!("P2,{GOOD},Ada,L,2026-11-30,f,,,SW1A 1AA,,,"),
            &format!("P3,{GOOD},Bob,B,2026-12-25,m,,,SW1A 1AA,,,"),
        ]);
        let err = parse_csv(text.as_bytes(), "p.csv", today())
            .unwrap_err()
            .to_string();
        for column in [
            "external_id",
            "nhs_number",
            "given_name",
            "date_of_birth: is in the future",
            "sex",
            "phone",
            "email",
            "postcode",
            "conditions",
            "sms_opt_out",
        ] {
            assert!(
                err.contains(&format!("line 2, column {column}")),
                "{column}: {err}"
            );
        }
        assert!(
            err.contains("line 4, column date_of_birth: is in the future"),
            "{err}"
        );
        // Born today is fine.
        assert!(!err.contains("line 3"), "{err}");
        assert!(err.contains("2 bad row(s)"), "{err}");
        assert!(!err.contains("Name") && !err.contains("zz top"), "{err}");
    }

    #[test]
    fn rows_already_stored_are_named_by_line_and_column_only() {
        let text = csv_of(&[
            &format!("P1,{GOOD},Ada,Lovelace,1950-12-10,f,,,SW1A 1AA,,,"),
            "P2,943 476 5870,Bob,B,1950-12-10,m,,,SW1A 1AA,,,",
            "P3,401 023 2137,Cy,C,1950-12-10,m,,,SW1A 1AA,,,",
        ]);
        let file = parse_csv(text.as_bytes(), "new.csv", today()).unwrap();
        let mut stored = file.patients()[0].clone();
        stored.external_id = "STORED-77".into();
        let mut same_id = file.patients()[2].clone();
        same_id.nhs_number = Some(NhsNumber::parse("9434765870").unwrap());
        same_id.external_id = "P3".into();
        let err = file.already_stored(&[(PatientId(7), stored), (PatientId(8), same_id)]);
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("new.csv: "), "{msg}");
        assert!(
            msg.contains(
                "line 2, column nhs_number: a patient with this NHS number is already stored"
            ),
            "{msg}"
        );
        assert!(msg.contains("line 3, column nhs_number"), "{msg}");
        assert!(msg.contains("line 4, column external_id"), "{msg}");
        assert!(msg.contains("3 row(s) are already stored"), "{msg}");
        assert!(
            !msg.contains("STORED-77") && !msg.contains(" 7") && !msg.contains("Ada"),
            "{msg}"
        );
        let none = file.already_stored(&[]).to_string();
        assert!(
            none.contains("nothing was imported") && !none.contains("line"),
            "{none}"
        );
    }
}
