//! The change feed, the read cache across instances, and the OpenAPI document.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

fn component(name: &str, description: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}, description: {description}}}\nspec: {{type: service, lifecycle: production, owner: team-a}}\n"
    )
}

async fn events(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get_json(&format!("/api/catalog/events{query}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn summary(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["entityRef"].as_str().unwrap().starts_with("location:"))
        .map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["entityRef"].as_str().unwrap()))
        .collect()
}

async fn the_feed_lists_changes_and_resumes_after_a_restart(db: Db) {
    let dir = temp_dir();
    let file = write_file(dir.path(), "svc.yaml", &(component("one", "first") + "---\n" + &component("two", "second")));
    let mut app = spawn_with(db, vec![file.clone()], |_, _| {}).await;
    app.keep.push(dir);
    // Oldest first without a cursor.
    let first = events(&app, "").await;
    assert_eq!(summary(&first), ["entity.added component:default/one", "entity.added component:default/two"]);
    let ids: Vec<u64> =
        first["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(first["items"][0]["at"].as_str().unwrap().ends_with('Z'));
    // Paging with limit and after.
    let page = events(&app, "?limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let rest = events(&app, &format!("?after={}", page["nextCursor"].as_str().unwrap())).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), first["items"].as_array().unwrap().len() - 1);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(events(&app, &format!("?after={cursor}")).await["items"], json!([]));

    // Change the file while the server is down; the cursor from before still works after.
    let app_dir = app.keep.pop().unwrap();
    std::fs::write(&file, component("one", "changed")).unwrap();
    let mut app = app.restart(vec![file.clone()], |_, _| {}).await;
    app.keep.push(app_dir);
    let after = events(&app, &format!("?after={cursor}")).await;
    assert_eq!(summary(&after), ["entity.updated component:default/one", "entity.removed component:default/two"]);
    assert!(after["nextCursor"].as_str().unwrap().parse::<u64>().unwrap() > cursor.parse::<u64>().unwrap());
    // Unchanged re-reads add nothing.
    let res = app
        .client
        .post(app.url("/api/catalog/refresh"))
        .json(&json!({"entityRef": "component:default/one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let again = events(&app, &format!("?after={}", after["nextCursor"].as_str().unwrap())).await;
    assert_eq!(again["items"], json!([]));
}

async fn the_feed_streams_as_server_sent_events(db: Db) {
    let svc = component("streamed", "there from the start");
    let app = spawn_with_yaml(db, &[("svc.yaml", svc)], |s, d| s.reading.file_roots = vec![d.to_path_buf()]).await;
    let res =
        app.client.get(app.url("/api/catalog/events")).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut stream = res.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    // What exists streams at once; a new registration follows while the stream is open.
    let mut registered = false;
    while !text.contains("component:default/later") {
        assert!(Instant::now() < deadline, "no event for the new entity in: {text}");
        if text.contains("component:default/streamed") && !registered {
            let later = app.write("later.yaml", &component("later", "added while streaming"));
            let (status, body) = app
                .post_json("/api/catalog/locations", &json!({"type": "file", "target": later.display().to_string()}))
                .await;
            assert_eq!(status, 201, "{body}");
            registered = true;
        }
        if let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }
    assert!(text.contains("event: entity.added\n"), "{text}");
    assert!(text.contains("id: "), "{text}");
    let data = text.lines().find(|l| l.starts_with("data: ") && l.contains("later")).unwrap();
    let event: Value = serde_json::from_str(&data["data: ".len()..]).unwrap();
    assert_eq!(event["type"], "entity.added");
    // Last-Event-ID resumes after that event.
    let id = event["id"].as_str().unwrap();
    let page = app.client.get(app.url("/api/catalog/events")).header("last-event-id", id).send().await.unwrap();
    let page: Value = page.json().await.unwrap();
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"].as_str().unwrap().parse::<u64>().unwrap() > id.parse::<u64>().unwrap())
    );
}

/// Two instances on one database, each with its read cache: a write through one is visible
/// through the other within a second.
async fn another_instances_writes_show_within_a_second(db: Db) {
    let dir = temp_dir();
    let file = write_file(dir.path(), "svc.yaml", &component("shared", "before"));
    let mut a = spawn_with(db, vec![file.clone()], |s, d| s.reading.file_roots = vec![d.to_path_buf()]).await;
    let b = spawn_on(a.database_url.clone(), temp_dir(), vec![file.clone()], |_, _| {}).await;
    a.keep.push(dir);
    // Warm b's cache: by name, and a repeated list query.
    for _ in 0..3 {
        assert_eq!(b.entity("component", "default", "shared").await.1["metadata"]["description"], "before");
        assert_eq!(b.entities("?filter=kind=component").await.len(), 1);
    }
    std::fs::write(&file, component("shared", "after")).unwrap();
    let res = a
        .client
        .post(a.url("/api/catalog/refresh"))
        .json(&json!({"entityRef": "component:default/shared"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // a sees its own write at once.
    assert_eq!(a.entity("component", "default", "shared").await.1["metadata"]["description"], "after");
    let written = Instant::now();
    loop {
        let (_, e) = b.entity("component", "default", "shared").await;
        let listed = b.entities("?filter=kind=component").await;
        if e["metadata"]["description"] == "after" && listed[0]["metadata"]["description"] == "after" {
            break;
        }
        assert!(written.elapsed() < Duration::from_secs(1), "b still serves the old entity after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A removal through a shows through b too.
    let uid = b.entity("component", "default", "shared").await.1["metadata"]["uid"].as_str().unwrap().to_owned();
    let res = a.client.delete(a.url(&format!("/api/catalog/entities/by-uid/{uid}"))).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let removed = Instant::now();
    while b.entity("component", "default", "shared").await.0 != 404 {
        assert!(removed.elapsed() < Duration::from_secs(1), "b still serves a removed entity after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn openapi_lists_every_route_and_swagger_ui_is_served(db: Db) {
    let app = spawn_with(db, vec![], |_, _| {}).await;
    let (status, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut listed = 0;
    for route in portolan::routes::all().filter(|r| r.tag != "ui") {
        let path = route.path.replace("{file:.*}", "{file}");
        let op = &doc["paths"][&path][route.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is not in /api/openapi.json", route.method, route.path);
        assert!(op["responses"][route.ok.to_string()].is_object(), "{} {}", route.method, route.path);
        listed += 1;
    }
    let operations: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(operations, listed, "the document lists exactly the served routes");
    // Every catalog route of Backstage's client is there.
    for path in [
        "/api/catalog/entities/by-query",
        "/api/catalog/entities/by-refs",
        "/api/catalog/entity-facets",
        "/api/catalog/events",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let res = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://") && !html.contains("http://"), "Swagger UI loads nothing from elsewhere");
    let init = app.get("/api/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(init.contains("/api/openapi.json"));
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        assert_eq!(app.get(&format!("/api/docs/{asset}")).await.status(), 200, "{asset}");
    }
}

/// Issue 14: an OpenAPI entity's definition in the embedded Swagger UI: the document as the
/// descriptor wrote it, Swagger UI's files pointed at it, and clear 404s.
async fn swagger_ui_shows_an_api_entitys_own_definition(db: Db) {
    let dir = temp_dir();
    write_file(
        dir.path(),
        "apis.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: pets}\nspec: {type: openapi, lifecycle: production, owner: t, definition: \"openapi: 3.0.0\\ninfo: {title: Pets, version: '1'}\\npaths: {}\\n\"}\n---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: pets-json}\nspec: {type: openapi, lifecycle: production, owner: t, definition: '{\"openapi\": \"3.0.0\"}'}\n",
    );
    let app = spawn_with(db, vec![dir.path().to_path_buf()], |_, _| {}).await;
    let res = app.get("/api/docs/apis/default/pets/definition").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/yaml");
    assert!(res.text().await.unwrap().starts_with("openapi: 3.0.0\ninfo: {title: Pets"));
    let res = app.get("/api/docs/apis/default/pets-json/definition").await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let html = app.get("/api/docs/apis/default/pets/").await.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let init = app.get("/api/docs/apis/default/pets/swagger-initializer.js").await.text().await.unwrap();
    assert!(init.contains("\"definition\"") && !init.contains("/api/openapi.json"), "{init}");
    let (status, body) = app.get_json("/api/docs/apis/default/nope/definition").await;
    assert_error(&body, status, "NotFoundError", "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("api:default/nope"), "{body}");
    // The UI's entity page embeds it.
    let page = app.get("/catalog/api/default/pets").await.text().await.unwrap();
    assert!(page.contains("<iframe class=\"swagger\""), "{page}");
    assert!(page.contains("src=\"/api/docs/apis/default/pets/\""), "{page}");
}

both!(
    swagger_ui_shows_an_api_entitys_own_definition,
    the_feed_lists_changes_and_resumes_after_a_restart,
    the_feed_streams_as_server_sent_events,
    another_instances_writes_show_within_a_second,
    openapi_lists_every_route_and_swagger_ui_is_served,
);
