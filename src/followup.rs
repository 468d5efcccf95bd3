//! After the meeting (seed 001): the decisions, handovers the receiving unit must confirm,
//! escalations, follow-ups and age transfers. Every "someone must do something by a deadline"
//! is an obligation (`core::obligation`); this shell opens them, closes them on the events that
//! end them (a reply in the request's thread), and sends their reminders and escalations.

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use tracing::info;

use crate::app::App;
use crate::config::Forum;
use crate::core::decision::{Decision, read_decisions};
use crate::core::handover::{Part, read_handover};
use crate::core::obligation::{self as ob, Answer, Step, on_working_day};
use crate::core::plan::{self, MeetingView};
use crate::core::schedule::MeetingKind;
use crate::core::time::swedish_datetime;
use crate::mail::view::MailView;
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

/// The meeting is over: the note taker (and the convenor) get the "beslutsunderlag".
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
    tx.decisions_requested(m.id, now).await?;
    tx.enqueue(&mail, now).await?;
    Ok(to.len())
}

/// The unit called `name` (case-insensitively), with its configured name.
fn unit<'f>(forum: &'f Forum, name: &str) -> Option<&'f crate::config::Unit> {
    let n = name.trim().to_lowercase();
    forum.units.iter().find(|u| u.name.to_lowercase() == n)
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
    let f = &forum.followup;
    let tz = forum.time_zone;
    tx.close_case_obligations(case.id, "new decision", now).await?;
    let submitter = person(forum, &case.submitter);
    Ok(Ok(match d {
        Decision::Handover { unit: name } => {
            let Some(u) = unit(forum, name) else {
                let names: Vec<&str> = forum.units.iter().map(|u| u.name.as_str()).collect();
                return Ok(Err(format!("okänd enhet \"{name}\" (enheterna är: {})", names.join(", "))));
            };
            if u.deputy_heads.is_empty() {
                return Ok(Err(format!("enheten {} har ingen biträdande enhetschef i konfigurationen", u.name)));
            }
            tx.set_case_state(case.id, "handover", case.meeting_id, None, now).await?;
            let mail = outgoing::build(
                app,
                forum,
                Mail {
                    template: "handover_request",
                    ctx: serde_json::json!({
                        "name": submitter.0, "case_no": case.case_no, "unit": u.name,
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
                    remind_at: Some(f.handover_remind_after.after(now, tz, f.reminder_time)),
                    data: serde_json::json!({ "unit": u.name }),
                    request_message_id: mail.message_id.clone(),
                    ..Default::default()
                },
                now,
            )
            .await?;
            tx.enqueue(&mail, now).await?;
            format!(
                "överlämnas till {}: {} ombeds skicka överlämningsinformationen",
                u.name, submitter.0
            )
        }
        Decision::FollowUp { date } => {
            tx.set_case_state(case.id, "follow_up", None, Some(&date.to_string()), now).await?;
            let remind = ob::reminder_before(
                crate::core::schedule::local(tz, date.and_time(f.reminder_time)),
                f.follow_up_remind_before,
                tz,
                f.reminder_time,
            );
            tx.open_obligation(
                &NewObligation {
                    forum_id: forum.id.clone(),
                    kind: ob::FOLLOW_UP.into(),
                    case_id: Some(case.id),
                    owners: vec![case.submitter.clone()],
                    remind_at: Some(remind.max(now)),
                    data: serde_json::json!({ "date": date.to_string() }),
                    ..Default::default()
                },
                now,
            )
            .await?;
            format!(
                "följs upp på första mötet från och med {}; {} påminns i förväg",
                swedish_date(*date),
                submitter.0
            )
        }
        Decision::Escalate => {
            let mut heads: Vec<(String, String)> = Vec::new();
            let sub_unit = forum.member(&case.submitter).map(|m| m.unit.clone());
            for name in case.units.iter().chain(sub_unit.iter()) {
                if let Some(h) = unit(forum, name).and_then(|u| u.unit_head.as_ref())
                    && !heads.iter().any(|(_, a)| *a == h.address)
                {
                    heads.push((h.name.clone(), h.address.clone()));
                }
            }
            if heads.is_empty() {
                return Ok(Err(
                    "ingen enhetschef finns i konfigurationen för de berörda enheterna (unit_head)".into()
                ));
            }
            tx.set_case_state(case.id, "escalated", case.meeting_id, None, now).await?;
            let mail = outgoing::build(
                app,
                forum,
                Mail {
                    template: "escalation",
                    ctx: serde_json::json!({
                        "case_no": case.case_no, "submitter_name": submitter.0,
                        "submitter_unit": sub_unit, "units": case.units, "sections": sections(case),
                    }),
                    to: heads.clone(),
                    key: format!("escalation-{}-{}", case.id, now.timestamp()),
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
                    remind_at: Some(f.handover_remind_after.after(now, tz, f.reminder_time)),
                    escalate_at: Some(f.handover_escalate_after.after(now, tz, f.reminder_time)),
                    request_message_id: mail.message_id.clone(),
                    ..Default::default()
                },
                now,
            )
            .await?;
            tx.enqueue(&mail, now).await?;
            let names: Vec<&str> = heads.iter().map(|(n, _)| n.as_str()).collect();
            format!("lyfts till enhetschef: sammanfattning skickad till {}", names.join(", "))
        }
        Decision::Close => {
            tx.set_case_state(case.id, "closed", case.meeting_id, None, now).await?;
            "avslutas".to_string()
        }
    }))
}

/// An answer in the thread of any mail sent about an obligation (its request, a reminder, an
/// escalation, a confirmation). `core::obligation::answer` decides what it is; this carries it
/// out. Returns the intake outcome and whether mail was queued, or `None` when the sender has no
/// part in these obligations: the mail is then handled as any other. A reply in such a thread
/// never changes the case's submission parts.
pub async fn on_reply(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    obligations: &[ObligationRow],
    v: &MailView,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<(&'static str, bool)>> {
    let Some(from) = v.from.as_deref() else { return Ok(None) };
    let member = forum.member(from);
    let sender = member.map(|m| m.address.clone()).unwrap_or_else(|| from.to_string());
    let text = crate::core::submission::own_text(v);
    let lines = read_decisions(&text);
    let thread: Vec<ob::InThread<'_>> = obligations
        .iter()
        .map(|o| ob::InThread {
            id: o.id,
            kind: &o.kind,
            owners: &o.owners,
            escalate_to: &o.escalate_to,
            closed: o.closed,
        })
        .collect();
    let convenor = sender == forum.convenor.address;
    let Some(answer) = ob::answer(&thread, &sender, convenor, member.is_some(), !lines.is_empty(), &text) else {
        return Ok(None);
    };
    let (Answer::Decisions(id) | Answer::HandoverInfo(id) | Answer::Closes(id) | Answer::Comment(id)) = answer;
    let o = obligations.iter().find(|o| o.id == id).context("obligation vanished")?;
    let r = Reply {
        sender: &sender,
        text: &text,
        message_id,
        now,
    };
    Ok(Some(match answer {
        Answer::Decisions(_) => decisions(app, tx, forum, o, &r, &lines).await?,
        Answer::HandoverInfo(_) => handover_info(app, tx, forum, o, &r).await?,
        Answer::Closes(_) if o.kind == ob::NOTES => notes_filed(app, tx, forum, o, &r).await?,
        Answer::Closes(_) if o.kind == ob::ADJUST => {
            tx.close_obligation(o.id, &sender, now).await?;
            ("notes_adjusted", false)
        }
        Answer::Closes(_) => confirmed(app, tx, forum, o, &r).await?,
        Answer::Comment(_) => comment(app, tx, forum, o, &r).await?,
    }))
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
async fn decisions(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    o: &ObligationRow,
    r: &Reply<'_>,
    lines: &[crate::core::decision::Line],
) -> Result<(&'static str, bool)> {
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
    send_about(
        app,
        tx,
        forum,
        o.id,
        r.answer(
            forum,
            "decisions_confirm",
            serde_json::json!({ "name": person(forum, r.sender).0, "lines": report, "failed": failed, "undecided": undecided }),
            None,
            o.meeting_id,
        ),
        r.now,
    )
    .await?;
    info!(applied, failed, undecided = undecided.len(), "decisions read");
    Ok(("decisions", true))
}

/// The handover information from the submitter: checked like a submission, forwarded to the
/// receiving unit only when complete and with consent.
async fn handover_info(app: &App, tx: &mut Tx, forum: &Forum, o: &ObligationRow, r: &Reply<'_>) -> Result<(&'static str, bool)> {
    let (sender, message_id, now) = (r.sender, r.message_id, r.now);
    let case = read::case_by_id(tx.conn(), o.case_id.context("handover without case")?)
        .await?
        .context("case vanished")?;
    let h = read_handover(r.text);
    let unit_name = o.data["unit"].as_str().unwrap_or_default().to_string();
    if !h.missing.is_empty() || !h.consent {
        send_about(
            app,
            tx,
            forum,
            o.id,
            r.answer(
                forum,
                "handover_incomplete",
                serde_json::json!({
                    "name": person(forum, sender).0, "case_no": case.case_no, "unit": unit_name,
                    "missing": h.missing.iter().map(|p| p.label_sv()).collect::<Vec<_>>(), "consent": h.consent,
                }),
                Some(case.id),
                None,
            ),
            now,
        )
        .await?;
        return Ok(("handover_incomplete", true));
    }
    let u = unit(forum, &unit_name).context("handover unit vanished from config")?;
    tx.set_handover(case.id, &serde_json::to_value(&h)?).await?;
    tx.close_obligation(o.id, sender, now).await?;
    let receivers: Vec<(String, String)> = u.deputy_heads.iter().map(|a| person(forum, a)).collect();
    let parts: Vec<serde_json::Value> = h
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
                "case_no": case.case_no, "unit": u.name, "submitter_name": person(forum, sender).0,
                "submitter_address": sender, "submitter_unit": forum.member(sender).map(|m| m.unit.clone()),
                "parts": parts,
            }),
            to: receivers.clone(),
            key: message_id.to_string(),
            case_id: Some(case.id),
            meeting_id: None,
            in_reply_to: None,
        },
    )?;
    let f = &forum.followup;
    let mut escalate_to: Vec<String> = u.unit_head.iter().map(|h| h.address.clone()).collect();
    escalate_to.push(forum.convenor.address.clone());
    let confirm = tx
        .open_obligation(
            &NewObligation {
                forum_id: forum.id.clone(),
                kind: ob::HANDOVER_CONFIRM.into(),
                case_id: Some(case.id),
                owners: u.deputy_heads.clone(),
                escalate_to,
                remind_at: Some(f.handover_remind_after.after(now, forum.time_zone, f.reminder_time)),
                escalate_at: Some(f.handover_escalate_after.after(now, forum.time_zone, f.reminder_time)),
                data: serde_json::json!({ "unit": u.name, "from": sender }),
                request_message_id: forward.message_id.clone(),
                ..Default::default()
            },
            now,
        )
        .await?;
    tx.enqueue(&forward, now).await?;
    let names: Vec<&str> = receivers.iter().map(|(n, _)| n.as_str()).collect();
    send_about(
        app,
        tx,
        forum,
        confirm,
        r.answer(
            forum,
            "handover_sent",
            serde_json::json!({ "name": person(forum, sender).0, "case_no": case.case_no, "unit": u.name, "receivers": names }),
            Some(case.id),
            None,
        ),
        now,
    )
    .await?;
    Ok(("handover_forwarded", true))
}

/// "Mottaget" from the receiving unit (a handover) or a unit head (a LYFT): closed, and the one
/// who handed it over is told.
async fn confirmed(app: &App, tx: &mut Tx, forum: &Forum, o: &ObligationRow, r: &Reply<'_>) -> Result<(&'static str, bool)> {
    let case = read::case_by_id(tx.conn(), o.case_id.context("obligation without case")?)
        .await?
        .context("case vanished")?;
    tx.close_obligation(o.id, r.sender, r.now).await?;
    let handover = o.kind == ob::HANDOVER_CONFIRM;
    if handover {
        tx.set_case_state(case.id, "handed_over", case.meeting_id, None, r.now).await?;
    }
    let to = o.data["from"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| case.submitter.clone());
    send_about(
        app,
        tx,
        forum,
        o.id,
        Mail {
            template: "confirmed",
            ctx: serde_json::json!({
                "name": person(forum, &to).0, "case_no": case.case_no, "by": person(forum, r.sender).0,
                "unit": o.data["unit"].as_str(), "case_worker": ob::case_worker(r.text),
                "handover": handover,
            }),
            to: vec![person(forum, &to)],
            key: r.message_id.to_string(),
            case_id: Some(case.id),
            meeting_id: None,
            in_reply_to: None,
        },
        r.now,
    )
    .await?;
    Ok((
        if handover {
            "handover_confirmed"
        } else {
            "escalation_acknowledged"
        },
        true,
    ))
}

/// "Klart" from the note taker: the notes are filed, and the adjusters (seed 002) get the
/// review request with a week to point out errors.
async fn notes_filed(app: &App, tx: &mut Tx, forum: &Forum, o: &ObligationRow, r: &Reply<'_>) -> Result<(&'static str, bool)> {
    let (sender, now) = (r.sender, r.now);
    tx.close_obligation(o.id, sender, now).await?;
    let f = &forum.followup;
    let meeting = match o.meeting_id {
        Some(id) => read::meeting_view(tx.conn(), id).await?,
        None => None,
    };
    let deadline = now + f.adjust_within;
    let mut queued = false;
    for a in f.adjusters.iter().filter(|a| *a != sender) {
        let mail = outgoing::build(
            app,
            forum,
            Mail {
                template: "notes_review",
                ctx: serde_json::json!({
                    "name": person(forum, a).0, "note_taker": person(forum, sender).0,
                    "meeting": meeting.as_ref().map(|m| meeting_label(forum, m)),
                    "deadline": swedish_datetime(deadline, forum.time_zone), "where": r.text.lines().next().unwrap_or_default(),
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
                remind_at: Some(ob::reminder_before(deadline, f.adjust_remind_before, forum.time_zone, f.reminder_time).max(now)),
                escalate_at: Some(deadline),
                request_message_id: mail.message_id.clone(),
                ..Default::default()
            },
            now,
        )
        .await?;
        tx.enqueue(&mail, now).await?;
        queued = true;
    }
    Ok(("notes_filed", queued))
}

/// A reply in an obligation's thread that is neither a closing word nor what was asked for: a
/// comment ("Oklart vad som menas i punkt 2"). The note taker of the meeting, who owns the
/// notes, gets it (the convenor when the note taker wrote it); the sender is told where it went.
async fn comment(app: &App, tx: &mut Tx, forum: &Forum, o: &ObligationRow, r: &Reply<'_>) -> Result<(&'static str, bool)> {
    let case = match o.case_id {
        Some(id) => read::case_by_id(tx.conn(), id).await?,
        None => None,
    };
    let meeting = match o.meeting_id.or(case.as_ref().and_then(|c| c.meeting_id)) {
        Some(id) => read::meeting_view(tx.conn(), id).await?,
        None => None,
    };
    let note_taker = meeting.as_ref().and_then(|m| m.note_taker.clone());
    let to = match note_taker {
        Some(n) if n != r.sender => n,
        _ => forum.convenor.address.clone(),
    };
    let ctx = serde_json::json!({
        "what": ob::what_sv(&o.kind),
        "case_no": case.as_ref().map(|c| c.case_no.clone()),
        "meeting": meeting.as_ref().map(|m| meeting_label(forum, m)),
        "by": person(forum, r.sender).0, "by_address": r.sender,
        "to_name": person(forum, &to).0,
        "forwarded": to != r.sender,
        "comment": r.text.trim(),
    });
    if to != r.sender {
        send_about(
            app,
            tx,
            forum,
            o.id,
            Mail {
                template: "comment_forward",
                ctx: ctx.clone(),
                to: vec![person(forum, &to)],
                key: r.message_id.to_string(),
                case_id: o.case_id,
                meeting_id: o.meeting_id,
                in_reply_to: None,
            },
            r.now,
        )
        .await?;
    }
    send_about(
        app,
        tx,
        forum,
        o.id,
        r.answer(forum, "comment_ack", ctx, o.case_id, o.meeting_id),
        r.now,
    )
    .await?;
    info!(obligation = o.id, kind = %o.kind, forwarded = to != r.sender, "comment on an obligation");
    Ok(("obligation_comment", true))
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
