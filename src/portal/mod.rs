//! Products and platforms: the operating model made visible. Membership, the dependency graph,
//! governance rules with stored findings, scorecards, and the portal views.
//!
//! Findings are recomputed whenever the catalog changes ([`Portal::on_catalog_change`], called
//! after every publish and location deletion), incrementally: only the entities the change can
//! affect are evaluated again (the changed ones, what refers to them, what is part of them and
//! what depends on those parts), and dependency cycles only inside the strongly connected
//! components the change touched. The database stays the truth: each recomputation runs in one
//! transaction that advances a generation counter, so instances sharing a database take turns,
//! and an instance whose in-memory model missed another instance's change reloads it whole.

pub mod handlers;
pub mod lint;
pub mod model;
pub mod rules;
pub mod scorecards;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use model::{Entity, Graph, all_cyclic_components};
use rules::{DEPENDENCY_CYCLE, Finding, RuleConfig};

use crate::db::Pool;

/// Sorts one entity's findings into their stored order.
pub fn sort_findings(list: &mut [Finding]) {
    list.sort_by(|a, b| (&a.rule, &a.message).cmp(&(&b.rule, &b.message)));
}

/// The portal engine: rule configuration and this instance's copy of the model.
pub struct Portal {
    pub rules: RuleConfig,
    state: Mutex<Option<State>>,
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

impl Portal {
    pub fn new(rules: RuleConfig) -> Self {
        Self { rules, state: Mutex::new(None) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Recomputes the findings the change of these entities (added, rewritten or removed) can
    /// affect, and stores them. Call it after the change is committed.
    pub fn on_catalog_change(&self, pool: &Pool, changed: &[String]) -> anyhow::Result<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let mut guard = self.lock();
        let result = store::locked(pool, |conn, generation| {
            let incremental = matches!(&*guard, Some(s) if s.generation + 1 == generation);
            if incremental {
                let state = guard.as_mut().expect("checked above");
                self.apply(conn, state, changed)?;
                state.generation = generation;
                Ok(())
            } else {
                let mut state = self.reload(conn, generation)?;
                self.recompute_everything(conn, &mut state, changed)?;
                *guard = Some(state);
                Ok(())
            }
        });
        if result.is_err() {
            // Whatever was half-applied in memory is not trusted: reload next time.
            *guard = None;
        }
        result
    }

    /// Recomputes every finding (at start, so configuration changes take effect).
    pub fn recompute_all(&self, pool: &Pool) -> anyhow::Result<()> {
        let mut guard = self.lock();
        let result = store::locked(pool, |conn, generation| {
            let mut state = self.reload(conn, generation)?;
            self.recompute_everything(conn, &mut state, &[])?;
            *guard = Some(state);
            Ok(())
        });
        if result.is_err() {
            *guard = None;
        }
        result
    }

    /// The current model, for the views: this instance's copy while no instance has changed the
    /// catalog since, otherwise reloaded from the database.
    pub fn snapshot(&self, pool: &Pool) -> anyhow::Result<Arc<Graph>> {
        let mut guard = self.lock();
        store::session(pool, |conn| {
            let generation = store::generation(conn)?;
            if let Some(s) = &*guard
                && s.generation == generation
            {
                return Ok(s.graph.clone());
            }
            let state = self.reload(conn, generation)?;
            let graph = state.graph.clone();
            *guard = Some(state);
            Ok(graph)
        })
    }

    fn reload(&self, conn: &mut store::Conn, generation: i64) -> anyhow::Result<State> {
        let graph = Graph::new(store::load_entities(conn, None)?);
        let findings = store::load_findings(conn)?;
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

    fn recompute_everything(&self, conn: &mut store::Conn, state: &mut State, forced: &[String]) -> anyhow::Result<()> {
        let (new, _) = evaluate_all(&state.graph, &self.rules);
        let mut touched: HashSet<&String> = state.findings.keys().chain(new.keys()).collect();
        touched.extend(forced.iter());
        let forced: HashSet<&String> = forced.iter().collect();
        write_diff(conn, &state.findings, &new, touched, &forced)?;
        state.findings = new;
        Ok(())
    }

    fn apply(&self, conn: &mut store::Conn, state: &mut State, changed: &[String]) -> anyhow::Result<()> {
        let changed_set: HashSet<String> = changed.iter().cloned().collect();
        // What the change can affect, judged on the model before it...
        let mut affected = affected_by(&state.graph, &changed_set);
        let mut region: HashSet<String> = HashSet::new();
        let fresh: Vec<Entity> = store::load_entities(conn, Some(changed))?;
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
        let forced: HashSet<&String> = changed.iter().collect();
        write_diff(conn, &state.findings, &new, touched.iter().copied().collect(), &forced)?;
        for k in &touched {
            match new.remove(*k) {
                Some(list) => state.findings.insert((*k).clone(), list),
                None => state.findings.remove(*k),
            };
        }
        state.set_sccs(comps);
        Ok(())
    }
}

/// Writes the findings of every touched entity whose list changed (and of every forced one: a
/// rewritten entity row has lost its mirrored status items).
fn write_diff(
    conn: &mut store::Conn,
    old: &HashMap<String, Vec<Finding>>,
    new: &HashMap<String, Vec<Finding>>,
    touched: HashSet<&String>,
    forced: &HashSet<&String>,
) -> anyhow::Result<()> {
    let empty = Vec::new();
    let mut keys: Vec<&&String> = touched.iter().collect();
    keys.sort();
    for k in keys {
        let before = old.get(*k).unwrap_or(&empty);
        let after = new.get(*k).unwrap_or(&empty);
        // A rewritten entity row has lost its mirrored items; without findings it needs none.
        if before != after || (forced.contains(*k) && !after.is_empty()) {
            store::replace_findings(conn, k, after)?;
        }
    }
    Ok(())
}
