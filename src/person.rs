//! The routines around one person (issue 18), the shell: carries out what a routine mail says
//! (`core::person::read`) inside the intake transaction, and after a booked meeting has ended
//! asks who wrote the notes and sets when the next meeting falls due. The deadlines are
//! obligations of the one engine (`core::obligation`, reminded and escalated by
//! `followup::steps`); the meetings are `meetings` rows of kind `person`, invited with the iMIP
//! builder and answered like the forum's (`answers`).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use tracing::info;

use crate::app::App;
use crate::config::{Config, Forum, Routine};
use crate::core::ical::{self, Attendee, Event, Method, PartStat, Role};
use crate::core::person::{self as core, Command, Verb};
use crate::core::schedule::local;
use crate::core::time::swedish_datetime;
use crate::mail::view::MailView;
use crate::outgoing::{self, Mail, person as named};
use crate::store::people::{self, NewPerson, PersonMeeting, PersonRow};
use crate::store::{NewObligation, Outgoing, Store, Tx, read};

fn swedish_date(d: NaiveDate) -> String {
    d.format_localized("%-d %B %Y", chrono::Locale::sv_SE).to_string()
}

/// A member's name, or the address when unknown.
fn name_of(forum: &Forum, address: &str) -> String {
    Some(named(forum, address).0)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| address.to_string())
}

/// The person a routine mail is about: by its "Referens:", else by the thread (a mail the
/// daemon sent about one of the person's obligations), else by a registered reference in the
/// subject.
async fn find_person(tx: &mut Tx, forum: &Forum, cmd: &Command, v: &MailView) -> Result<Option<PersonRow>> {
    if let Some(r) = &cmd.reference {
        // As written ("Gruppbostaden Eken"), else its first word ("AB-12 (A.B.)").
        let first = r.split_whitespace().next().unwrap_or_default();
        return match people::person_by_ref(tx.conn(), &forum.id, r).await? {
            Some(p) => Ok(Some(p)),
            None => people::person_by_ref(tx.conn(), &forum.id, first).await,
        };
    }
    let ids: Vec<String> = v.in_reply_to.iter().chain(&v.references).cloned().collect();
    if !ids.is_empty() {
        for o in read::obligations_for_thread(tx.conn(), &forum.id, &ids).await?.iter().rev() {
            if let Some(id) = o.data["person_id"].as_str().and_then(|s| s.parse::<i64>().ok()) {
                return people::person_by_id(tx.conn(), id).await;
            }
        }
        if let Some((meeting_id, _)) = read::outbox_meeting(tx.conn(), &ids).await?
            && let Some(m) = read::meeting_view(tx.conn(), meeting_id).await?
            && let Some(id) = m
                .occurrence
                .strip_prefix("person-")
                .and_then(|s| s.split('-').next())
                .and_then(|s| s.parse().ok())
        {
            return people::person_by_id(tx.conn(), id).await;
        }
    }
    for word in v.subject.split_whitespace().take(16) {
        let w = word.trim_matches(|c: char| !c.is_alphanumeric());
        if w.len() >= 2
            && w.chars().any(|c| c.is_ascii_digit())
            && let Some(p) = people::person_by_ref(tx.conn(), &forum.id, w).await?
        {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Whether `sender` may act for the person: one of its contact persons, a member of one of
/// their units (a colleague, the unit's deputy head), or the forum's convenor.
fn may_act(forum: &Forum, p: &PersonRow, sender: &str) -> bool {
    if sender == forum.convenor.address || p.contacts.values().any(|c| c == sender) {
        return true;
    }
    let unit = forum.member(sender).map(|m| m.unit.as_str());
    p.contacts
        .values()
        .filter_map(|c| forum.member(c))
        .any(|m| Some(m.unit.as_str()) == unit)
}

/// The common context of the routine's mails.
fn ctx(forum: &Forum, r: &Routine, what: &str, label: &str) -> serde_json::Value {
    serde_json::json!({ "what": what, "person": label, "routine_name": r.name, "forum_name": forum.name, "name": "" })
}

/// An answer to the sender of `message_id` (and `cc`), in its thread.
#[allow(clippy::too_many_arguments)]
async fn answer(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    to: &[String],
    mut ctx: serde_json::Value,
    message_id: &str,
    about: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Outgoing> {
    let mut to: Vec<String> = to.to_vec();
    to.dedup();
    ctx["name"] = (if to.len() == 1 { named(forum, &to[0]).0 } else { String::new() }).into();
    let what = ctx["what"].as_str().unwrap_or("answer").to_string();
    let mail = outgoing::build(
        app,
        forum,
        Mail {
            template: "person",
            ctx,
            to: to.iter().map(|a| named(forum, a)).collect(),
            key: format!("{what}:{message_id}"),
            case_id: None,
            meeting_id: None,
            in_reply_to: Some(message_id.to_string()),
        },
    )?;
    if let Some(id) = about {
        tx.obligation_mail(id, &mail.message_id).await?;
    }
    tx.enqueue(&mail, now).await?;
    Ok(mail)
}

/// Opens the obligation to book the meeting due on `due`: the booker is asked `ask_before`
/// it (the obligation's reminder) and their unit head told on the day (its escalation).
async fn open_book(tx: &mut Tx, forum: &Forum, r: &Routine, p: &PersonRow, due: NaiveDate, now: DateTime<Utc>) -> Result<()> {
    for o in people::person_obligations(tx.conn(), p.id, Some(core::BOOK)).await? {
        tx.close_obligation(o.id, "rebooked", now).await?;
    }
    let Some(booker) = p.contacts.get(&r.books).cloned() else {
        return Ok(());
    };
    let at = forum.followup.reminder_time;
    tx.open_obligation(
        &NewObligation {
            forum_id: forum.id.clone(),
            kind: core::BOOK.into(),
            escalate_to: forum.escalation_for(r, &booker),
            owners: vec![booker],
            remind_at: Some(core::ask_at(due, r, forum.time_zone, at)),
            escalate_at: Some(core::overdue_at(due, forum.time_zone, at)),
            data: serde_json::json!({
                "person_id": p.id.to_string(), "person": p.label(), "routine_name": r.name, "date": due.to_string(),
            }),
            ..NewObligation::default()
        },
        now,
    )
    .await?;
    Ok(())
}

/// A request to named people with the obligation it opens (`kind`, or none): the mail is the
/// first of the obligation's thread, so "Kommenterat" or "Kontakt tagen" in answer to it
/// belongs to it.
struct Request<'a> {
    kind: Option<&'static str>,
    to: &'a [String],
    ctx: serde_json::Value,
    key: String,
    escalate_to: Vec<String>,
    remind_at: Option<DateTime<Utc>>,
    escalate_at: Option<DateTime<Utc>>,
    data: serde_json::Value,
    meeting_id: Option<i64>,
}

async fn request(app: &App, tx: &mut Tx, forum: &Forum, q: Request<'_>, now: DateTime<Utc>) -> Result<()> {
    let mail = outgoing::build(
        app,
        forum,
        Mail {
            template: "person",
            ctx: q.ctx,
            to: q.to.iter().map(|a| named(forum, a)).collect(),
            key: q.key,
            case_id: None,
            meeting_id: None,
            in_reply_to: None,
        },
    )?;
    if let Some(kind) = q.kind {
        tx.open_obligation(
            &NewObligation {
                forum_id: forum.id.clone(),
                kind: kind.into(),
                owners: q.to.to_vec(),
                escalate_to: q.escalate_to,
                remind_at: q.remind_at,
                escalate_at: q.escalate_at,
                data: q.data,
                request_message_id: mail.message_id.clone(),
                meeting_id: q.meeting_id,
                ..NewObligation::default()
            },
            now,
        )
        .await?;
    }
    tx.enqueue(&mail, now).await
}

/// Carries out a routine mail inside the intake transaction. Returns the intake outcome and
/// whether mail was queued. Bad input is answered in Swedish, naming what is missing.
pub async fn on_mail(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    cmd: &Command,
    v: &MailView,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<(&'static str, bool)> {
    let from = v.from.as_deref().unwrap_or_default();
    let sender = forum.member(from).map(|m| m.address.clone()).unwrap_or_else(|| from.to_string());
    if matches!(cmd.verb, Verb::ThreeParty | Verb::Appointed) {
        return three_party(app, tx, forum, cmd, v, &sender, message_id, now).await;
    }
    if cmd.verb == Verb::Booked {
        // The pre-meeting or the three-party meeting, booked in the appointment's thread.
        let ids: Vec<String> = v.in_reply_to.iter().chain(&v.references).cloned().collect();
        let thread = read::obligations_for_thread(tx.conn(), &forum.id, &ids).await?;
        if let Some(o) = thread.iter().find(|o| o.kind == core::THREE_PARTY && o.closed) {
            return three_party_booked(app, tx, forum, cmd, o, &sender, message_id, now).await;
        }
    }
    let Some(r) = forum.routine(&cmd.routine) else {
        let p = vec!["Bokat: svara på mejlet om den utsedda handläggaren (trepartsmöte) eller ange Referens".to_string()];
        answer(app, tx, forum, &[sender], three_party_problem(forum, cmd, p), message_id, None, now).await?;
        return Ok(("person_unknown", true));
    };
    let problem = |label: &str, problems: Vec<String>| {
        let mut c = ctx(forum, r, "problem", label);
        c["verb"] = cmd.verb.label_sv().into();
        c["problems"] = problems.into();
        c["sides"] = r.contacts.clone().into();
        c
    };
    if cmd.verb == Verb::Register {
        return register(app, tx, forum, r, cmd, &sender, message_id, now).await;
    }
    let Some(p) = find_person(tx, forum, cmd, v).await? else {
        let c = problem(
            "",
            vec!["Referens: ingen registrerad brukare hittades (skriv \"Referens: ...\" som i registreringen)".into()],
        );
        answer(app, tx, forum, &[sender], c, message_id, None, now).await?;
        return Ok(("person_unknown", true));
    };
    let r = forum.routine(&p.routine_id).unwrap_or(r);
    let label = p.label();
    if !may_act(forum, &p, &sender) {
        let c = problem(
            &label,
            vec!["Avsändare: du är inte kontaktansvarig för brukaren eller på någon av dess enheter".into()],
        );
        answer(app, tx, forum, &[sender], c, message_id, None, now).await?;
        return Ok(("person_not_contact", true));
    }
    if p.status == core::LEFT {
        let c = problem(&label, vec![format!("{label} är avslutad i rutinen")]);
        answer(app, tx, forum, &[sender], c, message_id, None, now).await?;
        return Ok(("person_left_already", true));
    }
    if !cmd.problems.is_empty() {
        answer(
            app,
            tx,
            forum,
            &[sender],
            problem(&label, cmd.problems.clone()),
            message_id,
            None,
            now,
        )
        .await?;
        return Ok(("person_incomplete", true));
    }
    let tz = forum.time_zone;
    match cmd.verb {
        Verb::Register | Verb::ThreeParty | Verb::Appointed => unreachable!("handled above"),
        Verb::Booked => {
            let at = cmd.booked_at.context("a booking without problems has a time")?;
            let start = local(tz, at);
            if start <= now {
                let c = problem(&label, vec![format!("Tid: {} har redan varit", swedish_datetime(start, tz))]);
                answer(app, tx, forum, &[sender], c, message_id, None, now).await?;
                return Ok(("person_incomplete", true));
            }
            let place = cmd.place.clone().unwrap_or_else(|| r.place.clone());
            book(app, tx, forum, r, &p, start, &place, now).await?;
            for o in people::person_obligations(tx.conn(), p.id, Some(core::BOOK)).await? {
                tx.close_obligation(o.id, &sender, now).await?;
            }
            info!(person = p.id, "person meeting booked");
            Ok(("person_booked", true))
        }
        Verb::NotesSent => {
            for o in people::person_obligations(tx.conn(), p.id, Some(core::NOTES_SENT)).await? {
                tx.close_obligation(o.id, &sender, now).await?;
            }
            let others: Vec<String> = p.contacts.values().filter(|c| **c != sender).cloned().collect();
            let mut deadline = None;
            for other in &others {
                let due = r.comment_within.after(now, tz, forum.followup.reminder_time);
                deadline = Some(due);
                let mut c = ctx(forum, r, "notes_comment", &label);
                c["writer"] = name_of(forum, &sender).into();
                c["deadline"] = swedish_datetime(due, tz).into();
                c["name"] = named(forum, other).0.into();
                let q = Request {
                    kind: Some(core::NOTES_COMMENT),
                    to: std::slice::from_ref(other),
                    ctx: c,
                    key: format!("notes_comment:{message_id}:{other}"),
                    escalate_to: forum.escalation_for(r, other),
                    remind_at: Some(r.comment_remind_after.after(now, tz, forum.followup.reminder_time)),
                    escalate_at: Some(due),
                    data: serde_json::json!({"person_id": p.id.to_string(), "person": label, "routine_name": r.name}),
                    meeting_id: None,
                };
                request(app, tx, forum, q, now).await?;
            }
            // The follow-up date agreed at the meeting, if mailed back.
            let held = people::person_meetings(tx.conn(), p.id)
                .await?
                .into_iter()
                .filter(|m| m.status == "scheduled" && m.end <= now)
                .map(|m| m.start.with_timezone(&tz).date_naive())
                .next_back();
            let (due, basis) = match (held, cmd.next_meeting) {
                (Some(h), agreed @ Some(_)) => core::next_due(h, agreed, r),
                _ => (
                    p.next_due_on.unwrap_or_else(|| now.with_timezone(&tz).date_naive()),
                    p.due_basis.as_str(),
                ),
            };
            if Some(due) != p.next_due_on {
                tx.set_person_due(p.id, due, basis, now).await?;
                open_book(tx, forum, r, &p, due, now).await?;
            }
            let mut c = ctx(forum, r, "notes_sent", &label);
            c["others"] = others.iter().map(|o| name_of(forum, o)).collect::<Vec<_>>().into();
            c["deadline"] = deadline.map(|d| swedish_datetime(d, tz)).into();
            c["due"] = swedish_date(due).into();
            c["basis"] = basis.into();
            answer(app, tx, forum, &[sender], c, message_id, None, now).await?;
            info!(person = p.id, agreed = basis == core::AGREED, "notes sent, comment asked");
            Ok(("person_notes_sent", true))
        }
        Verb::Commented | Verb::ContactMade => {
            let kind = if cmd.verb == Verb::Commented {
                core::NOTES_COMMENT
            } else {
                core::NEW_CONTACT
            };
            let open = people::person_obligations(tx.conn(), p.id, Some(kind)).await?;
            let mine: Vec<_> = open.iter().filter(|o| o.owners.contains(&sender)).collect();
            if mine.is_empty() {
                let what = if cmd.verb == Verb::Commented {
                    "inga anteckningar väntar på din kommentar"
                } else {
                    "du har ingen kontakt att ta som ny kontaktansvarig"
                };
                let c = problem(&label, vec![format!("{}: {what}", cmd.verb.label_sv())]);
                answer(app, tx, forum, &[sender], c, message_id, None, now).await?;
                return Ok(("person_nothing_open", true));
            }
            for o in &mine {
                tx.close_obligation(o.id, &sender, now).await?;
            }
            let what = if cmd.verb == Verb::Commented { "commented" } else { "contact_made" };
            answer(
                app,
                tx,
                forum,
                &[sender],
                ctx(forum, r, what, &label),
                message_id,
                Some(mine[0].id),
                now,
            )
            .await?;
            info!(person = p.id, kind, "person obligation closed");
            Ok((
                if cmd.verb == Verb::Commented {
                    "person_commented"
                } else {
                    "person_contact_made"
                },
                true,
            ))
        }
        Verb::NewContact => {
            let (side_ix, n) = cmd.contacts.first().context("a new contact without problems names one")?;
            let side = r.contacts.get(*side_ix).cloned().unwrap_or_default();
            let new = n.address.clone().context("a new contact without problems has an address")?;
            let mut contacts = p.contacts.clone();
            let old = contacts.insert(side.clone(), new.clone());
            tx.set_person_contacts(p.id, &contacts, now).await?;
            // A meeting booked ahead: the new contact person is invited (everyone gets the
            // update), the one replaced gets its cancellation.
            let ahead = people::person_meetings(tx.conn(), p.id)
                .await?
                .into_iter()
                .rfind(|m| m.status == "scheduled" && m.start > now);
            if let Some(m) = ahead
                && old.as_ref().is_some_and(|o| *o != new)
            {
                let updated = PersonRow {
                    contacts: contacts.clone(),
                    ..p.clone()
                };
                book(app, tx, forum, r, &updated, m.start, &m.place, now).await?;
                let gone: Vec<Attendee> = attendees(forum, r, &p)
                    .into_iter()
                    .filter(|a| !attendees(forum, r, &updated).iter().any(|b| b.address == a.address))
                    .collect();
                let m = people::person_meetings(tx.conn(), p.id)
                    .await?
                    .into_iter()
                    .find(|x| x.id == m.id)
                    .context("the meeting just moved")?;
                for a in &gone {
                    let mail = invitation(app, forum, r, &updated, &m, &gone, a, Method::Cancel, false, now)?;
                    tx.enqueue(&mail, now).await?;
                }
                tx.person_invitations(m.id, m.sequence, &gone, true, now).await?;
            }
            // The booker's open booking obligation goes to the new contact person.
            if side == r.books {
                for o in people::person_obligations(tx.conn(), p.id, Some(core::BOOK)).await? {
                    tx.set_obligation_owners(o.id, std::slice::from_ref(&new), &forum.escalation_for(r, &new))
                        .await?;
                }
            }
            for o in people::person_obligations(tx.conn(), p.id, Some(core::NEW_CONTACT)).await? {
                if o.data["side"].as_str() == Some(side.as_str()) {
                    tx.close_obligation(o.id, "replaced", now).await?;
                }
            }
            let at = forum.followup.reminder_time;
            let deadline = r.contact_within.after(now, tz, at);
            let others: Vec<String> = contacts
                .iter()
                .filter(|(s, _)| **s != side)
                .map(|(_, a)| name_of(forum, a))
                .collect();
            let mut c = ctx(forum, r, "new_contact", &label);
            c["side"] = side.clone().into();
            c["others"] = others.into();
            c["deadline"] = swedish_datetime(deadline, tz).into();
            c["name"] = named(forum, &new).0.into();
            let q = Request {
                kind: Some(core::NEW_CONTACT),
                to: std::slice::from_ref(&new),
                ctx: c,
                key: format!("new_contact:{message_id}"),
                escalate_to: forum.escalation_for(r, &new),
                remind_at: Some(r.contact_remind_after.after(now, tz, at)),
                escalate_at: Some(deadline),
                data: serde_json::json!({"person_id": p.id.to_string(), "person": label, "routine_name": r.name, "side": side}),
                meeting_id: None,
            };
            request(app, tx, forum, q, now).await?;
            if sender != new {
                let mut c = ctx(forum, r, "contact_changed", &label);
                c["side"] = side.into();
                c["new_name"] = name_of(forum, &new).into();
                c["deadline"] = swedish_datetime(deadline, tz).into();
                answer(app, tx, forum, &[sender], c, message_id, None, now).await?;
            }
            info!(person = p.id, "new contact person");
            Ok(("person_new_contact", true))
        }
        Verb::Left => {
            let on = cmd.end_date.unwrap_or_else(|| now.with_timezone(&tz).date_naive());
            tx.person_left(p.id, on, now).await?;
            for o in people::person_obligations(tx.conn(), p.id, None).await? {
                tx.close_obligation(o.id, "person_left", now).await?;
            }
            let mut cancelled = None;
            for m in people::person_meetings(tx.conn(), p.id).await? {
                if m.status == "scheduled" && m.start > now {
                    cancel(app, tx, forum, r, &p, &m, now).await?;
                    cancelled = Some(swedish_datetime(m.start, tz));
                }
            }
            let mut c = ctx(forum, r, "left", &label);
            c["left_on"] = swedish_date(on).into();
            c["cancelled"] = cancelled.into();
            let mut to = vec![sender];
            to.extend(p.contacts.values().cloned());
            to.sort();
            answer(app, tx, forum, &to, c, message_id, None, now).await?;
            info!(person = p.id, "person left the routine");
            Ok(("person_left", true))
        }
    }
}

/// "Ny brukare": registers the person, opens the obligation to book the first meeting and
/// confirms to the sender and the contact persons.
#[allow(clippy::too_many_arguments)]
async fn register(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    r: &Routine,
    cmd: &Command,
    sender: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<(&'static str, bool)> {
    let label = cmd
        .reference
        .as_deref()
        .map(|rf| core::label(rf, cmd.initials.as_deref().unwrap_or("")))
        .unwrap_or_default();
    let mut problems = cmd.problems.clone();
    if !r.units.is_empty() {
        problems.push(format!(
            "Rutin: {} följs per enhet och registreras inte per brukare (skriv \"Rutin: ...\")",
            r.id
        ));
    }
    if !problems.is_empty() {
        let mut c = ctx(forum, r, "problem", &label);
        c["verb"] = cmd.verb.label_sv().into();
        c["problems"] = problems.into();
        c["sides"] = r.contacts.clone().into();
        answer(app, tx, forum, &[sender.to_string()], c, message_id, None, now).await?;
        return Ok(("person_incomplete", true));
    }
    let (Some(reference), Some(start)) = (cmd.reference.as_deref().and_then(|r| r.split_whitespace().next()), cmd.start) else {
        anyhow::bail!("a registration without problems has a reference and a start");
    };
    let contacts: BTreeMap<String, String> = cmd
        .contacts
        .iter()
        .filter_map(|(i, n)| Some((r.contacts.get(*i)?.clone(), n.address.clone()?)))
        .collect();
    // Other invitees named by address (a representative, a case worker); a name alone is kept
    // out of the store (the contact person invites them, as the routine says).
    let extra: Vec<String> = [&cmd.representative, &cmd.case_worker]
        .into_iter()
        .flatten()
        .filter_map(|t| {
            core::named(forum, t)
                .address
                .or_else(|| t.contains('@').then(|| t.trim().to_ascii_lowercase()))
        })
        .filter(|a| crate::config::valid_address(a))
        .collect();
    let due = core::first_due(start, r);
    let new = NewPerson {
        forum_id: &forum.id,
        routine_id: &r.id,
        reference,
        initials: cmd.initials.as_deref().unwrap_or(""),
        started_on: start,
        contacts: &contacts,
        extra: &extra,
        next_due_on: due,
        due_basis: core::FIRST,
        registered_by: sender,
    };
    let Some(id) = tx.insert_person(&new, now).await? else {
        let p = people::person_by_ref(tx.conn(), &forum.id, reference).await?;
        let mut c = ctx(forum, r, "exists", &label);
        c["due"] = p.and_then(|p| p.next_due_on).map(swedish_date).into();
        answer(app, tx, forum, &[sender.to_string()], c, message_id, None, now).await?;
        return Ok(("person_exists", true));
    };
    let p = people::person_by_id(tx.conn(), id).await?.context("person just inserted")?;
    open_book(tx, forum, r, &p, due, now).await?;
    let booker = contacts.get(&r.books).cloned().unwrap_or_default();
    let mut c = ctx(forum, r, "registered", &p.label());
    c["started"] = swedish_date(start).into();
    c["due"] = swedish_date(due).into();
    c["ask"] = swedish_date(
        core::ask_at(due, r, forum.time_zone, forum.followup.reminder_time)
            .with_timezone(&forum.time_zone)
            .date_naive(),
    )
    .into();
    c["books"] = r.books.clone().into();
    c["booker_name"] = name_of(forum, &booker).into();
    c["contacts"] = r
        .contacts
        .iter()
        .filter_map(|s| Some(serde_json::json!({"side": s, "name": name_of(forum, contacts.get(s)?)})))
        .collect::<Vec<_>>()
        .into();
    let mut to = vec![sender.to_string()];
    to.extend(contacts.values().cloned());
    to.sort();
    answer(app, tx, forum, &to, c, message_id, None, now).await?;
    info!(person = id, "person registered");
    Ok(("person_registered", true))
}

/// The calendar event of a person meeting: the routine's name, the reference and initials.
fn event(forum: &Forum, r: &Routine, p: &PersonRow, m: &PersonMeeting, attendees: &[Attendee], now: DateTime<Utc>) -> Event {
    Event {
        uid: m.uid.clone(),
        sequence: m.sequence,
        dtstamp: now,
        start: m.start,
        end: m.end,
        summary: format!("{} {}", r.name, p.label()),
        location: Some(m.place.clone()).filter(|p| !p.is_empty()),
        description: Some("Samverkansmöte enligt rutinen; se mejlet.".into()),
        organizer_name: forum.name.clone(),
        organizer_address: forum.mailbox.clone(),
        attendees: attendees.to_vec(),
        cancelled: m.status == "cancelled",
    }
}

/// One invitee's iMIP mail for a person meeting.
#[allow(clippy::too_many_arguments)]
fn invitation(
    app: &App,
    forum: &Forum,
    r: &Routine,
    p: &PersonRow,
    m: &PersonMeeting,
    everyone: &[Attendee],
    to: &Attendee,
    method: Method,
    reminder: bool,
    now: DateTime<Utc>,
) -> Result<Outgoing> {
    let tz = forum.time_zone;
    let what = match (method, reminder) {
        (Method::Cancel, _) => "cancellation",
        (_, true) => "reminder",
        _ => "invitation",
    };
    let mut c = ctx(forum, r, what, &p.label());
    c["name"] = to.name.clone().into();
    c["when"] = swedish_datetime(m.start, tz).into();
    c["end_time"] = m.end.with_timezone(&tz).format("%H.%M").to_string().into();
    c["place"] = m.place.clone().into();
    c["attendees"] = everyone
        .iter()
        .map(|a| if a.name.is_empty() { a.address.clone() } else { a.name.clone() })
        .collect::<Vec<_>>()
        .into();
    let ics = ical::render(method, &event(forum, r, p, m, everyone, now));
    // The reminder is the same REQUEST (Accept/Decline work as on the invitation) with its own
    // text, and its own Message-ID through its own template.
    let (template, kind) = match what {
        "cancellation" => ("person", "person_cancellation"),
        "reminder" => ("person_reminder", "person_reminder"),
        _ => ("person", "person_invitation"),
    };
    crate::mail::meeting::invite(&app.templates, forum, m.id, m.sequence, to, method, template, kind, &c, ics)
}

/// Who a person meeting invites: the contact persons, whom the routine names, and the other
/// invitees the registration named.
fn attendees(forum: &Forum, r: &Routine, p: &PersonRow) -> Vec<Attendee> {
    let mut out: Vec<Attendee> = Vec::new();
    for a in p.contacts.values().chain(&r.invite).chain(&p.extra) {
        if out.iter().any(|x| x.address == *a) {
            continue;
        }
        out.push(Attendee {
            name: named(forum, a).0,
            address: a.clone(),
            role: Role::Required,
            partstat: PartStat::NeedsAction,
        });
    }
    out
}

/// "Bokat:": the meeting ahead is booked (or moved) and everyone invited.
#[allow(clippy::too_many_arguments)]
async fn book(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    r: &Routine,
    p: &PersonRow,
    start: DateTime<Utc>,
    place: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let end = start + r.duration;
    let ahead = people::person_meetings(tx.conn(), p.id)
        .await?
        .into_iter()
        .rfind(|m| m.status == "scheduled" && m.start > now);
    let meeting_id = match &ahead {
        Some(m) => {
            tx.move_person_meeting(m.id, start, end, place, now).await?;
            m.id
        }
        None => {
            let occurrence = format!(
                "{}{}",
                p.occurrence_prefix(),
                start.with_timezone(&forum.time_zone).format("%Y%m%d%H%M")
            );
            let uid = crate::core::plan::uid(&forum.id, &occurrence, forum.mail_domain());
            tx.add_person_meeting(&forum.id, &occurrence, &uid, start, end, place, now).await?
        }
    };
    let m = people::person_meetings(tx.conn(), p.id)
        .await?
        .into_iter()
        .find(|m| m.id == meeting_id)
        .context("person meeting just written")?;
    let everyone = attendees(forum, r, p);
    tx.person_invitations(m.id, m.sequence, &everyone, false, now).await?;
    for a in &everyone {
        let mail = invitation(app, forum, r, p, &m, &everyone, a, Method::Request, false, now)?;
        tx.enqueue(&mail, now).await?;
    }
    Ok(())
}

/// Cancels a booked person meeting and tells its invitees.
async fn cancel(app: &App, tx: &mut Tx, forum: &Forum, r: &Routine, p: &PersonRow, m: &PersonMeeting, now: DateTime<Utc>) -> Result<()> {
    let sequence = tx.cancel_person_meeting(m.id, now).await?;
    let m = PersonMeeting {
        sequence,
        status: "cancelled".into(),
        ..m.clone()
    };
    let everyone = attendees(forum, r, p);
    for a in &everyone {
        let mail = invitation(app, forum, r, p, &m, &everyone, a, Method::Cancel, false, now)?;
        tx.enqueue(&mail, now).await?;
    }
    tx.person_invitations(m.id, sequence, &everyone, true, now).await
}

/// After a person meeting has ended: the next meeting falls due `every_months` later (until a
/// date agreed at the meeting is mailed back), its booking obligation opens, and the contact
/// persons are asked who wrote the notes. Returns the next end ahead (the scheduler's wake-up).
pub async fn steps(app: &App, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    ensure_units(app, now).await?;
    let (ended, next) = app.store.person_meetings_ended(now).await?;
    for m in ended {
        let mut tx = app.store.begin().await?;
        let Some(p) = people::person_by_id(tx.conn(), m.person_id).await? else {
            tx.decisions_requested(m.id, now).await?;
            tx.commit().await?;
            continue;
        };
        let (Some(forum), true) = (app.cfg.forum(&p.forum_id), p.status == core::ACTIVE) else {
            tx.decisions_requested(m.id, now).await?;
            tx.commit().await?;
            continue;
        };
        let Some(r) = forum.routine(&p.routine_id) else {
            tx.decisions_requested(m.id, now).await?;
            tx.commit().await?;
            continue;
        };
        let tz = forum.time_zone;
        let held = m.start.with_timezone(&tz).date_naive();
        let (due, basis) = core::next_due(held, None, r);
        tx.person_meeting_held(p.id, m.id, now).await?;
        tx.set_person_due(p.id, due, basis, now).await?;
        open_book(&mut tx, forum, r, &p, due, now).await?;
        let contacts: Vec<String> = p.contacts.values().cloned().collect();
        if !r.units.is_empty() {
            // A unit's information meeting: no notes to agree on, only the next date.
            tx.commit().await?;
            info!(person = p.id, meeting = m.id, "unit meeting held: next due set");
            continue;
        }
        let mut c = ctx(forum, r, "notes_ask", &p.label());
        c["when"] = swedish_datetime(m.start, tz).into();
        c["due"] = swedish_date(due).into();
        c["two_sides"] = (contacts.len() > 1).into();
        // Two sides: the other party comments on the writer's notes, so who wrote them is asked
        // (reminded once); one side has nobody to ask, only the next date to agree.
        let q = Request {
            kind: (contacts.len() > 1).then_some(core::NOTES_SENT),
            to: &contacts,
            ctx: c,
            key: format!("notes_ask:{}", m.id),
            escalate_to: Vec::new(),
            remind_at: Some(r.comment_remind_after.after(m.end, tz, forum.followup.reminder_time)),
            escalate_at: None,
            data: serde_json::json!({"person_id": p.id.to_string(), "person": p.label(), "routine_name": r.name}),
            meeting_id: Some(m.id),
        };
        request(app, &mut tx, forum, q, now).await?;
        tx.commit().await?;
        app.outbox_wake.notify_one();
        info!(person = p.id, meeting = m.id, "person meeting held: notes asked, next due set");
    }
    let reminders_next = rsvp_reminders(app, now).await?;
    Ok([next, reminders_next].into_iter().flatten().min())
}

/// The one RSVP reminder to each invitee of a booked person meeting who has not answered, at
/// the routine's `rsvp_reminder` before the start (the forum's rule: not sooner than three
/// hours after their invitation, none in the last hour). Returns the next such time ahead.
async fn rsvp_reminders(app: &App, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let mut next = None;
    let mut by_meeting: BTreeMap<i64, Vec<people::Unanswered>> = BTreeMap::new();
    for u in app.store.person_unanswered(now).await? {
        by_meeting.entry(u.meeting.id).or_default().push(u);
    }
    for (meeting_id, silent) in by_meeting {
        let m = &silent[0].meeting;
        let Some(p) = app.store.person_by_id(m.person_id).await? else {
            continue;
        };
        let (Some(forum), true) = (app.cfg.forum(&p.forum_id), p.status == core::ACTIVE) else {
            continue;
        };
        let Some(r) = forum.routine(&p.routine_id) else {
            continue;
        };
        // Only who is due now; the write lock is taken only when someone is.
        let mut due_now = Vec::new();
        for u in &silent {
            match crate::core::plan::rsvp_remind_at(m.start, u.invited_at, r.rsvp_reminder) {
                Some(due) if due > now => next = Some(next.map_or(due, |n: DateTime<Utc>| n.min(due))),
                Some(_) => due_now.push(u),
                None => {}
            }
        }
        if due_now.is_empty() {
            continue;
        }
        let everyone = attendees(forum, r, &p);
        let mut tx = app.store.begin().await?;
        let mut sent = 0;
        for u in due_now {
            // Addressed as the routine names them now (a contact person replaced since the
            // booking was cancelled for them and is no longer active).
            let Some(a) = everyone.iter().find(|a| a.address.eq_ignore_ascii_case(&u.address)) else {
                continue;
            };
            let mail = invitation(app, forum, r, &p, m, &everyone, a, Method::Request, true, now)?;
            tx.enqueue(&mail, now).await?;
            tx.person_invitation_reminded(meeting_id, &u.address, now).await?;
            sent += 1;
        }
        tx.commit().await?;
        if sent > 0 {
            app.outbox_wake.notify_one();
            info!(
                person = p.id,
                meeting = meeting_id,
                reminded = sent,
                "person meeting: RSVP reminders queued"
            );
        }
    }
    Ok(next)
}

/// Where a person stands now, and the line `person list` and `status` show for them.
fn standing(cfg: &Config, p: &PersonRow, booked: Option<&PersonMeeting>, now: DateTime<Utc>) -> Option<(core::Standing, String)> {
    let forum = cfg.forum(&p.forum_id)?;
    let r = forum.routine(&p.routine_id)?;
    let tz = forum.time_zone;
    let st = core::standing(&p.status, p.next_due_on, booked.is_some(), r, tz, forum.followup.reminder_time, now);
    let what = match st {
        core::Standing::Booked => format!("booked {}", booked.map(|m| swedish_datetime(m.start, tz)).unwrap_or_default()),
        core::Standing::Left => format!("left {}", p.left_on.map(|d| d.to_string()).unwrap_or_default()),
        core::Standing::Overdue => format!("OVERDUE since {}", p.next_due_on.map(|d| d.to_string()).unwrap_or_default()),
        core::Standing::DueSoon => format!("due {} (booking asked)", p.next_due_on.map(|d| d.to_string()).unwrap_or_default()),
        core::Standing::Later => format!("due {}", p.next_due_on.map(|d| d.to_string()).unwrap_or_default()),
    };
    Some((st, what))
}

/// The booked meeting ahead of a person, if any.
fn booked_ahead(meetings: &[PersonMeeting], now: DateTime<Utc>) -> Option<&PersonMeeting> {
    meetings.iter().rfind(|m| m.status == "scheduled" && m.end > now)
}

/// `samverkan person list`: one line per person.
pub async fn list(cfg: &Config, store: &Store, now: DateTime<Utc>) -> Result<String> {
    let mut out = String::new();
    for p in store.people().await? {
        let meetings = store.person_meetings(p.id).await?;
        let Some((_, what)) = standing(cfg, &p, booked_ahead(&meetings, now), now) else {
            continue;
        };
        out.push_str(&format!("{:<16} {:<14} {:<10} {what}\n", p.label(), p.routine_id, p.forum_id));
    }
    if out.is_empty() {
        out.push_str("no one is registered in a routine\n");
    }
    Ok(out)
}

/// `samverkan person show REF`.
pub async fn show(cfg: &Config, store: &Store, reference: &str, now: DateTime<Utc>) -> Result<Option<String>> {
    let mut found = None;
    for f in &cfg.forums {
        if let Some(p) = store.person_by_ref(&f.id, reference).await? {
            found = Some(p);
            break;
        }
    }
    let Some(p) = found else { return Ok(None) };
    let forum = cfg.forum(&p.forum_id).context("the person's forum is not configured")?;
    let meetings = store.person_meetings(p.id).await?;
    let (_, what) = standing(cfg, &p, booked_ahead(&meetings, now), now).unwrap_or((core::Standing::Later, String::new()));
    let mut out = format!(
        "{}  routine {}  forum {}\nstatus: {}  {what}\nstarted: {}\nnext meeting due: {} ({})\nmeetings held: {}\n",
        p.label(),
        p.routine_id,
        p.forum_id,
        p.status,
        p.started_on.map(|d| d.to_string()).unwrap_or_default(),
        p.next_due_on.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        p.due_basis,
        p.meetings_held,
    );
    for (side, a) in &p.contacts {
        out.push_str(&format!("contact person {side}: {} <{a}>\n", name_of(forum, a)));
    }
    for m in &meetings {
        out.push_str(&format!(
            "meeting {} {} {} ({})\n",
            m.id,
            swedish_datetime(m.start, forum.time_zone),
            m.place,
            m.status
        ));
    }
    for o in store.person_obligations(p.id).await? {
        let deadline = crate::core::obligation::deadline(&o.core()).map(|t| swedish_datetime(t, forum.time_zone));
        out.push_str(&format!(
            "open: {} ({}), {} by {}\n",
            crate::core::obligation::what_sv(&o.kind),
            o.kind,
            o.owners.join(", "),
            deadline.unwrap_or_default()
        ));
    }
    Ok(Some(out))
}

/// For `samverkan status`: how many people each routine follows and how many stand overdue,
/// due soon (the booker asked) or booked. Counts only.
/// Where the people of one routine stand, for `samverkan status` (and its `--json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoutineStatus {
    pub forum: String,
    pub routine: String,
    /// People still followed (not left).
    pub active: usize,
    /// By standing: booked, due soon (booking asked), OVERDUE, later, left.
    pub by_standing: BTreeMap<&'static str, usize>,
}

/// Counts the people of each routine by where they stand at `now`.
pub async fn status(cfg: &Config, store: &Store, now: DateTime<Utc>) -> Result<Vec<RoutineStatus>> {
    let mut by: BTreeMap<(String, String), BTreeMap<&'static str, usize>> = BTreeMap::new();
    for p in store.people().await? {
        let meetings = store.person_meetings(p.id).await?;
        let Some((st, _)) = standing(cfg, &p, booked_ahead(&meetings, now), now) else {
            continue;
        };
        let key = match st {
            core::Standing::Booked => "booked",
            core::Standing::DueSoon => "due soon",
            core::Standing::Overdue => "OVERDUE",
            core::Standing::Later => "later",
            core::Standing::Left => "left",
        };
        *by.entry((p.forum_id.clone(), p.routine_id.clone()))
            .or_default()
            .entry(key)
            .or_default() += 1;
    }
    Ok(by
        .into_iter()
        .map(|((forum, routine), by_standing)| RoutineStatus {
            forum,
            routine,
            active: by_standing.iter().filter(|(k, _)| **k != "left").map(|(_, n)| n).sum(),
            by_standing,
        })
        .collect())
}

/// `samverkan status`'s line per routine.
pub fn status_line(r: &RoutineStatus) -> String {
    let detail: Vec<String> = r.by_standing.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("routine {}/{}: {} person(s) ({})", r.forum, r.routine, r.active, detail.join(", "))
}

/// For `samverkan preview`: the "who wrote the notes?" mails after booked person meetings in
/// `[now, until)` (the routine's deadlines are obligations, previewed with the others).
pub async fn preview(cfg: &Config, store: &Store, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, String)>> {
    let mut out = Vec::new();
    let people = store.people().await?;
    // The RSVP reminders of booked meetings, as `rsvp_reminders` will send them.
    for u in store.person_unanswered(now).await? {
        let Some(p) = people.iter().find(|p| p.id == u.meeting.person_id && p.status == core::ACTIVE) else {
            continue;
        };
        let Some(r) = cfg.forum(&p.forum_id).and_then(|f| f.routine(&p.routine_id)) else {
            continue;
        };
        if let Some(t) = crate::core::plan::rsvp_remind_at(u.meeting.start, u.invited_at, r.rsvp_reminder).filter(|t| *t < until) {
            out.push((
                t.max(now),
                format!(
                    "[{}] brukare {}: påminnelse om att svara på inbjudan till 1 mottagare (möte {})",
                    p.forum_id,
                    p.label(),
                    u.meeting.id
                ),
            ));
        }
    }
    for p in people {
        for m in store.person_meetings(p.id).await? {
            if m.status == "scheduled" && !m.asked && m.end < until {
                out.push((
                    m.end.max(now),
                    format!(
                        "[{}] brukare {}: frågan vem som skrev anteckningarna (möte {})",
                        p.forum_id,
                        p.label(),
                        m.id
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Routines per unit (seed 000's information meeting): each configured unit is followed like a
/// person, its reference the unit's name, its one contact the caller (the deputy operations
/// manager), its first meeting due on `first_due`. Registered once, when first seen.
async fn ensure_units(app: &App, now: DateTime<Utc>) -> Result<()> {
    for forum in &app.cfg.forums {
        for r in forum.routines.iter().filter(|r| !r.units.is_empty()) {
            let (Some(caller), Some(due)) = (&r.caller, r.first_due) else {
                continue;
            };
            let known = app.store.people_of_routine(&forum.id, &r.id).await?;
            for unit in &r.units {
                if known.iter().any(|p| p.reference == *unit) {
                    continue;
                }
                let contacts: BTreeMap<String, String> = [(r.books.clone(), caller.clone())].into();
                let mut tx = app.store.begin().await?;
                let new = NewPerson {
                    forum_id: &forum.id,
                    routine_id: &r.id,
                    reference: unit,
                    initials: "",
                    started_on: now.with_timezone(&forum.time_zone).date_naive(),
                    contacts: &contacts,
                    extra: &[],
                    next_due_on: due,
                    due_basis: core::FIRST,
                    registered_by: "config",
                };
                if let Some(id) = tx.insert_person(&new, now).await? {
                    let p = people::person_by_id(tx.conn(), id).await?.context("unit just inserted")?;
                    open_book(&mut tx, forum, r, &p, due, now).await?;
                    info!(person = id, "unit routine registered");
                }
                tx.commit().await?;
            }
        }
    }
    Ok(())
}

/// The Swedish answer to a three-party mail that cannot be carried out.
fn three_party_problem(forum: &Forum, cmd: &Command, problems: Vec<String>) -> serde_json::Value {
    serde_json::json!({
        "what": "problem", "person": "", "routine_name": "trepartsmöte", "forum_name": forum.name, "name": "",
        "verb": cmd.verb.label_sv(), "problems": problems, "sides": Vec::<String>::new(),
    })
}

/// Seed 001's three-party meeting (trepartsmöte): a case worker's request goes to the deputy
/// heads of the unit it names, who must appoint a case worker ("Utsedd: ..."); a reminder and
/// then the unit head (else the convenor) if nobody answers in the configured working days
/// (`followup.handover_remind_after`, `handover_escalate_after`). The appointment tells both
/// case workers of each other, to book the pre-meeting and the meeting together.
#[allow(clippy::too_many_arguments)]
async fn three_party(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    cmd: &Command,
    v: &MailView,
    sender: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<(&'static str, bool)> {
    let tz = forum.time_zone;
    let f = &forum.followup;
    let refuse = |problems: Vec<String>| three_party_problem(forum, cmd, problems);
    if !cmd.problems.is_empty() {
        answer(
            app,
            tx,
            forum,
            &[sender.to_string()],
            refuse(cmd.problems.clone()),
            message_id,
            None,
            now,
        )
        .await?;
        return Ok(("three_party_incomplete", true));
    }
    let label = cmd
        .reference
        .as_deref()
        .map(|r| {
            core::label(
                r.split_whitespace().next().unwrap_or_default(),
                cmd.initials.as_deref().unwrap_or(""),
            )
        })
        .unwrap_or_default();
    if cmd.verb == Verb::ThreeParty {
        let unit_name = cmd.unit.clone().context("a request without problems names its unit")?;
        let unit = forum.units.iter().find(|u| u.name == unit_name).context("unit vanished")?;
        if unit.deputy_heads.is_empty() {
            let p = vec![format!("Enhet: {unit_name} har ingen biträdande enhetschef i konfigurationen")];
            answer(app, tx, forum, &[sender.to_string()], refuse(p), message_id, None, now).await?;
            return Ok(("three_party_incomplete", true));
        }
        let escalate_to = match &unit.unit_head {
            Some(h) => vec![h.address.clone()],
            None => vec![forum.convenor.address.clone()],
        };
        let requester = forum.member(sender);
        let deadline = f.handover_escalate_after.after(now, tz, f.reminder_time);
        let c = serde_json::json!({
            "what": "three_party_request", "person": label, "routine_name": "trepartsmöte", "name": "",
            "requester": name_of(forum, sender), "requester_address": sender,
            "requester_unit": requester.map(|m| m.unit.clone()), "unit": unit_name, "need": cmd.need,
            "deadline": swedish_datetime(deadline, tz),
        });
        let q = Request {
            kind: Some(core::THREE_PARTY),
            to: &unit.deputy_heads,
            ctx: c.clone(),
            key: format!("three_party:{message_id}"),
            escalate_to,
            remind_at: Some(f.handover_remind_after.after(now, tz, f.reminder_time)),
            escalate_at: Some(deadline),
            data: serde_json::json!({"person": (!label.is_empty()).then_some(label.clone()), "requester": sender, "unit": unit_name}),
            meeting_id: None,
        };
        request(app, tx, forum, q, now).await?;
        let mut ack = c;
        ack["what"] = "three_party_sent".into();
        answer(app, tx, forum, &[sender.to_string()], ack, message_id, None, now).await?;
        info!("three-party request sent");
        return Ok(("three_party_requested", true));
    }
    // "Utsedd:" in the thread of a request, from one of its deputy heads.
    let ids: Vec<String> = v.in_reply_to.iter().chain(&v.references).cloned().collect();
    let open = read::obligations_for_thread(tx.conn(), &forum.id, &ids).await?;
    let Some(o) = open
        .iter()
        .find(|o| o.kind == core::THREE_PARTY && !o.closed && o.owners.iter().any(|a| a == sender))
    else {
        let p = vec!["Utsedd: svara på förfrågan om trepartsmöte som skickades till dig".to_string()];
        answer(app, tx, forum, &[sender.to_string()], refuse(p), message_id, None, now).await?;
        return Ok(("three_party_unknown", true));
    };
    let appointed = cmd.appointed.clone().context("an appointment without problems names an address")?;
    let requester = o.data["requester"].as_str().unwrap_or_default().to_string();
    tx.close_obligation(o.id, sender, now).await?;
    let mut data = o.data.clone();
    data["appointed"] = appointed.clone().into();
    tx.set_obligation_data(o.id, &data).await?;
    let c = serde_json::json!({
        "what": "three_party_appointed", "person": o.data["person"].as_str().unwrap_or_default(),
        "routine_name": "trepartsmöte", "name": "", "unit": o.data["unit"],
        "requester": name_of(forum, &requester), "requester_address": requester,
        "appointed": name_of(forum, &appointed), "appointed_address": appointed,
        "by": name_of(forum, sender),
    });
    // Both case workers, each told of the other; the deputy head who appointed is told too.
    let mut to = vec![requester.clone(), appointed.clone(), sender.to_string()];
    to.sort();
    to.dedup();
    answer(app, tx, forum, &to, c, message_id, Some(o.id), now).await?;
    info!(obligation = o.id, "three-party case worker appointed");
    Ok(("three_party_appointed", true))
}

/// "Bokat:" in the thread of a three-party appointment, from one of the two case workers: the
/// pre-meeting ("formöte" in the text) or the three-party meeting, an iMIP invitation (one hour)
/// to both, answers tracked like every meeting's. Each booking is a meeting of its own.
#[allow(clippy::too_many_arguments)]
async fn three_party_booked(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    cmd: &Command,
    o: &crate::store::ObligationRow,
    sender: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<(&'static str, bool)> {
    let tz = forum.time_zone;
    let requester = o.data["requester"].as_str().unwrap_or_default().to_string();
    let appointed = o.data["appointed"].as_str().unwrap_or_default().to_string();
    let mut problems = cmd.problems.clone();
    if sender != requester && sender != appointed {
        problems.push("Avsändare: bara de två handläggarna bokar trepartsmötet".into());
    }
    let start = cmd.booked_at.map(|at| local(tz, at));
    if start.is_some_and(|s| s <= now) {
        problems.push("Tid: tiden har redan varit".into());
    }
    let Some(start) = start.filter(|_| problems.is_empty()) else {
        answer(
            app,
            tx,
            forum,
            &[sender.to_string()],
            three_party_problem(forum, cmd, problems),
            message_id,
            None,
            now,
        )
        .await?;
        return Ok(("three_party_incomplete", true));
    };
    let what = if cmd.pre_meeting { "Formöte" } else { "Trepartsmöte" };
    let label = o.data["person"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| o.data["unit"].as_str().unwrap_or_default().to_string());
    let occurrence = format!("tp-{}-{}", o.id, start.with_timezone(&tz).format("%Y%m%d%H%M"));
    let uid = crate::core::plan::uid(&forum.id, &occurrence, forum.mail_domain());
    let end = start + chrono::Duration::hours(1);
    let place = cmd.place.clone().unwrap_or_default();
    let id = tx.add_person_meeting(&forum.id, &occurrence, &uid, start, end, &place, now).await?;
    let everyone: Vec<Attendee> = [&requester, &appointed]
        .into_iter()
        .map(|a| Attendee {
            name: named(forum, a).0,
            address: a.clone(),
            role: Role::Required,
            partstat: PartStat::NeedsAction,
        })
        .collect();
    tx.person_invitations(id, 0, &everyone, false, now).await?;
    let ev = Event {
        uid,
        sequence: 0,
        dtstamp: now,
        start,
        end,
        summary: format!("{what} {label}"),
        location: Some(place.clone()).filter(|p| !p.is_empty()),
        description: Some("Trepartsmöte enligt rutinen; se mejlet.".into()),
        organizer_name: forum.name.clone(),
        organizer_address: forum.mailbox.clone(),
        attendees: everyone.clone(),
        cancelled: false,
    };
    for a in &everyone {
        let c = serde_json::json!({
            "what": "invitation", "person": label, "routine_name": what, "forum_name": forum.name, "name": a.name,
            "when": swedish_datetime(start, tz), "end_time": end.with_timezone(&tz).format("%H.%M").to_string(), "place": place,
            "attendees": everyone.iter().map(|x| if x.name.is_empty() { x.address.clone() } else { x.name.clone() }).collect::<Vec<_>>(),
        });
        let ics = ical::render(Method::Request, &ev);
        let mail = crate::mail::meeting::invite(
            &app.templates,
            forum,
            id,
            0,
            a,
            Method::Request,
            "person",
            "person_invitation",
            &c,
            ics,
        )?;
        tx.enqueue(&mail, now).await?;
    }
    info!(obligation = o.id, meeting = id, "three-party meeting booked");
    Ok(("three_party_booked", true))
}
