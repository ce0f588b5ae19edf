//! Reading FHIR R4 patients: a Bundle, a single resource, or Bulk Data NDJSON files.
//!
//! [`read_path`] takes a file or a folder:
//! - a folder: every `*.ndjson` file in it (a Bulk Data `$export`), in name order;
//! - a `.ndjson` (or `.jsonl`) file: one resource a line, read line by line, so an export
//!   of any size is never held whole in memory (only the patients it yields are);
//! - any other file: one JSON resource, a `Bundle` (`collection`, `transaction`,
//!   `searchset`, ...) or a single `Patient`.
//!
//! `Patient` resources become patients ([`super::patient`]), `Condition` resources add
//! condition codes to them ([`super::condition`]), in any order and across files. Every
//! other resource type is skipped and counted. A Bulk Data file named after a type
//! (`Patient.ndjson`, `Patient-2.ndjson`) must hold only that type.
//!
//! All-or-nothing, like the CSV import: every problem is collected, each naming its
//! file, line or entry and FHIR element (`Patient.ndjson line 3, Patient.telecom[1].value:
//! ...`), never a value; any problem and nothing is returned to store.

use super::condition::{map_condition, CodeMap, ConditionOutcome};
use super::model::{self, Bundle, BundleEntry, ResourceHeader};
use super::patient::{map_patient, PatientOutcome};
use super::ElementError;
use crate::error::{Error, Result};
use crate::patient::{ConditionCode, Patient};
use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// How many problems one error lists before summarising the rest.
const MAX_LISTED_PROBLEMS: usize = 20;
/// The longest NDJSON line read, in bytes (a resource with large attachments fits).
pub const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// What an import needs besides the files.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The condition code map.
    pub codes: CodeMap,
    /// Today: contact points and addresses whose period ended before are ignored.
    pub today: NaiveDate,
}

/// The counts an import reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Patients read (to be stored).
    pub patients: u64,
    /// Of those, inactive or deceased: stored with both channels opted out, never invited.
    pub not_invited: u64,
    /// Of those, patients without an NHS number: imported keyed by their resource id
    /// (the external id).
    pub without_nhs_number: u64,
    /// Current, confirmed conditions with a mapped code, added to their patient.
    pub conditions_mapped: u64,
    /// Conditions not current or not confirmed (inactive, refuted, entered in error...).
    pub conditions_not_current: u64,
    /// Current conditions whose codes are not in the code map.
    pub conditions_unmapped: u64,
    /// Mapped conditions whose patient is not among those imported.
    pub conditions_without_patient: u64,
    /// Other resources skipped, by type.
    pub skipped: BTreeMap<String, u64>,
}

/// The result of reading: the patients to store and the counts.
#[derive(Debug)]
pub struct FhirImport {
    /// The patients, with their conditions, in the order read.
    pub patients: Vec<Patient>,
    /// The counts.
    pub summary: ImportSummary,
}

/// Reads a file or a Bulk Data folder (see the module docs).
pub fn read_path(path: &Path, options: &ImportOptions) -> Result<FhirImport> {
    let mut import = Importer::new(options);
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let entry = entry.map_err(|e| Error::io(path, e))?;
            let p = entry.path();
            if p.is_file() && is_ndjson(&p) {
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err(Error::invalid(
                path.display().to_string(),
                "the folder holds no .ndjson file (a FHIR Bulk Data export)",
            ));
        }
        // Patients first, so conditions find their patient as they are read and need not
        // wait in memory.
        files.sort_by_key(|p| (type_of_file(&file_label(p)) != Some("Patient"), p.clone()));
        for file in files {
            import.ndjson_file(&file)?;
        }
    } else if is_ndjson(path) {
        import.ndjson_file(path)?;
    } else {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        import.json(file, &file_label(path))?;
    }
    import.finish(&path.display().to_string())
}

/// Reads one JSON document: a Bundle or a single resource. `source` names it in errors.
pub fn read_json(reader: impl Read, source: &str, options: &ImportOptions) -> Result<FhirImport> {
    let mut import = Importer::new(options);
    import.json(reader, source)?;
    import.finish(source)
}

/// Reads NDJSON, one resource a line. `source` names it in errors (and, when it is a
/// type's file name such as `Patient.ndjson`, says which type every line must be).
pub fn read_ndjson(reader: impl Read, source: &str, options: &ImportOptions) -> Result<FhirImport> {
    let mut import = Importer::new(options);
    import.ndjson(reader, source)?;
    import.finish(source)
}

fn is_ndjson(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("ndjson" | "jsonl")
    )
}

fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The type every resource of a Bulk Data file must be, from its name
/// (`Patient.ndjson`, `Patient-2.ndjson`, `Condition_1.ndjson`).
fn type_of_file(name: &str) -> Option<&'static str> {
    ["Patient", "Condition"].into_iter().find(|t| {
        name.strip_prefix(t)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphabetic()))
    })
}

/// A resource type as it may be shown: a FHIR type name, or a placeholder.
fn shown_type(t: &str) -> String {
    let ok = t.len() <= 64
        && t.starts_with(|c: char| c.is_ascii_uppercase())
        && t.chars().all(|c| c.is_ascii_alphabetic());
    if ok {
        t.to_string()
    } else {
        "(not a FHIR type name)".to_string()
    }
}

/// An NHS number as a map key: its ten digits are a number.
fn nhs_key(n: &crate::patient::NhsNumber) -> u64 {
    n.as_str().parse().unwrap_or(u64::MAX)
}

/// A length or index as a count.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Where a resource was read: a file (by index), how it counts, and a line or entry
/// number, packed in 8 bytes (one is kept per patient, as the CSV import keeps a line
/// number): 20 bits of file, 2 of unit, 42 of number.
#[derive(Debug, Clone, Copy)]
struct Loc(u64);

const FILE_BITS: u32 = 20;
const N_BITS: u32 = 42;

impl Loc {
    fn new(file: u32, unit: Unit, n: u64) -> Loc {
        let file = u64::from(file).min((1 << FILE_BITS) - 1);
        let unit = match unit {
            Unit::Line => 0,
            Unit::Entry => 1,
            Unit::Whole => 2,
        };
        Loc(file << (N_BITS + 2) | unit << N_BITS | n.min((1 << N_BITS) - 1))
    }

    fn file(self) -> usize {
        usize::try_from(self.0 >> (N_BITS + 2)).unwrap_or(usize::MAX)
    }

    fn unit(self) -> Unit {
        match (self.0 >> N_BITS) & 3 {
            0 => Unit::Line,
            1 => Unit::Entry,
            _ => Unit::Whole,
        }
    }

    fn n(self) -> u64 {
        self.0 & ((1 << N_BITS) - 1)
    }
}

/// How a [`Loc`] counts.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// An NDJSON line, from 1.
    Line,
    /// A Bundle entry, from 0.
    Entry,
    /// The whole file.
    Whole,
}

/// Why serde_json refused a document, without repeating any of it.
fn json_problem(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Syntax => {
            format!(
                "is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        }
        serde_json::error::Category::Eof => "is not complete JSON (it ends early)".to_string(),
        serde_json::error::Category::Io => "could not be read".to_string(),
        serde_json::error::Category::Data => {
            "is not a FHIR resource (a JSON object with a string resourceType)".to_string()
        }
    }
}

/// A serde path as a FHIR element path under `root`, kept to safe characters.
fn element_path(root: &str, path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." {
        return root.to_string();
    }
    let safe = p.len() <= 200
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "[]._".contains(c));
    if safe {
        format!("{root}.{p}")
    } else {
        format!("{root} (an element)")
    }
}

/// Reads `T` from `de`, naming the element at fault.
fn decode<'de, T: DeserializeOwned, D: serde::Deserializer<'de>>(
    de: D,
    root: &str,
) -> std::result::Result<T, ElementError>
where
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(de).map_err(|e| ElementError {
        path: element_path(root, e.path()),
        message: "has the wrong JSON type or shape for FHIR R4".to_string(),
    })
}

struct Importer<'o> {
    options: &'o ImportOptions,
    files: Vec<String>,
    patients: Vec<Patient>,
    /// Resource id → patient index.
    by_id: HashMap<String, usize>,
    /// Bundle full URL → patient index.
    by_url: HashMap<String, usize>,
    /// NHS number (its ten digits as a number: no string kept) → where it was first read.
    nhs: HashMap<u64, Loc>,
    /// Where each patient was read, by patient index.
    locs: Vec<Loc>,
    /// Mapped conditions whose patient was not read yet.
    conditions: Vec<(String, ConditionCode)>,
    summary: ImportSummary,
    problems: Vec<String>,
    problem_count: usize,
}

impl<'o> Importer<'o> {
    fn new(options: &'o ImportOptions) -> Self {
        Importer {
            options,
            files: Vec::new(),
            patients: Vec::new(),
            by_id: HashMap::new(),
            by_url: HashMap::new(),
            nhs: HashMap::new(),
            locs: Vec::new(),
            conditions: Vec::new(),
            summary: ImportSummary::default(),
            problems: Vec::new(),
            problem_count: 0,
        }
    }

    fn where_(&self, loc: Loc) -> String {
        let file = self.files.get(loc.file()).map_or("?", String::as_str);
        match loc.unit() {
            Unit::Line => format!("{file} line {}", loc.n()),
            Unit::Entry => format!("{file} entry {}", loc.n()),
            Unit::Whole => file.to_string(),
        }
    }

    fn problem(&mut self, loc: Loc, message: impl std::fmt::Display) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            let at = self.where_(loc);
            self.problems.push(format!("{at}{message}"));
        }
    }

    fn element_problem(&mut self, loc: Loc, e: ElementError) {
        self.problem(loc, format_args!(", {}: {}", e.path, e.message));
    }

    fn add_file(&mut self, label: String) -> u32 {
        self.files.push(label);
        u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX)
    }

    fn ndjson_file(&mut self, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        self.ndjson(file, &file_label(path))
    }

    fn ndjson(&mut self, reader: impl Read, label: &str) -> Result<()> {
        let expected = type_of_file(label);
        let file = self.add_file(label.to_string());
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            let read = (&mut reader)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::io(label, e))?;
            if read == 0 {
                break;
            }
            n += 1;
            let loc = Loc::new(file, Unit::Line, n);
            if count(line.len()) > MAX_LINE_BYTES {
                self.problem(loc, format_args!(": longer than {MAX_LINE_BYTES} bytes"));
                // Skip the rest of the over-long line.
                let mut rest = Vec::new();
                loop {
                    rest.clear();
                    let r = (&mut reader)
                        .take(MAX_LINE_BYTES)
                        .read_until(b'\n', &mut rest)
                        .map_err(|e| Error::io(label, e))?;
                    if r == 0 || rest.last() == Some(&b'\n') {
                        break;
                    }
                }
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let header: ResourceHeader = match serde_json::from_slice(&line) {
                Ok(h) => h,
                Err(e) => {
                    self.problem(loc, format_args!(": the line {}", json_problem(&e)));
                    continue;
                }
            };
            let Some(kind) = header.resource_type else {
                self.problem(loc, ": resourceType is required");
                continue;
            };
            if let Some(expected) = expected.filter(|e| *e != kind) {
                self.problem(
                    loc,
                    format_args!(
                        ": a {} resource in a {expected} file (a Bulk Data file holds one type)",
                        shown_type(&kind)
                    ),
                );
                continue;
            }
            let mut de = serde_json::Deserializer::from_slice(&line);
            self.resource(&kind, &mut de, None, loc);
        }
        Ok(())
    }

    fn json(&mut self, mut reader: impl Read, label: &str) -> Result<()> {
        let file = self.add_file(label.to_string());
        let whole = Loc::new(file, Unit::Whole, 0);
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(label, e))?;
        let header: ResourceHeader = match serde_json::from_slice(&bytes) {
            Ok(h) => h,
            Err(e) => {
                self.problem(whole, format_args!(": the file {}", json_problem(&e)));
                return Ok(());
            }
        };
        match header.resource_type.as_deref() {
            None => self.problem(whole, ": resourceType is required"),
            Some("Bundle") => {
                let bundle: Bundle =
                    match decode(&mut serde_json::Deserializer::from_slice(&bytes), "Bundle") {
                        Ok(b) => b,
                        Err(e) => {
                            self.element_problem(whole, e);
                            return Ok(());
                        }
                    };
                drop(bytes);
                for (i, entry) in bundle.entry.into_iter().enumerate() {
                    let loc = Loc::new(file, Unit::Entry, count(i));
                    self.entry(i, entry, loc);
                }
            }
            Some(kind) => {
                let kind = kind.to_string();
                let mut de = serde_json::Deserializer::from_slice(&bytes);
                self.resource(&kind, &mut de, None, whole);
            }
        }
        Ok(())
    }

    fn entry(&mut self, i: usize, entry: serde_json::Value, loc: Loc) {
        let root = format!("Bundle.entry[{i}]");
        let entry: BundleEntry = match decode(&entry, &root) {
            Ok(e) => e,
            Err(e) => return self.element_problem(loc, e),
        };
        let Some(resource) = entry.resource else {
            *self
                .summary
                .skipped
                .entry("(entry without a resource)".to_string())
                .or_default() += 1;
            return;
        };
        let kind = match resource.get("resourceType") {
            Some(serde_json::Value::String(k)) => k.clone(),
            _ => {
                return self.problem(
                    loc,
                    format_args!(", {root}.resource.resourceType: is required"),
                )
            }
        };
        self.resource(&kind, &resource, entry.full_url.as_deref(), loc);
    }

    /// Reads one resource of type `kind` from `de`.
    fn resource<'de, D>(&mut self, kind: &str, de: D, full_url: Option<&str>, loc: Loc)
    where
        D: serde::Deserializer<'de>,
        D::Error: std::fmt::Display,
    {
        match kind {
            "Patient" => match decode::<model::Patient, _>(de, "Patient") {
                Ok(p) => self.patient(&p, full_url, loc),
                Err(e) => self.element_problem(loc, e),
            },
            "Condition" => match decode::<model::Condition, _>(de, "Condition") {
                Ok(c) => match map_condition(&c, &self.options.codes) {
                    Ok(ConditionOutcome::Mapped { subject, code }) => {
                        match self.subject(&subject) {
                            Some(i) => self.add_condition(i, code),
                            None => self.conditions.push((subject, code)),
                        }
                    }
                    Ok(ConditionOutcome::NotCurrent) => self.summary.conditions_not_current += 1,
                    Ok(ConditionOutcome::Unmapped) => self.summary.conditions_unmapped += 1,
                    Err(e) => self.element_problem(loc, e),
                },
                Err(e) => self.element_problem(loc, e),
            },
            other => *self.summary.skipped.entry(shown_type(other)).or_default() += 1,
        }
    }

    fn patient(&mut self, p: &model::Patient, full_url: Option<&str>, loc: Loc) {
        let url_id = full_url.and_then(|u| u.strip_prefix("urn:uuid:"));
        let patient = match map_patient(p, url_id, self.options.today) {
            Ok(PatientOutcome {
                patient,
                not_invited,
            }) => {
                self.summary.not_invited += u64::from(not_invited);
                *patient
            }
            Err(e) => return self.element_problem(loc, e),
        };
        if let Some(first) = self.by_id.get(&patient.external_id) {
            let first = self
                .locs
                .get(*first)
                .map_or_else(|| "?".to_string(), |l| self.where_(*l));
            return self.problem(loc, format_args!(", Patient.id: the same id is at {first}"));
        }
        if let Some(first) = patient
            .nhs_number
            .as_ref()
            .and_then(|n| self.nhs.get(&nhs_key(n)))
        {
            let first = self.where_(*first);
            return self.problem(
                loc,
                format_args!(", Patient.identifier: the same NHS number is at {first}"),
            );
        }
        let index = self.patients.len();
        match &patient.nhs_number {
            Some(n) => {
                self.nhs.insert(nhs_key(n), loc);
            }
            None => self.summary.without_nhs_number += 1,
        }
        self.locs.push(loc);
        self.by_id.insert(patient.external_id.clone(), index);
        if let Some(url) = full_url {
            self.by_url.insert(url.to_string(), index);
        }
        self.patients.push(patient);
    }

    /// The patient a condition's subject reference names, if imported here.
    fn subject(&self, reference: &str) -> Option<usize> {
        if let Some(&i) = self.by_url.get(reference) {
            return Some(i);
        }
        let id = reference.rsplit_once("Patient/").map(|(_, id)| id)?;
        let id = id.split('/').next().unwrap_or(id);
        self.by_id.get(id).copied()
    }

    fn add_condition(&mut self, patient: usize, code: ConditionCode) {
        if let Some(p) = self.patients.get_mut(patient) {
            p.conditions.insert(code);
            self.summary.conditions_mapped += 1;
        }
    }

    fn finish(mut self, source: &str) -> Result<FhirImport> {
        if self.problem_count > 0 {
            let mut message = format!(
                "{} bad resource(s), nothing was imported:\n  {}",
                self.problem_count,
                self.problems.join("\n  ")
            );
            if self.problem_count > self.problems.len() {
                message.push_str(&format!(
                    "\n  ... and {} more",
                    self.problem_count - self.problems.len()
                ));
            }
            return Err(Error::invalid(source, message));
        }
        for (subject, code) in std::mem::take(&mut self.conditions) {
            match self.subject(&subject) {
                Some(i) => self.add_condition(i, code),
                None => self.summary.conditions_without_patient += 1,
            }
        }
        self.summary.patients = count(self.patients.len());
        Ok(FhirImport {
            patients: self.patients,
            summary: self.summary,
        })
    }
}
