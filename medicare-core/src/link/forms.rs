//! Forms by id, kept in memory for the form service: every open and every submission
//! needs its link's form, and a stored form never changes (forms are created, never
//! edited), so it is read from the store and parsed once per process.

use crate::campaign::FormId;
use crate::error::Result;
use crate::store::{Store, StoredForm};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// Forms kept at most; past that the cache starts again (a service shows few forms).
const MOST: usize = 256;

/// The forms read so far. Shared by an engine's clones.
#[derive(Debug, Default)]
pub(crate) struct FormCache {
    forms: RwLock<HashMap<FormId, Arc<StoredForm>>>,
}

impl FormCache {
    /// Form `id`, from memory or else from `store`.
    pub(crate) async fn get(&self, store: &Arc<dyn Store>, id: FormId) -> Result<Arc<StoredForm>> {
        let known = self
            .forms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        if let Some(form) = known {
            return Ok(form);
        }
        let form = Arc::new(store.form(id).await?);
        let mut forms = self.forms.write().unwrap_or_else(PoisonError::into_inner);
        if forms.len() >= MOST {
            forms.clear();
        }
        forms.insert(id, form.clone());
        Ok(form)
    }
}
