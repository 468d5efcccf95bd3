//! The store's reads for reports: the figures of `/metrics` (one snapshot) and `/healthz`, and
//! the quarantine list. Counts, times and Message-IDs only: no personal data.

use anyhow::Result;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Store;
use crate::core::time::{db, from_db};

/// Everything `/metrics` shows from the database, read in one snapshot.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Mails read, per kind.
    pub mails_by_kind: Vec<(String, i64)>,
    /// Mails read, per outcome.
    pub mails_by_outcome: Vec<(String, i64)>,
    /// Cases, per status.
    pub cases_by_status: Vec<(String, i64)>,
    /// Mails sent, per kind.
    pub sent_by_kind: Vec<(String, i64)>,
    pub outbox_pending: i64,
    pub outbox_failed: i64,
    /// When the oldest mail still waiting in the outbox was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// Per mailbox, when it was last read completely (`None`: never).
    pub last_sync: Vec<(String, Option<DateTime<Utc>>)>,
    /// Mails moved to the quarantine folder.
    pub quarantined: i64,
    /// Open obligations past their reminder or escalation time at `now`, per kind.
    pub overdue_by_kind: Vec<(String, i64)>,
    /// Deviations recorded, per rule.
    pub deviations_by_rule: Vec<(String, i64)>,
}

/// What `/healthz` checks in the database.
#[derive(Debug, Default, Clone)]
pub struct Health {
    /// When any mailbox was last read completely.
    pub last_sync: Option<DateTime<Utc>>,
    /// When the oldest mail still waiting in the outbox was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// One quarantined mail as the intake record holds it.
#[derive(Debug, Clone)]
pub struct QuarantineRow {
    pub uid: i64,
    pub received_at: String,
    pub kind: String,
    /// Why (the intake outcome: `not_member`, `unparseable`, ...).
    pub reason: String,
    pub message_id: String,
}

impl Store {
    /// The figures of `/metrics` at `now`, all from one read snapshot (a scrape during a commit
    /// must not count a case whose mail it does not count).
    pub async fn figures(&self, now: DateTime<Utc>) -> Result<Figures> {
        let mut snap = self.read_snapshot().await?;
        let grouped = |rows: Vec<sqlx::any::AnyRow>| -> Vec<(String, i64)> {
            rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect()
        };
        let mails_by_kind = grouped(
            sqlx::query("SELECT kind, count(*) FROM intake GROUP BY kind ORDER BY kind")
                .fetch_all(&mut *snap)
                .await?,
        );
        let mails_by_outcome = grouped(
            sqlx::query("SELECT outcome, count(*) FROM intake GROUP BY outcome ORDER BY outcome")
                .fetch_all(&mut *snap)
                .await?,
        );
        let cases_by_status = grouped(
            sqlx::query("SELECT status, count(*) FROM cases GROUP BY status ORDER BY status")
                .fetch_all(&mut *snap)
                .await?,
        );
        let sent_by_kind = grouped(
            sqlx::query("SELECT kind, count(*) FROM outbox WHERE status = 'sent' GROUP BY kind ORDER BY kind")
                .fetch_all(&mut *snap)
                .await?,
        );
        let (outbox_pending, outbox_failed): (i64, i64) =
            sqlx::query_as("SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed') FROM outbox")
                .fetch_one(&mut *snap)
                .await?;
        let oldest: Option<String> = sqlx::query_scalar("SELECT min(created_at) FROM outbox WHERE status = 'pending'")
            .fetch_one(&mut *snap)
            .await?;
        let last_sync = sqlx::query("SELECT mailbox, last_sync_at FROM mailbox_state ORDER BY mailbox")
            .fetch_all(&mut *snap)
            .await?
            .iter()
            .map(|r| (r.get::<String, _>(0), from_db(&r.get::<String, _>(1))))
            .collect();
        let quarantined: i64 = sqlx::query_scalar("SELECT count(*) FROM intake WHERE destination = 'quarantine'")
            .fetch_one(&mut *snap)
            .await?;
        let overdue_by_kind = grouped(
            sqlx::query(
                "SELECT kind, count(*) FROM obligations WHERE closed_at = '' AND ((remind_at != '' AND remind_at <= $1) OR (escalate_at != '' AND escalate_at <= $1))
                 GROUP BY kind ORDER BY kind",
            )
            .bind(db(now))
            .fetch_all(&mut *snap)
            .await?,
        );
        let deviations_by_rule = grouped(
            sqlx::query("SELECT rule, count(*) FROM deviations GROUP BY rule ORDER BY rule")
                .fetch_all(&mut *snap)
                .await?,
        );
        Ok(Figures {
            deviations_by_rule,
            mails_by_kind,
            mails_by_outcome,
            cases_by_status,
            sent_by_kind,
            outbox_pending,
            outbox_failed,
            oldest_pending: oldest.as_deref().and_then(from_db),
            last_sync,
            quarantined,
            overdue_by_kind,
        })
    }

    /// What `/healthz` checks: when the mailbox was last read, and the outbox's oldest waiting mail.
    pub async fn health(&self) -> Result<Health> {
        let last: Option<String> = sqlx::query_scalar("SELECT max(last_sync_at) FROM mailbox_state")
            .fetch_one(&self.pool)
            .await?;
        let oldest: Option<String> = sqlx::query_scalar("SELECT min(created_at) FROM outbox WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(Health {
            last_sync: last.as_deref().and_then(from_db),
            oldest_pending: oldest.as_deref().and_then(from_db),
        })
    }

    /// The mails in the quarantine folder, oldest first.
    pub async fn quarantined(&self) -> Result<Vec<QuarantineRow>> {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT uid, received_at, kind, outcome, message_id FROM intake WHERE destination = 'quarantine' ORDER BY received_at, uid",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(uid, received_at, kind, reason, message_id)| QuarantineRow {
                uid,
                received_at,
                kind,
                reason,
                message_id,
            })
            .collect())
    }

    /// Forgets that the quarantined mail `message_id` was read, so intake handles it again once
    /// it is back in the inbox.
    pub async fn forget_quarantined(&self, message_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM intake WHERE destination = 'quarantine' AND message_id = $1")
            .bind(message_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
