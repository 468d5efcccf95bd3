//! The shell around answers to invitations and delivery reports: gathers the facts (which
//! meeting, what was answered before), asks the core (`core::rsvp::decide_reply`), and applies
//! the verdict inside the intake transaction: the invitee's state, the note-taker hand-over,
//! a delegate's invitation, and the convenor's alerts.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::app::App;
use crate::config::Forum;
use crate::core::classify::Kind;
use crate::core::ical::{Method, PartStat};
use crate::core::plan::MeetingView;
use crate::core::reply::{Reply, read_reply};
use crate::core::rsvp::{Answer, KeyRole, Origin, ReplyVerdict, decide_reply};
use crate::core::time::swedish_datetime;
use crate::mail::bounce::read_bounce;
use crate::mail::view::MailView;
use crate::store::{Outgoing, Tx, read};
use sqlx::AnyConnection;

/// What was found out about an answer or a bounce before the transaction.
#[allow(clippy::large_enum_variant)] // one per mail, short-lived
pub enum Prepared {
    Answer {
        forum_id: String,
        meeting: Option<MeetingView>,
        answer: Answer,
        origin: Origin,
        verdict: ReplyVerdict,
    },
    Bounce {
        forum_id: String,
        meeting: MeetingView,
        failed: Vec<String>,
    },
    /// Not about anything of ours (or unreadable): processed, nothing else.
    Nothing(&'static str),
}

fn partstat(s: &str) -> PartStat {
    match s {
        "ACCEPTED" => PartStat::Accepted,
        "DECLINED" => PartStat::Declined,
        "DELEGATED" => PartStat::Delegated,
        "TENTATIVE" => PartStat::Tentative,
        _ => PartStat::NeedsAction,
    }
}

fn partstat_sv(p: PartStat) -> &'static str {
    match p {
        PartStat::Accepted => "kommer",
        PartStat::Declined => "kommer inte",
        PartStat::Tentative => "kanske",
        PartStat::Delegated => "har delegerat",
        PartStat::NeedsAction => "har inte svarat",
    }
}

fn to_answer(r: &Reply, counter: bool) -> Answer {
    Answer {
        uid: r.uid.clone(),
        attendee: r.attendee.clone(),
        partstat: partstat(&r.partstat),
        sequence: r.sequence,
        comment: r.comment.clone(),
        from_calendar: r.source == "icalendar",
        delegated_to: r.delegated_to.clone(),
        counter: counter.then(|| (r.proposed_start.clone(), r.proposed_end.clone())),
    }
}

/// Looks up what an answer or bounce refers to and decides.
///
/// Reads through `c`, the intake transaction's connection, so an answer sees what earlier mails
/// of the same batch changed.
pub async fn prepare(app: &App, c: &mut AnyConnection, kind: Kind, v: &MailView, raw: &[u8]) -> Result<Prepared> {
    match kind {
        Kind::Reply | Kind::Counter => {
            let Some(reply) = read_reply(v) else {
                return Ok(Prepared::Nothing("reply_unreadable"));
            };
            let Some(forum) = crate::core::intake::forum_of_answer(&app.cfg, v, reply.uid.as_deref()) else {
                return Ok(Prepared::Nothing("reply_no_forum"));
            };
            let mut meeting_id = match &reply.uid {
                Some(uid) => read::meeting_by_uid(c, uid).await?,
                None => None,
            };
            if meeting_id.is_none() && reply.uid.is_none() {
                let ids: Vec<String> = v.in_reply_to.iter().chain(&v.references).cloned().collect();
                meeting_id = read::outbox_meeting(c, &ids).await?.map(|(id, _)| id);
            }
            let meeting = match meeting_id {
                Some(id) => read::meeting_view(c, id).await?,
                None => None,
            };
            let answer = to_answer(&reply, kind == Kind::Counter);
            let origin = Origin {
                from: v.from.clone(),
                reply_to: v.reply_to.clone(),
                authenticated: app
                    .cfg
                    .trusted_authserv_id
                    .as_deref()
                    .is_none_or(|id| crate::core::rsvp::authenticated(&v.headers, id)),
            };
            let answered = match &meeting {
                Some(m) => {
                    read::answered_sequence(
                        c,
                        m.id,
                        &forum
                            .member(&answer.attendee)
                            .map_or(answer.attendee.clone(), |x| x.address.clone()),
                    )
                    .await?
                }
                None => None,
            };
            let verdict = decide_reply(forum, &answer, &origin, meeting.as_ref(), answered);
            Ok(Prepared::Answer {
                forum_id: forum.id.clone(),
                meeting,
                answer,
                origin,
                verdict,
            })
        }
        Kind::Bounce => {
            let Some(b) = read_bounce(raw) else {
                return Ok(Prepared::Nothing("bounce_unreadable"));
            };
            let Some(orig) = b.original_message_id else {
                return Ok(Prepared::Nothing("bounce_unmatched"));
            };
            let Some((meeting_id, recipients)) = read::outbox_meeting(c, &[orig]).await? else {
                return Ok(Prepared::Nothing("bounce_unmatched"));
            };
            let Some(meeting) = read::meeting_view(c, meeting_id).await? else {
                return Ok(Prepared::Nothing("bounce_unmatched"));
            };
            // Only recipients of that mail count (a report may list others).
            let failed: Vec<String> = if b.failed.is_empty() {
                recipients
            } else {
                b.failed.into_iter().filter(|f| recipients.contains(f)).collect()
            };
            if failed.is_empty() {
                return Ok(Prepared::Nothing("bounce_unmatched"));
            }
            Ok(Prepared::Bounce {
                forum_id: meeting.forum_id.clone(),
                meeting,
                failed,
            })
        }
        _ => Ok(Prepared::Nothing("ignored")),
    }
}

/// Applies what `prepare` found, inside the intake transaction. Returns the outcome for the
/// intake record and whether mail was queued.
pub async fn apply(app: &App, tx: &mut Tx, p: &Prepared, message_id: &str, now: DateTime<Utc>) -> Result<(&'static str, bool)> {
    match p {
        Prepared::Nothing(outcome) => Ok((outcome, false)),
        Prepared::Bounce { forum_id, meeting, failed } => {
            let forum = app.cfg.forum(forum_id).context("forum vanished")?;
            tx.mark_undeliverable(meeting.id, failed).await?;
            let ctx = serde_json::json!({ "alert": "bounce", "addresses": failed });
            tx.enqueue(&alert(app, forum, Some(meeting), ctx, message_id)?, now).await?;
            Ok(("bounce_invitation", true))
        }
        Prepared::Answer {
            forum_id,
            meeting,
            answer,
            origin,
            verdict,
        } => {
            let forum = app.cfg.forum(forum_id).context("forum vanished")?;
            let name_of = |a: &str| forum.member(a).map(|m| m.name.clone()).unwrap_or_else(|| a.to_string());
            let mut queued = false;
            match verdict {
                ReplyVerdict::Apply {
                    meeting_id,
                    attendee,
                    partstat,
                    sequence,
                    inferred,
                    comment,
                    key_roles,
                    new_note_taker,
                    delegate,
                    delegate_outside,
                } => {
                    let m = meeting.as_ref().context("an applied answer has its meeting")?;
                    let source = if *inferred { "subject" } else { "icalendar" };
                    tx.record_answer(*meeting_id, attendee, *partstat, *sequence, source, now).await?;
                    let base = serde_json::json!({ "attendee_name": name_of(attendee), "comment": comment });
                    if !key_roles.is_empty() {
                        let roles: Vec<String> = key_roles
                            .iter()
                            .map(|r| match r {
                                KeyRole::Submitter { case_no } => format!("anmälde ärende {case_no}, som står på dagordningen"),
                                KeyRole::NoteTaker => "är dokumentationsansvarig".to_string(),
                            })
                            .collect();
                        let mut ctx = base.clone();
                        ctx["alert"] = "key_declined".into();
                        ctx["roles"] = roles.into();
                        ctx["roles_note_taker"] = key_roles.contains(&KeyRole::NoteTaker).into();
                        ctx["new_note_taker"] = new_note_taker.as_deref().map(name_of).into();
                        tx.enqueue(&alert(app, forum, Some(m), ctx, message_id)?, now).await?;
                        queued = true;
                    }
                    if let Some(n) = new_note_taker {
                        tx.set_note_taker(*meeting_id, n, now).await?;
                        tx.enqueue(&note_taker_mail(app, forum, m, n, attendee, message_id)?, now).await?;
                        queued = true;
                    }
                    if let Some(d) = delegate {
                        tx.add_delegate(*meeting_id, d, m.sequence, now).await?;
                        let mut everyone: Vec<_> = m
                            .invitations
                            .iter()
                            .filter(|i| i.active)
                            .map(|i| crate::core::ical::Attendee {
                                name: i.name.clone(),
                                address: i.address.clone(),
                                role: i.role,
                                partstat: i.partstat,
                            })
                            .collect();
                        everyone.push(d.clone());
                        let invitation = crate::core::plan::CalendarMail {
                            to: d.clone(),
                            method: Method::Request,
                            template: "invitation",
                            attendees: everyone,
                            is_update: false,
                            note_taker: m.note_taker.clone(),
                        };
                        let mail = crate::mail::meeting::calendar(&app.templates, forum, m, &invitation, now)?;
                        tx.enqueue(&mail, now).await?;
                        queued = true;
                    }
                    if let Some(outside) = delegate_outside {
                        let mut ctx = base.clone();
                        ctx["alert"] = "delegate_outside".into();
                        ctx["delegate"] = outside.clone().into();
                        tx.enqueue(&alert(app, forum, Some(m), ctx, message_id)?, now).await?;
                        queued = true;
                    }
                    if *inferred && key_roles.is_empty() {
                        let mut ctx = base;
                        ctx["alert"] = "inferred".into();
                        ctx["partstat_sv"] = partstat_sv(*partstat).into();
                        tx.enqueue(&alert(app, forum, Some(m), ctx, message_id)?, now).await?;
                        queued = true;
                    }
                    Ok((verdict.outcome(), queued))
                }
                ReplyVerdict::Stale { .. } => Ok((verdict.outcome(), false)),
                ReplyVerdict::Counter {
                    attendee,
                    proposed_start,
                    comment,
                    ..
                } => {
                    let proposed = proposed_start
                        .as_deref()
                        .and_then(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok())
                        .map(|t| swedish_datetime(t.and_utc(), forum.time_zone));
                    let ctx = serde_json::json!({
                        "alert": "counter", "attendee_name": name_of(attendee), "proposed": proposed,
                        "comment": comment, "meeting_id": meeting.as_ref().map(|m| m.id),
                    });
                    tx.enqueue(&alert(app, forum, meeting.as_ref(), ctx, message_id)?, now).await?;
                    Ok((verdict.outcome(), true))
                }
                ReplyVerdict::Reject { attendee, reason, .. } => {
                    let ctx = serde_json::json!({
                        "alert": "rejected", "attendee_name": name_of(attendee), "attendee": attendee,
                        "sender": origin.from.clone().unwrap_or_default(), "reason": reason.label_sv(), "comment": answer.comment,
                    });
                    tx.enqueue(&alert(app, forum, meeting.as_ref(), ctx, message_id)?, now).await?;
                    Ok((verdict.outcome(), true))
                }
            }
        }
    }
}

/// An outgoing mail was refused for good (SMTP 5xx, or retries exhausted): for a meeting's mail
/// the invitees are marked unreachable; the convenor is told (never about a failed alert to
/// the convenor, which would loop).
pub async fn on_send_failure(app: &App, outbox_id: i64, now: DateTime<Utc>) -> Result<()> {
    let Some((kind, forum_id, meeting_id, to)) = app.store.outbox_meta(outbox_id).await? else {
        return Ok(());
    };
    let Some(forum) = app.cfg.forum(&forum_id) else { return Ok(()) };
    if kind == "convenor_alert" || kind == "digest" || kind == "not_held" {
        return Ok(());
    }
    let meeting = match meeting_id {
        Some(id) => app.store.meeting_view(id).await?,
        None => None,
    };
    let mut tx = app.store.begin().await?;
    if let Some(m) = &meeting {
        tx.mark_undeliverable(m.id, &to).await?;
    }
    let ctx = serde_json::json!({ "alert": "bounce", "addresses": to, "mail_kind": kind });
    tx.enqueue(&alert(app, forum, meeting.as_ref(), ctx, &format!("outbox-{outbox_id}"))?, now)
        .await?;
    tx.commit().await?;
    app.outbox_wake.notify_one();
    Ok(())
}

/// A mail to the convenor; `ctx` holds the alert's own fields.
fn alert(app: &App, forum: &Forum, m: Option<&MeetingView>, mut ctx: serde_json::Value, answers: &str) -> Result<Outgoing> {
    ctx["convenor_name"] = forum.convenor.name.clone().into();
    ctx["forum_name"] = forum.name.clone().into();
    ctx["kind"] = m.map(|m| m.kind.label_sv()).unwrap_or("möte").into();
    ctx["when"] = m.map(|m| swedish_datetime(m.start, forum.time_zone)).unwrap_or_default().into();
    for k in [
        "mail_kind",
        "comment",
        "roles",
        "new_note_taker",
        "roles_note_taker",
        "proposed",
        "addresses",
        "delegate",
        "partstat_sv",
        "reason",
        "sender",
        "attendee",
        "attendee_name",
        "meeting_id",
    ] {
        if ctx.get(k).is_none() {
            ctx[k] = serde_json::Value::Null;
        }
    }
    let kind = ctx["alert"].as_str().unwrap_or("alert").to_string();
    crate::outgoing::build(
        app,
        forum,
        crate::outgoing::Mail {
            template: "convenor_alert",
            ctx,
            to: vec![(forum.convenor.name.clone(), forum.convenor.address.clone())],
            key: format!("{kind}:{answers}"),
            case_id: None,
            meeting_id: m.map(|m| m.id),
            in_reply_to: None,
        },
    )
}

fn note_taker_mail(app: &App, forum: &Forum, m: &MeetingView, to: &str, previous: &str, answers: &str) -> Result<Outgoing> {
    let member = forum.member(to).context("the new note taker is a member")?;
    let ctx = serde_json::json!({
        "name": member.name, "previous": forum.member(previous).map(|p| p.name.clone()).unwrap_or_default(),
        "kind": m.kind.label_sv(), "forum_name": forum.name, "when": swedish_datetime(m.start, forum.time_zone),
        "convenor_name": forum.convenor.name, "convenor_address": forum.convenor.address,
    });
    crate::outgoing::build(
        app,
        forum,
        crate::outgoing::Mail {
            template: "note_taker",
            ctx,
            to: vec![(member.name.clone(), member.address.clone())],
            key: format!("{}:{answers}", m.id),
            case_id: None,
            meeting_id: Some(m.id),
            in_reply_to: None,
        },
    )
}
