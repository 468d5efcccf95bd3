//! The yearly report's reads: one forum's cases, meetings, obligations and deviations of a
//! period, in one read snapshot, as the pure `core::report::build` takes them. Invitees come
//! back with their address only for the shell to map to a unit; nothing else personal is read.

use anyhow::Result;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Store;
use crate::core::ical::PartStat;
use crate::core::report::{CaseFact, DeviationFact, MeetingFact, ObligationFact};
use crate::core::time::{db, from_db};

/// The raw facts: meetings carry (address, answer) per required invitee.
#[derive(Debug, Default)]
pub struct RawFacts {
    /// With each case its submitter (for the shell to name the submitter's unit when the case
    /// names none).
    pub cases: Vec<(CaseFact, String)>,
    pub meetings: Vec<(MeetingFact, Vec<(String, PartStat)>)>,
    pub obligations: Vec<ObligationFact>,
    pub deviations: Vec<DeviationFact>,
}

fn t(s: &str) -> Option<DateTime<Utc>> {
    from_db(s)
}

impl Store {
    /// Whether the outbox holds a mail with this Message-ID (sent or not).
    pub async fn outbox_has(&self, message_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE message_id = $1")
            .bind(message_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// The facts of `forum_id` touching `[from, until)`; the meetings from `lead` earlier (a
    /// case's lateness is measured against the meetings before its own).
    pub async fn report_facts(
        &self,
        forum_id: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        lead: chrono::Duration,
    ) -> Result<RawFacts> {
        let mut snap = self.read_snapshot().await?;
        let (f, u) = (db(from), db(until));
        let rows = sqlx::query(
            "SELECT c.id, c.received_at, c.status, c.urgent, c.units_json, c.meeting_id, c.follow_up_on, c.closed_at,
                    (SELECT count(*) FROM intake i WHERE i.case_id = c.id AND i.outcome = 'case_incomplete'), c.submitter
             FROM cases c WHERE c.forum_id = $1
               AND ((c.received_at >= $2 AND c.received_at < $3) OR (c.closed_at >= $2 AND c.closed_at < $3))
             ORDER BY c.id",
        )
        .bind(forum_id)
        .bind(&f)
        .bind(&u)
        .fetch_all(&mut *snap)
        .await?;
        let mut out = RawFacts::default();
        for r in &rows {
            let Some(received_at) = t(&r.get::<String, _>(1)) else { continue };
            out.cases.push((
                CaseFact {
                    id: r.get(0),
                    received_at,
                    status: r.get(2),
                    urgent: r.get::<i64, _>(3) != 0,
                    units: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default(),
                    meeting_id: r.get(5),
                    follow_up: !r.get::<String, _>(6).is_empty(),
                    closed_at: t(&r.get::<String, _>(7)),
                    was_incomplete: r.get::<i64, _>(8) > 0,
                },
                r.get::<String, _>(9),
            ));
        }
        let rows = sqlx::query(
            "SELECT id, starts_at, ends_at, kind, status FROM meetings
             WHERE forum_id = $1 AND starts_at >= $2 AND starts_at < $3 ORDER BY starts_at, id",
        )
        .bind(forum_id)
        .bind(db(from - lead))
        .bind(&u)
        .fetch_all(&mut *snap)
        .await?;
        let invitees = sqlx::query(
            "SELECT i.meeting_id, i.address, i.partstat FROM invitations i JOIN meetings m ON m.id = i.meeting_id
             WHERE m.forum_id = $1 AND m.starts_at >= $2 AND m.starts_at < $3 AND i.active = 1 AND i.role = 'REQ-PARTICIPANT'
             ORDER BY i.meeting_id, i.id",
        )
        .bind(forum_id)
        .bind(&f)
        .bind(&u)
        .fetch_all(&mut *snap)
        .await?;
        for r in &rows {
            let (Some(start), Some(end)) = (t(&r.get::<String, _>(1)), t(&r.get::<String, _>(2))) else {
                continue;
            };
            let id: i64 = r.get(0);
            let people = invitees
                .iter()
                .filter(|i| i.get::<i64, _>(0) == id)
                .map(|i| (i.get::<String, _>(1), super::partstat_from(&i.get::<String, _>(2))))
                .collect();
            out.meetings.push((
                MeetingFact {
                    id,
                    start,
                    end,
                    samverkan: r.get::<String, _>(3) == "samverkansmote",
                    cancelled: r.get::<String, _>(4) == "cancelled",
                    invitees: Vec::new(),
                },
                people,
            ));
        }
        let rows = sqlx::query(
            "SELECT kind, case_id, opened_at, closed_at, closed_by, escalated_at, data_json FROM obligations
             WHERE forum_id = $1 AND ((opened_at >= $2 AND opened_at < $3) OR (escalated_at >= $2 AND escalated_at < $3))
             ORDER BY id",
        )
        .bind(forum_id)
        .bind(&f)
        .bind(&u)
        .fetch_all(&mut *snap)
        .await?;
        for r in &rows {
            let Some(opened_at) = t(&r.get::<String, _>(2)) else { continue };
            let data: serde_json::Value = serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default();
            let by_owner = r.get::<String, _>(4) != "retention";
            out.obligations.push(ObligationFact {
                kind: r.get(0),
                case_id: r.get(1),
                opened_at,
                closed_at: t(&r.get::<String, _>(3)).filter(|_| by_owner),
                escalated_at: t(&r.get::<String, _>(5)),
                unit: data["unit"].as_str().map(str::to_string),
                level: data["level"].as_u64().and_then(|l| u8::try_from(l).ok()).unwrap_or(3),
            });
        }
        let rows = sqlx::query(
            "SELECT rule, units_json, due_at, dismissed_at FROM deviations
             WHERE forum_id = $1 AND due_at >= $2 AND due_at < $3 ORDER BY due_at, id",
        )
        .bind(forum_id)
        .bind(&f)
        .bind(&u)
        .fetch_all(&mut *snap)
        .await?;
        for r in &rows {
            let Some(due_at) = t(&r.get::<String, _>(2)) else { continue };
            out.deviations.push(DeviationFact {
                rule: r.get(0),
                units: serde_json::from_str(&r.get::<String, _>(1)).unwrap_or_default(),
                due_at,
                dismissed: !r.get::<String, _>(3).is_empty(),
            });
        }
        Ok(out)
    }
}
