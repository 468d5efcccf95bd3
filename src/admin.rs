//! Admin operations on stored data and the mailbox: retention (purge) and the quarantine.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::AnyConnection;
use tracing::{info, warn};

use crate::app::App;
use crate::config::Retention;
use crate::core::retention;
use crate::net::{ImapSession, imap_login};
use crate::store::Store;
use crate::store::retention::{self as store_retention, Purged};

/// What a purge removed (or would remove): counts only.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PurgeReport {
    /// Per kind of stored data (cases, obligations, outbox, invitations, note takers, intake).
    pub store: Purged,
    /// The wiped cases per status (the same cases as `store.cases`).
    pub cases_by_status: BTreeMap<String, u64>,
    /// Mails expunged from the processed and quarantine folders.
    pub mails_expunged: u64,
}

/// Decides what is past its time on `c` (`core::retention`) and wipes it, or with `dry_run`
/// counts it.
async fn purge_on(c: &mut AnyConnection, r: &Retention, now: DateTime<Utc>, dry_run: bool) -> Result<PurgeReport> {
    let (cases, obligations) = store_retention::facts(&mut *c).await?;
    let due = retention::due(&cases, &obligations, now, r);
    let mut cases_by_status = BTreeMap::new();
    for case in cases.iter().filter(|case| due.cases.binary_search(&case.id).is_ok()) {
        *cases_by_status.entry(case.status.clone()).or_insert(0) += 1;
    }
    Ok(PurgeReport {
        store: store_retention::purge(c, &due, now, dry_run).await?,
        cases_by_status,
        mails_expunged: 0,
    })
}

/// Wipes personal data in `store` kept past the retention times `r`. With `dry_run`, only counts.
pub async fn purge_database(store: &Store, r: &Retention, now: DateTime<Utc>, dry_run: bool) -> Result<PurgeReport> {
    if dry_run {
        let mut c = store.pool().acquire().await.context("database connection")?;
        return purge_on(&mut c, r, now, true).await;
    }
    // One write transaction: what is decided on is what is wiped (no reply can reopen a case
    // in between).
    let mut tx = store.begin().await?;
    let rep = purge_on(tx.conn(), r, now, false).await?;
    tx.commit().await?;
    if !store.truncate_log().await? {
        warn!("the database log could not be truncated after the purge (a reader was busy); the next purge tries again");
    }
    Ok(rep)
}

/// [`purge_database`] on the app's store with the configured retention times.
pub async fn purge_store(app: &App, now: DateTime<Utc>, dry_run: bool) -> Result<PurgeReport> {
    purge_database(&app.store, &app.cfg.retention, now, dry_run).await
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
        let p = &rep.store;
        info!(
            cases = p.cases,
            obligations = p.obligations,
            outbox = p.outbox,
            invitations = p.invitations,
            note_takers = p.note_takers,
            intake = p.intake,
            people = p.people,
            deviations = p.deviations,
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
    Ok(app
        .store
        .quarantined()
        .await?
        .into_iter()
        .map(|q| Quarantined {
            uid: q.uid,
            received_at: q.received_at,
            kind: q.kind,
            reason: q.reason,
        })
        .collect())
}

/// Moves quarantined mails back to the inbox and forgets that they were read, so the daemon
/// handles them again (after a configuration fix, e.g. a member added). `uids`: the inbox UIDs
/// shown by `quarantine list`; empty = all. Returns how many were moved.
pub async fn quarantine_reprocess(app: &App, uids: &[i64]) -> Result<usize> {
    let chosen: Vec<(i64, String)> = app
        .store
        .quarantined()
        .await?
        .into_iter()
        .map(|q| (q.uid, q.message_id))
        .filter(|(u, _)| uids.is_empty() || uids.contains(u))
        .collect();
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
        app.store.forget_quarantined(message_id).await?;
        info!(uid, "quarantined mail moved back to the inbox");
        moved += 1;
    }
    s.logout().await.ok();
    Ok(moved)
}
