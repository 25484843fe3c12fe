//! Processing a location: read its target, follow nested Location entities, resolve
//! placeholders, validate, and publish the resulting entity set.
//!
//! A registered location is processed as one tree. Every file in it is read on its own: one
//! unreadable target or invalid document is recorded as an error and does not stop its siblings,
//! and the entities previously read from a failed file are kept (last good state).

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use super::descriptor;
use super::fetch::{Reader, Target};
use super::model::DEFAULT_NAMESPACE;
use super::store::{self, Incoming, LocationRow, OrphanStrategy, PublishOutcome};
use super::validate::{self, Problem};
use crate::db::Pool;

pub const MANAGED_BY_LOCATION: &str = "backstage.io/managed-by-location";
pub const MANAGED_BY_ORIGIN_LOCATION: &str = "backstage.io/managed-by-origin-location";

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
    pub files_read: usize,
}

/// The result of processing and publishing one location.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub location_id: String,
    pub files_read: usize,
    pub errors: Vec<LocationError>,
    #[serde(flatten)]
    pub outcome: PublishOutcome,
}

/// Everything processing needs, shared by the server, the refresh loop and the CLI.
#[derive(Clone)]
pub struct Ingestor {
    pub pool: Pool,
    pub reader: Reader,
    pub validation: validate::Options,
    pub orphans: OrphanStrategy,
}

/// The Location entity that stands for a registered location, named as Backstage names it.
pub fn generated_location_entity(kind: &str, target: &str) -> Value {
    let digest = Sha1::digest(format!("{kind}:{target}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let location = format!("{kind}:{target}");
    serde_json::json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {
            "name": format!("generated-{hex}"),
            "namespace": DEFAULT_NAMESPACE,
            "annotations": {
                MANAGED_BY_LOCATION: location,
                MANAGED_BY_ORIGIN_LOCATION: location,
            }
        },
        "spec": { "type": kind, "target": target }
    })
}

impl Ingestor {
    /// Reads, validates and publishes a location tree; records the outcome on the location.
    pub async fn process(&self, loc: &LocationRow) -> anyhow::Result<Report> {
        let started = std::time::Instant::now();
        let processed = self.read_tree(&loc.kind, &loc.target).await;
        let pool = self.pool.clone();
        let id = loc.id.clone();
        let orphans = self.orphans;
        let failed = processed.failed_sources.clone();
        let entities = processed.entities;
        let outcome =
            tokio::task::spawn_blocking(move || store::publish(&pool, &id, entities, &failed, orphans)).await??;
        let errors = processed.errors;
        let error_text = if errors.is_empty() { None } else { Some(serde_json::to_string(&errors)?) };
        store::record_location_result(&self.pool, &loc.id, error_text.as_deref(), 0)?;
        metrics::counter!("portolan_ingest_runs_total").increment(1);
        metrics::counter!("portolan_ingest_errors_total").increment(errors.len() as u64);
        metrics::counter!("portolan_ingest_entities_written_total").increment((outcome.added + outcome.updated) as u64);
        tracing::info!(
            location.id = %loc.id,
            location.target = %loc.target,
            files = processed.files_read,
            added = outcome.added,
            updated = outcome.updated,
            unchanged = outcome.unchanged,
            removed = outcome.removed,
            errors = errors.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "Processed location."
        );
        Ok(Report { location_id: loc.id.clone(), files_read: processed.files_read, errors, outcome })
    }

    /// Reads a location tree without writing anything (also used by dry runs).
    pub async fn read_tree(&self, kind: &str, target: &str) -> Processed {
        let mut out = Processed::default();
        let origin = format!("{kind}:{target}");
        out.entities.push(incoming(
            generated_location_entity(kind, target),
            &origin,
            &self.validation,
            &mut out.errors,
        ));
        let root = match self.reader.target(kind, target, None) {
            Ok(t) => t,
            Err(e) => {
                out.errors.push(LocationError::read(&origin, e));
                out.failed_sources.insert(origin);
                return out;
            }
        };
        let mut queue: VecDeque<Target> = VecDeque::from([root]);
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(target) = queue.pop_front() {
            let files = match self.reader.expand(&target) {
                Ok(files) => files,
                Err(e) => {
                    let src = target.source();
                    out.errors.push(LocationError::read(&src, e));
                    out.failed_sources.insert(src);
                    continue;
                }
            };
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
                let bytes = match self.reader.read(&file).await {
                    Ok(b) => b,
                    Err(e) => {
                        out.errors.push(LocationError::read(&source, e));
                        out.failed_sources.insert(source);
                        continue;
                    }
                };
                out.files_read += 1;
                let nested = self.process_file(&file, &bytes, &origin, &mut out).await;
                queue.extend(nested);
            }
        }
        out
    }

    /// Turns one file into entities; returns the Location targets it names.
    async fn process_file(&self, file: &Target, bytes: &[u8], origin: &str, out: &mut Processed) -> Vec<Target> {
        let source = file.source();
        let docs = match descriptor::parse_file(bytes, &file.name()) {
            Ok(d) => d,
            Err(e) => {
                out.errors.push(LocationError::read(&source, e));
                out.failed_sources.insert(source);
                return Vec::new();
            }
        };
        let mut nested = Vec::new();
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
            if let Err((path, message)) = self.resolve_placeholders(&mut value, file).await {
                out.errors.push(fail(Some(path), message, &value));
                out.failed_sources.insert(source.clone());
                continue;
            }
            set_annotations(&mut value, &source, origin);
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
            if validated.entity_ref.kind == "Location" {
                let spec = validated.value.get("spec").cloned().unwrap_or(Value::Null);
                let kind = spec.get("type").and_then(Value::as_str).unwrap_or(file.kind());
                let mut targets: Vec<String> =
                    spec.get("target").and_then(Value::as_str).map(str::to_owned).into_iter().collect();
                if let Some(list) = spec.get("targets").and_then(Value::as_array) {
                    targets.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                for t in targets {
                    match self.reader.target(kind, &t, Some(file)) {
                        Ok(t) => nested.push(t),
                        Err(e) => out.errors.push(fail(Some("/spec/targets".into()), e, &validated.value)),
                    }
                }
            }
            out.entities.push(Incoming {
                entity_ref: validated.entity_ref,
                source: source.clone(),
                value: validated.value,
                relations: validated.relations,
            });
        }
        nested
    }

    /// Replaces `$text`, `$json` and `$yaml` placeholders with what their targets hold, read
    /// relative to the file (absolute URLs too), under the same reader rules and limits.
    async fn resolve_placeholders(&self, value: &mut Value, file: &Target) -> Result<(), (String, String)> {
        let mut found = Vec::new();
        collect_placeholders(value, &mut String::new(), &mut found);
        for (path, key, raw_target) in found {
            let target = self
                .reader
                .target(file.kind(), &raw_target, Some(file))
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
        Ok(())
    }
}

fn collect_placeholders(v: &Value, path: &mut String, out: &mut Vec<(String, String, String)>) {
    if let Some((key, target)) = validate::placeholder(v) {
        out.push((path.clone(), key.to_owned(), target.as_str().unwrap_or_default().to_owned()));
        return;
    }
    let len = path.len();
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                collect_placeholders(x, path, out);
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push('/');
                path.push_str(&i.to_string());
                collect_placeholders(x, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Stamps the two location annotations on an entity, as Backstage does.
fn set_annotations(value: &mut Value, source: &str, origin: &str) {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(MANAGED_BY_LOCATION.into(), Value::String(source.to_owned()));
        a.insert(MANAGED_BY_ORIGIN_LOCATION.into(), Value::String(origin.to_owned()));
    }
}

fn incoming(value: Value, source: &str, opts: &validate::Options, errors: &mut Vec<LocationError>) -> Incoming {
    match validate::validate(value, opts) {
        Ok(v) => {
            Incoming { entity_ref: v.entity_ref, source: source.to_owned(), value: v.value, relations: v.relations }
        }
        Err(p) => {
            // The generated entity is ours; a failure here is a bug, reported like any error.
            errors.push(LocationError::read(source, format!("generated location entity is invalid: {p:?}")));
            Incoming {
                entity_ref: super::model::EntityRef::new("Location", DEFAULT_NAMESPACE, "invalid"),
                source: source.to_owned(),
                value: Value::Null,
                relations: Vec::new(),
            }
        }
    }
}

/// Absolute, normalised form of a path (without requiring it to exist).
pub fn absolute(path: &Path) -> PathBuf {
    let joined =
        if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
