//! The catalog's routes: Backstage's entity, location and event API.

use super::{entity_api as entities, feed, handlers as catalog};
use crate::auth::policy::Rule::*;
use crate::rows::{Body, OBJECT, Param, route_table};

pub const FILTER: Param = Param::repeated(
    "filter",
    "Repeatable; one set of comma-separated key=value conditions (AND); sets are OR-ed; a bare key means it exists",
);
pub const FIELDS: Param = Param::text("fields", "Comma-separated dot paths to return, such as kind,metadata.name");
pub const ORDER: Param = Param::repeated("order", "Repeatable; asc:<field> or desc:<field>");
pub const ORDER_FIELD: Param = Param::repeated("orderField", "Repeatable; <field>,asc or <field>,desc");
pub const OFFSET: Param = Param::count("offset", "Entities to skip");
pub const LIMIT: Param = Param::count("limit", "At most this many items");
pub const AFTER: Param =
    Param::text("after", "Cursor from the previous page (GET /entities: from its Link header; events: nextCursor)");
pub const CURSOR: Param = Param::text("cursor", "nextCursor or prevCursor of an earlier page; carries the whole query");
pub const FULL_TEXT_TERM: Param = Param::text("fullTextFilterTerm", "Case-insensitive substring to look for");
pub const FULL_TEXT_FIELDS: Param = Param::text(
    "fullTextFilterFields",
    "Comma-separated fields the term is looked for in (default: all string fields)",
);
pub const TOTAL_ITEMS: Param =
    Param::one_of("totalItems", "include (default) or exclude", &["include", "exclude", "true", "false"]);
pub const FACET: Param = Param::repeated("facet", "Repeatable; a field to count values of");
pub const DRY_RUN: Param = Param::flag("dryRun", "true: read the location and answer what it holds, storing nothing");
pub const ON_CONFLICT: Param =
    Param::one_of("onConflict", "reject (default) or refresh when the location exists", &["reject", "refresh"]);

// Order matters where patterns overlap: fixed segments (`by-query`) come before `{id}`.
route_table! {
    /// Entities, locations and the change feed.
    ROUTES, configure;
    GET "/api/catalog/entities" => entities::list_entities {
        tag: "entities", rule: Read,
        summary: "Entities matching filters, as a bare array; a Link header points at the next page",
        query: [FILTER, FIELDS, ORDER, OFFSET, LIMIT, AFTER],
    }
    GET "/api/catalog/entities/by-query" => entities::query_entities_get {
        tag: "entities", rule: Read, summary: "A page of entities with totalItems and cursors",
        query: [FILTER, FIELDS, ORDER_FIELD, CURSOR, LIMIT, OFFSET, FULL_TEXT_TERM, FULL_TEXT_FIELDS, TOTAL_ITEMS],
    }
    POST "/api/catalog/entities/by-query" => entities::query_entities_post {
        tag: "entities", rule: Read,
        summary: "A page of entities for a predicate query ($all, $any, $not, $exists, $in, $hasPrefix)",
        body: Body::Json(OBJECT),
    }
    POST "/api/catalog/entities/by-refs" => entities::get_by_refs {
        tag: "entities", rule: Read, summary: "Entities by ref, in request order, null where none exists",
        query: [FILTER], body: Body::Json(OBJECT),
    }
    GET "/api/catalog/entities/by-uid/{uid}" => entities::get_by_uid {
        tag: "entities", rule: Read, summary: "One entity by uid",
    }
    DELETE "/api/catalog/entities/by-uid/{uid}" => entities::delete_by_uid {
        tag: "entities", rule: Owner, summary: "Deletes one entity (its location may emit it again)", ok: 204,
    }
    GET "/api/catalog/entities/by-name/{kind}/{namespace}/{name}" => entities::get_by_name {
        tag: "entities", rule: Read, summary: "One entity by kind, namespace and name",
    }
    GET "/api/catalog/entities/by-name/{kind}/{namespace}/{name}/ancestry" => entities::get_ancestry {
        tag: "entities", rule: Read, summary: "The entity and the entities that emitted it, up to its Location",
    }
    GET "/api/catalog/entity-facets" => entities::get_facets {
        tag: "entities", rule: Read, summary: "Value counts of fields over the entities matching a filter",
        query: [FACET, FILTER],
    }
    POST "/api/catalog/entity-facets" => entities::post_facets {
        tag: "entities", rule: Read, summary: "Value counts of fields over the entities matching a predicate",
        query: [FILTER], body: Body::Json(OBJECT),
    }
    POST "/api/catalog/refresh" => catalog::refresh_entity {
        tag: "entities", rule: SignedIn, summary: "Re-reads the location of an entity now", body: Body::Json(OBJECT),
    }
    POST "/api/catalog/validate-entity" => entities::validate_entity {
        tag: "entities", rule: Read, summary: "Validates an entity without storing it", body: Body::Json(OBJECT),
    }
    POST "/api/catalog/analyze-location" => entities::analyze_location {
        tag: "locations", rule: Read, summary: "What exists at a location and what registering it would add",
        body: Body::Json(OBJECT),
    }
    GET "/api/catalog/events" => feed::list_events {
        tag: "events", rule: Read,
        summary: "The change feed: entity.added, entity.updated and entity.removed, oldest first; streams with Accept: text/event-stream",
        query: [AFTER, LIMIT], answers: ["application/json", "text/event-stream"],
    }

    GET "/api/catalog/locations" => catalog::list_locations {
        tag: "locations", rule: Read, summary: "Every registered location",
    }
    POST "/api/catalog/locations" => catalog::create_location {
        tag: "locations", rule: SignedIn, summary: "Registers a location and reads it",
        query: [DRY_RUN, ON_CONFLICT], body: Body::Json(OBJECT), ok: 201,
    }
    POST "/api/catalog/locations/by-query" => catalog::query_locations {
        tag: "locations", rule: Read, summary: "Locations matching a query", body: Body::Json(OBJECT),
    }
    GET "/api/catalog/locations/by-entity/{kind}/{namespace}/{name}" => catalog::get_location_by_entity {
        tag: "locations", rule: Read, summary: "The location an entity came from",
    }
    GET "/api/catalog/locations/{id}" => catalog::get_location {
        tag: "locations", rule: Read, summary: "One location",
    }
    PUT "/api/catalog/locations/{id}" => catalog::update_location {
        tag: "locations", rule: Owner, summary: "Points a location elsewhere and re-reads it", body: Body::Json(OBJECT),
    }
    DELETE "/api/catalog/locations/{id}" => catalog::delete_location {
        tag: "locations", rule: Owner, summary: "Removes a location and its entities", ok: 204,
    }
    GET "/api/catalog/errors" => catalog::list_errors {
        tag: "locations", rule: Read, summary: "Current processing errors of every location",
    }
    GET "/api/catalog/conflicts" => catalog::list_conflicts {
        tag: "locations", rule: Read, summary: "Refs a location emitted while another location owned them",
    }
}
