//! `samverkan preview`: every mail the daemon will send in a window, from the stored state,
//! without sending or storing anything. Meetings go through the planner's own state transition
//! (`core::plan::transition`, the one the scheduler writes to the store) and mail plan
//! (`core::plan::mails`), so the preview counts what the daemon will queue.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::core::plan::{self, Action, MeetingMail, MeetingView};
use crate::core::schedule::MeetingKind;
use crate::core::time::swedish_datetime;

/// For `samverkan preview`: the reminders and escalations of the open obligations (decisions,
/// notes, adjusters' review, handovers, lifted cases, follow-ups, age transfers) due in
/// `[now, until)`. `case_nos`: case id → case number. Each line: (when, description).
pub fn obligations(
    open: &[crate::store::ObligationRow],
    case_nos: &BTreeMap<i64, String>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, String)> {
    use crate::core::obligation::{self as ob, Step};
    let cores: Vec<_> = open.iter().map(crate::store::ObligationRow::core).collect();
    ob::upcoming(&cores, now, until)
        .into_iter()
        .filter_map(|(t, step)| {
            let (id, escalation) = match step {
                Step::Remind(id) => (id, false),
                Step::Escalate(id) => (id, true),
            };
            let o = open.iter().find(|o| o.id == id)?;
            let about = match (o.case_id.and_then(|c| case_nos.get(&c)), o.meeting_id) {
                // The routines around one person: reference and initials.
                _ if o.data["person"].is_string() => format!("brukare {}", o.data["person"].as_str().unwrap_or_default()),
                (Some(no), _) => format!("ärende {no}"),
                (None, Some(m)) => format!("möte {m}"),
                (None, None) => String::new(),
            };
            let (what, to) = if escalation {
                ("eskalering", o.escalate_to.len())
            } else {
                ("påminnelse", o.owners.len())
            };
            Some((
                t,
                format!(
                    "[{}] {about}: {what} om {} till {to} mottagare (uppgift {id})",
                    o.forum_id,
                    ob::what_sv(&o.kind)
                ),
            ))
        })
        .collect()
}

/// For `samverkan preview`: the deviation digests to the collectors (sent only when deviations
/// were recorded) and the yearly report to its owners, in `[now, until)`.
pub fn reports(cfg: &crate::config::Config, now: DateTime<Utc>, until: DateTime<Utc>) -> Vec<(DateTime<Utc>, String)> {
    use chrono::Datelike;
    let mut out = Vec::new();
    for f in &cfg.forums {
        let (tz, at) = (f.time_zone, f.followup.reminder_time);
        if !f.deviations.collectors.is_empty() {
            let mut t = crate::core::deviation::next_digest(now - chrono::Duration::seconds(1), tz, f.deviations.digest_day, at);
            while t < until {
                let n = f.deviations.collectors.len();
                out.push((
                    t,
                    format!(
                        "[{}] sammanställning av avvikelser till {n} insamlare (om några registrerats)",
                        f.id
                    ),
                ));
                t = crate::core::deviation::next_digest(t, tz, f.deviations.digest_day, at);
            }
        }
        if !f.report.owners.is_empty() {
            let year = now.with_timezone(&tz).year();
            for y in year..=until.with_timezone(&tz).year() {
                let Some(day) = f.report.send_date(y) else { continue };
                let t = crate::core::schedule::local(tz, day.and_time(at));
                if (now..until).contains(&t) {
                    let n = f.report.owners.len();
                    out.push((t, format!("[{}] årsrapport (uppföljning av samverkan) till {n} mottagare", f.id)));
                }
            }
        }
    }
    out
}

/// For `samverkan preview`: every mail the planner will send in `[now, until)` and when, from
/// the stored state, without sending or storing anything. Each line: (when, description).
pub fn meetings(
    cfg: &crate::config::Config,
    mut meetings: Vec<MeetingView>,
    last: BTreeMap<String, String>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, String)> {
    let mut out = Vec::new();
    let mut t = now;
    let mut last = last;
    // Each round settles one instant and moves to the next due time.
    for _ in 0..10_000 {
        // Preview assumes intake keeps up with the inbox.
        let steps = plan::settle(&mut meetings, cfg, &mut last, t, t);
        for plan::Step {
            action: a,
            before: m,
            after,
        } in &steps
        {
            {
                let Some(forum) = cfg.forum(&m.forum_id) else { continue };
                let when = swedish_datetime(m.start, forum.time_zone);
                // The calendar mails the daemon will queue for this step.
                let calendar = plan::mails(m, after, a)
                    .iter()
                    .filter(|x| matches!(x, MeetingMail::Calendar(_)))
                    .count();
                let line = match a {
                    Action::Invite { summon: false, .. } => {
                        format!(
                            "{} {} (möte {}): kalenderpost till sammankallande (håll datumet)",
                            m.kind.label_sv(),
                            when,
                            m.id
                        )
                    }
                    Action::Invite { .. } => {
                        format!(
                            "{} {} (möte {}): kallelse (REQUEST) till {} mottagare{}",
                            m.kind.label_sv(),
                            when,
                            m.id,
                            calendar,
                            if m.cases.is_empty() {
                                String::new()
                            } else {
                                format!(", dagordning med {} ärende(n)", m.cases.len())
                            }
                        )
                    }
                    Action::NotHeld { .. } => format!(
                        "{} {} (möte {}): hålls inte (inga ärenden); besked till sammankallande",
                        m.kind.label_sv(),
                        when,
                        m.id
                    ),
                    Action::Update { .. } => format!(
                        "{} {} (möte {}): ändrad kallelse (SEQUENCE {}) till {} mottagare",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        m.sequence,
                        calendar
                    ),
                    Action::Cancel { .. } => format!(
                        "{} {} (möte {}): avbokning (CANCEL) till {} mottagare",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        calendar
                    ),
                    Action::RequestDecisions { .. } => {
                        format!(
                            "{} {} (möte {}): beslutsunderlag till dokumentationsansvarig",
                            m.kind.label_sv(),
                            when,
                            m.id
                        )
                    }
                    Action::Remind { .. } => format!(
                        "{} {} (möte {}): påminnelse om svar till {} mottagare",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        calendar
                    ),
                    Action::Digest { which, .. } => format!(
                        "{} {} (möte {}): sammanställning till sammankallande ({})",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        match (which, m.kind) {
                            (plan::Digest::Cutoff, MeetingKind::Samverkan) =>
                                "vid sista anmälningstid, med kallelsen: vilka som kallats och ärendena",
                            (plan::Digest::Cutoff, MeetingKind::Avstamning) => "med inbjudningarna: vilka som bjudits in",
                            (plan::Digest::Morning, _) => "mötesdagens morgon: vilka som kommer",
                        }
                    ),
                    Action::Attendees { add, remove, .. } => format!(
                        "{} {} (möte {}): deltagarna ändrade: {} nya, {} avbokade; ändrad kallelse till alla",
                        m.kind.label_sv(),
                        when,
                        m.id,
                        add.len(),
                        remove.len()
                    ),
                };
                out.push((t, format!("[{}] {line}", forum.id)));
            }
        }
        match plan::next_wakeup(&meetings, cfg, t) {
            Some(next) if next < until => t = next,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::obligation as ob;
    use crate::core::testing::ts;
    use crate::store::ObligationRow;

    fn row(id: i64, kind: &str, case_id: Option<i64>, meeting_id: Option<i64>, remind: &str, escalate: Option<&str>) -> ObligationRow {
        ObligationRow {
            id,
            forum_id: "iof-aof".into(),
            kind: kind.into(),
            case_id,
            meeting_id,
            owners: vec!["anna.berg@kommun.test".into()],
            escalate_to: vec!["sara@kommun.test".into(), "eva@kommun.test".into()],
            remind_at: Some(ts(remind)),
            escalate_at: escalate.map(ts),
            reminded: false,
            escalated: false,
            opened_at: Some(ts("2027-01-12T13:00:00Z")),
            data: serde_json::json!({}),
            request_message_id: String::new(),
            closed: false,
        }
    }

    #[test]
    fn preview_lists_the_deviation_digests_and_the_yearly_report() {
        let text = crate::core::testing::CONFIG.to_string()
            + "[forum.deviations]\ncollectors = [{ name = \"C\", address = \"c@kommun.test\" }]\ndigest_day = 1\n\
               [forum.report]\nowners = [{ name = \"O\", address = \"o@kommun.test\" }]\nreview_date = \"03-15\"\n";
        let cfg = crate::config::parse(&text, std::path::Path::new("/t.toml")).expect("config");
        let lines = reports(&cfg, ts("2027-01-20T00:00:00Z"), ts("2027-03-05T00:00:00Z"));
        let when: Vec<_> = lines.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            when,
            [ts("2027-02-01T08:00:00Z"), ts("2027-03-01T08:00:00Z"), ts("2027-02-15T08:00:00Z")]
        );
        assert!(lines[0].1.contains("avvikelser") && lines[2].1.contains("årsrapport"), "{lines:?}");
    }

    #[test]
    fn preview_lists_obligation_reminders_and_escalations_in_swedish() {
        let open = [
            row(
                1,
                ob::HANDOVER_CONFIRM,
                Some(7),
                Some(3),
                "2027-01-15T08:00:00Z",
                Some("2027-01-21T08:00:00Z"),
            ),
            row(2, ob::ADJUST, None, Some(3), "2027-01-18T08:00:00Z", None),
            row(3, ob::FOLLOW_UP, Some(8), None, "2027-03-01T08:00:00Z", None),
        ];
        let nos = BTreeMap::from([(7, "2027-0007".to_string()), (8, "2027-0008".to_string())]);
        let lines = obligations(&open, &nos, ts("2027-01-13T00:00:00Z"), ts("2027-02-01T00:00:00Z"));
        let text: Vec<(String, &str)> = lines.iter().map(|(t, l)| (t.to_rfc3339(), l.as_str())).collect();
        assert_eq!(
            text,
            vec![
                (
                    "2027-01-15T08:00:00+00:00".to_string(),
                    "[iof-aof] ärende 2027-0007: påminnelse om bekräftelsen av överlämningen till 1 mottagare (uppgift 1)"
                ),
                (
                    "2027-01-18T08:00:00+00:00".to_string(),
                    "[iof-aof] möte 3: påminnelse om justeringen av mötesanteckningarna till 1 mottagare (uppgift 2)"
                ),
                (
                    "2027-01-21T08:00:00+00:00".to_string(),
                    "[iof-aof] ärende 2027-0007: eskalering om bekräftelsen av överlämningen till 2 mottagare (uppgift 1)"
                ),
            ],
            "the follow-up reminder in March is past the window"
        );
    }
}
