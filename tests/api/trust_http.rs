//! Cross-site requests change nothing, and sign-in redirects stay on the portal: JSON-only API
//! bodies (415), bodies that are present always parse, the Origin of cookie-authenticated changes
//! (403), guest mode's Host check (421), the UI's session-bound CSRF token and its cookie, and the
//! sign-in `redirect` rule.

use std::path::Path;

use portolan::auth::tokens::Keys;
use portolan::config::{AuthSettings, Secret, TokenSettings};
use portolan::settings::Settings;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, assert_error, spawn_with};

const SIGNING_KEY: &str = "trust-test-signing-key-4f2a9c7e1b3d";

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The offerings fixture (platform-team's pay-api with a manual `gold` plan, shop-team's
/// components), in guest mode unless `tweak` says otherwise.
async fn spawn(db: Db, tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
    let f = crate::offerings::fixture();
    let mut app = spawn_with(db, f.files.clone(), tweak).await;
    app.keep.push(f.dir);
    app
}

/// Auth on, anonymous access off, `user:default/root` an admin, a known key; `base_url` given.
fn secured(s: &mut Settings, _: &Path) {
    s.auth = Some(AuthSettings {
        guest: Some(false),
        anonymous_read: Some(false),
        admins: vec!["user:default/root".into()],
        base_url: Some("https://portal.example".into()),
        tokens: TokenSettings { signing_keys: vec![Secret::new(SIGNING_KEY)], ..TokenSettings::default() },
        ..AuthSettings::default()
    });
}

fn keys() -> Keys {
    Keys::from_settings(&TokenSettings { signing_keys: vec![Secret::new(SIGNING_KEY)], ..TokenSettings::default() })
}

/// An access token for `user:default/<user>`, member of `group:default/<group>`.
fn token(user: &str, group: &str) -> String {
    keys()
        .issue(
            &format!("user:default/{user}"),
            &[format!("user:default/{user}"), format!("group:default/{group}")],
            false,
            None,
            false,
        )
        .unwrap()
}

/// A request with the given headers and raw body; status and JSON body (`Null` if not JSON).
async fn send(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, Value) {
    let res = request(app, method, path, headers, body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn request(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> reqwest::Response {
    let mut req = client().request(method.parse().unwrap(), app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    req.send().await.expect("request")
}

const JSON_TYPE: (&str, &str) = ("content-type", "application/json");

/// A pending subscription of `consumer` to pay-api's manual plan (guest mode).
async fn pending(app: &TestApp, consumer: &str) -> String {
    let body = json!({"api": "pay-api", "plan": "gold", "consumer": consumer}).to_string();
    let (status, s) = send(app, "POST", "/api/portal/subscriptions", &[JSON_TYPE], Some(&body)).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["status"], "pending", "{s}");
    s["id"].as_str().unwrap().to_owned()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let (status, s) = app.get_json(&format!("/api/portal/subscriptions/{id}")).await;
    assert_eq!(status, 200, "{s}");
    s["status"].as_str().unwrap().to_owned()
}

/// A form on another site can post urlencoded, multipart or text/plain bodies, never JSON: every
/// API route that takes a body answers those 415, before anything happens.
async fn a_form_encoded_cross_site_approve_is_refused_with_415(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let id = pending(&app, "component:default/shop-app").await;
    let approve = format!("/api/portal/subscriptions/{id}/approve");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let (status, body) = send(&app, "POST", &approve, &[form], Some("reason=ok")).await;
    assert_eq!(status, 415, "{body}");
    assert_error(&body, 415, "UnsupportedMediaTypeError", "unsupported_media_type");
    assert!(body["error"]["message"].as_str().unwrap().contains("application/json"), "names the type: {body}");
    for headers in
        [vec![("content-type", "text/plain")], vec![("content-type", "multipart/form-data; boundary=x")], vec![]]
    {
        let (status, body) = send(&app, "POST", &approve, &headers, Some(r#"{"reason": "ok"}"#)).await;
        assert_eq!(status, 415, "{headers:?}: {body}");
    }
    assert_eq!(status_of(&app, &id).await, "pending", "nothing was approved");

    // Routes whose body is required, and the usage intake (JSON or NDJSON).
    let subscribe = json!({"api": "pay-api", "plan": "free", "consumer": "component:default/shop-pos"}).to_string();
    let (status, _) = send(&app, "POST", "/api/portal/subscriptions", &[form], Some(&subscribe)).await;
    assert_eq!(status, 415);
    let (status, _) = send(&app, "POST", "/api/portal/subscriptions", &[], None).await;
    assert_eq!(status, 415, "a required JSON body that is missing");
    let refs = r#"{"entityRefs": ["component:default/shop-app"]}"#;
    let (status, _) =
        send(&app, "POST", "/api/catalog/entities/by-refs", &[("content-type", "text/plain")], Some(refs)).await;
    assert_eq!(status, 415);
    let (status, body) = send(
        &app,
        "POST",
        "/api/catalog/entities/by-refs",
        &[("content-type", "Application/JSON; charset=utf-8")],
        Some(refs),
    )
    .await;
    assert_eq!(status, 200, "JSON with parameters: {body}");
    let event = json!({"time": "2026-01-01T00:00:00Z", "api": "pay-api", "consumer": "shop-app"}).to_string();
    let (status, body) = send(&app, "POST", "/api/usage/events", &[("content-type", "text/plain")], Some(&event)).await;
    assert_eq!(status, 415, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("application/x-ndjson"), "{body}");
    let (status, body) =
        send(&app, "POST", "/api/usage/events", &[("content-type", "application/x-ndjson")], Some(&event)).await;
    assert_ne!(status, 415, "NDJSON is the intake's: {body}");

    // Webhooks keep their own rules; UI forms are forms (their CSRF token refuses this one).
    let (status, _) = send(&app, "POST", "/api/webhooks/github", &[form], Some("payload=x")).await;
    assert_ne!(status, 415);
    let (status, _) = send(&app, "POST", &format!("/approvals/{id}"), &[form], Some("decision=approve")).await;
    assert_eq!(status, 403);
    assert_eq!(status_of(&app, &id).await, "pending");

    // Without a cookie (guest mode), an Origin that is present must still be the portal's.
    let evil = ("origin", "https://evil.example");
    let (status, body) = send(&app, "POST", &approve, &[JSON_TYPE, evil], Some("{}")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(status_of(&app, &id).await, "pending");

    // A body-less approve (curl -XPOST) still works: the body is optional there.
    let (status, body) = send(&app, "POST", &approve, &[], None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");
}

/// Where the body is optional, one that is present is read in full: a wrong type, an unknown
/// field, bad JSON or too many bytes is an error, never a silent default.
async fn a_present_body_must_parse_where_it_is_optional(db: Db) {
    let app = spawn(db, |s, _| s.server.max_body_bytes = 2048).await;
    let id = pending(&app, "component:default/shop-batch").await;
    let approve = format!("/api/portal/subscriptions/{id}/approve");
    for (body, names) in [
        (r#"{"reason": 5}"#.to_owned(), "reason"),
        (r#"{"reasn": "typo"}"#.to_owned(), "reasn"),
        (r#"{"plan": ["gold"]}"#.to_owned(), "plan"),
        ("{oops".to_owned(), "not valid JSON"),
        ("[]".to_owned(), "object"),
    ] {
        let (status, out) = send(&app, "POST", &approve, &[JSON_TYPE], Some(&body)).await;
        assert_eq!(status, 400, "{body}: {out}");
        assert_error(&out, 400, "InputError", "invalid_input");
        assert!(out["error"]["message"].as_str().unwrap().contains(names), "{body}: {out}");
    }
    let big = json!({"reason": "x".repeat(4096)}).to_string();
    let (status, out) = send(&app, "POST", &approve, &[JSON_TYPE], Some(&big)).await;
    assert_eq!(status, 413, "{out}");
    assert_error(&out, 413, "PayloadTooLargeError", "payload_too_large");
    for action in ["reject", "pause", "resume", "close"] {
        let (status, out) = send(
            &app,
            "POST",
            &format!("/api/portal/subscriptions/{id}/{action}"),
            &[JSON_TYPE],
            Some(r#"{"reason": true}"#),
        )
        .await;
        assert_eq!(status, 400, "{action}: {out}");
    }
    assert_eq!(status_of(&app, &id).await, "pending", "nothing happened");
    let (status, out) = send(&app, "POST", &approve, &[JSON_TYPE], Some(r#"{"reason": "ok"}"#)).await;
    assert_eq!(status, 200, "{out}");

    let keys = format!("/api/portal/subscriptions/{id}/keys");
    let (status, out) = send(&app, "POST", &keys, &[JSON_TYPE], Some(r#"{"expiresInDays": "soon"}"#)).await;
    assert_eq!(status, 400, "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("expiresInDays"), "{out}");
    let (_, list) = app.get_json(&keys).await;
    assert_eq!(list["items"], json!([]), "no key was made");
    let (status, key) = send(&app, "POST", &keys, &[], None).await;
    assert_eq!(status, 201, "a body-less request: {key}");
    let rotate = format!("/api/portal/keys/{}/rotate", key["id"].as_str().unwrap());
    let (status, out) = send(&app, "POST", &rotate, &[JSON_TYPE], Some(r#"{"overlapHours": "a day"}"#)).await;
    assert_eq!(status, 400, "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("overlapHours"), "{out}");
    let (_, list) = app.get_json(&keys).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "nothing was rotated: {list}");
    let (status, out) = send(&app, "POST", &rotate, &[JSON_TYPE], Some(r#"{"overlapHours": 1}"#)).await;
    assert_eq!(status, 201, "{out}");
}

async fn uid(app: &TestApp, bearer: &str, name: &str) -> Option<String> {
    let auth = format!("Bearer {bearer}");
    let (status, e) = send(
        app,
        "GET",
        &format!("/api/catalog/entities/by-name/component/default/{name}"),
        &[("authorization", auth.as_str())],
        None,
    )
    .await;
    (status == 200).then(|| e["metadata"]["uid"].as_str().unwrap().to_owned())
}

/// A change sent with the session cookie must name the portal as its origin (its own address,
/// or `auth.base_url`), or carry `Sec-Fetch-Site: same-origin`; a Bearer token is not checked.
async fn cookie_changes_need_the_portals_origin(db: Db) {
    let app = spawn(db, secured).await;
    let root = token("root", "admins");
    let cookie = format!("portolan_token={root}");
    let shop_app = uid(&app, &root, "shop-app").await.expect("shop-app exists");
    let delete = format!("/api/catalog/entities/by-uid/{shop_app}");
    for (what, origin) in [
        ("another site", Some("https://evil.example")),
        ("a sibling subdomain", Some("https://evil.portal.example")),
        ("the portal over http", Some("http://portal.example")),
        ("an opaque origin", Some("null")),
        ("no Origin", None),
    ] {
        let mut headers = vec![("cookie", cookie.as_str())];
        if let Some(o) = origin {
            headers.push(("origin", o));
        }
        let (status, body) = send(&app, "DELETE", &delete, &headers, None).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert_error(&body, 403, "NotAllowedError", "forbidden");
        // The refresh cookie alone is a session cookie too.
        let (status, _) = send(&app, "POST", "/api/auth/logout", &[("cookie", "portolan_refresh=x")], None).await;
        assert_eq!(status, 403, "{what}: logout with the refresh cookie");
    }
    // A JSON approve with the cookie from another site: refused before the body is read.
    let (status, _) = send(
        &app,
        "POST",
        "/api/portal/subscriptions/some-id/approve",
        &[("cookie", cookie.as_str()), ("origin", "https://evil.example"), JSON_TYPE],
        Some("{}"),
    )
    .await;
    assert_eq!(status, 403);
    assert!(uid(&app, &root, "shop-app").await.is_some(), "nothing was deleted");

    // The portal's own pages: its address, auth.base_url, or the browser's Sec-Fetch-Site.
    let own = app.address.clone();
    for headers in [
        vec![("cookie", cookie.as_str()), ("origin", own.as_str())],
        vec![("cookie", cookie.as_str()), ("origin", "https://portal.example")],
        vec![("cookie", cookie.as_str()), ("origin", "https://PORTAL.example:443")],
        vec![("cookie", cookie.as_str()), ("sec-fetch-site", "same-origin")],
    ] {
        let (status, body) = send(&app, "POST", "/api/auth/logout", &headers, None).await;
        assert_eq!(status, 204, "{headers:?}: {body}");
    }
    // A Bearer token is no ambient credential: its Origin does not matter.
    let shop_pos = uid(&app, &root, "shop-pos").await.unwrap();
    let bearer = format!("Bearer {root}");
    let (status, body) = send(
        &app,
        "DELETE",
        &format!("/api/catalog/entities/by-uid/{shop_pos}"),
        &[("authorization", bearer.as_str()), ("origin", "https://evil.example")],
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) =
        send(&app, "DELETE", &delete, &[("cookie", cookie.as_str()), ("origin", own.as_str())], None).await;
    assert_eq!(status, 204, "{body}");
    assert!(uid(&app, &root, "shop-app").await.is_none());
}

/// Guest mode answers only to loopback names and `server.allowed_hosts`: a DNS-rebinding name
/// (any other) gets 421, on the API and the UI alike; probes answer any name.
async fn guest_mode_answers_only_loopback_and_allowed_hosts(db: Db) {
    let app = spawn(db, |s, _| s.server.allowed_hosts = vec!["portal.lab.example".into(), "fd00::5".into()]).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1.nip.io".to_owned(),
        "localhost.evil.example".to_owned(),
        format!("10.0.0.7:{port}"),
        "0.0.0.0".to_owned(),
    ] {
        let (status, body) = send(&app, "GET", "/api/catalog/entities", &[("host", host.as_str())], None).await;
        assert_eq!(status, 421, "{host}: {body}");
        assert_error(&body, 421, "MisdirectedRequestError", "misdirected_request");
        assert!(body["error"]["message"].as_str().unwrap().contains("server.allowed_hosts"), "{body}");
        let res = request(&app, "GET", "/", &[("host", host.as_str())], None).await;
        assert_eq!(res.status().as_u16(), 421, "{host}: the UI too");
        let (status, _) = send(&app, "GET", "/healthz", &[("host", host.as_str())], None).await;
        assert_eq!(status, 200, "{host}: probes answer");
    }
    for host in [
        format!("localhost:{port}"),
        "LOCALHOST.".to_owned(),
        format!("portolan.localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "127.8.9.10".to_owned(),
        format!("[::1]:{port}"),
        "portal.lab.example:8080".to_owned(),
        "Portal.Lab.Example".to_owned(),
        "[fd00::5]:80".to_owned(),
    ] {
        let (status, body) = send(&app, "GET", "/api/catalog/entities", &[("host", host.as_str())], None).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    // Not in guest mode: the name does not matter (credentials do).
    let secured_app = spawn(db, secured).await;
    let (status, _) = send(&secured_app, "GET", "/api/catalog/entities", &[("host", "evil.example")], None).await;
    assert_eq!(status, 401);
}

fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

fn form_token(html: &str) -> Option<String> {
    html.split("name=\"csrf\" value=\"").nth(1).map(|r| r.split('"').next().unwrap_or("").to_owned())
}

/// The UI's CSRF token is an HMAC of the browser's cookie and the session: a cookie another site
/// sets (with a token it got for itself, or as a double-submit pair) gives no valid token.
async fn the_csrf_token_is_bound_to_the_browser_and_the_session(db: Db) {
    let app = spawn(db, secured).await;
    let own = app.address.clone();
    let (eve, sam) = (token("eve", "other-team"), token("sam", "shop-team"));
    // The attacker's own browser: a seed cookie and the token for it.
    let res = request(&app, "GET", "/", &[("cookie", format!("portolan_token={eve}").as_str())], None).await;
    let seed = cookie_value(&set_cookie(&res, "portolan_csrf").expect("a seed cookie"));
    let eve_token = form_token(&res.text().await.unwrap()).expect("the sign-out form's token");
    assert_ne!(eve_token, seed, "the token is no copy of the cookie");
    let subscribe = |cookie: String, csrf: String| {
        let app = &app;
        let own = own.clone();
        async move {
            let form = serde_urlencoded::to_string([
                ("csrf", csrf.as_str()),
                ("plan", "gold"),
                ("consumer", "component:default/shop-kiosk"),
            ])
            .unwrap();
            request(
                app,
                "POST",
                "/apis/default/pay-api/subscribe",
                &[
                    ("cookie", cookie.as_str()),
                    ("origin", own.as_str()),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                Some(&form),
            )
            .await
        }
    };
    let victim = format!("portolan_token={sam}; portolan_csrf={seed}");
    for (what, cookie, csrf) in [
        ("the attacker's seed and token, in the victim's session", victim.clone(), eve_token.clone()),
        ("a double-submit pair", format!("portolan_token={sam}; portolan_csrf={}", "d".repeat(40)), "d".repeat(40)),
        ("the seed as the token", victim.clone(), seed.clone()),
    ] {
        let res = subscribe(cookie, csrf).await;
        assert_eq!(res.status().as_u16(), 403, "{what}");
        assert!(res.text().await.unwrap().contains("CSRF"), "{what}: the page says why");
    }
    let (_, subs) = send(
        &app,
        "GET",
        "/api/portal/subscriptions?consumer=component:default/shop-kiosk",
        &[("authorization", format!("Bearer {sam}").as_str())],
        None,
    )
    .await;
    assert_eq!(subs["items"], json!([]), "nothing was subscribed: {subs}");
    // The victim's own page gives the token of their session.
    let res = request(&app, "GET", "/", &[("cookie", victim.as_str())], None).await;
    let sam_token = form_token(&res.text().await.unwrap()).unwrap();
    assert_ne!(sam_token, eve_token, "another session, another token");
    let res = subscribe(victim, sam_token).await;
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
}

/// The seed cookie is `Secure` whenever the portal is served over https, and assets never set it.
async fn the_csrf_cookie_is_secure_over_https_and_never_on_assets(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let res = request(&app, "GET", "/", &[], None).await;
    let plain = set_cookie(&res, "portolan_csrf").expect("a seed cookie");
    assert!(!plain.to_ascii_lowercase().contains("secure"), "over http: {plain}");
    assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"), "{plain}");
    let page = res.text().await.unwrap();
    let res = request(&app, "GET", "/", &[("x-forwarded-proto", "https")], None).await;
    let secure = set_cookie(&res, "portolan_csrf").expect("a seed cookie");
    assert!(secure.contains("; Secure"), "over https: {secure}");
    let assets: Vec<&str> =
        page.split("href=\"/ui/assets/").skip(1).chain(page.split("src=\"/ui/assets/").skip(1)).collect();
    assert!(!assets.is_empty());
    for rest in assets {
        let path = format!("/ui/assets/{}", rest.split('"').next().unwrap());
        let res = request(&app, "GET", &path, &[], None).await;
        assert_eq!(res.status().as_u16(), 200, "{path}");
        assert!(set_cookie(&res, "portolan_csrf").is_none(), "{path} sets no cookie");
    }
    // With auth.base_url on https, the cookie is Secure whatever the request says.
    let app = spawn(db, |s, d| {
        secured(s, d);
        s.auth.as_mut().unwrap().anonymous_read = Some(true);
    })
    .await;
    let res = request(&app, "GET", "/signin", &[], None).await;
    assert!(set_cookie(&res, "portolan_csrf").expect("a seed cookie").contains("; Secure"));
}

/// `redirect` must be a path on the portal: `//host`, `/\host`, control characters (also
/// percent-encoded), and absolute URLs are a 400 at the start and on `/signin`.
async fn sign_in_redirects_stay_on_the_portal(db: Db) {
    let app = spawn(db, |s, d| {
        secured(s, d);
        let down = crate::auth::oidc_provider("http://127.0.0.1:9");
        s.auth.as_mut().unwrap().providers.insert("down".into(), down);
    })
    .await;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for bad in [
        "/%09/evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "/.//evil.example",
        "https://evil.example",
        "evil.example",
    ] {
        let (status, body) = send(&app, "GET", &format!("/api/auth/down/start?redirect={}", enc(bad)), &[], None).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_error(&body, 400, "InputError", "invalid_input");
        assert!(body["error"]["message"].as_str().unwrap().contains("redirect"), "{body}");
        let res = request(&app, "GET", &format!("/signin?redirect={}", enc(bad)), &[], None).await;
        assert_eq!(res.status().as_u16(), 400, "/signin {bad:?}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    // A path is fine (the provider is down: 503 after the check).
    let (status, body) = send(&app, "GET", "/api/auth/down/start?redirect=%2Fcatalog%3Fq%3Dx", &[], None).await;
    assert_eq!(status, 503, "{body}");
    let res = request(&app, "GET", "/signin?redirect=%2Fcatalog", &[], None).await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap().contains("/api/auth/down/start?redirect=%2Fcatalog"));
}

/// A sign-in state carrying a redirect the start would now refuse (one signed before the rule)
/// ends at home, never at a 500 or another site.
async fn the_callback_sends_a_bad_redirect_home(db: Db) {
    let Some(provider) = crate::auth::Provider::start().await else { return };
    let issuer = provider.issuer.clone();
    let org = crate::helpers::temp_dir();
    let users = "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: alice}\nspec: {profile: {email: alice@example.com}, memberOf: []}\n";
    let file = crate::helpers::write_file(org.path(), "org.yaml", users);
    let mut app = spawn_with(db, vec![file], |s, d| {
        secured(s, d);
        s.auth.as_mut().unwrap().base_url = None;
        s.auth.as_mut().unwrap().providers.insert("corp".into(), crate::auth::oidc_provider(&issuer));
    })
    .await;
    app.keep.push(org);
    let res = request(&app, "GET", "/api/auth/corp/start?redirect=%2Fcatalog", &[], None).await;
    assert_eq!(res.status().as_u16(), 302);
    let to_provider = res.headers()["location"].to_str().unwrap().to_owned();
    let state = cookie_value(&set_cookie(&res, "portolan_auth_state").unwrap());
    let mut claims: Value = keys().verify(&state).expect("the state is signed with the key");
    claims["redirect"] = json!("/\t/evil.example");
    let forged = keys().sign(&claims).unwrap();
    let res = client().get(&to_provider).send().await.unwrap();
    let callback = res.headers()["location"].to_str().unwrap().to_owned();
    let res = client().get(&callback).header("cookie", format!("portolan_auth_state={forged}")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302, "{}", res.text().await.unwrap());
    assert_eq!(res.headers()["location"], "/", "home instead");
    drop(provider);
}

crate::both!(
    a_form_encoded_cross_site_approve_is_refused_with_415,
    a_present_body_must_parse_where_it_is_optional,
    cookie_changes_need_the_portals_origin,
    guest_mode_answers_only_loopback_and_allowed_hosts,
    the_csrf_token_is_bound_to_the_browser_and_the_session,
    the_csrf_cookie_is_secure_over_https_and_never_on_assets,
    sign_in_redirects_stay_on_the_portal,
    the_callback_sends_a_bad_redirect_home,
);
