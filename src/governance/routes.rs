//! Governance's routes: products, platforms, teams, the dependency graph, findings and scorecards.

use super::handlers as governance;
use crate::auth::policy::Rule::*;
use crate::rows::{Param, route_table};

pub const OWNER: Param = Param::text("owner", "An owner ref, such as group:default/team-a");
pub const DOMAIN: Param = Param::text("domain", "A domain ref");
pub const LIFECYCLE: Param = Param::text("lifecycle", "production, experimental, deprecated, ...");
pub const TEXT: Param = Param::text("text", "Case-insensitive text to look for");
pub const ENTITY: Param = Param::text("entity", "An entity ref");
pub const DEPTH: Param = Param::count("depth", "How many edges to follow");
pub const RELATIONS: Param = Param::text("relations", "Comma-separated relation types to follow");
pub const DIRECTION: Param = Param::text("direction", "out, in or both");
pub const FORMAT: Param = Param::text("format", "json, dot or mermaid");
pub const RULE: Param = Param::text("rule", "A rule id, such as platform-depends-on-product");
pub const SEVERITY: Param = Param::text("severity", "error, warning or info");

route_table! {
    /// Products, platforms, teams, the graph, findings and scorecards.
    ROUTES, configure;
    GET "/api/portal/products" => governance::list_products {
        tag: "portal", rule: Read,
        summary: "Products with summaries: owner, domain, lifecycle, parts, APIs, dependencies, findings, scorecard level",
        query: [OWNER, DOMAIN, LIFECYCLE, TEXT],
    }
    GET "/api/portal/products/{namespace}/{name}" => governance::get_product {
        tag: "portal", rule: Read,
        summary: "One product in full: parts, APIs, KPIs, and what it depends on, resolved down to platforms",
    }
    GET "/api/portal/platforms" => governance::list_platforms {
        tag: "portal", rule: Read,
        summary: "Platforms with summaries: owner, domain, lifecycle, parts, APIs, consumers, findings, scorecard level",
        query: [OWNER, DOMAIN, LIFECYCLE, TEXT],
    }
    GET "/api/portal/platforms/{namespace}/{name}" => governance::get_platform {
        tag: "portal", rule: Read,
        summary: "One platform in full: parts, offerings, targets, and each API's consumers with their product and team",
    }
    GET "/api/portal/teams/{namespace}/{name}" => governance::get_team {
        tag: "portal", rule: Read, summary: "What a group owns, and whom it depends on",
    }
    GET "/api/portal/graph" => governance::get_graph {
        tag: "portal", rule: Read, summary: "The dependency graph as JSON, Graphviz dot or Mermaid",
        query: [ENTITY, DEPTH, RELATIONS, DIRECTION, FORMAT],
        answers: ["application/json", "text/vnd.graphviz", "text/plain"],
    }
    GET "/api/portal/findings" => governance::list_findings {
        tag: "portal", rule: Read, summary: "Governance findings", query: [RULE, SEVERITY, OWNER, ENTITY],
    }
    GET "/api/portal/scorecards" => governance::list_scorecards {
        tag: "portal", rule: Read, summary: "Scorecard level and checks of every product and platform",
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list).
pub const TABLES: &[&[crate::rows::Route]] = &[ROUTES];
