//! `samverkan preview` and the daemon share one meeting state machine: at every step of a
//! scenario with a move, a case withdrawn after the summons and a cancel, the daemon's pass
//! (`scheduler::tick_at`, which writes each step to the store) leaves the store exactly in the
//! state the pure transition (`core::plan::settle`, which preview runs) computes from the same
//! starting state, queues exactly the mails the pure mail plan lists, and preview describes
//! the same steps. On a SQLite file and on the throwaway PostgreSQL.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use samverkan::app::App;
use samverkan::core::plan::{self, MeetingView};
use samverkan::store::NewCase;

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("timestamp").with_timezone(&Utc)
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// An app (no mail servers: the pass only queues mail) on a fresh database of the engine.
async fn app(engine: &str, dir: &Path) -> Arc<App> {
    let database = if engine == "postgres" {
        let pg = common::pg();
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::fs::write(dir.join("pgpassword"), &pg.password).expect("pg password");
        let url = pg.fresh_database(&format!("agree_{}_{n}", std::process::id()));
        format!("url = \"{url}\"\npassword_file = \"pgpassword\"\ninstance = \"agree\"")
    } else {
        "path = \"samverkan.db\"".to_string()
    };
    std::fs::write(dir.join("password"), "x").expect("password");
    let text = format!(
        r#"
[database]
{database}

[templates]
dir = "{templates}"

[imap]
host = "localhost"
user = "samverkan@kommun.test"
password_file = "password"

[smtp]
host = "localhost"

[[forum]]
id = "iof-aof"
name = "Samverkan IoF och ÄoF"
mailbox = "samverkan@kommun.test"
convenor = {{ name = "Sara Sammankallande", address = "sara@kommun.test" }}

[[forum.unit]]
name = "Barn och unga"
deputy_heads = ["anna@kommun.test"]

[[forum.unit]]
name = "Vuxenenheten"
deputy_heads = ["lars@kommun.test"]

[[forum.member]]
name = "Anna Berg"
address = "anna@kommun.test"
unit = "Barn och unga"

[[forum.member]]
name = "Lars Ek"
address = "lars@kommun.test"
unit = "Vuxenenheten"

[forum.schedule]
rrule = "FREQ=WEEKLY;BYDAY=TU"
first = "2027-01-05T13:00"
duration = "1h"
kinds = ["samverkansmöte"]
place = "Stadshuset, sal 3"
cutoff_days_before = 1
cutoff_time = "12:00"
invite_lead = "7d"
"#,
        templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates").display(),
    );
    let path = dir.join("samverkan.toml");
    std::fs::write(&path, text).expect("config");
    let cfg = samverkan::config::load(&path).expect("config is valid");
    App::open_offline(cfg).await.expect("app")
}

async fn views(app: &App, now: DateTime<Utc>) -> Vec<MeetingView> {
    app.store
        .meeting_views(now - Duration::days(1), now + Duration::days(14))
        .await
        .expect("meeting views")
}

async fn outbox_count(app: &App) -> i64 {
    app.store.due_outbox_count(ts("2100-01-01T00:00:00Z")).await.expect("outbox count")
}

async fn submit(app: &App, submitter: &str, unit: &str, meeting_id: i64, now: DateTime<Utc>) -> i64 {
    let sections = serde_json::json!({
        "name_age": "K.L. 15 år",
        "background": "Bakgrund.",
        "situation": "Situation.",
        "question": "Fråga.",
    })
    .to_string();
    let units = serde_json::json!([unit]).to_string();
    let id = format!("{submitter}-{meeting_id}@kommun.test");
    let mut tx = app.store.begin().await.expect("tx");
    let (case, _) = tx
        .insert_case(&NewCase {
            forum_id: "iof-aof",
            year: 2027,
            status: "submitted",
            submitter,
            message_id: &id,
            content_hash: &id,
            sections_json: &sections,
            meeting_id: Some(meeting_id),
            urgent: false,
            units_json: &units,
            received_at: now,
            now,
        })
        .await
        .expect("insert case");
    tx.commit().await.expect("commit");
    case
}

/// One pass at `now`, checked against the pure state machine; returns the actions' names.
async fn step(app: &App, now: DateTime<Utc>) -> Vec<&'static str> {
    // Intake has read the inbox through `now`; cases of a cancelled meeting find their next one.
    app.store.mark_synced("INBOX", 0, now).await.expect("synced");
    app.materialize_meetings(now).await.expect("meetings");
    samverkan::scheduler::reassign_cases(app, now).await.expect("reassign");
    let before = views(app, now).await;
    let mut expected = before.clone();
    let mut last = app.store.last_note_takers().await.expect("note takers");
    let preview_last = last.clone();
    let steps = plan::settle(&mut expected, &app.cfg, &mut last, now, now);
    // One outbox row per planned mail (the decisions request is one mail to the note taker
    // and the convenor).
    let mails: usize = steps.iter().map(|s| plan::mails(&s.before, &s.after, &s.action).len()).sum();
    let queued_before = outbox_count(app).await;
    let pass = samverkan::scheduler::tick_at(app, now).await.expect("pass");
    let queued = outbox_count(app).await - queued_before;
    let done: Vec<_> = pass.actions.iter().map(|(a, _)| a.clone()).collect();
    let planned: Vec<_> = steps.iter().map(|s| s.action.clone()).collect();
    assert_eq!(done, planned, "at {now}: the daemon carried out what the pure state machine plans");
    assert_eq!(
        views(app, now).await,
        expected,
        "at {now}: the store holds the state the pure transition computed"
    );
    assert_eq!(
        queued as usize, mails,
        "at {now}: the daemon queued the mails the pure mail plan lists"
    );
    // Preview, from the same starting state, describes the same steps at this instant.
    let lines = samverkan::preview::meetings(&app.cfg, before, preview_last, now, now + Duration::seconds(1));
    assert_eq!(lines.len(), steps.len(), "at {now}: preview lines {lines:#?}");
    assert!(lines.iter().all(|(t, _)| *t == now), "{lines:#?}");
    // Nothing more is due at the same instant.
    let again = samverkan::scheduler::tick_at(app, now).await.expect("pass again");
    assert!(again.actions.is_empty(), "at {now}: a second pass found {:?}", again.actions);
    steps.iter().map(|s| s.action.name()).collect()
}

async fn meeting_on(app: &App, day: &str, now: DateTime<Utc>) -> MeetingView {
    views(app, now)
        .await
        .into_iter()
        .find(|m| m.occurrence == day)
        .unwrap_or_else(|| panic!("meeting {day}"))
}

async fn scenario(engine: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(engine, dir.path()).await;
    app.store.set_uidvalidity("INBOX", 1).await.expect("uidvalidity");

    // 4 January: the meeting of 5 January has no cases at its cutoff: not held.
    assert_eq!(step(&app, ts("2027-01-04T12:00:00Z")).await, ["not_held"], "{engine}");
    let m2 = meeting_on(&app, "2027-01-12", ts("2027-01-04T12:00:00Z")).await;
    let _anna = submit(&app, "anna@kommun.test", "Barn och unga", m2.id, ts("2027-01-04T13:00:00Z")).await;
    let lars = submit(&app, "lars@kommun.test", "Vuxenenheten", m2.id, ts("2027-01-04T13:05:00Z")).await;

    // 5 January: the convenor holds the date of the 12th.
    assert_eq!(step(&app, ts("2027-01-05T12:00:00Z")).await, ["invited"], "{engine}");

    // An admin moves the meeting an hour later, to another room: the convenor gets the change.
    let moved = app
        .store
        .move_meeting(
            m2.id,
            ts("2027-01-12T13:00:00Z"),
            ts("2027-01-12T14:00:00Z"),
            Some("Sal 4"),
            ts("2027-01-05T14:00:00Z"),
        )
        .await
        .expect("move");
    assert!(moved);
    assert_eq!(step(&app, ts("2027-01-06T08:00:00Z")).await, ["updated"], "{engine}");

    // The cutoff: the summons (SEQUENCE raised over the convenor's version) and, at the same
    // instant, the convenor's digest.
    assert_eq!(step(&app, ts("2027-01-11T11:00:01Z")).await, ["summoned", "digest"], "{engine}");
    let summoned = meeting_on(&app, "2027-01-12", ts("2027-01-11T11:00:01Z")).await;
    assert_eq!(summoned.sequence, 2, "{engine}: hold-the-date 0, move 1, summons 2");
    assert_eq!(summoned.invitations.iter().filter(|i| i.active).count(), 3, "{engine}");

    // Lars withdraws his case after the summons: he is no longer summoned.
    let mut tx = app.store.begin().await.expect("tx");
    tx.update_case(lars, "{}", "withdrawn", None, ts("2027-01-11T12:00:00Z"))
        .await
        .expect("withdraw");
    tx.commit().await.expect("commit");
    assert_eq!(step(&app, ts("2027-01-11T13:00:00Z")).await, ["attendees_changed"], "{engine}");
    let changed = meeting_on(&app, "2027-01-12", ts("2027-01-11T13:00:00Z")).await;
    assert_eq!(changed.sequence, 3, "{engine}");
    let lars_inv = changed.invitations.iter().find(|i| i.address == "lars@kommun.test").expect("lars");
    assert!(!lars_inv.active, "{engine}: Lars is cancelled");

    // Anna has not answered three hours after her summons: the RSVP reminder.
    assert_eq!(step(&app, ts("2027-01-11T14:30:00Z")).await, ["reminded"], "{engine}");

    // An admin cancels the meeting: everyone still invited gets a CANCEL; Anna's case goes to
    // the next meeting.
    assert!(app.store.cancel_meeting(m2.id, ts("2027-01-11T15:00:00Z")).await.expect("cancel"));
    assert_eq!(step(&app, ts("2027-01-11T15:30:00Z")).await, ["cancelled"], "{engine}");
    let cancelled = meeting_on(&app, "2027-01-12", ts("2027-01-11T15:30:00Z")).await;
    assert!(cancelled.invitations.iter().all(|i| !i.active), "{engine}");
    assert_eq!(cancelled.sequence, 4, "{engine}");
    let next = meeting_on(&app, "2027-01-19", ts("2027-01-11T15:30:00Z")).await;
    assert_eq!(next.cases.len(), 1, "{engine}: Anna's case is on the 19th");

    // The 19th: hold-the-date, then the summons of Anna alone.
    assert_eq!(step(&app, ts("2027-01-12T12:00:00Z")).await, ["invited"], "{engine}");
    assert_eq!(step(&app, ts("2027-01-18T11:00:01Z")).await, ["summoned", "digest"], "{engine}");
}

#[tokio::test]
async fn preview_and_daemon_agree_on_sqlite() {
    scenario("sqlite").await;
}

#[tokio::test]
async fn preview_and_daemon_agree_on_postgres() {
    scenario("postgres").await;
}
