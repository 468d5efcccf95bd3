//! Several instances on one database: who is alive, and who does what only one may do.
//!
//! Every instance renews its row in `instances` and the leases it wants every third of
//! `database.lease`. Two leases exist: the mailbox's (`intake:USER@HOST/INBOX`: only its
//! holder reads the mailbox) and `scheduler` (only its holder plans meetings, runs the
//! after-meeting obligations and the daily purge). When a holder dies, its lease expires and
//! the next instance to renew takes it, within one lease time. The outbox needs no lease: any
//! instance sends, claiming rows one at a time (see `Store::claim_next_outbox`).
//!
//! On SQLite there is one instance and it always holds both leases; the same code runs, so
//! what is tested there is what runs on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::app::App;

/// The lease of the mailbox this configuration reads.
pub fn intake_lease_name(app: &App) -> String {
    let i = &app.cfg.imap;
    format!("intake:{}@{}/{}", i.user, i.host, i.inbox)
}

pub const SCHEDULER_LEASE: &str = "scheduler";

/// How often the instance row and the leases are renewed: a third of the lease, so one missed
/// renewal (a slow database) does not lose them.
pub fn renew_every(lease: Duration) -> Duration {
    lease / 3
}

/// Renews this instance and its leases until `shutdown`, then records a clean stop, which
/// frees the leases at once for the other instances.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let name = app.cfg.database.instance.clone();
    let lease = app.cfg.database.lease;
    let started = app.now();
    let intake_name = intake_lease_name(&app);
    let mut failing = false;
    let mut last_ok = tokio::time::Instant::now();
    loop {
        match renew(&app, &name, started, &intake_name, lease).await {
            Ok(()) => {
                last_ok = tokio::time::Instant::now();
                if failing {
                    failing = false;
                    info!("lease renewal recovered");
                }
            }
            Err(e) => {
                if !failing {
                    failing = true;
                    warn!(error = %format!("{e:#}"), "cannot renew this instance's leases; they expire if this lasts");
                }
                // Stop acting before the leases may have expired and another instance took them.
                if last_ok.elapsed() >= lease - renew_every(lease) {
                    app.leases.intake.send_replace(false);
                    app.leases.scheduler.send_replace(false);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(renew_every(lease)) => {}
            _ = shutdown.changed() => break,
        }
    }
    app.leases.intake.send_replace(false);
    app.leases.scheduler.send_replace(false);
    if let Err(e) = app.store.instance_stopped(&name, app.now()).await {
        warn!(error = %format!("{e:#}"), "cannot record the stop; other instances take over when the leases expire");
    }
}

async fn renew(app: &App, name: &str, started: DateTime<Utc>, intake_name: &str, lease: Duration) -> Result<()> {
    let now = app.now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    app.store.instance_alive(name, started, until, std::process::id()).await?;
    for (lease_name, flag, what) in [
        (intake_name, &app.leases.intake, "reading the mailbox"),
        (SCHEDULER_LEASE, &app.leases.scheduler, "running the planner"),
    ] {
        let held = app.store.acquire_lease(lease_name, name, now, until).await?;
        let was = flag.send_replace(held);
        if held && !was {
            info!(instance = %name, "this instance is now {what}");
        } else if was && !held {
            warn!(instance = %name, "another instance took over {what}");
        }
    }
    Ok(())
}

/// A standby's wait for `lease`: returns when it is held, when `shutdown` turns true, or after
/// one renewal period, so that `task` keeps its promise to the watchdog while it waits.
pub async fn stand_by(app: &App, lease: &watch::Sender<bool>, task: crate::app::Task, shutdown: &mut watch::Receiver<bool>) {
    let period = renew_every(app.cfg.database.lease);
    app.alive(task, period);
    let mut rx = lease.subscribe();
    let held = async {
        loop {
            if *shutdown.borrow() || *rx.borrow_and_update() {
                return;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = shutdown.changed() => {}
            }
        }
    };
    let _ = tokio::time::timeout(period, held).await;
}
