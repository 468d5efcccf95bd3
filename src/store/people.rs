//! The routines around one person (issue 18): the `people` table, their meetings (rows of
//! `meetings` of kind `person`) and their obligations (`obligations.data_json.person_id`).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{ObligationRow, Store, Tx};
use crate::core::person::{LEFT, MEETING_KIND};
use crate::core::time::{db, from_db};

/// A person of a routine, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub id: i64,
    pub forum_id: String,
    pub routine_id: String,
    pub reference: String,
    pub initials: String,
    pub started_on: Option<NaiveDate>,
    /// Side → the contact person's address.
    pub contacts: BTreeMap<String, String>,
    /// Other invitees the registration named (representative, case worker) by address.
    pub extra: Vec<String>,
    pub status: String,
    pub next_due_on: Option<NaiveDate>,
    pub due_basis: String,
    pub meetings_held: i64,
    pub left_on: Option<NaiveDate>,
    pub created_at: Option<DateTime<Utc>>,
}

impl PersonRow {
    /// "AB-12 (A.B.)": what subjects, calendars and logs carry.
    pub fn label(&self) -> String {
        crate::core::person::label(&self.reference, &self.initials)
    }

    /// The prefix of its meetings' occurrence keys.
    pub fn occurrence_prefix(&self) -> String {
        format!("person-{}-", self.id)
    }
}

/// A new person.
#[derive(Debug, Clone)]
pub struct NewPerson<'a> {
    pub forum_id: &'a str,
    pub routine_id: &'a str,
    pub reference: &'a str,
    pub initials: &'a str,
    pub started_on: NaiveDate,
    pub contacts: &'a BTreeMap<String, String>,
    pub extra: &'a [String],
    pub next_due_on: NaiveDate,
    pub due_basis: &'a str,
    pub registered_by: &'a str,
}

/// A meeting of a person, as the routine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonMeeting {
    pub id: i64,
    pub person_id: i64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub place: String,
    pub status: String,
    pub sequence: u32,
    pub uid: String,
    /// The "who wrote the notes?" question has gone out (meetings.decisions_requested_at).
    pub asked: bool,
}

const PERSON_COLUMNS: &str = "id, forum_id, routine_id, reference, initials, started_on, contacts_json, extra_json, status, next_due_on,
     due_basis, meetings_held, left_on, created_at";

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn person_row(r: &AnyRow) -> PersonRow {
    PersonRow {
        id: r.get(0),
        forum_id: r.get(1),
        routine_id: r.get(2),
        reference: r.get(3),
        initials: r.get(4),
        started_on: date(&r.get::<String, _>(5)),
        contacts: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
        extra: serde_json::from_str(&r.get::<String, _>(7)).unwrap_or_default(),
        status: r.get(8),
        next_due_on: date(&r.get::<String, _>(9)),
        due_basis: r.get(10),
        meetings_held: r.get(11),
        left_on: date(&r.get::<String, _>(12)),
        created_at: from_db(&r.get::<String, _>(13)),
    }
}

/// A forum's person by reference (any routine of the forum; the reference is the unit's own).
pub async fn person_by_ref(c: &mut AnyConnection, forum_id: &str, reference: &str) -> Result<Option<PersonRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSON_COLUMNS} FROM people WHERE forum_id = $1 AND lower(reference) = lower($2) ORDER BY status, id LIMIT 1"
    )))
    .bind(forum_id)
    .bind(reference.trim())
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(person_row))
}

/// A person by id.
pub async fn person_by_id(c: &mut AnyConnection, id: i64) -> Result<Option<PersonRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1")))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.as_ref().map(person_row))
}

/// The people of one routine.
pub async fn people_of_routine(c: &mut AnyConnection, forum_id: &str, routine_id: &str) -> Result<Vec<PersonRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSON_COLUMNS} FROM people WHERE forum_id = $1 AND routine_id = $2 ORDER BY id"
    )))
    .bind(forum_id)
    .bind(routine_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(person_row).collect())
}

/// Every person, by forum and reference.
pub async fn people(c: &mut AnyConnection) -> Result<Vec<PersonRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSON_COLUMNS} FROM people ORDER BY forum_id, reference, id"
    )))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(person_row).collect())
}

fn meeting_row(r: &AnyRow) -> Result<PersonMeeting> {
    let occurrence: String = r.get(1);
    let person_id = occurrence
        .strip_prefix("person-")
        .and_then(|s| s.split('-').next())
        .and_then(|s| s.parse().ok())
        .context("a person meeting's occurrence names its person")?;
    Ok(PersonMeeting {
        id: r.get(0),
        person_id,
        start: from_db(&r.get::<String, _>(2)).context("meetings.starts_at")?,
        end: from_db(&r.get::<String, _>(3)).context("meetings.ends_at")?,
        place: r.get(4),
        status: r.get(5),
        sequence: r.get::<i64, _>(6) as u32,
        uid: r.get(7),
        asked: !r.get::<String, _>(8).is_empty(),
    })
}

const MEETING_COLUMNS: &str = "id, occurrence, starts_at, ends_at, place, status, sequence, uid, decisions_requested_at";

/// A person's meetings, oldest first (cancelled ones too).
pub async fn person_meetings(c: &mut AnyConnection, person_id: i64) -> Result<Vec<PersonMeeting>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEETING_COLUMNS} FROM meetings WHERE kind = $1 AND occurrence LIKE $2 ORDER BY starts_at, id"
    )))
    .bind(MEETING_KIND)
    .bind(format!("person-{person_id}-%"))
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(meeting_row).collect()
}

/// Person meetings that have ended and whose "who wrote the notes?" has not gone out, and the
/// earliest end still ahead (the scheduler's next wake-up).
pub async fn person_meetings_ended(c: &mut AnyConnection, now: DateTime<Utc>) -> Result<(Vec<PersonMeeting>, Option<DateTime<Utc>>)> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEETING_COLUMNS} FROM meetings WHERE kind = $1 AND status = 'scheduled' AND decisions_requested_at = '' AND occurrence LIKE 'person-%'
         ORDER BY ends_at, id"
    )))
    .bind(MEETING_KIND)
    .fetch_all(&mut *c)
    .await?;
    let all: Vec<PersonMeeting> = rows.iter().map(meeting_row).collect::<Result<_>>()?;
    let next = all.iter().map(|m| m.end).filter(|e| *e > now).min();
    Ok((all.into_iter().filter(|m| m.end <= now).collect(), next))
}

/// One invitee of a booked person meeting ahead who has not answered and was not reminded.
#[derive(Debug, Clone)]
pub struct Unanswered {
    pub meeting: PersonMeeting,
    pub address: String,
    pub name: String,
    /// When their invitation (at its current time) was recorded.
    pub invited_at: DateTime<Utc>,
}

/// The required, active, reachable invitees of booked person meetings that start after `now`
/// who have neither answered nor been reminded, meeting by meeting.
pub async fn person_unanswered(c: &mut AnyConnection, now: DateTime<Utc>) -> Result<Vec<Unanswered>> {
    let rows = sqlx::query(
        "SELECT m.id, m.occurrence, m.starts_at, m.ends_at, m.place, m.status, m.sequence, m.uid, m.decisions_requested_at,
                i.address, i.name, i.created_at
         FROM meetings m JOIN invitations i ON i.meeting_id = m.id
         WHERE m.kind = $1 AND m.status = 'scheduled' AND m.occurrence LIKE 'person-%' AND m.starts_at > $2
           AND i.active = 1 AND i.role = 'REQ-PARTICIPANT' AND i.partstat = 'NEEDS-ACTION' AND i.reminded_at = ''
           AND i.undeliverable = 0
         ORDER BY m.starts_at, m.id, i.address",
    )
    .bind(MEETING_KIND)
    .bind(db(now))
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Unanswered {
                meeting: meeting_row(r)?,
                address: r.get(9),
                name: r.get(10),
                invited_at: from_db(&r.get::<String, _>(11)).context("invitations.created_at")?,
            })
        })
        .collect()
}

/// The open obligations of a person (of `kind`, or all).
pub async fn person_obligations(c: &mut AnyConnection, person_id: i64, kind: Option<&str>) -> Result<Vec<ObligationRow>> {
    let rows = sqlx::query(
        "SELECT id, forum_id, kind, case_id, meeting_id, owners, escalate_to, remind_at, escalate_at, reminded_at, escalated_at,
                opened_at, data_json, request_message_id, closed_at FROM obligations
         WHERE closed_at = '' AND json_extract(data_json, '$.person_id') = $1 AND ($2 = '' OR kind = $2) ORDER BY id",
    )
    .bind(person_id.to_string())
    .bind(kind.unwrap_or(""))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(Store::obligation_row).collect())
}

impl Store {
    /// Every person (for `person list`, `status`, the preview).
    pub async fn people(&self) -> Result<Vec<PersonRow>> {
        people(&mut *self.pool.acquire().await?).await
    }

    /// The people of one routine.
    pub async fn people_of_routine(&self, forum_id: &str, routine_id: &str) -> Result<Vec<PersonRow>> {
        people_of_routine(&mut *self.pool.acquire().await?, forum_id, routine_id).await
    }

    /// A person by reference in a forum.
    pub async fn person_by_ref(&self, forum_id: &str, reference: &str) -> Result<Option<PersonRow>> {
        person_by_ref(&mut *self.pool.acquire().await?, forum_id, reference).await
    }

    /// A person by row id.
    pub async fn person_by_id(&self, id: i64) -> Result<Option<PersonRow>> {
        person_by_id(&mut *self.pool.acquire().await?, id).await
    }

    /// A person's meetings.
    pub async fn person_meetings(&self, person_id: i64) -> Result<Vec<PersonMeeting>> {
        person_meetings(&mut *self.pool.acquire().await?, person_id).await
    }

    /// A person's open obligations.
    pub async fn person_obligations(&self, person_id: i64) -> Result<Vec<ObligationRow>> {
        person_obligations(&mut *self.pool.acquire().await?, person_id, None).await
    }

    /// The invitees of booked person meetings ahead who have neither answered nor been reminded.
    pub async fn person_unanswered(&self, now: DateTime<Utc>) -> Result<Vec<Unanswered>> {
        person_unanswered(&mut *self.pool.acquire().await?, now).await
    }

    /// Ended person meetings not yet followed up, and the next end ahead.
    pub async fn person_meetings_ended(&self, now: DateTime<Utc>) -> Result<(Vec<PersonMeeting>, Option<DateTime<Utc>>)> {
        person_meetings_ended(&mut *self.pool.acquire().await?, now).await
    }
}

impl Tx {
    /// Registers a person; `None` when the reference is already registered for the routine.
    pub async fn insert_person(&mut self, p: &NewPerson<'_>, now: DateTime<Utc>) -> Result<Option<i64>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO people (forum_id, routine_id, reference, initials, started_on, contacts_json, extra_json, next_due_on,
                                 due_basis, registered_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
             ON CONFLICT (forum_id, routine_id, reference) DO NOTHING RETURNING id",
        )
        .bind(p.forum_id)
        .bind(p.routine_id)
        .bind(p.reference)
        .bind(p.initials)
        .bind(p.started_on.to_string())
        .bind(serde_json::to_string(p.contacts)?)
        .bind(serde_json::to_string(p.extra)?)
        .bind(p.next_due_on.to_string())
        .bind(p.due_basis)
        .bind(p.registered_by)
        .bind(db(now))
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Sets when the person's next meeting falls due and what that rests on.
    pub async fn set_person_due(&mut self, id: i64, due: NaiveDate, basis: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE people SET next_due_on = $1, due_basis = $2, updated_at = $3 WHERE id = $4")
            .bind(due.to_string())
            .bind(basis)
            .bind(db(now))
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// A meeting of the person was held: counted, its notes asked for.
    pub async fn person_meeting_held(&mut self, id: i64, meeting_id: i64, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE people SET meetings_held = meetings_held + 1, updated_at = $1 WHERE id = $2")
            .bind(db(now))
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        self.decisions_requested(meeting_id, now).await
    }

    /// Replaces the person's contact persons.
    pub async fn set_person_contacts(&mut self, id: i64, contacts: &BTreeMap<String, String>, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE people SET contacts_json = $1, updated_at = $2 WHERE id = $3")
            .bind(serde_json::to_string(contacts)?)
            .bind(db(now))
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The person left the routine: the rhythm stops.
    pub async fn person_left(&mut self, id: i64, on: NaiveDate, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE people SET status = $1, left_on = $2, next_due_on = '', updated_at = $3 WHERE id = $4")
            .bind(LEFT)
            .bind(on.to_string())
            .bind(db(now))
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Adds a booked meeting of the person; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_person_meeting(
        &mut self,
        forum_id: &str,
        occurrence: &str,
        uid: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        place: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO meetings (forum_id, occurrence, uid, kind, starts_at, ends_at, place, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT(forum_id, occurrence) DO UPDATE SET place = excluded.place RETURNING id",
        )
        .bind(forum_id)
        .bind(occurrence)
        .bind(uid)
        .bind(MEETING_KIND)
        .bind(db(start))
        .bind(db(end))
        .bind(place)
        .bind(db(now))
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Moves a booked person meeting (a new "Bokat:"): new time and place, SEQUENCE raised.
    pub async fn move_person_meeting(
        &mut self,
        id: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        place: &str,
        now: DateTime<Utc>,
    ) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(
            "UPDATE meetings SET starts_at = $1, ends_at = $2, place = $3, sequence = sequence + 1, updated_at = $4 WHERE id = $5
             RETURNING sequence",
        )
        .bind(db(start))
        .bind(db(end))
        .bind(place)
        .bind(db(now))
        .bind(id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n as u32)
    }

    /// Cancels a person meeting; returns its new SEQUENCE.
    pub async fn cancel_person_meeting(&mut self, id: i64, now: DateTime<Utc>) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(
            "UPDATE meetings SET status = 'cancelled', sequence = sequence + 1, updated_at = $1 WHERE id = $2 RETURNING sequence",
        )
        .bind(db(now))
        .bind(id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n as u32)
    }

    /// Records who a person meeting's invitation (at `sequence`) went to; with `cancel`, they
    /// were sent its cancellation and are no longer invited.
    pub async fn person_invitations(
        &mut self,
        meeting_id: i64,
        sequence: u32,
        attendees: &[crate::core::ical::Attendee],
        cancel: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        for a in attendees {
            sqlx::query(
                "INSERT INTO invitations (meeting_id, address, name, role, sequence_sent, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT(meeting_id, address) DO UPDATE SET active = excluded.active, role = excluded.role,
                    sequence_sent = excluded.sequence_sent",
            )
            .bind(meeting_id)
            .bind(&a.address)
            .bind(&a.name)
            .bind(a.role.as_str())
            .bind(i64::from(sequence))
            .bind(i64::from(!cancel))
            .bind(db(now))
            .execute(&mut *self.tx)
            .await?;
        }
        sqlx::query("UPDATE meetings SET invited_at = CASE WHEN invited_at = '' THEN $1 ELSE invited_at END WHERE id = $2")
            .bind(db(now))
            .bind(meeting_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Records that the one RSVP reminder of a person meeting went to `address`.
    pub async fn person_invitation_reminded(&mut self, meeting_id: i64, address: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE invitations SET reminded_at = $1 WHERE meeting_id = $2 AND address = $3 AND reminded_at = ''")
            .bind(db(now))
            .bind(meeting_id)
            .bind(address)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Replaces the owners of an open obligation (a new contact person takes over).
    pub async fn set_obligation_owners(&mut self, id: i64, owners: &[String], escalate_to: &[String]) -> Result<()> {
        sqlx::query("UPDATE obligations SET owners = $1, escalate_to = $2 WHERE id = $3")
            .bind(serde_json::to_string(owners)?)
            .bind(serde_json::to_string(escalate_to)?)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
