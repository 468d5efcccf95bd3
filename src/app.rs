//! What the daemon's tasks share: the validated configuration, the store, the templates, the
//! resolved secrets and the wake-up signal for the outbox sender.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;
use crate::templates::Templates;

pub struct App {
    pub cfg: Config,
    /// The one clock (see `clock`): the system clock, or a test clock in a debug build.
    pub clock: Clock,
    pub store: Store,
    pub templates: Templates,
    pub imap_password: String,
    pub smtp_password: Option<String>,
    /// Signalled after a commit that queued mail, so the sender need not wait for its timer.
    pub outbox_wake: Notify,
    /// Signalled by the scheduler when a cutoff is due and the inbox has not been read through
    /// it: intake ends its IDLE and reads the inbox now.
    pub inbox_wanted: Notify,
    /// Signalled by intake after each completed pass over the inbox (its read-through time is
    /// in the store), so a scheduler waiting for it plans again at once.
    pub inbox_read: Notify,
    /// Per long-running task: the time (Unix seconds) until which it promised to report again.
    /// The systemd watchdog is fed only while every promise holds, so a wedged loop gets the
    /// daemon restarted.
    pub heartbeats: [AtomicI64; 3],
    /// The leases this instance holds (see `cluster`).
    pub leases: Leases,
    /// How far a task may overrun its promise before it counts as stalled (see [`heartbeat_slack`]).
    pub heartbeat_slack: std::time::Duration,
    /// Set while intake is interrupted because the database cannot be written (since when, and
    /// why), for /healthz and /metrics.
    pub intake_trouble: std::sync::Mutex<Option<(DateTime<Utc>, Failure)>>,
    /// The OAuth2 token cache shared by intake and the sender (`[oauth2]`), if configured.
    pub tokens: Option<Arc<crate::oauth::Tokens>>,
}

/// What this instance currently holds. Written only by `cluster::run`; intake and the scheduler wait on
/// their flags.
pub struct Leases {
    pub intake: watch::Sender<bool>,
    pub scheduler: watch::Sender<bool>,
}

impl Default for Leases {
    fn default() -> Self {
        Leases {
            intake: watch::channel(false).0,
            scheduler: watch::channel(false).0,
        }
    }
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

/// The slack for the watchdog period systemd gives (`WATCHDOG_USEC`): two periods, at most
/// [`HEARTBEAT_SLACK`] (so `WatchdogSec=60s` keeps 120 s), at least one second. A short
/// watchdog thus notices a wedged task within seconds of its broken promise.
pub fn heartbeat_slack(watchdog: Option<std::time::Duration>) -> std::time::Duration {
    match watchdog {
        Some(d) => (d * 2).clamp(std::time::Duration::from_secs(1), HEARTBEAT_SLACK),
        None => HEARTBEAT_SLACK,
    }
}

/// What made a pass fail: the database (its disk full, an I/O error, a lock held past the busy
/// timeout, a read-only file) or anything else (the mail server, the network). A database
/// failure says nothing about the mail being read: it stays in the inbox and is tried again,
/// never quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    DiskFull,
    DiskIo,
    DatabaseLocked,
    DatabaseReadOnly,
    Other,
}

impl Failure {
    /// From a database error code: SQLite's (extended) result code, or a PostgreSQL SQLSTATE.
    pub fn from_code(code: &str) -> Failure {
        if let Ok(n) = code.parse::<i64>()
            && code.len() != 5
        {
            return match n & 0xff {
                13 => Failure::DiskFull,          // SQLITE_FULL
                10 => Failure::DiskIo,            // SQLITE_IOERR and its extended codes
                5 | 6 => Failure::DatabaseLocked, // SQLITE_BUSY, SQLITE_LOCKED
                8 => Failure::DatabaseReadOnly,   // SQLITE_READONLY
                _ => Failure::Other,
            };
        }
        match code {
            "53100" => Failure::DiskFull, // disk_full
            "58030" => Failure::DiskIo,   // io_error
            "55P03" | "40P01" => Failure::DatabaseLocked,
            "25006" => Failure::DatabaseReadOnly,
            _ => Failure::Other,
        }
    }

    /// The first database failure in an error's chain of causes.
    pub fn of(e: &anyhow::Error) -> Failure {
        e.chain()
            .filter_map(|c| match c.downcast_ref::<sqlx::Error>() {
                Some(sqlx::Error::Database(db)) => db.code().map(|c| Failure::from_code(&c)),
                _ => None,
            })
            .chain(crate::store::fast::error_code(e).map(|c| Failure::from_code(&c)))
            .find(|f| *f != Failure::Other)
            .unwrap_or(Failure::Other)
    }

    pub fn is_storage(self) -> bool {
        self != Failure::Other
    }

    /// A short label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Failure::DiskFull => "disk_full",
            Failure::DiskIo => "disk_io_error",
            Failure::DatabaseLocked => "database_locked",
            Failure::DatabaseReadOnly => "database_read_only",
            Failure::Other => "other",
        }
    }
}

impl App {
    /// Opens everything `run` needs, failing with every environment problem named.
    pub async fn open(cfg: Config) -> Result<Arc<App>> {
        let problems = cfg.environment_problems();
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
            bail!("cannot start:\n{}", list.join("\n"));
        }
        let imap_password = if cfg.imap.oauth2 {
            String::new()
        } else {
            cfg.imap.password.resolve().map_err(anyhow::Error::msg)?
        };
        let smtp_password = match &cfg.smtp.auth {
            Some((_, s)) => Some(s.resolve().map_err(anyhow::Error::msg)?),
            None => None,
        };
        let templates = Templates::load(&cfg.templates_dir, &cfg.languages())?;
        let store = Store::open_config(&cfg.database).await?;
        let tokens = crate::oauth::Tokens::for_config(&cfg, Some(store.clone()))?.map(Arc::new);
        Ok(Arc::new(App {
            cfg,
            clock: Clock::from_env()?,
            store,
            templates,
            imap_password,
            smtp_password,
            outbox_wake: Notify::new(),
            inbox_wanted: Notify::new(),
            inbox_read: Notify::new(),
            heartbeats: Default::default(),
            leases: Default::default(),
            heartbeat_slack: heartbeat_slack(sd_notify::watchdog_enabled()),
            intake_trouble: Default::default(),
            tokens,
        }))
    }

    /// Opens the store and templates without the mail servers' secrets, for CLI commands that
    /// queue mail for the running daemon to send (`samverkan case decide`, `case transfer`).
    pub async fn open_offline(cfg: Config) -> Result<Arc<App>> {
        let templates = Templates::load(&cfg.templates_dir, &cfg.languages())?;
        let store = Store::open_config(&cfg.database).await?;
        Ok(Arc::new(App {
            cfg,
            clock: Clock::from_env()?,
            store,
            templates,
            imap_password: String::new(),
            smtp_password: None,
            outbox_wake: Notify::new(),
            inbox_wanted: Notify::new(),
            inbox_read: Notify::new(),
            heartbeats: Default::default(),
            leases: Default::default(),
            heartbeat_slack: HEARTBEAT_SLACK,
            intake_trouble: Default::default(),
            tokens: None,
        }))
    }

    /// How IMAP sessions log in (`imap.auth`).
    pub fn imap_login(&self) -> Result<crate::net::ImapLogin<'_>> {
        match (&self.tokens, self.cfg.imap.oauth2) {
            (Some(t), true) => Ok(crate::net::ImapLogin::OAuth2(t)),
            (None, true) => bail!("imap.auth = \"oauth2\" but no token provider was set up (opened without the mail servers' secrets)"),
            (_, false) => Ok(crate::net::ImapLogin::Password(&self.imap_password)),
        }
    }

    /// A task promises to report again within `expect` (plus slack).
    pub fn alive(&self, task: Task, expect: std::time::Duration) {
        // Real time, not the test clock: a test's jump of months is no stalled task.
        let until = Utc::now() + chrono::Duration::from_std(expect + self.heartbeat_slack).unwrap_or(chrono::Duration::hours(1));
        self.heartbeats[task as usize].store(until.timestamp(), Ordering::Relaxed);
    }

    /// The tasks whose promise has run out (0 = not started yet, which counts as fine).
    pub fn stalled(&self) -> Vec<Task> {
        let now = Utc::now().timestamp();
        Task::ALL
            .into_iter()
            .filter(|t| {
                let until = self.heartbeats[*t as usize].load(Ordering::Relaxed);
                until != 0 && until < now
            })
            .collect()
    }

    /// Makes sure the configured schedules' meetings from two months back to seven months ahead
    /// of `now` exist in the store (intake needs the meeting a submission goes to; the
    /// scheduler plans them).
    pub async fn materialize_meetings(&self, now: DateTime<Utc>) -> Result<()> {
        materialize_meetings(&self.cfg, &self.store, now + chrono::Duration::days(210), now).await
    }

    /// The time: the only place the shell reads it (see `clock`).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Makes sure the configured schedules' meetings from two months before `now` to `until` exist
/// in the store (the daemon's window, or `samverkan preview`'s longer one).
pub async fn materialize_meetings(cfg: &Config, store: &Store, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    for f in &cfg.forums {
        if let Some(s) = &f.schedule {
            let occ = crate::core::schedule::occurrences(s, f.time_zone, now - chrono::Duration::days(62), until);
            store.ensure_meetings(&f.id, f.mail_domain(), &occ, &s.place, now).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn database_failures_are_told_from_bad_mail() {
        assert_eq!(Failure::from_code("13"), Failure::DiskFull);
        assert_eq!(Failure::from_code("10"), Failure::DiskIo);
        assert_eq!(Failure::from_code("778"), Failure::DiskIo, "SQLITE_IOERR_WRITE");
        assert_eq!(Failure::from_code("4874"), Failure::DiskIo, "SQLITE_IOERR_SHMSIZE");
        assert_eq!(Failure::from_code("5"), Failure::DatabaseLocked);
        assert_eq!(Failure::from_code("517"), Failure::DatabaseLocked, "SQLITE_BUSY_SNAPSHOT");
        assert_eq!(Failure::from_code("6"), Failure::DatabaseLocked);
        assert_eq!(Failure::from_code("8"), Failure::DatabaseReadOnly);
        assert_eq!(Failure::from_code("53100"), Failure::DiskFull, "PostgreSQL disk_full");
        // Constraint violations and the like are not a bad disk.
        assert_eq!(Failure::from_code("2067"), Failure::Other, "SQLITE_CONSTRAINT_UNIQUE");
        assert_eq!(Failure::from_code("1"), Failure::Other);
        assert_eq!(Failure::from_code("23505"), Failure::Other, "PostgreSQL unique_violation");
        let plain = anyhow::anyhow!("IMAP server closed the connection");
        assert_eq!(Failure::of(&plain), Failure::Other);
        assert!(!Failure::of(&plain).is_storage());
    }

    #[test]
    fn heartbeat_slack_follows_the_watchdog() {
        assert_eq!(heartbeat_slack(None), HEARTBEAT_SLACK);
        assert_eq!(heartbeat_slack(Some(Duration::from_secs(60))), Duration::from_secs(120));
        assert_eq!(heartbeat_slack(Some(Duration::from_secs(600))), HEARTBEAT_SLACK);
        assert_eq!(heartbeat_slack(Some(Duration::from_secs(2))), Duration::from_secs(4));
        assert_eq!(heartbeat_slack(Some(Duration::from_millis(100))), Duration::from_secs(1));
    }
}
