//! The yearly review report (seed 001 "Uppföljning av samverkan"): a pure function from what the
//! store knows about a forum's period to tables of numbers. No names, no addresses, no case
//! text: units, months, rules and counts only, and counts below `k` (but above zero) are
//! suppressed so that no person can be singled out. Rendering (HTML with charts, CSV) is the
//! shell's (`crate::report`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::Forum;
use crate::core::deviation;
use crate::core::ical::PartStat;
use crate::core::obligation as ob;
use crate::core::workdays::working_days_between;

/// A case as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFact {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub status: String,
    pub urgent: bool,
    /// The units it concerns (empty once the retention purge wiped them).
    pub units: Vec<String>,
    /// Its submission lacked parts when it arrived.
    pub was_incomplete: bool,
    pub meeting_id: Option<i64>,
    /// Decided for follow-up (so its meeting is a later one by decision, not by lateness).
    pub follow_up: bool,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A meeting with its invitees' units and answers (never their addresses: the shell maps
/// addresses to units through [`unit_of`] before this is built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingFact {
    pub id: i64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub samverkan: bool,
    pub cancelled: bool,
    /// (unit, answer) per required invitee; the unit is `None` for the convenor or a stranger.
    pub invitees: Vec<(Option<String>, PartStat)>,
}

/// An obligation as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObligationFact {
    pub kind: String,
    pub case_id: Option<i64>,
    pub opened_at: DateTime<Utc>,
    /// Closed by its owners (not by the retention purge).
    pub closed_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    /// The receiving unit (handovers).
    pub unit: Option<String>,
    /// The escalation ladder's level for a lifted case (3: unit heads, 4: department head).
    pub level: u8,
}

/// A recorded deviation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviationFact {
    pub rule: String,
    pub units: Vec<String>,
    pub due_at: DateTime<Utc>,
    pub dismissed: bool,
}

/// What the store knows about one forum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub cases: Vec<CaseFact>,
    pub meetings: Vec<MeetingFact>,
    pub obligations: Vec<ObligationFact>,
    pub deviations: Vec<DeviationFact>,
}

/// The unit of the forum's member at `address` (an alias too).
pub fn unit_of(forum: &Forum, address: &str) -> Option<String> {
    forum.member(address).map(|m| m.unit.clone())
}

/// A text in both report languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub sv: String,
    pub en: String,
}

fn label(sv: &str, en: &str) -> Label {
    Label {
        sv: sv.into(),
        en: en.into(),
    }
}

/// The same in both languages (a unit's name, a month).
fn same(s: &str) -> Label {
    label(s, s)
}

/// One cell: a number, or suppressed (fewer than k, or it would reveal one that is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    N(u64),
    #[serde(serialize_with = "hidden")]
    Hidden,
}

fn hidden<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("suppressed")
}

impl Cell {
    pub fn value(self) -> Option<u64> {
        match self {
            Cell::N(n) => Some(n),
            Cell::Hidden => None,
        }
    }
}

/// A column: its heading, and whether its cells add up to the total row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub label: Label,
    pub additive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub label: Label,
    pub cells: Vec<Cell>,
}

/// One table of the report, with the column its chart draws (one bar per row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub id: &'static str,
    pub title: Label,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub total: Option<Row>,
    pub chart: Option<usize>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub forum: String,
    /// The first day and the day after the last, local dates.
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub k: u32,
    pub tables: Vec<Table>,
}

/// A raw count or rate before suppression: the value, and the count it rests on (a rate's or
/// a median's base; the count itself for a count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Raw {
    value: u64,
    base: u64,
}

fn count(n: u64) -> Raw {
    Raw { value: n, base: n }
}

fn rate(part: u64, whole: u64) -> Raw {
    Raw {
        value: (part * 100 + whole / 2).checked_div(whole).unwrap_or(0),
        base: whole,
    }
}

fn shown(r: Raw, k: u64) -> Cell {
    if r.base > 0 && r.base < k { Cell::Hidden } else { Cell::N(r.value) }
}

struct RawTable {
    id: &'static str,
    title: Label,
    columns: Vec<Column>,
    rows: Vec<(Label, Vec<Raw>)>,
    /// The total row's derived cells (rates over all rows); additive ones are summed here.
    total: Option<Vec<Raw>>,
    chart: Option<usize>,
}

/// Suppresses small cells, and a column's total when exactly one of its cells is suppressed
/// (else the total minus the others would show it).
fn finish(t: RawTable, k: u64) -> Table {
    let rows: Vec<Row> = t
        .rows
        .iter()
        .map(|(l, cells)| Row {
            label: l.clone(),
            cells: cells.iter().map(|c| shown(*c, k)).collect(),
        })
        .collect();
    let total = t.total.map(|derived| {
        let cells = t
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if !c.additive {
                    return shown(derived[i], k);
                }
                let sum: u64 = t.rows.iter().map(|(_, cells)| cells[i].value).sum();
                let hidden = rows.iter().filter(|r| r.cells[i] == Cell::Hidden).count();
                if hidden == 1 { Cell::Hidden } else { shown(count(sum), k) }
            })
            .collect();
        Row {
            label: label("Totalt", "Total"),
            cells,
        }
    });
    Table {
        id: t.id,
        title: t.title,
        columns: t.columns,
        rows,
        total,
        chart: t.chart,
    }
}

fn col(sv: &str, en: &str, additive: bool) -> Column {
    Column {
        label: label(sv, en),
        additive,
    }
}

/// The local months from `from` up to (not including) `until`, as `YYYY-MM`.
fn months(from: NaiveDate, until: NaiveDate) -> Vec<String> {
    let mut out = Vec::new();
    let mut d = from.with_day(1).unwrap_or(from);
    while d < until {
        out.push(d.format("%Y-%m").to_string());
        d = d.checked_add_months(chrono::Months::new(1)).unwrap_or(until);
    }
    out
}

const UNKNOWN_SV: &str = "(okänd enhet)";

/// The units a case counts for: its own, or "unknown" once wiped.
fn units_or_unknown(units: &[String]) -> Vec<String> {
    if units.is_empty() {
        vec![UNKNOWN_SV.into()]
    } else {
        units.to_vec()
    }
}

fn unit_label(u: &str) -> Label {
    if u == UNKNOWN_SV {
        label(UNKNOWN_SV, "(unknown unit)")
    } else {
        same(u)
    }
}

/// Whether a case (and whether it was late) counts in a column.
type CaseTest = fn(&CaseFact, bool) -> bool;

/// The report of `forum` for the local dates `[from, until)`, with cells below `k` suppressed.
pub fn build(forum: &Forum, facts: &Facts, from: NaiveDate, until: NaiveDate, k: u32) -> Report {
    let tz: Tz = forum.time_zone;
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let within = |t: DateTime<Utc>| (from..until).contains(&day(t));
    let k64 = u64::from(k.max(1));
    // The forum's units in configured order, then any other a case named.
    let mut units: Vec<String> = forum.units.iter().map(|u| u.name.clone()).collect();
    let cases: Vec<&CaseFact> = facts.cases.iter().filter(|c| within(c.received_at)).collect();
    for u in cases.iter().flat_map(|c| units_or_unknown(&c.units)) {
        if !units.contains(&u) {
            units.push(u);
        }
    }
    let meetings: BTreeMap<i64, &MeetingFact> = facts.meetings.iter().map(|m| (m.id, m)).collect();
    let late = |c: &CaseFact| -> bool {
        let Some(own) = c.meeting_id.and_then(|id| meetings.get(&id)) else {
            return false;
        };
        !c.follow_up
            && facts
                .meetings
                .iter()
                .any(|m| m.samverkan && !m.cancelled && m.start > c.received_at && m.start < own.start)
    };
    let mut tables = Vec::new();

    // 1. Cases per unit and month.
    let ms = months(from, until);
    let mut columns: Vec<Column> = units
        .iter()
        .map(|u| Column {
            label: unit_label(u),
            additive: true,
        })
        .collect();
    columns.push(col("Alla ärenden", "All cases", true));
    let rows = ms
        .iter()
        .map(|m| {
            let of_month: Vec<&&CaseFact> = cases
                .iter()
                .filter(|c| day(c.received_at).format("%Y-%m").to_string() == *m)
                .collect();
            let mut cells: Vec<Raw> = units
                .iter()
                .map(|u| count(of_month.iter().filter(|c| units_or_unknown(&c.units).contains(u)).count() as u64))
                .collect();
            cells.push(count(of_month.len() as u64));
            (same(m), cells)
        })
        .collect();
    let all = columns.len() - 1;
    tables.push(RawTable {
        id: "cases_by_month",
        title: label("Ärenden per enhet och månad", "Cases per unit and month"),
        total: Some(vec![count(0); columns.len()]),
        columns,
        rows,
        chart: Some(all),
    });

    // 2. Late, incomplete, urgent, withdrawn, per unit.
    let flags: [(&str, &str, CaseTest); 5] = [
        ("Ärenden", "Cases", |_, _| true),
        ("Sent inkomna", "Late", |_, late| late),
        ("Ofullständiga", "Incomplete", |c, _| c.was_incomplete),
        ("Akuta", "Urgent", |c, _| c.urgent),
        ("Återkallade", "Withdrawn", |c, _| c.status == "withdrawn"),
    ];
    let rows = units
        .iter()
        .map(|u| {
            let of_unit: Vec<&&CaseFact> = cases.iter().filter(|c| units_or_unknown(&c.units).contains(u)).collect();
            let cells = flags
                .iter()
                .map(|(_, _, f)| count(of_unit.iter().filter(|c| f(c, late(c))).count() as u64))
                .collect();
            (unit_label(u), cells)
        })
        .collect();
    tables.push(RawTable {
        id: "case_kinds",
        title: label(
            "Sena, ofullständiga, akuta och återkallade ärenden per enhet",
            "Late, incomplete, urgent and withdrawn cases per unit",
        ),
        columns: flags.iter().map(|(sv, en, _)| col(sv, en, true)).collect(),
        rows,
        total: Some(vec![count(0); flags.len()]),
        chart: Some(1),
    });

    // 3. Decisions by kind (dated by the decision).
    let opened = |kind: &str| {
        facts
            .obligations
            .iter()
            .filter(|o| o.kind == kind && within(o.opened_at))
            .filter_map(|o| o.case_id)
            .collect::<BTreeSet<_>>()
            .len() as u64
    };
    let closed = facts
        .cases
        .iter()
        .filter(|c| c.status == "closed" && c.closed_at.is_some_and(within))
        .count() as u64;
    let decisions = [
        ("Överlämna", "Handover", opened(ob::HANDOVER_INFO)),
        ("Uppföljning", "Follow-up", opened(ob::FOLLOW_UP)),
        ("Lyft", "Lifted", opened(ob::ESCALATION_ACK)),
        ("Avslutad", "Closed", closed),
    ];
    tables.push(RawTable {
        id: "decisions",
        title: label("Beslut per slag", "Decisions by kind"),
        columns: vec![col("Beslut", "Decisions", true)],
        rows: decisions.iter().map(|(sv, en, n)| (label(sv, en), vec![count(*n)])).collect(),
        total: Some(vec![count(0)]),
        chart: Some(0),
    });

    // 4. Handovers per receiving unit, and working days until confirmed.
    let handovers: Vec<&ObligationFact> = facts
        .obligations
        .iter()
        .filter(|o| o.kind == ob::HANDOVER_CONFIRM && within(o.opened_at))
        .collect();
    let mut receiving: Vec<String> = units.iter().filter(|u| *u != UNKNOWN_SV).cloned().collect();
    for u in handovers.iter().filter_map(|o| o.unit.clone()) {
        if !receiving.contains(&u) {
            receiving.push(u);
        }
    }
    let days_of = |o: &ObligationFact| o.closed_at.map(|c| u64::from(working_days_between(day(o.opened_at), day(c))));
    let stats = |of: &[&ObligationFact]| -> Vec<Raw> {
        let mut days: Vec<u64> = of.iter().filter_map(|o| days_of(o)).collect();
        days.sort_unstable();
        let n = days.len() as u64;
        let median = if days.is_empty() { 0 } else { days[(days.len() - 1) / 2] };
        let max = days.last().copied().unwrap_or(0);
        vec![
            count(of.len() as u64),
            count(n),
            Raw { value: median, base: n },
            Raw { value: max, base: n },
        ]
    };
    let rows = receiving
        .iter()
        .map(|u| {
            let of: Vec<&ObligationFact> = handovers.iter().copied().filter(|o| o.unit.as_deref() == Some(u)).collect();
            (same(u), stats(&of))
        })
        .collect();
    tables.push(RawTable {
        id: "handovers",
        title: label(
            "Överlämningar per mottagande enhet och arbetsdagar till bekräftelse",
            "Handovers per receiving unit and working days until confirmed",
        ),
        columns: vec![
            col("Överlämningar", "Handovers", true),
            col("Bekräftade", "Confirmed", true),
            col("Median arbetsdagar", "Median working days", false),
            col("Längst, arbetsdagar", "Longest, working days", false),
        ],
        rows,
        total: Some(stats(&handovers)),
        chart: Some(2),
    });

    // 5. Escalations by level.
    let lifted = |level: u8| {
        facts
            .obligations
            .iter()
            .filter(|o| o.kind == ob::ESCALATION_ACK && o.level == level && within(o.opened_at))
            .count() as u64
    };
    let escalated = |kind: &str| {
        facts
            .obligations
            .iter()
            .filter(|o| o.kind == kind && o.escalated_at.is_some_and(within))
            .count() as u64
    };
    let mut rows = vec![
        (
            label("Nivå 3: lyft till enhetschef", "Level 3: lifted to unit heads"),
            vec![count(lifted(3))],
        ),
        (
            label("Nivå 4: lyft till avdelningschef", "Level 4: lifted to the head of department"),
            vec![count(lifted(4))],
        ),
    ];
    for kind in ob::KINDS.iter().filter(|k| escalated(k) > 0) {
        rows.push((
            label(
                &format!("Påminnelse eskalerad: {}", ob::what_sv(kind)),
                &format!("Reminder escalated: {kind}"),
            ),
            vec![count(escalated(kind))],
        ));
    }
    tables.push(RawTable {
        id: "escalations",
        title: label("Eskaleringar per nivå", "Escalations by level"),
        columns: vec![col("Antal", "Count", true)],
        rows,
        total: Some(vec![count(0)]),
        chart: Some(0),
    });

    // 6. Attendance and answer rates per unit, over the meetings held in the period.
    let held: Vec<&MeetingFact> = facts.meetings.iter().filter(|m| !m.cancelled && within(m.start)).collect();
    let tally = |u: Option<&str>| -> Vec<Raw> {
        let inv: Vec<&PartStat> = held
            .iter()
            .flat_map(|m| m.invitees.iter())
            .filter(|(unit, _)| u.is_none_or(|u| unit.as_deref() == Some(u)))
            .filter(|(unit, _)| unit.is_some())
            .map(|(_, p)| p)
            .collect();
        let n = inv.len() as u64;
        let accepted = inv.iter().filter(|p| matches!(p, PartStat::Accepted)).count() as u64;
        let answered = inv.iter().filter(|p| !matches!(p, PartStat::NeedsAction)).count() as u64;
        vec![count(n), count(accepted), count(answered), rate(accepted, n), rate(answered, n)]
    };
    let attendance_units: Vec<&String> = units.iter().filter(|u| forum.units.iter().any(|f| f.name == **u)).collect();
    tables.push(RawTable {
        id: "attendance",
        title: label("Närvaro och svar per enhet", "Attendance and answers per unit"),
        columns: vec![
            col("Kallade", "Invited", true),
            col("Tackat ja", "Accepted", true),
            col("Svarat", "Answered", true),
            col("Närvaro %", "Attendance %", false),
            col("Svarsfrekvens %", "Answer rate %", false),
        ],
        rows: attendance_units.iter().map(|u| (same(u), tally(Some(u)))).collect(),
        total: Some(tally(None)),
        chart: Some(3),
    });

    // 7. Deviations by rule and unit.
    let devs: Vec<&DeviationFact> = facts.deviations.iter().filter(|d| within(d.due_at)).collect();
    let mut dev_units: Vec<String> = units.iter().filter(|u| *u != UNKNOWN_SV).cloned().collect();
    for u in devs.iter().flat_map(|d| units_or_unknown(&d.units)) {
        if !dev_units.contains(&u) {
            dev_units.push(u);
        }
    }
    let mut columns: Vec<Column> = dev_units
        .iter()
        .map(|u| Column {
            label: unit_label(u),
            additive: true,
        })
        .collect();
    columns.push(col("Alla avvikelser", "All deviations", true));
    columns.push(col(
        "Varav ingen avvikelse enligt insamlaren",
        "Of which no deviation per the collector",
        true,
    ));
    let rows = deviation::RULES
        .iter()
        .map(|r| {
            let of: Vec<&&DeviationFact> = devs.iter().filter(|d| d.rule == r.id).collect();
            let mut cells: Vec<Raw> = dev_units
                .iter()
                .map(|u| count(of.iter().filter(|d| units_or_unknown(&d.units).contains(u)).count() as u64))
                .collect();
            cells.push(count(of.len() as u64));
            cells.push(count(of.iter().filter(|d| d.dismissed).count() as u64));
            (label(r.sv, r.en), cells)
        })
        .collect();
    let all = columns.len() - 2;
    tables.push(RawTable {
        id: "deviations",
        title: label("Avvikelser per regel och enhet", "Deviations by rule and unit"),
        total: Some(vec![count(0); columns.len()]),
        columns,
        rows,
        chart: Some(all),
    });

    Report {
        forum: forum.name.clone(),
        from,
        until,
        k,
        tables: tables.into_iter().map(|t| finish(t, k64)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{config, ts};

    /// A small forum year: every number below is counted by hand in the golden file's comment
    /// (tests/golden/report_model.json).
    pub fn sample() -> Facts {
        let vux = || vec!["Vuxenenheten".to_string()];
        let bou = || vec!["Barn och unga".to_string()];
        let mut cases = Vec::new();
        // Seven cases for Barn och unga in January (two urgent, one incomplete, one late), three
        // for Vuxenenheten in February (one withdrawn), one for both in March.
        for i in 0..7 {
            cases.push(CaseFact {
                id: i,
                received_at: ts(&format!("2027-01-0{}T09:00:00Z", i + 1)),
                status: "closed".into(),
                urgent: i < 2,
                units: bou(),
                was_incomplete: i == 3,
                meeting_id: Some(if i == 6 { 2 } else { 1 }),
                follow_up: false,
                closed_at: Some(ts("2027-01-20T10:00:00Z")),
            });
        }
        for i in 7..10 {
            cases.push(CaseFact {
                id: i,
                received_at: ts("2027-02-03T09:00:00Z"),
                status: if i == 7 { "withdrawn" } else { "handed_over" }.into(),
                urgent: false,
                units: vux(),
                was_incomplete: false,
                meeting_id: Some(2),
                follow_up: false,
                closed_at: None,
            });
        }
        cases.push(CaseFact {
            id: 10,
            received_at: ts("2027-03-01T09:00:00Z"),
            status: "submitted".into(),
            urgent: false,
            units: vec!["Barn och unga".into(), "Vuxenenheten".into()],
            was_incomplete: false,
            meeting_id: None,
            follow_up: false,
            closed_at: None,
        });
        // Outside the period: not counted.
        cases.push(CaseFact {
            id: 11,
            received_at: ts("2026-12-31T09:00:00Z"),
            status: "closed".into(),
            urgent: true,
            units: bou(),
            was_incomplete: false,
            meeting_id: None,
            follow_up: false,
            closed_at: None,
        });
        let member = |u: &str, p: PartStat| (Some(u.to_string()), p);
        let meetings = vec![
            MeetingFact {
                id: 1,
                start: ts("2027-01-07T13:00:00Z"),
                end: ts("2027-01-07T15:00:00Z"),
                samverkan: true,
                cancelled: false,
                invitees: vec![
                    member("Barn och unga", PartStat::Accepted),
                    member("Vuxenenheten", PartStat::Declined),
                    (None, PartStat::Accepted),
                ],
            },
            MeetingFact {
                id: 2,
                start: ts("2027-02-10T13:00:00Z"),
                end: ts("2027-02-10T15:00:00Z"),
                samverkan: true,
                cancelled: false,
                invitees: vec![
                    member("Barn och unga", PartStat::Accepted),
                    member("Vuxenenheten", PartStat::NeedsAction),
                ],
            },
            MeetingFact {
                id: 3,
                start: ts("2027-03-10T13:00:00Z"),
                end: ts("2027-03-10T15:00:00Z"),
                samverkan: true,
                cancelled: true,
                invitees: vec![member("Barn och unga", PartStat::Accepted)],
            },
        ];
        let o = |kind: &str, case: i64, opened: &str, closed: Option<&str>, unit: Option<&str>| ObligationFact {
            kind: kind.into(),
            case_id: Some(case),
            opened_at: ts(opened),
            closed_at: closed.map(ts),
            escalated_at: None,
            unit: unit.map(str::to_string),
            level: 3,
        };
        let mut obligations = vec![
            o(ob::HANDOVER_INFO, 8, "2027-02-10T15:00:00Z", Some("2027-02-11T10:00:00Z"), None),
            o(ob::HANDOVER_INFO, 9, "2027-02-10T15:00:00Z", Some("2027-02-11T10:00:00Z"), None),
            // Confirmed after 1 and 4 working days (Thursday to Friday; Thursday to Wednesday).
            o(
                ob::HANDOVER_CONFIRM,
                8,
                "2027-02-11T10:00:00Z",
                Some("2027-02-12T10:00:00Z"),
                Some("Barn och unga"),
            ),
            o(
                ob::HANDOVER_CONFIRM,
                9,
                "2027-02-11T10:00:00Z",
                Some("2027-02-17T10:00:00Z"),
                Some("Barn och unga"),
            ),
            o(ob::ESCALATION_ACK, 5, "2027-01-07T15:00:00Z", None, None),
            o(ob::FOLLOW_UP, 6, "2027-01-07T15:00:00Z", None, None),
        ];
        obligations[4].escalated_at = Some(ts("2027-01-18T08:00:00Z"));
        let deviations = vec![
            DeviationFact {
                rule: "notes_late".into(),
                units: bou(),
                due_at: ts("2027-01-14T08:00:00Z"),
                dismissed: false,
            },
            DeviationFact {
                rule: "handover_unconfirmed".into(),
                units: vux(),
                due_at: ts("2027-02-20T08:00:00Z"),
                dismissed: true,
            },
        ];
        Facts {
            cases,
            meetings,
            obligations,
            deviations,
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
            std::fs::write(&path, actual).expect("write golden");
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            actual,
            expected,
            "{} differs (UPDATE_GOLDEN=1 rewrites it after a reviewed change)",
            path.display()
        );
    }

    #[test]
    fn the_report_model_matches_its_golden_file() {
        let f = &config().forums[0];
        let r = build(f, &sample(), d("2027-01-01"), d("2027-04-01"), 1);
        golden("report_model_k1.json", &(serde_json::to_string_pretty(&r).expect("json") + "\n"));
        let r = build(f, &sample(), d("2027-01-01"), d("2027-04-01"), 5);
        golden("report_model_k5.json", &(serde_json::to_string_pretty(&r).expect("json") + "\n"));
    }

    fn table<'a>(r: &'a Report, id: &str) -> &'a Table {
        r.tables.iter().find(|t| t.id == id).expect("table")
    }

    fn cells(t: &Table, row: usize) -> Vec<Option<u64>> {
        t.rows[row].cells.iter().map(|c| c.value()).collect()
    }

    #[test]
    fn the_numbers_are_those_of_the_scenario() {
        let f = &config().forums[0];
        let r = build(f, &sample(), d("2027-01-01"), d("2027-04-01"), 1);
        let t = table(&r, "cases_by_month");
        assert_eq!(
            t.rows.iter().map(|r| r.label.sv.as_str()).collect::<Vec<_>>(),
            ["2027-01", "2027-02", "2027-03"]
        );
        assert_eq!(cells(t, 0), [Some(7), Some(0), Some(7)]);
        assert_eq!(cells(t, 2), [Some(1), Some(1), Some(1)]);
        assert_eq!(
            t.total.as_ref().map(|r| r.cells.clone()),
            Some(vec![Cell::N(8), Cell::N(4), Cell::N(11)])
        );
        let k = table(&r, "case_kinds");
        // Barn och unga: 8 cases, 1 late (case 6 missed meeting 1), 1 incomplete, 2 urgent.
        assert_eq!(cells(k, 0), [Some(8), Some(1), Some(1), Some(2), Some(0)]);
        assert_eq!(cells(k, 1), [Some(4), Some(0), Some(0), Some(0), Some(1)]);
        let h = table(&r, "handovers");
        assert_eq!(cells(h, 0), [Some(2), Some(2), Some(1), Some(4)]);
        let a = table(&r, "attendance");
        // Cancelled meeting 3 and the convenor (no unit) do not count.
        assert_eq!(cells(a, 0), [Some(2), Some(2), Some(2), Some(100), Some(100)]);
        assert_eq!(cells(a, 1), [Some(2), Some(0), Some(1), Some(0), Some(50)]);
        assert_eq!(a.total.as_ref().map(|r| r.cells[3]), Some(Cell::N(50)));
        let e = table(&r, "escalations");
        assert_eq!(cells(e, 0), [Some(1)]);
        assert_eq!(e.rows.len(), 3, "the escalated reminder has a row");
        let dv = table(&r, "deviations");
        assert_eq!(dv.rows.len(), deviation::RULES.len());
        assert_eq!(cells(dv, 0), [Some(0), Some(1), Some(1), Some(1)]);
        let dec = table(&r, "decisions");
        assert_eq!(
            dec.rows.iter().map(|r| r.cells[0].value()).collect::<Vec<_>>(),
            [Some(2), Some(1), Some(1), Some(7)]
        );
    }

    #[test]
    fn small_cells_are_suppressed_and_a_total_that_would_reveal_one() {
        let f = &config().forums[0];
        let r = build(f, &sample(), d("2027-01-01"), d("2027-04-01"), 5);
        let t = table(&r, "cases_by_month");
        assert_eq!(t.rows[0].cells, [Cell::N(7), Cell::N(0), Cell::N(7)]);
        assert_eq!(t.rows[1].cells, [Cell::N(0), Cell::Hidden, Cell::Hidden]);
        // Vuxenenheten: 3 + 1 hidden in two rows, the total 4 is below k.
        assert_eq!(t.total.as_ref().map(|r| r.cells[1]), Some(Cell::Hidden));
        // Barn och unga: one hidden cell (March's 1): the total 8 would reveal it.
        assert_eq!(t.total.as_ref().map(|r| r.cells[0]), Some(Cell::Hidden));
        let a = table(&r, "attendance");
        // Rates over fewer than k invitations are hidden too.
        assert_eq!(a.rows[0].cells[3], Cell::Hidden);
        let json = serde_json::to_string(&r).expect("json");
        assert!(json.contains("\"suppressed\""));
    }
}
