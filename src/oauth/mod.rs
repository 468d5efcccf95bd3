//! OAuth2 login for IMAP and SMTP (the shell only: nothing under `core` knows about tokens).
//!
//! One [`Tokens`] per `[oauth2]` block, shared by intake and the sender: a token is fetched on
//! first use, renewed ahead of its expiry by [`run`], retried with backoff while the token
//! endpoint is down. An answer that only an administrator can fix (`invalid_client`, an
//! expired secret, a revoked grant, the AADSTS codes behind them) puts the provider in the
//! "admin action needed" state: `/healthz`, `/metrics` and `samverkan status` show it and one
//! warn line says what to fix. Tokens, secrets and assertions never reach a log.

pub mod advice;
pub mod diagnose;
pub mod jwt;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl};
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use crate::config::oauth::{Credential, Mechanism, OAuthConfig, Provider};

/// An access token and when it runs out. `Debug` never shows the token.
#[derive(Clone)]
pub struct Token {
    secret: String,
    /// When the token expires.
    pub expires_at: tokio::time::Instant,
    /// When it should be replaced (ahead of expiry).
    pub renew_at: tokio::time::Instant,
    /// Counts the tokens fetched: a connection made with generation n is rebuilt once n changes.
    pub generation: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(generation {})", self.generation)
    }
}

impl Token {
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

/// What an administrator must fix before tokens can be had again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAction {
    /// The OAuth2 error code and the AADSTS code where there is one, e.g. `invalid_client AADSTS7000222`.
    pub code: String,
    /// What to do, in words an Exchange or Workspace admin understands.
    pub advice: String,
    pub since: DateTime<Utc>,
}

impl std::fmt::Display for AdminAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OAuth2 login needs an administrator ({}): {}", self.code, self.advice)
    }
}

/// Why no token could be had.
#[derive(Debug)]
pub enum TokenError {
    /// Only an administrator can fix this (wrong or expired secret, revoked grant, ...).
    Admin(AdminAction),
    /// The endpoint is down, slow or answered something odd: try again later.
    Transient(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Admin(a) => a.fmt(f),
            TokenError::Transient(m) => write!(f, "no OAuth2 token (will retry): {m}"),
        }
    }
}

impl std::error::Error for TokenError {}

/// The token cache of one provider block.
pub struct Tokens {
    pub cfg: OAuthConfig,
    /// The mailbox the tokens act for (the SASL user; `sub` for Google).
    pub mailbox: String,
    http: oauth2::reqwest::Client,
    current: watch::Sender<Option<Token>>,
    fetching: tokio::sync::Mutex<()>,
    generation: std::sync::atomic::AtomicU64,
    admin: std::sync::Mutex<Option<AdminAction>>,
    /// Set while the token endpoint cannot be reached (logged once when it starts and ends).
    endpoint_down: std::sync::atomic::AtomicBool,
    /// Where the device flow's refresh token lives and the admin state is published for `status`.
    store: Option<crate::store::Store>,
}

/// How long before expiry a token is replaced: `renew_before`, at most a third of its life.
pub fn renew_margin(lifetime: Duration, renew_before: Duration) -> Duration {
    renew_before.min(lifetime / 3)
}

/// The HTTP client for token requests: rustls with ring, no redirects (RFC 6749 §3.2), a CA
/// file when configured.
fn http_client(cfg: &OAuthConfig) -> Result<oauth2::reqwest::Client> {
    let mut b = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10));
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read oauth2.ca_file {}", ca.display()))?;
        for c in oauth2::reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("bad certificate in oauth2.ca_file {}", ca.display()))?
        {
            b = b.add_root_certificate(c);
        }
    }
    b.build().context("building the HTTP client for the token endpoint")
}

impl Tokens {
    pub fn new(cfg: OAuthConfig, mailbox: String, store: Option<crate::store::Store>) -> Result<Tokens> {
        Ok(Tokens {
            http: http_client(&cfg)?,
            cfg,
            mailbox,
            current: watch::channel(None).0,
            fetching: tokio::sync::Mutex::new(()),
            generation: Default::default(),
            admin: Default::default(),
            endpoint_down: Default::default(),
            store,
        })
    }

    /// The provider for a configuration's `[oauth2]`, acting for the OAuth2 mailbox.
    pub fn for_config(cfg: &crate::config::Config, store: Option<crate::store::Store>) -> Result<Option<Tokens>> {
        let Some(o) = &cfg.oauth2 else { return Ok(None) };
        let mailbox = match (&cfg.imap.oauth2, &cfg.smtp.oauth2_user) {
            (true, _) => cfg.imap.user.clone(),
            (false, Some(u)) => u.clone(),
            (false, None) => return Ok(None),
        };
        Tokens::new(o.clone(), mailbox, store).map(Some)
    }

    /// The admin-action state, if set.
    pub fn admin_action(&self) -> Option<AdminAction> {
        self.admin.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A token with some life left: the cached one, or a new one.
    pub async fn get(&self) -> Result<Token, TokenError> {
        if let Some(t) = self.usable() {
            return Ok(t);
        }
        let _guard = self.fetching.lock().await;
        if let Some(t) = self.usable() {
            return Ok(t);
        }
        self.fetch().await
    }

    /// The cached token, unless it is due for renewal.
    fn usable(&self) -> Option<Token> {
        let now = tokio::time::Instant::now();
        self.current.borrow().as_ref().filter(|t| now < t.renew_at).cloned()
    }

    /// Waits until a token newer than `generation` is there.
    pub async fn changed(&self) {
        let mut rx = self.current.subscribe();
        rx.borrow_and_update();
        let _ = rx.changed().await;
    }

    /// Until when a session logged in with `used` may go on (`None`: end it now and log in
    /// again). Past the token's renewal time it ends as soon as a newer token is there, and
    /// at the latest two seconds before the token expires.
    pub async fn session_deadline(&self, used: &Token) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        if now < used.renew_at {
            return Some(used.renew_at);
        }
        let hard = used.expires_at.checked_sub(Duration::from_secs(2)).unwrap_or(used.expires_at);
        if now >= hard {
            return None;
        }
        match self.get().await {
            Ok(t) if t.generation != used.generation => None,
            _ => Some(hard.min(now + Duration::from_secs(5))),
        }
    }

    /// The server refused token `generation`: forget it, so the next [`get`](Self::get) fetches
    /// a new one (unless a newer one is already there).
    pub fn refused(&self, generation: u64) {
        self.current.send_if_modified(|c| match c {
            Some(t) if t.generation == generation => {
                *c = None;
                true
            }
            _ => false,
        });
    }

    async fn fetch(&self) -> Result<Token, TokenError> {
        let started = tokio::time::Instant::now();
        let result = self.request().await;
        match result {
            Ok(resp) => {
                let lifetime = resp.expires_in().unwrap_or(Duration::from_secs(3600)).max(Duration::from_secs(3));
                let generation = self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let token = Token {
                    secret: resp.access_token().secret().clone(),
                    expires_at: started + lifetime,
                    renew_at: started + lifetime - renew_margin(lifetime, self.cfg.renew_before),
                    generation,
                };
                if let Some(r) = resp.refresh_token() {
                    self.save_refresh_token(r.secret())
                        .await
                        .map_err(|e| TokenError::Transient(format!("{e:#}")))?;
                }
                info!(
                    provider = self.cfg.provider.name(),
                    generation,
                    expires_in_s = lifetime.as_secs(),
                    "OAuth2 token renewed"
                );
                if self.endpoint_down.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    info!(provider = self.cfg.provider.name(), "OAuth2 token endpoint answers again");
                }
                self.set_admin(None).await;
                self.current.send_replace(Some(token.clone()));
                Ok(token)
            }
            Err(TokenError::Admin(a)) => {
                self.set_admin(Some(a.clone())).await;
                Err(TokenError::Admin(a))
            }
            Err(TokenError::Transient(m)) => {
                if !self.endpoint_down.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    warn!(provider = self.cfg.provider.name(), error = %m, "OAuth2 token renewal failing; retrying with backoff (mail waits, nothing is lost)");
                } else {
                    debug!(error = %m, "OAuth2 token renewal still failing");
                }
                Err(TokenError::Transient(m))
            }
        }
    }

    async fn set_admin(&self, a: Option<AdminAction>) {
        let changed = {
            let mut cur = self.admin.lock().unwrap_or_else(|p| p.into_inner());
            let changed = cur.as_ref().map(|c| &c.code) != a.as_ref().map(|c| &c.code);
            if changed {
                *cur = a.clone();
            }
            changed
        };
        if !changed {
            return;
        }
        match &a {
            Some(a) => {
                warn!(provider = self.cfg.provider.name(), code = %a.code, advice = %a.advice, "OAuth2: admin action needed; mail waits (nothing is lost) and the token is asked for again every few minutes")
            }
            None => info!(provider = self.cfg.provider.name(), "OAuth2: tokens are issued again"),
        }
        if let Some(store) = &self.store {
            let state = a.as_ref().map(|a| (a.to_string(), a.since));
            if let Err(e) = store.set_oauth_admin_action(self.cfg.provider.name(), state).await {
                debug!(error = %format!("{e:#}"), "could not record the OAuth2 state for `status`");
            }
        }
    }

    /// `samverkan auth login`: the device authorization grant (RFC 8628). Shows the URL and
    /// code once through `show`, waits for the sign-in, and stores the refresh token.
    pub async fn device_login(&self, show: impl Fn(String)) -> Result<()> {
        let cfg = &self.cfg;
        if cfg.provider != Provider::Device {
            anyhow::bail!(
                "`samverkan auth login` is for oauth2.provider = \"device\", not {:?}",
                cfg.provider.name()
            );
        }
        let device_url = cfg
            .device_authorization_url
            .clone()
            .ok_or_else(|| anyhow!("oauth2.device_authorization_url is needed"))?;
        let mut client = BasicClient::new(ClientId::new(cfg.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::new(cfg.token_url.clone()).context("oauth2.token_url")?)
            .set_device_authorization_url(oauth2::DeviceAuthorizationUrl::new(device_url).context("oauth2.device_authorization_url")?);
        if let Credential::Secret(s) = &cfg.credential {
            client = client.set_client_secret(ClientSecret::new(s.resolve().map_err(|e| anyhow!("oauth2.client_secret: {e}"))?));
        }
        let details: oauth2::StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scope(Scope::new(cfg.scope.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| anyhow!("the device authorization endpoint refused: {}", describe(&e)))?;
        show(format!(
            "To let samverkan read and send as {}, open {} in a browser, sign in as that mailbox (or its delegate) and enter the code {}",
            self.mailbox,
            details.verification_uri().as_str(),
            details.user_code().secret()
        ));
        let token = client
            .exchange_device_access_token(&details)
            .request_async(&self.http, tokio::time::sleep, None)
            .await
            .map_err(|e| anyhow!("the sign-in did not complete: {}", describe(&e)))?;
        let refresh = token
            .refresh_token()
            .ok_or_else(|| anyhow!("the server gave no refresh token: add offline_access to oauth2.scope"))?;
        self.save_refresh_token(refresh.secret()).await?;
        self.set_admin(None).await;
        Ok(())
    }

    async fn save_refresh_token(&self, token: &str) -> Result<()> {
        if self.cfg.provider != Provider::Device {
            return Ok(());
        }
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| anyhow!("no database to keep the refresh token in"))?;
        store.set_oauth_refresh_token(self.cfg.provider.name(), token).await
    }

    /// One token request, by the provider's grant.
    async fn request(&self) -> Result<BasicTokenResponse, TokenError> {
        let cfg = &self.cfg;
        let now = Utc::now().timestamp();
        let secret = |s: &crate::config::SecretSource, key: &str| {
            s.resolve().map_err(|e| {
                TokenError::Admin(AdminAction {
                    code: "secret_unreadable".into(),
                    advice: format!("oauth2.{key}: {e}"),
                    since: Utc::now(),
                })
            })
        };
        let token_url = TokenUrl::new(cfg.token_url.clone()).map_err(|e| TokenError::Transient(format!("oauth2.token_url: {e}")))?;
        let client = BasicClient::new(ClientId::new(cfg.client_id.clone()))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::RequestBody);
        let scope = Scope::new(cfg.scope.clone());
        let answer = match (&cfg.provider, &cfg.credential) {
            (Provider::Google, Credential::ServiceAccount(src)) => {
                let text = secret(src, "service_account")?;
                let sa: jwt::ServiceAccount = serde_json::from_str(&text).map_err(|e| {
                    admin(
                        "service_account_unusable",
                        format!("oauth2.service_account: not a service account JSON key: {e}"),
                    )
                })?;
                let key = jwt::SigningKey::from_pem(&sa.private_key)
                    .map_err(|e| admin("service_account_unusable", format!("oauth2.service_account: {e:#}")))?;
                let assertion = jwt::bearer_assertion(&sa, &key, &self.mailbox, &cfg.scope, &cfg.token_url, now)
                    .map_err(|e| TokenError::Transient(format!("{e:#}")))?;
                return self.jwt_bearer(&assertion).await;
            }
            (Provider::Device, _) => {
                let Some(store) = &self.store else {
                    return Err(admin(
                        "no_refresh_token",
                        "the device flow needs the database for its refresh token".into(),
                    ));
                };
                let refresh = store
                    .oauth_refresh_token(cfg.provider.name())
                    .await
                    .map_err(|e| TokenError::Transient(format!("{e:#}")))?
                    .ok_or_else(|| {
                        admin(
                            "no_refresh_token",
                            "no one has signed in yet: run `samverkan auth login` once".into(),
                        )
                    })?;
                let mut client = client;
                if let Credential::Secret(s) = &cfg.credential {
                    client = client.set_client_secret(ClientSecret::new(secret(s, "client_secret")?));
                }
                client
                    .exchange_refresh_token(&RefreshToken::new(refresh))
                    .add_scope(scope)
                    .request_async(&self.http)
                    .await
            }
            (_, Credential::Secret(s)) => {
                client
                    .set_client_secret(ClientSecret::new(secret(s, "client_secret")?))
                    .exchange_client_credentials()
                    .add_scope(scope)
                    .request_async(&self.http)
                    .await
            }
            (_, Credential::Certificate { key, thumbprint }) => {
                let pem = secret(key, "private_key")?;
                let key =
                    jwt::SigningKey::from_pem(&pem).map_err(|e| admin("private_key_unusable", format!("oauth2.private_key: {e:#}")))?;
                let assertion = jwt::client_assertion(&key, thumbprint, &cfg.client_id, &cfg.token_url, now)
                    .map_err(|e| TokenError::Transient(format!("{e:#}")))?;
                client
                    .exchange_client_credentials()
                    .add_scope(scope)
                    .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                    .add_extra_param("client_assertion", assertion)
                    .request_async(&self.http)
                    .await
            }
            (_, _) => {
                client
                    .exchange_client_credentials()
                    .add_scope(scope)
                    .request_async(&self.http)
                    .await
            }
        };
        answer.map_err(classify)
    }

    /// The JWT bearer grant (RFC 7523 §2.1), which the oauth2 crate has no request type for.
    async fn jwt_bearer(&self, assertion: &str) -> Result<BasicTokenResponse, TokenError> {
        let resp = self
            .http
            .post(&self.cfg.token_url)
            .header("Accept", "application/json")
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion),
            ])
            .send()
            .await
            .map_err(|e| TokenError::Transient(format!("token endpoint: {}", e.without_url())))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TokenError::Transient(format!("token endpoint: {}", e.without_url())))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| TokenError::Transient(format!("token endpoint answered no token: {e}")));
        }
        match serde_json::from_slice::<BasicErrorResponse>(&body) {
            Ok(err) => Err(classify::<std::convert::Infallible>(RequestTokenError::ServerResponse(err))),
            Err(_) => Err(TokenError::Transient(format!("token endpoint answered HTTP {status}"))),
        }
    }
}

/// A token request's failure, without anything secret: the server's error and description,
/// or the transport's error chain.
fn describe<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(e: &RequestTokenError<RE, T>) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => r.to_string(),
        other => {
            let mut chain = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                src = s.source();
            }
            chain
        }
    }
}

fn admin(code: &str, advice: String) -> TokenError {
    TokenError::Admin(AdminAction {
        code: code.into(),
        advice,
        since: Utc::now(),
    })
}

/// Sorts a token endpoint's answer into "an administrator must act" and "try again".
fn classify<E: std::error::Error + 'static>(e: RequestTokenError<E, BasicErrorResponse>) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let error = r.error().to_string();
            let description = r.error_description().map(String::as_str).unwrap_or("");
            match advice::token_error(&error, description) {
                Some((code, text)) => admin(&code, text),
                None => TokenError::Transient(format!("token endpoint answered {error}")),
            }
        }
        // The request error may carry the URL (no secret in it: secrets travel in the body).
        e @ RequestTokenError::Request(_) => TokenError::Transient(format!("token endpoint unreachable: {}", describe(&e))),
        RequestTokenError::Parse(_, _) => TokenError::Transient("token endpoint answered something that is not a token".into()),
        RequestTokenError::Other(m) => TokenError::Transient(format!("token endpoint: {m}")),
    }
}

/// Keeps the token fresh until `shutdown`: renews it ahead of expiry, retries with backoff
/// (1 s doubling to a minute) while the endpoint is down, and every five minutes while an
/// administrator must act (a fixed secret file is read again on each try).
pub async fn run(tokens: Arc<Tokens>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match tokens.get().await {
            Ok(t) => {
                backoff = Duration::from_secs(1);
                t.renew_at.saturating_duration_since(tokio::time::Instant::now())
            }
            Err(TokenError::Admin(_)) => Duration::from_secs(300),
            Err(TokenError::Transient(_)) => {
                let w = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                w
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The XOAUTH2 initial response (before base64): `user=` the mailbox, the bearer token.
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// The OAUTHBEARER initial response (RFC 7628, before base64).
pub fn oauthbearer(user: &str, token: &str, host: &str, port: u16) -> String {
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
}

/// Answers the server's challenges during IMAP `AUTHENTICATE`: the initial response first,
/// then an empty line to the server's error challenge, as the mechanisms require.
pub struct Sasl {
    first: Option<String>,
    /// The server's error challenge (base64-decoded JSON), kept for the diagnosis.
    pub error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Sasl {
    pub fn new(response: String) -> Sasl {
        Sasl {
            first: Some(response),
            error: Default::default(),
        }
    }
}

impl async_imap::Authenticator for Sasl {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        match self.first.take() {
            Some(r) => r,
            None => {
                *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(String::from_utf8_lossy(challenge).into_owned());
                String::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_strings() {
        assert_eq!(xoauth2("f@k.se", "T"), "user=f@k.se\x01auth=Bearer T\x01\x01");
        assert_eq!(
            oauthbearer("f@k.se", "T", "imap.k.se", 993),
            "n,a=f@k.se,\x01host=imap.k.se\x01port=993\x01auth=Bearer T\x01\x01"
        );
        let mut s = Sasl::new("first".into());
        assert_eq!(async_imap::Authenticator::process(&mut s, b""), "first");
        assert_eq!(async_imap::Authenticator::process(&mut s, b"{\"status\":\"401\"}"), "");
        assert_eq!(s.error.lock().expect("lock").as_deref(), Some("{\"status\":\"401\"}"));
    }

    #[test]
    fn renewal_is_ahead_of_expiry() {
        assert_eq!(
            renew_margin(Duration::from_secs(3600), Duration::from_secs(300)),
            Duration::from_secs(300)
        );
        assert_eq!(
            renew_margin(Duration::from_secs(21), Duration::from_secs(300)),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn token_debug_hides_the_token() {
        let t = Token {
            secret: "eyJsecret".into(),
            expires_at: tokio::time::Instant::now(),
            renew_at: tokio::time::Instant::now(),
            generation: 3,
        };
        assert!(!format!("{t:?}").contains("eyJ"));
    }
}
