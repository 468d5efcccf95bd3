//! The deviations shell: on each scheduler pass, gathers the facts, asks `core::deviation::scan`
//! what rules were broken, records the new ones (once each, by rule and subject), and mails the
//! collectors: each one as it happens (when configured) and the monthly digest, with the facts
//! prefilled the way the deviation form asks for them. Also records the collector's answer
//! "Ingen avvikelse: <reason>".

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use tracing::{error, info};

use crate::app::App;
use crate::config::Forum;
use crate::core::deviation::{self as dv, Snapshot};
use crate::core::time::swedish_datetime;
use crate::outgoing::{self, Mail};
use crate::store::Tx;
use crate::store::deviation::DeviationRow;

/// How far back a scan looks: obligations closed and meetings started within this.
const LOOKBACK_DAYS: i64 = 120;

/// One pass: scan, record, mail. Returns when a scan could next find something or the next
/// digest is due.
pub async fn pass(app: &App, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let since = now - Duration::days(LOOKBACK_DAYS);
    let until = now + Duration::days(1);
    let meetings = app.store.meeting_views(since, until).await?;
    // A case that names no unit concerns its submitter's: addresses are mapped here and dropped.
    let forum_of = |id: &str| app.cfg.forum(id);
    let obligations: Vec<dv::ObligationFact> = app
        .store
        .obligation_facts(since)
        .await?
        .into_iter()
        .map(|(mut o, submitter, unit)| {
            let mut units = dv::case_units(forum_of(&o.forum_id), &o.units, &submitter);
            units.extend(unit);
            units.sort();
            units.dedup();
            o.units = units;
            o
        })
        .collect();
    let meeting_units: std::collections::BTreeMap<i64, Vec<String>> = app
        .store
        .meeting_units(since, until)
        .await?
        .into_iter()
        .map(|(id, cases)| {
            let forum = meetings.iter().find(|m| m.id == id).and_then(|m| forum_of(&m.forum_id));
            let mut units: Vec<String> = cases.iter().flat_map(|(u, s)| dv::case_units(forum, u, s)).collect();
            units.sort();
            units.dedup();
            (id, units)
        })
        .collect();
    let snap = Snapshot {
        obligations: &obligations,
        meetings: &meetings,
        meeting_units: &meeting_units,
    };
    let found = dv::scan(&app.cfg.forums, &snap, now);
    if !found.is_empty() {
        let mut tx = app.store.begin().await?;
        let new = tx.record_deviations(&found, now).await?;
        tx.commit().await?;
        for (id, rule) in &new {
            let f = found.iter().find(|f| f.rule == *rule);
            if dv::rule(rule).is_some_and(|r| r.bug) {
                // The routine names who is summoned; this should never happen.
                error!(
                    deviation = id,
                    rule,
                    meeting = f.and_then(|f| f.meeting_id),
                    "BUG: a summons went to someone the routine does not name"
                );
            } else {
                info!(
                    deviation = id,
                    rule,
                    case = f.and_then(|f| f.case_id),
                    meeting = f.and_then(|f| f.meeting_id),
                    "deviation recorded"
                );
            }
        }
    }
    let mut next = dv::next_wakeup(&app.cfg.forums, &snap, now);
    for forum in app.cfg.forums.iter().filter(|f| !f.deviations.collectors.is_empty()) {
        if forum.deviations.each {
            notify_each(app, forum, now).await?;
        }
        let tz = forum.time_zone;
        let at = forum.followup.reminder_time;
        let moment = dv::digest_moment(now, tz, forum.deviations.digest_day, at);
        if now >= moment {
            digest(app, forum, moment, now).await?;
        }
        let n = dv::next_digest(now, tz, forum.deviations.digest_day, at);
        next = Some(next.map_or(n, |t| t.min(n)));
    }
    Ok(next)
}

/// A deviation as the mails show it: the form's fields prefilled, numbers and references only.
fn form(forum: &Forum, d: &DeviationRow, now: DateTime<Utc>) -> serde_json::Value {
    let tz = forum.time_zone;
    let rule = dv::rule(&d.rule);
    let what = match forum.language.as_str() {
        "en" => rule.map(|r| r.en),
        _ => rule.map(|r| r.sv),
    };
    let obligation = d.subject.starts_with("obligation:");
    let late = obligation.then(|| dv::working_days_late(d.due_at, d.closed_at.unwrap_or(now), tz));
    serde_json::json!({
        "reference": dv::reference(d.id),
        "rule": d.rule,
        "what": what.unwrap_or(&d.rule),
        "case_no": d.case_no,
        "meeting": d.meeting_start.map(|t| swedish_datetime(t, tz)),
        "units": d.units,
        "due": swedish_datetime(d.due_at, tz),
        "closed": d.closed_at.map(|t| swedish_datetime(t, tz)),
        "late_days": late,
        "detected": d.detected_at.with_timezone(&tz).date_naive().to_string(),
        "dismissed": d.dismissed,
    })
}

fn collectors(forum: &Forum) -> Vec<(String, String)> {
    forum
        .deviations
        .collectors
        .iter()
        .map(|p| (p.name.clone(), p.address.clone()))
        .collect()
}

/// Each deviation as it is recorded (`deviations.each`).
async fn notify_each(app: &App, forum: &Forum, now: DateTime<Utc>) -> Result<()> {
    for d in app.store.deviations_unnotified(&forum.id).await? {
        let mail = outgoing::build(
            app,
            forum,
            Mail {
                template: "deviation_notice",
                ctx: serde_json::json!({ "d": form(forum, &d, now) }),
                to: collectors(forum),
                key: format!("deviation-{}", d.id),
                case_id: d.case_id,
                meeting_id: d.meeting_id,
                in_reply_to: None,
            },
        )?;
        let mut tx = app.store.begin().await?;
        tx.deviations_sent(&[d.id], false, now).await?;
        tx.enqueue(&mail, now).await?;
        tx.commit().await?;
        app.outbox_wake.notify_one();
        info!(deviation = d.id, rule = %d.rule, "deviation sent to the collectors");
    }
    Ok(())
}

/// The monthly digest: every deviation recorded before this month's moment and not yet in one.
async fn digest(app: &App, forum: &Forum, moment: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    let rows = app.store.deviations_undigested(&forum.id, moment).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let month = moment.with_timezone(&forum.time_zone).format("%Y-%m").to_string();
    let items: Vec<_> = rows.iter().map(|d| form(forum, d, now)).collect();
    let mut units: Vec<String> = rows.iter().flat_map(|d| d.units.iter().cloned()).collect();
    units.sort();
    units.dedup();
    let mail = outgoing::build(
        app,
        forum,
        Mail {
            template: "deviation_digest",
            ctx: serde_json::json!({ "month": month, "deviations": items, "units": units, "count": rows.len() }),
            to: collectors(forum),
            key: format!("deviations-{}-{month}", forum.id),
            case_id: None,
            meeting_id: None,
            in_reply_to: None,
        },
    )?;
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let mut tx = app.store.begin().await?;
    tx.deviations_sent(&ids, true, now).await?;
    tx.enqueue(&mail, now).await?;
    tx.commit().await?;
    app.outbox_wake.notify_one();
    info!(forum = %forum.id, count = ids.len(), month = %month, "deviation digest queued");
    Ok(())
}

/// Records the collector's "Ingen avvikelse" (`core::deviation::collector_answer`) in the
/// intake transaction and answers with what was recorded: (outcome, queued).
pub async fn dismiss(
    app: &App,
    tx: &mut Tx,
    forum: &Forum,
    from: &str,
    said: &[dv::Dismissal],
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<(&'static str, bool)> {
    let mut recorded = Vec::new();
    let mut unknown = Vec::new();
    for d in said {
        match tx.dismiss_deviation(&forum.id, d.id, from, &d.reason, now).await? {
            Some(_) => recorded.push(dv::reference(d.id)),
            None => unknown.push(dv::reference(d.id)),
        }
    }
    let name = forum
        .deviations
        .collectors
        .iter()
        .find(|p| p.address == from)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let mail = outgoing::build(
        app,
        forum,
        Mail {
            template: "deviation_dismissed",
            ctx: serde_json::json!({ "name": name, "recorded": recorded, "unknown": unknown }),
            to: vec![(name.clone(), from.to_string())],
            key: message_id.to_string(),
            case_id: None,
            meeting_id: None,
            in_reply_to: Some(message_id.to_string()),
        },
    )?;
    tx.enqueue(&mail, now).await?;
    info!(
        recorded = recorded.len(),
        unknown = unknown.len(),
        "collector answered: no deviation"
    );
    Ok(("deviation_dismissed", true))
}
