//! Test helpers for the real-server tier: the project's loopback mail stack (Dovecot + Postfix
//! from Debian's packages, started by `tests/mailstack/start`), a fresh set of mail users per
//! test, the real `samverkan` binary as a child process, and small IMAP/SMTP clients.
//!
//! The stack starts once per test binary and stops when the binary exits (`--watch-pid`).
//! If it cannot start, every test using it fails loudly. Set `SAMVERKAN_SKIP_MAILSTACK=1` to
//! skip these tests on a machine that cannot run the stack (CI never sets it).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;

pub const PASSWORD: &str = "secret";

pub struct Stack {
    pub dir: PathBuf,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub smtp_port: u16,
    pub smtps_port: u16,
    pub ca_file: PathBuf,
    /// OAuth mode (see [`use_oauth_stack`]): the token server's state directory and URL.
    pub oauth_dir: Option<PathBuf>,
    pub token_url: Option<String>,
}

static STACK: OnceLock<Result<Stack, String>> = OnceLock::new();
static OAUTH_STACK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts this test binary's stack in OAuth mode (`tests/mailstack/start --oauth`: a token
/// server, Dovecot's oauth2 passdb, SMTPS needing a login). Call before anything else uses it.
pub fn use_oauth_stack() {
    OAUTH_STACK.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// True when the documented opt-out is set; the caller returns early. Otherwise starts the
/// servers the test's worlds need now, before the test computes its times (a test that puts a
/// cutoff seconds ahead must not spend those seconds starting PostgreSQL).
pub fn skip() -> bool {
    if std::env::var("SAMVERKAN_SKIP_MAILSTACK").is_ok_and(|v| v == "1") {
        eprintln!("SAMVERKAN_SKIP_MAILSTACK=1: skipping a real-mail-stack test");
        return true;
    }
    stack();
    if postgres_worlds() {
        pg();
    }
    false
}

/// Runs one of the project's server scripts (`tests/mailstack/start`, `tests/pgstack/start`)
/// on `dir`, stopped again when this test binary exits, and returns the `dir/env` it wrote.
fn start_servers(script: &str, dir: &Path, what: &str, extra: &[&str]) -> Result<HashMap<String, String>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new(&script)
        .arg(dir)
        .args(extra)
        .arg("--watch-pid")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{what} did not start ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(std::fs::read_to_string(dir.join("env"))
        .map_err(|e| format!("no env file: {e}"))?
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
        })
        .collect())
}

/// The shared stack, started on first use.
pub fn stack() -> &'static Stack {
    let r = STACK.get_or_init(|| {
        let dir = PathBuf::from(format!("/tmp/sv-test-{}", std::process::id()));
        let oauth: &[&str] = if OAUTH_STACK.load(std::sync::atomic::Ordering::SeqCst) {
            &["--oauth"]
        } else {
            &[]
        };
        let env = start_servers("tests/mailstack/start", &dir, "the loopback mail stack", oauth)?;
        let port = |k: &str| env.get(k).and_then(|v| v.parse().ok()).ok_or(format!("{k} missing from env"));
        Ok(Stack {
            imap_port: port("IMAP_PORT")?,
            imaps_port: port("IMAPS_PORT")?,
            smtp_port: port("SMTP_PORT")?,
            smtps_port: port("SMTPS_PORT")?,
            ca_file: PathBuf::from(env.get("CA_FILE").ok_or("CA_FILE missing")?),
            oauth_dir: env.get("OAUTH_DIR").map(PathBuf::from),
            token_url: env.get("TOKEN_URL").cloned(),
            dir,
        })
    });
    match r {
        Ok(s) => s,
        Err(e) => panic!("{e}\n(set SAMVERKAN_SKIP_MAILSTACK=1 only on a machine that cannot run Dovecot and Postfix)"),
    }
}

/// The throwaway PostgreSQL server (`tests/pgstack/start`), started once per test binary on
/// first use and stopped when the binary exits.
pub struct Pg {
    pub port: u16,
    pub user: String,
    pub password: String,
}

static PG: OnceLock<Result<Pg, String>> = OnceLock::new();

pub fn pg() -> &'static Pg {
    let r = PG.get_or_init(|| {
        let dir = PathBuf::from(format!("/tmp/sv-pg-{}", std::process::id()));
        let env = start_servers("tests/pgstack/start", &dir, "the throwaway PostgreSQL", &[])?;
        Ok(Pg {
            port: env.get("PG_PORT").and_then(|p| p.parse().ok()).ok_or("PG_PORT missing")?,
            user: env.get("PG_USER").cloned().ok_or("PG_USER missing")?,
            password: env.get("PG_PASSWORD").cloned().ok_or("PG_PASSWORD missing")?,
        })
    });
    match r {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

impl Pg {
    /// Creates an empty database and returns its URL (without the password).
    pub fn fresh_database(&self, name: &str) -> String {
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "database name {name}");
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                &self.user,
                "-d",
                "postgres",
                "-q",
                "-c",
            ])
            .arg(format!("CREATE DATABASE {name}"))
            .env("PGPASSWORD", &self.password)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "CREATE DATABASE {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://{}@127.0.0.1:{}/{name}", self.user, self.port)
    }

    /// The URL with the password, for the tests' own connections.
    pub fn with_password(&self, url: &str) -> String {
        url.replacen(&format!("{}@", self.user), &format!("{}:{}@", self.user, self.password), 1)
    }
}

/// The database engine the end-to-end worlds use: `SAMVERKAN_TEST_DB=postgres` runs them on
/// the throwaway PostgreSQL; the default is a SQLite file per world. `tests/run` runs the
/// end-to-end suites once with each.
pub fn postgres_worlds() -> bool {
    std::env::var("SAMVERKAN_TEST_DB").is_ok_and(|v| v == "postgres")
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A test's own mail users and configuration: every address carries a unique tag, so tests
/// running in parallel on one stack never see each other's mail.
pub struct World {
    pub tag: String,
    /// A meeting day of the world's weekly schedule (13:00 Stockholm, cutoff 12:00 the day
    /// before): fourteen days ago, so that arrivals around its cutoff lie in the past (Dovecot
    /// replaces a future APPEND date with the current time).
    pub meeting_day: chrono::NaiveDate,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// SQLite: the world's database file (its PostgreSQL worlds have none).
    pub db_path: PathBuf,
    /// The URL the world's own connections use: `sqlite://...` or `postgres://...` with the
    /// password.
    pub db_url: String,
}

impl World {
    /// `tls`: when true the daemon uses STARTTLS for IMAP and implicit TLS + AUTH for SMTP,
    /// verifying the stack's certificate; otherwise plain loopback connections.
    /// A world without a meeting schedule.
    pub fn new(tls: bool) -> World {
        Self::build(tls, "", None, postgres_worlds())
    }

    /// A world with a weekly schedule: meetings on `meeting_day`'s weekday at 13:00.
    pub fn weekly(tls: bool) -> World {
        Self::build(tls, "", Some(String::new()), postgres_worlds())
    }

    /// A world with the given `[forum.schedule]` body and extra `[daemon]` keys.
    pub fn with_schedule(daemon_extra: &str, schedule: &str) -> World {
        Self::build(false, daemon_extra, Some(schedule.to_string()), postgres_worlds())
    }

    /// Like [`World::with_schedule`], with more TOML appended to the forum (units, members);
    /// `{tag}` in it is replaced by the world's tag.
    pub fn with_tail(daemon_extra: &str, schedule: &str, tail: &str) -> World {
        let w = Self::build(false, daemon_extra, Some(schedule.to_string()), postgres_worlds());
        let cfg = std::fs::read_to_string(&w.config_path).expect("config");
        std::fs::write(&w.config_path, format!("{cfg}\n{}\n", tail.replace("{tag}", &w.tag))).expect("config");
        w
    }

    /// A world on a SQLite file whatever `SAMVERKAN_TEST_DB` says (tests of SQLite's own locking).
    pub fn on_sqlite() -> World {
        Self::build(false, "", None, false)
    }

    /// A world on PostgreSQL whatever `SAMVERKAN_TEST_DB` says (for the several-instance tests).
    pub fn on_postgres(daemon_extra: &str, schedule: Option<&str>) -> World {
        Self::build(false, daemon_extra, schedule.map(str::to_string), true)
    }

    fn build(tls: bool, daemon_extra: &str, schedule: Option<String>, on_pg: bool) -> World {
        let s = stack();
        let tag = format!("{}x{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("password"), PASSWORD).expect("password file");
        let db_path = dir.path().join("samverkan.db");
        let (database, db_url) = if on_pg {
            let pg = pg();
            std::fs::write(dir.path().join("pgpassword"), &pg.password).expect("pg password file");
            let url = pg.fresh_database(&format!("sv_{tag}"));
            (
                format!("url = \"{url}\"\npassword_file = \"pgpassword\"\ninstance = \"test-{tag}\"\nlease = \"4s\""),
                pg.with_password(&url),
            )
        } else {
            ("path = \"samverkan.db\"".to_string(), format!("sqlite://{}", db_path.display()))
        };
        let (imap, smtp) = if tls {
            (
                format!("port = {}\ntls = \"starttls\"\nca_file = \"{}\"", s.imap_port, s.ca_file.display()),
                format!(
                    "port = {}\ntls = \"implicit\"\nca_file = \"{}\"\nuser = \"samverkan-{tag}@test.local\"\npassword_file = \"password\"",
                    s.smtps_port,
                    s.ca_file.display()
                ),
            )
        } else {
            (
                format!("port = {}\ntls = \"none\"", s.imap_port),
                format!("port = {}\ntls = \"none\"", s.smtp_port),
            )
        };
        let cfg = format!(
            r#"
[daemon]
full_check_interval = "20s"
reconnect_max_backoff = "2s"
{daemon_extra}

[database]
{database}

[templates]
dir = "{templates}"

[imap]
host = "localhost"
{imap}
user = "samverkan-{tag}@test.local"
password_file = "password"

[smtp]
host = "localhost"
{smtp}

[[forum]]
id = "iof-aof"
name = "Samverkan IoF och ÄoF"
mailbox = "samverkan-{tag}@test.local"
convenor = {{ name = "Sara Sammankallande", address = "sara-{tag}@test.local" }}

[[forum.unit]]
name = "Barn och unga"
deputy_heads = ["anna-{tag}@test.local"]

[[forum.unit]]
name = "Vuxenenheten"
deputy_heads = ["lars-{tag}@test.local"]

[[forum.member]]
name = "Anna Berg"
address = "anna-{tag}@test.local"
unit = "Barn och unga"

[[forum.member]]
name = "Lars Ek"
address = "lars-{tag}@test.local"
unit = "Vuxenenheten"
"#,
            templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates").display(),
        );
        let meeting_day = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Stockholm).date_naive() - chrono::Duration::days(14);
        let weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][chrono::Datelike::weekday(&meeting_day).num_days_from_monday() as usize];
        let cfg = match schedule.as_deref() {
            None => cfg,
            Some("") => format!(
                "{cfg}\n[forum.schedule]\nrrule = \"FREQ=WEEKLY;BYDAY={weekday}\"\nfirst = \"{} 13:00\"\nkinds = [\"samverkansmöte\"]\nplace = \"Stadshuset, sal 3\"\n",
                meeting_day - chrono::Duration::days(70)
            ),
            Some(body) => format!("{cfg}\n[forum.schedule]\n{body}\n"),
        };
        let config_path = dir.path().join("samverkan.toml");
        std::fs::write(&config_path, cfg).expect("config");
        World {
            tag,
            meeting_day,
            config_path,
            db_path,
            db_url,
            dir,
        }
    }

    /// The address of a user of this world, e.g. `addr("anna")`.
    pub fn addr(&self, user: &str) -> String {
        format!("{user}-{}@test.local", self.tag)
    }

    pub fn mailbox(&self) -> String {
        self.addr("samverkan")
    }

    /// Starts the daemon; its log goes to `daemon.log` in the world's directory.
    pub fn start(&self) -> Daemon {
        self.start_instance(None, &[])
    }

    /// Starts the daemon with extra environment variables (e.g. systemd's `NOTIFY_SOCKET`).
    pub fn start_with_env(&self, env: &[(&str, &str)]) -> Daemon {
        self.start_instance(None, env)
    }

    /// Starts a daemon on the world's database and mailbox; with a `name`, another instance
    /// under that name (PostgreSQL worlds), logging to `daemon-NAME.log`.
    pub fn start_instance(&self, name: Option<&str>, env: &[(&str, &str)]) -> Daemon {
        let (config, log_name) = match name {
            None => (self.config_path.clone(), "daemon.log".to_string()),
            Some(n) => {
                let cfg = std::fs::read_to_string(&self.config_path).expect("config");
                let cfg = cfg.replace(&format!("instance = \"test-{}\"", self.tag), &format!("instance = \"{n}\""));
                let p = self.dir.path().join(format!("samverkan-{n}.toml"));
                std::fs::write(&p, cfg).expect("instance config");
                (p, format!("daemon-{n}.log"))
            }
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(log_name))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_samverkan"))
            .args(["run", "--config"])
            .arg(&config)
            .env(
                "SAMVERKAN_LOG",
                std::env::var("SAMVERKAN_TEST_LOG").unwrap_or_else(|_| "debug".into()),
            )
            .env(samverkan::clock::TEST_CLOCK_ENV, self.clock_file())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start samverkan");
        Daemon { child: Some(child) }
    }

    /// Edits the world's configuration file (`f` gets the text and returns the new text).
    pub fn edit_config(&self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config_path).expect("config");
        std::fs::write(&self.config_path, f(text)).expect("config");
    }

    /// Every daemon log of this world (all instances).
    pub fn log(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("daemon") && n.ends_with(".log"))
        });
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// One text from the world's database (`None` while there is no such row or no schema).
    pub async fn text(&self, sql: &'static str) -> Option<String> {
        let pool = self.db().await;
        let v: Option<String> = sqlx::query_scalar(sql).fetch_optional(&pool).await.ok().flatten();
        pool.close().await;
        v
    }

    /// The file that moves this world's clock (the daemon's and the CLI's: `clock`).
    pub fn clock_file(&self) -> PathBuf {
        self.dir.path().join("clock")
    }

    /// The offset (ms) the test set last, 0 before any.
    fn clock_offset(&self) -> i64 {
        std::fs::read_to_string(self.clock_file())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .next_back()
            .unwrap_or(0)
    }

    /// The world's time: the real time plus the offset the test set.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::milliseconds(self.clock_offset())
    }

    /// Moves the world's clock to `t` (forward, as time goes): the daemon notices within 50 ms,
    /// the CLI at its next run. Set it before `start` to start the daemon at `t`. Mail that
    /// arrived before the move keeps its arrival time (the file keeps every move). A move takes
    /// effect on a whole second of real time (waiting up to a second for it), because the mail
    /// server's arrival times (INTERNALDATE) are whole seconds: a mail delivered before the move
    /// can never look as if it came after it.
    pub fn set_clock(&self, t: chrono::DateTime<chrono::Utc>) {
        let now = chrono::Utc::now();
        let real = chrono::DateTime::<chrono::Utc>::from_timestamp(now.timestamp() + 1, 0).expect("time");
        std::thread::sleep((real - now).to_std().unwrap_or_default());
        let mut text = std::fs::read_to_string(self.clock_file()).unwrap_or_default();
        text.push_str(&format!("{} {}\n", real.timestamp_millis(), (t - real).num_milliseconds()));
        let tmp = self.dir.path().join("clock.tmp");
        std::fs::write(&tmp, text).expect("clock");
        std::fs::rename(&tmp, self.clock_file()).expect("clock");
    }

    /// Waits until the running daemon has planned on the clock as it stands (its scheduler
    /// acknowledged a pass at this offset) and its outbox has nothing due: whatever the clock's
    /// move made due has been queued and handed to SMTP, so the outbox can be checked for
    /// what was, and was not, sent.
    pub async fn settle(&self) {
        let offset = self.clock_offset().to_string();
        let tick = self.dir.path().join("clock.tick");
        wait_for(Duration::from_secs(30), "the daemon's planning pass on the moved clock", || {
            let (tick, offset) = (tick.clone(), offset.clone());
            async move { (std::fs::read_to_string(&tick).is_ok_and(|t| t.trim() == offset)).then_some(()) }
        })
        .await;
        let due = samverkan::core::time::db(self.now());
        wait_for(Duration::from_secs(30), "the outbox to have nothing due", || {
            let due = due.clone();
            async move {
                let pool = self.db().await;
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1")
                    .bind(due)
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(-1);
                pool.close().await;
                (n == 0).then_some(())
            }
        })
        .await;
    }

    /// Runs a CLI subcommand against this world's config and returns stdout.
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_samverkan"))
            .env(samverkan::clock::TEST_CLOCK_ENV, self.clock_file())
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .output()
            .expect("run samverkan");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// Opens the world's database for assertions (either engine: write `$1` parameters).
    pub async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        // Retried briefly: once in a full run under load, opening the SQLite file right after
        // the daemon stopped failed with SQLITE_CANTOPEN (the test's own reading connection,
        // not the daemon's; not reproduced in isolation).
        let mut tries = 0;
        loop {
            match sqlx::any::AnyPoolOptions::new().max_connections(2).connect(&self.db_url).await {
                Ok(p) => return p,
                Err(e) if tries < 20 => {
                    tries += 1;
                    eprintln!("opening the test database failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("open test db: {e}"),
            }
        }
    }

    /// How many mails to `address` the daemon ever queued (sent or not). Once every mail that
    /// could cause one has been processed (moved out of the inbox after its commit), this is
    /// the proof that no further mail to them can come: every outgoing mail is an outbox row.
    pub async fn queued_to(&self, address: &str) -> i64 {
        let pool = self.db().await;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE env_to LIKE $1")
            .bind(format!("%\"{address}\"%"))
            .fetch_one(&pool)
            .await
            .unwrap_or(-1);
        pool.close().await;
        n
    }

    /// One number from the world's database; -1 while the daemon has not created its schema
    /// yet (so a `wait_for` keeps waiting and an assertion shows the difference).
    pub async fn scalar(&self, sql: &'static str) -> i64 {
        let pool = self.db().await;
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap_or(-1);
        pool.close().await;
        n
    }
}

/// Words from the test mails and configuration that are personal data: none may reach the
/// daemon's log, which runs at the most verbose level in these tests.
pub const PERSONAL: &[&str] = &[
    "Anna Berg",
    "Lars Ek",
    "Sara Sammankallande",
    "Nils Nosuch",
    "Stina",
    "Eva Ek",
    "@test.local",
    "Testperson",
    "ADHD",
    "Stödboende",
    "Självskadebeteende",
    "Skolfrånvaro",
    "Bor med mamma",
    "Kontaktperson",
    "Tyvärr krockar",
    "Ärendeanmälan",
    "Vem ansvarar",
    "Jag är ledig",
    "Vilken tid",
];

impl Drop for World {
    /// Every test's daemon log is checked for personal data when the test otherwise passed.
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the daemon's log for the diagnosis (the world's directory goes).
            let keep = std::env::temp_dir().join(format!("samverkan-failed-{}.log", self.tag));
            if std::fs::write(&keep, self.log()).is_ok() {
                eprintln!("the daemon log of the failed test: {}", keep.display());
            }
            return;
        }
        let log = self.log();
        for p in PERSONAL {
            assert!(!log.contains(p), "the daemon log contains personal data {p:?}:\n{log}");
        }
    }
}

pub struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    /// SIGTERM, then wait; returns how long the stop took.
    pub fn stop(&mut self) -> Duration {
        let t = Instant::now();
        if let Some(mut c) = self.child.take() {
            Command::new("kill").args(["-TERM", &c.id().to_string()]).status().expect("kill");
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if let Ok(Some(st)) = c.try_wait() {
                    assert!(st.success(), "daemon exited with {st} after SIGTERM");
                    break;
                }
                if Instant::now() > deadline {
                    c.kill().ok();
                    panic!("daemon did not stop within 15 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        t.elapsed()
    }

    /// Whether the daemon is still running (not exited, not stopped).
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

// --- mail clients ---------------------------------------------------------------------------

/// Waits until the loopback MTA (the stack's Postfix) holds no mail: everything handed to it has
/// been delivered into the mailboxes. With the daemon's outbox all sent, what the mailboxes hold
/// then is all there will ever be: the check that replaces waiting "long enough" before counting
/// what people received.
pub async fn mta_drained() {
    let conf = stack().dir.join("conf");
    wait_for(Duration::from_secs(60), "the loopback MTA's queue to be empty", || {
        let conf = conf.clone();
        async move {
            let out = Command::new("postqueue").arg("-c").arg(&conf).arg("-p").output().ok()?;
            String::from_utf8_lossy(&out.stdout).contains("Mail queue is empty").then_some(())
        }
    })
    .await;
}

/// Submits raw bytes over SMTP to the stack (plain loopback port).
pub async fn send_raw(from: &str, to: &[&str], raw: &[u8]) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(stack().smtp_port)
        .build();
    let env = Envelope::new(
        Some(from.parse().expect("from")),
        to.iter().map(|a| a.parse().expect("to")).collect(),
    )
    .expect("envelope");
    t.send_raw(&env, raw).await.expect("SMTP submission to the test stack");
}

/// A simple plain-text mail.
pub fn plain_mail(from: &str, to: &str, subject: &str, body: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A submission with the four required parts.
pub fn submission(from: &str, to: &str, n: u32) -> Vec<u8> {
    plain_mail(
        from,
        to,
        &format!("Ärendeanmälan {n}"),
        &format!(
            "Namn och ålder: Testperson {n}, 14 år\r\n\r\nKort bakgrund: Diagnos ADHD, utredd 2024.\r\n\r\nAktuell situation: Stödboende.\r\n\r\nAktuell problembild och frågeställning: Vem ansvarar? Fall {n}.\r\n"
        ),
        &format!("sub-{n}-{}@outlook.test", from.replace('@', ".")),
    )
}

/// Puts a mail straight into `user`'s `folder` with the given INTERNALDATE (the arrival time
/// the routine's cutoff is measured against), as a delivery at that moment would have.
pub async fn append_at(user: &str, folder: &str, raw: &[u8], internal_date: chrono::DateTime<chrono::FixedOffset>) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", stack().imap_port))
        .await
        .expect("IMAP connect");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    let mut s = client.login(user, PASSWORD).await.map_err(|(e, _)| e).expect("IMAP login");
    let date = format!("\"{}\"", internal_date.format("%d-%b-%Y %H:%M:%S %z"));
    s.append(folder, None, Some(&date), raw).await.expect("APPEND");
    s.logout().await.ok();
}

/// All messages in `folder` of `user` (password `secret`), as raw bytes.
pub async fn fetch_folder(user: &str, folder: &str) -> Vec<Vec<u8>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", stack().imap_port))
        .await
        .expect("IMAP connect");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    let mut s = client.login(user, PASSWORD).await.map_err(|(e, _)| e).expect("IMAP login");
    let out = match s.examine(folder).await {
        Ok(mb) if mb.exists > 0 => {
            let v: Vec<_> = s
                .fetch("1:*", "BODY.PEEK[]")
                .await
                .expect("fetch")
                .try_collect()
                .await
                .expect("fetch");
            v.iter().filter_map(|f| f.body().map(<[u8]>::to_vec)).collect()
        }
        _ => Vec::new(),
    };
    s.logout().await.ok();
    out
}

/// `user`'s inbox once `pred` holds for it (40 s at most).
pub async fn inbox_with(user: &str, what: &str, pred: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
    wait_for(Duration::from_secs(40), what, || async {
        let m = fetch_folder(user, "INBOX").await;
        pred(&m).then_some(m)
    })
    .await
}

/// The first mail whose subject starts with `prefix`.
pub fn find<'a>(m: &'a [Vec<u8>], prefix: &str) -> &'a Vec<u8> {
    m.iter().find(|r| subject_of(r).starts_with(prefix)).unwrap_or_else(|| {
        panic!(
            "no mail starting {prefix:?} among {:?}",
            m.iter().map(|r| subject_of(r)).collect::<Vec<_>>()
        )
    })
}

/// How many mails' subjects start with `prefix`.
pub fn count(m: &[Vec<u8>], prefix: &str) -> usize {
    m.iter().filter(|r| subject_of(r).starts_with(prefix)).count()
}

/// Polls `f` until it returns Some, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn subject_of(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

pub fn text_of(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

pub fn header_of(raw: &[u8], name: &str) -> Option<String> {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.header_raw(name).map(|s| s.trim().to_string()))
}

/// The meeting the clock-moving tests are about: Tuesday 12 January 2027, 13:00 in Stockholm.
pub fn meeting() -> DateTime<Utc> {
    ts("2027-01-12T12:00:00Z")
}

/// Its cutoff: 12:00 the day before.
pub fn cutoff() -> DateTime<Utc> {
    ts("2027-01-11T11:00:00Z")
}

pub fn ts(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).expect("time").with_timezone(&Utc)
}

/// A `[forum.schedule]` body: `rule` (e.g. `FREQ=WEEKLY;BYDAY=TU`) from Tuesday 5 January 2027
/// 13:00, meetings of one `kind`, cutoff 12:00 the day before, invitations `invite_lead` ahead.
/// The rule must have a meeting on [`meeting`].
pub fn fixed(rule: &str, kind: &str, invite_lead: &str) -> String {
    format!(
        "rrule = \"{rule}\"\nfirst = \"2027-01-05T13:00\"\nduration = \"1h\"\nkinds = [\"{kind}\"]\nplace = \"Stadshuset, sal 3\"\ncutoff_days_before = 1\ncutoff_time = \"12:00\"\ninvite_lead = \"{invite_lead}\""
    )
}

/// The text/calendar part of a mail, decoded.
pub fn calendar_text(raw: &[u8]) -> Option<String> {
    let m = mail_parser::MessageParser::default().parse(raw)?;
    m.parts
        .iter()
        .find(|p| {
            use mail_parser::MimeHeaders;
            p.content_type()
                .is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some("calendar"))
        })
        .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
}

/// A property's value in a calendar: unfolded first (RFC 5545 3.1), then "NAME:" or "NAME;...:".
pub fn prop(ics: &str, name: &str) -> Option<String> {
    let unfolded = ics.replace("\r\n ", "");
    unfolded.lines().find_map(|l| {
        let (head, value) = l.split_once(':')?;
        (head == name || head.starts_with(&format!("{name};"))).then(|| value.to_string())
    })
}
