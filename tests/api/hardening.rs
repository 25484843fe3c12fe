//! Defects found by probing the server as a hostile user would (issue 16): each test fails on
//! the code before its fix.

use portolan::catalog::fetch::AllowRule;
use serde_json::{Value, json};

use crate::both;
use crate::fake_host::FakeHost;
use crate::helpers::*;

/// A team-a Component.
fn component(name: &str) -> String {
    crate::fixtures::component(name, "team-a")
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

/// 2: very long filters and full-text terms are a 400 naming the limit, not a 500; up to the
/// limit they are answered.
async fn filters_and_terms_past_their_limits_are_a_400_naming_the_limit(db: Db) {
    let app = spawn_app(db).await;
    let sets = |n: usize| (0..n).map(|i| format!("filter=metadata.name%3Dn{i}")).collect::<Vec<_>>().join("&");
    let any = |n: usize| json!({"$any": (0..n).map(|i| json!({"metadata.name": format!("n{i}")})).collect::<Vec<_>>()});
    let values = |n: usize| json!({"metadata.name": {"$in": (0..n).map(|i| format!("n{i}")).collect::<Vec<_>>()}});
    let check = |status: u16, body: &Value, what: &str, limit: &str| {
        assert_eq!(status, 400, "{what}: {body}");
        assert_error(body, 400, "InputError", "invalid_input");
        assert!(message(body).contains(&format!("more than the limit of {limit}")), "{what}: {body}");
    };
    // Filter sets: entities, by-query, entity-facets (GET and POST with ?filter).
    for route in ["/api/catalog/entities", "/api/catalog/entities/by-query", "/api/catalog/entity-facets"] {
        let facet = if route.ends_with("facets") { "facet=kind&" } else { "" };
        let (status, body) = app.get_json(&format!("{route}?{facet}{}", sets(500))).await;
        assert_eq!(status, 200, "{route} with 500 filters: {body}");
        let (status, body) = app.get_json(&format!("{route}?{facet}{}", sets(1000))).await;
        check(status, &body, route, "500");
        assert!(message(&body).contains("filter"), "{body}");
    }
    let (status, body) =
        app.post_json(&format!("/api/catalog/entity-facets?{}", sets(1000)), &json!({"facets": ["kind"]})).await;
    check(status, &body, "POST entity-facets ?filter", "500");
    // $any, $all and $in in a POST query: by-query, entity-facets, by-refs.
    for (route, extra) in [
        ("/api/catalog/entities/by-query", json!({})),
        ("/api/catalog/entity-facets", json!({"facets": ["kind"]})),
        ("/api/catalog/entities/by-refs", json!({"entityRefs": ["component:default/portolan"]})),
    ] {
        for (n, ok) in [(500, true), (999, false)] {
            for query in [any(n), json!({"$all": [values(n)]}), values(n)] {
                let mut body = extra.clone();
                body["query"] = query;
                let (status, answer) = app.post_json(route, &body).await;
                if ok {
                    assert_eq!(status, 200, "{route} with {n} items: {answer}");
                } else {
                    check(status, &answer, route, "500");
                }
            }
        }
    }
    // A 100,000-character full-text term (and one just past 1,000 characters).
    let (status, body) =
        app.get_json(&format!("/api/catalog/entities/by-query?fullTextFilterTerm={}", "a".repeat(1000))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        app.get_json(&format!("/api/catalog/entities/by-query?fullTextFilterTerm={}", "a".repeat(1001))).await;
    check(status, &body, "GET term", "1000");
    assert!(message(&body).contains("fullTextFilterTerm"), "{body}");
    let (status, body) = app
        .post_json("/api/catalog/entities/by-query", &json!({"fullTextFilter": {"term": "a".repeat(100_000)}}))
        .await;
    check(status, &body, "POST term", "1000");
    assert!(message(&body).contains("fullTextFilter.term"), "{body}");
}

/// 7: an allowed path prefix is checked after percent-encoded dot segments are resolved.
async fn encoded_dot_segments_do_not_escape_an_allowed_path(db: Db) {
    let host = FakeHost::start().await;
    host.file("/catalog/ok.yaml", &component("allowed"));
    host.file("/secret.yaml", &component("secret"));
    for literal in ["/catalog/..%2Fsecret.yaml", "/catalog/%2E%2E%2Fsecret.yaml", "/catalog/..%5Csecret.yaml"] {
        host.file(literal, &component("secret"));
    }
    let allow = vec![AllowRule { host: host.host(), paths: Some(vec!["/catalog/".into()]) }];
    let app = spawn_with(db, vec![], move |s, _| s.reading.allow = allow).await;
    for path in ["/catalog/..%2Fsecret.yaml", "/catalog/%2E%2E%2Fsecret.yaml", "/catalog/..%5Csecret.yaml"] {
        let (status, body) =
            app.post_json("/api/catalog/locations", &json!({"type": "url", "target": host.url(path)})).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(message(&body).contains("allowlist"), "{body}");
        assert!(host.hits(path).is_empty(), "{path} was requested");
    }
    assert!(host.hits("/secret.yaml").is_empty());
    assert_eq!(app.entity("component", "default", "secret").await.0, 404);
    let (status, body) =
        app.post_json("/api/catalog/locations", &json!({"type": "url", "target": host.url("/catalog/ok.yaml")})).await;
    assert_eq!(status, 201, "{body}");
}

fn described(name: &str, target: &std::path::Path) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  description:\n    $text: {}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n",
        target.display()
    )
}

/// 8: placeholders of start-up catalog files stay inside the folder they were loaded from,
/// unless `catalog.placeholders_anywhere` says otherwise.
async fn startup_placeholders_stay_inside_their_folder(db: Db) {
    let outside = temp_dir();
    let secret = write_file(outside.path(), "secret.txt", "TOP SECRET");
    let catalog = temp_dir();
    write_file(catalog.path(), "docs/readme.md", "inside the catalog folder");
    write_file(catalog.path(), "sub/inside.yaml", &described("inside", std::path::Path::new("../docs/readme.md")));
    write_file(catalog.path(), "sub/leaky.yaml", &described("leaky", &secret));
    write_file(
        catalog.path(),
        "sub/dotdot.yaml",
        &described("dotdot", std::path::Path::new("../../../../../../../../etc/hostname")),
    );
    let single = temp_dir();
    let lone = write_file(single.path(), "lone.yaml", &described("lone", &secret));
    let app = spawn_with(db, vec![catalog.path().to_path_buf(), lone.clone()], |_, _| {}).await;
    let (status, inside) = app.entity("component", "default", "inside").await;
    assert_eq!(status, 200, "{inside}");
    assert_eq!(inside["metadata"]["description"], "inside the catalog folder");
    for name in ["leaky", "dotdot", "lone"] {
        let (status, body) = app.entity("component", "default", name).await;
        assert_eq!(status, 404, "{name}: {body}");
    }
    let (_, errors) = app.get_json("/api/catalog/errors").await;
    let items = errors["items"].as_array().unwrap();
    for file in ["leaky.yaml", "lone.yaml"] {
        let e = items.iter().find(|e| e["source"].as_str().unwrap().ends_with(file)).expect(file);
        let m = e["message"].as_str().unwrap();
        assert!(m.contains("outside the folder") && m.contains("catalog.placeholders_anywhere"), "{m}");
        assert_eq!(e["path"], "/metadata/description", "{e}");
    }
    assert!(!errors.to_string().contains("TOP SECRET"));
    drop(app);
    // Allowed anywhere when configured so.
    let app =
        spawn_with(db, vec![catalog.path().to_path_buf(), lone], |s, _| s.catalog.placeholders_anywhere = true).await;
    for name in ["leaky", "lone"] {
        let (status, body) = app.entity("component", "default", name).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["metadata"]["description"], "TOP SECRET");
    }
}

/// 5: body errors name the field and what was expected, without Rust type names or library
/// text; YAML limits and duplicate keys are said plainly.
async fn error_messages_name_the_field_in_the_users_words(db: Db) {
    let app = spawn_with(db, vec![], |s, dir| s.reading.file_roots = vec![dir.to_path_buf()]).await;
    let cases = [
        (
            "/api/catalog/entities/by-refs",
            json!({"entityRefs": "component:default/x"}),
            "at entityRefs: expected a list, got the string",
        ),
        (
            "/api/catalog/entities/by-refs",
            json!("refs"),
            "invalid request body: expected an object, got the string \"refs\"",
        ),
        (
            "/api/catalog/entities/by-refs",
            json!({"entityRefs": [1]}),
            "at entityRefs[0]: expected a string, got the number 1",
        ),
        ("/api/catalog/entities/by-refs", json!({"entityRefs": [], "x": 1}), "unknown field \"x\""),
        ("/api/catalog/refresh", json!({}), "\"entityRef\" is required"),
        (
            "/api/catalog/validate-entity",
            json!({"entity": {}, "location": 5}),
            "at location: expected a string, got the number 5",
        ),
        ("/api/catalog/analyze-location", json!({"location": []}), "at location: expected an object, got a list"),
        ("/api/catalog/entity-facets", json!({"facets": "kind"}), "at facets: expected a list, got the string"),
        (
            "/api/catalog/locations/by-query",
            json!({"limit": -1}),
            "at limit: expected a whole number, zero or greater, got the number -1",
        ),
        ("/api/catalog/locations", json!({"type": 1, "target": "x"}), "at type: expected a string, got the number 1"),
        ("/api/auth/tokens", json!({"name": "ci", "scopes": "admin"}), "at scopes: expected a list, got the string"),
    ];
    for (route, body, expected) in cases {
        let (status, answer) = app.post_json(route, &body).await;
        assert_eq!(status, 400, "{route} {body}: {answer}");
        assert_error(&answer, 400, "InputError", "invalid_input");
        let m = message(&answer);
        assert!(m.contains(expected), "{route} {body}: {m}");
        for internal in [
            "Json deserialize",
            "struct",
            "ByRefs",
            "RefreshRequest",
            "ValidateBody",
            "AnalyzeBody",
            "FacetsBody",
            "LocationQuery",
            "NewLocation",
            "NewToken",
            "`",
        ] {
            assert!(!m.contains(internal), "{route} {body}: {m}");
        }
    }
    // Query strings name the parameter too.
    for (path, expected) in [
        ("/api/catalog/locations?dryRun=maybe", "invalid query string at dryRun: expected true or false"),
        ("/api/catalog/locations?onConflict=merge", "invalid query string at onConflict: unknown value \"merge\""),
    ] {
        let (status, answer) = app.post_json(path, &json!({"type": "url", "target": "https://github.com/a/b"})).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(message(&answer).starts_with(expected), "{path}: {answer}");
        assert!(!message(&answer).contains("Query deserialize") && !message(&answer).contains('`'), "{answer}");
    }
    // Not JSON at all.
    let res = app
        .client
        .post(app.url("/api/catalog/refresh"))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(message(&body), "malformed request body: not valid JSON (line 1, column 2)", "{body}");
    // YAML: a duplicate key and an alias bomb.
    let aliases = vec!["*a"; 1001].join(", ");
    let file = app.write(
        "bad.yaml",
        &format!(
            "{}---\napiVersion: backstage.io/v1alpha1\nkind: Component\nkind: API\n---\na: &a lol\nb: [{aliases}]\n",
            component("good")
        ),
    );
    let (status, reg) = app.post_json("/api/catalog/locations", &json!({"type": "file", "target": file})).await;
    assert_eq!(status, 201, "{reg}");
    let (_, errors) = app.get_json("/api/catalog/errors").await;
    let messages: Vec<&str> =
        errors["items"].as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
    assert!(messages.contains(&"YAML error at line 12: duplicate key \"kind\""), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("document expands past the alias limit")), "{messages:?}");
    for m in &messages {
        assert!(!m.contains("budget") && !m.contains("DuplicateKeyPolicy") && !m.contains("Options"), "{m}");
    }
}

/// Sends raw bytes on a new connection and returns the status and body of the answer.
async fn raw_request(app: &TestApp, request: Vec<u8>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        let _ = writer.flush().await;
        writer
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse::<usize>().unwrap())
            });
            if length.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    drop(writing);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// 6: what actix refuses before any handler (a huge query string, a 70,000-character path)
/// answers in the JSON error shape under /api/.
async fn requests_refused_before_any_handler_answer_json(db: Db) {
    // Guest mode answers loopback host names only.
    let app = spawn_with(db, vec![], |_, _| {}).await;
    let cases = [
        (
            format!("GET /api/catalog/entities?filter={} HTTP/1.1\r\nhost: localhost\r\n\r\n", "a".repeat(140_000)),
            &[431][..],
        ),
        (
            format!("GET /api/catalog/entities?filter={} HTTP/1.1\r\nhost: localhost\r\n\r\n", "a".repeat(100_000)),
            &[400, 431][..],
        ),
        (format!("GET /api/catalog/entities/{} HTTP/1.1\r\nhost: localhost\r\n\r\n", "a".repeat(70_000)), &[400][..]),
        ("GET /api/catalog/entities HTTP/1.1\r\nhost: localhost\r\nbad header\r\n\r\n".to_owned(), &[400][..]),
    ];
    for (request, statuses) in cases {
        let shown: String = request.chars().take(60).collect();
        let (status, body) = raw_request(&app, request.into_bytes()).await;
        assert!(statuses.contains(&status), "{shown}: {status} {body}");
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{shown}: {status} {body:?}: {e}"));
        assert_error(&body, status, "InputError", "invalid_input");
        assert!(body["request"]["url"].as_str().unwrap().starts_with("/api/catalog/entities"), "{body}");
        assert!(body.to_string().len() < 2_000, "the body repeats the whole URL");
    }
    // The server still answers normally afterwards, on a kept-alive connection too.
    let (status, body) =
        raw_request(&app, b"GET /api/catalog/entities HTTP/1.1\r\nhost: localhost\r\n\r\n".to_vec()).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (status, _) = raw_request(
        &app,
        format!("GET /healthz?{} HTTP/1.1\r\nhost: localhost\r\n\r\n", "a".repeat(140_000)).into_bytes(),
    )
    .await;
    assert_eq!(status, 431, "outside /api/ actix's own answer stays");
}

/// 4: connections lost mid-request (PostgreSQL terminating them, as it does on a restart) are
/// answered 503 `unavailable` with Retry-After, never 500; every location answered 201 is
/// stored, and nothing answered 503 was half-stored.
async fn a_lost_database_connection_is_a_503_never_a_500() {
    use diesel::{Connection, RunQueryDsl};
    if postgres_url().is_none() {
        return;
    }
    let app = spawn_with(Db::Postgres, vec![], |s, dir| {
        s.reading.file_roots = vec![dir.to_path_buf()];
        s.database.pool_size = 8;
    })
    .await;
    let files: Vec<_> = (0..40).map(|i| app.write(&format!("c{i}.yaml"), &component(&format!("lost-{i}")))).collect();
    let name = app.database_url.rsplit('/').next().unwrap().to_owned();
    let base = postgres_url().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let killer = std::thread::spawn(move || {
        let mut admin = diesel::pg::PgConnection::establish(&base).unwrap();
        let sql = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        );
        let mut rounds = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = diesel::sql_query(&sql).execute(&mut admin);
            rounds += 1;
            std::thread::sleep(std::time::Duration::from_millis(120));
        }
        rounds
    });
    let posts = files.iter().enumerate().map(|(i, f)| {
        let app = &app;
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(25 * i as u64)).await;
            let res = app
                .client
                .post(app.url("/api/catalog/locations"))
                .json(&json!({"type": "file", "target": f}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let retry = res.headers().get("retry-after").is_some();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, retry, body)
        }
    });
    let answers = futures_util::future::join_all(posts).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(killer.join().unwrap() > 3, "connections were terminated while the requests ran");
    let mut unavailable = 0;
    for (i, (status, retry, body)) in answers.iter().enumerate() {
        assert!(matches!(status, 201 | 503), "post {i}: {status} {body}");
        if *status == 503 {
            unavailable += 1;
            assert!(*retry, "post {i}: a 503 says when to retry");
            assert_eq!(body["error"]["code"], "unavailable", "{body}");
        }
    }
    // Afterwards every 201 is there.
    let (_, locations) = app.get_json("/api/catalog/locations").await;
    let stored: Vec<String> =
        locations.as_array().unwrap().iter().filter_map(|l| l["data"]["target"].as_str().map(str::to_owned)).collect();
    for (i, (status, _, _)) in answers.iter().enumerate() {
        if *status == 201 {
            assert!(stored.iter().any(|t| t.ends_with(&format!("c{i}.yaml"))), "post {i} answered 201 and is stored");
        }
    }
    assert!(unavailable < 40, "some requests got through between the terminations");
    eprintln!("{unavailable} of 40 answered 503");
}

/// 9 and 10: refs are written lower-cased whole, as Backstage's `stringifyEntityRef` does
/// (relation targets, the change feed, portal views), while the entity's own fields keep their
/// case; string ref lists are sorted as JavaScript's `sort()` sorts them.
async fn refs_are_lower_cased_whole_and_ref_lists_sorted_as_backstage_does(db: Db) {
    let dir = temp_dir();
    let file = write_file(
        dir.path(),
        "billing.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Billing-Svc\nspec:\n  type: service\n  lifecycle: production\n  owner: Team-A\n  system: LENDING\n  dependsOn: [resource:zeta, Resource:Alpha, resource:alpha]\n  providesApis: [Pay, billing]\n",
    );
    let app = spawn_with(db, vec![file], |_, _| {}).await;
    let (status, e) = app.entity("component", "default", "billing-svc").await;
    assert_eq!(status, 200, "lookups stay case-insensitive: {e}");
    assert_eq!(e["metadata"]["name"], "Billing-Svc");
    assert_eq!(e["spec"]["system"], "LENDING", "the body stays as written");
    let rels = relation_pairs(&e);
    for rel in [
        "ownedBy>group:default/team-a",
        "partOf>system:default/lending",
        "dependsOn>resource:default/alpha",
        "providesApi>api:default/pay",
    ] {
        assert!(rels.contains(&rel.to_owned()), "{rel} in {rels:?}");
    }
    assert!(!rels.iter().any(|r| r.split('>').nth(1).unwrap().chars().any(|c| c.is_ascii_uppercase())), "{rels:?}");
    assert_eq!(e["spec"]["dependsOn"], json!(["Resource:Alpha", "resource:alpha", "resource:zeta"]));
    assert_eq!(e["spec"]["providesApis"], json!(["Pay", "billing"]), "upper case sorts first");
    let (_, feed) = app.get_json("/api/catalog/events?limit=1000").await;
    let refs: Vec<&str> = feed["items"].as_array().unwrap().iter().filter_map(|i| i["entityRef"].as_str()).collect();
    assert!(refs.contains(&"component:default/billing-svc"), "{refs:?}");
    let (_, findings) = app.get_json("/api/portal/findings?entity=component:default/billing-svc").await;
    let findings = findings["items"].as_array().unwrap();
    assert!(!findings.is_empty(), "the dangling owner and system are findings");
    for f in findings {
        assert_eq!(f["entityRef"], "component:default/billing-svc", "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_lost_database_connection_is_a_503_never_a_500() {
    a_lost_database_connection_is_a_503_never_a_500().await
}

/// Found by schemathesis: a served path asked with another method answers 405 with `Allow` (it
/// was a 404), and a body documented as an object is refused when it is a list (serde read
/// `[]` as an empty struct, so it was a 200).
async fn other_methods_are_405_and_list_bodies_are_refused_where_an_object_is_documented(db: Db) {
    let app = spawn_app(db).await;
    let res = app.client.request(reqwest::Method::PATCH, app.url("/api/catalog/entities")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET");
    let body: Value = res.json().await.unwrap();
    assert_error(&body, 405, "MethodNotAllowedError", "method_not_allowed");
    let res = app.client.request(reqwest::Method::PATCH, app.url("/api/no-such-route")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let (status, body) = app.post_json("/api/catalog/locations/by-query", &json!([])).await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("expected an object, got a list"), "{body}");
    let (status, body) = app.post_json("/api/catalog/locations/by-query", &json!({})).await;
    assert_eq!(status, 200, "{body}");
}

/// Found by schemathesis on PostgreSQL: a NUL character in a query parameter reached the
/// database, which refuses it in text, and the answer was a 500.
async fn a_nul_character_in_a_parameter_is_a_400(db: Db) {
    let app = spawn_app(db).await;
    for path in [
        "/api/catalog/entity-facets?facet=%00kind",
        "/api/catalog/entity-facets?facet=kind&filter=%00a",
        "/api/portal/subscriptions?consumer=K%00",
        "/api/catalog/entities?filter=metadata.name=%00x",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert!(status == 400 || status == 200, "{path}: {status} {body}");
        if status == 400 {
            assert_eq!(body["error"]["code"], "invalid_input", "{path}: {body}");
        }
    }
}

both!(
    a_nul_character_in_a_parameter_is_a_400,
    other_methods_are_405_and_list_bodies_are_refused_where_an_object_is_documented,
    refs_are_lower_cased_whole_and_ref_lists_sorted_as_backstage_does,
    requests_refused_before_any_handler_answer_json,
    error_messages_name_the_field_in_the_users_words,
    startup_placeholders_stay_inside_their_folder,
    put_on_a_location_refuses_what_post_refuses,
    filters_and_terms_past_their_limits_are_a_400_naming_the_limit,
    encoded_dot_segments_do_not_escape_an_allowed_path,
);
