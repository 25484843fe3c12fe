//! The delivery office's benchmark: the 10k synthetic catalog with 1,000 roadmap items and 2,000
//! needs (`gencatalog --roadmaps`), every domain wired as `serve` wires them. Times, each the
//! median of RUNS:
//!
//! - the roadmap view (every item, needs resolved, change impact) and the value report of the
//!   current period, computed and serialised to JSON as the API answers them; no response
//!   cache exists, so "uncached" is every call; the org graph is the shared one, rebuilt once per
//!   catalog change (the first call after a change pays it, timed separately);
//! - the delivery rules recomputed after one descriptor change (a product's roadmap item moves
//!   its date): what the findings source does on governance's next tick.
//!
//! Usage:
//!   cargo run --release --example gencatalog -- 10000 /tmp/portolan-bench/cat-10000-rm 1000 --roadmaps
//!   cargo run --release --example bench_delivery -- /tmp/portolan-bench/cat-10000-rm [RUNS] [DATABASE_URL]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use portolan::catalog::facade as store;
use portolan::delivery::{Delivery, views};
use portolan::settings::Settings;
use portolan::startup::descriptor_files;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: bench_delivery CATALOG_DIR [RUNS] [DATABASE_URL]"));
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(21);
    let work = std::env::temp_dir().join(format!("portolan-bench-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let url = args.get(3).cloned().unwrap_or_else(|| format!("sqlite://{}", work.join("d.db").display()));

    let copy = work.join("catalog");
    std::fs::create_dir_all(&copy)?;
    for f in descriptor_files(&dir)? {
        std::fs::copy(&f, copy.join(f.file_name().unwrap()))?;
    }
    let plans_file = copy.join("roadmaps.yaml");
    let original = std::fs::read_to_string(&plans_file)
        .map_err(|e| anyhow::anyhow!("{}: {e} (generate with gencatalog ... --roadmaps)", plans_file.display()))?;

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        portolan::catalog::validate::init();
        let mut settings = Settings::default();
        settings.database.url = url.clone();
        let pool = portolan::db::Pool::connect(&url, 4)?;
        let alive = Arc::new(());
        let wired = portolan::startup::wire(&settings, pool.clone(), Arc::downgrade(&alive))?;
        let mut ing = wired.shared.catalog.clone();
        ing.bulk = true;
        let mut rows = Vec::new();
        for f in descriptor_files(&copy)? {
            let target = portolan::catalog::ingest::absolute(&f).display().to_string();
            rows.push(store::find_or_create_location(&pool, "file", &target, "cli")?.0);
        }
        let plans_row = rows
            .iter()
            .find(|r| Path::new(&r.target) == portolan::catalog::ingest::absolute(&plans_file))
            .cloned()
            .expect("roadmaps.yaml is a location");
        let started = Instant::now();
        for (_, r) in ing.process_all(rows).await {
            r?;
        }
        ing.seam.bulk_loaded(&pool)?;
        ing.bulk = false;
        println!("loaded {} in {:.2} s", dir.display(), started.elapsed().as_secs_f64());
        let delivery = Delivery::new(&settings.delivery, &wired.shared);
        let org = wired.shared.org.clone();
        let now = portolan::db::now_ms();
        let period = delivery.current_period(now);

        let snap = delivery.snapshot(&pool)?;
        let (items, needs) = (snap.plans.items.len(), snap.plans.items.iter().map(|i| i.needs.len()).sum::<usize>());
        println!("{items} roadmap items, {needs} needs, {} entities in the org graph", snap.graph.entities.len());

        let roadmaps = || -> anyhow::Result<usize> {
            let s = delivery.snapshot(&pool)?;
            let v = views::roadmaps(&s.context(), &views::Filter::default());
            Ok(serde_json::to_vec(&v)?.len())
        };
        let value_report = || -> anyhow::Result<usize> {
            let r = delivery.report(&pool, period, portolan::db::now_ms())?;
            Ok(serde_json::to_vec(&r)?.len())
        };
        let (mut rm, mut rep, mut rules, mut cold) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut sizes = (0, 0);
        // One product item moves its date and back: one descriptor change per run.
        let moved = original.replacen(
            "    - id: qi-0\n      title: Product item 0\n      targetDate: \"2027-06-30\"",
            "    - id: qi-0\n      title: Product item 0\n      targetDate: \"2027-07-15\"",
            1,
        );
        assert_ne!(moved, original, "prod-000's first item is where the generator puts it");
        for i in 0..runs {
            std::fs::write(&plans_file, if i % 2 == 0 { &moved } else { &original })?;
            let outcome = ing.process(&plans_row).await?;
            assert_eq!(outcome.outcome.updated, 1, "exactly one entity changed");
            // The first read after the change rebuilds the shared org graph.
            let t = Instant::now();
            let g = org.snapshot(&pool)?;
            cold.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let found = delivery.findings_at(&pool, &g, portolan::db::now_ms())?;
            rules.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(!found.is_empty());
            let t = Instant::now();
            sizes.0 = roadmaps()?;
            rm.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            sizes.1 = value_report()?;
            rep.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        report("the org graph rebuilt after one change (shared, once per change)", &mut cold);
        report("delivery rules recomputed after one descriptor change", &mut rules);
        report(&format!("roadmap view, every item ({} KB of JSON)", sizes.0 / 1024), &mut rm);
        report(&format!("value report of {period} ({} KB of JSON)", sizes.1 / 1024), &mut rep);
        drop(alive);
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
