//! When providers run: the scheduler loop that claims due providers through the database, runs
//! requested now (API), and the renewal of a long run's lease.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::Discovery;
use super::store::{self, PROVIDER_LEASES, RunRow};
use crate::catalog::ingest::Ingestor;
use crate::db::now_ms;

/// How long a provider run holds its lease before renewing it.
fn lease(ingestor: &Ingestor) -> Duration {
    ingestor.lease
}

impl Discovery {
    /// A lease owner for one run: the instance plus a run id, so two runs never share a lease,
    /// even on one instance.
    fn run_owner(&self) -> String {
        format!("{}/{}", self.ingestor.instance_id, uuid::Uuid::new_v4())
    }

    /// Runs a provider now, waiting for a run of it in progress (on any instance) to finish first.
    pub async fn run_now(self: &Arc<Self>, id: &str, cause: &str) -> Result<RunRow, RunError> {
        let lease = lease(&self.ingestor);
        let owner = self.run_owner();
        let deadline = Instant::now() + lease + Duration::from_secs(1);
        loop {
            let now = now_ms();
            if PROVIDER_LEASES.claim(&self.ingestor.pool, id, &owner, now, now + lease.as_millis() as i64)? {
                break;
            }
            if Instant::now() > deadline {
                return Err(RunError::Busy(format!("provider {id} is still being run elsewhere; try again later")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let this = self.clone();
        let (id_owned, cause, run_owner) = (id.to_owned(), cause.to_owned(), owner.clone());
        let result =
            self.ingestor.on_runtime(async move { this.run_leased(&id_owned, &cause, &run_owner).await }).await;
        let next = self.get(id).map(|p| now_ms() + p.schedule.as_millis() as i64);
        PROVIDER_LEASES.release(&self.ingestor.pool, id, &owner, next)?;
        Ok(result??)
    }

    /// The scheduler: claims due providers through the database, one at a time, while `alive`.
    pub fn spawn_loop(self: &Arc<Self>, alive: std::sync::Weak<()>) {
        if self.list.is_empty() {
            return;
        }
        let this = self.clone();
        let handle = tokio::runtime::Handle::current();
        handle.spawn(async move {
            let mut last_prune = Instant::now();
            while alive.upgrade().is_some() {
                let now = now_ms();
                let lease = lease(&this.ingestor).as_millis() as i64;
                let owner = this.run_owner();
                let pool = this.ingestor.pool.clone();
                let claim_owner = owner.clone();
                let claimed =
                    tokio::task::spawn_blocking(move || PROVIDER_LEASES.claim_due(&pool, &claim_owner, now, now + lease))
                        .await;
                match claimed {
                    Ok(Ok(Some(id))) => {
                        let runner = this.clone();
                        let (run_id, run_owner) = (id.clone(), owner.clone());
                        let result = this
                            .ingestor
                            .on_runtime(async move { runner.run_leased(&run_id, "schedule", &run_owner).await })
                            .await;
                        if let Err(e) = result.and_then(|r| r) {
                            tracing::error!(provider.id = %id, error.cause = format!("{e:#}"), "A provider run failed.");
                        }
                        let next = this.get(&id).map(|p| now_ms() + jitter(p.schedule));
                        if let Err(e) = PROVIDER_LEASES.release(&this.ingestor.pool, &id, &owner, next) {
                            tracing::error!(provider.id = %id, error.cause = format!("{e:#}"), "Releasing a provider lease failed.");
                        }
                    }
                    Ok(Ok(None)) => tokio::time::sleep(Duration::from_secs(1)).await,
                    Ok(Err(e)) => {
                        tracing::warn!(error.cause = format!("{e:#}"), "Claiming due providers failed; retrying.");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Err(e) => {
                        tracing::error!(error.cause = %e, "The provider loop's database task failed.");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
                if last_prune.elapsed() > Duration::from_secs(3600) {
                    last_prune = Instant::now();
                    let week = 7 * 24 * 3600 * 1000;
                    if let Err(e) = store::prune_deliveries(&this.ingestor.pool, now_ms() - week) {
                        tracing::warn!(error.cause = format!("{e:#}"), "Pruning webhook deliveries failed.");
                    }
                }
            }
        });
    }
}

/// Why a requested run did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Another run of the provider held its lease for longer than a lease lasts.
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Keeps a long run's lease alive: renews it when a third of it has passed.
pub(super) struct LeaseRenewer<'a> {
    ingestor: &'a Ingestor,
    id: &'a str,
    owner: &'a str,
    last: Mutex<Instant>,
}

impl<'a> LeaseRenewer<'a> {
    pub(super) fn new(ingestor: &'a Ingestor, id: &'a str, owner: &'a str) -> Self {
        Self { ingestor, id, owner, last: Mutex::new(Instant::now()) }
    }

    pub(super) fn renew(&self) -> anyhow::Result<()> {
        let mut last = self.last.lock().map_err(|_| anyhow::anyhow!("lease renewer poisoned"))?;
        if last.elapsed() < self.ingestor.lease / 3 {
            return Ok(());
        }
        let now = now_ms();
        let until = now + self.ingestor.lease.as_millis() as i64;
        if !PROVIDER_LEASES.claim(&self.ingestor.pool, self.id, self.owner, now, until)? {
            bail!("lost the lease on provider {} to another instance", self.id);
        }
        *last = Instant::now();
        Ok(())
    }
}

fn jitter(d: Duration) -> i64 {
    let base = d.as_millis() as i64;
    base + fastrand::i64(0..=(base / 10).max(1))
}
