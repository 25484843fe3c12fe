//! The architecture's rules (docs/ARCHITECTURE.md, "Dependency rules" and "Tables and SQL"),
//! checked on the source text of `src/`: plain std, no parser. Comments and string contents are
//! blanked before paths are read, so prose never counts; test code (test-only files and
//! `#[cfg(test)]` items) is left out, since it is not part of what ships.
//!
//! The rules:
//! - (a) the catalog names no domain built on it (governance, offerings, usage, discovery), nor the
//!   org graph or the domains' front doors (org, domain), nor the edge that wires them (ui,
//!   startup, routes);
//! - (b) `config.rs` names no domain;
//! - (c) auth names no domain but the catalog, and of the catalog only what it reads
//!   ([`AUTH_READS_OF_CATALOG`]);
//! - (d) no file outside a domain names that domain's store;
//! - (e) the UI names no store at all;
//! - (f) SQL only in stores and `src/db/`;
//! - (g) no source file over 800 lines;
//! - (h) every `mod store` is private;
//! - (i) every table of the migrations is declared in `src/db/schema.rs`, and only there.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// Violations that work in progress elsewhere removes: `(file, path named)`. A violation is
/// let through while its file is listed with a prefix of the path it names. The lead empties
/// this list; an entry that lets nothing through any more fails the test, so it cannot go stale.
const PENDING: &[(&str, &str)] = &[];

/// The domains: each owns its tables, behind a private store.
const DOMAINS: &[&str] = &[
    "catalog",
    "governance",
    "offerings",
    "usage",
    "delivery",
    "health",
    "standards",
    "scaffolder",
    "discovery",
    "auth",
];
/// What the catalog must never name: the domains built on it, what is built from it for them
/// (the org graph, the domains' front doors), and the edge that wires them.
const ABOVE_CATALOG: &[&str] = &[
    "governance",
    "offerings",
    "usage",
    "delivery",
    "health",
    "standards",
    "scaffolder",
    "discovery",
    "org",
    "domain",
    "ui",
    "startup",
    "routes",
];
/// The domains `config.rs` must not name.
const CONFIG_MUST_NOT_NAME: &[&str] =
    &["catalog", "governance", "offerings", "usage", "delivery", "health", "standards", "scaffolder", "discovery"];
/// Auth resolves identities against the catalog: these are the only catalog modules it names.
const AUTH_READS_OF_CATALOG: &[&str] = &[
    "crate::catalog::facade", // relations (ownedBy, memberOf, childOf), bodies, Users by leaf, provenance
    "crate::catalog::rules",  // CatalogRules, Provenance: whether a User entity may be trusted
    "crate::catalog::read",   // get_entity: GET /api/auth/me serves the signed-in User entity
    "crate::catalog::Catalog", // the catalog's handler data: the seam get_entity decorates with
];
const MAX_LINES: usize = 800;
const SQL_STARTS: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "WITH"];

#[derive(Debug)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
    named: String,
}

/// One source file: its text with comments and literal contents blanked (newlines kept), and
/// its string literals with their lines.
struct Source {
    rel: String,
    lines: usize,
    code: Vec<char>,
    strings: Vec<(usize, String)>,
    line_starts: Vec<usize>,
}

impl Source {
    fn line_of(&self, at: usize) -> usize {
        line_of(&self.line_starts, at)
    }
}

/// The 1-based line of a char index, given where each line starts.
fn line_of(line_starts: &[usize], at: usize) -> usize {
    match line_starts.binary_search(&at) {
        Ok(i) => i + 1,
        Err(i) => i,
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Blanks comments and the contents of string and char literals; collects string literals
/// (with the char index they start at).
fn lex(text: &str) -> (Vec<char>, Vec<(usize, String)>) {
    let src: Vec<char> = text.chars().collect();
    let mut code = src.clone();
    let mut strings = Vec::new();
    let blank = |code: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut code[from..to] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let n = src.len();
    let mut i = 0;
    while i < n {
        let c = src[i];
        let prev_ident = i > 0 && is_ident(src[i - 1]);
        if c == '/' && i + 1 < n && src[i + 1] == '/' {
            let end = src[i..].iter().position(|&c| c == '\n').map_or(n, |p| i + p);
            blank(&mut code, i, end);
            i = end;
        } else if c == '/' && i + 1 < n && src[i + 1] == '*' {
            let (mut depth, mut j) = (1, i + 2);
            while j < n && depth > 0 {
                if src[j] == '/' && j + 1 < n && src[j + 1] == '*' {
                    depth += 1;
                    j += 2;
                } else if src[j] == '*' && j + 1 < n && src[j + 1] == '/' {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut code, i, j);
            i = j;
        } else if !prev_ident && (c == 'r' || (c == 'b' && i + 1 < n && src[i + 1] == 'r')) && {
            let k = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = src[k..].iter().take_while(|&&c| c == '#').count();
            k + hashes < n && src[k + hashes] == '"'
        } {
            // A raw string: r"..", r#".."#, br"..".
            let k = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = src[k..].iter().take_while(|&&c| c == '#').count();
            let start = k + hashes + 1;
            let mut j = start;
            loop {
                if j >= n {
                    break;
                }
                if src[j] == '"' && src[j + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
                    break;
                }
                j += 1;
            }
            strings.push((i, src[start..j.min(n)].iter().collect()));
            blank(&mut code, start, j.min(n));
            i = (j + 1 + hashes).min(n);
        } else if c == '"' {
            let mut j = i + 1;
            while j < n && src[j] != '"' {
                if src[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            strings.push((i, src[i + 1..j.min(n)].iter().collect()));
            blank(&mut code, i + 1, j.min(n));
            i = j + 1;
        } else if c == '\'' && (!prev_ident || (src[i - 1] == 'b' && (i < 2 || !is_ident(src[i - 2])))) {
            // A char literal ('x', '\n', '\''), or else a lifetime, left alone.
            if i + 1 < n && src[i + 1] == '\\' {
                let end = src[i + 2..].iter().position(|&c| c == '\'').map_or(n, |p| i + 2 + p);
                blank(&mut code, i + 1, end);
                i = end + 1;
            } else if i + 2 < n && src[i + 2] == '\'' {
                blank(&mut code, i + 1, i + 2);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    (code, strings)
}

/// The char index of the item an attribute ending at `from` applies to, and where that item
/// ends: at its `;`, or at the `}` that closes its first `{`.
fn item_end(code: &[char], from: usize) -> usize {
    let mut i = from;
    while i < code.len() && code[i] != ';' && code[i] != '{' {
        if code[i] == '#' {
            // Another attribute: skip its brackets.
            let mut depth = 0;
            while i < code.len() {
                match code[i] {
                    '[' => depth += 1,
                    ']' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        i += 1;
    }
    if i >= code.len() || code[i] == ';' {
        return (i + 1).min(code.len());
    }
    let mut depth = 0;
    while i < code.len() {
        match code[i] {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    code.len()
}

fn find_all(code: &[char], needle: &str) -> Vec<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (0..code.len().saturating_sub(needle.len() - 1)).filter(|&i| code[i..i + needle.len()] == needle[..]).collect()
}

/// `(start, end)` of every `#[cfg(test)]` item, and the names of modules declared test-only
/// (`#[cfg(test)] mod name;`, with their `#[path]` if any).
/// A module declared test-only: its name, and its `#[path]` if it has one.
type TestModule = (String, Option<String>);

fn test_items(code: &[char], original: &[char]) -> (Vec<(usize, usize)>, Vec<TestModule>) {
    let mut spans = Vec::new();
    let mut modules = Vec::new();
    for at in find_all(code, "#[cfg(test)]") {
        let end = item_end(code, at + "#[cfg(test)]".len());
        spans.push((at, end));
        let item: String = code[at..end].iter().collect();
        let words: Vec<&str> = item.split(|c: char| !is_ident(c)).filter(|w| !w.is_empty()).collect();
        if item.trim_end().ends_with(';')
            && let Some(p) = words.iter().position(|w| *w == "mod")
            && p + 1 < words.len()
        {
            let original_item: String = original[at..end].iter().collect();
            let path =
                original_item.split("#[path = \"").nth(1).and_then(|rest| rest.split('"').next()).map(str::to_owned);
            modules.push((words[p + 1].to_owned(), path));
        }
    }
    (spans, modules)
}

/// Reads every `.rs` file under `src/`; returns the files that ship, and the test-only ones.
fn sources() -> (Vec<Source>, BTreeSet<String>) {
    let root = root();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut test_only: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&path).unwrap();
        let original: Vec<char> = text.chars().collect();
        let (mut code, strings) = lex(&text);
        let (spans, modules) = test_items(&code, &original);
        // Where this file's child modules live.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let dir = if name == "mod.rs" || name == "lib.rs" || name == "main.rs" {
            path.parent().unwrap().to_path_buf()
        } else {
            path.with_extension("")
        };
        for (module, explicit) in modules {
            let candidates = match explicit {
                Some(p) => vec![path.parent().unwrap().join(p)],
                None => vec![dir.join(format!("{module}.rs")), dir.join(&module).join("mod.rs")],
            };
            for c in candidates {
                if let Ok(c) = c.canonicalize()
                    && let Ok(r) = c.strip_prefix(root.canonicalize().unwrap())
                {
                    test_only.insert(r.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        for &(from, to) in &spans {
            for c in &mut code[from..to] {
                if *c != '\n' {
                    *c = ' ';
                }
            }
        }
        let mut line_starts = vec![0];
        line_starts.extend(code.iter().enumerate().filter(|(_, c)| **c == '\n').map(|(i, _)| i + 1));
        let strings = strings
            .into_iter()
            .filter(|(at, _)| !spans.iter().any(|&(f, t)| *at >= f && *at < t))
            .map(|(at, s)| (line_of(&line_starts, at), s))
            .collect();
        out.push(Source { rel, lines: text.lines().count(), code, strings, line_starts });
    }
    let shipped = out.into_iter().filter(|s| !test_only.contains(&s.rel)).collect();
    (shipped, test_only)
}

/// Every path that starts with `crate::` (use trees expanded: `crate::a::{b, c::d}` gives
/// `crate::a::b` and `crate::a::c::d`), with the char index it starts at.
fn crate_paths(code: &[char]) -> Vec<(usize, String)> {
    fn skip_ws(code: &[char], mut i: usize) -> usize {
        while i < code.len() && code[i].is_whitespace() {
            i += 1;
        }
        i
    }
    fn ident(code: &[char], i: usize) -> (usize, String) {
        let mut j = i;
        while j < code.len() && is_ident(code[j]) {
            j += 1;
        }
        (j, code[i..j].iter().collect())
    }
    fn tree(code: &[char], i: usize, prefix: &str, out: &mut Vec<String>) -> usize {
        let mut i = skip_ws(code, i);
        if i >= code.len() {
            return i;
        }
        if code[i] == '{' {
            i += 1;
            loop {
                i = skip_ws(code, i);
                if i >= code.len() || code[i] == '}' {
                    return i + 1;
                }
                i = tree(code, i, prefix, out);
                i = skip_ws(code, i);
                if i < code.len() && code[i] == ',' {
                    i += 1;
                }
            }
        }
        if code[i] == '*' {
            out.push(prefix.to_owned());
            return i + 1;
        }
        if !is_ident(code[i]) {
            out.push(prefix.to_owned());
            return i;
        }
        let (j, name) = ident(code, i);
        let path = if name == "self" { prefix.to_owned() } else { format!("{prefix}::{name}") };
        let k = skip_ws(code, j);
        if k + 1 < code.len() && code[k] == ':' && code[k + 1] == ':' {
            let next = skip_ws(code, k + 2);
            if next < code.len() && (is_ident(code[next]) || code[next] == '{' || code[next] == '*') {
                return tree(code, next, &path, out);
            }
        }
        // `as alias`
        let (after_as, word) = ident(code, k);
        if word == "as" {
            let (end, _) = ident(code, skip_ws(code, after_as));
            out.push(path);
            return end;
        }
        out.push(path);
        j
    }
    let mut found = Vec::new();
    for at in find_all(code, "crate::") {
        if at > 0 && (is_ident(code[at - 1]) || code[at - 1] == '$') {
            continue;
        }
        let mut paths = Vec::new();
        tree(code, at + "crate::".len(), "crate", &mut paths);
        found.extend(paths.into_iter().map(|p| (at, p)));
    }
    found
}

/// Every `x::store` (or `store::`) a file names outside `crate::` paths: `(index, x)`, where `x`
/// is the segment before `store` (empty for a path that starts with `store`).
fn store_mentions(code: &[char]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for at in find_all(code, "store") {
        let before_ok = at == 0 || !is_ident(code[at - 1]);
        let after = at + "store".len();
        let after_ok = after >= code.len() || !is_ident(code[after]);
        if !before_ok || !after_ok {
            continue;
        }
        let mut k = at;
        while k > 0 && code[k - 1].is_whitespace() {
            k -= 1;
        }
        let preceded = k >= 2 && code[k - 1] == ':' && code[k - 2] == ':';
        let mut a = after;
        while a < code.len() && code[a].is_whitespace() {
            a += 1;
        }
        let followed = a + 1 < code.len() && code[a] == ':' && code[a + 1] == ':';
        if preceded {
            let mut e = k - 2;
            while e > 0 && code[e - 1].is_whitespace() {
                e -= 1;
            }
            let mut s = e;
            while s > 0 && is_ident(code[s - 1]) {
                s -= 1;
            }
            out.push((at, code[s..e].iter().collect()));
        } else if followed {
            out.push((at, String::new()));
        }
    }
    out
}

fn domain_of(rel: &str) -> Option<&'static str> {
    let top = rel.strip_prefix("src/")?.split('/').next()?;
    DOMAINS.iter().copied().find(|d| *d == top)
}

fn is_store_file(rel: &str) -> bool {
    rel.contains("/store/") || rel.ends_with("/store.rs")
}

fn check_dependencies(s: &Source, out: &mut Vec<Violation>) {
    let own = domain_of(&s.rel);
    let mut push = |at: usize, rule: &'static str, named: &str| {
        out.push(Violation { file: s.rel.clone(), line: s.line_of(at), rule, named: named.to_owned() })
    };
    for (at, path) in crate_paths(&s.code) {
        let segments: Vec<&str> = path.split("::").collect();
        let top = segments.get(1).copied().unwrap_or("");
        if s.rel.starts_with("src/catalog/") && ABOVE_CATALOG.contains(&top) {
            push(at, "(a) the catalog names a domain built on it, or the edge that wires it", &path);
        }
        if s.rel == "src/config.rs" && CONFIG_MUST_NOT_NAME.contains(&top) {
            push(at, "(b) config.rs names a domain (settings belong to their domain)", &path);
        }
        if s.rel.starts_with("src/auth/") && DOMAINS.contains(&top) && top != "auth" {
            if top != "catalog" {
                push(at, "(c) auth names a domain other than the catalog", &path);
            } else if !AUTH_READS_OF_CATALOG
                .iter()
                .any(|allowed| path == *allowed || path.starts_with(&format!("{allowed}::")))
            {
                push(at, "(c) auth names a part of the catalog it has no business reading", &path);
            }
        }
        if segments.get(2) == Some(&"store") {
            if s.rel.starts_with("src/ui/") {
                push(at, "(e) the UI names a store", &path);
            } else if own != Some(top) {
                push(at, "(d) a file names another domain's store (use that domain's facade)", &path);
            }
        }
    }
    for (at, before) in store_mentions(&s.code) {
        if s.rel.starts_with("src/ui/") {
            push(at, "(e) the UI names a store", &format!("{before}::store"));
        } else if DOMAINS.contains(&before.as_str()) && own != Some(before.as_str()) {
            push(at, "(d) a file names another domain's store (use that domain's facade)", &format!("{before}::store"));
        }
    }
}

fn check_sql(s: &Source, out: &mut Vec<Violation>) {
    if s.rel.starts_with("src/db/") || is_store_file(&s.rel) {
        return;
    }
    let rule = "(f) SQL outside a store (only */store.rs, */store/ and src/db/ hold SQL)";
    for call in ["sql_query(", "batch_execute("] {
        for at in find_all(&s.code, call) {
            if at == 0 || !is_ident(s.code[at - 1]) {
                out.push(Violation { file: s.rel.clone(), line: s.line_of(at), rule, named: call.to_owned() });
            }
        }
    }
    for (line, text) in &s.strings {
        let t = text.trim_start();
        for kw in SQL_STARTS {
            if let Some(rest) = t.strip_prefix(kw)
                && rest.starts_with(char::is_whitespace)
            {
                let shown: String = t.chars().take(40).collect();
                out.push(Violation { file: s.rel.clone(), line: *line, rule, named: format!("\"{shown}\"") });
            }
        }
    }
}

fn check_size_and_stores(s: &Source, out: &mut Vec<Violation>) {
    if s.lines > MAX_LINES {
        out.push(Violation {
            file: s.rel.clone(),
            line: s.lines,
            rule: "(g) a source file over 800 lines (split it by concern)",
            named: format!("{} lines", s.lines),
        });
    }
    let code: String = s.code.iter().collect();
    for (i, line) in code.lines().enumerate() {
        let t = line.trim_start();
        let Some((visibility, rest)) = t.split_once(" mod store") else { continue };
        if visibility.starts_with("pub") && rest.starts_with([';', ' ', '{']) {
            out.push(Violation {
                file: s.rel.clone(),
                line: i + 1,
                rule: "(h) a store that is not private to its domain (write `mod store;`)",
                named: t.trim_end().to_owned(),
            });
        }
    }
}

/// The tables the migrations leave behind (one backend's directory, in order): created, renamed
/// and dropped.
fn migrated_tables(dir: &Path) -> BTreeSet<String> {
    let mut steps: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    steps.sort();
    let mut tables = BTreeSet::new();
    for step in steps {
        let sql = std::fs::read_to_string(step.join("up.sql")).unwrap();
        let sql: String = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        for statement in sql.split(';') {
            let words: Vec<String> = statement.split_whitespace().map(str::to_owned).collect();
            let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
            let name_at = |i: usize| words.get(i).map(|w| w.trim_end_matches('(').to_owned()).unwrap_or_default();
            let is = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
            if is(0, "CREATE") && is(1, "TABLE") {
                let i = if is(2, "IF") { 5 } else { 2 };
                tables.insert(name_at(i));
            } else if is(0, "CREATE") && is(1, "VIRTUAL") && is(2, "TABLE") {
                tables.insert(name_at(3));
            } else if is(0, "DROP") && is(1, "TABLE") {
                let i = if is(2, "IF") { 4 } else { 2 };
                tables.remove(&name_at(i));
            } else if is(0, "ALTER") && is(1, "TABLE") && is(3, "RENAME") && is(4, "TO") {
                tables.remove(&name_at(2));
                tables.insert(name_at(5));
            }
        }
    }
    tables
}

fn check_tables(sources: &[Source], out: &mut Vec<Violation>) {
    let root = root();
    let mut migrated = migrated_tables(&root.join("migrations/sqlite"));
    migrated.extend(migrated_tables(&root.join("migrations/postgres")));
    let schema = sources.iter().find(|s| s.rel == "src/db/schema.rs").expect("src/db/schema.rs");
    let code: String = schema.code.iter().collect();
    let mut declared = HashSet::new();
    // `table! {` then the table name (in a macro_rules! body the name is `$name`: its
    // invocations are read below).
    for part in code.split("table! {").skip(1) {
        let name: String = part.trim_start().chars().take_while(|c| is_ident(*c) || *c == '$').collect();
        declared.insert(name);
    }
    for part in code.split("usage_level!(").skip(1) {
        declared.insert(part.chars().take_while(|c| is_ident(*c)).collect::<String>());
    }
    for table in &migrated {
        if !declared.contains(table) {
            out.push(Violation {
                file: "src/db/schema.rs".into(),
                line: 1,
                rule: "(i) a table of the migrations is not declared in the diesel schema",
                named: table.clone(),
            });
        }
    }
    for name in &declared {
        if !name.starts_with('$') && !migrated.contains(name) {
            out.push(Violation {
                file: "src/db/schema.rs".into(),
                line: 1,
                rule: "(i) the diesel schema declares a table no migration creates",
                named: name.clone(),
            });
        }
    }
    for s in sources {
        if s.rel == "src/db/schema.rs" {
            continue;
        }
        for at in find_all(&s.code, "table!") {
            if at == 0 || !is_ident(s.code[at - 1]) {
                out.push(Violation {
                    file: s.rel.clone(),
                    line: s.line_of(at),
                    rule: "(i) a table declared outside src/db/schema.rs",
                    named: "table!".into(),
                });
            }
        }
    }
}

#[test]
fn the_architecture_rules_hold() {
    let (sources, _test_only) = sources();
    let mut all = Vec::new();
    for s in &sources {
        check_dependencies(s, &mut all);
        check_sql(s, &mut all);
        check_size_and_stores(s, &mut all);
    }
    check_tables(&sources, &mut all);
    // A path like `crate::catalog::store::x` is seen twice (as a crate path and as a store
    // mention): one report per file, line and rule.
    let mut seen = HashSet::new();
    all.retain(|v| seen.insert((v.file.clone(), v.line, v.rule)));
    let mut used = vec![false; PENDING.len()];
    let mut failures: Vec<String> = Vec::new();
    for v in &all {
        if let Some(i) = PENDING.iter().position(|(file, prefix)| v.file == *file && v.named.starts_with(prefix)) {
            used[i] = true;
            continue;
        }
        failures.push(format!("{}:{}: {}: {}", v.file, v.line, v.rule, v.named));
    }
    for (i, (file, prefix)) in PENDING.iter().enumerate() {
        if !used[i] {
            failures.push(format!("PENDING lists {file} naming {prefix}, which it no longer does: remove the entry"));
        }
    }
    assert!(failures.is_empty(), "{} architecture rule(s) broken:\n{}\n", failures.len(), failures.join("\n"));
}

#[test]
fn test_only_files_are_recognised() {
    let (sources, test_only) = sources();
    for f in ["src/catalog/store/sql/db_tests.rs", "src/db/read/tests.rs", "src/catalog/query/testing.rs"] {
        assert!(test_only.contains(f), "{f} should be test-only: {test_only:?}");
    }
    assert!(sources.iter().any(|s| s.rel == "src/catalog/ingest.rs"));
}

#[test]
fn the_text_readers_read_what_they_should() {
    let (code, strings) = lex(
        "use crate::a::{b, c::{d as e, self}}; // crate::x\nlet s = \"SELECT 1\"; let r = r#\"WITH x\"#; let c = '\"';",
    );
    let paths: Vec<String> = crate_paths(&code).into_iter().map(|(_, p)| p).collect();
    assert_eq!(paths, ["crate::a::b", "crate::a::c::d", "crate::a::c"]);
    let texts: Vec<&str> = strings.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(texts, ["SELECT 1", "WITH x"]);
    let (code, _) = lex("use super::store::{self}; let x = catalog::store::f(); let y = other_store::g();");
    let mentions: Vec<String> = store_mentions(&code).into_iter().map(|(_, b)| b).collect();
    assert_eq!(mentions, ["super", "catalog"]);
}
