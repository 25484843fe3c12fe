//! Backstage's entity query routes: filters, projection, order, paging, by-refs, by-uid,
//! facets, ancestry, and their error bodies. A small fixture catalog of known shape is used, so
//! every expectation is exact.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

const FIXTURE: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: alpha
  title: Alpha Service
  description: Handles PAYMENTS for the shop
  tags: [java, web]
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: beta
  description: The storefront
  tags: [python]
spec: {type: website, lifecycle: experimental, owner: team-b}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: gamma
  annotations: {acme.io/tier: "1"}
spec: {type: service, lifecycle: production, owner: team-b, consumesApis: [delta-api]}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: delta-api, description: Payments API}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: "openapi: 3.0.0"}
"#;

async fn fixture_app(db: Db) -> TestApp {
    spawn_with_yaml(db, &[("fixture.yaml", FIXTURE)], |s, d| s.reading.file_roots = vec![d.to_path_buf()]).await
}

fn names(items: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|e| e["metadata"]["name"].as_str().unwrap_or("?").to_owned()).collect();
    out.sort();
    out
}

fn ordered_names(items: &[Value]) -> Vec<String> {
    items.iter().map(|e| e["metadata"]["name"].as_str().unwrap_or("?").to_owned()).collect()
}

async fn by_query(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get_json(&format!("/api/catalog/entities/by-query?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

async fn every_filter_rule_holds(db: Db) {
    let app = fixture_app(db).await;
    let cases: &[(&str, &[&str])] = &[
        // Conditions in one set are AND-ed.
        ("filter=kind=component,spec.type=service", &["alpha", "gamma"]),
        // Sets are OR-ed.
        ("filter=kind=component,spec.type=service&filter=kind=api", &["alpha", "delta-api", "gamma"]),
        // A repeated key within a set means any of its values.
        ("filter=spec.type=service,spec.type=website", &["alpha", "beta", "gamma"]),
        // A bare key means the field exists.
        ("filter=metadata.tags", &["alpha", "beta"]),
        ("filter=kind=component,metadata.annotations.acme.io/tier", &["gamma"]),
        // Keys and values match case-insensitively.
        ("filter=KIND=COMPONENT,Spec.Lifecycle=PRODUCTION", &["alpha", "gamma"]),
        // Array items match as path=item and as path.item.
        ("filter=metadata.tags=java", &["alpha"]),
        ("filter=metadata.tags.java", &["alpha"]),
        ("filter=metadata.tags.python=true", &["beta"]),
        // Relations, both directions.
        ("filter=relations.ownedBy=group:default/team-a", &["alpha", "delta-api"]),
        ("filter=relations.consumesApi=api:default/delta-api", &["gamma"]),
        ("filter=relations.apiConsumedBy=component:default/gamma", &["delta-api"]),
        ("filter=kind=group,relations.ownerOf=component:default/beta", &["team-b"]),
        // Nothing matches: an empty array, not an error.
        ("filter=kind=component,spec.type=library", &[]),
    ];
    for (query, expected) in cases {
        let items = app.entities(&format!("?{query}")).await;
        assert_eq!(names(&items), *expected, "GET /entities?{query}");
        // The same filters give the same answer through by-query.
        let page = by_query(&app, query).await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(names(items), *expected, "by-query?{query}");
        assert_eq!(page["totalItems"], expected.len(), "{query}");
    }
    // The POST form: a predicate with $all, $any, $not, $exists, $in and $hasPrefix.
    let predicates = [
        (json!({"$all": [{"kind": "component"}, {"spec.lifecycle": {"$in": ["PRODUCTION"]}}]}), vec!["alpha", "gamma"]),
        (json!({"$any": [{"kind": "api"}, {"metadata.name": "beta"}]}), vec!["beta", "delta-api"]),
        (json!({"kind": "component", "$not": {"spec.type": "service"}}), vec!["beta"]),
        (json!({"$all": [{"kind": "component"}, {"$not": {"spec.type": "service"}}]}), vec!["beta"]),
        (json!({"kind": "component", "metadata.tags": {"$exists": false}}), vec!["gamma"]),
        (json!({"metadata.name": {"$hasPrefix": "AL"}}), vec!["alpha"]),
    ];
    for (query, expected) in predicates {
        if query.as_object().unwrap().len() > 1 && query.get("$not").is_some() {
            // $not beside other keys is not Backstage's form: refused.
            let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"query": query})).await;
            assert_eq!(status, 400, "{query}: {body}");
            continue;
        }
        let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"query": query})).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(names(body["items"].as_array().unwrap()), expected, "{query}");
    }
}

async fn full_text_filter_is_a_case_insensitive_substring_match(db: Db) {
    let app = fixture_app(db).await;
    // All string fields when none are named.
    let page = by_query(&app, "fullTextFilterTerm=payments").await;
    assert_eq!(names(page["items"].as_array().unwrap()), ["alpha", "delta-api"]);
    // Only the named fields otherwise.
    let page = by_query(&app, "fullTextFilterTerm=PAY&fullTextFilterFields=metadata.name").await;
    assert_eq!(names(page["items"].as_array().unwrap()), Vec::<String>::new());
    let page = by_query(&app, "fullTextFilterTerm=lph&fullTextFilterFields=metadata.name").await;
    assert_eq!(names(page["items"].as_array().unwrap()), ["alpha"]);
    // Combined with a filter.
    let page = by_query(&app, "filter=kind=api&fullTextFilterTerm=payments").await;
    assert_eq!(names(page["items"].as_array().unwrap()), ["delta-api"]);
    let (status, body) = app
        .post_json(
            "/api/catalog/entities/by-query",
            &json!({"query": {"kind": "component"}, "fullTextFilter": {"term": "STOREFRONT"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(body["items"].as_array().unwrap()), ["beta"]);
}

async fn fields_project_and_order_sorts(db: Db) {
    let app = fixture_app(db).await;
    let items = app.entities("?filter=kind=component&fields=metadata.name,spec.owner,metadata.nothing").await;
    assert_eq!(items.len(), 3);
    for e in &items {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["metadata", "spec"], "{e}");
        assert_eq!(e["metadata"].as_object().unwrap().len(), 1, "{e}");
        assert_eq!(e["spec"].as_object().unwrap().len(), 1, "{e}");
    }
    let items = app.entities("?filter=kind=component&order=desc:metadata.name&fields=metadata.name").await;
    assert_eq!(ordered_names(&items), ["gamma", "beta", "alpha"]);
    // Several directives: the first decides, the next breaks ties.
    let items =
        app.entities("?filter=kind=component&order=asc:spec.type&order=desc:metadata.name&fields=metadata.name").await;
    assert_eq!(ordered_names(&items), ["gamma", "alpha", "beta"]);
    // Entities without the field come last, either way.
    let items = app.entities("?filter=kind=component&order=desc:metadata.title&fields=metadata.name").await;
    assert_eq!(ordered_names(&items)[0], "alpha");
    let page = by_query(&app, "filter=kind=component&orderField=metadata.name,desc&fields=metadata.name").await;
    assert_eq!(ordered_names(page["items"].as_array().unwrap()), ["gamma", "beta", "alpha"]);
    assert_eq!(page["items"][0], json!({"metadata": {"name": "gamma"}}));
    let (_, body) = app
        .post_json(
            "/api/catalog/entities/by-query",
            &json!({"query": {"kind": "component"}, "orderBy": [{"field": "metadata.name", "order": "desc"}], "fields": ["metadata.name"]}),
        )
        .await;
    assert_eq!(ordered_names(body["items"].as_array().unwrap()), ["gamma", "beta", "alpha"]);
}

async fn get_entities_pages_with_a_link_header(db: Db) {
    let app = fixture_app(db).await;
    let mut seen = Vec::new();
    let mut next = Some(app.url(
        "/api/catalog/entities?filter=kind=component&filter=kind=api&filter=kind=group&limit=2&fields=metadata.name&order=asc:metadata.name",
    ));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        if let Some(link) = res.headers().get("link") {
            let link = link.to_str().unwrap();
            let target = link.trim_start_matches('<').split('>').next().unwrap();
            assert!(link.ends_with("rel=\"next\""), "{link}");
            next = Some(app.url(target));
        }
        let items: Vec<Value> = res.json().await.unwrap();
        assert!(items.len() <= 2);
        seen.extend(ordered_names(&items));
        pages += 1;
        assert!(pages < 10, "the Link header must end");
    }
    assert_eq!(seen, ["alpha", "beta", "delta-api", "gamma", "team-a", "team-b"]);
    let items =
        app.entities("?filter=kind=component&filter=kind=group&offset=3&limit=10&order=asc:metadata.name").await;
    assert_eq!(ordered_names(&items), ["team-a", "team-b"]);
}

fn component(name: &str) -> String {
    format!(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec: {{type: service, lifecycle: production, owner: team-a}}\n"
    )
}

/// Follows `nextCursor` alone until the last page; returns the names and every totalItems seen.
async fn walk(app: &TestApp, first: Value) -> (Vec<String>, Vec<u64>) {
    let mut names = Vec::new();
    let mut totals = Vec::new();
    let mut page = first;
    loop {
        names.extend(ordered_names(page["items"].as_array().unwrap()));
        totals.push(page["totalItems"].as_u64().unwrap());
        let Some(cursor) = page["pageInfo"]["nextCursor"].as_str() else { break };
        let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("cursor", cursor).finish();
        page = by_query(app, &format!("{q}&limit=7&fields=metadata.name")).await;
    }
    (names, totals)
}

async fn cursor_paging_is_stable_while_entities_are_added(db: Db) {
    let batch: String = (0..30).map(|i| component(&format!("c-{i:02}"))).collect();
    let app = spawn_with_yaml(db, &[("batch.yaml", batch)], |s, d| s.reading.file_roots = vec![d.to_path_buf()]).await;
    let first = by_query(&app, "filter=kind=component&orderField=metadata.name,asc&limit=7&fields=metadata.name").await;
    assert_eq!(first["totalItems"], 30);
    assert!(first["pageInfo"].get("prevCursor").is_none());
    let first_names = ordered_names(first["items"].as_array().unwrap());
    assert_eq!(first_names.first().map(String::as_str), Some("c-00"));
    // Meanwhile: one entity sorts before the position, one after.
    let extra = app.write("extra.yaml", &(component("c-03b") + &component("c-25b")));
    let (status, body) =
        app.post_json("/api/catalog/locations", &json!({"type": "file", "target": extra.display().to_string()})).await;
    assert_eq!(status, 201, "{body}");
    let (names, totals) = walk(&app, first).await;
    // Nothing seen twice, nothing of the original set lost, the new one after the position shown.
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    for i in 0..30 {
        assert!(names.contains(&format!("c-{i:02}")), "c-{i:02} missing from {names:?}");
    }
    assert!(names.contains(&"c-25b".to_string()));
    assert!(!names.contains(&"c-03b".to_string()), "an entity before the position does not shift pages");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "order holds across pages");
    // totalItems is counted once, on the first page.
    assert!(totals.iter().all(|t| *t == 30), "{totals:?}");
    // A fresh query counts the new total, and a previous cursor walks back.
    let fresh = by_query(&app, "filter=kind=component&orderField=metadata.name,asc&limit=7&fields=metadata.name").await;
    assert_eq!(fresh["totalItems"], 32);
    let next = fresh["pageInfo"]["nextCursor"].as_str().unwrap();
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("cursor", next).finish();
    let second = by_query(&app, &format!("{q}&fields=metadata.name")).await;
    let prev = second["pageInfo"]["prevCursor"].as_str().expect("a second page has a prevCursor");
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("cursor", prev).finish();
    let back = by_query(&app, &format!("{q}&fields=metadata.name")).await;
    assert_eq!(back["items"], fresh["items"]);
    // A POST cursor carries its predicate and works on both routes.
    let (_, post) = app
        .post_json(
            "/api/catalog/entities/by-query",
            &json!({"query": {"kind": "component", "metadata.name": {"$hasPrefix": "c-1"}}, "limit": 4, "fields": ["metadata.name"]}),
        )
        .await;
    assert_eq!(post["totalItems"], 10);
    let cursor = post["pageInfo"]["nextCursor"].as_str().unwrap().to_owned();
    let (_, via_post) = app
        .post_json(
            "/api/catalog/entities/by-query",
            &json!({"cursor": cursor, "limit": 4, "fields": ["metadata.name"]}),
        )
        .await;
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("cursor", &cursor).finish();
    let via_get = by_query(&app, &format!("{q}&limit=4&fields=metadata.name")).await;
    assert_eq!(via_post["items"], via_get["items"]);
    assert_eq!(ordered_names(via_get["items"].as_array().unwrap()), ["c-14", "c-15", "c-16", "c-17"]);
}

async fn by_refs_and_by_uid(db: Db) {
    let app = fixture_app(db).await;
    let (status, body) = app
        .post_json(
            "/api/catalog/entities/by-refs",
            &json!({"entityRefs": ["component:default/gamma", "component:default/nope", "Component:alpha"], "fields": ["metadata.name"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"items": [{"metadata": {"name": "gamma"}}, null, {"metadata": {"name": "alpha"}}]}));
    // A filter in the query string leaves out what it does not match.
    let (_, body) = app
        .post_json(
            "/api/catalog/entities/by-refs?filter=spec.type=service",
            &json!({"entityRefs": ["component:default/beta", "component:default/gamma"]}),
        )
        .await;
    assert!(body["items"][0].is_null());
    assert_eq!(body["items"][1]["metadata"]["name"], "gamma");

    let (_, alpha) = app.entity("component", "default", "alpha").await;
    let uid = alpha["metadata"]["uid"].as_str().unwrap();
    let (status, by_uid) = app.get_json(&format!("/api/catalog/entities/by-uid/{uid}")).await;
    assert_eq!(status, 200);
    assert_eq!(by_uid, alpha);
    let res = app.client.delete(app.url(&format!("/api/catalog/entities/by-uid/{uid}"))).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let (status, body) = app.entity("component", "default", "alpha").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get_json(&format!("/api/catalog/entities/by-uid/{uid}")).await;
    assert_eq!(status, 404);
    assert_error(&body, 404, "NotFoundError", "not_found");
    let res = app.client.delete(app.url(&format!("/api/catalog/entities/by-uid/{uid}"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

async fn facets_count_values_as_written(db: Db) {
    let app = fixture_app(db).await;
    let (status, body) =
        app.get_json("/api/catalog/entity-facets?facet=kind&facet=spec.type&filter=kind=component").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["facets"]["kind"], json!([{"value": "Component", "count": 3}]));
    assert_eq!(
        body["facets"]["spec.type"],
        json!([{"value": "service", "count": 2}, {"value": "website", "count": 1}])
    );
    let (_, body) = app.get_json("/api/catalog/entity-facets?facet=metadata.tags").await;
    let tags = body["facets"]["metadata.tags"].as_array().unwrap();
    let mut tags: Vec<(String, i64)> =
        tags.iter().map(|t| (t["value"].as_str().unwrap().to_owned(), t["count"].as_i64().unwrap())).collect();
    tags.sort();
    assert_eq!(tags, [("java".to_owned(), 1), ("python".to_owned(), 1), ("web".to_owned(), 1)]);
    // Relations are facets too; POST takes a predicate.
    let (status, body) = app
        .post_json(
            "/api/catalog/entity-facets",
            &json!({"facets": ["relations.ownedBy", "spec.lifecycle"], "query": {"kind": {"$in": ["component", "api"]}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["facets"]["relations.ownedBy"],
        json!([{"value": "group:default/team-a", "count": 2}, {"value": "group:default/team-b", "count": 2}])
    );
    assert_eq!(
        body["facets"]["spec.lifecycle"],
        json!([{"value": "production", "count": 3}, {"value": "experimental", "count": 1}])
    );
    let (status, body) = app.get_json("/api/catalog/entity-facets").await;
    assert_eq!(status, 400);
    assert_error(&body, 400, "InputError", "invalid_input");
}

async fn ancestry_reaches_the_location(db: Db) {
    let dir = temp_dir();
    write_file(dir.path(), "nested/service.yaml", &component("nested-svc"));
    let root = write_file(
        dir.path(),
        "root.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: tree}\nspec: {type: file, targets: [./nested/service.yaml]}\n",
    );
    let mut app = spawn_with(db, vec![root.clone()], |_, _| {}).await;
    app.keep.push(dir);
    let (status, body) = app.get_json("/api/catalog/entities/by-name/component/default/nested-svc/ancestry").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rootEntityRef"], "component:default/nested-svc");
    let items = body["items"].as_array().unwrap();
    let chain: Vec<(String, Vec<String>)> = items
        .iter()
        .map(|i| {
            let e = &i["entity"];
            (
                format!("{}:{}", e["kind"].as_str().unwrap(), e["metadata"]["name"].as_str().unwrap()),
                i["parentEntityRefs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert_eq!(chain[0], ("Component:nested-svc".into(), vec!["location:default/tree".to_string()]));
    assert_eq!(chain[1].0, "Location:tree");
    assert_eq!(chain[1].1.len(), 1);
    assert!(chain[1].1[0].starts_with("location:default/generated-"), "{chain:?}");
    assert!(chain[2].0.starts_with("Location:generated-"));
    assert!(chain[2].1.is_empty());
    assert_eq!(items[2]["entity"]["spec"]["target"], root.display().to_string());
    let (status, body) = app.get_json("/api/catalog/entities/by-name/component/default/nope/ancestry").await;
    assert_eq!(status, 404);
    assert_error(&body, 404, "NotFoundError", "not_found");
}

async fn bad_queries_get_backstage_error_bodies(db: Db) {
    let app = fixture_app(db).await;
    let bad_gets = [
        "/api/catalog/entities/by-query?cursor=not-a-cursor!",
        "/api/catalog/entities/by-query?limit=-1",
        "/api/catalog/entities/by-query?orderField=metadata.name,sideways",
        "/api/catalog/entities?order=up:metadata.name",
        "/api/catalog/entities?limit=abc",
        "/api/catalog/entities?filter=,=x",
        "/api/catalog/entities/by-query?totalItems=maybe",
        "/api/catalog/events?after=yesterday",
    ];
    for path in bad_gets {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_error(&body, 400, "InputError", "invalid_input");
    }
    let bad_posts = [
        ("/api/catalog/entities/by-query", json!({"query": {"$foo": [1]}})),
        ("/api/catalog/entities/by-query", json!({"query": "kind=component"})),
        ("/api/catalog/entities/by-query", json!({"limit": "ten"})),
        ("/api/catalog/entities/by-query", json!({"unexpected": true})),
        ("/api/catalog/entities/by-refs", json!({"entityRefs": ["::"]})),
        ("/api/catalog/entities/by-refs", json!({"refs": []})),
        ("/api/catalog/entity-facets", json!({"facets": "kind"})),
    ];
    for (path, body) in bad_posts {
        let (status, answer) = app.post_json(path, &body).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_error(&answer, 400, "InputError", "invalid_input");
    }
    // A body that is not JSON at all.
    let res = app
        .client
        .post(app.url("/api/catalog/entities/by-query"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_error(&res.json().await.unwrap(), 400, "InputError", "invalid_input");
    // validate-entity answers Backstage's own `{errors}` body.
    let (status, body) = app
        .post_json(
            "/api/catalog/validate-entity",
            &json!({"entity": {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "x"}, "spec": {"type": "service", "lifecycle": "production"}}, "location": "url:https://example.com/catalog-info.yaml"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert!(errors.iter().all(|e| e["name"] == "InputError"), "{body}");
    assert!(errors.iter().any(|e| e["message"].as_str().unwrap().contains("owner")), "{body}");
    let (status, _) = app
        .post_json(
            "/api/catalog/validate-entity",
            &json!({"entity": {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "x"}, "spec": {"type": "service", "lifecycle": "production", "owner": "me"}}, "location": "url:https://example.com/catalog-info.yaml"}),
        )
        .await;
    assert_eq!(status, 200);
    // A conflict is a ConflictError.
    let file = app.write("again.yaml", &component("again"));
    let body = json!({"type": "file", "target": file.display().to_string()});
    assert_eq!(app.post_json("/api/catalog/locations", &body).await.0, 201);
    let (status, answer) = app.post_json("/api/catalog/locations", &body).await;
    assert_eq!(status, 409);
    assert_error(&answer, 409, "ConflictError", "conflict");
}

async fn analyze_location_says_what_exists(db: Db) {
    let app = fixture_app(db).await;
    let file = app.write("analyze/catalog-info.yaml", &component("analyzed"));
    let (status, body) = app
        .post_json(
            "/api/catalog/analyze-location",
            &json!({"location": {"type": "file", "target": file.display().to_string()}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let found = body["existingEntityFiles"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0]["entity"]["metadata"]["name"], "analyzed");
    assert_eq!(found[0]["isRegistered"], false);
    assert_eq!(body["generateEntities"], json!([]));
    // Nothing was registered.
    assert_eq!(app.entity("component", "default", "analyzed").await.0, 404);
    // A folder without a catalog file: a Component to start from.
    let (status, body) = app
        .post_json(
            "/api/catalog/analyze-location",
            &json!({"location": {"type": "file", "target": app.dir.path().join("empty-repo").display().to_string()}, "catalogFilename": "catalog-info.yaml"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["existingEntityFiles"], json!([]));
    assert_eq!(body["generateEntities"][0]["entity"]["kind"], "Component");
    assert_eq!(body["generateEntities"][0]["entity"]["metadata"]["name"], "empty-repo");
}

both!(
    every_filter_rule_holds,
    full_text_filter_is_a_case_insensitive_substring_match,
    fields_project_and_order_sorts,
    get_entities_pages_with_a_link_header,
    cursor_paging_is_stable_while_entities_are_added,
    by_refs_and_by_uid,
    facets_count_values_as_written,
    ancestry_reaches_the_location,
    bad_queries_get_backstage_error_bodies,
    analyze_location_says_what_exists,
);
