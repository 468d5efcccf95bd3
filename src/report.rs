//! The yearly review report's shell: reads a forum's facts, builds the pure model
//! (`core::report::build`), draws each table's chart as inline SVG with `plotters` (SVG backend
//! only), renders the page from the `report_page.html.j2` template of the forum's language, and
//! writes the same tables as CSV. `samverkan report` writes them to files; once a year the
//! scheduler mails them to the report's owners.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use plotters::prelude::*;
use tracing::info;

use crate::app::App;
use crate::config::Forum;
use crate::core::report::{self as model, Cell, Facts, MeetingFact, Report, Table};
use crate::core::schedule::local;
use crate::mail::compose::{self, Attachment, Draft};
use crate::store::{Outgoing, Store};
use crate::templates::Templates;

/// How far before the period meetings are read (a case's lateness is measured against the
/// meetings before its own).
const MEETING_LEAD_DAYS: i64 = 62;

/// The report of `forum` for the local dates `[from, until)`.
pub async fn build(store: &Store, forum: &Forum, from: NaiveDate, until: NaiveDate, k: u32) -> Result<Report> {
    let tz = forum.time_zone;
    let midnight = |d: NaiveDate| local(tz, d.and_time(chrono::NaiveTime::MIN));
    let raw = store
        .report_facts(
            &forum.id,
            midnight(from),
            midnight(until),
            chrono::Duration::days(MEETING_LEAD_DAYS),
        )
        .await?;
    let facts = Facts {
        cases: raw
            .cases
            .into_iter()
            .map(|(c, submitter)| model::CaseFact {
                units: crate::core::deviation::case_units(Some(forum), &c.units, &submitter),
                ..c
            })
            .collect(),
        // Addresses are mapped to units here and dropped: the model never sees one.
        meetings: raw
            .meetings
            .into_iter()
            .map(|(m, people)| MeetingFact {
                invitees: people.iter().map(|(a, p)| (model::unit_of(forum, a), *p)).collect(),
                ..m
            })
            .collect(),
        obligations: raw.obligations,
        deviations: raw.deviations,
    };
    Ok(model::build(forum, &facts, from, until, k))
}

fn text(l: &model::Label, lang: &str) -> String {
    if lang == "en" { l.en.clone() } else { l.sv.clone() }
}

/// A cell as shown and as written to CSV: the number, or `<k`.
pub fn shown(c: Cell, k: u32) -> String {
    match c {
        Cell::N(n) => n.to_string(),
        Cell::Hidden => format!("<{k}"),
    }
}

/// The bar colour of the charts (also what the browser test counts).
pub const BAR: RGBColor = RGBColor(31, 119, 180);

/// The bars a table's chart draws: (row label, value), suppressed rows drawn as no bar.
pub fn bars(t: &Table, lang: &str) -> Vec<(String, Option<u64>)> {
    let Some(col) = t.chart else { return Vec::new() };
    t.rows.iter().map(|r| (text(&r.label, lang), r.cells[col].value())).collect()
}

/// One horizontal bar per row, as an SVG document.
pub fn chart(t: &Table, lang: &str) -> Result<String> {
    // The first row at the top: the y axis counts upwards.
    let mut data = bars(t, lang);
    data.reverse();
    let max = data.iter().filter_map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = 50 + 26 * data.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let labels: Vec<String> = data
            .iter()
            .map(|(l, _)| {
                if l.chars().count() > 48 {
                    format!("{}…", l.chars().take(47).collect::<String>())
                } else {
                    l.clone()
                }
            })
            .collect();
        let n = data.len().max(1);
        let mut c = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(330)
            .build_cartesian_2d(0u64..max + max.div_ceil(10), (0..n).into_segmented())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        c.configure_mesh()
            .disable_y_mesh()
            .x_labels(6)
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(*i).cloned().unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        c.draw_series(data.iter().enumerate().filter_map(|(i, (_, v))| {
            v.filter(|v| *v > 0).map(|v| {
                let mut r = Rectangle::new([(0, SegmentValue::Exact(i)), (v, SegmentValue::Exact(i + 1))], BAR.filled());
                r.set_margin(3, 3, 0, 0);
                r
            })
        }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(svg)
}

/// The HTML page: self-contained (inline CSS and SVG, no scripts, no external resources).
pub fn html(templates: &Templates, report: &Report, lang: &str, title: &str) -> Result<String> {
    let tables: Vec<serde_json::Value> = report
        .tables
        .iter()
        .map(|t| {
            let data = bars(t, lang);
            Ok(serde_json::json!({
                "id": t.id,
                "title": text(&t.title, lang),
                "columns": t.columns.iter().map(|c| text(&c.label, lang)).collect::<Vec<_>>(),
                "rows": t.rows.iter().map(|r| serde_json::json!({
                    "label": text(&r.label, lang),
                    "cells": r.cells.iter().map(|c| shown(*c, report.k)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "total": t.total.as_ref().map(|r| r.cells.iter().map(|c| shown(*c, report.k)).collect::<Vec<_>>()),
                "chart": t.chart.map(|_| chart(t, lang)).transpose()?,
                "chart_column": t.chart.map(|c| text(&t.columns[c].label, lang)),
                "bars": data.iter().filter(|(_, v)| v.is_some_and(|v| v > 0)).count(),
                "suppressed_in_chart": data.iter().filter(|(_, v)| v.is_none()).count(),
            }))
        })
        .collect::<Result<_>>()?;
    let last = report.until.pred_opt().unwrap_or(report.until);
    templates.page(
        lang,
        "report_page",
        &serde_json::json!({
            "title": title, "forum": report.forum, "from": report.from.to_string(), "to": last.to_string(),
            "k": report.k, "tables": tables,
        }),
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The tables as CSV files (RFC 4180, UTF-8 with a byte-order mark so that Excel reads å, ä, ö):
/// (file suffix, contents). The header row names the columns, the last row is the total.
pub fn csv(report: &Report, lang: &str) -> Vec<(String, String)> {
    report
        .tables
        .iter()
        .map(|t| {
            let mut out = String::from("\u{feff}");
            let head: Vec<String> = std::iter::once(text(&t.title, lang))
                .chain(t.columns.iter().map(|c| text(&c.label, lang)))
                .map(|s| csv_field(&s))
                .collect();
            out.push_str(&head.join(","));
            out.push_str("\r\n");
            for r in t.rows.iter().chain(&t.total) {
                let line: Vec<String> = std::iter::once(csv_field(&text(&r.label, lang)))
                    .chain(r.cells.iter().map(|c| csv_field(&shown(*c, report.k))))
                    .collect();
                out.push_str(&line.join(","));
                out.push_str("\r\n");
            }
            (t.id.to_string(), out)
        })
        .collect()
}

/// The page's title.
pub fn title(forum: &Forum, from: NaiveDate, until: NaiveDate) -> String {
    let last = until.pred_opt().unwrap_or(until);
    match forum.language.as_str() {
        "en" => format!("{}: review report {from} – {last}", forum.name),
        _ => format!("{}: uppföljningsrapport {from} – {last}", forum.name),
    }
}

/// The HTML page and the CSV files of one report, ready to write or attach.
pub struct Files {
    pub html: String,
    pub csv: Vec<(String, String)>,
}

pub fn files(templates: &Templates, forum: &Forum, report: &Report) -> Result<Files> {
    let lang = forum.language.as_str();
    Ok(Files {
        html: html(templates, report, lang, &title(forum, report.from, report.until))?,
        csv: csv(report, lang),
    })
}

/// The yearly report: on its day (at `followup.reminder_time`) a mail to the owners with the
/// page and the CSV files attached, covering the twelve months before it. Once per forum and
/// year (its Message-ID is the forum and the year). Returns the next such moment.
pub async fn yearly(app: &App, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let mut next: Option<DateTime<Utc>> = None;
    for forum in app.cfg.forums.iter().filter(|f| !f.report.owners.is_empty()) {
        let tz = forum.time_zone;
        let year = now.with_timezone(&tz).year();
        let Some(day) = forum.report.send_date(year) else { continue };
        let moment = local(tz, day.and_time(forum.followup.reminder_time));
        if now < moment {
            next = Some(next.map_or(moment, |n| n.min(moment)));
            continue;
        }
        if let Some(after) = forum.report.send_date(year + 1) {
            let m = local(tz, after.and_time(forum.followup.reminder_time));
            next = Some(next.map_or(m, |n| n.min(m)));
        }
        let message_id = compose::message_id("report_mail", &format!("{}-{year}", forum.id), forum.mail_domain());
        if app.store.outbox_has(&message_id).await? {
            continue;
        }
        let from = day.with_year(year - 1).unwrap_or(day - chrono::Duration::days(365));
        let report = build(&app.store, forum, from, day, forum.report.min_cell).await?;
        let f = files(&app.templates, forum, &report)?;
        let to: Vec<(String, String)> = forum.report.owners.iter().map(|p| (p.name.clone(), p.address.clone())).collect();
        let last = day.pred_opt().unwrap_or(day);
        let r = app.templates.render(
            &forum.language,
            "report_mail",
            &serde_json::json!({
                "forum_name": forum.name, "convenor_name": forum.convenor.name, "convenor_address": forum.convenor.address,
                "from": from.to_string(), "to": last.to_string(), "k": report.k,
                "review_date": forum.report.review_date.map(|(m, d)| format!("{m:02}-{d:02}")),
                "tables": report.tables.iter().map(|t| text(&t.title, &forum.language)).collect::<Vec<_>>(),
            }),
        )?;
        let base = format!("samverkan-{}-{from}-{last}", forum.id);
        let mut attachments = vec![Attachment {
            filename: format!("{base}.html"),
            content_type: "text/html; charset=utf-8".into(),
            body: f.html.into_bytes(),
        }];
        attachments.extend(f.csv.into_iter().map(|(id, body)| Attachment {
            filename: format!("{base}-{id}.csv"),
            content_type: "text/csv; charset=utf-8".into(),
            body: body.into_bytes(),
        }));
        let mime = compose::build_with_attachments(
            &Draft {
                from_name: forum.name.clone(),
                from_address: forum.mailbox.clone(),
                to: to.clone(),
                subject: r.subject,
                text: r.text,
                html: r.html,
                in_reply_to: None,
                message_id: message_id.clone(),
            },
            &attachments,
        )?;
        let mut tx = app.store.begin().await?;
        tx.enqueue(
            &Outgoing {
                message_id,
                kind: "report_mail".into(),
                forum_id: forum.id.clone(),
                case_id: None,
                meeting_id: None,
                env_from: forum.mailbox.clone(),
                env_to: to.into_iter().map(|(_, a)| a).collect(),
                mime,
            },
            now,
        )
        .await?;
        tx.commit().await.context("queueing the yearly report")?;
        app.outbox_wake.notify_one();
        info!(forum = %forum.id, from = %from, to = %last, "yearly report queued");
    }
    Ok(next)
}

/// `samverkan report`: the files of each forum (or one), written to `out` and beside it
/// (`NAME.html`, `NAME-TABLE.csv`; with several forums `NAME-FORUM.html`, ...).
pub async fn write(
    app: &App,
    forum: Option<&str>,
    from: NaiveDate,
    until: NaiveDate,
    out: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>> {
    let forums: Vec<&Forum> = app.cfg.forums.iter().filter(|f| forum.is_none_or(|id| f.id == id)).collect();
    anyhow::ensure!(!forums.is_empty(), "no forum {:?} in the configuration", forum.unwrap_or(""));
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("report").to_string();
    let dir = out.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let mut written = Vec::new();
    let several = forums.len() > 1;
    let mut by_name: BTreeMap<std::path::PathBuf, String> = BTreeMap::new();
    for f in forums {
        let r = build(&app.store, f, from, until, f.report.min_cell).await?;
        let files = files(&app.templates, f, &r)?;
        let name = if several { format!("{stem}-{}", f.id) } else { stem.clone() };
        by_name.insert(dir.join(format!("{name}.html")), files.html);
        for (id, body) in files.csv {
            by_name.insert(dir.join(format!("{name}-{id}.csv")), body);
        }
    }
    for (path, body) in by_name {
        std::fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forum with nothing in the period still gets a whole page and its CSV files: every
    /// table, zeros, empty charts.
    #[test]
    fn an_empty_period_renders() {
        let cfg = crate::core::testing::config();
        let f = &cfg.forums[0];
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let r = model::build(f, &Facts::default(), day("2027-01-01"), day("2027-02-01"), 5);
        let t = Templates::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"), &["sv", "en"]).expect("templates");
        for lang in ["sv", "en"] {
            let page = html(&t, &r, lang, "x").expect("page");
            assert_eq!(page.matches("<figure class=\"chart\"").count(), r.tables.len(), "{lang}");
            assert!(page.contains("data-bars=\"0\""));
        }
        let files = csv(&r, "sv");
        assert_eq!(files.len(), r.tables.len());
        assert!(files.iter().all(|(_, body)| body.lines().count() >= 2));
    }
}
