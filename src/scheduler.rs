//! The scheduler shell: reads the meetings, asks the pure planner (`core::plan`) what is due,
//! carries each action out in one transaction (state change + outbox rows), and sleeps until
//! the next due time, an admin change (re-read every minute) or shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::app::App;
use crate::config::Forum;
use crate::core::ical::{self, Attendee, Event, Method, PartStat, Role};
use crate::core::plan::{self, Action, MeetingView};
use crate::core::schedule::{MeetingKind, cutoff};
use crate::core::time::swedish_datetime;
use crate::mail::compose;
use crate::mail::imip::{InviteDraft, build_invite};
use crate::store::Outgoing;

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
}

/// One planning pass.
pub async fn tick(app: &App) -> Result<Pass> {
    crate::intake::materialize_meetings(app).await?;
    let now = app.now();
    // Complete cases whose meeting was cancelled go on the next meeting that still takes them.
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
    let last = app.store.last_note_takers().await?;
    let read_through = app
        .store
        .read_through(&app.cfg.imap.inbox)
        .await?
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let actions = plan::plan(&meetings, &app.cfg, &last, read_through, now);
    for a in &actions {
        execute(app, &meetings, a, now).await?;
        plan::apply(&mut meetings, a, now);
    }
    if !actions.is_empty() {
        app.outbox_wake.notify_one();
    }
    crate::followup::place_follow_ups(app, now).await?;
    let obligations = crate::followup::steps(app, now).await?;
    Ok(Pass {
        next: [plan::next_wakeup(&meetings, &app.cfg, now), obligations]
            .into_iter()
            .flatten()
            .min(),
        awaiting_inbox: plan::awaiting_inbox(&meetings, &app.cfg, read_through, now),
    })
}

async fn execute(app: &App, meetings: &[MeetingView], action: &Action, now: DateTime<Utc>) -> Result<()> {
    let id = action.meeting_id();
    let loaded = meetings.iter().find(|m| m.id == id).context("planned meeting not loaded")?;
    // The agenda is shown (mail body, calendar description) only from the summons on: before it,
    // the convenor's hold-the-date carries no cases.
    let summoning = matches!(action, Action::Invite { summon: true, .. });
    let shown;
    let m = if loaded.summoned || summoning {
        loaded
    } else {
        shown = MeetingView {
            cases: Vec::new(),
            ..loaded.clone()
        };
        &shown
    };
    let forum = app.cfg.forum(&m.forum_id).context("meeting of an unknown forum")?;
    let mut tx = app.store.begin().await?;
    let active = |m: &MeetingView| -> Vec<Attendee> {
        m.invitations
            .iter()
            .filter(|i| i.active)
            .map(|i| Attendee {
                name: i.name.clone(),
                address: i.address.clone(),
                role: i.role,
                partstat: PartStat::NeedsAction,
            })
            .collect()
    };
    let (what, count) = match action {
        Action::Invite {
            attendees,
            note_taker,
            summon,
            ..
        } => {
            // The summons changes a meeting others already have (the convenor's hold-the-date):
            // raise SEQUENCE and send it to everyone; otherwise send to the new invitees only.
            let earlier = active(m);
            let mut view = m.clone();
            if *summon && !earlier.is_empty() {
                view.sequence = tx.bump_sequence(m.id, now).await?;
            }
            tx.record_invitations(m.id, view.sequence, attendees, *summon, note_taker.as_deref(), now)
                .await?;
            tx.invitations_sent(m.id, view.sequence, false).await?;
            let mut everyone: Vec<Attendee> = attendees.clone();
            for e in earlier {
                if !everyone.iter().any(|a| a.address == e.address) {
                    everyone.push(e);
                }
            }
            let recipients = if *summon { everyone.clone() } else { attendees.clone() };
            let note = note_taker.as_deref().or(m.note_taker.as_deref());
            for a in &recipients {
                let mail = invitation(app, forum, &view, &everyone, a, Method::Request, note, false, now)?;
                tx.enqueue(&mail, now).await?;
            }
            (if *summon { "summoned" } else { "invited" }, recipients.len())
        }
        Action::Update { .. } | Action::Cancel { .. } => {
            let cancel = matches!(action, Action::Cancel { .. });
            let list = active(m);
            let method = if cancel { Method::Cancel } else { Method::Request };
            for a in &list {
                let mail = invitation(app, forum, m, &list, a, method, m.note_taker.as_deref(), !cancel, now)?;
                tx.enqueue(&mail, now).await?;
            }
            tx.invitations_sent(m.id, m.sequence, cancel).await?;
            (if cancel { "cancelled" } else { "updated" }, list.len())
        }
        Action::Attendees { add, remove, .. } => {
            let mut view = m.clone();
            view.sequence = tx.bump_sequence(m.id, now).await?;
            let removed: Vec<Attendee> = active(m).into_iter().filter(|a| remove.contains(&a.address)).collect();
            for a in &removed {
                let mail = invitation(app, forum, &view, &removed, a, Method::Cancel, None, false, now)?;
                tx.enqueue(&mail, now).await?;
            }
            tx.deactivate_invitations(m.id, remove, view.sequence).await?;
            tx.record_invitations(m.id, view.sequence, add, false, None, now).await?;
            tx.invitations_sent(m.id, view.sequence, false).await?;
            let mut everyone: Vec<Attendee> = active(m).into_iter().filter(|a| !remove.contains(&a.address)).collect();
            everyone.extend(add.iter().cloned());
            for a in &everyone {
                let mail = invitation(app, forum, &view, &everyone, a, Method::Request, m.note_taker.as_deref(), true, now)?;
                tx.enqueue(&mail, now).await?;
            }
            ("attendees_changed", removed.len() + everyone.len())
        }
        Action::Remind { addresses, .. } => {
            let list = active(m);
            for a in list.iter().filter(|a| addresses.contains(&a.address)) {
                let mail = invitation_with(
                    app,
                    forum,
                    m,
                    &list,
                    a,
                    Method::Request,
                    m.note_taker.as_deref(),
                    false,
                    "reminder",
                    now,
                )?;
                tx.enqueue(&mail, now).await?;
            }
            tx.mark_reminded(m.id, addresses, now).await?;
            ("reminded", addresses.len())
        }
        Action::Digest { which, .. } => {
            let strangers = app.store.not_member_since(now - chrono::Duration::days(7)).await?;
            tx.enqueue(&digest(app, forum, m, *which, strangers, now)?, now).await?;
            tx.mark_digest(m.id, which.as_str(), now).await?;
            ("digest", 1)
        }
        Action::RequestDecisions { .. } => {
            let n = crate::followup::request_decisions(app, &mut tx, forum, loaded, now).await?;
            ("decisions_requested", n)
        }
        Action::NotHeld { .. } => {
            let list = active(m);
            let mut view = m.clone();
            view.sequence = tx.bump_sequence(m.id, now).await?;
            tx.meeting_not_held(m.id, now).await?;
            for a in &list {
                let mail = invitation(app, forum, &view, &list, a, Method::Cancel, None, false, now)?;
                tx.enqueue(&mail, now).await?;
            }
            tx.invitations_sent(m.id, view.sequence, true).await?;
            tx.enqueue(&not_held(app, forum, m, now)?, now).await?;
            ("not_held", list.len() + 1)
        }
    };
    tx.commit().await?;
    info!(
        meeting = m.id,
        kind = m.kind.as_str(),
        action = what,
        recipients = count,
        sequence = m.sequence,
        "meeting mail queued"
    );
    Ok(())
}

fn swedish_time(t: DateTime<Utc>, forum: &Forum) -> String {
    t.with_timezone(&forum.time_zone).format("%H.%M").to_string()
}

/// The calendar event of a meeting: only case numbers and initials with age, never texts.
pub fn event(
    forum: &Forum,
    m: &MeetingView,
    attendees: &[Attendee],
    note_taker: Option<&str>,
    cancelled: bool,
    now: DateTime<Utc>,
) -> Event {
    let mut desc = Vec::new();
    if !m.cases.is_empty() {
        let list: Vec<String> = m
            .cases
            .iter()
            .map(|c| {
                let i = plan::initials(
                    c.sections
                        .get(&crate::core::submission::SectionKey::NameAge)
                        .map(String::as_str)
                        .unwrap_or(""),
                );
                if i.is_empty() {
                    c.case_no.clone()
                } else {
                    format!("{} ({i})", c.case_no)
                }
            })
            .collect();
        desc.push(format!("Ärenden: {}.", list.join(", ")));
    }
    if let Some(n) = note_taker.and_then(|a| forum.member(a)) {
        desc.push(format!("Dokumentationsansvarig: {}.", n.name));
    }
    desc.push("Kallelse och dagordning finns i mejlet.".into());
    Event {
        uid: plan::uid(&forum.id, &m.occurrence, forum.mail_domain()),
        sequence: m.sequence,
        dtstamp: now,
        start: m.start,
        end: m.end,
        summary: format!("{} {}", capitalize(m.kind.label_sv()), forum.name),
        location: Some(m.place.clone()).filter(|p| !p.is_empty()),
        description: Some(desc.join("\n")),
        organizer_name: forum.name.clone(),
        organizer_address: forum.mailbox.clone(),
        attendees: attendees.to_vec(),
        cancelled,
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn purpose(kind: MeetingKind) -> &'static str {
    match kind {
        MeetingKind::Samverkan => "konsultation i de enskilda ärendena på dagordningen",
        MeetingKind::Avstamning => {
            "avstämning mellan enheterna: planerade överlämningar, gemensamma frågor och trender (obligatoriskt för alla biträdande enhetschefer)"
        }
    }
}

/// An invitation (REQUEST) or cancellation for one invitee, e.g. a delegate.
#[allow(clippy::too_many_arguments)]
pub fn invitation_mail(
    app: &App,
    forum: &Forum,
    m: &MeetingView,
    attendees: &[Attendee],
    to: &Attendee,
    method: Method,
    note_taker: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Outgoing> {
    invitation(app, forum, m, attendees, to, method, note_taker, false, now)
}

/// One invitee's invitation, update or cancellation mail.
#[allow(clippy::too_many_arguments)]
fn invitation(
    app: &App,
    forum: &Forum,
    m: &MeetingView,
    attendees: &[Attendee],
    to: &Attendee,
    method: Method,
    note_taker: Option<&str>,
    is_update: bool,
    now: DateTime<Utc>,
) -> Result<Outgoing> {
    invitation_with(app, forum, m, attendees, to, method, note_taker, is_update, "invitation", now)
}

/// Like [`invitation`], with the mail text from template `template` (`reminder` re-sends the
/// same REQUEST, same SEQUENCE, so the invitee can still press Accept).
#[allow(clippy::too_many_arguments)]
fn invitation_with(
    app: &App,
    forum: &Forum,
    m: &MeetingView,
    attendees: &[Attendee],
    to: &Attendee,
    method: Method,
    note_taker: Option<&str>,
    is_update: bool,
    template: &str,
    now: DateTime<Utc>,
) -> Result<Outgoing> {
    let cases: Vec<serde_json::Value> = m
        .cases
        .iter()
        .map(|c| {
            let sub = forum.member(&c.submitter);
            serde_json::json!({
                "case_no": c.case_no,
                "urgent": c.urgent,
                "submitter_name": sub.map(|s| s.name.as_str()).unwrap_or(c.submitter.as_str()),
                "submitter_unit": sub.map(|s| s.unit.as_str()).unwrap_or(""),
                "units": c.units,
                "sections": c.sections.iter().map(|(k, v)| serde_json::json!({"label": k.label_sv(), "text": v})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let ctx = serde_json::json!({
        "method": method.as_str(),
        "is_update": is_update && m.sequence > 0,
        "name": to.name,
        "optional": to.role == Role::Optional,
        "forum_name": forum.name,
        "kind": m.kind.label_sv(),
        "when": swedish_datetime(m.start, forum.time_zone),
        "end_time": swedish_time(m.end, forum),
        "place": m.place,
        "purpose": purpose(m.kind),
        "note_taker_name": note_taker.and_then(|a| forum.member(a)).map(|n| n.name.clone()),
        "convenor_name": forum.convenor.name,
        "convenor_address": forum.convenor.address,
        "cases": cases,
        "transfers": m.transfers.iter().map(|(no, on)| serde_json::json!({"case_no": no, "date": on})).collect::<Vec<_>>(),
    });
    let r = app.templates.render(&forum.language, template, &ctx)?;
    let ics = ical::render(method, &event(forum, m, attendees, note_taker, method == Method::Cancel, now));
    let key = format!("{}:{}:{}:{}", m.id, m.sequence, method.as_str(), to.address);
    let mid = compose::message_id(template, &key, forum.mail_domain());
    let mime = build_invite(&InviteDraft {
        from_name: forum.name.clone(),
        from_address: forum.mailbox.clone(),
        to: vec![(to.name.clone(), to.address.clone())],
        subject: r.subject,
        text: r.text,
        html: r.html,
        message_id: mid.clone(),
        method,
        ics,
    })?;
    Ok(Outgoing {
        message_id: mid,
        kind: if method == Method::Cancel {
            "cancellation".into()
        } else {
            template.into()
        },
        forum_id: forum.id.clone(),
        case_id: None,
        meeting_id: Some(m.id),
        env_from: forum.mailbox.clone(),
        env_to: vec![to.address.clone()],
        mime,
    })
}

/// The convenor's digest: who accepted, declined, has not answered, could not be reached.
fn digest(app: &App, forum: &Forum, m: &MeetingView, which: plan::Digest, strangers: i64, _now: DateTime<Utc>) -> Result<Outgoing> {
    let group = |p: PartStat| -> Vec<String> {
        m.invitations
            .iter()
            .filter(|i| i.active && !i.undeliverable && i.partstat == p && i.address != forum.convenor.address)
            .map(|i| {
                if i.role == Role::Optional {
                    format!("{} (för kännedom)", i.name)
                } else {
                    i.name.clone()
                }
            })
            .collect()
    };
    let bounced: Vec<String> = m
        .invitations
        .iter()
        .filter(|i| i.active && i.undeliverable)
        .map(|i| i.name.clone())
        .collect();
    let cases: Vec<serde_json::Value> = m
        .cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "case_no": c.case_no,
                "urgent": c.urgent,
                "initials": plan::initials(c.sections.get(&crate::core::submission::SectionKey::NameAge).map(String::as_str).unwrap_or("")),
                "submitter": forum.member(&c.submitter).map(|x| x.name.clone()).unwrap_or_default(),
                "submitter_answer": m.invitations.iter().find(|i| i.address == c.submitter).map(|i| i.partstat.as_str()).unwrap_or(""),
            })
        })
        .collect();
    let ctx = serde_json::json!({
        "convenor_name": forum.convenor.name,
        "forum_name": forum.name,
        "kind": m.kind.label_sv(),
        "when": swedish_datetime(m.start, forum.time_zone),
        "morning": which == plan::Digest::Morning,
        "accepted": group(PartStat::Accepted),
        "tentative": group(PartStat::Tentative),
        "declined": group(PartStat::Declined),
        "delegated": group(PartStat::Delegated),
        "silent": group(PartStat::NeedsAction),
        "bounced": bounced,
        "note_taker": m.note_taker.as_deref().and_then(|a| forum.member(a)).map(|x| x.name.clone()),
        "cases": cases,
        "strangers": strangers,
    });
    crate::outgoing::build(
        app,
        forum,
        crate::outgoing::Mail {
            template: "digest",
            ctx,
            to: vec![(forum.convenor.name.clone(), forum.convenor.address.clone())],
            key: format!("{}:{}", m.id, which.as_str()),
            case_id: None,
            meeting_id: Some(m.id),
            in_reply_to: None,
        },
    )
}

fn not_held(app: &App, forum: &Forum, m: &MeetingView, _now: DateTime<Utc>) -> Result<Outgoing> {
    let cut = forum
        .schedule
        .as_ref()
        .map(|s| swedish_datetime(cutoff(s, forum.time_zone, m.start), forum.time_zone));
    let ctx = serde_json::json!({
        "convenor_name": forum.convenor.name,
        "forum_name": forum.name,
        "kind": m.kind.label_sv(),
        "when": swedish_datetime(m.start, forum.time_zone),
        "cutoff": cut.unwrap_or_default(),
        "invited_count": m.invitations.iter().filter(|i| i.active).count(),
    });
    crate::outgoing::build(
        app,
        forum,
        crate::outgoing::Mail {
            template: "not_held",
            ctx,
            to: vec![(forum.convenor.name.clone(), forum.convenor.address.clone())],
            key: m.id.to_string(),
            case_id: None,
            meeting_id: Some(m.id),
            in_reply_to: None,
        },
    )
}

/// For `samverkan preview`: the reminders and escalations of the open obligations (decisions,
/// notes, adjusters' review, handovers, lifted cases, follow-ups, age transfers) due in
/// `[now, until)`. `case_nos`: case id → case number. Each line: (when, description).
pub fn preview_obligations(
    open: &[crate::store::ObligationRow],
    case_nos: &BTreeMap<i64, String>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, String)> {
    use crate::core::obligation::{self as ob, Step};
    let cores: Vec<_> = open.iter().map(crate::store::ObligationRow::core).collect();
    ob::upcoming(&cores, now, until)
        .into_iter()
        .filter_map(|(t, step)| {
            let (id, escalation) = match step {
                Step::Remind(id) => (id, false),
                Step::Escalate(id) => (id, true),
            };
            let o = open.iter().find(|o| o.id == id)?;
            let about = match (o.case_id.and_then(|c| case_nos.get(&c)), o.meeting_id) {
                (Some(no), _) => format!("ärende {no}"),
                (None, Some(m)) => format!("möte {m}"),
                (None, None) => String::new(),
            };
            let (what, to) = if escalation {
                ("eskalering", o.escalate_to.len())
            } else {
                ("påminnelse", o.owners.len())
            };
            Some((
                t,
                format!(
                    "[{}] {about}: {what} om {} till {to} mottagare (uppgift {id})",
                    o.forum_id,
                    ob::what_sv(&o.kind)
                ),
            ))
        })
        .collect()
}

/// For `samverkan preview`: every mail the planner will send in `[now, until)` and when, from
/// the stored state, without sending or storing anything. Each line: (when, description).
pub fn preview(
    cfg: &crate::config::Config,
    mut meetings: Vec<MeetingView>,
    last: BTreeMap<String, String>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, String)> {
    let mut out = Vec::new();
    let mut t = now;
    let mut last = last;
    for _ in 0..10_000 {
        // Preview assumes intake keeps up with the inbox.
        let actions = plan::plan(&meetings, cfg, &last, t, t);
        for a in &actions {
            if let Some(m) = meetings.iter().find(|m| m.id == a.meeting_id()) {
                let Some(forum) = cfg.forum(&m.forum_id) else { continue };
                let when = swedish_datetime(m.start, forum.time_zone);
                let line = match a {
                    Action::Invite { summon: false, .. } => {
                        format!(
                            "{} {} (möte {}): kalenderpost till sammankallande (håll datumet)",
                            m.kind.label_sv(),
                            when,
                            m.id
                        )
                    }
                    Action::Invite { attendees, note_taker, .. } => {
                        if let Some(n) = note_taker {
                            last.insert(forum.id.clone(), n.clone());
                        }
                        format!(
                            "{} {} (möte {}): kallelse (REQUEST) till {} mottagare{}",
                            m.kind.label_sv(),
                            when,
                            m.id,
                            attendees.len(),
                            if m.cases.is_empty() {
                                String::new()
                            } else {
                                format!(", dagordning med {} ärende(n)", m.cases.len())
                            }
                        )
                    }
                    Action::NotHeld { .. } => format!(
                        "{} {} (möte {}): hålls inte (inga ärenden); besked till sammankallande",
                        m.kind.label_sv(),
                        when,
                        m.id
                    ),
                    Action::Update { .. } => format!(
                        "{} {} (möte {}): ändrad kallelse (SEQUENCE {}) till {} mottagare",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        m.sequence,
                        m.invitations.iter().filter(|i| i.active).count()
                    ),
                    Action::Cancel { .. } => format!(
                        "{} {} (möte {}): avbokning (CANCEL) till {} mottagare",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        m.invitations.iter().filter(|i| i.active).count()
                    ),
                    Action::RequestDecisions { .. } => {
                        format!(
                            "{} {} (möte {}): beslutsunderlag till dokumentationsansvarig",
                            m.kind.label_sv(),
                            when,
                            m.id
                        )
                    }
                    Action::Remind { addresses, .. } => format!(
                        "{} {} (möte {}): påminnelse om svar till {} mottagare",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        addresses.len()
                    ),
                    Action::Digest { which, .. } => format!(
                        "{} {} (möte {}): sammanställning till sammankallande ({})",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        match (which, m.kind) {
                            (plan::Digest::Cutoff, MeetingKind::Samverkan) =>
                                "vid sista anmälningstid, med kallelsen: vilka som kallats och ärendena",
                            (plan::Digest::Cutoff, MeetingKind::Avstamning) => "med inbjudningarna: vilka som bjudits in",
                            (plan::Digest::Morning, _) => "mötesdagens morgon: vilka som kommer",
                        }
                    ),
                    Action::Attendees { add, remove, .. } => format!(
                        "{} {} (möte {}): deltagarna ändrade: {} nya, {} avbokade; ändrad kallelse till alla",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        add.len(),
                        remove.len()
                    ),
                };
                out.push((t, format!("[{}] {line}", forum.id)));
            }
        }
        for a in &actions {
            plan::apply(&mut meetings, a, t);
        }
        if !actions.is_empty() {
            // What an action makes due at the same instant (the cutoff digest after the
            // summons) comes on the daemon's next pass: plan again at `t`.
            continue;
        }
        match plan::next_wakeup(&meetings, cfg, t) {
            Some(next) if next < until => t = next,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::obligation as ob;
    use crate::core::testing::ts;
    use crate::store::ObligationRow;

    fn row(id: i64, kind: &str, case_id: Option<i64>, meeting_id: Option<i64>, remind: &str, escalate: Option<&str>) -> ObligationRow {
        ObligationRow {
            id,
            forum_id: "iof-aof".into(),
            kind: kind.into(),
            case_id,
            meeting_id,
            owners: vec!["anna.berg@kommun.test".into()],
            escalate_to: vec!["sara@kommun.test".into(), "eva@kommun.test".into()],
            remind_at: Some(ts(remind)),
            escalate_at: escalate.map(ts),
            reminded: false,
            escalated: false,
            opened_at: Some(ts("2027-01-12T13:00:00Z")),
            data: serde_json::json!({}),
            request_message_id: String::new(),
            closed: false,
        }
    }

    #[test]
    fn preview_lists_obligation_reminders_and_escalations_in_swedish() {
        let open = [
            row(
                1,
                ob::HANDOVER_CONFIRM,
                Some(7),
                Some(3),
                "2027-01-15T08:00:00Z",
                Some("2027-01-21T08:00:00Z"),
            ),
            row(2, ob::ADJUST, None, Some(3), "2027-01-18T08:00:00Z", None),
            row(3, ob::FOLLOW_UP, Some(8), None, "2027-03-01T08:00:00Z", None),
        ];
        let nos = BTreeMap::from([(7, "2027-0007".to_string()), (8, "2027-0008".to_string())]);
        let lines = preview_obligations(&open, &nos, ts("2027-01-13T00:00:00Z"), ts("2027-02-01T00:00:00Z"));
        let text: Vec<(String, &str)> = lines.iter().map(|(t, l)| (t.to_rfc3339(), l.as_str())).collect();
        assert_eq!(
            text,
            vec![
                (
                    "2027-01-15T08:00:00+00:00".to_string(),
                    "[iof-aof] ärende 2027-0007: påminnelse om bekräftelsen av överlämningen till 1 mottagare (uppgift 1)"
                ),
                (
                    "2027-01-18T08:00:00+00:00".to_string(),
                    "[iof-aof] möte 3: påminnelse om justeringen av mötesanteckningarna till 1 mottagare (uppgift 2)"
                ),
                (
                    "2027-01-21T08:00:00+00:00".to_string(),
                    "[iof-aof] ärende 2027-0007: eskalering om bekräftelsen av överlämningen till 2 mottagare (uppgift 1)"
                ),
            ],
            "the follow-up reminder in March is past the window"
        );
    }
}
