//! Products and platforms: the operating model made visible. Membership, the dependency graph,
//! governance rules with stored findings, scorecards, and the portal views.
//!
//! The portal is one of the catalog's listeners (`catalog::seam`): after every committed change,
//! and on every catch-up tick, [`Governance::follow`] reads the change feed from the portal's own
//! cursor and recomputes findings incrementally: only the entities the change can affect are
//! evaluated again (the changed ones, what refers to them, what is part of them and what depends
//! on those parts), and dependency cycles only inside the strongly connected components the
//! change touched. The database stays the truth: each recomputation commits its findings with the
//! new cursor and generation only if no other instance committed since, so instances sharing a
//! database never interleave; an instance whose in-memory model missed another instance's change
//! reloads it whole. It is also the seam's decorator: served entities carry their findings in
//! `status.items`.
//!
//! Its store (`store.rs`: `portal_state`, `findings`) is private to governance: other domains
//! hand it findings through the hooks of `crate::domain`, and read its views through
//! [`handlers`]. The catalog is read through `crate::catalog::facade` (the change feed).

pub mod external;
mod facts;
pub mod graph;
pub mod handlers;
pub mod lint;
pub(crate) use crate::org::graph as model;
pub mod routes;
pub mod rules;
pub mod scorecards;
mod store;
pub mod views;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use model::{Entity, Graph, all_cyclic_components};
use rules::{DEPENDENCY_CYCLE, Finding, RuleConfig};

use serde_json::Value;

use crate::catalog::facade as catalog_store;
use crate::catalog::seam::{CatalogChange, ChangeListener, StatusDecorator};
use crate::db::Pool;

/// `[governance.rules.<rule-id>] enabled = bool, severity = "error"|"warning"|"info"`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovernanceSettings {
    pub rules: std::collections::BTreeMap<String, rules::RuleSetting>,
}

/// The governance domain's front door: the engine (a catalog listener, and the decorator that
/// shows findings in `status.items`), its handlers' data, and the task that asks the findings
/// sources other domains register.
pub fn domain(settings: &GovernanceSettings, shared: &crate::domain::Shared) -> anyhow::Result<crate::domain::Domain> {
    use crate::domain::{Domain, Task};
    let rules = RuleConfig::new(&settings.rules).map_err(anyhow::Error::msg)?;
    let governance = Arc::new(Governance::new(rules, shared.hooks.clone()));
    let (g, pool) = (governance.clone(), shared.pool.clone());
    let sources =
        Task::every("findings-sources", crate::catalog::seam::CATCH_UP_INTERVAL, move || g.sync_external(&pool));
    Ok(Domain::new("governance")
        .data(governance.clone())
        .listener(governance.clone())
        .decorator(governance.clone())
        .entity_facts(governance)
        .task(sources)
        .nav("/products", "Products", 20)
        .nav("/platforms", "Platforms", 30)
        .nav("/governance", "Governance", 80))
}

/// How often a recomputation is tried again when another instance commits first.
const MAX_ATTEMPTS: usize = 5;
/// Past this many new events, every finding is recomputed instead of patching the model.
const FULL_RECOMPUTE_AFTER: i64 = 2_000;

/// Sorts one entity's findings into their stored order.
pub fn sort_findings(list: &mut [Finding]) {
    list.sort_by(|a, b| (&a.rule, &a.message).cmp(&(&b.rule, &b.message)));
}

/// The portal engine: rule configuration and this instance's copy of the model.
pub struct Governance {
    pub rules: RuleConfig,
    state: Mutex<Option<State>>,
    /// What other domains offer governance: findings sources and view extensions.
    hooks: Arc<crate::domain::Hooks>,
}

#[derive(Clone)]
struct State {
    generation: i64,
    graph: Arc<Graph>,
    findings: HashMap<String, Vec<Finding>>,
    /// Members of each cyclic component, and the component of each member.
    sccs: HashMap<usize, Vec<String>>,
    scc_of: HashMap<String, usize>,
    next_scc: usize,
}

impl State {
    fn set_sccs(&mut self, comps: Vec<Vec<String>>) {
        for comp in comps {
            let id = self.next_scc;
            self.next_scc += 1;
            for k in &comp {
                self.scc_of.insert(k.clone(), id);
            }
            self.sccs.insert(id, comp);
        }
    }
}

/// Every finding over a whole model, with the cyclic components: what `portolan lint` reports
/// and what a full recomputation stores.
pub fn evaluate_all(g: &Graph, cfg: &RuleConfig) -> (HashMap<String, Vec<Finding>>, Vec<Vec<String>>) {
    let mut out: HashMap<String, Vec<Finding>> = HashMap::new();
    for e in g.entities.values() {
        let found = rules::evaluate(g, e, cfg);
        if !found.is_empty() {
            out.insert(e.key.clone(), found);
        }
    }
    let comps = all_cyclic_components(g);
    for comp in &comps {
        if let Some(f) = rules::cycle_finding(g, comp, cfg) {
            out.entry(f.entity_ref.clone()).or_default().push(f);
        }
    }
    for list in out.values_mut() {
        sort_findings(list);
    }
    (out, comps)
}

/// Entities whose per-entity findings may change when `changed` change: the changed ones,
/// whatever names them, whatever is part of them (their membership may move) with whatever
/// depends on those parts or consumes the APIs they provide.
fn affected_by(g: &Graph, changed: &HashSet<String>) -> HashSet<String> {
    let mut out: HashSet<String> = HashSet::new();
    for d in changed {
        out.insert(d.clone());
        let mut members = g.descendants(d);
        members.push(d.clone());
        for m in &members {
            out.insert(m.clone());
            for (from, _) in g.referrers(m) {
                out.insert(from.clone());
            }
            if let Some(e) = g.get(m) {
                for edge in e.edges.iter().filter(|x| x.rel == "providesApi") {
                    for (from, _) in g.referrers(&edge.target) {
                        out.insert(from.clone());
                    }
                }
            }
        }
    }
    out
}

/// Nodes whose successors in the cycle graph change when `changed` change.
fn cycle_touched(g: &Graph, changed: &HashSet<String>) -> HashSet<String> {
    let mut out = changed.clone();
    for d in changed {
        if let Some(e) = g.get(d) {
            for edge in e.edges.iter().filter(|x| x.rel == "dependencyOf" || x.rel == "providesApi") {
                out.insert(edge.target.clone());
            }
        }
    }
    out
}

impl Governance {
    pub fn new(rules: RuleConfig, hooks: Arc<crate::domain::Hooks>) -> Self {
        Self { rules, state: Mutex::new(None), hooks }
    }

    /// The hooks other domains fill (view extensions for the product and platform views).
    pub fn hooks(&self) -> &crate::domain::Hooks {
        &self.hooks
    }

    /// Rules whose findings come from findings sources: the known ones and every registered
    /// source's. Governance's own recomputations never touch their rows.
    pub fn external_rules(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = external::EXTERNAL_RULES.to_vec();
        for s in self.hooks.findings_sources.all() {
            out.extend(s.rules().iter().copied().filter(|r| !out.contains(r)).collect::<Vec<_>>());
        }
        out
    }

    /// Asks every findings source for its findings and stores those that changed, each source's
    /// replacing only its own rules' rows (on every sync tick; a source answers `None` cheaply
    /// when nothing moved). A failing source does not keep the others from being asked.
    pub fn sync_external(&self, pool: &Pool) -> anyhow::Result<()> {
        let sources = self.hooks.findings_sources.all();
        if sources.is_empty() {
            return Ok(());
        }
        let g = self.snapshot(pool)?;
        self.sync_sources(pool, &g)
    }

    /// [`Self::sync_external`] over a given model.
    fn sync_sources(&self, pool: &Pool, g: &Graph) -> anyhow::Result<()> {
        let mut first = None;
        for source in self.hooks.findings_sources.all() {
            let generation = store::generation(pool)?;
            let found = match source.findings(pool, g, generation) {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(source = source.name(), error.cause = format!("{e:#}"), "A findings source failed.");
                    first.get_or_insert(e);
                    continue;
                }
            };
            let list: Vec<Finding> = found
                .into_iter()
                .filter(|f| {
                    (self.rules.enabled(&f.rule) || !self.rules.knows(&f.rule))
                        && (source.rules().contains(&f.rule.as_str()) || source.user_rules() && f.rule.contains('/'))
                })
                .filter_map(|f| {
                    let e = g.get(&f.entity_ref)?;
                    // A documented rule takes its configured severity; another source's rule the
                    // level its source gives (warning when it gives none).
                    let severity = match f.level {
                        Some(level) if !self.rules.knows(&f.rule) => level.into(),
                        _ => self.rules.severity(&f.rule),
                    };
                    Some(Finding {
                        entity_ref: f.entity_ref,
                        severity,
                        rule: f.rule,
                        message: f.message,
                        details: f.details,
                        file: e.file.clone(),
                        line: e.line,
                        owner: e.owner.clone(),
                    })
                })
                .collect();
            store::replace_external(pool, source.rules(), source.user_rules(), &list)?;
        }
        first.map_or(Ok(()), Err)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the stored findings up to the catalog's change feed: the entities of every event
    /// after the portal's cursor are judged again (with what they can affect) and the findings
    /// that changed are committed with the new cursor. Does nothing when the cursor is at the
    /// end of the feed, so it is cheap to call after every change and on every catch-up tick.
    pub fn follow(&self, pool: &Pool) -> anyhow::Result<()> {
        let mut guard = self.lock();
        for _ in 0..MAX_ATTEMPTS {
            let (generation, cursor) = store::state(pool)?;
            let last = catalog_store::last_event_id(pool)?.unwrap_or(0);
            if last <= cursor {
                return Ok(());
            }
            // Events pruned past the cursor, or a change too large to patch: judge everything.
            let pruned = catalog_store::first_event_id(pool)?.is_some_and(|first| first > cursor + 1);
            let patch = if pruned || last - cursor > FULL_RECOMPUTE_AFTER {
                None
            } else {
                Some(catalog_store::changes_after(pool, cursor, FULL_RECOMPUTE_AFTER)?)
            };
            if let Some((change, Some(read_to))) = &patch
                && change.is_empty()
            {
                // Only other domains' events (subscriptions, keys): nothing to judge, and the
                // model and findings stay as they are; the cursor moves alone.
                store::advance_cursor(pool, cursor, *read_to)?;
                if *read_to >= last {
                    return Ok(());
                }
                continue;
            }
            let current = guard.take().filter(|s| s.generation == generation);
            let (state, writes, read_to) = match (patch, current) {
                (Some((change, Some(read_to))), Some(mut state)) => {
                    let writes = self.apply(pool, &mut state, &change.refs())?;
                    (state, writes, read_to)
                }
                (patch, _) => {
                    let changed = patch.as_ref().map(|(c, _)| c.refs()).unwrap_or_default();
                    let read_to = patch.and_then(|(_, r)| r).unwrap_or(last);
                    let mut state = self.reload(pool, generation)?;
                    let writes = self.recompute_everything(&mut state, &changed);
                    (state, writes, read_to)
                }
            };
            if let Some(new_generation) = store::commit(pool, generation, read_to, &writes, &self.external_rules())? {
                *guard = Some(State { generation: new_generation, ..state });
                if read_to >= last {
                    return Ok(());
                }
            }
            // Another instance committed first (its state is newer than ours), or more events
            // wait: go round again from what is stored.
        }
        Ok(())
    }

    /// Recomputes every finding (after a bulk load, so configuration changes take effect too) and
    /// moves the cursor to the end of the feed.
    pub fn recompute_all(&self, pool: &Pool) -> anyhow::Result<()> {
        let mut guard = self.lock();
        *guard = None;
        for _ in 0..MAX_ATTEMPTS {
            let (generation, _) = store::state(pool)?;
            let last = catalog_store::last_event_id(pool)?.unwrap_or(0);
            let mut state = self.reload(pool, generation)?;
            let writes = self.recompute_everything(&mut state, &[]);
            if let Some(new_generation) = store::commit(pool, generation, last, &writes, &self.external_rules())? {
                *guard = Some(State { generation: new_generation, ..state });
                return Ok(());
            }
        }
        anyhow::bail!("governance findings could not be recomputed: other instances kept committing first")
    }

    /// The current model, for the views: this instance's copy while no instance has changed the
    /// findings since, otherwise reloaded from the database.
    pub fn snapshot(&self, pool: &Pool) -> anyhow::Result<Arc<Graph>> {
        let mut guard = self.lock();
        let generation = store::generation(pool)?;
        if let Some(s) = &*guard
            && s.generation == generation
        {
            return Ok(s.graph.clone());
        }
        let state = self.reload(pool, generation)?;
        let graph = state.graph.clone();
        *guard = Some(state);
        Ok(graph)
    }

    fn reload(&self, pool: &Pool, generation: i64) -> anyhow::Result<State> {
        let graph = Graph::new(crate::org::load_entities(pool, None)?);
        let findings = store::load_findings(pool, &self.external_rules())?;
        let comps = all_cyclic_components(&graph);
        let mut state = State {
            generation,
            graph: Arc::new(graph),
            findings,
            sccs: HashMap::new(),
            scc_of: HashMap::new(),
            next_scc: 0,
        };
        state.set_sccs(comps);
        Ok(state)
    }

    /// Judges the whole model again; returns the writes that bring the stored findings there.
    fn recompute_everything(&self, state: &mut State, changed: &[String]) -> Vec<(String, Vec<Finding>)> {
        let (new, _) = evaluate_all(&state.graph, &self.rules);
        let mut touched: HashSet<&String> = state.findings.keys().chain(new.keys()).collect();
        touched.extend(changed.iter());
        let writes = diff(&state.findings, &new, touched);
        state.findings = new;
        writes
    }

    /// Patches the model with the changed entities as stored now and judges again what the change
    /// can affect; returns the writes.
    fn apply(&self, pool: &Pool, state: &mut State, changed: &[String]) -> anyhow::Result<Vec<(String, Vec<Finding>)>> {
        let changed_set: HashSet<String> = changed.iter().cloned().collect();
        // What the change can affect, judged on the model before it...
        let mut affected = affected_by(&state.graph, &changed_set);
        let mut region: HashSet<String> = HashSet::new();
        let fresh: Vec<Entity> = crate::org::load_entities(pool, Some(changed))?;
        // Nodes whose successors in the cycle graph may change: the changed ones, what they
        // name through `dependencyOf` and `providesApi` (before and after), and what points at
        // them (a target that appears or vanishes changes its referrers' successors).
        let mut touched_nodes = cycle_touched(&state.graph, &changed_set);
        let fresh_set: HashSet<String> = fresh.iter().map(|e| e.key.clone()).collect();
        let fresh_graph = Graph::new(fresh.iter().cloned());
        touched_nodes.extend(cycle_touched(&fresh_graph, &fresh_set));
        for d in &changed_set {
            touched_nodes.extend(state.graph.referrers(d).iter().map(|(from, _)| from.clone()));
        }
        let successors = |g: &Graph| -> Vec<Vec<String>> {
            let mut keys: Vec<&String> = touched_nodes.iter().collect();
            keys.sort();
            keys.iter().map(|k| g.cycle_successors(k).into_iter().map(str::to_owned).collect()).collect()
        };
        let before = successors(&state.graph);

        // ... then patch the model with what is stored now ...
        let graph = Arc::make_mut(&mut state.graph);
        for k in changed {
            graph.remove(k);
        }
        for e in fresh {
            graph.insert(e);
        }
        let graph: &Graph = graph;

        // ... and judge it again after.
        affected.extend(affected_by(graph, &changed_set));
        // When no dependency edge changed, every cyclic component is as it was. Otherwise they
        // are found in one linear pass (Tarjan) over the dependency graph, and only those that
        // hold a touched node, before or after, are judged again: every other component is made
        // of unchanged edges.
        let edges_changed = before != successors(graph);
        let all_comps = if edges_changed { all_cyclic_components(graph) } else { Vec::new() };
        let comps: Vec<Vec<String>> =
            all_comps.into_iter().filter(|c| c.iter().any(|k| touched_nodes.contains(k))).collect();
        for comp in &comps {
            region.extend(comp.iter().cloned());
        }
        let old_ids: HashSet<usize> = touched_nodes.iter().filter_map(|k| state.scc_of.get(k).copied()).collect();
        for id in old_ids.iter().filter(|_| edges_changed) {
            if let Some(members) = state.sccs.remove(id) {
                for m in members {
                    state.scc_of.remove(&m);
                    region.insert(m);
                }
            }
        }
        // A component found again may still be registered under its old id through a member
        // that was not touched: drop those registrations before recording it anew.
        for comp in &comps {
            for k in comp {
                if let Some(id) = state.scc_of.remove(k)
                    && let Some(members) = state.sccs.remove(&id)
                {
                    for m in members {
                        state.scc_of.remove(&m);
                        region.insert(m);
                    }
                }
            }
        }
        if edges_changed {
            region.extend(touched_nodes.iter().cloned());
        }

        let mut new: HashMap<String, Vec<Finding>> = HashMap::new();
        let touched: HashSet<&String> = affected.iter().chain(region.iter()).collect();
        for k in &touched {
            let mut list = match graph.get(k) {
                Some(e) if affected.contains(*k) => rules::evaluate(graph, e, &self.rules),
                Some(_) => state
                    .findings
                    .get(*k)
                    .map(|l| l.iter().filter(|f| f.rule != DEPENDENCY_CYCLE).cloned().collect())
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            if let Some(e) = graph.get(k)
                && !region.contains(*k)
            {
                // Outside the region, cycles are as they were; where they sit may have moved.
                list.extend(
                    state
                        .findings
                        .get(*k)
                        .into_iter()
                        .flatten()
                        .filter(|f| f.rule == DEPENDENCY_CYCLE)
                        .map(|f| Finding { file: e.file.clone(), line: e.line, owner: e.owner.clone(), ..f.clone() }),
                );
            }
            if !list.is_empty() {
                new.insert((*k).clone(), list);
            }
        }
        for comp in &comps {
            if let Some(f) = rules::cycle_finding(graph, comp, &self.rules) {
                new.entry(f.entity_ref.clone()).or_default().push(f);
            }
        }
        for list in new.values_mut() {
            sort_findings(list);
        }
        let writes = diff(&state.findings, &new, touched.iter().copied().collect());
        for k in &touched {
            match new.remove(*k) {
                Some(list) => state.findings.insert((*k).clone(), list),
                None => state.findings.remove(*k),
            };
        }
        state.set_sccs(comps);
        Ok(writes)
    }
}

/// The findings of every touched entity whose list changed, in key order.
fn diff(
    old: &HashMap<String, Vec<Finding>>,
    new: &HashMap<String, Vec<Finding>>,
    touched: HashSet<&String>,
) -> Vec<(String, Vec<Finding>)> {
    let empty = Vec::new();
    let mut keys: Vec<&&String> = touched.iter().collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|k| {
            let before = old.get(*k).unwrap_or(&empty);
            let after = new.get(*k).unwrap_or(&empty);
            (before != after).then(|| ((*k).clone(), after.clone()))
        })
        .collect()
}

/// The portal follows the catalog through the seam.
impl ChangeListener for Governance {
    fn name(&self) -> &'static str {
        "governance"
    }

    fn on_change(&self, pool: &Pool, _change: &CatalogChange) -> anyhow::Result<()> {
        // The feed holds the change (and any this instance missed): one path for both.
        self.follow(pool)
    }

    fn catch_up(&self, pool: &Pool) -> anyhow::Result<()> {
        self.follow(pool)
    }

    fn on_bulk_load(&self, pool: &Pool) -> anyhow::Result<()> {
        self.recompute_all(pool)
    }
}

/// Served entities show their findings in `status.items`.
impl StatusDecorator for Governance {
    fn status_items(&self, pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Vec<Value>>> {
        store::status_items_of(pool, keys)
    }

    fn generation(&self, pool: &Pool) -> anyhow::Result<i64> {
        store::generation(pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::hooks::{FindingsSource, Hooks, SourcedFinding};
    use serde_json::json;

    /// A source that finds one thing on one entity under its own rule.
    struct OneRule(&'static [&'static str]);

    impl FindingsSource for OneRule {
        fn name(&self) -> &'static str {
            self.0[0]
        }

        fn rules(&self) -> &'static [&'static str] {
            self.0
        }

        fn findings(&self, _: &Pool, _: &Graph, _: i64) -> anyhow::Result<Option<Vec<SourcedFinding>>> {
            Ok(Some(vec![SourcedFinding {
                entity_ref: "component:default/a".into(),
                rule: self.0[0].into(),
                message: format!("found by {}", self.0[0]),
                details: json!({}),
                level: None,
            }]))
        }
    }

    #[test]
    fn two_findings_sources_both_keep_their_findings() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::connect(&format!("sqlite://{}", dir.path().join("g.db").display()), 2).unwrap();
        let hooks = Arc::new(Hooks::default());
        hooks
            .findings_sources
            .install(vec![Arc::new(OneRule(&["undeclared-consumption"])), Arc::new(OneRule(&["deploys-failing"]))])
            .unwrap();
        let governance = Governance::new(RuleConfig::new(&Default::default()).unwrap(), hooks);
        let a = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": "a"}, "spec": {"type": "service", "lifecycle": "production", "owner": "team"}});
        let g = Graph::new(vec![Entity::from_value(&a, Some("a.yaml"), Some(1)).unwrap()]);
        // Twice: a second round must not let one source's rows replace the other's.
        governance.sync_sources(&pool, &g).unwrap();
        governance.sync_sources(&pool, &g).unwrap();
        let stored = store::load_findings(&pool, &[]).unwrap();
        let mut rules: Vec<&str> = stored["component:default/a"].iter().map(|f| f.rule.as_str()).collect();
        rules.sort();
        assert_eq!(rules, ["deploys-failing", "undeclared-consumption"]);
        assert!(governance.external_rules().contains(&"deploys-failing"));
    }
}
