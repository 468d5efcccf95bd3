//! The floor under the burst's CPU per case (issue 20): what a program doing only the burst's
//! unavoidable work spends per mail on this machine, with the daemon's own parts (its IMAP
//! client, its MIME parser, its SMTP session with pipelining, SQLite in WAL mode) and none of
//! its routine. `bench/run` runs it after the daemon's burst, on the same mails, and records
//! it beside the daemon's figure: the daemon's CPU per case minus this is the part its own
//! work (the routine's rules, the store's rows and indexes, the answers it writes) costs.
//!
//! Per mail it does what no daemon that keeps the project's promises can leave out:
//! - reads the mail: `UID FETCH (UID INTERNALDATE BODY.PEEK[])` in batches of the daemon's
//!   `imap.batch_size`, and parses it (mail-parser) to find its Message-ID;
//! - records it: one intake row and one outbox row (the answer) per mail, committed per batch
//!   (WAL, `synchronous = NORMAL`, as the daemon);
//! - answers it: sends the outbox row's bytes over one SMTP session and marks it sent in its
//!   own commit before the next is sent (at most one mail in flight).
//!
//! Left out, so that the figure is a floor: the routine (headings, rules, the case's rows),
//! building the answer (the daemon's own receipts are replayed), moving the mail out of the
//! inbox (the folder is only examined) and the daemon's statements beyond one row per table.
//!
//! ```text
//! bench_floor CONFIG DAEMON_DB OUT_DB
//! ```
//! CONFIG: the daemon's configuration (IMAP and SMTP settings; the mails are read from its
//! `imap.processed_folder`); DAEMON_DB: the daemon's database after the burst (its receipts,
//! in outbox order, are the answers); OUT_DB: a new SQLite file for the floor's rows. Prints
//! one JSON object: mails, CPU (user, system) and context switches per mail, wall time.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use rusqlite::{Connection, OptionalExtension, params};

/// The process's CPU (user, system, in clock ticks) and context switches over all its threads.
fn usage() -> Result<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat.rsplit_once(')').context("/proc/self/stat")?.1.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
    let utime: u64 = fields[11].parse()?;
    let stime: u64 = fields[12].parse()?;
    let mut ctx = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let status = std::fs::read_to_string(task?.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                ctx += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok((utime, stime, ctx))
}

/// Opens the floor's own database: the daemon's pragmas for intake, one row per table.
fn open(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;
         CREATE TABLE intake (id INTEGER PRIMARY KEY, uid INTEGER NOT NULL UNIQUE, message_id TEXT NOT NULL);
         CREATE TABLE outbox (id INTEGER PRIMARY KEY, env_from TEXT NOT NULL, env_to TEXT NOT NULL, mime BLOB NOT NULL,
                              status TEXT NOT NULL DEFAULT 'pending');",
    )?;
    Ok(c)
}

/// The daemon's receipts, in the order it queued them.
fn receipts(daemon_db: &Path) -> Result<Vec<(String, String, Vec<u8>)>> {
    let c = Connection::open_with_flags(daemon_db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut st = c.prepare(
        "SELECT o.env_from, o.env_to, b.mime FROM outbox o JOIN outbox_body b ON b.outbox_id = o.id
         WHERE o.kind = 'receipt' ORDER BY o.id",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, daemon_db, out_db] = args.as_slice() else {
        bail!("usage: bench_floor CONFIG DAEMON_DB OUT_DB");
    };
    let cfg = samverkan::config::load(Path::new(config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let answers = receipts(Path::new(daemon_db))?;
    let db = Arc::new(Mutex::new(open(Path::new(out_db))?));

    let password = cfg.imap.password.resolve().map_err(anyhow::Error::msg)?;
    let mut imap = samverkan::net::imap_connect(&cfg.imap, &password).await?;
    let mailbox = imap.examine(&cfg.imap.processed_folder).await?;
    let mut uids: Vec<u32> = imap.uid_search("ALL").await?.into_iter().collect();
    uids.sort_unstable();
    let n = uids.len().min(answers.len());
    uids.truncate(n);
    if n == 0 {
        bail!("nothing to read in {} ({} messages)", cfg.imap.processed_folder, mailbox.exists);
    }
    let tcp = tokio::net::TcpStream::connect((cfg.smtp.host.as_str(), cfg.smtp.port)).await?;
    let mut smtp = samverkan::smtp::Session::start(tcp, &cfg.smtp.host, "localhost", &samverkan::smtp::Security::None).await?;

    let (to_send, mut queued) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let t0 = Instant::now();
    let u0 = usage()?;

    let sender_db = Arc::clone(&db);
    let sender = tokio::spawn(async move {
        let mut sent = 0usize;
        while let Some(id) = queued.recv().await {
            let (from, to, mime): (String, String, Vec<u8>) = {
                let c = sender_db.lock().expect("db");
                c.prepare_cached("SELECT env_from, env_to, mime FROM outbox WHERE id = ?1 AND status = 'pending'")?
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?
                    .context("outbox row")?
            };
            let to: Vec<String> = serde_json::from_str(&to)?;
            let reply = smtp.send(&from, &to, &mime).await?;
            if !reply.is_positive() {
                bail!("the SMTP server refused a mail: {}", reply.text());
            }
            // Marked sent in its own commit before the next mail goes out.
            sender_db
                .lock()
                .expect("db")
                .prepare_cached("UPDATE outbox SET status = 'sent' WHERE id = ?1")?
                .execute([id])?;
            sent += 1;
        }
        smtp.quit(std::time::Duration::from_secs(5)).await;
        Ok::<_, anyhow::Error>(sent)
    });

    let mut answers = answers.into_iter();
    for batch in uids.chunks(cfg.imap.batch_size.max(1) as usize) {
        let set = batch.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let fetched: Vec<_> = imap.uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])").await?.try_collect().await?;
        let mut ids = Vec::with_capacity(fetched.len());
        {
            let mut c = db.lock().expect("db");
            let tx = c.transaction()?;
            for f in &fetched {
                let (Some(uid), Some(body)) = (f.uid, f.body()) else { continue };
                let parsed = mail_parser::MessageParser::default()
                    .parse(body)
                    .context("a mail that does not parse")?;
                let message_id = parsed.message_id().unwrap_or_default();
                tx.prepare_cached("INSERT INTO intake (uid, message_id) VALUES (?1, ?2)")?
                    .execute(params![uid, message_id])?;
                let (from, to, mime) = answers.next().context("more mails than answers")?;
                tx.prepare_cached("INSERT INTO outbox (env_from, env_to, mime) VALUES (?1, ?2, ?3)")?
                    .execute(params![from, to, mime])?;
                ids.push(tx.last_insert_rowid());
            }
            tx.commit()?;
        }
        for id in ids {
            to_send.send(id).ok();
        }
    }
    drop(to_send);
    let sent = sender.await??;
    let u1 = usage()?;
    let wall = t0.elapsed().as_secs_f64();
    imap.logout().await.ok();

    let tick_ms = 1000.0 / 100.0; // USER_HZ
    let per = |a: u64, b: u64| (b - a) as f64 * tick_ms / sent as f64;
    println!(
        "{}",
        serde_json::json!({
            "mails": sent,
            "cpu_ms_per_mail": per(u0.0 + u0.1, u1.0 + u1.1),
            "user_ms_per_mail": per(u0.0, u1.0),
            "sys_ms_per_mail": per(u0.1, u1.1),
            "ctx_per_mail": (u1.2 - u0.2) as f64 / sent as f64,
            "wall_s": wall,
        })
    );
    Ok(())
}
