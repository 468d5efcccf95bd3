//! The `samverkan` command line.

use std::path::{Path, PathBuf};
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
e-mail and calendar: reads case submissions from an IMAP mailbox, answers every sender, and keeps the cases \
in a SQLite database.\n\nStart with `samverkan check-config --config FILE`, then `samverkan run --config FILE`."
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
    },
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
    /// Show forums, cases, outbox depth and the last successful mailbox sync.
    Status {
        #[arg(long, short, env = "SAMVERKAN_CONFIG", default_value = "/etc/samverkan/samverkan.toml")]
        config: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Prints to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking.
fn print_out(s: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{s}");
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    config::load(path).map_err(|e| {
        eprint!("{e}");
        ExitCode::from(1)
    })
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
    println!("{}: ok ({} forum(s), {} member(s))", path.display(), cfg.forums.len(), members);
    ExitCode::SUCCESS
}

async fn status(path: &Path, json: bool) -> Result<ExitCode> {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if !cfg.database_path.exists() {
        println!("no database at {} yet: the daemon has not run with this configuration", cfg.database_path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(&cfg.database_path).await?;
    let ids: Vec<String> = cfg.forums.iter().map(|f| f.id.clone()).collect();
    let st = store.status(&ids).await?;
    store.close().await;
    if json {
        print_out(&serde_json::to_string_pretty(&st)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("database: {}", cfg.database_path.display());
    for f in &st.forums {
        let by: Vec<String> = f.cases_by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let detail = if by.is_empty() { String::new() } else { format!(" ({})", by.join(", ")) };
        println!("forum {}: {} case(s){detail}", f.id, f.cases);
    }
    println!(
        "outbox: {} pending, {} sent, {} failed{}",
        st.outbox_pending,
        st.outbox_sent,
        st.outbox_failed,
        st.oldest_pending_at.as_deref().map(|t| format!(" (oldest pending since {t})")).unwrap_or_default()
    );
    println!("mails read: {} ({} quarantined)", st.intake_total, st.quarantined);
    if st.mailboxes.is_empty() {
        println!("mailbox: never synced");
    }
    for m in &st.mailboxes {
        println!(
            "mailbox {}: last sync {}, UIDVALIDITY {}, last UID {}",
            m.mailbox,
            m.last_sync_at.as_deref().unwrap_or("never"),
            m.uidvalidity,
            m.last_uid
        );
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
    let unit_of = |addr: &str| -> Option<String> {
        cfg.as_ref()?.forums.iter().find_map(|f| f.member(addr).map(|m| m.unit.clone()))
    };
    let v = samverkan::core::inspect::inspect(&raw, &unit_of);
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
        Command::CheckConfig { config } => Ok(check_config(&config)),
        Command::Inspect { file, config } => inspect(&file, config.as_deref()),
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
