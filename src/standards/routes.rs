//! Standards as code's routes: a scorecard's standing, and judging it again on demand.

use super::handlers as standards;
use crate::auth::policy::Rule::*;
use crate::rows::{Param, route_table};

pub const OWNER: Param = Param::text("owner", "An owner ref (group by default): only the entities it owns");
pub const LEVEL: Param =
    Param::text("level", "A level of the scorecard (or none): only the entities whose highest level it is");
pub const FROM: Param = Param::text("from", "The first day (YYYY-MM-DD); default: 90 days before to");
pub const TO: Param = Param::text("to", "The last day (YYYY-MM-DD); default: today (UTC)");
pub const DAY: Param = Param::text("day", "The day to record (YYYY-MM-DD); default: today (UTC)");
pub const FORMAT: Param = Param::text("format", "json (default) or csv: one row per entity");

route_table! {
    /// Scorecards written in CEL.
    ROUTES, configure;
    GET "/api/portal/scorecards/{namespace}/{name}" => standards::get_scorecard {
        tag: "standards", rule: Read,
        summary: "A scorecard: its levels with entity counts, its checks with pass rates, and each entity's level, score and failing checks",
        query: [OWNER, LEVEL, FORMAT], answers: ["application/json", "text/csv"],
    }
    GET "/api/portal/scorecards/{namespace}/{name}/history" => standards::history {
        tag: "standards", rule: Read,
        summary: "A scorecard's recorded days: level counts, pass rate per check, entities",
        query: [FROM, TO],
    }
    POST "/api/portal/scorecards/snapshots" => standards::snapshot {
        tag: "standards", rule: Admin,
        summary: "Records a day's snapshot of every scorecard, entity score and campaign now, as the daily task does (201; a recorded day is replaced)",
        query: [DAY], ok: 201,
    }
    GET "/api/portal/campaigns" => standards::list_campaigns {
        tag: "standards", rule: Read,
        summary: "Every campaign: entities in scope and done, on-track verdict, overdue",
    }
    GET "/api/portal/campaigns/{namespace}/{name}" => standards::get_campaign {
        tag: "standards", rule: Read,
        summary: "A campaign: in scope, done, by owner, the recorded days, due date and on-track verdict (or what its document names wrongly)",
    }
    POST "/api/portal/scorecards/{namespace}/{name}/evaluate" => standards::evaluate {
        tag: "standards", rule: Owner,
        summary: "Judges the scorecard again now, with the facts read afresh (its owner, admins, catalog:write tokens)",
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list).
pub const TABLES: &[&[crate::rows::Route]] = &[ROUTES];
