//! Standards as code's routes: a scorecard's standing, and judging it again on demand.

use super::handlers as standards;
use crate::auth::policy::Rule::*;
use crate::rows::{Param, route_table};

pub const OWNER: Param = Param::text("owner", "An owner ref (group by default): only the entities it owns");
pub const LEVEL: Param =
    Param::text("level", "A level of the scorecard (or none): only the entities whose highest level it is");
pub const FORMAT: Param = Param::text("format", "json (default) or csv: one row per entity");

route_table! {
    /// Scorecards written in CEL.
    ROUTES, configure;
    GET "/api/portal/scorecards/{namespace}/{name}" => standards::get_scorecard {
        tag: "standards", rule: Read,
        summary: "A scorecard: its levels with entity counts, its checks with pass rates, and each entity's level, score and failing checks",
        query: [OWNER, LEVEL, FORMAT], answers: ["application/json", "text/csv"],
    }
    POST "/api/portal/scorecards/{namespace}/{name}/evaluate" => standards::evaluate {
        tag: "standards", rule: Owner,
        summary: "Judges the scorecard again now, with the facts read afresh (its owner, admins, catalog:write tokens)",
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list).
pub const TABLES: &[&[crate::rows::Route]] = &[ROUTES];
