//! TEMPORARY minimal view until the full reader lands (same interface).
use chrono::{DateTime, Utc};
use mail_parser::{MessageParser, MimeHeaders};

#[derive(Debug, Clone, Default)]
pub struct CalendarPart { pub method: Option<String>, pub text: String }

#[derive(Debug, Clone, Default)]
pub struct MailView {
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub sender: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub delivered_to: Vec<String>,
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub date: Option<DateTime<Utc>>,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: Option<String>,
    pub calendars: Vec<CalendarPart>,
    pub report_type: Option<String>,
    pub attachment_names: Vec<String>,
    pub size: usize,
}

pub fn parse(raw: &[u8]) -> Option<MailView> {
    let m = MessageParser::default().parse(raw)?;
    let first = |a: Option<&mail_parser::Address>| a.and_then(|a| a.first()).and_then(|a| a.address()).map(|s| s.to_ascii_lowercase());
    let all = |a: Option<&mail_parser::Address>| a.map(|a| a.iter().filter_map(|x| x.address()).map(|s| s.to_ascii_lowercase()).collect()).unwrap_or_default();
    let _ = m.content_type();
    Some(MailView {
        message_id: m.message_id().map(str::to_string),
        from: first(m.from()),
        from_name: m.from().and_then(|a| a.first()).and_then(|a| a.name()).map(str::to_string),
        reply_to: first(m.reply_to()),
        to: all(m.to()),
        cc: all(m.cc()),
        subject: m.subject().unwrap_or("").to_string(),
        text: m.body_text(0).map(|s| s.to_string()).unwrap_or_default(),
        size: raw.len(),
        ..Default::default()
    })
}
