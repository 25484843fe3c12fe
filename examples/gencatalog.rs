//! Writes a synthetic catalog for benchmarks, with the same mix and links as
//! `../shared/bench/backstage/gen.js` (the files Backstage was measured on):
//! 10% Group, 20% System, 20% API, 50% Component; owner, system, providesApis, consumesApis and
//! dependsOn links; entities interleaved by an FNV hash of their names; 1000 per file.
//!
//! Usage: cargo run --release --example gencatalog -- N OUTDIR [PER_FILE]

use std::fmt::Write as _;
use std::path::PathBuf;

fn fnv(s: &str) -> u32 {
    let mut h: u32 = 2166136261;
    for c in s.encode_utf16() {
        h ^= c as u32;
        h = h.wrapping_mul(16777619);
    }
    h
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).expect("usage: gencatalog N OUTDIR [PER_FILE]");
    let out = PathBuf::from(args.get(2).expect("usage: gencatalog N OUTDIR [PER_FILE]"));
    let per_file: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let round = |x: f64| (x.round() as usize).max(1);
    let (g, s, a) = (round(n as f64 * 0.1), round(n as f64 * 0.2), round(n as f64 * 0.2));
    let c = n - g - s - a;
    let name = |p: &str, i: usize| format!("{p}-{i:06}");
    let mut ents: Vec<(String, String)> = Vec::with_capacity(n);
    for i in 0..g {
        let parent = if i > 0 { format!("  parent: {}\n", name("team", (i - 1) / 10)) } else { String::new() };
        ents.push((
            name("team", i),
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: {}\n  description: Team {i}\nspec:\n  type: team\n{parent}  children: []\n",
                name("team", i)
            ),
        ));
    }
    for i in 0..s {
        ents.push((
            name("sys", i),
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: {}\n  description: System {i}\n  tags:\n    - bench\nspec:\n  owner: group:default/{}\n",
                name("sys", i),
                name("team", i % g)
            ),
        ));
    }
    for i in 0..a {
        let api = name("api", i);
        ents.push((
            api.clone(),
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: {api}\n  description: API {i}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: group:default/{}\n  system: {}\n  definition: |\n    openapi: 3.0.0\n    info:\n      title: {api}\n      version: 1.0.0\n    paths:\n      /items/{{id}}:\n        get:\n          parameters:\n            - name: id\n              in: path\n              required: true\n              schema: {{ type: string }}\n          responses:\n            '200': {{ description: ok }}\n",
                name("team", i % g),
                name("sys", i % s)
            ),
        ));
    }
    for i in 0..c {
        let mut y = String::new();
        let _ = write!(
            y,
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {}\n  description: Component {i}\n  tags:\n    - bench\n    - {}\n  annotations:\n    backstage.io/techdocs-ref: dir:.\n  labels:\n    tier: \"{}\"\nspec:\n  type: service\n  lifecycle: production\n  owner: group:default/{}\n  system: {}\n  providesApis:\n    - {}\n  consumesApis:\n    - {}\n  dependsOn:\n    - component:default/{}\n",
            name("comp", i),
            if i % 2 == 1 { "java" } else { "rust" },
            i % 3,
            name("team", i % g),
            name("sys", i % s),
            name("api", i % a),
            name("api", (i * 7 + 3) % a),
            name("comp", (i + 1) % c)
        );
        ents.push((name("comp", i), y));
    }
    ents.sort_by_key(|(n, _)| fnv(n));
    std::fs::create_dir_all(&out)?;
    let mut files = 0;
    for (f, chunk) in ents.chunks(per_file).enumerate() {
        let body: Vec<&str> = chunk.iter().map(|(_, y)| y.as_str()).collect();
        std::fs::write(out.join(format!("catalog-{f:03}.yaml")), body.join("---\n"))?;
        files += 1;
    }
    println!("{{\"N\":{n},\"G\":{g},\"S\":{s},\"A\":{a},\"C\":{c},\"files\":{files}}}");
    Ok(())
}
