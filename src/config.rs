//! Configuration: TOML on disk → validated, typed [`Config`].
//!
//! Loading happens in two steps (the "low args → high args" shape): serde reads the raw
//! file (unknown keys are collected by name with `serde_ignored`), then [`validate`] checks
//! every value and collects *all* problems, each naming its key. Secrets are never inline:
//! they come from a file, an environment variable or a systemd credential, and are resolved
//! separately so that `check-config` can warn where `run` must fail.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `[oauth2]`: the token provider's section, read like the rest.
pub mod oauth;

/// A problem with the configuration, named by its key (e.g. `forum[0].time_zone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// All problems found in a configuration file.
#[derive(Debug)]
pub struct ConfigErrors {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "configuration {} has {} problem(s):", self.path.display(), self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// ---------------------------------------------------------------------------------------------
// Raw, as written in the file.

#[derive(Debug, Deserialize)]
struct RawConfig {
    #[serde(default)]
    daemon: RawDaemon,
    database: RawDatabase,
    #[serde(default)]
    templates: RawTemplates,
    imap: RawImap,
    smtp: RawSmtp,
    #[serde(default, rename = "forum")]
    forums: Vec<RawForum>,
    #[serde(default)]
    security: RawSecurity,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    metrics: RawMetrics,
    oauth2: Option<oauth::RawOAuth2>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawMetrics {
    listen: Option<String>,
    #[serde(with = "humantime_serde")]
    max_sync_age: Duration,
    #[serde(with = "humantime_serde")]
    max_outbox_age: Duration,
}

impl Default for RawMetrics {
    fn default() -> Self {
        RawMetrics {
            listen: None,
            max_sync_age: Duration::from_secs(15 * 60),
            max_outbox_age: Duration::from_secs(3600),
        }
    }
}

/// The optional metrics and health listener.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Loopback address to serve `/metrics` and `/healthz` on; off when `None`.
    pub listen: Option<std::net::SocketAddr>,
    /// `/healthz` fails when the mailbox has not synced for longer than this.
    pub max_sync_age: Duration,
    /// `/healthz` fails when the oldest queued mail has waited longer than this.
    pub max_outbox_age: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawRetention {
    case_days: u32,
    open_case_days: u32,
    incomplete_days: u32,
    mail_days: u32,
}

impl Default for RawRetention {
    fn default() -> Self {
        RawRetention {
            case_days: 365,
            open_case_days: 365,
            incomplete_days: 90,
            mail_days: 90,
        }
    }
}

/// The longest retention time a key accepts (about 30 years): beyond it the purge's date
/// arithmetic would leave the calendar, and nothing in the routine needs more.
const MAX_RETENTION_DAYS: u32 = 11_000;

/// How long personal data is kept (GDPR: no longer than the routine needs).
#[derive(Debug, Clone)]
pub struct Retention {
    /// Days after a closed, withdrawn or handed-over case's last activity until its personal
    /// data is wiped, and after a meeting until its invitees' names go.
    pub case_days: u32,
    /// Days after the last activity of a case still in the routine (submitted, handover,
    /// follow-up, escalated) until its personal data is wiped; a future meeting, follow-up or
    /// transfer date or a pending reminder counts as activity.
    pub open_case_days: u32,
    /// Days after the last activity of an incomplete submission nobody completed until it is wiped.
    pub incomplete_days: u32,
    /// Days until sent mail is deleted from the outbox and handled mail is expunged from the
    /// processed and quarantine folders.
    pub mail_days: u32,
}

#[derive(Debug, Deserialize, Default)]
struct RawSecurity {
    #[serde(default)]
    trusted_authserv_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawDaemon {
    #[serde(with = "humantime_serde")]
    full_check_interval: Duration,
    #[serde(with = "humantime_serde")]
    idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    reconnect_max_backoff: Duration,
    max_message_size: u64,
    max_send_attempts: u32,
    max_rejections_per_sender_per_day: u32,
    #[serde(with = "humantime_serde")]
    scheduler_interval: Duration,
}

impl Default for RawDaemon {
    fn default() -> Self {
        let d = DaemonConfig::default();
        RawDaemon {
            full_check_interval: d.full_check_interval,
            idle_timeout: d.idle_timeout,
            reconnect_max_backoff: d.reconnect_max_backoff,
            max_message_size: d.max_message_size,
            max_send_attempts: d.max_send_attempts,
            max_rejections_per_sender_per_day: d.max_rejections_per_sender_per_day,
            scheduler_interval: d.scheduler_interval,
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawDatabase {
    /// SQLite: the database file.
    path: Option<PathBuf>,
    /// PostgreSQL: `postgres://user@host:port/dbname` (no password in it).
    url: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    password_credential: Option<String>,
    /// The name this daemon goes by in the shared database (PostgreSQL); default the host name.
    instance: Option<String>,
    /// How long a mailbox's reader keeps its lease without renewing it (PostgreSQL).
    #[serde(default = "default_lease", with = "humantime_serde")]
    lease: Duration,
}

fn default_lease() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Deserialize, Default)]
struct RawTemplates {
    dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct RawImap {
    host: String,
    port: Option<u16>,
    #[serde(default = "default_tls")]
    tls: String,
    user: String,
    auth: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    password_credential: Option<String>,
    ca_file: Option<PathBuf>,
    #[serde(default = "default_inbox")]
    inbox: String,
    #[serde(default = "default_processed")]
    processed_folder: String,
    #[serde(default = "default_quarantine")]
    quarantine_folder: String,
    #[serde(default = "default_batch")]
    batch_size: u32,
}

#[derive(Debug, Deserialize)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    #[serde(default = "default_tls")]
    tls: String,
    user: Option<String>,
    auth: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    password_credential: Option<String>,
    ca_file: Option<PathBuf>,
}

/// The three ways to give a password (serde's `flatten` would hide unknown keys, so the
/// fields are repeated in each section and gathered here).
struct RawSecret {
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    password_credential: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawForum {
    id: String,
    name: String,
    #[serde(default = "default_tz")]
    time_zone: String,
    #[serde(default = "default_language")]
    language: String,
    mailbox: String,
    convenor: RawPerson,
    #[serde(default, rename = "unit")]
    units: Vec<RawUnit>,
    #[serde(default, rename = "member")]
    members: Vec<RawMember>,
    schedule: Option<RawSchedule>,
    #[serde(default)]
    followup: RawFollowup,
    #[serde(default, rename = "routine")]
    routines: Vec<RawRoutine>,
    #[serde(default)]
    deviations: RawDeviations,
    #[serde(default)]
    report: RawReport,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawDeviations {
    collectors: Vec<RawPerson>,
    each: bool,
    digest_day: u32,
}

impl Default for RawDeviations {
    fn default() -> Self {
        RawDeviations {
            collectors: Vec::new(),
            each: false,
            digest_day: 1,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawReport {
    owners: Vec<RawPerson>,
    review_date: Option<String>,
    send_on: Option<String>,
    min_cell: u32,
}

impl Default for RawReport {
    fn default() -> Self {
        RawReport {
            owners: Vec::new(),
            review_date: None,
            send_on: None,
            min_cell: 5,
        }
    }
}

/// A routine around one person (issue 18): `[[forum.routine]]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawRoutine {
    id: String,
    name: String,
    contacts: Vec<String>,
    books: String,
    first_after_months: u32,
    every_months: u32,
    #[serde(with = "humantime_serde")]
    ask_before: Duration,
    #[serde(with = "humantime_serde")]
    duration: Duration,
    #[serde(with = "humantime_serde")]
    rsvp_reminder: Duration,
    place: String,
    invite: Vec<String>,
    comment_remind_after: RawDeadline,
    comment_within: RawDeadline,
    contact_remind_after: RawDeadline,
    contact_within: RawDeadline,
    escalate_to: Vec<String>,
    units: Vec<String>,
    caller: String,
    first_due: String,
}

impl Default for RawRoutine {
    fn default() -> Self {
        RawRoutine {
            id: String::new(),
            name: String::new(),
            contacts: vec!["boende".into(), "daglig verksamhet".into()],
            books: "daglig verksamhet".into(),
            first_after_months: 6,
            every_months: 12,
            ask_before: Duration::from_secs(28 * 24 * 3600),
            duration: Duration::from_secs(3600),
            rsvp_reminder: Duration::from_secs(2 * 24 * 3600),
            place: String::new(),
            invite: Vec::new(),
            comment_remind_after: RawDeadline::WorkingDays(3),
            comment_within: RawDeadline::WorkingDays(5),
            contact_remind_after: RawDeadline::WorkingDays(3),
            contact_within: RawDeadline::WorkingDays(5),
            escalate_to: Vec::new(),
            units: Vec::new(),
            caller: String::new(),
            first_due: String::new(),
        }
    }
}

/// A deadline: a number of working days, or a duration ("4h", "30s").
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawDeadline {
    WorkingDays(u32),
    Duration(String),
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawFollowup {
    handover_remind_after: RawDeadline,
    handover_escalate_after: RawDeadline,
    decisions_remind_after: RawDeadline,
    #[serde(with = "humantime_serde")]
    notes_due_after: Duration,
    #[serde(with = "humantime_serde")]
    follow_up_remind_before: Duration,
    age_transfer_notice_months: u32,
    transfer_inventory_months: Vec<u32>,
    reminder_time: String,
    adjusters: Vec<String>,
    #[serde(with = "humantime_serde")]
    adjust_within: Duration,
    #[serde(with = "humantime_serde")]
    adjust_remind_before: Duration,
}

impl Default for RawFollowup {
    fn default() -> Self {
        RawFollowup {
            handover_remind_after: RawDeadline::WorkingDays(3),
            handover_escalate_after: RawDeadline::WorkingDays(7),
            decisions_remind_after: RawDeadline::WorkingDays(2),
            notes_due_after: Duration::from_secs(7 * 24 * 3600),
            follow_up_remind_before: Duration::from_secs(7 * 24 * 3600),
            age_transfer_notice_months: 6,
            transfer_inventory_months: vec![2, 9],
            reminder_time: "09:00".into(),
            adjusters: Vec::new(),
            adjust_within: Duration::from_secs(7 * 24 * 3600),
            adjust_remind_before: Duration::from_secs(2 * 24 * 3600),
        }
    }
}

/// Deviations (seed 001 "Avvikelsehantering"): who collects them, and how they are told.
#[derive(Debug, Clone, Default)]
pub struct Deviations {
    /// Who collects the forum's deviation reports (seed 001: the operations controller; seed
    /// 003: the unit heads together). Without one, deviations are recorded and reported only.
    pub collectors: Vec<Person>,
    /// Also mail each deviation to the collectors as it is recorded.
    pub each: bool,
    /// The day of the month (1-31, clamped to the month's end) the monthly digest goes out, at
    /// `followup.reminder_time`.
    pub digest_day: u32,
}

/// The yearly review report (seed 001 "Uppföljning av samverkan").
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Who gets the yearly report (department heads, unit heads). Without one, no mail.
    pub owners: Vec<Person>,
    /// The routine's own yearly review date (month, day).
    pub review_date: Option<(u32, u32)>,
    /// The day (month, day) the yearly report is mailed; default a month before `review_date`.
    pub send_on: Option<(u32, u32)>,
    /// Cells with fewer than this many (but more than zero) are suppressed.
    pub min_cell: u32,
}

impl Report {
    /// The day (month, day) the yearly report goes out: `send_on`, else a month before the
    /// review date (the same day of the month before, clamped to that month's end).
    pub fn send_day(&self) -> Option<(u32, u32)> {
        self.send_on.or_else(|| {
            let (m, d) = self.review_date?;
            let pm = if m == 1 { 12 } else { m - 1 };
            let last = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][pm as usize - 1];
            Some((pm, d.min(last)))
        })
    }
}

impl Report {
    /// The day the yearly report goes out in `year` (29 February in another year: the 28th).
    pub fn send_date(&self, year: i32) -> Option<chrono::NaiveDate> {
        let (m, d) = self.send_day()?;
        chrono::NaiveDate::from_ymd_opt(year, m, d).or_else(|| chrono::NaiveDate::from_ymd_opt(year, m, d - 1))
    }
}

/// "MM-DD" as (month, day).
fn month_day(key: String, s: &str, problems: &mut Vec<Problem>) -> Option<(u32, u32)> {
    let parsed = s
        .trim()
        .split_once('-')
        .and_then(|(m, d)| Some((m.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
        .filter(|&(m, d)| chrono::NaiveDate::from_ymd_opt(2024, m, d).is_some());
    if parsed.is_none() {
        problems.push(Problem {
            key,
            message: format!("{s:?} is not a day of the year like \"03-15\""),
        });
    }
    parsed
}

/// A deadline after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// This many working days later, at the reminder time (Swedish holidays skipped).
    WorkingDays(u32),
    /// Exactly this long later.
    Exact(chrono::Duration),
}

impl Deadline {
    /// The moment the deadline falls, for an event at `from`.
    pub fn after(self, from: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz, at: chrono::NaiveTime) -> chrono::DateTime<chrono::Utc> {
        match self {
            Deadline::WorkingDays(n) => crate::core::obligation::after_working_days(from, tz, n, at),
            Deadline::Exact(d) => from + d,
        }
    }

    fn rank(self) -> chrono::Duration {
        match self {
            Deadline::WorkingDays(n) => chrono::Duration::days(i64::from(n)),
            Deadline::Exact(d) => d,
        }
    }
}

fn deadline_of(key: String, d: RawDeadline, problems: &mut Vec<Problem>) -> Deadline {
    match d {
        RawDeadline::WorkingDays(n) => Deadline::WorkingDays(n),
        RawDeadline::Duration(s) => match humantime::parse_duration(s.trim()) {
            Ok(d) => Deadline::Exact(chrono::Duration::seconds(d.as_secs() as i64)),
            Err(e) => {
                problems.push(Problem {
                    key,
                    message: format!("{s:?} is neither a number of working days nor a duration: {e}"),
                });
                Deadline::WorkingDays(3)
            }
        },
    }
}

/// After the meeting: deadlines of the routine's obligations (seed 001, 002).
#[derive(Debug, Clone)]
pub struct Followup {
    /// Until the receiving unit is reminded to confirm a handover (default 3 working days).
    pub handover_remind_after: Deadline,
    /// Until an unconfirmed handover is escalated to the receiving unit head (default 7).
    pub handover_escalate_after: Deadline,
    /// Until the note taker is reminded to send the decisions (default 2 working days).
    pub decisions_remind_after: Deadline,
    /// The note taker files the notes within this time after the meeting.
    pub notes_due_after: chrono::Duration,
    /// The submitter of a follow-up case is reminded this long before its meeting.
    pub follow_up_remind_before: chrono::Duration,
    /// Age transfers are announced this many months before the birthday (seed 001: 6).
    pub age_transfer_notice_months: u32,
    /// In these months the avstämningsmöte's invitation lists the known upcoming transfers.
    pub transfer_inventory_months: Vec<u32>,
    /// Local time of day reminders are sent.
    pub reminder_time: chrono::NaiveTime,
    /// The adjusters (justerare, seed 002): members who review the notes once they are filed.
    pub adjusters: Vec<String>,
    /// Adjusters have this long to point out errors ...
    pub adjust_within: chrono::Duration,
    /// ... and are reminded this long before the deadline.
    pub adjust_remind_before: chrono::Duration,
}

#[derive(Debug, Deserialize)]
struct RawSchedule {
    rrule: String,
    first: String,
    #[serde(default = "default_duration", with = "humantime_serde")]
    duration: Duration,
    #[serde(default = "default_kinds")]
    kinds: Vec<String>,
    #[serde(default)]
    place: String,
    #[serde(default = "default_cutoff_days")]
    cutoff_days_before: u32,
    #[serde(default = "default_cutoff_time")]
    cutoff_time: String,
    #[serde(default = "default_invite_lead", with = "humantime_serde")]
    invite_lead: Duration,
    #[serde(default = "default_rsvp_reminder", with = "humantime_serde")]
    rsvp_reminder: Duration,
    #[serde(default = "default_digest_morning_time")]
    digest_morning_time: String,
}

fn default_rsvp_reminder() -> Duration {
    Duration::from_secs(2 * 24 * 3600)
}
fn default_digest_morning_time() -> String {
    "07:00".into()
}

fn default_invite_lead() -> Duration {
    Duration::from_secs(14 * 24 * 3600)
}

fn default_duration() -> Duration {
    Duration::from_secs(3600)
}
fn default_kinds() -> Vec<String> {
    vec!["samverkansmöte".into(), "avstämningsmöte".into()]
}
fn default_cutoff_days() -> u32 {
    1
}
fn default_cutoff_time() -> String {
    "12:00".into()
}

#[derive(Debug, Deserialize)]
struct RawPerson {
    name: String,
    address: String,
}

#[derive(Debug, Deserialize)]
struct RawUnit {
    name: String,
    #[serde(default)]
    deputy_heads: Vec<String>,
    unit_head: Option<RawPerson>,
    department_head: Option<RawPerson>,
}

#[derive(Debug, Deserialize)]
struct RawMember {
    name: String,
    address: String,
    unit: String,
    #[serde(default)]
    aliases: Vec<String>,
}

fn default_tls() -> String {
    "implicit".into()
}
fn default_inbox() -> String {
    "INBOX".into()
}
fn default_processed() -> String {
    "Behandlade".into()
}
fn default_quarantine() -> String {
    "Karantan".into()
}
fn default_batch() -> u32 {
    100
}
fn default_language() -> String {
    "sv".into()
}
fn default_tz() -> String {
    "Europe/Stockholm".into()
}

// ---------------------------------------------------------------------------------------------
// Validated.

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS (IMAP 143, SMTP 587); refused if the server lacks it.
    StartTls,
    /// No TLS at all: only allowed to a loopback host.
    None,
}

/// Where a password comes from. Never inline in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
    /// A systemd credential (`LoadCredential=`), read from `$CREDENTIALS_DIRECTORY/NAME`.
    Credential(String),
}

impl SecretSource {
    /// Reads the secret. The error names the source, never the value.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            SecretSource::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read password file {}: {e}", p.display())),
            SecretSource::Env(name) => std::env::var(name).map_err(|_| format!("environment variable {name} is not set")),
            SecretSource::Credential(name) => {
                let dir = std::env::var("CREDENTIALS_DIRECTORY").map_err(|_| {
                    format!("credential {name}: $CREDENTIALS_DIRECTORY is not set (not started by systemd with LoadCredential=)")
                })?;
                let p = Path::new(&dir).join(name);
                std::fs::read_to_string(&p)
                    .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                    .map_err(|e| format!("cannot read credential {}: {e}", p.display()))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// How often the whole inbox is re-checked even when IDLE says nothing (safety net).
    pub full_check_interval: Duration,
    /// How long one IDLE lasts before it is renewed (RFC 2177: below 29 minutes).
    pub idle_timeout: Duration,
    /// The longest wait between reconnection attempts.
    pub reconnect_max_backoff: Duration,
    /// Mails larger than this are not fetched: they go to quarantine unread.
    pub max_message_size: u64,
    /// After this many failed attempts an outgoing mail is marked failed.
    pub max_send_attempts: u32,
    /// At most this many "incomplete submission" answers go to one sender in 24 hours; later
    /// ones are stored but not answered (no mail loops with a broken client).
    pub max_rejections_per_sender_per_day: u32,
    /// The meeting planner re-reads the meetings at least this often, so changes made with
    /// `samverkan meeting move|cancel|add` reach invitees within this time.
    pub scheduler_interval: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            full_check_interval: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(25 * 60),
            reconnect_max_backoff: Duration::from_secs(300),
            max_message_size: 25 * 1024 * 1024,
            max_send_attempts: 12,
            max_rejections_per_sender_per_day: 5,
            scheduler_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub user: String,
    pub password: SecretSource,
    /// `auth = "oauth2"`: log in with a token from `[oauth2]` as `user` (the mailbox).
    pub oauth2: bool,
    pub ca_file: Option<PathBuf>,
    pub inbox: String,
    pub processed_folder: String,
    pub quarantine_folder: String,
    pub batch_size: u32,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    /// Login and password source, when the server wants SMTP AUTH.
    pub auth: Option<(String, SecretSource)>,
    /// `auth = "oauth2"`: the mailbox to log in as with a token from `[oauth2]`.
    pub oauth2_user: Option<String>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    /// Lowercased address.
    pub address: String,
}

#[derive(Debug, Clone)]
pub struct Unit {
    pub name: String,
    /// Lowercased addresses of the unit's deputy heads (each also a member).
    pub deputy_heads: Vec<String>,
    pub unit_head: Option<Person>,
    /// The head of the unit's department (avdelningschef): level 4 of the escalation ladder.
    pub department_head: Option<Person>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    /// Lowercased address.
    pub address: String,
    pub unit: String,
    /// Other lowercased addresses the same person sends from.
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Forum {
    pub id: String,
    pub name: String,
    pub time_zone: chrono_tz::Tz,
    /// Lowercased address that receives submissions and is the organizer of invitations.
    pub mailbox: String,
    pub convenor: Person,
    pub units: Vec<Unit>,
    pub members: Vec<Member>,
    /// The language of the forum's mails: `sv` (default) or `en`, a directory under the templates.
    pub language: String,
    /// The meeting series; without one, cases are stored and answered but not put on a meeting.
    pub schedule: Option<crate::core::schedule::Schedule>,
    pub followup: Followup,
    /// The routines around one person served through this forum's mailbox (issue 18).
    pub routines: Vec<Routine>,
    pub deviations: Deviations,
    pub report: Report,
}

/// A routine around one person (seed 003: housing and daily activity; seed 000: the yearly
/// implementation-plan meeting): contact persons per unit side, a meeting that falls due a
/// number of months after the start and then at least every `every_months`, and the small
/// deadlines around it. Mailbox, members, units, time zone and language are the forum's.
#[derive(Debug, Clone)]
pub struct Routine {
    pub id: String,
    pub name: String,
    /// The unit sides that name a contact person ("boende", "daglig verksamhet"): the
    /// registration's headings are "Kontaktansvarig <side>".
    pub contacts: Vec<String>,
    /// The side whose contact person books the meeting (seed 003: daglig verksamhet).
    pub books: String,
    pub first_after_months: u32,
    pub every_months: u32,
    /// The booker is asked this long before the meeting falls due (default four weeks).
    pub ask_before: chrono::Duration,
    /// The meeting's length (seed 003: about one hour).
    pub duration: chrono::Duration,
    /// Invitees who have not answered a booked meeting's invitation get one reminder this long
    /// before it (default two days, as the forum's `schedule.rsvp_reminder`; "0s": none).
    pub rsvp_reminder: chrono::Duration,
    /// The place when "Bokat:" names none.
    pub place: String,
    /// Members the routine always invites besides the contact persons.
    pub invite: Vec<String>,
    /// The other party is reminded to comment on the notes after this ...
    pub comment_remind_after: Deadline,
    /// ... and their unit head told after this (seed 003: one week).
    pub comment_within: Deadline,
    /// A new contact person is reminded to contact the other unit after this ...
    pub contact_remind_after: Deadline,
    /// ... and their unit head told after this (seed 003: one week).
    pub contact_within: Deadline,
    /// Who is told when a contact person's unit has no unit head.
    pub escalate_to: Vec<String>,
    /// A routine per unit instead of per person (seed 000: the yearly information meeting):
    /// the daemon follows each of these units itself, with `caller` (the deputy operations
    /// manager) as the one who books, the first meeting due on `first_due`.
    pub units: Vec<String>,
    pub caller: Option<String>,
    pub first_due: Option<chrono::NaiveDate>,
}

impl Routine {
    /// The index of the side that books.
    pub fn booking_side(&self) -> usize {
        self.contacts.iter().position(|c| *c == self.books).unwrap_or(0)
    }
}

impl Forum {
    /// The member who sends from `address` (their own address or an alias), case-insensitively.
    pub fn member(&self, address: &str) -> Option<&Member> {
        let a = address.to_ascii_lowercase();
        self.members.iter().find(|m| m.address == a || m.aliases.contains(&a))
    }

    /// The routine with this id.
    pub fn routine(&self, id: &str) -> Option<&Routine> {
        self.routines.iter().find(|r| r.id == id)
    }

    /// Who is told when `address` (a contact person) misses a deadline: the unit head of the
    /// member's unit, else the routine's `escalate_to`.
    pub fn escalation_for(&self, routine: &Routine, address: &str) -> Vec<String> {
        let head = self
            .member(address)
            .and_then(|m| self.units.iter().find(|u| u.name == m.unit))
            .and_then(|u| u.unit_head.as_ref())
            .map(|h| h.address.clone());
        match head {
            Some(h) => vec![h],
            None => routine.escalate_to.clone(),
        }
    }

    /// The domain of the forum mailbox (used in Message-IDs and calendar UIDs).
    pub fn mail_domain(&self) -> &str {
        self.mailbox.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost")
    }
}

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// One machine: a SQLite file.
    Sqlite(PathBuf),
    /// Several instances sharing one PostgreSQL database.
    Postgres { url: String, password: Option<SecretSource> },
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub backend: Database,
    /// This daemon's name among the instances sharing the database.
    pub instance: String,
    /// A mailbox reader's lease: another instance takes over this long after the holder stopped
    /// renewing it.
    pub lease: Duration,
}

impl DatabaseConfig {
    /// What `status` and logs may show: the file, or the URL without credentials.
    pub fn display(&self) -> String {
        match &self.backend {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres { url, .. } => redact_url(url),
        }
    }
}

/// A database URL without its user information.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "(unparseable URL)".into(),
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub source: PathBuf,
    pub daemon: DaemonConfig,
    pub database: DatabaseConfig,
    pub templates_dir: PathBuf,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    pub forums: Vec<Forum>,
    /// When set, an answer to an invitation counts only if an `Authentication-Results` header
    /// added by this server (its authserv-id) shows `dmarc=pass` or `dkim=pass`.
    pub trusted_authserv_id: Option<String>,
    pub retention: Retention,
    pub metrics: Metrics,
    /// The token provider for `auth = "oauth2"` in `[imap]` and `[smtp]`.
    pub oauth2: Option<oauth::OAuthConfig>,
}

impl Config {
    pub fn forum(&self, id: &str) -> Option<&Forum> {
        self.forums.iter().find(|f| f.id == id)
    }

    /// The languages the forums' mails are written in.
    pub fn languages(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.forums.iter().map(|f| f.language.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every secret this configuration needs, with the key it is configured under.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        let mut v = Vec::new();
        if !self.imap.oauth2 {
            v.push(("imap.password", &self.imap.password));
        }
        if let Some(o) = &self.oauth2 {
            v.extend(o.secrets());
        }
        if let Database::Postgres { password: Some(s), .. } = &self.database.backend {
            v.push(("database.password", s));
        }
        if let Some((_, s)) = &self.smtp.auth {
            v.push(("smtp.password", s));
        }
        v
    }

    /// Problems that depend on this machine rather than on the file: missing secrets and CA
    /// files. `check-config` reports them as warnings; `run` refuses to start with any.
    pub fn environment_problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for (key, s) in self.secrets() {
            if let Err(e) = s.resolve() {
                out.push(Problem {
                    key: key.into(),
                    message: e,
                });
            }
        }
        for (key, ca) in [("imap.ca_file", &self.imap.ca_file), ("smtp.ca_file", &self.smtp.ca_file)] {
            if let Some(p) = ca
                && !p.is_file()
            {
                out.push(Problem {
                    key: key.into(),
                    message: format!("file {} does not exist", p.display()),
                });
            }
        }
        out
    }
}

/// The templates shipped with the package, used when `templates.dir` is not set.
pub const DEFAULT_TEMPLATES_DIR: &str = "/usr/share/samverkan/templates";

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let err = |problems| ConfigErrors {
        path: path.to_path_buf(),
        problems,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(vec![Problem {
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse(&text, path).map_err(err)
}

/// Parses and validates configuration text. `path` is used to resolve relative paths (relative
/// to the file's directory) and in messages.
///
/// Every problem is reported, each by its key: a value of the wrong type (`imap.port = "x"`)
/// does not hide the problems after it (see [`read_raw`]).
pub fn parse(text: &str, path: &Path) -> Result<Config, Vec<Problem>> {
    let table: toml::Table = toml::from_str(text).map_err(|e| vec![toml_problem(&e)])?;
    let (raw, mut problems, reported) = read_raw(table);
    let Some(raw) = raw else { return Err(problems) };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut checked = Vec::new();
    let cfg = validate(raw, &base, &mut checked);
    // A key whose value was replaced to read on has been reported already.
    problems.extend(checked.into_iter().filter(|p| !reported.contains(&p.key)));
    if problems.is_empty() { Ok(cfg) } else { Err(problems) }
}

/// How many wrong values [`read_raw`] steps over before it gives up.
const MAX_TYPE_PROBLEMS: usize = 50;

/// Values tried, in turn, in place of a required value that had the wrong type (or is
/// missing), so that reading goes on to the keys after it.
fn fillers() -> [toml::Value; 5] {
    [
        toml::Value::String(String::new()),
        toml::Value::Integer(0),
        toml::Value::Array(Vec::new()),
        toml::Value::Table(toml::Table::new()),
        toml::Value::Boolean(false),
    ]
}

/// Reads the typed raw configuration from the parsed table, collecting every wrong type and
/// missing required key by its path (`imap.port`, `forum[0].schedule.rsvp_reminder`) instead
/// of stopping at the first: a wrong value is removed (or, where the key is required, stood in
/// for by a value of another shape) and the table read again. Returns the raw configuration
/// when it could be read, the problems, and the keys they name (validation problems about
/// those keys are not repeated). Unknown keys are reported once the table reads.
fn read_raw(mut table: toml::Table) -> (Option<RawConfig>, Vec<Problem>, Vec<String>) {
    let mut problems = Vec::new();
    let mut reported: Vec<String> = Vec::new();
    let mut tried: HashMap<String, usize> = HashMap::new();
    for _ in 0..MAX_TYPE_PROBLEMS {
        let mut unknown = Vec::new();
        let value = toml::Value::Table(table.clone());
        let result: Result<RawConfig, _> =
            serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut |p: serde_ignored::Path| {
                unknown.push(Segment::render(&Segment::of_ignored(&p)))
            }));
        let e = match result {
            Ok(raw) => {
                problems.extend(unknown.into_iter().map(|k| Problem {
                    key: k,
                    message: "unknown key".into(),
                }));
                return (Some(raw), problems, reported);
            }
            Err(e) => e,
        };
        let mut segments: Vec<Segment> = e.path().iter().filter_map(Segment::of).collect();
        let mut message = one_line(&e.inner().to_string());
        // The table's deserializer repeats the path ("… in `forum.member.aliases`"): the
        // problem names its key already.
        if let Some(i) = message.rfind(" in `").filter(|_| message.ends_with('`')) {
            message.truncate(i);
        }
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_string);
        if let Some(field) = &missing {
            segments.push(Segment::Key(field.clone()));
        }
        let key = Segment::render(&segments);
        if !reported.contains(&key) {
            reported.push(key.clone());
            problems.push(Problem {
                key: key.clone(),
                message: if missing.is_some() {
                    "missing: this key is required".into()
                } else {
                    message
                },
            });
        }
        // Read on: drop a wrong optional value; stand in for a required one.
        let n = tried.entry(key).or_insert(0);
        let replacement = if missing.is_some() {
            let f = fillers().into_iter().nth(*n);
            *n += 1;
            match f {
                Some(f) => Some(f),
                None => break,
            }
        } else {
            None
        };
        if !Segment::set(&mut table, &segments, replacement) {
            break;
        }
    }
    (None, problems, reported)
}

/// One step of a key's path in the configuration table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl Segment {
    fn of(s: &serde_path_to_error::Segment) -> Option<Segment> {
        match s {
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            _ => None,
        }
    }

    /// The path of a key nobody reads (reported as unknown).
    fn of_ignored(p: &serde_ignored::Path) -> Vec<Segment> {
        use serde_ignored::Path as P;
        let mut out = match p {
            P::Root => return Vec::new(),
            P::Seq { parent, .. }
            | P::Map { parent, .. }
            | P::Some { parent }
            | P::NewtypeStruct { parent }
            | P::NewtypeVariant { parent } => Segment::of_ignored(parent),
        };
        match p {
            P::Seq { index, .. } => out.push(Segment::Index(*index)),
            P::Map { key, .. } => out.push(Segment::Key(key.clone())),
            _ => {}
        }
        out
    }

    /// `forum[0].schedule.rsvp_reminder`, the way every other problem names its key.
    fn render(path: &[Segment]) -> String {
        let mut out = String::new();
        for s in path {
            match s {
                Segment::Key(k) if out.is_empty() => out.push_str(k),
                Segment::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// The table at `path` (keys and array indexes).
    fn table_at<'t>(mut here: &'t mut toml::Table, mut path: &[Segment]) -> Option<&'t mut toml::Table> {
        while let Some((first, tail)) = path.split_first() {
            let Segment::Key(k) = first else { return None };
            here = match (here.get_mut(k)?, tail.first()) {
                (toml::Value::Array(a), Some(Segment::Index(i))) => {
                    path = &tail[1..];
                    a.get_mut(*i)?.as_table_mut()?
                }
                (toml::Value::Table(t), _) => {
                    path = tail;
                    t
                }
                _ => return None,
            };
        }
        Some(here)
    }

    /// Sets (or, with `None`, removes) the value at `path`. False when the path does not lead
    /// into the table, so that reading cannot go on.
    fn set(table: &mut toml::Table, path: &[Segment], value: Option<toml::Value>) -> bool {
        match path {
            [parents @ .., Segment::Key(k)] => {
                let Some(t) = Self::table_at(table, parents) else { return false };
                match value {
                    Some(v) => {
                        t.insert(k.clone(), v);
                        true
                    }
                    None => t.remove(k).is_some(),
                }
            }
            [parents @ .., Segment::Key(k), Segment::Index(i)] => {
                let Some(toml::Value::Array(a)) = Self::table_at(table, parents).and_then(|t| t.get_mut(k)) else {
                    return false;
                };
                match value {
                    _ if *i >= a.len() => false,
                    Some(v) => {
                        a[*i] = v;
                        true
                    }
                    None => {
                        a.remove(*i);
                        true
                    }
                }
            }
            _ => false,
        }
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn toml_problem(e: &toml::de::Error) -> Problem {
    // A syntax error: toml's message names the line and column; keep it whole, on one line.
    Problem {
        key: "(syntax)".into(),
        message: one_line(&e.to_string()),
    }
}

fn resolve_path(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

/// A loose but honest check of an e-mail address: one `@`, something on both sides, a dot or
/// `localhost`-style single label in the domain, no spaces or control characters.
pub fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else { return false };
    !local.is_empty()
        && !domain.is_empty()
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

fn tls_of(key: &str, s: &str, host: &str, problems: &mut Vec<Problem>) -> Tls {
    match s {
        "implicit" => Tls::Implicit,
        "starttls" => Tls::StartTls,
        "none" => {
            if !is_loopback(host) {
                problems.push(Problem {
                    key: key.into(),
                    message: format!(
                        "\"none\" sends the password and personal data unencrypted; it is only allowed to a loopback host, not {host:?}"
                    ),
                });
            }
            Tls::None
        }
        other => {
            problems.push(Problem {
                key: key.into(),
                message: format!("must be \"implicit\", \"starttls\" or \"none\", not {other:?}"),
            });
            Tls::Implicit
        }
    }
}

fn secret_of(prefix: &str, raw: RawSecret, problems: &mut Vec<Problem>, base: &Path) -> Option<SecretSource> {
    let mut found = Vec::new();
    if let Some(p) = raw.password_file {
        found.push(SecretSource::File(resolve_path(base, &p)));
    }
    if let Some(e) = raw.password_env {
        found.push(SecretSource::Env(e));
    }
    if let Some(c) = raw.password_credential {
        found.push(SecretSource::Credential(c));
    }
    match found.len() {
        1 => found.pop(),
        0 => None,
        _ => {
            problems.push(Problem {
                key: format!("{prefix}.password_file"),
                message: "set exactly one of password_file, password_env, password_credential".into(),
            });
            found.pop()
        }
    }
}

/// `[oauth2]`: needed exactly when `[imap]` or `[smtp]` says `auth = "oauth2"`.
fn oauth2_of(
    raw: Option<oauth::RawOAuth2>,
    imap: &ImapConfig,
    smtp: &SmtpConfig,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<oauth::OAuthConfig> {
    let used = imap.oauth2 || smtp.oauth2_user.is_some();
    if imap.oauth2
        && let Some(u) = &smtp.oauth2_user
        && !u.eq_ignore_ascii_case(&imap.user)
    {
        problems.push(Problem {
            key: "smtp.user".into(),
            message: format!(
                "with auth = \"oauth2\" on both, imap.user and smtp.user must be the same mailbox (one token serves both), not {u:?}"
            ),
        });
    }
    match raw {
        Some(r) => {
            let cfg = oauth::validate(r, base, problems);
            if !used {
                problems.push(Problem {
                    key: "oauth2".into(),
                    message: "set, but neither imap.auth nor smtp.auth is \"oauth2\"".into(),
                });
            }
            cfg
        }
        None if used => {
            problems.push(Problem {
                key: "oauth2".into(),
                message: "auth = \"oauth2\" needs an [oauth2] section with the provider".into(),
            });
            None
        }
        None => None,
    }
}

/// `auth = "password"` (the default) or `"oauth2"`; true for OAuth2.
fn auth_of(section: &str, auth: Option<&str>, problems: &mut Vec<Problem>) -> bool {
    match auth.unwrap_or("password") {
        "password" => false,
        "oauth2" => true,
        other => {
            problems.push(Problem {
                key: format!("{section}.auth"),
                message: format!("must be \"password\" or \"oauth2\", not {other:?}"),
            });
            false
        }
    }
}

fn database_of(d: RawDatabase, problems: &mut Vec<Problem>, base: &Path) -> DatabaseConfig {
    let password = secret_of(
        "database",
        RawSecret {
            password_file: d.password_file,
            password_env: d.password_env,
            password_credential: d.password_credential,
        },
        problems,
        base,
    );
    let backend = match (d.path, d.url) {
        (Some(p), None) => {
            if password.is_some() {
                problems.push(Problem {
                    key: "database.password_file".into(),
                    message: "a password is only used with database.url (PostgreSQL); a SQLite file has none".into(),
                });
            }
            Database::Sqlite(resolve_path(base, &p))
        }
        (None, Some(url)) => {
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => {
                    if u.password().is_some() {
                        problems.push(Problem {
                            key: "database.url".into(),
                            message: "must not contain the password: use password_file, password_env or password_credential".into(),
                        });
                    }
                    if u.path().trim_start_matches('/').is_empty() {
                        problems.push(Problem {
                            key: "database.url".into(),
                            message: "names no database: postgres://USER@HOST:PORT/DATABASE".into(),
                        });
                    }
                }
                Ok(u) => problems.push(Problem {
                    key: "database.url".into(),
                    message: format!(
                        "scheme {:?} is not supported: use postgres://USER@HOST:PORT/DATABASE, or path for SQLite",
                        u.scheme()
                    ),
                }),
                Err(e) => problems.push(Problem {
                    key: "database.url".into(),
                    message: format!("is not a URL ({e}): use postgres://USER@HOST:PORT/DATABASE"),
                }),
            }
            Database::Postgres { url, password }
        }
        (Some(p), Some(_)) => {
            problems.push(Problem {
                key: "database.path".into(),
                message: "set either path (SQLite) or url (PostgreSQL), not both".into(),
            });
            Database::Sqlite(resolve_path(base, &p))
        }
        (None, None) => {
            problems.push(Problem {
                key: "database.path".into(),
                message: "is required: the SQLite file (or url for PostgreSQL)".into(),
            });
            Database::Sqlite(PathBuf::new())
        }
    };
    let instance = d.instance.map(|s| s.trim().to_string()).unwrap_or_else(default_instance);
    if instance.is_empty() || instance.len() > 64 || !instance.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        problems.push(Problem {
            key: "database.instance".into(),
            message: format!("{instance:?}: use 1-64 letters, digits, '-', '_' or '.'"),
        });
    }
    if d.lease < Duration::from_secs(2) || d.lease > Duration::from_secs(3600) {
        problems.push(Problem {
            key: "database.lease".into(),
            message: "must be between 2s and 1h".into(),
        });
    }
    DatabaseConfig {
        backend,
        instance,
        lease: d.lease,
    }
}

/// The host name, which names this instance unless `database.instance` does.
fn default_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "samverkan".into())
}

fn addr(key: String, a: &str, problems: &mut Vec<Problem>) -> String {
    let a = a.trim().to_ascii_lowercase();
    if !valid_address(&a) {
        problems.push(Problem {
            key,
            message: format!("{a:?} is not an e-mail address"),
        });
    }
    a
}

fn schedule_of(prefix: &str, s: RawSchedule, tz: chrono_tz::Tz, problems: &mut Vec<Problem>) -> Option<crate::core::schedule::Schedule> {
    use crate::core::schedule::{MeetingKind, Schedule, check_rrule};
    let before = problems.len();
    let key = |k: &str| format!("{prefix}.{k}");
    let first = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s.first.trim(), f).ok());
    if first.is_none() {
        problems.push(Problem {
            key: key("first"),
            message: format!("{:?} is not a local date and time like \"2026-01-13T13:00\"", s.first),
        });
    }
    if let Some(first) = first
        && let Err(e) = check_rrule(&s.rrule, first, tz)
    {
        problems.push(Problem {
            key: key("rrule"),
            message: format!("{:?} is not a valid RFC 5545 RRULE: {e}", s.rrule),
        });
    }
    let mut kinds = Vec::new();
    for (i, k) in s.kinds.iter().enumerate() {
        match MeetingKind::parse(k) {
            Some(m) => kinds.push(m),
            None => problems.push(Problem {
                key: key(&format!("kinds[{i}]")),
                message: format!("{k:?} must be \"samverkansmöte\" or \"avstämningsmöte\""),
            }),
        }
    }
    if s.kinds.is_empty() {
        problems.push(Problem {
            key: key("kinds"),
            message: "name at least one meeting kind".into(),
        });
    }
    let cutoff_time = ["%H:%M", "%H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveTime::parse_from_str(s.cutoff_time.trim(), f).ok());
    if cutoff_time.is_none() {
        problems.push(Problem {
            key: key("cutoff_time"),
            message: format!("{:?} is not a time like \"12:00\"", s.cutoff_time),
        });
    }
    let digest_morning_time = ["%H:%M", "%H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveTime::parse_from_str(s.digest_morning_time.trim(), f).ok());
    if digest_morning_time.is_none() {
        problems.push(Problem {
            key: key("digest_morning_time"),
            message: format!("{:?} is not a time like \"07:00\"", s.digest_morning_time),
        });
    }
    if s.duration.as_secs() < 60 || s.duration.as_secs() > 24 * 3600 {
        problems.push(Problem {
            key: key("duration"),
            message: "must be between 1m and 24h".into(),
        });
    }
    if s.cutoff_days_before > 60 {
        problems.push(Problem {
            key: key("cutoff_days_before"),
            message: "must be at most 60".into(),
        });
    }
    if problems.len() > before {
        return None;
    }
    Some(Schedule {
        rrule: s.rrule.trim().trim_start_matches("RRULE:").to_string(),
        first: first?,
        duration: chrono::Duration::seconds(s.duration.as_secs() as i64),
        kinds,
        place: s.place,
        cutoff_days_before: s.cutoff_days_before,
        cutoff_time: cutoff_time?,
        invite_lead: chrono::Duration::seconds(s.invite_lead.as_secs() as i64),
        rsvp_reminder: chrono::Duration::seconds(s.rsvp_reminder.as_secs() as i64),
        digest_morning_time: digest_morning_time?,
    })
}

/// `[[forum.routine]]` blocks, every mistake named by its key.
fn routines_of(
    fi: &usize,
    raw: Vec<RawRoutine>,
    members: &[Member],
    unit_names: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Vec<Routine> {
    let mut out: Vec<Routine> = Vec::new();
    for (ri, r) in raw.into_iter().enumerate() {
        let k = |s: &str| format!("forum[{fi}].routine[{ri}].{s}");
        let mut bad = |key: String, message: String| problems.push(Problem { key, message });
        if r.id.is_empty() || !r.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            bad(k("id"), format!("{:?} must be lowercase letters, digits and '-'", r.id));
        } else if out.iter().any(|o| o.id == r.id) {
            bad(k("id"), format!("{:?} is used by two routines of the forum", r.id));
        }
        if r.name.trim().is_empty() {
            bad(k("name"), "must not be empty (it names the meeting in mails and calendars)".into());
        }
        let contacts: Vec<String> = r.contacts.iter().map(|c| c.trim().to_lowercase()).collect();
        if contacts.is_empty() || contacts.len() > 4 {
            bad(
                k("contacts"),
                "name one to four unit sides (e.g. [\"boende\", \"daglig verksamhet\"])".into(),
            );
        }
        if contacts.iter().any(|c| c.is_empty() || c.contains(':')) {
            bad(k("contacts"), "a side must be a non-empty word without ':'".into());
        }
        let books = r.books.trim().to_lowercase();
        if !contacts.contains(&books) {
            bad(k("books"), format!("{:?} is not one of contacts {contacts:?}", r.books));
        }
        if !(1..=60).contains(&r.first_after_months) {
            bad(k("first_after_months"), "must be between 1 and 60".into());
        }
        if !(1..=60).contains(&r.every_months) {
            bad(k("every_months"), "must be between 1 and 60".into());
        }
        if r.duration.as_secs() < 60 || r.duration.as_secs() > 24 * 3600 {
            bad(k("duration"), "must be between 1m and 24h".into());
        }
        if r.ask_before.as_secs() > 180 * 24 * 3600 {
            bad(k("ask_before"), "must be at most 180 days".into());
        }
        if r.rsvp_reminder.as_secs() > 60 * 24 * 3600 {
            bad(k("rsvp_reminder"), "must be at most 60 days".into());
        }
        let member_addr = |key: String, a: &str, problems: &mut Vec<Problem>| {
            let a = addr(key.clone(), a, problems);
            if !members.iter().any(|m| m.address == a) {
                problems.push(Problem {
                    key,
                    message: format!("{a} is not a [[forum.member]]"),
                });
            }
            a
        };
        let invite = r
            .invite
            .iter()
            .enumerate()
            .map(|(i, a)| member_addr(k(&format!("invite[{i}]")), a, problems))
            .collect();
        let escalate_to = r
            .escalate_to
            .iter()
            .enumerate()
            .map(|(i, a)| addr(k(&format!("escalate_to[{i}]")), a, problems))
            .collect();
        let comment_remind_after = deadline_of(k("comment_remind_after"), r.comment_remind_after, problems);
        let comment_within = deadline_of(k("comment_within"), r.comment_within, problems);
        let contact_remind_after = deadline_of(k("contact_remind_after"), r.contact_remind_after, problems);
        let contact_within = deadline_of(k("contact_within"), r.contact_within, problems);
        for (key, remind, within) in [
            ("comment_within", comment_remind_after, comment_within),
            ("contact_within", contact_remind_after, contact_within),
        ] {
            if within.rank() <= remind.rank() {
                problems.push(Problem {
                    key: k(key),
                    message: format!("must be later than {}", key.replace("_within", "_remind_after")),
                });
            }
        }
        // A routine per unit (seed 000's information meeting).
        let per_unit = !r.units.is_empty();
        for (ui, u) in r.units.iter().enumerate() {
            if !unit_names.contains(u) {
                problems.push(Problem {
                    key: k(&format!("units[{ui}]")),
                    message: format!("{u:?} is not one of the forum's [[forum.unit]] names"),
                });
            }
        }
        let caller = (!r.caller.trim().is_empty()).then(|| member_addr(k("caller"), &r.caller, problems));
        let first_due = (!r.first_due.trim().is_empty()).then(|| {
            chrono::NaiveDate::parse_from_str(r.first_due.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
                problems.push(Problem {
                    key: k("first_due"),
                    message: format!("{:?} is not a date like \"2027-03-01\"", r.first_due),
                });
                chrono::NaiveDate::MIN
            })
        });
        if per_unit {
            if caller.is_none() {
                problems.push(Problem {
                    key: k("caller"),
                    message: "a routine per unit (units = [...]) needs the member who calls the meeting".into(),
                });
            }
            if first_due.is_none() {
                problems.push(Problem {
                    key: k("first_due"),
                    message: "a routine per unit (units = [...]) needs the date its first meeting falls due".into(),
                });
            }
            if contacts.len() != 1 {
                problems.push(Problem {
                    key: k("contacts"),
                    message: "a routine per unit has one side, the caller's (e.g. contacts = [\"ansvarig\"])".into(),
                });
            }
        } else if caller.is_some() || first_due.is_some() {
            problems.push(Problem {
                key: k(if caller.is_some() { "caller" } else { "first_due" }),
                message: "only for a routine per unit (set units = [...])".into(),
            });
        }
        out.push(Routine {
            units: r.units,
            caller,
            first_due,
            id: r.id,
            name: r.name,
            contacts,
            books,
            first_after_months: r.first_after_months,
            every_months: r.every_months,
            ask_before: chrono::Duration::seconds(r.ask_before.as_secs() as i64),
            rsvp_reminder: chrono::Duration::seconds(r.rsvp_reminder.as_secs() as i64),
            duration: chrono::Duration::seconds(r.duration.as_secs() as i64),
            place: r.place,
            invite,
            comment_remind_after,
            comment_within,
            contact_remind_after,
            contact_within,
            escalate_to,
        });
    }
    out
}

fn validate(raw: RawConfig, base: &Path, problems: &mut Vec<Problem>) -> Config {
    let d = raw.daemon;
    if d.idle_timeout.as_secs() >= 29 * 60 || d.idle_timeout.as_secs() < 10 {
        problems.push(Problem {
            key: "daemon.idle_timeout".into(),
            message: "must be between 10s and 28m (RFC 2177 servers drop idle clients after 30 minutes)".into(),
        });
    }
    if d.full_check_interval.as_secs() < 1 {
        problems.push(Problem {
            key: "daemon.full_check_interval".into(),
            message: "must be at least 1s".into(),
        });
    }
    if d.max_send_attempts == 0 {
        problems.push(Problem {
            key: "daemon.max_send_attempts".into(),
            message: "must be at least 1".into(),
        });
    }
    let daemon = DaemonConfig {
        full_check_interval: d.full_check_interval,
        idle_timeout: d.idle_timeout,
        reconnect_max_backoff: d.reconnect_max_backoff.max(Duration::from_secs(1)),
        max_message_size: d.max_message_size,
        max_send_attempts: d.max_send_attempts,
        max_rejections_per_sender_per_day: d.max_rejections_per_sender_per_day,
        scheduler_interval: d.scheduler_interval.max(Duration::from_secs(1)),
    };

    let r = &raw.retention;
    for (key, days) in [
        ("retention.case_days", r.case_days),
        ("retention.open_case_days", r.open_case_days),
        ("retention.incomplete_days", r.incomplete_days),
        ("retention.mail_days", r.mail_days),
    ] {
        if !(1..=MAX_RETENTION_DAYS).contains(&days) {
            problems.push(Problem {
                key: key.into(),
                message: format!("must be between 1 and {MAX_RETENTION_DAYS} days"),
            });
        }
    }

    let database = database_of(raw.database, problems, base);

    // IMAP
    let i = raw.imap;
    let imap_tls = tls_of("imap.tls", &i.tls, &i.host, problems);
    if i.host.trim().is_empty() {
        problems.push(Problem {
            key: "imap.host".into(),
            message: "must not be empty".into(),
        });
    }
    let imap_oauth2 = auth_of("imap", i.auth.as_deref(), problems);
    let imap_password = secret_of(
        "imap",
        RawSecret {
            password_file: i.password_file,
            password_env: i.password_env,
            password_credential: i.password_credential,
        },
        problems,
        base,
    )
    .inspect(|_| {
        if imap_oauth2 {
            problems.push(Problem {
                key: "imap.password_file".into(),
                message: "not used with auth = \"oauth2\" (the token comes from [oauth2])".into(),
            });
        }
    })
    .unwrap_or_else(|| {
        if imap_oauth2 {
            return SecretSource::Env(String::new());
        }
        problems.push(Problem {
            key: "imap.password_file".into(),
            message: "the IMAP password is needed: set password_file, password_env or password_credential".into(),
        });
        SecretSource::Env(String::new())
    });
    for (k, v) in [
        ("imap.inbox", &i.inbox),
        ("imap.processed_folder", &i.processed_folder),
        ("imap.quarantine_folder", &i.quarantine_folder),
    ] {
        if v.trim().is_empty() {
            problems.push(Problem {
                key: k.into(),
                message: "must not be empty".into(),
            });
        } else if !v.chars().all(|c| c.is_ascii_graphic() || c == ' ') || v.contains('"') {
            problems.push(Problem {
                key: k.into(),
                message: format!(
                    "{v:?}: use printable ASCII letters (IMAP folder names are sent as written; write Karantan, not Karantän)"
                ),
            });
        }
    }
    if i.processed_folder == i.inbox || i.quarantine_folder == i.inbox || i.processed_folder == i.quarantine_folder {
        problems.push(Problem {
            key: "imap.processed_folder".into(),
            message: "inbox, processed_folder and quarantine_folder must be three different folders".into(),
        });
    }
    if i.batch_size == 0 || i.batch_size > 10_000 {
        problems.push(Problem {
            key: "imap.batch_size".into(),
            message: "must be between 1 and 10000".into(),
        });
    }
    let imap = ImapConfig {
        port: i.port.unwrap_or(if imap_tls == Tls::Implicit { 993 } else { 143 }),
        host: i.host,
        tls: imap_tls,
        user: i.user,
        password: imap_password,
        oauth2: imap_oauth2,
        ca_file: i.ca_file.map(|p| resolve_path(base, &p)),
        inbox: i.inbox,
        processed_folder: i.processed_folder,
        quarantine_folder: i.quarantine_folder,
        batch_size: i.batch_size,
    };

    // SMTP
    let s = raw.smtp;
    let smtp_tls = tls_of("smtp.tls", &s.tls, &s.host, problems);
    let smtp_secret = secret_of(
        "smtp",
        RawSecret {
            password_file: s.password_file,
            password_env: s.password_env,
            password_credential: s.password_credential,
        },
        problems,
        base,
    );
    let smtp_oauth2 = auth_of("smtp", s.auth.as_deref(), problems);
    let mut oauth2_user = None;
    let auth = match (s.user, smtp_secret) {
        (_, Some(_)) if smtp_oauth2 => {
            problems.push(Problem {
                key: "smtp.password_file".into(),
                message: "not used with auth = \"oauth2\" (the token comes from [oauth2])".into(),
            });
            None
        }
        (Some(u), None) if smtp_oauth2 => {
            oauth2_user = Some(u);
            None
        }
        (None, _) if smtp_oauth2 => {
            problems.push(Problem {
                key: "smtp.user".into(),
                message: "needed with auth = \"oauth2\": the mailbox to send as".into(),
            });
            None
        }
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        (Some(_), None) => {
            problems.push(Problem {
                key: "smtp.user".into(),
                message: "a user is set but no password source (password_file, password_env or password_credential)".into(),
            });
            None
        }
        (None, Some(_)) => {
            problems.push(Problem {
                key: "smtp.user".into(),
                message: "a password source is set but no user".into(),
            });
            None
        }
    };
    let smtp = SmtpConfig {
        port: s.port.unwrap_or(match smtp_tls {
            Tls::Implicit => 465,
            Tls::StartTls => 587,
            Tls::None => 25,
        }),
        host: s.host,
        tls: smtp_tls,
        auth,
        oauth2_user,
        ca_file: s.ca_file.map(|p| resolve_path(base, &p)),
    };
    let oauth2 = oauth2_of(raw.oauth2, &imap, &smtp, base, problems);

    // Forums
    if raw.forums.is_empty() {
        problems.push(Problem {
            key: "forum".into(),
            message: "at least one [[forum]] is needed".into(),
        });
    }
    let mut ids = BTreeSet::new();
    let mut mailboxes = BTreeSet::new();
    let mut forums = Vec::new();
    for (fi, f) in raw.forums.into_iter().enumerate() {
        let k = |s: &str| format!("forum[{fi}].{s}");
        if f.id.is_empty() || !f.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            problems.push(Problem {
                key: k("id"),
                message: format!("{:?} must be lowercase letters, digits and '-'", f.id),
            });
        }
        if !ids.insert(f.id.clone()) {
            problems.push(Problem {
                key: k("id"),
                message: format!("{:?} is used by two forums", f.id),
            });
        }
        let time_zone = f.time_zone.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            problems.push(Problem {
                key: k("time_zone"),
                message: format!("{:?} is not an IANA time zone (e.g. \"Europe/Stockholm\")", f.time_zone),
            });
            chrono_tz::Europe::Stockholm
        });
        let mailbox = addr(k("mailbox"), &f.mailbox, problems);
        if !mailboxes.insert(mailbox.clone()) {
            problems.push(Problem {
                key: k("mailbox"),
                message: format!("{mailbox} is used by two forums"),
            });
        }
        let convenor = Person {
            name: f.convenor.name,
            address: addr(k("convenor.address"), &f.convenor.address, problems),
        };
        let mut members: Vec<Member> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let unit_names: BTreeSet<String> = f.units.iter().map(|u| u.name.clone()).collect();
        if unit_names.len() != f.units.len() {
            problems.push(Problem {
                key: k("unit"),
                message: "two units have the same name".into(),
            });
        }
        for (mi, m) in f.members.into_iter().enumerate() {
            let mk = |s: &str| format!("forum[{fi}].member[{mi}].{s}");
            let address = addr(mk("address"), &m.address, problems);
            let aliases: Vec<String> = m
                .aliases
                .iter()
                .enumerate()
                .map(|(ai, a)| addr(mk(&format!("aliases[{ai}]")), a, problems))
                .collect();
            for a in std::iter::once(&address).chain(aliases.iter()) {
                if let Some(prev) = seen.insert(a.clone(), mi) {
                    problems.push(Problem {
                        key: mk("address"),
                        message: format!("{a} is also member[{prev}]'s address or alias"),
                    });
                }
            }
            if !unit_names.contains(&m.unit) {
                problems.push(Problem {
                    key: mk("unit"),
                    message: format!("{:?} is not one of the forum's [[forum.unit]] names", m.unit),
                });
            }
            if m.name.trim().is_empty() {
                problems.push(Problem {
                    key: mk("name"),
                    message: "must not be empty".into(),
                });
            }
            members.push(Member {
                name: m.name,
                address,
                unit: m.unit,
                aliases,
            });
        }
        let mut units = Vec::new();
        for (ui, u) in f.units.into_iter().enumerate() {
            let uk = |s: &str| format!("forum[{fi}].unit[{ui}].{s}");
            let mut heads = Vec::new();
            for (hi, h) in u.deputy_heads.iter().enumerate() {
                let a = addr(uk(&format!("deputy_heads[{hi}]")), h, problems);
                match members.iter().find(|m| m.address == a) {
                    Some(m) if m.unit == u.name => {}
                    Some(m) => problems.push(Problem {
                        key: uk(&format!("deputy_heads[{hi}]")),
                        message: format!("{a} is a member of unit {:?}, not {:?}", m.unit, u.name),
                    }),
                    None => problems.push(Problem {
                        key: uk(&format!("deputy_heads[{hi}]")),
                        message: format!("{a} is not listed as a [[forum.member]]"),
                    }),
                }
                heads.push(a);
            }
            let unit_head = u.unit_head.map(|p| Person {
                address: addr(uk("unit_head.address"), &p.address, problems),
                name: p.name,
            });
            let department_head = u.department_head.map(|p| Person {
                address: addr(uk("department_head.address"), &p.address, problems),
                name: p.name,
            });
            units.push(Unit {
                name: u.name,
                deputy_heads: heads,
                unit_head,
                department_head,
            });
        }
        let schedule = f.schedule.and_then(|s| schedule_of(&k("schedule"), s, time_zone, problems));
        if !matches!(f.language.as_str(), "sv" | "en") {
            problems.push(Problem {
                key: k("language"),
                message: format!("{:?} must be \"sv\" or \"en\"", f.language),
            });
        }
        let fu = f.followup;
        let reminder_time = ["%H:%M", "%H:%M:%S"]
            .iter()
            .find_map(|p| chrono::NaiveTime::parse_from_str(fu.reminder_time.trim(), p).ok())
            .unwrap_or_else(|| {
                problems.push(Problem {
                    key: k("followup.reminder_time"),
                    message: format!("{:?} is not a time like \"09:00\"", fu.reminder_time),
                });
                chrono::NaiveTime::MIN
            });
        let handover_remind_after = deadline_of(k("followup.handover_remind_after"), fu.handover_remind_after, problems);
        let handover_escalate_after = deadline_of(k("followup.handover_escalate_after"), fu.handover_escalate_after, problems);
        let decisions_remind_after = deadline_of(k("followup.decisions_remind_after"), fu.decisions_remind_after, problems);
        if handover_escalate_after.rank() <= handover_remind_after.rank() {
            problems.push(Problem {
                key: k("followup.handover_escalate_after"),
                message: "must be later than handover_remind_after".into(),
            });
        }
        if let Some(m) = fu.transfer_inventory_months.iter().find(|m| !(1..=12).contains(*m)) {
            problems.push(Problem {
                key: k("followup.transfer_inventory_months"),
                message: format!("{m} is not a month (1-12)"),
            });
        }
        let followup = Followup {
            handover_remind_after,
            handover_escalate_after,
            decisions_remind_after,
            notes_due_after: chrono::Duration::seconds(fu.notes_due_after.as_secs() as i64),
            follow_up_remind_before: chrono::Duration::seconds(fu.follow_up_remind_before.as_secs() as i64),
            age_transfer_notice_months: fu.age_transfer_notice_months,
            transfer_inventory_months: fu.transfer_inventory_months,
            reminder_time,
            adjusters: fu
                .adjusters
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let a = addr(k(&format!("followup.adjusters[{i}]")), a, problems);
                    if !members.iter().any(|m| m.address == a) {
                        problems.push(Problem {
                            key: k(&format!("followup.adjusters[{i}]")),
                            message: format!("{a} is not a [[forum.member]]"),
                        });
                    }
                    a
                })
                .collect(),
            adjust_within: chrono::Duration::seconds(fu.adjust_within.as_secs() as i64),
            adjust_remind_before: chrono::Duration::seconds(fu.adjust_remind_before.as_secs() as i64),
        };
        let person = |key: String, p: RawPerson, problems: &mut Vec<Problem>| Person {
            address: addr(key, &p.address, problems),
            name: p.name,
        };
        if !(1..=31).contains(&f.deviations.digest_day) {
            problems.push(Problem {
                key: k("deviations.digest_day"),
                message: format!("{} is not a day of the month (1-31)", f.deviations.digest_day),
            });
        }
        let deviations = Deviations {
            collectors: f
                .deviations
                .collectors
                .into_iter()
                .enumerate()
                .map(|(i, p)| person(k(&format!("deviations.collectors[{i}].address")), p, problems))
                .collect(),
            each: f.deviations.each,
            digest_day: f.deviations.digest_day,
        };
        if f.report.min_cell == 0 {
            problems.push(Problem {
                key: k("report.min_cell"),
                message: "must be at least 1".into(),
            });
        }
        let review_date = f
            .report
            .review_date
            .as_deref()
            .and_then(|s| month_day(k("report.review_date"), s, problems));
        let send_on = f
            .report
            .send_on
            .as_deref()
            .and_then(|s| month_day(k("report.send_on"), s, problems));
        if !f.report.owners.is_empty()
            && review_date.is_none()
            && send_on.is_none()
            && !problems.iter().any(|p| p.key.starts_with(&k("report.")))
        {
            problems.push(Problem {
                key: k("report.review_date"),
                message: "owners are set: give the routine's review date (or report.send_on)".into(),
            });
        }
        let report = Report {
            owners: f
                .report
                .owners
                .into_iter()
                .enumerate()
                .map(|(i, p)| person(k(&format!("report.owners[{i}].address")), p, problems))
                .collect(),
            review_date,
            send_on,
            min_cell: f.report.min_cell,
        };
        let routines = routines_of(&fi, f.routines, &members, &unit_names, problems);
        forums.push(Forum {
            id: f.id,
            name: f.name,
            time_zone,
            mailbox,
            convenor,
            units,
            members,
            language: f.language,
            schedule,
            followup,
            routines,
            deviations,
            report,
        });
    }

    Config {
        oauth2,
        source: base.to_path_buf(),
        daemon,
        database,
        templates_dir: raw
            .templates
            .dir
            .map(|p| resolve_path(base, &p))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_TEMPLATES_DIR)),
        imap,
        smtp,
        forums,
        trusted_authserv_id: raw
            .security
            .trusted_authserv_id
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty()),
        retention: Retention {
            case_days: raw.retention.case_days,
            open_case_days: raw.retention.open_case_days,
            incomplete_days: raw.retention.incomplete_days,
            mail_days: raw.retention.mail_days,
        },
        metrics: Metrics {
            listen: raw.metrics.listen.as_deref().and_then(|l| match l.parse::<std::net::SocketAddr>() {
                Ok(a) if a.ip().is_loopback() => Some(a),
                Ok(a) => {
                    problems.push(Problem {
                        key: "metrics.listen".into(),
                        message: format!("{a} is not a loopback address (use 127.0.0.1:PORT; put a proxy in front for remote scraping)"),
                    });
                    None
                }
                Err(_) => {
                    problems.push(Problem {
                        key: "metrics.listen".into(),
                        message: format!("{l:?} is not an address like \"127.0.0.1:9187\""),
                    });
                    None
                }
            }),
            max_sync_age: raw.metrics.max_sync_age,
            max_outbox_age: raw.metrics.max_outbox_age,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[database]
path = "x.db"
[imap]
host = "imap.kommun.test"
user = "samverkan"
password_env = "X_IMAP_PW"
[smtp]
host = "smtp.kommun.test"
tls = "starttls"
[[forum]]
id = "iof-aof"
name = "Samverkan IoF och ÄoF"
mailbox = "Samverkan@Kommun.test"
convenor = { name = "Sara Sammankallande", address = "sara@kommun.test" }
[[forum.unit]]
name = "Barn och unga"
deputy_heads = ["anna@kommun.test"]
[[forum.member]]
name = "Anna Berg"
address = "anna@kommun.test"
unit = "Barn och unga"
"#;

    fn problems(text: &str) -> Vec<Problem> {
        parse(text, Path::new("/etc/samverkan/samverkan.toml")).err().unwrap_or_default()
    }

    #[test]
    fn deviations_and_report_keys_are_read_and_each_mistake_named() {
        let ok = format!(
            "{MINIMAL}[forum.deviations]\ncollectors = [{{ name = \"Controller\", address = \"Ctrl@Kommun.test\" }}]\neach = true\ndigest_day = 31\n\
             [forum.report]\nowners = [{{ name = \"Chef\", address = \"chef@kommun.test\" }}]\nreview_date = \"03-31\"\nmin_cell = 3\n"
        );
        let c = parse(&ok, Path::new("/etc/samverkan/samverkan.toml")).expect("valid");
        let f = &c.forums[0];
        assert_eq!(f.deviations.collectors[0].address, "ctrl@kommun.test");
        assert!(f.deviations.each);
        assert_eq!((f.deviations.digest_day, f.report.min_cell), (31, 3));
        // A month before the 31st of March: the last day of February.
        assert_eq!(f.report.send_day(), Some((2, 29)));
        let defaults = parse(MINIMAL, Path::new("/etc/samverkan/samverkan.toml")).expect("valid");
        assert_eq!(
            (defaults.forums[0].deviations.digest_day, defaults.forums[0].report.min_cell),
            (1, 5)
        );
        assert_eq!(defaults.forums[0].report.send_day(), None);
        let bad = format!(
            "{MINIMAL}[forum.deviations]\ndigest_day = 0\ncollectors = [{{ name = \"x\", address = \"nope\" }}]\n[forum.report]\nmin_cell = 0\nsend_on = \"02-30\"\n"
        );
        let keys: Vec<String> = problems(&bad).into_iter().map(|p| p.key).collect();
        for k in [
            "deviations.digest_day",
            "deviations.collectors[0].address",
            "report.min_cell",
            "report.send_on",
        ] {
            assert!(keys.contains(&format!("forum[0].{k}")), "{k}: {keys:?}");
        }
        let no_date = format!("{MINIMAL}[forum.report]\nowners = [{{ name = \"Chef\", address = \"chef@kommun.test\" }}]\n");
        let keys: Vec<String> = problems(&no_date).into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["forum[0].report.review_date"]);
    }

    #[test]
    fn postgres_database_is_configured_by_url_and_a_password_source() {
        let text = MINIMAL.replace(
            "[database]\npath = \"x.db\"",
            "[database]\nurl = \"postgres://sv@db.kommun.test:5432/samverkan\"\npassword_env = \"SV_DB_PW\"\ninstance = \"node-1\"\nlease = \"10s\"",
        );
        assert_ne!(text, MINIMAL);
        let c = parse(&text, Path::new("/etc/samverkan/samverkan.toml")).expect("valid");
        assert_eq!(
            c.database.backend,
            Database::Postgres {
                url: "postgres://sv@db.kommun.test:5432/samverkan".into(),
                password: Some(SecretSource::Env("SV_DB_PW".into()))
            }
        );
        assert_eq!(
            (c.database.instance.as_str(), c.database.lease),
            ("node-1", Duration::from_secs(10))
        );
        assert!(c.secrets().iter().any(|(k, _)| *k == "database.password"));
        assert_eq!(c.database.display(), "postgres://sv@db.kommun.test:5432/samverkan");
    }

    #[test]
    fn database_mistakes_are_named_by_key() {
        let with = |db: &str| problems(&MINIMAL.replace("[database]\npath = \"x.db\"", &format!("[database]\n{db}")));
        let has = |p: &[Problem], key: &str, words: &str| p.iter().any(|p| p.key == key && p.message.contains(words));
        let p = with("url = \"postgres://sv:hemligt@db/samverkan\"");
        assert!(has(&p, "database.url", "must not contain the password"), "{p:?}");
        let p = with("url = \"mysql://sv@db/samverkan\"");
        assert!(has(&p, "database.url", "not supported"), "{p:?}");
        let p = with("url = \"postgres://sv@db\"");
        assert!(has(&p, "database.url", "names no database"), "{p:?}");
        let p = with("path = \"x.db\"\nurl = \"postgres://sv@db/s\"");
        assert!(has(&p, "database.path", "not both"), "{p:?}");
        let p = with("instance = \"a b\"");
        assert!(has(&p, "database.path", "is required"), "{p:?}");
        assert!(has(&p, "database.instance", "letters"), "{p:?}");
        let p = with("path = \"x.db\"\npassword_file = \"pw\"");
        assert!(has(&p, "database.password_file", "only used with database.url"), "{p:?}");
        let p = with("path = \"x.db\"\nlease = \"1s\"");
        assert!(has(&p, "database.lease", "between 2s and 1h"), "{p:?}");
    }

    #[test]
    fn minimal_config_is_valid_with_defaults() {
        let c = parse(MINIMAL, Path::new("/etc/samverkan/samverkan.toml")).expect("valid");
        assert_eq!(c.imap.port, 993);
        assert_eq!(c.smtp.port, 587);
        assert_eq!(c.database.backend, Database::Sqlite(PathBuf::from("/etc/samverkan/x.db")));
        assert_eq!(c.forums[0].mailbox, "samverkan@kommun.test");
        assert_eq!(c.forums[0].time_zone, chrono_tz::Europe::Stockholm);
        assert!(c.forums[0].member("ANNA@kommun.test").is_some());
        assert_eq!(c.daemon.full_check_interval, Duration::from_secs(300));
    }

    #[test]
    fn unknown_keys_are_all_named() {
        let text = MINIMAL
            .replace("[smtp]", "[smtp]\nhots = \"x\"")
            .replace("[database]", "[database]\nfoo = 1");
        let p = problems(&text);
        let keys: Vec<_> = p.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"smtp.hots"), "{p:?}");
        assert!(keys.contains(&"database.foo"), "{p:?}");
        assert!(p.iter().all(|p| p.message == "unknown key"));
    }

    #[test]
    fn every_semantic_problem_is_reported_with_its_key() {
        let text = MINIMAL
            .replace("time_zone", "x")
            .replace("id = \"iof-aof\"", "id = \"IoF AoF\"\ntime_zone = \"Europe/Stockhlm\"")
            .replace("tls = \"starttls\"", "tls = \"none\"")
            .replace("unit = \"Barn och unga\"", "unit = \"Barn & unga\"");
        let p = problems(&text);
        let keys: Vec<_> = p.iter().map(|p| p.key.as_str()).collect();
        for k in [
            "forum[0].id",
            "forum[0].time_zone",
            "smtp.tls",
            "forum[0].member[0].unit",
            "forum[0].unit[0].deputy_heads[0]",
        ] {
            assert!(keys.contains(&k), "missing {k} in {p:#?}");
        }
    }

    #[test]
    fn tls_none_is_allowed_only_on_loopback() {
        let ok = MINIMAL.replace(
            "host = \"smtp.kommun.test\"\ntls = \"starttls\"",
            "host = \"127.0.0.1\"\ntls = \"none\"",
        );
        assert!(problems(&ok).is_empty());
        let bad = MINIMAL.replace("tls = \"starttls\"", "tls = \"none\"");
        assert_eq!(problems(&bad)[0].key, "smtp.tls");
    }

    #[test]
    fn retention_keys_have_defaults_and_each_bad_one_is_named() {
        let cfg = parse(MINIMAL, Path::new("/etc/samverkan/samverkan.toml")).expect("valid");
        let r = &cfg.retention;
        assert_eq!((r.case_days, r.open_case_days, r.incomplete_days, r.mail_days), (365, 365, 90, 90));
        let text = format!("{MINIMAL}\n[retention]\ncase_days = 30\nopen_case_days = 0\nincomplete_days = 20000\n");
        let keys: Vec<_> = problems(&text).into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["retention.open_case_days", "retention.incomplete_days"]);
        let text = format!("{MINIMAL}\n[retention]\nmail_days = \"90\"\n");
        assert_eq!(problems(&text)[0].key, "retention.mail_days");
    }

    #[test]
    fn password_is_required_and_never_inline() {
        let text = MINIMAL.replace("password_env = \"X_IMAP_PW\"", "password = \"hunter2\"");
        let p = problems(&text);
        assert!(p.iter().any(|p| p.key == "imap.password" && p.message == "unknown key"), "{p:?}");
        assert!(p.iter().any(|p| p.key == "imap.password_file"), "{p:?}");
    }

    #[test]
    fn schedule_is_validated_with_defaults() {
        let ok = format!(
            "{MINIMAL}\n[forum.schedule]\nrrule = \"FREQ=MONTHLY;BYDAY=2TU\"\nfirst = \"2026-01-13T13:00\"\nplace = \"Stadshuset\"\n"
        );
        let c = parse(&ok, Path::new("/x/y.toml")).expect("valid");
        let s = c.forums[0].schedule.as_ref().expect("schedule");
        assert_eq!(
            (s.cutoff_days_before, s.cutoff_time.to_string().as_str(), s.duration.num_minutes()),
            (1, "12:00:00", 60)
        );
        assert_eq!(s.kinds.len(), 2);
        let bad = format!(
            "{MINIMAL}\n[forum.schedule]\nrrule = \"FREQ=SOMETIMES\"\nfirst = \"13 jan\"\nkinds = [\"fika\"]\ncutoff_time = \"noon\"\n"
        );
        let keys: Vec<String> = problems(&bad).into_iter().map(|p| p.key).collect();
        for k in [
            "forum[0].schedule.first",
            "forum[0].schedule.kinds[0]",
            "forum[0].schedule.cutoff_time",
        ] {
            assert!(keys.iter().any(|x| x == k), "missing {k} in {keys:?}");
        }
        let bad_rule = format!("{MINIMAL}\n[forum.schedule]\nrrule = \"FREQ=SOMETIMES\"\nfirst = \"2026-01-13T13:00\"\n");
        assert_eq!(problems(&bad_rule)[0].key, "forum[0].schedule.rrule");
    }

    #[test]
    fn wrong_types_are_named_by_key_and_hide_nothing_after_them() {
        let text = MINIMAL
            .replace(
                "host = \"imap.kommun.test\"",
                "host = \"imap.kommun.test\"\nport = \"993x\"\nbatch_size = -4",
            )
            .replace("[smtp]\nhost = \"smtp.kommun.test\"", "[smtp]\nhost = 25")
            .replace(
                "[[forum.unit]]",
                "schedule = { rrule = \"FREQ=MONTHLY\", first = \"2027-01-12T13:00\", rsvp_reminder = 2 }\nbogus = 1\n[[forum.unit]]",
            )
            .replace(
                "unit = \"Barn och unga\"",
                "unit = \"Barn och unga\"\naliases = [\"a@kommun.test\", 7]",
            );
        let p = problems(&text);
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "imap.port",
            "imap.batch_size",
            "smtp.host",
            "forum[0].schedule.rsvp_reminder",
            "forum[0].member[0].aliases[1]",
            "forum[0].bogus",
        ] {
            assert!(keys.contains(&key), "{key} not named: {p:#?}");
        }
        assert!(!keys.contains(&"(syntax)"), "{p:#?}");
        assert_eq!(keys.iter().filter(|k| **k == "smtp.host").count(), 1, "reported once: {p:#?}");
        // A required key that is missing is named too, and the rest is still checked.
        let p = problems(
            &MINIMAL
                .replace("user = \"samverkan\"\n", "")
                .replace("tls = \"starttls\"", "tls = \"sometimes\""),
        );
        assert!(p.iter().any(|p| p.key == "imap.user" && p.message.contains("required")), "{p:#?}");
        assert!(p.iter().any(|p| p.key == "smtp.tls"), "{p:#?}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let p = problems("[database\npath = 1");
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("line 1"), "{p:?}");
    }

    #[test]
    fn missing_secret_is_an_environment_problem() {
        let c = parse(MINIMAL, Path::new("/x/y.toml")).expect("valid");
        let env = c.environment_problems();
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].key, "imap.password");
        assert!(env[0].message.contains("X_IMAP_PW"));
    }
}
