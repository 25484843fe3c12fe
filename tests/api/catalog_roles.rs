//! Who may change the catalog, as the policy says: every guarded route (register, refresh,
//! change and delete locations and entities; service tokens; running a discovery provider) as
//! anonymous, reader, non-owner, owner and admin.

use std::collections::HashMap;

use portolan::auth::policy::Rule;
use serde_json::json;

use crate::fixtures::flow_component as component;
use crate::helpers::{Db, Roles, TestApp, call, spawn_secured_with};

/// A template whose tasks wait for team-a's approval before they run.
const GATED: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: gated, annotations: {portolan.dev/approval: team-a}}\nspec: {type: service, owner: team-a, steps: [{id: log, action: debug:log, input: {message: hi}}]}\n";

/// A scorecard team-a owns.
const SCORECARD: &str = "apiVersion: portolan.dev/v1alpha1\nkind: Scorecard\nmetadata: {name: ready}\nspec: {owner: team-a, levels: [bronze], checks: [{id: owned, level: bronze, expression: 'owner != null'}]}\n";

async fn uid_of(app: &TestApp, token: &str, name: &str) -> String {
    let (status, body) =
        call(app, "GET", &format!("/api/catalog/entities/by-name/component/default/{name}"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["metadata"]["uid"].as_str().unwrap().to_owned()
}

/// Every mutating route (every SignedIn, OwnerOrAdmin and Admin row of the policy table) as
/// anonymous, reader, non-owner, owner and admin.
async fn every_guarded_route_answers_each_role_as_the_policy_says(db: Db) {
    let app = spawn_secured_with(db, &[("scorecard.yaml", SCORECARD), ("gated.yaml", GATED)], |_, _| {}).await;
    let roles = Roles::new();
    let mut covered: Vec<(&str, &str)> = Vec::new();

    // Register (SignedIn): everyone signed in and not reader-only.
    for (i, name) in ["c1", "c2", "c3", "c4", "c5"].iter().enumerate() {
        app.write(&format!("{name}.yaml"), &component(name, "team-a"));
        let _ = i;
    }
    let mut locations: HashMap<&str, String> = HashMap::new();
    let expected = [401, 403, 201, 201, 201];
    for ((role, token), want) in roles.all().into_iter().zip(expected) {
        let file = match role {
            "non-owner" => "c1.yaml",
            "owner" => "c2.yaml",
            "admin" => "c3.yaml",
            _ => "c4.yaml",
        };
        let target = app.dir.path().join(file).display().to_string();
        let (status, body) =
            call(&app, "POST", "/api/catalog/locations", token, Some(&json!({"type": "file", "target": target}))).await;
        assert_eq!(status, want, "POST /api/catalog/locations as {role}: {body}");
        if status == 201 {
            locations.insert(file, body["location"]["id"].as_str().unwrap().to_owned());
        }
    }
    covered.push(("POST", "/api/catalog/locations"));

    // Refresh (SignedIn).
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 200, 200, 200]) {
        let (status, body) =
            call(&app, "POST", "/api/catalog/refresh", token, Some(&json!({"entityRef": "component:default/c1"})))
                .await;
        assert_eq!(status, want, "POST /api/catalog/refresh as {role}: {body}");
    }
    covered.push(("POST", "/api/catalog/refresh"));

    // Change a location (OwnerOrAdmin): c1 and c2 are team-a's.
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 200, 200]) {
        let file = if role == "admin" { "c2.yaml" } else { "c1.yaml" };
        let target = app.dir.path().join(file).display().to_string();
        let (status, body) = call(
            &app,
            "PUT",
            &format!("/api/catalog/locations/{}", locations[file]),
            token,
            Some(&json!({"type": "file", "target": target})),
        )
        .await;
        assert_eq!(status, want, "PUT location as {role}: {body}");
    }
    covered.push(("PUT", "/api/catalog/locations/{id}"));

    // Delete a location (OwnerOrAdmin): the owner deletes c3's, the admin c2's.
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 204, 204]) {
        let file = if role == "admin" { "c2.yaml" } else { "c3.yaml" };
        let (status, body) =
            call(&app, "DELETE", &format!("/api/catalog/locations/{}", locations[file]), token, None).await;
        assert_eq!(status, want, "DELETE location as {role}: {body}");
        if role == "non-owner" {
            assert!(body["error"]["message"].as_str().unwrap().contains("owned by group:default/team-a"), "{body}");
        }
    }
    covered.push(("DELETE", "/api/catalog/locations/{id}"));

    // Delete an entity (OwnerOrAdmin): c1 is team-a's; `shared` is team-b's, which the admin deletes.
    let c1 = uid_of(&app, &roles.carol, "c1").await;
    let shared = uid_of(&app, &roles.carol, "shared").await;
    let (status, body) =
        call(&app, "DELETE", &format!("/api/catalog/entities/by-uid/{shared}"), Some(&roles.alice), None).await;
    assert_eq!(status, 403, "the owner of c1 may not delete team-b's entity: {body}");
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 204, 204]) {
        let uid = if role == "admin" { &shared } else { &c1 };
        let (status, body) = call(&app, "DELETE", &format!("/api/catalog/entities/by-uid/{uid}"), token, None).await;
        assert_eq!(status, want, "DELETE entity as {role}: {body}");
    }
    covered.push(("DELETE", "/api/catalog/entities/by-uid/{uid}"));

    // Service tokens (Admin).
    let mut created = None;
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 201]) {
        let (status, body) =
            call(&app, "POST", "/api/auth/tokens", token, Some(&json!({"name": "ci", "scopes": ["catalog:write"]})))
                .await;
        assert_eq!(status, want, "POST /api/auth/tokens as {role}: {body}");
        if status == 201 {
            created = Some(body["id"].as_str().unwrap().to_owned());
        }
    }
    covered.push(("POST", "/api/auth/tokens"));
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 200]) {
        let (status, body) = call(&app, "GET", "/api/auth/tokens", token, None).await;
        assert_eq!(status, want, "GET /api/auth/tokens as {role}: {body}");
    }
    covered.push(("GET", "/api/auth/tokens"));
    let id = created.unwrap();
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 204]) {
        let (status, body) = call(&app, "DELETE", &format!("/api/auth/tokens/{id}"), token, None).await;
        assert_eq!(status, want, "DELETE /api/auth/tokens as {role}: {body}");
    }
    covered.push(("DELETE", "/api/auth/tokens/{id}"));

    // Running a discovery provider (Admin); none is configured here, so the admin gets 404.
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 404]) {
        let (status, body) = call(&app, "POST", "/api/providers/nope/run", token, None).await;
        assert_eq!(status, want, "POST /api/providers/{{id}}/run as {role}: {body}");
    }
    covered.push(("POST", "/api/providers/{id}/run"));

    // Storing a period's value report now (Admin): the period-end task's work, done at once.
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 201]) {
        let (status, body) = call(&app, "POST", "/api/portal/reports/value/2026-10/publish", token, None).await;
        assert_eq!(status, want, "POST /api/portal/reports/value/{{period}}/publish as {role}: {body}");
    }
    covered.push(("POST", "/api/portal/reports/value/{period}/publish"));

    // Judging a scorecard again on demand (Owner): its owner and admins.
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 200, 200]) {
        let (status, body) = call(&app, "POST", "/api/portal/scorecards/default/ready/evaluate", token, None).await;
        assert_eq!(status, want, "POST /api/portal/scorecards/{{namespace}}/{{name}}/evaluate as {role}: {body}");
    }
    covered.push(("POST", "/api/portal/scorecards/{namespace}/{name}/evaluate"));

    // Recording a day's snapshot of scorecards and campaigns (Admin).
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 201]) {
        let (status, body) = call(&app, "POST", "/api/portal/scorecards/snapshots?day=2026-11-01", token, None).await;
        assert_eq!(status, want, "POST /api/portal/scorecards/snapshots as {role}: {body}");
    }
    covered.push(("POST", "/api/portal/scorecards/snapshots"));

    // A template's dry run (SignedIn): it makes files in a throw-away folder only.
    let dry = json!({"template": {"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
        "metadata": {"name": "t"}, "spec": {"type": "service", "steps": [{"id": "log", "action": "debug:log", "input": {"message": "hi"}}]}},
        "values": {}, "directoryContents": []});
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 200, 200, 200]) {
        let (status, body) = call(&app, "POST", "/api/scaffolder/v2/dry-run", token, Some(&dry)).await;
        assert_eq!(status, want, "POST /api/scaffolder/v2/dry-run as {role}: {body}");
    }
    covered.push(("POST", "/api/scaffolder/v2/dry-run"));

    // Running a template as a task (SignedIn), and cancelling it (its creator or an admin).
    let task = json!({"templateRef": "template:default/nope", "values": {}});
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 404, 404, 404]) {
        let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks", token, Some(&task)).await;
        assert_eq!(status, want, "POST /api/scaffolder/v2/tasks as {role}: {body}");
    }
    covered.push(("POST", "/api/scaffolder/v2/tasks"));
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 404, 404, 404]) {
        let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks/nope/cancel", token, None).await;
        assert_eq!(status, want, "POST /api/scaffolder/v2/tasks/{{id}}/cancel as {role}: {body}");
    }
    covered.push(("POST", "/api/scaffolder/v2/tasks/{id}/cancel"));

    // Deciding on a gated task: its approvers (team-a: the owner) and admins; a decided task
    // is no longer waiting (409).
    let gated = json!({"templateRef": "template:default/gated", "values": {}});
    for (path, decider, late) in [("approve", "owner", "admin"), ("reject", "admin", "owner")] {
        let owner = roles.all().into_iter().find(|(r, _)| *r == "owner").unwrap().1;
        let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks", owner, Some(&gated)).await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let (_, t) = call(&app, "GET", &format!("/api/scaffolder/v2/tasks/{id}"), owner, None).await;
        assert_eq!(t["status"], "waiting", "{t}");
        for (role, token) in roles.all() {
            let want = match role {
                "anonymous" => 401,
                "reader" | "non-owner" => 403,
                r if r == decider => 200,
                _ => continue,
            };
            let (status, body) = call(
                &app,
                "POST",
                &format!("/api/scaffolder/v2/tasks/{id}/{path}"),
                token,
                Some(&json!({"reason": "checked"})),
            )
            .await;
            assert_eq!(status, want, "POST /api/scaffolder/v2/tasks/{{id}}/{path} as {role}: {body}");
        }
        let late_token = roles.all().into_iter().find(|(r, _)| *r == late).unwrap().1;
        let (status, body) =
            call(&app, "POST", &format!("/api/scaffolder/v2/tasks/{id}/{path}"), late_token, None).await;
        assert_eq!(status, 409, "{path} again as {late}: {body}");
        covered.push((
            "POST",
            if path == "approve" {
                "/api/scaffolder/v2/tasks/{id}/approve"
            } else {
                "/api/scaffolder/v2/tasks/{id}/reject"
            },
        ));
    }

    // The matrix covers every guarded row of the policy table.
    let guarded: Vec<(&str, &str)> = portolan::routes::all()
        .filter(|r| matches!(r.rule, Rule::SignedIn | Rule::Owner | Rule::Admin))
        .map(|r| (r.method, r.path))
        .collect();
    for g in &guarded {
        assert!(covered.contains(g), "the role matrix does not cover {g:?}");
    }
}

crate::both!(every_guarded_route_answers_each_role_as_the_policy_says);
