//! Server outages: Dovecot stopped, then Postfix stopped, mid-run. The daemon logs each outage
//! once (not a line per retry), reconnects with backoff, and drains its outbox when the server is
//! back. Its own test binary, so stopping the servers troubles no other test.
//!
//! The outages last SAMVERKAN_OUTAGE_SECS (default 5; `tests/outage-long` uses 60).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// The tests here stop the shared stack's servers: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn outage() -> Duration {
    Duration::from_secs(
        std::env::var("SAMVERKAN_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    )
}

fn run(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "{cmd}");
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_and_smtp_outages_are_survived_and_logged_once() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let s = stack();
    let dir = s.dir.display().to_string();
    let w = World::new(false);
    let _d = w.start();
    let (anna, lars, mb) = (w.addr("anna"), w.addr("lars"), w.mailbox());
    let t = Duration::from_secs(30) + outage() * 2;
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    wait_for(t, "the first receipt", || async {
        (!fetch_folder(&anna, "INBOX").await.is_empty()).then_some(())
    })
    .await;

    // Dovecot down.
    run(&format!("kill -TERM $(cat {dir}/run/master.pid)"));
    wait_for(Duration::from_secs(10), "IMAP down", || async {
        (!port_open(s.imap_port)).then_some(())
    })
    .await;
    // (The test stack's Postfix authenticates through Dovecot, so nothing is sent meanwhile.)
    tokio::time::sleep(outage()).await;
    run(&format!("dovecot -c {dir}/dovecot.conf </dev/null >/dev/null 2>&1"));
    wait_for(Duration::from_secs(10), "IMAP up", || async {
        port_open(s.imap_port).then_some(())
    })
    .await;
    send_raw(&lars, &[&mb], &submission(&lars, &mb, 2)).await;
    wait_for(t, "the receipt after the IMAP outage", || async {
        (!fetch_folder(&lars, "INBOX").await.is_empty()).then_some(())
    })
    .await;

    // Postfix down: the case is stored, the receipt waits in the outbox.
    run(&format!("postfix -c {dir}/conf stop >/dev/null 2>&1"));
    wait_for(Duration::from_secs(10), "SMTP down", || async {
        (!port_open(s.smtp_port)).then_some(())
    })
    .await;
    let seen = chrono::Utc::now() - chrono::Duration::seconds(5);
    let date = seen.format("%d-%b-%Y %H:%M:%S +0000").to_string();
    let raw = submission(&anna, &mb, 3);
    append_at(
        &mb,
        "INBOX",
        &raw,
        chrono::DateTime::parse_from_str(&date, "%d-%b-%Y %H:%M:%S %z").expect("date"),
    )
    .await;
    wait_for(t, "the case stored while SMTP is down", || async {
        (w.scalar("SELECT count(*) FROM cases").await == 3).then_some(())
    })
    .await;
    tokio::time::sleep(outage()).await;
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE status = 'pending'").await,
        1,
        "the receipt waits"
    );
    run(&format!(
        "touch -d '1 minute ago' {dir}/conf/* && postfix -c {dir}/conf start >/dev/null 2>&1"
    ));
    // The first retry comes 30-36 s after the failed attempt.
    wait_for(Duration::from_secs(90), "the outbox drained", || async {
        (w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'").await == 3).then_some(())
    })
    .await;
    wait_for(t, "the third receipt", || async {
        (fetch_folder(&anna, "INBOX").await.len() == 2).then_some(())
    })
    .await;

    let log = w.log();
    let count = |s: &str| log.matches(s).count();
    assert_eq!(count("intake interrupted"), 1, "the IMAP outage is logged once:\n{log}");
    assert_eq!(count("intake resumed"), 1, "{log}");
    assert_eq!(count("SMTP delivery failing"), 1, "the SMTP outage is logged once:\n{log}");
    assert_eq!(count("SMTP delivery recovered"), 1, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_database_delays_a_mail_but_loses_and_doubles_nothing() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    // SQLite's own lock: another process holding the file's write lock.
    let w = World::on_sqlite();
    let _d = w.start();
    let (anna, mb) = (w.addr("anna"), w.mailbox());
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    wait_for(Duration::from_secs(20), "the first case", || async {
        (w.scalar("SELECT count(*) FROM cases").await == 1).then_some(())
    })
    .await;

    // Another process holds the write lock longer than the daemon's busy timeout (10 s).
    let db = w.db_path.display().to_string();
    let mut locker = Command::new("python3")
        .args(["-c", &format!("import sqlite3,time; c=sqlite3.connect('{db}', isolation_level=None); c.execute('BEGIN EXCLUSIVE'); time.sleep(14); c.execute('ROLLBACK')")])
        .spawn()
        .expect("python3");
    tokio::time::sleep(Duration::from_millis(500)).await;
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 2)).await;
    locker.wait().expect("locker");
    wait_for(Duration::from_secs(40), "the second case after the lock", || async {
        (w.scalar("SELECT count(*) FROM cases").await == 2).then_some(())
    })
    .await;
    wait_for(Duration::from_secs(20), "both receipts", || async {
        (fetch_folder(&anna, "INBOX").await.len() == 2).then_some(())
    })
    .await;
    assert_eq!(w.scalar("SELECT count(*) FROM intake").await, 2, "each mail recorded once");
    assert!(
        w.log().contains("database is locked") && w.log().contains("intake interrupted"),
        "{}",
        w.log()
    );
}
