//! Admin operations on stored data and the mailbox: retention (purge) and the quarantine.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use tracing::info;

use crate::app::App;
use crate::core::time::db;
use crate::net::{ImapSession, imap_login};

/// What a purge removed (or would remove): counts only.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PurgeReport {
    /// Cases whose personal data (parts, handover, submitter) was wiped.
    pub cases_wiped: u64,
    /// Sent or failed outgoing mails whose stored bytes were deleted.
    pub outbox_deleted: u64,
    /// Invitation rows of past meetings deleted (names and addresses).
    pub invitations_deleted: u64,
    /// Mails expunged from the processed and quarantine folders.
    pub mails_expunged: u64,
}

/// Wipes personal data kept past the retention times. With `dry_run`, only counts.
pub async fn purge_store(app: &App, now: DateTime<Utc>, dry_run: bool) -> Result<PurgeReport> {
    let r = &app.cfg.retention;
    let case_cut = db(now - Duration::days(i64::from(r.case_days)));
    let mail_cut = db(now - Duration::days(i64::from(r.mail_days)));
    let pool = app.store.pool();
    let mut rep = PurgeReport::default();
    // Closed cases: the parts, handover text and the submitter go; the number, status and dates
    // stay (pseudonymous counts).
    if dry_run {
        rep.cases_wiped = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM cases WHERE status IN ('closed', 'withdrawn', 'handed_over') AND updated_at < $1
             AND (sections_json != '{}' OR handover_json != '{}' OR submitter != '')",
        )
        .bind(&case_cut)
        .fetch_one(pool)
        .await? as u64;
        rep.outbox_deleted =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE status IN ('sent', 'failed') AND created_at < $1")
                .bind(&mail_cut)
                .fetch_one(pool)
                .await? as u64;
        rep.invitations_deleted = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM invitations WHERE meeting_id IN (SELECT id FROM meetings WHERE ends_at < $1)",
        )
        .bind(&case_cut)
        .fetch_one(pool)
        .await? as u64;
        return Ok(rep);
    }
    let mut tx = app.store.begin().await?;
    rep.cases_wiped = sqlx::query(
        "UPDATE cases SET sections_json = '{}', handover_json = '{}', submitter = '', units_json = '[]', content_hash = ''
         WHERE status IN ('closed', 'withdrawn', 'handed_over') AND updated_at < $1
         AND (sections_json != '{}' OR handover_json != '{}' OR submitter != '')",
    )
    .bind(&case_cut)
    .execute(tx.conn())
    .await?
    .rows_affected();
    // Their bytes (outbox_body) go with them: ON DELETE CASCADE, with foreign keys on for every
    // SQLite connection (Store::connect) and always on PostgreSQL.
    rep.outbox_deleted = sqlx::query("DELETE FROM outbox WHERE status IN ('sent', 'failed') AND created_at < $1")
        .bind(&mail_cut)
        .execute(tx.conn())
        .await?
        .rows_affected();
    rep.invitations_deleted = sqlx::query("DELETE FROM invitations WHERE meeting_id IN (SELECT id FROM meetings WHERE ends_at < $1)")
        .bind(&case_cut)
        .execute(tx.conn())
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(rep)
}

/// Expunges mails older than `retention.mail_days` from the processed and quarantine folders.
pub async fn purge_mailbox(app: &App, s: &mut ImapSession, now: DateTime<Utc>, dry_run: bool) -> Result<u64> {
    let before = (now - Duration::days(i64::from(app.cfg.retention.mail_days)))
        .format("%d-%b-%Y")
        .to_string();
    let mut total = 0;
    for folder in [&app.cfg.imap.processed_folder, &app.cfg.imap.quarantine_folder] {
        if s.select(folder).await.is_err() {
            continue;
        }
        let uids: Vec<u32> = s.uid_search(format!("BEFORE {before}")).await?.into_iter().collect();
        total += uids.len() as u64;
        if dry_run || uids.is_empty() {
            continue;
        }
        let set = crate::intake::uid_set(&uids);
        let _: Vec<_> = s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?.try_collect().await?;
        let _: Vec<_> = s.expunge().await?.try_collect().await?;
    }
    Ok(total)
}

/// The whole purge: store and mailbox.
pub async fn purge(app: &App, now: DateTime<Utc>, dry_run: bool) -> Result<PurgeReport> {
    let mut rep = purge_store(app, now, dry_run).await?;
    let (mut s, _) = imap_login(&app.cfg.imap, &app.imap_login()?).await?;
    rep.mails_expunged = purge_mailbox(app, &mut s, now, dry_run).await?;
    s.logout().await.ok();
    if !dry_run {
        info!(
            cases = rep.cases_wiped,
            outbox = rep.outbox_deleted,
            invitations = rep.invitations_deleted,
            mails = rep.mails_expunged,
            "purge done"
        );
    }
    Ok(rep)
}

/// One quarantined mail, as the admin sees it (no personal data).
#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    pub uid: i64,
    pub received_at: String,
    pub kind: String,
    pub reason: String,
}

pub async fn quarantine_list(app: &App) -> Result<Vec<Quarantined>> {
    let rows: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT uid, received_at, kind, outcome FROM intake WHERE destination = 'quarantine' ORDER BY received_at")
            .fetch_all(app.store.pool())
            .await?;
    Ok(rows
        .into_iter()
        .map(|(uid, received_at, kind, reason)| Quarantined {
            uid,
            received_at,
            kind,
            reason,
        })
        .collect())
}

/// Moves quarantined mails back to the inbox and forgets that they were read, so the daemon
/// handles them again (after a configuration fix, e.g. a member added). `uids`: the inbox UIDs
/// shown by `quarantine list`; empty = all. Returns how many were moved.
pub async fn quarantine_reprocess(app: &App, uids: &[i64]) -> Result<usize> {
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT uid, message_id FROM intake WHERE destination = 'quarantine'")
        .fetch_all(app.store.pool())
        .await?;
    let chosen: Vec<(i64, String)> = rows.into_iter().filter(|(u, _)| uids.is_empty() || uids.contains(u)).collect();
    if chosen.is_empty() {
        return Ok(0);
    }
    let cfg = &app.cfg.imap;
    let (mut s, _) = imap_login(cfg, &app.imap_login()?).await?;
    s.select(&cfg.quarantine_folder)
        .await
        .with_context(|| format!("cannot select {}", cfg.quarantine_folder))?;
    let mut moved = 0;
    for (uid, message_id) in &chosen {
        let query = if message_id.ends_with("@samverkan.invalid") {
            // A mail without Message-ID: nothing to search by; leave it to the admin.
            continue;
        } else {
            format!("HEADER Message-ID \"{}\"", message_id.replace(['"', '\\'], ""))
        };
        let found: Vec<u32> = s.uid_search(&query).await?.into_iter().collect();
        if found.is_empty() {
            continue;
        }
        let set = crate::intake::uid_set(&found);
        s.uid_copy(&set, &cfg.inbox).await?;
        let _: Vec<_> = s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?.try_collect().await?;
        let _: Vec<_> = s.expunge().await?.try_collect().await?;
        sqlx::query("DELETE FROM intake WHERE destination = 'quarantine' AND message_id = $1")
            .bind(message_id)
            .execute(app.store.pool())
            .await?;
        info!(uid, "quarantined mail moved back to the inbox");
        moved += 1;
    }
    s.logout().await.ok();
    Ok(moved)
}
