//! The intake shell: reads the forum mailbox over IMAP (IDLE for push, a periodic full check
//! as a safety net, polling where the server lacks IDLE), hands each message to the core, and
//! commits its effects before moving it out of the inbox.
//!
//! Invariant: a message is moved (to the processed or quarantine folder) only after the
//! transaction holding its intake record and effects has committed. A crash between commit and
//! move leaves the message in the inbox; the next pass finds its intake record and only moves it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::app::App;
use crate::config::Forum;
use crate::core::intake::{self, Arrival, Facts, Lookups, Route, Verdict};
use crate::core::schedule::Assignment;
use crate::core::submission::SectionKey;
use crate::mail::view::{self, MailView};
use crate::net::{ImapSession, imap_login};
use crate::store::fast::IntakeTx;
use crate::store::{IntakeRecord, NewCase, ObligationRow, Tx, read};

pub const PROCESSED: &str = "processed";
pub const QUARANTINE: &str = "quarantine";

/// Runs intake until `shutdown` turns true. Connection failures are retried with exponential
/// backoff; an outage is logged once when it starts and once when it ends.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_secs(1);
    let mut down_since: Option<DateTime<Utc>> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Only the instance holding the mailbox's lease reads it (always this one on SQLite).
        if !*app.leases.intake.borrow() {
            crate::cluster::stand_by(&app, &app.leases.intake, crate::app::Task::Intake, &mut shutdown).await;
            continue;
        }
        app.alive(
            crate::app::Task::Intake,
            app.cfg.daemon.reconnect_max_backoff + Duration::from_secs(60),
        );
        let result = session(&app, &mut shutdown, &mut down_since).await;
        match result {
            Ok(()) if *shutdown.borrow() => return,
            Ok(()) if *app.leases.intake.borrow() => {
                debug!("IMAP session ended ahead of its OAuth2 token's expiry; logging in with a fresh one");
                continue;
            }
            Ok(()) => {
                info!("stopped reading the mailbox: this instance no longer holds its lease");
                continue;
            }
            Err(e) => {
                // A database failure (disk full, I/O error, lock) is not the mail's fault: the
                // pass stops before anything is moved, so every mail whose transaction failed
                // stays in the inbox and is read again on the next try.
                let failure = crate::app::Failure::of(&e);
                if failure.is_storage() {
                    let mut trouble = app.intake_trouble.lock().unwrap_or_else(|p| p.into_inner());
                    if trouble.is_none() {
                        *trouble = Some((app.now(), failure));
                    }
                }
                if down_since.is_none() {
                    down_since = Some(app.now());
                    backoff = Duration::from_secs(1);
                    if failure.is_storage() {
                        warn!(error = %format!("{e:#}"), condition = failure.label(), "intake interrupted: the database cannot be written; mails stay in the inbox; retrying with backoff");
                    } else {
                        warn!(error = %format!("{e:#}"), "intake interrupted (mail server or database); retrying with backoff");
                    }
                } else {
                    debug!(error = %format!("{e:#}"), "intake still interrupted");
                }
            }
        }
        let jitter = Duration::from_millis(rand::random::<u64>() % 500);
        tokio::select! {
            _ = tokio::time::sleep(backoff + jitter) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(app.cfg.daemon.reconnect_max_backoff);
    }
}

/// One IMAP session. Returns `Ok` when `shutdown` turned true or this instance lost the
/// mailbox's lease; the caller tells which.
async fn session(app: &App, shutdown: &mut watch::Receiver<bool>, down_since: &mut Option<DateTime<Utc>>) -> Result<()> {
    let cfg = &app.cfg.imap;
    let (mut s, token) = imap_login(cfg, &app.imap_login()?).await?;
    let caps = s.capabilities().await.context("IMAP CAPABILITY")?;
    let has_idle = caps.has_str("IDLE");
    let has_move = caps.has_str("MOVE");
    let has_uidplus = caps.has_str("UIDPLUS");
    for folder in [&cfg.processed_folder, &cfg.quarantine_folder] {
        // CREATE fails harmlessly when the folder exists.
        if s.create(folder).await.is_ok() {
            info!(folder = %folder, "created IMAP folder");
        }
    }
    let mailbox = s.select(&cfg.inbox).await.with_context(|| format!("cannot select {}", cfg.inbox))?;
    let uidvalidity = mailbox.uid_validity.unwrap_or(0);
    app.store.set_uidvalidity(&cfg.inbox, uidvalidity).await?;
    if down_since.is_none() {
        info!(idle = has_idle, r#move = has_move, "IMAP intake connected");
    }
    let mover = Mover { has_move, has_uidplus };

    let mut last_full = tokio::time::Instant::now();
    let mut lease = app.leases.intake.subscribe();
    sync_until_quiet(app, &mut s, uidvalidity, &mover).await?;
    // Resumed only once a whole pass went through (not at connect: a full disk lets the
    // connection succeed and the first write fail, which would log a line per retry).
    if let Some(since) = down_since.take() {
        *app.intake_trouble.lock().unwrap_or_else(|p| p.into_inner()) = None;
        info!(down_for_s = (app.now() - since).num_seconds(), "intake resumed");
    }
    loop {
        if *shutdown.borrow() || !*lease.borrow_and_update() {
            s.logout().await.ok();
            return Ok(());
        }
        let until_full = app.cfg.daemon.full_check_interval.saturating_sub(last_full.elapsed());
        let mut wait = app.cfg.daemon.idle_timeout.min(until_full.max(Duration::from_secs(1)));
        // With OAuth2 the session ends before its token does and logs in again with a new one.
        if let (Some(t), Some(tokens)) = (&token, &app.tokens) {
            match tokens.session_deadline(t).await {
                Some(d) => {
                    wait = wait.min(
                        d.saturating_duration_since(tokio::time::Instant::now())
                            .max(Duration::from_millis(100)),
                    )
                }
                None => {
                    s.logout().await.ok();
                    return Ok(());
                }
            }
        }
        // Back within `wait` (plus the slack, which covers starting and ending IDLE): a server
        // that stops answering DONE wedges this loop, and the watchdog must notice.
        app.alive(crate::app::Task::Intake, wait);
        if has_idle {
            let mut idle = s.idle();
            idle.init().await.context("IMAP IDLE")?;
            let (wait, stop) = idle.wait_with_timeout(wait);
            let outcome = tokio::select! {
                r = wait => Some(r),
                _ = shutdown.changed() => None,
                _ = lease.changed() => None,
                // A cutoff is due: read the inbox now rather than at the next announcement.
                _ = app.inbox_wanted.notified() => None,
            };
            drop(stop);
            if let Some(r) = outcome
                && let async_imap::extensions::idle::IdleResponse::NewData(data) = r.context("IMAP IDLE")?
                && let async_imap::imap_proto::Response::Data {
                    status: async_imap::imap_proto::Status::Bye,
                    outcome,
                } = data.parsed()
            {
                // The server ends the session. Exchange does so when the token expires
                // (`* BYE Session invalidated - AccessTokenExpired`): drop the token, so the
                // reconnect logs in with a new one rather than failing once with the old.
                let text = outcome.information.as_deref().unwrap_or_default();
                if let (Some(t), Some(tokens)) = (&token, &app.tokens)
                    && crate::oauth::advice::bye_means_token_expired(text)
                {
                    tokens.refused(t.generation);
                }
                anyhow::bail!("the IMAP server ended the session (BYE): {text}");
            }
            s = idle.done().await.context("ending IMAP IDLE")?;
        } else {
            app.alive(crate::app::Task::Intake, until_full.min(Duration::from_secs(30)));
            tokio::select! {
                _ = tokio::time::sleep(until_full.min(Duration::from_secs(30))) => {}
                _ = shutdown.changed() => {}
                _ = lease.changed() => {}
                _ = app.inbox_wanted.notified() => {}
            }
        }
        if *shutdown.borrow() || !*lease.borrow() {
            s.logout().await.ok();
            return Ok(());
        }
        sync_until_quiet(app, &mut s, uidvalidity, &mover).await?;
        if last_full.elapsed() >= app.cfg.daemon.full_check_interval {
            last_full = tokio::time::Instant::now();
        }
    }
}

/// Syncs, and syncs again while the server announced new mail (untagged EXISTS/RECENT) during
/// the pass: such an announcement is not repeated once IDLE starts, so a mail delivered during
/// a sync would otherwise wait for the next full check.
async fn sync_until_quiet(app: &App, s: &mut ImapSession, uidvalidity: u32, mover: &Mover) -> Result<()> {
    while s.unsolicited_responses.try_recv().is_ok() {}
    loop {
        let mut news = false;
        sync(app, s, uidvalidity, mover, &mut news).await?;
        drain_news(s, &mut news);
        if !news {
            return Ok(());
        }
    }
}

/// Empties the session's queue of untagged responses, noting whether new mail was announced.
/// The queue holds 100 and drops what comes after (async-imap), so a long sync empties it after
/// every batch: otherwise the EXPUNGEs of the moves fill it and a later EXISTS is lost.
fn drain_news(s: &mut ImapSession, news: &mut bool) {
    use async_imap::types::UnsolicitedResponse;
    while let Ok(r) = s.unsolicited_responses.try_recv() {
        *news |= matches!(r, UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_));
    }
}

struct Mover {
    has_move: bool,
    has_uidplus: bool,
}

impl Mover {
    /// Moves `uids` to `folder`: MOVE, or COPY + \Deleted + (UID) EXPUNGE where MOVE is missing.
    async fn mv(&self, s: &mut ImapSession, uids: &[u32], folder: &str) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        if self.has_move {
            s.uid_mv(&set, folder).await.with_context(|| format!("UID MOVE to {folder}"))?;
        } else {
            s.uid_copy(&set, folder).await.with_context(|| format!("UID COPY to {folder}"))?;
            let _: Vec<_> = s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?.try_collect().await?;
            if self.has_uidplus {
                let _: Vec<_> = s.uid_expunge(&set).await?.try_collect().await?;
            } else {
                let _: Vec<_> = s.expunge().await?.try_collect().await?;
            }
        }
        Ok(())
    }
}

/// Compact IMAP sequence set: `1:3,7,9:10`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// One pass over the inbox: every message still there is either new (fetched and handled) or
/// already recorded (only moved, its effects committed before).
///
/// Batches are pipelined on the one connection: while the messages of batch i are handled
/// (database only), the connection moves batch i-1, whose effects have all committed, and
/// fetches batch i+1. The server's MOVE and FETCH work no longer stands between two batches.
async fn sync(app: &App, s: &mut ImapSession, uidvalidity: u32, mover: &Mover, news: &mut bool) -> Result<()> {
    app.materialize_meetings(app.now()).await?;
    // Every mail delivered before this instant is in the listing below.
    let started = app.now();
    let mut uids: Vec<u32> = s.uid_search("ALL").await.context("UID SEARCH")?.into_iter().collect();
    uids.sort_unstable();
    let batches: Vec<&[u32]> = uids.chunks(app.cfg.imap.batch_size as usize).collect();
    let mut next = match batches.first() {
        Some(b) => Some(fetch_batch(app, s, uidvalidity, b).await?),
        None => None,
    };
    // Messages whose effects have committed, by destination, not yet moved.
    let mut unmoved: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut max_uid = 0;
    for (i, batch) in batches.iter().enumerate() {
        app.alive(crate::app::Task::Intake, Duration::from_secs(300));
        let current = next.take().context("batch not fetched")?;
        let following = batches.get(i + 1);
        let imap = async {
            move_all(app, s, uidvalidity, mover, &unmoved).await?;
            drain_news(s, news);
            match following {
                Some(b) => Ok::<_, anyhow::Error>(Some(fetch_batch(app, s, uidvalidity, b).await?)),
                None => Ok(None),
            }
        };
        let (handled, fetched) = tokio::join!(handle_batch(app, uidvalidity, &current), imap);
        let handled = handled?;
        next = fetched?;
        unmoved = current.known;
        for (uid, d) in handled {
            unmoved.entry(d.to_string()).or_default().push(uid);
        }
        max_uid = max_uid.max(batch.iter().copied().max().unwrap_or(0));
    }
    move_all(app, s, uidvalidity, mover, &unmoved).await?;
    app.store.mark_synced(&app.cfg.imap.inbox, max_uid, started).await?;
    app.inbox_read.notify_one();
    Ok(())
}

/// Moves messages whose effects have committed to their folders, by destination.
async fn move_all(app: &App, s: &mut ImapSession, uidvalidity: u32, mover: &Mover, dest: &BTreeMap<String, Vec<u32>>) -> Result<()> {
    let cfg = &app.cfg.imap;
    for (d, list) in dest {
        let folder = if d == QUARANTINE {
            &cfg.quarantine_folder
        } else {
            &cfg.processed_folder
        };
        mover.mv(s, list, folder).await?;
        app.store.mark_moved(&cfg.inbox, uidvalidity, list, app.now()).await?;
    }
    Ok(())
}

/// One batch read from the server, not yet handled.
struct Fetched {
    /// Messages recorded before (only to be moved), by destination.
    known: BTreeMap<String, Vec<u32>>,
    /// New messages over the size limit (never loaded), with their arrival time.
    too_large: Vec<(u32, DateTime<Utc>)>,
    /// The other new messages, with their bodies.
    bodies: Vec<async_imap::types::Fetch>,
}

/// Reads a batch: which UIDs were recorded before, then sizes, then the bodies of the new
/// messages within the size limit (so an oversized message is never loaded into memory).
async fn fetch_batch(app: &App, s: &mut ImapSession, uidvalidity: u32, batch: &[u32]) -> Result<Fetched> {
    let recorded = app.store.known_uids(&app.cfg.imap.inbox, uidvalidity, batch).await?;
    let mut known: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (uid, d) in &recorded {
        known.entry(d.clone()).or_default().push(*uid);
    }
    if !recorded.is_empty() {
        debug!(count = recorded.len(), "moving messages recorded before");
        // Recorded by a pass that failed or crashed before moving them, perhaps in one of a
        // batch's early commits, which only the batch's last one syncs: sync before the move.
        app.store.batch_synced(&app.cfg.imap.inbox).await?;
    }
    let new: Vec<u32> = batch.iter().copied().filter(|u| !recorded.iter().any(|(k, _)| k == u)).collect();
    let mut out = Fetched {
        known,
        too_large: Vec::new(),
        bodies: Vec::new(),
    };
    if new.is_empty() {
        return Ok(out);
    }
    let sizes: Vec<_> = s
        .uid_fetch(uid_set(&new), "(UID RFC822.SIZE INTERNALDATE)")
        .await?
        .try_collect()
        .await?;
    let mut small = Vec::new();
    for f in &sizes {
        let Some(uid) = f.uid else { continue };
        if u64::from(f.size.unwrap_or(0)) > app.cfg.daemon.max_message_size {
            let received = f
                .internal_date()
                .map(|d| app.clock.server_time(d.with_timezone(&Utc)))
                .unwrap_or_else(|| app.now());
            out.too_large.push((uid, received));
        } else {
            small.push(uid);
        }
    }
    if small.is_empty() {
        return Ok(out);
    }
    let bodies: Vec<_> = s
        .uid_fetch(uid_set(&small), "(UID INTERNALDATE BODY.PEEK[])")
        .await?
        .try_collect()
        .await
        .context("UID FETCH")?;
    // "N:*" style answers can include a message outside the set.
    out.bodies = bodies.into_iter().filter(|f| f.uid.is_some_and(|u| small.contains(&u))).collect();
    Ok(out)
}

/// Handles the new messages of a fetched batch in one write transaction: one turn of the write
/// lock and one synced commit for the batch instead of one per message. Each message's reads go
/// through the transaction, so message k sees the cases and answers of messages 1..k-1 (a resent
/// submission in the same batch is still a duplicate). Each message runs inside a savepoint: one
/// that another pass recorded first is rolled back alone.
///
/// On SQLite, plain submissions (the burst at a cutoff) go through the direct connection
/// (`store::fast`, issue 20) and everything else through sqlx: one of the two transactions is
/// open at a time, and switching commits the one before.
///
/// When another task waits for the write lock (the sender, one row per mail), the transaction
/// commits what it has, lets that task in and goes on in a new one: a burst's receipts go out
/// while it is read instead of after it. The commits are not synced (one fsync costs more than
/// a mail here); [`crate::store::Store::batch_synced`] then syncs them all at once. Returns
/// (uid, destination) for every message whose effects committed; nothing is moved before that
/// last commit.
async fn handle_batch(app: &App, uidvalidity: u32, b: &Fetched) -> Result<Vec<(u32, &'static str)>> {
    if b.too_large.is_empty() && b.bodies.is_empty() {
        return Ok(Vec::new());
    }
    let mut open = Open::None;
    let mut handled: Vec<Handled> = Vec::with_capacity(b.too_large.len() + b.bodies.len());
    let fetched = b
        .too_large
        .iter()
        .map(|&(uid, received)| (uid, Some(received), None))
        .chain(b.bodies.iter().filter_map(|f| {
            Some((
                f.uid?,
                f.internal_date().map(|d| app.clock.server_time(d.with_timezone(&Utc))),
                Some(f.body().unwrap_or_default()),
            ))
        }));
    for (uid, received, body) in fetched {
        // The sender's claim, waiting for the lock, is carried out here and committed with
        // what this batch has (see `Store::serve_claim`); any other waiting writer gets the
        // lock below.
        if let Open::Fast(f) = &mut open {
            app.store.serve_claim(f)?;
        }
        if !handled.is_empty() && app.store.writer_wanted() {
            open.commit().await?;
            if handled.iter().any(|h| h.queued) {
                app.outbox_wake.notify_one();
            }
        }
        let received = received.unwrap_or_else(|| app.now());
        let m = Message::read(app, uid, received, body);
        if m.plain && app.store.has_direct() {
            if !matches!(open, Open::Fast(_)) {
                open.commit().await?;
                if let Some(f) = app.store.begin_fast().await? {
                    open = Open::Fast(f);
                }
            }
            if let Open::Fast(f) = &mut open
                && let Some(h) = handle(app, f, uidvalidity, &m).await?
            {
                handled.push(h);
                continue;
            }
        }
        if !matches!(open, Open::Full(_)) {
            open.commit().await?;
            open = Open::Full(app.store.begin().await?);
        }
        let Open::Full(tx) = &mut open else { unreachable!("opened above") };
        handled.push(
            handle(app, tx, uidvalidity, &m)
                .await?
                .context("the full transaction handles every mail")?,
        );
    }
    open.commit().await?;
    app.store.batch_synced(&app.cfg.imap.inbox).await?;
    if handled.iter().any(|h| h.queued) {
        app.outbox_wake.notify_one();
    }
    // One line per mail at info, no personal data: UID, kind, outcome, case number. Logged after
    // the commit, so a line means the mail's effects are stored.
    for h in handled.iter().filter(|h| h.recorded) {
        info!(
            uid = h.uid,
            kind = h.kind,
            outcome = h.outcome,
            case = h.case_no.as_deref().unwrap_or("-"),
            "mail handled"
        );
    }
    Ok(handled.into_iter().map(|h| (h.uid, h.destination)).collect())
}

/// The batch's open transaction, if any: the direct one (plain submissions on SQLite) or the
/// full one.
enum Open {
    None,
    Fast(crate::store::fast::FastTx),
    Full(Tx),
}

impl Open {
    /// Commits the open transaction, if any.
    async fn commit(&mut self) -> Result<()> {
        match std::mem::replace(self, Open::None) {
            Open::None => Ok(()),
            Open::Fast(f) => f.commit(),
            Open::Full(tx) => tx.commit().await,
        }
    }
}

/// What became of one message inside the batch's transaction.
pub struct Handled {
    pub uid: u32,
    /// The folder it belongs in.
    pub destination: &'static str,
    /// False when another pass had recorded it first (its effects here were rolled back).
    pub recorded: bool,
    /// Whether mail was queued.
    pub queued: bool,
    pub kind: &'static str,
    pub outcome: &'static str,
    pub case_no: Option<String>,
}

/// One fetched message, read once: its view, Message-ID, what to look up, and whether it is a
/// plain submission (no thread, no routine command or collector's answer: only the case rules
/// apply, which the direct SQLite path can carry out).
struct Message<'a> {
    uid: u32,
    received: DateTime<Utc>,
    raw: Option<&'a [u8]>,
    parsed: Option<MailView>,
    /// A member's submission, read once ([`intake::submission_of`]).
    submission: Option<crate::core::submission::Submission>,
    message_id: String,
    look: Lookups,
    plain: bool,
}

impl<'a> Message<'a> {
    fn read(app: &App, uid: u32, received: DateTime<Utc>, raw: Option<&'a [u8]>) -> Message<'a> {
        let parsed: Option<MailView> = raw.and_then(view::parse);
        let message_id = parsed
            .as_ref()
            .and_then(|v| v.message_id.clone())
            .unwrap_or_else(|| intake::synthetic_message_id(raw.unwrap_or_default()));
        // Read once: the lookups and the decision both need a member's submission.
        let submission = parsed.as_ref().and_then(|v| intake::submission_of(&app.cfg, v));
        let arrival = Arrival {
            view: parsed.as_ref(),
            internal_date: received,
            too_large: raw.is_none(),
            submission: submission.as_ref(),
        };
        let look = intake::lookups(&arrival, &app.cfg);
        let plain = parsed.as_ref().is_some_and(|v| {
            look.forum.is_some()
                && look.thread_ids.is_empty()
                && look.case_ref.is_none()
                && !look.obligations
                && crate::core::classify::classify(v) == crate::core::classify::Kind::Submission
                && person_route(&app.cfg, v, submission.as_ref()).is_none()
                && crate::core::deviation::collector_answer(&app.cfg, v).is_none()
        });
        Message {
            uid,
            received,
            raw,
            parsed,
            submission,
            message_id,
            look,
            plain,
        }
    }

    fn arrival(&self) -> Arrival<'_> {
        Arrival {
            view: self.parsed.as_ref(),
            internal_date: self.received,
            too_large: self.raw.is_none(),
            submission: self.submission.as_ref(),
        }
    }
}

/// [`crate::core::person::route`] of a mail read once: it reads only a member's mail of the
/// submission kind, which are exactly the mails [`intake::submission_of`] read, so the own text
/// comes from that reading.
fn person_route<'c>(
    cfg: &'c crate::config::Config,
    v: &MailView,
    submission: Option<&crate::core::submission::Submission>,
) -> Option<(&'c crate::config::Forum, crate::core::person::Command)> {
    submission.and_then(|s| crate::core::person::route(cfg, v, &s.own_text))
}

/// Handles one message inside `tx`: reads the facts, decides, and writes its effects and intake
/// record, none of them when the message was recorded before (asked first on the direct path;
/// in the full transaction its writes go in a savepoint, rolled back alone). The caller
/// commits. `None` (before anything is written): the message needs the full transaction,
/// which `tx` is not.
async fn handle<T: IntakeTx>(app: &App, tx: &mut T, uidvalidity: u32, m: &Message<'_>) -> Result<Option<Handled>> {
    let now = app.now();
    let (received, message_id, parsed) = (m.received, &m.message_id, &m.parsed);
    let arrival = m.arrival();
    let (facts, obligations) = gather(tx, &m.look, message_id, received, now).await?;
    let routed = intake::route(&arrival, &facts, &app.cfg);
    // The routines around one person (issue 18): a member's routine mail ("Ny brukare",
    // "Bokat: ...") is theirs, whatever else it would be (core::person::route decides).
    // A plain message was read as neither when it was read (`Message::read`): not again.
    let person = match (parsed, facts.message_id_seen) {
        (Some(v), false) if !m.plain => person_route(&app.cfg, v, m.submission.as_ref()),
        _ => None,
    };
    // A deviation collector's "Ingen avvikelse: <reason>": collectors need not be members, so
    // it is looked at before a quarantine; an obligation's thread and a duplicate still win.
    let collector = match (&routed.route, parsed) {
        _ if person.is_some() => None,
        (Route::Obligation { .. }, _) | (_, None) => None,
        _ if facts.message_id_seen || m.plain => None,
        (_, Some(v)) => crate::core::deviation::collector_answer(&app.cfg, v),
    };
    let plain = person.is_none()
        && collector.is_none()
        && matches!(
            &routed.route,
            Route::Case(
                Verdict::NewCase { .. }
                    | Verdict::NoParts { .. }
                    | Verdict::Duplicate { .. }
                    | Verdict::Ignore { .. }
                    | Verdict::Quarantine { .. }
            )
        );
    if !plain && tx.full().is_none() {
        return Ok(None);
    }
    let destination = if routed.quarantined() && person.is_none() && collector.is_none() {
        QUARANTINE
    } else {
        PROCESSED
    };
    let kind = routed.kind;
    // A message recorded before (by an earlier pass whose commit went through, or another
    // instance) must change nothing. Where the transaction can tell before writing, it asks;
    // elsewhere its effects go inside a savepoint, undone when the record turns out taken.
    let known = tx.recorded_before(&app.cfg.imap.inbox, uidvalidity, m.uid).await?;
    match known {
        Some(true) => {
            return Ok(Some(Handled {
                uid: m.uid,
                destination,
                recorded: false,
                queued: false,
                kind,
                outcome: "recorded_before",
                case_no: None,
            }));
        }
        Some(false) => {}
        None => tx.savepoint().await?,
    }
    let (case_id, case_no, queued, outcome) = match (tx.full(), &routed.route) {
        (_, Route::Case(verdict)) if plain => {
            let (id, no, q) = apply_new(app, tx, verdict, message_id, received, now).await?;
            (id, no, q, verdict.outcome())
        }
        (Some(tx), _) => full(app, tx, m, &routed.route, person, collector, &obligations, now).await?,
        (None, _) => unreachable!("checked above"),
    };
    let recorded = tx
        .record_intake(&IntakeRecord {
            mailbox: &app.cfg.imap.inbox,
            uidvalidity,
            uid: m.uid,
            message_id,
            received_at: received,
            processed_at: now,
            kind,
            outcome,
            destination,
            case_id,
        })
        .await?;
    match (known, recorded) {
        (None, true) => tx.release_savepoint().await?,
        // Another pass recorded it first: nothing of ours may commit.
        (None, false) => tx.rollback_to_savepoint().await?,
        (Some(_), true) => {}
        // Fails the batch: its transaction rolls back whole.
        (Some(_), false) => anyhow::bail!("message UID {} was recorded by another writer inside this transaction", m.uid),
    }
    Ok(Some(Handled {
        uid: m.uid,
        destination,
        recorded,
        queued: recorded && queued,
        kind,
        outcome,
        case_no,
    }))
}

/// What only the full transaction carries out: a routine's command, a collector's answer, a
/// reply in an obligation's thread, an answer to an invitation, a case's update or withdrawal.
/// Returns (case id, case number, whether mail was queued, outcome).
#[allow(clippy::too_many_arguments)]
async fn full(
    app: &App,
    tx: &mut Tx,
    m: &Message<'_>,
    route: &Route,
    person: Option<(&Forum, crate::core::person::Command)>,
    collector: Option<(&Forum, String, Vec<crate::core::deviation::Dismissal>)>,
    obligations: &[ObligationRow],
    now: DateTime<Utc>,
) -> Result<(Option<i64>, Option<String>, bool, &'static str)> {
    let message_id = m.message_id.as_str();
    Ok(if let (Some((forum, cmd)), Some(v)) = (&person, &m.parsed) {
        let (o, q) = crate::person::on_mail(app, tx, forum, cmd, v, message_id, now).await?;
        (None, None, q, o)
    } else if let Some((forum, from, said)) = &collector {
        let (o, q) = crate::deviation::dismiss(app, tx, forum, from, said, message_id, now).await?;
        (None, None, q, o)
    } else {
        match (route, &m.parsed, m.raw) {
            (Route::Obligation { forum, reply }, _, _) => {
                let forum = app.cfg.forum(forum).context("forum vanished from config")?;
                let (o, q) = crate::followup::on_reply(app, tx, forum, obligations, reply, message_id, now).await?;
                (None, None, q, o)
            }
            (Route::Answer(k), Some(v), Some(raw)) => {
                let prepared = crate::answers::prepare(app, tx.conn(), *k, v, raw).await?;
                let (o, q) = crate::answers::apply(app, tx, &prepared, message_id, now).await?;
                (None, None, q, o)
            }
            (Route::Answer(_), _, _) => (None, None, false, "ignored"),
            (Route::Case(verdict), _, _) => {
                let (id, no, q) = apply(app, tx, verdict, message_id, m.received, now).await?;
                (id, no, q, verdict.outcome())
            }
        }
    })
}

/// Reads what `core::intake::lookups` names through the transaction (so mail k sees mails
/// 1..k-1 of the batch). Returns the facts, and the thread's obligations as stored (a plain
/// submission has no thread: the direct path never needs them).
async fn gather<T: IntakeTx>(
    tx: &mut T,
    look: &Lookups,
    message_id: &str,
    received: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Facts, Vec<ObligationRow>)> {
    let mut facts = Facts {
        message_id_seen: tx.message_id_seen(message_id).await?,
        ..Facts::default()
    };
    let mut obligations = Vec::new();
    let Some(forum) = &look.forum else {
        return Ok((facts, obligations));
    };
    facts.same_content_case = tx.case_with_hash(forum, &look.content_hash).await?;
    if look.meetings {
        facts.meetings = tx.meetings_after(forum, received, 12).await?;
    }
    if let Some(address) = &look.rejections_of {
        let since = now - chrono::Duration::hours(24);
        facts.rejections_today = tx.rejections_to_since(address, since).await?;
    }
    let threaded = !look.thread_ids.is_empty() || look.case_ref.is_some() || look.obligations;
    if let (true, Some(tx)) = (threaded, tx.full()) {
        facts.thread_case = read::thread_case(tx.conn(), forum, &look.thread_ids, look.case_ref.as_deref()).await?;
        if look.obligations {
            obligations = read::obligations_for_thread(tx.conn(), forum, &look.thread_ids).await?;
            facts.thread_obligations = obligations.iter().map(ObligationRow::in_thread).collect();
        }
    }
    Ok((facts, obligations))
}

fn labels(keys: &[SectionKey]) -> Vec<&'static str> {
    keys.iter().map(|k| k.label_sv()).collect()
}

/// Carries out a verdict of a plain submission inside either transaction: a new case and the
/// answer to the submitter, a "no parts" answer, or nothing (a duplicate, a mail ignored or
/// quarantined). Returns the case's row id and number, and whether mail was queued.
async fn apply_new<T: IntakeTx>(
    app: &App,
    tx: &mut T,
    verdict: &Verdict,
    message_id: &str,
    received: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Option<i64>, Option<String>, bool)> {
    match verdict {
        Verdict::NewCase {
            forum,
            submitter,
            year,
            content_hash,
            submission,
            assignment,
            answer,
        } => {
            let forum = app.cfg.forum(forum).context("forum vanished from config")?;
            let status = intake::status_of(&submission.sections);
            let (id, no) = tx
                .insert_case(&NewCase {
                    forum_id: &forum.id,
                    year: *year,
                    status,
                    submitter,
                    message_id,
                    content_hash,
                    sections_json: &serde_json::to_string(&submission.sections)?,
                    meeting_id: assignment.as_ref().map(|a| a.meeting.id),
                    urgent: submission.urgent,
                    units_json: &serde_json::to_string(&submission.units)?,
                    received_at: received,
                    now,
                })
                .await?;
            let template = if submission.missing.is_empty() { "receipt" } else { "incomplete" };
            let mut extra = meeting_context(forum, assignment.as_ref());
            extra["received"] = crate::core::time::swedish_datetime(received, forum.time_zone).into();
            extra["missing_labels"] = labels(&submission.missing).into();
            extra["urgent"] = submission.urgent.into();
            extra["sections"] = summary(&submission.sections);
            if *answer {
                reply(app, tx, forum, submitter, template, Some(&no), Some(id), extra, message_id, now).await?;
            }
            if submission.urgent {
                forward_urgent(app, tx, forum, submitter, submission, &no, id, message_id, now).await?;
            }
            Ok((Some(id), Some(no), true))
        }
        Verdict::NoParts { forum, submitter, answer } => {
            if !*answer {
                return Ok((None, None, false));
            }
            let forum = app.cfg.forum(forum).context("forum vanished from config")?;
            let extra = serde_json::json!({ "labels": labels(&SectionKey::ALL) });
            reply(app, tx, forum, submitter, "no_parts", None, None, extra, message_id, now).await?;
            Ok((None, None, true))
        }
        Verdict::Duplicate { .. } | Verdict::Ignore { .. } | Verdict::Quarantine { .. } => Ok((None, None, false)),
        Verdict::UpdateCase { .. } | Verdict::Withdraw { .. } => {
            anyhow::bail!("a case's update or withdrawal needs the full transaction")
        }
    }
}

/// Carries out a verdict inside the full transaction: [`apply_new`], and a case's update or
/// withdrawal with the answer to its submitter.
async fn apply(
    app: &App,
    tx: &mut Tx,
    verdict: &Verdict,
    message_id: &str,
    received: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Option<i64>, Option<String>, bool)> {
    match verdict {
        Verdict::UpdateCase {
            forum,
            case,
            sections,
            updated,
            assignment,
            after_cutoff_of,
        } => {
            let forum = app.cfg.forum(forum).context("forum vanished from config")?;
            let status = intake::status_of(sections);
            let meeting_id = assignment.as_ref().map(|a| a.meeting.id).or(case.meeting_id);
            tx.update_case(case.id, &serde_json::to_string(sections)?, status, meeting_id, now)
                .await?;
            let template = if status == intake::SUBMITTED && case.status == intake::INCOMPLETE {
                "completed"
            } else {
                "updated"
            };
            let mut extra = meeting_context(forum, assignment.as_ref());
            extra["updated_labels"] = labels(updated).into();
            extra["missing_labels"] = labels(&intake::missing(sections)).into();
            extra["after_cutoff_of"] = after_cutoff_of
                .map(|t| crate::core::time::swedish_datetime(t, forum.time_zone))
                .into();
            reply(
                app,
                tx,
                forum,
                &case.submitter,
                template,
                Some(&case.case_no),
                Some(case.id),
                extra,
                message_id,
                now,
            )
            .await?;
            Ok((Some(case.id), Some(case.case_no.clone()), true))
        }
        Verdict::Withdraw { forum, case } => {
            let forum = app.cfg.forum(forum).context("forum vanished from config")?;
            tx.update_case(case.id, &serde_json::to_string(&case.sections)?, intake::WITHDRAWN, None, now)
                .await?;
            reply(
                app,
                tx,
                forum,
                &case.submitter,
                "withdrawn",
                Some(&case.case_no),
                Some(case.id),
                serde_json::json!({}),
                message_id,
                now,
            )
            .await?;
            Ok((Some(case.id), Some(case.case_no.clone()), true))
        }
        _ => apply_new(app, tx, verdict, message_id, received, now).await,
    }
}

/// What the templates are told about the meeting a case goes on (and the one it missed).
fn meeting_context(forum: &Forum, a: Option<&Assignment>) -> serde_json::Value {
    let tz = forum.time_zone;
    let m = |m: &crate::core::schedule::Meeting| {
        serde_json::json!({
            "kind": m.kind.label_sv(),
            "when": crate::core::time::swedish_datetime(m.start, tz),
            "place": m.place,
        })
    };
    let missed = a.and_then(|a| a.missed.as_ref()).zip(forum.schedule.as_ref()).map(|(x, s)| {
        let mut v = m(x);
        v["cutoff"] = crate::core::time::swedish_datetime(crate::core::schedule::cutoff(s, tz, x.start), tz).into();
        v
    });
    serde_json::json!({
        "meeting": a.map(|a| m(&a.meeting)),
        "missed": missed,
        "has_schedule": forum.schedule.is_some(),
    })
}

/// The received parts, each as label and its first line (shortened), for the receipt.
fn summary(sections: &std::collections::BTreeMap<SectionKey, String>) -> serde_json::Value {
    sections
        .iter()
        .map(|(k, v)| {
            let first = v.lines().next().unwrap_or_default();
            let short: String = first.chars().take(80).collect();
            let text = if short.len() < v.trim_end().len() {
                format!("{short} …")
            } else {
                short
            };
            serde_json::json!({ "label": k.label_sv(), "text": text })
        })
        .collect::<Vec<_>>()
        .into()
}

/// Seed 001: acute cases cannot wait for the monthly meeting. The case goes at once to the
/// convenor and the deputy heads of the units it concerns (never back to the submitter).
#[allow(clippy::too_many_arguments)]
async fn forward_urgent<T: IntakeTx>(
    app: &App,
    tx: &mut T,
    forum: &Forum,
    submitter: &str,
    submission: &crate::core::submission::Submission,
    case_no: &str,
    case_id: i64,
    answers: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let member = forum.member(submitter).context("submitter is a member")?;
    let recipients = intake::urgent_recipients(forum, submitter, &submission.units);
    let sections: Vec<_> = submission
        .sections
        .iter()
        .map(|(k, v)| serde_json::json!({ "label": k.label_sv(), "text": v }))
        .collect();
    let ctx = serde_json::json!({
        "case_no": case_no,
        "forum_name": forum.name,
        "submitter_name": member.name,
        "submitter_address": member.address,
        "submitter_unit": member.unit,
        "units": submission.units,
        "sections": sections,
    });
    let out = crate::outgoing::build(
        app,
        forum,
        crate::outgoing::Mail {
            template: "urgent",
            ctx,
            to: recipients,
            key: answers.to_string(),
            case_id: Some(case_id),
            meeting_id: None,
            in_reply_to: None,
        },
    )?;
    tx.enqueue(&out, now).await
}

/// Renders template `name` for the member at `to` and queues it as an answer to `answers`
/// (the incoming Message-ID, which also makes the outgoing Message-ID deterministic).
#[allow(clippy::too_many_arguments)]
async fn reply<T: IntakeTx>(
    app: &App,
    tx: &mut T,
    forum: &Forum,
    to: &str,
    name: &str,
    case_no: Option<&str>,
    case_id: Option<i64>,
    extra: serde_json::Value,
    answers: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let member = forum.member(to).context("the case's submitter is no longer a forum member")?;
    let mut ctx = serde_json::json!({
        "case_no": case_no,
        "forum_name": forum.name,
        "member_name": member.name,
        "convenor_name": forum.convenor.name,
        "convenor_address": forum.convenor.address,
    });
    if let (Some(c), serde_json::Value::Object(e)) = (ctx.as_object_mut(), extra) {
        c.extend(e);
    }
    let out = crate::outgoing::build(
        app,
        forum,
        crate::outgoing::Mail {
            template: name,
            ctx,
            to: vec![(member.name.clone(), member.address.clone())],
            key: answers.to_string(),
            case_id,
            meeting_id: None,
            in_reply_to: Some(answers.to_string()),
        },
    )?;
    tx.enqueue(&out, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 9, 10, 3]), "1:3,5,9:10");
        assert_eq!(uid_set(&[42]), "42");
    }
}
