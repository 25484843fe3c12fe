//! Team health's routes: deployment and incident intake, the four keys, and the event lists.

use super::handlers as health;
use crate::auth::policy::Rule::*;
use crate::rows::{Body, Param, route_table};

pub const ENTITY: Param = Param::text("entity", "An entity ref (default kind component): it and what is part of it");
pub const PRODUCT: Param = Param::text("product", "A product ref (or plain name): its parts");
pub const PLATFORM: Param = Param::text("platform", "A platform ref (or plain name): its parts");
pub const TEAM: Param = Param::text("team", "A group ref (or plain name): what it owns and their parts");
pub const FROM: Param = Param::text("from", "The window's first day, YYYY-MM-DD (default: 89 days before `to`)");
pub const TO: Param = Param::text("to", "The window's last day, YYYY-MM-DD (default: today, UTC)");
pub const BENCHMARK: Param =
    Param::text("benchmark", "The report year whose performance bands apply: 2023 (default) or 2021");
pub const FORMAT: Param = Param::text("format", "json (default) or csv");
pub const LIMIT: Param = Param::text("limit", "The most items answered, newest first (1 to 10000, default 500)");

/// The event body: one object, or an array of up to 1,000 events, each checked on its own (an
/// item that is not an event object is rejected with its index, as a bad event is).
const EVENTS: &str = r#"{"oneOf": [{"type": "object"}, {"type": "array", "maxItems": 1000, "items": {}}]}"#;

route_table! {
    /// Deployments, incidents and the four keys.
    ROUTES, configure;
    POST "/api/deployments" => health::post_deployments {
        tag: "health", rule: Scope("deploy:write"),
        summary: "Deployment events, one or an array of up to 1,000: idempotent by id, rejected one by one with their index and reason (deploy:write)",
        body: Body::Json(EVENTS),
    }
    POST "/api/incidents" => health::post_incidents {
        tag: "health", rule: Scope("deploy:write"),
        summary: "Incident events, one or an array of up to 1,000: idempotent by id, a later event resolves (deploy:write)",
        body: Body::Json(EVENTS),
    }
    GET "/api/portal/dora" => health::dora {
        tag: "health", rule: Read,
        summary: "The four keys of an entity, product, platform or team over a window, with bands and a weekly series",
        query: [ENTITY, PRODUCT, PLATFORM, TEAM, FROM, TO, BENCHMARK, FORMAT], answers: ["application/json", "text/csv"],
    }
    GET "/api/portal/deployments" => health::deployments {
        tag: "health", rule: Read,
        summary: "Deployments finished in the window, newest first, with their attribution, changes and failure links",
        query: [ENTITY, PRODUCT, PLATFORM, TEAM, FROM, TO, FORMAT, LIMIT], answers: ["application/json", "text/csv"],
    }
    GET "/api/portal/incidents" => health::incidents {
        tag: "health", rule: Read,
        summary: "Incidents created in the window, newest first, with the deployment each is attributed to and how",
        query: [ENTITY, PRODUCT, PLATFORM, TEAM, FROM, TO, FORMAT, LIMIT], answers: ["application/json", "text/csv"],
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list).
pub const TABLES: &[&[crate::rows::Route]] = &[ROUTES];
