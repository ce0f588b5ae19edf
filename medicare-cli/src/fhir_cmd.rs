//! `--format fhir`: importing patients from FHIR R4 and exporting forms and answers as
//! FHIR (`medicare_core::fhir`). Parsing and printing only.

use crate::output::Printer;
use medicare_core::campaign::CampaignId;
use medicare_core::fhir::{self, CodeMap, ImportOptions};
use medicare_core::store::StoredForm;
use medicare_core::{Error, Workspace};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The code map file read from the workspace folder when `--code-map` is not given.
pub const CODE_MAP_FILE: &str = "fhir-codes.toml";

/// The standard code map, extended by `code_map` (or the workspace's `fhir-codes.toml`).
fn code_map(ws: &Workspace, code_map: Option<&Path>) -> Result<CodeMap, Error> {
    let mut codes = CodeMap::standard();
    let default = ws.dir().join(CODE_MAP_FILE);
    let path = match code_map {
        Some(p) => p.to_path_buf(),
        None if default.is_file() => default,
        None => return Ok(codes),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    codes.extend_from_toml(&text, &path.display().to_string())?;
    Ok(codes)
}

/// `medicare patients import PATH --format fhir`.
pub async fn import(
    ws: &Workspace,
    out: &Printer,
    path: &Path,
    code_map_path: Option<&Path>,
) -> Result<(), Error> {
    let options = ImportOptions {
        codes: code_map(ws, code_map_path)?,
        today: ws.engine().clock().today(),
    };
    let import = fhir::read_path(path, &options)?;
    let stored = ws.engine().upsert_patients(&import.patients).await?;
    out.fhir_import(stored, &import.summary);
    Ok(())
}

/// `medicare patients generate --fhir-export DIR`.
pub fn write_synthetic_export(
    out: &Printer,
    count: usize,
    seed: u64,
    dir: &Path,
) -> Result<(), Error> {
    let patients =
        medicare_core::patient::generate(medicare_core::patient::GenerateOptions { count, seed });
    fhir::bulk::write_bulk_export(&patients, dir)?;
    out.count("written", u64::try_from(patients.len()).unwrap_or(u64::MAX));
    Ok(())
}

/// Where an export goes: a new 0600 file, or standard output.
fn destination(path: Option<&PathBuf>) -> Result<Box<dyn Write + Send>, Error> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(fhir::create_private_file(p)?)),
        None => Box::new(BufWriter::new(std::io::stdout())),
    })
}

/// `medicare form export NAME --format fhir`.
pub fn export_form(ws: &Workspace, form: &StoredForm, path: Option<&PathBuf>) -> Result<(), Error> {
    let q = fhir::questionnaire(&form.spec, &ws.config().base_url);
    let mut w = destination(path)?;
    serde_json::to_writer_pretty(&mut w, &q)
        .map_err(std::io::Error::from)
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush())
        .map_err(|e| Error::io(path.map_or(Path::new("<stdout>"), |p| p.as_path()), e))
}

/// `medicare responses export CAMPAIGN --format fhir`.
pub async fn export_responses(
    ws: &Workspace,
    out: &Printer,
    campaign: i64,
    path: Option<&PathBuf>,
) -> Result<(), Error> {
    let mut w = destination(path)?;
    let n = fhir::export_responses(
        ws.engine().store().as_ref(),
        CampaignId(campaign),
        &ws.config().base_url,
        &mut *w,
    )
    .await?;
    if path.is_some() {
        out.count("exported", n);
    }
    Ok(())
}
