//! The outbox sender: delivers queued mail with lettre over a pooled SMTP connection.
//!
//! Each attempt is counted (and the row's next due time pushed back) *before* the mail is
//! handed to SMTP, so a crash mid-send retries later rather than never, and at most the one
//! mail in flight can arrive twice. 4xx answers and connection failures are retried with
//! exponential backoff and jitter; 5xx answers mark the row failed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as LettreTls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::app::App;
use crate::config::{SmtpConfig, Tls};
use crate::core::outbox::next_attempt;
use crate::store::OutboxRow;

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Builds the SMTP transport from the configuration.
pub fn transport(cfg: &SmtpConfig, password: Option<&str>) -> Result<Transport> {
    let tls_params = || -> Result<TlsParameters> {
        let mut b = TlsParameters::builder(cfg.host.clone());
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read smtp.ca_file {}", ca.display()))?;
            b = b.add_root_certificate(Certificate::from_pem(&pem).with_context(|| format!("bad certificate in {}", ca.display()))?);
        }
        b.build_rustls().context("SMTP TLS parameters")
    };
    let tls = match cfg.tls {
        Tls::Implicit => LettreTls::Wrapper(tls_params()?),
        Tls::StartTls => LettreTls::Required(tls_params()?),
        Tls::None => LettreTls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(60)))
        .pool_config(PoolConfig::new().max_size(1));
    if let (Some((user, _)), Some(pw)) = (&cfg.auth, password) {
        b = b.credentials(Credentials::new(user.clone(), pw.to_string()));
    }
    Ok(b.build())
}

enum Outcome {
    Sent,
    Transient(String),
    Permanent(String),
}

async fn send_one(t: &Transport, row: &OutboxRow) -> Outcome {
    let envelope = match (
        row.env_from.parse::<Address>(),
        row.env_to.iter().map(|a| a.parse::<Address>()).collect::<Result<Vec<_>, _>>(),
    ) {
        (Ok(from), Ok(to)) => match Envelope::new(Some(from), to) {
            Ok(e) => e,
            Err(e) => return Outcome::Permanent(format!("bad envelope: {e}")),
        },
        _ => return Outcome::Permanent("bad envelope address".into()),
    };
    match t.send_raw(&envelope, &row.mime).await {
        Ok(_) => Outcome::Sent,
        Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
        Err(e) => Outcome::Transient(e.to_string()),
    }
}

/// The SMTP code at the start of an error text, for logs (the full text may name addresses and
/// stays in the database).
fn code_of(err: &str) -> String {
    err.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 3)
        .unwrap_or("none")
        .to_string()
}

/// Runs the sender until `shutdown`: sends what is due, then sleeps until the next due row,
/// a wake-up from intake, or shutdown.
pub async fn run(app: Arc<App>, transport: Transport, mut shutdown: watch::Receiver<bool>) {
    let mut smtp_down = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        app.alive(crate::app::Task::Sender, Duration::from_secs(300));
        let sent = match pass(&app, &transport, &mut smtp_down, &shutdown).await {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %format!("{e:#}"), "outbox pass failed; retrying");
                0
            }
        };
        if sent > 0 {
            continue;
        }
        let wait = match app.store.next_outbox_due().await {
            Ok(Some(t)) => (t - app.now()).to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(60)),
            Ok(None) => Duration::from_secs(60),
            Err(_) => Duration::from_secs(5),
        };
        if wait.is_zero() {
            // Due rows exist but none could be claimed this pass; avoid spinning.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        app.alive(crate::app::Task::Sender, wait);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = app.outbox_wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends the due rows one at a time over a reused connection, recording each outcome before
/// the next send, so that at most one mail is ever in flight (and can be repeated by a crash).
/// Stops between two mails when `shutdown` turns true. Returns how many were attempted.
async fn pass(app: &App, t: &Transport, smtp_down: &mut bool, shutdown: &watch::Receiver<bool>) -> Result<usize> {
    let due = app.store.due_outbox(app.now(), 200).await?;
    let mut attempted = 0;
    for row in due {
        if *shutdown.borrow() {
            break;
        }
        app.alive(crate::app::Task::Sender, Duration::from_secs(120));
        let retry_at = next_attempt(app.now(), row.attempts + 1, rand::random::<f64>());
        let attempt = app.store.claim_outbox(row.id, retry_at).await?;
        attempted += 1;
        match send_one(t, &row).await {
            Outcome::Sent => {
                app.store.outbox_sent(row.id, app.now()).await?;
                if *smtp_down {
                    *smtp_down = false;
                    info!("SMTP delivery recovered");
                }
                debug!(outbox = row.id, kind = %row.kind, "mail sent");
            }
            Outcome::Permanent(e) => {
                app.store.outbox_failed(row.id, &e, true).await?;
                warn!(outbox = row.id, kind = %row.kind, code = %code_of(&e), "mail rejected permanently; marked failed");
                crate::answers::on_send_failure(app, row.id, app.now()).await?;
            }
            Outcome::Transient(e) => {
                let give_up = attempt >= app.cfg.daemon.max_send_attempts;
                app.store.outbox_failed(row.id, &e, give_up).await?;
                if give_up {
                    warn!(outbox = row.id, kind = %row.kind, attempts = attempt, "mail could not be sent; giving up");
                    crate::answers::on_send_failure(app, row.id, app.now()).await?;
                } else if !*smtp_down {
                    *smtp_down = true;
                    warn!(code = %code_of(&e), "SMTP delivery failing; will retry with backoff");
                }
                // The server is refusing or unreachable: leave the rest for their own retry.
                break;
            }
        }
    }
    Ok(attempted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_code_is_extracted_without_the_text() {
        assert_eq!(code_of("permanent error (550): 5.1.1 <x@y>: Recipient address rejected"), "550");
        assert_eq!(code_of("connection refused"), "none");
    }
}
