//! Golden paths: Backstage's software templates (`Template` entities,
//! `scaffolder.backstage.io/v1beta3`) run by portolan, behind Backstage's scaffolder API
//! (`/api/scaffolder/v2`). A template's form pages, steps and output are read from its entity
//! ([`template`]); expressions and skeleton files are rendered by one engine ([`expr`]); each
//! step's action ([`actions`]) works in a workspace folder of its own; [`run`] runs the steps.
//!
//! Tasks ([`tasks`]) are stored (`store.rs`: `scaffolder_tasks`, `scaffolder_task_events`),
//! claimed by one instance through the shared lease helper, run with a heartbeat, and read
//! back as Backstage's events and event stream; dry runs run in a throw-away workspace. The
//! catalog is read through `crate::catalog::facade`; locations are registered through the
//! catalog's `Ingestor`, under the API's rules.

pub mod actions;
pub mod expr;
pub mod handlers;
pub mod resources;
pub mod routes;
pub mod run;
mod store;
pub mod task_handlers;
pub mod tasks;
pub mod template;

pub use store::{EventRow, TaskRow};

use std::path::PathBuf;

use serde_json::Value;

use crate::catalog::facade as catalog_store;
use crate::db::Pool;
use crate::error::ApiError;
use template::Template;

/// `[scaffolder]`: how many tasks one instance runs at once.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScaffolderSettings {
    /// Template tasks this instance runs at once (0: none here; other instances do).
    pub concurrent_tasks: usize,
    /// The key `portolan:await` signs its webhooks with (HMAC-SHA256); the step fails without it.
    pub webhook_secret: Option<crate::secret::Secret>,
    /// The address receivers call back (`https://portal.example.com`); by default the one the
    /// task was created through.
    pub callback_base_url: Option<String>,
    /// Where `publish:github`, `publish:gitlab` and `github:actions:dispatch` publish.
    pub hosts: Vec<GitHost>,
}

/// `[[scaffolder.hosts]]`: a GitHub or GitLab templates publish to.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHost {
    /// `github` or `gitlab`.
    pub kind: String,
    /// As repoUrl names it: `github.com`, `gitlab.example.com`, `127.0.0.1:8080`.
    pub host: String,
    /// `https://api.github.com`, `https://gitlab.example.com/api/v4`.
    pub api_base_url: String,
    /// Sent to the API and as git's credentials; never logged.
    pub token: Option<crate::secret::Secret>,
}

impl Default for ScaffolderSettings {
    fn default() -> Self {
        Self { concurrent_tasks: 2, webhook_secret: None, callback_base_url: None, hosts: Vec::new() }
    }
}

/// The scaffolder domain's front door: its engine and the workers that run tasks.
pub fn domain(settings: &ScaffolderSettings, shared: &crate::domain::Shared) -> anyhow::Result<crate::domain::Domain> {
    let s = std::sync::Arc::new(Scaffolder {
        pool: shared.pool.clone(),
        ingestor: shared.catalog.clone(),
        wake: tasks::Wake::default(),
        outbound: crate::catalog::fetch::Reader::new(shared.outbound.clone())?,
        settings: settings.clone(),
        own: crate::catalog::ingest::absolute(&shared.data_dir.join("scaffolder")),
    });
    let (me, n) = (s.clone(), settings.concurrent_tasks);
    let workers = crate::domain::Task::service("scaffolder-tasks", move |alive| me.spawn_workers(n, alive));
    Ok(crate::domain::Domain::new("scaffolder")
        .data(s.clone())
        .view_extension(std::sync::Arc::new(resources::Resources { kept: kept_entities(&s.own) }))
        .task(workers)
        .nav("/create", "Create", 15))
}

/// The folder under the scaffolder's own where tasks keep the entities they register
/// (`portolan:resource`), each a file location.
fn kept_entities(own: &std::path::Path) -> PathBuf {
    own.join("entities")
}

/// The engine: reads templates from the catalog and runs them.
pub struct Scaffolder {
    pool: Pool,
    ingestor: crate::catalog::ingest::Ingestor,
    wake: tasks::Wake,
    /// The client of outgoing calls (`portolan:await`), under the outgoing rules.
    outbound: crate::catalog::fetch::Reader,
    settings: ScaffolderSettings,
    /// The scaffolder's own folder (kept entities, `publish:local` repositories): tasks register
    /// files under it whatever `reading.file_roots` says.
    own: PathBuf,
}

/// A template found in the catalog, with the folder its relative paths read from.
pub struct Found {
    pub key: String,
    pub template: Template,
    /// The folder of the file it was read from (`file:` locations), if any.
    pub dir: Option<PathBuf>,
}

impl Scaffolder {
    /// The template a `templateRef` names (`x`, `default/x`, `template:default/x`).
    pub fn template_by_ref(&self, raw: &str) -> Result<Found, ApiError> {
        let key =
            crate::catalog::model::EntityRef::parse(raw, Some("template"), crate::catalog::model::DEFAULT_NAMESPACE)
                .map(|r| r.key())
                .map_err(|e| ApiError::input(format!("templateRef: {e}")))?;
        self.template(&key)
    }

    /// `user` of a run: the caller's User ref (guest without one) and its entity, when known.
    pub fn user(&self, user: Option<String>) -> Value {
        let r = user.unwrap_or_else(|| "user:default/guest".into());
        let entity = actions::CatalogPort::entity(&CatalogReader { pool: self.pool.clone() }, &r.to_ascii_lowercase())
            .ok()
            .flatten();
        serde_json::json!({"ref": r, "entity": entity})
    }

    /// The template `key` names (`template:default/x`): 404 when absent, 400 when it is no
    /// template portolan runs.
    pub fn template(&self, key: &str) -> Result<Found, ApiError> {
        let rows = catalog_store::entity_sources(&self.pool, Some(&[key.to_owned()]))?;
        let Some((body, source, _)) = rows.into_iter().next() else {
            return Err(ApiError::not_found(format!("Template {key} not found")));
        };
        let body: Value = serde_json::from_str(&body).map_err(anyhow::Error::from)?;
        if !body["kind"].as_str().is_some_and(|k| k.eq_ignore_ascii_case("template")) {
            return Err(ApiError::input("Invalid kind, only 'Template' kind is supported"));
        }
        let template = Template::from_body(&body).map_err(|e| ApiError::input(format!("{key}: {e}")))?;
        let dir = source
            .strip_prefix("file:")
            .map(|p| PathBuf::from(p).parent().map(PathBuf::from).unwrap_or_default())
            .filter(|d| d.is_dir());
        Ok(Found { key: key.to_owned(), template, dir })
    }
}

/// The catalog as the catalog actions see it: reads only, so far.
pub struct CatalogReader {
    pub pool: Pool,
}

impl actions::CatalogPort for CatalogReader {
    fn entity(&self, key: &str) -> anyhow::Result<Option<Value>> {
        let rows = catalog_store::bodies_by_keys(&self.pool, &[key.to_owned()])?;
        Ok(rows.into_iter().next().and_then(|(_, body)| serde_json::from_str(&body).ok()))
    }

    fn register(&self, target: &str, _by: &str) -> anyhow::Result<Vec<String>> {
        anyhow::bail!("registering {target} from a task comes with tasks (dry runs skip catalog:register)")
    }

    fn keep(&self, entity: &Value, _by: &str) -> anyhow::Result<String> {
        anyhow::bail!("registering {} comes with tasks (dry runs skip it)", entity["metadata"]["name"])
    }
}
