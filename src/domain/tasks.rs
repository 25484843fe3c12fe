//! Time-driven work, started and stopped by one runner.
//!
//! A domain lists its tasks in its [`super::Domain`]; the root hands them all to [`run`] once
//! the server is built. A task runs while the application's `alive` signal upgrades: an
//! [`Task::every`] task on a thread of its own, once per period, its errors logged and the next
//! round tried; a [`Task::service`] (a consumer of an outside stream, a scheduler with its own
//! timing) is started once with the signal and stops when it sees it gone.

use std::sync::{Arc, Weak};
use std::time::Duration;

type Round = Arc<dyn Fn() -> anyhow::Result<()> + Send + Sync>;
type Start = Box<dyn FnOnce(Weak<()>) + Send>;

enum Kind {
    Every(Duration, Round),
    Service(Start),
}

/// One piece of background work.
pub struct Task {
    pub name: &'static str,
    kind: Kind,
}

impl Task {
    /// `round` once every `period`, the first after one period.
    pub fn every(
        name: &'static str,
        period: Duration,
        round: impl Fn() -> anyhow::Result<()> + Send + Sync + 'static,
    ) -> Self {
        Self { name, kind: Kind::Every(period, Arc::new(round)) }
    }

    /// Work that keeps its own timing: started once, it must return or stop when `alive` no
    /// longer upgrades.
    pub fn service(name: &'static str, start: impl FnOnce(Weak<()>) + Send + 'static) -> Self {
        Self { name, kind: Kind::Service(Box::new(start)) }
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("name", &self.name).finish()
    }
}

/// How often a sleeping periodic task looks whether the server is shutting down.
const SHUTDOWN_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Starts every task; each stops once `alive` no longer upgrades.
pub fn run(tasks: Vec<Task>, alive: &Weak<()>) {
    for task in tasks {
        let name = task.name;
        match task.kind {
            Kind::Service(start) => start(alive.clone()),
            Kind::Every(period, round) => {
                let alive = alive.clone();
                let spawned = std::thread::Builder::new().name(format!("portolan-{name}")).spawn(move || {
                    loop {
                        // Slept in short steps, so a long period does not keep the task (and the
                        // pool it holds) alive long after shutdown.
                        let until = std::time::Instant::now() + period;
                        loop {
                            let left = until.saturating_duration_since(std::time::Instant::now());
                            if left.is_zero() {
                                break;
                            }
                            std::thread::sleep(left.min(SHUTDOWN_CHECK));
                            if alive.upgrade().is_none() {
                                return;
                            }
                        }
                        if alive.upgrade().is_none() {
                            return;
                        }
                        if let Err(e) = round() {
                            tracing::warn!(
                                task = name,
                                error.cause = format!("{e:#}"),
                                "A background task failed; it runs again next round."
                            );
                        }
                    }
                });
                if let Err(e) = spawned {
                    tracing::error!(task = name, error.cause = %e, "A background task could not start.");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_task_runs_until_alive_is_dropped() {
        let alive = Arc::new(());
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        run(
            vec![
                Task::every("count", Duration::from_millis(5), move || {
                    c.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }),
                Task::service("svc", move |_| {
                    s.fetch_add(1, Ordering::SeqCst);
                }),
            ],
            &Arc::downgrade(&alive),
        );
        std::thread::sleep(Duration::from_millis(100));
        assert!(count.load(Ordering::SeqCst) >= 2);
        assert_eq!(started.load(Ordering::SeqCst), 1);
        drop(alive);
        std::thread::sleep(Duration::from_millis(30));
        let after = count.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(count.load(Ordering::SeqCst), after, "a task kept running after shutdown");
    }
}
