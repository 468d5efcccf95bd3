//! The daemon's one clock: every "now" the shell uses comes from here (`App::now`, and the CLI's
//! commands through [`Clock::from_env`]).
//!
//! In production it is the system clock. A debug build (the one `cargo test` runs) can be
//! told to run at an offset from it, so that end-to-end tests jump to "cutoff + 1 s" or "six
//! months later" instead of building schedules seconds ahead and sleeping: set
//! `SAMVERKAN_TEST_CLOCK` to a file of moves, one a line, `SINCE OFFSET`: from the real time
//! SINCE (Unix milliseconds) on, the clock runs OFFSET milliseconds ahead (a missing or empty
//! file is no offset). The daemon reads the file every 50 ms and wakes its timed tasks when the
//! offset changes; a CLI command reads it once. The mail server's arrival times
//! (INTERNALDATE) are shifted by the offset that was in force when the mail arrived
//! ([`Clock::server_time`]), so a mail delivered before a jump stays before it. A release build
//! has no test clock: it refuses to start with the variable set, and a debug build that uses it
//! says so at warn when it starts.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The variable that names the test clock's offset file.
pub const TEST_CLOCK_ENV: &str = "SAMVERKAN_TEST_CLOCK";

pub struct Clock {
    /// Milliseconds added to the system clock: always 0 in production.
    offset_ms: AtomicI64,
    /// Each change of the offset (for the tasks that sleep until a time).
    changed: watch::Sender<i64>,
    /// The test clock's moves: from this real time (Unix ms) on, this offset (ms).
    moves: Mutex<Vec<(i64, i64)>>,
    /// The offset file, when this is a test clock.
    file: Option<PathBuf>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock {
            offset_ms: AtomicI64::new(0),
            changed: watch::channel(0).0,
            moves: Mutex::new(Vec::new()),
            file: None,
        }
    }

    /// The system clock, or in a debug build with `SAMVERKAN_TEST_CLOCK` set the test clock
    /// read from that file. A release build refuses the variable rather than ignore it.
    pub fn from_env() -> Result<Clock> {
        let Some(path) = std::env::var_os(TEST_CLOCK_ENV).filter(|v| !v.is_empty()) else {
            return Ok(Clock::system());
        };
        if !cfg!(debug_assertions) {
            bail!("{TEST_CLOCK_ENV} is set, but this is a release build, which has no test clock: unset it");
        }
        let clock = Clock {
            file: Some(PathBuf::from(path)),
            ..Clock::system()
        };
        clock.reload()?;
        Ok(clock)
    }

    /// True when this clock is moved by a test (a debug build with `SAMVERKAN_TEST_CLOCK`).
    pub fn is_test_clock(&self) -> bool {
        self.file.is_some()
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }

    /// A time the mail server gave (INTERNALDATE), on this clock: shifted by the test offset
    /// that was in force at that (real) time.
    pub fn server_time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.file.is_none() {
            return t;
        }
        let moves = self.moves.lock().unwrap_or_else(|p| p.into_inner());
        let ms = offset_at(&moves, t.timestamp_millis());
        t + chrono::Duration::milliseconds(ms)
    }

    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Changes whenever the offset does: a task sleeping until a time wakes and looks again.
    pub fn changes(&self) -> watch::Receiver<i64> {
        self.changed.subscribe()
    }

    /// Reads the offset file; returns whether the offset now in force changed.
    fn reload(&self) -> Result<bool> {
        let Some(path) = &self.file else { return Ok(false) };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => bail!("cannot read the test clock {}: {e}", path.display()),
        };
        let moves = parse_moves(&text).map_err(|e| anyhow::anyhow!("the test clock {}: {e}", path.display()))?;
        let ms = offset_at(&moves, Utc::now().timestamp_millis());
        *self.moves.lock().unwrap_or_else(|p| p.into_inner()) = moves;
        let old = self.offset_ms.swap(ms, Ordering::SeqCst);
        if old != ms {
            self.changed.send_replace(ms);
        }
        Ok(old != ms)
    }

    /// For a test clock: records that the scheduler finished a planning pass on the clock as it
    /// stood at `offset`, with nothing left waiting for intake (the file's name with `.tick`
    /// appended holds that offset), so a test that moved the clock knows when what fell due has
    /// been queued.
    pub fn acknowledge(&self, offset: chrono::Duration) {
        let Some(path) = &self.file else { return };
        let mut tick = path.clone().into_os_string();
        tick.push(".tick");
        let tmp = {
            let mut t = tick.clone();
            t.push(".tmp");
            PathBuf::from(t)
        };
        let written = std::fs::write(&tmp, offset.num_milliseconds().to_string()).and_then(|()| std::fs::rename(&tmp, &tick));
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write the test clock's tick file");
        }
    }

    /// For the daemon with a test clock: follows the offset file until `stop` turns true.
    pub async fn follow(&self, mut stop: watch::Receiver<bool>) {
        if self.file.is_none() {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.changed() => return,
            }
            match self.reload() {
                Ok(true) => tracing::info!(offset_ms = self.offset_ms.load(Ordering::SeqCst), "test clock moved"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "test clock unreadable; keeping the last offset"),
            }
        }
    }
}

/// The moves of a test clock file: `SINCE OFFSET` a line (Unix ms, ms), in the order written.
fn parse_moves(text: &str) -> Result<Vec<(i64, i64)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.split_whitespace().map(str::parse::<i64>);
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(since)), Some(Ok(offset)), None) => Ok((since, offset)),
                _ => Err(format!("{l:?} is not \"SINCE OFFSET\" in milliseconds")),
            }
        })
        .collect()
}

/// The offset in force at the real time `at` (Unix ms): the last move made by then.
fn offset_at(moves: &[(i64, i64)], at: i64) -> i64 {
    moves.iter().rev().find(|(since, _)| *since <= at).map_or(0, |(_, o)| *o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_has_no_offset_and_a_test_clock_follows_its_file() {
        let c = Clock::system();
        assert!(!c.is_test_clock());
        assert_eq!(c.offset(), chrono::Duration::zero());
        let t = Utc::now();
        assert_eq!(c.server_time(t), t);

        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("clock");
        let c = Clock {
            file: Some(file.clone()),
            ..Clock::system()
        };
        let changes = c.changes();
        assert!(!c.reload().expect("missing file is 0"));
        let real = Utc::now();
        let before = real - chrono::Duration::hours(1);
        std::fs::write(&file, format!("{} 86400000\n", real.timestamp_millis() - 1000)).expect("write");
        assert!(c.reload().expect("reload"));
        assert!(changes.has_changed().expect("open"));
        assert_eq!(c.offset(), chrono::Duration::days(1));
        assert!((c.now() - Utc::now() - chrono::Duration::days(1)).num_seconds().abs() <= 1);
        // A mail that arrived before the move keeps the time it had then; one after, the moved.
        assert_eq!(c.server_time(before), before);
        assert_eq!(c.server_time(real), real + chrono::Duration::days(1));
        assert!(!c.reload().expect("same offset"), "no change, no wake-up");
        std::fs::write(&file, "soon").expect("write");
        assert!(c.reload().is_err(), "a bad file is an error, not a zero");
        assert_eq!(parse_moves("1000 5\n\n2000 -7\n"), Ok(vec![(1000, 5), (2000, -7)]));
        assert_eq!(offset_at(&[(1000, 5), (2000, 7)], 999), 0);
        assert_eq!(offset_at(&[(1000, 5), (2000, 7)], 1500), 5);
        assert_eq!(offset_at(&[(1000, 5), (2000, 7)], 2000), 7);
    }
}
