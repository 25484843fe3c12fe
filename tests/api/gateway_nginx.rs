//! A real gateway: nginx from Debian (`nginx-light`), started with the example config of docs/offerings.md
//! on loopback ports, in front of a tiny upstream, asking portolan through `auth_request`.
//! CI sets `PORTOLAN_TEST_NGINX` (the binary), and then the test must run; without it and
//! without an `nginx` on the machine, it prints a warning and passes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::offerings as fixture;
use crate::helpers::{Db, TestApp, spawn_with, temp_dir, write_file};

pub fn nginx_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PORTOLAN_TEST_NGINX")
        && !p.is_empty()
    {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "PORTOLAN_TEST_NGINX={} is not a file", p.display());
        return Some(p);
    }
    let found =
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.is_file());
    if found.is_none() {
        eprintln!(
            "\n*** nginx is not installed (apt-get install nginx-light): the nginx end-to-end test is NOT running. ***\n"
        );
    }
    found
}

/// The ```nginx block of the offerings walk-through in docs/offerings.md.
pub fn nginx_example() -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/offerings.md")).unwrap();
    let start = doc.find("```nginx\n").expect("docs/offerings.md has an nginx example") + "```nginx\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A tiny upstream: answers every path with what it was asked and who nginx says is calling.
pub async fn upstream() -> (u16, actix_web::dev::ServerHandle) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    async fn answer(req: HttpRequest) -> HttpResponse {
        let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        HttpResponse::Ok().json(json!({
            "upstream": "availability",
            "path": req.path(),
            "consumer": h("x-portolan-consumer"),
            "plan": h("x-portolan-plan"),
        }))
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server =
        HttpServer::new(|| App::new().default_service(web::to(answer))).workers(1).listen(listener).unwrap().run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}

pub struct Nginx(pub tokio::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

pub async fn start_nginx(bin: &Path, dir: &Path, server_block: &str, port: u16) -> Nginx {
    for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{server_block}\n}}\n"
    );
    let conf_path = write_file(dir, "nginx.conf", &conf);
    let child = tokio::process::Command::new(bin)
        .args(["-p", &d.to_string(), "-e", &format!("{d}/error.log"), "-c", conf_path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Nginx(child)
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, out) = app.send("POST", path, Some(&body)).await;
    assert!(status == 201 || status == 200, "{path}: {status} {out}");
    out
}

async fn nginx_auth_request_lets_good_keys_through_and_stops_the_rest(db: Db) {
    let Some(bin) = nginx_binary() else { return };
    let f = fixture();
    let app = spawn_with(db, f.files.clone(), |_, _| {}).await;
    // The gateway's own service token (guest mode: everyone is an admin here).
    let token = post(&app, "/api/auth/tokens", json!({"name": "nginx", "scopes": ["gateway:check"]})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub =
        post(&app, "/api/portal/subscriptions", json!({"api": "pay-api", "plan": "tiny", "consumer": "shop-app"}))
            .await;
    let id = sub["id"].as_str().unwrap();
    let good = post(&app, &format!("/api/portal/subscriptions/{id}/keys"), json!({})).await;
    let revoked = post(&app, &format!("/api/portal/subscriptions/{id}/keys"), json!({})).await;
    let (status, _) = app.send("DELETE", &format!("/api/portal/keys/{}", revoked["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);

    let (up_port, up) = upstream().await;
    let nginx_port = free_port();
    let portolan = app.address.trim_start_matches("http://").to_owned();
    let block = nginx_example()
        .replace("127.0.0.1:7007", &portolan)
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{up_port}"))
        .replace("listen 8000;", &format!("listen 127.0.0.1:{nginx_port};"))
        .replace("api=availability-api", "api=pay-api")
        .replace("ptk_REPLACE_WITH_THE_GATEWAY_TOKEN", &token);
    let dir = temp_dir();
    let _nginx = start_nginx(&bin, dir.path(), &block, nginx_port).await;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{nginx_port}/availability/stock/sku-1");
    let call = |key: Option<&str>| {
        let mut req = client.get(&url);
        if let Some(k) = key {
            req = req.header("X-Api-Key", k);
        }
        req.send()
    };

    let res = call(None).await.unwrap();
    assert_eq!(res.status().as_u16(), 401, "no key");
    let res = call(Some("ptl_000000000000_not-a-key-at-all")).await.unwrap();
    assert_eq!(res.status().as_u16(), 401, "an unknown key");
    let res = call(Some(revoked["key"].as_str().unwrap())).await.unwrap();
    assert_eq!(res.status().as_u16(), 401, "a revoked key");
    // A good key reaches the upstream, which learns who is calling; the plan allows three calls a day.
    for i in 0..3 {
        let res = call(Some(good["key"].as_str().unwrap())).await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "call {i}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["upstream"], "availability");
        assert_eq!(body["path"], "/stock/sku-1");
        assert_eq!(body["consumer"], "component:default/shop-app");
        assert_eq!(body["plan"], "tiny");
    }
    let res = call(Some(good["key"].as_str().unwrap())).await.unwrap();
    assert_eq!(res.status().as_u16(), 429, "the quota is exhausted");
    // Paused: 403.
    let (status, _) = app.send("POST", &format!("/api/portal/subscriptions/{id}/pause"), Some(&json!({}))).await;
    assert_eq!(status, 200);
    let res = call(Some(good["key"].as_str().unwrap())).await.unwrap();
    assert_eq!(res.status().as_u16(), 403, "a paused subscription");
    up.stop(false).await;
    drop(f);
}

crate::both!(nginx_auth_request_lets_good_keys_through_and_stops_the_rest);
