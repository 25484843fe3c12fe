//! A real HTTP server on loopback that serves descriptor files, honours `If-None-Match`, can
//! fail, redirect or be slow on demand, and logs every request it gets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

#[derive(Clone, Debug)]
pub enum Reply {
    /// Serves the body with an ETag derived from it.
    File(String),
    Status(u16),
    Redirect(String),
}

#[derive(Clone, Debug)]
pub struct Hit {
    pub path: String,
    pub if_none_match: Option<String>,
    pub status: u16,
    pub started: Instant,
    pub finished: Instant,
}

#[derive(Default)]
struct State {
    replies: HashMap<String, Reply>,
    hits: Vec<Hit>,
    delay: Duration,
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
}

#[derive(Clone)]
pub struct FakeHost {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

fn etag_of(body: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:x}\"", h.finish())
}

async fn serve(req: HttpRequest, state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let path = req.path().to_owned();
    let started = Instant::now();
    let (reply, delay) = {
        let mut s = state.lock().unwrap();
        let n = s.in_flight.entry(path.clone()).or_default();
        *n += 1;
        let now = *n;
        let max = s.max_in_flight.entry(path.clone()).or_default();
        *max = (*max).max(now);
        (s.replies.get(&path).cloned(), s.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let inm = req.headers().get("if-none-match").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let res = match reply {
        None => HttpResponse::NotFound().body("not found"),
        Some(Reply::Status(code)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).body("failure on purpose")
        }
        Some(Reply::Redirect(to)) => HttpResponse::Found().insert_header(("location", to)).finish(),
        Some(Reply::File(body)) => {
            let etag = etag_of(&body);
            if inm.as_deref() == Some(etag.as_str()) {
                HttpResponse::NotModified().insert_header(("etag", etag)).finish()
            } else {
                HttpResponse::Ok().insert_header(("etag", etag)).content_type("application/yaml").body(body)
            }
        }
    };
    let mut s = state.lock().unwrap();
    *s.in_flight.get_mut(&path).unwrap() -= 1;
    let status = res.status().as_u16();
    s.hits.push(Hit { path, if_none_match: inm, status, started, finished: Instant::now() });
    res
}

impl FakeHost {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::new(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(serve)))
            .workers(2)
            .listen(listener)
            .unwrap()
            .run();
        tokio::spawn(server);
        Self { port, state }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.state.lock().unwrap().replies.insert(path.to_owned(), reply);
    }

    pub fn file(&self, path: &str, body: &str) {
        self.set(path, Reply::File(body.to_owned()));
    }

    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.state.lock().unwrap().hits.iter().filter(|h| h.path == path).cloned().collect()
    }

    pub fn max_in_flight(&self, path: &str) -> usize {
        self.state.lock().unwrap().max_in_flight.get(path).copied().unwrap_or(0)
    }
}
