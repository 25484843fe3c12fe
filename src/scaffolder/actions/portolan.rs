//! What Backstage lacks: steps that wait for something outside the task.
//! - `portolan:approval`: until one of its approvers approves (or rejects) the task;
//! - `portolan:await`: until the receiver of a signed webhook calls back (ready or failed), or
//!   the timeout passes; the receiver's messages show on the task meanwhile.
//!
//! Both park the task (`Ctx::wait`): no instance holds a waiting task, and any instance resumes it
//! at the step with the answer, after a restart too.

use serde_json::{Map, Value, json};

use super::{Action, Ctx, Outcome, text};

/// `portolan:await`'s timeout when none is given.
const DEFAULT_TIMEOUT: &str = "24h";

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action {
            id: "portolan:approval",
            description: "Waits until one of the approvers (groups or users) approves the task; a rejection fails it",
            input: || {
                json!({"type": "object", "required": ["approvers"], "properties": {
                    "approvers": {"type": "array", "minItems": 1, "items": {"type": "string"},
                        "description": "Group or user refs (a group by default) who may decide"},
                    "message": {"type": "string", "description": "What the approvers are asked"}}})
            },
            output: || json!({"type": "object", "properties": {"approvedBy": {"type": "string"}, "reason": {"type": "string"}}}),
            run: approval,
            dry_run: true,
        },
        Action {
            id: "portolan:await",
            description: "Posts a signed webhook with a one-time callback address, then waits until the receiver calls back {status: ready|failed|pending, output, message} or the timeout fails the step",
            input: || {
                json!({"type": "object", "required": ["url"], "properties": {
                    "url": {"type": "string", "description": "Where the webhook goes (the outgoing rules apply: allowed hosts, no private addresses unless configured)"},
                    "payload": {"type": "object", "description": "What the receiver is asked to do, sent as `payload`"},
                    "timeout": {"type": ["string", "number"], "description": "How long to wait: seconds, `90s`, `30m`, `2h`, `1d` or ISO 8601 (`PT1H`); 24h when absent"},
                    "message": {"type": "string", "description": "What the task says it waits for, until the receiver says more"}}})
            },
            output: || {
                json!({"type": "object", "properties": {
                    "output": {"type": "object", "description": "What the receiver answered as `output`"},
                    "message": {"type": "string", "description": "The receiver's last message"}}})
            },
            run: wait_for_callback,
            dry_run: false,
        },
        Action {
            id: "portolan:subscribe",
            description: "Subscribes the new component to a plan of an offered API (the offerings' rules apply: an open plan, a consumer in the catalog, the creator one of its owners; a manual plan waits for its platform's approval)",
            input: || {
                json!({"type": "object", "required": ["api", "plan", "consumer"], "properties": {
                    "api": {"type": "string", "description": "The offered API (api:default/x or x)"},
                    "plan": {"type": "string"},
                    "consumer": {"type": "string", "description": "The Component or Product that calls it (component by default)"},
                    "reason": {"type": "string", "description": "Why, for the platform's approvers"}}})
            },
            output: || json!({"type": "object", "properties": {"subscriptionId": {"type": "string"}, "status": {"type": "string", "examples": ["active"]}}}),
            run: subscribe,
            dry_run: false,
        },
        Action {
            id: "portolan:resource",
            description: "Registers the provisioned Resource entity in a location portolan keeps, a dependency of the component that asked for it: it shows in the catalog, its graph and its owner's pages",
            input: || {
                json!({"type": "object", "required": ["name", "type", "owner", "dependencyOf"], "properties": {
                    "name": {"type": "string", "description": "The Resource's name"},
                    "namespace": {"type": "string", "description": "Its namespace (default)"},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "type": {"type": "string", "description": "database, bucket, queue, ..."},
                    "owner": {"type": "string", "description": "The team that runs it"},
                    "dependencyOf": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                        "description": "The component(s) it serves"},
                    "system": {"type": "string"},
                    "output": {"type": "object", "description": "What was provisioned (host, port, ...): texts and numbers become annotations portolan.dev/output-<key>"}}})
            },
            output: || json!({"type": "object", "properties": {"entityRef": {"type": "string"}}}),
            run: resource,
            dry_run: false,
        },
    ]
}

/// `portolan:subscribe`: a subscription through the offerings' own request.
fn subscribe(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let outside = ctx.outside.ok_or("portolan:subscribe runs in tasks only")?;
    let (api, plan, consumer) = (
        text(input, "api").unwrap_or_default(),
        text(input, "plan").unwrap_or_default(),
        text(input, "consumer").unwrap_or_default(),
    );
    let reason =
        text(input, "reason").map(str::to_owned).or_else(|| Some(format!("Asked by the template {}", ctx.template)));
    let s = outside.subscribe(api, plan, consumer, reason)?;
    (ctx.log)(format!(
        "Subscribed {} to {} on the plan {}: {}",
        s["consumer"].as_str().unwrap_or(consumer),
        s["api"].as_str().unwrap_or(api),
        plan,
        s["status"].as_str().unwrap_or("?")
    ));
    let mut out = Map::new();
    out.insert("subscriptionId".into(), s["id"].clone());
    out.insert("status".into(), s["status"].clone());
    Ok(out)
}

/// `portolan:resource`: the Resource entity, kept by portolan.
fn resource(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let catalog = ctx.catalog.ok_or("portolan:resource needs the catalog")?;
    let name = text(input, "name").unwrap_or_default();
    let mut annotations = Map::new();
    annotations.insert("portolan.dev/template".into(), json!(ctx.template));
    annotations.insert("portolan.dev/task".into(), json!(ctx.task));
    annotations.insert("portolan.dev/requested-by".into(), json!(ctx.user));
    for (k, v) in input.get("output").and_then(Value::as_object).into_iter().flatten() {
        let key: String =
            k.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).take(50).collect();
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        annotations.insert(format!("portolan.dev/output-{key}"), json!(value));
    }
    let mut metadata = json!({"name": name, "annotations": annotations});
    for k in ["namespace", "title", "description"] {
        if let Some(v) = text(input, k) {
            metadata[k] = json!(v);
        }
    }
    // `dependencyOf` has no default kind in the catalog: a plain name is a Component's.
    let mut dependency_of = Vec::new();
    let given = match input.get("dependencyOf") {
        Some(Value::String(s)) => vec![json!(s)],
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    for (i, raw) in given.iter().enumerate() {
        let raw = raw.as_str().unwrap_or_default();
        let r = crate::catalog::model::EntityRef::parse(raw, Some("component"), "default")
            .map_err(|e| format!("dependencyOf[{i}]: '{raw}': {e}"))?;
        dependency_of.push(json!(r.key()));
    }
    let mut spec = json!({"type": text(input, "type"), "owner": text(input, "owner"), "dependencyOf": dependency_of});
    if let Some(s) = text(input, "system") {
        spec["system"] = json!(s);
    }
    let entity = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Resource", "metadata": metadata, "spec": spec});
    let r = catalog.keep(&entity, ctx.user).map_err(|e| format!("the Resource {name} was not registered: {e:#}"))?;
    (ctx.log)(format!("Registered {r}"));
    let mut out = Map::new();
    out.insert("entityRef".into(), json!(r));
    Ok(out)
}

fn approval(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    if let Some(d) = ctx.resumed {
        let (by, reason) = (d["by"].as_str().unwrap_or("?"), d["reason"].as_str().unwrap_or(""));
        if d["approved"] != true {
            return Err(format!(
                "rejected by {by}{}",
                if reason.is_empty() { String::new() } else { format!(": {reason}") }
            ));
        }
        let mut out = Map::new();
        out.insert("approvedBy".into(), json!(by));
        out.insert("reason".into(), json!(reason));
        return Ok(out);
    }
    let mut approvers = Vec::new();
    for (i, raw) in input.get("approvers").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let raw = raw.as_str().unwrap_or_default();
        let key = crate::catalog::model::EntityRef::parse(raw, Some("group"), "default")
            .map(|r| r.key())
            .map_err(|e| format!("approvers[{i}]: '{raw}': {e}"))?;
        approvers.push(key);
    }
    let message = text(input, "message").unwrap_or("Approve this task to let it go on").to_owned();
    if ctx.dry_run || ctx.outside.is_none() {
        (ctx.log)(format!("Would wait for the approval of {} (dry run)", approvers.join(", ")));
        return Ok(Map::new());
    }
    *ctx.wait = Some(json!({"kind": "approval", "approvers": approvers, "message": message, "stepId": ctx.step}));
    Ok(Map::new())
}

fn wait_for_callback(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let url = text(input, "url").unwrap_or_default();
    if let Some(a) = ctx.resumed {
        let message = a["message"].as_str().unwrap_or_default();
        return match a["status"].as_str() {
            Some("ready") => {
                let mut out = Map::new();
                out.insert("output".into(), a.get("output").cloned().unwrap_or_else(|| json!({})));
                out.insert("message".into(), json!(message));
                if !message.is_empty() {
                    (ctx.log)(format!("Ready: {message}"));
                }
                Ok(out)
            }
            Some("timedOut") => Err(format!(
                "{url} did not call back within {}{}",
                a["timeout"].as_str().unwrap_or("the timeout"),
                if message.is_empty() { String::new() } else { format!(" (its last message: {message})") }
            )),
            _ => Err(format!(
                "{url} answered failed{}",
                if message.is_empty() { String::new() } else { format!(": {message}") }
            )),
        };
    }
    let timeout_text = match input.get("timeout") {
        Some(Value::Number(n)) => format!("{n}s"),
        Some(Value::String(s)) => s.clone(),
        _ => DEFAULT_TIMEOUT.to_owned(),
    };
    let timeout_ms = duration_ms(&timeout_text).map_err(|e| format!("timeout: {e}"))?;
    let Some(outside) = ctx.outside else {
        return Err("portolan:await runs in tasks only".into());
    };
    let (callback, token_hash) = outside.callback()?;
    let message = text(input, "message").map_or_else(|| format!("Waiting for {url} to call back"), str::to_owned);
    let now = crate::db::now_ms();
    let expires = now.saturating_add(timeout_ms);
    let body = json!({
        "stepId": ctx.step,
        "user": ctx.user,
        "payload": input.get("payload").cloned().unwrap_or_else(|| json!({})),
        "callbackUrl": callback,
        "expiresAt": crate::db::rfc3339(expires),
    });
    outside.post_signed(url, "scaffolder.await", &body)?;
    (ctx.log)(format!("Posted to {url}; waiting up to {timeout_text} for its callback"));
    *ctx.wait = Some(json!({
        "kind": "await", "url": url, "message": message, "stepId": ctx.step,
        "tokenHash": token_hash, "timeoutAt": expires, "timeout": timeout_text,
    }));
    Ok(Map::new())
}

/// A duration in milliseconds: whole seconds (`90`), `90s`, `30m`, `2h`, `1d`, or ISO 8601
/// (`PT1H30M`, `P1D`).
pub fn duration_ms(raw: &str) -> Result<i64, String> {
    let bad = || format!("'{raw}' is not a duration (seconds, 90s, 30m, 2h, 1d, or ISO 8601 like PT1H)");
    let s = raw.trim();
    let unit = |c: char| match c.to_ascii_lowercase() {
        's' => Some(1_000i64),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        'w' => Some(604_800_000),
        _ => None,
    };
    let total = if let Some(iso) = s.strip_prefix('P').or_else(|| s.strip_prefix('p')) {
        let (mut total, mut number, mut in_time) = (0i64, String::new(), false);
        for c in iso.chars() {
            match c {
                'T' | 't' => in_time = true,
                '0'..='9' | '.' => number.push(c),
                // Minutes after T, months before it (not taken).
                'M' | 'm' if !in_time => return Err(bad()),
                u => {
                    let n: f64 = number.parse().map_err(|_| bad())?;
                    total += (n * unit(u).ok_or_else(bad)? as f64) as i64;
                    number.clear();
                }
            }
        }
        if !number.is_empty() {
            return Err(bad());
        }
        total
    } else if let Ok(n) = s.parse::<f64>() {
        (n * 1_000.0) as i64
    } else {
        let split = s.len().checked_sub(1).ok_or_else(bad)?;
        let (n, u) = s.split_at(split);
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        (n * unit(u.chars().next().ok_or_else(bad)?).ok_or_else(bad)? as f64) as i64
    };
    if total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::duration_ms;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration_ms("90"), Ok(90_000));
        assert_eq!(duration_ms("2s"), Ok(2_000));
        assert_eq!(duration_ms("30m"), Ok(1_800_000));
        assert_eq!(duration_ms("2h"), Ok(7_200_000));
        assert_eq!(duration_ms("1d"), Ok(86_400_000));
        assert_eq!(duration_ms("PT1H30M"), Ok(5_400_000));
        assert_eq!(duration_ms("P1D"), Ok(86_400_000));
        assert_eq!(duration_ms("PT0.5S"), Ok(500));
        for bad in ["", "soon", "P1M", "-5", "0", "10x", "PT5"] {
            assert!(duration_ms(bad).is_err(), "{bad}");
        }
    }
}
