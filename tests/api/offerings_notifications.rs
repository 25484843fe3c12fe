//! Offerings' audit trail: subscription and key events reach the change feed and signed
//! outgoing webhooks (whose URLs pass the reading rules).

use std::time::Duration;

use portolan::settings::Settings;
use serde_json::{Value, json};

use crate::fixtures::offerings as fixture;
use crate::helpers::Db;
use crate::offerings::{eventually, spawn};

const HOOK_SECRET: &str = "hook-secret-4f1a9c";

/// A webhook receiver that answers 500 to its first delivery and 200 after, keeping every
/// request's headers and body.
async fn receiver() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<(u16, Value, String)>>>, actix_web::dev::ServerHandle)
{
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u16, Value, String)>>>;
    let seen: Seen = Default::default();
    let state = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let state = state.clone();
            async move {
                let mut seen = state.lock().unwrap();
                let status = if seen.is_empty() { 500 } else { 200 };
                let headers: serde_json::Map<String, Value> = req
                    .headers()
                    .iter()
                    .filter(|(k, _)| k.as_str().starts_with("x-portolan"))
                    .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap())))
                    .collect();
                seen.push((status, Value::Object(headers), String::from_utf8(body.to_vec()).unwrap()));
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, seen, handle)
}

fn webhook_settings(s: &mut Settings, port: u16, allow: bool) {
    s.notifications.webhooks.push(portolan::offerings::WebhookTarget {
        url: format!("http://127.0.0.1:{port}/hooks/portolan"),
        secret: portolan::secret::Secret::new(HOOK_SECRET),
        events: vec!["subscription.*".into(), "key.revoked".into()],
    });
    if allow {
        s.reading.allow.push(portolan::catalog::fetch::AllowRule { host: format!("127.0.0.1:{port}"), paths: None });
    }
}

async fn audit_events_reach_the_change_feed_and_signed_webhooks(db: Db) {
    use hmac::Mac;
    let (port, seen, hook) = receiver().await;
    // A webhook URL must pass the reading rules: a loopback address needs an explicit allow.
    let f = fixture();
    let mut settings = Settings::default();
    settings.database.url = crate::helpers::fresh_database(db, f.dir.path());
    settings.server.bind = "127.0.0.1:0".into();
    webhook_settings(&mut settings, port, false);
    let refused =
        portolan::startup::Application::build(settings).await.err().expect("a private webhook URL is refused");
    assert!(format!("{refused:#}").contains("private") || format!("{refused:#}").contains("allowlist"), "{refused:#}");

    let app = spawn(db, |s, _| webhook_settings(s, port, true)).await;
    let (_, s) = app.subscribe("pay-api", "gold", "shop-app").await;
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(app.act(&id, "approve", json!({"reason": "fine"})).await.0, 200);
    let key = app.new_key(&id, json!({})).await;
    assert_eq!(app.send("DELETE", &format!("/api/portal/keys/{}", key["id"].as_str().unwrap()), None).await.0, 204);
    app.new_key(&id, json!({"expiresInDays": 3})).await;

    // The change feed: subscription.* and key.* events on the consumer's ref, key.expiring once.
    let feed = eventually("the audit events in the change feed", || async {
        let (_, body) = app.get_json("/api/catalog/events?after=0&limit=1000").await;
        let ours: Vec<(String, String)> = body["items"]
            .as_array()?
            .iter()
            .filter(|e| !e["type"].as_str().unwrap().starts_with("entity."))
            .map(|e| (e["type"].as_str().unwrap().to_owned(), e["entityRef"].as_str().unwrap().to_owned()))
            .collect();
        ours.iter().any(|(t, _)| t == "key.expiring").then_some(ours)
    })
    .await;
    let app_events: Vec<&str> =
        feed.iter().filter(|(_, r)| r == "component:default/shop-app").map(|(t, _)| t.as_str()).collect();
    for t in ["subscription.requested", "subscription.approved", "key.created", "key.revoked"] {
        assert!(app_events.contains(&t), "{t} missing from {app_events:?}");
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = app.get_json("/api/catalog/events?after=0&limit=1000").await;
    let expiring = body["items"].as_array().unwrap().iter().filter(|e| e["type"] == "key.expiring").count();
    assert_eq!(expiring, 1, "key.expiring is produced once");

    // The webhook: the first delivery failed and was retried; only the subscribed types; signed.
    let delivered = eventually("the webhook deliveries", || async {
        let seen = seen.lock().unwrap().clone();
        let ok: Vec<(u16, Value, String)> = seen.iter().filter(|(s, _, _)| *s == 200).cloned().collect();
        let types: Vec<String> =
            ok.iter().map(|(_, h, _)| h["x-portolan-event"].as_str().unwrap().to_owned()).collect();
        types.contains(&"key.revoked".to_owned()).then_some((seen, ok, types))
    })
    .await;
    let (all, ok, types) = delivered;
    assert_eq!(all[0].0, 500, "the first attempt failed");
    assert_eq!(all[1].1["x-portolan-delivery"], all[0].1["x-portolan-delivery"], "and was retried");
    assert_eq!(types, ["subscription.requested", "subscription.approved", "key.revoked"]);
    for (_, headers, body) in &ok {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(headers["x-portolan-signature-256"], format!("sha256={want}"));
    }
    let approved: Value = serde_json::from_str(&ok[1].2).unwrap();
    assert_eq!(approved["type"], "subscription.approved");
    assert_eq!((approved["from"].as_str(), approved["to"].as_str()), (Some("pending"), Some("active")));
    assert_eq!(approved["by"], "guest");
    assert_eq!(approved["reason"], "fine");
    assert_eq!(approved["subscription"]["consumer"], "component:default/shop-app");
    let revoked: Value = serde_json::from_str(&ok[2].2).unwrap();
    assert_eq!(revoked["key"]["prefix"], key["prefix"]);
    assert!(!ok[2].2.contains(key["key"].as_str().unwrap()), "no secret in a webhook");
    hook.stop(false).await;
}

/// The delivery office announces a stored value report on the same signed webhooks.
async fn a_published_value_report_is_announced_on_signed_webhooks(db: Db) {
    use hmac::Mac;
    let (port, seen, hook) = receiver().await;
    let app = spawn(db, |s, _| {
        webhook_settings(s, port, true);
        s.notifications.webhooks[0].events = vec!["report.*".into()];
        s.delivery.publish_reports = false;
    })
    .await;
    let (status, report) = app.post_json("/api/portal/reports/value/2026-10/publish", &json!({})).await;
    assert_eq!(status, 201, "{report}");
    let (status, again) = app.post_json("/api/portal/reports/value/2026-10/publish", &json!({})).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("conflict")), "{again}");
    // The receiver refuses the first delivery: the announcement is retried, then delivered once.
    let ok = eventually("the report.published delivery", || async {
        let seen = seen.lock().unwrap().clone();
        let ok: Vec<(u16, Value, String)> = seen.into_iter().filter(|(s, _, _)| *s == 200).collect();
        (!ok.is_empty()).then_some(ok)
    })
    .await;
    assert_eq!(ok.len(), 1, "one announcement, once: {ok:?}");
    let (_, headers, body) = &ok[0];
    assert_eq!(headers["x-portolan-event"], "report.published");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(headers["x-portolan-signature-256"], format!("sha256={want}"));
    let sent: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (sent["type"].as_str(), sent["period"].as_str(), sent["by"].as_str()),
        (Some("report.published"), Some("2026-10"), Some("delivery"))
    );
    assert_eq!(sent["totals"], report["totals"]);
    // Announcements are not subscription events: nothing of them reaches the change feed.
    let (_, feed) = app.get_json("/api/catalog/events?after=0&limit=1000").await;
    assert!(!feed["items"].as_array().unwrap().iter().any(|e| e["type"] == "report.published"), "{feed}");
    hook.stop(false).await;
}

crate::both!(
    audit_events_reach_the_change_feed_and_signed_webhooks,
    a_published_value_report_is_announced_on_signed_webhooks
);
