//! TEMPORARY until the full classifier lands (same interface).
use serde::Serialize;
use crate::mail::view::MailView;

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Kind { Submission, Reply, Counter, AutoReply, Bounce, Other }

pub fn classify(v: &MailView) -> Kind {
    let h = |n: &str| v.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.to_ascii_lowercase());
    if h("auto-submitted").is_some_and(|x| x != "no") { return Kind::AutoReply; }
    Kind::Submission
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self { Kind::Submission => "submission", Kind::Reply => "reply", Kind::Counter => "counter", Kind::AutoReply => "auto_reply", Kind::Bounce => "bounce", Kind::Other => "other" }
    }
}
