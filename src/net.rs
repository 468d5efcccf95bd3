//! Connections: TLS (rustls, ring) for IMAP, and the IMAP session setup.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::config::{ImapConfig, Tls};

/// Any byte stream an IMAP session can run over (plain TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

pub type ImapSession = async_imap::Session<Box<dyn Io>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A rustls client configuration that trusts the Mozilla roots, or only `ca_file` when given
/// (an internal CA for a municipality's own mail server).
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(p) => {
            for cert in CertificateDer::pem_file_iter(p).with_context(|| format!("cannot read CA file {}", p.display()))? {
                roots
                    .add(cert.with_context(|| format!("bad certificate in {}", p.display()))?)
                    .with_context(|| format!("unusable certificate in {}", p.display()))?;
            }
            if roots.is_empty() {
                bail!("CA file {} holds no certificate", p.display());
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let cfg = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

async fn tls_wrap(stream: TcpStream, host: &str, cfg: Arc<ClientConfig>) -> Result<Box<dyn Io>> {
    let name = ServerName::try_from(host.to_string()).with_context(|| format!("{host:?} is not a valid TLS server name"))?;
    let tls = TlsConnector::from(cfg)
        .connect(name, stream)
        .await
        .with_context(|| format!("TLS handshake with {host} failed"))?;
    Ok(Box::new(tls))
}

/// Reads the server greeting (`* OK ...`).
async fn greeting<T: Io>(client: &mut async_imap::Client<T>) -> Result<()> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => bail!("IMAP server closed the connection before its greeting"),
        Ok(Err(e)) => Err(anyhow!(e).context("reading IMAP greeting")),
        Err(_) => bail!("IMAP server sent no greeting within {}s", CONNECT_TIMEOUT.as_secs()),
    }
}

/// Connects, secures and logs in with the password.
pub async fn imap_connect(cfg: &ImapConfig, password: &str) -> Result<ImapSession> {
    let client = imap_open(cfg).await?;
    let session = tokio::time::timeout(CONNECT_TIMEOUT, client.login(&cfg.user, password))
        .await
        .map_err(|_| anyhow!("IMAP login timed out"))?
        .map_err(|(e, _)| anyhow!("IMAP login failed (check imap.user and the password): {e}"))?;
    Ok(session)
}

/// How an IMAP session logs in: `imap.auth`.
pub enum ImapLogin<'a> {
    Password(&'a str),
    OAuth2(&'a crate::oauth::Tokens),
}

/// Connects and logs in as `imap.auth` says. With OAuth2 it also returns the token used, so
/// the session can end before the token does; a refused token is forgotten (the next attempt
/// fetches a new one) and the error carries the advice for an admin.
pub async fn imap_login(cfg: &ImapConfig, login: &ImapLogin<'_>) -> Result<(ImapSession, Option<crate::oauth::Token>)> {
    let tokens = match login {
        ImapLogin::Password(p) => return Ok((imap_connect(cfg, p).await?, None)),
        ImapLogin::OAuth2(t) => t,
    };
    let token = tokens.get().await?;
    let client = imap_open(cfg).await?;
    let (mechanism, response) = match tokens.cfg.mechanism {
        crate::oauth::Mechanism::OauthBearer => (
            "OAUTHBEARER",
            crate::oauth::oauthbearer(&cfg.user, token.secret(), &cfg.host, cfg.port),
        ),
        _ => ("XOAUTH2", crate::oauth::xoauth2(&cfg.user, token.secret())),
    };
    let sasl = crate::oauth::Sasl::new(response);
    let challenge = std::sync::Arc::clone(&sasl.error);
    let session = tokio::time::timeout(CONNECT_TIMEOUT, client.authenticate(mechanism, sasl))
        .await
        .map_err(|_| anyhow!("IMAP AUTHENTICATE {mechanism} timed out"))?;
    match session {
        Ok(s) => Ok((s, Some(token))),
        Err((e, _)) => {
            tokens.refused(token.generation);
            let text = e.to_string();
            let challenge = challenge.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // Not the user's address: the daemon's log holds no personal data.
            bail!(
                "IMAP AUTHENTICATE {mechanism} as imap.user failed: {text}; {}",
                crate::oauth::advice::imap_login(&text, challenge.as_deref())
            )
        }
    }
}

/// Connects and secures the connection, up to the point of logging in.
async fn imap_open(cfg: &ImapConfig) -> Result<async_imap::Client<Box<dyn Io>>> {
    let addr = (cfg.host.as_str(), cfg.port);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connecting to IMAP {}:{} timed out", cfg.host, cfg.port))?
        .with_context(|| format!("cannot connect to IMAP {}:{}", cfg.host, cfg.port))?;
    tcp.set_nodelay(true).ok();
    let mut client = match cfg.tls {
        Tls::Implicit => {
            let mut c = async_imap::Client::new(tls_wrap(tcp, &cfg.host, tls_config(cfg.ca_file.as_deref())?).await?);
            greeting(&mut c).await?;
            c
        }
        Tls::StartTls => {
            let mut plain = async_imap::Client::new(tcp);
            greeting(&mut plain).await?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .context("the IMAP server refused STARTTLS (tls = \"starttls\")")?;
            async_imap::Client::new(tls_wrap(plain.into_inner(), &cfg.host, tls_config(cfg.ca_file.as_deref())?).await?)
        }
        Tls::None => {
            let mut c = async_imap::Client::new(Box::new(tcp) as Box<dyn Io>);
            greeting(&mut c).await?;
            c
        }
    };
    // Keep the borrow checker happy about the unused-mut in one arm.
    let _ = &mut client;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roots_load_and_bad_ca_file_is_named() {
        assert!(tls_config(None).is_ok());
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").expect("write");
        let e = tls_config(Some(&p)).expect_err("no cert");
        assert!(format!("{e:#}").contains("ca.pem"), "{e:#}");
    }
}
