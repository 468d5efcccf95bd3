//! The store on both engines: every scenario runs on a SQLite file and on the throwaway
//! PostgreSQL (`tests/pgstack`), so one set of statements is checked against both dialects.
//! Plus what only matters with several instances: leases and outbox claims.

mod common;

use chrono::{DateTime, Utc};
use samverkan::store::{IntakeRecord, NewCase, Outgoing, Store, Target, read};

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("timestamp").with_timezone(&Utc)
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A fresh store of each engine: (name, keep-alive, store).
async fn stores() -> Vec<(&'static str, Option<tempfile::TempDir>, Store)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open(&dir.path().join("t.db")).await.expect("open sqlite");
    let pg = common::pg();
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let url = pg.fresh_database(&format!("st_{}_{n}", std::process::id()));
    let postgres = Store::connect(Target::Postgres {
        url: &url,
        password: Some(&pg.password),
    })
    .await
    .expect("open postgres");
    vec![("sqlite", Some(dir), sqlite), ("postgres", None, postgres)]
}

/// The intake record of a submission that made a case, in INBOX at UIDVALIDITY 7.
fn submission_record(now: DateTime<Utc>, uid: u32, message_id: &str) -> IntakeRecord<'_> {
    IntakeRecord {
        mailbox: "INBOX",
        uidvalidity: 7,
        uid,
        message_id,
        received_at: now,
        processed_at: now,
        kind: "submission",
        outcome: "case_created",
        destination: "processed",
        case_id: None,
    }
}

fn outgoing(id: &str) -> Outgoing {
    Outgoing {
        message_id: id.into(),
        kind: "receipt".into(),
        forum_id: "a".into(),
        case_id: None,
        meeting_id: None,
        env_from: "f@x".into(),
        env_to: vec!["t@x".into()],
        mime: b"Subject: x\r\n\r\nhej\r\n".to_vec(),
    }
}

#[tokio::test]
async fn case_numbers_count_per_forum_and_year() {
    for (name, _d, s) in stores().await {
        let mut tx = s.begin().await.expect("tx");
        assert_eq!(tx.next_case_no("a", 2026).await.expect("n"), "2026-0001", "{name}");
        assert_eq!(tx.next_case_no("a", 2026).await.expect("n"), "2026-0002", "{name}");
        assert_eq!(tx.next_case_no("b", 2026).await.expect("n"), "2026-0001", "{name}");
        assert_eq!(tx.next_case_no("a", 2027).await.expect("n"), "2027-0001", "{name}");
        tx.commit().await.expect("commit");
    }
}

#[tokio::test]
async fn rolled_back_transaction_leaves_nothing() {
    for (name, _d, s) in stores().await {
        let now = ts("2026-05-01T10:00:00Z");
        {
            let mut tx = s.begin().await.expect("tx");
            tx.next_case_no("a", 2026).await.expect("n");
            tx.insert_case(&NewCase {
                forum_id: "a",
                year: 2026,
                status: "submitted",
                submitter: "x@y",
                message_id: "m1",
                content_hash: "h",
                sections_json: "{}",
                meeting_id: None,
                urgent: false,
                units_json: "[]",
                received_at: now,
                now,
            })
            .await
            .expect("insert");
            // dropped without commit
        }
        let st = s.status(&["a".into()]).await.expect("status");
        assert_eq!(st.forums[0].cases, 0, "{name}");
        let mut tx = s.begin().await.expect("tx");
        assert_eq!(
            tx.next_case_no("a", 2026).await.expect("n"),
            "2026-0001",
            "{name}: the number was not used up"
        );
    }
}

#[tokio::test]
async fn intake_is_recorded_once_per_uid() {
    for (name, _d, s) in stores().await {
        let now = ts("2026-05-01T10:00:00Z");
        let rec = submission_record(now, 3, "m@x");
        let mut tx = s.begin().await.expect("tx");
        assert!(tx.record_intake(&rec).await.expect("rec"), "{name}");
        assert!(!tx.record_intake(&rec).await.expect("rec"), "{name}");
        // The full transaction cannot tell before writing (another instance may record it
        // first): intake uses a savepoint there.
        assert_eq!(
            samverkan::store::fast::IntakeTx::recorded_before(&mut tx, "INBOX", 7, 3)
                .await
                .expect("look-up"),
            None,
            "{name}"
        );
        tx.commit().await.expect("commit");
        assert!(s.message_id_seen("m@x").await.expect("seen"), "{name}");
        assert_eq!(
            s.known_uids("INBOX", 7, &[1, 3, 5]).await.expect("known"),
            vec![(3, "processed".to_string())],
            "{name}"
        );
        assert!(s.known_uids("INBOX", 8, &[3]).await.expect("known").is_empty(), "{name}");
        s.mark_moved("INBOX", 7, &[3], now).await.expect("moved");
    }
}

/// Intake's batch: each mail in a savepoint inside one transaction. Reads through the
/// transaction see its uncommitted writes (the pool does not), and a savepoint rolled back
/// takes only its own mail's writes with it.
#[tokio::test]
async fn a_batch_sees_its_own_writes_and_a_savepoint_undoes_one_mail() {
    for (name, _d, s) in stores().await {
        let now = ts("2026-05-01T10:00:00Z");
        let rec = |uid, message_id| submission_record(now, uid, message_id);
        let mut tx = s.begin().await.expect("tx");
        tx.savepoint().await.expect("savepoint");
        assert!(tx.record_intake(&rec(1, "one@x")).await.expect("rec"), "{name}");
        tx.release_savepoint().await.expect("release");
        assert!(read::message_id_seen(tx.conn(), "one@x").await.expect("seen"), "{name}: own write");
        assert!(!s.message_id_seen("one@x").await.expect("seen"), "{name}: not yet committed");
        tx.savepoint().await.expect("savepoint");
        assert!(tx.record_intake(&rec(2, "two@x")).await.expect("rec"), "{name}");
        tx.rollback_to_savepoint().await.expect("rollback to");
        tx.savepoint().await.expect("savepoint");
        assert!(tx.record_intake(&rec(3, "three@x")).await.expect("rec"), "{name}");
        tx.release_savepoint().await.expect("release");
        tx.commit().await.expect("commit");
        assert!(s.message_id_seen("one@x").await.expect("seen"), "{name}");
        assert!(!s.message_id_seen("two@x").await.expect("seen"), "{name}: rolled back alone");
        assert!(s.message_id_seen("three@x").await.expect("seen"), "{name}");
    }
}

async fn sync_level(tx: &mut samverkan::store::Tx) -> i64 {
    sqlx::query_scalar::<_, i64>("PRAGMA synchronous")
        .fetch_one(tx.conn())
        .await
        .expect("pragma")
}

/// On SQLite, the transaction that ends an intake batch syncs its commit (FULL: the level
/// cannot change inside a transaction, so it is its own transaction with a write that always
/// changes a page) and every other write transaction runs at NORMAL, whichever pooled
/// connection it gets.
#[tokio::test]
async fn only_the_batch_end_syncs_on_sqlite() {
    for (name, _d, s) in stores().await {
        s.set_uidvalidity("INBOX", 7).await.expect("uidvalidity");
        for n in 1..=3 {
            s.batch_synced("INBOX").await.expect("synced");
            let b: i64 = sqlx::query_scalar("SELECT batches FROM mailbox_state WHERE mailbox = 'INBOX'")
                .fetch_one(s.pool())
                .await
                .expect("batches");
            assert_eq!(b, n, "{name}: each batch counted, so each commit writes");
        }
        if s.backend() != samverkan::store::Backend::Sqlite {
            continue;
        }
        for _ in 0..6 {
            let mut tx = s.begin().await.expect("tx");
            assert_eq!(sync_level(&mut tx).await, 1, "{name}: NORMAL");
            tx.commit().await.expect("commit");
        }
    }
}

#[tokio::test]
async fn outbox_claims_retries_and_dedupes() {
    for (name, _d, s) in stores().await {
        let now = ts("2026-05-01T10:00:00Z");
        let later = ts("2026-05-01T10:00:30Z");
        s.instance_alive("a", now, ts("2026-05-01T11:00:00Z"), 1).await.expect("alive");
        let mut tx = s.begin().await.expect("tx");
        tx.enqueue(&outgoing("r1@x"), now).await.expect("enqueue");
        tx.enqueue(&outgoing("r1@x"), now).await.expect("enqueue twice");
        tx.commit().await.expect("commit");
        let (row, attempt) = s.claim_next_outbox(now, "a", move |_| later).await.expect("claim").expect("a row");
        assert_eq!((attempt, row.env_to.clone()), (1, vec!["t@x".to_string()]), "{name}");
        assert_eq!(
            row.mime,
            b"Subject: x\r\n\r\nhej\r\n".to_vec(),
            "{name}: the bytes come back as stored"
        );
        assert!(
            s.claim_next_outbox(now, "a", move |_| later).await.expect("claim").is_none(),
            "{name}: not due again at once"
        );
        assert!(
            s.claim_next_outbox(later, "b", move |_| later).await.expect("claim").is_none(),
            "{name}: another instance does not take a live instance's claim"
        );
        assert_eq!(s.next_outbox_due().await.expect("next"), Some(later), "{name}");
        s.outbox_failed(row.id, "421 try later", false).await.expect("fail");
        let (row, attempt) = s
            .claim_next_outbox(later, "b", move |_| later)
            .await
            .expect("claim")
            .expect("due again");
        assert_eq!(attempt, 2, "{name}");
        s.outbox_sent(row.id, later).await.expect("sent");
        assert!(s.due_outbox(later, 10).await.expect("due").is_empty(), "{name}");
        let st = s.status(&[]).await.expect("status");
        assert_eq!((st.outbox_pending, st.outbox_sent), (0, 1), "{name}");
    }
}

#[tokio::test]
async fn a_gone_instances_claim_is_taken_over_and_a_restart_releases_its_own() {
    for (name, _d, s) in stores().await {
        let t0 = ts("2026-05-01T10:00:00Z");
        let retry = ts("2026-05-01T10:00:30Z");
        s.instance_alive("a", t0, ts("2026-05-01T10:00:10Z"), 1).await.expect("alive");
        let mut tx = s.begin().await.expect("tx");
        tx.enqueue(&outgoing("r1@x"), t0).await.expect("enqueue");
        tx.enqueue(&outgoing("r2@x"), t0).await.expect("enqueue");
        tx.commit().await.expect("commit");
        let (r1, _) = s.claim_next_outbox(t0, "a", move |_| retry).await.expect("claim").expect("row");
        // "a" dies mid-send: after its retry time *and* its alive_until, "b" takes the row.
        assert!(
            s.claim_next_outbox(t0, "b", move |_| retry)
                .await
                .expect("claim")
                .is_some_and(|(r, _)| r.id != r1.id),
            "{name}"
        );
        let (taken, attempt) = s
            .claim_next_outbox(retry, "b", move |_| retry)
            .await
            .expect("claim")
            .expect("taken over");
        assert_eq!((taken.id, attempt), (r1.id, 2), "{name}");
        // An instance restarting under its own name makes its unfinished claims due at once.
        s.instance_alive("b", retry, ts("2026-05-01T11:00:00Z"), 2).await.expect("alive");
        assert_eq!(s.release_inflight("b", retry).await.expect("release"), 2, "{name}");
        assert_eq!(s.due_outbox(retry, 10).await.expect("due").len(), 2, "{name}");
    }
}

#[tokio::test]
async fn leases_go_to_one_holder_until_they_expire_or_are_released() {
    for (name, _d, s) in stores().await {
        let t0 = ts("2026-05-01T10:00:00Z");
        let t1 = ts("2026-05-01T10:00:10Z");
        let t2 = ts("2026-05-01T10:00:31Z");
        let exp = |t: DateTime<Utc>| t + chrono::Duration::seconds(30);
        assert!(s.acquire_lease("intake:x", "a", t0, exp(t0)).await.expect("a"), "{name}");
        assert!(
            !s.acquire_lease("intake:x", "b", t1, exp(t1)).await.expect("b"),
            "{name}: held by a"
        );
        assert!(s.acquire_lease("intake:x", "a", t1, exp(t1)).await.expect("renew"), "{name}");
        assert!(
            !s.acquire_lease("intake:x", "b", t2, exp(t2)).await.expect("b"),
            "{name}: renewed at t1"
        );
        let t3 = ts("2026-05-01T10:00:41Z");
        assert!(s.acquire_lease("intake:x", "b", t3, exp(t3)).await.expect("b"), "{name}: expired");
        assert!(
            !s.acquire_lease("intake:x", "a", t3, exp(t3)).await.expect("a"),
            "{name}: a lost it"
        );
        let st = s.status(&[]).await.expect("status");
        assert_eq!(st.leases.len(), 1, "{name}");
        assert_eq!(
            (st.leases[0].holder.as_str(), st.leases[0].since.as_str()),
            ("b", "2026-05-01T10:00:41.000Z"),
            "{name}"
        );
        s.release_lease("intake:x", "b").await.expect("release");
        assert!(s.acquire_lease("intake:x", "a", t3, exp(t3)).await.expect("a"), "{name}: released");
        s.instance_stopped("a", t3).await.expect("stopped");
        assert!(
            s.status(&[]).await.expect("status").leases.is_empty(),
            "{name}: a clean stop frees its leases"
        );
    }
}

#[tokio::test]
async fn uidvalidity_change_resets_the_cursor() {
    for (name, _d, s) in stores().await {
        let now = ts("2026-05-01T10:00:00Z");
        s.set_uidvalidity("INBOX", 1).await.expect("set");
        s.mark_synced("INBOX", 40, now).await.expect("sync");
        s.mark_synced("INBOX", 30, now).await.expect("sync never goes back");
        s.set_uidvalidity("INBOX", 1).await.expect("same");
        assert_eq!(s.mailbox_state("INBOX").await.expect("st").map(|m| m.last_uid), Some(40), "{name}");
        s.set_uidvalidity("INBOX", 2).await.expect("changed");
        let st = s.mailbox_state("INBOX").await.expect("st").expect("row");
        assert_eq!((st.uidvalidity, st.last_uid), (2, 0), "{name}");
    }
}

/// Two instances claiming from one PostgreSQL outbox at once never get the same row, and
/// together they get every row (SKIP LOCKED: nobody waits for the other's claim).
#[tokio::test]
async fn concurrent_claims_on_postgres_split_the_outbox() {
    let pg = common::pg();
    let url = pg.fresh_database(&format!("st_{}_claims", std::process::id()));
    let open = || {
        Store::connect(Target::Postgres {
            url: &url,
            password: Some(&pg.password),
        })
    };
    let (a, b) = (open().await.expect("a"), open().await.expect("b"));
    let now = ts("2026-05-01T10:00:00Z");
    let until = ts("2026-05-01T11:00:00Z");
    a.instance_alive("a", now, until, 1).await.expect("alive");
    a.instance_alive("b", now, until, 2).await.expect("alive");
    let mut tx = a.begin().await.expect("tx");
    for i in 0..200 {
        tx.enqueue(&outgoing(&format!("m{i}@x")), now).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let claim_all = |s: Store, me: &'static str| async move {
        let mut got = Vec::new();
        while let Some((row, _)) = s.claim_next_outbox(now, me, move |_| until).await.expect("claim") {
            got.push(row.id);
        }
        got
    };
    let (ga, gb) = tokio::join!(claim_all(a.clone(), "a"), claim_all(b.clone(), "b"));
    let mut all: Vec<i64> = ga.iter().chain(gb.iter()).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), ga.len() + gb.len(), "no row was claimed twice");
    assert_eq!(all.len(), 200, "every row was claimed");
}

/// The copy's table list names every column of every table, on both engines: a column added
/// by a migration without being added to the copy would be lost in a move.
#[tokio::test]
async fn copy_spec_matches_the_schema() {
    use samverkan::store::copy::{NOT_COPIED, TABLES};
    for (name, _d, s) in stores().await {
        let mut tables = s.tables().await.expect("tables");
        tables.retain(|t| !NOT_COPIED.contains(&t.as_str()));
        let mut spec: Vec<String> = TABLES.iter().map(|(t, _)| t.to_string()).collect();
        spec.sort();
        assert_eq!(tables, spec, "{name}: tables");
        for (table, cols) in TABLES {
            let want: Vec<String> = cols.iter().map(|(c, _)| c.to_string()).collect();
            assert_eq!(s.columns(table).await.expect("columns"), want, "{name}: columns of {table}");
        }
    }
}

/// `db copy` from SQLite to PostgreSQL: every row arrives, the bytes of queued mail are equal,
/// and the next ids on PostgreSQL follow the copied ones.
#[tokio::test]
async fn copy_moves_everything_from_sqlite_to_postgres() {
    let mut all = stores().await;
    let (_, _, pg) = all.pop().expect("pg");
    let (_, _d, sqlite) = all.pop().expect("sqlite");
    let now = ts("2026-05-01T10:00:00Z");
    let mut tx = sqlite.begin().await.expect("tx");
    let mut last = 0;
    for i in 0..250 {
        let (id, _) = tx
            .insert_case(&NewCase {
                forum_id: "a",
                year: 2026,
                status: "submitted",
                submitter: "x@y",
                message_id: &format!("m{i}"),
                content_hash: "h",
                sections_json: "{\"bakgrund\":\"Å ä ö\"}",
                meeting_id: None,
                urgent: i % 2 == 0,
                units_json: "[]",
                received_at: now,
                now,
            })
            .await
            .expect("case");
        last = id;
        let mut o = outgoing(&format!("r{i}@x"));
        o.case_id = Some(id);
        o.mime = vec![0, 159, 146, 150, b'\r', b'\n', i as u8];
        tx.enqueue(&o, now).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
    sqlite.set_uidvalidity("INBOX", 9).await.expect("uv");
    let report = sqlite.copy_into(&pg).await.expect("copy");
    let n = |t: &str| report.iter().find(|(n, _)| *n == t).map(|(_, n)| *n);
    assert_eq!((n("cases"), n("outbox"), n("mailbox_state")), (Some(250), Some(250), Some(1)));
    let a = sqlite.due_outbox(now, 1000).await.expect("due");
    let b = pg.due_outbox(now, 1000).await.expect("due");
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| x.id == y.id && x.mime == y.mime && x.env_to == y.env_to),
        "same rows, same bytes"
    );
    assert_eq!(
        pg.case_by_id(last).await.expect("case").expect("there").sections,
        sqlite.case_by_id(last).await.expect("c").expect("c").sections
    );
    let mut tx = pg.begin().await.expect("tx");
    let (id, no) = tx
        .insert_case(&NewCase {
            forum_id: "a",
            year: 2026,
            status: "submitted",
            submitter: "x@y",
            message_id: "new",
            content_hash: "h2",
            sections_json: "{}",
            meeting_id: None,
            urgent: false,
            units_json: "[]",
            received_at: now,
            now,
        })
        .await
        .expect("a new case after the copy");
    tx.commit().await.expect("commit");
    assert_eq!(
        (id, no.as_str()),
        (last + 1, "2026-0251"),
        "ids and case numbers go on from the copied ones"
    );
    let err = sqlite.copy_into(&pg).await.expect_err("a second copy into a non-empty database");
    assert!(err.to_string().contains("not empty"), "{err}");
}

/// The daily rejection cap's count: rejection answers (incomplete, no parts) to one address
/// since a time; a receipt is not one.
#[tokio::test]
async fn rejection_answers_to_an_address_are_counted_since_a_time() {
    use samverkan::store::fast::IntakeTx;
    for (name, _d, s) in stores().await {
        let t0 = ts("2026-05-01T10:00:00Z");
        let mut tx = s.begin().await.expect("tx");
        for (i, (kind, to, at)) in [
            ("incomplete", "a@x", "2026-05-01T09:00:00Z"),
            ("no_parts", "a@x", "2026-05-01T11:00:00Z"),
            ("incomplete", "a@x", "2026-05-01T12:00:00Z"),
            ("receipt", "a@x", "2026-05-01T12:00:00Z"),
            ("incomplete", "b@x", "2026-05-01T12:00:00Z"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut o = outgoing(&format!("k{i}@x"));
            o.kind = kind.into();
            o.env_to = vec![to.into()];
            tx.enqueue(&o, ts(at)).await.expect("enqueue");
        }
        tx.commit().await.expect("commit");
        assert_eq!(s.rejections_to_since("a@x", t0).await.expect("n"), 2, "{name}");
        assert_eq!(s.rejections_to_since("b@x", t0).await.expect("n"), 1, "{name}");
        assert_eq!(s.rejections_to_since("c@x", t0).await.expect("n"), 0, "{name}");
        let mut tx = s.begin().await.expect("tx");
        assert_eq!(
            IntakeTx::rejections_to_since(&mut tx, "a@x", t0).await.expect("n"),
            2,
            "{name}: inside a transaction"
        );
    }
}

/// A mail queued by a version before the outbox's bytes moved to their own table (migration
/// 0010) is still sent, byte for byte, after the upgrade: the migration carries it over.
#[tokio::test]
async fn mail_queued_before_the_outbox_body_migration_still_sends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    // The schema as it was: migrations 0001–0009, from copies of the files, applied the way
    // the old binary did (the checksums match, so the new binary goes on from there).
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).expect("mkdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for e in std::fs::read_dir(&src).expect("migrations") {
        let e = e.expect("entry");
        let name = e.file_name().into_string().expect("utf8");
        if name.as_str() < "0010" {
            std::fs::copy(e.path(), old.join(&name)).expect("copy");
        }
    }
    let mime = b"Subject: =?utf-8?q?Kallelse?=\r\n\r\n\xc3\xa5\r\n".to_vec();
    {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("pool");
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .expect("old migrations")
            .run(&pool)
            .await
            .expect("migrate to 0009");
        sqlx::query(
            "INSERT INTO outbox (message_id, kind, forum_id, env_from, env_to, mime, next_attempt_at, created_at)
             VALUES ('old@x', 'receipt', 'a', 'f@x', '[\"t@x\"]', $1, '2026-05-01T10:00:00.000Z', '2026-05-01T10:00:00.000Z')",
        )
        .bind(&mime)
        .execute(&pool)
        .await
        .expect("queue the old way");
        pool.close().await;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let s = Store::open(&path).await.expect("open and migrate");
    let now = ts("2026-05-01T10:00:01Z");
    s.instance_alive("a", now, ts("2026-05-01T11:00:00Z"), 1).await.expect("alive");
    assert_eq!(s.due_outbox_count(now).await.expect("count"), 1);
    let (row, _) = s
        .claim_next_outbox(now, "a", move |_| now)
        .await
        .expect("claim")
        .expect("the old mail");
    assert_eq!((row.env_to, row.mime), (vec!["t@x".to_string()], mime));
    let cols = s.columns("outbox").await.expect("columns");
    assert!(!cols.iter().any(|c| c == "mime"), "{cols:?}");
}

/// A long write transaction (intake's batch) can see that another task waits for the write
/// lock, commit, and let it in; a wait given up is no longer counted.
#[tokio::test]
async fn a_waiting_writer_is_seen_and_let_in() {
    for (name, _d, s) in stores().await {
        let tx = s.begin().await.expect("tx");
        assert!(!s.writer_wanted(), "{name}: nobody waits");
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.begin().await.expect("second tx").commit().await.expect("commit") });
        let t0 = std::time::Instant::now();
        while !s.writer_wanted() {
            assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{name}: the wait is counted");
            tokio::task::yield_now().await;
        }
        tx.commit().await.expect("commit");
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the waiter got in")
            .expect("join");
        assert!(!s.writer_wanted(), "{name}");
        // A wait abandoned (its future dropped, e.g. on shutdown) is counted down.
        let tx = s.begin().await.expect("tx");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), s.begin()).await.is_err(),
            "{name}"
        );
        assert!(!s.writer_wanted(), "{name}: the abandoned wait is not counted");
        tx.commit().await.expect("commit");
    }
}

/// Deviations on both engines: recorded once per rule and subject however often a scan finds
/// them, read back with their case number and the obligation's closing time, sent and
/// dismissed only in their own forum.
#[tokio::test]
async fn deviations_are_recorded_once_and_dismissed_in_their_forum() {
    use samverkan::core::deviation::Found;
    use samverkan::store::NewObligation;
    for (name, _d, s) in stores().await {
        let now = ts("2027-01-20T10:00:00Z");
        let mut tx = s.begin().await.expect("tx");
        let (case, _) = tx
            .insert_case(&NewCase {
                forum_id: "f",
                year: 2027,
                status: "handover",
                submitter: "x@y",
                message_id: "m1",
                content_hash: "h",
                sections_json: "{}",
                meeting_id: None,
                urgent: false,
                units_json: "[\"Barn och unga\"]",
                received_at: now,
                now,
            })
            .await
            .expect("case");
        let o = tx
            .open_obligation(
                &NewObligation {
                    forum_id: "f".into(),
                    kind: "handover_confirm".into(),
                    case_id: Some(case),
                    owners: vec!["a@y".into()],
                    remind_at: Some(ts("2027-01-15T08:00:00Z")),
                    escalate_at: Some(ts("2027-01-18T08:00:00Z")),
                    data: serde_json::json!({ "unit": "Vuxenenheten" }),
                    ..Default::default()
                },
                ts("2027-01-10T08:00:00Z"),
            )
            .await
            .expect("obligation");
        tx.commit().await.expect("commit");
        let facts: Vec<_> = s.obligation_facts(ts("2026-10-01T00:00:00Z")).await.expect("facts");
        assert_eq!(facts.len(), 1, "{name}");
        assert_eq!(facts[0].1, "x@y", "{name}: the submitter, for the shell to map to a unit");
        assert_eq!(facts[0].2.as_deref(), Some("Vuxenenheten"), "{name}: the receiving unit");
        let facts: Vec<_> = facts.into_iter().map(|(f, _, _)| f).collect();
        assert_eq!(facts[0].units, ["Barn och unga"], "{name}: the case's units");
        assert_eq!(facts[0].escalate_at, Some(ts("2027-01-18T08:00:00Z")), "{name}");
        let found = Found {
            rule: "handover_unconfirmed",
            subject: format!("obligation:{o}"),
            forum_id: "f".into(),
            case_id: Some(case),
            meeting_id: None,
            units: vec!["Barn och unga".into(), "Vuxenenheten".into()],
            due_at: ts("2027-01-20T08:00:00Z"),
        };
        let mut tx = s.begin().await.expect("tx");
        let first = tx.record_deviations(std::slice::from_ref(&found), now).await.expect("record");
        let again = tx.record_deviations(&[found], now).await.expect("record again");
        tx.commit().await.expect("commit");
        assert_eq!(first.len(), 1, "{name}");
        assert!(again.is_empty(), "{name}: the same rule and subject is recorded once");
        let f = s.figures(now).await.expect("figures");
        assert_eq!(f.deviations_by_rule, [("handover_unconfirmed".to_string(), 1)], "{name}: /metrics");
        let id = first[0].0;
        let rows = s.deviations_undigested("f", ts("2027-02-01T08:00:00Z")).await.expect("rows");
        assert_eq!(rows.len(), 1, "{name}");
        assert_eq!(rows[0].case_no.as_deref(), Some("2027-0001"), "{name}");
        assert_eq!(rows[0].closed_at, None, "{name}");
        assert!(
            s.deviations_undigested("f", now).await.expect("rows").is_empty(),
            "{name}: recorded at `now`, not before it"
        );
        let mut tx = s.begin().await.expect("tx");
        tx.deviations_sent(&[id], true, now).await.expect("sent");
        tx.close_obligation(o, "a@y", ts("2027-01-21T09:00:00Z")).await.expect("close");
        assert_eq!(
            tx.dismiss_deviation("other", id, "c@y", "x", now).await.expect("other forum"),
            None,
            "{name}"
        );
        assert_eq!(
            tx.dismiss_deviation("f", id, "c@y", "mötet flyttades", now)
                .await
                .expect("dismiss")
                .as_deref(),
            Some("handover_unconfirmed"),
            "{name}"
        );
        tx.commit().await.expect("commit");
        assert!(
            s.deviations_undigested("f", ts("2027-03-01T00:00:00Z"))
                .await
                .expect("rows")
                .is_empty(),
            "{name}"
        );
        let all = s
            .deviations_between(Some("f"), ts("2027-01-01T00:00:00Z"), ts("2028-01-01T00:00:00Z"))
            .await
            .expect("all");
        assert_eq!(all.len(), 1, "{name}");
        assert!(all[0].dismissed, "{name}");
        assert_eq!(all[0].closed_at, Some(ts("2027-01-21T09:00:00Z")), "{name}");
        assert!(
            s.deviations_between(Some("g"), ts("2027-01-01T00:00:00Z"), ts("2028-01-01T00:00:00Z"))
                .await
                .expect("none")
                .is_empty()
        );
    }
}

/// The reports' reads (`store::report`): the quarantine list and its reprocessing, and the
/// figures of `/metrics` and `/healthz`, on both engines.
#[tokio::test]
async fn report_figures_and_the_quarantine() {
    for (name, _d, s) in stores().await {
        let now = ts("2026-05-01T10:00:00Z");
        let mut tx = s.begin().await.expect("tx");
        for (uid, mid, kind, outcome, destination) in [
            (1, "a@x", "submission", "not_member", "quarantine"),
            (2, "b@x", "submission", "case_created", "processed"),
            (3, "c@x", "unparseable", "unparseable", "quarantine"),
        ] {
            let rec = IntakeRecord {
                mailbox: "INBOX",
                uidvalidity: 7,
                uid,
                message_id: mid,
                received_at: now + chrono::Duration::minutes(i64::from(uid)),
                processed_at: now,
                kind,
                outcome,
                destination,
                case_id: None,
            };
            assert!(tx.record_intake(&rec).await.expect("rec"), "{name}");
        }
        tx.enqueue(&outgoing("r1@x"), now).await.expect("enqueue");
        tx.commit().await.expect("commit");

        let q = s.quarantined().await.expect("quarantined");
        let listed: Vec<(i64, &str, &str)> = q.iter().map(|q| (q.uid, q.reason.as_str(), q.message_id.as_str())).collect();
        assert_eq!(listed, vec![(1, "not_member", "a@x"), (3, "unparseable", "c@x")], "{name}");

        let f = s.figures(now + chrono::Duration::minutes(5)).await.expect("figures");
        assert_eq!(f.quarantined, 2, "{name}");
        assert_eq!(
            f.mails_by_kind,
            vec![("submission".to_string(), 2), ("unparseable".to_string(), 1)],
            "{name}"
        );
        assert_eq!(f.outbox_pending, 1, "{name}");
        assert_eq!(f.oldest_pending, Some(now), "{name}");
        assert!(f.overdue_by_kind.is_empty(), "{name}");
        let h = s.health().await.expect("health");
        assert_eq!((h.last_sync, h.oldest_pending), (None, Some(now)), "{name}");

        // Reprocessing forgets the intake record, so the mail is read again.
        s.forget_quarantined("a@x").await.expect("forget");
        assert!(!s.message_id_seen("a@x").await.expect("seen"), "{name}");
        assert!(s.message_id_seen("b@x").await.expect("seen"), "{name}");
        assert_eq!(s.quarantined().await.expect("quarantined").len(), 1, "{name}");
    }
}

/// A real SQLite "database or disk is full" (a page limit stands in for the disk) is told
/// apart from a constraint violation through anyhow's context chain (`app::Failure`).
#[tokio::test]
async fn a_full_sqlite_database_is_a_disk_failure() {
    use samverkan::app::Failure;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("db");
    for q in ["CREATE TABLE t (k INTEGER PRIMARY KEY, x BLOB)", "INSERT INTO t VALUES (1, x'00')"] {
        sqlx::query(q).execute(&pool).await.expect(q);
    }
    let dup = sqlx::query("INSERT INTO t VALUES (1, x'00')").execute(&pool).await;
    let dup = anyhow::Error::from(dup.expect_err("duplicate key")).context("storing");
    assert_eq!(Failure::of(&dup), Failure::Other, "{dup:#}");
    sqlx::query("PRAGMA max_page_count = 4").execute(&pool).await.expect("pragma");
    let full = sqlx::query("INSERT INTO t VALUES (2, zeroblob(100000))").execute(&pool).await;
    let full = anyhow::Error::from(full.expect_err("full")).context("cannot store the case");
    assert_eq!(Failure::of(&full), Failure::DiskFull, "{full:#}");
}

/// SQLite's direct path (issue 20): the statements of a plain submission on the store's own
/// connection, with the same semantics as the sqlx transaction: it sees its own writes, a
/// savepoint undoes one mail alone, a message recorded before is refused, the case counter
/// and the outbox are shared with the pool's connections, and a transaction dropped without
/// commit leaves nothing.
#[tokio::test]
async fn the_direct_sqlite_path_keeps_the_transactions_promises() {
    use samverkan::store::NewCase;
    use samverkan::store::fast::IntakeTx;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(&dir.path().join("t.db")).await.expect("open");
    assert!(s.has_direct());
    let now = ts("2026-05-01T10:00:00Z");
    let rec = |uid, message_id| submission_record(now, uid, message_id);
    let case = |message_id: &'static str| NewCase {
        forum_id: "a",
        year: 2026,
        status: "submitted",
        submitter: "anna@x",
        message_id,
        content_hash: "h1",
        sections_json: "{}",
        meeting_id: None,
        urgent: false,
        units_json: "[]",
        received_at: now,
        now,
    };
    // The pool numbers one case first: the direct path goes on from there.
    let mut tx = s.begin().await.expect("tx");
    assert_eq!(tx.next_case_no("a", 2026).await.expect("n"), "2026-0001");
    tx.commit().await.expect("commit");

    let mut f = s.begin_fast().await.expect("begin").expect("direct on SQLite");
    IntakeTx::savepoint(&mut f).await.expect("savepoint");
    let (_, no) = IntakeTx::insert_case(&mut f, &case("one@x")).await.expect("case");
    assert_eq!(no, "2026-0002");
    let mut rejection = outgoing("r1@x");
    rejection.kind = "incomplete".into();
    IntakeTx::enqueue(&mut f, &rejection, now).await.expect("enqueue");
    IntakeTx::enqueue(&mut f, &rejection, now).await.expect("the same Message-ID again");
    assert!(IntakeTx::record_intake(&mut f, &rec(1, "one@x")).await.expect("rec"));
    IntakeTx::release_savepoint(&mut f).await.expect("release");
    assert!(IntakeTx::message_id_seen(&mut f, "one@x").await.expect("seen"), "its own write");
    assert_eq!(
        IntakeTx::case_with_hash(&mut f, "a", "h1").await.expect("hash").as_deref(),
        Some("2026-0002")
    );
    // A second mail, undone alone.
    IntakeTx::savepoint(&mut f).await.expect("savepoint");
    IntakeTx::insert_case(&mut f, &case("two@x")).await.expect("case");
    assert!(IntakeTx::record_intake(&mut f, &rec(2, "two@x")).await.expect("rec"));
    IntakeTx::rollback_to_savepoint(&mut f).await.expect("rollback to");
    // Recorded before: refused, and known before writing (by mailbox, UIDVALIDITY and UID).
    assert!(!IntakeTx::record_intake(&mut f, &rec(1, "one@x")).await.expect("rec"));
    let known = |f: &samverkan::store::fast::FastTx, mailbox: &str, validity: u32, uid: u32| {
        f.recorded_before(mailbox, validity, uid).expect("look-up")
    };
    assert!(known(&f, "INBOX", 7, 1), "its own write, uncommitted");
    assert!(!known(&f, "INBOX", 7, 2), "rolled back");
    assert!(!known(&f, "INBOX", 8, 1), "another UIDVALIDITY");
    assert!(!known(&f, "Other", 7, 1), "another mailbox");
    assert_eq!(IntakeTx::recorded_before(&mut f, "INBOX", 7, 1).await.expect("look-up"), Some(true));
    assert_eq!(
        IntakeTx::rejections_to_since(&mut f, "t@x", now).await.expect("count"),
        1,
        "queued once"
    );
    f.commit().expect("commit");
    assert!(s.message_id_seen("one@x").await.expect("seen"));
    assert!(!s.message_id_seen("two@x").await.expect("seen"), "rolled back alone");

    // Dropped without commit: nothing.
    let mut f = s.begin_fast().await.expect("begin").expect("direct");
    IntakeTx::insert_case(&mut f, &case("three@x")).await.expect("case");
    assert!(IntakeTx::record_intake(&mut f, &rec(3, "three@x")).await.expect("rec"));
    drop(f);
    assert!(!s.message_id_seen("three@x").await.expect("seen"));

    // The counter is shared: the pool's next number follows the direct path's (the rolled-back
    // numbers are not used).
    let mut tx = s.begin().await.expect("tx");
    assert_eq!(tx.next_case_no("a", 2026).await.expect("n"), "2026-0003");
    tx.commit().await.expect("commit");
    // The sender's claim (on the direct connection on SQLite) takes the queued receipt once.
    let (row, attempt) = s
        .claim_next_outbox(now, "me", move |_| now + chrono::Duration::minutes(5))
        .await
        .expect("claim")
        .expect("the receipt");
    assert_eq!((row.env_to.clone(), attempt), (vec!["t@x".to_string()], 1));
    assert!(
        s.outbox_sent_claim_next(row.id, now, "me", move |_| now)
            .await
            .expect("claim")
            .is_none(),
        "sent, and nothing else due"
    );
}

/// A full database on the direct path is a disk failure too (rusqlite's error, classified like
/// sqlx's), and a constraint violation is not.
#[tokio::test]
async fn a_full_database_on_the_direct_path_is_a_disk_failure() {
    use samverkan::app::Failure;
    let c = rusqlite::Connection::open_in_memory().expect("db");
    c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, x BLOB); INSERT INTO t VALUES (1, x'00');")
        .expect("schema");
    let dup = c.execute("INSERT INTO t VALUES (1, x'00')", []).expect_err("duplicate key");
    let dup = anyhow::Error::from(dup).context("storing");
    assert_eq!(Failure::of(&dup), Failure::Other, "{dup:#}");
    c.execute_batch("PRAGMA max_page_count = 4").expect("pragma");
    let full = c.execute("INSERT INTO t VALUES (2, zeroblob(100000))", []).expect_err("full");
    let full = anyhow::Error::from(full).context("cannot store the case");
    assert_eq!(Failure::of(&full), Failure::DiskFull, "{full:#}");
}

/// SQLite: the sender's claim, waiting while intake's batch holds the write lock on the direct
/// connection, is carried out by the batch in its own transaction and committed at once (the
/// claim is durable before its mail goes out), and the batch goes on holding the lock. Under
/// any other writer the claim waits for the lock and runs by itself; a wait given up leaves no
/// claim behind.
#[tokio::test]
async fn the_senders_claim_is_carried_out_by_the_batch_holding_the_lock() {
    use samverkan::store::fast::IntakeTx;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(&dir.path().join("t.db")).await.expect("open");
    let now = ts("2026-05-01T10:00:00Z");
    let later = now + chrono::Duration::minutes(5);
    let mut f = s.begin_fast().await.expect("begin").expect("direct on SQLite");
    IntakeTx::enqueue(&mut f, &outgoing("r1@x"), now).await.expect("enqueue");
    IntakeTx::enqueue(&mut f, &outgoing("r2@x"), now).await.expect("enqueue");
    f.commit().expect("commit");

    let wait_wanted = |s: &Store| {
        let s = s.clone();
        async move {
            let t0 = std::time::Instant::now();
            while !s.writer_wanted() {
                assert!(t0.elapsed() < std::time::Duration::from_secs(5), "the claim waits visibly");
                tokio::task::yield_now().await;
            }
        }
    };

    // Intake's batch holds the lock; the sender's claim is handed to it.
    let mut f = s.begin_fast().await.expect("begin").expect("direct");
    assert!(!s.serve_claim(&mut f).expect("serve"), "no claim waits");
    let s2 = s.clone();
    let claim = tokio::spawn(async move { s2.claim_next_outbox(now, "me", move |_| later).await });
    wait_wanted(&s).await;
    assert!(s.serve_claim(&mut f).expect("serve"), "the waiting claim is served");
    let (first, attempt) = claim.await.expect("join").expect("claim").expect("a row");
    assert_eq!(attempt, 1);
    assert!(!s.writer_wanted(), "served: nobody waits");
    // Committed while the batch is still open: the pool sees the other row as the next due
    // and the claimed one pushed back.
    assert_eq!(s.next_outbox_due().await.expect("due"), Some(now));
    // The batch goes on in a new transaction under the same lock.
    IntakeTx::enqueue(&mut f, &outgoing("r3@x"), now)
        .await
        .expect("enqueue after serving");
    f.commit().expect("commit");

    // Under a writer that does not serve claims (a pool transaction), the claim, with the first
    // row's outcome, waits for the lock and then runs by itself.
    let tx = s.begin().await.expect("tx");
    let s2 = s.clone();
    let id = first.id;
    let claim = tokio::spawn(async move { s2.outbox_sent_claim_next(id, now, "me", move |_| later).await });
    wait_wanted(&s).await;
    tx.commit().await.expect("commit");
    let (second, _) = claim.await.expect("join").expect("claim").expect("a row");
    assert_ne!(second.id, first.id);

    // A wait given up (its future dropped, as on shutdown) leaves no claim in the slot.
    let mut f = s.begin_fast().await.expect("begin").expect("direct");
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), s.claim_next_outbox(now, "me", move |_| later))
            .await
            .is_err()
    );
    assert!(!s.writer_wanted(), "the abandoned claim is gone");
    assert!(!s.serve_claim(&mut f).expect("serve"));
    f.commit().expect("commit");
    // Both claimed rows were counted; the third is still due.
    let (third, _) = s
        .outbox_sent_claim_next(second.id, now, "me", move |_| later)
        .await
        .expect("claim")
        .expect("the third row");
    assert_ne!(third.id, second.id);
    assert_ne!(third.id, first.id);
}

/// The forum's next meetings, soonest first and at most as many as asked for, alike through
/// the pool (both engines) and on SQLite's direct path (the statement has no LIMIT: the
/// readers stop after the rows they want).
#[tokio::test]
async fn the_next_meetings_come_soonest_first_and_no_more_than_asked() {
    use samverkan::core::schedule::{MeetingKind, Occurrence};
    use samverkan::store::fast::IntakeTx;
    let now = ts("2026-05-01T10:00:00Z");
    let occ: Vec<Occurrence> = (1..=5)
        .map(|week| {
            let start = now + chrono::Duration::weeks(6 - week);
            Occurrence {
                key: start.date_naive(),
                start,
                end: start + chrono::Duration::hours(2),
                kind: MeetingKind::Samverkan,
            }
        })
        .collect();
    let starts = |ms: &[samverkan::core::schedule::Meeting]| ms.iter().map(|m| m.start).collect::<Vec<_>>();
    let soonest: Vec<_> = (1..=3).map(|w| now + chrono::Duration::weeks(w)).collect();
    for (name, _keep, s) in stores().await {
        s.ensure_meetings("f", "kommun.test", &occ, "Rum 1", now).await.expect("meetings");
        assert_eq!(starts(&s.meetings_after("f", now, 3).await.expect("read")), soonest, "{name}");
        assert_eq!(
            s.meetings_after("f", now, 12).await.expect("read").len(),
            5,
            "{name}: all there are"
        );
        assert!(
            s.meetings_after("other", now, 3).await.expect("read").is_empty(),
            "{name}: per forum"
        );
        if let Some(mut f) = s.begin_fast().await.expect("begin") {
            let direct = IntakeTx::meetings_after(&mut f, "f", now, 3).await.expect("direct read");
            assert_eq!(starts(&direct), soonest, "{name}: the direct path");
            // Asked again with another limit: the same cached statement, no other answer.
            let two = IntakeTx::meetings_after(&mut f, "f", now + chrono::Duration::days(8), 2)
                .await
                .expect("again");
            assert_eq!(starts(&two), soonest[1..].to_vec(), "{name}: the direct path, later");
            f.commit().expect("commit");
        }
    }
}

#[tokio::test]
async fn a_window_of_meetings_holds_the_initials_line_and_one_meeting_all_texts() {
    use samverkan::core::schedule::{MeetingKind, Occurrence};
    use samverkan::core::submission::SectionKey;
    let now = ts("2026-05-01T10:00:00Z");
    let start = now + chrono::Duration::days(3);
    let occ = [Occurrence {
        key: start.date_naive(),
        start,
        end: start + chrono::Duration::hours(2),
        kind: MeetingKind::Samverkan,
    }];
    let texts = serde_json::json!({
        "name_age": "Testperson, 14 år",
        "background": "Diagnos ADHD",
        "situation": "Stödboende",
        "question": "Vem ansvarar?",
    })
    .to_string();
    for (name, _keep, s) in stores().await {
        s.ensure_meetings("f", "kommun.test", &occ, "Rum 1", now).await.expect("meetings");
        let id = s.meetings_after("f", now, 1).await.expect("read")[0].id;
        // Stored out of case-number order: 2027-0001 first, then 2026-0001.
        let mut tx = s.begin().await.expect("begin");
        let mut ids = Vec::new();
        for (year, message_id) in [(2027, "m1"), (2026, "m2")] {
            let (case, _) = tx
                .insert_case(&NewCase {
                    forum_id: "f",
                    year,
                    status: "submitted",
                    submitter: "anna.berg@kommun.test",
                    message_id,
                    content_hash: message_id,
                    sections_json: &texts,
                    meeting_id: Some(id),
                    urgent: false,
                    units_json: "[]",
                    received_at: now,
                    now,
                })
                .await
                .expect("case");
            ids.push(case);
        }
        tx.commit().await.expect("commit");
        let numbers = |cases: &[samverkan::core::plan::AgendaCase]| cases.iter().map(|c| c.case_no.clone()).collect::<Vec<_>>();

        let window = s.meeting_views(now, now + chrono::Duration::days(400)).await.expect("window");
        let lean = &window.iter().find(|m| m.id == id).expect("the meeting").cases;
        assert_eq!(numbers(lean), ["2026-0001", "2027-0001"], "{name}: in case-number order");
        for c in lean {
            assert_eq!(
                c.sections.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
                [(SectionKey::NameAge, "Testperson, 14 år")],
                "{name}: a window holds the initials' line only"
            );
        }
        let one = s.meeting_view(id).await.expect("one").expect("the meeting");
        assert_eq!(numbers(&one.cases), ["2026-0001", "2027-0001"], "{name}");
        assert!(
            one.cases.iter().all(|c| c.sections.len() == 4),
            "{name}: one meeting holds all texts"
        );
        let mut tx = s.begin().await.expect("begin");
        let all = read::agenda_texts(tx.conn(), id).await.expect("texts");
        ids.sort();
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), ids, "{name}");
        assert_eq!(all[&one.cases[0].id], one.cases[0].sections, "{name}: the texts a mail shows");
        assert!(read::agenda_texts(tx.conn(), id + 1).await.expect("none").is_empty(), "{name}");
    }
}
