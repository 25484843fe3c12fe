//! The refresh loop: every instance claims due locations through the database, one at a time, and
//! processes them again (leases keep two instances off one location).

use std::time::Duration;

use super::ingest::Ingestor;
use super::store;

impl Ingestor {
    /// The refresh loop: claims due locations through the database, one at a time, for as long
    /// as the process runs. Several instances can run it against one database.
    /// It stops once `alive` can no longer be upgraded (the server holding it has stopped).
    pub fn spawn_refresh_loop(&self, alive: std::sync::Weak<()>) {
        let this = self.clone();
        self.runtime.handle().spawn(async move {
            while alive.upgrade().is_some() {
                let now = crate::db::now_ms();
                let lease_until = now + this.lease.as_millis() as i64;
                let pool = this.pool.clone();
                let owner = this.lease_owner();
                let claimer = owner.clone();
                let claimed = tokio::task::spawn_blocking(move || {
                    match store::LOCATION_LEASES.claim_due(&pool, &claimer, now, lease_until)? {
                        Some(id) => store::get_location(&pool, &id),
                        None => Ok(None),
                    }
                })
                .await;
                match claimed {
                    Ok(Ok(Some(loc))) => {
                        let result = this.process_leased(&loc).await;
                        if let Err(e) = &result {
                            tracing::error!(location.id = %loc.id, error.cause = format!("{e:#}"), "Refreshing a location failed.");
                        }
                        let next = crate::db::now_ms() + this.next_interval_ms();
                        if let Err(e) = store::LOCATION_LEASES.release(&this.pool, &loc.id, &owner, Some(next)) {
                            tracing::error!(location.id = %loc.id, error.cause = format!("{e:#}"), "Releasing a location lease failed.");
                        }
                    }
                    Ok(Ok(None)) => tokio::time::sleep(Duration::from_millis(500)).await,
                    Ok(Err(e)) => {
                        tracing::warn!(error.cause = format!("{e:#}"), "Claiming due locations failed; retrying.");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Err(e) => {
                        tracing::error!(error.cause = %e, "The refresh loop's database task failed.");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        });
    }
}
