//! Writes a synthetic catalog for benchmarks, with the same mix and links as
//! `../shared/bench/backstage/gen.js` (the files Backstage was measured on):
//! 10% Group, 20% System, 20% API, 50% Component; owner, system, providesApis, consumesApis and
//! dependsOn links; entities interleaved by an FNV hash of their names; 1000 per file.
//!
//! Usage: cargo run --release --example gencatalog -- N OUTDIR [PER_FILE]

use std::path::PathBuf;

mod generate;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).expect("usage: gencatalog N OUTDIR [PER_FILE]");
    let out = PathBuf::from(args.get(2).expect("usage: gencatalog N OUTDIR [PER_FILE]"));
    let per_file: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let (files, summary) = generate::generate(n, per_file);
    std::fs::create_dir_all(&out)?;
    for (f, body) in files.iter().enumerate() {
        std::fs::write(out.join(format!("catalog-{f:03}.yaml")), body)?;
    }
    println!("{summary}");
    Ok(())
}
