//! Two instances on one PostgreSQL database and the real mail stack: the one reading the
//! mailbox is killed with SIGKILL in the middle of a burst of submissions, and the other takes
//! the mailbox's lease within the lease time and finishes the burst. Nothing is lost and no one
//! receives a mail twice beyond the one that was in flight at the kill.
//!
//! `SAMVERKAN_FAILOVER_ROUNDS` repeats the kill-and-take-over (default 2: a kills, b takes
//! over; a restarts; b is killed, a takes over).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

/// The lease the test worlds configure (`lease = "4s"` in tests/common).
const LEASE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread")]
async fn the_standby_takes_over_the_mailbox_when_the_reader_is_killed() {
    if skip() {
        return;
    }
    let rounds: usize = std::env::var("SAMVERKAN_FAILOVER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let per_round: u32 = 30;
    let w = World::on_postgres("", None);
    let (anna, lars, mb) = (w.addr("anna"), w.addr("lars"), w.mailbox());
    let names = ["node-a", "node-b"];
    let mut daemons = [Some(w.start_instance(Some(names[0]), &[])), None];
    let holder = || async { w.text("SELECT holder FROM leases WHERE name LIKE 'intake:%'").await };
    wait_for(Duration::from_secs(20), "node-a reads the mailbox", || async {
        (holder().await.as_deref() == Some("node-a")).then_some(())
    })
    .await;
    daemons[1] = Some(w.start_instance(Some(names[1]), &[]));
    wait_for(Duration::from_secs(20), "node-b is up (standby)", || async {
        (w.scalar("SELECT count(*) FROM instances WHERE name = 'node-b'").await == 1).then_some(())
    })
    .await;
    assert_eq!(holder().await.as_deref(), Some("node-a"), "the standby does not take a held lease");

    let mut sent = 0u32;
    let mut takeovers = Vec::new();
    for round in 0..rounds {
        let (reader, standby) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
        let before = w.scalar("SELECT count(*) FROM cases").await;
        for _ in 0..per_round {
            let from = if sent.is_multiple_of(2) { &anna } else { &lars };
            send_raw(from, &[&mb], &submission(from, &mb, sent)).await;
            sent += 1;
        }
        // Kill the reader mid-burst: once it has committed some of this round's cases.
        wait_for(Duration::from_secs(30), "the reader is working through the burst", || async {
            (w.scalar("SELECT count(*) FROM cases").await >= before + 3).then_some(())
        })
        .await;
        daemons[reader].as_mut().expect("reader").kill();
        let killed = Instant::now();
        wait_for(LEASE * 3, "the standby holds the mailbox's lease", || async {
            (holder().await.as_deref() == Some(names[standby])).then_some(())
        })
        .await;
        let took = killed.elapsed();
        takeovers.push(took);
        // Renewal every lease/3: the standby asks at most that long after the lease expired.
        assert!(
            took <= LEASE + LEASE / 3 + Duration::from_secs(1),
            "round {round}: took over after {took:?}, lease {LEASE:?}"
        );
        // The killed one comes back as the new standby.
        daemons[reader] = Some(w.start_instance(Some(names[reader]), &[]));
    }

    let t = Duration::from_secs(90);
    wait_for(t, "every submission has its case", || async {
        (w.scalar("SELECT count(*) FROM cases").await == i64::from(sent)).then_some(())
    })
    .await;
    wait_for(t, "every mail sent", || async {
        (w.scalar("SELECT count(*) FROM outbox WHERE status != 'sent'").await == 0).then_some(())
    })
    .await;
    wait_for(t, "the inbox empty", || async {
        fetch_folder(&mb, "INBOX").await.is_empty().then_some(())
    })
    .await;
    // Every mail is sent; once the MTA has delivered them all, the mailboxes hold every copy.
    mta_drained().await;
    // `status` names the instances and who reads the mailbox.
    let holder_now = holder().await.expect("a holder");
    let standby_cfg = w.dir.path().join(format!("samverkan-{holder_now}.toml"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samverkan"))
        .args(["status", "--config"])
        .arg(&standby_cfg)
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("instance node-a: running") && text.contains("instance node-b: running"),
        "{text}"
    );
    assert!(text.contains(&format!("lease: {holder_now} reads ")), "{text}");
    assert!(text.contains(" runs the scheduler since "), "{text}");
    for d in daemons.iter_mut().flatten() {
        d.stop();
    }

    assert_eq!(
        w.scalar("SELECT count(DISTINCT message_id) FROM cases").await,
        i64::from(sent),
        "one case per submission"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE kind = 'receipt'").await,
        i64::from(sent),
        "one receipt per case"
    );
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut other = Vec::new();
    for who in [&anna, &lars] {
        for raw in fetch_folder(who, "INBOX").await {
            let id = header_of(&raw, "Message-ID").unwrap_or_default();
            if !subject_of(&raw).starts_with("Kvittens") {
                other.push(format!("{id}: {}", subject_of(&raw)));
            }
            *seen.entry((who.to_string(), id)).or_default() += 1;
        }
    }
    assert!(other.is_empty(), "mails other than receipts: {other:?}");
    let doubled: usize = seen.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    println!("failover report: {rounds} kills, {sent} submissions, takeovers after {takeovers:?}, {doubled} duplicate deliveries");
    assert_eq!(seen.len(), sent as usize, "every receipt was delivered");
    assert!(
        doubled <= rounds,
        "{doubled} duplicates for {rounds} kills: more than the one mail in flight per kill"
    );
    let log = w.log();
    assert!(log.contains("this instance is now reading the mailbox"), "the takeover is logged");
}
