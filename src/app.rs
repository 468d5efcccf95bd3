//! What the daemon's tasks share: the validated configuration, the store, the templates, the
//! resolved secrets and the wake-up signal for the outbox sender.

use std::sync::Arc;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::config::Config;
use crate::store::Store;
use crate::templates::Templates;

pub struct App {
    pub cfg: Config,
    pub store: Store,
    pub templates: Templates,
    pub imap_password: String,
    pub smtp_password: Option<String>,
    /// Signalled after a commit that queued mail, so the sender need not wait for its timer.
    pub outbox_wake: Notify,
}

impl App {
    /// Opens everything `run` needs, failing with every environment problem named.
    pub async fn open(cfg: Config) -> Result<Arc<App>> {
        let problems = cfg.environment_problems();
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
            bail!("cannot start:\n{}", list.join("\n"));
        }
        let imap_password = cfg.imap.password.resolve().map_err(anyhow::Error::msg)?;
        let smtp_password = match &cfg.smtp.auth {
            Some((_, s)) => Some(s.resolve().map_err(anyhow::Error::msg)?),
            None => None,
        };
        let templates = Templates::load(&cfg.templates_dir, &["sv"])?;
        let store = Store::open(&cfg.database_path).await?;
        Ok(Arc::new(App { cfg, store, templates, imap_password, smtp_password, outbox_wake: Notify::new() }))
    }

    /// Opens the store and templates without the mail servers' secrets, for CLI commands that
    /// queue mail for the running daemon to send (`samverkan case decide`, `case transfer`).
    pub async fn open_offline(cfg: Config) -> Result<Arc<App>> {
        let templates = Templates::load(&cfg.templates_dir, &["sv"])?;
        let store = Store::open(&cfg.database_path).await?;
        Ok(Arc::new(App { cfg, store, templates, imap_password: String::new(), smtp_password: None, outbox_wake: Notify::new() }))
    }

    /// The clock: the only place the shell reads the time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
