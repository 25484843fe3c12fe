//! Standards as code: `Scorecard` entities whose checks are CEL expressions, judged against every
//! entity they apply to, the results stored per scorecard and entity.
//!
//! A catalog listener ([`Standards::follow`], from the change feed with its own cursor): after a
//! change only the entities whose variables may have changed are judged again: the changed
//! entities, what is part of them (their product or platform may have moved), what they own
//! (their owner changed), and what they name or named (their relations changed). A scorecard
//! whose body changed, and one never judged, is judged whole. What a check may read is
//! [`model::Vars`]: the entity, its relations, its owner, product and platform, the facts other
//! domains publish, and the time.
//!
//! Its store (`store.rs`: `scorecard_results`, `scorecard_versions`, `standards_state`, the
//! history) is private to it; the catalog is read through `crate::catalog::facade` and the org
//! graph. Each entity's standings are shown in its `status.items` ([`status`]).

pub mod campaigns;
pub mod handlers;
pub mod model;
pub mod routes;
pub mod status;
mod store;
pub mod subject;
pub mod tracking;
pub mod views;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::catalog::facade as catalog_store;
use crate::catalog::follow::FeedFollower;
use crate::catalog::seam::{CatalogChange, ChangeListener};
use crate::db::{Pool, now_ms};
use crate::org::{Graph, Org};
use model::Scorecard;

/// `[standards]`: how often facts other domains publish are read again.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandardsSettings {
    /// Seconds between re-reads of the facts (every scorecard judged again with them).
    pub facts_refresh_secs: f64,
}

impl Default for StandardsSettings {
    fn default() -> Self {
        Self { facts_refresh_secs: 300.0 }
    }
}

/// The standards domain's front door.
pub fn domain(settings: &StandardsSettings, shared: &crate::domain::Shared) -> anyhow::Result<crate::domain::Domain> {
    use crate::domain::{Domain, Task};
    anyhow::ensure!(settings.facts_refresh_secs >= 1.0, "standards.facts_refresh_secs: at least 1");
    let standards = Arc::new(Standards::new(shared));
    let (me, pool) = (standards.clone(), shared.pool.clone());
    let refresh =
        Task::every("scorecard-facts", std::time::Duration::from_secs_f64(settings.facts_refresh_secs), move || {
            me.evaluate_all(&pool, None).map(|_| ())
        });
    let (me, pool) = (standards.clone(), shared.pool.clone());
    let history =
        Task::every("scorecard-history", std::time::Duration::from_secs(600), move || me.snapshot_due(&pool, now_ms()));
    Ok(Domain::new("standards")
        .data(standards.clone())
        .listener(standards.clone())
        .decorator(standards.clone())
        .view_extension(standards.clone())
        .findings_source(standards)
        .task(refresh)
        .task(history)
        .nav("/scorecards", "Scorecards", 82))
}

/// A scorecard as compiled, with the hash of the body it was compiled from.
type Compiled = (String, Arc<Scorecard>);

/// The engine: the compiled scorecards (compiling costs milliseconds, judging microseconds) and
/// the follower of the change feed.
pub struct Standards {
    pub(crate) org: Arc<Org>,
    hooks: Arc<crate::domain::Hooks>,
    follower: FeedFollower,
    compiled: Mutex<HashMap<String, Compiled>>,
    /// The graph the last judgement read (what changed entities named before).
    last_graph: Mutex<Option<Arc<Graph>>>,
    /// The facts of the last whole judgement (read afresh by every whole one; reused by the
    /// judgements that follow a catalog change).
    pub(crate) facts: Mutex<Option<Arc<subject::Facts>>>,
    /// How many judgements this instance wrote (the findings follow).
    pub(crate) judgements: std::sync::atomic::AtomicU64,
    pub(crate) last_findings: Mutex<Option<(u64, i64, std::time::Instant)>>,
    /// One judgement at a time in this process.
    busy: Mutex<()>,
}

/// What one judgement did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judged {
    pub scorecards: usize,
    pub entities: usize,
}

fn hash(body: &str) -> String {
    let d = Sha256::digest(body.as_bytes());
    d.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

impl Standards {
    pub fn new(shared: &crate::domain::Shared) -> Self {
        Self::with_parts(shared.org.clone(), shared.hooks.clone())
    }

    /// The engine on an org graph and hook lists of the caller's (the benchmark's).
    pub fn with_parts(org: Arc<Org>, hooks: Arc<crate::domain::Hooks>) -> Self {
        Self {
            org,
            hooks,
            follower: FeedFollower::new("standards"),
            compiled: Mutex::new(HashMap::new()),
            last_graph: Mutex::new(None),
            facts: Mutex::new(None),
            judgements: std::sync::atomic::AtomicU64::new(0),
            last_findings: Mutex::new(None),
            busy: Mutex::new(()),
        }
    }

    /// The scorecards in the catalog, compiled (reusing what is compiled while a body is
    /// unchanged). A body that no longer compiles keeps its last good version running.
    pub fn scorecards(&self, pool: &Pool, g: &Graph) -> anyhow::Result<Vec<(String, Arc<Scorecard>)>> {
        let rows = catalog_store::bodies_of_kind(pool, "scorecard")?;
        let mut cache = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(rows.len());
        let mut present = HashSet::new();
        for (key, body) in rows {
            let key = key.to_ascii_lowercase();
            present.insert(key.clone());
            let h = hash(&body);
            if let Some((at, sc)) = cache.get(&key)
                && *at == h
            {
                out.push((h, sc.clone()));
                continue;
            }
            let parsed = serde_json::from_str(&body).map_err(anyhow::Error::from).and_then(|v| {
                let owner = g.get(&key).and_then(|e| e.owner.clone());
                Scorecard::from_body(&key, &v, owner).map_err(anyhow::Error::msg)
            });
            match parsed {
                Ok(sc) => {
                    let sc = Arc::new(sc);
                    cache.insert(key, (h.clone(), sc.clone()));
                    out.push((h, sc));
                }
                Err(e) => {
                    tracing::warn!(scorecard = %key, error.cause = %e, "A scorecard no longer compiles; its last good version runs.");
                    if let Some((at, sc)) = cache.get(&key) {
                        out.push((at.clone(), sc.clone()));
                    }
                }
            }
        }
        cache.retain(|k, _| present.contains(k));
        out.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        Ok(out)
    }

    /// One scorecard by ref key.
    pub fn scorecard(&self, pool: &Pool, g: &Graph, key: &str) -> anyhow::Result<Option<Arc<Scorecard>>> {
        Ok(self.scorecards(pool, g)?.into_iter().map(|(_, s)| s).find(|s| s.key == key))
    }

    /// A scorecard's standing (`GET /api/portal/scorecards/{namespace}/{name}`).
    pub fn view(
        &self,
        pool: &Pool,
        key: &str,
        q: &views::ScorecardQuery,
    ) -> Result<views::ScorecardView, crate::error::ApiError> {
        let g = self.org.snapshot(pool)?;
        let sc = self
            .scorecard(pool, &g, key)?
            .ok_or_else(|| crate::error::ApiError::not_found(format!("No scorecard named '{key}' found")))?;
        let rows = store::results_of(pool, key)?;
        views::scorecard_view(&g, &sc, &rows, q)
    }

    /// Judges every scorecard whole (`only`: just these scorecards).
    pub fn evaluate_all(&self, pool: &Pool, only: Option<&str>) -> anyhow::Result<Judged> {
        self.judge(pool, None, only)
    }

    /// Judges what the catalog's changes may have changed: `changed` ref keys (`None`: all).
    fn judge(&self, pool: &Pool, changed: Option<&[String]>, only: Option<&str>) -> anyhow::Result<Judged> {
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let g = self.org.snapshot(pool)?;
        let previous = self.last_graph.lock().unwrap_or_else(|e| e.into_inner()).replace(g.clone());
        let scorecards = self.scorecards(pool, &g)?;
        let stored: HashMap<String, String> = store::versions(pool)?.into_iter().collect();
        let mut writes = store::Writes { at: now_ms(), ..Default::default() };
        let current: HashSet<&str> = scorecards.iter().map(|(_, s)| s.key.as_str()).collect();
        writes.gone = stored.keys().filter(|k| !current.contains(k.as_str())).cloned().collect();
        let changed_set: Option<HashSet<&str>> = changed.map(|c| c.iter().map(String::as_str).collect());
        let (mut whole, mut partial) = (Vec::new(), Vec::new());
        for (h, sc) in &scorecards {
            if only.is_some_and(|o| o != sc.key) {
                continue;
            }
            let redo = match &changed_set {
                None => true,
                Some(c) => c.contains(sc.key.as_str()) || stored.get(&sc.key) != Some(h),
            };
            if redo { whole.push((h, sc.clone())) } else { partial.push((h, sc.clone())) }
        }
        let affected: Vec<String> = match changed {
            Some(c) if !partial.is_empty() => {
                let mut set = subject::affected_by(&g, c);
                if let Some(p) = &previous {
                    set.extend(subject::affected_by(p, c));
                }
                let mut v: Vec<String> = set.into_iter().collect();
                v.sort();
                v
            }
            _ => Vec::new(),
        };
        // Most of the catalog changed (a first start, a large import): judge everything whole.
        if !partial.is_empty() && affected.len() * 2 > g.entities.len().max(1) {
            whole.append(&mut partial);
            return self.write_judged(pool, &g, whole, Vec::new(), Vec::new(), writes);
        }
        self.write_judged(pool, &g, whole, partial, affected, writes)
    }

    fn write_judged(
        &self,
        pool: &Pool,
        g: &Graph,
        whole: Vec<(&String, Arc<Scorecard>)>,
        partial: Vec<(&String, Arc<Scorecard>)>,
        affected: Vec<String>,
        mut writes: store::Writes,
    ) -> anyhow::Result<Judged> {
        if whole.is_empty() && affected.is_empty() && writes.gone.is_empty() {
            return Ok(Judged::default());
        }
        let keys: Option<Vec<String>> = if whole.is_empty() { Some(affected.clone()) } else { None };
        // A whole judgement reads the facts afresh; one after a catalog change reuses them.
        let facts = self.facts(pool, g, !whole.is_empty())?;
        let subjects = subject::Subjects::load(pool, g, keys.as_deref(), &facts, writes.at)?;
        let mut judged = Judged::default();
        if !whole.is_empty() {
            let list: Vec<&Scorecard> = whole.iter().map(|(_, sc)| &**sc).collect();
            writes.rows.extend(subjects.judge(&list, None));
            writes.versions.extend(whole.iter().map(|(h, sc)| (sc.key.clone(), (*h).clone())));
            judged.scorecards += whole.len();
        }
        if !partial.is_empty() && !affected.is_empty() {
            let list: Vec<&Scorecard> = partial.iter().map(|(_, sc)| &**sc).collect();
            writes.rows.extend(subjects.judge(&list, Some(&affected)));
            for (_, sc) in &partial {
                writes.pairs.extend(affected.iter().map(|key| (sc.key.clone(), key.clone())));
            }
        }
        judged.scorecards += usize::from(!affected.is_empty()) * partial.len();
        judged.entities = if whole.is_empty() { affected.len() } else { g.entities.len() };
        store::write(pool, &writes)?;
        self.judgements.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(judged)
    }

    /// The facts last read, or read now (`fresh`, or when none were read yet).
    pub(crate) fn facts(&self, pool: &Pool, g: &Graph, fresh: bool) -> anyhow::Result<Arc<subject::Facts>> {
        if !fresh && let Some(f) = self.facts.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(f);
        }
        let f = Arc::new(subject::facts(pool, g, &self.hooks)?);
        *self.facts.lock().unwrap_or_else(|e| e.into_inner()) = Some(f.clone());
        Ok(f)
    }

    /// Applies the change feed after this domain's cursor.
    pub fn follow(&self, pool: &Pool) -> anyhow::Result<usize> {
        self.follower.follow(pool, |events| {
            let refs = FeedFollower::entity_refs(events);
            if !refs.is_empty() {
                self.judge(pool, Some(&refs), None)?;
            }
            Ok(())
        })
    }
}

/// The list of scorecards gains every scorecard users wrote, with its level counts and pass
/// rates (`scorecards`).
impl crate::domain::hooks::ViewExtension for Standards {
    fn fields(
        &self,
        _pool: &Pool,
        _g: &Graph,
        _kind: crate::domain::hooks::EntityKind,
        _key: &str,
    ) -> anyhow::Result<Vec<(&'static str, serde_json::Value)>> {
        Ok(Vec::new())
    }

    fn scorecard_list_fields(&self, pool: &Pool, g: &Graph) -> anyhow::Result<Vec<(&'static str, serde_json::Value)>> {
        let scorecards = self.scorecards(pool, g)?;
        let list: Vec<&Scorecard> = scorecards.iter().map(|(_, s)| &**s).collect();
        let rows = store::all_results(pool)?;
        Ok(vec![("scorecards", serde_json::to_value(views::summaries(g, &list, &rows))?)])
    }
}

impl ChangeListener for Standards {
    fn name(&self) -> &'static str {
        "standards"
    }

    fn on_change(&self, pool: &Pool, _change: &CatalogChange) -> anyhow::Result<()> {
        self.follow(pool).map(|_| ())
    }

    fn catch_up(&self, pool: &Pool) -> anyhow::Result<()> {
        self.follow(pool).map(|_| ())
    }

    fn on_bulk_load(&self, pool: &Pool) -> anyhow::Result<()> {
        let last = catalog_store::last_event_id(pool)?;
        self.evaluate_all(pool, None)?;
        match last {
            Some(last) => self.follower.skip_to(pool, last),
            None => Ok(()),
        }
    }
}
