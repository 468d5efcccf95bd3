//! What the daemon's tasks share: the validated configuration, the store, the templates, the
//! resolved secrets and the wake-up signal for the outbox sender.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

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
    /// Per long-running task: the time (Unix seconds) until which it promised to report again.
    /// The systemd watchdog is fed only while every promise holds, so a wedged loop gets the
    /// daemon restarted.
    pub heartbeats: [AtomicI64; 3],
    /// The leases this instance holds (see `cluster`).
    pub leases: crate::cluster::Leases,
}

/// The long-running tasks watched by the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Intake = 0,
    Sender = 1,
    Scheduler = 2,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::Intake, Task::Sender, Task::Scheduler];
    pub fn name(self) -> &'static str {
        match self {
            Task::Intake => "intake",
            Task::Sender => "sender",
            Task::Scheduler => "scheduler",
        }
    }
}

/// Slack on top of what a task expects to take before it reports again.
pub const HEARTBEAT_SLACK: std::time::Duration = std::time::Duration::from_secs(120);

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
        let templates = Templates::load(&cfg.templates_dir, &cfg.languages())?;
        let store = Store::open_config(&cfg.database).await?;
        Ok(Arc::new(App {
            cfg,
            store,
            templates,
            imap_password,
            smtp_password,
            outbox_wake: Notify::new(),
            heartbeats: Default::default(),
            leases: Default::default(),
        }))
    }

    /// Opens the store and templates without the mail servers' secrets, for CLI commands that
    /// queue mail for the running daemon to send (`samverkan case decide`, `case transfer`).
    pub async fn open_offline(cfg: Config) -> Result<Arc<App>> {
        let templates = Templates::load(&cfg.templates_dir, &cfg.languages())?;
        let store = Store::open_config(&cfg.database).await?;
        Ok(Arc::new(App {
            cfg,
            store,
            templates,
            imap_password: String::new(),
            smtp_password: None,
            outbox_wake: Notify::new(),
            heartbeats: Default::default(),
            leases: Default::default(),
        }))
    }

    /// A task promises to report again within `expect` (plus slack).
    pub fn alive(&self, task: Task, expect: std::time::Duration) {
        let until = self.now() + chrono::Duration::from_std(expect + HEARTBEAT_SLACK).unwrap_or(chrono::Duration::hours(1));
        self.heartbeats[task as usize].store(until.timestamp(), Ordering::Relaxed);
    }

    /// The tasks whose promise has run out (0 = not started yet, which counts as fine).
    pub fn stalled(&self) -> Vec<Task> {
        let now = self.now().timestamp();
        Task::ALL
            .into_iter()
            .filter(|t| {
                let until = self.heartbeats[*t as usize].load(Ordering::Relaxed);
                until != 0 && until < now
            })
            .collect()
    }

    /// The clock: the only place the shell reads the time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
