//! The operating model in memory: entities with the edges their descriptors declare, membership
//! (which product or platform each entity belongs to) and the dependency graph.
//!
//! Built from stored entities (the server) or from descriptor files (`portolan lint`); the rules
//! and the views read it. Membership is derived in both directions: a Product or Platform lists
//! its `spec.parts` (`hasPart`), and a Component, System, API or Resource names its `spec.product`
//! or `spec.platform` (`partOf`), or its system, which may itself be part of one. Resolution is
//! transitive and stops at the first Product or Platform on the way up.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::catalog::relations;

/// An edge as a descriptor declares it: `rel` is the relation stored on the declaring entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub rel: &'static str,
    /// The target's ref key (`kind:namespace/name`, lower case).
    pub target: String,
    /// The target as displayed (`kind:namespace/name`, spelled as written).
    pub target_ref: String,
}

/// What the rules and views need of one entity.
#[derive(Debug, Clone, Default)]
pub struct Entity {
    pub key: String,
    /// `kind:namespace/name` as spelled in the descriptor, kind lower-cased.
    pub entity_ref: String,
    /// Lower-cased kind.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The owner's ref key, and whether the field is there at all.
    pub owner: Option<String>,
    pub lifecycle: Option<String>,
    pub spec_type: Option<String>,
    pub domain: Option<String>,
    /// The file (path) or URL the entity was read from.
    pub file: Option<String>,
    /// The 1-based line its document starts on.
    pub line: Option<i64>,
    /// `metadata.links` or a TechDocs annotation.
    pub has_docs: bool,
    /// An API with a non-empty `spec.definition`.
    pub has_definition: bool,
    pub kpis: Vec<Value>,
    pub offerings: Vec<Value>,
    pub targets: Vec<Value>,
    /// `spec.roadmap` of a Product or Platform, as written (the delivery office reads it).
    pub roadmap: Vec<Value>,
    /// The repositories its annotations name (`github.com/project-slug`,
    /// `gitlab.com/project-slug`, `backstage.io/source-location`), as lower-case `owner/name`
    /// paths: how a deployment webhook finds the entity of a repository.
    pub repos: Vec<String>,
    pub edges: Vec<Edge>,
}

/// Kinds that take part in dependency cycles (APIs connect consumers to providers).
const CYCLE_KINDS: &[&str] = &["component", "system", "product", "platform"];

impl Entity {
    /// Reads an entity from its JSON body. `source` is the stored source (`file:/p`, `url:...`).
    pub fn from_value(body: &Value, source: Option<&str>, line: Option<i64>) -> Option<Entity> {
        let kind = body.get("kind")?.as_str()?;
        let meta = body.get("metadata")?;
        let name = meta.get("name")?.as_str()?;
        let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or(DEFAULT_NAMESPACE);
        let me = EntityRef::new(kind, namespace, name);
        let spec = body.get("spec");
        let text = |v: Option<&Value>, k: &str| {
            v.and_then(|v| v.get(k)).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_owned)
        };
        let list = |k: &str| spec.and_then(|s| s.get(k)).and_then(Value::as_array).cloned().unwrap_or_default();
        // Relations are emitted in pairs: the declared one, then its inverse on the target.
        let derived = relations::derive(&me, kind, spec).unwrap_or_default();
        let edges = derived
            .iter()
            .step_by(2)
            .map(|r| Edge { rel: r.kind, target: r.target.key(), target_ref: display_ref(&r.target) })
            .collect();
        let annotations = meta.get("annotations").and_then(Value::as_object);
        let has_docs = meta.get("links").and_then(Value::as_array).is_some_and(|l| !l.is_empty())
            || annotations.is_some_and(|a| a.contains_key("backstage.io/techdocs-ref"));
        let owner =
            text(spec, "owner").and_then(|o| EntityRef::parse(&o, Some("group"), namespace).ok()).map(|r| r.key());
        let domain =
            text(spec, "domain").and_then(|o| EntityRef::parse(&o, Some("domain"), namespace).ok()).map(|r| r.key());
        let file = source.map(|s| s.strip_prefix("file:").or_else(|| s.strip_prefix("url:")).unwrap_or(s).to_owned());
        Some(Entity {
            key: me.key(),
            entity_ref: display_ref(&me),
            kind: kind.to_ascii_lowercase(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            title: text(Some(meta), "title"),
            description: text(Some(meta), "description"),
            owner,
            lifecycle: text(spec, "lifecycle"),
            spec_type: text(spec, "type"),
            domain,
            file,
            line,
            has_docs,
            has_definition: kind == "API" && text(spec, "definition").is_some(),
            kpis: list("kpis"),
            offerings: list("offerings"),
            targets: list("targets"),
            roadmap: list("roadmap"),
            repos: annotations.map(repos_of).unwrap_or_default(),
            edges,
        })
    }

    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }

    /// Whether the descriptor has an owner field (the rule checks, not the schema).
    pub fn takes_owner(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "component" | "api" | "resource" | "system" | "domain" | "template" | "product" | "platform"
        )
    }

    pub fn lifecycle_is(&self, value: &str) -> bool {
        self.lifecycle.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(value))
    }
}

/// The repository paths an entity's annotations name, lower-cased, without `.git`.
fn repos_of(a: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["github.com/project-slug", "gitlab.com/project-slug"] {
        if let Some(slug) = a.get(key).and_then(Value::as_str) {
            out.push(slug.trim().trim_matches('/').trim_end_matches(".git").to_ascii_lowercase());
        }
    }
    if let Some(loc) = a.get("backstage.io/source-location").and_then(Value::as_str)
        && let Some(path) = repo_path_of_url(loc.trim().trim_start_matches("url:"))
    {
        out.push(path);
    }
    out.retain(|s| s.contains('/'));
    out.sort();
    out.dedup();
    out
}

/// `owner/name` (GitHub) or `group/sub/project` (GitLab) of a repository web address, also of
/// one that points into it (`/tree/main/`, `/-/blob/...`).
pub fn repo_path_of_url(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let mut path = url.path().trim_matches('/').to_owned();
    for cut in ["/-/", "/tree/", "/blob/"] {
        if let Some(i) = path.find(cut) {
            path.truncate(i);
        }
    }
    let path = path.trim_end_matches('/').trim_end_matches(".git").to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.len() < 2 {
        return None;
    }
    // GitHub repositories are two segments deep; a GitLab project may be nested.
    let keep = if url.host_str().is_some_and(|h| h.contains("github")) { 2 } else { segments.len() };
    Some(segments[..keep].join("/"))
}

/// `kind:namespace/name` with the kind lower-cased, as Backstage writes refs in relations.
pub fn display_ref(r: &EntityRef) -> String {
    format!("{}:{}/{}", r.kind.to_ascii_lowercase(), r.namespace, r.name)
}

/// The whole model: entities by key, with an index of who points at whom.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub entities: HashMap<String, Entity>,
    /// target key -> (declaring entity key, relation as declared).
    pub incoming: HashMap<String, Vec<(String, &'static str)>>,
}

impl Graph {
    pub fn new(entities: impl IntoIterator<Item = Entity>) -> Graph {
        let mut g = Graph::default();
        for e in entities {
            g.insert(e);
        }
        g
    }

    /// Adds or replaces an entity, keeping the index current.
    pub fn insert(&mut self, e: Entity) {
        self.remove(&e.key.clone());
        for edge in &e.edges {
            self.incoming.entry(edge.target.clone()).or_default().push((e.key.clone(), edge.rel));
        }
        self.entities.insert(e.key.clone(), e);
    }

    pub fn remove(&mut self, key: &str) -> Option<Entity> {
        let old = self.entities.remove(key)?;
        for edge in &old.edges {
            if let Some(list) = self.incoming.get_mut(&edge.target) {
                list.retain(|(from, _)| from != key);
                if list.is_empty() {
                    self.incoming.remove(&edge.target);
                }
            }
        }
        Some(old)
    }

    pub fn get(&self, key: &str) -> Option<&Entity> {
        self.entities.get(key)
    }

    /// A ref key as its entity spells it (the key itself when the entity is not in the graph).
    pub fn display(&self, key: &str) -> String {
        self.get(key).map(|e| e.entity_ref.clone()).unwrap_or_else(|| key.to_owned())
    }

    /// Entities that declare `rel` towards `key`.
    pub fn declarers<'a>(&'a self, key: &str, rel: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.incoming.get(key).into_iter().flatten().filter(move |(_, r)| *r == rel).map(|(f, _)| f.as_str())
    }

    /// Everything that names `key` in a spec field, with the relation.
    pub fn referrers(&self, key: &str) -> &[(String, &'static str)] {
        self.incoming.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    fn targets<'a>(&'a self, key: &str, rel: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entities
            .get(key)
            .into_iter()
            .flat_map(|e| e.edges.iter())
            .filter(move |e| e.rel == rel)
            .map(|e| e.target.as_str())
    }

    /// What `key` is directly part of, declared from either side.
    pub fn parents(&self, key: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self.targets(key, "partOf").collect();
        out.extend(self.declarers(key, "hasPart"));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// What is directly part of `key`, declared from either side.
    pub fn children(&self, key: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self.targets(key, "hasPart").collect();
        out.extend(self.declarers(key, "partOf"));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Everything transitively part of `key` (not `key` itself).
    pub fn descendants(&self, key: &str) -> Vec<String> {
        let mut seen: HashSet<&str> = HashSet::from([key]);
        let mut queue: VecDeque<&str> = VecDeque::from([key]);
        let mut out = Vec::new();
        while let Some(k) = queue.pop_front() {
            for c in self.children(k) {
                if seen.insert(c) {
                    out.push(c.to_owned());
                    queue.push_back(c);
                }
            }
        }
        out.sort();
        out
    }

    /// The products and platforms `key` belongs to: itself if it is one, else the first ones
    /// found walking up through what it is part of (a component of a system that is part of a
    /// platform belongs to that platform).
    pub fn membership(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen: HashSet<&str> = HashSet::from([key]);
        let mut queue: VecDeque<&str> = VecDeque::from([key]);
        while let Some(k) = queue.pop_front() {
            if let Some(e) = self.get(k)
                && (e.is("product") || e.is("platform"))
            {
                out.push(k.to_owned());
                continue;
            }
            for p in self.parents(k) {
                if seen.insert(p) {
                    queue.push_back(p);
                }
            }
        }
        out.sort();
        out
    }

    /// Membership of an API: its own, and that of whatever provides it.
    pub fn api_membership(&self, key: &str) -> Vec<String> {
        let mut out = self.membership(key);
        for p in self.declarers(key, "providesApi") {
            out.extend(self.membership(p));
        }
        out.sort();
        out.dedup();
        out
    }

    /// Membership of a dependency target: APIs also through their providers.
    pub fn target_membership(&self, key: &str) -> Vec<String> {
        if key.starts_with("api:") { self.api_membership(key) } else { self.membership(key) }
    }

    /// The products and platforms among a membership list.
    pub fn of_kind(list: &[String], kind: &str) -> Vec<String> {
        let prefix = format!("{kind}:");
        list.iter().filter(|k| k.starts_with(&prefix)).cloned().collect()
    }

    /// The dependency edges an entity declares, as (from, relation, to): `dependsOn` and
    /// `consumesApi` point away from it, `dependencyOf` is turned around.
    pub fn dependency_edges<'a>(
        &'a self,
        e: &'a Entity,
    ) -> impl Iterator<Item = (&'a str, &'static str, &'a str)> + 'a {
        e.edges.iter().filter_map(move |edge| match edge.rel {
            "dependsOn" | "consumesApi" => Some((e.key.as_str(), edge.rel, edge.target.as_str())),
            "dependencyOf" => Some((edge.target.as_str(), "dependsOn", e.key.as_str())),
            _ => None,
        })
    }

    /// The APIs that belong to a product or platform: provided by it or its parts, or part of it.
    pub fn apis_of(&self, key: &str) -> Vec<String> {
        let mut members = self.descendants(key);
        members.push(key.to_owned());
        let mut out: Vec<String> = Vec::new();
        for m in &members {
            if m.starts_with("api:") {
                out.push(m.clone());
            }
            out.extend(self.targets(m, "providesApi").map(str::to_owned));
        }
        out.sort();
        out.dedup();
        out
    }

    /// The next nodes of the dependency graph used for cycles: what a component, system,
    /// product or platform depends on or consumes, and for an API, what provides it.
    pub fn cycle_successors(&self, key: &str) -> Vec<&str> {
        let Some(e) = self.get(key) else { return Vec::new() };
        let mut out: Vec<&str> = Vec::new();
        let keep = |k: &str| self.get(k).is_some_and(|t| CYCLE_KINDS.contains(&t.kind.as_str()) || t.is("api"));
        if e.is("api") {
            out.extend(
                self.declarers(key, "providesApi")
                    .filter(|p| self.get(p).is_some_and(|t| CYCLE_KINDS.contains(&t.kind.as_str()))),
            );
        } else if CYCLE_KINDS.contains(&e.kind.as_str()) {
            for edge in &e.edges {
                match edge.rel {
                    "dependsOn" if keep(&edge.target) && !edge.target.starts_with("api:") => out.push(&edge.target),
                    "consumesApi" | "dependsOn" if edge.target.starts_with("api:") && keep(&edge.target) => {
                        out.push(&edge.target)
                    }
                    _ => {}
                }
            }
            out.extend(self.declarers(key, "dependencyOf").filter(|d| keep(d)));
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The strongly connected components of the dependency graph among `nodes` (Tarjan's algorithm,
/// iterative), keeping only those that hold a cycle: two or more nodes, or one that depends on
/// itself. Edges leaving `nodes` are ignored.
pub fn cyclic_components(g: &Graph, nodes: &HashSet<String>) -> Vec<Vec<String>> {
    components_among(g, nodes.iter().map(String::as_str).collect())
}

/// The cyclic components of the whole dependency graph.
pub fn all_cyclic_components(g: &Graph) -> Vec<Vec<String>> {
    let nodes = g
        .entities
        .values()
        .filter(|e| e.is("api") || CYCLE_KINDS.contains(&e.kind.as_str()))
        .map(|e| e.key.as_str())
        .collect();
    components_among(g, nodes)
}

fn components_among<'a>(g: &'a Graph, mut sorted: Vec<&'a str>) -> Vec<Vec<String>> {
    sorted.sort_unstable();
    let index_of: HashMap<&str, usize> = sorted.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let succ: Vec<Vec<usize>> = sorted
        .iter()
        .map(|k| g.cycle_successors(k).into_iter().filter_map(|s| index_of.get(s).copied()).collect())
        .collect();
    let n = sorted.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, position in its successor list)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if *pos < succ[v].len() {
                let w = succ[v][*pos];
                *pos += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 || succ[v].contains(&v) {
                        let mut keys: Vec<String> = comp.into_iter().map(|i| sorted[i].to_owned()).collect();
                        keys.sort();
                        out.push(keys);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// The shortest cycle through `start` inside `within`, as a path that ends where it began.
pub fn shortest_cycle(g: &Graph, start: &str, within: &HashSet<&str>) -> Vec<String> {
    let mut prev: HashMap<&str, &str> = HashMap::new();
    let mut queue: VecDeque<&str> = VecDeque::from([start]);
    let mut seen: HashSet<&str> = HashSet::from([start]);
    while let Some(k) = queue.pop_front() {
        for n in g.cycle_successors(k) {
            if n == start {
                let mut ordered = vec![start.to_owned()];
                let mut chain = Vec::new();
                let mut cur = k;
                while cur != start {
                    chain.push(cur.to_owned());
                    cur = prev[cur];
                }
                chain.reverse();
                ordered.extend(chain);
                ordered.push(start.to_owned());
                return ordered;
            }
            if within.contains(n) && seen.insert(n) {
                prev.insert(n, k);
                queue.push_back(n);
            }
        }
    }
    vec![start.to_owned()]
}
