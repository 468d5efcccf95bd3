//! The optional metrics and health listener on loopback: `GET /metrics` in the Prometheus text
//! format, `GET /healthz` (200, or 503 with the reasons). Everything is computed from the
//! database at scrape time, so it is right after a restart and costs nothing between scrapes.
//! Counts only: no personal data.
//!
//! A deliberately small HTTP/1.1 responder (GET, `Connection: close`) rather than a web
//! framework: two read-only endpoints on loopback need nothing more.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::app::App;

/// The text of `/metrics`.
pub async fn render(app: &App, now: DateTime<Utc>) -> Result<String> {
    let f = app.store.figures(now).await?;
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP samverkan_{name} {help}\n# TYPE samverkan_{name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(out, "samverkan_{name}{labels} {v}");
        }
    };
    let grouped = |rows: &[(String, i64)], label: &str| -> Vec<(String, f64)> {
        rows.iter().map(|(k, n)| (format!("{{{label}=\"{k}\"}}"), *n as f64)).collect()
    };
    metric(
        "mails_read_total",
        "Mails read from the mailbox, by kind.",
        "counter",
        grouped(&f.mails_by_kind, "kind"),
    );
    metric(
        "mail_outcomes_total",
        "Mails read, by what was done (case_created, case_incomplete, no_parts, not_member, reply_applied, ...).",
        "counter",
        grouped(&f.mails_by_outcome, "outcome"),
    );
    metric("cases", "Cases, by status.", "gauge", grouped(&f.cases_by_status, "status"));
    metric(
        "deviations_total",
        "Deviations from the routine recorded, by rule (core::deviation::RULES).",
        "counter",
        {
            // Every rule, zero included, so a dashboard's series exist before the first one.
            let mut rows: Vec<(String, i64)> = crate::core::deviation::RULES.iter().map(|r| (r.id.to_string(), 0)).collect();
            for (rule, n) in &f.deviations_by_rule {
                match rows.iter_mut().find(|(r, _)| r == rule) {
                    Some(row) => row.1 = *n,
                    None => rows.push((rule.clone(), *n)),
                }
            }
            grouped(&rows, "rule")
        },
    );
    metric(
        "mails_sent_total",
        "Mails sent, by kind (receipt, invitation, reminder, ...).",
        "counter",
        grouped(&f.sent_by_kind, "kind"),
    );
    let oldest_age = f.oldest_pending.map_or(0.0, |t| (now - t).num_seconds().max(0) as f64);
    metric(
        "outbox_pending",
        "Mails waiting in the outbox.",
        "gauge",
        vec![(String::new(), f.outbox_pending as f64)],
    );
    metric(
        "outbox_failed",
        "Mails given up on (5xx, or retries exhausted).",
        "gauge",
        vec![(String::new(), f.outbox_failed as f64)],
    );
    metric(
        "outbox_oldest_pending_seconds",
        "Age of the oldest mail waiting in the outbox.",
        "gauge",
        vec![(String::new(), oldest_age)],
    );
    metric(
        "last_sync_timestamp_seconds",
        "When the mailbox was last read completely (Unix time).",
        "gauge",
        f.last_sync
            .iter()
            .map(|(mailbox, t)| {
                (
                    format!("{{mailbox=\"{}\"}}", mailbox.replace(['"', '\\', '\n'], "_")),
                    t.map_or(0.0, |t| t.timestamp() as f64),
                )
            })
            .collect(),
    );
    metric(
        "quarantined",
        "Mails moved to the quarantine folder.",
        "gauge",
        vec![(String::new(), f.quarantined as f64)],
    );
    let trouble = *app.intake_trouble.lock().unwrap_or_else(|p| p.into_inner());
    metric(
        "intake_database_failing",
        "1 while intake cannot write to the database (label: disk_full, disk_io_error, database_locked, database_read_only).",
        "gauge",
        vec![match trouble {
            Some((_, f)) => (format!("{{condition=\"{}\"}}", f.label()), 1.0),
            None => (String::new(), 0.0),
        }],
    );
    metric(
        "obligations_overdue",
        "Open obligations past their reminder or escalation time, by kind.",
        "gauge",
        grouped(&f.overdue_by_kind, "kind"),
    );
    if let Some(t) = &app.tokens {
        metric(
            "oauth_admin_action_needed",
            "1 while the OAuth2 token endpoint refuses in a way only an administrator can fix (label: the error and AADSTS code).",
            "gauge",
            vec![match t.admin_action() {
                Some(a) => (format!("{{code=\"{}\"}}", a.code.replace(['"', '\\', '\n'], "_")), 1.0),
                None => (String::new(), 0.0),
            }],
        );
    }
    let held = |h: bool| if h { 1.0 } else { 0.0 };
    metric(
        "lease_held",
        "Whether this instance holds the lease: intake (reads the mailbox) or scheduler (plans meetings). With several instances on PostgreSQL, exactly one should hold each.",
        "gauge",
        vec![
            ("{lease=\"intake\"}".into(), held(*app.leases.intake.borrow())),
            ("{lease=\"scheduler\"}".into(), held(*app.leases.scheduler.borrow())),
        ],
    );
    Ok(out)
}

/// Why the daemon is unhealthy, if it is.
pub async fn problems(app: &App, now: DateTime<Utc>) -> Result<Vec<String>> {
    let h = app.store.health().await?;
    let mut out = Vec::new();
    let max_sync = chrono::Duration::from_std(app.cfg.metrics.max_sync_age).unwrap_or(chrono::Duration::minutes(15));
    match h.last_sync {
        Some(t) if now - t <= max_sync => {}
        Some(t) => out.push(format!("the mailbox has not been read for {} s", (now - t).num_seconds())),
        None => out.push("the mailbox has not been read yet".into()),
    }
    let max_outbox = chrono::Duration::from_std(app.cfg.metrics.max_outbox_age).unwrap_or(chrono::Duration::hours(1));
    if let Some(t) = h.oldest_pending
        && now - t > max_outbox
    {
        out.push(format!("outgoing mail has waited {} s", (now - t).num_seconds()));
    }
    for t in app.stalled() {
        out.push(format!("the {} task stopped making progress", t.name()));
    }
    if let Some(a) = app.tokens.as_ref().and_then(|t| t.admin_action()) {
        out.push(format!("{a} (since {})", crate::core::time::db(a.since)));
    }
    if let Some((since, f)) = *app.intake_trouble.lock().unwrap_or_else(|p| p.into_inner()) {
        out.push(format!(
            "intake cannot write to the database ({}) for {} s; mails wait in the inbox",
            f.label(),
            (now - since).num_seconds()
        ));
    }
    Ok(out)
}

async fn respond(app: &App, path: &str) -> (u16, &'static str, String) {
    let now = app.now();
    match path {
        "/metrics" => match render(app, now).await {
            Ok(body) => (200, "text/plain; version=0.0.4; charset=utf-8", body),
            Err(e) => (500, "text/plain; charset=utf-8", format!("error: {e:#}\n")),
        },
        "/healthz" => match problems(app, now).await {
            Ok(p) if p.is_empty() => (200, "text/plain; charset=utf-8", "ok\n".into()),
            Ok(p) => (503, "text/plain; charset=utf-8", p.join("\n") + "\n"),
            Err(e) => (503, "text/plain; charset=utf-8", format!("error: {e:#}\n")),
        },
        _ => (404, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n".into()),
    }
}

/// Serves until `shutdown`.
pub async fn serve(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let Some(addr) = app.cfg.metrics.listen else { return };
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            warn!(%addr, error = %e, "cannot listen for metrics; continuing without");
            return;
        }
    };
    info!(%addr, "serving /metrics and /healthz");
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.changed() => return,
        };
        let Ok((mut stream, _)) = conn else { continue };
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n = match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let req = String::from_utf8_lossy(&buf[..n]);
            let mut words = req.split_whitespace();
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let (code, ctype, body) = if method == "GET" {
                respond(&app, path.split('?').next().unwrap_or("")).await
            } else {
                (405, "text/plain", "GET only\n".into())
            };
            let reason = match code {
                200 => "OK",
                404 => "Not Found",
                405 => "Method Not Allowed",
                503 => "Service Unavailable",
                _ => "Internal Server Error",
            };
            let head = format!(
                "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
            debug!(code, "metrics request");
        });
    }
}
