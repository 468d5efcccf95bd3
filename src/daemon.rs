//! `samverkan run`: starts intake and the outbox sender, tells systemd when it is ready, and
//! stops cleanly on SIGTERM/SIGINT (the current transaction finishes, the IMAP session logs out).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::app::App;
use crate::config::Config;

/// How long the tasks get to finish after a stop signal.
const STOP_GRACE: Duration = Duration::from_secs(4);

/// Purges personal data past its retention time: ten minutes after start, then daily (on the
/// daemon's clock: a test that moves it a day ahead gets the day's purge).
async fn retention_loop(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut next = app.now() + chrono::Duration::minutes(10);
    let mut moved = app.clock.changes();
    loop {
        let wait = (next - app.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = moved.changed() => continue,
            _ = stop.changed() => return,
        }
        if !*app.leases.scheduler.borrow() {
            // Another instance runs the planner and the purge.
            next = app.now() + chrono::Duration::hours(1);
            continue;
        }
        if let Err(e) = crate::admin::purge(&app, app.now(), false).await {
            warn!(error = %format!("{e:#}"), "daily purge failed; retrying tomorrow");
        }
        next = app.now() + chrono::Duration::days(1);
    }
}

pub async fn run(cfg: Config) -> Result<()> {
    let app = App::open(cfg).await?;
    let transport = crate::sender::transport(&app.cfg.smtp, app.smtp_password.as_deref())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let inflight = app.store.release_inflight(&app.cfg.database.instance, app.now()).await?;
    if inflight > 0 {
        warn!(
            count = inflight,
            "mail was being sent when the daemon last stopped; sending it again now"
        );
    }

    if app.clock.is_test_clock() {
        warn!(
            offset_ms = app.clock.offset().num_milliseconds(),
            "TEST CLOCK: time is moved by the file in {} (a debug build for tests; never in production)",
            crate::clock::TEST_CLOCK_ENV
        );
    }
    let clock = {
        let (app, stop) = (Arc::clone(&app), stop_rx.clone());
        tokio::spawn(async move { app.clock.follow(stop).await })
    };
    let cluster = tokio::spawn(crate::cluster::run(Arc::clone(&app), stop_rx.clone()));
    let intake = tokio::spawn(crate::intake::run(Arc::clone(&app), stop_rx.clone()));
    let sender = tokio::spawn(crate::sender::run(Arc::clone(&app), transport, stop_rx.clone()));
    let scheduler = tokio::spawn(crate::scheduler::run(Arc::clone(&app), stop_rx.clone()));
    let retention = tokio::spawn(retention_loop(Arc::clone(&app), stop_rx.clone()));
    let metrics = tokio::spawn(crate::metrics::serve(Arc::clone(&app), stop_rx.clone()));

    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    sd_notify::notify(&[sd_notify::NotifyState::Ready]).ok();
    info!(forums = app.cfg.forums.len(), "samverkan running");

    let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
    let mut wedged_reported = false;
    loop {
        let tick = async {
            match watchdog {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tick => {
                let stalled = app.stalled();
                if stalled.is_empty() {
                    if wedged_reported {
                        wedged_reported = false;
                        info!("every task is making progress again; feeding the watchdog");
                        sd_notify::notify(&[sd_notify::NotifyState::Status("running")]).ok();
                    }
                    sd_notify::notify(&[sd_notify::NotifyState::Watchdog]).ok();
                } else if !wedged_reported {
                    wedged_reported = true;
                    let names: Vec<&str> = stalled.iter().map(|t| t.name()).collect();
                    tracing::error!(tasks = %names.join(","), "a task stopped making progress; no longer feeding the watchdog so systemd restarts the daemon");
                    // Shown by `systemctl status` until the restart.
                    let status = format!("stalled: {} (watchdog no longer fed)", names.join(","));
                    sd_notify::notify(&[sd_notify::NotifyState::Status(&status)]).ok();
                }
            }
        }
    }
    info!("stop requested; finishing current work");
    sd_notify::notify(&[sd_notify::NotifyState::Stopping]).ok();
    stop_tx.send(true).ok();
    let both = async {
        intake.await.ok();
        scheduler.await.ok();
        retention.await.ok();
        metrics.await.ok();
        sender.await.ok();
        cluster.await.ok();
        clock.await.ok();
    };
    if tokio::time::timeout(STOP_GRACE, both).await.is_err() {
        warn!(
            "tasks did not stop within {}s; exiting anyway (committed work is safe)",
            STOP_GRACE.as_secs()
        );
    }
    app.store.close().await;
    info!("samverkan stopped");
    Ok(())
}
