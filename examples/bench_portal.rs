//! Incremental governance benchmark: load a synthetic catalog, then change one entity again and
//! again and time the findings recomputation that follows each publish
//! (`Portal::on_catalog_change`: patch the model, re-evaluate what the change can affect,
//! recompute the touched dependency cycles, write what changed).
//!
//! Usage:
//!   cargo run --release --example gencatalog -- 10000 /tmp/portolan-bench/cat-10000
//!   cargo run --release --example bench_portal -- /tmp/portolan-bench/cat-10000 [RUNS] [DATABASE_URL]
//!
//! Without a database URL it uses a fresh SQLite file in a temp folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use portolan::catalog::store;
use portolan::settings::Settings;
use portolan::startup::{descriptor_files, ingestor};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: bench_portal CATALOG_DIR [RUNS] [DATABASE_URL]"));
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(21);
    let work = std::env::temp_dir().join(format!("portolan-bench-portal-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let url = args.get(3).cloned().unwrap_or_else(|| format!("sqlite://{}", work.join("p.db").display()));

    // A copy of the catalog, so the benchmark can edit one file.
    let copy = work.join("catalog");
    std::fs::create_dir_all(&copy)?;
    for f in descriptor_files(&dir)? {
        std::fs::copy(&f, copy.join(f.file_name().unwrap()))?;
    }
    let (file, original) = find_entity(&copy, "comp-000010")?;

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        portolan::catalog::validate::init();
        let mut settings = Settings::default();
        settings.database.url = url.clone();
        let pool = portolan::db::Pool::connect(&url, 4)?;
        // Governance alone follows the catalog here: the figure is its recomputation's.
        let rules =
            portolan::governance::rules::RuleConfig::new(&settings.governance.rules).map_err(anyhow::Error::msg)?;
        let portal = std::sync::Arc::new(portolan::governance::Governance::new(rules, Default::default()));
        let seam = portolan::catalog::seam::Seam::default();
        seam.install(vec![portal.clone()], vec![portal.clone()])?;
        let mut ing = ingestor(&settings, pool.clone(), seam)?;
        // Load as `serve` does: publish everything, then compute every finding once.
        ing.bulk = true;
        let mut rows = Vec::new();
        for f in descriptor_files(&copy)? {
            let target = portolan::catalog::ingest::absolute(&f).display().to_string();
            rows.push(store::find_or_create_location(&pool, "file", &target, "cli")?.0);
        }
        let started = Instant::now();
        let target_row = rows
            .iter()
            .find(|r| Path::new(&r.target) == portolan::catalog::ingest::absolute(&file))
            .cloned()
            .expect("the edited file is a location");
        for (_, r) in ing.process_all(rows).await {
            r?;
        }
        let full = Instant::now();
        ing.seam.bulk_loaded(&pool)?;
        ing.bulk = false;
        println!(
            "loaded {} in {:.2} s; a full findings recomputation took {} ms",
            dir.display(),
            full.duration_since(started).as_secs_f64(),
            full.elapsed().as_millis()
        );

        // comp-000010 depends on comp-000011; point it elsewhere and back, one entity per run.
        let edited = original.replacen("component:default/comp-000011", "component:default/comp-000500", 1);
        assert_ne!(edited, original, "comp-000010 depends on comp-000011 in the generated catalog");
        let mut times = Vec::new();
        for i in 0..runs {
            let text = if i % 2 == 0 { &edited } else { &original };
            std::fs::write(&file, text)?;
            let report = ing.process(&target_row).await?;
            assert_eq!(report.outcome.updated, 1, "exactly one entity changed");
            times.push(report.listeners_ms);
        }
        report("one entity's dependsOn changed", &mut times, runs);
        // The same entity, its description changed: no dependency edge moves.
        let described = original.replacen("  description: Component 10\n", "  description: Component ten\n", 1);
        assert_ne!(described, original, "comp-000010 has its generated description");
        let mut times = Vec::new();
        for i in 0..runs {
            std::fs::write(&file, if i % 2 == 0 { &described } else { &original })?;
            let report = ing.process(&target_row).await?;
            assert_eq!(report.outcome.updated, 1, "exactly one entity changed");
            times.push(report.listeners_ms);
        }
        report("one entity's description changed", &mut times, runs);
        anyhow::Ok(())
    })?;
    std::fs::remove_dir_all(&work).ok();
    Ok(())
}

fn report(what: &str, times: &mut [f64], runs: usize) {
    times.sort_by(f64::total_cmp);
    println!(
        "incremental findings after {what} ({runs} runs): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
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
