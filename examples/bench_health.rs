//! Team health's benchmark (issue 27): deployment intake over HTTP, and the 90-day DORA view of a
//! platform, on SQLite or PostgreSQL.
//!
//! The catalog, generated into a temp folder: a Group `bench-team`, a Platform `bench-platform`
//! it owns, 10 Systems that are part of the platform (`spec.platform`) and COMPONENTS Components
//! (default 500) in those systems, so each component belongs to the platform through its system.
//! Each pass starts the server as `serve` does (`startup::Application`, the start-up catalog
//! loaded before it answers, guest mode, 127.0.0.1 on a free port, 2 HTTP workers, every domain
//! wired) on a fresh, empty database, and talks to it over loopback HTTP:
//!
//! 1. intake: EVENTS deployment events (default 100,000, all new ids) in batches of 1,000 to
//!    `POST /api/deployments`, first from one poster (each post waits for the previous answer),
//!    then from POSTERS concurrent posters (default 4; 0 skips) on another fresh database; every
//!    answer is checked (all accepted and created, none rejected); `--events 0` skips this. Each
//!    event has 1 or 2 changes; the events are spread over the components and the last 90 days,
//!    and sent oldest first.
//! 2. the DORA view: a fresh database with DEPLOYMENTS deployments (default 50,000, posted the same
//!    way, which is a third intake figure) and INCIDENTS incidents (default 500, half naming the
//!    deployment that caused them), then `GET /api/portal/dora?platform=bench-platform` (the
//!    default window: the last 90 days) 2 times to warm up and RUNS times timed (default 20):
//!    median and p95 (nearest rank). No response cache exists for it: every call reads and
//!    computes; the org graph is built once per catalog change and shared, so the warm-ups pay it.
//!    Then the same work in process, phase by phase, on the same database (the aggregated reads
//!    of `views::key_parts`, `parts::assemble`, the JSON), to say where the time goes; and the
//!    keys once more from every event through the pure model (`model::keys`), which must be
//!    equal.
//!
//! Usage:
//!   cargo run --release --locked --example bench_health -- sqlite
//!   cargo run --release --locked --example bench_health -- postgres://postgres@127.0.0.1:5432/test
//!   ... -- BACKEND [--runs 20] [--posters 4] [--events 100000] [--deployments 50000] [--incidents 500] [--components 500]
//!
//! With a PostgreSQL URL the benchmark creates its own scratch databases on that server,
//! `portolan_bench_health_<pid>_<pass>`, and drops them when done.

use std::path::{Path, PathBuf};
use std::time::Instant;

use portolan::db::{now_ms, rfc3339};
use portolan::health::{model, parts, views};
use portolan::settings::Settings;
use portolan::startup::Application;
use serde_json::{Value, json};

// The allocator and options of `portolan serve` (src/main.rs): the server runs in this process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[used]
#[unsafe(link_section = ".init_array.00100")]
static CONFIGURE_ALLOCATOR: extern "C" fn() = portolan::memory::configure_allocator;

const BATCH: usize = 1_000;
const SYSTEMS: usize = 10;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

struct Options {
    backend: String,
    runs: usize,
    posters: usize,
    events: usize,
    deployments: usize,
    incidents: usize,
    components: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        backend: "sqlite".into(),
        runs: 20,
        posters: 4,
        events: 100_000,
        deployments: 50_000,
        incidents: 500,
        components: 500,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = || -> anyhow::Result<usize> {
            let v = args.next().ok_or_else(|| anyhow::anyhow!("{a}: a number must follow"))?;
            v.replace('_', "").parse().map_err(|_| anyhow::anyhow!("{a}: \"{v}\" is not a whole number"))
        };
        match a.as_str() {
            "--runs" => o.runs = number()?.max(1),
            "--posters" => o.posters = number()?,
            "--events" => o.events = number()?,
            "--deployments" => o.deployments = number()?.max(1),
            "--incidents" => o.incidents = number()?,
            "--components" => o.components = number()?.max(1),
            "sqlite" => o.backend = a,
            _ if a.starts_with("postgres://") || a.starts_with("postgresql://") => o.backend = a,
            _ => anyhow::bail!(
                "usage: bench_health sqlite|postgres://... [--runs N] [--posters N] [--events N] [--deployments N] [--incidents N] [--components N]"
            ),
        }
    }
    Ok(o)
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    let work = std::env::temp_dir().join(format!("portolan-bench-health-{}", std::process::id()));
    std::fs::create_dir_all(work.join("catalog"))?;
    std::fs::write(work.join("catalog").join("health.yaml"), catalog(o.components))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(run(&o, &work));
    std::fs::remove_dir_all(&work).ok();
    result
}

async fn run(o: &Options, work: &Path) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let backend = if o.backend == "sqlite" { "SQLite" } else { "PostgreSQL" };
    println!(
        "backend: {backend}; {} cores; {} components in {SYSTEMS} systems of one platform",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.components
    );
    let mut scratch = Scratch { server: o.backend.clone(), work: work.to_path_buf(), made: Vec::new() };
    let outcome = async {
        // 1. Intake (`--events 0` skips it).
        if o.events > 0 {
            intake(o, &mut scratch, work).await?;
        }

        // 2. The DORA view.
        view(o, &mut scratch, work).await
    }
    .await;
    scratch.drop_all();
    outcome
}

/// The intake figures: the same events from one poster, then from `posters`, each on a fresh
/// database.
async fn intake(o: &Options, scratch: &mut Scratch, work: &Path) -> anyhow::Result<()> {
    let bodies = batches(&events(o.events, o.components, 1));
    let mut posters = vec![1];
    if o.posters > 0 {
        posters.push(o.posters);
    }
    for p in posters {
        let server = Server::start(scratch, work).await?;
        let (secs, n) = post_all(&server, "/api/deployments", &bodies, p).await?;
        anyhow::ensure!(n == o.events, "{n} of {} events were created", o.events);
        let who = if p == 1 { "1 poster".to_owned() } else { format!("{p} concurrent posters") };
        println!(
            "intake, {who}: {n} deployment events in {} batches of {BATCH} in {secs:.2} s = {:.0} events/s",
            bodies.len(),
            n as f64 / secs
        );
        server.stop().await;
    }
    Ok(())
}

/// The DORA view's figures, on a fresh database with the view's events.
async fn view(o: &Options, scratch: &mut Scratch, work: &Path) -> anyhow::Result<()> {
    let deps = events(o.deployments, o.components, 2);
    let server = Server::start(scratch, work).await?;
    let (secs, n) = post_all(&server, "/api/deployments", &batches(&deps), 1).await?;
    anyhow::ensure!(n == o.deployments, "{n} of {} deployments were created", o.deployments);
    println!(
        "loaded the view's data: {n} deployment events, 1 poster, in {secs:.2} s = {:.0} events/s",
        n as f64 / secs
    );
    let incidents = incidents(&deps, o.incidents);
    if !incidents.is_empty() {
        let (_, n) = post_all(&server, "/api/incidents", &batches(&incidents), 1).await?;
        anyhow::ensure!(n == incidents.len(), "{n} of {} incidents were created", incidents.len());
    }
    drop(deps);
    if server.database_url.starts_with("postgres") {
        // What autovacuum does after a bulk load (dead rows of rebuilt weeks gone, the planner
        // told the tables' real sizes).
        use diesel::{Connection, RunQueryDsl};
        let mut c = diesel::pg::PgConnection::establish(&server.database_url)?;
        diesel::sql_query("VACUUM ANALYZE").execute(&mut c)?;
        println!("  VACUUM ANALYZE after the load (as autovacuum would)");
    }
    let path = "/api/portal/dora?platform=bench-platform";
    let mut times = Vec::new();
    let mut last = Value::Null;
    let mut size = 0;
    for i in 0..o.runs + 2 {
        let t = Instant::now();
        let res = server.http.get(server.url(path)).send().await?;
        let status = res.status();
        let body = res.bytes().await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {}", String::from_utf8_lossy(&body));
        if i >= 2 {
            times.push(ms);
        } else {
            println!("  warm-up {}: {ms:.1} ms", i + 1);
        }
        size = body.len();
        last = serde_json::from_slice(&body)?;
    }
    let f = &last["deploymentFrequency"];
    println!(
        "the view covers {} entities, {} .. {}: {} counted deployments on {} days, {} changes' lead times, {} failed, recovery {} h (median)",
        last["scope"]["entities"],
        last["from"].as_str().unwrap_or("?"),
        last["to"].as_str().unwrap_or("?"),
        f["deployments"],
        f["deploymentDays"],
        last["leadTime"]["changes"],
        last["changeFailureRate"]["failed"],
        last["recoveryTime"]["medianHours"],
    );
    report(
        &format!(
            "GET {path} (90 days, {} deployments, {} incidents, {} KB of JSON), over HTTP",
            o.deployments,
            o.incidents,
            size / 1024
        ),
        &mut times,
    );
    phases(&server.database_url, o, &last).await?;
    server.stop().await;
    Ok(())
}

/// The catalog: a team, its platform, the platform's systems and their components.
fn catalog(components: usize) -> String {
    let mut docs = vec![
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: bench-team\nspec:\n  type: team\n  children: []\n"
            .to_owned(),
        "apiVersion: portolan.dev/v1alpha1\nkind: Platform\nmetadata:\n  name: bench-platform\n  title: Bench platform\nspec:\n  owner: bench-team\n  type: technical\n  lifecycle: production\n"
            .to_owned(),
    ];
    for s in 0..SYSTEMS {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: bench-sys-{s:02}\nspec:\n  owner: bench-team\n  platform: bench-platform\n"
        ));
    }
    for c in 0..components {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: bench-comp-{c:03}\nspec:\n  type: service\n  lifecycle: production\n  owner: bench-team\n  system: bench-sys-{:02}\n",
            c % SYSTEMS
        ));
    }
    docs.join("---\n")
}

/// A small deterministic generator (the same events every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A whole number in `0..n` (62 bits drawn: `n` may be a span of milliseconds).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() << 31) ^ self.next()) % n.max(1)
    }

    fn sha(&mut self) -> String {
        format!("{:08x}{:08x}{:08x}{:08x}{:08x}", self.next(), self.next(), self.next(), self.next(), self.next())
    }
}

/// `n` deployment events over `components` components and the last 90 days, oldest first (as
/// pipelines send them): 80% production (of those 88% success, 8% failure, 2% cancelled, 2% in
/// progress), 20% staging; 1 or 2 changes each, committed 1 to 96 hours before; 1% of successes
/// roll back an earlier deployment of their component. Versions grow with the finish time.
fn events(n: usize, components: usize, seed: u64) -> Vec<Value> {
    let mut rng = Lcg(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed);
    let now = now_ms() - 60_000;
    let mut earlier: Vec<Vec<String>> = vec![Vec::new(); components];
    let mut out = Vec::with_capacity(n);
    // In time order, as pipelines send them.
    let mut times: Vec<i64> = (0..n).map(|_| now - rng.below(90 * DAY_MS as u64) as i64).collect();
    times.sort_unstable();
    for (i, finished) in times.into_iter().enumerate() {
        let c = rng.below(components as u64) as usize;
        let started = finished - 60_000 - rng.below(30 * 60_000) as i64;
        let production = rng.below(100) < 80;
        let status = match (production, rng.below(100)) {
            (false, _) | (true, 0..88) => "success",
            (true, 88..96) => "failure",
            (true, 96..98) => "cancelled",
            _ => "in_progress",
        };
        let id = format!("bench-{seed}-{i}");
        let changes: Vec<Value> = (0..1 + rng.below(2))
            .map(|_| {
                let committed = finished - HOUR_MS - rng.below(95 * HOUR_MS as u64) as i64;
                json!({"sha": rng.sha(), "committedAt": rfc3339(committed)})
            })
            .collect();
        let day = (finished / DAY_MS) % 100_000;
        let minute = (finished % DAY_MS) / 60_000;
        let mut e = json!({
            "id": id,
            "entity": format!("component:default/bench-comp-{c:03}"),
            "environment": if production { "production" } else { "staging" },
            "status": status,
            "startedAt": rfc3339(started),
            "commitSha": rng.sha(),
            "version": format!("1.{day}.{minute}"),
            "changes": changes,
        });
        if !production {
            e["tier"] = json!("staging");
        }
        if status != "in_progress" {
            e["finishedAt"] = json!(rfc3339(finished));
        }
        if status == "success" && production && rng.below(100) == 0 && !earlier[c].is_empty() {
            let k = rng.below(earlier[c].len() as u64) as usize;
            e["rollbackOf"] = json!(earlier[c][k]);
        }
        if production && status == "success" {
            earlier[c].push(id);
        }
        out.push(e);
    }
    out
}

/// `n` incidents on the deployments' components: each follows a successful production
/// deployment by up to 6 hours, is resolved 10 minutes to 2 days later, and every other one names
/// that deployment in `causedBy` (the others are linked by time).
fn incidents(deps: &[Value], n: usize) -> Vec<Value> {
    let good: Vec<&Value> =
        deps.iter().filter(|d| d["status"] == "success" && d["environment"] == "production").collect();
    if good.is_empty() {
        return Vec::new();
    }
    let mut rng = Lcg(0x1ac1_de27);
    let now = now_ms() - 60_000;
    (0..n)
        .map(|i| {
            let d = good[rng.below(good.len() as u64) as usize];
            let finished = chrono::DateTime::parse_from_rfc3339(d["finishedAt"].as_str().unwrap_or_default())
                .map_or(now, |t| t.timestamp_millis());
            let created = (finished + 60_000 + rng.below(6 * HOUR_MS as u64) as i64).min(now);
            let resolved = created + 600_000 + rng.below(2 * DAY_MS as u64) as i64;
            let mut e = json!({
                "id": format!("inc-{i}"),
                "entity": d["entity"],
                "severity": "sev2",
                "title": format!("Incident {i}"),
                "createdAt": rfc3339(created),
            });
            if resolved < now {
                e["resolvedAt"] = json!(rfc3339(resolved));
            }
            if i % 2 == 0 {
                e["causedBy"] = d["id"].clone();
            }
            e
        })
        .collect()
}

/// The request bodies: JSON arrays of [`BATCH`] events, serialised before any timing.
fn batches(events: &[Value]) -> Vec<Vec<u8>> {
    events.chunks(BATCH).map(|c| serde_json::to_vec(c).expect("events serialise")).collect()
}

/// Posts every body from `posters` concurrent posters (body `i` goes to poster `i % posters`,
/// each waiting for its previous answer); answers the seconds taken and the events created.
async fn post_all(server: &Server, path: &str, bodies: &[Vec<u8>], posters: usize) -> anyhow::Result<(f64, usize)> {
    let url = server.url(path);
    let started = Instant::now();
    let tasks: Vec<_> = (0..posters.max(1))
        .map(|p| {
            let (http, url) = (server.http.clone(), url.clone());
            let mine: Vec<Vec<u8>> = bodies.iter().skip(p).step_by(posters.max(1)).cloned().collect();
            tokio::spawn(async move {
                let mut created = 0;
                for body in mine {
                    let res = http.post(&url).header("content-type", "application/json").body(body).send().await?;
                    let status = res.status();
                    let answer: Value = res.json().await.unwrap_or(Value::Null);
                    anyhow::ensure!(
                        !(status == 400
                            && answer["error"]["message"].as_str().is_some_and(|m| m.contains("got a list"))),
                        "POST {url}: this server refuses a batch (a JSON array) as its body: {answer}"
                    );
                    anyhow::ensure!(status.is_success(), "POST {url}: {status} {answer}");
                    anyhow::ensure!(
                        answer["rejected"].as_array().is_some_and(Vec::is_empty),
                        "POST {url}: events were rejected: {}",
                        answer["rejected"]
                    );
                    created += answer["created"].as_u64().unwrap_or(0) as usize;
                }
                anyhow::Ok(created)
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        created += t.await??;
    }
    Ok((started.elapsed().as_secs_f64(), created))
}

/// The view's work in process, phase by phase, on the server's database: what the handler
/// does after the org graph (shared and already built) gives the platform's entities.
async fn phases(url: &str, o: &Options, http_answer: &Value) -> anyhow::Result<()> {
    let url = url.to_owned();
    let (runs, components) = (o.runs, o.components);
    let expected = http_answer["scope"]["entities"].as_u64().unwrap_or(0) as usize;
    let lines = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let pool = portolan::db::Pool::connect(&url, 2)?;
        let mut entities = vec!["platform:default/bench-platform".to_owned()];
        entities.extend((0..SYSTEMS).map(|s| format!("system:default/bench-sys-{s:02}")));
        entities.extend((0..components).map(|c| format!("component:default/bench-comp-{c:03}")));
        anyhow::ensure!(entities.len() == expected, "the view covered {expected} entities, the bench {}", entities.len());
        let window = model::Window::last(views::DEFAULT_DAYS, model::day_of(now_ms()));
        let bands = model::BANDS[0];
        let (mut read, mut keys, mut json, mut total) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut last = None;
        for i in 0..runs + 2 {
            let t0 = Instant::now();
            let parts = views::key_parts(&pool, Some(&entities), window)?;
            let t1 = Instant::now();
            let k = parts::assemble(parts, window, &bands);
            let t2 = Instant::now();
            let bytes = serde_json::to_vec(&k)?.len();
            let t3 = Instant::now();
            std::hint::black_box(bytes);
            last = Some(k);
            if i < 2 {
                continue;
            }
            let ms = |a: Instant, b: Instant| b.duration_since(a).as_secs_f64() * 1000.0;
            read.push(ms(t0, t1));
            keys.push(ms(t1, t2));
            json.push(ms(t2, t3));
            total.push(ms(t0, t3));
        }
        // The same keys from every event through the pure model (what the definitions say).
        let t = Instant::now();
        let ev = views::events(&pool, Some(&entities), window)?;
        let (deps, incidents) = ev.model();
        let pure = model::keys(&deps, &incidents, window, &bands);
        let pure_ms = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            last.as_ref() == Some(&pure),
            "the aggregated reads and the pure model disagree:\n{}\n{}",
            serde_json::to_string(&last)?,
            serde_json::to_string(&pure)?
        );
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let total_ms = med(&mut total);
        let share = |x: f64| 100.0 * x / total_ms;
        let (r, k, j) = (med(&mut read), med(&mut keys), med(&mut json));
        Ok(vec![
            format!("in process, medians of {runs}: {total_ms:.1} ms in all"),
            format!("  reads (views::key_parts: days, leads, rollbacks, incidents): {r:.1} ms ({:.0}%)", share(r)),
            format!("  the four keys (parts::assemble): {k:.1} ms ({:.0}%)", share(k)),
            format!("  the keys to JSON: {j:.1} ms ({:.0}%)", share(j)),
            format!(
                "  equal to the pure model over every event ({} deployments, {} changes, {} incidents; {pure_ms:.0} ms)",
                ev.deployments.len(),
                ev.changes.values().map(Vec::len).sum::<usize>(),
                ev.incidents.len()
            ),
        ])
    })
    .await??;
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

fn report(what: &str, times: &mut [f64]) {
    times.sort_by(f64::total_cmp);
    let p95 = times[((times.len() as f64 * 0.95).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "{what}: median {:.1} ms, p95 {p95:.1} ms, min {:.1} ms, max {:.1} ms ({} runs)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
}

/// Scratch databases: SQLite files under the work folder, or PostgreSQL databases of this
/// process on the given server (dropped at the end).
struct Scratch {
    server: String,
    work: PathBuf,
    made: Vec<String>,
}

impl Scratch {
    fn fresh(&mut self) -> anyhow::Result<(String, PathBuf)> {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let n = self.made.len();
        let dir = self.work.join(format!("pass-{n}"));
        std::fs::create_dir_all(&dir)?;
        if self.server == "sqlite" {
            self.made.push(String::new());
            return Ok((format!("sqlite://{}", dir.join("portolan.db").display()), dir));
        }
        let name = format!("portolan_bench_health_{}_{n}", std::process::id());
        let mut admin = diesel::pg::PgConnection::establish(&self.server)?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        self.made.push(name.clone());
        let (prefix, _) = self.server.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("a database URL has a path"))?;
        Ok((format!("{prefix}/{name}"), dir))
    }

    fn drop_all(&mut self) {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        if self.server == "sqlite" {
            return;
        }
        match diesel::pg::PgConnection::establish(&self.server) {
            Ok(mut admin) => {
                for name in self.made.drain(..) {
                    if let Err(e) = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
                        eprintln!("could not drop the scratch database {name}: {e}");
                    }
                }
            }
            Err(e) => eprintln!("could not drop the scratch databases {:?}: {e}", self.made),
        }
    }
}

/// A server as `serve` runs it, on a fresh database.
struct Server {
    http: reqwest::Client,
    address: String,
    database_url: String,
    handle: actix_web::dev::ServerHandle,
}

impl Server {
    async fn start(scratch: &mut Scratch, work: &Path) -> anyhow::Result<Server> {
        let (database_url, dir) = scratch.fresh()?;
        let mut settings = Settings::default();
        settings.server.bind = "127.0.0.1:0".into();
        settings.server.workers = 2;
        settings.database.url = database_url.clone();
        settings.database.data_dir = dir;
        if let Ok(m) = std::env::var("BENCH_CACHE_MIB") {
            settings.database.sqlite_cache_mib = m.parse()?;
        }
        settings.catalog.paths = vec![work.join("catalog")];
        let t = Instant::now();
        let app = Application::build(settings).await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        println!("  server on {address}, catalog loaded in {:.2} s", t.elapsed().as_secs_f64());
        Ok(Server { http: reqwest::Client::builder().build()?, address, database_url, handle })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the server once its client's idle connections are closed (a graceful stop waits
    /// for them).
    async fn stop(self) {
        drop(self.http);
        self.handle.stop(true).await;
    }
}
