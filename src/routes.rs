//! The one table of every URL the server answers.

use actix_web::web;

use crate::catalog::handlers as catalog;
use crate::ops;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/schemas/{file}", web::get().to(ops::get_schema))
        .service(
            web::scope("/api/catalog")
                .route("/entities", web::get().to(catalog::list_entities))
                .route("/entities/by-name/{kind}/{namespace}/{name}", web::get().to(catalog::get_entity_by_name)),
        )
        .default_service(web::to(ops::not_found));
}
