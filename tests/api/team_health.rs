//! Team health (docs/health.md): the four keys computed on hand-made event sets with exact
//! expected numbers, through the generic intake and through GitHub and GitLab webhooks (an
//! incident linked by time, rollbacks named and implied by an earlier version, a batch of
//! changes, a non-positive lead time ignored, an out-of-order status update, a duplicate id),
//! rejections one by one, the lists and CSV, the views' `health`, the finding and the scorecard
//! checks, and who may send events.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::fake_git::{FakeGit, github_repo};
use crate::helpers::*;
use crate::providers::{GITLAB_TOKEN, SECRET, github};

/// team-a owns the product shop and its components web (on GitHub as acme/web) and batch;
/// team-b owns the platform pay and its component ledger (on GitLab as acme/payments/ledger).
const CATALOG: &str = r#"apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: []}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {name: shop, description: The shop}
spec: {owner: team-a, lifecycle: production}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: pay, description: Payments}
spec: {owner: team-b, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: web
  annotations: {github.com/project-slug: acme/web}
spec: {type: service, lifecycle: production, owner: team-a, product: shop}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: batch}
spec: {type: service, lifecycle: production, owner: team-a, product: shop}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
  annotations: {backstage.io/source-location: "url:https://gitlab.example.com/acme/payments/ledger/-/tree/main/"}
spec: {type: service, lifecycle: production, owner: team-b, platform: pay}
"#;

async fn spawn_health(db: Db) -> TestApp {
    spawn_with_yaml(db, &[("catalog.yaml", CATALOG)], |s, _| {
        s.health.evaluate_every_secs = 0.2;
    })
    .await
}

/// RFC 3339 of a day of October 2026 at an hour and minute (UTC).
fn oct(day: u32, hour: u32, min: u32) -> String {
    format!("2026-10-{day:02}T{hour:02}:{min:02}:00Z")
}

fn dep(id: &str, at: &str, version: &str, changes: &[(&str, &str)]) -> Value {
    json!({
        "id": id, "entity": "component:default/web", "environment": "production", "status": "success",
        "finishedAt": at, "commitSha": format!("sha-{id}"), "version": version,
        "changes": changes.iter().map(|(sha, at)| json!({"sha": sha, "committedAt": at})).collect::<Vec<_>>(),
    })
}

async fn post(app: &TestApp, path: &str, body: &Value) -> Value {
    let (status, answer) = app.post_json(path, body).await;
    assert_eq!(status, 200, "POST {path}: {answer}");
    answer
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get_json(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The hand-made set of the generic test: 12 deployments of web in the 4 weeks from Monday
/// 2026-10-05 to Sunday 2026-11-01, 3 incidents.
///
/// Counted (production, success): d1 d2 d3 d4 d5 d6 d7 d10 d11 d12; d8 failed, d9 is staging.
/// Deployment days: 10-05 10-07 | 10-13 | 10-20 10-22 | 10-28 10-30: 2, 1, 2, 2 a week.
/// Changes at their first deployment: c1 24 h, c2 2 h (d2 ships it again: not counted), c3
/// 1 h, c4 committed after its deployment (ignored), c5 24 h, c6 48 h: median 24 h.
/// Failed: d4 (d5 carries an earlier version: 1 h to recover), d6 (i2 names it: 204 h), d7 (i1
/// and i3 by time: 6 h and 23 h; counted once), d11 (d12 names it as rolled back: 2 h).
fn generic_events() -> (Value, Value) {
    let mut d8 = dep("d8", &oct(27, 12, 0), "1.6.0", &[]);
    d8["status"] = json!("failure");
    let mut d9 = dep("d9", &oct(27, 13, 0), "1.6.0", &[]);
    d9["environment"] = json!("staging");
    let mut d12 = dep("d12", &oct(30, 14, 0), "1.7.1", &[]);
    d12["rollbackOf"] = json!("d11");
    let deployments = json!([
        dep("d1", &oct(5, 10, 0), "1.0.0", &[("c1", &oct(4, 10, 0)), ("c2", &oct(5, 8, 0))]),
        dep("d2", &oct(5, 15, 0), "1.1.0", &[("c3", &oct(5, 14, 0)), ("c2", &oct(5, 8, 0))]),
        dep("d3", &oct(7, 12, 0), "1.2.0", &[("c4", &oct(8, 12, 0))]),
        dep("d4", &oct(13, 9, 0), "1.3.0", &[("c5", &oct(12, 9, 0))]),
        dep("d5", &oct(13, 10, 0), "1.2.0", &[]),
        dep("d6", &oct(20, 12, 0), "1.4.0", &[("c6", &oct(18, 12, 0))]),
        dep("d7", &oct(22, 12, 0), "1.5.0", &[]),
        d8,
        d9,
        dep("d10", &oct(28, 12, 0), "1.6.1", &[]),
        dep("d11", &oct(30, 12, 0), "1.7.0", &[]),
        d12,
        // A duplicate id in the same request: the same event again changes nothing.
        dep("d1", &oct(5, 10, 0), "1.0.0", &[("c1", &oct(4, 10, 0)), ("c2", &oct(5, 8, 0))]),
    ]);
    let incidents = json!([
        {"id": "i1", "entity": "web", "severity": "sev2", "createdAt": oct(22, 14, 0), "resolvedAt": oct(22, 18, 0)},
        {"id": "i2", "entity": "component:default/web", "createdAt": oct(28, 20, 0), "resolvedAt": oct(29, 0, 0), "causedBy": "d6"},
        {"id": "i3", "entity": "web", "createdAt": oct(23, 9, 0)},
    ]);
    (deployments, incidents)
}

const WINDOW: &str = "from=2026-10-05&to=2026-11-01";

async fn four_keys_of_a_hand_made_set_through_the_generic_api(db: Db) {
    let app = spawn_health(db).await;
    let (deployments, incidents) = generic_events();
    let answer = post(&app, "/api/deployments", &deployments).await;
    assert_eq!(answer["accepted"], 13, "{answer}");
    assert_eq!(answer["created"], 12, "{answer}");
    assert_eq!(answer["unchanged"], 1, "{answer}");
    assert_eq!(answer["rejected"], json!([]), "{answer}");
    let answer = post(&app, "/api/incidents", &incidents).await;
    assert_eq!(answer["created"], 3, "{answer}");
    // A later event resolves i3 (23 h after d7); resending it unchanged changes nothing.
    let resolve = json!({"id": "i3", "entity": "web", "createdAt": oct(23, 9, 0), "resolvedAt": oct(23, 11, 0)});
    assert_eq!(post(&app, "/api/incidents", &resolve).await["updated"], 1);
    assert_eq!(post(&app, "/api/incidents", &resolve).await["unchanged"], 1);
    // Out of order: d11 sent again as in progress stays a finished success.
    let late = json!({"id": "d11", "entity": "web", "environment": "production", "status": "in_progress", "commitSha": "sha-d11"});
    assert_eq!(post(&app, "/api/deployments", &late).await["unchanged"], 1);

    for scope in ["entity=web", "product=shop", "team=team-a", "entity=component:default/web"] {
        let v = get(&app, &format!("/api/portal/dora?{scope}&{WINDOW}")).await;
        let f = &v["deploymentFrequency"];
        assert_eq!(f["deployments"], 10, "{scope}: {v:#}");
        assert_eq!(f["deploymentDays"], 7, "{scope}: {f}");
        assert_eq!(f["deploymentDaysPerWeek"], 2.0, "{f}");
        assert_eq!(f["deploymentDaysPerMonth"], 3.5, "October 7, November 0: {f}");
        assert_eq!(f["band"], "high", "{f}");
        let l = &v["leadTime"];
        assert_eq!(
            (l["medianHours"].clone(), l["changes"].clone(), l["ignored"].clone()),
            (json!(24.0), json!(5), json!(1)),
            "{l}"
        );
        assert_eq!(l["band"], "high", "24 h is not under a day: {l}");
        let c = &v["changeFailureRate"];
        assert_eq!(
            (c["failed"].clone(), c["deployments"].clone(), c["rate"].clone()),
            (json!(4), json!(10), json!(0.4)),
            "{c}"
        );
        assert_eq!(c["band"], "low", "{c}");
        let r = &v["recoveryTime"];
        assert_eq!(
            (r["medianHours"].clone(), r["incidents"].clone(), r["rollbacks"].clone()),
            (json!(6.0), json!(3), json!(2)),
            "{r}"
        );
        assert_eq!(r["band"], "high", "{r}");
        let weeks: Vec<(Value, Value, Value, Value, Value)> = v["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["week"].clone(),
                    w["deployments"].clone(),
                    w["deploymentDays"].clone(),
                    w["leadTimeHours"].clone(),
                    w["changeFailureRate"].clone(),
                )
            })
            .collect();
        assert_eq!(
            weeks,
            vec![
                (json!("2026-10-05"), json!(3), json!(2), json!(2.0), json!(0.0)),
                (json!("2026-10-12"), json!(2), json!(1), json!(24.0), json!(0.5)),
                (json!("2026-10-19"), json!(2), json!(2), json!(48.0), json!(1.0)),
                (json!("2026-10-26"), json!(3), json!(2), Value::Null, json!(0.333)),
            ],
            "{scope}"
        );
    }
    // The platform has no data: null with a reason, not 0.
    let v = get(&app, &format!("/api/portal/dora?platform=pay&{WINDOW}")).await;
    assert_eq!(v["deploymentFrequency"]["deploymentDaysPerWeek"], Value::Null, "{v}");
    assert!(v["deploymentFrequency"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
    assert_eq!(v["leadTime"]["medianHours"], Value::Null);
    assert_eq!(v["changeFailureRate"]["rate"], Value::Null);
    assert!(v["recoveryTime"]["reason"].is_string(), "{v}");

    // The first week alone: a 2 h lead time is elite in 2023's bands and high in 2021's.
    let week = "entity=web&from=2026-10-05&to=2026-10-11";
    let v = get(&app, &format!("/api/portal/dora?{week}")).await;
    assert_eq!((v["benchmark"].clone(), v["leadTime"]["band"].clone()), (json!(2023), json!("elite")), "{v}");
    let v = get(&app, &format!("/api/portal/dora?{week}&benchmark=2021")).await;
    assert_eq!((v["benchmark"].clone(), v["leadTime"]["band"].clone()), (json!(2021), json!("high")), "{v}");
    let (status, body) = app.get_json(&format!("/api/portal/dora?{week}&benchmark=2019")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("benchmark"), "{body}");

    // The lists, with their attribution and failure links.
    let list = get(&app, &format!("/api/portal/deployments?entity=web&{WINDOW}")).await;
    assert_eq!(list["total"], 12, "{list}");
    let item = |id: &str| list["items"].as_array().unwrap().iter().find(|d| d["id"] == id).cloned().unwrap();
    assert_eq!(list["items"][0]["id"], "d12", "newest first");
    let d4 = item("d4");
    assert_eq!((d4["failed"].clone(), d4["rolledBackBy"].clone()), (json!(true), json!("d5")), "{d4}");
    assert_eq!(d4["product"], "product:default/shop", "{d4}");
    assert_eq!(d4["team"], "group:default/team-a", "{d4}");
    assert_eq!(item("d7")["incidents"], json!(["i1", "i3"]));
    assert_eq!(item("d11")["rolledBackBy"], "d12");
    assert_eq!(item("d11")["status"], "success");
    assert_eq!(item("d1")["changes"], 2);
    assert_eq!(item("d1")["leadTimeHours"], 13.0, "c1 24 h and c2 2 h");
    assert_eq!(item("d9")["tier"], "other", "staging, without a tier: other");
    assert_eq!(item("d8")["failed"], false, "a failed deployment status is not a change failure");
    let incidents = get(&app, &format!("/api/portal/incidents?team=team-a&{WINDOW}")).await;
    let links: Vec<(Value, Value, Value, Value)> = incidents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].clone(), i["deployment"].clone(), i["linkedBy"].clone(), i["recoveryHours"].clone()))
        .collect();
    assert_eq!(
        links,
        vec![
            (json!("i2"), json!("d6"), json!("causedBy"), json!(204.0)),
            (json!("i3"), json!("d7"), json!("time"), json!(23.0)),
            (json!("i1"), json!("d7"), json!("time"), json!(6.0)),
        ]
    );

    // CSV of all three.
    for (path, header) in [
        ("/api/portal/dora", "row,value,count,band"),
        ("/api/portal/deployments", "id,entity,system,product"),
        ("/api/portal/incidents", "id,entity,team,severity"),
    ] {
        let res = app.get(&format!("{path}?entity=web&{WINDOW}&format=csv")).await;
        assert_eq!(res.status().as_u16(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = res.text().await.unwrap();
        assert!(text.starts_with(header), "{path}: {text}");
        if path == "/api/portal/dora" {
            assert!(text.contains("\nchange_failure_rate,0.4,10,low\n"), "{text}");
            assert!(text.contains("\n2026-10-26,3,2,,0.333,false\n"), "{text}");
        }
    }
}

async fn bad_events_are_rejected_one_by_one_and_the_good_kept(db: Db) {
    let app = spawn_health(db).await;
    let good = dep("ok", &oct(5, 10, 0), "1.0.0", &[]);
    let mut bad_status = good.clone();
    bad_status["id"] = json!("b1");
    bad_status["status"] = json!("done");
    let mut unknown = good.clone();
    unknown["id"] = json!("b2");
    unknown["entity"] = json!("component:default/ghost");
    let mut unfinished = good.clone();
    unfinished["id"] = json!("b3");
    unfinished.as_object_mut().unwrap().remove("finishedAt");
    let mut bad_time = good.clone();
    bad_time["id"] = json!("b4");
    bad_time["changes"] = json!([{"sha": "x", "committedAt": "yesterday"}]);
    let mut typo = good.clone();
    typo["id"] = json!("b5");
    typo["finshedAt"] = json!(oct(5, 10, 0));
    let answer = post(&app, "/api/deployments", &json!([bad_status, good, unknown, unfinished, bad_time, typo])).await;
    assert_eq!(answer["accepted"], 1, "{answer}");
    let rejected: Vec<(u64, String)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["message"].as_str().unwrap().to_owned()))
        .collect();
    let indexes: Vec<u64> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(indexes, vec![0, 2, 3, 4, 5], "{answer}");
    for (i, needle) in [
        (0, "status: \"done\""),
        (1, "ghost' is not in the catalog"),
        (2, "finishedAt: required"),
        (3, "changes[0].committedAt"),
        (4, "finshedAt"),
    ] {
        assert!(rejected[i].1.contains(needle), "{needle}: {:?}", rejected[i]);
        assert!(!rejected[i].1.contains("struct"), "{:?}", rejected[i]);
    }
    // One event alone that is bad is the request's 400, naming the field.
    let (status, body) = app.post_json("/api/deployments", &json!({"id": "x", "entity": "web"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("environment"), "{body}");
    let (status, body) = app.post_json("/api/deployments", &json!(vec![json!({}); 1001])).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .post_json(
            "/api/incidents",
            &json!({"id": "i", "entity": "web", "createdAt": oct(5, 10, 0), "resolvedAt": oct(4, 10, 0)}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("resolvedAt: before createdAt"), "{body}");
    // What was accepted is there; queries with bad parameters are 400s that name them.
    let list = get(&app, &format!("/api/portal/deployments?entity=web&{WINDOW}")).await;
    assert_eq!(list["total"], 1, "{list}");
    for (q, needle) in [
        ("from=yesterday", "from"),
        ("entity=web&team=team-a", "one of"),
        ("format=xml", "format"),
        ("limit=0", "limit"),
    ] {
        let (status, body) = app.get_json(&format!("/api/portal/dora?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(needle), "{q}: {body}");
    }
    let (status, _) = app.get_json("/api/portal/dora?product=nothing").await;
    assert_eq!(status, 404);
}

/// A GitHub `deployment_status` delivery, as GitHub sends it (trimmed).
fn deployment_status(id: i64, sha: &str, state: &str, status_at: &str, updated_at: &str) -> String {
    json!({
        "action": "created",
        "deployment_status": {
            "url": format!("https://api.github.com/repos/acme/web/deployments/{id}/statuses/{id}0"),
            "id": id * 10, "state": state, "description": "", "environment": "production",
            "target_url": "", "created_at": status_at, "updated_at": status_at,
        },
        "deployment": {
            "url": format!("https://api.github.com/repos/acme/web/deployments/{id}"),
            "id": id, "sha": sha, "ref": "main", "task": "deploy", "payload": {},
            "original_environment": "production", "environment": "production",
            "production_environment": true, "transient_environment": false,
            "created_at": oct(1, 0, 0), "updated_at": updated_at,
        },
        "repository": {"id": 1, "name": "web", "full_name": "acme/web", "html_url": "https://github.com/acme/web"},
        "sender": {"login": "octocat"},
    })
    .to_string()
}

fn issue(action: &str, number: i64, labels: &[&str], created: &str, closed: Option<&str>) -> String {
    json!({
        "action": action,
        "issue": {
            "number": number, "title": "Checkout returns 500", "state": if closed.is_some() { "closed" } else { "open" },
            "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "created_at": created, "closed_at": closed, "updated_at": closed.unwrap_or(created),
        },
        "repository": {"id": 1, "name": "web", "full_name": "acme/web"},
        "sender": {"login": "octocat"},
    })
    .to_string()
}

async fn four_keys_through_the_github_and_gitlab_webhooks(db: Db) {
    let fake = FakeGit::start().await;
    fake.github_repos(vec![github_repo("acme", "web", json!({}))]);
    // a3 and a4 are the changes between the first deployment (a2) and the second (a4).
    fake.commits(
        "acme/web",
        &[("a1", &oct(1, 10, 0)), ("a2", &oct(2, 10, 0)), ("a3", &oct(3, 8, 0)), ("a4", &oct(3, 9, 0))],
    );
    let settings = github(&fake, json!({}));
    let app = spawn_with_yaml(db, &[("catalog.yaml", CATALOG)], move |s, _| {
        s.providers.github.push(settings);
        s.webhooks.github_secret = Some(portolan::discovery::Secret::new(SECRET));
        s.webhooks.gitlab_token = Some(portolan::discovery::Secret::new(GITLAB_TOKEN));
        s.reading.allow = vec![];
    })
    .await;
    // Deployment 1 (a2): its deployment's updated_at is days later, a trap.
    let (status, body) = app
        .github_hook(
            "deployment_status",
            "g1",
            &deployment_status(1, "a2", "success", &oct(2, 12, 0), &oct(9, 0, 0)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "created", "{body}");
    // Deployment 2 (a4): in progress, then success; then in progress again, out of order.
    for (delivery, state, at) in
        [("g2", "in_progress", oct(3, 10, 0)), ("g3", "success", oct(3, 12, 0)), ("g4", "in_progress", oct(3, 11, 0))]
    {
        let (status, body) = app
            .github_hook("deployment_status", delivery, &deployment_status(2, "a4", state, &at, &oct(20, 0, 0)), None)
            .await;
        assert_eq!(status, 200, "{delivery}: {body}");
    }
    // A replayed delivery is not processed again.
    let (_, body) = app
        .github_hook(
            "deployment_status",
            "g3",
            &deployment_status(2, "a4", "success", &oct(3, 12, 0), &oct(20, 0, 0)),
            None,
        )
        .await;
    assert_eq!(body["status"], "duplicate", "{body}");
    // A wrong signature changes nothing.
    let (status, _) = app
        .github_hook(
            "deployment_status",
            "g9",
            &deployment_status(3, "a4", "failure", &oct(4, 0, 0), &oct(4, 0, 0)),
            Some("sha256=00"),
        )
        .await;
    assert_eq!(status, 401);
    // An incident issue opened an hour after deployment 2 finished (by its status's time, not
    // the deployment's updated_at) and closed two hours later; an issue without the label is
    // not an incident.
    let (status, body) =
        app.github_hook("issues", "g5", &issue("opened", 7, &["bug", "incident"], &oct(3, 13, 0), None), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .github_hook(
            "issues",
            "g6",
            &issue("closed", 7, &["bug", "incident"], &oct(3, 13, 0), Some(&oct(3, 15, 0))),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = app.github_hook("issues", "g7", &issue("opened", 8, &["bug"], &oct(3, 14, 0), None), None).await;
    assert_eq!(body["status"], "ignored", "{body}");
    assert_eq!(fake.hits_matching("/compare/a2...a4").len(), 1, "one compare, for the success");

    let v = get(&app, "/api/portal/dora?entity=web&from=2026-10-01&to=2026-10-07").await;
    assert_eq!(v["deploymentFrequency"]["deployments"], 2, "{v:#}");
    assert_eq!(v["leadTime"]["changes"], 2, "a3 4 h, a4 3 h: {v:#}");
    assert_eq!(v["leadTime"]["medianHours"], 3.5, "{v:#}");
    assert_eq!(v["changeFailureRate"]["rate"], 0.5, "{v:#}");
    assert_eq!(v["recoveryTime"]["medianHours"], 3.0, "{v:#}");
    let list = get(&app, "/api/portal/deployments?entity=web&from=2026-10-01&to=2026-10-07").await;
    let d2 = &list["items"][0];
    assert_eq!(d2["id"], "github:acme/web:2", "{list}");
    assert_eq!(
        (d2["status"].clone(), d2["finishedAt"].clone()),
        (json!("success"), json!("2026-10-03T12:00:00.000Z")),
        "{d2}"
    );
    assert_eq!(d2["incidents"], json!(["github:acme/web#7"]), "{d2}");
    assert_eq!(d2["source"], "github");

    // GitLab: the Deployment Hook's status_changed_at is the finish time; the tier is the
    // environment's own.
    let hook = |id: i64, status: &str, changed: &str, tier: &str| {
        json!({
            "object_kind": "deployment", "status": status, "status_changed_at": changed,
            "deployment_id": id, "deployable_id": 796, "deployable_url": "https://gitlab.example.com/acme/payments/ledger/-/jobs/796",
            "environment": if tier == "production" { "prod-eu" } else { "review/feature" }, "environment_tier": tier,
            "environment_slug": "prod-eu", "environment_external_url": null,
            "project": {"id": 30, "name": "ledger", "path_with_namespace": "acme/payments/ledger", "web_url": "https://gitlab.example.com/acme/payments/ledger"},
            "short_sha": "279484c0", "user": {"name": "Administrator", "username": "root"},
            "commit_url": "https://gitlab.example.com/acme/payments/ledger/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
            "commit_title": "Add a ledger entry type",
        })
    };
    for (uuid, body) in [
        ("l1", hook(15, "running", "2026-10-04 11:50:00 +0200", "production")),
        ("l2", hook(15, "success", "2026-10-04 12:00:00 +0200", "production")),
        ("l3", hook(16, "success", "2026-10-05 12:00:00 +0200", "development")),
        ("l4", hook(17, "failed", "2026-10-06 12:00:00 +0200", "production")),
    ] {
        let (status, answer) = app.gitlab_hook("Deployment Hook", uuid, GITLAB_TOKEN, &body).await;
        assert_eq!(status, 200, "{uuid}: {answer}");
    }
    let (status, _) = app
        .gitlab_hook("Deployment Hook", "l5", "wrong", &hook(18, "success", "2026-10-06 12:00:00 +0200", "production"))
        .await;
    assert_eq!(status, 401);
    let list = get(&app, "/api/portal/deployments?platform=pay&from=2026-10-01&to=2026-10-07").await;
    let got: Vec<(Value, Value, Value, Value)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].clone(), d["tier"].clone(), d["status"].clone(), d["finishedAt"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                json!("gitlab:acme/payments/ledger:17"),
                json!("production"),
                json!("failure"),
                json!("2026-10-06T10:00:00.000Z")
            ),
            (
                json!("gitlab:acme/payments/ledger:16"),
                json!("development"),
                json!("success"),
                json!("2026-10-05T10:00:00.000Z")
            ),
            (
                json!("gitlab:acme/payments/ledger:15"),
                json!("production"),
                json!("success"),
                json!("2026-10-04T10:00:00.000Z")
            ),
        ]
    );
    assert_eq!(list["items"][0]["commitSha"], "279484c09fbe69ededfced8c1bb6e6d24616b468");
    let v = get(&app, "/api/portal/dora?platform=pay&from=2026-10-01&to=2026-10-07").await;
    assert_eq!(v["deploymentFrequency"]["deployments"], 1, "{v:#}");
    assert_eq!(v["changeFailureRate"]["rate"], 0.0, "{v:#}");
}

/// Polls `check` for at most 20 seconds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) => {
                assert!(Instant::now() < deadline, "{what} did not happen within 20 s; last seen: {last}");
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
    }
}

async fn views_findings_and_scorecards_follow_recent_deployments(db: Db) {
    let app = spawn_health(db).await;
    // web deploys to production every third day of the last 90; batch, in production too,
    // never does: team-a sends deployments, so batch gets the finding.
    let now = chrono::Utc::now();
    let at = |days: i64| (now - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let events: Vec<Value> = (0..30)
        .map(|k| 1 + 3 * k)
        .map(|d| {
            let mut e = dep(&format!("r{d}"), &at(d), &format!("2.{}.0", 100 - d), &[(&format!("x{d}"), &at(d + 1))]);
            e["entity"] = json!("web");
            e
        })
        .collect();
    assert_eq!(post(&app, "/api/deployments", &Value::Array(events)).await["created"], 30);
    // The views show the last 30 days: the deployments 1, 4, ... 28 days ago.
    let product = get(&app, "/api/portal/products/default/shop").await;
    let h = &product["health"];
    assert_eq!(h["deploymentFrequency"]["deployments"], 10, "{h:#}");
    assert_eq!(h["leadTime"]["medianHours"], 24.0, "{h}");
    assert_eq!(h["changeFailureRate"]["rate"], 0.0, "{h}");
    let team = get(&app, "/api/portal/teams/default/team-a").await;
    assert_eq!(team["health"]["deploymentFrequency"]["deployments"], 10, "{team}");
    let platform = get(&app, "/api/portal/platforms/default/pay").await;
    assert_eq!(platform["health"]["deploymentFrequency"]["deploymentDaysPerWeek"], Value::Null, "{platform}");

    eventually("no-production-deployment on batch", async || {
        let (_, body) = app.get_json("/api/portal/findings?rule=no-production-deployment").await;
        let found: Vec<&str> =
            body["items"].as_array().into_iter().flatten().filter_map(|f| f["entityRef"].as_str()).collect();
        if found == ["component:default/batch"] { Ok(()) } else { Err(body.to_string()) }
    })
    .await;
    // The shop's scorecard has the deployment checks; pay's team sends none, so pay has not.
    let cards = get(&app, "/api/portal/scorecards").await;
    let card = |r: &str| cards["items"].as_array().unwrap().iter().find(|c| c["entityRef"] == r).cloned().unwrap();
    let checks = |c: &Value| -> Vec<(String, String, bool)> {
        c["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| ["deploys-weekly", "change-failure-rate-within-15"].contains(&x["id"].as_str().unwrap()))
            .map(|x| {
                (
                    x["id"].as_str().unwrap().to_owned(),
                    x["level"].as_str().unwrap().to_owned(),
                    x["passed"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        checks(&card("product:default/shop")),
        vec![
            ("deploys-weekly".into(), "silver".into(), true),
            ("change-failure-rate-within-15".into(), "gold".into(), true)
        ]
    );
    assert!(checks(&card("platform:default/pay")).is_empty());
    // Once batch deploys, the finding clears.
    let mut b = dep("b1", &at(2), "1.0.0", &[]);
    b["entity"] = json!("batch");
    post(&app, "/api/deployments", &b).await;
    eventually("the finding to clear", async || {
        let (_, body) = app.get_json("/api/portal/findings?rule=no-production-deployment").await;
        if body["items"].as_array().is_some_and(Vec::is_empty) { Ok(()) } else { Err(body.to_string()) }
    })
    .await;
    // /metrics counts deployments per team.
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("portolan_deployments_total{")
            && l.contains("team=\"group:default/team-a\"")
            && l.contains("status=\"success\"")),
        "{text}"
    );
}

async fn only_deploy_write_tokens_admins_and_guests_send_events(db: Db) {
    const DEPLOY_TOKEN: &str = "ptk_config-deploy-token-0123456789abcdef";
    let app = spawn_secured_with(db, &[("catalog.yaml", CATALOG)], |s, _| {
        s.auth.as_mut().unwrap().tokens.service.push(config_token("deployer", DEPLOY_TOKEN, "deploy:write"));
    })
    .await;
    let roles = Roles::new();
    let mut everyone: Vec<(&str, Option<&str>)> = roles.all().to_vec();
    everyone.extend([("deploy token", Some(DEPLOY_TOKEN)), ("catalog token", Some(CONFIG_TOKEN))]);
    let mut covered = Vec::new();
    for path in ["/api/deployments", "/api/incidents"] {
        for (n, ((role, token), want)) in everyone.iter().zip([401, 403, 403, 403, 200, 200, 403]).enumerate() {
            let body = if path == "/api/deployments" {
                dep(&format!("p{n}"), &oct(5, 10, 0), "1.0.0", &[])
            } else {
                json!({"id": format!("p{n}"), "entity": "web", "createdAt": oct(5, 10, 0)})
            };
            let (status, answer) = call(&app, "POST", path, *token, Some(&body)).await;
            assert_eq!(status, want, "POST {path} as {role}: {answer}");
        }
        covered.push(("POST", path));
    }
    for path in ["/api/portal/dora", "/api/portal/deployments", "/api/portal/incidents"] {
        for ((role, token), want) in everyone.iter().zip([401, 200, 200, 200, 200, 200, 200]) {
            let (status, answer) = call(&app, "GET", &format!("{path}?entity=web&{WINDOW}"), *token, None).await;
            assert_eq!(status, want, "GET {path} as {role}: {answer}");
        }
        covered.push(("GET", path));
    }
    let rows: Vec<(&str, &str)> = portolan::routes::all()
        .filter(|r| {
            r.rule == portolan::auth::policy::Rule::Scope("deploy:write") || r.path.starts_with("/api/portal/dora")
        })
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert!(covered.contains(r), "the matrix does not cover {r:?}");
    }
}

/// The keys are read from what intake keeps (each change's first deployment, a weekly rollup):
/// updates that uncount a deployment, an earlier deployment arriving late and a rollback found
/// across weeks must leave them as the definitions say.
async fn the_keys_follow_updates_late_events_and_rollbacks_across_weeks(db: Db) {
    let app = spawn_health(db).await;
    let keys = async |app: &TestApp| {
        let v = get(app, "/api/portal/dora?entity=web&from=2026-10-05&to=2026-10-25").await;
        (
            v["deploymentFrequency"]["deployments"].clone(),
            v["leadTime"]["medianHours"].clone(),
            v["leadTime"]["changes"].clone(),
            v["changeFailureRate"]["failed"].clone(),
            v["recoveryTime"]["medianHours"].clone(),
        )
    };
    // e1 (week of 10-05) ships x1 after 2 h; e2 (week of 10-12) ships x1 again and x2 after 126 h.
    let e1 = dep("e1", &oct(6, 10, 0), "1.0", &[("x1", &oct(6, 8, 0))]);
    let e2 = dep("e2", &oct(13, 10, 0), "1.1", &[("x1", &oct(6, 8, 0)), ("x2", &oct(8, 4, 0))]);
    assert_eq!(post(&app, "/api/deployments", &json!([e1, e2])).await["created"], 2);
    assert_eq!(keys(&app).await, (json!(2), json!(64.0), json!(2), json!(0), Value::Null));
    // e1 turns out to have failed: x1 was first shipped by e2 (170 h).
    let mut failed = e1.clone();
    failed["status"] = json!("failure");
    assert_eq!(post(&app, "/api/deployments", &failed).await["updated"], 1);
    assert_eq!(keys(&app).await, (json!(1), json!(148.0), json!(2), json!(0), Value::Null));
    // e0, sent late, shipped x2 a week earlier (1 h after its commit).
    let e0 = dep("e0", &oct(5, 10, 0), "0.9", &[("x2", &oct(5, 9, 0))]);
    assert_eq!(post(&app, "/api/deployments", &e0).await["created"], 1);
    assert_eq!(keys(&app).await, (json!(2), json!(85.5), json!(2), json!(0), Value::Null));
    // e3, a week after e2, carries an earlier version: e2 was rolled back, recovered in 168 h.
    let e3 = dep("e3", &oct(20, 10, 0), "1.0", &[]);
    assert_eq!(post(&app, "/api/deployments", &e3).await["created"], 1);
    assert_eq!(keys(&app).await, (json!(3), json!(85.5), json!(2), json!(1), json!(168.0)));
    // e2 named as rolled back too: still one failed deployment, one rollback.
    let mut named = dep("e4", &oct(21, 10, 0), "1.2", &[]);
    named["rollbackOf"] = json!("e2");
    assert_eq!(post(&app, "/api/deployments", &named).await["created"], 1);
    let v = get(&app, "/api/portal/dora?entity=web&from=2026-10-05&to=2026-10-25").await;
    assert_eq!(v["changeFailureRate"]["failed"], 1, "{v:#}");
    assert_eq!(v["recoveryTime"]["rollbacks"], 1, "{v:#}");
}

/// Batches posted at once, all in the same week of the same component: every deployment and
/// change is in the keys (each batch builds the week from what it reads; none may miss another's).
async fn concurrent_batches_into_one_week_are_all_counted(db: Db) {
    let app = spawn_health(db).await;
    let batches: Vec<Value> = (0..4)
        .map(|b| {
            json!(
                (0..25)
                    .map(|i| {
                        let at = oct(13 + (i % 5) as u32, 10 + b, i as u32);
                        dep(&format!("b{b}-{i}"), &at, "1.0", &[(&format!("s{b}-{i}"), &oct(12, 0, 0))])
                    })
                    .collect::<Vec<_>>()
            )
        })
        .collect();
    let answers = futures_util::future::join_all(batches.iter().map(|b| app.post_json("/api/deployments", b))).await;
    for (status, answer) in answers {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["created"], 25, "{answer}");
    }
    let v = get(&app, "/api/portal/dora?entity=web&from=2026-10-12&to=2026-10-18").await;
    assert_eq!(v["deploymentFrequency"]["deployments"], 100, "{v:#}");
    assert_eq!(v["deploymentFrequency"]["deploymentDays"], 5, "{v:#}");
    assert_eq!(v["leadTime"]["changes"], 100, "{v:#}");
}

both!(
    concurrent_batches_into_one_week_are_all_counted,
    the_keys_follow_updates_late_events_and_rollbacks_across_weeks,
    four_keys_of_a_hand_made_set_through_the_generic_api,
    bad_events_are_rejected_one_by_one_and_the_good_kept,
    four_keys_through_the_github_and_gitlab_webhooks,
    views_findings_and_scorecards_follow_recent_deployments,
    only_deploy_write_tokens_admins_and_guests_send_events,
);
