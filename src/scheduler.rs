//! The scheduler shell: reads the meetings, asks the pure planner (`core::plan`) what is due,
//! carries each action out in one transaction (state change + outbox rows), and sleeps until
//! the next due time, an admin change (re-read every minute) or shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::app::App;
use crate::core::plan::{self, Action, MeetingMail};
use crate::core::schedule::MeetingKind;
use crate::mail::meeting;
use crate::store::read;

/// How far ahead meetings are read for planning.
const HORIZON_DAYS: i64 = 400;

pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut failing = false;
    // The meetings whose cutoff waits for the inbox to be read, told once each.
    let mut waiting: Vec<i64> = Vec::new();
    let mut moved = app.clock.changes();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let reread = app.cfg.daemon.scheduler_interval;
        app.alive(crate::app::Task::Scheduler, Duration::from_secs(300));
        // Only the instance holding the scheduler lease plans (always this one on SQLite).
        if !*app.leases.scheduler.borrow() {
            crate::cluster::stand_by(&app, &app.leases.scheduler, crate::app::Task::Scheduler, &mut shutdown).await;
            continue;
        }
        let mut awaiting_inbox = false;
        let offset = app.clock.offset();
        let wait = match tick(&app).await {
            Ok(pass) => {
                // Settled on this clock only once nothing waits for the inbox: a test that
                // moved the clock past a cutoff sees the summons queued, not still waiting.
                if pass.awaiting_inbox.is_empty() {
                    app.clock.acknowledge(offset);
                }
                if failing {
                    failing = false;
                    info!("meeting scheduler recovered");
                }
                for id in pass.awaiting_inbox.iter().filter(|id| !waiting.contains(id)) {
                    info!(
                        meeting = id,
                        "cutoff passed; the summons waits until the inbox has been read through it"
                    );
                }
                waiting = pass.awaiting_inbox;
                if !waiting.is_empty() {
                    // Intake reads the inbox now (ending its IDLE) and signals when it has.
                    awaiting_inbox = true;
                    app.inbox_wanted.notify_one();
                }
                pass.next
                    .map(|t| (t - app.now()).to_std().unwrap_or(Duration::ZERO))
                    .unwrap_or(reread)
                    .min(reread)
            }
            Err(e) => {
                if !failing {
                    failing = true;
                    warn!(error = %format!("{e:#}"), "meeting scheduler pass failed; retrying");
                }
                Duration::from_secs(30)
            }
        };
        app.alive(crate::app::Task::Scheduler, wait);
        let inbox_read = async {
            if awaiting_inbox {
                app.inbox_read.notified().await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
            _ = inbox_read => {}
            // A test moved the clock: what is due has changed.
            _ = moved.changed() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// What one planning pass found.
pub struct Pass {
    /// When something next becomes due.
    pub next: Option<DateTime<Utc>>,
    /// Meetings whose cutoff actions wait for intake to read the inbox through the cutoff.
    pub awaiting_inbox: Vec<i64>,
    /// The actions carried out, each with the number of recipients of its mails.
    pub actions: Vec<(Action, usize)>,
}

/// Complete cases whose meeting was cancelled go on the next meeting that still takes them.
pub async fn reassign_cases(app: &App, now: DateTime<Utc>) -> Result<()> {
    for f in &app.cfg.forums {
        let Some(s) = &f.schedule else { continue };
        let orphans = app.store.cases_without_meeting(&f.id).await?;
        if orphans.is_empty() {
            continue;
        }
        let upcoming = app.store.meetings_after(&f.id, now, 12).await?;
        if let Some(a) = crate::core::schedule::assign(s, f.time_zone, &upcoming, now) {
            app.store.set_case_meeting(&orphans, a.meeting.id, now).await?;
            info!(count = orphans.len(), meeting = a.meeting.id, "cases moved to the next meeting");
        }
    }
    Ok(())
}

/// One planning pass at the clock's time.
pub async fn tick(app: &App) -> Result<Pass> {
    tick_at(app, app.now()).await
}

/// One planning pass at `now`: the meetings as stored, the planner's actions carried out (each
/// its transition and its mails in one transaction) until nothing more is due at `now`, then
/// the follow-up obligations' steps.
pub async fn tick_at(app: &App, now: DateTime<Utc>) -> Result<Pass> {
    app.materialize_meetings(now).await?;
    reassign_cases(app, now).await?;
    let mut meetings = app
        .store
        .meeting_views(now - chrono::Duration::days(1), now + chrono::Duration::days(HORIZON_DAYS))
        .await?;
    // The avstämningsmöte lists the known upcoming age transfers once per term.
    for m in meetings.iter_mut().filter(|m| m.kind == MeetingKind::Avstamning) {
        let Some(f) = app.cfg.forum(&m.forum_id) else { continue };
        let day = m.start.with_timezone(&f.time_zone).date_naive();
        if f.followup.transfer_inventory_months.contains(&chrono::Datelike::month(&day)) {
            let until = day + chrono::Duration::days(366);
            m.transfers = app
                .store
                .transfers_between(&f.id, &day.to_string(), &until.to_string())
                .await?
                .into_iter()
                .map(|(no, on, _)| (no, on))
                .collect();
        }
    }
    let mut last = app.store.last_note_takers().await?;
    let read_through = app
        .store
        .read_through(&app.cfg.imap.inbox)
        .await?
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // What is due at `now`, to its fixed point, as steps of the one state machine
    // (`core::plan::settle`, which `samverkan preview` runs too); each step one transaction.
    let steps = plan::settle(&mut meetings, &app.cfg, &mut last, read_through, now);
    let mut done = Vec::new();
    let mut stale = false;
    for step in &steps {
        match execute(app, step, now).await? {
            Some(mails) => done.push((step.action.clone(), mails)),
            None => {
                stale = true;
                break;
            }
        }
    }
    if !done.is_empty() {
        app.outbox_wake.notify_one();
    }
    crate::followup::place_follow_ups(app, now).await?;
    let people = crate::person::steps(app, now).await?;
    let obligations = crate::followup::steps(app, now).await?;
    // After the steps, so a deviation sees the escalation that went out in this pass.
    let deviations = crate::deviation::pass(app, now).await?;
    let report = crate::report::yearly(app, now).await?;
    // A meeting changed under the pass: plan again at once from the store.
    let again = stale.then_some(now);
    Ok(Pass {
        next: [
            again,
            plan::next_wakeup(&meetings, &app.cfg, now),
            obligations,
            people,
            deviations,
            report,
        ]
        .into_iter()
        .flatten()
        .min(),
        actions: done,
        awaiting_inbox: plan::awaiting_inbox(&meetings, &app.cfg, read_through, now),
    })
}

/// Carries out one action: the meeting's transition and its mails in one transaction. Returns
/// the number of mails queued, or `None` when the meeting changed since it was read (the next
/// pass plans again).
async fn execute(app: &App, step: &plan::Step, now: DateTime<Utc>) -> Result<Option<usize>> {
    let plan::Step { action, before, after } = step;
    let forum = app.cfg.forum(&before.forum_id).context("meeting of an unknown forum")?;
    let mails = plan::mails(before, after, action);
    let strangers = if mails.iter().any(|m| matches!(m, MeetingMail::Digest(_))) {
        app.store.not_member_since(now - chrono::Duration::days(7)).await?
    } else {
        0
    };
    let mut tx = app.store.begin().await?;
    if !tx.save_transition(before, after, now).await? {
        drop(tx);
        info!(meeting = before.id, "meeting changed while planned; planning again");
        return Ok(None);
    }
    // The pass read the cases' name-and-age lines only; a summoned meeting's calendar mails
    // show the texts: read them now, in this transaction.
    let full;
    let after = if after.summoned && !after.cases.is_empty() && mails.iter().any(|m| matches!(m, MeetingMail::Calendar(_))) {
        let mut texts = read::agenda_texts(tx.conn(), after.id).await?;
        let mut m = after.clone();
        for c in &mut m.cases {
            if let Some(t) = texts.remove(&c.id) {
                c.sections = t;
            }
        }
        full = m;
        &full
    } else {
        after
    };
    let mut count = 0;
    for mail in &mails {
        let out = match mail {
            MeetingMail::Calendar(c) => meeting::calendar(&app.templates, forum, after, c, now)?,
            MeetingMail::Digest(which) => meeting::digest(&app.templates, forum, after, *which, strangers)?,
            MeetingMail::NotHeld => meeting::not_held(&app.templates, forum, before)?,
            MeetingMail::DecisionsRequest => {
                count += crate::followup::request_decisions(app, &mut tx, forum, before, now).await?;
                continue;
            }
        };
        tx.enqueue(&out, now).await?;
        count += 1;
    }
    tx.commit().await?;
    info!(
        meeting = before.id,
        kind = before.kind.as_str(),
        action = action.name(),
        recipients = count,
        sequence = after.sequence,
        "meeting mail queued"
    );
    Ok(Some(count))
}
