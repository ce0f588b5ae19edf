//! Patient import from CSV.
//!
//! The header is [`CSV_HEADER`]; columns may come in any order, unknown columns are an
//! error (a typo would otherwise drop data silently). Every row is validated before
//! anything is stored: a file with one bad row imports nothing, and the error lists each
//! bad row by line number and column, without repeating the offending value.

use super::{
    check_external_id, check_name, ConditionCode, Email, NhsNumber, Patient, Phone, Postcode, Sex,
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

/// Parses and validates a whole CSV file of patients. `source` names the file in errors.
///
/// All-or-nothing: either every row is valid and unique (by external id and NHS number)
/// and all are returned, or an [`Error::InvalidInput`] lists the bad rows.
pub fn parse_csv(reader: impl Read, source: &str) -> Result<Vec<Patient>> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(reader);
    let columns = header_columns(&mut csv, source)?;

    let mut patients = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut problem_count = 0usize;
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut seen_nhs: HashMap<String, u64> = HashMap::new();
    let mut note = |problems: &mut Vec<String>, msg: String| {
        problem_count += 1;
        if problems.len() < MAX_LISTED_ERRORS {
            problems.push(msg);
        }
    };

    for record in csv.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let why = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("has {len} fields, the header has {expected_len}")
                    }
                    csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
                    _ => "could not be read as CSV".to_string(),
                };
                note(&mut problems, format!("line {line}: the row {why}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        match patient_from_row(&Row {
            record: &record,
            columns: &columns,
        }) {
            Ok(p) => {
                if let Some(first) = seen_ids.insert(p.external_id.clone(), line) {
                    note(
                        &mut problems,
                        format!("line {line}, column external_id: the same id is on line {first}"),
                    );
                } else if let Some(first) = seen_nhs.insert(p.nhs_number.as_str().to_string(), line)
                {
                    note(&mut problems, format!("line {line}, column nhs_number: the same NHS number is on line {first}"));
                } else {
                    patients.push(p);
                }
            }
            Err((column, why)) => note(
                &mut problems,
                format!("line {line}, column {column}: {why}"),
            ),
        }
    }

    if problem_count > 0 {
        let mut message = format!(
            "{problem_count} bad row(s), nothing was imported:\n  {}",
            problems.join("\n  ")
        );
        if problem_count > problems.len() {
            message.push_str(&format!(
                "\n  ... and {} more",
                problem_count - problems.len()
            ));
        }
        return Err(Error::invalid(source, message));
    }
    Ok(patients)
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

fn with<T>(
    col: &'static str,
    r: std::result::Result<T, String>,
) -> std::result::Result<T, RowError> {
    r.map_err(|e| (col, e))
}

fn patient_from_row(row: &Row<'_>) -> std::result::Result<Patient, RowError> {
    let get = |name: &str| row.get(name);
    let non_empty = |col: &'static str| -> std::result::Result<String, RowError> {
        check_name(get(col)).map_err(|m| (col, m))
    };
    let optional = |col: &'static str| Some(get(col)).filter(|v| !v.is_empty());

    let external_id = non_empty("external_id")?;
    let external_id = check_external_id(&external_id).map_err(|m| ("external_id", m))?;
    let date_of_birth =
        NaiveDate::parse_from_str(get("date_of_birth"), "%Y-%m-%d").map_err(|_| {
            (
                "date_of_birth",
                "must be a date written YYYY-MM-DD".to_string(),
            )
        })?;
    let mut conditions = BTreeSet::new();
    for code in get("conditions")
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        conditions.insert(with("conditions", ConditionCode::parse(code))?);
    }
    Ok(Patient {
        nhs_number: with("nhs_number", NhsNumber::parse(get("nhs_number")))?,
        given_name: non_empty("given_name")?,
        family_name: non_empty("family_name")?,
        date_of_birth,
        sex: with("sex", Sex::parse(get("sex")))?,
        phone: optional("phone")
            .map(Phone::parse)
            .transpose()
            .map_err(|e| ("phone", e))?,
        email: optional("email")
            .map(Email::parse)
            .transpose()
            .map_err(|e| ("email", e))?,
        postcode: with("postcode", Postcode::parse(get("postcode")))?,
        conditions,
        sms_opt_out: with("sms_opt_out", parse_flag(get("sms_opt_out")))?,
        email_opt_out: with("email_opt_out", parse_flag(get("email_opt_out")))?,
        external_id,
    })
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
    let io = |e: csv::Error| Error::Io {
        path: "<csv output>".into(),
        source: std::io::Error::other(e.to_string()),
    };
    w.write_record(CSV_HEADER.split(',')).map_err(io)?;
    for p in patients {
        let conditions: Vec<&str> = p.conditions.iter().map(ConditionCode::as_str).collect();
        w.write_record([
            p.external_id.as_str(),
            p.nhs_number.as_str(),
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
        let ps = parse_csv(text.as_bytes(), "t.csv").unwrap();
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].phone.as_ref().unwrap().as_str(), "+447700900123");
        assert!(ps[0].has_condition("asthma"));
        let mut out = Vec::new();
        write_csv(&ps, &mut out).unwrap();
        assert_eq!(parse_csv(out.as_slice(), "round trip").unwrap(), ps);
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
        let err = parse_csv(text.as_bytes(), "p.csv").unwrap_err().to_string();
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
        let err = parse_csv("external_id,nhs\nP1,1".as_bytes(), "h.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown column \"nhs\""), "{err}");
        let err = parse_csv("external_id\nP1".as_bytes(), "h.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing column(s) nhs_number"), "{err}");
    }
}
