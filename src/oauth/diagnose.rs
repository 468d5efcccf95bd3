//! `samverkan check-config --connect`: runs each step of logging in (token, IMAP login, open
//! the inbox, SMTP AUTH) and says "ok" or names the failed step with what to do about it.
//! Works for password logins too; the OAuth2 steps only appear when `[oauth2]` is used.

use std::sync::Arc;

use crate::config::Config;
use crate::net::{ImapLogin, imap_login};

/// One step's outcome, as printed.
pub struct Step {
    pub name: String,
    pub result: Result<String, String>,
}

/// Runs the steps in order, stopping the IMAP part at its first failure (a later step cannot
/// work without it); SMTP is tried either way.
pub async fn run(cfg: &Config) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut step = |name: &str, result: Result<String, String>| {
        steps.push(Step {
            name: name.to_string(),
            result,
        })
    };
    // The device flow's refresh token is in the database.
    let store = match &cfg.oauth2 {
        Some(o) if o.provider == crate::oauth::Provider::Device => match crate::store::Store::open_config(&cfg.database).await {
            Ok(s) => Some(s),
            Err(e) => {
                step("database (the device flow's refresh token)", Err(format!("{e:#}")));
                return steps;
            }
        },
        _ => None,
    };
    let tokens = match crate::oauth::Tokens::for_config(cfg, store) {
        Ok(t) => t.map(Arc::new),
        Err(e) => {
            step("oauth2 token", Err(format!("{e:#}")));
            return steps;
        }
    };
    if let Some(t) = &tokens {
        match t.get().await {
            Ok(tok) => step(
                &format!("oauth2 token from {}", t.cfg.token_url),
                Ok(format!(
                    "ok (valid for {} s)",
                    tok.expires_at.saturating_duration_since(tokio::time::Instant::now()).as_secs()
                )),
            ),
            Err(e) => {
                step(&format!("oauth2 token from {}", t.cfg.token_url), Err(e.to_string()));
                return steps;
            }
        }
    }
    let imap_password;
    let login = match (&tokens, cfg.imap.oauth2) {
        (Some(t), true) => ImapLogin::OAuth2(t),
        _ => {
            imap_password = cfg.imap.password.resolve().unwrap_or_default();
            ImapLogin::Password(&imap_password)
        }
    };
    let what = if cfg.imap.oauth2 { "AUTHENTICATE (OAuth2)" } else { "LOGIN" };
    match imap_login(&cfg.imap, &login).await {
        Ok((mut s, _)) => {
            step(
                &format!("IMAP {what} to {}:{} as {}", cfg.imap.host, cfg.imap.port, cfg.imap.user),
                Ok("ok".into()),
            );
            let r = match s.examine(&cfg.imap.inbox).await {
                Ok(m) => Ok(format!("ok ({} mail(s))", m.exists)),
                Err(e) => Err(format!("{e}: {}", crate::oauth::advice::imap_login(&e.to_string(), None))),
            };
            step(&format!("IMAP open {}", cfg.imap.inbox), r);
            s.logout().await.ok();
        }
        Err(e) => step(
            &format!("IMAP {what} to {}:{} as {}", cfg.imap.host, cfg.imap.port, cfg.imap.user),
            Err(format!("{e:#}")),
        ),
    }
    let smtp_password = cfg.smtp.auth.as_ref().and_then(|(_, s)| s.resolve().ok());
    let r = match crate::sender::transport(&cfg.smtp, smtp_password.as_deref(), tokens.clone()) {
        Ok(t) => t.check().await.map(|()| "ok".to_string()),
        Err(e) => Err(format!("{e:#}")),
    };
    let how = if cfg.smtp.oauth2_user.is_some() {
        " AUTH XOAUTH2"
    } else if cfg.smtp.auth.is_some() {
        " AUTH"
    } else {
        ""
    };
    step(&format!("SMTP{how} to {}:{}", cfg.smtp.host, cfg.smtp.port), r);
    steps
}
