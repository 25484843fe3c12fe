//! Who may act on offerings, as the policy says: every offerings and gateway route as
//! anonymous, reader, consumer owner, platform owner and admin; and API keys never reach the log.

use portolan::auth::policy::Rule;
use serde_json::{Value, json};

use crate::fixtures::{ORG, flow_component as component};
use crate::helpers::{
    CONFIG_TOKEN, Db, Roles, call, config_token, secured, serve_logged, spawn_with_yaml, temp_dir, write_file,
};

const GATEWAY_TOKEN: &str = "ptk_config-gateway-token-0123456789ab";

/// An API offered by team-b's platform, and team-a components to subscribe with.
fn offering_yaml() -> String {
    let mut text = String::from(
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: matrix-api}\nspec: {type: openapi, lifecycle: production, owner: team-b, definition: x}\n\
         ---\napiVersion: portolan.dev/v1alpha1\nkind: Platform\nmetadata: {name: matrix-platform}\n\
         spec:\n  owner: team-b\n  offerings:\n    - api: matrix-api\n      plans:\n        - {name: auto, approval: auto}\n        - {name: manual, approval: manual}\n        - {name: other, approval: auto}\n",
    );
    for i in 1..=12 {
        text.push_str(&format!("---\n{}", component(&format!("m{i}"), "team-a")));
    }
    text
}

/// The roles of the offerings matrix: alice's team-a owns the consumers, bob's team-b the platform.
fn offering_roles(roles: &Roles) -> [(&'static str, Option<&str>); 5] {
    [
        ("anonymous", None),
        ("reader", Some(&roles.reader)),
        ("consumer owner", Some(&roles.alice)),
        ("platform owner", Some(&roles.bob)),
        ("admin", Some(&roles.carol)),
    ]
}

/// Every offerings and gateway route as anonymous, reader, consumer owner, platform owner and admin.
async fn every_offerings_route_answers_each_role_as_the_policy_says(db: Db) {
    let app = spawn_with_yaml(db, &[("org.yaml", ORG.to_owned()), ("offering.yaml", offering_yaml())], |s, d| {
        secured(s, d);
        s.auth.as_mut().unwrap().tokens.service.push(config_token("gateway", GATEWAY_TOKEN, "gateway:check"));
    })
    .await;
    let roles = Roles::new();
    let admin = Some(roles.carol.as_str());
    let mut covered: Vec<(&str, &str)> = Vec::new();
    let subscribe = |consumer: &'static str, plan: &'static str| {
        let app = &app;
        async move {
            let body = json!({"api": "matrix-api", "plan": plan, "consumer": consumer});
            let (status, s) = call(app, "POST", "/api/portal/subscriptions", admin, Some(&body)).await;
            assert_eq!(status, 201, "{s}");
            s["id"].as_str().unwrap().to_owned()
        }
    };

    // Reads.
    let m6 = subscribe("m6", "auto").await;
    for path in [
        "/api/portal/offerings".to_owned(),
        "/api/portal/offerings/default/matrix-api".to_owned(),
        "/api/portal/subscriptions".to_owned(),
        format!("/api/portal/subscriptions/{m6}"),
    ] {
        for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 200, 200, 200, 200]) {
            let (status, body) = call(&app, "GET", &path, token, None).await;
            assert_eq!(status, want, "GET {path} as {role}: {body}");
        }
    }
    covered.extend([
        ("GET", "/api/portal/offerings"),
        ("GET", "/api/portal/offerings/{namespace}/{api}"),
        ("GET", "/api/portal/subscriptions"),
        ("GET", "/api/portal/subscriptions/{id}"),
    ]);

    // Request (the consumer's owner).
    for ((role, token), (consumer, want)) in
        offering_roles(&roles).into_iter().zip([("m1", 401), ("m1", 403), ("m1", 201), ("m2", 403), ("m3", 201)])
    {
        let body = json!({"api": "matrix-api", "plan": "auto", "consumer": consumer});
        let (status, out) = call(&app, "POST", "/api/portal/subscriptions", token, Some(&body)).await;
        assert_eq!(status, want, "POST /api/portal/subscriptions as {role}: {out}");
        if role == "platform owner" {
            assert!(out["error"]["message"].as_str().unwrap().contains("owned by group:default/team-a"), "{out}");
        }
    }
    covered.push(("POST", "/api/portal/subscriptions"));

    // The platform's actions: approve, reject (pending), pause, resume, transfer (active).
    let platform_side = [401, 403, 403, 200, 200];
    for (action, plan, from) in [
        ("approve", "manual", None),
        ("reject", "manual", None),
        ("pause", "auto", None),
        ("resume", "auto", Some("pause")),
        ("transfer", "auto", None),
    ] {
        let mut ids = Vec::new();
        for consumer in ["m4", "m5"] {
            let id = subscribe(consumer, plan).await;
            if let Some(first) = from {
                assert_eq!(
                    call(&app, "POST", &format!("/api/portal/subscriptions/{id}/{first}"), admin, Some(&json!({})))
                        .await
                        .0,
                    200
                );
            }
            ids.push(id);
        }
        for ((role, token), want) in offering_roles(&roles).into_iter().zip(platform_side) {
            let id = if role == "admin" { &ids[1] } else { &ids[0] };
            let body = json!({"plan": "other", "reason": "matrix"});
            let (status, out) =
                call(&app, "POST", &format!("/api/portal/subscriptions/{id}/{action}"), token, Some(&body)).await;
            assert_eq!(status, want, "{action} as {role}: {out}");
        }
        for id in &ids {
            // Rejected ones are final already.
            let (status, out) =
                call(&app, "POST", &format!("/api/portal/subscriptions/{id}/close"), admin, Some(&json!({}))).await;
            assert!(status == 200 || (action == "reject" && status == 409), "{action}: {out}");
        }
    }
    // Close (the consumer's owner).
    let ids = [subscribe("m4", "auto").await, subscribe("m5", "auto").await];
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 200, 403, 200]) {
        let id = if role == "admin" { &ids[1] } else { &ids[0] };
        let (status, out) =
            call(&app, "POST", &format!("/api/portal/subscriptions/{id}/close"), token, Some(&json!({}))).await;
        assert_eq!(status, want, "close as {role}: {out}");
    }
    covered.push(("POST", "/api/portal/subscriptions/{id}/{action}"));

    // Keys (the consumer's owner; listing for either party).
    let sub = subscribe("m7", "auto").await;
    let keys_path = format!("/api/portal/subscriptions/{sub}/keys");
    let mut keys: Vec<Value> = Vec::new();
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 201, 403, 201]) {
        let (status, out) = call(&app, "POST", &keys_path, token, Some(&json!({}))).await;
        assert_eq!(status, want, "POST keys as {role}: {out}");
        if status == 201 {
            keys.push(out);
        }
    }
    covered.push(("POST", "/api/portal/subscriptions/{id}/keys"));
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 200, 200, 200]) {
        let (status, out) = call(&app, "GET", &keys_path, token, None).await;
        assert_eq!(status, want, "GET keys as {role}: {out}");
        if status == 200 {
            assert!(!out.to_string().contains(keys[0]["key"].as_str().unwrap()), "no secret in the list");
        }
    }
    covered.push(("GET", "/api/portal/subscriptions/{id}/keys"));
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 201, 403, 201]) {
        let key = if role == "admin" { &keys[1] } else { &keys[0] };
        let (status, out) = call(
            &app,
            "POST",
            &format!("/api/portal/keys/{}/rotate", key["id"].as_str().unwrap()),
            token,
            Some(&json!({})),
        )
        .await;
        assert_eq!(status, want, "rotate as {role}: {out}");
        if status == 201 {
            keys.push(out);
        }
    }
    covered.push(("POST", "/api/portal/keys/{id}/rotate"));
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 204, 403, 204]) {
        let key = if role == "admin" { &keys[3] } else { &keys[2] };
        let (status, out) =
            call(&app, "DELETE", &format!("/api/portal/keys/{}", key["id"].as_str().unwrap()), token, None).await;
        assert_eq!(status, want, "DELETE key as {role}: {out}");
    }
    covered.push(("DELETE", "/api/portal/keys/{id}"));

    // The gateway: service tokens with gateway:check, and admins.
    let live = keys[0]["key"].as_str().unwrap().to_owned();
    let check = json!({"key": live, "api": "matrix-api"});
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 403, 403, 200]) {
        let (status, out) = call(&app, "POST", "/api/gateway/check", token, Some(&check)).await;
        assert_eq!(status, want, "POST /api/gateway/check as {role}: {out}");
    }
    let (status, out) = call(&app, "POST", "/api/gateway/check", Some(GATEWAY_TOKEN), Some(&check)).await;
    assert_eq!((status, out["reason"].as_str()), (200, Some("ok")), "the gateway's token: {out}");
    let (status, _) = call(&app, "POST", "/api/gateway/check", Some(CONFIG_TOKEN), Some(&check)).await;
    assert_eq!(status, 403, "a catalog:write token may not check keys");
    covered.push(("POST", "/api/gateway/check"));
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 403, 403, 204]) {
        let mut req = app.client.get(app.url("/api/gateway/auth?api=matrix-api")).header("X-Api-Key", &live);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), want, "GET /api/gateway/auth as {role}");
    }
    let res = app
        .client
        .get(app.url("/api/gateway/auth?api=matrix-api"))
        .header("X-Api-Key", &live)
        .bearer_auth(GATEWAY_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    // A token is needed here, so a Bearer API key is no credential: 401.
    let res = app.client.get(app.url("/api/gateway/auth?api=matrix-api")).bearer_auth(&live).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    covered.push(("GET", "/api/gateway/auth"));

    // The matrix covers every offerings and gateway row of the policy table.
    let rows: Vec<(&str, &str)> = portolan::routes::all()
        .map(|r| (r.method, r.path, r.rule))
        .filter(|(_, p, r)| {
            // The web UI's forms (tests/api/ui.rs has their matrix) aside.
            p.starts_with("/api/") && matches!(r, Rule::Party(_) | Rule::Scope("gateway:check"))
                || p.starts_with("/api/portal/offerings")
                || p.starts_with("/api/portal/subscriptions")
                || p.starts_with("/api/portal/keys")
                || p.starts_with("/api/gateway")
        })
        .map(|(m, p, _)| (m, p))
        .collect();
    assert_eq!(rows.len(), 12);
    for r in &rows {
        assert!(covered.contains(r), "the offerings role matrix does not cover {r:?}");
    }
}

/// API keys never reach the log of a real `portolan serve`: not when issued, checked (both
/// forms), rotated or revoked.
async fn api_keys_never_reach_the_log(db: Db) {
    let dir = temp_dir();
    let f = crate::fixtures::offerings();
    let database = crate::helpers::fresh_database(db, dir.path());
    let paths: Vec<String> = f.files.iter().map(|p| format!("\"{}\"", p.display())).collect();
    let config = write_file(
        dir.path(),
        "portolan.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nlog_format = \"json\"\nworkers = 1\n[database]\nurl = \"{database}\"\n\
             [catalog]\npaths = [{}]\n",
            paths.join(", ")
        ),
    );
    let (mut child, log, port) = serve_logged(&config).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    let sub: Value =
        post("/api/portal/subscriptions", json!({"api": "pay-api", "plan": "free", "consumer": "shop-app"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let id = sub["id"].as_str().unwrap();
    let key: Value =
        post(&format!("/api/portal/subscriptions/{id}/keys"), json!({})).await.unwrap().json().await.unwrap();
    let secret = key["key"].as_str().unwrap().to_owned();
    let checked: Value =
        post("/api/gateway/check", json!({"key": secret, "api": "pay-api"})).await.unwrap().json().await.unwrap();
    assert_eq!(checked["reason"], "ok", "{checked}");
    let wrong = "ptl_0123456789ab_wrong-key-value-abcdefghijklmnop";
    let checked: Value =
        post("/api/gateway/check", json!({"key": wrong, "api": "pay-api"})).await.unwrap().json().await.unwrap();
    assert_eq!(checked["reason"], "unknown_key");
    for (header, value) in [("x-api-key", secret.clone()), ("authorization", format!("Bearer {secret}"))] {
        let res =
            client.get(format!("{base}/api/gateway/auth?api=pay-api")).header(header, value).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 204);
    }
    let rotated: Value = post(&format!("/api/portal/keys/{}/rotate", key["id"].as_str().unwrap()), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["key"].as_str().unwrap().to_owned();
    let res =
        client.delete(format!("{base}/api/portal/keys/{}", rotated["id"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 204);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("Issued an API key.") && log.contains(key["prefix"].as_str().unwrap()),
        "key events are logged by prefix: {log}"
    );
    // `ptl_<prefix>_<secret>`; the secret itself may hold `_` (URL-safe base64), so it is all
    // that follows the second `_`, not what follows the last (a one-letter tail is in any log).
    let secret_part = |k: &str| k.splitn(3, '_').nth(2).map(str::to_owned).unwrap();
    for s in [secret.clone(), secret_part(&secret), new_secret.clone(), secret_part(&new_secret), wrong.to_owned()] {
        assert!(
            !log.contains(&s),
            "a key reached the log: {s}\n{}",
            log.lines().filter(|l| l.contains(&s)).collect::<Vec<_>>().join("\n")
        );
    }
    drop(f);
}

crate::both!(every_offerings_route_answers_each_role_as_the_policy_says, api_keys_never_reach_the_log);
