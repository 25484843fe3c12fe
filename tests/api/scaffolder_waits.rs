//! Steps that wait for something outside the task (docs/scaffolder.md): `portolan:await` answered
//! ready (through a real provisioner that creates a PostgreSQL database), failed, and timed out;
//! its one-time callback; the Resource entity registered with its `dependencyOf` and counted in
//! the platform view; and a task waiting at a step surviving the kill of its instance.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;
use crate::provisioner::{self, Provisioner};

const CATALOG: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: database, title: A PostgreSQL database}
spec:
  owner: dba
  type: resource
  parameters:
    - required: [name, component, mode]
      properties:
        name: {type: string}
        component: {type: string}
        mode: {type: string}
        timeout: {type: string, default: 1h}
  steps:
    - id: provision
      name: Provision
      action: portolan:await
      input:
        url: '${{ parameters.hook }}'
        payload: {mode: '${{ parameters.mode }}', name: '${{ parameters.name }}'}
        timeout: '${{ parameters.timeout }}'
        message: 'Waiting for the database ${{ parameters.name }}'
    - id: resource
      name: Register it
      action: portolan:resource
      input:
        name: '${{ parameters.name }}'
        type: database
        owner: dba
        dependencyOf: '${{ parameters.component }}'
        output: '${{ steps.provision.output.output }}'
  output:
    links:
      - {title: The database, entityRef: '${{ steps.resource.output.entityRef }}'}
    text:
      - {title: Where, content: '${{ steps.provision.output.output.host }}:${{ steps.provision.output.output.port }}'}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: data-platform}
spec: {owner: dba}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: dba}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: orders}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: two-steps, title: Fetch, wait, go on}
spec:
  owner: team-a
  type: service
  steps:
    - id: fetch
      action: fetch:template
      input: {url: ./skeleton, values: {name: '${{ parameters.name }}'}}
    - id: ask
      action: portolan:approval
      input: {approvers: [dba]}
    - id: after
      action: debug:log
      input: {message: 'after ${{ steps.ask.output.approvedBy }} with ${{ secrets.token }}', listWorkspace: with-contents}
"#;

fn catalog_dir() -> tempfile::TempDir {
    let dir = temp_dir();
    std::fs::create_dir_all(dir.path().join("skeleton")).unwrap();
    std::fs::write(dir.path().join("catalog.yaml"), CATALOG).unwrap();
    std::fs::write(dir.path().join("skeleton/README.md"), "# ${{ values.name }}\n").unwrap();
    dir
}

fn allow(host: &str) -> portolan::catalog::fetch::AllowRule {
    serde_json::from_value(json!({"host": host})).unwrap()
}

async fn task_when(app: &TestApp, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, t) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}")).await;
        if ready(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "the task never got {what}: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}/events")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

fn messages(ev: &[Value]) -> Vec<String> {
    ev.iter().filter_map(|e| e["body"]["message"].as_str().map(str::to_owned)).collect()
}

fn failure(ev: &[Value]) -> String {
    let c = ev.iter().find(|e| e["type"] == "completion").expect("a completion");
    c["body"]["error"]["message"].as_str().unwrap_or_default().to_owned()
}

async fn await_is_answered_ready_failed_and_timed_out(db: Db) {
    let receiver = Provisioner::start().await;
    let dir = catalog_dir();
    let hook_host = format!("127.0.0.1:{}", receiver.port);
    let app = spawn_with(db, vec![dir.path().join("catalog.yaml")], move |s, _| {
        s.reading.allow.push(allow(&hook_host));
        s.scaffolder.webhook_secret = Some(portolan::secret::Secret::new(provisioner::SECRET));
    })
    .await;
    let create = |mode: &str, name: &str, timeout: &str| {
        let body = json!({"templateRef": "template:default/database", "values": {
            "name": name, "component": "orders", "mode": mode, "timeout": timeout, "hook": receiver.url()}});
        let app = &app;
        async move {
            let (status, b) = app.post_json("/api/scaffolder/v2/tasks", &body).await;
            assert_eq!(status, 201, "{b}");
            b["id"].as_str().unwrap().to_owned()
        }
    };
    let pg = postgres_url().is_some();
    let db_name = format!("prov_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    provisioner::drop_database(&db_name);

    // Ready, through a provisioner that creates the database (when PostgreSQL is here to make it on).
    let id = create(if pg { "database" } else { "pending" }, &db_name, "1h").await;
    let t = task_when(&app, &id, "completed", |t| t["status"] == "completed" || t["status"] == "failed").await;
    let ev = events(&app, &id).await;
    assert_eq!(t["status"], "completed", "{:?}", messages(&ev));
    let said = messages(&ev);
    assert!(said.iter().any(|m| m == &format!("Waiting: Waiting for the database {db_name}")), "{said:?}");
    // The receiver's own words show on the task while it waits.
    let pending = if pg { format!("creating database {db_name}") } else { "still creating".to_owned() };
    assert!(said.iter().any(|m| m.ends_with(&format!("says: Not ready yet: {pending}"))), "{said:?}");
    assert!(said.iter().any(|m| m.starts_with("Going on with step Provision")), "{said:?}");
    let completion = ev.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(completion["body"]["output"]["links"][0]["entityRef"], format!("resource:default/{db_name}"));
    if pg {
        assert!(provisioner::database_exists(&db_name), "the provisioner made the database");
        assert_eq!(completion["body"]["output"]["text"][0]["content"], "127.0.0.1:5432");
    }
    // The webhook was signed (the receiver refused none), carried the payload and a callback address.
    assert_eq!(receiver.refused(), 0);
    let hook = &receiver.bodies()[0];
    assert_eq!(hook["payload"]["name"], db_name.as_str(), "{hook}");
    let callback = hook["callbackUrl"].as_str().unwrap().to_owned();
    assert!(callback.contains(&format!("/api/scaffolder/v2/tasks/{id}/callbacks/")), "{callback}");
    assert!(receiver.answers().iter().all(|(s, _)| *s == 200), "{:?}", receiver.answers());
    // The callback address works once: a second answer is refused; a made-up token is unknown.
    let again = reqwest::Client::new().post(&callback).json(&json!({"status": "ready"})).send().await.unwrap();
    assert!([404, 409].contains(&again.status().as_u16()), "{}", again.status());
    let (status, body) =
        app.post_json(&format!("/api/scaffolder/v2/tasks/{id}/callbacks/made-up"), &json!({"status": "ready"})).await;
    assert_eq!(status, 404, "{body}");
    // The Resource entity is in the catalog, a dependency of the component, with what was made.
    let (status, e) = app.entity("resource", "default", &db_name).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["spec"]["dependencyOf"], json!(["component:default/orders"]), "{e}");
    assert_eq!(e["metadata"]["annotations"]["portolan.dev/template"], "template:default/database");
    assert!(
        e["relations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "dependencyOf" && r["targetRef"] == "component:default/orders"),
        "{e}"
    );
    if pg {
        assert_eq!(e["metadata"]["annotations"]["portolan.dev/output-database"], db_name.as_str());
        assert!(!e.to_string().contains("PASSWORD"), "{e}");
    }

    // Failed: the step fails with the receiver's message; the resource step never runs.
    let id = create("failed", "nope-db", "1h").await;
    task_when(&app, &id, "failed", |t| t["status"] == "failed").await;
    let ev = events(&app, &id).await;
    let msg = failure(&ev);
    assert!(
        msg.contains("step 'provision' (portolan:await) failed") && msg.ends_with("answered failed: quota exceeded"),
        "{msg}"
    );
    assert!(!ev.iter().any(|e| e["body"]["stepId"] == "resource"), "{:?}", messages(&ev));

    // Timed out: no callback within 2 s.
    let id = create("silent", "slow-db", "2s").await;
    task_when(&app, &id, "waiting", |t| t["status"] == "waiting").await;
    task_when(&app, &id, "failed", |t| t["status"] == "failed").await;
    let msg = failure(&events(&app, &id).await);
    assert!(msg.contains("did not call back within 2s (its last message: Waiting for the database slow-db)"), "{msg}");

    // A bad answer is a 400 in words; nothing changes.
    let id = create("silent", "late-db", "1h").await;
    task_when(&app, &id, "waiting", |t| t["status"] == "waiting").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let cb = loop {
        if let Some(b) = receiver.bodies().iter().find(|b| b["payload"]["name"] == "late-db") {
            break b["callbackUrl"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no webhook for late-db");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let res = reqwest::Client::new().post(&cb).json(&json!({"status": "done"})).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("status"), "{body}");
    assert_eq!(task_when(&app, &id, "waiting", |t| t["status"] == "waiting").await["status"], "waiting");

    // The platform view counts the infrastructure requested through its templates.
    let (status, view) = app.get_json("/api/portal/platforms/default/data-platform").await;
    assert_eq!(status, 200, "{view}");
    let r = &view["resources"];
    assert_eq!(r["templates"], json!(["template:default/database"]), "{view}");
    assert_eq!(
        (r["requested"].as_u64(), r["ready"].as_u64(), r["failed"].as_u64()),
        (Some(4), Some(1), Some(2)),
        "{r}"
    );
    assert_eq!(r["inProgress"], 1, "{r}");
    assert!(r["medianHoursToReady"].as_f64().is_some_and(|h| h > 0.0 && h < 0.1), "{r}");
    assert_eq!(r["byConsumer"], json!([{"consumer": "component:default/orders", "ready": 1}]), "{r}");
    if pg {
        provisioner::drop_database(&db_name);
    }
}

/// A task waiting at a step holds no instance: killed with kill -9, another instance takes the
/// decision and goes on from the step, with the workspace and secrets as they were.
async fn a_task_waiting_at_a_step_survives_a_restart(db: Db) {
    let dir = catalog_dir();
    let data = temp_dir();
    let url = fresh_database(db, data.path());
    let catalog = dir.path().join("catalog.yaml");
    let (mut child, base) = serve_child(&url, data.path(), &catalog, &[]);
    let client = reqwest::Client::new();
    let body = json!({"templateRef": "template:default/two-steps", "values": {"name": "kept"}, "secrets": {"token": "t0ps3cret"}});
    let id = create_task_on(&base, &body).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t: Value =
            client.get(format!("{base}/api/scaffolder/v2/tasks/{id}")).send().await.unwrap().json().await.unwrap();
        if t["status"] == "waiting" {
            break;
        }
        assert!(Instant::now() < deadline, "the task never waited: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.unwrap();
    let app = spawn_on(url, temp_dir(), vec![catalog], |_, _| {}).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, t) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}")).await;
    assert_eq!(t["status"], "waiting", "a waiting task is not failed when its instance dies: {t}");
    let (status, body) =
        app.post_json(&format!("/api/scaffolder/v2/tasks/{id}/approve"), &json!({"reason": "ok"})).await;
    assert_eq!(status, 200, "{body}");
    task_when(&app, &id, "completed", |t| t["status"] == "completed").await;
    let ev = events(&app, &id).await;
    let said = messages(&ev);
    assert!(said.iter().any(|m| m == "after guest with ***"), "the secret came back, masked: {said:?}");
    assert!(said.iter().any(|m| m.contains("README.md") && m.contains("# kept")), "the workspace came back: {said:?}");
    assert_eq!(said.iter().filter(|m| m.starts_with("Starting up task")).count(), 1, "{said:?}");
    assert!(!serde_json::to_string(&ev).unwrap().contains("t0ps3cret"));
}

both!(await_is_answered_ready_failed_and_timed_out, a_task_waiting_at_a_step_survives_a_restart);
