//! HTTP handlers of the task routes (`/api/scaffolder/v2/tasks`), in Backstage's shapes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::Scaffolder;
use super::handlers::blocking;
use super::store::{self, EventRow, TaskRow};
use super::tasks::{Callback, NewTask};
use crate::auth::{Identity, Principal};
use crate::db::{Pool, rfc3339};
use crate::error::{ApiError, Body, OptionalBody};

/// The user a task runs for: the caller's User ref, `service:<name>`, none for guests.
pub fn user_of(identity: &Identity) -> Option<String> {
    match &identity.principal {
        Principal::User { sub, .. } => Some(sub.clone()),
        Principal::Service { name, .. } => Some(format!("service:{name}")),
        _ => None,
    }
}

/// A task as Backstage serialises it (no secrets).
fn task_json(t: &TaskRow) -> Value {
    let mut v = json!({
        "id": t.id,
        "spec": serde_json::from_str::<Value>(&t.spec).unwrap_or(Value::Null),
        "status": t.status,
        "createdAt": rfc3339(t.created_at),
    });
    if let Some(h) = t.last_heartbeat_at {
        v["lastHeartbeatAt"] = json!(rfc3339(h));
    }
    if let Some(c) = &t.created_by {
        v["createdBy"] = json!(c);
    }
    v
}

fn event_json(e: &EventRow) -> Value {
    json!({
        "id": e.id,
        "taskId": e.task_id,
        "type": e.event_type,
        "body": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null),
        "createdAt": rfc3339(e.created_at),
    })
}

/// The caller's part of a new task: the address it was asked through (where its callbacks go)
/// and what its creator may do on others' behalf, as now (`portolan:subscribe` holds to it).
pub fn with_caller(mut t: NewTask, req: &HttpRequest, identity: &Identity) -> NewTask {
    t.base_url = {
        let info = req.connection_info();
        Some(format!("{}://{}", info.scheme(), info.host()))
    };
    let service_may = matches!(identity.principal, Principal::Service { .. }) && identity.has_scope("offerings:write");
    t.rights = Some(json!({
        "anyConsumer": identity.admin || service_may,
        "ownership": if identity.can_write_catalog() { identity.ownership.clone() } else { Vec::new() },
        "by": identity.actor(),
    }));
    t
}

/// `POST /api/scaffolder/v2/tasks`: 201 `{id}`.
pub async fn create(
    s: web::Data<Scaffolder>,
    req: HttpRequest,
    identity: Identity,
    body: Body<NewTask>,
) -> Result<HttpResponse, ApiError> {
    let (t, user) = (with_caller(body.into_inner(), &req, &identity), user_of(&identity));
    let id = blocking(&s, move |s| s.create(t, user)).await?;
    Ok(HttpResponse::Created().json(json!({"id": id})))
}

/// `GET /api/scaffolder/v2/tasks?createdBy=&status=&limit=&offset=`: `{tasks, totalTasks}`,
/// newest first; `createdBy` and `status` may repeat.
pub async fn list(s: web::Data<Scaffolder>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (mut created_by, mut status) = (Vec::new(), Vec::new());
    let (mut limit, mut offset) = (100i64, 0i64);
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let number = |what: &str| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::input(format!("{what}: \"{v}\" is not a whole number of 0 or more")))
        };
        match k.as_ref() {
            "createdBy" => created_by.push(v.to_string()),
            "status" => {
                if !["open", "processing", "waiting", "completed", "failed", "cancelled"].contains(&v.as_ref()) {
                    return Err(ApiError::input(format!(
                        "status: \"{v}\" is not one of open, processing, waiting, completed, failed, cancelled"
                    )));
                }
                status.push(v.to_string());
            }
            "limit" => limit = number("limit")?.min(1000),
            "offset" => offset = number("offset")?,
            other => {
                return Err(ApiError::input(format!(
                    "{other}: not a parameter of this route (createdBy, status, limit, offset)"
                )));
            }
        }
    }
    let (rows, total) = blocking(&s, move |s| s.list(&created_by, &status, limit, offset)).await?;
    Ok(HttpResponse::Ok().json(json!({"tasks": rows.iter().map(task_json).collect::<Vec<_>>(), "totalTasks": total})))
}

/// `GET /api/scaffolder/v2/tasks/{id}`.
pub async fn get(s: web::Data<Scaffolder>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let t = blocking(&s, move |s| s.task(&id)).await?;
    Ok(HttpResponse::Ok().json(task_json(&t)))
}

fn after_of(req: &HttpRequest) -> Result<i64, ApiError> {
    let mut after = 0;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if k != "after" {
            return Err(ApiError::input(format!("{k}: not a parameter of this route (after)")));
        }
        after = v.parse::<i64>().unwrap_or(0).max(0);
    }
    Ok(after)
}

/// `GET /api/scaffolder/v2/tasks/{id}/events?after=`: the events after `after`; when there are
/// none yet and the task runs, waits up to 10 s for the first.
pub async fn events(
    s: web::Data<Scaffolder>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (id, after) = (path.into_inner(), after_of(&req)?);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let i = id.clone();
        let (task, rows) = blocking(&s, move |s| Ok((s.task(&i)?, store::events_after(&s.pool, &i, after)?))).await?;
        let ended = ["completed", "failed", "cancelled"].contains(&task.status.as_str());
        if !rows.is_empty() || ended || Instant::now() >= deadline {
            return Ok(HttpResponse::Ok().json(rows.iter().map(event_json).collect::<Vec<_>>()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct StreamState {
    pool: Pool,
    id: String,
    after: i64,
    pending: VecDeque<EventRow>,
    done: bool,
    last_sent: Instant,
}

/// `GET /api/scaffolder/v2/tasks/{id}/eventstream?after=`: Server-Sent Events (`event: log`,
/// `completion`, `cancelled`), ended after the completion.
pub async fn eventstream(
    s: web::Data<Scaffolder>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (id, after) = (path.into_inner(), after_of(&req)?);
    let i = id.clone();
    blocking(&s, move |s| s.task(&i)).await?;
    let state = StreamState {
        pool: s.pool.clone(),
        id,
        after,
        pending: VecDeque::new(),
        done: false,
        last_sent: Instant::now(),
    };
    let events = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(e) = st.pending.pop_front() {
                st.after = e.id;
                st.last_sent = Instant::now();
                st.done = e.event_type == "completion";
                let text = format!("event: {}\ndata: {}\n\n", e.event_type, event_json(&e));
                return Some((Ok::<_, actix_web::Error>(Bytes::from(text)), st));
            }
            if st.done {
                return None;
            }
            let (pool, id, after) = (st.pool.clone(), st.id.clone(), st.after);
            match tokio::task::spawn_blocking(move || store::events_after(&pool, &id, after)).await {
                Ok(Ok(rows)) if !rows.is_empty() => {
                    st.pending.extend(rows);
                    continue;
                }
                Ok(Err(e)) => tracing::warn!(error.cause = %e, "Could not read a task's events for its stream."),
                _ => {}
            }
            if st.last_sent.elapsed() >= Duration::from_secs(15) {
                st.last_sent = Instant::now();
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), st));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events))
}

/// `POST /api/scaffolder/v2/tasks/{id}/cancel`: the task's creator or an admin; 200
/// `{status: "cancelled"}` (the task stops at its next step, or its wait ends).
pub async fn cancel(
    s: web::Data<Scaffolder>,
    path: web::Path<String>,
    identity: Identity,
) -> Result<HttpResponse, ApiError> {
    let (id, who, admin) = (path.into_inner(), user_of(&identity), identity.admin);
    blocking(&s, move |s| s.cancel(&id, who, admin)).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "cancelled"})))
}

/// `{reason?}` of an approval or rejection.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[serde(default)]
    pub reason: Option<String>,
}

async fn decide(
    s: web::Data<Scaffolder>,
    path: web::Path<String>,
    identity: Identity,
    body: OptionalBody<DecisionBody>,
    approved: bool,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let reason = body.into_inner().and_then(|b| b.reason).unwrap_or_default();
    let by = identity.actor();
    let (owns, admin) = (identity.ownership.clone(), identity.admin);
    let i = id.clone();
    let outcome = blocking(&s, move |s| Ok(s.decide(&i, approved, &by, &owns, admin, &reason)?)).await?;
    outcome.map_err(|r| r.into_error(&id))?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "status": if approved { "approved" } else { "rejected" }})))
}

/// `POST /api/scaffolder/v2/tasks/{id}/approve` `{reason?}`: one of the approvers of the task's
/// gate (or an admin) lets it go on.
pub async fn approve(
    s: web::Data<Scaffolder>,
    path: web::Path<String>,
    identity: Identity,
    body: OptionalBody<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    decide(s, path, identity, body, true).await
}

/// `POST /api/scaffolder/v2/tasks/{id}/reject` `{reason?}`: the task fails with the reason.
pub async fn reject(
    s: web::Data<Scaffolder>,
    path: web::Path<String>,
    identity: Identity,
    body: OptionalBody<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    decide(s, path, identity, body, false).await
}

/// `POST /api/scaffolder/v2/tasks/{id}/callbacks/{token}` `{status: ready|failed|pending, output?,
/// message?}`: the receiver of a `portolan:await` webhook answers; the token is its credential.
pub async fn callback(
    s: web::Data<Scaffolder>,
    path: web::Path<(String, String)>,
    body: Body<Callback>,
) -> Result<HttpResponse, ApiError> {
    let (id, token) = path.into_inner();
    let cb = body.into_inner();
    let i = id.clone();
    let status = blocking(&s, move |s| s.callback(&i, &token, cb)).await?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "status": status})))
}
