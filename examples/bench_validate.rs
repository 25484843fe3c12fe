//! Validation benchmark: where the time of `portolan validate` goes, phase by phase, on one core.
//!
//! Usage: cargo run --release --example bench_validate -- DIR [RUNS]
//! (make DIR with `cargo run --release --example gencatalog -- 100000 DIR`).
//! Prints, per run, entities/s end to end and the share of read, YAML parse and validation
//! (schemas, field formats, relations); then the median of the runs.

use std::time::{Duration, Instant};

use portolan::catalog::{descriptor, validate};
use portolan::startup::descriptor_files;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: bench_validate DIR [RUNS]");
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let files = descriptor_files(std::path::Path::new(dir)).expect("readable folder");
    validate::init();
    let opts = validate::Options { extra_kinds: Vec::new(), placeholders_unresolved: true };
    let mut rates = Vec::new();
    for run in 1..=runs {
        let (mut read, mut parse, mut check) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut n = 0usize;
        for f in &files {
            let t = Instant::now();
            let bytes = std::fs::read(f).expect("read");
            read += t.elapsed();
            let t = Instant::now();
            let docs = descriptor::parse_file(&bytes, &f.display().to_string()).expect("parse");
            parse += t.elapsed();
            let t = Instant::now();
            for d in docs {
                let v = d.body.expect("document parses");
                validate::validate(v, &opts).expect("valid");
                n += 1;
            }
            check += t.elapsed();
        }
        let total = read + parse + check;
        let rate = n as f64 / total.as_secs_f64();
        rates.push(rate);
        println!(
            "run {run}: {n} entities in {:.2} s = {:.0} entities/s (read {:.0}%, YAML parse {:.0}%, validate {:.0}%)",
            total.as_secs_f64(),
            rate,
            100.0 * read.as_secs_f64() / total.as_secs_f64(),
            100.0 * parse.as_secs_f64() / total.as_secs_f64(),
            100.0 * check.as_secs_f64() / total.as_secs_f64(),
        );
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    println!("median: {:.0} entities/s over {runs} runs", rates[rates.len() / 2]);
}
