//! `fetch:plain`, `fetch:plain:file`, `fetch:template`, `fetch:template:file`: copy files from
//! the template's own folder (`./skeleton`) into the workspace, rendering them for the template
//! ones: contents and file names, with `values` (`${{ values.name }}`, or cookiecutter's
//! `{{ cookiecutter.name }}`). Files that are not UTF-8 text are copied as they are.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::files::list_files;
use super::{Action, Ctx, Outcome, inside, text};
use crate::scaffolder::expr::{Templater, context};

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action {
            id: "fetch:plain",
            description: "Copies a folder of the template into the workspace, unchanged",
            input: || json!({"type": "object", "required": ["url"], "properties": {"url": url(), "targetPath": target_path()}}),
            output: || json!({"type": "object"}),
            run: plain,
            dry_run: true,
        },
        Action {
            id: "fetch:plain:file",
            description: "Copies one file of the template into the workspace, unchanged",
            input: || json!({"type": "object", "required": ["url", "targetPath"], "properties": {"url": url(), "targetPath": target_path()}}),
            output: || json!({"type": "object"}),
            run: plain_file,
            dry_run: true,
        },
        Action {
            id: "fetch:template",
            description: "Copies a folder of the template into the workspace, rendering file names and contents with the values",
            input: || {
                json!({"type": "object", "required": ["url"], "properties": {
                    "url": url(), "targetPath": target_path(),
                    "values": {"type": "object", "description": "What the files read as values.* (cookiecutter.* with cookiecutterCompat)"},
                    "copyWithoutRender": {"type": "array", "items": {"type": "string"}, "description": "Deprecated name of copyWithoutTemplating"},
                    "copyWithoutTemplating": {"type": "array", "items": {"type": "string"}, "description": "Glob patterns of files copied without rendering their contents"},
                    "cookiecutterCompat": {"type": "boolean", "description": "{{ cookiecutter.x }} instead of ${{ values.x }}"},
                    "templateFileExtension": {"anyOf": [{"type": "boolean"}, {"type": "string"}],
                        "description": "Render only files with this extension (true: .njk), dropping it; copy the others unchanged"},
                    "replace": {"type": "boolean", "description": "Replace files already in the workspace (default: keep them)"}}})
            },
            output: || json!({"type": "object"}),
            run: template,
            dry_run: true,
        },
        Action {
            id: "fetch:template:file",
            description: "Copies one file of the template into the workspace, rendering it with the values",
            input: || {
                json!({"type": "object", "required": ["url", "targetPath"], "properties": {
                    "url": url(), "targetPath": target_path(), "values": {"type": "object"},
                    "cookiecutterCompat": {"type": "boolean"}, "replace": {"type": "boolean"}}})
            },
            output: || json!({"type": "object"}),
            run: template_file,
            dry_run: true,
        },
    ]
}

fn url() -> Value {
    json!({"type": "string", "description": "Where the files are: a path relative to the template's folder (./skeleton)"})
}

fn target_path() -> Value {
    json!({"type": "string", "description": "Where in the workspace to put them (default: the workspace itself)"})
}

/// The template's file or folder a `url` names.
fn source(ctx: &Ctx<'_>, url: &str) -> Result<PathBuf, String> {
    if url.contains("://") || url.starts_with('/') {
        return Err(format!(
            "'{url}': only paths relative to the template's own folder (./skeleton) can be fetched so far"
        ));
    }
    let base = ctx.template_dir.ok_or_else(|| {
        format!("'{url}' is relative, but this template has no folder to read it from (it was not read from a file)")
    })?;
    let p = inside(base, url).map_err(|_| format!("'{url}' leaves the template's folder"))?;
    if !p.exists() {
        return Err(format!("'{url}' does not exist beside the template"));
    }
    // A symbolic link must not lead out either.
    let (real, real_base) = (p.canonicalize(), base.canonicalize());
    if let (Ok(r), Ok(b)) = (real, real_base)
        && !r.starts_with(&b)
    {
        return Err(format!("'{url}' leads out of the template's folder"));
    }
    Ok(p)
}

fn target(ctx: &Ctx<'_>, input: &Map<String, Value>) -> Result<PathBuf, String> {
    inside(ctx.workspace, text(input, "targetPath").unwrap_or("./"))
}

fn write(dst: &Path, bytes: &[u8], replace: bool, ctx: &mut Ctx<'_>) -> Result<(), String> {
    if dst.exists() && !replace {
        (ctx.log)(format!("Kept {} (already in the workspace)", rel(ctx.workspace, dst)));
        return Ok(());
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", rel(ctx.workspace, parent)))?;
    }
    std::fs::write(dst, bytes).map_err(|e| format!("cannot write {}: {e}", rel(ctx.workspace, dst)))?;
    Ok(())
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).map(|r| r.to_string_lossy().into_owned()).unwrap_or_else(|_| p.display().to_string())
}

fn copy_exec_bit(src: &Path, dst: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(src)
            && m.permissions().mode() & 0o111 != 0
        {
            let _ = std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o755));
        }
    }
    #[cfg(not(unix))]
    let _ = (src, dst);
}

fn plain(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let url = text(input, "url").unwrap_or_default();
    let src = source(ctx, url)?;
    let dst = target(ctx, input)?;
    (ctx.log)(format!("Fetching {url} into {}", rel(ctx.workspace, &dst)));
    if src.is_file() {
        return Err(format!("'{url}' is a file: fetch:plain:file copies one file"));
    }
    for f in list_files(&src) {
        let bytes = std::fs::read(src.join(&f)).map_err(|e| format!("cannot read {f}: {e}"))?;
        let out = dst.join(&f);
        write(&out, &bytes, true, ctx)?;
        copy_exec_bit(&src.join(&f), &out);
    }
    Ok(Map::new())
}

fn plain_file(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let url = text(input, "url").unwrap_or_default();
    let src = source(ctx, url)?;
    if !src.is_file() {
        return Err(format!("'{url}' is not a file"));
    }
    let dst = target(ctx, input)?;
    let bytes = std::fs::read(&src).map_err(|e| format!("cannot read {url}: {e}"))?;
    write(&dst, &bytes, true, ctx)?;
    copy_exec_bit(&src, &dst);
    (ctx.log)(format!("Fetched {url} to {}", rel(ctx.workspace, &dst)));
    Ok(Map::new())
}

/// How files are rendered: the engine, the context and the extension that marks templates.
struct Render {
    engine: Templater,
    ctx: minijinja::Value,
    extension: Option<String>,
    verbatim: Vec<glob::Pattern>,
    untouched: Vec<glob::Pattern>,
}

impl Render {
    fn from(input: &Map<String, Value>) -> Result<Render, String> {
        let cookiecutter = input.get("cookiecutterCompat").and_then(Value::as_bool).unwrap_or(false);
        let values = input.get("values").cloned().unwrap_or_else(|| json!({}));
        let ctx = if cookiecutter { json!({"cookiecutter": values}) } else { json!({"values": values}) };
        let extension = match input.get("templateFileExtension") {
            Some(Value::Bool(true)) => Some(".njk".to_owned()),
            Some(Value::String(s)) if !s.is_empty() => {
                Some(if s.starts_with('.') { s.clone() } else { format!(".{s}") })
            }
            _ => None,
        };
        let patterns = |key: &str| -> Result<Vec<glob::Pattern>, String> {
            let mut out = Vec::new();
            for p in input.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                let p = p.trim_start_matches("./");
                out.push(glob::Pattern::new(p).map_err(|e| format!("{key}: '{p}' is not a usable pattern: {e}"))?);
            }
            Ok(out)
        };
        let (verbatim, untouched) = (patterns("copyWithoutTemplating")?, patterns("copyWithoutRender")?);
        if !verbatim.is_empty() && !untouched.is_empty() {
            return Err("copyWithoutRender and copyWithoutTemplating cannot be used together".into());
        }
        if extension.is_some() && (cookiecutter || !verbatim.is_empty() || !untouched.is_empty()) {
            return Err(
                "templateFileExtension cannot be used with copyWithoutRender, copyWithoutTemplating or cookiecutterCompat"
                    .into(),
            );
        }
        Ok(Render { engine: Templater::new(cookiecutter), ctx: context(&ctx), extension, verbatim, untouched })
    }

    /// The rendered relative path, and whether the contents are rendered. `copyWithoutRender`
    /// leaves both alone; `copyWithoutTemplating` renders the path only.
    fn path(&self, f: &str) -> Result<(String, bool), String> {
        if self.untouched.iter().any(|p| p.matches(f)) {
            return Ok((f.to_owned(), false));
        }
        let mut name = self.engine.render(f, &self.ctx).map_err(|e| format!("the file name {f}: {e}"))?;
        let mut rendered = !self.verbatim.iter().any(|p| p.matches(f));
        if let Some(ext) = &self.extension {
            match name.strip_suffix(ext.as_str()) {
                Some(stripped) => name = stripped.to_owned(),
                None => rendered = false,
            }
        }
        Ok((name, rendered))
    }

    fn contents(&self, f: &str, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
        match String::from_utf8(bytes) {
            Ok(text) => self.engine.render(&text, &self.ctx).map(String::into_bytes).map_err(|e| format!("{f}: {e}")),
            Err(e) => Ok(e.into_bytes()),
        }
    }
}

fn template(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let url = text(input, "url").unwrap_or_default();
    let src = source(ctx, url)?;
    if src.is_file() {
        return Err(format!("'{url}' is a file: fetch:template:file renders one file"));
    }
    let dst = target(ctx, input)?;
    let replace = input.get("replace").and_then(Value::as_bool).unwrap_or(false);
    let r = Render::from(input)?;
    let files = list_files(&src);
    (ctx.log)(format!("Fetching the template {url} ({} files) into {}", files.len(), rel(ctx.workspace, &dst)));
    for f in files {
        if (ctx.cancelled)() {
            return Err("cancelled".into());
        }
        let (name, rendered) = r.path(&f)?;
        if name.is_empty() || name.starts_with('/') || name.contains("//") {
            // A path whose part renders to nothing is left out (Backstage's way of optional files).
            (ctx.log)(format!("Left out {f} (its path renders empty)"));
            continue;
        }
        let out = inside(&dst, &name).map_err(|e| format!("the file name {f} renders to a path that {e}"))?;
        let bytes = std::fs::read(src.join(&f)).map_err(|e| format!("cannot read {f}: {e}"))?;
        let bytes = if rendered { r.contents(&f, bytes)? } else { bytes };
        write(&out, &bytes, replace, ctx)?;
        copy_exec_bit(&src.join(&f), &out);
    }
    Ok(Map::new())
}

fn template_file(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let url = text(input, "url").unwrap_or_default();
    let src = source(ctx, url)?;
    if !src.is_file() {
        return Err(format!("'{url}' is not a file"));
    }
    let dst = target(ctx, input)?;
    let r = Render::from(input)?;
    let bytes = std::fs::read(&src).map_err(|e| format!("cannot read {url}: {e}"))?;
    let bytes = r.contents(url, bytes)?;
    let replace = input.get("replace").and_then(Value::as_bool).unwrap_or(false);
    write(&dst, &bytes, replace, ctx)?;
    copy_exec_bit(&src, &dst);
    (ctx.log)(format!("Rendered {url} to {}", rel(ctx.workspace, &dst)));
    Ok(Map::new())
}
