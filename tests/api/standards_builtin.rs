//! The built-in scorecard of products and platforms, written once more in CEL
//! (`catalog-info/built-in-levels.yaml`), agrees with the built-in one: the same level and the
//! same failing checks on every product and platform, on the demo catalog after its demo traffic
//! (KPI values, deployments, consumption findings) and on the 10k synthetic catalog with its 100
//! products and 100 platforms.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::both;
use crate::helpers::*;

#[path = "../../examples/gencatalog/generate.rs"]
#[allow(dead_code)]
mod gencatalog;

/// Level and failing checks per product and platform.
type Standing = BTreeMap<String, (String, BTreeSet<String>)>;

async fn built_in(app: &TestApp) -> Standing {
    let (status, body) = app.get_json("/api/portal/scorecards").await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let failing = i["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["passed"] == false)
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect();
            (i["entityRef"].as_str().unwrap().to_owned(), (i["level"].as_str().unwrap().to_owned(), failing))
        })
        .collect()
}

async fn in_cel(app: &TestApp) -> Standing {
    let (status, body) = app.post_json("/api/portal/scorecards/default/built-in-levels/evaluate", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get_json("/api/portal/scorecards/default/built-in-levels").await;
    assert_eq!(status, 200, "{body}");
    body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let failing =
                e["failing"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
            (e["entityRef"].as_str().unwrap().to_owned(), (e["level"].as_str().unwrap_or("none").to_owned(), failing))
        })
        .collect()
}

/// What differs between the two, in words.
fn differences(a: &Standing, b: &Standing) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: built-in {:?}, CEL {:?}", a.get(k), b.get(k)))
        .collect()
}

/// The two agree once governance, usage and team health have caught up with what was loaded
/// (findings are recomputed in the background); a disagreement that lasts fails with the list.
async fn agree(app: &TestApp, within: Duration, loaded: impl Fn(&Standing) -> bool) -> Standing {
    let deadline = Instant::now() + within;
    loop {
        let a = built_in(app).await;
        let b = in_cel(app).await;
        let diff = differences(&a, &b);
        if diff.is_empty() && !a.is_empty() && loaded(&a) {
            return a;
        }
        assert!(Instant::now() < deadline, "{} of {} entities differ:\n{}", diff.len(), a.len(), diff.join("\n"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn levels(s: &Standing) -> BTreeMap<&str, usize> {
    let mut out = BTreeMap::new();
    for (level, _) in s.values() {
        *out.entry(level.as_str()).or_default() += 1;
    }
    out
}

fn failing_anywhere(s: &Standing) -> BTreeSet<&str> {
    s.values().flat_map(|(_, f)| f.iter().map(String::as_str)).collect()
}

async fn the_cel_copy_agrees_on_the_demo(db: Db) {
    let app = spawn_app(db).await;
    let (code, out, err) = portolan(&["demo-traffic", "--days", "30", "--url", &app.address]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = agree(&app, Duration::from_secs(60), |_| true).await;
    // Not a trivial agreement: products and platforms at several levels, failing several
    // checks, the deployment checks among them (the demo's teams send deployments).
    assert!(s.len() >= 8, "{s:?}");
    assert!(levels(&s).len() >= 2, "{:?}", levels(&s));
    let failing = failing_anywhere(&s);
    for id in ["no-warning-findings", "has-docs-link"] {
        assert!(failing.contains(id), "{id} fails somewhere: {failing:?}");
    }
    let (_, body) = app.get_json("/api/portal/scorecards").await;
    let deploy_checks = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["checks"].as_array().unwrap())
        .filter(|c| c["id"] == "deploys-weekly")
        .count();
    assert!(deploy_checks > 0, "the demo's teams send deployments: {body}");
}

async fn the_cel_copy_agrees_on_the_10k_synthetic_catalog(db: Db) {
    let dir = temp_dir();
    let (files, _) = gencatalog::generate(10_000, 1_000);
    for (i, body) in files.iter().enumerate() {
        std::fs::write(dir.path().join(format!("catalog-{i:03}.yaml")), body).unwrap();
    }
    std::fs::write(dir.path().join("roadmaps.yaml"), gencatalog::roadmaps(10_000)).unwrap();
    let scorecard = demo_catalog().join("built-in-levels.yaml");
    let app = spawn_with(db, vec![dir.path().to_path_buf(), scorecard], |_, _| {}).await;
    let s = agree(&app, Duration::from_secs(120), |s| s.len() == 200).await;
    assert_eq!(s.len(), 200, "100 products and 100 platforms");
    let kinds: BTreeSet<&str> = s.keys().map(|k| k.split(':').next().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["platform", "product"]));
    let failing = failing_anywhere(&s);
    for id in ["has-description", "has-targets", "kpis-reported"] {
        assert!(failing.contains(id), "{id} fails somewhere: {failing:?}");
    }
}

both!(the_cel_copy_agrees_on_the_demo, the_cel_copy_agrees_on_the_10k_synthetic_catalog);
