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
use sqlx::Row;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::app::App;
use crate::core::time::{db, from_db};

/// The text of `/metrics`.
pub async fn render(app: &App, now: DateTime<Utc>) -> Result<String> {
    // One read transaction: every figure from the same snapshot (a scrape during a commit
    // must not count a case whose mail it does not count).
    let mut snap = app.store.read_snapshot().await?;
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP samverkan_{name} {help}\n# TYPE samverkan_{name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(out, "samverkan_{name}{labels} {v}");
        }
    };
    let grouped = |rows: Vec<sqlx::any::AnyRow>, label: &str| -> Vec<(String, f64)> {
        rows.iter()
            .map(|r| (format!("{{{label}=\"{}\"}}", r.get::<String, _>(0)), r.get::<i64, _>(1) as f64))
            .collect()
    };
    metric(
        "mails_read_total",
        "Mails read from the mailbox, by kind.",
        "counter",
        grouped(
            sqlx::query("SELECT kind, count(*) FROM intake GROUP BY kind ORDER BY kind")
                .fetch_all(&mut *snap)
                .await?,
            "kind",
        ),
    );
    metric(
        "mail_outcomes_total",
        "Mails read, by what was done (case_created, case_incomplete, no_parts, not_member, reply_applied, ...).",
        "counter",
        grouped(
            sqlx::query("SELECT outcome, count(*) FROM intake GROUP BY outcome ORDER BY outcome")
                .fetch_all(&mut *snap)
                .await?,
            "outcome",
        ),
    );
    metric(
        "cases",
        "Cases, by status.",
        "gauge",
        grouped(
            sqlx::query("SELECT status, count(*) FROM cases GROUP BY status ORDER BY status")
                .fetch_all(&mut *snap)
                .await?,
            "status",
        ),
    );
    metric(
        "mails_sent_total",
        "Mails sent, by kind (receipt, invitation, reminder, ...).",
        "counter",
        grouped(
            sqlx::query("SELECT kind, count(*) FROM outbox WHERE status = 'sent' GROUP BY kind ORDER BY kind")
                .fetch_all(&mut *snap)
                .await?,
            "kind",
        ),
    );
    let (pending, failed): (i64, i64) =
        sqlx::query_as("SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed') FROM outbox")
            .fetch_one(&mut *snap)
            .await?;
    let oldest: Option<String> = sqlx::query_scalar("SELECT min(created_at) FROM outbox WHERE status = 'pending'")
        .fetch_one(&mut *snap)
        .await?;
    let oldest_age = oldest
        .as_deref()
        .and_then(from_db)
        .map_or(0.0, |t| (now - t).num_seconds().max(0) as f64);
    metric(
        "outbox_pending",
        "Mails waiting in the outbox.",
        "gauge",
        vec![(String::new(), pending as f64)],
    );
    metric(
        "outbox_failed",
        "Mails given up on (5xx, or retries exhausted).",
        "gauge",
        vec![(String::new(), failed as f64)],
    );
    metric(
        "outbox_oldest_pending_seconds",
        "Age of the oldest mail waiting in the outbox.",
        "gauge",
        vec![(String::new(), oldest_age)],
    );
    let syncs = sqlx::query("SELECT mailbox, last_sync_at FROM mailbox_state ORDER BY mailbox")
        .fetch_all(&mut *snap)
        .await?;
    metric(
        "last_sync_timestamp_seconds",
        "When the mailbox was last read completely (Unix time).",
        "gauge",
        syncs
            .iter()
            .map(|r| {
                let t = from_db(&r.get::<String, _>(1)).map_or(0.0, |t| t.timestamp() as f64);
                (
                    format!("{{mailbox=\"{}\"}}", r.get::<String, _>(0).replace(['"', '\\', '\n'], "_")),
                    t,
                )
            })
            .collect(),
    );
    let quarantined: i64 = sqlx::query_scalar("SELECT count(*) FROM intake WHERE destination = 'quarantine'")
        .fetch_one(&mut *snap)
        .await?;
    metric(
        "quarantined",
        "Mails moved to the quarantine folder.",
        "gauge",
        vec![(String::new(), quarantined as f64)],
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
    let overdue = sqlx::query(
        "SELECT kind, count(*) FROM obligations WHERE closed_at = '' AND ((remind_at != '' AND remind_at <= $1) OR (escalate_at != '' AND escalate_at <= $1))
         GROUP BY kind ORDER BY kind",
    )
    .bind(db(now))
    .fetch_all(&mut *snap)
    .await?;
    metric(
        "obligations_overdue",
        "Open obligations past their reminder or escalation time, by kind.",
        "gauge",
        grouped(overdue, "kind"),
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
    let pool = app.store.pool();
    let mut out = Vec::new();
    let last: Option<String> = sqlx::query_scalar("SELECT max(last_sync_at) FROM mailbox_state")
        .fetch_one(pool)
        .await?;
    let max_sync = chrono::Duration::from_std(app.cfg.metrics.max_sync_age).unwrap_or(chrono::Duration::minutes(15));
    match last.as_deref().and_then(from_db) {
        Some(t) if now - t <= max_sync => {}
        Some(t) => out.push(format!("the mailbox has not been read for {} s", (now - t).num_seconds())),
        None => out.push("the mailbox has not been read yet".into()),
    }
    let oldest: Option<String> = sqlx::query_scalar("SELECT min(created_at) FROM outbox WHERE status = 'pending'")
        .fetch_one(pool)
        .await?;
    let max_outbox = chrono::Duration::from_std(app.cfg.metrics.max_outbox_age).unwrap_or(chrono::Duration::hours(1));
    if let Some(t) = oldest.as_deref().and_then(from_db)
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
