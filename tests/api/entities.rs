use serde_json::Value;

use crate::both;
use crate::helpers::*;

async fn the_demo_catalog_is_loaded_before_the_server_answers(db: Db) {
    let app = spawn_app(db).await;
    let (status, e) = app.entity("component", "default", "portolan").await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["kind"], "Component");
    assert_eq!(e["metadata"]["namespace"], "default");
    assert!(e["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert!(e["metadata"]["etag"].as_str().is_some_and(|u| !u.is_empty()));
    let rels = relation_pairs(&e);
    assert!(rels.contains(&"ownedBy>group:default/portal-team".to_string()), "{rels:?}");
    assert!(rels.contains(&"partOf>system:default/portal".to_string()), "{rels:?}");
    assert!(rels.contains(&"providesApi>api:default/portolan-catalog-api".to_string()), "{rels:?}");
    let all = app.entities("").await;
    assert!(all.len() >= 60, "the demo catalog has at least 60 entities, got {}", all.len());
}

async fn lookups_by_name_are_case_insensitive(db: Db) {
    let app = spawn_app(db).await;
    let (status, e) = app.entity("Component", "DEFAULT", "Portolan").await;
    assert_eq!(status, 200);
    assert_eq!(e["metadata"]["name"], "portolan");
}

async fn a_missing_entity_is_a_404_not_found_error(db: Db) {
    let app = spawn_app(db).await;
    let (status, body) = app.entity("component", "default", "no-such-thing").await;
    assert_eq!(status, 404);
    assert_error(&body, 404, "NotFoundError", "not_found");
}

async fn relations_are_served_in_both_directions(db: Db) {
    let app = spawn_app(db).await;
    let (_, team) = app.entity("group", "default", "portal-team").await;
    let rels = relation_pairs(&team);
    assert!(rels.contains(&"ownerOf>component:default/portolan".to_string()), "{rels:?}");
    let (_, api) = app.entity("api", "default", "portolan-catalog-api").await;
    assert!(relation_pairs(&api).contains(&"apiProvidedBy>component:default/portolan".to_string()));
}

async fn the_kind_filter_matches_case_insensitively(db: Db) {
    let app = spawn_app(db).await;
    let products = app.entities("?filter=kind=product").await;
    let mut names: Vec<&str> = products.iter().map(|e| e["metadata"]["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["checkout", "gift-cards", "mobile-app", "online-search", "store-configurator"]);
    assert!(products.iter().all(|e| e["kind"] == "Product"));
    let platforms = app.entities("?filter=kind=Platform").await;
    assert_eq!(platforms.len(), 6);
    // Two filter parameters are OR-ed; a repeated key within one means any of its values.
    let either = app.entities("?filter=kind=product&filter=kind=platform").await;
    assert_eq!(either.len(), 11);
    let any = app.entities("?filter=kind=product,kind=platform").await;
    assert_eq!(any.len(), 11);
    let (status, body) = app.get_json("/api/catalog/entities?filter==x").await;
    assert_eq!(status, 400);
    assert_error(&body, 400, "InputError", "invalid_input");
}

async fn products_and_platforms_derive_their_relations(db: Db) {
    let app = spawn_app(db).await;
    let (status, checkout) = app.entity("product", "default", "checkout").await;
    assert_eq!(status, 200);
    let rels = relation_pairs(&checkout);
    assert!(rels.iter().any(|r| r.starts_with("hasPart>system:default/")), "{rels:?}");
    assert!(rels.iter().any(|r| r.starts_with("dependsOn>platform:default/")), "{rels:?}");
    assert!(rels.iter().any(|r| r.starts_with("ownedBy>group:default/")), "{rels:?}");
    let (_, inventory) = app.entity("platform", "default", "inventory").await;
    let rels = relation_pairs(&inventory);
    assert!(rels.contains(&"dependencyOf>product:default/checkout".to_string()), "{rels:?}");
    assert!(rels.iter().any(|r| r.starts_with("providesApi>api:default/")), "{rels:?}");
}

const MIXED: &str = "\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: good-one
  x-team-notes: kept as written
spec:
  type: service
  lifecycle: production
  owner: team-x
  customField: { nested: [1, 2] }
  dependsOn: [resource:db-that-does-not-exist]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: bad one
spec:
  type: service
  lifecycle: production
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: broken
---
apiVersion: backstage.io/v1alpha1
kind: Component
extra: not allowed at the top
metadata:
  name: extra-top
spec: { type: service, lifecycle: production, owner: x }
";

async fn one_bad_document_does_not_hide_its_siblings(db: Db) {
    let app = spawn_with_yaml(db, &[("mixed.yaml", MIXED)], |_, _| {}).await;
    let (status, good) = app.entity("component", "default", "good-one").await;
    assert_eq!(status, 200, "{good}");
    // Unknown keys in metadata and spec are kept, as Backstage keeps them.
    assert_eq!(good["metadata"]["x-team-notes"], "kept as written");
    assert_eq!(good["spec"]["customField"]["nested"][1], 2);
    // A ref to an entity that does not exist stays dangling, and nothing is invented.
    assert!(relation_pairs(&good).contains(&"dependsOn>resource:default/db-that-does-not-exist".to_string()));
    let (status, _) = app.entity("resource", "default", "db-that-does-not-exist").await;
    assert_eq!(status, 404);
    let (status, _) = app.entity("component", "default", "extra-top").await;
    assert_eq!(status, 404, "an unknown top-level field rejects the entity");
    let components = app.entities("?filter=kind=component").await;
    assert_eq!(components.len(), 1);
}

async fn an_empty_catalog_folder_is_fine(db: Db) {
    let dir = temp_dir();
    let app = spawn_with(db, vec![dir.path().to_path_buf()], |_, _| {}).await;
    let all = app.entities("").await;
    assert!(all.is_empty(), "{all:?}");
}

async fn the_filter_finds_fields_tags_and_relations(db: Db) {
    let app = spawn_app(db).await;
    let owned = app.entities("?filter=relations.ownedBy=group:default/portal-team").await;
    let names: Vec<&str> = owned.iter().map(|e| e["metadata"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"portolan"), "{names:?}");
    let tagged = app.entities("?filter=kind=component,metadata.tags=rust").await;
    assert!(tagged.iter().any(|e| e["metadata"]["name"] == "portolan"));
    let with_owner: Vec<Value> = app.entities("?filter=kind=product,spec.owner").await;
    assert_eq!(with_owner.len(), 5);
}

both!(
    the_demo_catalog_is_loaded_before_the_server_answers,
    lookups_by_name_are_case_insensitive,
    a_missing_entity_is_a_404_not_found_error,
    relations_are_served_in_both_directions,
    the_kind_filter_matches_case_insensitively,
    products_and_platforms_derive_their_relations,
    one_bad_document_does_not_hide_its_siblings,
    an_empty_catalog_folder_is_fine,
    the_filter_finds_fields_tags_and_relations,
);
