//! Catalog data never grants identity, membership or rights: the catalog rules (which kinds a
//! location may hold), sign-in only through trusted Users and Groups, and Backstage's named
//! sign-in resolvers.

use portolan::catalog::rules::{RuleLocation, RuleSetting};
use portolan::config::SignInResolver;
use serde_json::{Value, json};

use crate::auth::{Browser, Provider, oidc_provider};
use crate::both;
use crate::helpers::{Db, TestApp, spawn_secured, spawn_with};

/// What an attacker registers: a User with the attacker's email in the admins' group, a Group
/// that lists the attacker under the admins' group, a Product, and one honest Component.
fn self_made(email: &str) -> String {
    format!(
        r#"apiVersion: backstage.io/v1alpha1
kind: User
metadata: {{name: mallory}}
spec: {{profile: {{email: {email}}}, memberOf: [platform]}}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {{name: infiltrators}}
spec: {{type: team, parent: platform, members: [mallory, bob], children: []}}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {{name: fake-product}}
spec: {{owner: infiltrators}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: honest}}
spec: {{type: service, lifecycle: production, owner: team-b}}
"#
    )
}

async fn register(app: &TestApp, token: Option<&str>, target: &str) -> (u16, Value) {
    app.caller(token).post("/api/catalog/locations", &json!({"type": "file", "target": target})).await
}

async fn status_of(app: &TestApp, token: Option<&str>, path: &str) -> u16 {
    app.caller(token).get(path).await.0
}

async fn errors(app: &TestApp, token: Option<&str>) -> Vec<Value> {
    let (_, body) = app.caller(token).get("/api/catalog/errors").await;
    body["items"].as_array().cloned().unwrap_or_default()
}

async fn api_locations_hold_only_software_kinds_unless_a_rule_allows_more(db: Db) {
    let app = spawn_with(db, vec![], |s, d| s.reading.file_roots = vec![d.to_path_buf()]).await;
    let file = app.write("people.yaml", &self_made("mallory@example.com"));
    let target = file.display().to_string();
    let (status, body) = register(&app, None, &target).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(status_of(&app, None, "/api/catalog/entities/by-name/component/default/honest").await, 200);
    for path in ["user/default/mallory", "group/default/infiltrators", "product/default/fake-product"] {
        assert_eq!(status_of(&app, None, &format!("/api/catalog/entities/by-name/{path}")).await, 404, "{path}");
    }
    // Each refused document is an error on its location, naming the rule.
    let items = errors(&app, None).await;
    for (kind, doc) in [("User", 0), ("Group", 1), ("Product", 2)] {
        let e = items
            .iter()
            .find(|e| e["document"] == doc)
            .unwrap_or_else(|| panic!("no error for document {doc}: {items:?}"));
        let message = e["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("kind {kind} is not allowed from locations registered through the API")),
            "{message}"
        );
        assert!(message.ends_with("; see catalog.rules"), "{message}");
        assert_eq!(e["path"], "/kind");
        assert!(e["source"].as_str().unwrap().ends_with("people.yaml"), "{e}");
    }
    assert_eq!(items.len(), 3, "{items:?}");
}

async fn a_rule_admits_kinds_from_its_locations_and_entities_it_no_longer_admits_are_dropped(db: Db) {
    let rules = |d: &std::path::Path| {
        vec![
            RuleSetting { allow: vec!["Component".into(), "Location".into()], locations: None },
            RuleSetting {
                allow: vec!["User".into(), "Group".into()],
                locations: Some(vec![RuleLocation {
                    kind: "file".into(),
                    target: format!("{}/people*.yaml", d.display()),
                }]),
            },
        ]
    };
    let app = spawn_with(db, vec![], |s, d| {
        s.reading.file_roots = vec![d.to_path_buf()];
        s.catalog.rules = rules(d);
        // Dropped even when orphans are kept.
        s.catalog.orphan_strategy = portolan::catalog::facade::OrphanStrategy::Keep;
    })
    .await;
    let people = app.write("people.yaml", &self_made("mallory@example.com"));
    let other = app.write(
        "other.yaml",
        &self_made("mallory@example.com")
            .replace("mallory", "eve")
            .replace("infiltrators", "crew")
            .replace("honest", "other"),
    );
    assert_eq!(register(&app, None, &people.display().to_string()).await.0, 201);
    assert_eq!(register(&app, None, &other.display().to_string()).await.0, 201);
    assert_eq!(status_of(&app, None, "/api/catalog/entities/by-name/user/default/mallory").await, 200);
    assert_eq!(status_of(&app, None, "/api/catalog/entities/by-name/group/default/infiltrators").await, 200);
    // Outside the rule's locations: refused; the Product is allowed by no rule.
    assert_eq!(status_of(&app, None, "/api/catalog/entities/by-name/user/default/eve").await, 404);
    assert_eq!(status_of(&app, None, "/api/catalog/entities/by-name/product/default/fake-product").await, 404);
    let items = errors(&app, None).await;
    assert!(
        items.iter().any(|e| e["message"].as_str().unwrap().starts_with("kind User is not allowed")
            && e["source"].as_str().unwrap().ends_with("other.yaml")),
        "{items:?}"
    );

    // Without the rule, the next processing of the location drops what it stored.
    let app = app.restart(vec![], |s, d| s.reading.file_roots = vec![d.to_path_buf()]).await;
    assert_eq!(app.refresh("component:default/honest").await, 200);
    assert_eq!(status_of(&app, None, "/api/catalog/entities/by-name/user/default/mallory").await, 404);
    assert_eq!(status_of(&app, None, "/api/catalog/entities/by-name/group/default/infiltrators").await, 404);
    assert_eq!(status_of(&app, None, "/api/catalog/entities/by-name/component/default/honest").await, 200);
}

async fn self_registered_users_and_groups_grant_nothing_at_sign_in(db: Db) {
    let Some(mut provider) = Provider::start().await else { return };
    let issuer = provider.issuer.clone();
    let app = spawn_secured(db, |s, _| {
        let auth = s.auth.as_mut().unwrap();
        auth.providers.insert("corp".into(), oidc_provider(&issuer));
        auth.unmapped = portolan::config::UnmappedPolicy::Reader;
    })
    .await;
    // bob (team-b, not an admin) signs in and registers data naming himself an admin, and a
    // User for a second email of his in the admins' group.
    provider.say("user bob@example.com bob").await;
    let mut browser = Browser::new();
    let (res, _) = browser.follow(&app.url("/api/auth/corp/start?redirect=/api/auth/me")).await;
    let me: Value = res.json().await.unwrap();
    assert_eq!((me["userEntityRef"].as_str(), me["admin"].as_bool()), (Some("user:default/bob"), Some(false)), "{me}");
    let token = browser.cookie(&app.address, "portolan_token").expect("session cookie");
    let file = app.write("me.yaml", &self_made("bob.second@example.com"));
    let (status, body) = register(&app, Some(&token), &file.display().to_string()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(status_of(&app, Some(&token), "/api/catalog/entities/by-name/user/default/mallory").await, 404);

    // Signing in again (and refreshing) grants nothing new.
    let (res, _) = browser.follow(&app.url("/api/auth/corp/start?redirect=/api/auth/me")).await;
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["admin"], false, "{me}");
    assert_eq!(me["groups"], json!(["group:default/team-b"]), "{me}");
    // The second email finds no trusted User: a reader, not mallory in the admins' group.
    provider.say("user bob.second@example.com mallory").await;
    let (res, _) = browser.follow(&app.url("/api/auth/corp/start?redirect=/api/auth/me")).await;
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["admin"], false, "{me}");
    assert_ne!(me["userEntityRef"], "user:default/mallory", "{me}");
    let token = browser.cookie(&app.address, "portolan_token").expect("session cookie");
    let (status, body) = register(&app, Some(&token), &file.display().to_string()).await;
    assert_eq!(status, 403, "a reader may not register: {body}");
    let items = errors(&app, Some(&token)).await;
    assert!(
        items.iter().any(|e| e["message"].as_str().unwrap()
            == "kind User is not allowed from locations registered through the API (the default allows only Component, System, API, Resource and Location); see catalog.rules"),
        "{items:?}"
    );
}

async fn sign_in_never_maps_a_name_onto_someone_else_nor_picks_the_first_of_many(db: Db) {
    let Some(mut provider) = Provider::start().await else { return };
    let issuer = provider.issuer.clone();
    let extra = r#"apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: root}
spec: {profile: {email: root@corp.example}, memberOf: [platform]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: dave}
spec: {memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: twin-one}
spec: {profile: {email: twin@example.com}, memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: twin-two}
spec: {profile: {email: Twin@example.com}, memberOf: [platform]}
"#;
    let app = spawn_secured(db, |s, d| {
        let auth = s.auth.as_mut().unwrap();
        auth.providers.insert("corp".into(), oidc_provider(&issuer));
        let mut named = oidc_provider(&issuer);
        named.sign_in.resolvers = vec![
            SignInResolver::EmailMatchingUserEntityProfileEmail,
            SignInResolver::UsernameMatchingUserEntityName,
            SignInResolver::EmailLocalPartMatchingUserEntityName,
        ];
        auth.providers.insert("named".into(), named);
        s.catalog.paths.push(crate::helpers::write_file(d, "extra.yaml", extra));
    })
    .await;
    let mut browser = Browser::new();
    let sign_in = |provider: &'static str| format!("/api/auth/{provider}/start?redirect=/api/auth/me");

    // A foreign login "root" with another email: the default (email only) finds nobody...
    provider.say("user root@evil.example root").await;
    let (res, _) = browser.follow(&app.url(&sign_in("corp"))).await;
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("no User entity"), "{body}");
    // ...and the name resolvers never map onto a User that declares another email.
    let (res, _) = browser.follow(&app.url(&sign_in("named"))).await;
    assert_eq!(res.status().as_u16(), 403, "a foreign login must not become user:default/root");

    // A name match onto a User without an email works when configured, not by default.
    provider.say("user dave@elsewhere.example dave").await;
    let (res, _) = browser.follow(&app.url(&sign_in("corp"))).await;
    assert_eq!(res.status().as_u16(), 403);
    let (res, _) = browser.follow(&app.url(&sign_in("named"))).await;
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["userEntityRef"], "user:default/dave", "{me}");

    // Two Users with one email: refused, naming both, never "the first".
    provider.say("user twin@example.com twin").await;
    let (res, _) = browser.follow(&app.url(&sign_in("corp"))).await;
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("user:default/twin-one") && message.contains("user:default/twin-two"), "{message}");
}

both!(
    api_locations_hold_only_software_kinds_unless_a_rule_allows_more,
    a_rule_admits_kinds_from_its_locations_and_entities_it_no_longer_admits_are_dropped,
    self_registered_users_and_groups_grant_nothing_at_sign_in,
    sign_in_never_maps_a_name_onto_someone_else_nor_picks_the_first_of_many,
);
