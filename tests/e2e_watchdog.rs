//! The systemd watchdog for real: the real daemon binary speaks the sd_notify protocol to a
//! datagram socket this test binds, as systemd does (`NOTIFY_SOCKET`, `WATCHDOG_USEC`). It says
//! READY=1 and pings WATCHDOG=1 while healthy; when its intake loop wedges without the process
//! stopping, the pings stop (and STATUS= names the task) so systemd would restart it; when the
//! wedge clears, the pings come back and the mail is handled exactly once.
//!
//! The wedge: the daemon's IMAP connection runs through a TCP proxy in this test, which is
//! frozen (it stops passing bytes, keeping both connections open: a hung server or a network
//! path that silently drops everything). IMAP commands after login have no timeout of their
//! own, so the intake loop blocks in `DONE` at the end of its IDLE, while the sender, the
//! scheduler and the main loop run on. A database lock does not wedge it: the busy timeout
//! (10 s) turns it into an error and a retry (`tests/e2e_outage.rs`).

mod common;

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// `WATCHDOG_USEC` given to the daemon: it pings every second (half of it), and a task may
/// overrun its promise by two periods (4 s) before it counts as stalled.
const WATCHDOG: Duration = Duration::from_secs(2);

/// A loopback TCP proxy to `upstream` that can be frozen: while frozen it neither reads nor
/// writes, and keeps every connection open.
async fn freezable_proxy(upstream: u16) -> (u16, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, rx.clone()));
            tokio::spawn(pump(sr, cw, rx.clone()));
        }
    });
    (port, tx)
}

async fn pump(mut r: tokio::net::tcp::OwnedReadHalf, mut w: tokio::net::tcp::OwnedWriteHalf, mut frozen: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => {
                w.shutdown().await.ok();
                return;
            }
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// What the daemon told "systemd", with when it arrived.
struct Notifications {
    got: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
}

impl Notifications {
    fn listen(path: &std::path::Path) -> Notifications {
        let sock = UnixDatagram::bind(path).expect("bind NOTIFY_SOCKET");
        sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (Arc::clone(&got), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let now = Instant::now();
                    let mut g = g.lock().expect("lock");
                    g.extend(text.lines().filter(|l| !l.is_empty()).map(|l| (now, l.to_string())));
                }
            }
        });
        Notifications { got, stop }
    }

    fn all(&self) -> Vec<(Instant, String)> {
        self.got.lock().expect("lock").clone()
    }

    /// When the first line equal to (or, ending in `*`, starting with) `what` arrived after `after`.
    fn first(&self, what: &str, after: Instant) -> Option<(Instant, String)> {
        self.all().into_iter().find(|(t, l)| {
            *t >= after
                && match what.strip_suffix('*') {
                    Some(prefix) => l.starts_with(prefix),
                    None => l == what,
                }
        })
    }

    fn pings(&self, from: Instant, to: Instant) -> Vec<Instant> {
        self.all()
            .into_iter()
            .filter(|(t, l)| l == "WATCHDOG=1" && *t >= from && *t < to)
            .map(|(t, _)| t)
            .collect()
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn wait_note(n: &Notifications, what: &str, after: Instant, timeout: Duration) -> Instant {
    wait_for(timeout, what, || async { n.first(what, after).map(|(t, _)| t) }).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wedged_intake_stops_the_watchdog_pings_until_it_moves_again() {
    if skip() {
        return;
    }
    let begun = Instant::now();
    let (proxy_port, freeze) = freezable_proxy(stack().imap_port).await;
    let w = World::new(false);
    let imap_line = format!("port = {}\ntls = \"none\"\nuser = \"samverkan-", stack().imap_port);
    w.edit_config(|c| {
        assert!(c.contains(&imap_line), "the world's [imap] section changed shape:\n{c}");
        c.replace(&imap_line, &format!("port = {proxy_port}\ntls = \"none\"\nuser = \"samverkan-"))
            .replace("[daemon]\n", "[daemon]\nidle_timeout = \"10s\"\n")
    });
    let sock = w.dir.path().join("notify.sock");
    let notes = Notifications::listen(&sock);
    let usec = WATCHDOG.as_micros().to_string();
    let mut d = w.start_with_env(&[("NOTIFY_SOCKET", sock.to_str().expect("path")), ("WATCHDOG_USEC", &usec)]);
    let (anna, mb) = (w.addr("anna"), w.mailbox());

    // Healthy: READY=1, a mail handled, and a ping every second.
    let ready = wait_note(&notes, "READY=1", begun, Duration::from_secs(15)).await;
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    wait_for(Duration::from_secs(15), "the first case", || async {
        (w.scalar("SELECT count(*) FROM cases").await == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let healthy = notes.pings(ready, Instant::now());
    assert!(healthy.len() >= 3, "pings while healthy: {healthy:?}");
    let max_gap = healthy.windows(2).map(|p| p[1] - p[0]).max().unwrap_or_default();
    assert!(
        max_gap < WATCHDOG,
        "pings must come well within WATCHDOG_USEC; largest gap {max_gap:?}"
    );

    // Wedge: the IMAP path hangs. A second mail arrives (through Postfix, not the proxy).
    let frozen_at = Instant::now();
    freeze.send(true).expect("freeze");
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 2)).await;
    // Intake's IDLE ends within 10 s and its DONE gets no answer; 4 s after its promise it is
    // stalled. Then the pings stop and STATUS= names it.
    let stalled = wait_note(&notes, "STATUS=stalled*", frozen_at, Duration::from_secs(25)).await;
    let (_, status) = notes.first("STATUS=stalled*", frozen_at).expect("status");
    assert!(status.contains("intake") && !status.contains("sender"), "{status}");
    let last_ping = notes.pings(frozen_at, stalled).last().copied().unwrap_or(frozen_at);
    // systemd would kill the daemon once WATCHDOG_USEC passes without a ping: hold the wedge
    // longer than that and check that no ping came.
    tokio::time::sleep(WATCHDOG + Duration::from_secs(1)).await;
    let during = notes.pings(stalled, Instant::now());
    assert!(during.is_empty(), "pings while intake is wedged: {during:?}");
    assert!(
        Instant::now() - last_ping > WATCHDOG,
        "no ping for longer than WATCHDOG_USEC ({:?} since the last)",
        Instant::now() - last_ping
    );
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 1, "nothing handled while wedged");
    assert_eq!(fetch_folder(&mb, "INBOX").await.len(), 1, "the second mail waits in the inbox");
    let stall_after = stalled - frozen_at;

    // Unwedge: the answer to DONE arrives, intake goes on, the pings resume.
    let thawed_at = Instant::now();
    freeze.send(false).expect("thaw");
    let running = wait_note(&notes, "STATUS=running", thawed_at, Duration::from_secs(10)).await;
    wait_for(Duration::from_secs(15), "the second case", || async {
        (w.scalar("SELECT count(*) FROM cases").await == 2).then_some(())
    })
    .await;
    wait_for(Duration::from_secs(15), "both receipts", || async {
        (fetch_folder(&anna, "INBOX").await.len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = notes.pings(running, Instant::now());
    assert!(after.len() >= 2, "pings after the wedge cleared: {after:?}");
    assert_eq!(w.scalar("SELECT count(*) FROM intake").await, 2, "each mail recorded once");
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 2, "one receipt each");
    let receipts = fetch_folder(&anna, "INBOX").await;
    let mut answered: Vec<String> = receipts.iter().filter_map(|r| header_of(r, "In-Reply-To")).collect();
    answered.sort();
    answered.dedup();
    assert_eq!(answered.len(), 2, "one receipt for each submission");
    assert!(fetch_folder(&mb, "INBOX").await.is_empty(), "both mails moved out of the inbox");

    d.stop();
    wait_note(&notes, "STOPPING=1", thawed_at, Duration::from_secs(5)).await;
    let log = w.log();
    assert_eq!(log.matches("a task stopped making progress").count(), 1, "{log}");
    assert_eq!(log.matches("every task is making progress again").count(), 1, "{log}");
    eprintln!(
        "watchdog: stalled {:.1} s after the freeze, pings resumed {:.1} s after the thaw, test took {:.1} s",
        stall_after.as_secs_f64(),
        (running - thawed_at).as_secs_f64(),
        begun.elapsed().as_secs_f64()
    );
}
