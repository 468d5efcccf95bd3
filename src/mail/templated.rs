//! One templated mail from a forum to named people, ready for the outbox.

use anyhow::Result;

use crate::config::Forum;
use crate::mail::compose::{self, Draft};
use crate::store::Outgoing;
use crate::templates::Templates;

/// A templated mail.
pub struct Mail<'a> {
    /// Template name under `templates/LANG/`.
    pub template: &'a str,
    pub ctx: serde_json::Value,
    /// (display name, address)
    pub to: Vec<(String, String)>,
    /// What makes the Message-ID unique and stable (the cause).
    pub key: String,
    pub case_id: Option<i64>,
    pub meeting_id: Option<i64>,
    /// The Message-ID (without brackets) this mail answers, if any.
    pub in_reply_to: Option<String>,
}

/// Renders and builds the mail; the outbox kind is the template name.
pub fn build(templates: &Templates, forum: &Forum, m: Mail<'_>) -> Result<Outgoing> {
    let mut ctx = m.ctx;
    if let Some(o) = ctx.as_object_mut() {
        o.entry("forum_name").or_insert_with(|| forum.name.clone().into());
        o.entry("convenor_name").or_insert_with(|| forum.convenor.name.clone().into());
        o.entry("convenor_address").or_insert_with(|| forum.convenor.address.clone().into());
    }
    let r = templates.render(&forum.language, m.template, &ctx)?;
    let mid = compose::message_id(m.template, &m.key, forum.mail_domain());
    let mime = compose::build(&Draft {
        from_name: forum.name.clone(),
        from_address: forum.mailbox.clone(),
        to: m.to.clone(),
        subject: r.subject,
        text: r.text,
        html: r.html,
        in_reply_to: m.in_reply_to,
        message_id: mid.clone(),
    })?;
    Ok(Outgoing {
        message_id: mid,
        kind: m.template.to_string(),
        forum_id: forum.id.clone(),
        case_id: m.case_id,
        meeting_id: m.meeting_id,
        env_from: forum.mailbox.clone(),
        env_to: m.to.into_iter().map(|(_, a)| a).collect(),
        mime,
    })
}
