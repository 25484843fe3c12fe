//! Usage's routes: the intake, the consumption views and product KPIs.

use super::handlers as usage;
use crate::auth::policy::Rule::*;
use crate::rows::{Body, Param, route_table};

pub const BACKFILL: Param =
    Param::text("backfill", "true: accept events older than usage.late_days (admins only; default false)");
pub const API: Param = Param::text("api", "An API ref: only that API");
pub const PLATFORM: Param = Param::text("platform", "A platform ref: only calls to the APIs it offers");
pub const CONSUMER: Param = Param::text("consumer", "A consumer ref: only calls by it and its parts");
pub const TEAM: Param = Param::text("team", "A group ref: only calls by the consumers it owns");
pub const FROM: Param = Param::text(
    "from",
    "Start, an RFC 3339 time (default: before to by an hour for minute buckets, a day for hour, 30 days for day, 12 weeks for week)",
);
pub const TO: Param = Param::text("to", "End, an RFC 3339 time (default: now)");
pub const BUCKET: Param = Param::text("bucket", "minute, hour, day (default) or week");
pub const FORMAT: Param = Param::text("format", "json (default) or csv: the series as text/csv");
pub const WEEKS: Param = Param::text("weeks", "How many weeks back, 1 to 104 (default 12)");

route_table! {
    /// Usage intake, the consumption views and KPI values.
    ROUTES, configure;
    // Usage events are checked row by row (a bad row is rejected in the 200 answer, with its
    // index), so their items are not constrained here.
    POST "/api/usage/events" => usage::post_events {
        tag: "usage", rule: Scope("usage:write"),
        summary: "Usage events (JSON array or NDJSON): per-row rejections, Idempotency-Key, ?backfill=true for admins (usage:write)",
        query: [BACKFILL], body: Body::JsonOrNdjson(r#"{"type": "array", "items": {}}"#),
    }
    GET "/api/portal/consumption" => usage::consumption {
        tag: "usage", rule: Read,
        summary: "Calls, errors and latency percentiles over time, totals and top consumers; filters combine; format=csv for the series",
        query: [API, PLATFORM, CONSUMER, TEAM, FROM, TO, BUCKET, FORMAT], answers: ["application/json", "text/csv"],
    }
    GET "/api/portal/adoption" => usage::adoption {
        tag: "usage", rule: Read,
        summary: "Weekly active, new, retained and churned consumers; median hours to first call; approved subscriptions never called",
        query: [API, PLATFORM, WEEKS],
    }
    GET "/api/portal/declared-vs-observed" => usage::declared_vs_observed {
        tag: "usage", rule: Read,
        summary: "consumesApis declared but not called in 28 days, and calls in 28 days not declared",
        query: [API, PLATFORM],
    }
    GET "/api/usage/status" => usage::status {
        tag: "usage", rule: Read,
        summary: "What the intake has acknowledged but the folder has not yet merged into the rollups (records, events); the views include it already",
    }
    POST "/api/portal/products/{namespace}/{name}/kpis" => usage::post_kpis {
        tag: "usage", rule: OwnerOrScope("kpi:write"),
        summary: "Records values of the product's declared KPIs, [{kpi, time, value}] (kpi:write or the product's owner)",
        body: Body::Json(r#"{"type": "array", "items": {"type": "object"}}"#),
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list).
pub const TABLES: &[&[crate::rows::Route]] = &[ROUTES];
