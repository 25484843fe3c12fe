//! Template tasks (docs/scaffolder.md): run to completion with the files fetched, the secret
//! masked, a location registered and the entity in the catalog; listed and filtered; read as
//! events and as an event stream; cancelled while they wait; and failed with a message when the
//! instance running them is killed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

const TEMPLATE: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: task-path, title: A task's path}
spec:
  owner: team-a
  type: service
  parameters:
    - required: [name]
      properties:
        name: {type: string}
        descriptor: {type: string}
        waitMs: {type: integer}
  steps:
    - id: fetch
      name: Fetch
      action: fetch:template
      input: {url: ./skeleton, values: {name: '${{ parameters.name }}'}}
    - id: log
      action: debug:log
      input: {message: 'token ${{ secrets.token }}', listWorkspace: true}
    - id: register
      if: ${{ parameters.descriptor }}
      action: catalog:register
      input: {catalogInfoUrl: '${{ parameters.descriptor }}'}
    - id: wait
      name: Wait
      if: ${{ parameters.waitMs }}
      action: debug:wait
      input: {milliseconds: '${{ parameters.waitMs }}'}
  output:
    links:
      - {title: In the catalog, entityRef: '${{ steps.register.output.entityRef }}'}
"#;

const COMPONENT: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: made-by-task}\nspec: {type: service, lifecycle: experimental, owner: team-a}\n";

fn template_dir() -> tempfile::TempDir {
    let dir = temp_dir();
    std::fs::create_dir_all(dir.path().join("skeleton")).unwrap();
    std::fs::create_dir_all(dir.path().join("extras")).unwrap();
    std::fs::write(dir.path().join("template.yaml"), TEMPLATE).unwrap();
    std::fs::write(dir.path().join("skeleton/README.md"), "# ${{ values.name }}\n").unwrap();
    std::fs::write(dir.path().join("extras/component.yaml"), COMPONENT).unwrap();
    dir
}

async fn spawn_tasks(db: Db, dir: &tempfile::TempDir) -> TestApp {
    let root = dir.path().canonicalize().unwrap();
    spawn_with(db, vec![dir.path().join("template.yaml")], move |s, _| s.reading.file_roots = vec![root]).await
}

async fn create(app: &TestApp, values: Value) -> String {
    let (status, body) = app
        .post_json(
            "/api/scaffolder/v2/tasks",
            &json!({"templateRef": "template:default/task-path", "values": values, "secrets": {"token": "s3cret-token"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The task once `ready` holds.
async fn task_when(base: &str, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = client.get(format!("{base}/api/scaffolder/v2/tasks/{id}")).send().await;
        if let Ok(res) = res
            && let Ok(t) = res.json::<Value>().await
            && ready(&t)
        {
            return t;
        }
        assert!(Instant::now() < deadline, "the task never got {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}/events")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

async fn a_task_runs_to_completion_and_registers_what_it_made(db: Db) {
    let dir = template_dir();
    let app = spawn_tasks(db, &dir).await;
    let descriptor = format!("file:{}", dir.path().canonicalize().unwrap().join("extras/component.yaml").display());
    let id = create(&app, json!({"name": "svc-t", "descriptor": descriptor})).await;
    let t = task_when(&app.address, &id, "completed", |t| t["status"] == "completed").await;
    assert_eq!(t["spec"]["apiVersion"], "scaffolder.backstage.io/v1beta3", "{t}");
    assert_eq!(t["spec"]["parameters"]["name"], "svc-t");
    assert_eq!(t["spec"]["templateInfo"]["entityRef"], "template:default/task-path");
    assert!(t["createdAt"].is_string() && t["lastHeartbeatAt"].is_string(), "{t}");
    assert!(t.get("secrets").is_none(), "{t}");
    let ev = events(&app, &id).await;
    let text = serde_json::to_string(&ev).unwrap();
    assert!(!text.contains("s3cret-token"), "the secret never shows: {text}");
    assert!(text.contains("token ***"), "{text}");
    assert!(text.contains("Beginning step Fetch") && text.contains("README.md"), "{text}");
    let completion = ev.iter().find(|e| e["type"] == "completion").expect("a completion event");
    assert_eq!(completion["body"]["message"], "Run completed with status: completed", "{completion}");
    assert_eq!(completion["body"]["output"]["links"][0]["entityRef"], "component:default/made-by-task", "{completion}");
    assert!(ev.iter().all(|e| e["taskId"] == id.as_str() && e["id"].is_number() && e["createdAt"].is_string()));
    // Events after an id: only the later ones.
    let first = ev[0]["id"].as_i64().unwrap();
    let (_, later) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}/events?after={first}")).await;
    assert_eq!(later.as_array().unwrap().len(), ev.len() - 1);
    // The entity the task registered is in the catalog.
    let (status, e) = app.entity("component", "default", "made-by-task").await;
    assert_eq!(status, 200, "{e}");
    // The event stream replays the events and ends after the completion.
    let res = app.get(&format!("/api/scaffolder/v2/tasks/{id}/eventstream")).await;
    assert_eq!(res.status(), 200);
    let stream = tokio::time::timeout(Duration::from_secs(10), res.text()).await.expect("the stream ends").unwrap();
    assert!(stream.contains("event: log\ndata: {") && stream.contains("event: completion\n"), "{stream}");
    assert!(!stream.contains("s3cret-token"));
    // Listed, newest first, filtered by status.
    let (_, list) = app.get_json("/api/scaffolder/v2/tasks?status=completed").await;
    assert_eq!(list["totalTasks"], 1, "{list}");
    assert_eq!(list["tasks"][0]["id"], id.as_str());
    let (_, none) = app.get_json("/api/scaffolder/v2/tasks?status=failed").await;
    assert_eq!(none["totalTasks"], 0, "{none}");
    let (status, bad) = app.get_json("/api/scaffolder/v2/tasks?status=done").await;
    assert_eq!(status, 400, "{bad}");
    let (status, body) = app.get_json("/api/scaffolder/v2/tasks/nope").await;
    assert_eq!(status, 404, "{body}");
}

async fn what_cannot_run_is_refused_before_it_is_stored(db: Db) {
    let dir = template_dir();
    let app = spawn_tasks(db, &dir).await;
    let (status, body) = app
        .post_json("/api/scaffolder/v2/tasks", &json!({"templateRef": "template:default/task-path", "values": {}}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["name"]), "{body}");
    let (status, body) =
        app.post_json("/api/scaffolder/v2/tasks", &json!({"templateRef": "template:default/nope", "values": {}})).await;
    assert_eq!(status, 404, "{body}");
    // A registration the rules refuse fails the task, naming the step.
    let id = create(&app, json!({"name": "x", "descriptor": "file:/etc/passwd"})).await;
    let t = task_when(&app.address, &id, "failed", |t| t["status"] == "failed").await;
    let ev = events(&app, &id).await;
    let completion = ev.iter().find(|e| e["type"] == "completion").unwrap();
    let msg = completion["body"]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("step 'register' (catalog:register) failed") && msg.contains("file_roots"), "{msg} {t}");
    let (_, list) = app.get_json("/api/scaffolder/v2/tasks").await;
    assert_eq!(list["totalTasks"], 1, "only the task that could start is stored: {list}");
}

async fn a_waiting_task_is_cancelled(db: Db) {
    let dir = template_dir();
    let app = spawn_tasks(db, &dir).await;
    let id = create(&app, json!({"name": "slow", "waitMs": 20000})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !events(&app, &id).await.iter().any(|e| e["body"]["message"] == "Beginning step Wait") {
        assert!(Instant::now() < deadline, "the wait never began");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = app.post_json(&format!("/api/scaffolder/v2/tasks/{id}/cancel"), &json!({})).await;
    assert_eq!((status, &body), (200, &json!({"status": "cancelled"})));
    let t = task_when(&app.address, &id, "cancelled", |t| t["status"] == "cancelled").await;
    let ev = events(&app, &id).await;
    assert!(ev.iter().any(|e| e["type"] == "cancelled"), "{ev:?}");
    let completion = ev.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(completion["body"]["message"], "Run completed with status: cancelled", "{t}");
}

/// An instance killed while its task runs: the next instance fails the task, saying why.
async fn the_task_of_a_killed_instance_fails_with_its_reason(db: Db) {
    let dir = template_dir();
    let data = temp_dir();
    let url = fresh_database(db, data.path());
    let template = dir.path().join("template.yaml");
    let (mut child, base) = serve_child(&url, data.path(), &template, &[]);
    let body = json!({"templateRef": "template:default/task-path", "values": {"name": "k", "waitMs": 60000}});
    let id = create_task_on(&base, &body).await;
    task_when(&base, &id, "processing", |t| t["status"] == "processing").await;
    child.kill().await.unwrap();
    let data_dir = temp_dir();
    let app = spawn_on(url, data_dir, vec![template], |_, _| {}).await;
    let t = task_when(&app.address, &id, "failed", |t| t["status"] == "failed").await;
    let ev = events(&app, &id).await;
    let completion = ev.iter().find(|e| e["type"] == "completion").unwrap();
    let msg = completion["body"]["message"].as_str().unwrap();
    assert!(msg.starts_with("The instance running this task stopped"), "{msg} {t}");
}

const GATED: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: gated
  title: Infrastructure
  annotations: {portolan.dev/approval: infra}
spec:
  type: resource
  steps:
    - id: ask
      name: Ask the database team
      action: portolan:approval
      input: {approvers: [dba, 'user:default/jo'], message: 'A database for ${{ parameters.name }}'}
    - id: after
      name: After
      action: debug:log
      input: {message: 'approved by ${{ steps.ask.output.approvedBy }}'}
"#;

async fn status_of(app: &TestApp, id: &str) -> String {
    let (_, t) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}")).await;
    t["status"].as_str().unwrap_or_default().to_owned()
}

/// The gates Backstage lacks: the whole task waits for a group before its first step, and a
/// step waits for its approvers; each decision is an event naming who took it; a rejection
/// fails the task with the reason, the later steps not run.
async fn approval_gates_hold_a_task_until_someone_decides(db: Db) {
    let dir = template_dir();
    std::fs::write(dir.path().join("gated.yaml"), GATED).unwrap();
    let app = spawn_with(db, vec![dir.path().join("gated.yaml")], |_, _| {}).await;
    let create = |name: &str| {
        let body = json!({"templateRef": "template:default/gated", "values": {"name": name}});
        let app = &app;
        async move {
            let (status, b) = app.post_json("/api/scaffolder/v2/tasks", &body).await;
            assert_eq!(status, 201, "{b}");
            b["id"].as_str().unwrap().to_owned()
        }
    };
    let decide = |id: String, verb: &'static str, reason: &'static str| {
        let app = &app;
        async move { app.post_json(&format!("/api/scaffolder/v2/tasks/{id}/{verb}"), &json!({"reason": reason})).await }
    };
    // Approved twice: the whole task, then its step.
    let id = create("orders").await;
    assert_eq!(status_of(&app, &id).await, "waiting");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&app, &id).await, "waiting", "nothing runs before the approval");
    let ev = events(&app, &id).await;
    assert_eq!(
        ev[0]["body"]["message"],
        "Waiting: Infrastructure needs the approval of group:default/infra before it runs"
    );
    assert_eq!(decide(id.clone(), "approve", "fine").await.0, 200);
    task_when(&app.address, &id, "waiting for its step", |t| t["status"] == "waiting").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !events(&app, &id).await.iter().any(|e| e["body"]["stepId"] == "ask" && e["body"]["status"] == "waiting") {
        assert!(Instant::now() < deadline, "the step never waited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = decide(id.clone(), "approve", "go").await;
    assert_eq!(status, 200, "{body}");
    task_when(&app.address, &id, "completed", |t| t["status"] == "completed").await;
    let messages: Vec<String> =
        events(&app, &id).await.iter().filter_map(|e| e["body"]["message"].as_str().map(str::to_owned)).collect();
    for m in [
        "Approved by guest: fine",
        "Waiting for the approval of group:default/dba, user:default/jo: A database for orders",
        "Approved by guest: go",
        "approved by guest",
    ] {
        assert!(messages.iter().any(|x| x == m), "{m} in {messages:?}");
    }
    // A decision on a task that no longer waits: 409.
    assert_eq!(decide(id.clone(), "approve", "again").await.0, 409);

    // Rejected at its step: failed with the reason; the later step never ran.
    let id = create("payments").await;
    assert_eq!(decide(id.clone(), "approve", "").await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !events(&app, &id).await.iter().any(|e| e["body"]["stepId"] == "ask" && e["body"]["status"] == "waiting") {
        assert!(Instant::now() < deadline, "the step never waited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(decide(id.clone(), "reject", "no budget").await.0, 200);
    task_when(&app.address, &id, "failed", |t| t["status"] == "failed").await;
    let ev = events(&app, &id).await;
    let completion = ev.iter().find(|e| e["type"] == "completion").unwrap();
    let msg = completion["body"]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("step 'ask' (portolan:approval) failed: rejected by guest: no budget"), "{msg}");
    assert!(!ev.iter().any(|e| e["body"]["stepId"] == "after"), "{ev:?}");

    // Rejected before it ran: failed at once.
    let id = create("cache").await;
    assert_eq!(decide(id.clone(), "reject", "use the shared one").await.0, 200);
    assert_eq!(status_of(&app, &id).await, "failed");
    let ev = events(&app, &id).await;
    let completion = ev.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(completion["body"]["error"]["message"], "Rejected by guest: use the shared one");
    // Unknown task: 404. A waiting task is listed as waiting.
    assert_eq!(decide("nope".into(), "approve", "").await.0, 404);
    let id = create("queue").await;
    let (_, list) = app.get_json("/api/scaffolder/v2/tasks?status=waiting").await;
    assert_eq!(list["tasks"][0]["id"], id.as_str(), "{list}");
    // Cancelled while it waits.
    let (status, _) = app.post_json(&format!("/api/scaffolder/v2/tasks/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&app, &id).await, "cancelled");
}

both!(
    approval_gates_hold_a_task_until_someone_decides,
    a_task_runs_to_completion_and_registers_what_it_made,
    what_cannot_run_is_refused_before_it_is_stored,
    a_waiting_task_is_cancelled,
    the_task_of_a_killed_instance_fails_with_its_reason,
);
