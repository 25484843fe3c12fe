//! Defects found by probing the server as a hostile user would (issue 16): each test fails on
//! the code before its fix.

use portolan::catalog::fetch::AllowRule;
use serde_json::{Value, json};

use crate::both;
use crate::fake_host::FakeHost;
use crate::helpers::*;

fn component(name: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"
    )
}

impl TestApp {
    async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self.client.put(self.url(path)).json(body).send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// 1: PUT refuses what POST refuses, before anything is stored or removed; locations from
/// configuration are not retargeted through the API.
async fn put_on_a_location_refuses_what_post_refuses(db: Db) {
    let host = FakeHost::start().await;
    host.file("/ok.yaml", &component("from-url"));
    let port = host.port;
    let app = spawn_with(db, vec![], move |s, dir| {
        s.reading.file_roots = vec![dir.to_path_buf()];
        s.reading.allow = vec![
            AllowRule { host: format!("127.0.0.1:{port}"), paths: None },
            AllowRule { host: "*".into(), paths: None },
        ];
        s.reading.timeout_secs = 5;
    })
    .await;
    let a = app.write("a.yaml", &component("comp-a"));
    let (status, reg) = app.post_json("/api/catalog/locations", &json!({"type": "file", "target": a})).await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["location"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/catalog/locations/{id}");
    let outside = temp_dir();
    let secret = write_file(outside.path(), "secret.yaml", &component("secret"));
    let refused = [
        (json!({"type": "file", "target": secret}), "file_roots"),
        (json!({"type": "url", "target": "http://169.254.169.254/latest/meta-data"}), "private"),
        (json!({"type": "url", "target": format!("http://127.0.0.2:{port}/ok.yaml")}), "private"),
        (json!({"type": "url", "target": format!("http://localhost:{port}/ok.yaml")}), "private"),
        (json!({"type": "ftp", "target": "x"}), "unsupported location type"),
        (json!({"type": "file", "target": app.dir.path().join("missing.yaml")}), "cannot read"),
    ];
    for (body, expected) in refused {
        // POST refuses it...
        let (status, post) = app.post_json("/api/catalog/locations", &body).await;
        assert_eq!(status, 400, "POST {body}: {post}");
        // ...and so does PUT, with the same kind of message, changing nothing.
        let (status, put) = app.put_json(&path, &body).await;
        assert_eq!(status, 400, "PUT {body}: {put}");
        assert_error(&put, 400, "InputError", "invalid_input");
        assert!(message(&put).contains(expected), "PUT {body}: {put}");
        let (_, loc) = app.get_json(&path).await;
        assert_eq!(loc["target"].as_str(), a.to_str(), "{loc}");
        assert!(loc["lastError"].is_null(), "{loc}");
        assert_eq!(app.entity("component", "default", "comp-a").await.0, 200, "PUT {body} removed comp-a");
        assert_eq!(app.entity("component", "default", "secret").await.0, 404);
    }
    // An allowed target still works.
    let (status, moved) = app.put_json(&path, &json!({"type": "url", "target": host.url("/ok.yaml")})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(app.entity("component", "default", "from-url").await.0, 200);
    assert_eq!(app.entity("component", "default", "comp-a").await.0, 404);

    // A location from configuration is not retargeted, even at an allowed file.
    let configured = temp_dir();
    let file = write_file(configured.path(), "configured.yaml", &component("configured"));
    let app = spawn_with(db, vec![file.clone()], |s, dir| s.reading.file_roots = vec![dir.to_path_buf()]).await;
    let (_, list) = app.get_json("/api/catalog/locations").await;
    let id = list.as_array().unwrap()[0]["data"]["id"].as_str().unwrap().to_owned();
    let inside = app.write("inside.yaml", &component("inside"));
    for target in [inside, secret.clone()] {
        let (status, body) =
            app.put_json(&format!("/api/catalog/locations/{id}"), &json!({"type": "file", "target": target})).await;
        assert_eq!(status, 409, "{body}");
        assert_error(&body, 409, "ConflictError", "conflict");
        assert!(message(&body).contains("configuration"), "{body}");
    }
    assert_eq!(app.entity("component", "default", "configured").await.0, 200);
    assert_eq!(app.entity("component", "default", "inside").await.0, 404);
    assert_eq!(app.entity("component", "default", "secret").await.0, 404);
}

both!(put_on_a_location_refuses_what_post_refuses);
