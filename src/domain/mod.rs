//! The front door of every domain.
//!
//! A domain (governance, offerings, usage, discovery, and those to come) is one folder that
//! exports one function, `domain(&ItsSettings, &Shared) -> anyhow::Result<Domain>`. The root
//! (`crate::startup`) holds the one list of domains ([`crate::startup::DOMAINS`]), builds
//! [`Shared`] once, calls every entry, and wires what each answers:
//!
//! - [`Shared`] is what the root provides: the pool, the catalog (reads, registration and its
//!   change feed), the org graph ([`crate::org::Org`]), the outbound reading rules, the hooks
//!   other domains fill, and the shutdown signal.
//! - A domain's route rows (each with its access rule) are `<domain>::routes::TABLES`, which the
//!   domain list names, so they are known without building anything (the OpenAPI document,
//!   docs/api.md and the tests read them).
//! - [`Domain`] is plain data: its `web::Data` registrations, its catalog
//!   listeners and status decorators, its findings sources and usage sinks (lists, merged across
//!   domains, never a replaceable slot), its tasks and its navigation entries for the UI.
//!
//! Adding a domain is its folder, its migrations and one line in `DOMAINS`.

pub mod hooks;
pub mod tasks;

use std::sync::{Arc, Weak};

use actix_web::web;

use crate::catalog::fetch::ReadSettings;
use crate::catalog::ingest::Ingestor;
use crate::catalog::seam::{ChangeListener, StatusDecorator};
use crate::db::Pool;

pub use hooks::{ConsumptionFacts, FindingsSource, Hooks, UsageSink, ViewExtension};
pub use tasks::Task;

/// What the root gives every domain.
#[derive(Clone)]
pub struct Shared {
    pub pool: Pool,
    /// The catalog: reads, registration and refresh (its seam is filled from every domain's
    /// listeners and decorators once all are built).
    pub catalog: Ingestor,
    /// Who belongs to which product, platform and team.
    pub org: Arc<crate::org::Org>,
    /// The outbound reading rules (allowed hosts, private addresses refused, limits, tokens).
    pub outbound: ReadSettings,
    /// What domains offer one another without naming one another.
    pub hooks: Arc<Hooks>,
    /// Background work runs while this upgrades; the root drops it at shutdown.
    pub alive: Weak<()>,
    /// Where portolan keeps its own files (`database.data_dir`).
    pub data_dir: std::path::PathBuf,
}

/// Registers one `web::Data` item with the app.
pub type DataFn = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// One entry of the UI's navigation; entries show in `rank` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavEntry {
    pub path: &'static str,
    pub label: &'static str,
    pub rank: u16,
}

/// The UI's main navigation: the root's entries and every domain's (registered as `web::Data`).
#[derive(Debug, Clone, Default)]
pub struct Navigation(Vec<NavEntry>);

impl Navigation {
    pub fn new(mut entries: Vec<NavEntry>) -> Self {
        entries.sort_by_key(|e| e.rank);
        Self(entries)
    }

    pub fn entries(&self) -> Vec<NavEntry> {
        self.0.clone()
    }
}

/// What a domain adds to the application. Plain data: the root merges every domain's lists.
#[derive(Default)]
pub struct Domain {
    pub name: &'static str,
    pub data: Vec<DataFn>,
    pub listeners: Vec<Arc<dyn ChangeListener>>,
    pub decorators: Vec<Arc<dyn StatusDecorator>>,
    pub findings_sources: Vec<Arc<dyn FindingsSource>>,
    pub usage_sinks: Vec<Arc<dyn UsageSink>>,
    pub view_extensions: Vec<Arc<dyn ViewExtension>>,
    pub consumption_facts: Vec<Arc<dyn ConsumptionFacts>>,
    pub announcers: Vec<Arc<dyn hooks::Announcer>>,
    pub check_sources: Vec<Arc<dyn hooks::CheckSource>>,
    pub team_health: Vec<Arc<dyn hooks::TeamHealth>>,
    pub webhook_listeners: Vec<Arc<dyn hooks::WebhookListener>>,
    pub entity_facts: Vec<Arc<dyn hooks::EntityFacts>>,
    pub tasks: Vec<Task>,
    pub nav: Vec<NavEntry>,
}

impl Domain {
    pub fn new(name: &'static str) -> Self {
        Self { name, ..Self::default() }
    }

    /// Handlers of this domain extract `web::Data<T>`.
    pub fn data<T: Send + Sync + 'static>(mut self, item: Arc<T>) -> Self {
        self.data.push(Arc::new(move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(web::Data::from(item.clone()));
        }));
        self
    }

    pub fn listener(mut self, l: Arc<dyn ChangeListener>) -> Self {
        self.listeners.push(l);
        self
    }

    pub fn decorator(mut self, d: Arc<dyn StatusDecorator>) -> Self {
        self.decorators.push(d);
        self
    }

    pub fn findings_source(mut self, s: Arc<dyn FindingsSource>) -> Self {
        self.findings_sources.push(s);
        self
    }

    pub fn usage_sink(mut self, s: Arc<dyn UsageSink>) -> Self {
        self.usage_sinks.push(s);
        self
    }

    pub fn view_extension(mut self, v: Arc<dyn ViewExtension>) -> Self {
        self.view_extensions.push(v);
        self
    }

    pub fn consumption_facts(mut self, f: Arc<dyn ConsumptionFacts>) -> Self {
        self.consumption_facts.push(f);
        self
    }

    pub fn announcer(mut self, a: Arc<dyn hooks::Announcer>) -> Self {
        self.announcers.push(a);
        self
    }

    pub fn check_source(mut self, c: Arc<dyn hooks::CheckSource>) -> Self {
        self.check_sources.push(c);
        self
    }

    pub fn team_health(mut self, t: Arc<dyn hooks::TeamHealth>) -> Self {
        self.team_health.push(t);
        self
    }

    pub fn entity_facts(mut self, f: Arc<dyn hooks::EntityFacts>) -> Self {
        self.entity_facts.push(f);
        self
    }

    pub fn webhook_listener(mut self, w: Arc<dyn hooks::WebhookListener>) -> Self {
        self.webhook_listeners.push(w);
        self
    }

    pub fn task(mut self, t: Task) -> Self {
        self.tasks.push(t);
        self
    }

    pub fn nav(mut self, path: &'static str, label: &'static str, rank: u16) -> Self {
        self.nav.push(NavEntry { path, label, rank });
        self
    }
}
