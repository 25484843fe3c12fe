//! A real provisioner for `portolan:await` (docs/scaffolder.md): a small HTTP receiver on
//! loopback that checks each webhook's signature (`X-Portolan-Signature-256`, HMAC-SHA256 of the
//! body with the shared secret), then does what the payload's `mode` says and calls back on the
//! one-time address it was sent:
//! - `database`: creates a real PostgreSQL role and database on the test server (the password is
//!   never in the callback), then `ready` with `{host, port, database}`;
//! - `ready` / `failed`: answers at once; `pending`: says "creating" first, then `ready`;
//! - `silent`: never calls back (the step times out).

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const SECRET: &str = "await-secret";

#[derive(Default)]
struct Seen {
    /// Every webhook body whose signature held.
    bodies: Vec<Value>,
    /// Webhooks refused for a bad or missing signature.
    refused: usize,
    /// Callback answers: (status code, body).
    answers: Vec<(u16, Value)>,
}

#[derive(Clone)]
pub struct Provisioner {
    pub port: u16,
    seen: Arc<Mutex<Seen>>,
}

fn signed(body: &[u8], header: Option<&str>) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let want = format!("sha256={}", mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>());
    header == Some(want.as_str())
}

/// Creates the role and database `name` on the test PostgreSQL server; the password stays here.
fn create_database(name: &str) -> Result<(), String> {
    use diesel::{Connection, RunQueryDsl};
    let url = std::env::var("PORTOLAN_TEST_POSTGRES_URL").map_err(|_| "no PostgreSQL to provision on".to_owned())?;
    let mut c = diesel::pg::PgConnection::establish(&url).map_err(|e| e.to_string())?;
    let password = uuid::Uuid::new_v4().simple().to_string();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("DROP ROLE IF EXISTS {name}"),
        format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"),
        format!("CREATE DATABASE {name} OWNER {name}"),
    ] {
        diesel::sql_query(sql).execute(&mut c).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Whether the database exists on the test server.
pub fn database_exists(name: &str) -> bool {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let url = std::env::var("PORTOLAN_TEST_POSTGRES_URL").expect("PostgreSQL");
    let mut c = diesel::pg::PgConnection::establish(&url).unwrap();
    let rows: Vec<N> = diesel::sql_query(format!("SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"))
        .load(&mut c)
        .unwrap();
    rows[0].n == 1
}

pub fn drop_database(name: &str) {
    use diesel::{Connection, RunQueryDsl};
    if let Ok(url) = std::env::var("PORTOLAN_TEST_POSTGRES_URL")
        && let Ok(mut c) = diesel::pg::PgConnection::establish(&url)
    {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut c);
        let _ = diesel::sql_query(format!("DROP ROLE IF EXISTS {name}")).execute(&mut c);
    }
}

async fn call_back(seen: &Arc<Mutex<Seen>>, url: &str, body: Value) {
    let res = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    let answer = res.json::<Value>().await.unwrap_or(Value::Null);
    seen.lock().unwrap().answers.push((status, answer));
}

async fn hook(req: HttpRequest, body: web::Bytes, seen: web::Data<Arc<Mutex<Seen>>>) -> HttpResponse {
    let header = req.headers().get("x-portolan-signature-256").and_then(|v| v.to_str().ok());
    if !signed(&body, header) {
        seen.lock().unwrap().refused += 1;
        return HttpResponse::Unauthorized().finish();
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    seen.lock().unwrap().bodies.push(v.clone());
    let seen = seen.get_ref().clone();
    // Answer the webhook at once; do the work and call back afterwards, as a provisioner would.
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let cb = v["callbackUrl"].as_str().unwrap().to_owned();
        let p = &v["payload"];
        match p["mode"].as_str().unwrap_or_default() {
            "database" => {
                let name = p["name"].as_str().unwrap().to_owned();
                call_back(&seen, &cb, json!({"status": "pending", "message": format!("creating database {name}")}))
                    .await;
                let made = tokio::task::spawn_blocking({
                    let name = name.clone();
                    move || create_database(&name)
                })
                .await
                .unwrap();
                let answer = match made {
                    Ok(()) => json!({"status": "ready", "message": "database ready",
                        "output": {"host": "127.0.0.1", "port": 5432, "database": name}}),
                    Err(e) => json!({"status": "failed", "message": e}),
                };
                call_back(&seen, &cb, answer).await;
            }
            "ready" => call_back(&seen, &cb, json!({"status": "ready", "output": {"id": "r-1"}})).await,
            "pending" => {
                call_back(&seen, &cb, json!({"status": "pending", "message": "still creating"})).await;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                call_back(&seen, &cb, json!({"status": "ready", "output": {"id": "r-2"}})).await;
            }
            "failed" => call_back(&seen, &cb, json!({"status": "failed", "message": "quota exceeded"})).await,
            _ => {}
        }
    });
    HttpResponse::Accepted().finish()
}

impl Provisioner {
    pub async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let data = web::Data::new(seen.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || App::new().app_data(data.clone()).route("/hook", web::post().to(hook)))
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
        tokio::spawn(server);
        Self { port, seen }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.seen.lock().unwrap().bodies.clone()
    }

    pub fn refused(&self) -> usize {
        self.seen.lock().unwrap().refused
    }

    pub fn answers(&self) -> Vec<(u16, Value)> {
        self.seen.lock().unwrap().answers.clone()
    }
}
