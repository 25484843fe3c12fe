//! The command line: `serve`, `migrate`, `validate`, `import`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::catalog::{descriptor, validate};
use crate::config::Settings;
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
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        app.run_until_stopped().await?;
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
