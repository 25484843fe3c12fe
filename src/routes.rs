//! The one table of every URL the server answers.

use actix_web::web;

use crate::catalog::handlers as catalog;
use crate::ops;
use crate::portal::handlers as portal;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/schemas/{file}", web::get().to(ops::get_schema))
        .service(
            web::scope("/api/catalog")
                .route("/entities", web::get().to(catalog::list_entities))
                .route("/entities/by-name/{kind}/{namespace}/{name}", web::get().to(catalog::get_entity_by_name))
                .route("/locations", web::get().to(catalog::list_locations))
                .route("/locations", web::post().to(catalog::create_location))
                .route("/locations/by-query", web::post().to(catalog::query_locations))
                .route("/locations/by-entity/{kind}/{namespace}/{name}", web::get().to(catalog::get_location_by_entity))
                .route("/locations/{id}", web::get().to(catalog::get_location))
                .route("/locations/{id}", web::put().to(catalog::update_location))
                .route("/locations/{id}", web::delete().to(catalog::delete_location))
                .route("/refresh", web::post().to(catalog::refresh_entity))
                .route("/errors", web::get().to(catalog::list_errors))
                .route("/conflicts", web::get().to(catalog::list_conflicts)),
        )
        .service(
            web::scope("/api/portal")
                .route("/products", web::get().to(portal::list_products))
                .route("/products/{namespace}/{name}", web::get().to(portal::get_product))
                .route("/platforms", web::get().to(portal::list_platforms))
                .route("/platforms/{namespace}/{name}", web::get().to(portal::get_platform))
                .route("/teams/{namespace}/{name}", web::get().to(portal::get_team))
                .route("/graph", web::get().to(portal::get_graph))
                .route("/findings", web::get().to(portal::list_findings))
                .route("/scorecards", web::get().to(portal::list_scorecards)),
        )
        .default_service(web::to(ops::not_found));
}
