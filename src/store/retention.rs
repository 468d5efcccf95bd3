//! The retention purge's statements: the facts `core::retention::due` decides on, and the
//! wipes that carry out its answer (or count what they would touch, for `purge --dry-run`).
//! Every place personal data sits is named here; docs/operations.md ("Retention") lists them.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
// Every dynamic statement here is built from the constant fragments below; values are bound.
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::Store;
use crate::core::retention::{Case, Due, Obligation, end_of_day};
use crate::core::time::{db, from_db};

/// A case that still holds personal data: what a wipe blanks is not all blank yet.
const CASE_HAS_DATA: &str = "(sections_json != '{}' OR handover_json != '{}' OR submitter != '' OR units_json != '[]'
     OR content_hash != '' OR message_id != '' OR transfer_on != '')";

/// An obligation that still holds personal data. `closed_by` is an owner's address, or a word
/// (`retention` for those the purge closed).
const OBLIGATION_HAS_DATA: &str = "(owners != '[]' OR escalate_to != '[]' OR data_json != '{}' OR closed_by NOT IN ('', 'retention'))";

/// What a purge removed or would remove, per kind: counts only.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Cases whose parts, handover text, submitter, units, fingerprint, Message-ID and transfer
    /// date (a birthday) were blanked.
    pub cases: u64,
    /// Obligations whose owners, escalation addresses, data and closer were blanked (open ones
    /// closed).
    pub obligations: u64,
    /// Outgoing mails (row and bytes) deleted.
    pub outbox: u64,
    /// Invitees (name, address, answer) of past meetings deleted.
    pub invitations: u64,
    /// Past meetings' note takers blanked.
    pub note_takers: u64,
    /// Incoming mails' Message-IDs blanked in the intake records.
    pub intake: u64,
    /// People who left a routine deleted (reference, initials, contact persons, invitees).
    pub people: u64,
    /// Deviations whose units and the collector's answer (address, reason) were blanked; the
    /// rule, the references and the times stay for the yearly report.
    pub deviations: u64,
}

/// One wipe: the rows of `table` matching `filter` are updated with `set`, or deleted when
/// `set` is `None`. `binds` fill the filter's `$1..$k`; `set_binds` the `$k+1..` of `set`
/// (so a count is the filter with its own parameters).
struct Wipe {
    table: &'static str,
    set: Option<&'static str>,
    filter: String,
    binds: Vec<String>,
    set_binds: Vec<String>,
}

/// The wipes `due` asks for, in the order they run.
fn wipes(due: &Due, now: DateTime<Utc>) -> Result<[Wipe; 8]> {
    let cases = serde_json::to_string(&due.cases)?;
    let in_cases = "id IN (SELECT CAST(value AS BIGINT) FROM json_each($1))";
    Ok([
        Wipe {
            table: "cases",
            set: Some(
                "sections_json = '{}', handover_json = '{}', submitter = '', units_json = '[]', content_hash = '',
                 message_id = '', transfer_on = ''",
            ),
            filter: format!("{in_cases} AND {CASE_HAS_DATA}"),
            binds: vec![cases.clone()],
            set_binds: vec![],
        },
        Wipe {
            table: "obligations",
            set: Some(
                "owners = '[]', escalate_to = '[]', data_json = '{}',
                 closed_by = CASE WHEN closed_at = '' THEN 'retention' ELSE '' END,
                 closed_at = CASE WHEN closed_at = '' THEN $2 ELSE closed_at END",
            ),
            filter: format!("id IN (SELECT CAST(value AS BIGINT) FROM json_each($1)) AND {OBLIGATION_HAS_DATA}"),
            binds: vec![serde_json::to_string(&due.obligations)?],
            set_binds: vec![db(now)],
        },
        // The bytes (outbox_body) go with their row: ON DELETE CASCADE, with foreign keys on for
        // every SQLite connection (Store::connect) and always on PostgreSQL. Queued mail is kept
        // (the sender gives up after `daemon.max_send_attempts`; then it is `failed`), except a
        // wiped case's: nothing about it may leave any more.
        Wipe {
            table: "outbox",
            set: None,
            filter: "(status != 'pending' AND created_at < $1) OR case_id IN (SELECT CAST(value AS BIGINT) FROM json_each($2))".into(),
            binds: vec![db(due.mail_before), cases],
            set_binds: vec![],
        },
        Wipe {
            table: "invitations",
            set: None,
            filter: "meeting_id IN (SELECT id FROM meetings WHERE ends_at < $1)".into(),
            binds: vec![db(due.meetings_ended_before)],
            set_binds: vec![],
        },
        Wipe {
            table: "meetings",
            set: Some("note_taker = ''"),
            filter: "ends_at < $1 AND note_taker != ''".into(),
            binds: vec![db(due.meetings_ended_before)],
            set_binds: vec![],
        },
        // The record stays (kind, outcome, times: it also keeps a mail from being read twice);
        // only the sender's Message-ID goes.
        Wipe {
            table: "intake",
            set: Some("message_id = ''"),
            filter: "processed_at < $1 AND message_id != ''".into(),
            binds: vec![db(due.mail_before)],
            set_binds: vec![],
        },
        // The routines around one person: a person who left goes whole (their meetings'
        // invitees go with the meetings above, their obligations on their own times).
        Wipe {
            table: "people",
            set: None,
            filter: "status = 'left' AND updated_at < $1".into(),
            binds: vec![db(due.people_left_before)],
            set_binds: vec![],
        },
        // Kept as long as a case's data: past the case time, or with its case.
        Wipe {
            table: "deviations",
            set: Some("units_json = '[]', dismissed_by = '', dismiss_reason = ''"),
            filter: "(due_at < $1 OR case_id IN (SELECT CAST(value AS BIGINT) FROM json_each($2)))
                     AND (units_json != '[]' OR dismissed_by != '' OR dismiss_reason != '')"
                .into(),
            binds: vec![db(due.meetings_ended_before), serde_json::to_string(&due.cases)?],
            set_binds: vec![],
        },
    ])
}

/// Every case and obligation that still holds personal data, with their activity times.
pub async fn facts(c: &mut AnyConnection) -> Result<(Vec<Case>, Vec<Obligation>)> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT c.id, c.status, c.updated_at, c.received_at, c.follow_up_on, c.transfer_on, m.ends_at
         FROM cases c LEFT JOIN meetings m ON m.id = c.meeting_id WHERE {CASE_HAS_DATA}"
    )))
    .fetch_all(&mut *c)
    .await
    .context("reading cases for the purge")?;
    let cases = rows
        .iter()
        .map(|r| {
            let stamps = [r.get::<String, _>(2), r.get(3)];
            let dates = [r.get::<String, _>(4), r.get(5)];
            let times = stamps
                .iter()
                .filter_map(|s| from_db(s))
                .chain(dates.iter().filter_map(|d| end_of_day(d)))
                .collect();
            Case {
                id: r.get(0),
                status: r.get(1),
                times,
                meeting_end: r.get::<Option<String>, _>(6).as_deref().and_then(from_db),
            }
        })
        .collect();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id, case_id, closed_at, opened_at, reminded_at, escalated_at, remind_at, escalate_at
         FROM obligations WHERE {OBLIGATION_HAS_DATA}"
    )))
    .fetch_all(&mut *c)
    .await
    .context("reading obligations for the purge")?;
    let obligations = rows
        .iter()
        .map(|r| {
            let closed_at: String = r.get(2);
            let open = closed_at.is_empty();
            let (reminded, escalated): (String, String) = (r.get(4), r.get(5));
            // Steps still to come count for an open obligation only.
            let ahead = [
                (open && reminded.is_empty()).then(|| r.get::<String, _>(6)),
                (open && escalated.is_empty()).then(|| r.get::<String, _>(7)),
            ];
            let times = [closed_at, r.get(3), reminded, escalated]
                .into_iter()
                .chain(ahead.into_iter().flatten())
                .filter_map(|s| from_db(&s))
                .collect();
            Obligation {
                id: r.get(0),
                case_id: r.get(1),
                open,
                times,
            }
        })
        .collect();
    Ok((cases, obligations))
}

/// Carries out `due` (inside the caller's write transaction), or with `dry_run` counts the rows
/// it would touch.
pub async fn purge(c: &mut AnyConnection, due: &Due, now: DateTime<Utc>, dry_run: bool) -> Result<Purged> {
    let mut n = [0u64; 8];
    for (slot, w) in n.iter_mut().zip(wipes(due, now)?) {
        *slot = match (dry_run, w.set) {
            (true, _) => {
                let sql = format!("SELECT count(*) FROM {} WHERE {}", w.table, w.filter);
                let q = w
                    .binds
                    .iter()
                    .fold(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), |q, b| q.bind(b.clone()));
                u64::try_from(q.fetch_one(&mut *c).await?).unwrap_or(0)
            }
            (false, set) => {
                let sql = match set {
                    Some(set) => format!("UPDATE {} SET {set} WHERE {}", w.table, w.filter),
                    None => format!("DELETE FROM {} WHERE {}", w.table, w.filter),
                };
                let q = w
                    .binds
                    .iter()
                    .chain(&w.set_binds)
                    .fold(sqlx::query(AssertSqlSafe(sql)), |q, b| q.bind(b.clone()));
                q.execute(&mut *c)
                    .await
                    .with_context(|| format!("purging {}", w.table))?
                    .rows_affected()
            }
        };
    }
    let [cases, obligations, outbox, invitations, note_takers, intake, people, deviations] = n;
    Ok(Purged {
        cases,
        obligations,
        outbox,
        invitations,
        note_takers,
        intake,
        people,
        deviations,
    })
}

impl Store {
    /// After a purge on SQLite: copies the WAL into the database file and truncates it, so the
    /// old pages in the log (the wiped data as it was) are gone too. (With `secure_delete` on,
    /// the database file's freed space is zeroed as it is freed.) Returns false when a reader
    /// kept the log from being truncated within the busy timeout (the next purge tries again).
    /// Nothing to do on PostgreSQL.
    pub async fn truncate_log(&self) -> Result<bool> {
        if self.backend != super::Backend::Sqlite {
            return Ok(true);
        }
        let _writer = self.write_lock().await;
        // One row: (busy, pages in the log, pages checkpointed).
        let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await
            .context("checkpointing the log after the purge")?;
        Ok(busy == 0)
    }
}
