//! Backstage's own example catalog, held to Backstage's own verdicts.

use std::collections::HashMap;

use serde_json::Value;

use crate::helpers::*;

/// Documents where portolan's answer differs from Backstage 4.0.0's in kind but not in outcome,
/// as docs/backstage-compatibility.md explains.
const SAME_OUTCOME_OTHER_REASON: &[(&str, usize)] =
    &[("plugins/scaffolder-backend/sample-templates/bitbucket-demo/template/catalog-info.yaml", 0)];

#[test]
fn validate_reaches_backstages_verdict_for_every_corpus_document() {
    let shared = shared();
    let corpus = shared.join("corpus/backstage");
    let tsv = std::fs::read_to_string(shared.join("corpus/backstage-oracle/verdicts-A.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = tsv.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    let mut files: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    files.dedup();
    let paths: Vec<String> = files.iter().map(|f| corpus.join(f).display().to_string()).collect();
    let mut args = vec!["validate", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    let (_, out, err) = portolan(&args);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let prefix = format!("{}/", corpus.display());
    let mut problems: HashMap<(String, usize), Vec<String>> = HashMap::new();
    for p in report["problems"].as_array().unwrap() {
        let file = p["file"].as_str().unwrap().strip_prefix(&prefix).unwrap().to_owned();
        let doc = p["document"].as_u64().unwrap_or(0) as usize;
        problems.entry((file, doc)).or_default().push(format!("{} {}", p["path"], p["message"]));
    }
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for r in &rows {
        let (file, doc, verdict) = (r[0], r[1].parse::<usize>().unwrap(), r[5]);
        let ours = problems.get(&(file.to_owned(), doc));
        let backstage_accepts = verdict == "valid";
        let we_accept = ours.is_none();
        checked += 1;
        if verdict == "empty" {
            continue;
        }
        if backstage_accepts != we_accept {
            mismatches.push(format!("{file}#{doc}: Backstage says {verdict}, portolan says {ours:?}"));
        }
        if verdict == "invalid" && !SAME_OUTCOME_OTHER_REASON.contains(&(file, doc)) {
            assert!(
                ours.is_some_and(|p| p.iter().all(|m| !m.contains("YAML error"))),
                "{file}#{doc} should be a validation error, not a parse error: {ours:?}"
            );
        }
    }
    assert!(checked >= 90, "the verdict table has {checked} rows");
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
    // The reasons are Backstage's too.
    let reason = |f: &str| problems[&(f.to_owned(), 0)].join(" | ");
    assert!(reason("packages/catalog-model/examples/apis/backstage-mcp-server-api.yaml").contains("/spec/definition"));
    assert!(reason("packages/catalog-model/examples/environments/dev.yaml").contains("unknown kind"));
    assert!(
        reason("packages/create-app/templates/default-app/examples/template/content/catalog-info.yaml")
            .contains("/metadata/name")
    );
    assert!(reason("plugins/scaffolder-backend/sample-templates/v1beta2-demo/template.yaml").contains("unknown kind"));
}

/// What portolan deliberately ingests beyond Backstage (docs/backstage-compatibility.md): the
/// API whose relative `$text` Backstage cannot resolve from a file, and the Location entity
/// whose only target is unreachable (Backstage drops the entity with its target).
const EXTRA_ENTITIES: &[&str] = &["api:default/petstore-webhook", "location:default/example-templates-remote"];

async fn registering_backstages_roots_gives_backstages_entities_and_relations(db: Db) {
    let shared = shared();
    let corpus = shared.join("corpus/backstage");
    let roots = [
        "packages/catalog-model/examples/all.yaml",
        "packages/catalog-model/examples/acme-corp.yaml",
        "plugins/scaffolder-backend/sample-templates/all-templates.yaml",
    ];
    let root_dir = corpus.clone();
    let app = spawn_with(db, vec![], move |s, _| {
        s.reading.file_roots = vec![root_dir.clone()];
        // Offline: GitHub is not reachable here, so do not even try.
        s.reading.allow = vec![];
        // As Backstage's demo configures its example locations: every kind from them.
        s.catalog.rules = vec![portolan::catalog::rules::RuleSetting {
            allow: ["Component", "System", "API", "Resource", "Location", "User", "Group", "Domain", "Template"]
                .map(String::from)
                .to_vec(),
            locations: Some(vec![portolan::catalog::rules::RuleLocation {
                kind: "file".into(),
                target: format!("{}/**/*", root_dir.display()),
            }]),
        }];
    })
    .await;
    for r in roots {
        let (status, body) = app
            .post_json("/api/catalog/locations", &serde_json::json!({"type": "file", "target": corpus.join(r)}))
            .await;
        assert_eq!(status, 201, "{r}: {body}");
    }
    let ours: HashMap<String, Value> = app
        .entities("")
        .await
        .into_iter()
        .map(|e| {
            let key = format!(
                "{}:{}/{}",
                e["kind"].as_str().unwrap().to_lowercase(),
                e["metadata"]["namespace"].as_str().unwrap(),
                e["metadata"]["name"].as_str().unwrap()
            );
            (key, e)
        })
        .collect();
    let tsv = std::fs::read_to_string(shared.join("corpus/backstage-oracle/expected-A-summary.tsv")).unwrap();
    let mut expected_refs = Vec::new();
    let mut missing = Vec::new();
    for line in tsv.lines().skip(1) {
        let (entity_ref, rels) = line.split_once('\t').unwrap_or((line, ""));
        // Generated Location names hash the absolute path, which differs from the oracle's.
        let key = if entity_ref.starts_with("location:default/generated-") { continue } else { entity_ref.to_owned() };
        expected_refs.push(key.clone());
        let Some(entity) = ours.get(&key) else {
            missing.push(format!("entity {key}"));
            continue;
        };
        let have = relation_pairs(entity);
        for rel in rels.split(';').filter(|r| !r.is_empty()) {
            if !have.contains(&rel.to_owned()) {
                missing.push(format!("{key}: {rel}"));
            }
        }
        for rel in &have {
            let expected = rels.split(';').any(|r| r == rel);
            let explained = EXTRA_ENTITIES.iter().any(|x| rel.ends_with(x));
            assert!(expected || explained, "{key} has an invented relation {rel}");
        }
    }
    assert!(missing.is_empty(), "missing from portolan:\n{}", missing.join("\n"));
    // Nothing invented: every entity of ours is Backstage's, a generated root location, or a
    // documented extra.
    let generated: Vec<&String> = ours.keys().filter(|k| k.starts_with("location:default/generated-")).collect();
    assert_eq!(generated.len(), 3, "{generated:?}");
    for r in roots {
        let name = portolan::catalog::ingest::generated_location_name("file", corpus.join(r).to_str().unwrap());
        assert!(ours.contains_key(&format!("location:default/{name}")), "{r}");
    }
    for key in ours.keys() {
        let known = expected_refs.contains(key) || generated.contains(&key) || EXTRA_ENTITIES.contains(&key.as_str());
        assert!(known, "portolan invented {key}");
    }
    for extra in EXTRA_ENTITIES {
        assert!(ours.contains_key(*extra), "{extra} should be ingested (documented difference)");
    }
    // Backstage sorts string ref lists before storing them (petstore's providesApis is written
    // petstore, streetlights, hello-world); every list of the oracle's entities comes out alike.
    let oracle: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(shared.join("corpus/backstage-oracle/expected-A-entities.normalized.json")).unwrap(),
    )
    .unwrap();
    let mut compared = 0;
    for theirs in &oracle {
        let m = &theirs["metadata"];
        let key = format!(
            "{}:{}/{}",
            theirs["kind"].as_str().unwrap().to_lowercase(),
            m["namespace"].as_str().unwrap_or("default"),
            m["name"].as_str().unwrap()
        );
        let Some(mine) = ours.get(&key) else { continue };
        for field in ["providesApis", "consumesApis", "dependsOn", "dependencyOf", "memberOf", "children", "members"] {
            if let Some(list) = theirs["spec"].get(field) {
                assert_eq!(&mine["spec"][field], list, "{key}: spec.{field} in Backstage's order");
                compared += 1;
            }
        }
    }
    assert!(compared > 10, "only {compared} lists compared");
    assert_eq!(
        ours["component:default/petstore"]["spec"]["providesApis"],
        serde_json::json!(["hello-world", "petstore", "streetlights"])
    );
    // Dangling refs stay dangling: the unreachable remote template was not invented, and the
    // location says why.
    let (_, errors) = app.get_json("/api/catalog/errors").await;
    let messages: Vec<&str> =
        errors["items"].as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("cookiecutter-golang")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("AiResource")), "{messages:?}");
    // The relative $text from a file location is resolved against the file.
    let webhook = &ours["api:default/petstore-webhook"];
    assert!(webhook["spec"]["definition"].as_str().unwrap().contains("webhooks"), "{webhook}");
}

crate::both!(registering_backstages_roots_gives_backstages_entities_and_relations);
