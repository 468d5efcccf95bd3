//! Fixtures for the core's unit tests: a fixed forum configuration, small mails, fixed times.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::config::{self, Config};
use crate::mail::view::MailView;

pub const CONFIG: &str = r#"
[database]
path = "test.db"
[imap]
host = "127.0.0.1"
tls = "none"
user = "samverkan@kommun.test"
password_env = "SAMVERKAN_TEST_UNUSED"
[smtp]
host = "127.0.0.1"
tls = "none"
[[forum]]
id = "iof-aof"
name = "Samverkan IoF och ÄoF"
mailbox = "samverkan@kommun.test"
convenor = { name = "Sara Sammankallande", address = "sara@kommun.test" }
[[forum.unit]]
name = "Barn och unga"
deputy_heads = ["anna.berg@kommun.test"]
[[forum.unit]]
name = "Vuxenenheten"
deputy_heads = ["lars.ek@kommun.test"]
[[forum.member]]
name = "Anna Berg"
address = "anna.berg@kommun.test"
unit = "Barn och unga"
[[forum.member]]
name = "Lars Ek"
address = "lars.ek@kommun.test"
unit = "Vuxenenheten"
aliases = ["lars@kommun.test"]
"#;

pub fn config() -> Config {
    config::parse(CONFIG, Path::new("/test/samverkan.toml")).expect("test config is valid")
}

pub fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test timestamp").with_timezone(&Utc)
}

/// A plain human mail.
pub fn mail(from: &str, to: &[&str], subject: &str, text: &str) -> MailView {
    MailView {
        message_id: Some(format!("{}@test", crate::core::intake::content_hash(from, text))),
        from: Some(from.to_string()),
        to: to.iter().map(|s| s.to_string()).collect(),
        subject: subject.to_string(),
        text: text.to_string(),
        ..MailView::default()
    }
}
