//! The deviations' statements: the facts `core::deviation::scan` reads, recording what it
//! found (once per rule and subject), the collector's mails and answers.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Store, Tx};
use crate::core::deviation::{Found, ObligationFact};
use crate::core::time::{db, from_db};

/// A recorded deviation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviationRow {
    pub id: i64,
    pub forum_id: String,
    pub rule: String,
    pub subject: String,
    pub case_id: Option<i64>,
    /// The case's number, when it has one.
    pub case_no: Option<String>,
    pub meeting_id: Option<i64>,
    /// The meeting's start, when there is one.
    pub meeting_start: Option<DateTime<Utc>>,
    pub units: Vec<String>,
    pub due_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    /// When the obligation behind it was closed (late), if it was.
    pub closed_at: Option<DateTime<Utc>>,
    pub dismissed: bool,
}

const SELECT: &str = "SELECT d.id, d.forum_id, d.rule, d.subject, d.case_id, c.case_no, d.meeting_id, m.starts_at, d.units_json,
        d.due_at, d.detected_at, o.closed_at, d.dismissed_at
     FROM deviations d
     LEFT JOIN cases c ON c.id = d.case_id
     LEFT JOIN meetings m ON m.id = d.meeting_id
     LEFT JOIN obligations o ON d.subject = 'obligation:' || CAST(o.id AS TEXT)";

fn row(r: &sqlx::any::AnyRow) -> DeviationRow {
    DeviationRow {
        id: r.get(0),
        forum_id: r.get(1),
        rule: r.get(2),
        subject: r.get(3),
        case_id: r.get(4),
        case_no: r.get::<Option<String>, _>(5).filter(|s| !s.is_empty()),
        meeting_id: r.get(6),
        meeting_start: r.get::<Option<String>, _>(7).as_deref().and_then(from_db),
        units: serde_json::from_str(&r.get::<String, _>(8)).unwrap_or_default(),
        due_at: from_db(&r.get::<String, _>(9)).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        detected_at: from_db(&r.get::<String, _>(10)).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        closed_at: r.get::<Option<String>, _>(11).as_deref().and_then(from_db),
        dismissed: !r.get::<String, _>(12).is_empty(),
    }
}

/// The obligations a scan reads: the open ones and those closed since `since`, with their case's
/// units, the case's submitter (for the shell to name the submitter's unit when the case names
/// none) and the unit the obligation names (a handover's receiving unit).
pub async fn obligation_facts(c: &mut AnyConnection, since: DateTime<Utc>) -> Result<Vec<(ObligationFact, String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT o.id, o.forum_id, o.kind, o.case_id, o.meeting_id, o.remind_at, o.escalate_at, o.closed_at, o.data_json,
                COALESCE(c.units_json, '[]'), COALESCE(c.submitter, '')
         FROM obligations o LEFT JOIN cases c ON c.id = o.case_id
         WHERE o.closed_at = '' OR o.closed_at >= $1 ORDER BY o.id",
    )
    .bind(db(since))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let data: serde_json::Value = serde_json::from_str(&r.get::<String, _>(8)).unwrap_or_default();
            let units: Vec<String> = serde_json::from_str(&r.get::<String, _>(9)).unwrap_or_default();
            (
                ObligationFact {
                    id: r.get(0),
                    forum_id: r.get(1),
                    kind: r.get(2),
                    case_id: r.get(3),
                    meeting_id: r.get(4),
                    remind_at: from_db(&r.get::<String, _>(5)),
                    escalate_at: from_db(&r.get::<String, _>(6)),
                    closed_at: from_db(&r.get::<String, _>(7)),
                    units,
                },
                r.get::<String, _>(10),
                data["unit"].as_str().map(str::to_string),
            )
        })
        .collect())
}

/// The units and the submitter of every case each meeting starting in `[from, until)` had,
/// decided ones included.
pub async fn meeting_units(
    c: &mut AnyConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<BTreeMap<i64, Vec<(Vec<String>, String)>>> {
    let rows = sqlx::query(
        "SELECT c.meeting_id, c.units_json, c.submitter FROM cases c JOIN meetings m ON m.id = c.meeting_id
         WHERE m.starts_at >= $1 AND m.starts_at < $2 AND c.status != 'withdrawn' ORDER BY c.meeting_id, c.id",
    )
    .bind(db(from))
    .bind(db(until))
    .fetch_all(&mut *c)
    .await?;
    let mut out: BTreeMap<i64, Vec<(Vec<String>, String)>> = BTreeMap::new();
    for r in &rows {
        let units: Vec<String> = serde_json::from_str(&r.get::<String, _>(1)).unwrap_or_default();
        out.entry(r.get(0)).or_default().push((units, r.get(2)));
    }
    Ok(out)
}

impl Store {
    /// See [`obligation_facts`].
    pub async fn obligation_facts(&self, since: DateTime<Utc>) -> Result<Vec<(ObligationFact, String, Option<String>)>> {
        obligation_facts(&mut *self.pool.acquire().await?, since).await
    }

    /// See [`meeting_units`].
    pub async fn meeting_units(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<BTreeMap<i64, Vec<(Vec<String>, String)>>> {
        meeting_units(&mut *self.pool.acquire().await?, from, until).await
    }

    /// The deviations of a forum (every forum with `None`) whose rule was broken in `[from, until)`.
    pub async fn deviations_between(&self, forum_id: Option<&str>, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<DeviationRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE ($1 = '' OR d.forum_id = $1) AND d.due_at >= $2 AND d.due_at < $3 ORDER BY d.due_at, d.id"
        )))
        .bind(forum_id.unwrap_or(""))
        .bind(db(from))
        .bind(db(until))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row).collect())
    }

    /// The forum's deviations not yet in a digest, recorded before `before`.
    pub async fn deviations_undigested(&self, forum_id: &str, before: DateTime<Utc>) -> Result<Vec<DeviationRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE d.forum_id = $1 AND d.digest_at = '' AND d.detected_at < $2 ORDER BY d.due_at, d.id"
        )))
        .bind(forum_id)
        .bind(db(before))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row).collect())
    }

    /// The forum's deviations the collector has not been told of one by one.
    pub async fn deviations_unnotified(&self, forum_id: &str) -> Result<Vec<DeviationRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE d.forum_id = $1 AND d.notified_at = '' ORDER BY d.due_at, d.id"
        )))
        .bind(forum_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row).collect())
    }
}

impl Tx {
    /// Records what a scan found; returns the ids and rules of those new (a deviation already
    /// recorded under its rule and subject is left as it is).
    pub async fn record_deviations(&mut self, found: &[Found], now: DateTime<Utc>) -> Result<Vec<(i64, &'static str)>> {
        let mut new = Vec::new();
        for f in found {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO deviations (forum_id, rule, subject, case_id, meeting_id, units_json, due_at, detected_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (rule, subject) DO NOTHING RETURNING id",
            )
            .bind(&f.forum_id)
            .bind(f.rule)
            .bind(&f.subject)
            .bind(f.case_id)
            .bind(f.meeting_id)
            .bind(serde_json::to_string(&f.units)?)
            .bind(db(f.due_at))
            .bind(db(now))
            .fetch_optional(&mut *self.tx)
            .await?;
            new.extend(id.map(|id| (id, f.rule)));
        }
        Ok(new)
    }

    /// Marks deviations as sent in a digest (`digest`) or one by one.
    pub async fn deviations_sent(&mut self, ids: &[i64], digest: bool, now: DateTime<Utc>) -> Result<()> {
        let column = if digest { "digest_at" } else { "notified_at" };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE deviations SET {column} = $1 WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each($2))"
        )))
        .bind(db(now))
        .bind(serde_json::to_string(ids)?)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The collector's "Ingen avvikelse": recorded on the forum's deviation `id`. Returns the
    /// deviation's rule, or `None` when the forum has no such deviation.
    pub async fn dismiss_deviation(
        &mut self,
        forum_id: &str,
        id: i64,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "UPDATE deviations SET dismissed_at = $1, dismissed_by = $2, dismiss_reason = $3
             WHERE id = $4 AND forum_id = $5 RETURNING rule",
        )
        .bind(db(now))
        .bind(by)
        .bind(reason)
        .bind(id)
        .bind(forum_id)
        .fetch_optional(&mut *self.tx)
        .await?)
    }
}
