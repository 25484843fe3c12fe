//! Publishing (docs/scaffolder.md): a template with every action and expression form runs as a
//! task to `completed`; its files are in the repositories it created on the fake GitHub and
//! GitLab (real bare git repositories, read back with git), the same files the dry run gives;
//! the component it pushed is registered from the pushed repository; a workflow was dispatched.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::both;
use crate::fake_git::FakeGit;
use crate::helpers::*;

/// The dry-run test's template, its registration replaced by publishing, registering from the
/// pushed repository, and a workflow dispatch.
fn publishing_template() -> String {
    let t = crate::scaffolder::TEMPLATE.replace("name: service,", "name: published,");
    let register = "    - id: register\n      action: catalog:register\n      input: {repoContentsUrl: 'https://github.com/${{ parameters.repoUrl | projectSlug }}/blob/main'}\n";
    assert!(t.contains(register));
    t.replace(
        register,
        "    - id: publish\n      action: publish:github\n      input: {repoUrl: '${{ parameters.repoUrl }}', defaultBranch: main, description: 'The ${{ parameters.name }} service', topics: [golden-path]}\n\
         \x20   - id: mirror\n      action: publish:gitlab\n      input: {repoUrl: '${{ parameters.mirrorUrl }}', defaultBranch: main, repoVisibility: internal}\n\
         \x20   - id: register\n      action: catalog:register\n      input: {repoContentsUrl: '${{ steps.publish.output.repoContentsUrl }}'}\n\
         \x20   - id: ci\n      action: github:actions:dispatch\n      input: {repoUrl: '${{ parameters.repoUrl }}', workflowId: ci.yaml, branchOrTagName: main, workflowInputs: {name: '${{ parameters.name }}'}}\n",
    )
}

async fn a_task_publishes_what_the_dry_run_shows(db: Db) {
    let fake = FakeGit::start().await;
    let repos = temp_dir();
    fake.with_git(repos.path());
    let dir = crate::scaffolder::template_dir();
    std::fs::write(dir.path().join("template.yaml"), publishing_template()).unwrap();
    let host = format!("127.0.0.1:{}", fake.port);
    let (h, api, gl) = (host.clone(), fake.url(""), fake.url("/api/v4"));
    let app = spawn_with(db, vec![dir.path().join("template.yaml")], move |s, _| {
        s.reading.allow.push(serde_json::from_value(json!({"host": h})).unwrap());
        s.scaffolder.hosts = serde_json::from_value(json!([
            {"kind": "github", "host": h, "api_base_url": api, "token": "gh-token"},
            {"kind": "gitlab", "host": h, "api_base_url": gl, "token": "gl-token"}]))
        .unwrap();
    })
    .await;
    let values = json!({"name": "svc-p", "owner": "team-a", "repoUrl": format!("{host}?owner=acme&repo=svc-p"),
        "mirrorUrl": format!("{host}?owner=mirrors&repo=svc-p"), "flavours": ["blue", "green"], "docs": true});
    let body =
        json!({"templateRef": "template:default/published", "values": values, "secrets": {"token": "s3cret-token"}});
    let (status, dry) = app.post_json("/api/scaffolder/v2/dry-run", &body).await;
    assert_eq!(status, 200, "{dry}");
    assert!(fake.posted("/repos").is_empty(), "the dry run created no repository");
    let (status, created) = app.post_json("/api/scaffolder/v2/tasks", &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let t = loop {
        let (_, t) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}")).await;
        if ["completed", "failed"].contains(&t["status"].as_str().unwrap_or_default()) {
            break t;
        }
        assert!(Instant::now() < deadline, "the task never ended: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (_, ev) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}/events")).await;
    assert_eq!(t["status"], "completed", "{ev}");
    // Both repositories hold exactly the files of the dry run, byte for byte.
    let expected: BTreeMap<String, String> = crate::scaffolder::files(&dry)
        .into_iter()
        .map(|(p, (bytes, _))| (p, String::from_utf8_lossy(&bytes).into_owned()))
        .collect();
    assert!(expected.len() >= 8, "{:?}", expected.keys());
    assert_eq!(fake.repo_files("acme/svc-p", "main"), expected);
    assert_eq!(fake.repo_files("mirrors/svc-p", "main"), expected);
    // Created through the APIs with the step's inputs; pushed with the host's token.
    let gh = fake.posted("/orgs/acme/repos");
    assert_eq!(gh[0]["name"], "svc-p", "{gh:?}");
    assert_eq!(gh[0]["description"], "The svc-p service");
    assert_eq!(fake.posted("/topics")[0]["names"], json!(["golden-path"]));
    assert_eq!(fake.posted("/api/v4/projects")[0]["visibility"], "internal");
    let pushes = fake.hits_matching("/git/acme/svc-p.git/git-receive-pack");
    assert!(!pushes.is_empty(), "a real git push");
    let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "x-access-token:gh-token");
    assert_eq!(pushes[0].token.as_deref(), Some(format!("Basic {basic}").as_str()));
    let dispatched = fake.posted("/actions/workflows/ci.yaml/dispatches");
    assert_eq!(dispatched, vec![json!({"ref": "main", "inputs": {"name": "svc-p"}})]);
    // The outputs: the pushed commit, the repository's address; the component registered from it.
    let completion = ev.as_array().unwrap().iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(completion["body"]["output"]["links"][1]["entityRef"], "component:default/svc-p", "{completion}");
    let (status, e) = app.entity("component", "default", "svc-p").await;
    assert_eq!(status, 200, "{e}");
    let text = ev.to_string();
    assert!(text.contains("Pushed ") && !text.contains("gh-token") && !text.contains("s3cret-token"), "{text}");
    // Publishing again to the same repository fails in words, naming the step.
    let mut again = body.clone();
    again["values"]["mirrorUrl"] = json!(format!("{host}?owner=mirrors&repo=other"));
    let (_, created) = app.post_json("/api/scaffolder/v2/tasks", &again).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, t) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}")).await;
        if t["status"] == "failed" {
            break;
        }
        assert!(Instant::now() < deadline && t["status"] != "completed", "{t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, ev) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}/events")).await;
    let c = ev.as_array().unwrap().iter().find(|e| e["type"] == "completion").unwrap();
    let msg = c["body"]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("step 'publish' (publish:github) failed: GitHub refused to create acme/svc-p"), "{msg}");
    assert!(msg.contains("name already exists"), "{msg}");
}

both!(a_task_publishes_what_the_dry_run_shows);
