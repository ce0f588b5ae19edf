//! `--format fhir` from the command line: a Bulk Data export imported (and a bad one
//! refused with exit code 3, naming the line, storing nothing), a code map from the
//! workspace folder, and a form and a campaign's answers exported to 0600 files.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn medicare(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medicare"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("MEDICARE_DATABASE_URL")
        .env("MEDICARE_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("medicare runs")
}

fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "status {:?}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn patients(dir: &Path) -> u64 {
    ok(&medicare(dir, &["--json", "patients", "count"]))["patients"]
        .as_u64()
        .unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_bulk_export_imports_and_forms_and_answers_export() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let export = ws.join("ehr-export");
    let export_arg = export.to_str().unwrap();
    ok(&medicare(
        ws,
        &[
            "--json",
            "patients",
            "generate",
            "--count",
            "300",
            "--seed",
            "4",
            "--fhir-export",
            export_arg,
        ],
    ));
    assert_eq!(
        patients(ws),
        0,
        "--fhir-export writes files, stores nothing"
    );

    // A broken line: exit code 3, the line named, nothing stored.
    let good = std::fs::read_to_string(export.join("Patient.ndjson")).unwrap();
    let bad = good.replacen('\n', "\n{\"resourceType\": \"Patient\",\n", 1);
    std::fs::write(export.join("Patient.ndjson"), &bad).unwrap();
    let out = medicare(ws, &["patients", "import", export_arg, "--format", "fhir"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Patient.ndjson line 2: the line is not"),
        "{err}"
    );
    assert_eq!(patients(ws), 0);
    std::fs::write(export.join("Patient.ndjson"), &good).unwrap();

    // A bad code map in the workspace folder is named.
    std::fs::write(ws.join("fhir-codes.toml"), "[[code]]\nsystem = 1\n").unwrap();
    let out = medicare(ws, &["patients", "import", export_arg, "--format", "fhir"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fhir-codes.toml"));
    std::fs::remove_file(ws.join("fhir-codes.toml")).unwrap();

    let imported = ok(&medicare(
        ws,
        &[
            "--json", "patients", "import", export_arg, "--format", "fhir",
        ],
    ));
    assert_eq!(imported["imported"], 300);
    assert_eq!(imported["inserted"], 300);
    assert_eq!(imported["summary"]["conditions_unmapped"], 0);
    assert_eq!(patients(ws), 300);
    // The same export again updates the patients in place: nothing refused or doubled.
    let again = ok(&medicare(
        ws,
        &[
            "--json", "patients", "import", export_arg, "--format", "fhir",
        ],
    ));
    assert_eq!(
        (again["inserted"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(300))
    );
    assert_eq!(patients(ws), 300);

    std::fs::write(
        ws.join("form.toml"),
        "name = \"flu_jab\"\ntitle = \"Flu\"\n[[fields]]\nname = \"attending\"\nlabel = \"Attending?\"\ntype = \"yes_no\"\nrequired = true\n",
    )
    .unwrap();
    ok(&medicare(
        ws,
        &[
            "--json",
            "form",
            "create",
            ws.join("form.toml").to_str().unwrap(),
        ],
    ));
    let q = ws.join("q.json");
    let out = medicare(
        ws,
        &[
            "form",
            "export",
            "flu_jab",
            "--format",
            "fhir",
            "--out",
            q.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let questionnaire: Value = serde_json::from_slice(&std::fs::read(&q).unwrap()).unwrap();
    assert_eq!(questionnaire["resourceType"], "Questionnaire");
    assert_eq!(
        questionnaire["url"],
        "http://localhost:8080/fhir/Questionnaire/flu-jab"
    );
    #[cfg(unix)]
    assert_eq!(mode(&q), 0o600);

    ok(&medicare(
        ws,
        &[
            "--json", "campaign", "create", "--form", "flu_jab", "--filter", "all",
        ],
    ));
    let answers = ws.join("answers.ndjson");
    let exported = ok(&medicare(
        ws,
        &[
            "--json",
            "responses",
            "export",
            "1",
            "--format",
            "fhir",
            "--out",
            answers.to_str().unwrap(),
        ],
    ));
    assert_eq!(exported["exported"], 0, "nobody has answered yet");
    assert_eq!(std::fs::read_to_string(&answers).unwrap(), "");
    #[cfg(unix)]
    assert_eq!(mode(&answers), 0o600);
    let out = medicare(ws, &["responses", "export", "9", "--format", "fhir"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "an unknown campaign is not found"
    );
}
