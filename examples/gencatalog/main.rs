//! Writes a synthetic catalog for benchmarks, with the same mix and links as
//! `../shared/bench/backstage/gen.js` (the files Backstage was measured on):
//! 10% Group, 20% System, 20% API, 50% Component; owner, system, providesApis, consumesApis and
//! dependsOn links; entities interleaved by an FNV hash of their names; 1000 per file.
//!
//! With `--roadmaps` it also writes `roadmaps.yaml`: 100 products and 100 platforms with 1,000
//! roadmap items and 2,000 needs over the same catalog (the delivery office's benchmark).
//!
//! Usage: cargo run --release --example gencatalog -- N OUTDIR [PER_FILE] [--roadmaps]

use std::path::PathBuf;

mod generate;

fn main() -> std::io::Result<()> {
    let mut args: Vec<String> = std::env::args().collect();
    let with_roadmaps = args.iter().any(|a| a == "--roadmaps");
    args.retain(|a| a != "--roadmaps");
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).expect("usage: gencatalog N OUTDIR [PER_FILE]");
    let out = PathBuf::from(args.get(2).expect("usage: gencatalog N OUTDIR [PER_FILE]"));
    let per_file: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let (files, summary) = generate::generate(n, per_file);
    std::fs::create_dir_all(&out)?;
    for (f, body) in files.iter().enumerate() {
        std::fs::write(out.join(format!("catalog-{f:03}.yaml")), body)?;
    }
    if with_roadmaps {
        std::fs::write(out.join("roadmaps.yaml"), generate::roadmaps(n))?;
    }
    println!("{summary}");
    Ok(())
}
