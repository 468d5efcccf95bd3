//! Intake's batches on SQLite, called directly (issue 20). sqlx runs each SQLite connection on
//! a worker thread of its own and hands it every statement and every row over a channel: two or
//! more thread switches per statement, about half of the daemon's CPU in a burst. Here the same
//! statements ([`super::sql`], the text [`Tx`] runs) go to a connection of this process's own,
//! on the calling thread: microseconds each, no hand-over.
//!
//! Only the statements a plain submission needs are here ([`FastTx`]); every other mail goes
//! through [`Tx`]. The guarantees are those of [`Tx`]: the same in-process write lock, `BEGIN
//! IMMEDIATE` at `synchronous = NORMAL`, a message recorded before changing nothing (asked
//! first, [`FastTx::recorded_before`], where [`Tx`] takes a savepoint), and the batch's end synced by
//! [`super::Store::batch_synced`] (the log is one file: its synced commit syncs this
//! connection's frames too). PostgreSQL has no such path ([`super::Store::begin_fast`] is `None`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ToSql};

use super::{IntakeRecord, NewCase, Outgoing, Tx, sql};
use crate::core::schedule::{Meeting, MeetingKind};
use crate::core::time::{db, from_db};

/// The direct connection of a SQLite store, opened (like the pool's) when first used: the
/// CLI's commands never open it.
#[derive(Debug)]
pub struct Direct {
    path: PathBuf,
    conn: Arc<tokio::sync::Mutex<Option<Connection>>>,
}

/// The direct connection, locked for one user at a time.
pub(super) struct Locked(tokio::sync::OwnedMutexGuard<Option<Connection>>);

impl std::ops::Deref for Locked {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.0.as_ref().expect("opened when locked")
    }
}

impl Direct {
    pub(super) fn new(path: &Path) -> Direct {
        Direct {
            path: path.to_path_buf(),
            conn: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Locks the connection, opening it first if it is not open yet.
    pub(super) async fn lock(&self) -> Result<Locked> {
        let mut g = Arc::clone(&self.conn).lock_owned().await;
        if g.is_none() {
            let c = Connection::open(&self.path).with_context(|| format!("cannot open database {}", self.path.display()))?;
            // synchronous = NORMAL is set once, here: nothing on this connection changes it
            // (the synced batch end runs on the pool), so BEGIN does not set it again.
            c.execute_batch(super::SQLITE_PRAGMAS)?;
            c.set_prepared_statement_cache_capacity(32);
            *g = Some(c);
        }
        Ok(Locked(g))
    }
}

/// A write transaction on the direct connection, holding the store's in-process write lock.
/// Dropped without [`FastTx::commit`], it rolls back.
pub struct FastTx {
    // Declared first, dropped first: the transaction ends before the write lock is released.
    conn: Locked,
    open: bool,
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for FastTx {
    fn drop(&mut self) {
        if self.open {
            // SQLite may have rolled back by itself (SQLITE_FULL, an I/O error): then there is
            // nothing to roll back and the error says so.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Binds `args` to `$1`, `$2`, ... by name (SQLite numbers named parameters in the order they
/// first appear; the shared statements may use them in any order).
fn bind(stmt: &mut rusqlite::CachedStatement<'_>, args: &[&dyn ToSql]) -> Result<()> {
    for (i, a) in args.iter().enumerate() {
        let n = i + 1;
        // Most statements use their parameters in order, so `$n` is SQLite's n-th: checked by
        // reading its name, without the lookup's allocations (issue 20's profile).
        let at = if stmt
            .parameter_name(n)
            .and_then(|p| p.strip_prefix('$'))
            .and_then(|d| d.parse().ok())
            == Some(n)
        {
            n
        } else {
            let name = format!("${n}");
            stmt.parameter_index(&name)?
                .with_context(|| format!("statement has no parameter {name}"))?
        };
        stmt.raw_bind_parameter(at, a)?;
    }
    Ok(())
}

/// Runs a transaction-control statement (BEGIN, COMMIT, a savepoint's) from the statement
/// cache: `execute_batch` would parse its text again at every mail (issue 20's profile).
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.raw_execute()?;
    Ok(())
}

impl FastTx {
    pub(super) fn begin(conn: Locked, writer: tokio::sync::OwnedMutexGuard<()>) -> Result<FastTx> {
        if !conn.is_autocommit() {
            // Left open by a failure SQLite did not roll back: start clean.
            let _ = conn.execute_batch("ROLLBACK");
        }
        control(&conn, "BEGIN IMMEDIATE").context("cannot start a database transaction")?;
        Ok(FastTx {
            conn,
            open: true,
            _writer: writer,
        })
    }

    pub fn commit(mut self) -> Result<()> {
        control(&self.conn, "COMMIT")?;
        self.open = false;
        Ok(())
    }

    /// Commits and begins the next transaction, keeping the write lock.
    fn commit_and_continue(&mut self) -> Result<()> {
        control(&self.conn, "COMMIT")?;
        self.open = false;
        control(&self.conn, "BEGIN IMMEDIATE").context("cannot start a database transaction")?;
        self.open = true;
        Ok(())
    }

    /// One row's first column, or none.
    fn one<T: rusqlite::types::FromSql>(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Option<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        let mut rows = stmt.raw_query();
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    }

    fn execute(&self, sql: &str, args: &[&dyn ToSql]) -> Result<usize> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        Ok(stmt.raw_execute()?)
    }

    pub fn savepoint(&self) -> Result<()> {
        control(&self.conn, "SAVEPOINT step")
    }

    pub fn release_savepoint(&self) -> Result<()> {
        control(&self.conn, "RELEASE SAVEPOINT step")
    }

    pub fn rollback_to_savepoint(&self) -> Result<()> {
        control(&self.conn, "ROLLBACK TO SAVEPOINT step")?;
        control(&self.conn, "RELEASE SAVEPOINT step")
    }

    pub fn message_id_seen(&self, message_id: &str) -> Result<bool> {
        Ok(self.one::<i64>(sql::MESSAGE_ID_SEEN, &[&message_id])?.unwrap_or(0) > 0)
    }

    pub fn case_with_hash(&self, forum_id: &str, content_hash: &str) -> Result<Option<String>> {
        self.one(sql::CASE_WITH_HASH, &[&forum_id, &content_hash])
    }

    pub fn meetings_after(&self, forum_id: &str, after: DateTime<Utc>, limit: u32) -> Result<Vec<Meeting>> {
        let mut stmt = self.conn.prepare_cached(sql::MEETINGS_AFTER)?;
        bind(&mut stmt, &[&forum_id, &db(after)])?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while out.len() < limit as usize
            && let Some(r) = rows.next()?
        {
            out.push(Meeting {
                id: r.get(0)?,
                start: from_db(&r.get::<_, String>(1)?).context("meetings.starts_at is not a time")?,
                kind: MeetingKind::from_db(&r.get::<_, String>(2)?),
                place: r.get(3)?,
                status: r.get(4)?,
            });
        }
        Ok(out)
    }

    pub fn rejections_to_since(&self, address: &str, since: DateTime<Utc>) -> Result<u32> {
        Ok(self.one::<i64>(sql::REJECTIONS_TO_SINCE, &[&db(since), &address])?.unwrap_or(0) as u32)
    }

    /// [`super::Tx::insert_case`].
    pub fn insert_case(&self, c: &NewCase<'_>) -> Result<(i64, String)> {
        let n: i64 = self
            .one(sql::NEXT_CASE_NO, &[&c.forum_id, &c.year])?
            .context("the case counter returned no number")?;
        let case_no = format!("{}-{n:04}", c.year);
        let id: i64 = self
            .one(
                sql::INSERT_CASE,
                &[
                    &c.forum_id,
                    &case_no,
                    &c.status,
                    &c.submitter,
                    &c.message_id,
                    &c.content_hash,
                    &c.sections_json,
                    &c.meeting_id,
                    &i64::from(c.urgent),
                    &c.units_json,
                    &db(c.received_at),
                    &db(c.now),
                    &db(c.now),
                ],
            )?
            .context("a case insert returned no id")?;
        Ok((id, case_no))
    }

    /// [`super::Tx::enqueue`].
    pub fn enqueue(&self, m: &Outgoing, now: DateTime<Utc>) -> Result<()> {
        let now = db(now);
        let id: Option<i64> = self.one(
            sql::ENQUEUE,
            &[
                &m.message_id,
                &m.kind,
                &m.forum_id,
                &m.case_id,
                &m.meeting_id,
                &m.env_from,
                &serde_json::to_string(&m.env_to)?,
                &now,
                &now,
            ],
        )?;
        if let Some(id) = id {
            self.execute(sql::ENQUEUE_BODY, &[&id, &m.mime])?;
        }
        Ok(())
    }

    /// Whether message `uid` of `mailbox` (UIDVALIDITY `uidvalidity`) has an intake record.
    pub fn recorded_before(&self, mailbox: &str, uidvalidity: u32, uid: u32) -> Result<bool> {
        Ok(self
            .one::<i64>(sql::INTAKE_RECORDED, &[&mailbox, &i64::from(uidvalidity), &i64::from(uid)])?
            .is_some())
    }

    /// [`super::Tx::record_intake`].
    pub fn record_intake(&self, r: &IntakeRecord<'_>) -> Result<bool> {
        let done = self.execute(
            sql::RECORD_INTAKE,
            &[
                &r.mailbox,
                &i64::from(r.uidvalidity),
                &i64::from(r.uid),
                &r.message_id,
                &db(r.received_at),
                &db(r.processed_at),
                &r.kind,
                &r.outcome,
                &r.destination,
                &r.case_id,
            ],
        )?;
        Ok(done == 1)
    }
}

/// A second error for a failure two tasks both report (the sender and intake, when their shared
/// commit fails), classified alike ([`crate::app::Failure::of`]).
fn same_failure(e: &anyhow::Error) -> anyhow::Error {
    let text = format!("the outbox claim's commit failed: {e:#}");
    match e.chain().find_map(|c| c.downcast_ref::<rusqlite::Error>()) {
        Some(rusqlite::Error::SqliteFailure(f, m)) => anyhow::Error::new(rusqlite::Error::SqliteFailure(*f, m.clone())).context(text),
        _ => anyhow::anyhow!(text),
    }
}

/// Whether an error's chain holds a SQLite failure from this path: its extended result code.
pub fn error_code(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(|c| match c.downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(f, _)) => Some(f.extended_code.to_string()),
        _ => None,
    })
}

/// What intake does with a plain submission, on either path: [`Tx`] (sqlx, both engines) or
/// [`FastTx`] (SQLite directly). Intake's code is written once against this.
pub trait IntakeTx: Send {
    fn message_id_seen(&mut self, message_id: &str) -> impl Future<Output = Result<bool>> + Send;
    fn case_with_hash(&mut self, forum_id: &str, content_hash: &str) -> impl Future<Output = Result<Option<String>>> + Send;
    fn meetings_after(&mut self, forum_id: &str, after: DateTime<Utc>, limit: u32) -> impl Future<Output = Result<Vec<Meeting>>> + Send;
    fn rejections_to_since(&mut self, address: &str, since: DateTime<Utc>) -> impl Future<Output = Result<u32>> + Send;
    fn insert_case(&mut self, c: &NewCase<'_>) -> impl Future<Output = Result<(i64, String)>> + Send;
    fn enqueue(&mut self, m: &Outgoing, now: DateTime<Utc>) -> impl Future<Output = Result<()>> + Send;
    fn record_intake(&mut self, r: &IntakeRecord<'_>) -> impl Future<Output = Result<bool>> + Send;
    /// Whether message `uid` of `mailbox` was recorded before, when this transaction can tell
    /// for sure before it writes: on the direct path (SQLite, inside `BEGIN IMMEDIATE`) no other
    /// writer can record it until this transaction ends. `None` on the full transaction, where
    /// another instance may (PostgreSQL): intake writes its effects inside a savepoint there
    /// and undoes them when the record turns out taken. A savepoint costs a copy of every page
    /// the message changes (SQLite's sub-journal, issue 20's profile); this look-up, one index
    /// probe.
    fn recorded_before(&mut self, mailbox: &str, uidvalidity: u32, uid: u32) -> impl Future<Output = Result<Option<bool>>> + Send;
    fn savepoint(&mut self) -> impl Future<Output = Result<()>> + Send;
    fn release_savepoint(&mut self) -> impl Future<Output = Result<()>> + Send;
    fn rollback_to_savepoint(&mut self) -> impl Future<Output = Result<()>> + Send;
    /// The whole transaction, for what only [`Tx`] does (answers, obligations, the routines
    /// around one person, case updates); `None` on the direct path.
    fn full(&mut self) -> Option<&mut Tx>;
}

impl IntakeTx for Tx {
    async fn message_id_seen(&mut self, message_id: &str) -> Result<bool> {
        super::read::message_id_seen(self.conn(), message_id).await
    }
    async fn case_with_hash(&mut self, forum_id: &str, content_hash: &str) -> Result<Option<String>> {
        super::read::case_with_hash(self.conn(), forum_id, content_hash).await
    }
    async fn meetings_after(&mut self, forum_id: &str, after: DateTime<Utc>, limit: u32) -> Result<Vec<Meeting>> {
        super::read::meetings_after(self.conn(), forum_id, after, limit).await
    }
    async fn rejections_to_since(&mut self, address: &str, since: DateTime<Utc>) -> Result<u32> {
        super::read::rejections_to_since(self.conn(), address, since).await
    }
    async fn insert_case(&mut self, c: &NewCase<'_>) -> Result<(i64, String)> {
        Tx::insert_case(self, c).await
    }
    async fn enqueue(&mut self, m: &Outgoing, now: DateTime<Utc>) -> Result<()> {
        Tx::enqueue(self, m, now).await
    }
    async fn record_intake(&mut self, r: &IntakeRecord<'_>) -> Result<bool> {
        Tx::record_intake(self, r).await
    }
    async fn recorded_before(&mut self, _mailbox: &str, _uidvalidity: u32, _uid: u32) -> Result<Option<bool>> {
        Ok(None)
    }
    async fn savepoint(&mut self) -> Result<()> {
        Tx::savepoint(self).await
    }
    async fn release_savepoint(&mut self) -> Result<()> {
        Tx::release_savepoint(self).await
    }
    async fn rollback_to_savepoint(&mut self) -> Result<()> {
        Tx::rollback_to_savepoint(self).await
    }
    fn full(&mut self) -> Option<&mut Tx> {
        Some(self)
    }
}

impl IntakeTx for FastTx {
    async fn message_id_seen(&mut self, message_id: &str) -> Result<bool> {
        FastTx::message_id_seen(self, message_id)
    }
    async fn case_with_hash(&mut self, forum_id: &str, content_hash: &str) -> Result<Option<String>> {
        FastTx::case_with_hash(self, forum_id, content_hash)
    }
    async fn meetings_after(&mut self, forum_id: &str, after: DateTime<Utc>, limit: u32) -> Result<Vec<Meeting>> {
        FastTx::meetings_after(self, forum_id, after, limit)
    }
    async fn rejections_to_since(&mut self, address: &str, since: DateTime<Utc>) -> Result<u32> {
        FastTx::rejections_to_since(self, address, since)
    }
    async fn insert_case(&mut self, c: &NewCase<'_>) -> Result<(i64, String)> {
        FastTx::insert_case(self, c)
    }
    async fn enqueue(&mut self, m: &Outgoing, now: DateTime<Utc>) -> Result<()> {
        FastTx::enqueue(self, m, now)
    }
    async fn record_intake(&mut self, r: &IntakeRecord<'_>) -> Result<bool> {
        FastTx::record_intake(self, r)
    }
    async fn recorded_before(&mut self, mailbox: &str, uidvalidity: u32, uid: u32) -> Result<Option<bool>> {
        FastTx::recorded_before(self, mailbox, uidvalidity, uid).map(Some)
    }
    async fn savepoint(&mut self) -> Result<()> {
        FastTx::savepoint(self)
    }
    async fn release_savepoint(&mut self) -> Result<()> {
        FastTx::release_savepoint(self)
    }
    async fn rollback_to_savepoint(&mut self) -> Result<()> {
        FastTx::rollback_to_savepoint(self)
    }
    fn full(&mut self) -> Option<&mut Tx> {
        None
    }
}

/// The sender's claim (the last mail's outcome and the next row), waiting for the write lock;
/// see [`super::Store::serve_claim`].
pub struct ClaimRequest {
    pub(super) sent: Option<i64>,
    pub(super) now: DateTime<Utc>,
    pub(super) instance: String,
    pub(super) retry_at: Box<dyn Fn(u32) -> DateTime<Utc> + Send + Sync>,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<Option<(super::OutboxRow, u32)>>>,
}

impl std::fmt::Debug for ClaimRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimRequest")
            .field("sent", &self.sent)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl FastTx {
    /// Carries out `req` in this transaction and commits (the claim must be durable before
    /// its mail is sent); the transaction goes on. A claim that fails is undone alone and its
    /// error goes to the sender; a failed commit fails both.
    pub(super) fn serve_claim(&mut self, due: &str, req: ClaimRequest) -> Result<()> {
        // Between two mails: no mail's savepoint is open, so the claim takes it.
        FastTx::savepoint(self)?;
        match self.claim_next_after(due, req.sent, req.now, &req.instance, &req.retry_at) {
            Ok(claimed) => {
                FastTx::release_savepoint(self)?;
                if let Err(e) = self.commit_and_continue() {
                    let _ = req.reply.send(Err(same_failure(&e)));
                    return Err(e);
                }
                let _ = req.reply.send(Ok(claimed));
            }
            Err(e) => {
                FastTx::rollback_to_savepoint(self)?;
                let _ = req.reply.send(Err(e));
            }
        }
        Ok(())
    }
}

impl FastTx {
    /// [`super::Store::outbox_sent_claim_next`] and [`super::Store::claim_next_outbox`] on the
    /// direct connection: `sent` marked sent, and the next due row claimed. `due`: the claim's
    /// query (`$1` now, `$2` the instance). The caller commits.
    pub(super) fn claim_next_after(
        &self,
        due: &str,
        sent: Option<i64>,
        now: DateTime<Utc>,
        instance: &str,
        retry_at: impl Fn(u32) -> DateTime<Utc>,
    ) -> Result<Option<(super::OutboxRow, u32)>> {
        let now_s = db(now);
        if let Some(id) = sent {
            self.execute(super::OUTBOX_SENT, &[&now_s, &id])?;
        }
        let mut st = self.conn.prepare_cached(due)?;
        bind(&mut st, &[&now_s, &instance])?;
        let mut rows = st.raw_query();
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let id: i64 = r.get(0)?;
        let mime: Vec<u8> = r
            .get::<_, Option<Vec<u8>>>(5)?
            .with_context(|| format!("outbox row {id} has no body"))?;
        let row = super::OutboxRow {
            id,
            kind: r.get(1)?,
            env_from: r.get(2)?,
            env_to: serde_json::from_str(&r.get::<_, String>(3)?).context("outbox env_to is not a JSON list")?,
            mime,
            attempts: r.get::<_, i64>(4)? as u32,
            case_no: r.get(6)?,
            meeting_id: r.get(7)?,
        };
        let attempt = row.attempts + 1;
        self.execute(
            sql::OUTBOX_CLAIM,
            &[&i64::from(attempt), &db(retry_at(attempt)), &instance, &row.id],
        )?;
        Ok(Some((row, attempt)))
    }
}
