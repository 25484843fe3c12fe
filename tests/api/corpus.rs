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
