//! The store: the only module that speaks SQL, to SQLite (one machine, the default) or
//! PostgreSQL (several instances sharing one database), through sqlx's `Any` driver.
//!
//! One set of statements serves both: they are written in the SQL the two share (`$N`
//! parameters, `ON CONFLICT`, `RETURNING`, `CASE` rather than two-argument `max`), and the few
//! SQLite functions the statements use (`json_each`, `json_extract`) exist in PostgreSQL as
//! small SQL functions created by its first migration (`migrations/postgres`). What differs is
//! here, in [`Backend`]: how a write transaction starts and how rows are claimed.
//!
//! Writes go through [`Tx`], so a message's effects, its outgoing mail and its intake record
//! commit together or not at all. On SQLite a `Tx` is `BEGIN IMMEDIATE` (the one write lock is
//! taken at once); on PostgreSQL it takes a transaction-level advisory lock first, so write
//! transactions of all instances are serialised exactly as SQLite serialises them, and every
//! read-decide-write in the code keeps the meaning it has on one machine.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, Executor, Row, Transaction};

use crate::core::intake::ThreadCase;
use std::collections::BTreeMap;

use crate::core::ical::{Attendee, PartStat, Role};
use crate::core::plan::{AgendaCase, Invitation, MeetingView};
use crate::core::schedule::{Meeting, MeetingKind, Occurrence};
use crate::core::time::{db, from_db};

pub mod copy;
pub mod deviation;
pub mod fast;
pub mod people;
pub mod read;
pub mod report;
pub mod retention;
pub mod review;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock key every PostgreSQL write transaction takes ("samverka" in ASCII).
const PG_WRITE_LOCK: i64 = 0x73616d7665726b61;

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where to open the store.
#[derive(Clone, Debug)]
pub enum Target<'a> {
    Sqlite(&'a Path),
    /// A `postgres://` URL and the password, if it is not in the URL.
    Postgres {
        url: &'a str,
        password: Option<&'a str>,
    },
}

/// A handle on the database. Cheap to clone.
///
/// Writers (write transactions and the few single-statement writes) take `writer` first, so the
/// daemon's tasks queue for the write lock in the process instead of colliding in SQLite, whose
/// busy handler sleeps 1, 2, 5, 10 ... ms between retries however soon the lock is free: the
/// intake and the outbox sender writing at once lost milliseconds per mail that way.
///
/// `waiting` counts the tasks queued for `writer`: a long writer (intake's batch) commits early
/// when someone waits, so the sender's one-row transactions are not held up for a whole batch.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: Arc<tokio::sync::Mutex<()>>,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    /// SQLite only: the connection intake's plain submissions use directly ([`fast`]).
    fast: Option<Arc<fast::Direct>>,
    /// SQLite only: the sender's claim, waiting for the write lock, handed to the writer that
    /// holds it (intake's batch on the direct connection), which carries it out in its own
    /// transaction and commit ([`Store::serve_claim`]).
    claim: Arc<std::sync::Mutex<Option<fast::ClaimRequest>>>,
}

// SQLite, without statistics, preferred the index on status and then sorted and read
// every pending row: `INDEXED BY` holds it to the index made for this query. PostgreSQL
// plans from its statistics. The bytes come in the same statement, from their own table
// (migration 0010: the claim's scan and the two updates touch a small row, not the
// 158 KiB of an invitation); PostgreSQL locks only the outbox row.
macro_rules! due {
    ($from:literal, $lock:literal) => {
        concat!(
            "SELECT outbox.id, outbox.kind, outbox.env_from, outbox.env_to, outbox.attempts, b.mime,
                    (SELECT c.case_no FROM cases c WHERE c.id = outbox.case_id), outbox.meeting_id FROM ",
            $from,
            " LEFT JOIN outbox_body b ON b.outbox_id = outbox.id
             WHERE outbox.status = 'pending' AND outbox.next_attempt_at <= $1
               AND (outbox.claimed_by = '' OR outbox.claimed_by = $2
                    OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.name = outbox.claimed_by AND i.alive_until > $1))
             ORDER BY outbox.next_attempt_at, outbox.id LIMIT 1",
            $lock
        )
    };
}

/// The claim's query on SQLite (`INDEXED BY`) and PostgreSQL (`FOR UPDATE ... SKIP LOCKED`).
const SQLITE_DUE: &str = due!("outbox INDEXED BY outbox_due", "");
const POSTGRES_DUE: &str = due!("outbox", " FOR UPDATE OF outbox SKIP LOCKED");

/// Takes a waiting outbox claim back out of the slot when its waiter ends.
struct ClaimBack<'a>(&'a std::sync::Mutex<Option<fast::ClaimRequest>>);

impl Drop for ClaimBack<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Percent-encodes a file path for a `sqlite:` URL (sqlx decodes it again).
fn sqlite_url(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::from("sqlite://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where intake stands in one IMAP folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxState {
    pub uidvalidity: u32,
    pub last_uid: u32,
    pub last_sync_at: Option<DateTime<Utc>>,
}

/// The record of one message read, written with its effects.
#[derive(Debug, Clone)]
pub struct IntakeRecord<'a> {
    pub mailbox: &'a str,
    pub uidvalidity: u32,
    pub uid: u32,
    pub message_id: &'a str,
    pub received_at: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
    pub kind: &'a str,
    pub outcome: &'a str,
    /// `processed` or `quarantine`.
    pub destination: &'a str,
    pub case_id: Option<i64>,
}

/// One outgoing mail, ready to be stored in the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message_id: String,
    pub kind: String,
    pub forum_id: String,
    pub case_id: Option<i64>,
    /// The meeting the mail is about (invitations), so answers without calendar data match.
    pub meeting_id: Option<i64>,
    pub env_from: String,
    pub env_to: Vec<String>,
    pub mime: Vec<u8>,
}

/// A row of the outbox that is due to be sent.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub env_from: String,
    pub env_to: Vec<String>,
    pub mime: Vec<u8>,
    pub attempts: u32,
    /// What the mail is about, for the log line when it leaves (never an address).
    pub case_no: Option<String>,
    pub meeting_id: Option<i64>,
}

/// A new case to insert.
#[derive(Debug, Clone)]
pub struct NewCase<'a> {
    pub forum_id: &'a str,
    pub year: i32,
    pub status: &'a str,
    pub submitter: &'a str,
    pub message_id: &'a str,
    pub content_hash: &'a str,
    pub sections_json: &'a str,
    pub meeting_id: Option<i64>,
    pub urgent: bool,
    pub units_json: &'a str,
    pub received_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// An obligation row.
#[derive(Debug, Clone)]
pub struct ObligationRow {
    pub id: i64,
    pub forum_id: String,
    pub kind: String,
    pub case_id: Option<i64>,
    pub meeting_id: Option<i64>,
    pub owners: Vec<String>,
    pub escalate_to: Vec<String>,
    pub remind_at: Option<DateTime<Utc>>,
    pub escalate_at: Option<DateTime<Utc>>,
    pub reminded: bool,
    pub escalated: bool,
    pub opened_at: Option<DateTime<Utc>>,
    pub data: serde_json::Value,
    pub request_message_id: String,
    pub closed: bool,
}

impl ObligationRow {
    /// What deciding a reply in its thread needs (`core::followup`).
    pub fn in_thread(&self) -> crate::core::followup::ThreadObligation {
        crate::core::followup::ThreadObligation {
            id: self.id,
            kind: self.kind.clone(),
            owners: self.owners.clone(),
            escalate_to: self.escalate_to.clone(),
            closed: self.closed,
            case_id: self.case_id,
            meeting_id: self.meeting_id,
            data: self.data.clone(),
        }
    }

    pub fn core(&self) -> crate::core::obligation::Obligation {
        crate::core::obligation::Obligation {
            id: self.id,
            kind: self.kind.clone(),
            remind_at: self.remind_at,
            escalate_at: self.escalate_at,
            reminded: self.reminded,
            escalated: self.escalated,
            closed: self.closed,
        }
    }
}

/// A new obligation.
#[derive(Debug, Clone, Default)]
pub struct NewObligation {
    pub forum_id: String,
    pub kind: String,
    pub case_id: Option<i64>,
    pub meeting_id: Option<i64>,
    pub owners: Vec<String>,
    pub escalate_to: Vec<String>,
    pub remind_at: Option<DateTime<Utc>>,
    pub escalate_at: Option<DateTime<Utc>>,
    pub data: serde_json::Value,
    pub request_message_id: String,
}

/// A case, as the after-meeting routines need it.
#[derive(Debug, Clone)]
pub struct CaseRow {
    pub id: i64,
    pub forum_id: String,
    pub case_no: String,
    pub status: String,
    pub submitter: String,
    pub units: Vec<String>,
    pub sections: BTreeMap<crate::core::submission::SectionKey, String>,
    pub meeting_id: Option<i64>,
    pub message_id: String,
    pub handover: serde_json::Value,
    pub transfer_on: String,
}

/// What `samverkan status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub forums: Vec<ForumStatus>,
    pub outbox_pending: i64,
    pub outbox_failed: i64,
    pub outbox_sent: i64,
    pub oldest_pending_at: Option<String>,
    pub mailboxes: Vec<MailboxStatus>,
    pub intake_total: i64,
    pub quarantined: i64,
    /// Open obligations by kind.
    pub obligations_open: Vec<(String, i64)>,
    /// Handovers the receiving unit has not confirmed: responsibility stays with the sending
    /// unit until it does (seed 001).
    pub unconfirmed_handovers: Vec<UnconfirmedHandover>,
    /// The daemons sharing this database (one on SQLite).
    pub instances: Vec<InstanceStatus>,
    /// Who reads which mailbox and runs the planner, and since when.
    pub leases: Vec<LeaseStatus>,
    /// OAuth2 providers waiting for an administrator: (provider, what to fix, since).
    pub oauth_admin_actions: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InstanceStatus {
    pub name: String,
    pub started_at: String,
    pub alive_until: String,
    pub version: String,
    pub pid: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LeaseStatus {
    pub name: String,
    pub holder: String,
    pub since: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UnconfirmedHandover {
    pub forum_id: String,
    pub case_no: String,
    pub to_unit: String,
    pub since: String,
    pub reminded: bool,
    pub escalated: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForumStatus {
    pub id: String,
    pub cases: i64,
    pub cases_by_status: Vec<(String, i64)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MailboxStatus {
    pub mailbox: String,
    pub uidvalidity: i64,
    pub last_uid: i64,
    pub last_sync_at: Option<String>,
}

/// An invitation from the columns `address, name, role, partstat, sequence_sent, active,
/// reminded_at, undeliverable, delegate, created_at` (in that order, first).
fn invitation_from(r: &AnyRow) -> Invitation {
    Invitation {
        address: r.get(0),
        name: r.get(1),
        role: if r.get::<String, _>(2) == "OPT-PARTICIPANT" {
            Role::Optional
        } else {
            Role::Required
        },
        partstat: partstat_from(&r.get::<String, _>(3)),
        sequence_sent: r.get::<i64, _>(4) as u32,
        active: r.get::<i64, _>(5) != 0,
        reminded: !r.get::<String, _>(6).is_empty(),
        undeliverable: r.get::<i64, _>(7) != 0,
        delegate: r.get::<i64, _>(8) != 0,
        invited_at: from_db(&r.get::<String, _>(9)).unwrap_or(DateTime::<Utc>::MIN_UTC),
    }
}

/// What every SQLite connection sets when it opens, the pool's and the direct one
/// (`store::fast`). secure_delete: freed space is zeroed, so deleted and overwritten personal
/// data does not linger in free pages (docs/operations.md, "Retention"). temp_store = MEMORY: a
/// mail's savepoint journal holds a copy of every page the mail changes, and past 64 KiB SQLite
/// would spill it to a temporary file, at two pwrite calls per page (issue 20's profile).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
     PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;";

/// How a SQLite write transaction starts: the connection's sync level first (a pooled
/// connection keeps the level its last transaction set, and [`Store::batch_synced`] leaves it at
/// FULL), then the write lock at once. The few single-statement writes made on the pool (marks
/// after an IMAP move, lease renewals) run at whatever level their connection has: at worst
/// synced, never less.
const SQLITE_BEGIN: &str = "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE";

/// The statements intake's batches run, shared by [`Tx`] (sqlx, both engines) and
/// [`fast::FastTx`] (SQLite called directly): one text each, so the two paths cannot drift.
pub(crate) mod sql {
    /// Message-ID $1 was handled before: a count.
    pub const MESSAGE_ID_SEEN: &str = "SELECT count(*) FROM intake WHERE message_id = $1";
    /// The first case of forum $1 with content fingerprint $2: its number.
    pub const CASE_WITH_HASH: &str = "SELECT case_no FROM cases WHERE forum_id = $1 AND content_hash = $2 ORDER BY id LIMIT 1";
    /// Forum $1's meetings starting after $2, soonest first. The reader stops after the
    /// rows it wants (an index gives them in order): with `LIMIT $3`, SQLite's planner reads
    /// the bound limit and marks the statement to be compiled again at every new value, that
    /// is at every mail of a burst (issue 20's profile).
    pub const MEETINGS_AFTER: &str =
        "SELECT id, starts_at, kind, place, status FROM meetings WHERE forum_id = $1 AND starts_at > $2 AND kind <> 'person'
         ORDER BY starts_at";
    /// Rejection answers ("incomplete", "no parts") queued since $1 to address $2: a count.
    /// The kinds are spelled out, not bound: the partial index `outbox_rejections` serves a
    /// query that names them.
    pub const REJECTIONS_TO_SINCE: &str = "SELECT count(*) FROM outbox WHERE kind IN ('incomplete', 'no_parts') AND created_at >= $1
             AND EXISTS (SELECT 1 FROM json_each(outbox.env_to) WHERE value = $2)";
    /// The next case number of forum $1 and year $2.
    pub const NEXT_CASE_NO: &str = "INSERT INTO case_counter (forum_id, year, last_number) VALUES ($1, $2, 1)
             ON CONFLICT(forum_id, year) DO UPDATE SET last_number = case_counter.last_number + 1 RETURNING last_number";
    pub const INSERT_CASE: &str = "INSERT INTO cases (forum_id, case_no, status, submitter, message_id, content_hash, sections_json,
                                meeting_id, urgent, units_json, received_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id";
    /// An outbox row; none when Message-ID $1 is queued already.
    pub const ENQUEUE: &str =
        "INSERT INTO outbox (message_id, kind, forum_id, case_id, meeting_id, env_from, env_to, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT(message_id) DO NOTHING RETURNING id";
    pub const ENQUEUE_BODY: &str = "INSERT INTO outbox_body (outbox_id, mime) VALUES ($1, $2)";
    /// Outbox row $4 claimed by instance $3 for attempt $1, due again at $2 if it is not
    /// concluded.
    pub const OUTBOX_CLAIM: &str = "UPDATE outbox SET attempts = $1, next_attempt_at = $2, claimed_by = $3 WHERE id = $4";
    /// A row when message $3 of mailbox $1 (UIDVALIDITY $2) has its intake record.
    pub const INTAKE_RECORDED: &str = "SELECT 1 FROM intake WHERE mailbox = $1 AND uidvalidity = $2 AND uid = $3";
    /// The intake record; no row when the message was recorded before.
    pub const RECORD_INTAKE: &str =
        "INSERT INTO intake (mailbox, uidvalidity, uid, message_id, received_at, processed_at, kind, outcome, destination, case_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT(mailbox, uidvalidity, uid) DO NOTHING";
}

/// Marks outbox row $2 sent at $1.
pub(crate) const OUTBOX_SENT: &str = "UPDATE outbox SET status = 'sent', sent_at = $1, last_error = '', claimed_by = '' WHERE id = $2";

fn partstat_from(s: &str) -> PartStat {
    match s {
        "ACCEPTED" => PartStat::Accepted,
        "DECLINED" => PartStat::Declined,
        "TENTATIVE" => PartStat::Tentative,
        "DELEGATED" => PartStat::Delegated,
        _ => PartStat::NeedsAction,
    }
}

/// Creates the database file with mode 0600 if it does not exist, and refuses one that other
/// users can read: it holds sensitive personal data.
fn ensure_private_file(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open database file {}", path.display()))?;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o007 != 0 {
        bail!(
            "database {} is readable or writable by other users (mode {:o}); it holds personal data: chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        Self::connect(Target::Sqlite(path)).await
    }

    /// Opens the configured database (reading its password, if any).
    pub async fn open_config(cfg: &crate::config::DatabaseConfig) -> Result<Store> {
        use crate::config::Database;
        match &cfg.backend {
            Database::Sqlite(p) => Self::open(p).await,
            Database::Postgres { url, password } => {
                let password = password.as_ref().map(|s| s.resolve()).transpose().map_err(anyhow::Error::msg)?;
                Self::connect(Target::Postgres {
                    url,
                    password: password.as_deref(),
                })
                .await
            }
        }
    }

    /// Opens a store and applies its backend's pending migrations.
    pub async fn connect(target: Target<'_>) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let target_path = match &target {
            Target::Sqlite(p) => Some(p.to_path_buf()),
            Target::Postgres { .. } => None,
        };
        let (pool, backend) = match target {
            Target::Sqlite(path) => {
                ensure_private_file(path)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    // A write that fails with SQLITE_FULL or an I/O error makes SQLite roll the
                    // transaction back itself; sqlx's ROLLBACK on drop then fails and leaves the
                    // connection counting an open transaction, so every later BEGIN on it fails
                    // ("begin_with at non-zero transaction depth"). Such a connection is closed
                    // instead of reused (found by tests/e2e_diskfull.rs).
                    .before_acquire(|conn, _| Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) }))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect(&sqlite_url(path))
                    .await
                    .with_context(|| format!("cannot open database {}", path.display()))?;
                (pool, Backend::Sqlite)
            }
            Target::Postgres { url, password } => {
                let mut u = url::Url::parse(url).context("database.url is not a URL")?;
                if let Some(p) = password {
                    u.set_password(Some(p))
                        .map_err(|_| anyhow::anyhow!("database.url cannot carry a password"))?;
                }
                let shown = crate::config::redact_url(url);
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .before_acquire(|conn, _| Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) }))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(u.as_str())
                    .await
                    .with_context(|| format!("cannot connect to database {shown}"))?;
                (pool, Backend::Postgres)
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&pool).await.context("cannot apply database migrations")?;
        let fast = target_path.map(|p| Arc::new(fast::Direct::new(&p)));
        Ok(Store {
            pool,
            backend,
            writer: Arc::new(tokio::sync::Mutex::new(())),
            waiting: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            claim: Arc::default(),
            fast,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction. SQLite: `BEGIN IMMEDIATE` (the write lock is taken at once,
    /// so two writers queue on the busy timeout instead of failing mid-transaction).
    /// PostgreSQL: `BEGIN` and the shared advisory write lock, held until commit or rollback.
    pub async fn begin(&self) -> Result<Tx> {
        self.begin_at(SQLITE_BEGIN).await
    }

    /// Whether this store has the direct path ([`fast`]): SQLite.
    pub fn has_direct(&self) -> bool {
        self.fast.is_some()
    }

    /// A write transaction on SQLite's direct connection, for intake's plain submissions
    /// ([`fast`]); `None` on PostgreSQL, which has no such path.
    pub async fn begin_fast(&self) -> Result<Option<fast::FastTx>> {
        let Some(c) = &self.fast else {
            return Ok(None);
        };
        let writer = self.write_lock().await;
        fast::FastTx::begin(c.lock().await?, writer).map(Some)
    }

    /// [`Store::begin`], with `sqlite_begin` (the sync level, then `BEGIN IMMEDIATE`) on SQLite.
    async fn begin_at(&self, sqlite_begin: &'static str) -> Result<Tx> {
        let writer = self.write_lock().await;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with(sqlite_begin).await,
            Backend::Postgres => self.pool.begin().await,
        }
        .context("cannot start a database transaction")?;
        let mut tx = Tx { _writer: writer, tx };
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_WRITE_LOCK)
                .execute(&mut *tx.tx)
                .await
                .context("cannot take the database write lock")?;
        }
        Ok(tx)
    }

    /// Takes the in-process write lock, counted in `waiting` while queued for it.
    async fn write_lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        use std::sync::atomic::Ordering;
        if let Ok(g) = Arc::clone(&self.writer).try_lock_owned() {
            return g;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // Counted down however the wait ends (the future may be dropped).
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _w = Waiting(&self.waiting);
        Arc::clone(&self.writer).lock_owned().await
    }

    /// Counts an intake batch of `mailbox` as committed, in a transaction whose commit is
    /// synced: when this returns, it and every transaction committed before it are on disk,
    /// even across a power loss. Intake calls it before moving the batch's mails out of the
    /// inbox (a commit lost after the move would lose their cases). SQLite in WAL mode at
    /// `synchronous = NORMAL` syncs the log only at checkpoints; this one transaction runs at
    /// FULL (the level cannot change inside a transaction), and the counter always changes, so
    /// the commit writes a frame and syncs the log. PostgreSQL's commits are durable anyway.
    pub async fn batch_synced(&self, mailbox: &str) -> Result<()> {
        let mut tx = self.begin_at("PRAGMA synchronous = FULL; BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE mailbox_state SET batches = batches + 1 WHERE mailbox = $1")
            .bind(mailbox)
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }

    /// Whether another task is waiting for the write lock: a transaction holding it for many
    /// items (intake's batch) commits what it has and lets that task in.
    pub fn writer_wanted(&self) -> bool {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst) > 0 || self.claim_slot().is_some()
    }

    fn claim_slot(&self) -> std::sync::MutexGuard<'_, Option<fast::ClaimRequest>> {
        self.claim.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Carries out the sender's waiting claim, if any, inside `f` (intake's batch on the direct
    /// connection, which holds the write lock): the last mail's outcome recorded and the next
    /// row claimed, committed together with the batch's work so far, and the batch goes on in
    /// a new transaction without letting go of the lock. One commit and no hand-over of the
    /// lock per receipt, where the sender used to wait for the lock, make its own transaction
    /// and commit, and hand the lock back (issue 20). Returns whether there was one.
    pub fn serve_claim(&self, f: &mut fast::FastTx) -> Result<bool> {
        let Some(req) = self.claim_slot().take() else {
            return Ok(false);
        };
        f.serve_claim(SQLITE_DUE, req)?;
        Ok(true)
    }

    /// Every mail that reached `mailbox` before this time has been handled; `None` before the
    /// first completed pass.
    pub async fn read_through(&self, mailbox: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.mailbox_state(mailbox).await?.and_then(|m| m.last_sync_at))
    }

    pub async fn mailbox_state(&self, mailbox: &str) -> Result<Option<MailboxState>> {
        let row = sqlx::query("SELECT uidvalidity, last_uid, last_sync_at FROM mailbox_state WHERE mailbox = $1")
            .bind(mailbox)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| MailboxState {
            uidvalidity: r.get::<i64, _>(0) as u32,
            last_uid: r.get::<i64, _>(1) as u32,
            last_sync_at: from_db(&r.get::<String, _>(2)),
        }))
    }

    /// Sets the folder's UIDVALIDITY; when it differs from the stored one, the UID cursor
    /// restarts at 0 (Message-ID dedupe keeps the refetch harmless).
    pub async fn set_uidvalidity(&self, mailbox: &str, uidvalidity: u32) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query(
            "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ($1, $2, 0)
             ON CONFLICT(mailbox) DO UPDATE SET last_uid = CASE WHEN mailbox_state.uidvalidity = excluded.uidvalidity THEN mailbox_state.last_uid ELSE 0 END,
                                               uidvalidity = excluded.uidvalidity",
        )
        .bind(mailbox)
        .bind(i64::from(uidvalidity))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a completed pass over the folder, up to `last_uid`, that listed the folder at
    /// `started`: every mail that reached the folder before `started` has been handled (its
    /// effects committed). `last_sync_at` holds that time, never moving back; a cutoff's actions
    /// wait for it (`Store::read_through`, `core::plan::awaiting_inbox`).
    pub async fn mark_synced(&self, mailbox: &str, last_uid: u32, started: DateTime<Utc>) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query(
            "UPDATE mailbox_state SET last_uid = CASE WHEN last_uid > $1 THEN last_uid ELSE $1 END,
                    last_sync_at = CASE WHEN last_sync_at > $2 THEN last_sync_at ELSE $2 END WHERE mailbox = $3",
        )
        .bind(i64::from(last_uid))
        .bind(db(started))
        .bind(mailbox)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The UIDs among `uids` that already have an intake record, with their destination folder.
    pub async fn known_uids(&self, mailbox: &str, uidvalidity: u32, uids: &[u32]) -> Result<Vec<(u32, String)>> {
        let mut out = Vec::new();
        for chunk in uids.chunks(500) {
            let json = serde_json::to_string(chunk)?;
            let rows = sqlx::query(
                "SELECT uid, destination FROM intake WHERE mailbox = $1 AND uidvalidity = $2
                 AND uid IN (SELECT CAST(value AS BIGINT) FROM json_each($3))",
            )
            .bind(mailbox)
            .bind(i64::from(uidvalidity))
            .bind(json)
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows.into_iter().map(|r| (r.get::<i64, _>(0) as u32, r.get::<String, _>(1))));
        }
        Ok(out)
    }

    /// Whether a message with this Message-ID was handled before.
    pub async fn message_id_seen(&self, message_id: &str) -> Result<bool> {
        read::message_id_seen(&mut *self.pool.acquire().await?, message_id).await
    }

    /// The case number of an existing case with the same content fingerprint in this forum.
    pub async fn case_with_hash(&self, forum_id: &str, content_hash: &str) -> Result<Option<String>> {
        read::case_with_hash(&mut *self.pool.acquire().await?, forum_id, content_hash).await
    }

    /// The case of `forum_id` a mail refers to: its case number (from the subject), or a
    /// Message-ID in its In-Reply-To/References that is the case's submission or one of our
    /// mails about the case. The newest match wins.
    pub async fn thread_case(&self, forum_id: &str, ids: &[String], case_ref: Option<&str>) -> Result<Option<ThreadCase>> {
        read::thread_case(&mut *self.pool.acquire().await?, forum_id, ids, case_ref).await
    }

    /// Inserts the occurrences not yet stored (existing rows, possibly moved or cancelled by an
    /// admin, are left as they are).
    pub async fn ensure_meetings(&self, forum_id: &str, domain: &str, occ: &[Occurrence], place: &str, now: DateTime<Utc>) -> Result<()> {
        let _writer = self.write_lock().await;
        for o in occ {
            let key = o.key.format("%Y-%m-%d").to_string();
            sqlx::query(
                "INSERT INTO meetings (forum_id, occurrence, uid, kind, starts_at, ends_at, place, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT(forum_id, occurrence) DO UPDATE SET uid = excluded.uid WHERE meetings.uid = ''",
            )
            .bind(forum_id)
            .bind(&key)
            .bind(crate::core::plan::uid(forum_id, &key, domain))
            .bind(o.kind.as_str())
            .bind(db(o.start))
            .bind(db(o.end))
            .bind(place)
            .bind(db(now))
            .bind(db(now))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The forum's meetings starting after `after`, soonest first.
    pub async fn meetings_after(&self, forum_id: &str, after: DateTime<Utc>, limit: u32) -> Result<Vec<Meeting>> {
        read::meetings_after(&mut *self.pool.acquire().await?, forum_id, after, limit).await
    }

    /// Meetings starting in `[from, until)` with their invitations and agenda (complete cases).
    /// Three queries whatever the number of meetings: the meetings, then all their invitations
    /// and all their agenda cases, grouped here (a query per meeting cost ~30 µs each: 28 ms for
    /// the 480 meetings of a 400-day window).
    pub async fn meeting_views(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<MeetingView>> {
        read::meeting_views(&mut *self.pool.acquire().await?, from, until).await
    }

    /// The cases attached to the meetings starting in `[from, until)`, decided ones included
    /// (the agenda of a `MeetingView` holds only those still awaiting the meeting): meeting id →
    /// (case number, case status), by case number. A case decided for follow-up moves to its
    /// follow-up meeting and is listed there.
    pub async fn meeting_cases(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<BTreeMap<i64, Vec<(String, String)>>> {
        let rows = sqlx::query(
            "SELECT meeting_id, case_no, status FROM cases
             WHERE meeting_id IN (SELECT id FROM meetings WHERE starts_at >= $1 AND starts_at < $2)
               AND status NOT IN ('withdrawn', 'incomplete')
             ORDER BY meeting_id, case_no",
        )
        .bind(db(from))
        .bind(db(until))
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
        for r in rows {
            out.entry(r.get(0)).or_default().push((r.get(1), r.get(2)));
        }
        Ok(out)
    }

    /// One meeting, by id.
    pub async fn meeting_view(&self, id: i64) -> Result<Option<MeetingView>> {
        read::meeting_view(&mut *self.pool.acquire().await?, id).await
    }

    pub async fn invitations(&self, meeting_id: i64) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(
            "SELECT address, name, role, partstat, sequence_sent, active, reminded_at, undeliverable, delegate, created_at
             FROM invitations WHERE meeting_id = $1 ORDER BY id",
        )
        .bind(meeting_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(invitation_from).collect())
    }

    /// When and how each invitee's answer was known: address → (time, source).
    pub async fn invitation_answers(&self, meeting_id: i64) -> Result<BTreeMap<String, (String, String)>> {
        let rows = sqlx::query("SELECT address, partstat_at, partstat_source FROM invitations WHERE meeting_id = $1")
            .bind(meeting_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect())
    }

    /// Each forum's most recent note taker: the meetings with one, in time order, the last one
    /// kept (one pass over the table; a correlated subquery per meeting took 4-22 ms at 1,000
    /// meetings).
    pub async fn last_note_takers(&self) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query("SELECT forum_id, note_taker FROM meetings WHERE note_taker != '' ORDER BY starts_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Admin: moves a meeting (and raises its SEQUENCE so invitees get the change).
    pub async fn move_meeting(
        &self,
        id: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        place: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let _writer = self.write_lock().await;
        let r = sqlx::query(
            "UPDATE meetings SET starts_at = $1, ends_at = $2, place = coalesce($3, place), sequence = sequence + 1, updated_at = $4
             WHERE id = $5 AND status = 'scheduled'",
        )
        .bind(db(start))
        .bind(db(end))
        .bind(place)
        .bind(db(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Admin: cancels a meeting (invitees get a CANCEL; its cases wait for a new meeting).
    pub async fn cancel_meeting(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.begin().await?;
        let r = sqlx::query(
            "UPDATE meetings SET status = 'cancelled', sequence = sequence + 1, updated_at = $1 WHERE id = $2 AND status = 'scheduled'",
        )
        .bind(db(now))
        .bind(id)
        .execute(tx.conn())
        .await?;
        sqlx::query("UPDATE cases SET meeting_id = NULL, updated_at = $1 WHERE meeting_id = $2 AND status = 'submitted'")
            .bind(db(now))
            .bind(id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// The meeting with this calendar UID.
    pub async fn meeting_by_uid(&self, uid: &str) -> Result<Option<i64>> {
        read::meeting_by_uid(&mut *self.pool.acquire().await?, uid).await
    }

    /// The meeting one of our mails with these Message-IDs was about, and that mail's recipients.
    pub async fn outbox_meeting(&self, message_ids: &[String]) -> Result<Option<(i64, Vec<String>)>> {
        read::outbox_meeting(&mut *self.pool.acquire().await?, message_ids).await
    }

    /// The SEQUENCE the invitee's recorded answer was to, if they answered.
    pub async fn answered_sequence(&self, meeting_id: i64, address: &str) -> Result<Option<u32>> {
        read::answered_sequence(&mut *self.pool.acquire().await?, meeting_id, address).await
    }

    fn obligation_row(r: &AnyRow) -> ObligationRow {
        let list = |i: usize| serde_json::from_str::<Vec<String>>(&r.get::<String, _>(i)).unwrap_or_default();
        let t = |i: usize| from_db(&r.get::<String, _>(i));
        ObligationRow {
            id: r.get(0),
            forum_id: r.get(1),
            kind: r.get(2),
            case_id: r.get(3),
            meeting_id: r.get(4),
            owners: list(5),
            escalate_to: list(6),
            remind_at: t(7),
            escalate_at: t(8),
            reminded: !r.get::<String, _>(9).is_empty(),
            escalated: !r.get::<String, _>(10).is_empty(),
            opened_at: t(11),
            data: serde_json::from_str(&r.get::<String, _>(12)).unwrap_or_default(),
            request_message_id: r.get(13),
            closed: !r.get::<String, _>(14).is_empty(),
        }
    }

    /// Every open obligation.
    pub async fn open_obligations(&self) -> Result<Vec<ObligationRow>> {
        let rows = sqlx::query(
            "SELECT id, forum_id, kind, case_id, meeting_id, owners, escalate_to, remind_at, escalate_at, reminded_at, escalated_at,
                    opened_at, data_json, request_message_id, closed_at FROM obligations WHERE closed_at = '' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(Self::obligation_row).collect())
    }

    /// The obligations of the forum (open or closed) that a mail among `ids` (a thread) was sent about.
    pub async fn obligations_for_thread(&self, forum_id: &str, ids: &[String]) -> Result<Vec<ObligationRow>> {
        read::obligations_for_thread(&mut *self.pool.acquire().await?, forum_id, ids).await
    }

    /// A case by its number in a forum.
    pub async fn case_by_no(&self, forum_id: &str, case_no: &str) -> Result<Option<CaseRow>> {
        read::case_by_no(&mut *self.pool.acquire().await?, forum_id, case_no).await
    }

    /// A case by id.
    pub async fn case_by_id(&self, id: i64) -> Result<Option<CaseRow>> {
        read::case_by_id(&mut *self.pool.acquire().await?, id).await
    }

    fn case_row(r: &AnyRow) -> CaseRow {
        CaseRow {
            id: r.get(0),
            forum_id: r.get(1),
            case_no: r.get(2),
            status: r.get(3),
            submitter: r.get(4),
            units: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or_default(),
            sections: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
            meeting_id: r.get(7),
            message_id: r.get(8),
            handover: serde_json::from_str(&r.get::<String, _>(9)).unwrap_or_default(),
            transfer_on: r.get(10),
        }
    }

    /// Cases waiting for their follow-up meeting (UPPFÖLJNING, not yet on a meeting). A case
    /// whose data the retention purge wiped is not put on a meeting again.
    pub async fn follow_ups_waiting(&self, forum_id: &str) -> Result<Vec<(i64, String)>> {
        Ok(
            sqlx::query("SELECT id, follow_up_on FROM cases WHERE forum_id = $1 AND status = 'follow_up' AND meeting_id IS NULL AND sections_json != '{}'")
                .bind(forum_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
        )
    }

    /// Cases with a known transfer date in `[from, until]` (local dates), for the
    /// avstämningsmöte's inventory of upcoming transfers.
    pub async fn transfers_between(&self, forum_id: &str, from: &str, until: &str) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query(
            "SELECT case_no, transfer_on, submitter FROM cases WHERE forum_id = $1 AND transfer_on != '' AND transfer_on >= $2 AND transfer_on <= $3
             AND status NOT IN ('withdrawn', 'closed') ORDER BY transfer_on",
        )
        .bind(forum_id)
        .bind(from)
        .bind(until)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
    }

    /// Mails from non-members (quarantined, never answered) that arrived since `since`.
    pub async fn not_member_since(&self, since: DateTime<Utc>) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM intake WHERE outcome = 'not_member' AND received_at >= $1")
                .bind(db(since))
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Complete cases of the forum that are on no meeting (their meeting was cancelled), and
    /// whose data the retention purge has not wiped.
    pub async fn cases_without_meeting(&self, forum_id: &str) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM cases WHERE forum_id = $1 AND status = 'submitted' AND meeting_id IS NULL AND sections_json != '{}' ORDER BY id")
                .bind(forum_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Puts cases on a meeting.
    pub async fn set_case_meeting(&self, ids: &[i64], meeting_id: i64, now: DateTime<Utc>) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query("UPDATE cases SET meeting_id = $1, updated_at = $2 WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each($3)) AND meeting_id IS NULL")
            .bind(meeting_id)
            .bind(db(now))
            .bind(serde_json::to_string(ids)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Admin: adds an extra meeting outside the series. Returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_meeting(
        &self,
        forum_id: &str,
        domain: &str,
        kind: MeetingKind,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        place: &str,
        occurrence: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let _writer = self.write_lock().await;
        Ok(sqlx::query_scalar(
            "INSERT INTO meetings (forum_id, occurrence, uid, kind, starts_at, ends_at, place, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(forum_id)
        .bind(occurrence)
        .bind(crate::core::plan::uid(forum_id, occurrence, domain))
        .bind(kind.as_str())
        .bind(db(start))
        .bind(db(end))
        .bind(place)
        .bind(db(now))
        .bind(db(now))
        .fetch_one(&self.pool)
        .await?)
    }

    /// [`read::rejections_to_since`] on a pooled connection.
    pub async fn rejections_to_since(&self, address: &str, since: DateTime<Utc>) -> Result<u32> {
        read::rejections_to_since(&mut *self.pool.acquire().await?, address, since).await
    }

    /// Marks these UIDs as moved on the server.
    pub async fn mark_moved(&self, mailbox: &str, uidvalidity: u32, uids: &[u32], now: DateTime<Utc>) -> Result<()> {
        let _writer = self.write_lock().await;
        let json = serde_json::to_string(uids)?;
        sqlx::query("UPDATE intake SET moved_at = $1 WHERE mailbox = $2 AND uidvalidity = $3 AND uid IN (SELECT CAST(value AS BIGINT) FROM json_each($4))")
            .bind(db(now))
            .bind(mailbox)
            .bind(i64::from(uidvalidity))
            .bind(json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- outbox --------------------------------------------------------------------------------

    /// Outbox rows due at `now`, oldest first.
    pub async fn due_outbox(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT o.id, o.kind, o.env_from, o.env_to, b.mime, o.attempts, (SELECT c.case_no FROM cases c WHERE c.id = o.case_id), o.meeting_id
             FROM outbox o JOIN outbox_body b ON b.outbox_id = o.id
             WHERE o.status = 'pending' AND o.next_attempt_at <= $1 ORDER BY o.next_attempt_at, o.id LIMIT $2",
        )
        .bind(db(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(OutboxRow {
                    id: r.get(0),
                    kind: r.get(1),
                    env_from: r.get(2),
                    env_to: serde_json::from_str(&r.get::<String, _>(3)).context("outbox env_to is not a JSON list")?,
                    mime: r.get(4),
                    attempts: r.get::<i64, _>(5) as u32,
                    case_no: r.get(6),
                    meeting_id: r.get(7),
                })
            })
            .collect()
    }

    /// How many pending outbox rows are due by `until` (their bytes are not read).
    pub async fn due_outbox_count(&self, until: DateTime<Utc>) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1")
                .bind(db(until))
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// When the next pending outbox row is due, if any.
    pub async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        let s: Option<String> = sqlx::query_scalar("SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(s.as_deref().and_then(from_db))
    }

    /// Claims the next due outbox row for `instance` and counts the attempt *before* it is
    /// made: its due time moves to `retry_at(attempt)` and it is marked as this instance's, so a
    /// crash mid-send retries later instead of never, and no other instance takes it while this
    /// one is alive. A row claimed by an instance that is gone (its `alive_until` past) is due
    /// again at its retry time. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so instances claiming at
    /// once take different rows instead of waiting for each other.
    pub async fn claim_next_outbox(
        &self,
        now: DateTime<Utc>,
        instance: &str,
        retry_at: impl Fn(u32) -> DateTime<Utc> + Clone + Send + Sync + 'static,
    ) -> Result<Option<(OutboxRow, u32)>> {
        self.claim_next_after(None, now, instance, retry_at).await
    }

    /// Records that row `sent` was sent and claims the next due row (as
    /// [`Store::claim_next_outbox`]) in one transaction: one turn of the write lock and one
    /// commit per mail instead of two. The outcome is committed before the next mail is sent.
    pub async fn outbox_sent_claim_next(
        &self,
        sent: i64,
        now: DateTime<Utc>,
        instance: &str,
        retry_at: impl Fn(u32) -> DateTime<Utc> + Clone + Send + Sync + 'static,
    ) -> Result<Option<(OutboxRow, u32)>> {
        self.claim_next_after(Some(sent), now, instance, retry_at).await
    }

    async fn claim_next_after(
        &self,
        sent: Option<i64>,
        now: DateTime<Utc>,
        instance: &str,
        retry_at: impl Fn(u32) -> DateTime<Utc> + Clone + Send + Sync + 'static,
    ) -> Result<Option<(OutboxRow, u32)>> {
        if let Some(c) = &self.fast {
            // SQLite: on the direct connection, the claim's statements without a thread
            // hand-over each (issue 20); the write lock is the transaction's. When another
            // writer holds the lock, the claim waits in `claim` for it: intake's batch carries
            // it out in its transaction; any other writer lets go of the lock at its next
            // step (`writer_wanted`), and the claim then runs here.
            let writer = match Arc::clone(&self.writer).try_lock_owned() {
                Ok(g) => g,
                Err(_) => {
                    let (reply, mut answer) = tokio::sync::oneshot::channel();
                    {
                        let mut slot = self.claim_slot();
                        if slot.is_some() {
                            anyhow::bail!("two outbox claims at once in one process");
                        }
                        *slot = Some(fast::ClaimRequest {
                            sent,
                            now,
                            instance: instance.to_string(),
                            retry_at: Box::new(retry_at.clone()),
                            reply,
                        });
                    }
                    // Taken back however the wait ends (the future may be dropped).
                    let _unclaim = ClaimBack(&self.claim);
                    tokio::select! {
                        biased;
                        r = &mut answer => return r.context("the writer dropped the outbox claim")?,
                        g = Arc::clone(&self.writer).lock_owned() => {
                            if self.claim_slot().take().is_none() {
                                // Served while the lock was being handed over: the answer is in.
                                drop(g);
                                return answer.await.context("the writer dropped the outbox claim")?;
                            }
                            g
                        }
                    }
                }
            };
            let f = fast::FastTx::begin(c.lock().await?, writer)?;
            let claimed = f.claim_next_after(SQLITE_DUE, sent, now, instance, retry_at)?;
            f.commit()?;
            return Ok(claimed);
        }
        let _writer = self.write_lock().await;
        let (mut tx, sql) = match self.backend {
            Backend::Sqlite => (self.pool.begin_with(SQLITE_BEGIN).await?, SQLITE_DUE),
            Backend::Postgres => (self.pool.begin().await?, POSTGRES_DUE),
        };
        if let Some(id) = sent {
            sqlx::query(OUTBOX_SENT).bind(db(now)).bind(id).execute(&mut *tx).await?;
        }
        let row = sqlx::query(sql).bind(db(now)).bind(instance).fetch_optional(&mut *tx).await?;
        let Some(r) = row else {
            if sent.is_some() {
                tx.commit().await?;
            }
            return Ok(None);
        };
        let id: i64 = r.get(0);
        let mime: Vec<u8> = r
            .get::<Option<Vec<u8>>, _>(5)
            .with_context(|| format!("outbox row {id} has no body"))?;
        let row = OutboxRow {
            id,
            kind: r.get(1),
            env_from: r.get(2),
            env_to: serde_json::from_str(&r.get::<String, _>(3)).context("outbox env_to is not a JSON list")?,
            mime,
            attempts: r.get::<i64, _>(4) as u32,
            case_no: r.get(6),
            meeting_id: r.get(7),
        };
        let attempt = row.attempts + 1;
        sqlx::query(sql::OUTBOX_CLAIM)
            .bind(i64::from(attempt))
            .bind(db(retry_at(attempt)))
            .bind(instance)
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((row, attempt)))
    }

    /// Makes rows this instance claimed but never concluded (it stopped or crashed while
    /// sending them) due now, so the one mail in flight at a crash goes out at once on restart.
    /// Returns how many there were.
    pub async fn release_inflight(&self, instance: &str, now: DateTime<Utc>) -> Result<u64> {
        let _writer = self.write_lock().await;
        let r = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1, claimed_by = ''
             WHERE status = 'pending' AND (claimed_by = $2 OR (claimed_by = '' AND attempts > 0 AND last_error = '' AND next_attempt_at > $1))",
        )
        .bind(db(now))
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn outbox_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query(OUTBOX_SENT).bind(db(now)).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// What an outbox row is about: (kind, forum, meeting, recipients).
    pub async fn outbox_meta(&self, id: i64) -> Result<Option<(String, String, Option<i64>, Vec<String>)>> {
        let row = sqlx::query("SELECT kind, forum_id, meeting_id, env_to FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                serde_json::from_str(&r.get::<String, _>(3)).unwrap_or_default(),
            )
        }))
    }

    /// Records a failed attempt; `permanent` marks the row failed for good.
    pub async fn outbox_failed(&self, id: i64, error: &str, permanent: bool) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query(
            "UPDATE outbox SET last_error = $1, status = CASE WHEN $2 THEN 'failed' ELSE status END, claimed_by = '' WHERE id = $3",
        )
        .bind(error)
        .bind(permanent)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- instances and leases -------------------------------------------------------------------

    /// Records that `name` is running and will renew this before `until`.
    pub async fn instance_alive(&self, name: &str, started_at: DateTime<Utc>, until: DateTime<Utc>, pid: u32) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query(
            "INSERT INTO instances (name, started_at, alive_until, version, pid) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(name) DO UPDATE SET started_at = excluded.started_at, alive_until = excluded.alive_until,
                                             version = excluded.version, pid = excluded.pid",
        )
        .bind(name)
        .bind(db(started_at))
        .bind(db(until))
        .bind(env!("CARGO_PKG_VERSION"))
        .bind(i64::from(pid))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A clean stop: the instance is gone now and its leases are free at once.
    pub async fn instance_stopped(&self, name: &str, now: DateTime<Utc>) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query("UPDATE instances SET alive_until = $1 WHERE name = $2")
            .bind(db(now))
            .bind(name)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM leases WHERE holder = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes or renews the lease `name` for `holder` until `until`: granted when nobody holds
    /// it, `holder` already does, or the holder let it expire. Returns whether `holder` has it.
    /// One statement, so two instances asking at once cannot both get it.
    pub async fn acquire_lease(&self, name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool> {
        let _writer = self.write_lock().await;
        let got: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT(name) DO UPDATE SET
                 acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
                 holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(db(now))
        .bind(db(until))
        .fetch_optional(&self.pool)
        .await?;
        Ok(got.as_deref() == Some(holder))
    }

    /// Gives a lease up (a clean stop), so another instance need not wait for it to expire.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- reporting -----------------------------------------------------------------------------

    pub async fn status(&self, forum_ids: &[String]) -> Result<Status> {
        let mut forums = Vec::new();
        for id in forum_ids {
            let rows = sqlx::query("SELECT status, count(*) FROM cases WHERE forum_id = $1 GROUP BY status ORDER BY status")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
            let by: Vec<(String, i64)> = rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
            forums.push(ForumStatus {
                id: id.clone(),
                cases: by.iter().map(|(_, n)| n).sum(),
                cases_by_status: by,
            });
        }
        // Each status spelled out, not bound: the partial indexes of pending and failed mail
        // (outbox_due, outbox_failed) serve a query that names their status.
        let count = |sql: &'static str| async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.pool).await };
        let oldest: Option<String> = sqlx::query_scalar("SELECT min(created_at) FROM outbox WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        let mailboxes = sqlx::query("SELECT mailbox, uidvalidity, last_uid, last_sync_at FROM mailbox_state ORDER BY mailbox")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| MailboxStatus {
                mailbox: r.get(0),
                uidvalidity: r.get(1),
                last_uid: r.get(2),
                last_sync_at: Some(r.get::<String, _>(3)).filter(|s| !s.is_empty()),
            })
            .collect();
        Ok(Status {
            forums,
            outbox_pending: count("SELECT count(*) FROM outbox WHERE status = 'pending'").await?,
            outbox_failed: count("SELECT count(*) FROM outbox WHERE status = 'failed'").await?,
            outbox_sent: count("SELECT count(*) FROM outbox WHERE status = 'sent'").await?,
            oldest_pending_at: oldest,
            mailboxes,
            intake_total: sqlx::query_scalar("SELECT count(*) FROM intake").fetch_one(&self.pool).await?,
            quarantined: sqlx::query_scalar("SELECT count(*) FROM intake WHERE destination = 'quarantine'")
                .fetch_one(&self.pool)
                .await?,
            obligations_open: sqlx::query("SELECT kind, count(*) FROM obligations WHERE closed_at = '' GROUP BY kind ORDER BY kind")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
            unconfirmed_handovers: sqlx::query(
                "SELECT o.forum_id, c.case_no, json_extract(o.data_json, '$.unit'), o.opened_at,
                        CASE WHEN o.reminded_at != '' THEN 1 ELSE 0 END, CASE WHEN o.escalated_at != '' THEN 1 ELSE 0 END
                 FROM obligations o JOIN cases c ON c.id = o.case_id
                 WHERE o.kind IN ('handover_info', 'handover_confirm') AND o.closed_at = '' ORDER BY o.opened_at",
            )
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| UnconfirmedHandover {
                forum_id: r.get(0),
                case_no: r.get(1),
                to_unit: r.get::<Option<String>, _>(2).unwrap_or_default(),
                since: r.get(3),
                reminded: r.get::<i64, _>(4) != 0,
                escalated: r.get::<i64, _>(5) != 0,
            })
            .collect(),
            instances: sqlx::query("SELECT name, started_at, alive_until, version, pid FROM instances ORDER BY name")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| InstanceStatus {
                    name: r.get(0),
                    started_at: r.get(1),
                    alive_until: r.get(2),
                    version: r.get(3),
                    pid: r.get(4),
                })
                .collect(),
            leases: sqlx::query("SELECT name, holder, acquired_at, expires_at FROM leases ORDER BY name")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| LeaseStatus {
                    name: r.get(0),
                    holder: r.get(1),
                    since: r.get(2),
                    expires_at: r.get(3),
                })
                .collect(),
            oauth_admin_actions: sqlx::query(
                "SELECT provider, admin_action, admin_since FROM oauth_state WHERE admin_action != '' ORDER BY provider",
            )
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        })
    }

    /// Records (or clears, with `None`) that an OAuth2 provider needs an administrator.
    pub async fn set_oauth_admin_action(&self, provider: &str, action: Option<(String, DateTime<Utc>)>) -> Result<()> {
        let _writer = self.write_lock().await;
        let (text, since) = action.map(|(t, s)| (t, crate::core::time::db(s))).unwrap_or_default();
        sqlx::query(
            "INSERT INTO oauth_state (provider, admin_action, admin_since, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT(provider) DO UPDATE SET admin_action = excluded.admin_action, admin_since = excluded.admin_since,
                                                updated_at = excluded.updated_at",
        )
        .bind(provider)
        .bind(&text)
        .bind(&since)
        .bind(crate::core::time::db(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces the stored refresh token in one statement (the old one is gone once the new
    /// one is there: a crash leaves one or the other, never neither).
    pub async fn set_oauth_refresh_token(&self, provider: &str, token: &str) -> Result<()> {
        let _writer = self.write_lock().await;
        sqlx::query(
            "INSERT INTO oauth_state (provider, refresh_token, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT(provider) DO UPDATE SET refresh_token = excluded.refresh_token, updated_at = excluded.updated_at",
        )
        .bind(provider)
        .bind(token)
        .bind(crate::core::time::db(Utc::now()))
        .execute(&self.pool)
        .await
        .context("storing the OAuth2 refresh token")?;
        Ok(())
    }

    /// The stored refresh token, if anyone signed in.
    pub async fn oauth_refresh_token(&self, provider: &str) -> Result<Option<String>> {
        let t: Option<String> = sqlx::query_scalar("SELECT refresh_token FROM oauth_state WHERE provider = $1")
            .bind(provider)
            .fetch_optional(&self.pool)
            .await
            .context("reading the OAuth2 refresh token")?;
        Ok(t.filter(|t| !t.is_empty()))
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A read-only view of one moment, for reports made of several queries: SQLite's deferred
    /// transaction reads one WAL snapshot; PostgreSQL needs REPEATABLE READ for the same.
    /// Dropped, it ends (rolls back).
    pub async fn read_snapshot(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?,
        })
    }

    /// Direct access for tests and reports that need an ad-hoc read.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    // Declared first, dropped first: the transaction ends (commit or rollback) before the
    // in-process write lock is released.
    tx: Transaction<'static, Any>,
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl Tx {
    /// Allocates the next case number of the forum and year: `2026-0001`, `2026-0002`, ...
    pub async fn next_case_no(&mut self, forum_id: &str, year: i32) -> Result<String> {
        let n: i64 = sqlx::query_scalar(sql::NEXT_CASE_NO)
            .bind(forum_id)
            .bind(year)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(format!("{year}-{n:04}"))
    }

    /// Inserts a case with a fresh number; returns its row id and case number.
    pub async fn insert_case(&mut self, c: &NewCase<'_>) -> Result<(i64, String)> {
        let case_no = self.next_case_no(c.forum_id, c.year).await?;
        let id: i64 = sqlx::query_scalar(sql::INSERT_CASE)
            .bind(c.forum_id)
            .bind(&case_no)
            .bind(c.status)
            .bind(c.submitter)
            .bind(c.message_id)
            .bind(c.content_hash)
            .bind(c.sections_json)
            .bind(c.meeting_id)
            .bind(i64::from(c.urgent))
            .bind(c.units_json)
            .bind(db(c.received_at))
            .bind(db(c.now))
            .bind(db(c.now))
            .fetch_one(&mut *self.tx)
            .await?;
        Ok((id, case_no))
    }

    /// Records an invitee's answer: PARTSTAT, when, how it was known, and to which SEQUENCE.
    pub async fn record_answer(
        &mut self,
        meeting_id: i64,
        address: &str,
        partstat: PartStat,
        sequence: Option<u32>,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE invitations SET partstat = $1, partstat_at = $2, partstat_source = $3,
                    partstat_sequence = CASE WHEN partstat_sequence > $4 THEN partstat_sequence ELSE $4 END WHERE meeting_id = $5 AND address = $6",
        )
        .bind(partstat.as_str())
        .bind(db(now))
        .bind(source)
        .bind(sequence.map_or(-1, i64::from))
        .bind(meeting_id)
        .bind(address)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Hands the note-taking duty to `address`.
    pub async fn set_note_taker(&mut self, meeting_id: i64, address: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE meetings SET note_taker = $1, updated_at = $2 WHERE id = $3")
            .bind(address)
            .bind(db(now))
            .bind(meeting_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Invites a delegate (kept on the meeting by the planner).
    pub async fn add_delegate(&mut self, meeting_id: i64, a: &Attendee, sequence: u32, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO invitations (meeting_id, address, name, role, sequence_sent, delegate, created_at) VALUES ($1, $2, $3, $4, $5, 1, $6)
             ON CONFLICT(meeting_id, address) DO UPDATE SET active = 1, delegate = 1",
        )
        .bind(meeting_id)
        .bind(&a.address)
        .bind(&a.name)
        .bind(a.role.as_str())
        .bind(i64::from(sequence))
        .bind(db(now))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Marks invitees of a meeting as unreachable (a delivery report came back).
    pub async fn mark_undeliverable(&mut self, meeting_id: i64, addresses: &[String]) -> Result<u64> {
        let r =
            sqlx::query("UPDATE invitations SET undeliverable = 1 WHERE meeting_id = $1 AND address IN (SELECT value FROM json_each($2))")
                .bind(meeting_id)
                .bind(serde_json::to_string(addresses)?)
                .execute(&mut *self.tx)
                .await?;
        Ok(r.rows_affected())
    }

    /// Opens an obligation; returns its id. Its request mail is the first of its thread.
    pub async fn open_obligation(&mut self, o: &NewObligation, now: DateTime<Utc>) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO obligations (forum_id, kind, case_id, meeting_id, owners, escalate_to, remind_at, escalate_at, opened_at, data_json, request_message_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&o.forum_id)
        .bind(&o.kind)
        .bind(o.case_id)
        .bind(o.meeting_id)
        .bind(serde_json::to_string(&o.owners)?)
        .bind(serde_json::to_string(&o.escalate_to)?)
        .bind(o.remind_at.map(db).unwrap_or_default())
        .bind(o.escalate_at.map(db).unwrap_or_default())
        .bind(db(now))
        .bind(if o.data.is_null() { "{}".to_string() } else { o.data.to_string() })
        .bind(&o.request_message_id)
        .fetch_one(&mut *self.tx)
        .await?;
        if !o.request_message_id.is_empty() {
            self.obligation_mail(id, &o.request_message_id).await?;
        }
        Ok(id)
    }

    /// Records that the mail `message_id` was sent about obligation `id`: a reply in its
    /// thread belongs to the obligation.
    pub async fn obligation_mail(&mut self, id: i64, message_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO obligation_mails (message_id, obligation_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(message_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Replaces an obligation's kind-specific data.
    pub async fn set_obligation_data(&mut self, id: i64, data: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE obligations SET data_json = $1 WHERE id = $2")
            .bind(data.to_string())
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Closes an obligation (`by`: who or what closed it).
    pub async fn close_obligation(&mut self, id: i64, by: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE obligations SET closed_at = $1, closed_by = $2 WHERE id = $3 AND closed_at = ''")
            .bind(db(now))
            .bind(by)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Closes every open obligation of a case (it was decided again, withdrawn or closed).
    pub async fn close_case_obligations(&mut self, case_id: i64, by: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE obligations SET closed_at = $1, closed_by = $2 WHERE case_id = $3 AND closed_at = ''")
            .bind(db(now))
            .bind(by)
            .bind(case_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Marks a reminder or escalation as sent; its mail `message_id` joins the obligation's thread.
    pub async fn obligation_step(&mut self, id: i64, escalation: bool, message_id: &str, now: DateTime<Utc>) -> Result<()> {
        let sql = if escalation {
            "UPDATE obligations SET escalated_at = $1 WHERE id = $2"
        } else {
            "UPDATE obligations SET reminded_at = $1 WHERE id = $2"
        };
        sqlx::query(sql).bind(db(now)).bind(id).execute(&mut *self.tx).await?;
        self.obligation_mail(id, message_id).await
    }

    /// Sets a case's after-meeting state.
    pub async fn set_case_state(
        &mut self,
        id: i64,
        status: &str,
        meeting_id: Option<i64>,
        follow_up_on: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE cases SET status = $1, meeting_id = $2, follow_up_on = coalesce($3, follow_up_on), updated_at = $4,
                 closed_at = CASE WHEN $5 = 'closed' THEN $6 ELSE closed_at END WHERE id = $7",
        )
        .bind(status)
        .bind(meeting_id)
        .bind(follow_up_on)
        .bind(db(now))
        .bind(status)
        .bind(db(now))
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Stores the handover information of a case.
    pub async fn set_handover(&mut self, id: i64, handover: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE cases SET handover_json = $1 WHERE id = $2")
            .bind(handover.to_string())
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Records the date a person turns 19 (or 21).
    pub async fn set_transfer(&mut self, id: i64, on: &str) -> Result<()> {
        sqlx::query("UPDATE cases SET transfer_on = $1 WHERE id = $2")
            .bind(on)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Marks a meeting's decisions as requested.
    pub async fn decisions_requested(&mut self, meeting_id: i64, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE meetings SET decisions_requested_at = $1 WHERE id = $2")
            .bind(db(now))
            .bind(meeting_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Writes a meeting's state transition (`core::plan::transition`): the meeting's version,
    /// status and flags, and each invitation that was added or changed. Returns false, writing
    /// nothing, when the meeting is no longer as `before` says (an admin moved or cancelled it
    /// since it was read): the caller rolls back and plans again from the store.
    pub async fn save_transition(&mut self, before: &MeetingView, after: &MeetingView, now: DateTime<Utc>) -> Result<bool> {
        let newly = |b: bool, a: bool| a && !b;
        let done = sqlx::query(
            "UPDATE meetings SET sequence = $1, status = $2,
                invited_at = CASE WHEN $3 AND invited_at = '' THEN $4 ELSE invited_at END,
                summoned_at = CASE WHEN $5 THEN $4 ELSE summoned_at END,
                note_taker = $6,
                digest_cutoff_at = CASE WHEN $7 THEN $4 ELSE digest_cutoff_at END,
                digest_morning_at = CASE WHEN $8 THEN $4 ELSE digest_morning_at END,
                decisions_requested_at = CASE WHEN $9 AND decisions_requested_at = '' THEN $4 ELSE decisions_requested_at END,
                updated_at = $4
             WHERE id = $10 AND sequence = $11 AND status = $12",
        )
        .bind(i64::from(after.sequence))
        .bind(&after.status)
        .bind(after.invited)
        .bind(db(now))
        .bind(newly(before.summoned, after.summoned))
        .bind(after.note_taker.clone().unwrap_or_default())
        .bind(newly(before.digest_cutoff_sent, after.digest_cutoff_sent))
        .bind(newly(before.digest_morning_sent, after.digest_morning_sent))
        .bind(after.decisions_requested)
        .bind(after.id)
        .bind(i64::from(before.sequence))
        .bind(&before.status)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        for i in &after.invitations {
            let old = before.invitations.iter().find(|o| o.address == i.address);
            if old
                .is_some_and(|o| o.active == i.active && o.sequence_sent == i.sequence_sent && o.role == i.role && o.reminded == i.reminded)
            {
                continue;
            }
            sqlx::query(
                "INSERT INTO invitations (meeting_id, address, name, role, sequence_sent, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT(meeting_id, address) DO UPDATE SET active = excluded.active, role = excluded.role,
                    sequence_sent = excluded.sequence_sent,
                    reminded_at = CASE WHEN $8 AND invitations.reminded_at = '' THEN $7 ELSE invitations.reminded_at END",
            )
            .bind(after.id)
            .bind(&i.address)
            .bind(&i.name)
            .bind(i.role.as_str())
            .bind(i64::from(i.sequence_sent))
            .bind(i64::from(i.active))
            .bind(db(now))
            .bind(i.reminded)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(true)
    }

    /// Replaces a case's sections, status and meeting.
    pub async fn update_case(
        &mut self,
        id: i64,
        sections_json: &str,
        status: &str,
        meeting_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE cases SET sections_json = $1, status = $2, meeting_id = $3, updated_at = $4 WHERE id = $5")
            .bind(sections_json)
            .bind(status)
            .bind(meeting_id)
            .bind(db(now))
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Queues a mail. The same Message-ID queued twice is stored once.
    pub async fn enqueue(&mut self, m: &Outgoing, now: DateTime<Utc>) -> Result<()> {
        let id: Option<i64> = sqlx::query_scalar(sql::ENQUEUE)
            .bind(&m.message_id)
            .bind(&m.kind)
            .bind(&m.forum_id)
            .bind(m.case_id)
            .bind(m.meeting_id)
            .bind(&m.env_from)
            .bind(serde_json::to_string(&m.env_to)?)
            .bind(db(now))
            .bind(db(now))
            .fetch_optional(&mut *self.tx)
            .await?;
        if let Some(id) = id {
            sqlx::query(sql::ENQUEUE_BODY).bind(id).bind(&m.mime).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Records that a message was read. Returns false when this (mailbox, UIDVALIDITY, UID)
    /// was already recorded: the caller then rolls back, so nothing happens twice.
    pub async fn record_intake(&mut self, r: &IntakeRecord<'_>) -> Result<bool> {
        let done = sqlx::query(sql::RECORD_INTAKE)
            .bind(r.mailbox)
            .bind(i64::from(r.uidvalidity))
            .bind(i64::from(r.uid))
            .bind(r.message_id)
            .bind(db(r.received_at))
            .bind(db(r.processed_at))
            .bind(r.kind)
            .bind(r.outcome)
            .bind(r.destination)
            .bind(r.case_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Starts a savepoint: the writes after it can be undone alone ([`Tx::rollback_to_savepoint`])
    /// or kept ([`Tx::release_savepoint`]). One at a time (intake: one per message of a batch).
    pub async fn savepoint(&mut self) -> Result<()> {
        self.tx.execute("SAVEPOINT step").await?;
        Ok(())
    }

    /// Undoes the writes since [`Tx::savepoint`] and ends it; the transaction goes on.
    pub async fn rollback_to_savepoint(&mut self) -> Result<()> {
        self.tx.execute("ROLLBACK TO SAVEPOINT step").await?;
        self.tx.execute("RELEASE SAVEPOINT step").await?;
        Ok(())
    }

    /// Keeps the writes since [`Tx::savepoint`] and ends it.
    pub async fn release_savepoint(&mut self) -> Result<()> {
        self.tx.execute("RELEASE SAVEPOINT step").await?;
        Ok(())
    }

    /// The transaction's connection: for the reads in [`read`], which then see this
    /// transaction's own writes, and for statements outside this module's (admin purges).
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.context("cannot commit database transaction")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn database_file_is_private_and_world_readable_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.db");
        Store::open(&p).await.expect("open").close().await;
        assert_eq!(std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Store::open(&p).await.expect_err("must refuse");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
    // The scenarios that run on both engines are in tests/store.rs.
}
