//! Log set-up. Human-readable by default, JSON for log shippers; no timestamps of our own
//! under journald (it adds its own). Logs never carry personal data: case numbers, UIDs,
//! counts and outcomes only.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

pub fn init(format: LogFormat) {
    let spec = std::env::var("SAMVERKAN_LOG").unwrap_or_else(|_| "info".into());
    let mut filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
    // Libraries log protocol traffic and SQL at debug (SMTP envelopes name addresses): keep them
    // at warn unless the admin names them explicitly, so that even `SAMVERKAN_LOG=trace`
    // carries no personal data.
    for lib in ["lettre", "sqlx", "async_imap", "rustls", "tokio_rustls", "hyper"] {
        if !spec.contains(lib)
            && let Ok(d) = format!("{lib}=warn").parse()
        {
            filter = filter.add_directive(d);
        }
    }
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    match (format, under_journald) {
        (LogFormat::Json, _) => b.json().flatten_event(true).init(),
        (LogFormat::Human, true) => b.without_time().init(),
        (LogFormat::Human, false) => b.init(),
    }
}
