//! One JSON answer to "what is this mail?", used by the corpus tests and the
//! CLI's inspect command.

use serde_json::{Value, json};

use crate::core::classify::{Kind, classify};
use crate::core::reply::read_reply;
use crate::core::submission::read_submission;
use crate::mail::view::parse;

/// Parses, classifies and (for submissions) reads a raw mail:
///
/// ```json
/// { "kind": "submission", "message_id": "…", "from": "…", "subject_present": true,
///   "submission": { "sections": {…}, "missing": […], "urgent": false, "consent": null,
///                   "units": […], "withdraw": false, "case_ref": null } }
/// ```
///
/// `submission` is `null` for other kinds. Answers to invitations (kinds
/// `reply` and `counter`) carry one more key, `reply`: the
/// [`Reply`](crate::core::reply::Reply) read from the mail, or `null` when
/// none can be read:
///
/// ```json
/// { "kind": "reply", …, "submission": null,
///   "reply": { "uid": "…", "recurrence_id": null, "attendee": "…", "partstat": "ACCEPTED",
///              "sequence": 0, "comment": null, "source": "icalendar", "delegated_to": null,
///              "proposed_start": null, "proposed_end": null, "original_start": null,
///              "in_reply_to": […] } }
/// ```
///
/// `reply` has one more key, `unresolved_tzid`, only when a time's `TZID` could not be
/// resolved (its time is then local, without `Z`).
///
/// Other kinds have no `reply` key. An unparseable message gives
/// `{"kind": "other", "error": "unparseable"}`.
pub fn inspect(raw: &[u8], unit_of: &dyn Fn(&str) -> Option<String>) -> Value {
    inspect_with(raw, unit_of, None)
}

/// Like [`inspect`]; with the configuration the mail is read against, a mail to a forum with
/// routines around one person carries one more key, `person`: the routine mail read
/// ([`crate::core::person::Command`]: verb, reference, initials, dates, contact persons,
/// `problems` in Swedish), or `null` when it is not one.
pub fn inspect_with(raw: &[u8], unit_of: &dyn Fn(&str) -> Option<String>, cfg: Option<&crate::config::Config>) -> Value {
    let Some(view) = parse(raw) else {
        return json!({ "kind": Kind::Other, "error": "unparseable" });
    };
    let kind = classify(&view);
    let submission = match kind {
        Kind::Submission => serde_json::to_value(read_submission(&view, unit_of)).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let mut out = json!({
        "kind": kind,
        "message_id": view.message_id,
        "from": view.from,
        "subject_present": !view.subject.trim().is_empty(),
        "submission": submission,
    });
    if matches!(kind, Kind::Reply | Kind::Counter)
        && let Value::Object(map) = &mut out
    {
        let reply = read_reply(&view).and_then(|r| serde_json::to_value(r).ok()).unwrap_or(Value::Null);
        map.insert("reply".to_string(), reply);
    }
    if let (Some(cfg), Value::Object(map)) = (cfg, &mut out)
        && crate::core::intake::forum_for(cfg, &view).is_some_and(|f| !f.routines.is_empty())
    {
        let own = crate::core::submission::own_text(&view);
        let person = crate::core::intake::forum_for(cfg, &view)
            .filter(|_| kind == Kind::Submission)
            .and_then(|f| crate::core::person::read(f, &view.subject, &own))
            .and_then(|c| serde_json::to_value(c).ok())
            .unwrap_or(Value::Null);
        map.insert("person".to_string(), person);
    }
    out
}
