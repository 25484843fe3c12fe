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
