//! `samverkan db copy`: moves an installation's state from one database to another (SQLite
//! to PostgreSQL for a scale-out, or back), table by table in one transaction on the
//! destination. Runtime state (`instances`, `leases`) is not copied: the new instances write
//! their own.

use anyhow::{Context, Result, bail};
use sqlx::Row;

use super::{Backend, Store};

/// How a column is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Blob,
}

/// The tables copied, parents before children (foreign keys), with every column. A test
/// (`copy_spec_matches_the_schema`) checks this against the migrated schema, so a column added
/// by a later migration cannot be forgotten here.
pub const TABLES: &[(&str, &[(&str, Kind)])] = {
    use Kind::*;
    &[
        (
            "mailbox_state",
            &[
                ("mailbox", Text),
                ("uidvalidity", Int),
                ("last_uid", Int),
                ("last_sync_at", Text),
                ("batches", Int),
            ],
        ),
        ("case_counter", &[("forum_id", Text), ("year", Int), ("last_number", Int)]),
        (
            "oauth_state",
            &[
                ("provider", Text),
                ("refresh_token", Text),
                ("admin_action", Text),
                ("admin_since", Text),
                ("updated_at", Text),
            ],
        ),
        (
            "meetings",
            &[
                ("id", Int),
                ("forum_id", Text),
                ("occurrence", Text),
                ("kind", Text),
                ("starts_at", Text),
                ("ends_at", Text),
                ("place", Text),
                ("status", Text),
                ("sequence", Int),
                ("created_at", Text),
                ("updated_at", Text),
                ("invited_at", Text),
                ("summoned_at", Text),
                ("note_taker", Text),
                ("uid", Text),
                ("digest_cutoff_at", Text),
                ("digest_morning_at", Text),
                ("decisions_requested_at", Text),
            ],
        ),
        (
            "cases",
            &[
                ("id", Int),
                ("forum_id", Text),
                ("case_no", Text),
                ("status", Text),
                ("submitter", Text),
                ("message_id", Text),
                ("content_hash", Text),
                ("sections_json", Text),
                ("received_at", Text),
                ("created_at", Text),
                ("updated_at", Text),
                ("meeting_id", Int),
                ("urgent", Int),
                ("units_json", Text),
                ("follow_up_on", Text),
                ("handover_json", Text),
                ("transfer_on", Text),
                ("closed_at", Text),
            ],
        ),
        (
            "intake",
            &[
                ("id", Int),
                ("mailbox", Text),
                ("uidvalidity", Int),
                ("uid", Int),
                ("message_id", Text),
                ("received_at", Text),
                ("processed_at", Text),
                ("kind", Text),
                ("outcome", Text),
                ("destination", Text),
                ("moved_at", Text),
                ("case_id", Int),
            ],
        ),
        (
            "outbox",
            &[
                ("id", Int),
                ("message_id", Text),
                ("kind", Text),
                ("forum_id", Text),
                ("case_id", Int),
                ("env_from", Text),
                ("env_to", Text),
                ("status", Text),
                ("attempts", Int),
                ("next_attempt_at", Text),
                ("last_error", Text),
                ("created_at", Text),
                ("sent_at", Text),
                ("meeting_id", Int),
                ("claimed_by", Text),
            ],
        ),
        ("outbox_body", &[("outbox_id", Int), ("mime", Blob)]),
        (
            "invitations",
            &[
                ("id", Int),
                ("meeting_id", Int),
                ("address", Text),
                ("name", Text),
                ("role", Text),
                ("partstat", Text),
                ("partstat_at", Text),
                ("partstat_source", Text),
                ("sequence_sent", Int),
                ("active", Int),
                ("created_at", Text),
                ("partstat_sequence", Int),
                ("reminded_at", Text),
                ("undeliverable", Int),
                ("delegate", Int),
            ],
        ),
        (
            "obligations",
            &[
                ("id", Int),
                ("forum_id", Text),
                ("kind", Text),
                ("case_id", Int),
                ("meeting_id", Int),
                ("owners", Text),
                ("escalate_to", Text),
                ("remind_at", Text),
                ("escalate_at", Text),
                ("reminded_at", Text),
                ("escalated_at", Text),
                ("opened_at", Text),
                ("closed_at", Text),
                ("closed_by", Text),
                ("data_json", Text),
                ("request_message_id", Text),
            ],
        ),
        ("obligation_mails", &[("message_id", Text), ("obligation_id", Int)]),
        (
            "people",
            &[
                ("id", Int),
                ("forum_id", Text),
                ("routine_id", Text),
                ("reference", Text),
                ("initials", Text),
                ("started_on", Text),
                ("contacts_json", Text),
                ("extra_json", Text),
                ("status", Text),
                ("next_due_on", Text),
                ("due_basis", Text),
                ("meetings_held", Int),
                ("registered_by", Text),
                ("left_on", Text),
                ("created_at", Text),
                ("updated_at", Text),
            ],
        ),
        (
            "deviations",
            &[
                ("id", Int),
                ("forum_id", Text),
                ("rule", Text),
                ("subject", Text),
                ("case_id", Int),
                ("meeting_id", Int),
                ("units_json", Text),
                ("due_at", Text),
                ("detected_at", Text),
                ("notified_at", Text),
                ("digest_at", Text),
                ("dismissed_at", Text),
                ("dismissed_by", Text),
                ("dismiss_reason", Text),
            ],
        ),
    ]
};

/// Tables that hold runtime state only, never copied.
pub const NOT_COPIED: &[&str] = &["instances", "leases"];

/// Rows copied per table.
pub type Report = Vec<(&'static str, u64)>;

const CHUNK: usize = 200;

impl Store {
    /// Copies every table into `dest`, which must be empty (freshly migrated). One transaction
    /// on the destination: it has all of the state or none of it. PostgreSQL's id sequences are
    /// moved past the copied ids.
    pub async fn copy_into(&self, dest: &Store) -> Result<Report> {
        for (table, _) in TABLES {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&dest.pool)
                .await?;
            if n > 0 {
                bail!("the destination is not empty: table {table} has {n} row(s); copy only into a new database");
            }
        }
        let mut tx = dest.begin().await?;
        let mut report = Vec::new();
        for (table, cols) in TABLES {
            let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
            let order = if cols[0].0 == "id" { "id" } else { names[0] };
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM {table} ORDER BY {order}",
                names.join(", ")
            )))
            .fetch_all(&self.pool)
            .await
            .with_context(|| format!("reading {table}"))?;
            for chunk in rows.chunks(CHUNK) {
                let mut values = Vec::with_capacity(chunk.len());
                let mut p = 0;
                for _ in chunk {
                    let params: Vec<String> = (0..cols.len())
                        .map(|_| {
                            p += 1;
                            format!("${p}")
                        })
                        .collect();
                    values.push(format!("({})", params.join(", ")));
                }
                let sql = format!("INSERT INTO {table} ({}) VALUES {}", names.join(", "), values.join(", "));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    for (i, (_, kind)) in cols.iter().enumerate() {
                        q = match kind {
                            Kind::Int => q.bind(r.try_get::<Option<i64>, _>(i)?),
                            Kind::Text => q.bind(r.try_get::<Option<String>, _>(i)?),
                            Kind::Blob => q.bind(r.try_get::<Option<Vec<u8>>, _>(i)?),
                        };
                    }
                }
                q.execute(tx.conn()).await.with_context(|| format!("writing {table}"))?;
            }
            if dest.backend == Backend::Postgres && cols[0].0 == "id" {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )))
                .execute(tx.conn())
                .await
                .with_context(|| format!("moving the id sequence of {table}"))?;
            }
            report.push((*table, rows.len() as u64));
        }
        tx.commit().await?;
        Ok(report)
    }

    /// The columns of `table` in this database, in order (for checking [`TABLES`]).
    pub async fn columns(&self, table: &str) -> Result<Vec<String>> {
        let sql = match self.backend {
            Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            Backend::Postgres => {
                format!("SELECT column_name::text FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position")
            }
        };
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?)
    }

    /// Every table of this database but sqlx's own.
    pub async fn tables(&self) -> Result<Vec<String>> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%' ESCAPE '\\' ORDER BY table_name"
            }
        };
        Ok(sqlx::query_scalar(sql).fetch_all(&self.pool).await?)
    }
}
