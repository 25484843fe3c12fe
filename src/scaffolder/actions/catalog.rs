//! `catalog:write`, `catalog:fetch`, `catalog:register`: the catalog seen from a template.

use serde_json::{Map, Value, json};

use super::{Action, Ctx, Outcome, inside, text};

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action {
            id: "catalog:write",
            description: "Writes an entity as a catalog-info.yaml file into the workspace",
            input: || {
                json!({"type": "object", "required": ["entity"], "properties": {
                    "filePath": {"type": "string", "description": "Where in the workspace (default: catalog-info.yaml)"},
                    "entity": {"type": "object", "description": "The entity to write"}}})
            },
            output: || json!({"type": "object"}),
            run: write,
            dry_run: true,
        },
        Action {
            id: "catalog:fetch",
            description: "Reads entities from the catalog by ref",
            input: || {
                json!({"type": "object", "properties": {
                    "entityRef": {"type": "string"}, "entityRefs": {"type": "array", "items": {"type": "string"}},
                    "optional": {"type": "boolean", "description": "A missing entity is no error (default: false)"},
                    "defaultKind": {"type": "string"}, "defaultNamespace": {"type": "string"}}})
            },
            output: || {
                json!({"type": "object", "properties": {"entity": {"type": "object"},
                    "entities": {"type": "array", "items": {"type": ["object", "null"]}}}})
            },
            run: fetch,
            dry_run: true,
        },
        Action {
            id: "catalog:register",
            description: "Registers a catalog-info.yaml as a location of the catalog",
            input: || {
                json!({"type": "object", "properties": {
                    "catalogInfoUrl": {"type": "string", "description": "The descriptor's URL"},
                    "repoContentsUrl": {"type": "string", "description": "The repository's contents URL (with catalogInfoPath)"},
                    "catalogInfoPath": {"type": "string", "description": "The descriptor's path in the repository (default: /catalog-info.yaml)"},
                    "optional": {"type": "boolean", "description": "A failure is logged, not fatal"}}})
            },
            output: || json!({"type": "object", "properties": {"entityRef": {"type": "string"}, "catalogInfoUrl": {"type": "string"}}}),
            run: register,
            dry_run: false,
        },
    ]
}

fn write(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let path = text(input, "filePath").unwrap_or("catalog-info.yaml");
    let dst = inside(ctx.workspace, path)?;
    let entity = input.get("entity").cloned().unwrap_or(Value::Null);
    let yaml = serde_saphyr::to_string(&entity).map_err(|e| format!("the entity does not write as YAML: {e}"))?;
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create the folder of {path}: {e}"))?;
    }
    std::fs::write(&dst, yaml).map_err(|e| format!("cannot write {path}: {e}"))?;
    (ctx.log)(format!("Wrote {path}"));
    Ok(Map::new())
}

/// A ref key from a ref as written, with the defaults.
fn key_of(raw: &str, kind: Option<&str>, namespace: &str) -> Result<String, String> {
    crate::catalog::model::EntityRef::parse(raw, kind, namespace).map(|r| r.key()).map_err(|e| format!("'{raw}': {e}"))
}

fn fetch(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let catalog = ctx.catalog.ok_or("the catalog is not reachable from here")?;
    let optional = input.get("optional").and_then(Value::as_bool).unwrap_or(false);
    let kind = text(input, "defaultKind");
    let ns = text(input, "defaultNamespace").unwrap_or("default");
    let one = |raw: &str| -> Result<Value, String> {
        let key = key_of(raw, kind, ns)?;
        match catalog.entity(&key).map_err(|e| format!("reading {raw}: {e:#}"))? {
            Some(e) => Ok(e),
            None if optional => Ok(Value::Null),
            None => Err(format!("no entity {raw} in the catalog")),
        }
    };
    let mut out = Map::new();
    if let Some(r) = text(input, "entityRef") {
        let e = one(r)?;
        if !e.is_null() {
            out.insert("entity".into(), e);
        }
    }
    if let Some(list) = input.get("entityRefs").and_then(Value::as_array) {
        let all: Result<Vec<Value>, String> = list.iter().filter_map(Value::as_str).map(one).collect();
        out.insert("entities".into(), Value::Array(all?));
    }
    if out.is_empty() && !input.contains_key("entityRef") && !input.contains_key("entityRefs") {
        return Err("give entityRef or entityRefs".into());
    }
    Ok(out)
}

fn register(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let url = match (text(input, "catalogInfoUrl"), text(input, "repoContentsUrl")) {
        (Some(u), _) => u.to_owned(),
        (None, Some(base)) => {
            let path = text(input, "catalogInfoPath").unwrap_or("/catalog-info.yaml");
            format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
        }
        (None, None) => return Err("give catalogInfoUrl, or repoContentsUrl (with catalogInfoPath)".into()),
    };
    let optional = input.get("optional").and_then(Value::as_bool).unwrap_or(false);
    let mut out = Map::new();
    out.insert("catalogInfoUrl".into(), Value::String(url.clone()));
    if ctx.dry_run {
        (ctx.log)(format!("Would register {url} in the catalog (dry run)"));
        return Ok(out);
    }
    let catalog = ctx.catalog.ok_or("the catalog is not reachable from here")?;
    let target = if url.contains("://") && !url.starts_with("file://") {
        url.clone()
    } else {
        // `file:///abs`, `file:/abs` (publish:local's checkout) and a bare path alike.
        format!("file:{}", url.strip_prefix("file://").or_else(|| url.strip_prefix("file:")).unwrap_or(&url))
    };
    match catalog.register(&target, ctx.user) {
        Ok(refs) => {
            (ctx.log)(format!("Registered {url}: {}", refs.join(", ")));
            if let Some(first) = refs.iter().find(|r| !r.starts_with("location:")).or(refs.first()) {
                out.insert("entityRef".into(), Value::String(first.clone()));
            }
            Ok(out)
        }
        Err(e) if optional => {
            (ctx.log)(format!("Could not register {url} (optional): {e:#}"));
            Ok(out)
        }
        Err(e) => Err(format!("could not register {url}: {e:#}")),
    }
}
