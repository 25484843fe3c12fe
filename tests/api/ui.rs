//! The web UI over HTTP: every page answers HTML with the CSP header and no external request,
//! under the weight budget; UI errors are HTML while /api keeps JSON; forms need the CSRF token;
//! the policy refuses what a page hides; the subscribe -> key journey works through the forms.

use std::path::Path;

use portolan::auth::policy::Rule;
use portolan::config::{AuthSettings, Secret, TokenSettings};
use portolan::settings::Settings;
use reqwest::redirect::Policy;

use crate::helpers::{Db, SIGNING_KEY, TestApp, spawn_app, spawn_with_yaml, user_token as token};

/// Pages of the demo catalog, each reachable from `/`.
const PAGES: &[&str] = &[
    "/",
    "/catalog",
    "/catalog?kind=api&page=1",
    "/catalog?q=cart",
    "/catalog/component/default/cart-service",
    "/catalog/api/default/availability-api",
    "/products",
    "/products/default/checkout",
    "/platforms",
    "/platforms/default/inventory",
    "/apis",
    "/apis?q=stock",
    "/apis/default/availability-api",
    "/subscriptions",
    "/approvals",
    "/dashboard",
    "/dashboard?platform=platform%3Adefault%2Finventory&range=7d",
    "/governance",
    "/governance?severity=error",
    "/governance/graph?entity=component%3Adefault%2Fcart-service",
    "/delivery",
    "/reports",
    "/health",
    "/health?benchmark=2021",
    "/teams/default/checkout-team",
    "/platforms/default/identity",
    "/signin",
    "/create",
    "/create?type=service&q=service",
    "/create/templates/default/new-service",
    "/create/templates/default/new-service?page=3",
];

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Every `src=` and stylesheet `href=` of a page (what a browser would fetch by itself).
fn fetched_urls(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "rel=\"stylesheet\" href=\"", "rel=\"icon\" href=\""] {
        for (before, part) in html.split(attr).zip(html.split(attr).skip(1)) {
            // An iframe is a document of its own: Swagger UI, which the weight budget leaves aside.
            if before.rsplit('<').next().is_some_and(|tag| tag.starts_with("iframe")) {
                continue;
            }
            out.push(part.split('"').next().unwrap_or("").to_owned());
        }
    }
    out
}

/// The value of the CSRF cookie a response set, and the token its forms carry.
fn csrf(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("portolan_csrf=").map(|v| v.split(';').next().unwrap_or("").to_owned()))
}

fn form_token(html: &str) -> Option<String> {
    html.split("name=\"csrf\" value=\"").nth(1).map(|r| r.split('"').next().unwrap_or("").to_owned())
}

async fn pages_are_html_with_csp_no_external_request_and_light(db: Db) {
    let app = spawn_app(db).await;
    let c = client();
    let home = c.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    for nav in [
        "/catalog",
        "/create",
        "/products",
        "/platforms",
        "/apis",
        "/subscriptions",
        "/approvals",
        "/dashboard",
        "/governance",
    ] {
        assert!(home.contains(&format!("href=\"{nav}\"")), "/ links to {nav}");
    }
    for page in PAGES {
        let res = c.get(app.url(page)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{page}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{page}: {ct}");
        let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("default-src 'self'"), "{page}: {csp}");
        let html = res.text().await.unwrap();
        assert!(html.contains("<main"), "{page}");
        assert!(!html.contains("<script>") && !html.contains(" style=\""), "{page}: no inline script or style");
        let mut weight = html.len();
        for url in fetched_urls(&html) {
            assert!(url.starts_with('/') && !url.starts_with("//"), "{page} fetches {url}");
            let asset = c.get(app.url(&url)).send().await.unwrap();
            assert_eq!(asset.status().as_u16(), 200, "{page}: {url}");
            assert!(asset.headers()["cache-control"].to_str().unwrap().contains("max-age="), "{url}");
            weight += asset.bytes().await.unwrap().len();
        }
        assert!(weight < 300_000, "{page} weighs {weight} bytes with its assets");
    }
    // The guest banner says so.
    assert!(home.contains("Guest mode."), "the guest banner shows");
    // Charts are drawn by the server.
    let dash = c
        .get(app.url("/dashboard?platform=platform%3Adefault%2Finventory"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dash.matches("<svg class=\"chart\"").count() >= 3, "the dashboard draws its charts");
}

/// The text of a page (tags dropped, each replaced by a space).
fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
}

/// Every number of a text that is written like a machine's float: a trailing `.0`, or more than
/// three significant digits after a point (`34.933`, `300000000.0`). Parts of dates and times
/// (after `-` or `:`) and versions are not numbers.
fn machine_numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit()
            || (i > 0 && (chars[i - 1].is_alphanumeric() || matches!(chars[i - 1], '-' | ':')))
        {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == ',' || chars[i] == '.') {
            i += 1;
        }
        let token: String = chars[start..i].iter().collect::<String>().trim_end_matches([',', '.']).to_owned();
        if token.matches('.').count() > 1 {
            // A version (`0.1.0`), not a number.
        } else if let Some((whole, fraction)) = token.split_once('.') {
            let significant = format!("{whole}{fraction}").replace(',', "").trim_start_matches('0').len();
            let plain = whole.replace(',', "").len() > 3 && !whole.contains(',');
            if fraction.ends_with('0') || significant > 3 || plain {
                out.push(token);
            }
        } else if token.len() > 4 && !token.contains(',') && !token.starts_with("20") {
            // A whole number of 5 digits or more without separators (years left aside).
            out.push(token);
        }
    }
    out
}

/// The consumption dashboard writes its numbers for people: separators, units, no `.0`, round
/// axis ticks; the day in progress is drawn as partial; its tables scroll inside the page.
async fn the_dashboard_writes_numbers_for_people(db: Db) {
    let app = spawn_app(db).await;
    let t = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let events = serde_json::json!([
        {"time": t, "api": "availability-api", "consumer": "cart-service", "calls": 1000, "errors": 4, "latencyMs": 34.933},
        {"time": t, "api": "availability-api", "consumer": "cart-service", "calls": 234, "errors": 1, "latencyMs": 1234.5},
    ]);
    let (status, body) = app.post_json("/api/usage/events", &events).await;
    assert_eq!(status, 200, "{body}");
    let html = app.get("/dashboard?platform=platform%3Adefault%2Finventory&range=7d").await.text().await.unwrap();
    let totals =
        text_of(html.split("<p class=\"totals\">").nth(1).expect("the totals line").split("</p>").next().unwrap());
    assert!(totals.contains("1,234 calls, 5 errors (0.41 %)"), "{totals}");
    assert!(totals.contains(" ms") || totals.contains(" s,"), "latencies with their unit: {totals}");
    assert!(html.contains("<td class=\"num\">1,234</td>"), "the top consumer's calls with a separator");
    assert!(html.contains("<td class=\"num\">100 %</td>"), "its share in per cent");
    let text = text_of(&html);
    assert_eq!(machine_numbers(&text), Vec::<String>::new(), "numbers written like floats on the dashboard");
    // The calls chart's axis: 0, 500, 1k, 1.5k (one day holds the 1,234 calls).
    let calls = html.split("<svg class=\"chart\"").nth(1).unwrap();
    for tick in [">0</text>", ">500</text>", ">1k</text>", ">1.5k</text>"] {
        assert!(calls.contains(tick), "the axis tick {tick}");
    }
    // Today is not over: drawn as partial, not as a drop.
    assert!(html.contains("partial: in progress"), "the legend says the last day is partial");
    assert!(html.contains("<circle class=\"s0 partial\""), "a hollow last point");
    assert!(html.contains("<div class=\"wide\" tabindex=\"0\"><table>"), "tables scroll inside the page");
}

#[test]
fn machine_numbers_are_found() {
    assert_eq!(
        machine_numbers("1,234 calls, 34.9 ms, 0.0123, 2.5 %, 2026-05-06T10:21:33.433Z, 1.2k, portolan 0.1.0"),
        Vec::<String>::new()
    );
    assert_eq!(
        machine_numbers("300000000.0 and 34.933 ms, 7.0 days, 12345 calls"),
        ["300000000.0", "34.933", "7.0", "12345"]
    );
}

async fn ui_errors_are_html_and_api_errors_stay_json(db: Db) {
    let app = spawn_app(db).await;
    let c = client();
    for path in ["/no-such-page", "/catalog/component/default/no-such-thing", "/apis/default/no-such-api"] {
        let res = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
        let body = res.text().await.unwrap();
        assert!(body.contains("Not found") && body.contains("no-such"), "{path}: {body}");
    }
    let res = c.get(app.url("/api/no-such-route")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(res.headers().get("content-security-policy").is_none(), "the API is left alone");
}

async fn forms_need_the_csrf_token(db: Db) {
    let app = spawn_app(db).await;
    let c = client();
    let res = c.get(app.url("/apis/default/availability-api")).send().await.unwrap();
    let cookie = csrf(&res).expect("a CSRF cookie on the first page");
    assert!(cookie.len() >= 32);
    let token = form_token(&res.text().await.unwrap()).expect("a form with the token");
    let post = |cookie: Option<String>, token: Option<&str>| {
        let mut req = c.post(app.url("/approvals/no-such-id"));
        if let Some(v) = cookie {
            req = req.header("cookie", format!("portolan_csrf={v}"));
        }
        let mut form = vec![("decision", "approve")];
        if let Some(t) = token {
            form.push(("csrf", t));
        }
        req.header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
    };
    for (what, res) in [
        ("no token", post(Some(cookie.clone()), None).await.unwrap()),
        ("no cookie", post(None, Some(&cookie)).await.unwrap()),
        ("another token", post(Some(cookie.clone()), Some("0123456789abcdef0123456789abcdef")).await.unwrap()),
        ("the cookie's own value", post(Some(cookie.clone()), Some(&cookie)).await.unwrap()),
    ] {
        assert_eq!(res.status().as_u16(), 403, "{what}");
        assert!(res.text().await.unwrap().contains("CSRF"), "{what}: the page says why");
    }
    // With the token the form gets through to the action (no such subscription here).
    let res = post(Some(cookie.clone()), Some(&token)).await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

/// Guest mode: subscribe on an auto plan through the form, create a key (shown once), and the
/// gateway accepts it.
async fn subscribe_and_key_through_the_forms(db: Db) {
    let app = spawn_app(db).await;
    let c = client();
    let res = c.get(app.url("/apis/default/availability-api")).send().await.unwrap();
    let cookie = csrf(&res).unwrap();
    let page = res.text().await.unwrap();
    assert!(
        page.contains("action=\"/apis/default/availability-api/subscribe\""),
        "the Subscribe form shows in guest mode"
    );
    let token = form_token(&page).unwrap();
    assert_ne!(token, cookie, "the token is derived from the cookie, not a copy of it");
    let res = c
        .post(app.url("/apis/default/availability-api/subscribe"))
        .header("cookie", format!("portolan_csrf={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", token.as_str()),
                ("plan", "standard"),
                ("consumer", "component:default/gift-card-service"),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/subscriptions/"), "{location}");
    let sub = c
        .get(app.url(&location))
        .header("cookie", format!("portolan_csrf={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sub.contains("active"), "an auto plan is active at once");
    let res = c
        .post(app.url(&format!("{location}/keys")))
        .header("cookie", format!("portolan_csrf={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", token.as_str()), ("name", "prod")]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let shown = res.text().await.unwrap();
    let key = shown.split("id=\"new-key\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(key.starts_with("ptl_"), "{key}");
    let again = c.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(!again.contains(&key), "the key is shown once");
    let (status, d) = app
        .post_json("/api/gateway/check", &serde_json::json!({"key": key, "api": "api:default/availability-api"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(d["allowed"], true, "{d}");
}

fn secured(s: &mut Settings, _: &Path) {
    s.auth = Some(AuthSettings {
        guest: Some(false),
        anonymous_read: Some(false),
        tokens: TokenSettings { signing_keys: vec![Secret::new(SIGNING_KEY)], ..TokenSettings::default() },
        ..AuthSettings::default()
    });
}

/// Signed-in people through the cookie, like a browser: the page hides what the policy refuses,
/// and the server refuses it anyway; anonymous people get an HTML 401 with a sign-in link.
async fn the_policy_refuses_what_pages_hide(db: Db) {
    // The offerings fixture, and a product of shop-team with a roadmap item in progress.
    let mut files: Vec<(&str, String)> = crate::fixtures::offerings_yaml().to_vec();
    files.push((
        "shop.yaml",
        "apiVersion: portolan.dev/v1alpha1\nkind: Product\nmetadata: {name: shop}\nspec:\n  owner: shop-team\n  roadmap:\n    - {id: launch, title: Launch, targetDate: 2030-Q1, status: in-progress}\n".to_owned(),
    ));
    files.push((
        "gated.yaml",
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: gated, annotations: {portolan.dev/approval: platform-team}}\nspec: {type: service, owner: platform-team, steps: [{id: log, action: debug:log, input: {message: hi}}]}\n".to_owned(),
    ));
    files.push((
        "form.yaml",
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: form, title: A form}\nspec: {type: service, owner: shop-team, parameters: [{title: One, required: [name], properties: {name: {type: string, title: Name}}}], steps: [{id: log, action: debug:log, input: {message: hi}}]}\n".to_owned(),
    ));
    let app: TestApp = spawn_with_yaml(db, &files, secured).await;
    let c = client();
    let res = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("href=\"/signin\""));

    let shop = token("sam", "shop-team");
    let outsider = token("eve", "other-team");
    let owner = token("pat", "platform-team");
    let get = |t: &str, path: &str| {
        c.get(app.url(path)).header("cookie", format!("portolan_token={t}; portolan_csrf={}", "c".repeat(32))).send()
    };
    // Like a browser: the form's token comes from a page of the same session, and the post names
    // the portal as its origin.
    let post = |t: &str, path: &str, form: Vec<(&'static str, String)>| {
        let cookie = format!("portolan_token={t}; portolan_csrf={}", "c".repeat(32));
        let (c, app, path) = (&c, &app, path.to_owned());
        async move {
            let page = c.get(app.url("/")).header("cookie", &cookie).send().await?.text().await?;
            let mut form = form;
            form.push(("csrf", form_token(&page).expect("the page's forms carry the token")));
            c.post(app.url(&path))
                .header("cookie", &cookie)
                .header("origin", &app.address)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(&form).unwrap())
                .send()
                .await
        }
    };
    let api_page = get(&shop, "/apis/default/pay-api").await.unwrap().text().await.unwrap();
    assert!(
        api_page.contains("/subscribe\"") && api_page.contains("component:default/shop-app"),
        "the owner may subscribe"
    );
    let api_page = get(&outsider, "/apis/default/pay-api").await.unwrap().text().await.unwrap();
    assert!(!api_page.contains("/subscribe\""), "no Subscribe form for someone who owns no consumer");

    let mut covered: Vec<(&str, &str)> = Vec::new();
    // Subscribing someone else's component: refused; one's own: done (manual plan: pending).
    let sub = |plan: &str| vec![("plan", plan.to_owned()), ("consumer", "component:default/shop-app".to_owned())];
    let res = post(&outsider, "/apis/default/pay-api/subscribe", sub("gold")).await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let res = post(&shop, "/apis/default/pay-api/subscribe", sub("gold")).await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let id = res.headers()["location"].to_str().unwrap().trim_start_matches("/subscriptions/").to_owned();
    covered.push(("POST", "/apis/{namespace}/{api}/subscribe"));

    // Approvals: only the platform's owner sees the request and may decide it.
    let waiting = get(&shop, "/approvals").await.unwrap().text().await.unwrap();
    assert!(!waiting.contains(&format!("/approvals/{id}")), "the consumer does not decide");
    let res = post(&shop, &format!("/approvals/{id}"), vec![("decision", "approve".into())]).await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let waiting = get(&owner, "/approvals").await.unwrap().text().await.unwrap();
    assert!(waiting.contains(&format!("/approvals/{id}")), "the platform's owner sees the request");
    let res = post(
        &owner,
        &format!("/approvals/{id}"),
        vec![("decision", "approve".into()), ("reason", "capacity ok".into())],
    )
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    covered.push(("POST", "/approvals/{id}"));

    // Keys: the consumer's owner only.
    let res = post(&outsider, &format!("/subscriptions/{id}/keys"), vec![]).await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let res = post(&shop, &format!("/subscriptions/{id}/keys"), vec![("name", "k".into())]).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let page = res.text().await.unwrap();
    let key_id = page.split("action=\"/keys/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    covered.push(("POST", "/subscriptions/{id}/keys"));
    let outsider_view = get(&outsider, &format!("/subscriptions/{id}")).await.unwrap().text().await.unwrap();
    assert!(!outsider_view.contains("/rotate\""), "no key buttons for others");
    for action in ["rotate", "revoke"] {
        let form = vec![("subscription", id.clone())];
        let res = post(&outsider, &format!("/keys/{key_id}/{action}"), form.clone()).await.unwrap();
        assert_eq!(res.status().as_u16(), 403, "{action} by an outsider");
        let res = post(&shop, &format!("/keys/{key_id}/{action}"), form).await.unwrap();
        assert!(matches!(res.status().as_u16(), 200 | 303), "{action} by the owner");
    }
    covered.push(("POST", "/keys/{id}/rotate"));
    covered.push(("POST", "/keys/{id}/revoke"));
    // A roadmap item's update: the product's owner only (the API's rule and check).
    let update =
        || vec![("health", "at-risk".to_owned()), ("note", "supplier late".to_owned()), ("progress", "40".to_owned())];
    let res = post(&outsider, "/roadmap/product/default/shop/launch/updates", update()).await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let res = post(&shop, "/roadmap/product/default/shop/launch/updates", update()).await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let (_, history) = crate::helpers::call(
        &app,
        "GET",
        "/api/portal/roadmap/product/default/shop/launch/updates",
        Some(shop.as_str()),
        None,
    )
    .await;
    assert_eq!(history["updates"].as_array().map(Vec::len), Some(1), "{history}");
    assert_eq!(
        (history["updates"][0]["health"].as_str(), history["updates"][0]["progress"].as_i64()),
        (Some("at-risk"), Some(40))
    );
    covered.push(("POST", "/roadmap/{kind}/{namespace}/{name}/{item}/updates"));
    // A template task waiting at its gate (platform-team's): listed and decided on /approvals
    // by its approvers only.
    let (status, body) = crate::helpers::call(
        &app,
        "POST",
        "/api/scaffolder/v2/tasks",
        Some(shop.as_str()),
        Some(&serde_json::json!({"templateRef": "template:default/gated", "values": {}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let task = body["id"].as_str().unwrap().to_owned();
    let page = get(&outsider, "/approvals").await.unwrap().text().await.unwrap();
    assert!(!page.contains(&format!("task-{task}")), "an outsider sees no task to decide");
    let page = get(&owner, "/approvals").await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("/approvals/tasks/{task}")), "the approver sees the task");
    // The task's page shows Approve and Reject to its approvers only (back to the page after).
    let page = get(&outsider, &format!("/create/tasks/{task}")).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("waiting") && !page.contains(&format!("/approvals/tasks/{task}")),
        "no decision for an outsider"
    );
    let page = get(&owner, &format!("/create/tasks/{task}")).await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("action=\"/approvals/tasks/{task}\"")), "the approver decides from the task's page");
    let decision = || {
        vec![
            ("decision", "approve".to_owned()),
            ("reason", "fine".to_owned()),
            ("back", format!("/create/tasks/{task}")),
        ]
    };
    let res = post(&outsider, &format!("/approvals/tasks/{task}"), decision()).await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let res = post(&owner, &format!("/approvals/tasks/{task}"), decision()).await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], format!("/create/tasks/{task}?done=approved").as_str());
    covered.push(("POST", "/approvals/tasks/{id}"));
    // Golden paths' form: a reader may look but not create; a writer's task runs as theirs, and
    // only they (or an admin) may cancel it.
    let reader = crate::helpers::keys()
        .issue("user:default/rita", &["user:default/rita".into(), "group:default/shop-team".into()], true, None, false)
        .unwrap();
    let list = get(&reader, "/create").await.unwrap().text().await.unwrap();
    assert!(list.contains("href=\"/create/templates/default/form\""), "{list}");
    let form = get(&reader, "/create/templates/default/form").await.unwrap().text().await.unwrap();
    assert!(form.contains("name=\"v:name\"") && form.contains("(required)"), "{form}");
    let create = |name: &str| {
        vec![
            ("page", "2".to_owned()),
            ("go", "create".to_owned()),
            ("state", serde_json::json!({"name": name}).to_string()),
        ]
    };
    let res = post(&reader, "/create/templates/default/form", create("x")).await.unwrap();
    assert_eq!(res.status().as_u16(), 403, "a reader creates nothing");
    // The values' check is the API's: a missing required value shows on its page.
    let res =
        post(&shop, "/create/templates/default/form", vec![("page", "1".into()), ("go", "next".into())]).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("name: is required") && html.contains("aria-invalid=\"true\""), "{html}");
    let res = post(&shop, "/create/templates/default/form", create("x")).await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let task_page = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(task_page.starts_with("/create/tasks/"), "{task_page}");
    let id = task_page.trim_start_matches("/create/tasks/").to_owned();
    let (_, t) =
        crate::helpers::call(&app, "GET", &format!("/api/scaffolder/v2/tasks/{id}"), Some(shop.as_str()), None).await;
    assert_eq!(
        (t["createdBy"].as_str(), t["spec"]["parameters"]["name"].as_str()),
        (Some("user:default/sam"), Some("x")),
        "{t}"
    );
    covered.push(("POST", "/create/templates/{namespace}/{name}"));
    let res = post(&outsider, &format!("{task_page}/cancel"), vec![]).await.unwrap();
    assert_eq!(res.status().as_u16(), 403, "only its creator cancels a task");
    let res = post(&shop, &format!("{task_page}/cancel"), vec![]).await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], format!("{task_page}?done=cancelled").as_str());
    covered.push(("POST", "/create/tasks/{id}/cancel"));
    // Signing out drops the cookie.
    let res = post(&shop, "/signout", vec![]).await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert!(res.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("portolan_token=;")));
    covered.push(("POST", "/signout"));

    // Every UI form row of the policy table is covered here.
    for (m, p, r) in portolan::routes::all()
        .map(|r| (r.method, r.path, r.rule))
        .filter(|(m, p, _)| *m == "POST" && !p.starts_with("/api/"))
    {
        assert!(covered.contains(&(m, p)), "the UI matrix does not cover {m} {p} ({r:?})");
        assert!(matches!(r, Rule::Party(_) | Rule::SignIn | Rule::OwnerOrScope(_)), "{m} {p}");
    }
}

crate::both!(
    pages_are_html_with_csp_no_external_request_and_light,
    the_dashboard_writes_numbers_for_people,
    ui_errors_are_html_and_api_errors_stay_json,
    forms_need_the_csrf_token,
    subscribe_and_key_through_the_forms,
    the_policy_refuses_what_pages_hide,
);
