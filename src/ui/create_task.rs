//! A template task's page (`/create/tasks/{id}`): its template, who started it and when, its
//! state, its steps with their state (from the task's events), the log, the output's links and
//! text; Approve and Reject at a gate for those who decide (the `/approvals` form's route, back
//! to this page), Cancel for its creator. While the task runs, htmx (vendored) reloads the part
//! that changes every 2 seconds; without scripts a `noscript` refresh does.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;

use super::catalog::{entity_href, entity_link, params, safe_href};
use super::layout::{Ctx, page, urlencode};
use super::{CsrfForm, html as respond, see_other};
use crate::db::rfc3339;
use crate::error::ApiError;
use crate::scaffolder::handlers::blocking;
use crate::scaffolder::task_handlers::user_of;
use crate::scaffolder::tasks::may_decide;
use crate::scaffolder::{EventRow, Scaffolder, TaskRow};
use crate::state::AppState;

/// The path of a task's page.
pub fn task_href(id: &str) -> String {
    format!("/create/tasks/{}", urlencode(id))
}

/// One step of a task and its state in words: `not started`, `running`, `waiting`, `completed`,
/// `skipped`, `failed`, `cancelled`, `not run` (the task ended before it).
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub id: String,
    pub name: String,
    pub action: String,
    pub state: &'static str,
}

/// The steps of a task's spec with their state, from its events (`log` lines with a `stepId`
/// and a `status`; the `completion` naming the step that failed) and its status.
pub fn step_states(spec: &Value, events: &[(String, Value)], status: &str) -> Vec<StepState> {
    let mut out: Vec<StepState> = spec["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            StepState {
                name: s["name"].as_str().map(str::to_owned).unwrap_or_else(|| id.clone()),
                action: s["action"].as_str().unwrap_or_default().to_owned(),
                id,
                state: "not started",
            }
        })
        .collect();
    let mut set = |step: &str, state: &'static str| {
        if let Some(s) = out.iter_mut().find(|s| s.id == step) {
            s.state = state;
        }
    };
    for (kind, body) in events {
        let Some(step) = body["stepId"].as_str() else { continue };
        let state = match (kind.as_str(), body["status"].as_str()) {
            ("completion", _) if body.get("error").is_some() => "failed",
            (_, Some("processing" | "approved")) => "running",
            (_, Some("completed")) => "completed",
            (_, Some("skipped")) => "skipped",
            (_, Some("failed" | "rejected")) => "failed",
            (_, Some("waiting")) => "waiting",
            _ => continue,
        };
        set(step, state);
    }
    let ended = ["completed", "failed", "cancelled"].contains(&status);
    if ended {
        for s in &mut out {
            s.state = match s.state {
                "running" | "waiting" if status == "cancelled" => "cancelled",
                "running" | "waiting" => "failed",
                "not started" => "not run",
                other => other,
            };
        }
    }
    out
}

/// The CSS class of a state (the words say it; the colour only repeats them).
fn state_class(state: &str) -> &'static str {
    match state {
        "completed" => "state state-done",
        "failed" | "cancelled" => "state state-late",
        "running" | "processing" | "waiting" | "open" => "state health-at-risk",
        _ => "state state-partial",
    }
}

/// `GET /create/tasks/{id}`.
pub async fn task(
    state: web::Data<AppState>,
    scaffolder: web::Data<Scaffolder>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let id = path.into_inner();
    let i = id.clone();
    let (t, events) = blocking(&scaffolder, move |s| Ok((s.task(&i)?, s.events(&i, 0)?))).await?;
    let done = params(&req).get("done").cloned();
    let spec: Value = serde_json::from_str(&t.spec).unwrap_or(Value::Null);
    let info = &spec["templateInfo"];
    let meta = &info["entity"]["metadata"];
    let title = meta["title"].as_str().or(meta["name"].as_str()).unwrap_or("Template").to_owned();
    let body = html! {
        @if let Some(d) = done.as_deref().and_then(done_words) { p class="notice" role="status" { (d) } }
        (live(&ctx, &t, &spec, &events))
    };
    Ok(respond(page(&ctx, &format!("Task: {title}"), body)))
}

fn done_words(done: &str) -> Option<&'static str> {
    match done {
        "approved" => Some("You approved the task: it runs now."),
        "rejected" => Some("You rejected the task: it will not run."),
        "cancelled" => Some("You asked for the task to stop."),
        _ => None,
    }
}

/// The part of the page that changes while the task runs.
fn live(ctx: &Ctx, t: &TaskRow, spec: &Value, events: &[EventRow]) -> Markup {
    let parsed: Vec<(String, Value)> =
        events.iter().map(|e| (e.event_type.clone(), serde_json::from_str(&e.body).unwrap_or(Value::Null))).collect();
    let steps = step_states(spec, &parsed, &t.status);
    let names: HashMap<&str, &str> = steps.iter().map(|s| (s.id.as_str(), s.name.as_str())).collect();
    let completion = parsed.iter().rev().find(|(k, _)| k == "completion").map(|(_, b)| b);
    let output = completion.map(|c| &c["output"]).filter(|o| o.is_object());
    let running = t.status == "open" || t.status == "processing";
    let href = task_href(&t.id);
    let gate = t.gate();
    let id = &ctx.identity;
    let decides = t.status == "waiting"
        && t.decision.is_none()
        && id.can_write_catalog()
        && may_decide(&t.approvers(), &id.actor(), &id.ownership, id.admin);
    let cancels =
        t.is_open() && id.can_write_catalog() && (id.admin || (t.created_by.is_some() && t.created_by == user_of(id)));
    html! {
        div id="live" hx-get=[running.then_some(&href)] hx-trigger=[running.then_some("every 2s")]
            hx-select=[running.then_some("#live")] hx-swap=[running.then_some("outerHTML")] {
            @if running { noscript { meta http-equiv="refresh" content="3"; } }
            dl class="meta" {
                dt { "Template" } dd { (entity_link(spec["templateInfo"]["entityRef"].as_str().unwrap_or_default())) }
                dt { "Created by" } dd { (t.created_by.as_deref().unwrap_or("guest")) }
                dt { "Created" } dd { (rfc3339(t.created_at)) }
                dt { "State" } dd { span id="task-status" class=(state_class(&t.status)) { (t.status) } }
                @if t.status == "waiting" && !gate.is_null() {
                    dt { "Waiting for" } dd { (gate["message"].as_str().unwrap_or_default()) br;
                        span class="muted" { "Approvers: " (t.approvers().join(", ")) } }
                }
                @if let Some(e) = completion.and_then(|c| c["error"]["message"].as_str()) {
                    dt { "Why it failed" } dd class="bad" { (e) }
                }
            }
            @if running { p class="muted" { "This page follows the task while it runs. " a href=(href) { "Reload" } } }
            @if decides {
                (super::approvals::decision_form(ctx, &format!("/approvals/tasks/{}", urlencode(&t.id)), "decision-reason", Some(&href)))
            }
            @if cancels {
                form method="post" action={ (href) "/cancel" } class="inline" {
                    (ctx.csrf_field())
                    button type="submit" class="danger" { "Cancel the task" }
                }
            }
            h2 { "Steps" }
            @if steps.is_empty() { p class="muted" { "This template has no steps." } } @else {
                div class="wide" tabindex="0" { table class="steps" {
                    thead { tr { th scope="col" { "Step" } th scope="col" { "Action" } th scope="col" { "State" } } }
                    tbody {
                        @for s in &steps {
                            tr id={ "step-" (s.id) } {
                                td { (s.name) @if s.name != s.id { " " span class="muted" { "(" (s.id) ")" } } }
                                td { code { (s.action) } }
                                td { span class=(state_class(s.state)) { (s.state) } }
                            }
                        }
                    }
                } }
            }
            @if let Some(o) = output { (output_of(o)) }
            h2 { "Log" }
            @if parsed.is_empty() { p class="muted" { "Nothing yet." } } @else {
                div class="wide" tabindex="0" { table class="log" {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Step" } th scope="col" { "Message" } } }
                    tbody {
                        @for (e, (kind, b)) in events.iter().zip(&parsed) {
                            @let step = b["stepId"].as_str().unwrap_or_default();
                            tr {
                                td { (rfc3339(e.created_at)) }
                                td { (names.get(step).copied().unwrap_or(step)) }
                                td {
                                    @if kind != "log" { strong { (kind) ": " } }
                                    (b["message"].as_str().unwrap_or_default())
                                    @if let Some(s) = b["status"].as_str() { " " span class="muted" { "(" (s) ")" } }
                                }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// `spec.output` as rendered: its links (a URL, or an entity's catalog page) and texts.
fn output_of(o: &Value) -> Markup {
    let links: Vec<&Value> = o["links"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let texts: Vec<&Value> = o["text"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    html! {
        @if !links.is_empty() || !texts.is_empty() {
            h2 { "Output" }
            @if !links.is_empty() {
                ul class="output-links" {
                    @for l in &links {
                        @let title = l["title"].as_str();
                        li {
                            @if let Some(r) = l["entityRef"].as_str() {
                                a href=(entity_href(r)) { (title.unwrap_or(r)) }
                            } @else if let Some(u) = l["url"].as_str() {
                                @match safe_href(u) {
                                    Some(h) => a href=(h) rel="noopener noreferrer" { (title.unwrap_or(u)) },
                                    None => span { (title.unwrap_or(u)) " " code { (u) } },
                                }
                            } @else {
                                (title.unwrap_or_default())
                            }
                        }
                    }
                }
            }
            @for t in &texts {
                section class="output-text" {
                    @if let Some(h) = t["title"].as_str() { h3 { (h) } }
                    p { (t["content"].as_str().map(str::to_owned).unwrap_or_else(|| t["content"].to_string())) }
                }
            }
        }
    }
}

/// The newest tasks as a table (for `/create`): template, state, who, when, each a link to its page.
pub fn recent(tasks: &[TaskRow]) -> Markup {
    html! {
        @if tasks.is_empty() { p class="muted" { "No task yet." } } @else {
            div class="wide" tabindex="0" { table class="recent-tasks" {
                thead { tr { th scope="col" { "Task" } th scope="col" { "State" } th scope="col" { "Created by" } th scope="col" { "Created" } } }
                tbody {
                    @for t in tasks {
                        @let spec: Value = serde_json::from_str(&t.spec).unwrap_or(Value::Null);
                        @let meta = &spec["templateInfo"]["entity"]["metadata"];
                        tr {
                            td { a href=(task_href(&t.id)) { (meta["title"].as_str().or(meta["name"].as_str()).unwrap_or("Template")) } }
                            td { span class=(state_class(&t.status)) { (t.status) } }
                            td { (t.created_by.as_deref().unwrap_or("guest")) }
                            td { (rfc3339(t.created_at)) }
                        }
                    }
                }
            } }
        }
    }
}

/// `POST /create/tasks/{id}/cancel`: its creator or an admin (the scaffolder checks, as for the
/// API's cancel); back to the task's page.
pub async fn cancel(
    scaffolder: web::Data<Scaffolder>,
    identity: crate::auth::Identity,
    path: web::Path<String>,
    _form: CsrfForm<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (i, who, admin) = (id.clone(), user_of(&identity), identity.admin);
    blocking(&scaffolder, move |s| s.cancel(&i, who, admin)).await?;
    Ok(see_other(&format!("{}?done=cancelled", task_href(&id))))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::{Identity, Principal};

    fn row(status: &str, gate: Option<Value>) -> TaskRow {
        TaskRow {
            id: "t1".into(),
            spec: spec().to_string(),
            status: status.into(),
            created_by: Some("user:default/sam".into()),
            created_at: 0,
            last_heartbeat_at: None,
            template_dir: None,
            secrets: None,
            cancel_requested: 0,
            due_at: 0,
            lease_owner: None,
            lease_expires_at: None,
            gate: gate.map(|g| g.to_string()),
            decision: None,
            checkpoint: None,
            template_ref: None,
        }
    }

    fn ctx(sub: &str, group: &str) -> Ctx {
        let identity = Identity {
            principal: Principal::User { sub: sub.into(), email: None },
            ownership: vec![sub.to_owned(), group.to_owned()],
            admin: false,
            reader_only: false,
            scopes: Vec::new(),
        };
        Ctx {
            identity,
            csrf: "token".into(),
            guest_mode: false,
            providers: Vec::new(),
            path: "/create/tasks/t1".into(),
            nav: Vec::new(),
        }
    }

    #[test]
    fn the_page_follows_a_running_task_and_offers_what_the_person_may_do() {
        let html = |t: &TaskRow, c: &Ctx| live(c, t, &spec(), &[]).into_string();
        let (creator, other) =
            (ctx("user:default/sam", "group:default/shop"), ctx("user:default/eve", "group:default/x"));
        let running = html(&row("processing", None), &creator);
        assert!(
            running.contains(r#"hx-trigger="every 2s""#) && running.contains(r#"http-equiv="refresh""#),
            "{running}"
        );
        assert!(running.contains("Cancel the task"), "its creator may cancel it: {running}");
        assert!(!html(&row("processing", None), &other).contains("Cancel the task"), "no one else");
        let done = html(&row("completed", None), &creator);
        assert!(!done.contains("hx-trigger") && !done.contains("Cancel the task"), "{done}");
        let gate = json!({"approvers": ["group:default/platform"], "message": "needs platform", "stepId": null});
        let approver = ctx("user:default/pat", "group:default/platform");
        let waiting = html(&row("waiting", Some(gate.clone())), &approver);
        assert!(waiting.contains(r#"action="/approvals/tasks/t1""#), "{waiting}");
        assert!(waiting.contains(r#"name="back" value="/create/tasks/t1""#), "{waiting}");
        assert!(!waiting.contains("hx-trigger"), "a task waiting for a person is not polled");
        assert!(!html(&row("waiting", Some(gate)), &other).contains("/approvals/tasks/"), "only its approvers decide");
    }

    fn spec() -> Value {
        json!({"steps": [
            {"id": "a", "name": "First", "action": "debug:log"},
            {"id": "b", "action": "debug:log"},
            {"id": "c", "name": "Third", "action": "fetch:plain"}
        ]})
    }

    fn log(step: &str, status: &str) -> (String, Value) {
        ("log".into(), json!({"message": "m", "stepId": step, "status": status}))
    }

    fn states(events: &[(String, Value)], status: &str) -> Vec<&'static str> {
        step_states(&spec(), events, status).into_iter().map(|s| s.state).collect()
    }

    #[test]
    fn steps_take_their_state_from_the_events() {
        assert_eq!(states(&[], "open"), ["not started"; 3]);
        let running = [log("a", "processing"), log("a", "completed"), log("b", "processing")];
        assert_eq!(states(&running, "processing"), ["completed", "running", "not started"]);
        let skipped = [
            log("a", "skipped"),
            log("b", "processing"),
            log("b", "completed"),
            log("c", "processing"),
            log("c", "completed"),
        ];
        assert_eq!(states(&skipped, "completed"), ["skipped", "completed", "completed"]);
        let s = step_states(&spec(), &[], "open");
        assert_eq!(
            (s[1].name.as_str(), s[2].action.as_str()),
            ("b", "fetch:plain"),
            "a step without a name goes by its id"
        );
    }

    #[test]
    fn a_failure_or_a_cancel_ends_the_steps() {
        let failed = [
            log("a", "processing"),
            ("completion".into(), json!({"message": "failed", "stepId": "a", "error": {"message": "boom"}})),
        ];
        assert_eq!(states(&failed, "failed"), ["failed", "not run", "not run"]);
        let waiting = [log("a", "processing"), log("a", "waiting")];
        assert_eq!(states(&waiting, "waiting"), ["waiting", "not started", "not started"]);
        assert_eq!(states(&waiting, "cancelled"), ["cancelled", "not run", "not run"]);
        let approved = [log("a", "processing"), log("a", "waiting"), log("a", "approved")];
        assert_eq!(states(&approved, "processing"), ["running", "not started", "not started"]);
    }

    #[test]
    fn output_links_go_to_urls_or_the_catalog() {
        let html = output_of(&json!({
            "links": [{"title": "Repo", "url": "https://example.com/r"}, {"title": "In the catalog", "entityRef": "component:default/x"},
                      {"title": "Bad", "url": "javascript:alert(1)"}],
            "text": [{"title": "Next", "content": "Push it."}]
        }))
        .into_string();
        assert!(html.contains(r#"href="https://example.com/r""#), "{html}");
        assert!(html.contains(r#"href="/catalog/component/default/x""#), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(html.contains("<h3>Next</h3>") && html.contains("Push it."), "{html}");
    }
}
