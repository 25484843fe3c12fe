use crate::both;
use crate::helpers::*;

async fn health_readiness_and_metrics_answer(db: Db) {
    let app = spawn_app(db).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["database"], "reachable");
    app.get("/api/catalog/entities?filter=kind=product").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("portolan_entities{kind=\"product\"} 5"), "{metrics}");
    assert!(
        metrics.contains("portolan_http_requests_total{route=\"/api/catalog/entities\",method=\"GET\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("portolan_http_request_duration_seconds"), "{metrics}");
    assert!(metrics.contains("portolan_ingest_runs_total"), "{metrics}");
}

async fn an_unknown_route_is_a_404_in_backstage_error_shape(db: Db) {
    let app = spawn_with(db, vec![], |_, _| {}).await;
    let (status, body) = app.get_json("/api/catalog/nothing-here").await;
    assert_eq!(status, 404);
    assert_error(&body, 404, "NotFoundError", "not_found");
    assert_eq!(body["request"]["url"], "/api/catalog/nothing-here");
}

async fn schemas_are_served_for_editors(db: Db) {
    let app = spawn_with(db, vec![], |_, _| {}).await;
    let (status, body) = app.get_json("/schemas/catalog-info.schema.json").await;
    assert_eq!(status, 200);
    assert!(body["$id"].as_str().unwrap().ends_with("catalog-info.schema.json"));
    let (status, _) = app.get_json("/schemas/product.schema.json").await;
    assert_eq!(status, 200);
    let (status, body) = app.get_json("/schemas/nope.json").await;
    assert_eq!(status, 404);
    assert_error(&body, 404, "NotFoundError", "not_found");
}

both!(
    health_readiness_and_metrics_answer,
    an_unknown_route_is_a_404_in_backstage_error_shape,
    schemas_are_served_for_editors
);
