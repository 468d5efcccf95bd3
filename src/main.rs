//! The `samverkan` command line.

use std::path::{Path, PathBuf};

/// `println!` that ends quietly on a closed pipe (`samverkan preview | head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use samverkan::config::{self, Config};
use samverkan::logging::{self, LogFormat};
use samverkan::store::Store;

#[derive(Parser)]
#[command(
    name = "samverkan",
    version,
    about = "Runs the collaboration-meeting routine of Swedish municipal social services by e-mail and calendar",
    long_about = "Runs the collaboration-meeting routine (samverkan) of Swedish municipal social services by \
e-mail and calendar: reads case submissions from an IMAP mailbox, answers every sender, sends the meetings' \
calendar invitations and agendas, follows up what was decided, and keeps its state in a SQLite file (one machine) \
or a shared PostgreSQL database (several instances).\n\nStart with `samverkan check-config --config FILE`, then `samverkan run --config FILE`."
)]
struct Cli {
    /// Log format: human (default) or json for log shippers. Under journald no timestamps are added.
    #[arg(long, global = true, value_enum, default_value = "human")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: read the mailbox (IMAP IDLE), handle each mail, send queued mail.
    ///
    /// Stops cleanly on SIGTERM or SIGINT: the current transaction finishes and the IMAP
    /// session logs out. Under systemd (Type=notify) it reports READY and STOPPING.
    Run {
        /// The configuration file.
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
    },
    /// Check a configuration file and report every problem by its key.
    ///
    /// Exit status 0 when the file is valid (secrets or CA files missing on this machine are
    /// warnings here, and errors at `run`), 1 when it has problems.
    CheckConfig {
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
        /// Also log in to the servers step by step (OAuth2 token, IMAP login, the inbox, SMTP
        /// AUTH) and name the step that fails with what to do about it.
        #[arg(long)]
        connect: bool,
    },
    /// OAuth2 sign-in: `auth login` (provider = "device": a one-time sign-in, the refresh token
    /// kept in the database) and `auth test` (the same steps as `check-config --connect`).
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Show how the daemon reads a mail, as JSON, without touching any database or server.
    ///
    /// Prints the mail's kind (submission, reply, counter, auto_reply, bounce, other), its
    /// Message-ID and sender, and for a submission the sections found, the missing ones,
    /// urgency, consent and the units concerned. With --config, Cc addresses of forum members
    /// count as units concerned.
    Inspect {
        /// The mail, as an .eml file ("-" reads standard input).
        file: PathBuf,
        /// A configuration whose forum members map Cc addresses to units (optional).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List, show, move, cancel or add meetings.
    ///
    /// A moved or cancelled meeting that has been sent out is sent again (SEQUENCE+1) or
    /// cancelled (METHOD:CANCEL) to every invitee by the running daemon within a minute.
    Meeting {
        #[arg(
            long,
            short,
            env = "SAMVERKAN_CONFIG",
            default_value = "/etc/samverkan/samverkan.toml",
            global = true
        )]
        config: PathBuf,
        #[command(subcommand)]
        action: MeetingCmd,
    },
    /// Record a case's decision, or the date an age transfer falls due.
    ///
    /// The same as a decision line in reply to the "beslutsunderlag"; the mails it causes are
    /// queued and sent by the running daemon.
    Case {
        #[arg(
            long,
            short,
            env = "SAMVERKAN_CONFIG",
            default_value = "/etc/samverkan/samverkan.toml",
            global = true
        )]
        config: PathBuf,
        #[command(subcommand)]
        action: CaseCmd,
    },
    /// The routines around one person: `person list` (everyone, with when the next meeting
    /// falls due and what is overdue), `person show REF` (one person: contact persons,
    /// meetings, open deadlines). References and initials only, never names.
    Person {
        #[arg(
            long,
            short,
            env = "SAMVERKAN_CONFIG",
            default_value = "/etc/samverkan/samverkan.toml",
            global = true
        )]
        config: PathBuf,
        #[command(subcommand)]
        action: PersonCmd,
    },
    /// Wipe personal data kept past its retention time (the daemon also does this daily).
    ///
    /// Cases in every state keep their number, status and dates; their personal data (parts,
    /// handover text, submitter, transfer date, ...) goes after their last activity: closed,
    /// withdrawn and handed-over cases after `retention.case_days`, incomplete submissions after
    /// `retention.incomplete_days`, the others after `retention.open_case_days` (a future
    /// meeting, date or reminder counts as activity). Obligations' addresses and data go with
    /// their case; past meetings' invitees and note takers after `retention.case_days`; sent
    /// mail leaves the outbox, read mail's Message-IDs are forgotten and handled mail is expunged
    /// from the processed and quarantine folders after `retention.mail_days`. With --dry-run,
    /// lists what would go per kind.
    Purge {
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
        /// Only count what would go.
        #[arg(long)]
        dry_run: bool,
        /// Leave the IMAP folders alone (no connection to the mail server).
        #[arg(long)]
        store_only: bool,
    },
    /// Write the review report (Uppföljning av samverkan) for a period: an HTML page
    /// (self-contained, printable, charts as inline SVG) and beside it one CSV file per table
    /// (FILE-TABLE.csv). Counts only; cells below `report.min_cell` are suppressed.
    Report {
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
        /// The first day (YYYY-MM-DD, the forum's local date).
        #[arg(long)]
        from: chrono::NaiveDate,
        /// The last day, included (YYYY-MM-DD).
        #[arg(long)]
        to: chrono::NaiveDate,
        /// Only this forum (its id); default every forum (FILE-FORUM.html each).
        #[arg(long)]
        forum: Option<String>,
        /// The HTML file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// List quarantined mails, or move them back to the inbox to be handled again.
    Quarantine {
        #[arg(
            long,
            short,
            env = "SAMVERKAN_CONFIG",
            default_value = "/etc/samverkan/samverkan.toml",
            global = true
        )]
        config: PathBuf,
        #[command(subcommand)]
        action: QuarantineCmd,
    },
    /// Every mail the daemon will send in the next N days and when, without sending anything.
    ///
    /// Shows queued mail not yet delivered, then the invitations, agenda mails, updates,
    /// not-held notices, RSVP reminders and digests the meeting planner will produce from what
    /// is stored now (cases that arrive later can change it), and the reminders and escalations
    /// of the open obligations (decisions, notes, review, handovers, follow-ups, age transfers).
    Preview {
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
        /// How many days ahead.
        #[arg(long, default_value_t = 14)]
        days: u32,
    },
    /// Database administration: copy an installation's state to another database.
    Db {
        #[command(subcommand)]
        action: DbCmd,
    },
    /// Print shell completions (bash, zsh, fish) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout.
    #[command(hide = true)]
    Manpage,
    /// Show forums, cases, outbox depth and the last successful mailbox sync.
    Status {
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DbCmd {
    /// Copy every case, meeting, invitation, obligation, outbox row and intake record from one
    /// database into a new, empty one (SQLite to PostgreSQL for several instances, or back).
    ///
    /// Stop the daemon first: the copy refuses a source that an instance renewed in the last
    /// minute, unless --force. Then point `[database]` at the destination and start the daemon
    /// (see docs/operations.md, "Moving to PostgreSQL").
    Copy {
        /// The source: `sqlite:PATH` (or a path) or `postgres://USER@HOST:PORT/DB`.
        #[arg(long)]
        from: String,
        /// The destination, empty: `postgres://USER@HOST:PORT/DB` (or `sqlite:PATH`).
        /// A PostgreSQL password comes from $PGPASSWORD, never from the command line.
        #[arg(long)]
        to: String,
        /// Copy even though an instance seems to be running on the source.
        #[arg(long)]
        force: bool,
    },
}

/// The file a database argument names (`sqlite:PATH`, `sqlite://PATH` or a path), or `None`
/// for a `postgres://` URL.
fn sqlite_path(arg: &str) -> Option<&str> {
    if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
        return None;
    }
    Some(arg.strip_prefix("sqlite://").or_else(|| arg.strip_prefix("sqlite:")).unwrap_or(arg))
}

/// Opens a database named on the command line: `sqlite:PATH`, a path, or a `postgres://` URL
/// whose password comes from $PGPASSWORD.
async fn open_arg(arg: &str) -> Result<Store> {
    use samverkan::store::Target;
    if let Some(path) = sqlite_path(arg) {
        Store::open(Path::new(path)).await
    } else {
        let u = url::Url::parse(arg).map_err(|e| anyhow::anyhow!("{}: not a URL ({e})", samverkan::config::redact_url(arg)))?;
        if u.password().is_some() {
            anyhow::bail!("put the password in $PGPASSWORD, not in the URL (command lines are visible to other users)");
        }
        let pw = std::env::var("PGPASSWORD").ok();
        Store::connect(Target::Postgres {
            url: arg,
            password: pw.as_deref(),
        })
        .await
    }
}

async fn db_cmd(action: DbCmd) -> Result<ExitCode> {
    match action {
        DbCmd::Copy { from, to, force } => {
            // Opening would create an empty SQLite file: a mistyped source must not copy nothing.
            if let Some(p) = sqlite_path(&from)
                && !Path::new(p).exists()
            {
                anyhow::bail!("no database at {p}");
            }
            let src = open_arg(&from).await?;
            let now = samverkan::clock::Clock::from_env()?.now();
            let st = src.status(&[]).await?;
            let running: Vec<&str> = st
                .instances
                .iter()
                .filter(|i| i.alive_until > samverkan::core::time::db(now - chrono::Duration::minutes(1)))
                .map(|i| i.name.as_str())
                .collect();
            if !running.is_empty() && !force {
                eprintln!(
                    "error: instance(s) {} renewed the source within the last minute: stop the daemon first (or --force)",
                    running.join(", ")
                );
                return Ok(ExitCode::from(1));
            }
            let dest = open_arg(&to).await?;
            let report = src.copy_into(&dest).await?;
            for (table, n) in &report {
                out!("{table}: {n} row(s)");
            }
            out!("copied; now set [database] to the destination and start the daemon");
            src.close().await;
            dest.close().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking.
fn print_out(s: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{s}");
}

#[derive(Subcommand)]
enum QuarantineCmd {
    /// Quarantined mails: inbox UID, arrival, kind and reason (no personal data).
    List,
    /// Move quarantined mails back to the inbox so the daemon reads them again (after fixing
    /// the configuration, e.g. adding a member). Give UIDs from `list`, or --all.
    Reprocess {
        uids: Vec<i64>,
        #[arg(long)]
        all: bool,
    },
}

async fn report_cmd(path: &Path, from: chrono::NaiveDate, to: chrono::NaiveDate, forum: Option<&str>, out: &Path) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if to < from {
        eprintln!("error: --to {to} is before --from {from}");
        return Ok(ExitCode::from(2));
    }
    let app = samverkan::app::App::open_offline(cfg).await?;
    let until = to.succ_opt().unwrap_or(to);
    for p in samverkan::report::write(&app, forum, from, until, out).await? {
        out!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn purge_cmd(path: &Path, dry_run: bool, store_only: bool) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let app = if store_only {
        samverkan::app::App::open_offline(cfg).await?
    } else {
        samverkan::app::App::open(cfg).await?
    };
    let now = samverkan::clock::Clock::from_env()?.now();
    let rep = if store_only {
        samverkan::admin::purge_store(&app, now, dry_run).await?
    } else {
        samverkan::admin::purge(&app, now, dry_run).await?
    };
    let verb = if dry_run { "would be" } else { "were" };
    let p = &rep.store;
    let by_status: Vec<String> = rep.cases_by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let by_status = if by_status.is_empty() {
        String::new()
    } else {
        format!(" ({})", by_status.join(", "))
    };
    out!("cases whose personal data {verb} wiped: {}{by_status}", p.cases);
    out!("obligations whose addresses and data {verb} wiped: {}", p.obligations);
    out!("mails that {verb} deleted from the outbox: {}", p.outbox);
    out!("invitees of past meetings that {verb} deleted: {}", p.invitations);
    out!("note takers of past meetings that {verb} forgotten: {}", p.note_takers);
    out!("Message-IDs of read mail that {verb} forgotten: {}", p.intake);
    out!("people who left a routine that {verb} deleted: {}", p.people);
    out!("deviations whose units and answers {verb} wiped: {}", p.deviations);
    if !store_only {
        out!(
            "mails that {verb} expunged from the processed and quarantine folders: {}",
            rep.mails_expunged
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn quarantine_cmd(path: &Path, action: QuarantineCmd) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    match action {
        QuarantineCmd::List => {
            let app = samverkan::app::App::open_offline(cfg).await?;
            let list = samverkan::admin::quarantine_list(&app).await?;
            if list.is_empty() {
                out!("the quarantine is empty");
            }
            for q in list {
                out!("uid {:>7}  {}  {:<12} {}", q.uid, q.received_at, q.kind, q.reason);
            }
        }
        QuarantineCmd::Reprocess { uids, all } => {
            if uids.is_empty() && !all {
                eprintln!("name the UIDs to reprocess (see `samverkan quarantine list`), or --all");
                return Ok(ExitCode::from(2));
            }
            let app = samverkan::app::App::open(cfg).await?;
            let n = samverkan::admin::quarantine_reprocess(&app, &uids).await?;
            out!("{n} mail(s) moved back to the inbox; the running daemon handles them now");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum PersonCmd {
    /// Everyone in a routine: reference, routine, where they stand, the next due date.
    List,
    /// One person by reference: contact persons, meetings, open deadlines.
    Show {
        /// The local reference, e.g. AB-12.
        reference: String,
    },
}

async fn person_cmd(path: &Path, action: PersonCmd) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = Store::open_config(&cfg.database).await?;
    let now = samverkan::clock::Clock::from_env()?.now();
    let text = match action {
        PersonCmd::List => samverkan::person::list(&cfg, &store, now).await?,
        PersonCmd::Show { reference } => match samverkan::person::show(&cfg, &store, &reference, now).await? {
            Some(t) => t,
            None => {
                eprintln!("no person with reference {reference:?}");
                return Ok(ExitCode::from(1));
            }
        },
    };
    out!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum CaseCmd {
    /// Record a decision: exactly one of --handover, --follow-up, --escalate, --escalate-department, --close.
    Decide {
        /// The case number, e.g. 2026-0042.
        case: String,
        /// The forum (needed when there are several).
        #[arg(long)]
        forum: Option<String>,
        /// ÖVERLÄMNA: hand the case over to this unit.
        #[arg(long, group = "decision")]
        handover: Option<String>,
        /// UPPFÖLJNING: put it on the first meeting on or after this date (YYYY-MM-DD).
        #[arg(long, group = "decision")]
        follow_up: Option<String>,
        /// LYFT: lift it to the unit heads (level 3; a case already lifted goes to level 4).
        #[arg(long, group = "decision")]
        escalate: bool,
        /// LYFT till avdelningschef: lift it to the heads of department (level 4).
        #[arg(long, group = "decision")]
        escalate_department: bool,
        /// AVSLUTAD: close it.
        #[arg(long, group = "decision")]
        close: bool,
    },
    /// Record the date the person turns 19 (or 21): the transfer is announced 6 months ahead.
    Transfer {
        case: String,
        #[arg(long)]
        forum: Option<String>,
        /// The birthday, YYYY-MM-DD.
        #[arg(long)]
        on: String,
        /// The unit that takes over.
        #[arg(long)]
        to: Option<String>,
    },
}

async fn case_cmd(path: &Path, action: CaseCmd) -> Result<ExitCode> {
    use samverkan::core::decision::Decision;
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let app = samverkan::app::App::open_offline(cfg).await?;
    let now = samverkan::clock::Clock::from_env()?.now();
    let pick = |forum: &Option<String>| -> Result<samverkan::config::Forum> {
        match forum {
            Some(id) => app.cfg.forum(id).cloned().ok_or_else(|| anyhow::anyhow!("no forum {id:?}")),
            None if app.cfg.forums.len() == 1 => Ok(app.cfg.forums[0].clone()),
            None => Err(anyhow::anyhow!("several forums: name one with --forum")),
        }
    };
    let (forum, case_no) = match &action {
        CaseCmd::Decide { case, forum, .. } | CaseCmd::Transfer { case, forum, .. } => (pick(forum)?, case.clone()),
    };
    let Some(case) = app.store.case_by_no(&forum.id, &case_no).await? else {
        eprintln!("no case {case_no} in forum {}", forum.id);
        return Ok(ExitCode::from(1));
    };
    if case.submitter.is_empty() {
        // No one to ask for a handover, to remind or to tell: the case is statistics now.
        eprintln!("case {case_no}: its personal data was wiped by the retention purge; it cannot be decided on any more");
        return Ok(ExitCode::from(1));
    }
    let mut tx = app.store.begin().await?;
    let result = match action {
        CaseCmd::Decide {
            handover,
            follow_up,
            escalate,
            escalate_department,
            close,
            ..
        } => {
            let decision = match (handover, follow_up, escalate || escalate_department, close) {
                (Some(unit), None, false, false) => Decision::Handover { unit },
                (None, Some(d), false, false) => Decision::FollowUp {
                    date: chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                        .map_err(|_| anyhow::anyhow!("--follow-up {d:?} is not YYYY-MM-DD"))?,
                },
                (None, None, true, false) if escalate_department && !escalate => Decision::EscalateDepartment,
                (None, None, true, false) if !escalate_department => Decision::Escalate,
                (None, None, false, true) => Decision::Close,
                _ => {
                    eprintln!("give exactly one of --handover UNIT, --follow-up DATE, --escalate, --escalate-department, --close");
                    return Ok(ExitCode::from(2));
                }
            };
            samverkan::followup::apply_decision(&app, &mut tx, &forum, &case, &decision, now).await?
        }
        CaseCmd::Transfer { on, to, .. } => {
            let on = chrono::NaiveDate::parse_from_str(&on, "%Y-%m-%d").map_err(|_| anyhow::anyhow!("--on {on:?} is not YYYY-MM-DD"))?;
            samverkan::followup::record_transfer(&mut tx, &forum, &case, on, to.as_deref(), now).await?
        }
    };
    match result {
        Ok(text) => {
            tx.commit().await?;
            out!("{case_no}: {text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{case_no}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

#[derive(Subcommand)]
enum MeetingCmd {
    /// Meetings from a week ago to N days ahead.
    List {
        #[arg(long, default_value_t = 120)]
        days: u32,
    },
    /// One meeting: time, place, status, SEQUENCE, note taker, agenda and each invitee's answer.
    Show { id: i64 },
    /// Move a meeting to a new local time (forum's time zone), e.g. --to "2026-12-09 13:00".
    Move {
        id: i64,
        #[arg(long)]
        to: String,
        /// A new place or video link.
        #[arg(long)]
        place: Option<String>,
    },
    /// Cancel a meeting; its cases wait for the next one.
    Cancel { id: i64 },
    /// Add an extra meeting outside the series.
    Add {
        #[arg(long)]
        forum: String,
        /// Local start time, e.g. "2026-12-15 13:00".
        #[arg(long)]
        at: String,
        /// samverkansmöte or avstämningsmöte.
        #[arg(long, default_value = "samverkansmöte")]
        kind: String,
        #[arg(long)]
        place: Option<String>,
    },
}

fn parse_local(s: &str) -> Result<chrono::NaiveDateTime> {
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s.trim(), f).ok())
        .ok_or_else(|| anyhow::anyhow!("{s:?} is not a local time like \"2026-12-09 13:00\""))
}

async fn meeting(path: &Path, action: MeetingCmd) -> Result<ExitCode> {
    use samverkan::core::schedule::{MeetingKind, local};
    use samverkan::core::time::swedish_datetime;
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = Store::open_config(&cfg.database).await?;
    let now = samverkan::clock::Clock::from_env()?.now();
    let forum_of = |id: &str| {
        cfg.forum(id)
            .ok_or_else(|| anyhow::anyhow!("no forum {id:?} in {}", path.display()))
    };
    let code = match action {
        MeetingCmd::List { days } => {
            let (from, until) = (now - chrono::Duration::days(7), now + chrono::Duration::days(i64::from(days)));
            let ms = store.meeting_views(from, until).await?;
            let cases = store.meeting_cases(from, until).await?;
            if ms.is_empty() {
                out!("no meetings (is a [forum.schedule] configured, and has the daemon run?)");
            }
            for m in &ms {
                let f = forum_of(&m.forum_id)?;
                let answered = m
                    .invitations
                    .iter()
                    .filter(|i| i.active && i.partstat != samverkan::core::ical::PartStat::NeedsAction)
                    .count();
                let on = cases.get(&m.id).map(Vec::as_slice).unwrap_or_default();
                out!(
                    "{:>5}  {:<10} {:<16} {:<40} {:<12} seq {}  {}  {} invited, {} answered",
                    m.id,
                    m.forum_id,
                    m.kind.label_sv(),
                    swedish_datetime(m.start, f.time_zone),
                    meeting_state(m, now),
                    m.sequence,
                    case_summary(on),
                    m.invitations.iter().filter(|i| i.active).count(),
                    answered
                );
            }
            ExitCode::SUCCESS
        }
        MeetingCmd::Show { id } => {
            let Some(m) = store.meeting_view(id).await? else {
                eprintln!("no meeting {id}");
                return Ok(ExitCode::from(1));
            };
            let f = forum_of(&m.forum_id)?;
            out!("meeting {}: {} {} ({})", m.id, m.kind.label_sv(), f.name, m.forum_id);
            out!(
                "  when:       {} – {}",
                swedish_datetime(m.start, f.time_zone),
                swedish_datetime(m.end, f.time_zone)
            );
            out!("  place:      {}", if m.place.is_empty() { "-" } else { &m.place });
            out!(
                "  status:     {}{}",
                meeting_state(&m, now),
                if m.invited { ", sent out" } else { ", not sent out yet" }
            );
            out!("  sequence:   {}", m.sequence);
            out!(
                "  uid:        {}",
                samverkan::core::plan::uid(&f.id, &m.occurrence, f.mail_domain())
            );
            let nt = m
                .note_taker
                .as_deref()
                .map(|a| f.member(a).map(|x| x.name.clone()).unwrap_or_else(|| a.to_string()));
            out!("  note taker: {}", nt.as_deref().unwrap_or("-"));
            let all = store
                .meeting_cases(m.start, m.start + chrono::Duration::seconds(1))
                .await?
                .remove(&m.id)
                .unwrap_or_default();
            out!("  agenda:     {}", case_summary(&all));
            for (no, status) in all.iter().filter(|(_, s)| s != samverkan::core::intake::SUBMITTED) {
                out!("    {no}  decided ({status})");
            }
            for c in &m.cases {
                let i = samverkan::core::plan::initials(
                    c.sections
                        .get(&samverkan::core::submission::SectionKey::NameAge)
                        .map(String::as_str)
                        .unwrap_or(""),
                );
                let who = f
                    .member(&c.submitter)
                    .map(|x| format!("{} ({})", x.name, x.unit))
                    .unwrap_or_else(|| c.submitter.clone());
                out!("    {}{}  {}  from {}", c.case_no, if c.urgent { " AKUT" } else { "" }, i, who);
            }
            out!("  invitees:");
            let answers = store.invitation_answers(m.id).await?;
            for i in &m.invitations {
                let (at, source) = answers.get(&i.address).cloned().unwrap_or_default();
                out!(
                    "    {:<40} {:<16} {:<13}{}{}",
                    format!("{} <{}>", i.name, i.address),
                    i.role.as_str(),
                    i.partstat.as_str(),
                    if at.is_empty() { String::new() } else { format!(" {at}") },
                    if source.is_empty() {
                        String::new()
                    } else {
                        format!(" (from {source})")
                    }
                );
                if !i.active {
                    out!("      (cancelled for this invitee)");
                }
            }
            ExitCode::SUCCESS
        }
        MeetingCmd::Move { id, to, place } => {
            let Some(m) = store.meeting_view(id).await? else {
                eprintln!("no meeting {id}");
                return Ok(ExitCode::from(1));
            };
            let f = forum_of(&m.forum_id)?;
            let start = local(f.time_zone, parse_local(&to)?);
            let end = start + (m.end - m.start);
            if store.move_meeting(id, start, end, place.as_deref(), now).await? {
                out!(
                    "meeting {id} moved to {} (sequence {}); the daemon sends the change to every invitee",
                    swedish_datetime(start, f.time_zone),
                    m.sequence + 1
                );
                ExitCode::SUCCESS
            } else {
                eprintln!("meeting {id} is {} and cannot be moved", m.status);
                ExitCode::from(1)
            }
        }
        MeetingCmd::Cancel { id } => {
            if store.cancel_meeting(id, now).await? {
                out!("meeting {id} cancelled; the daemon sends a cancellation to every invitee, and its cases wait for a new meeting");
                ExitCode::SUCCESS
            } else {
                eprintln!("meeting {id} does not exist or is not scheduled");
                ExitCode::from(1)
            }
        }
        MeetingCmd::Add { forum, at, kind, place } => {
            let f = forum_of(&forum)?;
            let Some(kind) = MeetingKind::parse(&kind) else {
                eprintln!("--kind must be samverkansmöte or avstämningsmöte");
                return Ok(ExitCode::from(1));
            };
            let local_start = parse_local(&at)?;
            let start = local(f.time_zone, local_start);
            let dur = f
                .schedule
                .as_ref()
                .map(|s| s.duration)
                .unwrap_or_else(|| chrono::Duration::hours(1));
            let place = place.or_else(|| f.schedule.as_ref().map(|s| s.place.clone())).unwrap_or_default();
            let occ = format!("extra-{}", local_start.format("%Y-%m-%dT%H:%M"));
            let id = store
                .add_meeting(&f.id, f.mail_domain(), kind, start, start + dur, &place, &occ, now)
                .await?;
            out!("meeting {id} added: {} {}", kind.label_sv(), swedish_datetime(start, f.time_zone));
            ExitCode::SUCCESS
        }
    };
    store.close().await;
    Ok(code)
}

/// What happened to a meeting, for `meeting list`/`show`: `scheduled`, `summoned`, `in progress`,
/// `held`, `not held`, `cancelled`, or `passed` (its time went by without a summons).
fn meeting_state(m: &samverkan::core::plan::MeetingView, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    use samverkan::core::plan::{CANCELLED, NOT_HELD};
    match m.status.as_str() {
        NOT_HELD => "not held",
        CANCELLED => "cancelled",
        _ if now >= m.end && m.summoned => "held",
        _ if now >= m.end => "passed",
        _ if now >= m.start => "in progress",
        _ if m.summoned => "summoned",
        _ => "scheduled",
    }
}

/// "3 case(s): 2 decided, 1 awaiting decision" from a meeting's (case number, status) list.
fn case_summary(cases: &[(String, String)]) -> String {
    let open = cases.iter().filter(|(_, s)| s == samverkan::core::intake::SUBMITTED).count();
    let decided = cases.len() - open;
    match (decided, open) {
        (0, n) => format!("{n} case(s)"),
        (d, 0) => format!("{d} case(s), all decided"),
        (d, n) => format!("{} case(s): {d} decided, {n} awaiting decision", d + n),
    }
}

async fn preview(path: &Path, days: u32) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = Store::open_config(&cfg.database).await?;
    let now = samverkan::clock::Clock::from_env()?.now();
    let until = now + chrono::Duration::days(i64::from(days));
    samverkan::app::materialize_meetings(&cfg, &store, until + chrono::Duration::days(210), now).await?;
    let queued = store.due_outbox_count(until).await?;
    out!("queued, not yet delivered: {queued} mail(s)");
    let ms = store
        .meeting_views(now - chrono::Duration::days(1), until + chrono::Duration::days(400))
        .await?;
    let last = store.last_note_takers().await?;
    let open = store.open_obligations().await?;
    let mut case_nos = std::collections::BTreeMap::new();
    for id in open.iter().filter_map(|o| o.case_id) {
        if let Some(c) = store.case_by_id(id).await? {
            case_nos.insert(id, c.case_no);
        }
    }
    let person_lines = samverkan::person::preview(&cfg, &store, now, until).await?;
    store.close().await;
    let mut lines = samverkan::preview::meetings(&cfg, ms, last, now, until);
    lines.extend(person_lines);
    lines.extend(samverkan::preview::obligations(&open, &case_nos, now, until));
    lines.extend(samverkan::preview::reports(&cfg, now, until));
    lines.sort_by_key(|(t, _)| *t);
    if lines.is_empty() {
        out!("nothing planned in the next {days} day(s)");
    }
    let tz = cfg.forums.first().map(|f| f.time_zone).unwrap_or(chrono_tz::Europe::Stockholm);
    for (t, line) in lines {
        out!("{}  {line}", t.with_timezone(&tz).format("%Y-%m-%d %H:%M"));
    }
    Ok(ExitCode::SUCCESS)
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    config::load(path).map_err(|e| {
        eprint!("{e}");
        ExitCode::from(1)
    })
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Sign in once with the device code flow: prints a URL and a code for a browser, waits,
    /// and stores the refresh token in the database (replaced whenever the server rotates it).
    Login {
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
    },
    /// Fetch a token and log in to IMAP and SMTP step by step, naming what fails.
    Test {
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
    },
}

async fn auth_login(path: &Path) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = Store::open_config(&cfg.database).await?;
    let tokens = samverkan::oauth::Tokens::for_config(&cfg, Some(store.clone()))?
        .ok_or_else(|| anyhow::anyhow!("no [oauth2] section used by imap.auth or smtp.auth"))?;
    let r = tokens.device_login(|text| out!("{text}")).await;
    store.close().await;
    r?;
    out!("signed in: the refresh token is stored in the database; `samverkan run` uses it");
    Ok(ExitCode::SUCCESS)
}

fn check_config(path: &Path) -> ExitCode {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for p in cfg.environment_problems() {
        eprintln!("warning: {p} (needed by `samverkan run`)");
    }
    let members: usize = cfg.forums.iter().map(|f| f.members.len()).sum();
    out!("{}: ok ({} forum(s), {} member(s))", path.display(), cfg.forums.len(), members);
    ExitCode::SUCCESS
}

/// `check-config --connect`: each login step, "ok" or what failed and what to do.
async fn check_connect(path: &Path) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let mut ok = true;
    for step in samverkan::oauth::diagnose::run(&cfg).await {
        match step.result {
            Ok(r) => out!("{}: {r}", step.name),
            Err(e) => {
                ok = false;
                out!("{}: FAILED: {e}", step.name);
            }
        }
    }
    out!(
        "{}",
        if ok {
            "check-config --connect: ok"
        } else {
            "check-config --connect: failed"
        }
    );
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn status(path: &Path, json: bool) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let samverkan::config::Database::Sqlite(p) = &cfg.database.backend
        && !p.exists()
    {
        out!("no database at {} yet: the daemon has not run with this configuration", p.display());
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open_config(&cfg.database).await?;
    let ids: Vec<String> = cfg.forums.iter().map(|f| f.id.clone()).collect();
    let st = store.status(&ids).await?;
    let people = samverkan::person::status(&cfg, &store, samverkan::clock::Clock::from_env()?.now()).await?;
    store.close().await;
    if json {
        let mut v = serde_json::to_value(&st)?;
        v["routines"] = serde_json::to_value(&people)?;
        print_out(&serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!("database: {}", cfg.database.display());
    for f in &st.forums {
        let by: Vec<String> = f.cases_by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let detail = if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        };
        out!("forum {}: {} case(s){detail}", f.id, f.cases);
    }
    for r in &people {
        out!("{}", samverkan::person::status_line(r));
    }
    out!(
        "outbox: {} pending, {} sent, {} failed{}",
        st.outbox_pending,
        st.outbox_sent,
        st.outbox_failed,
        st.oldest_pending_at
            .as_deref()
            .map(|t| format!(" (oldest pending since {t})"))
            .unwrap_or_default()
    );
    out!("mails read: {} ({} quarantined)", st.intake_total, st.quarantined);
    if st.mailboxes.is_empty() {
        out!("mailbox: never synced");
    }
    for m in &st.mailboxes {
        out!(
            "mailbox {}: last sync {}, UIDVALIDITY {}, last UID {}",
            m.mailbox,
            m.last_sync_at.as_deref().unwrap_or("never"),
            m.uidvalidity,
            m.last_uid
        );
    }
    let now = samverkan::core::time::db(samverkan::clock::Clock::from_env()?.now());
    for i in &st.instances {
        let state = if i.alive_until > now {
            format!("running since {} (pid {}, version {})", i.started_at, i.pid, i.version)
        } else {
            format!("stopped (last seen until {})", i.alive_until)
        };
        out!("instance {}: {state}", i.name);
    }
    for l in &st.leases {
        let role = l
            .name
            .strip_prefix("intake:")
            .map(|m| format!("reads {m}"))
            .unwrap_or_else(|| format!("runs the {}", l.name));
        let state = if l.expires_at > now {
            ""
        } else {
            " (expired: the next instance to ask takes it)"
        };
        out!("lease: {} {role} since {}{state}", l.holder, l.since);
    }
    for (provider, action, since) in &st.oauth_admin_actions {
        out!("oauth2 {provider}: ADMIN ACTION NEEDED since {since}: {action}");
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(file: &Path, config: Option<&Path>) -> Result<ExitCode> {
    let cfg = match config.map(load).transpose() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let raw = if file == Path::new("-") {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
        v
    } else {
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
    };
    let unit_of = |addr: &str| -> Option<String> { cfg.as_ref()?.forums.iter().find_map(|f| f.member(addr).map(|m| m.unit.clone())) };
    let v = samverkan::core::inspect::inspect_with(&raw, &unit_of, cfg.as_ref());
    print_out(&serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Auth(AuthCommand::Login { config }) => rt.block_on(auth_login(&config)),
        Command::Auth(AuthCommand::Test { config }) => match check_config(&config) {
            code if code == ExitCode::SUCCESS => rt.block_on(check_connect(&config)),
            code => Ok(code),
        },
        Command::CheckConfig { config, connect } => match check_config(&config) {
            code if connect && code == ExitCode::SUCCESS => rt.block_on(check_connect(&config)),
            code => Ok(code),
        },
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "samverkan", &mut out);
            print_out(String::from_utf8_lossy(&out).trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpage => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => {
                    print_out(String::from_utf8_lossy(&out).trim_end());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Inspect { file, config } => inspect(&file, config.as_deref()),
        Command::Meeting { config, action } => rt.block_on(meeting(&config, action)),
        Command::Case { config, action } => rt.block_on(case_cmd(&config, action)),
        Command::Person { config, action } => rt.block_on(person_cmd(&config, action)),
        Command::Purge {
            config,
            dry_run,
            store_only,
        } => rt.block_on(purge_cmd(&config, dry_run, store_only)),
        Command::Report {
            config,
            from,
            to,
            forum,
            out,
        } => rt.block_on(report_cmd(&config, from, to, forum.as_deref(), &out)),
        Command::Quarantine { config, action } => rt.block_on(quarantine_cmd(&config, action)),
        Command::Db { action } => rt.block_on(db_cmd(action)),
        Command::Preview { config, days } => rt.block_on(preview(&config, days)),
        Command::Status { config, json } => rt.block_on(status(&config, json)),
        Command::Run { config } => match load(&config) {
            Err(code) => Ok(code),
            Ok(cfg) => rt.block_on(samverkan::daemon::run(cfg)).map(|()| ExitCode::SUCCESS),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
