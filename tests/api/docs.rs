//! The documentation cannot drift: docs/configuration.md names every key the settings accept,
//! and only those; the README stays a front door that links every document in docs/.
//!
//! The settings are asked through the public `Settings` type only: each table is deserialised
//! with one unknown key, and the "unknown field, expected one of ..." answer lists its keys.

use std::collections::BTreeSet;
use std::path::Path;

use portolan::settings::Settings;

const PROBE: &str = "__probe";

/// One segment of a documented key: `name`, `name[]` (an array of tables) or `<name>` (a map
/// key the user chooses).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Segment {
    name: String,
    array: bool,
}

impl Segment {
    fn is_placeholder(&self) -> bool {
        self.name.starts_with('<')
    }
}

fn parse_key(key: &str) -> Vec<Segment> {
    key.split('.')
        .map(|s| {
            let (name, array) = s.strip_suffix("[]").map_or((s, false), |n| (n, true));
            assert!(
                !name.is_empty()
                    && (name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                        || (name.starts_with('<') && name.ends_with('>'))),
                "docs/configuration.md: `{key}` is not a key path (write `a.b`, `a[].b` or `a.<name>.b`)"
            );
            Segment { name: name.to_owned(), array }
        })
        .collect()
}

fn show(path: &[Segment]) -> String {
    if path.is_empty() {
        return "the top level".into();
    }
    path.iter().map(|s| format!("{}{}", s.name, if s.array { "[]" } else { "" })).collect::<Vec<_>>().join(".")
}

/// The key in the first column of each row of the key tables of docs/configuration.md.
fn documented_keys(doc: &str) -> Vec<Vec<Segment>> {
    let mut keys = Vec::new();
    let mut in_key_table = false;
    for line in doc.lines() {
        if line.starts_with("| key |") {
            in_key_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_key_table = false;
            continue;
        }
        if !in_key_table || line.starts_with("|---") {
            continue;
        }
        let cell = line.trim_start_matches('|').split('|').next().unwrap().trim();
        let key = cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')).filter(|k| !k.contains('`')).unwrap_or_else(
            || panic!("docs/configuration.md: a row's first cell must be one key in backticks: {line}"),
        );
        keys.push(parse_key(key));
    }
    keys
}

/// The keys of the table at `path`, as the settings' deserialiser names them when it meets an
/// unknown one; `None` when `path` is not a table with named keys (a value, a list, a map).
fn keys_of_table(path: &[Segment]) -> Option<BTreeSet<String>> {
    let mut current: Vec<&str> = Vec::new();
    let mut headers = Vec::new();
    for s in path {
        current.push(if s.is_placeholder() { "x" } else { &s.name });
        if s.array {
            headers.push(format!("[[{}]]", current.join(".")));
        }
    }
    if path.last().is_some_and(|s| !s.array) {
        headers.push(format!("[{}]", current.join(".")));
    }
    let text = format!("{}\n{PROBE} = 1\n", headers.join("\n"));
    let err = match toml::from_str::<Settings>(&text) {
        Ok(_) => panic!("{} accepts an unknown key: every settings table must deny unknown fields", show(path)),
        Err(e) => e.to_string(),
    };
    let at = err.find(&format!("unknown field `{PROBE}`"))?;
    let rest = err[at..].lines().next().unwrap();
    let rest = &rest[format!("unknown field `{PROBE}`").len()..];
    Some(rest.split('`').skip(1).step_by(2).map(str::to_owned).collect())
}

#[test]
fn the_configuration_doc_names_every_settings_key_and_only_those() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md")).unwrap();
    let keys = documented_keys(&doc);
    assert!(keys.len() > 50, "docs/configuration.md has its key tables: {} keys found", keys.len());
    let mut problems = Vec::new();
    let unique: BTreeSet<&Vec<Segment>> = keys.iter().collect();
    if unique.len() != keys.len() {
        problems.push("a key has two rows".to_owned());
    }

    // Every table a documented key lies in (the top level included), except maps, whose keys
    // are the user's names.
    let mut tables: BTreeSet<Vec<Segment>> = BTreeSet::new();
    for key in &keys {
        for depth in 0..key.len() {
            if !key[depth].is_placeholder() {
                tables.insert(key[..depth].to_vec());
            }
        }
    }
    for table in &tables {
        let Some(fields) = keys_of_table(table) else {
            problems.push(format!(
                "{} is documented as a table of keys, but the settings do not name its keys (no such table, \
                 or one that accepts unknown keys)",
                show(table)
            ));
            continue;
        };
        let below: BTreeSet<&str> = keys
            .iter()
            .filter(|k| k.len() > table.len() && k[..table.len()] == table[..])
            .map(|k| k[table.len()].name.as_str())
            .collect();
        for name in &below {
            if !fields.contains(*name) {
                problems.push(format!("`{name}` in {} is documented but the settings do not accept it", show(table)));
            }
        }
        for field in &fields {
            if !below.contains(field.as_str()) {
                problems.push(format!("`{field}` in {} has no row in docs/configuration.md", show(table)));
            }
        }
    }
    // A documented key is a value, not a table whose own keys went undocumented.
    for key in &keys {
        if let Some(fields) = keys_of_table(key) {
            problems.push(format!("{} is a table: document its keys ({fields:?}) instead", show(key)));
        }
    }
    assert!(problems.is_empty(), "docs/configuration.md and the settings disagree:\n{}", problems.join("\n"));
}

#[test]
fn the_readme_is_a_front_door_that_links_every_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines < 300, "README.md has {lines} lines: the reference belongs in docs/");
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            assert!(readme.contains(&format!("](docs/{name})")), "README.md does not link docs/{name}");
        }
    }
    // The test command CI runs (.ci/run) is the README's.
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(ci.contains("cargo test --release --locked"), "{ci}");
    assert!(
        readme.contains(
            "PORTOLAN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo test --release --locked"
        ),
        "the README shows the test command CI runs"
    );
}
