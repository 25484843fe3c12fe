//! Three public Backstage software templates (backstage/software-templates, Apache-2.0, kept in
//! tests/fixtures/backstage-templates/ with their licence) dry-run by portolan give the files
//! Backstage's own scaffolder gave for the same values (its answers recorded beside them; the
//! fixtures' README.md says how they were obtained), and the same rendered output.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

const TEMPLATES: &[&str] = &["docs-template", "react-ssr-template", "springboot-grpc-template"];

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

async fn backstages_own_templates_make_the_files_backstage_makes(db: Db) {
    let app = spawn_with(db, vec![], |_, _| {}).await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backstage-templates");
    for name in TEMPLATES {
        let base = fixtures.join(name);
        let template_dir = base.join("template");
        let yaml = std::fs::read_to_string(template_dir.join("template.yaml")).unwrap();
        let template: Value = serde_saphyr::from_str(&yaml).unwrap();
        let values: Value = serde_json::from_str(&std::fs::read_to_string(base.join("values.json")).unwrap()).unwrap();
        // As Backstage's page sends them: every file of the template's folder, by relative path.
        let contents: Vec<Value> = tree(&template_dir)
            .into_iter()
            .map(|(path, bytes)| {
                json!({"path": path, "base64Content": base64::engine::general_purpose::STANDARD.encode(bytes)})
            })
            .collect();
        let body = json!({"template": template, "values": values, "secrets": {}, "directoryContents": contents});
        let (status, out) = app.post_json("/api/scaffolder/v2/dry-run", &body).await;
        assert_eq!(status, 200, "{name}: {out}");
        let made: BTreeMap<String, (Vec<u8>, bool)> = crate::scaffolder::files(&out);
        let expected = tree(&base.join("expected"));
        let made_paths: Vec<&String> = made.keys().collect();
        let expected_paths: Vec<&String> = expected.keys().collect();
        assert_eq!(made_paths, expected_paths, "{name}: the same files");
        for (path, bytes) in &expected {
            assert!(
                &made[path].0 == bytes,
                "{name}: {path} differs:\n--- Backstage\n{}\n--- portolan\n{}",
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(&made[path].0)
            );
        }
        // Backstage's answer recorded the execute bits it gave (none, uploaded files have no mode).
        let recorded: Value =
            serde_json::from_str(&std::fs::read_to_string(base.join("dry-run-response.json")).unwrap()).unwrap();
        for f in recorded["directoryContents"].as_array().unwrap() {
            let path = f["path"].as_str().unwrap();
            assert_eq!(made[path].1, f["executable"].as_bool().unwrap_or(false), "{name}: {path}'s execute bit");
        }
        // The rendered output: the skipped publish step's example address, as Backstage gives it.
        assert_eq!(out["output"]["links"][0], recorded["output"]["links"][0], "{name}: {}", out["output"]);
    }
}

both!(backstages_own_templates_make_the_files_backstage_makes);
