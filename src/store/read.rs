//! The store's reads that intake also makes inside its write transaction: each takes any
//! connection (one from the pool for a read on its own, `tx.conn()` inside a [`super::Tx`], where it
//! sees the transaction's own uncommitted writes: the earlier mails of the same batch).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use sqlx::{AnyConnection, Row};

use super::*;
use crate::core::submission::SectionKey;

/// Whether a message with this Message-ID was handled before.
pub async fn message_id_seen(c: &mut AnyConnection, message_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(sql::MESSAGE_ID_SEEN).bind(message_id).fetch_one(&mut *c).await?;
    Ok(n > 0)
}

/// The case number of an existing case with the same content fingerprint in this forum.
pub async fn case_with_hash(c: &mut AnyConnection, forum_id: &str, content_hash: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(sql::CASE_WITH_HASH)
        .bind(forum_id)
        .bind(content_hash)
        .fetch_optional(&mut *c)
        .await?)
}

/// The case of `forum_id` a mail refers to: its case number (from the subject), or a
/// Message-ID in its In-Reply-To/References that is the case's submission or one of our
/// mails about the case. The newest match wins.
pub async fn thread_case(c: &mut AnyConnection, forum_id: &str, ids: &[String], case_ref: Option<&str>) -> Result<Option<ThreadCase>> {
    if ids.is_empty() && case_ref.is_none() {
        return Ok(None);
    }
    let ids = serde_json::to_string(ids)?;
    let row = sqlx::query(
        "SELECT c.id, c.case_no, c.submitter, c.status, c.sections_json, c.meeting_id, m.starts_at
         FROM cases c LEFT JOIN meetings m ON m.id = c.meeting_id
         WHERE c.forum_id = $1 AND (c.case_no = $2
            OR c.message_id IN (SELECT value FROM json_each($3))
            OR c.id IN (SELECT case_id FROM outbox WHERE message_id IN (SELECT value FROM json_each($3))))
         ORDER BY c.id DESC LIMIT 1",
    )
    .bind(forum_id)
    .bind(case_ref.unwrap_or(""))
    .bind(ids)
    .fetch_optional(&mut *c)
    .await?;
    row.map(|r| {
        Ok(ThreadCase {
            id: r.get(0),
            case_no: r.get(1),
            submitter: r.get(2),
            status: r.get(3),
            sections: serde_json::from_str(&r.get::<String, _>(4)).context("cases.sections_json is not a section map")?,
            meeting_id: r.get(5),
            meeting_start: r.get::<Option<String>, _>(6).as_deref().and_then(from_db),
        })
    })
    .transpose()
}

/// The forum's meetings starting after `after`, soonest first.
pub async fn meetings_after(c: &mut AnyConnection, forum_id: &str, after: DateTime<Utc>, limit: u32) -> Result<Vec<Meeting>> {
    let rows: Vec<_> = sqlx::query(sql::MEETINGS_AFTER)
        .bind(forum_id)
        .bind(db(after))
        .fetch(&mut *c)
        .take(limit as usize)
        .try_collect()
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Meeting {
                id: r.get(0),
                start: from_db(&r.get::<String, _>(1)).context("meetings.starts_at is not a time")?,
                kind: MeetingKind::from_db(&r.get::<String, _>(2)),
                place: r.get(3),
                status: r.get(4),
            })
        })
        .collect()
}

/// Meetings starting in `[from, until)` with their invitations and agenda (complete cases).
/// Three queries whatever the number of meetings: the meetings, then all their invitations
/// and all their agenda cases, grouped here (a query per meeting cost ~30 µs each: 28 ms for
/// the 480 meetings of a 400-day window).
/// The meetings of the routines around one person (kind `person`) are not the forum's: the
/// planner, the case assignment and `meeting list` never see them; [`meeting_view`] does, so
/// answers to their invitations are tracked like the forum's.
///
/// The cases carry only their name-and-age line (the calendar's initials); the planner's pass
/// reads a 400-day window, and holding every upcoming case's texts for it cost 2 KB a case (a
/// 10,000-case burst on one meeting: +21 MiB at the next pass, issue 20). A mail that shows
/// the texts reads them with [`agenda_texts`]; [`meeting_view`] (one meeting) has them all.
pub async fn meeting_views(c: &mut AnyConnection, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<MeetingView>> {
    views(c, from, until, false, Texts::Initials).await
}

/// Which of a case's texts a view holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Texts {
    All,
    /// The name-and-age line only.
    Initials,
}

/// A case's texts as stored, or only its name-and-age line.
fn case_texts(json: &str, texts: Texts) -> Result<BTreeMap<SectionKey, String>> {
    let mut sections: BTreeMap<SectionKey, String> = serde_json::from_str(json).context("cases.sections_json")?;
    if texts == Texts::Initials {
        sections.retain(|k, _| *k == SectionKey::NameAge);
    }
    Ok(sections)
}

async fn views(c: &mut AnyConnection, from: DateTime<Utc>, until: DateTime<Utc>, person: bool, texts: Texts) -> Result<Vec<MeetingView>> {
    // The window's bounds as stored text, once for the three reads.
    let (from, until) = (db(from), db(until));
    let rows = sqlx::query(
        "SELECT id, forum_id, occurrence, starts_at, ends_at, kind, place, status, sequence, invited_at, note_taker, summoned_at,
                digest_cutoff_at, digest_morning_at, decisions_requested_at
         FROM meetings WHERE starts_at >= $1 AND starts_at < $2 AND ($3 = 1 OR kind <> 'person') ORDER BY starts_at, id",
    )
    .bind(&from)
    .bind(&until)
    .bind(i64::from(person))
    .fetch_all(&mut *c)
    .await?;
    let mut invitations: BTreeMap<i64, Vec<Invitation>> = BTreeMap::new();
    let mut agenda: BTreeMap<i64, Vec<AgendaCase>> = BTreeMap::new();
    if !rows.is_empty() {
        let inv = sqlx::query(
            "SELECT address, name, role, partstat, sequence_sent, active, reminded_at, undeliverable, delegate, created_at, meeting_id
             FROM invitations WHERE meeting_id IN (SELECT id FROM meetings WHERE starts_at >= $1 AND starts_at < $2)
             ORDER BY meeting_id, id",
        )
        .bind(&from)
        .bind(&until)
        .fetch_all(&mut *c)
        .await?;
        for r in &inv {
            invitations.entry(r.get(10)).or_default().push(invitation_from(r));
        }
        // Row by row: the rows as read and the cases made of them are not all held at once.
        // Put in case-number order here, not by the query: SQLite would sort the rows whole
        // (texts included) in memory before the first one (9 MB for 10,000 cases, issue 20).
        let mut cases = sqlx::query(
            "SELECT id, case_no, submitter, units_json, urgent, sections_json, meeting_id FROM cases
             WHERE meeting_id IN (SELECT id FROM meetings WHERE starts_at >= $1 AND starts_at < $2) AND status = 'submitted'",
        )
        .bind(&from)
        .bind(&until)
        .fetch(&mut *c);
        while let Some(r) = cases.try_next().await? {
            agenda.entry(r.get(6)).or_default().push(AgendaCase {
                id: r.get(0),
                case_no: r.get(1),
                submitter: r.get(2),
                units: serde_json::from_str(&r.get::<String, _>(3)).unwrap_or_default(),
                urgent: r.get::<i64, _>(4) != 0,
                sections: case_texts(&r.get::<String, _>(5), texts)?,
            });
        }
        drop(cases);
        for list in agenda.values_mut() {
            list.sort_unstable_by(|a, b| a.case_no.cmp(&b.case_no));
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.get(0);
        out.push(MeetingView {
            id,
            forum_id: r.get(1),
            occurrence: r.get(2),
            start: from_db(&r.get::<String, _>(3)).context("meetings.starts_at")?,
            end: from_db(&r.get::<String, _>(4)).context("meetings.ends_at")?,
            kind: MeetingKind::from_db(&r.get::<String, _>(5)),
            place: r.get(6),
            status: r.get(7),
            sequence: r.get::<i64, _>(8) as u32,
            invited: !r.get::<String, _>(9).is_empty(),
            summoned: !r.get::<String, _>(11).is_empty(),
            note_taker: Some(r.get::<String, _>(10)).filter(|s| !s.is_empty()),
            invitations: invitations.remove(&id).unwrap_or_default(),
            cases: agenda.remove(&id).unwrap_or_default(),
            digest_cutoff_sent: !r.get::<String, _>(12).is_empty(),
            digest_morning_sent: !r.get::<String, _>(13).is_empty(),
            decisions_requested: !r.get::<String, _>(14).is_empty(),
            transfers: Vec::new(),
        });
    }
    Ok(out)
}

/// One meeting, by id.
pub async fn meeting_view(c: &mut AnyConnection, id: i64) -> Result<Option<MeetingView>> {
    let start: Option<String> = sqlx::query_scalar("SELECT starts_at FROM meetings WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    let Some(start) = start.as_deref().and_then(from_db) else {
        return Ok(None);
    };
    Ok(views(&mut *c, start, start + chrono::Duration::milliseconds(1), true, Texts::All)
        .await?
        .into_iter()
        .find(|m| m.id == id))
}

/// The texts of the cases on a meeting's agenda, by case id: what [`meeting_views`] leaves out.
pub async fn agenda_texts(c: &mut AnyConnection, meeting_id: i64) -> Result<BTreeMap<i64, BTreeMap<SectionKey, String>>> {
    let mut rows = sqlx::query("SELECT id, sections_json FROM cases WHERE meeting_id = $1 AND status = 'submitted'")
        .bind(meeting_id)
        .fetch(&mut *c);
    let mut out = BTreeMap::new();
    while let Some(r) = rows.try_next().await? {
        out.insert(r.get::<i64, _>(0), case_texts(&r.get::<String, _>(1), Texts::All)?);
    }
    Ok(out)
}

/// The meeting with this calendar UID.
pub async fn meeting_by_uid(c: &mut AnyConnection, uid: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM meetings WHERE lower(uid) = lower($1) ORDER BY id DESC LIMIT 1")
            .bind(uid.trim())
            .fetch_optional(&mut *c)
            .await?,
    )
}

/// The meeting one of our mails with these Message-IDs was about, and that mail's recipients.
pub async fn outbox_meeting(c: &mut AnyConnection, message_ids: &[String]) -> Result<Option<(i64, Vec<String>)>> {
    let row = sqlx::query(
        "SELECT meeting_id, env_to FROM outbox WHERE meeting_id IS NOT NULL AND message_id IN (SELECT value FROM json_each($1))
         ORDER BY id DESC LIMIT 1",
    )
    .bind(serde_json::to_string(message_ids)?)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|r| (r.get(0), serde_json::from_str(&r.get::<String, _>(1)).unwrap_or_default())))
}

/// The SEQUENCE the invitee's recorded answer was to, if they answered.
pub async fn answered_sequence(c: &mut AnyConnection, meeting_id: i64, address: &str) -> Result<Option<u32>> {
    let n: Option<i64> = sqlx::query_scalar("SELECT partstat_sequence FROM invitations WHERE meeting_id = $1 AND address = $2")
        .bind(meeting_id)
        .bind(address)
        .fetch_optional(&mut *c)
        .await?;
    Ok(n.filter(|n| *n >= 0).map(|n| n as u32))
}

/// The obligations of the forum, open or closed, that a mail among `ids` (a thread) was sent
/// about: their requests, reminders, escalations and confirmations (`obligation_mails`).
pub async fn obligations_for_thread(c: &mut AnyConnection, forum_id: &str, ids: &[String]) -> Result<Vec<ObligationRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT id, forum_id, kind, case_id, meeting_id, owners, escalate_to, remind_at, escalate_at, reminded_at, escalated_at,
                opened_at, data_json, request_message_id, closed_at FROM obligations
         WHERE forum_id = $1 AND id IN (SELECT obligation_id FROM obligation_mails WHERE message_id IN (SELECT value FROM json_each($2)))
         ORDER BY id",
    )
    .bind(forum_id)
    .bind(serde_json::to_string(ids)?)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(Store::obligation_row).collect())
}

/// The open obligation of `kind` for a meeting, if any (the decisions of its agenda).
pub async fn open_meeting_obligation(c: &mut AnyConnection, meeting_id: i64, kind: &str) -> Result<Option<ObligationRow>> {
    let row = sqlx::query(
        "SELECT id, forum_id, kind, case_id, meeting_id, owners, escalate_to, remind_at, escalate_at, reminded_at, escalated_at,
                opened_at, data_json, request_message_id, closed_at FROM obligations
         WHERE meeting_id = $1 AND kind = $2 AND closed_at = '' ORDER BY id LIMIT 1",
    )
    .bind(meeting_id)
    .bind(kind)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(Store::obligation_row))
}

/// A case by its number in a forum.
pub async fn case_by_no(c: &mut AnyConnection, forum_id: &str, case_no: &str) -> Result<Option<CaseRow>> {
    let row = sqlx::query(
        "SELECT id, forum_id, case_no, status, submitter, units_json, sections_json, meeting_id, message_id, handover_json, transfer_on
         FROM cases WHERE forum_id = $1 AND case_no = $2",
    )
    .bind(forum_id)
    .bind(case_no)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(Store::case_row))
}

/// A case by its row id.
pub async fn case_by_id(c: &mut AnyConnection, id: i64) -> Result<Option<CaseRow>> {
    let row = sqlx::query(
        "SELECT id, forum_id, case_no, status, submitter, units_json, sections_json, meeting_id, message_id, handover_json, transfer_on
         FROM cases WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(Store::case_row))
}

/// How many rejection answers went (or are queued) to `address` since `since`: the daily
/// cap's count.
///
/// An index range on the partial index `outbox_rejections(created_at)`, whose condition the
/// statement names in its text. With the kinds as a bound JSON list, PostgreSQL scanned the
/// whole outbox and parsed every row's recipients (3.9 ms per mail in a 2,000-mail burst,
/// growing with the outbox).
pub async fn rejections_to_since(c: &mut AnyConnection, address: &str, since: DateTime<Utc>) -> Result<u32> {
    let n: i64 = sqlx::query_scalar(sql::REJECTIONS_TO_SINCE)
        .bind(db(since))
        .bind(address)
        .fetch_one(&mut *c)
        .await?;
    Ok(n as u32)
}
