//! The delivery office's routes: roadmaps, a platform's demand, item updates and value reports.

use super::handlers as delivery;
use crate::auth::policy::Rule::*;
use crate::rows::{Body, Param, route_table};

pub const PRODUCT: Param = Param::text("product", "A product ref (or plain name): only its items");
pub const PLATFORM: Param = Param::text("platform", "A platform ref (or plain name): only its items");
pub const TEAM: Param = Param::text("team", "A group ref: only items of the products and platforms it owns");
pub const DOMAIN: Param = Param::text("domain", "A domain ref: only items of its products and platforms");
pub const FROM: Param = Param::text("from", "Only items due on or after this day (YYYY-MM-DD or a quarter, 2027-Q1)");
pub const TO: Param = Param::text("to", "Only items due on or before this day (YYYY-MM-DD or a quarter)");
pub const PERIOD: Param = Param::text(
    "period",
    "A month (2026-11) or a quarter (2026-Q4); default: the current period of delivery.report_period",
);
pub const REPORT_DOMAIN: Param =
    Param::text("domain", "A domain ref: only its products and platforms, totals recomputed");
pub const FORMAT: Param =
    Param::text("format", "json (default) or csv: one row per product and platform, then the totals");

route_table! {
    /// Roadmaps, demand, updates and value reports.
    ROUTES, configure;
    GET "/api/portal/roadmaps" => delivery::roadmaps {
        tag: "delivery", rule: Read,
        summary: "Roadmap items in target-date order, each need with the item answering it and its state, each API change with the consumers it hits",
        query: [PRODUCT, PLATFORM, TEAM, DOMAIN, FROM, TO],
    }
    GET "/api/portal/platforms/{namespace}/{name}/demand" => delivery::demand {
        tag: "delivery", rule: Read,
        summary: "Every need aimed at the platform, earliest first, and its items needed by several products at different dates",
    }
    POST "/api/portal/roadmap/{kind}/{namespace}/{name}/{item}/updates" => delivery::post_update {
        tag: "delivery", rule: OwnerOrScope("plan:write"),
        summary: "Records a status update of a roadmap item, {health, note, progress?} (plan:write or the entity's owner)",
        body: Body::Json(r#"{"type": "object", "required": ["health", "note"], "additionalProperties": false, "properties": {"health": {"enum": ["on-track", "at-risk", "off-track"]}, "note": {"type": "string", "minLength": 1}, "progress": {"type": "integer", "minimum": 0, "maximum": 100}}}"#), ok: 201,
    }
    GET "/api/portal/roadmap/{kind}/{namespace}/{name}/{item}/updates" => delivery::get_updates {
        tag: "delivery", rule: Read,
        summary: "An item's status updates, newest first (kept when the descriptor drops the item)",
    }
    GET "/api/portal/reports/value" => delivery::value_report {
        tag: "delivery", rule: Read,
        summary: "The value report of a period: KPIs, commitments met and slipped, expected impact, adoption, demand and totals (stored at the period's end; the current period live)",
        query: [PERIOD, REPORT_DOMAIN, FORMAT], answers: ["application/json", "text/csv"],
    }
    GET "/api/portal/reports/value/history" => delivery::value_history {
        tag: "delivery", rule: Read, summary: "The totals of every stored period, oldest first", query: [REPORT_DOMAIN],
    }
    POST "/api/portal/reports/value/{period}/publish" => delivery::publish_report {
        tag: "delivery", rule: Admin,
        summary: "Stores a period's value report now, as the period-end task does (201; 409 when one is stored; 400 before the period has ended)", ok: 201,
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list).
pub const TABLES: &[&[crate::rows::Route]] = &[ROUTES];
