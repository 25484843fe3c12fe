//! The dependency graph, typed: nodes and edges around an entity (or of the whole catalog), and
//! its Graphviz dot and Mermaid texts. Blocking (it reads the model): call from `web::block`.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::Governance;
use super::model::Graph;
use super::views::{name_of, parse_ref, refs};
use crate::db::Pool;
use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    pub entity: Option<String>,
    pub depth: Option<usize>,
    pub relations: Option<String>,
    pub direction: Option<String>,
    pub format: Option<String>,
}

/// The formats the graph is answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Dot,
    Mermaid,
}

/// Relations the graph can show, each edge as (source, relation, target) pointing the way the
/// dependency goes (`hasPart` shown as the part's `partOf`, `dependencyOf` as `dependsOn`).
const GRAPH_RELATIONS: &[&str] = &["dependsOn", "consumesApi", "providesApi", "partOf", "ownedBy"];

/// One entity of the graph.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Its ref key (the order of the graph's nodes).
    #[serde(skip)]
    pub key: String,
    /// Its ref as spelled.
    pub id: String,
    pub kind: String,
    pub title: Option<String>,
    pub exists: bool,
    pub products: Vec<String>,
    pub platforms: Vec<String>,
}

/// One edge of the graph.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    #[serde(skip)]
    pub source_key: String,
    #[serde(skip)]
    pub target_key: String,
    pub source: String,
    pub target: String,
    #[serde(rename = "type")]
    pub relation: &'static str,
}

/// The graph: nodes in ref-key order, edges in (source, relation, target) key order.
#[derive(Debug, Clone, Serialize)]
pub struct GraphView {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

fn graph_edges(g: &Graph, wanted: &[&str]) -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for e in g.entities.values() {
        for edge in &e.edges {
            let (s, rel, t) = match edge.rel {
                "hasPart" => (edge.target.clone(), "partOf", e.key.clone()),
                "dependencyOf" => (edge.target.clone(), "dependsOn", e.key.clone()),
                rel => (e.key.clone(), rel, edge.target.clone()),
            };
            if wanted.contains(&rel) {
                out.push((s, rel, t));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The checked query: relations, direction, format, depth, start (a ref key).
pub struct Checked {
    wanted: Vec<&'static str>,
    direction: String,
    pub format: Format,
    depth: usize,
    start: Option<String>,
}

/// Checks the graph's query (before any blocking work).
pub fn check(q: GraphQuery) -> Result<Checked, ApiError> {
    let wanted: Vec<&'static str> = match &q.relations {
        None => vec!["dependsOn", "consumesApi", "providesApi", "partOf"],
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|r| {
                GRAPH_RELATIONS.iter().copied().find(|x| x.eq_ignore_ascii_case(r)).ok_or_else(|| {
                    ApiError::input(format!("relations: \"{r}\" is not one of {}", GRAPH_RELATIONS.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let direction = q.direction.as_deref().unwrap_or("both");
    if !matches!(direction, "out" | "in" | "both") {
        return Err(ApiError::input(format!("direction: \"{direction}\" is not out, in or both")));
    }
    let format = match q.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "dot" => Format::Dot,
        "mermaid" => Format::Mermaid,
        other => return Err(ApiError::input(format!("format: \"{other}\" is not json, dot or mermaid"))),
    };
    let depth = q.depth.unwrap_or(2);
    if depth > 20 {
        return Err(ApiError::input("depth: at most 20"));
    }
    let start = q.entity.as_deref().map(|e| parse_ref(e, None, "entity")).transpose()?;
    Ok(Checked { wanted, direction: direction.to_owned(), format, depth, start })
}

/// The graph around the query's entity (every edge without one).
pub fn graph(gov: &Governance, pool: &Pool, q: &Checked) -> Result<GraphView, ApiError> {
    let direction = q.direction.as_str();
    let g = gov.snapshot(pool)?;
    if let Some(s) = &q.start
        && g.get(s).is_none()
    {
        return Err(ApiError::not_found(format!("No entity named '{s}' found")));
    }
    let all = graph_edges(&g, &q.wanted);
    let edges: Vec<&(String, &'static str, String)> = match &q.start {
        None => all.iter().collect(),
        Some(s) => {
            let mut seen: HashSet<&str> = HashSet::from([s.as_str()]);
            let mut queue: VecDeque<(&str, usize)> = VecDeque::from([(s.as_str(), 0)]);
            let mut kept = BTreeSet::new();
            let mut adjacent: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
            for (i, (src, _, dst)) in all.iter().enumerate() {
                if direction != "in" {
                    adjacent.entry(src.as_str()).or_default().push((i, dst.as_str()));
                }
                if direction != "out" {
                    adjacent.entry(dst.as_str()).or_default().push((i, src.as_str()));
                }
            }
            while let Some((k, d)) = queue.pop_front() {
                if d >= q.depth {
                    continue;
                }
                for (i, n) in adjacent.get(k).into_iter().flatten() {
                    kept.insert(*i);
                    if seen.insert(n) {
                        queue.push_back((n, d + 1));
                    }
                }
            }
            kept.into_iter().map(|i| &all[i]).collect()
        }
    };
    let mut keys: BTreeSet<&str> = edges.iter().flat_map(|(s, _, t)| [s.as_str(), t.as_str()]).collect();
    if let Some(s) = &q.start {
        keys.insert(s);
    }
    let nodes = keys
        .iter()
        .map(|k| {
            let e = g.get(k);
            let membership = g.membership(k);
            Node {
                key: (*k).to_owned(),
                id: name_of(&g, k),
                kind: e.map(|e| e.kind.clone()).unwrap_or_else(|| k.split(':').next().unwrap_or_default().to_owned()),
                title: e.and_then(|e| e.title.clone()),
                exists: e.is_some(),
                products: refs(&g, Graph::of_kind(&membership, "product")),
                platforms: refs(&g, Graph::of_kind(&membership, "platform")),
            }
        })
        .collect();
    let edges = edges
        .into_iter()
        .map(|(s, rel, t)| Edge {
            source_key: s.clone(),
            target_key: t.clone(),
            source: name_of(&g, s),
            target: name_of(&g, t),
            relation: rel,
        })
        .collect();
    Ok(GraphView { nodes, edges })
}

impl GraphView {
    /// Graphviz dot.
    pub fn dot(&self) -> String {
        let mut out = String::from("digraph portolan {\n  rankdir=LR;\n  node [shape=box];\n");
        for n in &self.nodes {
            let k = n.key.as_str();
            let kind = k.split(':').next().unwrap_or_default();
            out.push_str(&format!("  \"{}\" [label=\"{}\\n({kind})\"];\n", n.id, k.split('/').nth(1).unwrap_or(k)));
        }
        for e in &self.edges {
            out.push_str(&format!("  \"{}\" -> \"{}\" [label=\"{}\"];\n", e.source, e.target, e.relation));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid.
    pub fn mermaid(&self) -> String {
        let ids: BTreeMap<&str, usize> = self.nodes.iter().enumerate().map(|(i, n)| (n.key.as_str(), i)).collect();
        let mut out = String::from("graph LR\n");
        for n in &self.nodes {
            out.push_str(&format!("  n{}[\"{}\"]\n", ids[n.key.as_str()], n.id));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  n{} -->|{}| n{}\n",
                ids[e.source_key.as_str()],
                e.relation,
                ids[e.target_key.as_str()]
            ));
        }
        out
    }
}
