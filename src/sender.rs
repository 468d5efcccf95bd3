//! The outbox sender: delivers queued mail with lettre over one reused SMTP connection (TCP_NODELAY).
//!
//! Each attempt is counted (and the row's next due time pushed back) *before* the mail is
//! handed to SMTP, so a crash mid-send retries later rather than never, and at most the one
//! mail in flight can arrive twice. 4xx answers and connection failures are retried with
//! exponential backoff and jitter; 5xx answers mark the row failed.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::app::App;
use crate::config::{SmtpConfig, Tls};
use crate::core::outbox::next_attempt;
use crate::store::OutboxRow;

/// How long connecting (TCP, TLS, greeting, EHLO, AUTH) and each SMTP reply may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection unused for longer than this is checked with NOOP before it is reused.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// One reused SMTP connection, opened on first use and after a failure.
///
/// lettre's pooled `AsyncSmtpTransport` cannot set TCP_NODELAY, and lettre writes a message and
/// its terminating `CRLF.CRLF` in two writes: with Nagle's algorithm the second waits for the
/// server's delayed ACK (40 ms on Linux), which capped the sender at about 22 mails/s. The
/// connection is therefore made here (TCP_NODELAY, as the IMAP side does) and handed to lettre's
/// `AsyncSmtpConnection`, which still speaks the protocol (EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA).
pub struct Transport {
    host: String,
    port: u16,
    tls: Tls,
    /// STARTTLS (lettre upgrades the connection).
    starttls: Option<TlsParameters>,
    /// Implicit TLS (tokio-rustls, the same trust as the IMAP side).
    implicit: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    credentials: Option<Credentials>,
    hello: ClientId,
    conn: tokio::sync::Mutex<Option<(AsyncSmtpConnection, std::time::Instant)>>,
}

/// Builds the SMTP transport from the configuration.
pub fn transport(cfg: &SmtpConfig, password: Option<&str>) -> Result<Transport> {
    let (starttls, implicit) = match cfg.tls {
        Tls::Implicit => (
            None,
            Some(crate::net::tls_config(cfg.ca_file.as_deref()).context("SMTP TLS parameters")?),
        ),
        Tls::StartTls => {
            let mut b = TlsParameters::builder(cfg.host.clone());
            if let Some(ca) = &cfg.ca_file {
                let pem = std::fs::read(ca).with_context(|| format!("cannot read smtp.ca_file {}", ca.display()))?;
                b = b.add_root_certificate(Certificate::from_pem(&pem).with_context(|| format!("bad certificate in {}", ca.display()))?);
            }
            (Some(b.build_rustls().context("SMTP TLS parameters")?), None)
        }
        Tls::None => (None, None),
    };
    let credentials = match (&cfg.auth, password) {
        (Some((user, _)), Some(pw)) => Some(Credentials::new(user.clone(), pw.to_string())),
        _ => None,
    };
    Ok(Transport {
        host: cfg.host.clone(),
        port: cfg.port,
        tls: cfg.tls,
        starttls,
        implicit,
        credentials,
        hello: ClientId::default(),
        conn: tokio::sync::Mutex::new(None),
    })
}

/// Why a send failed: the server's answer (lettre classifies 4xx/5xx), or no connection.
enum SendError {
    Smtp(lettre::transport::smtp::Error),
    Connect(String),
}

/// Implicit TLS over a TCP_NODELAY socket, as lettre's stream trait wants it.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl tokio::io::AsyncRead for TlsTcp {
    fn poll_read(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsTcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl Transport {
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let tcp = tokio::time::timeout(SMTP_TIMEOUT, tcp)
            .await
            .map_err(|_| SendError::Connect("connection timed out".into()))?
            .map_err(|e| SendError::Connect(format!("cannot connect: {e}")))?;
        tcp.set_nodelay(true).ok();
        let stream: Box<dyn AsyncTokioStream> = match (&self.tls, &self.implicit) {
            (Tls::Implicit, Some(cfg)) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| SendError::Connect(format!("bad TLS server name: {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(cfg)).connect(name, tcp);
                let tls = tokio::time::timeout(SMTP_TIMEOUT, tls)
                    .await
                    .map_err(|_| SendError::Connect("TLS handshake timed out".into()))?
                    .map_err(|e| SendError::Connect(format!("TLS handshake failed: {e}")))?;
                Box::new(TlsTcp(tls))
            }
            _ => Box::new(tcp),
        };
        let setup = async {
            let mut c = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
            if let Some(p) = &self.starttls {
                c.starttls(p.clone(), &self.hello).await?;
            }
            if let Some(creds) = &self.credentials {
                c.auth(&[Mechanism::Plain, Mechanism::Login], creds).await?;
            }
            Ok::<_, lettre::transport::smtp::Error>(c)
        };
        tokio::time::timeout(SMTP_TIMEOUT, setup)
            .await
            .map_err(|_| SendError::Connect("SMTP session setup timed out".into()))?
            .map_err(SendError::Smtp)
    }

    /// Sends one mail over the reused connection (connecting first when there is none or it
    /// went stale). A connection that saw an error is closed; the next mail opens a new one.
    async fn send_raw(&self, envelope: &Envelope, mime: &[u8]) -> Result<(), SendError> {
        let mut slot = self.conn.lock().await;
        if let Some((c, used)) = slot.as_mut()
            && (c.has_broken() || (used.elapsed() > IDLE_CHECK && !c.test_connected().await))
        {
            c.abort().await;
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some((self.connect().await?, std::time::Instant::now()));
        }
        let Some((c, used)) = slot.as_mut() else {
            return Err(SendError::Connect("no connection".into()));
        };
        let r = match tokio::time::timeout(SMTP_TIMEOUT, c.send(envelope, mime)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SendError::Smtp(e)),
            Err(_) => Err(SendError::Connect("SMTP server did not answer in time".into())),
        };
        *used = std::time::Instant::now();
        if r.is_err() {
            c.abort().await;
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
    let mut attempted = 0;
    // A mail sent whose outcome is recorded in the transaction that claims the next one.
    let mut sent: Option<i64> = None;
    while attempted < 200 && !*shutdown.borrow() {
        app.alive(crate::app::Task::Sender, Duration::from_secs(120));
        let now = app.now();
        let retry_at = |attempt| next_attempt(now, attempt, rand::random::<f64>());
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
