// The generator of `gencatalog` (its own file, so tests can build the same catalog).

use std::fmt::Write as _;

fn fnv(s: &str) -> u32 {
    let mut h: u32 = 2166136261;
    for c in s.encode_utf16() {
        h ^= c as u32;
        h = h.wrapping_mul(16777619);
    }
    h
}

/// The synthetic catalog of `n` entities: the YAML text of each file (`per_file` entities each),
/// and the summary `gencatalog` prints.
pub fn generate(n: usize, per_file: usize) -> (Vec<String>, String) {
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
    let files: Vec<String> = ents
        .chunks(per_file)
        .map(|chunk| chunk.iter().map(|(_, y)| y.as_str()).collect::<Vec<_>>().join("---\n"))
        .collect();
    let summary = format!("{{\"N\":{n},\"G\":{g},\"S\":{s},\"A\":{a},\"C\":{c},\"files\":{}}}", files.len());
    (files, summary)
}

/// Products and platforms with release plans over the synthetic catalog of `n` entities (the
/// delivery office's benchmark): 100 platforms and 100 products, each with five roadmap items
/// (1,000 items), every product item with four needs on platforms' plans (2,000 needs: three
/// naming an item, one answered or not through `answers`), platform items due over 2027 (so
/// some needs are late), and one breaking API change per platform. Each platform is made of ten
/// of the catalog's systems (so their APIs are its), each product of ten others (so their
/// components are its consumers).
#[allow(dead_code)] // Also compiled into a catalog test (`#[path]`), which uses only `generate`.
pub fn roadmaps(n: usize) -> String {
    let s = ((n as f64 * 0.2).round() as usize).max(1);
    let g = ((n as f64 * 0.1).round() as usize).max(1);
    let (platforms, products, per) = (100usize, 100usize, 5usize);
    let sys = |i: usize| format!("sys-{:06}", i % s);
    let team = |i: usize| format!("team-{:06}", i % g);
    let quarter = |k: usize| ["2027-03-31", "2027-06-30", "2027-09-30", "2027-12-31", "2028-03-31"][k % 5];
    let mut out = Vec::new();
    for p in 0..platforms {
        let mut y = format!(
            "apiVersion: portolan.dev/v1alpha1\nkind: Platform\nmetadata:\n  name: plat-{p:03}\nspec:\n  owner: group:default/{}\n  lifecycle: production\n  parts:\n",
            team(p)
        );
        for k in 0..10 {
            let _ = writeln!(y, "    - system:default/{}", sys(p * 10 + k));
        }
        y.push_str("  roadmap:\n");
        for j in 0..per {
            let _ = write!(
                y,
                "    - id: pi-{j}\n      title: Platform item {j}\n      targetDate: \"{}\"\n      status: {}\n",
                quarter(j + p),
                if j == 0 { "in-progress" } else { "planned" }
            );
            if j == 0 {
                let _ = write!(
                    y,
                    "      changes:\n        - api: api:default/api-{:06}\n          kind: breaking\n          effective: \"2027-12-31\"\n",
                    (p * 10) % s
                );
            }
            if j == 4 {
                // Answers the unnamed need of one product item.
                let _ = write!(
                    y,
                    "      answers:\n        - product: prod-{:03}\n          item: qi-{}\n",
                    p % products,
                    p % per
                );
            }
        }
        out.push(y);
    }
    for q in 0..products {
        let mut y = format!(
            "apiVersion: portolan.dev/v1alpha1\nkind: Product\nmetadata:\n  name: prod-{q:03}\nspec:\n  owner: group:default/{}\n  lifecycle: production\n  parts:\n",
            team(q + 500)
        );
        for k in 0..10 {
            let _ = writeln!(y, "    - system:default/{}", sys(1000 + q * 10 + k));
        }
        y.push_str("  kpis:\n    - name: conversion\n      target: 3\n      direction: increase\n  roadmap:\n");
        for j in 0..per {
            let _ = write!(
                y,
                "    - id: qi-{j}\n      title: Product item {j}\n      targetDate: \"{}\"\n      status: planned\n      needs:\n",
                quarter(j + q + 1)
            );
            for k in 0..4 {
                let plat = (q * 7 + j * 3 + k) % platforms;
                let by = quarter(j + q + k);
                if k == 3 {
                    let _ = write!(y, "        - on: platform:default/plat-{plat:03}\n          neededBy: \"{by}\"\n");
                } else {
                    let _ = write!(
                        y,
                        "        - on: platform:default/plat-{plat:03}\n          item: pi-{}\n          neededBy: \"{by}\"\n",
                        (j + k) % per
                    );
                }
            }
        }
        out.push(y);
    }
    out.join("---\n")
}
