//! Tests of the FHIR import and export: Bundles and Bulk Data NDJSON built here, with the
//! cases records really hold (several names, ranked and ended contact points, inactive
//! and deceased patients, conditions refuted or entered in error, codes outside the map),
//! compared field by field after a trip through SQLite, PostgreSQL and MySQL; bad input;
//! the exports validated by the `fhir.resources` Python package; a response round trip.

use super::condition::{CodeMap, ICD_10, ICD_10_CM, SNOMED_CT};
use super::import::{read_json, read_path, ImportOptions, ImportSummary};
use super::model::QuestionnaireResponse;
use super::{answers_from_response, export_responses, questionnaire, response_resource};
use crate::campaign::CampaignId;
use crate::form::FormSpec;
use crate::patient::{ConditionCode, Email, NhsNumber, Patient, Phone, Postcode, Sex};
use crate::store::{ResponseRow, Store};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const NHS_1: &str = "9434765919";
const NHS_2: &str = "9434765870";
const NHS_3: &str = "9876543210";
const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 17).unwrap()
}

fn options() -> ImportOptions {
    ImportOptions {
        codes: CodeMap::standard(),
        today: today(),
    }
}

fn nhs(id: &str) -> Value {
    json!({"system": "https://fhir.nhs.uk/Id/nhs-number", "value": id})
}

/// Three patients with NHS numbers, one without, as the tricky cases need them.
fn patients() -> Vec<Value> {
    vec![
        json!({
            "resourceType": "Patient", "id": "pat-1",
            "meta": {"versionId": "3"},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "identifier": [{"system": "https://example.org/mrn", "value": "MRN-1"}, nhs(NHS_1)],
            "active": true,
            "name": [
                {"use": "old", "family": "Byron", "given": ["Augusta", "Ada"]},
                {"use": "usual", "family": "Lovelace", "given": ["Ada"]},
                {"use": "official", "family": "King", "given": ["Augusta", "Ada"], "prefix": ["Countess"]}
            ],
            "telecom": [
                {"system": "phone", "value": "020 7946 0000", "use": "home", "rank": 1},
                {"system": "phone", "value": "+447700900002", "use": "mobile", "rank": 2},
                {"system": "phone", "value": "07700 900001", "use": "mobile", "rank": 1,
                 "period": {"end": "2020-01-31"}},
                {"system": "email", "value": "second@example.org", "rank": 2},
                {"system": "email", "value": "first@example.org", "rank": 1, "use": "work"},
                {"system": "email", "value": "old@example.org", "rank": 0, "use": "old"}
            ],
            "gender": "female",
            "birthDate": "1950-12-10",
            "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1950-12-10T06:00:00Z"}]},
            "address": [
                {"use": "old", "postalCode": "W1A 0AX"},
                {"use": "home", "postalCode": "sw1a1aa", "line": ["1 The Mall"]},
                {"use": "home", "postalCode": "M1 1AE", "period": {"end": "2019"}}
            ],
            "maritalStatus": {"coding": [{"code": "M"}]}
        }),
        json!({
            "resourceType": "Patient", "id": "pat-2",
            "identifier": [nhs(NHS_2)],
            "active": false,
            "name": [{"family": "Babbage", "given": ["Charles"]}],
            "telecom": [{"system": "phone", "value": "07700 900123"}],
            "gender": "male",
            "birthDate": "1941-12-26",
            "address": [{"postalCode": "M1 1AE"}]
        }),
        json!({
            "resourceType": "Patient", "id": "pat-3",
            "identifier": [nhs(NHS_3)],
            "name": [{"use": "official", "family": "Hopper", "given": ["Grace", "Brewster"]}],
            "gender": "other",
            "birthDate": "1936-12-09",
            "deceasedDateTime": "2026-01-01",
            "address": [{"use": "temp", "postalCode": "EH1 1YZ"}]
        }),
        json!({
            "resourceType": "Patient", "id": "pat-4",
            "identifier": [{"system": "https://fhir.example.scot/chi", "value": "1234567890"}],
            "name": [{"family": "Elsewhere", "given": ["Not"]}],
            "birthDate": "1960-01-01"
        }),
    ]
}

fn condition(
    subject: &str,
    system: &str,
    code: &str,
    clinical: &str,
    verification: Option<&str>,
) -> Value {
    let mut c = json!({
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
        "code": {"coding": [{"system": "http://example.org/local", "code": "X"}, {"system": system, "code": code}], "text": "secret words"},
        "subject": {"reference": subject},
        "onsetDateTime": "2001-01-01"
    });
    if let Some(v) = verification {
        c["verificationStatus"] = json!({"coding": [{"system": VERIFICATION, "code": v}]});
    }
    c
}

/// Conditions of every kind; `r(n)` is the reference to patient `pat-n`.
fn conditions(r: impl Fn(u32) -> String) -> Vec<Value> {
    vec![
        condition(&r(1), SNOMED_CT, "195967001", "active", Some("confirmed")),
        condition(&r(1), ICD_10, "J44.9", "active", None),
        condition(
            &r(1),
            SNOMED_CT,
            "233703007",
            "active",
            Some("entered-in-error"),
        ),
        condition(&r(2), SNOMED_CT, "12295008", "inactive", Some("confirmed")),
        condition(&r(2), SNOMED_CT, "44054006", "active", Some("confirmed")),
        condition(&r(2), ICD_10_CM, "J84.10", "recurrence", Some("confirmed")),
        condition(&r(3), SNOMED_CT, "190905008", "active", Some("refuted")),
        condition(&r(3), SNOMED_CT, "190905008", "resolved", Some("confirmed")),
        condition(&r(3), SNOMED_CT, "12295008", "relapse", Some("provisional")),
        condition(&r(4), SNOMED_CT, "13645005", "active", Some("confirmed")),
        condition(
            "Patient/someone-else",
            SNOMED_CT,
            "13645005",
            "active",
            Some("confirmed"),
        ),
    ]
}

fn others() -> Vec<Value> {
    vec![
        json!({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}}),
        json!({"resourceType": "Encounter", "id": "e1", "status": "finished"}),
        json!({"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Who"}]}),
        json!({"resourceType": "Observation", "id": "o2", "status": "final", "code": {"text": "y"}}),
    ]
}

fn code(c: &str) -> ConditionCode {
    ConditionCode::parse(c).unwrap()
}

/// What the resources above must import as.
fn expected() -> Vec<Patient> {
    vec![
        Patient {
            external_id: "pat-1".into(),
            nhs_number: NhsNumber::parse(NHS_1).unwrap(),
            given_name: "Augusta Ada".into(),
            family_name: "King".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1950, 12, 10).unwrap(),
            sex: Sex::Female,
            phone: Some(Phone::parse("+447700900002").unwrap()),
            email: Some(Email::parse("first@example.org").unwrap()),
            postcode: Postcode::parse("SW1A 1AA").unwrap(),
            conditions: [code("asthma"), code("copd")].into(),
            sms_opt_out: false,
            email_opt_out: false,
        },
        Patient {
            external_id: "pat-2".into(),
            nhs_number: NhsNumber::parse(NHS_2).unwrap(),
            given_name: "Charles".into(),
            family_name: "Babbage".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1941, 12, 26).unwrap(),
            sex: Sex::Male,
            phone: Some(Phone::parse("+447700900123").unwrap()),
            email: None,
            postcode: Postcode::parse("M1 1AE").unwrap(),
            conditions: [code("ild")].into(),
            sms_opt_out: true,
            email_opt_out: true,
        },
        Patient {
            external_id: "pat-3".into(),
            nhs_number: NhsNumber::parse(NHS_3).unwrap(),
            given_name: "Grace Brewster".into(),
            family_name: "Hopper".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1936, 12, 9).unwrap(),
            sex: Sex::Other,
            phone: None,
            email: None,
            postcode: Postcode::parse("EH1 1YZ").unwrap(),
            conditions: Default::default(),
            sms_opt_out: true,
            email_opt_out: true,
        },
    ]
}

fn expected_summary() -> ImportSummary {
    ImportSummary {
        patients: 3,
        not_invited: 2,
        without_nhs_number: 1,
        conditions_mapped: 3,
        conditions_not_current: 5,
        conditions_unmapped: 1,
        conditions_without_patient: 2,
        skipped: BTreeMap::from([
            ("Encounter".to_string(), 1),
            ("Observation".to_string(), 2),
            ("Practitioner".to_string(), 1),
        ]),
    }
}

/// Compares field by field, so a failure names the patient and the field.
fn assert_same(got: &[Patient], want: &[Patient]) {
    assert_eq!(got.len(), want.len(), "patient count");
    for (g, w) in got.iter().zip(want) {
        let id = &w.external_id;
        assert_eq!(g.external_id, w.external_id);
        assert_eq!(g.nhs_number, w.nhs_number, "{id} nhs_number");
        assert_eq!(g.given_name, w.given_name, "{id} given_name");
        assert_eq!(g.family_name, w.family_name, "{id} family_name");
        assert_eq!(g.date_of_birth, w.date_of_birth, "{id} date_of_birth");
        assert_eq!(g.sex, w.sex, "{id} sex");
        assert_eq!(g.phone, w.phone, "{id} phone");
        assert_eq!(g.email, w.email, "{id} email");
        assert_eq!(g.postcode, w.postcode, "{id} postcode");
        assert_eq!(g.conditions, w.conditions, "{id} conditions");
        assert_eq!(g.sms_opt_out, w.sms_opt_out, "{id} sms_opt_out");
        assert_eq!(g.email_opt_out, w.email_opt_out, "{id} email_opt_out");
        assert_eq!(g, w);
    }
}

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "total": entries.len(), "entry": entries})
}

fn read_bundle(b: &Value) -> crate::Result<super::FhirImport> {
    read_json(b.to_string().as_bytes(), "bundle.json", &options())
}

fn all_resources(r: impl Fn(u32) -> String) -> Vec<Value> {
    // Conditions first: they may come before their patients.
    let mut all = conditions(r);
    all.extend(others());
    all.extend(patients());
    all
}

#[test]
fn collection_and_searchset_bundles_import_the_tricky_cases() {
    for kind in ["collection", "searchset"] {
        let entries = all_resources(|n| format!("Patient/pat-{n}"))
            .into_iter()
            .map(|r| json!({"fullUrl": "https://ehr.example/fhir/x", "resource": r, "search": {"mode": "match"}}))
            .collect();
        let import = read_bundle(&bundle(kind, entries)).unwrap();
        assert_same(&import.patients, &expected());
        assert_eq!(import.summary, expected_summary(), "{kind}");
    }
}

#[test]
fn a_transaction_bundle_resolves_references_by_full_url() {
    let url = |n: u32| format!("urn:uuid:0000000{n}-aaaa-4bbb-8ccc-000000000000");
    let mut entries: Vec<Value> = conditions(url)
        .into_iter()
        .chain(others())
        .map(|r| json!({"resource": r, "request": {"method": "POST", "url": "X"}}))
        .collect();
    for (i, p) in patients().into_iter().enumerate() {
        let n = u32::try_from(i).unwrap() + 1;
        entries.push(json!({"fullUrl": url(n), "resource": p, "request": {"method": "PUT", "url": format!("Patient/pat-{n}")}}));
    }
    let import = read_bundle(&bundle("transaction", entries)).unwrap();
    assert_same(&import.patients, &expected());
    assert_eq!(import.summary, expected_summary());
}

#[test]
fn a_single_patient_imports() {
    let text = patients()[0].to_string();
    let import = read_json(text.as_bytes(), "p.json", &options()).unwrap();
    let mut want = expected()[0].clone();
    want.conditions.clear();
    assert_same(&import.patients, &[want]);
}

/// Writes a Bulk Data export of the tricky cases into `dir`.
fn write_export(dir: &Path) {
    let lines =
        |values: Vec<Value>| -> String { values.iter().map(|v| format!("{v}\n")).collect() };
    std::fs::write(dir.join("Patient.ndjson"), lines(patients())).unwrap();
    std::fs::write(
        dir.join("Condition.ndjson"),
        lines(conditions(|n| format!("Patient/pat-{n}"))),
    )
    .unwrap();
    // A blank line and CRLF endings are tolerated.
    let others: String = others().iter().map(|v| format!("{v}\r\n")).collect();
    std::fs::write(dir.join("Observation.ndjson"), format!("{others}\n")).unwrap();
    std::fs::write(dir.join("manifest.json"), "{}").unwrap();
}

#[test]
fn a_bulk_data_folder_imports_the_tricky_cases() {
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path());
    let import = read_path(dir.path(), &options()).unwrap();
    assert_same(&import.patients, &expected());
    assert_eq!(import.summary, expected_summary());
    // One file alone: its conditions' patients are elsewhere.
    let alone = read_path(&dir.path().join("Condition.ndjson"), &options()).unwrap();
    assert_eq!(alone.summary.conditions_without_patient, 5);
}

#[test]
fn the_code_map_is_documented_and_extendable() {
    let mut map = CodeMap::standard();
    for (system, code, want) in [
        (SNOMED_CT, "195967001", "asthma"),
        (SNOMED_CT, "13645005", "copd"),
        (SNOMED_CT, "12295008", "bronchiectasis"),
        (SNOMED_CT, "190905008", "cystic_fibrosis"),
        (SNOMED_CT, "233703007", "ild"),
        (ICD_10, "J45.9", "asthma"),
        (ICD_10_CM, "J44.1", "copd"),
        (ICD_10, "J47", "bronchiectasis"),
        (super::condition::ICD_10_UK, "E84.0", "cystic_fibrosis"),
        (ICD_10_CM, "j8410", "ild"),
        (
            super::condition::MEDICARE_CONDITION_SYSTEM,
            "diabetes",
            "diabetes",
        ),
    ] {
        assert_eq!(
            map.lookup(system, code),
            Some(code_of(want)),
            "{system} {code}"
        );
    }
    assert_eq!(map.lookup(SNOMED_CT, "426979002"), None);
    assert_eq!(map.lookup(ICD_10, "J18"), None);
    map.extend_from_toml(
        "[[code]]\nsystem = \"http://snomed.info/sct\"\ncode = \"426979002\"\ncondition = \"asthma\"\n",
        "fhir-codes.toml",
    )
    .unwrap();
    assert_eq!(map.lookup(SNOMED_CT, "426979002"), Some(code_of("asthma")));
    let err = map
        .extend_from_toml(
            "[[code]]\nsystem = \"s\"\ncode = \"c\"\ncondition = \"Not Valid!\"\n",
            "fhir-codes.toml",
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("fhir-codes.toml code 1"), "{err}");
    let err = map
        .extend_from_toml("[[code]]\nsystem = 1\n", "fhir-codes.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("fhir-codes.toml"), "{err}");
}

fn code_of(c: &str) -> ConditionCode {
    code(c)
}

fn error_of(r: crate::Result<super::FhirImport>) -> String {
    r.expect_err("the import must fail").to_string()
}

#[test]
fn bad_input_is_named_by_file_line_and_element_without_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = patients().iter().map(Value::to_string).collect();
    lines.insert(
        1,
        "{\"resourceType\": \"Patient\", \"id\": \"broken\"".to_string(),
    );
    let mut bad_phone = patients()[1].clone();
    bad_phone["id"] = json!("pat-9");
    bad_phone["identifier"] = json!([nhs("9434765918")]);
    lines.push(bad_phone.to_string());
    let mut bad_phone = patients()[0].clone();
    bad_phone["id"] = json!("pat-10");
    bad_phone["identifier"] = json!([nhs("9000000009")]);
    bad_phone["telecom"][1]["value"] = json!("+44 77OO drop table");
    lines.push(bad_phone.to_string());
    let mut wrong_type = patients()[1].clone();
    wrong_type["id"] = json!("pat-11");
    wrong_type["birthDate"] = json!(19501210);
    lines.push(wrong_type.to_string());
    lines.push(json!({"resourceType": "Observation", "id": "o"}).to_string());
    lines.push(patients()[0].to_string());
    std::fs::write(dir.path().join("Patient.ndjson"), lines.join("\n")).unwrap();
    let err = error_of(read_path(dir.path(), &options()));
    for want in [
        "6 bad resource(s), nothing was imported",
        "Patient.ndjson line 2: the line is not complete JSON",
        "Patient.ndjson line 6, Patient.identifier[0].value: the NHS number's check digit is wrong",
        "Patient.ndjson line 7, Patient.telecom[1].value: a phone number must be E.164",
        "Patient.ndjson line 8, Patient.birthDate: has the wrong JSON type",
        "Patient.ndjson line 9: a Observation resource in a Patient file",
        "Patient.ndjson line 10, Patient.id: the same id is at Patient.ndjson line 1",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    for secret in [
        "9434765918",
        "77OO",
        "drop table",
        "19501210",
        "Babbage",
        "Lovelace",
    ] {
        assert!(
            !err.contains(secret),
            "the error repeats {secret:?}:\n{err}"
        );
    }
}

#[test]
fn malformed_json_and_odd_documents_are_refused() {
    let err = error_of(read_json(
        "{\"resourceType\": \"Bundle\", \"entry\": [".as_bytes(),
        "b.json",
        &options(),
    ));
    assert!(
        err.contains("b.json: the file is not complete JSON"),
        "{err}"
    );
    let err = error_of(read_json("[1, 2]".as_bytes(), "b.json", &options()));
    assert!(
        err.contains("b.json: the file is not a FHIR resource"),
        "{err}"
    );
    let err = error_of(read_json(
        "{\"id\": \"x\"}".as_bytes(),
        "b.json",
        &options(),
    ));
    assert!(err.contains("resourceType is required"), "{err}");
    let err = error_of(read_json(
        json!({"resourceType": "Bundle", "entry": {"not": "a list"}})
            .to_string()
            .as_bytes(),
        "b.json",
        &options(),
    ));
    assert!(
        err.contains("b.json, Bundle.entry: has the wrong JSON type"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = error_of(read_path(dir.path(), &options()));
    assert!(err.contains("no .ndjson file"), "{err}");
}

#[test]
fn a_bundle_of_100000_garbage_entries_is_refused_with_where() {
    let mut entries: Vec<Value> = Vec::with_capacity(100_000);
    for i in 0..100_000u32 {
        entries.push(match i % 4 {
            0 => json!(i),
            1 => json!({"resource": {"resourceType": "Patient", "name": "not a list"}}),
            2 => json!({"resource": {"no": "type"}}),
            _ => json!({"resource": {"resourceType": "Patient", "id": "g", "identifier": [nhs("1234567890")]}}),
        });
    }
    let err = error_of(read_bundle(&bundle("collection", entries)));
    assert!(
        err.contains("100000 bad resource(s), nothing was imported"),
        "{err}"
    );
    assert!(
        err.contains("bundle.json entry 0, Bundle.entry[0]: has the wrong JSON type"),
        "{err}"
    );
    assert!(
        err.contains("bundle.json entry 1, Patient.name: has the wrong JSON type"),
        "{err}"
    );
    assert!(
        err.contains("bundle.json entry 2, Bundle.entry[2].resource.resourceType: is required"),
        "{err}"
    );
    assert!(
        err.contains("bundle.json entry 3, Patient.identifier[0].value"),
        "{err}"
    );
    assert!(err.contains("... and 99980 more"), "{err}");
    assert!(err.lines().count() < 30, "the error stays short");
}

#[test]
fn nothing_is_stored_when_the_import_fails() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = crate::store::sqlite::SqliteStore::open_url("sqlite::memory:")
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_export(dir.path());
        let mut lines = std::fs::read_to_string(dir.path().join("Patient.ndjson")).unwrap();
        lines.push_str("{\"resourceType\": \"Condition\"}\n");
        std::fs::write(dir.path().join("Patient.ndjson"), lines).unwrap();
        assert!(import_into(&store, dir.path()).await.is_err());
        assert!(crate::store::PatientStore::all_patients(&store)
            .await
            .unwrap()
            .is_empty());
    });
}

/// The CLI's path: read, then store all or nothing.
async fn import_into(store: &dyn Store, path: &Path) -> crate::Result<u64> {
    let import = read_path(path, &options())?;
    store.insert_patients(&import.patients).await
}

/// Imports the tricky Bulk Data export into `store` and checks what was stored; a second
/// import of the same patients is refused whole (the store keys them by NHS number).
async fn bulk_import_stores_the_tricky_cases(store: &dyn Store) {
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path());
    assert_eq!(import_into(store, dir.path()).await.unwrap(), 3);
    let stored: Vec<Patient> = store
        .all_patients()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_same(&stored, &expected());
    let again = import_into(store, dir.path()).await.unwrap_err();
    assert!(
        matches!(again, crate::Error::AlreadyExists { .. }),
        "{again}"
    );
    assert_eq!(store.all_patients().await.unwrap().len(), 3);
}

#[tokio::test]
async fn sqlite_stores_the_tricky_cases() {
    let store = crate::store::sqlite::SqliteStore::open_url("sqlite::memory:")
        .await
        .unwrap();
    bulk_import_stores_the_tricky_cases(&store).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_the_tricky_cases() {
    crate::store::postgres::tests::scratch(|db| async move {
        bulk_import_stores_the_tricky_cases(db.store()).await;
    })
    .await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_stores_the_tricky_cases() {
    if let Some(db) = crate::store::mysql::tests::TestDb::create().await {
        bulk_import_stores_the_tricky_cases(&db.store().await).await;
    }
}

#[test]
fn generated_patients_survive_a_bulk_export_and_import() {
    let mut patients = crate::patient::generate(crate::patient::GenerateOptions {
        count: 500,
        seed: 3,
    });
    let dir = tempfile::tempdir().unwrap();
    super::bulk::write_bulk_export(&patients, dir.path()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("Patient.ndjson"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let import = read_path(dir.path(), &options()).unwrap();
    for p in &mut patients {
        // Opt-outs are not part of a FHIR Patient.
        p.sms_opt_out = false;
        p.email_opt_out = false;
    }
    assert_same(&import.patients, &patients);
    assert_eq!(import.summary.conditions_unmapped, 0);
}

/// A form with every field type and rule the export maps.
pub(crate) const EVERY_RULE_FORM: &str = r#"
name = "lung_clinic_2026"
title = "Lung clinic: your vaccination"
description = "Tell us about your vaccination.\n\nIt takes two minutes."
[[fields]]
name = "attending"
label = "Will you attend?"
type = "yes_no"
required = true
[[fields]]
name = "full_name"
label = "Your name"
help = "As on your NHS record"
type = "text"
max_length = 80
pattern = "[A-Za-z' -]+"
[[fields]]
name = "notes"
label = "Anything else?"
type = "long_text"
max_length = 2000
[[fields]]
name = "visits"
label = "Visits this year"
type = "integer"
min = 0
max = 52
[[fields]]
name = "peak_flow"
label = "Peak flow (L/s)"
type = "decimal"
min = 0.5
max = 15.25
[[fields]]
name = "earliest"
label = "Earliest date"
type = "date"
min = "2026-01-01"
max = "2026-12-31"
[[fields]]
name = "site"
label = "Where?"
type = "single_choice"
options = ["Surgery", "Pharmacy", "Home visit"]
[[fields]]
name = "days"
label = "Which days suit you?"
type = "multiple_choice"
options = ["Monday", "Tuesday", "Wednesday"]
min = 1
max = 2
[[fields]]
name = "contact_email"
label = "Email"
type = "email"
[[fields]]
name = "contact_phone"
label = "Phone"
type = "phone"
"#;

fn every_rule_form() -> FormSpec {
    FormSpec::from_toml_str(EVERY_RULE_FORM).unwrap()
}

fn submission(i: usize) -> Vec<(String, String)> {
    let mut pairs = vec![
        (
            "attending",
            if i.is_multiple_of(2) { "yes" } else { "no" }.to_string(),
        ),
        ("full_name", "Ada O'Neil".to_string()),
        ("notes", format!("line {i}\n\"quoted\" é \u{1F489}")),
        ("visits", i.to_string()),
        (
            "peak_flow",
            if i.is_multiple_of(3) {
                String::new()
            } else {
                format!("{}.2{i}", 1 + i % 9)
            },
        ),
        ("earliest", format!("2026-12-{:02}", 1 + i % 28)),
        ("site", "Home visit".to_string()),
        ("contact_email", "a@example.org".to_string()),
        ("contact_phone", "07700 900123".to_string()),
    ];
    pairs.push(("days", "Monday".to_string()));
    if i % 2 == 1 {
        pairs.push(("days", "Wednesday".to_string()));
    }
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[test]
fn the_questionnaire_maps_every_type_and_rule() {
    let q = serde_json::to_value(questionnaire(
        &every_rule_form(),
        "https://forms.example.org/",
    ))
    .unwrap();
    assert_eq!(q["id"], "lung-clinic-2026");
    assert_eq!(
        q["url"],
        "https://forms.example.org/fhir/Questionnaire/lung-clinic-2026"
    );
    assert_eq!(q["name"], "LungClinic2026");
    let item = |n: usize| &q["item"][n];
    let kinds: Vec<&str> = (0..10).map(|n| item(n)["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "boolean", "string", "text", "integer", "decimal", "date", "choice", "choice",
            "string", "string"
        ]
    );
    assert_eq!(item(0)["required"], true);
    assert_eq!(item(1)["maxLength"], 80);
    assert_eq!(
        item(1)["extension"][0]["url"],
        "http://hl7.org/fhir/StructureDefinition/regex"
    );
    assert_eq!(item(1)["item"][0]["type"], "display");
    assert_eq!(
        item(3)["extension"][1],
        json!({"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 52})
    );
    assert_eq!(
        item(4)["extension"][0],
        json!({"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueDecimal": 0.5})
    );
    assert_eq!(item(5)["extension"][0]["valueDate"], "2026-01-01");
    assert_eq!(
        item(6)["answerOption"][2],
        json!({"valueString": "Home visit"})
    );
    assert_eq!(item(7)["repeats"], true);
    assert_eq!(
        item(7)["extension"][1]["url"],
        "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"
    );
}

/// Stores responses to [`EVERY_RULE_FORM`] from `count` patients in `store`, exports
/// them, reads each back and checks it equals what was submitted. Returns the form's
/// Questionnaire, the NDJSON export, the engine and the campaign.
async fn responses_round_trip(
    store: std::sync::Arc<dyn Store>,
    count: usize,
) -> (Value, String, crate::campaign::Engine, CampaignId) {
    use crate::campaign::{CampaignRequest, Engine};
    let dir = tempfile::tempdir().unwrap();
    let start = Utc.with_ymd_and_hms(2026, 11, 17, 9, 0, 0).unwrap();
    let engine = Engine::new(
        store.clone(),
        std::sync::Arc::new(crate::publish::LocalFolderPublisher::new(
            dir.path().join("forms"),
        )),
        std::sync::Arc::new(
            crate::link::HmacLinkSigner::new(
                secrecy::SecretBox::new(Box::new([4u8; 32])),
                "https://f.example",
            )
            .unwrap(),
        ),
        std::sync::Arc::new(crate::clock::FixedClock::new(start)),
    );
    engine
        .import_patients(&crate::patient::generate(crate::patient::GenerateOptions {
            count: count + 3,
            seed: 8,
        }))
        .await
        .unwrap();
    let form = engine.create_form(&every_rule_form()).await.unwrap();
    let campaign = engine
        .create_campaign(&CampaignRequest::new(
            "fhir",
            form.id,
            std::sync::Arc::new(crate::filter::Filter::all()),
        ))
        .await
        .unwrap();
    let recipients = store.non_respondents(campaign).await.unwrap();
    let nhs: BTreeMap<_, _> = store
        .all_patients()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, p)| (id, p.nhs_number))
        .collect();
    let mut submitted = BTreeMap::new();
    for (i, r) in recipients.iter().take(count).enumerate() {
        let answers = form.spec.check_submission(&submission(i)).unwrap();
        let at = start + chrono::Duration::minutes(i64::try_from(i).unwrap());
        store
            .submit_response(r.recipient_id, &form, &answers, at)
            .await
            .unwrap();
        submitted.insert(
            format!("{}-{}", campaign.0, r.recipient_id),
            (nhs[&r.patient_id].clone(), at, answers),
        );
    }
    let mut out = Vec::new();
    let n = export_responses(
        store.as_ref(),
        campaign,
        "https://forms.example.org",
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(n, u64::try_from(count).unwrap());
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), count);
    for line in text.lines() {
        let qr: QuestionnaireResponse = serde_json::from_str(line).unwrap();
        let (number, at, answers) = submitted.remove(&qr.id).expect("one resource per response");
        assert_eq!(qr.subject.identifier.value, number.as_str());
        assert_eq!(
            qr.authored,
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        assert_eq!(
            qr.questionnaire,
            "https://forms.example.org/fhir/Questionnaire/lung-clinic-2026"
        );
        let back = answers_from_response(&form.spec, &qr).unwrap();
        assert_eq!(back, answers.into_vec(), "{}", qr.id);
    }
    assert!(submitted.is_empty());
    let q = serde_json::to_value(questionnaire(&form.spec, "https://forms.example.org")).unwrap();
    (q, text, engine, campaign)
}

#[tokio::test]
async fn responses_round_trip_on_sqlite() {
    let store = crate::store::sqlite::SqliteStore::open_url("sqlite::memory:")
        .await
        .unwrap();
    responses_round_trip(std::sync::Arc::new(store), 12).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_round_trip_on_postgres() {
    crate::store::postgres::tests::scratch(|db| async move {
        responses_round_trip(std::sync::Arc::new(db.store().clone()), 12).await;
    })
    .await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_round_trip_on_mysql() {
    if let Some(db) = crate::store::mysql::tests::TestDb::create().await {
        responses_round_trip(std::sync::Arc::new(db.store().await), 12).await;
    }
}

#[test]
fn a_stored_value_that_does_not_fit_its_field_is_named() {
    let spec = every_rule_form();
    let mut values = vec![None; spec.fields.len()];
    values[3] = Some("many".to_string());
    let row = ResponseRow {
        recipient_id: 7,
        patient_id: crate::patient::PatientId(1),
        submitted_at: Utc.with_ymd_and_hms(2026, 11, 17, 9, 0, 0).unwrap(),
        values,
    };
    let err = response_resource(
        &spec,
        "https://f",
        CampaignId(2),
        &row,
        &NhsNumber::parse(NHS_1).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("recipient 7, field visits"), "{err}");
    assert!(!err.contains("many"), "{err}");
}

/// The Python of the CI virtualenv (`MEDICARE_CI_VENV`, set by `.ci/servers.sh`; by
/// default `~/.cache/medicare-ci/venv`) when it has `fhir.resources`; `None` (having
/// said so) outside CI, a failure in CI.
fn fhir_python() -> Option<PathBuf> {
    let venv = std::env::var_os("MEDICARE_CI_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/medicare-ci/venv"))
        })?;
    let python = venv.join("bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import fhir.resources.R4B"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI needs the fhir.resources package in {} (.ci/servers.sh python_tools)",
        venv.display()
    );
    eprintln!("skipped: no fhir.resources in {}", venv.display());
    None
}

const VALIDATE: &str = r#"
import sys
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
Questionnaire.model_validate_json(open(sys.argv[1], encoding="utf-8").read())
n = 0
for line in open(sys.argv[2], encoding="utf-8"):
    QuestionnaireResponse.model_validate_json(line)
    n += 1
print(n)
"#;

/// The exports validate with `fhir.resources` (its R4B models: R4B left Questionnaire and
/// QuestionnaireResponse as they were in R4), and a broken one does not.
#[tokio::test]
async fn the_exports_validate_with_fhir_resources() {
    let Some(python) = fhir_python() else { return };
    let store = crate::store::sqlite::SqliteStore::open_url("sqlite::memory:")
        .await
        .unwrap();
    let (q, responses, ..) = responses_round_trip(std::sync::Arc::new(store), 12).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |q: &Value, responses: &str| {
        std::fs::write(dir.path().join("q.json"), q.to_string()).unwrap();
        std::fs::write(dir.path().join("qr.ndjson"), responses).unwrap();
        std::process::Command::new(&python)
            .arg("-c")
            .arg(VALIDATE)
            .arg(dir.path().join("q.json"))
            .arg(dir.path().join("qr.ndjson"))
            .output()
            .unwrap()
    };
    let out = run(&q, &responses);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "12");
    // The validator is not a rubber stamp.
    let mut broken = q.clone();
    broken["item"][0]["required"] = json!("often");
    assert!(!run(&broken, &responses).status.success());
}

/// The API's response export is declared `export_responses`, which needs a fresh second
/// factor: no API token is one, so every token is refused (`403`), and no token is `401`.
#[cfg(feature = "server")]
#[tokio::test]
async fn the_api_refuses_the_response_export_to_tokens() {
    use crate::access::Role;
    let store = std::sync::Arc::new(
        crate::store::sqlite::SqliteStore::open_url("sqlite::memory:")
            .await
            .unwrap(),
    );
    let (_, _, engine, campaign) = responses_round_trip(store.clone(), 5).await;
    let ops = crate::server::testing::Operators::enrol_every_role(store, engine.clock().clone())
        .await
        .unwrap();
    let options = crate::server::ServerOptions {
        access: Some(ops.service.clone()),
        public_base_url: "https://forms.example.org".to_string(),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(crate::server::serve(
        listener,
        crate::server::router(engine, options),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let url = format!("{base}/api/campaigns/{}/responses/fhir", campaign.0);
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    for (role, kind) in [
        (Role::DataSteward, "fresh_second_factor_required"),
        (Role::Analyst, "forbidden"),
    ] {
        let r = client
            .get(&url)
            .bearer_auth(ops.token(role))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN, "{role}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["kind"], kind, "{role}");
    }
}
