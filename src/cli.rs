//! The command line: `serve`, `migrate`, `validate`, `import`, `lint`, `demo-traffic`, `usage ship`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::catalog::{descriptor, validate};
use crate::settings::Settings;
use crate::startup::{Application, descriptor_files};

#[derive(Debug, Parser)]
#[command(
    name = "portolan",
    version,
    about = "A Backstage-compatible software catalog that treats platforms as products."
)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, env = "PORTOLAN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (loads the start-up catalog first).
    Serve(ServeArgs),
    /// Run pending database migrations and exit.
    Migrate(DbArgs),
    /// Check descriptor files (or folders of them) without a server or database.
    Validate(ValidateArgs),
    /// Register and ingest files, folders or URLs in bulk against the configured database.
    Import(ImportArgs),
    /// Validate descriptor files and run the governance rules over them (for CI).
    Lint(LintArgs),
    /// Write days of believable usage and KPI values for the demo catalog through a running
    /// portal's public intake (an admin token, or guest mode).
    DemoTraffic(DemoTrafficArgs),
    /// Usage intake tools.
    #[command(subcommand)]
    Usage(UsageCommand),
}

#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Post a gateway's access log (nginx JSON log_format, or NDJSON events) to a portal's
    /// usage intake in idempotent batches; bad lines are reported with their line number.
    Ship(ShipArgs),
}

#[derive(Debug, Args)]
pub struct ShipArgs {
    /// How the lines are written.
    #[arg(long, value_enum, default_value = "nginx-json")]
    pub format: ShipFormat,
    /// The log file, or `-` for standard input.
    pub source: String,
    /// Keep reading as the file grows, across rotation (until interrupted).
    #[arg(long)]
    pub follow: bool,
    /// The portal to post to.
    #[arg(long, default_value = "http://127.0.0.1:7007")]
    pub url: String,
    /// A service token with the `usage:write` scope (none in guest mode).
    #[arg(long, env = "PORTOLAN_TOKEN")]
    pub token: Option<String>,
    /// Lines per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// The API of lines that name none.
    #[arg(long)]
    pub api: Option<String>,
    /// Let events older than `usage.late_days` through (an admin's token, or guest mode).
    #[arg(long)]
    pub backfill: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ShipFormat {
    NginxJson,
    Ndjson,
}

#[derive(Debug, Args)]
pub struct DemoTrafficArgs {
    /// How many days back.
    #[arg(long, default_value_t = 90)]
    pub days: i64,
    /// The portal to write to.
    #[arg(long, default_value = "http://127.0.0.1:7007")]
    pub url: String,
    /// An admin's token (none in guest mode).
    #[arg(long, env = "PORTOLAN_TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files or folders (every .yaml, .yml and .json file below a folder).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format: `file:line: severity rule-id: message` lines, JSON, or GitHub workflow
    /// annotations.
    #[arg(long, value_enum, default_value = "human")]
    pub format: LintFormat,
    /// A running portolan (e.g. http://localhost:7007): its catalog is the context the files are
    /// checked against (the files win where both define an entity).
    #[arg(long)]
    pub against: Option<String>,
    /// Accept this kind beyond the built-in ones (repeatable); also `catalog.extra_kinds`.
    #[arg(long = "allow-kind")]
    pub allow_kind: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LintFormat {
    Human,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files, folders (every .yaml, .yml and .json file below) or http(s) URLs.
    #[arg(required = true)]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DbArgs {
    /// Database URL: postgres://..., sqlite://path or a path [default: <data-dir>/portolan.db].
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Folder holding the default SQLite database [default: ./data].
    #[arg(long, env = "PORTOLAN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7007].
    #[arg(long, env = "PORTOLAN_BIND")]
    pub bind: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Descriptor files or folders to load at start; replaces the default `catalog-info/`.
    /// Repeat the flag, or separate paths with commas in PORTOLAN_CATALOG.
    #[arg(long, env = "PORTOLAN_CATALOG", value_delimiter = ',')]
    pub catalog: Vec<PathBuf>,
    /// Log format.
    #[arg(long, env = "PORTOLAN_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// After start-up, write 90 days of demo usage and KPI values through this server's own
    /// intake, as `portolan demo-traffic` does (guest mode only).
    #[arg(long)]
    pub demo_traffic: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or folders (every .yaml, .yml and .json file below a folder).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Accept this kind beyond the built-in ones (repeatable); also `catalog.extra_kinds`.
    #[arg(long = "allow-kind")]
    pub allow_kind: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Human,
    Json,
}

/// Applies flags and environment over the file settings.
fn apply_db(settings: &mut Settings, db: &DbArgs) {
    if let Some(url) = &db.database_url {
        settings.database.url = url.clone();
    }
    if let Some(dir) = &db.data_dir {
        settings.database.data_dir = dir.clone();
    }
}

/// Runs the command; the exit code follows each command's contract.
pub fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve(args) => serve(settings, args),
        Command::Migrate(db) => migrate(settings, db),
        Command::Validate(args) => validate_files(settings, args),
        Command::Import(args) => import(settings, args),
        Command::Lint(args) => lint(settings, args),
        Command::DemoTraffic(args) => demo_traffic(args),
        Command::Usage(UsageCommand::Ship(args)) => ship(args),
    }
}

fn ship(args: ShipArgs) -> ExitCode {
    use crate::usage::ship;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = ship::Options {
        format: match args.format {
            ShipFormat::NginxJson => ship::Format::NginxJson,
            ShipFormat::Ndjson => ship::Format::Ndjson,
        },
        source: args.source,
        follow: args.follow,
        url: args.url,
        token: args.token,
        batch: args.batch,
        api: args.api,
        backfill: args.backfill,
    };
    match runtime.block_on(ship::run(opts)) {
        Ok(r) => {
            println!(
                "Shipped {} lines in {} batches: {} events accepted, {} rejected, {} bad lines, {} without a caller, {} batches already counted.",
                r.lines, r.batches, r.accepted, r.rejected, r.bad, r.skipped, r.duplicates
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo_traffic(args: DemoTrafficArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let token = args.token.clone();
    let both = async {
        let usage = crate::usage::demo::run(&args.url, args.days, args.token).await?;
        let health = crate::health::demo::run(&args.url, token.clone()).await?;
        let delivery = crate::delivery::demo::run(&args.url, token).await?;
        anyhow::Ok((usage, health, delivery))
    };
    match runtime.block_on(both) {
        Ok((s, h, d)) => {
            println!(
                "Wrote {} of {} events ({} rejected) and {} KPI values over {} days to {}.",
                s.accepted, s.events, s.rejected, s.kpi_values, args.days, args.url
            );
            let pair =
                |p: &Option<(String, String)>| p.as_ref().map(|(c, a)| format!("{c} on {a}")).unwrap_or("-".into());
            println!("  growing platform:      {}", s.growing.as_deref().unwrap_or("-"));
            println!("  churned consumer:      {}", pair(&s.churned));
            println!("  undeclared consumer:   {}", pair(&s.undeclared));
            println!("  approved, never used:  {}", pair(&s.unused));
            println!("  p95 regressed on:      {}", s.regressed.as_deref().unwrap_or("-"));
            println!(
                "Wrote {} deployments and {} incidents of {} teams over 90 days.",
                h.deployments, h.incidents, h.teams
            );
            println!("  no production deploy:  {}", h.left_without.as_deref().unwrap_or("-"));
            if !h.skipped.is_empty() {
                println!("  left alone (they send deployments already): {}", h.skipped.join(", "));
            }
            println!(
                "Wrote {} roadmap status updates; value reports stored for {}.",
                d.updates,
                if d.published.is_empty() { "no new period".to_owned() } else { d.published.join(" and ") }
            );
            println!("  no update (stale):     {}", d.left_stale.as_deref().unwrap_or("-"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(mut settings: Settings, args: ServeArgs) -> ExitCode {
    if let Some(bind) = args.bind {
        settings.server.bind = bind;
    }
    apply_db(&mut settings, &args.db);
    if !args.catalog.is_empty() {
        settings.catalog.paths = args.catalog;
    }
    if let Some(f) = args.log_format {
        settings.server.log_format = match f {
            LogFormat::Text => "text".into(),
            LogFormat::Json => "json".into(),
        };
    }
    crate::telemetry::init_logging(&settings.server.log_format);
    let demo = args.demo_traffic;
    let result = actix_web::rt::System::new().block_on(async move {
        let guest = settings.guest();
        let bind = settings.server.bind.clone();
        let app = Application::build(settings).await?;
        if demo {
            spawn_demo_traffic(&bind, app.port(), guest);
        }
        app.run_until_signalled().await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error.cause = format!("{e:#}"), "portolan could not start.");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `serve --demo-traffic`: runs `demo-traffic` against this server once it answers, on a
/// thread of its own (the listener is bound already, so its first requests just wait).
fn spawn_demo_traffic(bind: &str, port: u16, guest: bool) {
    if !guest {
        tracing::warn!("--demo-traffic needs guest mode (no [auth]); run `portolan demo-traffic --token` instead.");
        return;
    }
    let host = match bind.parse::<std::net::SocketAddr>() {
        Ok(a) if !a.ip().is_unspecified() => a.ip().to_string(),
        _ => "127.0.0.1".to_owned(),
    };
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let url = format!("http://{host}:{port}");
    let started = std::thread::Builder::new().name("portolan-demo-traffic".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => return tracing::warn!(error.cause = %e, "Demo traffic could not start."),
        };
        match runtime.block_on(crate::usage::demo::run(&url, 90, None)) {
            Ok(s) => tracing::info!(
                events = s.accepted,
                rejected = s.rejected,
                kpi_values = s.kpi_values,
                "Demo traffic written: 90 days of usage and KPI values."
            ),
            Err(e) => return tracing::warn!(error.cause = format!("{e:#}"), "Demo traffic failed."),
        }
        match runtime.block_on(crate::health::demo::run(&url, None)) {
            Ok(h) => tracing::info!(
                deployments = h.deployments,
                incidents = h.incidents,
                "Demo deployments and incidents written."
            ),
            Err(e) => tracing::warn!(error.cause = format!("{e:#}"), "Demo deployments failed."),
        }
        match runtime.block_on(crate::delivery::demo::run(&url, None)) {
            Ok(d) => tracing::info!(
                updates = d.updates,
                published = d.published.join(","),
                "Demo roadmap updates and value reports written."
            ),
            Err(e) => tracing::warn!(error.cause = format!("{e:#}"), "Demo roadmap updates failed."),
        }
    });
    if let Err(e) = started {
        tracing::warn!(error.cause = %e, "Demo traffic could not start.");
    }
}

fn migrate(mut settings: Settings, db: DbArgs) -> ExitCode {
    apply_db(&mut settings, &db);
    match crate::db::Pool::connect(&settings.database_url(), 1) {
        Ok(_) => {
            // `connect` runs pending migrations.
            println!("migrations are up to date on {}", redact(&settings.database_url()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Hides a password in a database URL before printing it.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FileProblem {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_ref: Option<String>,
    path: Option<String>,
    message: String,
}

#[derive(Debug, Default, Serialize)]
struct ValidateSummary {
    files: usize,
    documents: usize,
    valid: usize,
    invalid: usize,
    problems: Vec<FileProblem>,
}

/// Validates files on their own: placeholders are not read, Location targets not followed.
fn validate_files(settings: Settings, args: ValidateArgs) -> ExitCode {
    let mut files = Vec::new();
    for p in &args.paths {
        match descriptor_files(p) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        }
    }
    let mut extra = settings.catalog.extra_kinds.clone();
    extra.extend(args.allow_kind);
    let opts = validate::Options { extra_kinds: extra, placeholders_unresolved: true };
    validate::init();
    let mut summary = ValidateSummary { files: files.len(), ..Default::default() };
    for file in &files {
        let name = file.display().to_string();
        let docs = std::fs::read(file)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| descriptor::parse_file(&bytes, &name));
        let docs = match docs {
            Ok(d) => d,
            Err(message) => {
                summary.invalid += 1;
                summary.problems.push(FileProblem {
                    file: name,
                    document: None,
                    entity_ref: None,
                    path: None,
                    message,
                });
                continue;
            }
        };
        for doc in docs {
            summary.documents += 1;
            let problems = match doc.body {
                Err(message) => vec![(None, None, message)],
                Ok(value) if !value.is_object() => {
                    vec![(
                        None,
                        Some(String::new()),
                        "expected an entity object at the root of the document".to_owned(),
                    )]
                }
                Ok(value) => {
                    let described = validate::describe(&value);
                    match validate::validate(value, &opts) {
                        Ok(_) => Vec::new(),
                        Err(found) => found.into_iter().map(|p| (described.clone(), Some(p.path), p.message)).collect(),
                    }
                }
            };
            if problems.is_empty() {
                summary.valid += 1;
            } else {
                summary.invalid += 1;
            }
            for (entity_ref, path, message) in problems {
                summary.problems.push(FileProblem {
                    file: name.clone(),
                    document: Some(doc.index),
                    entity_ref,
                    path,
                    message,
                });
            }
        }
    }
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default()),
        OutputFormat::Human => {
            for p in &summary.problems {
                let mut line = p.file.clone();
                if let Some(d) = p.document {
                    line.push_str(&format!(":doc {d}"));
                }
                line.push_str(": ");
                if let Some(path) = p.path.as_deref().filter(|s| !s.is_empty()) {
                    line.push_str(path);
                    line.push_str(": ");
                }
                line.push_str(&p.message);
                println!("{line}");
            }
            eprintln!(
                "{} file(s), {} document(s): {} valid, {} invalid",
                summary.files, summary.documents, summary.valid, summary.invalid
            );
        }
    }
    if summary.invalid > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `portolan import`: registers each target as a location and processes them, two at a time,
/// with a progress line and a summary. Exit 0 when everything was read and valid, 1 otherwise.
fn import(mut settings: Settings, args: ImportArgs) -> ExitCode {
    use std::io::Write as _;
    apply_db(&mut settings, &args.db);
    // The progress line and summary say what happened; logs only for warnings.
    crate::telemetry::init_logging_at("text", "warn");
    let mut locations: Vec<(String, String)> = Vec::new();
    for t in &args.targets {
        if t.starts_with("http://") || t.starts_with("https://") {
            locations.push(("url".into(), t.clone()));
            continue;
        }
        match descriptor_files(std::path::Path::new(t)) {
            Ok(files) => locations.extend(
                files
                    .into_iter()
                    .map(|f| ("file".to_owned(), crate::catalog::ingest::absolute(&f).display().to_string())),
            ),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        }
    }
    let result = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async move {
            let _ = rustls::crypto::ring::default_provider().install_default();
            validate::init();
            let pool = crate::db::Pool::connect(&settings.database_url(), settings.database.pool_size.max(2))?;
            crate::catalog::facade::bulk::prepare(&pool, false)?;
            // The same domains as the server, so every listener rebuilds after the import (no
            // task runs: the process ends when the import does).
            let wired = crate::startup::wire(&settings, pool.clone(), std::sync::Weak::new())?;
            let mut ingestor = wired.shared.catalog.clone();
            ingestor.bulk = true;
            let started = std::time::Instant::now();
            let mut rows = Vec::new();
            for (kind, target) in &locations {
                rows.push(crate::catalog::facade::find_or_create_location(&pool, kind, target, "cli")?.0);
            }
            let total = rows.len();
            let (mut entities, mut relations, mut errors, mut done) = (0usize, 0usize, 0usize, 0usize);
            use futures_util::StreamExt;
            let mut stream = futures_util::stream::iter(rows.into_iter().map(|loc| {
                let ingestor = ingestor.clone();
                async move { ingestor.process(&loc).await }
            }))
            .buffer_unordered(2);
            while let Some(report) = stream.next().await {
                let report = report?;
                done += 1;
                entities += report.outcome.added + report.outcome.updated + report.outcome.unchanged;
                relations += report.outcome.relations;
                errors += report.errors.len();
                for e in &report.errors {
                    let doc = e.document.map(|d| format!(":doc {d}")).unwrap_or_default();
                    let path = e.path.as_deref().filter(|p| !p.is_empty()).map(|p| format!(" {p}:")).unwrap_or_default();
                    eprintln!("\r\x1b[K{}{doc}:{path} {}", e.source, e.message);
                }
                let width = 30;
                let filled = done * width / total.max(1);
                eprint!("\r[{}{}] {done}/{total} locations, {entities} entities", "#".repeat(filled), " ".repeat(width - filled));
                let _ = std::io::stderr().flush();
            }
            eprintln!();
            let seam = ingestor.seam.clone();
            let listeners_pool = pool.clone();
            tokio::task::spawn_blocking(move || seam.bulk_loaded(&listeners_pool)).await??;
            println!(
                "imported {total} location(s): {entities} entities, {relations} relation rows written, {errors} error(s) in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            anyhow::Ok(errors)
        })
    });
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Fetches every entity of a running catalog, for `lint --against`.
fn fetch_catalog(base: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let url = url::Url::parse(base)
        .and_then(|u| u.join("/api/catalog/entities"))
        .map_err(|e| anyhow::anyhow!("--against {base}: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build()?;
        let res = client.get(url.clone()).send().await.map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
        if !res.status().is_success() {
            anyhow::bail!("GET {url}: HTTP {}", res.status());
        }
        let body: Vec<serde_json::Value> = res.json().await.map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
        Ok(body)
    })
}

/// `portolan lint`: exit 1 on invalid documents or error findings, 0 otherwise (warnings and
/// infos included), 2 on usage errors (a missing path, an unknown rule in the configuration, a
/// catalog that cannot be fetched).
fn lint(settings: Settings, args: LintArgs) -> ExitCode {
    let mut files = Vec::new();
    for p in &args.paths {
        match descriptor_files(p) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        }
    }
    let cfg = match crate::governance::rules::RuleConfig::new(&settings.governance.rules) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let context = match args.against.as_deref().map(fetch_catalog).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut extra = settings.catalog.extra_kinds.clone();
    extra.extend(args.allow_kind);
    let opts = validate::Options { extra_kinds: extra, placeholders_unresolved: true };
    validate::init();
    let report = crate::governance::lint::lint(&files, &context, &opts, &cfg);
    use crate::governance::rules::Severity;
    match args.format {
        LintFormat::Json => println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
        LintFormat::Github => print!("{}", crate::governance::lint::github(&report)),
        LintFormat::Human => print!("{}", crate::governance::lint::human(&report)),
    }
    if args.format != LintFormat::Json {
        eprintln!(
            "{} file(s), {} document(s): {} invalid; {} error(s), {} warning(s), {} info(s)",
            report.files,
            report.documents,
            report.invalid.len(),
            report.count(Severity::Error),
            report.count(Severity::Warning),
            report.count(Severity::Info)
        );
    }
    if report.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
