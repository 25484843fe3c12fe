//! Ingestion through the locations API: files, URLs, safety, freshness, failure, conflicts, orphans.

use std::path::Path;

use portolan::catalog::fetch::AllowRule;
use serde_json::{Value, json};

use crate::both;
use crate::fake_host::{FakeHost, Reply};
use crate::fixtures::component;
use crate::helpers::*;

/// An app whose API may register files under its temp dir, and read from the fake host.
async fn spawn_reader(db: Db, host: Option<&FakeHost>) -> TestApp {
    let allow: Vec<AllowRule> = host.map(|h| vec![AllowRule { host: h.host(), paths: None }]).unwrap_or_default();
    spawn_with(db, vec![], move |s, dir| {
        s.reading.file_roots = vec![dir.to_path_buf()];
        s.reading.allow = allow;
        s.reading.timeout_secs = 5;
    })
    .await
}

impl TestApp {
    pub async fn register(&self, kind: &str, target: &str) -> (u16, Value) {
        self.post_json("/api/catalog/locations", &json!({"type": kind, "target": target})).await
    }

    pub async fn refresh(&self, entity_ref: &str) -> u16 {
        let (status, _) = self.post_json("/api/catalog/refresh", &json!({ "entityRef": entity_ref })).await;
        status
    }
}

async fn a_file_location_is_queryable_with_its_whole_tree_when_registered(db: Db) {
    let app = spawn_reader(db, None).await;
    let sub = app.write("sub/svc.yaml", &component("svc-b", "team-a"));
    let root = app.write(
        "root.yaml",
        &format!(
            "{}---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: more}}\nspec:\n  targets: [./sub/svc.yaml, ./root.yaml]\n",
            component("svc-a", "team-a")
        ),
    );
    let (status, body) = app.register("file", root.to_str().unwrap()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["location"]["type"], "file");
    assert!(body["location"]["id"].as_str().is_some());
    let names: Vec<&str> =
        body["entities"].as_array().unwrap().iter().map(|e| e["metadata"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"svc-a") && names.contains(&"svc-b") && names.contains(&"more"), "{names:?}");
    // Immediately queryable, with Backstage's location annotations.
    let (status, b) = app.entity("component", "default", "svc-b").await;
    assert_eq!(status, 200);
    let ann = &b["metadata"]["annotations"];
    assert_eq!(ann["backstage.io/managed-by-location"], format!("file:{}", sub.display()));
    assert_eq!(ann["backstage.io/managed-by-origin-location"], format!("file:{}", root.display()));
    // The registered location is itself a Location entity, and the API says which.
    let entity_ref = body["location"]["entityRef"].as_str().unwrap().to_owned();
    let name = entity_ref.strip_prefix("location:default/").unwrap();
    let (status, _) = app.entity("location", "default", name).await;
    assert_eq!(status, 200);
    // Listed, fetched by id and by entity.
    let (_, list) = app.get_json("/api/catalog/locations").await;
    let id = body["location"]["id"].as_str().unwrap();
    assert!(list.as_array().unwrap().iter().any(|l| l["data"]["id"] == id && l["data"]["lastSuccessAt"].is_string()));
    let (status, one) = app.get_json(&format!("/api/catalog/locations/{id}")).await;
    assert_eq!((status, one["target"].as_str()), (200, root.to_str()));
    let (status, owner) = app.get_json("/api/catalog/locations/by-entity/component/default/svc-b").await;
    assert_eq!((status, owner["id"].as_str()), (200, Some(id)));
    // Registering it again is a conflict unless asked to refresh.
    let (status, body) = app.register("file", root.to_str().unwrap()).await;
    assert_eq!(status, 409);
    assert_error(&body, 409, "ConflictError", "conflict");
    let (status, _) = app
        .post_json(
            "/api/catalog/locations?onConflict=refresh",
            &json!({"type": "file", "target": root.to_str().unwrap()}),
        )
        .await;
    assert_eq!(status, 201);
}

async fn a_dry_run_writes_nothing(db: Db) {
    let app = spawn_reader(db, None).await;
    let f = app.write("dry.yaml", &component("dry-one", "team-a"));
    let (status, body) = app
        .post_json("/api/catalog/locations?dryRun=true", &json!({"type": "file", "target": f.to_str().unwrap()}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["exists"], false);
    assert!(body["entities"].as_array().unwrap().iter().any(|e| e["metadata"]["name"] == "dry-one"));
    assert_eq!(app.entity("component", "default", "dry-one").await.0, 404);
    let (_, list) = app.get_json("/api/catalog/locations").await;
    assert!(list.as_array().unwrap().is_empty());
}

async fn deleting_a_location_removes_its_entities_and_relations(db: Db) {
    let app = spawn_reader(db, None).await;
    let f = app.write("del.yaml", &component("doomed", "team-z"));
    let (_, body) = app.register("file", f.to_str().unwrap()).await;
    let id = body["location"]["id"].as_str().unwrap();
    let res = app.client.delete(app.url(&format!("/api/catalog/locations/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.entity("component", "default", "doomed").await.0, 404);
    assert!(app.entities("?filter=relations.ownerOf=component:default/doomed").await.is_empty());
    let res = app.client.delete(app.url(&format!("/api/catalog/locations/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

async fn file_locations_outside_the_file_roots_are_refused(db: Db) {
    let app = spawn_reader(db, None).await;
    let outside = temp_dir();
    let secret = write_file(outside.path(), "secret.yaml", &component("secret", "x"));
    let (status, body) = app.register("file", secret.to_str().unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, 400, "InputError", "invalid_input");
    assert!(body["error"]["message"].as_str().unwrap().contains("file_roots"), "{body}");
    // `..` out of the root, and a symlink inside the root pointing out, are refused too.
    let sneaky = format!(
        "{}/../{}",
        app.dir.path().display(),
        secret.strip_prefix(Path::new("/tmp")).map(|p| p.display().to_string()).unwrap_or_default()
    );
    assert_eq!(app.register("file", &sneaky).await.0, 400);
    std::os::unix::fs::symlink(&secret, app.dir.path().join("link.yaml")).unwrap();
    assert_eq!(app.register("file", app.dir.path().join("link.yaml").to_str().unwrap()).await.0, 400);
    // A nested Location target outside the roots is an error of that target, not a read.
    let nested = app.write(
        "nested.yaml",
        &format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: n}}\nspec: {{target: {}}}\n",
            secret.display()
        ),
    );
    let (status, _) = app.register("file", nested.to_str().unwrap()).await;
    assert_eq!(status, 201);
    assert_eq!(app.entity("component", "default", "secret").await.0, 404);
    // Without any file roots, the API refuses file locations altogether.
    let closed = spawn_with(db, vec![], |_, _| {}).await;
    let f = closed.write("x.yaml", &component("x", "y"));
    assert_eq!(closed.register("file", f.to_str().unwrap()).await.0, 400);
}

async fn text_placeholders_are_read_relative_to_the_file(db: Db) {
    let app = spawn_reader(db, None).await;
    app.write("apis/def.yaml", "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n");
    app.write("apis/data.json", "{\"a\": [1, 2]}");
    let f = app.write(
        "apis/api.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: placeheld}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ./def.yaml\n  extra:\n    $json: ./data.json\n",
    );
    let (status, body) = app.register("file", f.to_str().unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let (_, api) = app.entity("api", "default", "placeheld").await;
    assert!(api["spec"]["definition"].as_str().unwrap().starts_with("openapi: 3.0.0"), "{api}");
    assert_eq!(api["spec"]["extra"]["a"][1], 2);
}

async fn url_locations_are_read_and_reuse_their_etag(db: Db) {
    let host = FakeHost::start().await;
    host.file("/catalog.yaml", &component("from-url", "team-a"));
    let app = spawn_reader(db, Some(&host)).await;
    let (status, body) = app.register("url", &host.url("/catalog.yaml")).await;
    assert_eq!(status, 201, "{body}");
    let (_, first) = app.entity("component", "default", "from-url").await;
    assert_eq!(
        first["metadata"]["annotations"]["backstage.io/managed-by-location"],
        format!("url:{}", host.url("/catalog.yaml"))
    );
    assert_eq!(first["metadata"]["annotations"]["backstage.io/view-url"], host.url("/catalog.yaml"));
    assert_eq!(first["metadata"]["annotations"]["backstage.io/source-location"], format!("url:{}", host.url("/")));
    // Unchanged upstream: a conditional request answered 304, and nothing rewritten.
    assert_eq!(app.refresh("component:default/from-url").await, 200);
    let hits = host.hits("/catalog.yaml");
    assert_eq!(hits.len(), 2);
    assert!(hits[1].if_none_match.is_some());
    assert_eq!(hits[1].status, 304);
    let (_, second) = app.entity("component", "default", "from-url").await;
    assert_eq!(first["metadata"]["etag"], second["metadata"]["etag"]);
    assert_eq!(first["metadata"]["uid"], second["metadata"]["uid"]);
    // Changed upstream: re-read, same uid, new etag.
    host.file("/catalog.yaml", &component("from-url", "team-b"));
    assert_eq!(app.refresh("component:default/from-url").await, 200);
    let (_, third) = app.entity("component", "default", "from-url").await;
    assert_eq!(third["spec"]["owner"], "team-b");
    assert_eq!(first["metadata"]["uid"], third["metadata"]["uid"]);
    assert_ne!(first["metadata"]["etag"], third["metadata"]["etag"]);
}

async fn hosts_off_the_allowlist_and_private_addresses_are_refused(db: Db) {
    let host = FakeHost::start().await;
    host.file("/ok.yaml", &component("ok", "team-a"));
    host.set("/to-metadata", Reply::Redirect("http://169.254.169.254/latest/meta-data".into()));
    host.set("/to-loopback", Reply::Redirect(format!("http://127.0.0.2:{}/ok.yaml", host.port)));
    let port = host.port;
    let app = spawn_with(db, vec![], move |s, _| {
        s.reading.allow = vec![
            AllowRule { host: format!("127.0.0.1:{port}"), paths: None },
            AllowRule { host: "*".into(), paths: None },
        ];
    })
    .await;
    // Not on the allowlist at all.
    let strict = spawn_with(db, vec![], |_, _| {}).await;
    let (status, body) = strict.register("url", &host.url("/ok.yaml")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("allowlist"), "{body}");
    // Allowed by the wildcard, but private: a literal loopback, a name resolving to loopback.
    for url in [
        format!("http://127.0.0.2:{port}/ok.yaml"),
        format!("http://localhost:{port}/ok.yaml"),
        format!("http://[::1]:{port}/ok.yaml"),
    ] {
        let (status, body) = app.register("url", &url).await;
        assert_eq!(status, 400, "{url}: {body}");
    }
    // An explicitly allowed loopback host works, but not a redirect from it to a private address.
    assert_eq!(app.register("url", &host.url("/ok.yaml")).await.0, 201);
    for path in ["/to-metadata", "/to-loopback"] {
        let (status, body) = app.register("url", &host.url(path)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("redirect"), "{body}");
    }
}

async fn the_last_good_state_survives_upstream_failure_and_invalid_edits(db: Db) {
    let host = FakeHost::start().await;
    host.file("/svc.yaml", &component("steady", "team-a"));
    let app = spawn_reader(db, Some(&host)).await;
    assert_eq!(app.register("url", &host.url("/svc.yaml")).await.0, 201);
    host.set("/svc.yaml", Reply::Status(503));
    assert_eq!(app.refresh("component:default/steady").await, 200);
    let (status, e) = app.entity("component", "default", "steady").await;
    assert_eq!(status, 200, "the entity stays after an upstream failure");
    assert_eq!(e["spec"]["owner"], "team-a");
    let (_, list) = app.get_json("/api/catalog/locations").await;
    let err = &list[0]["data"]["lastError"];
    assert!(err["message"].as_str().unwrap().contains("503"), "{list}");
    assert!(err["at"].is_string());

    // A file edited into an invalid state keeps its last good entity, which carries the error.
    let f = app.write("edit.yaml", &component("edited", "team-a"));
    assert_eq!(app.register("file", f.to_str().unwrap()).await.0, 201);
    app.write("edit.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: edited\nspec:\n  type: service\n  lifecycle: production\n");
    assert_eq!(app.refresh("component:default/edited").await, 200);
    let (status, e) = app.entity("component", "default", "edited").await;
    assert_eq!(status, 200);
    assert_eq!(e["spec"]["owner"], "team-a");
    let item = &e["status"]["items"][0];
    assert_eq!(item["level"], "error");
    assert!(item["message"].as_str().unwrap().contains("/spec/owner"), "{e}");
    let (_, errors) = app.get_json("/api/catalog/errors").await;
    let items = errors["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["path"] == "/spec/owner" && i["entityRef"] == "component:default/edited" && i["document"] == 0),
        "{errors}"
    );
    assert!(items.iter().any(|i| i["message"].as_str().unwrap().contains("503")));
    // Fixing the file clears the error.
    app.write("edit.yaml", &component("edited", "team-c"));
    assert_eq!(app.refresh("component:default/edited").await, 200);
    let (_, e) = app.entity("component", "default", "edited").await;
    assert_eq!(e["spec"]["owner"], "team-c");
    // Governance findings (team-c is not in the catalog) may remain; the processing error is gone.
    let processing = e["status"]["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["type"] == "backstage.io/catalog-processing"));
    assert!(!processing, "{e}");
}

async fn a_second_location_emitting_an_owned_ref_is_a_listed_conflict(db: Db) {
    let app = spawn_reader(db, None).await;
    let first = app.write("first.yaml", &component("contested", "team-first"));
    let second = app.write("second.yaml", &component("contested", "team-second"));
    let (_, a) = app.register("file", first.to_str().unwrap()).await;
    let (status, _) = app.register("file", second.to_str().unwrap()).await;
    assert_eq!(status, 201);
    let (_, e) = app.entity("component", "default", "contested").await;
    assert_eq!(e["spec"]["owner"], "team-first", "the first location keeps it");
    let (status, conflicts) = app.get_json("/api/catalog/conflicts").await;
    assert_eq!(status, 200);
    let c = &conflicts["items"][0];
    assert_eq!(c["entityRef"], "component:default/contested");
    assert_eq!(c["ownerLocationId"], a["location"]["id"]);
    assert_eq!(c["locationTarget"], format!("file:{}", second.display()));
    assert!(c["firstSeenAt"].is_string());
}

async fn an_entity_no_longer_emitted_is_deleted(db: Db) {
    let app = spawn_reader(db, None).await;
    let f = app.write("two.yaml", &format!("{}---\n{}", component("stays", "t"), component("goes", "t")));
    assert_eq!(app.register("file", f.to_str().unwrap()).await.0, 201);
    app.write("two.yaml", &component("stays", "t"));
    assert_eq!(app.refresh("component:default/stays").await, 200);
    assert_eq!(app.entity("component", "default", "goes").await.0, 404);
    assert!(app.entities("?filter=relations.ownerOf=component:default/goes").await.is_empty());
}

async fn an_orphan_is_kept_and_marked_when_configured(db: Db) {
    let app = spawn_with(db, vec![], |s, dir| {
        s.reading.file_roots = vec![dir.to_path_buf()];
        s.catalog.orphan_strategy = portolan::catalog::facade::OrphanStrategy::Keep;
    })
    .await;
    let f = app.write("two.yaml", &format!("{}---\n{}", component("stays", "t"), component("orphan", "t")));
    assert_eq!(app.register("file", f.to_str().unwrap()).await.0, 201);
    app.write("two.yaml", &component("stays", "t"));
    assert_eq!(app.refresh("component:default/stays").await, 200);
    let (status, e) = app.entity("component", "default", "orphan").await;
    assert_eq!(status, 200);
    assert_eq!(e["metadata"]["annotations"]["backstage.io/orphan"], "true");
}

async fn refresh_of_an_unknown_entity_is_a_404(db: Db) {
    let app = spawn_reader(db, None).await;
    assert_eq!(app.refresh("component:default/nope").await, 404);
    let (status, body) = app.post_json("/api/catalog/refresh", &json!({"nope": 1})).await;
    assert_eq!(status, 400);
    assert_error(&body, 400, "InputError", "invalid_input");
}

async fn locations_can_be_queried_and_moved(db: Db) {
    let app = spawn_reader(db, None).await;
    let a = app.write("a.yaml", &component("comp-a", "t"));
    let b = app.write("b.yaml", &component("comp-b", "t"));
    let (_, ra) = app.register("file", a.to_str().unwrap()).await;
    app.register("file", b.to_str().unwrap()).await;
    let (status, page) = app
        .post_json(
            "/api/catalog/locations/by-query",
            &json!({"query": {"target": {"$hasPrefix": app.dir.path().to_str().unwrap()}}, "limit": 1}),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalItems"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["pageInfo"]["nextCursor"].as_str().unwrap();
    let (_, next) = app.post_json("/api/catalog/locations/by-query", &json!({"cursor": cursor, "limit": 1})).await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert_ne!(next["items"][0]["id"], page["items"][0]["id"]);
    assert!(next["pageInfo"].get("nextCursor").is_none());
    // PUT points a location at another file and re-reads it.
    let c = app.write("c.yaml", &component("comp-c", "t"));
    let id = ra["location"]["id"].as_str().unwrap();
    let res = app
        .client
        .put(app.url(&format!("/api/catalog/locations/{id}")))
        .json(&json!({"type": "file", "target": c.to_str().unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.entity("component", "default", "comp-c").await.0, 200);
    assert_eq!(app.entity("component", "default", "comp-a").await.0, 404);
}

async fn a_malformed_location_body_is_a_400(db: Db) {
    let app = spawn_reader(db, None).await;
    let res = app
        .client
        .post(app.url("/api/catalog/locations"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_error(&body, 400, "InputError", "invalid_input");
    let (status, body) = app.post_json("/api/catalog/locations", &json!({"type": "ftp", "target": "x"})).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("unsupported location type"));
    let (status, _) = app.register("file", app.dir.path().join("missing.yaml").to_str().unwrap()).await;
    assert_eq!(status, 400);
}

both!(
    a_file_location_is_queryable_with_its_whole_tree_when_registered,
    a_dry_run_writes_nothing,
    deleting_a_location_removes_its_entities_and_relations,
    file_locations_outside_the_file_roots_are_refused,
    text_placeholders_are_read_relative_to_the_file,
    url_locations_are_read_and_reuse_their_etag,
    hosts_off_the_allowlist_and_private_addresses_are_refused,
    the_last_good_state_survives_upstream_failure_and_invalid_edits,
    a_second_location_emitting_an_owned_ref_is_a_listed_conflict,
    an_entity_no_longer_emitted_is_deleted,
    an_orphan_is_kept_and_marked_when_configured,
    refresh_of_an_unknown_entity_is_a_404,
    locations_can_be_queried_and_moved,
    a_malformed_location_body_is_a_400,
);
