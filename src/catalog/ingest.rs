//! Processing a location: read its target, follow nested Location entities, resolve
//! placeholders, validate, and publish the resulting entity set.
//!
//! A registered location is processed as one tree. Every file in it is read on its own: one
//! unreadable target or invalid document is recorded as an error and does not stop its siblings,
//! and the entities previously read from a failed file are kept (last good state).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::descriptor;
use super::fetch::{Read, Reader, Target};
use super::model::DEFAULT_NAMESPACE;
pub use super::register::{OnConflict, RegisterError, Registration};
use super::rules::{CatalogRules, Provenance};
use super::seam::Seam;
use super::store::{self, Incoming, LocationRow, OrphanStrategy, PublishOutcome};
use super::validate::{self, Problem};
use crate::db::Pool;

mod annotations;
mod roots;

use annotations::set_annotations;
pub use annotations::{
    MANAGED_BY_LOCATION, MANAGED_BY_ORIGIN_LOCATION, generated_location_entity, generated_location_name,
    url_annotations,
};
use roots::inside_roots;
pub use roots::{absolute, check_file_root};

/// The most files one location tree may reach (nested Location targets and globs included).
const MAX_FILES_PER_TREE: usize = 20_000;

/// One problem found while processing a location, placed as precisely as possible.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LocationError {
    /// The file or URL the problem is in (`file:/abs/path`, `url:https://...`).
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl LocationError {
    fn read(source: &str, message: impl Into<String>) -> Self {
        Self { source: source.to_owned(), document: None, entity_ref: None, path: None, message: message.into() }
    }
}

/// What processing a location tree produced, before publishing.
#[derive(Debug, Default)]
pub struct Processed {
    pub entities: Vec<Incoming>,
    pub errors: Vec<LocationError>,
    /// Sources that could not be read or held an invalid document: their old entities stay.
    pub failed_sources: HashSet<String>,
    /// URL sources that answered 304 Not Modified: their entities stay as they are.
    pub unchanged_sources: HashSet<String>,
    pub files_read: usize,
    /// The registered target itself could not be read (so registering it is refused).
    pub root_failed: bool,
    /// Ref keys of entities a catalog rule forbids here: not stored, and dropped if stored.
    pub forbidden: HashSet<String>,
}

/// How a tree is read: for which registered location (for the ETag cache), and whether local
/// files must stay inside the configured file roots (locations registered through the API).
#[derive(Debug, Clone, Default)]
pub struct TreeContext {
    pub location_id: Option<String>,
    pub restrict_files: bool,
    /// Folders the local files of placeholders must stay inside (start-up locations), if any.
    pub placeholder_roots: Option<Vec<PathBuf>>,
    /// The registered location's origin (`config`, `cli`, `api`, `provider:...`): the catalog
    /// rules say which kinds it may hold.
    pub origin: String,
}

/// The result of processing and publishing one location.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub location_id: String,
    pub files_read: usize,
    pub errors: Vec<LocationError>,
    #[serde(flatten)]
    pub outcome: PublishOutcome,
    pub root_failed: bool,
    /// How long the catalog's listeners took to follow the publish.
    pub listeners_ms: f64,
}

/// Everything processing needs, shared by the server, the refresh loop and the CLI.
#[derive(Clone)]
pub struct Ingestor {
    pub pool: Pool,
    pub reader: Reader,
    pub validation: validate::Options,
    pub orphans: OrphanStrategy,
    /// Identifies this process in location leases.
    pub instance_id: String,
    /// How long a lease on a location lasts; a crashed holder's lease expires after this.
    pub lease: Duration,
    /// How often a location is re-read (jitter of up to a tenth is added).
    pub refresh_interval: Duration,
    /// Canonical folders that API-registered file locations must stay inside.
    pub file_roots: Vec<PathBuf>,
    /// Canonical folders the start-up catalog was loaded from: placeholders of configured
    /// locations must stay inside the one holding their file. `None`: anywhere
    /// (`catalog.placeholders_anywhere`).
    pub startup_roots: Option<Vec<PathBuf>>,
    /// Where processing runs: its own threads, so parsing a large tree never stalls the HTTP
    /// workers.
    pub runtime: Arc<IngestRuntime>,
    /// The listeners told of every committed change, and the decorator of served entities.
    pub seam: Seam,
    /// Which kinds untrusted locations may hold (`[[catalog.rules]]`).
    pub rules: Arc<CatalogRules>,
    /// Bulk loads (start-up, `import`) announce no per-publish changes; the listeners rebuild
    /// once at the end instead ([`Seam::bulk_loaded`]).
    pub bulk: bool,
}

/// A small multi-threaded runtime for ingestion work.
pub struct IngestRuntime(Option<tokio::runtime::Runtime>);

impl IngestRuntime {
    pub fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("portolan-ingest")
            .enable_all()
            .build()?;
        Ok(Self(Some(rt)))
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("runtime present until drop").handle()
    }
}

impl Drop for IngestRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside another one would panic; let its threads finish on their own.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Ingestor {
    /// Reads, validates and publishes a location tree; records the outcome on the location.
    ///
    /// The location is leased first, so no two instances process it at once; when another
    /// instance holds the lease this waits for it (up to the lease length) and then processes.
    pub async fn process(&self, loc: &LocationRow) -> anyhow::Result<Report> {
        let this = self.clone();
        let loc = loc.clone();
        self.runtime.handle().spawn(async move { this.process_here(&loc).await }).await?
    }

    /// Processes many locations, two at a time: one is parsed while the other is written, which
    /// keeps both cores busy (SQLite still takes one writer at a time). Reports come back in the
    /// order the locations were given.
    pub async fn process_all(&self, locations: Vec<LocationRow>) -> Vec<(LocationRow, anyhow::Result<Report>)> {
        use futures_util::StreamExt;
        futures_util::stream::iter(locations.into_iter().map(|loc| async move {
            let report = self.process(&loc).await;
            (loc, report)
        }))
        .buffered(2)
        .collect()
        .await
    }

    /// Runs `fut` on the ingestion runtime and blocks this (non-async) thread until it is done.
    pub fn block_on<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.runtime.handle().block_on(self.on_runtime(fut))
    }

    /// Runs `fut` on the ingestion runtime and waits for it.
    pub async fn on_runtime<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> anyhow::Result<T> {
        Ok(self.runtime.handle().spawn(fut).await?)
    }

    async fn process_here(&self, loc: &LocationRow) -> anyhow::Result<Report> {
        let started = std::time::Instant::now();
        let deadline = started + self.lease + Duration::from_secs(1);
        // One owner per processing, so two tasks of this instance never hold one location at once.
        let owner = self.lease_owner();
        loop {
            let now = crate::db::now_ms();
            if store::LOCATION_LEASES.claim(&self.pool, &loc.id, &owner, now, now + self.lease.as_millis() as i64)? {
                break;
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("location {} is being processed by another instance", loc.id);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let result = self.process_leased(loc).await;
        let next = crate::db::now_ms() + self.next_interval_ms();
        store::LOCATION_LEASES.release(&self.pool, &loc.id, &owner, Some(next))?;
        let report = result?;
        tracing::info!(
            location.id = %loc.id,
            location.target = %loc.target,
            files = report.files_read,
            added = report.outcome.added,
            updated = report.outcome.updated,
            unchanged = report.outcome.unchanged,
            removed = report.outcome.removed,
            errors = report.errors.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "Processed location."
        );
        Ok(report)
    }

    /// A lease owner for one processing: this instance's id and a fresh suffix (a lease owner
    /// may extend its own lease, so two tasks must never share one).
    pub fn lease_owner(&self) -> String {
        format!("{}/{}", self.instance_id, uuid::Uuid::new_v4())
    }

    /// The refresh interval with up to a tenth of jitter, so instances spread their work.
    pub fn next_interval_ms(&self) -> i64 {
        let base = self.refresh_interval.as_millis() as i64;
        base + fastrand::i64(0..=(base / 10).max(1))
    }

    /// Processes a location this instance holds the lease of.
    pub async fn process_leased(&self, loc: &LocationRow) -> anyhow::Result<Report> {
        let ctx = TreeContext {
            location_id: Some(loc.id.clone()),
            restrict_files: loc.origin == "api",
            placeholder_roots: self.placeholder_roots(loc),
            origin: loc.origin.clone(),
        };
        let read_started = std::time::Instant::now();
        let processed = self.read_tree(&loc.kind, &loc.target, &ctx).await;
        let read_ms = read_started.elapsed().as_millis() as u64;
        let publish_started = std::time::Instant::now();
        let pool = self.pool.clone();
        let id = loc.id.clone();
        let orphans = self.orphans;
        let mut keep = processed.failed_sources.clone();
        keep.extend(processed.unchanged_sources.iter().cloned());
        let forbidden = processed.forbidden;
        let failing = status_items(&processed.errors);
        let root_failed = processed.root_failed;
        let entities = processed.entities;
        let seam = (!self.bulk).then(|| self.seam.clone());
        let (outcome, listeners_ms) = tokio::task::spawn_blocking(move || {
            let outcome = store::publish(&pool, &id, entities, &keep, &forbidden, orphans, &failing)?;
            let started = std::time::Instant::now();
            if let Some(seam) = seam {
                seam.announce(&pool, &outcome.change)?;
            }
            anyhow::Ok((outcome, started.elapsed().as_secs_f64() * 1000.0))
        })
        .await??;
        tracing::debug!(
            location.id = %loc.id,
            read_ms,
            publish_ms = publish_started.elapsed().as_millis() as u64,
            listeners_ms,
            "Location phases timed."
        );
        let errors = processed.errors;
        let error_text = if errors.is_empty() { None } else { Some(serde_json::to_string(&errors)?) };
        store::record_location_result(&self.pool, &loc.id, error_text.as_deref(), !root_failed)?;
        metrics::counter!("portolan_ingest_runs_total").increment(1);
        metrics::counter!("portolan_ingest_errors_total").increment(errors.len() as u64);
        metrics::counter!("portolan_ingest_entities_written_total").increment((outcome.added + outcome.updated) as u64);
        Ok(Report {
            location_id: loc.id.clone(),
            files_read: processed.files_read,
            errors,
            outcome,
            root_failed,
            listeners_ms,
        })
    }

    /// Deletes a location with its entities, and announces their removal. False when there is
    /// no such location.
    pub fn delete_location(&self, id: &str) -> anyhow::Result<bool> {
        match store::delete_location(&self.pool, id)? {
            Some(change) => {
                self.seam.announce(&self.pool, &change)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Deletes one entity by uid (its location emits it again on its next refresh), and
    /// announces its removal. False when there is no such entity.
    pub fn delete_entity(&self, uid: &str) -> anyhow::Result<bool> {
        match store::delete_entity_by_uid(&self.pool, uid)? {
            Some(change) => {
                self.seam.announce(&self.pool, &change)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Reads a location tree without writing anything (also used by dry runs).
    pub async fn read_tree(&self, kind: &str, target: &str, ctx: &TreeContext) -> Processed {
        let mut out = Processed::default();
        let origin = format!("{kind}:{target}");
        let root_parent = format!("location:{DEFAULT_NAMESPACE}/{}", generated_location_name(kind, target));
        if let Some(generated) =
            incoming(generated_location_entity(kind, target), &origin, &self.validation, &mut out.errors)
        {
            out.entities.push(generated);
        }
        let root = match self.reader.target(kind, target, None).and_then(|t| self.permitted(t, ctx)) {
            Ok(t) => t,
            Err(e) => {
                out.errors.push(LocationError::read(&origin, e));
                out.failed_sources.insert(origin);
                out.root_failed = true;
                return out;
            }
        };
        // Each target with the Location entity that named it (the entities it holds are that
        // entity's children, as ancestry shows).
        let mut queue: VecDeque<(Target, String)> = VecDeque::from([(root, root_parent)]);
        let mut seen: HashSet<String> = HashSet::new();
        let mut is_root = true;
        while let Some((target, parent)) = queue.pop_front() {
            let files = match self.reader.expand(&target) {
                Ok(files) if files.is_empty() => Err(format!("no file matches {}", target.raw())),
                other => other,
            };
            let files = match files {
                Ok(files) => files,
                Err(e) => {
                    let src = target.source();
                    out.errors.push(LocationError::read(&src, e));
                    out.failed_sources.insert(src);
                    out.root_failed |= is_root;
                    is_root = false;
                    continue;
                }
            };
            let single_root = is_root && files.len() == 1;
            is_root = false;
            for file in files {
                let source = file.source();
                if !seen.insert(source.clone()) {
                    // Already read in this tree: a cycle or a repeated target.
                    continue;
                }
                if seen.len() > MAX_FILES_PER_TREE {
                    out.errors.push(LocationError::read(
                        &source,
                        format!("location tree reaches more than {MAX_FILES_PER_TREE} files"),
                    ));
                    return out;
                }
                let cached = match (&file, &ctx.location_id) {
                    (Target::Url(u), Some(id)) => store::cached_read(&self.pool, id, u.as_str()).ok().flatten(),
                    _ => None,
                };
                // A glob's matches are checked one by one (a link inside the roots may lead out).
                let checked = self.permitted(file.clone(), ctx);
                let read = match checked {
                    Ok(file) => self.reader.read_conditional(&file, cached.as_ref().map(|(e, _)| e.as_str())).await,
                    Err(e) => Err(e),
                };
                let read = match read {
                    Ok(r) => r,
                    Err(e) => {
                        out.errors.push(LocationError::read(&source, e));
                        out.failed_sources.insert(source);
                        out.root_failed |= single_root;
                        continue;
                    }
                };
                let (bytes, etag) = match read {
                    Read::NotModified => {
                        // Unchanged since the last read: keep its entities, follow what it named.
                        out.unchanged_sources.insert(source);
                        for t in cached.map(|(_, nested)| nested).unwrap_or_default() {
                            if let Some((k, t)) = t.split_once(':')
                                && let Ok(t) =
                                    self.reader.target(k, t, Some(&file)).and_then(|t| self.permitted(t, ctx))
                            {
                                queue.push_back((t, parent.clone()));
                            }
                        }
                        continue;
                    }
                    Read::Body { bytes, etag } => (bytes, etag),
                };
                out.files_read += 1;
                let errors_before = out.errors.len();
                let (nested, placeholders) = self.process_file(&file, &bytes, &origin, &parent, ctx, &mut out).await;
                if let (Target::Url(u), Some(id)) = (&file, &ctx.location_id) {
                    // Only a self-contained, valid file can be skipped on a 304 next time.
                    let cacheable = !placeholders && out.errors.len() == errors_before;
                    let nested_names: Vec<String> =
                        nested.iter().map(|(t, _)| format!("{}:{}", t.kind(), t.raw())).collect();
                    let entry = etag.as_deref().filter(|_| cacheable).map(|e| (e, nested_names.as_slice()));
                    if let Err(e) = store::store_read(&self.pool, id, u.as_str(), entry) {
                        tracing::warn!(error.cause = %e, "Could not record the ETag of a read.");
                    }
                }
                queue.extend(nested);
            }
        }
        out
    }

    /// Turns one file into entities; returns the Location targets it names, and whether it
    /// held placeholders (whose targets may change without the file changing).
    async fn process_file(
        &self,
        file: &Target,
        bytes: &[u8],
        origin: &str,
        parent: &str,
        ctx: &TreeContext,
        out: &mut Processed,
    ) -> (Vec<(Target, String)>, bool) {
        let source = file.source();
        let docs = match descriptor::parse_file(bytes, &file.name()) {
            Ok(d) => d,
            Err(e) => {
                out.errors.push(LocationError::read(&source, e));
                out.failed_sources.insert(source);
                return (Vec::new(), false);
            }
        };
        let mut nested = Vec::new();
        let mut placeholders = false;
        for doc in docs {
            let mut value = match doc.body {
                Ok(v) => v,
                Err(e) => {
                    out.errors.push(LocationError { document: Some(doc.index), ..LocationError::read(&source, e) });
                    out.failed_sources.insert(source.clone());
                    continue;
                }
            };
            let fail = |path: Option<String>, message: String, value: &Value| LocationError {
                source: source.clone(),
                document: Some(doc.index),
                entity_ref: value.is_object().then(|| validate::describe(value)).flatten(),
                path,
                message,
            };
            if !value.is_object() {
                out.errors.push(fail(
                    Some(String::new()),
                    "expected an entity object at the root of the document".into(),
                    &value,
                ));
                out.failed_sources.insert(source.clone());
                continue;
            }
            let resolved = self.resolve_placeholders(&mut value, file, ctx).await;
            placeholders |= resolved.as_ref().is_ok_and(|n| *n > 0) || resolved.is_err();
            if let Err((path, message)) = resolved {
                out.errors.push(fail(Some(path), message, &value));
                out.failed_sources.insert(source.clone());
                continue;
            }
            set_annotations(&mut value, &source, origin, file);
            let validated = match validate::validate(value.clone(), &self.validation) {
                Ok(v) => v,
                Err(problems) => {
                    for Problem { path, message } in problems {
                        out.errors.push(fail(Some(path), message, &value));
                    }
                    out.failed_sources.insert(source.clone());
                    continue;
                }
            };
            let (root_kind, root_target) = origin.split_once(':').unwrap_or(("", origin));
            let from = Provenance { origin: &ctx.origin, location: (root_kind, root_target), source: &source };
            if let Err(message) = self.rules.check(&validated.entity_ref.kind, from) {
                // Not stored, and dropped if it was: the file itself is fine, so its other
                // entities are published as usual.
                out.errors.push(fail(Some("/kind".into()), message, &validated.value));
                out.forbidden.insert(validated.entity_ref.key());
                continue;
            }
            if validated.entity_ref.kind == "Location" {
                let spec = validated.value.get("spec").cloned().unwrap_or(Value::Null);
                let kind = spec.get("type").and_then(Value::as_str).unwrap_or(file.kind());
                let mut targets: Vec<String> =
                    spec.get("target").and_then(Value::as_str).map(str::to_owned).into_iter().collect();
                if let Some(list) = spec.get("targets").and_then(Value::as_array) {
                    targets.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                for t in targets {
                    match self.reader.target(kind, &t, Some(file)).and_then(|t| self.permitted(t, ctx)) {
                        Ok(t) => nested.push((t, validated.entity_ref.to_string())),
                        Err(e) => out.errors.push(fail(Some("/spec/targets".into()), e, &validated.value)),
                    }
                }
            }
            out.entities.push(Incoming {
                entity_ref: validated.entity_ref,
                source: source.clone(),
                line: Some(doc.line as i64),
                value: validated.value,
                relations: validated.relations,
                parent: Some(parent.to_owned()),
            });
        }
        (nested, placeholders)
    }

    /// The folders a configured file location's placeholders must stay inside: the start-up
    /// folders that hold its file (its own folder when none does).
    fn placeholder_roots(&self, loc: &LocationRow) -> Option<Vec<PathBuf>> {
        let roots = self.startup_roots.as_ref().filter(|_| loc.origin == "config" && loc.kind == "file")?;
        let file = Path::new(&loc.target);
        let file = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        let holding: Vec<PathBuf> = roots.iter().filter(|r| file.starts_with(r)).cloned().collect();
        Some(if holding.is_empty() { file.parent().map(Path::to_path_buf).into_iter().collect() } else { holding })
    }

    /// Refuses local files outside the file roots when the tree must stay inside them.
    fn permitted(&self, target: Target, ctx: &TreeContext) -> Result<Target, String> {
        match &target {
            Target::File(p) if ctx.restrict_files => {
                check_file_root(p, &self.file_roots)?;
                Ok(target)
            }
            _ => Ok(target),
        }
    }

    /// Replaces `$text`, `$json` and `$yaml` placeholders with what their targets hold, read
    /// relative to the file (absolute URLs too), under the same reader rules and limits.
    async fn resolve_placeholders(
        &self,
        value: &mut Value,
        file: &Target,
        ctx: &TreeContext,
    ) -> Result<usize, (String, String)> {
        let found = validate::placeholders(value);
        let count = found.len();
        for validate::FoundPlaceholder { path, key, target: raw_target } in found {
            let target = self
                .reader
                .target(file.kind(), &raw_target, Some(file))
                .and_then(|t| self.permitted(t, ctx))
                .and_then(|t| match (&t, &ctx.placeholder_roots) {
                    (Target::File(p), Some(roots)) if !inside_roots(p, roots)? => Err(format!(
                        "{} is outside the folder this start-up catalog file was loaded from ({}); \
                         set catalog.placeholders_anywhere = true to allow it",
                        p.display(),
                        roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
                    )),
                    _ => Ok(t),
                })
                .map_err(|e| (path.clone(), format!("{key}: {e}")))?;
            let bytes =
                self.reader.read(&target).await.map_err(|e| (path.clone(), format!("{key} {raw_target}: {e}")))?;
            let text =
                String::from_utf8(bytes).map_err(|_| (path.clone(), format!("{key} {raw_target}: not UTF-8 text")))?;
            let replacement = match key.as_str() {
                "$text" => Value::String(text),
                "$json" => {
                    serde_json::from_str(&text).map_err(|e| (path.clone(), format!("$json {raw_target}: {e}")))?
                }
                _ => {
                    let docs = descriptor::parse_file(text.as_bytes(), "placeholder.yaml")
                        .map_err(|e| (path.clone(), format!("$yaml {raw_target}: {e}")))?;
                    match docs.into_iter().next() {
                        Some(d) => d.body.map_err(|e| (path.clone(), format!("$yaml {raw_target}: {e}")))?,
                        None => Value::Null,
                    }
                }
            };
            if let Some(slot) = value.pointer_mut(&path) {
                *slot = replacement;
            }
        }
        Ok(count)
    }
}

/// Status items for entities whose latest descriptor failed, keyed by ref: Backstage's
/// `status.items` shape, so the last good version carries its current error.
fn status_items(errors: &[LocationError]) -> HashMap<String, Value> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    for e in errors {
        let Some(r) = &e.entity_ref else { continue };
        let message = match &e.path {
            Some(p) if !p.is_empty() => format!("{}: {p}: {}", e.source, e.message),
            _ => format!("{}: {}", e.source, e.message),
        };
        out.entry(r.to_lowercase()).or_default().push(serde_json::json!({
            "type": "backstage.io/catalog-processing",
            "level": "error",
            "message": message,
            "error": {"name": "InputError", "message": message},
        }));
    }
    out.into_iter().map(|(k, items)| (k, serde_json::json!({ "items": items }))).collect()
}

fn incoming(value: Value, source: &str, opts: &validate::Options, errors: &mut Vec<LocationError>) -> Option<Incoming> {
    match validate::validate(value, opts) {
        Ok(v) => Some(Incoming {
            entity_ref: v.entity_ref,
            source: source.to_owned(),
            line: None,
            value: v.value,
            relations: v.relations,
            parent: None,
        }),
        Err(p) => {
            // The generated entity is ours; should it ever fail, say so like any other error.
            errors.push(LocationError::read(source, format!("generated location entity is invalid: {p:?}")));
            None
        }
    }
}
