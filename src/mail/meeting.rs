//! The meeting mails: invitations, updates, cancellations and reminders with their calendar
//! object (iMIP), the convenor's digest and the not-held notice. What to send to whom is
//! decided in `core::plan::mails`; this module only renders it.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::config::Forum;
use crate::core::ical::{self, Attendee, Event, Method, PartStat, Role};
use crate::core::plan::{self, CalendarMail, Digest, MeetingView};
use crate::core::schedule::{MeetingKind, cutoff};
use crate::core::submission::SectionKey;
use crate::core::time::swedish_datetime;
use crate::mail::compose;
use crate::mail::imip::{InviteDraft, build_invite};
use crate::mail::templated::{self, Mail};
use crate::store::Outgoing;
use crate::templates::Templates;

fn swedish_time(t: DateTime<Utc>, forum: &Forum) -> String {
    t.with_timezone(&forum.time_zone).format("%H.%M").to_string()
}

fn initials_of(c: &plan::AgendaCase) -> String {
    plan::initials(c.sections.get(&SectionKey::NameAge).map(String::as_str).unwrap_or(""))
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
                let i = initials_of(c);
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

/// One invitee's invitation, update, reminder or cancellation mail, for the meeting as `m`
/// holds it (its SEQUENCE is the version sent). The agenda is shown (mail body, calendar
/// description) only from the summons on: before it, the convenor's hold-the-date carries no
/// cases.
pub fn calendar(templates: &Templates, forum: &Forum, m: &MeetingView, c: &CalendarMail, now: DateTime<Utc>) -> Result<Outgoing> {
    let hidden;
    let m = if m.summoned {
        m
    } else {
        hidden = MeetingView {
            cases: Vec::new(),
            ..m.clone()
        };
        &hidden
    };
    let note_taker = c.note_taker.as_deref();
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
        "method": c.method.as_str(),
        "is_update": c.is_update && m.sequence > 0,
        "name": c.to.name,
        "optional": c.to.role == Role::Optional,
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
    let ics = ical::render(
        c.method,
        &event(forum, m, &c.attendees, note_taker, c.method == Method::Cancel, now),
    );
    let kind = if c.method == Method::Cancel { "cancellation" } else { c.template };
    invite(templates, forum, m.id, m.sequence, &c.to, c.method, c.template, kind, &ctx, ics)
}

/// One invitee's iMIP mail from the forum: the text from `template` rendered with `ctx`, the
/// calendar `ics`, a Message-ID fixed by meeting, SEQUENCE, method and invitee; the outbox row
/// is of `kind` and belongs to the meeting (so answers without calendar data find it). Shared
/// by the forum's meetings and the routines around one person (`crate::person`).
#[allow(clippy::too_many_arguments)]
pub fn invite(
    templates: &Templates,
    forum: &Forum,
    meeting_id: i64,
    sequence: u32,
    to: &Attendee,
    method: Method,
    template: &str,
    kind: &str,
    ctx: &serde_json::Value,
    ics: String,
) -> Result<Outgoing> {
    let r = templates.render(&forum.language, template, ctx)?;
    let key = format!("{}:{}:{}:{}", meeting_id, sequence, method.as_str(), to.address);
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
        kind: kind.into(),
        forum_id: forum.id.clone(),
        case_id: None,
        meeting_id: Some(meeting_id),
        env_from: forum.mailbox.clone(),
        env_to: vec![to.address.clone()],
        mime,
    })
}

/// The convenor's digest: who accepted, declined, has not answered, could not be reached.
/// `strangers`: how many mails from outside the forum arrived in the last week.
pub fn digest(templates: &Templates, forum: &Forum, m: &MeetingView, which: Digest, strangers: i64) -> Result<Outgoing> {
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
                "initials": initials_of(c),
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
        "morning": which == Digest::Morning,
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
    templated::build(
        templates,
        forum,
        Mail {
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

/// The convenor is told a samverkansmöte is not held (no cases at its cutoff). `m`: the
/// meeting before the transition (how many were invited).
pub fn not_held(templates: &Templates, forum: &Forum, m: &MeetingView) -> Result<Outgoing> {
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
    templated::build(
        templates,
        forum,
        Mail {
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
