//! Where rendered form pages live: the [`FormPublisher`] seam and the local folder.
//!
//! Creating a form renders its patient-facing page once and publishes it under the
//! form's name; the form service fetches it back to serve a link. The local folder is the
//! embedded default; S3 with SSE-KMS is the deployed one (medicare-aws).

use crate::error::{Error, Result};
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Publishes and fetches rendered form pages by key (the form's validated name).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FormPublisher: Send + Sync + std::fmt::Debug {
    /// Stores `html` under `key`, replacing any earlier page; returns its location (a
    /// path or URL, for people).
    async fn publish(&self, key: &str, html: &str) -> Result<String>;

    /// The page stored under `key`.
    async fn fetch(&self, key: &str) -> Result<String>;
}

/// Publishes pages as `<folder>/<key>.html`, written atomically (temporary file, fsync,
/// rename), so a reader never sees half a page.
#[derive(Debug, Clone)]
pub struct LocalFolderPublisher {
    folder: PathBuf,
}

impl LocalFolderPublisher {
    /// Publishes into `folder` (created when first needed).
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        LocalFolderPublisher {
            folder: folder.into(),
        }
    }

    fn path_for(&self, key: &str) -> Result<PathBuf> {
        crate::form::validate_identifier(key).map_err(|m| Error::invalid("form page key", m))?;
        Ok(self.folder.join(format!("{key}.html")))
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync,
/// rename over the target, fsync of the folder.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Directory fsync makes the rename durable; not every platform allows it.
        let _ = d.sync_all();
    }
    Ok(())
}

#[async_trait]
impl FormPublisher for LocalFolderPublisher {
    async fn publish(&self, key: &str, html: &str) -> Result<String> {
        let path = self.path_for(key)?;
        let (p, bytes) = (path.clone(), html.as_bytes().to_vec());
        tokio::task::spawn_blocking(move || write_atomically(&p, &bytes))
            .await
            .map_err(|e| Error::io(&path, std::io::Error::other(e)))??;
        Ok(path.display().to_string())
    }

    async fn fetch(&self, key: &str) -> Result<String> {
        let path = self.path_for(key)?;
        match tokio::fs::read_to_string(&path).await {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::not_found(format!("form page {key:?}")))
            }
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// A behaviour suite every [`FormPublisher`] must pass; each function takes a publisher
/// with nothing published yet (a fresh folder, a random prefix).
pub mod conformance {
    use super::FormPublisher;
    use crate::error::Error;

    /// A page (with non-ASCII text) reads back exactly; publishing again replaces it; an
    /// unknown key is [`Error::NotFound`]; the location names the page.
    pub async fn publishes_fetches_and_replaces(publisher: &dyn FormPublisher) {
        let page = "<!doctype html><p>Caf\u{e9} \u{2014} r\u{e9}pondez \u{2713}</p>";
        let location = publisher.publish("conformance_page", page).await.unwrap();
        assert!(location.contains("conformance_page"), "{location}");
        assert_eq!(publisher.fetch("conformance_page").await.unwrap(), page);
        publisher
            .publish("conformance_page", "<p>second</p>")
            .await
            .unwrap();
        assert_eq!(
            publisher.fetch("conformance_page").await.unwrap(),
            "<p>second</p>"
        );
        assert!(matches!(
            publisher.fetch("conformance_missing").await,
            Err(Error::NotFound { .. })
        ));
    }

    /// Keys that are not form names (paths, upper case, empty) are refused by both calls.
    pub async fn refuses_hostile_keys(publisher: &dyn FormPublisher) {
        for bad in ["../x", "a/b", "", "X", "a b", "x?y", "x.html"] {
            let refused = |r: Result<String, Error>| matches!(r, Err(Error::InvalidInput { .. }));
            assert!(
                refused(publisher.publish(bad, "x").await),
                "publish {bad:?}"
            );
            assert!(refused(publisher.fetch(bad).await), "fetch {bad:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_folder_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let p = LocalFolderPublisher::new(dir.path().join("forms"));
        conformance::publishes_fetches_and_replaces(&p).await;
        conformance::refuses_hostile_keys(&p).await;
    }

    #[tokio::test]
    async fn publishes_and_fetches_and_refuses_hostile_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = LocalFolderPublisher::new(dir.path().join("forms"));
        let loc = p.publish("flu_2026", "<p>hi</p>").await.unwrap();
        assert!(loc.ends_with("flu_2026.html"));
        assert_eq!(p.fetch("flu_2026").await.unwrap(), "<p>hi</p>");
        p.publish("flu_2026", "<p>v2</p>").await.unwrap();
        assert_eq!(p.fetch("flu_2026").await.unwrap(), "<p>v2</p>");
        assert!(matches!(
            p.fetch("other").await,
            Err(Error::NotFound { .. })
        ));
        for bad in ["../x", "a/b", "", "X"] {
            assert!(p.publish(bad, "x").await.is_err(), "{bad}");
        }
    }
}
