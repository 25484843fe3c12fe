//! The workspace's own actions: `debug:log`, `debug:wait`, `fs:delete`, `fs:rename`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{Action, Ctx, Outcome, inside, text};

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action {
            id: "debug:log",
            description: "Writes a message to the task's log, and optionally lists the workspace",
            input: || {
                json!({"type": "object", "properties": {
                    "message": {"type": "string", "description": "The message to log"},
                    "listWorkspace": {"description": "List the workspace's files (true or 'with-filenames'), or also their contents ('with-contents')",
                                       "anyOf": [{"type": "boolean"}, {"enum": ["with-filenames", "with-contents"]}]}}})
            },
            output: || json!({"type": "object"}),
            run: log,
            dry_run: true,
        },
        Action {
            id: "debug:wait",
            description: "Waits the given time (at most 10 minutes) before the next step",
            input: || {
                json!({"type": "object", "properties": {
                    "minutes": {"type": "number", "minimum": 0}, "seconds": {"type": "number", "minimum": 0},
                    "milliseconds": {"type": "number", "minimum": 0}}})
            },
            output: || json!({"type": "object"}),
            run: wait,
            dry_run: true,
        },
        Action {
            id: "fs:delete",
            description: "Deletes the workspace's files and folders matching the given patterns",
            input: || {
                json!({"type": "object", "required": ["files"], "properties": {
                    "files": {"type": "array", "items": {"type": "string"}, "description": "Paths or glob patterns, relative to the workspace"}}})
            },
            output: || json!({"type": "object"}),
            run: delete,
            dry_run: true,
        },
        Action {
            id: "fs:rename",
            description: "Renames (moves) files and folders of the workspace",
            input: || {
                json!({"type": "object", "required": ["files"], "properties": {
                    "files": {"type": "array", "items": {"type": "object", "required": ["from", "to"], "properties": {
                        "from": {"type": "string"}, "to": {"type": "string"},
                        "overwrite": {"type": "boolean", "default": false}}}}}})
            },
            output: || json!({"type": "object"}),
            run: rename,
            dry_run: true,
        },
    ]
}

/// Whether a file is executable (by anyone).
pub fn executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        false
    }
}

/// One file as Backstage's `directoryContents` lists it: the dry run's answer and body, and a
/// parked task's workspace.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub base64_content: String,
    #[serde(default)]
    pub executable: bool,
}

/// Every file of a folder as `directoryContents` entries, sorted; `.git` left out unless
/// `with_git`.
pub fn pack(root: &Path, with_git: bool) -> std::io::Result<Vec<FileEntry>> {
    use base64::Engine;
    let mut out = Vec::new();
    for f in list_files(root) {
        if !with_git && (f == ".git" || f.starts_with(".git/")) {
            continue;
        }
        let p = root.join(&f);
        let bytes = std::fs::read(&p)?;
        out.push(FileEntry {
            executable: executable(&p),
            base64_content: base64::engine::general_purpose::STANDARD.encode(bytes),
            path: f,
        });
    }
    Ok(out)
}

/// Writes `directoryContents` entries under `root` (each path inside it), keeping executable bits.
pub fn unpack(files: &[FileEntry], root: &Path) -> Result<(), String> {
    use base64::Engine;
    for (i, f) in files.iter().enumerate() {
        let path = &f.path;
        let dst = super::inside(root, path).map_err(|e| format!("directoryContents[{i}].path: {e}"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(f.base64_content.as_bytes())
            .map_err(|e| format!("directoryContents[{i}].base64Content: not base64: {e}"))?;
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("{path}: {e}"))?;
        }
        std::fs::write(&dst, bytes).map_err(|e| format!("{path}: {e}"))?;
        #[cfg(unix)]
        if f.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("{path}: {e}"))?;
        }
    }
    Ok(())
}

/// Every file of a folder, relative, sorted.
pub fn list_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn log(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    if let Some(m) = text(input, "message") {
        (ctx.log)(m.to_owned());
    }
    let list = input.get("listWorkspace");
    let contents = list.and_then(Value::as_str) == Some("with-contents");
    if list.is_some_and(|v| v.as_bool() == Some(true) || v.is_string()) {
        (ctx.log)("Workspace:".into());
        for f in list_files(ctx.workspace) {
            if contents {
                let body = std::fs::read_to_string(ctx.workspace.join(&f)).unwrap_or_else(|_| "(binary)".into());
                (ctx.log)(format!("  - {f}:\n{body}"));
            } else {
                (ctx.log)(format!("  - {f}"));
            }
        }
    }
    Ok(Map::new())
}

fn wait(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let n = |k: &str| input.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let ms = n("minutes") * 60_000.0 + n("seconds") * 1000.0 + n("milliseconds");
    if ms > 600_000.0 {
        return Err(format!("debug:wait waits at most 10 minutes, not {:.0} seconds", ms / 1000.0));
    }
    (ctx.log)(format!("Waiting {:.0} ms", ms));
    if ctx.dry_run {
        return Ok(Map::new());
    }
    let until = Instant::now() + Duration::from_millis(ms as u64);
    while Instant::now() < until {
        if (ctx.cancelled)() {
            return Err("cancelled while waiting".into());
        }
        std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
    }
    Ok(Map::new())
}

/// The workspace's paths matching a pattern (relative; a plain path matches itself).
pub fn matching(workspace: &Path, pattern: &str) -> Result<Vec<String>, String> {
    inside(workspace, pattern.trim_end_matches('/'))?;
    let glob = glob::Pattern::new(pattern).map_err(|e| format!("'{pattern}' is not a usable pattern: {e}"))?;
    let mut all = list_files(workspace);
    // Folders too, so a folder's name deletes it whole.
    let mut folders: Vec<String> = Vec::new();
    for f in &all {
        let mut p = Path::new(f).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            folders.push(d.to_string_lossy().replace('\\', "/"));
            p = d.parent();
        }
    }
    folders.sort();
    folders.dedup();
    all.extend(folders);
    let opts = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
    Ok(all.into_iter().filter(|f| f == pattern.trim_end_matches('/') || glob.matches_with(f, opts)).collect())
}

fn delete(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    for pattern in input.get("files").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        for rel in matching(ctx.workspace, pattern)? {
            let path = ctx.workspace.join(&rel);
            let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
                .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) });
            gone.map_err(|e| format!("cannot delete {rel}: {e}"))?;
            (ctx.log)(format!("Deleted {rel}"));
        }
    }
    Ok(Map::new())
}

fn rename(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    for (i, f) in input.get("files").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let (from, to) = (f["from"].as_str().unwrap_or_default(), f["to"].as_str().unwrap_or_default());
        let (src, dst) = (inside(ctx.workspace, from)?, inside(ctx.workspace, to)?);
        if !src.exists() {
            return Err(format!("files[{i}]: {from} does not exist in the workspace"));
        }
        if dst.exists() && !f["overwrite"].as_bool().unwrap_or(false) {
            return Err(format!("files[{i}]: {to} exists already (set overwrite: true to replace it)"));
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("files[{i}]: cannot create {}: {e}", parent.display()))?;
        }
        std::fs::rename(&src, &dst).map_err(|e| format!("files[{i}]: cannot rename {from} to {to}: {e}"))?;
        (ctx.log)(format!("Renamed {from} to {to}"));
    }
    Ok(Map::new())
}
