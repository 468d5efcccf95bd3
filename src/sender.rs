//! The outbox sender: delivers queued mail over one reused SMTP session (`crate::smtp`: TCP_NODELAY, PIPELINING).
//!
//! Each attempt is counted (and the row's next due time pushed back) *before* the mail is
//! handed to SMTP, so a crash mid-send retries later rather than never, and at most the one
//! mail in flight can arrive twice. 4xx answers and connection failures are retried with
//! exponential backoff and jitter; 5xx answers mark the row failed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::app::App;
use crate::config::{SmtpConfig, Tls};
use crate::core::outbox::next_attempt;
use crate::smtp::{Security, Session};
use crate::store::OutboxRow;

/// How long connecting (TCP, TLS, greeting, EHLO, AUTH) and each SMTP reply may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection unused for longer than this is checked with NOOP before it is reused.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// How long closing a session politely (QUIT) may take.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// One reused SMTP session (`crate::smtp`: TCP_NODELAY, PIPELINING), opened on first use and
/// after a failure.
pub struct Transport {
    host: String,
    port: u16,
    security: Security,
    /// User and password (`smtp.auth` with a password).
    password: Option<(String, String)>,
    /// `smtp.auth = "oauth2"`: the token cache and the mailbox to log in as (XOAUTH2).
    oauth: Option<(Arc<crate::oauth::Tokens>, String)>,
    /// The name this host gives in EHLO.
    hello: String,
    /// The session, when it was last used, and the OAuth2 token generation it logged in with
    /// (a new token means a new session).
    conn: tokio::sync::Mutex<Option<(Session, std::time::Instant, u64)>>,
}

/// The name for EHLO: this host's name when it is a plain DNS name, else an address literal
/// (RFC 5321 4.1.4).
fn hello_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    if !name.is_empty() && name.len() <= 253 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        name.to_string()
    } else {
        "[127.0.0.1]".to_string()
    }
}

/// Builds the SMTP transport from the configuration.
pub fn transport(cfg: &SmtpConfig, password: Option<&str>, tokens: Option<Arc<crate::oauth::Tokens>>) -> Result<Transport> {
    let security = match cfg.tls {
        Tls::Implicit => Security::Implicit(crate::net::tls_config(cfg.ca_file.as_deref()).context("SMTP TLS parameters")?),
        Tls::StartTls => Security::StartTls(crate::net::tls_config(cfg.ca_file.as_deref()).context("SMTP TLS parameters")?),
        Tls::None => Security::None,
    };
    let password = match (&cfg.auth, password) {
        (Some((user, _)), Some(pw)) => Some((user.clone(), pw.to_string())),
        _ => None,
    };
    Ok(Transport {
        host: cfg.host.clone(),
        port: cfg.port,
        security,
        password,
        oauth: match (&cfg.oauth2_user, tokens) {
            (Some(user), Some(t)) => Some((t, user.clone())),
            (Some(_), None) => anyhow::bail!("smtp.auth = \"oauth2\" but no token provider was set up"),
            (None, _) => None,
        },
        hello: hello_name(),
        conn: tokio::sync::Mutex::new(None),
    })
}

impl Transport {
    /// Connects, logs in and quits: the SMTP step of `check-config --connect`.
    pub async fn check(&self) -> Result<(), String> {
        let token = self.token().await.map_err(|e| e.text())?;
        let c = self.connect(token.as_ref()).await.map_err(|e| e.text())?;
        c.quit(QUIT_TIMEOUT).await;
        Ok(())
    }
}

impl SendError {
    fn text(self) -> String {
        match self {
            SendError::Smtp(e) => e.to_string(),
            SendError::Connect(m) => m,
        }
    }
}

/// Why a send failed: the server's answer (4xx transient, 5xx permanent), or no connection.
enum SendError {
    Smtp(crate::smtp::Error),
    Connect(String),
}

impl Transport {
    /// The current OAuth2 token (fetched if due), as (mailbox, token), with its generation.
    async fn token(&self) -> Result<Option<(String, String, u64)>, SendError> {
        let Some((tokens, user)) = &self.oauth else { return Ok(None) };
        let t = tokens.get().await.map_err(|e| SendError::Connect(e.to_string()))?;
        Ok(Some((user.clone(), t.secret().to_string(), t.generation)))
    }

    async fn connect(&self, token: Option<&(String, String, u64)>) -> Result<Session, SendError> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let tcp = tokio::time::timeout(SMTP_TIMEOUT, tcp)
            .await
            .map_err(|_| SendError::Connect("connection timed out".into()))?
            .map_err(|e| SendError::Connect(format!("cannot connect: {e}")))?;
        let setup = async {
            let mut c = Session::start(tcp, &self.host, &self.hello, &self.security).await?;
            if let Some((user, pw)) = &self.password {
                c.login(user, pw).await?;
            }
            if let Some((user, secret, generation)) = token
                && let Err(e) = c.xoauth2(user, secret).await
            {
                // A refused token is not the mail's fault: forget the token, retry later.
                if let Some((tokens, _)) = &self.oauth {
                    tokens.refused(*generation);
                }
                let text = e.to_string();
                return Ok(Err(SendError::Connect(format!(
                    "SMTP AUTH XOAUTH2 failed: {text}; {}",
                    crate::oauth::advice::smtp_login(&text)
                ))));
            }
            Ok::<_, crate::smtp::Error>(Ok(c))
        };
        match tokio::time::timeout(SMTP_TIMEOUT, setup).await {
            Err(_) => Err(SendError::Connect("SMTP session setup timed out".into())),
            Ok(Err(e)) => Err(SendError::Connect(format!("SMTP session setup failed: {e}"))),
            Ok(Ok(r)) => r,
        }
    }

    /// Sends one mail over the reused session (connecting first when there is none or it
    /// went stale). A session that saw an error is closed; the next mail opens a new one.
    async fn send_raw(&self, from: &str, to: &[String], mime: &[u8]) -> Result<(), SendError> {
        let mut slot = self.conn.lock().await;
        let token = self.token().await?;
        let generation = token.as_ref().map_or(0, |t| t.2);
        if let Some((c, used, g)) = slot.as_mut()
            && (c.has_broken()
                || *g != generation
                || (used.elapsed() > IDLE_CHECK && !tokio::time::timeout(SMTP_TIMEOUT, c.test_connected()).await.unwrap_or(false)))
        {
            if *g != generation {
                debug!("OAuth2 token renewed: new SMTP connection");
            }
            if let Some((c, _, _)) = slot.take() {
                c.quit(QUIT_TIMEOUT).await;
            }
        }
        if slot.is_none() {
            *slot = Some((self.connect(token.as_ref()).await?, std::time::Instant::now(), generation));
        }
        let Some((c, used, _)) = slot.as_mut() else {
            return Err(SendError::Connect("no connection".into()));
        };
        let r = match tokio::time::timeout(SMTP_TIMEOUT, c.send(from, to, mime)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SendError::Smtp(e)),
            Err(_) => Err(SendError::Connect("SMTP server did not answer in time".into())),
        };
        *used = std::time::Instant::now();
        if r.is_err() {
            // Dropped without QUIT: the server ends the transaction it may have begun.
            *slot = None;
        }
        r
    }
}

enum Outcome {
    Sent,
    Transient(String),
    Permanent(String),
}

async fn send_one(t: &Transport, row: &OutboxRow) -> Outcome {
    if row.env_from.parse::<lettre::Address>().is_err() || row.env_to.iter().any(|a| a.parse::<lettre::Address>().is_err()) {
        return Outcome::Permanent("bad envelope address".into());
    }
    match t.send_raw(&row.env_from, &row.env_to, &row.mime).await {
        Ok(()) => Outcome::Sent,
        Err(SendError::Smtp(e)) if e.is_permanent() => Outcome::Permanent(e.to_string()),
        Err(SendError::Smtp(e)) => Outcome::Transient(e.to_string()),
        Err(SendError::Connect(e)) => Outcome::Transient(e),
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
/// While SMTP delivery fails, the sender tries again this often.
const SMTP_DOWN_PROBE: Duration = Duration::from_secs(5);

pub async fn run(app: Arc<App>, transport: Transport, mut shutdown: watch::Receiver<bool>) {
    let mut smtp_down = false;
    let mut failing = false;
    let mut moved = app.clock.changes();
    loop {
        if *shutdown.borrow() {
            return;
        }
        app.alive(crate::app::Task::Sender, Duration::from_secs(300));
        let sent = match pass(&app, &transport, &mut smtp_down, &shutdown).await {
            Ok(n) => {
                if failing {
                    failing = false;
                    info!("outbox passes work again");
                }
                n
            }
            Err(e) => {
                // Logged once per failure (a full disk fails every pass until it is freed).
                if !failing {
                    failing = true;
                    warn!(error = %format!("{e:#}"), condition = crate::app::Failure::of(&e).label(), "outbox pass failed; retrying");
                } else {
                    debug!(error = %format!("{e:#}"), "outbox pass still failing");
                }
                0
            }
        };
        if sent > 0 && !smtp_down {
            continue;
        }
        // While the server fails, try again every few seconds (only rows that are due), rather
        // than going through every due row at once.
        let wait = match app.store.next_outbox_due().await {
            _ if smtp_down => SMTP_DOWN_PROBE,
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
            // A test moved the clock: retries may be due now.
            _ = moved.changed() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Claims and sends due rows one at a time over a reused connection, recording each outcome
/// before the next claim, so that at most one mail per instance is ever in flight (and can be
/// repeated by a crash). At most 200 per pass, so the loop reports its heartbeat.
/// Stops between two mails when `shutdown` turns true. Returns how many were attempted.
async fn pass(app: &App, t: &Transport, smtp_down: &mut bool, shutdown: &watch::Receiver<bool>) -> Result<usize> {
    let instance = &app.cfg.database.instance;
    // Without a token nothing is claimed: no attempt is counted against a mail while the token
    // endpoint is down or an administrator must act.
    if let Err(SendError::Connect(e)) = t.token().await {
        if !*smtp_down {
            *smtp_down = true;
            warn!(error = %e, "no OAuth2 token for SMTP; outgoing mail waits");
        }
        return Ok(0);
    }
    let mut attempted = 0;
    // A mail sent whose outcome is recorded in the transaction that claims the next one.
    let mut sent: Option<i64> = None;
    while attempted < 200 && !*shutdown.borrow() {
        app.alive(crate::app::Task::Sender, Duration::from_secs(120));
        let now = app.now();
        let retry_at = move |attempt| next_attempt(now, attempt, rand::random::<f64>());
        let claimed = match sent.take() {
            Some(id) => app.store.outbox_sent_claim_next(id, now, instance, retry_at).await?,
            None => app.store.claim_next_outbox(now, instance, retry_at).await?,
        };
        let Some((row, attempt)) = claimed else {
            break;
        };
        attempted += 1;
        match send_one(t, &row).await {
            Outcome::Sent => {
                sent = Some(row.id);
                if *smtp_down {
                    *smtp_down = false;
                    info!("SMTP delivery recovered");
                }
                // One line per mail leaving, for an admin tailing the log: what it is about,
                // never to whom.
                info!(
                    outbox = row.id,
                    kind = %row.kind,
                    case = row.case_no.as_deref(),
                    meeting = row.meeting_id,
                    attempt,
                    "mail handed to SMTP"
                );
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
    if let Some(id) = sent {
        app.store.outbox_sent(id, app.now()).await?;
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
