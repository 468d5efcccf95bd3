//! Crashes: the daemon is killed with SIGKILL at random moments while it reads a burst of
//! submissions and sends receipts and invitations, and restarted each time. Afterwards every
//! submission has exactly one case, every mail due was delivered, and a person received a mail
//! twice at most once per kill (the one mail in flight).
//!
//! The test command runs 5 kills; `tests/crash-long` runs it with SAMVERKAN_CRASH_KILLS=25 and
//! prints the report recorded in RELIABILITY.md.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use chrono_tz::Europe::Stockholm;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    if skip() {
        return;
    }
    let kills: usize = std::env::var("SAMVERKAN_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let burst: u32 = std::env::var("SAMVERKAN_CRASH_MAILS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    // An avstämningsmöte 20 minutes ahead: its invitations go out at the first start.
    let now = Utc::now().with_timezone(&Stockholm);
    let first = (now + chrono::Duration::minutes(20)).naive_local() - chrono::Duration::days(7);
    let schedule = format!(
        "rrule = \"FREQ=WEEKLY\"\nfirst = \"{}\"\nkinds = [\"avstämningsmöte\"]\ninvite_lead = \"1h\"",
        first.format("%Y-%m-%dT%H:%M:%S")
    );
    let w = World::with_schedule("scheduler_interval = \"1s\"", &schedule);
    let (anna, lars, mb) = (w.addr("anna"), w.addr("lars"), w.mailbox());
    for n in 0..burst {
        let from = if n % 2 == 0 { &anna } else { &lars };
        send_raw(from, &[&mb], &submission(from, &mb, n)).await;
    }

    let mut seed: u64 = std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let started = Instant::now();
    for _ in 0..kills {
        let mut d = w.start();
        tokio::time::sleep(Duration::from_millis(150 + next() % 900)).await;
        d.kill();
    }
    let mut d = w.start();
    let t = Duration::from_secs(60);
    wait_for(t, "every submission has its case", || async {
        (w.scalar("SELECT count(*) FROM cases").await == i64::from(burst)).then_some(())
    })
    .await;
    wait_for(t, "every mail sent", || async {
        (w.scalar("SELECT count(*) FROM outbox WHERE status != 'sent'").await == 0 && w.scalar("SELECT count(*) FROM outbox").await > 0)
            .then_some(())
    })
    .await;
    wait_for(t, "the inbox empty", || async {
        fetch_folder(&mb, "INBOX").await.is_empty().then_some(())
    })
    .await;
    // Every mail is sent; once the MTA has delivered them all, the mailboxes hold every copy.
    mta_drained().await;
    d.stop();

    assert_eq!(
        w.scalar("SELECT count(DISTINCT message_id) FROM cases").await,
        i64::from(burst),
        "one case per submission"
    );
    let receipts = w.scalar("SELECT count(*) FROM outbox WHERE kind = 'receipt'").await;
    assert_eq!(receipts, i64::from(burst), "one receipt queued per case");
    // What people actually received: count each (recipient, Message-ID) pair.
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for who in [&anna, &lars, &w.addr("sara")] {
        for raw in fetch_folder(who, "INBOX").await {
            let id = header_of(&raw, "Message-ID").unwrap_or_default();
            *seen.entry((who.to_string(), id)).or_default() += 1;
        }
    }
    let delivered: usize = seen.values().sum();
    let doubled: usize = seen.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    let queued = w.scalar("SELECT count(*) FROM outbox").await as usize;
    println!(
        "crash report: {kills} SIGKILLs in {:.1} s, {burst} submissions, {} cases, {queued} mails queued, {} distinct mails delivered ({delivered} copies), {doubled} duplicate deliveries",
        started.elapsed().as_secs_f64(),
        burst,
        seen.len()
    );
    assert_eq!(seen.len(), queued, "every queued mail was delivered (to its one recipient)");
    assert!(
        doubled <= kills,
        "{doubled} duplicates for {kills} kills: more than the one mail in flight per kill"
    );
}
