//! The yearly review report end to end below the mail: a forum's year seeded into the store
//! (both engines give the same model), the page and the CSV files written as `samverkan
//! report` writes them, then checked from outside: Python's csv module reads every CSV with the
//! same totals, Chromium (headless, from Debian) loads the page with no console errors and
//! every chart drawn with its bars, and none of the seeded personal data (marker names,
//! addresses, case text) is in any file. The screenshot in docs/reports.md is made here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDate;
use samverkan::config::Config;
use samverkan::store::{Store, Target};
use samverkan::templates::Templates;
use sqlx::AssertSqlSafe;

/// The personal data's marker: in names, addresses, case parts, answers.
const M: &str = "QXZMARKER";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn config() -> Config {
    let text = format!(
        r#"
[database]
path = "unused.db"
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
convenor = {{ name = "Sara {M}", address = "sara.{m}@kommun.test" }}
[[forum.unit]]
name = "Barn och unga"
deputy_heads = ["anna.{m}@kommun.test"]
[[forum.unit]]
name = "Vuxenenheten"
deputy_heads = ["lars.{m}@kommun.test", "eva.{m}@kommun.test"]
[[forum.member]]
name = "Anna {M}"
address = "anna.{m}@kommun.test"
unit = "Barn och unga"
[[forum.member]]
name = "Lars {M}"
address = "lars.{m}@kommun.test"
unit = "Vuxenenheten"
[[forum.member]]
name = "Eva {M}"
address = "eva.{m}@kommun.test"
unit = "Vuxenenheten"
[forum.report]
min_cell = 3
"#,
        m = M.to_lowercase()
    );
    samverkan::config::parse(&text, Path::new("/test/samverkan.toml")).expect("config")
}

async fn exec(s: &Store, sql: String) {
    sqlx::query(AssertSqlSafe(sql.clone()))
        .execute(s.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The seeded year: what the report must show.
struct Year {
    cases: u64,
    late: u64,
    withdrawn: u64,
    handovers: u64,
}

/// A forum's 2027: a samverkansmöte on the 10th of each month (December's cancelled); each
/// month four cases for Barn och unga and two for Vuxenenheten (one for both every third month),
/// the first of the month urgent, one a month incomplete on arrival, every fourth month one
/// withdrawn; Vuxenenheten's cases handed over and confirmed after 1..5 working days; a case
/// lifted every other month; a deviation of notes filed late every other month. Names,
/// addresses and case text carry the marker.
async fn seed(s: &Store) -> Year {
    let m = M.to_lowercase();
    let t = |month: u32, day: u32, hour: u32| format!("2027-{month:02}-{day:02}T{hour:02}:00:00.000Z");
    let mut case_id = 0;
    let mut ob_id = 0;
    let mut y = Year {
        cases: 0,
        late: 0,
        withdrawn: 0,
        handovers: 0,
    };
    for month in 1..=12u32 {
        let status = if month == 12 { "cancelled" } else { "scheduled" };
        exec(
            s,
            format!(
                "INSERT INTO meetings (id, forum_id, occurrence, kind, starts_at, ends_at, place, status, created_at, updated_at, note_taker, uid)
                 VALUES ({month}, 'iof-aof', '2027-{month:02}-10', 'samverkansmote', '{}', '{}', 'Rum {M}', '{status}', '{}', '{}',
                         'anna.{m}@kommun.test', 'uid-{month}')",
                t(month, 10, 13),
                t(month, 10, 15),
                t(month, 1, 8),
                t(month, 1, 8)
            ),
        )
        .await;
        for (who, partstat) in [
            ("anna", "ACCEPTED"),
            ("lars", if month % 2 == 0 { "ACCEPTED" } else { "NEEDS-ACTION" }),
            ("eva", if month == 3 { "DECLINED" } else { "ACCEPTED" }),
        ] {
            exec(
                s,
                format!(
                    "INSERT INTO invitations (meeting_id, address, name, role, partstat, sequence_sent, created_at)
                     VALUES ({month}, '{who}.{m}@kommun.test', '{who} {M}', 'REQ-PARTICIPANT', '{partstat}', 0, '{}')",
                    t(month, 1, 8)
                ),
            )
            .await;
        }
    }
    for month in 1..=12u32 {
        let both = month % 3 == 0;
        let units: Vec<&str> = ["Barn och unga"; 4]
            .into_iter()
            .chain(["Vuxenenheten"; 2])
            .chain(both.then_some("both"))
            .collect();
        for (i, unit) in units.iter().enumerate() {
            case_id += 1;
            y.cases += 1;
            let units_json = match *unit {
                "both" => "[\"Barn och unga\",\"Vuxenenheten\"]".to_string(),
                u => format!("[\"{u}\"]"),
            };
            let withdrawn = month % 4 == 0 && i == 1;
            let status = if withdrawn {
                "withdrawn"
            } else if *unit == "Vuxenenheten" {
                "handed_over"
            } else {
                "closed"
            };
            y.withdrawn += u64::from(withdrawn);
            // The fourth case of each month but the last came after the cutoff (12:00 the day
            // before the meeting): late, on the next meeting.
            let late = i == 3 && month < 12;
            y.late += u64::from(late);
            let received = if late { t(month, 9, 13) } else { t(month, 2 + i as u32, 9) };
            let meeting = if late { month + 1 } else { month };
            exec(
                s,
                format!(
                    "INSERT INTO cases (id, forum_id, case_no, status, submitter, message_id, content_hash, sections_json, received_at,
                                        created_at, updated_at, meeting_id, urgent, units_json, closed_at)
                     VALUES ({case_id}, 'iof-aof', '2027-{case_id:04}', '{status}', 'anna.{m}@kommun.test', '<{M}-{case_id}@x>', 'h{case_id}',
                             '{{\"name_age\":\"{M} Kalle 15 år\"}}', '{received}', '{received}', '{received}', {meeting}, {}, '{units_json}', '{}')",
                    i32::from(i == 0),
                    if status == "closed" { t(month, 20, 10) } else { String::new() }
                ),
            )
            .await;
            if i == 2 {
                exec(
                    s,
                    format!(
                        "INSERT INTO intake (mailbox, uidvalidity, uid, message_id, received_at, processed_at, kind, outcome, destination, case_id)
                         VALUES ('INBOX', 1, {case_id}, '<{M}-in{case_id}@x>', '{received}', '{received}', 'submission', 'case_incomplete', 'processed', {case_id})"
                    ),
                )
                .await;
            }
            if status == "handed_over" {
                y.handovers += 1;
                // Confirmed after (1 + case_id % 5) working days: Monday the 15th + n weekdays.
                let opened = format!("2027-{month:02}-11T10:00:00.000Z");
                let confirm = samverkan::core::workdays::add_working_days(
                    NaiveDate::from_ymd_opt(2027, month, 11).expect("day"),
                    1 + (case_id % 5) as u32,
                );
                for (kind, closed) in [
                    ("handover_info", opened.clone()),
                    ("handover_confirm", format!("{confirm}T10:00:00.000Z")),
                ] {
                    ob_id += 1;
                    exec(
                        s,
                        format!(
                            "INSERT INTO obligations (id, forum_id, kind, case_id, owners, opened_at, closed_at, closed_by, data_json)
                             VALUES ({ob_id}, 'iof-aof', '{kind}', {case_id}, '[\"lars.{m}@kommun.test\"]', '{opened}', '{closed}',
                                     'lars.{m}@kommun.test', '{{\"unit\":\"Vuxenenheten\",\"from\":\"anna.{m}@kommun.test\"}}')"
                        ),
                    )
                    .await;
                }
            }
            if i == 3 && month % 2 == 0 {
                ob_id += 1;
                exec(
                    s,
                    format!(
                        "INSERT INTO obligations (id, forum_id, kind, case_id, owners, opened_at, escalated_at, data_json)
                         VALUES ({ob_id}, 'iof-aof', 'escalation_ack', {case_id}, '[\"{M}-head@x\"]', '{}', '{}', '{{}}')",
                        t(month, 10, 15),
                        t(month, 17, 8)
                    ),
                )
                .await;
            }
        }
        if month % 2 == 1 && month < 12 {
            exec(
                s,
                format!(
                    "INSERT INTO deviations (forum_id, rule, subject, meeting_id, units_json, due_at, detected_at, dismissed_by, dismiss_reason, dismissed_at)
                     VALUES ('iof-aof', 'notes_late', 'obligation:{}', {month}, '[\"Barn och unga\"]', '{}', '{}', '{}', '{}', '{}')",
                    1000 + month,
                    t(month, 17, 8),
                    t(month, 17, 8),
                    if month == 5 { format!("controller.{m}@kommun.test") } else { String::new() },
                    if month == 5 { format!("Ingen avvikelse: {M} var sjuk") } else { String::new() },
                    if month == 5 { t(month, 18, 8) } else { String::new() },
                ),
            )
            .await;
        }
    }
    y
}

async fn stores() -> Vec<(&'static str, Option<tempfile::TempDir>, Store)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open(&dir.path().join("t.db")).await.expect("open sqlite");
    let pg = common::pg();
    let url = pg.fresh_database(&format!("rep_{}", std::process::id()));
    let postgres = Store::connect(Target::Postgres {
        url: &url,
        password: Some(&pg.password),
    })
    .await
    .expect("open postgres");
    vec![("sqlite", Some(dir), sqlite), ("postgres", None, postgres)]
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

/// Chromium from Debian, headless: the DOM after loading `page`, and the console messages.
fn chromium(args: &[&str], page: &Path) -> (String, String) {
    let profile = tempfile::tempdir().expect("profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs (tests/run installs Debian's chromium)");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The console messages Chromium logged (`CONSOLE(line)] "message"`).
fn console(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Each chart as the browser parsed it: (table, bars it should have, bars drawn).
fn charts(dom: &str) -> Vec<(String, usize, usize)> {
    let bar = format!("fill=\"#{:02X}{:02X}{:02X}\"", 31, 119, 180);
    dom.split("<figure class=\"chart\"")
        .skip(1)
        .map(|f| {
            let f = &f[..f.find("</figure>").expect("figure ends")];
            let attr = |name: &str| {
                let start = f.find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
                f[start..start + f[start..].find('"').expect("quote")].to_string()
            };
            let drawn = f.matches("<rect").filter(|_| true).count();
            let bars = f
                .split("<rect")
                .skip(1)
                .filter(|r| r[..r.find('>').unwrap_or(r.len())].contains(&bar))
                .count();
            assert!(drawn >= bars);
            (attr("data-table"), attr("data-bars").parse().expect("number"), bars)
        })
        .collect()
}

#[tokio::test]
async fn a_forum_year_reported_as_html_and_csv_checked_in_chromium_and_python() {
    let cfg = config();
    let forum = &cfg.forums[0];
    let (from, until) = (d("2027-01-01"), d("2028-01-01"));
    let mut models = Vec::new();
    let mut year = None;
    let mut keep = Vec::new();
    for (name, dir, s) in stores().await {
        year = Some(seed(&s).await);
        let r = samverkan::report::build(&s, forum, from, until, forum.report.min_cell)
            .await
            .expect("report");
        models.push((name, r));
        keep.push((dir, s));
    }
    let (_, pg_model) = models.pop().expect("pg");
    let (_, report) = models.pop().expect("sqlite");
    assert_eq!(report, pg_model, "both engines give the same report");
    let year = year.expect("seeded");

    // The numbers are those of the seeded year.
    let table = |id: &str| report.tables.iter().find(|t| t.id == id).expect("table");
    let total = |id: &str, col: usize| table(id).total.as_ref().expect("total").cells[col].value();
    let cases = table("cases_by_month");
    assert_eq!(cases.rows.len(), 12);
    assert_eq!(total("cases_by_month", 2), Some(year.cases));
    assert_eq!(total("case_kinds", 4), Some(year.withdrawn));
    assert_eq!(total("case_kinds", 1), Some(year.late));
    assert_eq!(total("case_kinds", 2), Some(12), "one incomplete a month");
    assert_eq!(total("case_kinds", 3), Some(12), "one urgent a month");
    assert_eq!(total("handovers", 0), Some(year.handovers));
    assert_eq!(total("handovers", 1), Some(year.handovers));
    assert_eq!(total("escalations", 0), Some(12), "six lifted, six of them escalated");
    // December's meeting was cancelled: 11 meetings × 3 invitees.
    assert_eq!(total("attendance", 0), Some(33));
    assert_eq!(total("deviations", 2), Some(6));

    // The files, as `samverkan report` writes them.
    let templates = Templates::load(&root().join("templates"), &["sv", "en"]).expect("templates");
    let dir = tempfile::tempdir().expect("out");
    let files = samverkan::report::files(&templates, forum, &report).expect("files");
    let page = dir.path().join("rapport.html");
    std::fs::write(&page, &files.html).expect("write html");
    for (id, body) in &files.csv {
        std::fs::write(dir.path().join(format!("rapport-{id}.csv")), body).expect("write csv");
    }
    let expected = serde_json::json!({
        "tables": report.tables.iter().map(|t| serde_json::json!({
            "id": t.id,
            "rows": t.rows.len(),
            "additive": t.columns.iter().map(|c| c.additive).collect::<Vec<_>>(),
            "total": t.total.as_ref().map(|r| r.cells.iter().map(|c| samverkan::report::shown(*c, report.k)).collect::<Vec<_>>()),
        })).collect::<Vec<_>>(),
    });
    std::fs::write(dir.path().join("expected.json"), expected.to_string()).expect("expected");

    // No personal data in any file: not the marker, not an address, not the case text.
    let mut all: Vec<(String, String)> = vec![("rapport.html".into(), files.html.clone())];
    all.extend(files.csv.iter().map(|(id, b)| (format!("{id}.csv"), b.clone())));
    for (name, body) in &all {
        assert!(!body.to_uppercase().contains(M), "{name} holds the marker");
        // An address: a letter or digit right before an "@" ("@media" in the CSS is not one).
        let address = body
            .char_indices()
            .any(|(i, c)| c == '@' && body[..i].chars().last().is_some_and(|p| p.is_alphanumeric() || p == '.'));
        assert!(!address, "{name} holds an address");
        assert!(
            !body.contains("Kalle") && !body.contains("Rum "),
            "{name} holds case text or a place"
        );
    }
    // Every table's units and numbers are there.
    assert!(files.html.contains("Vuxenenheten") && files.html.contains("Barn och unga"));

    // Python's csv module reads every file with the same totals.
    let out = Command::new("python3")
        .arg(root().join("tests/report/check_csv.py"))
        .arg(dir.path())
        .arg("rapport")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "check_csv.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Chromium: first a page that does log an error, to show the check would see one.
    let probe = dir.path().join("probe.html");
    std::fs::write(
        &probe,
        "<!DOCTYPE html><html><body><script>console.error('probe-error')</script></body></html>",
    )
    .expect("probe");
    let (_, stderr) = chromium(&["--dump-dom"], &probe);
    assert!(
        console(&stderr).iter().any(|l| l.contains("probe-error")),
        "the console check sees errors: {stderr}"
    );
    // Then the report: no console message at all, every chart with its bars.
    let (dom, stderr) = chromium(&["--dump-dom"], &page);
    assert!(console(&stderr).is_empty(), "console: {:?}", console(&stderr));
    assert!(
        dom.contains("<h1>Samverkan IoF och ÄoF: uppföljningsrapport 2027-01-01 – 2027-12-31</h1>"),
        "{}",
        &dom[..dom.len().min(2000)]
    );
    let drawn = charts(&dom);
    assert_eq!(drawn.len(), report.tables.iter().filter(|t| t.chart.is_some()).count(), "{drawn:?}");
    for (table, want, bars) in &drawn {
        assert!(*want > 0, "chart {table} has data");
        assert_eq!(want, bars, "chart {table}: bars drawn");
    }

    // The screenshot for docs/reports.md (written when asked, so a test run leaves the tree alone).
    let shot: PathBuf = match std::env::var_os("SAMVERKAN_REPORT_SCREENSHOT") {
        Some(p) => PathBuf::from(p),
        None => dir.path().join("report.png"),
    };
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,2400",
            "--hide-scrollbars",
        ],
        &page,
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a real screenshot ({} bytes)",
        png.len()
    );
}
