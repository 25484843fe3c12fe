//! Registering a location: normalising its target, refusing duplicates, processing it at once
//! (or only reading it, for a dry run).

use std::path::Path;

use serde_json::Value;

use super::ingest::{Ingestor, LocationError, TreeContext, absolute, check_file_root};
use super::store::{self, LocationRow};

/// What to do when a location that is already registered is registered again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    #[default]
    Reject,
    Refresh,
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The result of registering a location (or of a dry run).
#[derive(Debug)]
pub struct Registration {
    pub location: LocationRow,
    /// The entities the location produced (or would produce), as JSON.
    pub entities: Vec<Value>,
    /// The location was registered before this call.
    pub existed: bool,
    pub errors: Vec<LocationError>,
}

impl Ingestor {
    /// Registers a location and processes it at once, so its whole tree is queryable when this
    /// returns. `origin` is `api` for locations registered through the HTTP API (their local
    /// files must stay inside `reading.file_roots`), `cli` for `portolan import`.
    pub async fn register(
        &self,
        kind: &str,
        target: &str,
        dry_run: bool,
        on_conflict: OnConflict,
        origin: &str,
    ) -> Result<Registration, RegisterError> {
        let restrict_files = origin == "api";
        let target = self.normalize_target(kind, target, restrict_files).map_err(RegisterError::Invalid)?;
        let existing = store::find_location(&self.pool, kind, &target)?;
        if dry_run {
            let ctx =
                TreeContext { location_id: None, restrict_files, origin: origin.to_owned(), ..TreeContext::default() };
            let processed = self.read_tree(kind, &target, &ctx).await;
            if processed.root_failed {
                return Err(RegisterError::Invalid(root_message(&processed.errors)));
            }
            let location = existing.clone().unwrap_or_else(|| LocationRow {
                id: uuid::Uuid::new_v4().to_string(),
                kind: kind.to_owned(),
                target: target.clone(),
                origin: origin.to_owned(),
                created_at: crate::db::now_ms(),
                next_refresh_at: 0,
                lease_owner: None,
                lease_expires_at: None,
                last_success_at: None,
                last_error: None,
                last_error_at: None,
            });
            let entities = processed.entities.into_iter().map(|e| e.value).collect();
            return Ok(Registration { location, entities, existed: existing.is_some(), errors: processed.errors });
        }
        if existing.is_some() && on_conflict == OnConflict::Reject {
            return Err(RegisterError::Conflict(format!("Location {kind}:{target} already exists")));
        }
        let (location, created) = store::find_or_create_location(&self.pool, kind, &target, origin)?;
        let report = self.process(&location).await?;
        if report.root_failed && created {
            self.delete_location(&location.id)?;
            return Err(RegisterError::Invalid(root_message(&report.errors)));
        }
        let entities = super::read::entities_of_location(&self.pool, &self.seam, &location.id)?
            .iter()
            .filter_map(|e| serde_json::from_str(e).ok())
            .collect();
        let location = store::get_location(&self.pool, &location.id)?.unwrap_or(location);
        Ok(Registration { location, entities, existed: !created, errors: report.errors })
    }
}

impl Ingestor {
    /// Points a location at another target through the API (`PUT /locations/{id}`), under the
    /// rules of [`Ingestor::register`]: the new target is normalised and read first (file roots,
    /// allowlist, private addresses), so a refused or unreadable target stores and removes
    /// nothing. A location from configuration cannot be retargeted; any other one becomes an
    /// `api` location, whose tree stays inside the file roots from then on.
    pub async fn retarget(
        &self,
        location: &LocationRow,
        kind: &str,
        target: &str,
    ) -> Result<LocationRow, RegisterError> {
        if location.origin == "config" {
            return Err(RegisterError::Conflict(format!(
                "location {} comes from configuration (catalog.paths, --catalog or [[catalog.locations]]); \
                 change it there, not through the API",
                location.id
            )));
        }
        let target = self.normalize_target(kind, target, true).map_err(RegisterError::Invalid)?;
        if store::find_location(&self.pool, kind, &target)?.is_some_and(|other| other.id != location.id) {
            return Err(RegisterError::Conflict(format!("Location {kind}:{target} already exists")));
        }
        let ctx =
            TreeContext { location_id: None, restrict_files: true, origin: "api".into(), ..TreeContext::default() };
        let processed = self.read_tree(kind, &target, &ctx).await;
        if processed.root_failed {
            return Err(RegisterError::Invalid(root_message(&processed.errors)));
        }
        store::update_location(&self.pool, &location.id, kind, &target, "api")?;
        let gone = || RegisterError::Conflict(format!("location {} was deleted meanwhile", location.id));
        let updated = store::get_location(&self.pool, &location.id)?.ok_or_else(gone)?;
        self.process(&updated).await?;
        Ok(store::get_location(&self.pool, &location.id)?.unwrap_or(updated))
    }

    /// The canonical target of a location: an absolute path for `file` (inside the file roots
    /// when `restrict_files`), the URL to read for `url`.
    pub fn normalize_target(&self, kind: &str, target: &str, restrict_files: bool) -> Result<String, String> {
        match kind {
            "file" => {
                let path = absolute(Path::new(target.strip_prefix("file:").unwrap_or(target)));
                if restrict_files {
                    check_file_root(&path, &self.file_roots)?;
                }
                Ok(path.display().to_string())
            }
            "url" => Ok(self.reader.target("url", target, None)?.raw()),
            other => Err(format!("unsupported location type \"{other}\": use \"file\" or \"url\"")),
        }
    }
}

fn root_message(errors: &[LocationError]) -> String {
    match errors.first() {
        Some(e) => format!("{}: {}", e.source, e.message),
        None => "the location target could not be read".into(),
    }
}
