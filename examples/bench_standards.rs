//! Standards as code's benchmark: a scorecard of 20 CEL checks judged over the 10k synthetic
//! catalog (every Component, System, API and Resource: 9,000 entities), from scratch, and again
//! after one entity's change. Times, each the median of RUNS:
//!
//! - from scratch: the first whole judgement (compiling the 20 checks, reading every body,
//!   building each entity's variables, judging, writing 9,000 rows), then whole judgements again
//!   (compiled checks reused);
//! - after one entity's change (a component's description edited, its file read again): what
//!   the catalog listener does, following the change feed (the shared org graph, rebuilt once per
//!   change for every domain, is timed separately).
//!
//! Usage:
//!   cargo run --release --example gencatalog -- 10000 /tmp/portolan-bench/cat-10000
//!   cargo run --release --example bench_standards -- /tmp/portolan-bench/cat-10000 [RUNS] [DATABASE_URL]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use portolan::catalog::facade as store;
use portolan::settings::Settings;
use portolan::standards::Standards;
use portolan::startup::{descriptor_files, ingestor};

// The allocator and options of `portolan serve` (src/main.rs): the engine runs as it does there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[used]
#[unsafe(link_section = ".init_array.00100")]
static CONFIGURE_ALLOCATOR: extern "C" fn() = portolan::memory::configure_allocator;

/// 20 checks: field presence, annotations, labels, tags, owner, system, relations, macros.
const SCORECARD: &str = r#"apiVersion: portolan.dev/v1alpha1
kind: Scorecard
metadata: {name: bench-readiness}
spec:
  owner: team-000001
  levels: [bronze, silver, gold]
  checks:
    - {id: c01, level: bronze, expression: "owner != null"}
    - {id: c02, level: bronze, expression: "owner != null && owner.kind == 'Group'"}
    - {id: c03, level: bronze, expression: "has(entity.spec.lifecycle)"}
    - {id: c04, level: bronze, expression: "has(entity.metadata.description)"}
    - {id: c05, level: bronze, expression: "entity.metadata.name.size() < 64"}
    - {id: c06, level: bronze, expression: "!has(entity.spec.lifecycle) || entity.spec.lifecycle in ['production', 'experimental', 'deprecated']"}
    - {id: c07, level: silver, expression: "has(entity.metadata.annotations) && 'backstage.io/techdocs-ref' in entity.metadata.annotations"}
    - {id: c08, level: silver, expression: "has(entity.metadata.tags) && entity.metadata.tags.exists(t, t == 'bench')"}
    - {id: c09, level: silver, expression: "has(entity.metadata.labels) && has(entity.metadata.labels.tier)"}
    - {id: c10, level: silver, expression: "relations.exists(r, r.type == 'ownedBy')"}
    - {id: c11, level: silver, expression: "relations.filter(r, r.type == 'dependsOn').size() <= 5"}
    - {id: c12, level: silver, expression: "entity.kind != 'Component' || has(entity.spec.system)"}
    - {id: c13, level: silver, expression: "entity.metadata.name.matches('^[a-z0-9-]+$')"}
    - {id: c14, level: gold, expression: "entity.kind != 'Component' || relations.exists(r, r.type == 'providesApi')"}
    - {id: c15, level: gold, expression: "!has(entity.metadata.labels) || !has(entity.metadata.labels.tier) || entity.metadata.labels.tier in ['1', '2', '3']"}
    - {id: c16, level: gold, expression: "product == null || product.spec.lifecycle == 'production'"}
    - {id: c17, level: gold, expression: "platform == null || has(platform.spec.owner)"}
    - {id: c18, level: gold, expression: "now > timestamp('2020-01-01T00:00:00Z')"}
    - {id: c19, level: gold, expression: "relations.all(r, r.targetRef.contains(':'))"}
    - {id: c20, level: gold, weight: 2, expression: "entity.kind in ['Component', 'System', 'API', 'Resource'] && entity.metadata.name.contains('-')"}
"#;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: bench_standards CATALOG_DIR [RUNS] [DATABASE_URL]"));
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(21);
    let work = std::env::temp_dir().join(format!("portolan-bench-standards-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let url = args.get(3).cloned().unwrap_or_else(|| format!("sqlite://{}", work.join("s.db").display()));

    let copy = work.join("catalog");
    std::fs::create_dir_all(&copy)?;
    for f in descriptor_files(&dir)? {
        std::fs::copy(&f, copy.join(f.file_name().unwrap()))?;
    }
    std::fs::write(copy.join("scorecard.yaml"), SCORECARD)?;
    let (file, original) = find_entity(&copy, "comp-000010")?;

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        portolan::catalog::validate::init();
        let mut settings = Settings::default();
        settings.database.url = url.clone();
        let pool = portolan::db::Pool::connect(&url, 4)?;
        // No listener on the seam: the benchmark calls the engine itself, to time it alone.
        let seam = portolan::catalog::seam::Seam::default();
        seam.install(vec![], vec![])?;
        let mut ing = ingestor(&settings, pool.clone(), seam)?;
        ing.bulk = true;
        let mut rows = Vec::new();
        for f in descriptor_files(&copy)? {
            let target = portolan::catalog::ingest::absolute(&f).display().to_string();
            rows.push(store::find_or_create_location(&pool, "file", &target, "cli")?.0);
        }
        let target_row = rows
            .iter()
            .find(|r| Path::new(&r.target) == portolan::catalog::ingest::absolute(&file))
            .cloned()
            .expect("the edited file is a location");
        let started = Instant::now();
        for (_, r) in ing.process_all(rows).await {
            r?;
        }
        ing.seam.bulk_loaded(&pool)?;
        ing.bulk = false;
        println!("loaded {} in {:.2} s", dir.display(), started.elapsed().as_secs_f64());
        let org = Arc::new(portolan::org::Org::default());
        let standards = Standards::with_parts(org.clone(), Arc::default());
        let g = org.snapshot(&pool)?;

        // From scratch: nothing compiled, nothing stored.
        let t = Instant::now();
        let first = standards.evaluate_all(&pool, None)?;
        let first_ms = t.elapsed().as_secs_f64() * 1000.0;
        let view = standards
            .view(&pool, "scorecard:default/bench-readiness", &Default::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "{} entities judged by 20 checks, from scratch (compiling included): {first_ms:.0} ms; levels {}",
            first.entities,
            view.levels.iter().map(|l| format!("{} {}", l.name, l.entities)).collect::<Vec<_>>().join(", ")
        );
        anyhow::ensure!(view.entities.len() >= 9_000, "{} entities judged", view.entities.len());
        println!(
            "  pass rates: {}",
            view.checks
                .iter()
                .map(|c| format!("{} {}", c.id, c.pass_rate.unwrap_or(0.0)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut whole = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            standards.evaluate_all(&pool, None)?;
            whole.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        report(&format!("whole judgement again ({} entities, 20 checks)", g.entities.len()), &mut whole);
        // The feed's events so far are the load's: the engine starts after them.
        standards.follow(&pool)?;

        // One entity's change: comp-000010's description, edited and back.
        let described = original.replacen("  description: Component 10\n", "  description: Component ten\n", 1);
        assert_ne!(described, original, "comp-000010 has its generated description");
        let (mut graph, mut judged) = (Vec::new(), Vec::new());
        for i in 0..runs {
            std::fs::write(&file, if i % 2 == 0 { &described } else { &original })?;
            let outcome = ing.process(&target_row).await?;
            assert_eq!(outcome.outcome.updated, 1, "exactly one entity changed");
            let t = Instant::now();
            org.snapshot(&pool)?;
            graph.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let n = standards.follow(&pool)?;
            judged.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(n >= 1, "the change reached the engine");
        }
        report("the org graph rebuilt after one change (shared by every domain, once per change)", &mut graph);
        report("judged again after one entity's change (the change feed followed)", &mut judged);
        anyhow::Ok(())
    })?;
    std::fs::remove_dir_all(&work).ok();
    Ok(())
}

fn report(what: &str, times: &mut [f64]) {
    times.sort_by(f64::total_cmp);
    println!(
        "{what}: median {:.1} ms, min {:.1} ms, max {:.1} ms ({} runs)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
}

/// The file holding the entity named `name`, and its text.
fn find_entity(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, String)> {
    for f in descriptor_files(dir)? {
        let text = std::fs::read_to_string(&f)?;
        if text.contains(&format!("  name: {name}\n")) {
            return Ok((f, text));
        }
    }
    anyhow::bail!("no entity named {name} under {}", dir.display())
}
