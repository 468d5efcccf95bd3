//! After the meeting (seed 001): the decisions, handovers the receiving unit must confirm,
//! escalations, follow-ups and age transfers. Every "someone must do something by a deadline"
//! is an obligation (`core::obligation`); this shell opens them, closes them on the events that
//! end them (a reply in the request's thread), and sends their reminders and escalations.

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use tracing::info;

use crate::app::App;
use crate::config::Forum;
use crate::core::decision::{Decision, Line};
use crate::core::followup::{self as core_followup, CaseStep, Forward, ObligationCase, ObligationReply, Plan, Review, unit_named as unit};
use crate::core::handover::Part;
use crate::core::obligation::{self as ob, Step, on_working_day};
use crate::core::plan::{self, MeetingView};
use crate::core::schedule::MeetingKind;
use crate::core::time::swedish_datetime;
use crate::outgoing::{self, Mail, person};
use crate::store::{CaseRow, NewObligation, ObligationRow, Tx, read};

fn sections(c: &CaseRow) -> serde_json::Value {
    c.sections
        .iter()
        .map(|(k, v)| serde_json::json!({"label": k.label_sv(), "text": v}))
        .collect::<Vec<_>>()
        .into()
}

fn swedish_date(d: NaiveDate) -> String {
    d.format_localized("%A %-d %B %Y", chrono::Locale::sv_SE).to_string()
}

/// The meeting is over: the note taker (and the convenor) get the "beslutsunderlag", and the
/// obligations that track the answer open; returns how many it went to. The meeting's flag is
/// written by the scheduler's transition.
pub async fn request_decisions(app: &App, tx: &mut Tx, forum: &Forum, m: &MeetingView, now: DateTime<Utc>) -> Result<usize> {
    let note_taker = m.note_taker.clone().unwrap_or_else(|| forum.convenor.address.clone());
    let mut to = vec![person(forum, &note_taker)];
    if note_taker != forum.convenor.address {
        to.push(person(forum, &forum.convenor.address));
    }
    let cases: Vec<serde_json::Value> = m
        .cases
        .iter()
        .map(|c| {
            let who = forum
                .member(&c.submitter)
                .map(|s| format!("{}, {}", s.name, s.unit))
                .unwrap_or_default();
            serde_json::json!({
                "case_no": c.case_no,
                "initials": plan::initials(c.sections.get(&crate::core::submission::SectionKey::NameAge).map(String::as_str).unwrap_or("")),
                "submitter": who,
            })
        })
        .collect();
    let units: Vec<String> = forum.units.iter().map(|u| u.name.clone()).collect();
    let mail = outgoing::build(
        app,
        forum,
        Mail {
            template: "decisions_request",
            ctx: serde_json::json!({
                "kind": m.kind.label_sv(), "when": swedish_datetime(m.start, forum.time_zone),
                "cases": cases, "units": units,
                "note_taker_name": person(forum, &note_taker).0,
            }),
            to: to.clone(),
            key: format!("meeting-{}", m.id),
            case_id: None,
            meeting_id: Some(m.id),
            in_reply_to: None,
        },
    )?;
    let owners: Vec<String> = to.iter().map(|(_, a)| a.clone()).collect();
    let f = &forum.followup;
    tx.open_obligation(
        &NewObligation {
            forum_id: forum.id.clone(),
            kind: ob::DECISIONS.into(),
            meeting_id: Some(m.id),
            owners: owners.clone(),
            remind_at: Some(f.decisions_remind_after.after(now, forum.time_zone, f.reminder_time)),
            // The agenda: open until each of these has a decision.
            data: serde_json::json!({ "cases": m.cases.iter().map(|c| c.case_no.clone()).collect::<Vec<_>>() }),
            request_message_id: mail.message_id.clone(),
            ..Default::default()
        },
        now,
    )
    .await?;
    tx.open_obligation(
        &NewObligation {
            forum_id: forum.id.clone(),
            kind: ob::NOTES.into(),
            meeting_id: Some(m.id),
            owners: vec![note_taker],
            remind_at: Some(on_working_day(m.end + f.notes_due_after, forum.time_zone, f.reminder_time)),
            // "Klart" in answer to the beslutsunderlag (or to the reminder) closes it.
            request_message_id: mail.message_id.clone(),
            ..Default::default()
        },
        now,
    )
    .await?;
    tx.enqueue(&mail, now).await?;
    Ok(to.len())
}

/// Applies one decision to a case (from a decision line or `samverkan case decide`).
/// Returns a Swedish line saying what happens next. The case counts as decided for the
/// decisions of its meeting, which close once every case on that agenda has a decision.
pub async fn apply_decision(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    case: &CaseRow,
    d: &Decision,
    now: DateTime<Utc>,
) -> Result<Result<String, String>> {
    let outcome = decide_case(app, tx, forum, case, d, now).await?;
    if outcome.is_ok()
        && let Some(m) = case.meeting_id
        && let Some(o) = read::open_meeting_obligation(tx.conn(), m, ob::DECISIONS).await?
    {
        let (data, complete) = ob::decided(&o.data, &case.case_no);
        tx.set_obligation_data(o.id, &data).await?;
        if complete {
            tx.close_obligation(o.id, "every case decided", now).await?;
        }
    }
    Ok(outcome)
}

async fn decide_case(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    case: &CaseRow,
    d: &Decision,
    now: DateTime<Utc>,
) -> Result<Result<String, String>> {
    // Decide first: a decision that cannot be applied leaves the case's obligations as they were.
    let step = match core_followup::case_step(forum, &case.submitter, &case.units, &case.status, d, now) {
        Ok(step) => step,
        Err(why) => return Ok(Err(why)),
    };
    tx.close_case_obligations(case.id, "new decision", now).await?;
    let submitter = person(forum, &case.submitter);
    Ok(Ok(match step {
        CaseStep::Handover { unit, remind_at } => {
            tx.set_case_state(case.id, "handover", case.meeting_id, None, now).await?;
            let mail = outgoing::build(
                app,
                forum,
                Mail {
                    template: "handover_request",
                    ctx: serde_json::json!({
                        "name": submitter.0, "case_no": case.case_no, "unit": unit,
                        "parts": Part::ALL.iter().map(|p| p.label_sv()).collect::<Vec<_>>(),
                    }),
                    to: vec![submitter.clone()],
                    key: format!("handover-request-{}-{}", case.id, now.timestamp()),
                    case_id: Some(case.id),
                    meeting_id: case.meeting_id,
                    in_reply_to: None,
                },
            )?;
            tx.open_obligation(
                &NewObligation {
                    forum_id: forum.id.clone(),
                    kind: ob::HANDOVER_INFO.into(),
                    case_id: Some(case.id),
                    owners: vec![case.submitter.clone()],
                    remind_at: Some(remind_at),
                    data: serde_json::json!({ "unit": unit }),
                    request_message_id: mail.message_id.clone(),
                    ..Default::default()
                },
                now,
            )
            .await?;
            tx.enqueue(&mail, now).await?;
            format!("överlämnas till {unit}: {} ombeds skicka överlämningsinformationen", submitter.0)
        }
        CaseStep::FollowUp { date, remind_at } => {
            tx.set_case_state(case.id, "follow_up", None, Some(&date.to_string()), now).await?;
            tx.open_obligation(
                &NewObligation {
                    forum_id: forum.id.clone(),
                    kind: ob::FOLLOW_UP.into(),
                    case_id: Some(case.id),
                    owners: vec![case.submitter.clone()],
                    remind_at: Some(remind_at),
                    data: serde_json::json!({ "date": date.to_string() }),
                    ..Default::default()
                },
                now,
            )
            .await?;
            format!(
                "följs upp på första mötet från och med {}; {} påminns i förväg",
                swedish_date(date),
                submitter.0
            )
        }
        CaseStep::Escalate {
            heads,
            level,
            remind_at,
            escalate_at,
        } => {
            tx.set_case_state(case.id, "escalated", case.meeting_id, None, now).await?;
            let level4 = level == 4;
            let sub_unit = forum.member(&case.submitter).map(|m| m.unit.clone());
            let mail = outgoing::build(
                app,
                forum,
                Mail {
                    template: "escalation",
                    ctx: serde_json::json!({
                        "case_no": case.case_no, "submitter_name": submitter.0,
                        "submitter_unit": sub_unit, "units": case.units, "sections": sections(case),
                        "level": level,
                    }),
                    to: heads.clone(),
                    key: format!("escalation-{}-{level}-{}", case.id, now.timestamp()),
                    case_id: Some(case.id),
                    meeting_id: case.meeting_id,
                    in_reply_to: None,
                },
            )?;
            tx.open_obligation(
                &NewObligation {
                    forum_id: forum.id.clone(),
                    kind: ob::ESCALATION_ACK.into(),
                    case_id: Some(case.id),
                    owners: heads.iter().map(|(_, a)| a.clone()).collect(),
                    escalate_to: vec![forum.convenor.address.clone()],
                    remind_at: Some(remind_at),
                    escalate_at: Some(escalate_at),
                    data: serde_json::json!({ "level": level }),
                    request_message_id: mail.message_id.clone(),
                    ..Default::default()
                },
                now,
            )
            .await?;
            tx.enqueue(&mail, now).await?;
            let names: Vec<&str> = heads.iter().map(|(n, _)| n.as_str()).collect();
            let to = if level4 { "avdelningschef" } else { "enhetschef" };
            format!("lyfts till {to}: sammanfattning skickad till {}", names.join(", "))
        }
        CaseStep::Close => {
            tx.set_case_state(case.id, "closed", case.meeting_id, None, now).await?;
            "avslutas".to_string()
        }
    }))
}

/// An answer in the thread of any mail sent about an obligation, as `core::intake::route` read
/// it. Reads the obligation's case and meeting through the intake transaction, asks
/// `core::followup::decide` what it does and carries that out. Returns the intake outcome and
/// whether mail was queued.
pub async fn on_reply(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    obligations: &[ObligationRow],
    reply: &ObligationReply,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<(&'static str, bool)> {
    let o = obligations
        .iter()
        .find(|o| o.id == reply.obligation())
        .context("obligation vanished")?;
    let row = match o.case_id {
        Some(id) => read::case_by_id(tx.conn(), id).await?,
        None => None,
    };
    let meeting = match o.meeting_id.or(row.as_ref().and_then(|c| c.meeting_id)) {
        Some(id) => read::meeting_view(tx.conn(), id).await?,
        None => None,
    };
    let case = row.as_ref().map(|c| ObligationCase {
        id: c.id,
        case_no: c.case_no.clone(),
        submitter: c.submitter.clone(),
    });
    let note_taker = meeting.as_ref().and_then(|m| m.note_taker.as_deref());
    let plan = core_followup::decide(forum, &o.in_thread(), reply, case.as_ref(), note_taker, now)?;
    let r = Reply {
        sender: &reply.sender,
        text: &reply.text,
        message_id,
        now,
    };
    let queued = match &plan {
        Plan::Decisions { lines } => decisions(app, tx, forum, o, &r, lines).await?,
        Plan::HandoverIncomplete {
            case,
            unit,
            missing,
            consent,
        } => {
            let ctx = serde_json::json!({
                "name": person(forum, r.sender).0, "case_no": case.case_no, "unit": unit,
                "missing": missing.iter().map(|p| p.label_sv()).collect::<Vec<_>>(), "consent": consent,
            });
            let mail = r.answer(forum, "handover_incomplete", ctx, Some(case.id), None);
            send_about(app, tx, forum, o.id, mail, now).await?;
            true
        }
        Plan::HandoverForward(fw) => handover_forward(app, tx, forum, o, &r, fw).await?,
        Plan::Adjusted => {
            tx.close_obligation(o.id, r.sender, now).await?;
            false
        }
        Plan::NotesFiled(review) => notes_filed(app, tx, forum, o, &r, meeting.as_ref(), review).await?,
        Plan::Confirmed {
            case,
            handover,
            tell,
            case_worker,
        } => {
            tx.close_obligation(o.id, r.sender, now).await?;
            if *handover {
                let meeting_id = row.as_ref().and_then(|c| c.meeting_id);
                tx.set_case_state(case.id, "handed_over", meeting_id, None, now).await?;
            }
            let ctx = serde_json::json!({
                "name": person(forum, tell).0, "case_no": case.case_no, "by": person(forum, r.sender).0,
                "unit": o.data["unit"].as_str(), "case_worker": case_worker, "handover": handover,
            });
            let mail = Mail {
                template: "confirmed",
                ctx,
                to: vec![person(forum, tell)],
                key: r.message_id.to_string(),
                case_id: Some(case.id),
                meeting_id: None,
                in_reply_to: None,
            };
            send_about(app, tx, forum, o.id, mail, now).await?;
            true
        }
        Plan::Comment { forward_to } => comment(app, tx, forum, o, &r, case.as_ref(), meeting.as_ref(), forward_to.as_deref()).await?,
    };
    Ok((plan.outcome(), queued))
}

/// The reply being handled.
struct Reply<'a> {
    /// The sender's member address, or the address as written.
    sender: &'a str,
    /// The sender's own text (quotes and signature removed).
    text: &'a str,
    message_id: &'a str,
    now: DateTime<Utc>,
}

impl Reply<'_> {
    /// The mail that answers the sender in the reply's thread.
    fn answer<'t>(
        &self,
        forum: &Forum,
        template: &'t str,
        ctx: serde_json::Value,
        case_id: Option<i64>,
        meeting_id: Option<i64>,
    ) -> Mail<'t> {
        Mail {
            template,
            ctx,
            to: vec![person(forum, self.sender)],
            key: self.message_id.to_string(),
            case_id,
            meeting_id,
            in_reply_to: Some(self.message_id.to_string()),
        }
    }
}

/// Builds `mail`, records it as sent about obligation `id` (a reply to it stays with the
/// obligation) and queues it.
async fn send_about(app: &App, tx: &mut Tx, forum: &Forum, id: i64, mail: Mail<'_>, now: DateTime<Utc>) -> Result<()> {
    let mail = outgoing::build(app, forum, mail)?;
    tx.obligation_mail(id, &mail.message_id).await?;
    tx.enqueue(&mail, now).await
}

/// Decision lines from the note taker or the convenor, first or corrected: each applied and
/// confirmed line by line. The confirmation is in the obligation's thread, so a correction in
/// answer to it is read the same way.
async fn decisions(app: &App, tx: &mut Tx, forum: &Forum, o: &ObligationRow, r: &Reply<'_>, lines: &[Line]) -> Result<bool> {
    let mut report = Vec::new();
    let mut applied = 0;
    for l in lines {
        let outcome = match &l.result {
            Err(e) => Err(e.clone()),
            Ok((no, d)) => match read::case_by_no(tx.conn(), &forum.id, no).await? {
                None => Err(format!("ärende {no} finns inte i {}", forum.name)),
                Some(c) => apply_decision(app, tx, forum, &c, d, r.now).await?,
            },
        };
        if outcome.is_ok() {
            applied += 1;
        }
        report.push(serde_json::json!({ "line": l.text, "ok": outcome.is_ok(), "text": outcome.unwrap_or_else(|e| e) }));
    }
    // The agenda's cases still without a decision (none once the obligation closed).
    let undecided = match o.meeting_id {
        Some(m) => read::open_meeting_obligation(tx.conn(), m, ob::DECISIONS)
            .await?
            .map(|d| ob::undecided(&d.data))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let failed = report.len() - applied;
    let ctx = serde_json::json!({ "name": person(forum, r.sender).0, "lines": report, "failed": failed, "undecided": undecided });
    let mail = r.answer(forum, "decisions_confirm", ctx, None, o.meeting_id);
    send_about(app, tx, forum, o.id, mail, r.now).await?;
    info!(applied, failed, undecided = undecided.len(), "decisions read");
    Ok(true)
}

/// Complete handover information with consent: stored, forwarded to the receiving unit, whose
/// confirmation becomes an obligation; the sender is told who got it.
async fn handover_forward(app: &App, tx: &mut Tx, forum: &Forum, o: &ObligationRow, r: &Reply<'_>, fw: &Forward) -> Result<bool> {
    let Forward {
        case,
        handover,
        unit,
        receivers,
        escalate_to,
        remind_at,
        escalate_at,
    } = fw;
    let (sender, now) = (r.sender, r.now);
    tx.set_handover(case.id, &serde_json::to_value(handover)?).await?;
    tx.close_obligation(o.id, sender, now).await?;
    let to: Vec<(String, String)> = receivers.iter().map(|a| person(forum, a)).collect();
    let parts: Vec<serde_json::Value> = handover
        .parts
        .iter()
        .map(|(k, t)| serde_json::json!({"label": k.label_sv(), "text": t}))
        .collect();
    let forward = outgoing::build(
        app,
        forum,
        Mail {
            template: "handover_forward",
            ctx: serde_json::json!({
                "case_no": case.case_no, "unit": unit, "submitter_name": person(forum, sender).0,
                "submitter_address": sender, "submitter_unit": forum.member(sender).map(|m| m.unit.clone()),
                "parts": parts,
            }),
            to: to.clone(),
            key: r.message_id.to_string(),
            case_id: Some(case.id),
            meeting_id: None,
            in_reply_to: None,
        },
    )?;
    let confirm = tx
        .open_obligation(
            &NewObligation {
                forum_id: forum.id.clone(),
                kind: ob::HANDOVER_CONFIRM.into(),
                case_id: Some(case.id),
                owners: receivers.clone(),
                escalate_to: escalate_to.clone(),
                remind_at: Some(*remind_at),
                escalate_at: Some(*escalate_at),
                data: serde_json::json!({ "unit": unit, "from": sender }),
                request_message_id: forward.message_id.clone(),
                ..Default::default()
            },
            now,
        )
        .await?;
    tx.enqueue(&forward, now).await?;
    let names: Vec<&str> = to.iter().map(|(n, _)| n.as_str()).collect();
    let ctx = serde_json::json!({ "name": person(forum, sender).0, "case_no": case.case_no, "unit": unit, "receivers": names });
    send_about(
        app,
        tx,
        forum,
        confirm,
        r.answer(forum, "handover_sent", ctx, Some(case.id), None),
        now,
    )
    .await?;
    Ok(true)
}

/// The notes are filed: the adjusters (seed 002) get the review request with a deadline.
async fn notes_filed(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    o: &ObligationRow,
    r: &Reply<'_>,
    meeting: Option<&MeetingView>,
    review: &Review,
) -> Result<bool> {
    let Review {
        adjusters,
        deadline,
        remind_at,
    } = review;
    let (sender, now) = (r.sender, r.now);
    tx.close_obligation(o.id, sender, now).await?;
    for a in adjusters {
        let mail = outgoing::build(
            app,
            forum,
            Mail {
                template: "notes_review",
                ctx: serde_json::json!({
                    "name": person(forum, a).0, "note_taker": person(forum, sender).0,
                    "meeting": meeting.map(|m| meeting_label(forum, m)),
                    "deadline": swedish_datetime(*deadline, forum.time_zone), "where": r.text.lines().next().unwrap_or_default(),
                }),
                to: vec![person(forum, a)],
                key: format!("{}:{a}", r.message_id),
                case_id: None,
                meeting_id: o.meeting_id,
                in_reply_to: None,
            },
        )?;
        tx.open_obligation(
            &NewObligation {
                forum_id: forum.id.clone(),
                kind: ob::ADJUST.into(),
                meeting_id: o.meeting_id,
                owners: vec![a.clone()],
                escalate_to: vec![forum.convenor.address.clone()],
                remind_at: Some(*remind_at),
                escalate_at: Some(*deadline),
                request_message_id: mail.message_id.clone(),
                ..Default::default()
            },
            now,
        )
        .await?;
        tx.enqueue(&mail, now).await?;
    }
    Ok(!adjusters.is_empty())
}

/// A comment on an obligation ("Oklart vad som menas i punkt 2"): forwarded to `forward_to`,
/// if anyone, and acknowledged to the sender.
#[allow(clippy::too_many_arguments)]
async fn comment(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    o: &ObligationRow,
    r: &Reply<'_>,
    case: Option<&ObligationCase>,
    meeting: Option<&MeetingView>,
    forward_to: Option<&str>,
) -> Result<bool> {
    let to = forward_to.unwrap_or(r.sender);
    let ctx = serde_json::json!({
        "what": ob::what_sv(&o.kind),
        "case_no": case.map(|c| c.case_no.clone()),
        "meeting": meeting.map(|m| meeting_label(forum, m)),
        "by": person(forum, r.sender).0, "by_address": r.sender,
        "to_name": person(forum, to).0,
        "forwarded": forward_to.is_some(),
        "comment": r.text.trim(),
    });
    if let Some(to) = forward_to {
        let mail = Mail {
            template: "comment_forward",
            ctx: ctx.clone(),
            to: vec![person(forum, to)],
            key: r.message_id.to_string(),
            case_id: o.case_id,
            meeting_id: o.meeting_id,
            in_reply_to: None,
        };
        send_about(app, tx, forum, o.id, mail, r.now).await?;
    }
    let ack = r.answer(forum, "comment_ack", ctx, o.case_id, o.meeting_id);
    send_about(app, tx, forum, o.id, ack, r.now).await?;
    info!(obligation = o.id, kind = %o.kind, forwarded = forward_to.is_some(), "comment on an obligation");
    Ok(true)
}

/// "samverkansmöte tisdag 8 december 2026 kl. 13:00": a meeting as the texts name it.
fn meeting_label(forum: &Forum, m: &MeetingView) -> String {
    format!("{} {}", m.kind.label_sv(), swedish_datetime(m.start, forum.time_zone))
}

/// Seed 001: a young person who will need another unit's support after 19 (or 21) is announced
/// at least six months before the birthday. Records the date and opens the obligation that
/// reminds the submitter and the receiving unit's deputy heads in time.
pub async fn record_transfer(
    tx: &mut Tx,
    forum: &Forum,
    case: &CaseRow,
    on: NaiveDate,
    to_unit: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<String, String>> {
    let f = &forum.followup;
    let receiving = match to_unit {
        Some(name) => match unit(forum, name) {
            Some(u) => Some(u),
            None => return Ok(Err(format!("okänd enhet \"{name}\""))),
        },
        None => None,
    };
    tx.set_transfer(case.id, &on.to_string()).await?;
    let remind_at = ob::transfer_notice(on, f.age_transfer_notice_months, forum.time_zone, f.reminder_time).max(now);
    let mut owners = vec![case.submitter.clone()];
    if let Some(u) = receiving {
        owners.extend(u.deputy_heads.iter().filter(|a| **a != case.submitter).cloned());
    }
    tx.open_obligation(
        &NewObligation {
            forum_id: forum.id.clone(),
            kind: ob::AGE_TRANSFER.into(),
            case_id: Some(case.id),
            owners,
            remind_at: Some(remind_at),
            data: serde_json::json!({ "date": on.to_string(), "unit": receiving.map(|u| u.name.clone()) }),
            ..Default::default()
        },
        now,
    )
    .await?;
    Ok(Ok(format!(
        "överföringen {} påminns om {}",
        swedish_date(on),
        swedish_datetime(remind_at, forum.time_zone)
    )))
}

/// Reminders and escalations that are due, each once. Returns when the next falls due.
pub async fn steps(app: &App, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let open = app.store.open_obligations().await?;
    let cores: Vec<_> = open.iter().map(ObligationRow::core).collect();
    for step in ob::due(&cores, now) {
        let (id, escalation) = match step {
            Step::Remind(id) => (id, false),
            Step::Escalate(id) => (id, true),
        };
        let Some(o) = open.iter().find(|o| o.id == id) else { continue };
        let Some(forum) = app.cfg.forum(&o.forum_id) else { continue };
        let case = match o.case_id {
            Some(c) => app.store.case_by_id(c).await?,
            None => None,
        };
        let meeting = match o.meeting_id {
            Some(m) => app.store.meeting_view(m).await?,
            None => None,
        };
        let to: Vec<(String, String)> = if escalation { &o.escalate_to } else { &o.owners }
            .iter()
            .map(|a| person(forum, a))
            .collect();
        if to.is_empty() {
            continue;
        }
        let tz = forum.time_zone;
        // Who was to act, by name (the address when the name is unknown).
        let owners: Vec<String> = o
            .owners
            .iter()
            .map(|a| Some(person(forum, a).0).filter(|n| !n.is_empty()).unwrap_or_else(|| a.clone()))
            .collect();
        let ctx = serde_json::json!({
            "obligation": o.kind, "what": ob::what_sv(&o.kind), "escalation": escalation,
            "case_no": case.as_ref().map(|c| c.case_no.clone()),
            "unit": o.data["unit"].as_str(),
            "owners": owners,
            "since": o.opened_at.map(|t| swedish_datetime(t, tz)),
            "deadline": ob::deadline(&o.core()).map(|t| swedish_datetime(t, tz)),
            "undecided": ob::undecided(&o.data),
            "date": o.data["date"].as_str().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).map(swedish_date),
            "meeting": meeting.as_ref().map(|m| meeting_label(forum, m)),
            // The routines around one person (issue 18): reference and initials, never a name.
            "person": o.data["person"].as_str(),
            "routine_name": o.data["routine_name"].as_str(),
        });
        let mail = outgoing::build(
            app,
            forum,
            Mail {
                template: if escalation {
                    "obligation_escalation"
                } else {
                    "obligation_reminder"
                },
                ctx,
                to,
                key: format!("obligation-{}-{}", o.id, if escalation { "escalate" } else { "remind" }),
                case_id: o.case_id,
                meeting_id: o.meeting_id,
                // A reminder answers the request, so an answer to it stays in the thread.
                in_reply_to: (!o.request_message_id.is_empty()).then(|| o.request_message_id.clone()),
            },
        )?;
        let mut tx = app.store.begin().await?;
        // An answer to the reminder or escalation belongs to the obligation.
        tx.obligation_step(o.id, escalation, &mail.message_id, now).await?;
        tx.enqueue(&mail, now).await?;
        tx.commit().await?;
        app.outbox_wake.notify_one();
        info!(obligation = o.id, kind = %o.kind, step = if escalation { "escalate" } else { "remind" }, "obligation step sent");
    }
    let open = app.store.open_obligations().await?;
    let cores: Vec<_> = open.iter().map(ObligationRow::core).collect();
    Ok(ob::next_wakeup(&cores, now))
}

/// Puts follow-up cases on the first samverkansmöte on or after their date whose cutoff is
/// still ahead.
pub async fn place_follow_ups(app: &App, now: DateTime<Utc>) -> Result<()> {
    for f in &app.cfg.forums {
        let Some(s) = &f.schedule else { continue };
        let waiting = app.store.follow_ups_waiting(&f.id).await?;
        if waiting.is_empty() {
            continue;
        }
        let meetings = app.store.meetings_after(&f.id, now, 24).await?;
        for (case_id, date) in waiting {
            let Ok(date) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") else {
                continue;
            };
            let target = meetings.iter().find(|m| {
                m.status == "scheduled"
                    && (m.kind == MeetingKind::Samverkan || !s.kinds.contains(&MeetingKind::Samverkan))
                    && m.start.with_timezone(&f.time_zone).date_naive() >= date
                    && crate::core::schedule::cutoff(s, f.time_zone, m.start) > now
            });
            if let Some(m) = target {
                let mut tx = app.store.begin().await?;
                tx.set_case_state(case_id, "submitted", Some(m.id), None, now).await?;
                tx.commit().await?;
                info!(case_id, meeting = m.id, "follow-up case put on its meeting");
            }
        }
    }
    Ok(())
}
