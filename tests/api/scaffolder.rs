//! Golden paths (docs/scaffolder.md): Backstage's scaffolder API on a template of the tests' own
//! with a skeleton beside it: the parameter schema, the actions, and dry runs (every fetch and
//! file action, `each`, `if`, the filters, the output), with the values, an unknown action or
//! filter, a failing step and a path leaving the template's folder refused in words.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

pub(crate) const TEMPLATE: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: service, title: A service, description: The golden path for a service}
spec:
  owner: team-a
  type: service
  parameters:
    - title: About it
      required: [name, owner]
      properties:
        name: {type: string, title: Name, pattern: '^[a-z][a-z0-9-]*$'}
        owner: {type: string, title: Owner, 'ui:field': OwnerPicker}
    - title: Where
      required: [repoUrl]
      properties:
        repoUrl: {type: string}
        flavours: {type: array, items: {type: string}}
        docs: {type: boolean, default: false}
  steps:
    - id: fetch
      name: Fetch the skeleton
      action: fetch:template
      input:
        url: ./skeleton
        values:
          name: ${{ parameters.name }}
          owner: "${{ parameters.owner | parseEntityRef({defaultKind: 'group'}) }}"
          slug: ${{ parameters.repoUrl | projectSlug }}
          docs: ${{ parameters.docs }}
        copyWithoutTemplating: ['static/*']
    - id: license
      action: fetch:plain:file
      input: {url: ./extras/LICENSE, targetPath: LICENSE}
    - id: flavours
      each: ${{ parameters.flavours }}
      action: catalog:write
      input:
        filePath: flavours/${{ each.value }}.yaml
        entity:
          apiVersion: backstage.io/v1alpha1
          kind: Component
          metadata: {name: '${{ parameters.name }}-${{ each.value }}'}
          spec: {type: service, owner: '${{ parameters.owner }}', lifecycle: experimental}
    - id: docs
      if: ${{ parameters.docs }}
      action: fetch:plain
      input: {url: ./docs, targetPath: docs}
    - id: nodocs
      if: ${{ not parameters.docs }}
      action: debug:log
      input: {message: no docs}
    - id: tidy
      action: fs:rename
      input: {files: [{from: README.md, to: docs-README.md}]}
    - id: drop
      action: fs:delete
      input: {files: ['*.tmp']}
    - id: write
      action: catalog:write
      input:
        entity:
          apiVersion: backstage.io/v1alpha1
          kind: Component
          metadata: {name: '${{ parameters.name }}'}
          spec: {type: service, owner: '${{ parameters.owner }}', lifecycle: experimental}
    - id: register
      action: catalog:register
      input: {repoContentsUrl: 'https://github.com/${{ parameters.repoUrl | projectSlug }}/blob/main'}
    - id: log
      action: debug:log
      input: {message: 'Registered ${{ steps.register.output.entityRef }} for ${{ user.ref }} with ${{ secrets.token }}'}
  output:
    links:
      - title: Repository
        url: https://github.com/${{ parameters.repoUrl | projectSlug }}
      - title: In the catalog
        entityRef: ${{ steps.register.output.entityRef }}
    text:
      - title: Flavours
        content: ${{ steps.flavours.output }}
"#;

pub(crate) fn template_dir() -> tempfile::TempDir {
    let dir = temp_dir();
    let p = dir.path();
    let w = |rel: &str, body: &[u8]| {
        let f = p.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, body).unwrap();
    };
    w("template.yaml", TEMPLATE.as_bytes());
    w(
        "skeleton/${{ values.name }}/main.txt",
        b"service ${{ values.name }} owned by ${{ values.owner.name }} ({{ untouched }})\n",
    );
    w("skeleton/README.md", b"# ${{ values.name }}\n{% if values.docs %}with docs{% else %}no docs{% endif %}\n");
    w("skeleton/static/logo.txt", b"${{ kept as written }}");
    w("skeleton/run.sh", b"#!/bin/sh\necho ${{ values.slug }}\n");
    w("skeleton/bin.dat", &[0xff, 0x00, 0xfe]);
    w("skeleton/junk.tmp", b"x");
    w("extras/LICENSE", b"MIT");
    w("docs/index.md", b"docs");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p.join("skeleton/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// The files of a dry run: path -> (bytes, executable).
pub(crate) fn files(body: &Value) -> BTreeMap<String, (Vec<u8>, bool)> {
    body["directoryContents"]
        .as_array()
        .unwrap_or_else(|| panic!("no directoryContents: {body}"))
        .iter()
        .map(|f| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(f["base64Content"].as_str().unwrap()).unwrap();
            (f["path"].as_str().unwrap().to_owned(), (bytes, f["executable"].as_bool().unwrap()))
        })
        .collect()
}

fn text(files: &BTreeMap<String, (Vec<u8>, bool)>, path: &str) -> String {
    String::from_utf8(files.get(path).unwrap_or_else(|| panic!("{path} in {:?}", files.keys())).0.clone()).unwrap()
}

fn logged(body: &Value) -> Vec<String> {
    body["log"].as_array().unwrap().iter().map(|l| l["body"]["message"].as_str().unwrap().to_owned()).collect()
}

async fn spawn_templates(db: Db) -> (TestApp, tempfile::TempDir) {
    let dir = template_dir();
    let app = spawn_with(db, vec![dir.path().join("template.yaml")], |_, _| {}).await;
    (app, dir)
}

async fn dry_run(app: &TestApp, values: Value) -> (u16, Value) {
    app.post_json(
        "/api/scaffolder/v2/dry-run",
        &json!({"templateRef": "template:default/service", "values": values, "secrets": {"token": "s3cret-token"}}),
    )
    .await
}

async fn the_form_and_the_actions_are_backstages(db: Db) {
    let (app, _dir) = spawn_templates(db).await;
    let (status, s) = app.get_json("/api/scaffolder/v2/templates/default/template/service/parameter-schema").await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["title"], "A service");
    assert_eq!(s["description"], "The golden path for a service");
    let steps = s["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{s}");
    assert_eq!(steps[0]["title"], "About it");
    // The page's schema as written, ui: keys included.
    assert_eq!(steps[0]["schema"]["properties"]["owner"]["ui:field"], "OwnerPicker", "{s}");
    assert_eq!(steps[1]["schema"]["required"], json!(["repoUrl"]));
    let (status, body) = app.get_json("/api/scaffolder/v2/templates/default/template/nope/parameter-schema").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get_json("/api/scaffolder/v2/templates/default/component/service/parameter-schema").await;
    assert_eq!(status, 400, "{body}");

    let (status, list) = app.get_json("/api/scaffolder/v2/actions").await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    for id in [
        "catalog:fetch",
        "catalog:register",
        "catalog:write",
        "debug:log",
        "debug:wait",
        "fetch:plain",
        "fetch:plain:file",
        "fetch:template",
        "fetch:template:file",
        "fs:delete",
        "fs:rename",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "sorted by id");
    let fetch = list.as_array().unwrap().iter().find(|a| a["id"] == "fetch:template").unwrap();
    assert_eq!(fetch["schema"]["input"]["required"], json!(["url"]), "{fetch}");
    assert!(fetch["schema"]["input"]["properties"]["copyWithoutTemplating"].is_object(), "{fetch}");
}

async fn a_dry_run_makes_the_files_and_touches_nothing_else(db: Db) {
    let (app, _dir) = spawn_templates(db).await;
    let values = json!({"name": "svc-a", "owner": "team-a", "repoUrl": "github.com?owner=acme&repo=svc-a",
        "flavours": ["blue", "green"], "docs": true});
    let (status, body) = dry_run(&app, values.clone()).await;
    assert_eq!(status, 200, "{body}");
    let f = files(&body);
    // File names and contents rendered; {{ }} is text with Backstage's delimiters.
    assert_eq!(text(&f, "svc-a/main.txt"), "service svc-a owned by team-a ({{ untouched }})\n");
    // Renamed by fs:rename, with the block rendered.
    assert_eq!(text(&f, "docs-README.md"), "# svc-a\nwith docs\n");
    assert!(!f.contains_key("README.md"));
    // copyWithoutTemplating: the contents as written.
    assert_eq!(text(&f, "static/logo.txt"), "${{ kept as written }}");
    // The execute bit kept; bytes that are no text copied as they are.
    assert_eq!(text(&f, "run.sh"), "#!/bin/sh\necho acme/svc-a\n");
    assert!(f["run.sh"].1, "run.sh stays executable");
    assert_eq!(f["bin.dat"].0, vec![0xff, 0x00, 0xfe]);
    assert!(!f["bin.dat"].1);
    // fs:delete by pattern; fetch:plain:file; fetch:plain under if; catalog:write per each item.
    assert!(!f.contains_key("junk.tmp"), "{:?}", f.keys());
    assert_eq!(text(&f, "LICENSE"), "MIT");
    assert_eq!(text(&f, "docs/index.md"), "docs");
    let blue = text(&f, "flavours/blue.yaml");
    assert!(blue.contains("name: svc-a-blue") && blue.contains("owner: team-a"), "{blue}");
    assert!(f.contains_key("flavours/green.yaml"));
    assert!(text(&f, "catalog-info.yaml").contains("name: svc-a"), "{}", text(&f, "catalog-info.yaml"));
    // The log: steps begun and finished, the skipped if, catalog:register skipped in a dry run,
    // the secret masked.
    let log = logged(&body);
    assert!(log.contains(&"Starting up task with 10 steps".to_owned()), "{log:?}");
    assert!(log.contains(&"Beginning step Fetch the skeleton".to_owned()), "{log:?}");
    assert!(log.contains(&"Skipping step nodocs because its if condition was false".to_owned()), "{log:?}");
    assert!(log.contains(&"Skipping because catalog:register does not support dry-run".to_owned()), "{log:?}");
    assert!(log.iter().any(|l| l == "Registered <example> for user:default/guest with ***"), "{log:?}");
    assert!(!body.to_string().contains("s3cret-token"), "the secret is masked everywhere");
    let statuses: Vec<&str> = body["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["body"]["stepId"] == "fetch")
        .filter_map(|l| l["body"]["status"].as_str())
        .collect();
    assert_eq!(statuses, ["processing", "completed"], "{body}");
    // The output, rendered: links, and each's outputs collected per name (catalog:write has none).
    assert_eq!(body["output"]["links"][0], json!({"title": "Repository", "url": "https://github.com/acme/svc-a"}));
    assert_eq!(body["output"]["links"][1]["entityRef"], "<example>");
    assert_eq!(body["steps"].as_array().unwrap().len(), 10);
    assert_eq!(body["steps"][3]["if"], "${{ parameters.docs }}");

    // Without docs: the other branch, no docs folder.
    let mut no_docs = values.clone();
    no_docs["docs"] = json!(false);
    no_docs["flavours"] = json!([]);
    let (status, body) = dry_run(&app, no_docs).await;
    assert_eq!(status, 200, "{body}");
    let f = files(&body);
    assert_eq!(text(&f, "docs-README.md"), "# svc-a\nno docs\n");
    assert!(!f.keys().any(|k| k.starts_with("docs/") || k.starts_with("flavours/")), "{:?}", f.keys());
    assert!(logged(&body).contains(&"no docs".to_owned()));

    // Nothing reached the catalog.
    let (status, _) = app.entity("component", "default", "svc-a").await;
    assert_eq!(status, 404);
}

async fn what_cannot_run_is_refused_in_words(db: Db) {
    let (app, dir) = spawn_templates(db).await;
    // Values that do not fit the form: 400 with the places, also as Backstage's `errors`.
    let (status, body) = dry_run(&app, json!({"name": "Not Valid", "owner": "team-a"})).await;
    assert_eq!(status, 400, "{body}");
    let paths: Vec<Value> = body["errors"].as_array().unwrap().iter().map(|e| e["path"].clone()).collect();
    assert!(paths.contains(&json!(["name"])) && paths.contains(&json!(["repoUrl"])), "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("/values/name") && msg.contains("/values/repoUrl"), "{msg}");

    // A Backstage body: the template document with its files.
    let doc = |steps: Value| {
        json!({"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template", "metadata": {"name": "t"},
               "spec": {"type": "service", "parameters": [{"properties": {"name": {"type": "string"}}}], "steps": steps}})
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (status, body) = app
        .post_json(
            "/api/scaffolder/v2/dry-run",
            &json!({"template": doc(json!([{"id": "f", "action": "fetch:template", "input": {"url": "./skel", "values": {"n": "${{ parameters.name }}"}}}])),
                "values": {"name": "x"}, "directoryContents": [{"path": "skel/a.txt", "base64Content": b64("hello ${{ values.n }}")}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(text(&files(&body), "a.txt"), "hello x");

    // An action or a filter portolan lacks: refused before anything runs, naming it.
    let run = |steps: Value| {
        let app = &app;
        let body = json!({"template": doc(steps), "values": {}, "directoryContents": []});
        async move { app.post_json("/api/scaffolder/v2/dry-run", &body).await }
    };
    let (status, body) = run(json!([{"id": "p", "action": "publish:bitbucket", "input": {}}])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("'publish:bitbucket'"), "{body}");
    let (status, body) =
        run(json!([{"id": "l", "action": "debug:log", "input": {"message": "${{ parameters.name | shout }}"}}])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("filter 'shout'"), "{body}");
    // A failing step: the step named, the later steps not run, the log kept.
    let (status, body) = run(json!([
        {"id": "mv", "action": "fs:rename", "input": {"files": [{"from": "nope.md", "to": "b.md"}]}},
        {"id": "after", "action": "debug:log", "input": {"message": "never"}}
    ]))
    .await;
    assert_eq!(status, 400, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("step 'mv' (fs:rename) failed") && msg.contains("nope.md does not exist"), "{msg}");
    assert_eq!(body["error"]["details"]["stepId"], "mv");
    assert!(!body.to_string().contains("never"), "{body}");
    // An input the action's schema refuses; each over no list; a path leaving the template.
    let (status, body) = run(json!([{"id": "d", "action": "fs:delete", "input": {"files": "x"}}])).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("the input of fs:delete is not valid: /files"),
        "{body}"
    );
    let (status, body) =
        run(json!([{"id": "e", "each": "${{ parameters.name }}", "action": "debug:log", "input": {}}])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("each must give a list or an object"), "{body}");
    let outside = dir.path().parent().unwrap().display().to_string();
    let (status, body) = run(json!([{"id": "f", "action": "fetch:plain", "input": {"url": "../../../etc"}}])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("leaves the template's folder"), "{body}");
    assert!(!body.to_string().contains(&outside) || outside.is_empty());
    // A workspace path leaving the workspace.
    let (status, body) =
        run(json!([{"id": "w", "action": "catalog:write", "input": {"filePath": "../x.yaml", "entity": {}}}])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("leaves the workspace"), "{body}");
}

/// The demo's golden path, as the README walks through it.
async fn the_demo_golden_path_dry_runs(db: Db) {
    let app = spawn_app(db).await;
    let (status, s) = app.get_json("/api/scaffolder/v2/templates/default/template/new-service/parameter-schema").await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["steps"].as_array().unwrap().len(), 2, "{s}");
    let values =
        json!({"name": "pricing", "owner": "group:default/checkout-team", "description": "Prices", "ci": true});
    let (status, body) = app
        .post_json(
            "/api/scaffolder/v2/dry-run",
            &json!({"templateRef": "template:default/new-service", "values": values}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let f = files(&body);
    assert!(text(&f, "README.md").starts_with("# pricing\n\nPrices\n"), "{}", text(&f, "README.md"));
    assert!(text(&f, "Cargo.toml").contains("name = \"pricing\""));
    assert!(text(&f, ".github/workflows/ci.yml").starts_with("name: pricing CI"));
    let info = text(&f, "catalog-info.yaml");
    assert!(info.contains("name: pricing") && info.contains("owner: group:default/checkout-team"), "{info}");
    assert!(!info.contains("system:"), "an empty value leaves its key out: {info}");
    // Without CI, the workflow is left out.
    let mut v = values.clone();
    v["ci"] = json!(false);
    let (status, body) = app
        .post_json("/api/scaffolder/v2/dry-run", &json!({"templateRef": "template:default/new-service", "values": v}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!files(&body).keys().any(|k| k.starts_with(".github")), "{:?}", files(&body).keys());

    // As a task: pushed to a git repository portolan keeps, registered from it, subscribed to the
    // availability API's standard plan (approved at once).
    let (status, created) = app
        .post_json(
            "/api/scaffolder/v2/tasks",
            &json!({"templateRef": "template:default/new-service", "values": values}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let t = loop {
        let (_, t) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}")).await;
        if ["completed", "failed"].contains(&t["status"].as_str().unwrap_or_default()) {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "{t}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let (_, ev) = app.get_json(&format!("/api/scaffolder/v2/tasks/{id}/events")).await;
    assert_eq!(t["status"], "completed", "{ev}");
    let completion = ev.as_array().unwrap().iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(completion["body"]["output"]["links"][0]["entityRef"], "component:default/pricing", "{completion}");
    let clone = completion["body"]["output"]["text"][0]["content"].as_str().unwrap();
    let remote = clone.strip_prefix("git clone ").unwrap();
    let out = std::process::Command::new("git")
        .args(["--git-dir", remote, "ls-tree", "-r", "--name-only", "main"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("catalog-info.yaml") && listed.contains("src/main.rs"), "{listed}");
    let (status, e) = app.entity("component", "default", "pricing").await;
    assert_eq!(status, 200, "{e}");
    let (_, subs) = app.get_json("/api/portal/subscriptions?consumer=component:default/pricing").await;
    assert_eq!(subs["items"][0]["api"], "api:default/availability-api", "{subs}");
    assert_eq!(subs["items"][0]["status"], "active", "{subs}");
    // The observability platform offers its team's infrastructure template.
    let (_, view) = app.get_json("/api/portal/platforms/default/observability").await;
    assert_eq!(view["resources"]["templates"], json!(["template:default/log-index"]), "{}", view["resources"]);
}

both!(
    the_demo_golden_path_dry_runs,
    the_form_and_the_actions_are_backstages,
    a_dry_run_makes_the_files_and_touches_nothing_else,
    what_cannot_run_is_refused_in_words,
);
