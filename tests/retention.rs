//! Retention on both engines: every table is seeded with personal data carrying a marker, and
//! after the retention time nothing with the marker is left anywhere in the database: on
//! SQLite in the file's bytes (and the log's), before and after `VACUUM`; on PostgreSQL in
//! every text and bytea column of every table (information_schema). The case numbers,
//! statuses and dates stay. And a case the routine still works on is kept until it is done.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use samverkan::admin::purge_database;
use samverkan::config::Retention;
use samverkan::store::{Backend, Store, Target};
use sqlx::{AssertSqlSafe, Row};

/// The personal data's marker: in names, addresses, parts, mail bodies, errors.
const M: &str = "QXZMARKER";

/// Every text or blob column of the schema, and whether it may hold personal data (the seed
/// puts the marker in those). A column added later fails the test until it is listed here, and
/// a personal one until the purge wipes it.
const COLUMNS: &[(&str, &str, bool)] = &[
    ("mailbox_state", "mailbox", false),
    ("mailbox_state", "last_sync_at", false),
    ("case_counter", "forum_id", false),
    ("cases", "forum_id", false),
    ("cases", "case_no", false),
    ("cases", "status", false),
    ("cases", "submitter", true),
    ("cases", "message_id", true),
    ("cases", "content_hash", true),
    ("cases", "sections_json", true),
    ("cases", "received_at", false),
    ("cases", "created_at", false),
    ("cases", "updated_at", false),
    ("cases", "units_json", true),
    ("cases", "follow_up_on", false),
    ("cases", "handover_json", true),
    // A birthday (the day the person turns 19 or 21): a date, checked on its own below.
    ("cases", "transfer_on", true),
    ("cases", "closed_at", false),
    ("intake", "mailbox", false),
    ("intake", "message_id", true),
    ("intake", "received_at", false),
    ("intake", "processed_at", false),
    ("intake", "kind", false),
    ("intake", "outcome", false),
    ("intake", "destination", false),
    ("intake", "moved_at", false),
    // Ours: samverkan.KIND.HASH@DOMAIN.
    ("outbox", "message_id", false),
    ("outbox", "kind", false),
    ("outbox", "forum_id", false),
    // The forum's own address.
    ("outbox", "env_from", false),
    ("outbox", "env_to", true),
    ("outbox", "status", false),
    ("outbox", "next_attempt_at", false),
    // An SMTP answer can quote the recipient.
    ("outbox", "last_error", true),
    ("outbox", "created_at", false),
    ("outbox", "sent_at", false),
    ("outbox", "claimed_by", false),
    ("outbox_body", "mime", true),
    ("meetings", "forum_id", false),
    ("meetings", "occurrence", false),
    ("meetings", "kind", false),
    ("meetings", "starts_at", false),
    ("meetings", "ends_at", false),
    // From the configuration or `meeting move --place`: a room or a video link.
    ("meetings", "place", false),
    ("meetings", "status", false),
    ("meetings", "created_at", false),
    ("meetings", "updated_at", false),
    ("meetings", "invited_at", false),
    ("meetings", "summoned_at", false),
    ("meetings", "note_taker", true),
    ("meetings", "uid", false),
    ("meetings", "digest_cutoff_at", false),
    ("meetings", "digest_morning_at", false),
    ("meetings", "decisions_requested_at", false),
    ("invitations", "address", true),
    ("invitations", "name", true),
    ("invitations", "role", false),
    ("invitations", "partstat", false),
    ("invitations", "partstat_at", false),
    ("invitations", "partstat_source", false),
    ("invitations", "created_at", false),
    ("invitations", "reminded_at", false),
    ("obligations", "forum_id", false),
    ("obligations", "kind", false),
    ("obligations", "owners", true),
    ("obligations", "escalate_to", true),
    ("obligations", "remind_at", false),
    ("obligations", "escalate_at", false),
    ("obligations", "reminded_at", false),
    ("obligations", "escalated_at", false),
    ("obligations", "opened_at", false),
    ("obligations", "closed_at", false),
    ("obligations", "closed_by", true),
    ("obligations", "data_json", true),
    // Ours, like outbox.message_id.
    ("obligations", "request_message_id", false),
    // The daemon's own Message-IDs of the mails about an obligation.
    ("obligation_mails", "message_id", false),
    // Deviations: rule, natural key and times stay; units and the collector's answer go.
    ("deviations", "forum_id", false),
    ("deviations", "rule", false),
    ("deviations", "subject", false),
    ("deviations", "units_json", true),
    ("deviations", "due_at", false),
    ("deviations", "detected_at", false),
    ("deviations", "notified_at", false),
    ("deviations", "digest_at", false),
    ("deviations", "dismissed_at", false),
    ("deviations", "dismissed_by", true),
    ("deviations", "dismiss_reason", true),
    // OAuth2 login: the provider block's name, the device flow's refresh token (a credential
    // of the mailbox, needed to run, no person's data) and the admin-action state.
    ("oauth_state", "provider", false),
    ("oauth_state", "refresh_token", false),
    ("oauth_state", "admin_action", false),
    ("oauth_state", "admin_since", false),
    ("oauth_state", "updated_at", false),
    // The routines around one person (issue 18): a person who left goes whole.
    ("people", "forum_id", false),
    ("people", "routine_id", false),
    ("people", "reference", true),
    ("people", "initials", true),
    ("people", "started_on", true),
    ("people", "contacts_json", true),
    ("people", "extra_json", true),
    ("people", "status", false),
    ("people", "next_due_on", false),
    ("people", "due_basis", false),
    ("people", "registered_by", true),
    ("people", "left_on", false),
    ("people", "created_at", false),
    ("people", "updated_at", false),
    // The daemon's host names and lease names.
    ("instances", "name", false),
    ("instances", "started_at", false),
    ("instances", "alive_until", false),
    ("instances", "version", false),
    ("leases", "name", false),
    ("leases", "holder", false),
    ("leases", "acquired_at", false),
    ("leases", "expires_at", false),
];

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("timestamp").with_timezone(&Utc)
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A fresh store of each engine: (keep-alive for the SQLite file, store).
async fn stores() -> Vec<(Option<tempfile::TempDir>, Store)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open(&dir.path().join("t.db")).await.expect("open sqlite");
    let pg = common::pg();
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let url = pg.fresh_database(&format!("ret_{}_{n}", std::process::id()));
    let postgres = Store::connect(Target::Postgres {
        url: &url,
        password: Some(&pg.password),
    })
    .await
    .expect("open postgres");
    vec![(Some(dir), sqlite), (None, postgres)]
}

fn days(case: u32, open: u32, incomplete: u32, mail: u32) -> Retention {
    Retention {
        case_days: case,
        open_case_days: open,
        incomplete_days: incomplete,
        mail_days: mail,
    }
}

async fn exec(s: &Store, sql: String) {
    sqlx::query(AssertSqlSafe(sql.clone()))
        .execute(s.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

const T: &str = "2026-01-05T10:00:00.000Z";

/// The states a case can be in.
const STATES: [&str; 8] = [
    "incomplete",
    "submitted",
    "handover",
    "follow_up",
    "escalated",
    "closed",
    "withdrawn",
    "handed_over",
];

/// A row in every table, personal data marked, all of it from January 2026.
async fn seed(s: &Store) {
    exec(
        s,
        format!("INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid, last_sync_at) VALUES ('INBOX', 1, 9, '{T}')"),
    )
    .await;
    exec(
        s,
        "INSERT INTO case_counter (forum_id, year, last_number) VALUES ('f', 2026, 8)".into(),
    )
    .await;
    exec(
        s,
        format!(
            "INSERT INTO meetings (id, forum_id, occurrence, kind, starts_at, ends_at, place, created_at, updated_at, note_taker, uid)
             VALUES (1, 'f', '2026-01-10', 'samverkansmote', '2026-01-10T09:00:00.000Z', '2026-01-10T10:00:00.000Z', 'Rum 1',
                     '{T}', '{T}', '{M}-note@x', 'uid-1')"
        ),
    )
    .await;
    for (i, status) in STATES.iter().enumerate() {
        let id = i + 1;
        let meeting = if *status == "incomplete" { "NULL" } else { "1" };
        exec(
            s,
            format!(
                "INSERT INTO cases (id, forum_id, case_no, status, submitter, message_id, content_hash, sections_json, received_at,
                                    created_at, updated_at, meeting_id, units_json, follow_up_on, handover_json, transfer_on)
                 VALUES ({id}, 'f', '2026-000{id}', '{status}', '{M}-sub@x', '<{M}-{id}@x>', '{M}{id}', '{{\"name_age\":\"{M} 15 år\"}}',
                         '{T}', '{T}', '{T}', {meeting}, '[\"{M}-unit\"]', '2026-02-01', '{{\"background\":\"{M}\"}}', '2026-03-01')"
            ),
        )
        .await;
        exec(
            s,
            format!(
                "INSERT INTO intake (mailbox, uidvalidity, uid, message_id, received_at, processed_at, kind, outcome, destination, moved_at, case_id)
                 VALUES ('INBOX', 1, {id}, '<{M}-in{id}@x>', '{T}', '{T}', 'submission', 'case_created', 'processed', '{T}', {id})"
            ),
        )
        .await;
    }
    // Outgoing mail: a sent receipt, a failed digest of the meeting, a mail still queued for the
    // submitted case (which the purge wipes), an agenda.
    for (id, status, case, meeting) in [
        (1, "sent", "1", "NULL"),
        (2, "failed", "NULL", "1"),
        (3, "pending", "2", "1"),
        (4, "sent", "NULL", "1"),
    ] {
        exec(
            s,
            format!(
                "INSERT INTO outbox (id, message_id, kind, forum_id, case_id, env_from, env_to, status, attempts, next_attempt_at,
                                     last_error, created_at, sent_at, meeting_id, claimed_by)
                 VALUES ({id}, 'samverkan.receipt.{id}@f', 'receipt', 'f', {case}, 'f@x', '[\"{M}-to@x\"]', '{status}', 1, '{T}',
                         '550 <{M}-to@x> unknown', '{T}', '{T}', {meeting}, '')"
            ),
        )
        .await;
        sqlx::query("INSERT INTO outbox_body (outbox_id, mime) VALUES ($1, $2)")
            .bind(id)
            .bind(format!("To: {M}-to@x\r\nSubject: 2026-0001\r\n\r\nNamn och ålder: {M}\r\n").into_bytes())
            .execute(s.pool())
            .await
            .expect("body");
    }
    exec(
        s,
        format!(
            "INSERT INTO invitations (meeting_id, address, name, role, partstat, partstat_at, partstat_source, sequence_sent, created_at)
             VALUES (1, '{M}-inv@x', '{M} Namn', 'REQ-PARTICIPANT', 'ACCEPTED', '{T}', 'icalendar', 0, '{T}')"
        ),
    )
    .await;
    // Obligations of every kind, open and closed, of cases and of the meeting.
    for (id, kind, case, open, data) in [
        (1, "decisions", "NULL", true, "{}".to_string()),
        (2, "notes", "NULL", false, "{}".into()),
        (3, "adjust", "NULL", true, "{}".into()),
        (4, "handover_info", "3", true, "{\"unit\":\"U\"}".into()),
        (
            5,
            "handover_confirm",
            "8",
            false,
            format!("{{\"unit\":\"U\",\"from\":\"{M}-sub@x\"}}"),
        ),
        (6, "escalation_ack", "5", true, "{}".into()),
        (7, "follow_up", "4", true, "{\"date\":\"2026-02-01\"}".into()),
        (8, "age_transfer", "2", true, "{\"date\":\"2026-03-01\",\"unit\":\"U\"}".into()),
    ] {
        let (closed_at, closed_by) = if open { ("", String::new()) } else { (T, format!("{M}-closer@x")) };
        let meeting = if case == "NULL" { "1" } else { "NULL" };
        exec(
            s,
            format!(
                "INSERT INTO obligations (id, forum_id, kind, case_id, meeting_id, owners, escalate_to, remind_at, escalate_at,
                                          reminded_at, escalated_at, opened_at, closed_at, closed_by, data_json, request_message_id)
                 VALUES ({id}, 'f', '{kind}', {case}, {meeting}, '[\"{M}-owner@x\"]', '[\"{M}-head@x\"]', '2026-01-12T07:00:00.000Z',
                         '2026-01-19T07:00:00.000Z', '2026-01-12T07:00:00.000Z', '', '{T}', '{closed_at}', '{closed_by}', '{data}',
                         'samverkan.x.{id}@f')"
            ),
        )
        .await;
    }
    exec(
        s,
        "INSERT INTO obligation_mails (message_id, obligation_id) VALUES ('samverkan.x.5@f', 5)".into(),
    )
    .await;
    // A deviation of a case (wiped with it) and one of the meeting (past the case time).
    for (id, case, meeting, subject) in [(1, "8", "NULL", "obligation:5"), (2, "NULL", "1", "meeting:1")] {
        exec(
            s,
            format!(
                "INSERT INTO deviations (id, forum_id, rule, subject, case_id, meeting_id, units_json, due_at, detected_at,
                                         dismissed_at, dismissed_by, dismiss_reason)
                 VALUES ({id}, 'f', 'notes_late', '{subject}', {case}, {meeting}, '[\"{M}-unit\"]', '2026-01-19T07:00:00.000Z', '{T}',
                         '{T}', '{M}-collector@x', 'Ingen avvikelse: {M}')"
            ),
        )
        .await;
    }
    exec(
        s,
        format!(
            "INSERT INTO oauth_state (provider, refresh_token, admin_action, admin_since, updated_at)
             VALUES ('device', 'rt-1', 'invalid_grant', '{T}', '{T}')"
        ),
    )
    .await;
    // A person who left the routine, and one still in it (kept: the routine works on them).
    exec(
        s,
        format!(
            "INSERT INTO people (id, forum_id, routine_id, reference, initials, started_on, contacts_json, extra_json, status,
                                 next_due_on, due_basis, registered_by, left_on, created_at, updated_at)
             VALUES (1, 'f', 'r', '{M}-ref', '{M}', '{M}-2025-12-01', '{{\"boende\":\"{M}-c@x\"}}', '[\"{M}-rep@x\"]', 'left',
                     '', 'yearly', '{M}-reg@x', '2026-01-10', '{T}', '{T}')"
        ),
    )
    .await;
    exec(
        s,
        format!("INSERT INTO instances (name, started_at, alive_until, version, pid) VALUES ('host-a', '{T}', '{T}', '0.1', 1)"),
    )
    .await;
    exec(
        s,
        format!("INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ('scheduler', 'host-a', '{T}', '{T}')"),
    )
    .await;
}

/// The schema's tables and their text/blob columns (not sqlx's own table).
async fn schema(s: &Store) -> Vec<(String, String, bool)> {
    let sql = match s.backend() {
        Backend::Sqlite => {
            "SELECT m.name, p.name, CASE WHEN p.type = 'BLOB' THEN 1 ELSE 0 END FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name != '_sqlx_migrations' AND p.type IN ('TEXT', 'BLOB')
             ORDER BY 1, 2"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text, CASE WHEN data_type = 'bytea' THEN 1 ELSE 0 END FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name != '_sqlx_migrations'
               AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')
             ORDER BY 1, 2"
        }
    };
    sqlx::query(sql)
        .fetch_all(s.pool())
        .await
        .expect("schema")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get::<i64, _>(2) != 0))
        .collect()
}

/// The columns (table.column) where the marker is found, reading every text and blob column.
async fn marked_columns(s: &Store) -> Vec<String> {
    let mut found = Vec::new();
    for (table, column, blob) in schema(s).await {
        let hit = match (s.backend(), blob) {
            (Backend::Sqlite, _) => format!("instr(CAST({column} AS BLOB), CAST($1 AS BLOB)) > 0"),
            (Backend::Postgres, false) => format!("position($1 in {column}::text) > 0"),
            (Backend::Postgres, true) => format!("position(convert_to($1, 'UTF8') in {column}) > 0"),
        };
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table} WHERE {hit}")))
            .bind(M)
            .fetch_one(s.pool())
            .await
            .expect("scan");
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found.sort();
    found
}

/// Whether the marker's bytes are in the SQLite file or its log.
fn in_sqlite_files(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for name in ["t.db", "t.db-wal"] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else { continue };
        if bytes.windows(M.len()).any(|w| w == M.as_bytes()) {
            found.push(name.to_string());
        }
    }
    found
}

#[tokio::test]
async fn after_the_retention_time_no_personal_data_is_left_anywhere() {
    for (dir, s) in stores().await {
        let name = format!("{:?}", s.backend());
        seed(&s).await;
        // Every table is seeded, and every text column is known to this test.
        let schema = schema(&s).await;
        let mut tables: Vec<&str> = schema.iter().map(|(t, _, _)| t.as_str()).collect();
        tables.dedup();
        for t in &tables {
            let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
                .fetch_one(s.pool())
                .await
                .expect("count");
            assert!(n > 0, "{name}: table {t} is not seeded");
        }
        let known: Vec<(String, String)> = COLUMNS.iter().map(|(t, c, _)| (t.to_string(), c.to_string())).collect();
        let actual: Vec<(String, String)> = schema.iter().map(|(t, c, _)| (t.clone(), c.clone())).collect();
        for tc in &actual {
            assert!(known.contains(tc), "{name}: column {tc:?} is not classified in COLUMNS");
        }
        for tc in &known {
            assert!(actual.contains(tc), "{name}: COLUMNS lists {tc:?}, which the schema lacks");
        }
        let personal: Vec<String> = COLUMNS
            .iter()
            .filter(|(_, c, p)| *p && *c != "transfer_on")
            .map(|(t, c, _)| format!("{t}.{c}"))
            .collect();
        assert_eq!(
            marked_columns(&s).await,
            {
                let mut p = personal.clone();
                p.sort();
                p
            },
            "{name}: the seed marks every personal column and nothing else"
        );

        let r = days(365, 365, 90, 90);
        // A month later nothing is old enough.
        let early = purge_database(&s, &r, ts("2026-02-10T00:00:00Z"), true).await.expect("dry run");
        assert_eq!(early.store, Default::default(), "{name}");

        // After the longest time (the transfer date, 2026-03-01, and 365 days).
        let now = ts("2027-03-03T00:00:00Z");
        let dry = purge_database(&s, &r, now, true).await.expect("dry run");
        let rep = purge_database(&s, &r, now, false).await.expect("purge");
        assert_eq!(dry.store, rep.store, "{name}: the dry run counts what the purge does");
        assert_eq!(dry.cases_by_status, rep.cases_by_status, "{name}");
        assert_eq!(
            (rep.store.cases, rep.store.obligations, rep.store.outbox, rep.store.invitations),
            (8, 8, 4, 1),
            "{name}: {rep:?}"
        );
        assert_eq!((rep.store.note_takers, rep.store.intake), (1, 8), "{name}: {rep:?}");
        assert_eq!(rep.store.people, 1, "{name}: the person who left: {rep:?}");
        assert_eq!(rep.store.deviations, 2, "{name}: {rep:?}");
        assert_eq!(rep.cases_by_status.values().sum::<u64>(), 8, "{name}");
        assert!(
            marked_columns(&s).await.is_empty(),
            "{name}: marker left in {:?}",
            marked_columns(&s).await
        );
        // The statistics stay: numbers, states, dates.
        let rows = sqlx::query("SELECT case_no, status, received_at, transfer_on FROM cases ORDER BY id")
            .fetch_all(s.pool())
            .await
            .expect("cases");
        let kept: Vec<(String, String, String, String)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
        for (i, (no, status, received, transfer)) in kept.iter().enumerate() {
            assert_eq!(
                (no.as_str(), status.as_str()),
                (format!("2026-000{}", i + 1).as_str(), STATES[i]),
                "{name}"
            );
            assert_eq!(
                (received.as_str(), transfer.as_str()),
                (T, ""),
                "{name}: the date stays, the birthday goes"
            );
        }
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM obligations WHERE closed_at = ''")
            .fetch_one(s.pool())
            .await
            .expect("open");
        assert_eq!(open, 0, "{name}: abandoned obligations are closed");
        let again = purge_database(&s, &r, now, false).await.expect("again");
        assert_eq!(again.store, Default::default(), "{name}: nothing left to wipe");

        if let Some(dir) = dir {
            // The wiped bytes are not in the file's free space nor in the log (secure_delete,
            // and the log truncated after the purge) ...
            assert_eq!(in_sqlite_files(dir.path()), Vec::<String>::new(), "{name}: before VACUUM");
            // ... nor after a VACUUM rewrote the file.
            sqlx::query("VACUUM").execute(s.pool()).await.expect("vacuum");
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(s.pool())
                .await
                .expect("checkpoint");
            assert_eq!(in_sqlite_files(dir.path()), Vec::<String>::new(), "{name}: after VACUUM");
            s.close().await;
            assert_eq!(in_sqlite_files(dir.path()), Vec::<String>::new(), "{name}: closed");
        }
    }
}

/// Without secure_delete the same purge leaves the wiped bytes in the file's free space: the
/// reason it is on.
#[tokio::test]
async fn without_secure_delete_the_wiped_bytes_stay_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(&dir.path().join("t.db")).await.expect("open");
    seed(&s).await;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(s.pool())
        .await
        .expect("checkpoint");
    assert_eq!(in_sqlite_files(dir.path()), vec!["t.db".to_string()], "the seed is in the file");
    // Every pooled connection, so whichever runs the purge has it off.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = s.pool().acquire().await.expect("conn");
        sqlx::query("PRAGMA secure_delete = OFF").execute(&mut *c).await.expect("off");
        held.push(c);
    }
    drop(held);
    purge_database(&s, &days(365, 365, 90, 90), ts("2027-03-03T00:00:00Z"), false)
        .await
        .expect("purge");
    assert!(marked_columns(&s).await.is_empty(), "logically gone");
    assert_eq!(in_sqlite_files(dir.path()), vec!["t.db".to_string()], "physically still there");
    s.close().await;
}

/// A case the routine still works on keeps its data however old its last change: a future
/// meeting, a follow-up date ahead, a reminder still to come. A case with nothing ahead goes,
/// and a case closed before its meeting does not wait for it. Once the future has passed and
/// its retention time with it, everything goes.
#[tokio::test]
async fn an_active_case_is_kept_until_its_work_is_done() {
    for (_dir, s) in stores().await {
        let name = format!("{:?}", s.backend());
        exec(
            &s,
            format!(
                "INSERT INTO meetings (id, forum_id, occurrence, kind, starts_at, ends_at, created_at, updated_at)
                 VALUES (2, 'f', '2027-01-10', 'samverkansmote', '2027-01-10T09:00:00.000Z', '2027-01-10T10:00:00.000Z', '{T}', '{T}')"
            ),
        )
        .await;
        // (id, status, meeting, follow-up date)
        for (id, status, meeting, follow_up) in [
            (1, "submitted", "2", ""),
            (2, "follow_up", "NULL", "2027-02-01"),
            (3, "handover", "NULL", ""),
            (4, "escalated", "NULL", ""),
            (5, "closed", "2", ""),
        ] {
            exec(
                &s,
                format!(
                    "INSERT INTO cases (id, forum_id, case_no, status, submitter, message_id, content_hash, sections_json, received_at,
                                        created_at, updated_at, meeting_id, follow_up_on)
                     VALUES ({id}, 'f', '2026-000{id}', '{status}', 'a@x', 'm{id}', 'h{id}', '{{\"name_age\":\"A 15\"}}', '{T}', '{T}', '{T}',
                             {meeting}, '{follow_up}')"
                ),
            )
            .await;
        }
        // The handover's reminder is still to come; the escalation's steps were all taken.
        for (id, case, remind_at, reminded_at) in [
            (1, 3, "2027-01-15T07:00:00.000Z", ""),
            (2, 4, "2026-01-12T07:00:00.000Z", "2026-01-12T07:00:00.000Z"),
        ] {
            exec(
                &s,
                format!(
                    "INSERT INTO obligations (id, forum_id, kind, case_id, owners, remind_at, reminded_at, opened_at)
                     VALUES ({id}, 'f', 'handover_info', {case}, '[\"b@x\"]', '{remind_at}', '{reminded_at}', '{T}')"
                ),
            )
            .await;
        }
        let r = days(30, 30, 30, 30);
        let wiped = |rep: &samverkan::admin::PurgeReport| rep.cases_by_status.clone();
        let states = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> { pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect() };
        let rep = purge_database(&s, &r, ts("2026-12-01T00:00:00Z"), false).await.expect("purge");
        assert_eq!(
            wiped(&rep),
            states(&[("closed", 1), ("escalated", 1)]),
            "{name}: only the case with nothing ahead and the closed one go"
        );
        assert_eq!(rep.store.obligations, 1, "{name}: the escalated case's obligation with it");
        let with_data: Vec<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE sections_json != '{}' ORDER BY id")
            .fetch_all(s.pool())
            .await
            .expect("ids");
        assert_eq!(with_data, vec![1, 2, 3], "{name}");
        // 30 days after the meeting, the follow-up date and the reminder.
        let rep = purge_database(&s, &r, ts("2027-02-10T00:00:00Z"), false).await.expect("purge");
        assert_eq!(wiped(&rep), states(&[("submitted", 1)]), "{name}");
        let rep = purge_database(&s, &r, ts("2027-03-04T00:00:00Z"), false).await.expect("purge");
        assert_eq!(wiped(&rep), states(&[("follow_up", 1), ("handover", 1)]), "{name}");
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE sections_json != '{}' OR submitter != ''")
            .fetch_one(s.pool())
            .await
            .expect("left");
        assert_eq!(left, 0, "{name}: nothing keeps data forever");
    }
}
