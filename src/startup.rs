//! Building and running the application: database, catalog start-up load, HTTP server.
//!
//! `Application::build` binds the listener (port 0 picks a free port, which is how tests spawn
//! it), loads the start-up catalog before the server answers anything, and returns; `port()`
//! says where it listens and `run_until_stopped()` serves.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use anyhow::Context;

use crate::catalog::cache::ReadCache;
use crate::catalog::fetch::Reader;
use crate::catalog::ingest::{IngestRuntime, Ingestor, absolute};
use crate::catalog::rules::CatalogRules;
use crate::catalog::seam::{CATCH_UP_INTERVAL, Seam};
use crate::catalog::settings::StaticLocation;
use crate::catalog::{facade, validate};
use crate::db::Pool;
use crate::domain::{Domain, Hooks, Shared, Task};
use crate::state::AppState;
use crate::{error, routes, telemetry};

/// A domain's entry in [`DOMAINS`]: its front door, handed its own sections of the settings.
pub type DomainFn = fn(&Settings, &Shared) -> anyhow::Result<Domain>;

// The one list of domains built on the catalog (and the combined settings it implies): adding a
// domain is its folder, its migrations and one line here.
crate::settings::domain_list! {
    governance { governance: crate::governance::GovernanceSettings },
    offerings { offerings: crate::offerings::OfferingSettings, notifications: crate::offerings::NotificationSettings },
    usage { usage: crate::usage::UsageSettings },
    delivery { delivery: crate::delivery::DeliverySettings },
    health { health: crate::health::HealthSettings },
    standards { standards: crate::standards::StandardsSettings },
    scaffolder { scaffolder: crate::scaffolder::ScaffolderSettings },
    discovery { providers: crate::discovery::DiscoverySettings, webhooks: crate::discovery::PushSettings },
}

pub struct Application {
    port: u16,
    server: Server,
    shutdown_timeout: Duration,
}

/// Builds the ingestion engine from settings (shared by the server and the CLI), announcing its
/// changes to `seam`.
pub fn ingestor(settings: &Settings, pool: Pool, seam: Seam) -> anyhow::Result<Ingestor> {
    // Each root as written (for the check on a path as given, before the file system is asked)
    // and resolved (for the check after symlinks).
    let mut file_roots = Vec::new();
    for root in &settings.reading.file_roots {
        let canonical =
            root.canonicalize().with_context(|| format!("reading.file_roots: cannot resolve {}", root.display()))?;
        file_roots.push(crate::catalog::ingest::absolute(root));
        file_roots.push(canonical);
    }
    file_roots.dedup();
    Ok(Ingestor {
        pool,
        reader: Reader::new(settings.read_settings())?,
        validation: validate::Options {
            extra_kinds: settings.catalog.extra_kinds.clone(),
            placeholders_unresolved: false,
        },
        orphans: settings.catalog.orphan_strategy,
        instance_id: uuid::Uuid::new_v4().to_string(),
        lease: Duration::from_secs(settings.catalog.lease_secs.max(1)),
        refresh_interval: Duration::from_secs(settings.catalog.refresh_interval_secs.max(1)),
        file_roots,
        startup_roots: (!settings.catalog.placeholders_anywhere).then(|| startup_roots(settings)),
        runtime: Arc::new(IngestRuntime::new()?),
        rules: Arc::new(CatalogRules::new(&settings.catalog.rules)?),
        bulk: false,
        seam,
    })
}

/// The catalog and every domain of [`DOMAINS`], wired: what the server and the CLI share.
pub struct Wired {
    pub shared: Shared,
    pub domains: Vec<Domain>,
}

/// Builds [`Shared`] on `pool`, then every domain of [`DOMAINS`] in order, and installs their
/// listeners, decorators and hooks (each a merged list). `alive` is the shutdown signal tasks
/// watch.
pub fn wire(settings: &Settings, pool: Pool, alive: std::sync::Weak<()>) -> anyhow::Result<Wired> {
    let hooks = Arc::new(Hooks::default());
    let catalog = ingestor(settings, pool.clone(), Seam::default())?;
    let shared = Shared {
        pool,
        catalog,
        org: Arc::new(crate::org::Org::default()),
        outbound: settings.read_settings(),
        hooks: hooks.clone(),
        alive,
        data_dir: settings.database.data_dir.clone(),
    };
    let mut domains = Vec::with_capacity(DOMAINS.len());
    for (_, build) in DOMAINS {
        domains.push(build(settings, &shared)?);
    }
    let mut listeners = Vec::new();
    let mut decorators = Vec::new();
    let (mut sources, mut sinks, mut views, mut facts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut announcers, mut checks, mut health, mut webhooks) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut entity_facts = Vec::new();
    for d in &domains {
        listeners.extend(d.listeners.iter().cloned());
        decorators.extend(d.decorators.iter().cloned());
        sources.extend(d.findings_sources.iter().cloned());
        sinks.extend(d.usage_sinks.iter().cloned());
        views.extend(d.view_extensions.iter().cloned());
        facts.extend(d.consumption_facts.iter().cloned());
        announcers.extend(d.announcers.iter().cloned());
        checks.extend(d.check_sources.iter().cloned());
        health.extend(d.team_health.iter().cloned());
        webhooks.extend(d.webhook_listeners.iter().cloned());
        entity_facts.extend(d.entity_facts.iter().cloned());
    }
    shared.catalog.seam.install(listeners, decorators)?;
    hooks.findings_sources.install(sources)?;
    hooks.usage_sinks.install(sinks)?;
    hooks.view_extensions.install(views)?;
    hooks.consumption_facts.install(facts)?;
    hooks.announcers.install(announcers)?;
    hooks.check_sources.install(checks)?;
    hooks.team_health.install(health)?;
    hooks.webhook_listeners.install(webhooks)?;
    hooks.entity_facts.install(entity_facts)?;
    Ok(Wired { shared, domains })
}

/// The catalog's own tasks: re-reading locations, following other instances' changes for the read
/// cache, the listeners' catch-up from the change feed, and pruning old feed events.
fn catalog_tasks(settings: &Settings, shared: &Shared, cache: &Arc<ReadCache>) -> Vec<Task> {
    let ingestor = shared.catalog.clone();
    let cache = cache.clone();
    let (seam, pool) = (shared.catalog.seam.clone(), shared.pool.clone());
    let (prune_pool, days) = (shared.pool.clone(), settings.catalog.events_retention_days);
    vec![
        Task::service("catalog-refresh", move |alive| ingestor.spawn_refresh_loop(alive)),
        Task::service("read-cache", move |alive| cache.follow(alive)),
        Task::every("catalog-catch-up", CATCH_UP_INTERVAL, move || {
            seam.catch_up(&pool);
            Ok(())
        }),
        Task::service("feed-pruning", move |alive| crate::catalog::feed::spawn_pruning(prune_pool, days, alive)),
    ]
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        check_guest_mode(&settings)?;
        let auth = Arc::new(crate::auth::AuthState::from_settings(
            settings.auth.as_ref(),
            &settings.server,
            &settings.catalog.rules,
        )?);
        let metrics = telemetry::metrics_handle();
        validate::init();
        let url = settings.database_url();
        let liveness_url = url.clone();
        let pool_size = settings.database.pool_size.max(2);
        let cache_mib = settings.database.sqlite_cache_mib;
        let pool = tokio::task::spawn_blocking(move || Pool::connect_with(&url, pool_size, cache_mib)).await??;
        pool.set_read_timeout_ms(settings.database.read_timeout_ms);
        let alive = Arc::new(());
        // Every domain's listeners are installed before the start-up load, so the start-up
        // catalog's derived state (findings, descriptor-made subscriptions) exists before the
        // server answers.
        let Wired { shared, domains } = wire(&settings, pool.clone(), Arc::downgrade(&alive))?;
        let ingestor = shared.catalog.clone();
        // Beating before the start-up load, so its leases are this live instance's; a
        // predecessor that crashed mid-load stopped beating, and its leases are free.
        let heartbeat = {
            let (pool, id) = (pool.clone(), ingestor.instance_id.clone());
            tokio::task::spawn_blocking(move || crate::db::instances::Heartbeat::start(pool, &liveness_url, &id))
                .await??
        };
        load_static_locations(&ingestor, &settings).await?;

        let listener =
            TcpListener::bind(&settings.server.bind).with_context(|| format!("binding {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let cache = Arc::new(ReadCache::new(
            settings.server.read_cache,
            settings.server.read_cache_mib,
            pool.clone(),
            ingestor.seam.clone(),
        ));
        let mut tasks = catalog_tasks(&settings, &shared, &cache);
        let mut data = Vec::new();
        let mut nav = vec![
            crate::domain::NavEntry { path: "/", label: "Home", rank: 0 },
            crate::domain::NavEntry { path: "/catalog", label: "Catalog", rank: 10 },
        ];
        for d in domains {
            nav.extend(d.nav);
            tasks.extend(d.tasks);
            data.extend(d.data);
        }
        let catalog = web::Data::new(crate::catalog::Catalog {
            pool: pool.clone(),
            ingestor,
            cache: cache.clone(),
            settings: settings.catalog.clone(),
            alive: Arc::downgrade(&alive),
        });
        let state = web::Data::new(AppState {
            cache,
            pool,
            auth,
            settings: Arc::new(settings.clone()),
            metrics,
            alive,
            heartbeat,
        });
        crate::domain::tasks::run(tasks, &Arc::downgrade(&state.alive));
        let nav = web::Data::new(crate::domain::Navigation::new(nav));
        let max_body = settings.server.max_body_bytes;
        let server = crate::wire::serve(
            move || {
                let data = data.clone();
                App::new()
                    .app_data(state.clone())
                    .app_data(catalog.clone())
                    .app_data(nav.clone())
                    .configure(move |cfg| {
                        for item in &data {
                            item(cfg);
                        }
                    })
                    .app_data(web::JsonConfig::default().limit(max_body).error_handler(error::json_error_handler))
                    .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
                    .app_data(web::PathConfig::default().error_handler(error::path_error_handler))
                    .wrap(from_fn(crate::wire::body_deadline))
                    .wrap(from_fn(crate::auth::middleware::authenticate))
                    .wrap(from_fn(crate::auth::cross_site::guard))
                    .wrap(from_fn(crate::ui::middleware::ui_pages))
                    .wrap(from_fn(error::add_request_to_errors))
                    .wrap(from_fn(telemetry::record_request))
                    .wrap(tracing_actix_web::TracingLogger::<telemetry::RedactingRootSpan>::new())
                    .configure(routes::config)
            },
            listener,
            settings.server.workers,
            settings.server.shutdown_timeout_secs,
        )?;
        tracing::info!(port, database = ?state_backend(&settings), "portolan is listening.");
        Ok(Self { port, server, shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs) })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (tests stop theirs when done).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`handle`](Self::handle) (how tests run it: no signal
    /// handlers in their process).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until stopped, or until SIGTERM or SIGINT (`portolan serve`): then no new
    /// connection is accepted, in-flight requests get up to `server.shutdown_timeout_secs` to
    /// finish, and one line says how the drain went.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let timeout = self.shutdown_timeout;
        let stopping: Arc<std::sync::Mutex<Option<(&'static str, std::time::Instant)>>> = Arc::default();
        let watcher = {
            let stopping = stopping.clone();
            tokio::spawn(async move {
                let signal = stop_signal().await;
                *stopping.lock().unwrap_or_else(|e| e.into_inner()) = Some((signal, std::time::Instant::now()));
                handle.stop(true).await;
            })
        };
        let served = self.server.await;
        watcher.abort();
        let stopped = *stopping.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((signal, since)) = stopped {
            let took = since.elapsed();
            if took >= timeout {
                tracing::warn!(
                    signal,
                    shutdown_timeout_secs = timeout.as_secs(),
                    "Stopped on {signal}: requests still in flight after server.shutdown_timeout_secs were cut off."
                );
            } else {
                tracing::info!(
                    signal,
                    drained_ms = took.as_millis() as u64,
                    "Stopped on {signal}: in-flight requests drained in {} ms.",
                    took.as_millis()
                );
            }
        }
        served
    }
}

/// The first of SIGTERM and SIGINT (Ctrl-C), by name.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// The folders the start-up catalog is loaded from, canonical: each configured folder, and the
/// folder of each configured file (for a glob, its fixed leading folder).
fn startup_roots(settings: &Settings) -> Vec<PathBuf> {
    let files = settings.catalog.locations.iter().filter(|l| l.kind == "file").map(|l| PathBuf::from(&l.target));
    let mut roots = Vec::new();
    for path in settings.catalog.paths.iter().cloned().chain(files) {
        let path = absolute(&path);
        let fixed: PathBuf =
            path.components().take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '['])).collect();
        let folder = if fixed.is_dir() { fixed } else { fixed.parent().map(Path::to_path_buf).unwrap_or(fixed) };
        if let Ok(canonical) = folder.canonicalize()
            && !roots.contains(&canonical)
        {
            roots.push(canonical);
        }
    }
    roots
}

/// Guest mode lets anyone do anything: refused on a non-loopback address unless written
/// explicitly (`[auth] guest = true`), and warned about at every start.
fn check_guest_mode(settings: &Settings) -> anyhow::Result<()> {
    if !settings.guest() {
        return Ok(());
    }
    let explicit = settings.auth.as_ref().and_then(|a| a.guest) == Some(true);
    let loopback = {
        use std::net::ToSocketAddrs;
        let addrs: Vec<_> = settings.server.bind.to_socket_addrs().map(|a| a.collect()).unwrap_or_default();
        !addrs.is_empty() && addrs.iter().all(|a: &std::net::SocketAddr| a.ip().is_loopback())
    };
    if !loopback && !explicit {
        anyhow::bail!(
            "refusing to serve in guest mode (no [auth] section: anyone may change everything) on the non-loopback address {}; \
             configure [auth] (see docs/auth.md), or write [auth] guest = true to accept an open portal",
            settings.server.bind
        );
    }
    if !loopback && settings.server.allowed_hosts.is_empty() {
        tracing::warn!(
            bind = %settings.server.bind,
            "Guest mode answers only requests whose Host is a loopback name (localhost, 127.0.0.1, [::1]); \
             list the names this portal is reached by in server.allowed_hosts."
        );
    }
    tracing::warn!(
        bind = %settings.server.bind,
        "Guest mode: requests without credentials act as a guest who may do everything. Configure [auth] before sharing this portal."
    );
    Ok(())
}

fn state_backend(settings: &Settings) -> &'static str {
    match crate::db::backend_of(&settings.database_url()) {
        Ok((crate::db::Backend::Postgres, _)) => "postgresql",
        _ => "sqlite",
    }
}

/// The descriptor files under a path: the file itself, or every `.yaml`, `.yml` and `.json` file
/// below a folder (sorted, hidden entries skipped).
pub fn descriptor_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let p = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Registers the locations named by configuration and `--catalog`, drops configured locations
/// that are no longer named, and processes them all before the server starts answering.
async fn load_static_locations(ingestor: &Ingestor, settings: &Settings) -> anyhow::Result<()> {
    let mut wanted: Vec<StaticLocation> = Vec::new();
    for path in &settings.catalog.paths {
        if !path.exists() && path.as_path() == Path::new("catalog-info") {
            tracing::warn!(path = %path.display(), "The default catalog folder is missing; starting with an empty catalog.");
            continue;
        }
        for file in descriptor_files(path)? {
            wanted.push(StaticLocation { kind: "file".into(), target: absolute(&file).display().to_string() });
        }
    }
    for loc in &settings.catalog.locations {
        let target = if loc.kind == "file" {
            absolute(Path::new(&loc.target)).display().to_string()
        } else {
            loc.target.clone()
        };
        wanted.push(StaticLocation { kind: loc.kind.clone(), target });
    }
    let pool = ingestor.pool.clone();
    for old in facade::list_locations(&pool)? {
        if old.origin == "config" && !wanted.iter().any(|w| w.kind == old.kind && w.target == old.target) {
            tracing::info!(location.target = %old.target, "Removing a configured location that is no longer configured.");
            ingestor.delete_location(&old.id)?;
        }
    }
    let started = std::time::Instant::now();
    let mut entities = 0;
    let mut rows = Vec::with_capacity(wanted.len());
    for w in &wanted {
        rows.push(facade::find_or_create_location(&pool, &w.kind, &w.target, "config")?.0);
    }
    let deferred = facade::bulk::prepare(&pool, settings.catalog.defer_indexes)?;
    let bulk = Ingestor { bulk: true, ..ingestor.clone() };
    for report in bulk.process_all(rows).await {
        let (loc, report) = report;
        let report = report?;
        entities += report.outcome.added + report.outcome.updated + report.outcome.unchanged;
        for e in &report.errors {
            tracing::warn!(location.target = %loc.target, source = %e.source, document = ?e.document, path = ?e.path, "{}", e.message);
        }
    }
    if deferred {
        let pool = pool.clone();
        let started = std::time::Instant::now();
        tokio::task::spawn_blocking(move || facade::bulk::build_indexes(&pool)).await??;
        tracing::info!(duration_ms = started.elapsed().as_millis() as u64, "Built the search and relation indexes.");
    }
    // The listeners rebuild once (governance recomputes every finding: configuration may have
    // changed since they were stored), while SQLite's full-text index is filled beside them.
    let seam = ingestor.seam.clone();
    let listeners_pool = pool.clone();
    let fill_pool = pool.clone();
    let fill = deferred.then(|| {
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            if facade::bulk::fill_fulltext(&fill_pool)? {
                tracing::info!(duration_ms = started.elapsed().as_millis() as u64, "Filled the full-text index.");
            }
            anyhow::Ok(())
        })
    });
    let rebuilt = tokio::task::spawn_blocking(move || seam.bulk_loaded(&listeners_pool)).await?;
    if let Some(fill) = fill {
        fill.await??;
    }
    rebuilt?;
    // What the load allocated and freed goes back to the operating system before serving.
    pool.shrink_memory();
    crate::memory::release();
    tracing::info!(
        locations = wanted.len(),
        entities,
        duration_ms = started.elapsed().as_millis() as u64,
        rss_kib = crate::memory::rss_kib(),
        "Loaded the start-up catalog."
    );
    Ok(())
}
