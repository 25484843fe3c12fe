//! Golden paths' benchmark: the steps of a template run as a task runs them (the same runner,
//! actions and workspace), without the HTTP and task bookkeeping around them. Each figure is the
//! median of RUNS:
//!
//! - a `fetch:template` of 200 files (40 folders of 5, each file a few lines with expressions
//!   and a block; file names rendered too), then `catalog:write`;
//! - the demo's *New service* template (`catalog-info/templates.yaml`) with its skeleton, as its
//!   dry run runs it.
//!
//! Usage: cargo run --release --locked --example bench_scaffolder -- [RUNS]

use std::time::Instant;

use portolan::scaffolder::run::Run;
use portolan::scaffolder::template::Template;
use serde_json::{Map, Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time_runs(runs: usize, template: &Template, dir: &std::path::Path, values: &Value, dry_run: bool) -> (f64, usize) {
    let secrets = Map::new();
    let never = || false;
    let mut times = Vec::new();
    let mut files = 0;
    for _ in 0..runs {
        let workspace = tempfile::tempdir().unwrap();
        let run = Run {
            template,
            values,
            secrets: &secrets,
            user: json!({"ref": "user:default/bench"}),
            template_dir: Some(dir),
            dry_run,
            catalog: None,
            cancelled: &never,
            task_id: "bench",
            outside: None,
            resume: None,
        };
        let started = Instant::now();
        run.run(workspace.path(), &mut |_| {}).unwrap_or_else(|f| panic!("the run failed: {f:?}"));
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        files = portolan::scaffolder::actions::files::list_files(workspace.path()).len();
    }
    (median(times), files)
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);

    // 200 files.
    let dir = tempfile::tempdir().unwrap();
    for f in 0..40 {
        for i in 0..5 {
            let p = dir.path().join(format!("skeleton/mod-{f:02}-${{{{ values.name }}}}/file-{i}.txt"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let body = format!(
                "# ${{{{ values.name }}}}, part {f}.{i}\nOwned by ${{{{ values.owner }}}}.\n{{% if values.ci %}}CI: on{{% else %}}CI: off{{% endif %}}\n{}\n",
                "lorem ipsum dolor sit amet ".repeat(8)
            );
            std::fs::write(p, body).unwrap();
        }
    }
    let body = json!({"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template", "metadata": {"name": "bench"},
        "spec": {"type": "service", "steps": [
            {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton",
                "values": {"name": "${{ parameters.name }}", "owner": "${{ parameters.owner }}", "ci": true}}},
            {"id": "write", "action": "catalog:write", "input": {"entity": {"apiVersion": "backstage.io/v1alpha1",
                "kind": "Component", "metadata": {"name": "${{ parameters.name }}"}, "spec": {"type": "service", "owner": "${{ parameters.owner }}", "lifecycle": "experimental"}}}}]}});
    let template = Template::from_body(&body).unwrap();
    let values = json!({"name": "pricing", "owner": "group:default/checkout-team"});
    let (ms, files) = time_runs(runs, &template, dir.path(), &values, false);
    assert_eq!(files, 201, "200 files and the catalog-info.yaml");
    println!("fetch:template of 200 files (+ catalog:write): median {ms:.1} ms over {runs} runs");

    // The demo's template, with its skeleton.
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog-info");
    let text = std::fs::read_to_string(demo.join("templates.yaml")).unwrap();
    // Its first document: New service (Log index follows).
    let first = text.split("\n---\n").next().unwrap();
    let doc: Value = serde_saphyr::from_str(first).unwrap();
    let template = Template::from_body(&doc).unwrap();
    let values =
        json!({"name": "pricing", "owner": "group:default/checkout-team", "description": "Prices", "ci": true});
    let (ms, files) = time_runs(runs, &template, &demo, &values, true);
    println!("the demo's New service template ({files} files): median {ms:.2} ms over {runs} runs");
}
