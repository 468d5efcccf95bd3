//! End-to-end: deviations and the yearly report on the real mail stack (issue 19). A meeting in
//! January 2027 whose routine goes wrong three ways: the notes are filed late, the receiving
//! unit never confirms the handover (not even after the escalation), the adjuster never answers
//! the review. The test moves the daemon's clock over the deadlines and checks the collector's
//! mailbox (each deviation as it happens, the monthly digest on 1 February, the answer to
//! "Ingen avvikelse") and the report owner's (the yearly report on 2 February, with the page
//! and the CSV files attached, numbers as in the scenario).

mod common;

use common::*;
use mail_parser::MimeHeaders;

fn answer(from: &str, to: &str, subject: &str, in_reply_to: &str, body: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: SV: {subject}\r\nMessage-ID: <{id}@outlook.test>\r\nIn-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn receipt_case(user: &str) -> String {
    let m = inbox_with(user, "the receipt", |m| count(m, "Kvittens") == 1).await;
    subject_of(find(&m, "Kvittens")).split_whitespace().nth(2).expect("no").to_string()
}

/// The attachments of a mail: (file name, text).
fn attachments(raw: &[u8]) -> Vec<(String, String)> {
    let m = mail_parser::MessageParser::default().parse(raw).expect("parse");
    m.attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_string(),
                String::from_utf8_lossy(a.contents()).into_owned(),
            )
        })
        .collect()
}

/// A CSV file's rows (the tables' cells hold no commas or quotes but the labels might).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.trim_start_matches('\u{feff}')
        .lines()
        .map(|l| {
            let mut out = Vec::new();
            let mut cur = String::new();
            let mut quoted = false;
            for c in l.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => out.push(std::mem::take(&mut cur)),
                    c => cur.push(c),
                }
            }
            out.push(cur);
            out
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_kinds_of_deviation_the_digest_an_answer_and_the_yearly_report() {
    if skip() {
        return;
    }
    let tail = "[forum.followup]\ndecisions_remind_after = \"1h\"\nadjusters = [\"lars-{tag}@test.local\"]\n\
                [forum.deviations]\ncollectors = [{ name = \"Verksamhetscontroller\", address = \"ctrl-{tag}@test.local\" }]\neach = true\ndigest_day = 1\n\
                [forum.report]\nowners = [{ name = \"Avdelningschef\", address = \"owner-{tag}@test.local\" }]\nreview_date = \"03-02\"\nmin_cell = 1";
    let w = World::with_tail(
        "scheduler_interval = \"1s\"",
        &fixed("FREQ=WEEKLY;BYDAY=TU", "samverkansmöte", "1h"),
        tail,
    );
    w.set_clock(cutoff() - chrono::Duration::minutes(1));
    let _d = w.start();
    let (anna, lars, sara, mb) = (w.addr("anna"), w.addr("lars"), w.addr("sara"), w.mailbox());
    let (ctrl, owner) = (w.addr("ctrl"), w.addr("owner"));
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    send_raw(&lars, &[&mb], &submission(&lars, &mb, 2)).await;
    let anna_case = receipt_case(&anna).await;
    let lars_case = receipt_case(&lars).await;

    // The meeting of Tuesday 12 January is held; Anna (the note taker) gets the beslutsunderlag.
    w.set_clock(meeting() - chrono::Duration::minutes(30));
    w.settle().await;
    w.set_clock(meeting() + chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    let m = inbox_with(&anna, "the beslutsunderlag", |m| count(m, "Beslutsunderlag") == 1).await;
    let request = find(&m, "Beslutsunderlag").clone();
    let rid = header_of(&request, "Message-ID").expect("id");
    let body = format!("{anna_case}: ÖVERLÄMNA till Vuxenenheten\r\n{lars_case}: AVSLUTAD\r\n");
    send_raw(&anna, &[&mb], &answer(&anna, &mb, &subject_of(&request), &rid, &body, "dec-1")).await;
    let m = inbox_with(&anna, "the handover request", |m| count(m, "Överlämning av ärende") == 1).await;
    let req = find(&m, "Överlämning av ärende");
    let req_id = header_of(req, "Message-ID").expect("id");
    let parts = "Bakgrund och familjesituation: Bor med mamma.\r\nAktuell situation: Skolfrånvaro.\r\nFunktionsnedsättning/problematik och tidigare utredningar/diagnos: ADHD 2024.\r\nPågående insatser och planering: Kontaktperson.\r\nSamtycke: ja\r\n";
    send_raw(&anna, &[&mb], &answer(&anna, &mb, &subject_of(req), &req_id, parts, "ho-1")).await;
    inbox_with(&lars, "the forwarded handover", |m| {
        m.iter().any(|r| subject_of(r).contains("bekräfta mottagandet"))
    })
    .await;
    w.settle().await;
    assert_eq!(w.scalar("SELECT count(*) FROM deviations").await, 0, "nothing broken yet");

    // 1. The notes: due a week after the meeting (Tuesday 19 January, 09:00). Not filed by then:
    // a deviation, told to the collector at once (each = true).
    w.set_clock(ts("2027-01-19T07:59:00Z"));
    w.settle().await;
    assert_eq!(w.scalar("SELECT count(*) FROM deviations").await, 0);
    w.set_clock(ts("2027-01-19T08:00:01Z"));
    let m = inbox_with(&ctrl, "the notes deviation", |m| count(m, "Avvikelse AVV-") == 1).await;
    let notice = text_of(find(&m, "Avvikelse AVV-"));
    assert!(notice.contains("Mötesanteckningarna arkiverades inte inom en vecka"), "{notice}");
    assert!(
        notice.contains("Ange vilka verksamheter som avvikelsen avser: Barn och unga"),
        "{notice}"
    );
    assert!(
        !notice.contains(&anna) && !notice.contains("Anna Berg"),
        "numbers and references only: {notice}"
    );
    // Filed just after the deadline: the adjuster gets the review (a week to answer, until
    // Tuesday 26 January), and never answers.
    send_raw(
        &anna,
        &[&mb],
        &answer(&anna, &mb, &subject_of(&request), &rid, "Klart, i G:/Samverkan.", "notes-1"),
    )
    .await;
    inbox_with(&lars, "the review request", |m| count(m, "Justera anteckningarna") == 1).await;

    // 2. The handover: escalated Thursday 21 January, still unconfirmed two working days later
    // (Monday 25 January 09:00): a deviation.
    w.set_clock(ts("2027-01-21T08:00:01Z"));
    inbox_with(&sara, "the escalation", |m| count(m, "Obekräftad överlämning") == 1).await;
    w.set_clock(ts("2027-01-25T07:59:00Z"));
    w.settle().await;
    assert_eq!(w.scalar("SELECT count(*) FROM deviations").await, 1);
    w.set_clock(ts("2027-01-25T08:00:01Z"));
    let m = inbox_with(&ctrl, "the handover deviation", |m| count(m, "Avvikelse AVV-") == 2).await;
    assert!(
        m.iter()
            .any(|r| text_of(r).contains(&format!("Ärende {anna_case}")) && text_of(r).contains("Vuxenenheten")),
        "the handover's case and the receiving unit"
    );

    // 3. The review: a week after the notes were filed, unanswered.
    w.set_clock(ts("2027-01-28T12:00:00Z"));
    let m = inbox_with(&ctrl, "the review deviation", |m| count(m, "Avvikelse AVV-") == 3).await;
    assert!(
        m.iter()
            .any(|r| text_of(r).contains("Justeringen av mötesanteckningarna besvarades inte i tid"))
    );
    w.settle().await;
    let rules: Vec<(String, i64)> = {
        let pool = w.db().await;
        let r = sqlx::query_as("SELECT rule, count(*) FROM deviations GROUP BY rule ORDER BY rule")
            .fetch_all(&pool)
            .await
            .expect("rules");
        pool.close().await;
        r
    };
    assert_eq!(
        rules,
        [
            ("handover_unconfirmed".to_string(), 1),
            ("notes_late".to_string(), 1),
            ("review_unanswered".to_string(), 1)
        ],
        "each once, however many passes saw them"
    );

    // The monthly digest on Monday 1 February, 09:00: all three, with the units concerned.
    w.set_clock(ts("2027-02-01T07:59:00Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&ctrl, "INBOX").await, "Avvikelser 2027-02"), 0);
    w.set_clock(ts("2027-02-01T08:00:01Z"));
    let m = inbox_with(&ctrl, "the digest", |m| count(m, "Avvikelser 2027-02: 3") == 1).await;
    let digest = find(&m, "Avvikelser 2027-02").clone();
    let text = text_of(&digest);
    assert!(text.contains("Berörda enheter: Barn och unga, Vuxenenheten"), "{text}");
    assert_eq!(text.matches("1. RAPPORTERING AV AVVIKELSE").count(), 3, "{text}");
    assert!(
        !text.contains("@test.local") && !text.contains("Anna Berg") && !text.contains("Lars Ek"),
        "{text}"
    );

    // The collector answers that the late notes were no deviation: recorded, and confirmed.
    let notes_id = {
        let pool = w.db().await;
        let id: i64 = sqlx::query_scalar("SELECT id FROM deviations WHERE rule = 'notes_late'")
            .fetch_one(&pool)
            .await
            .expect("id");
        pool.close().await;
        id
    };
    let did = header_of(&digest, "Message-ID").expect("id");
    send_raw(
        &ctrl,
        &[&mb],
        &answer(
            &ctrl,
            &mb,
            &subject_of(&digest),
            &did,
            &format!("AVV-{notes_id}: Ingen avvikelse: anteckningarna fördes på papper\r\nAVV-99999: Ingen avvikelse: fel"),
            "ctrl-1",
        ),
    )
    .await;
    let m = inbox_with(&ctrl, "the confirmation", |m| count(m, "Registrerat: ingen avvikelse") == 1).await;
    let ack = text_of(find(&m, "Registrerat: ingen avvikelse"));
    assert!(ack.contains(&format!("AVV-{notes_id}")) && ack.contains("AVV-99999"), "{ack}");
    assert_eq!(
        w.text("SELECT dismiss_reason FROM deviations WHERE rule = 'notes_late'")
            .await
            .as_deref(),
        Some("anteckningarna fördes på papper")
    );

    // The yearly report on 2 February (a month before the review date), to the owner only.
    w.set_clock(ts("2027-02-02T07:59:00Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&owner, "INBOX").await, "Uppföljning av samverkan"), 0);
    w.set_clock(ts("2027-02-02T08:00:01Z"));
    let m = inbox_with(&owner, "the yearly report", |m| count(m, "Uppföljning av samverkan") == 1).await;
    let mail = find(&m, "Uppföljning av samverkan");
    assert!(subject_of(mail).contains("2026-02-02 – 2027-02-01"), "{}", subject_of(mail));
    let files = attachments(mail);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let base = "samverkan-iof-aof-2026-02-02-2027-02-01";
    assert!(names.contains(&format!("{base}.html").as_str()), "{names:?}");
    let csv = |id: &str| {
        let name = format!("{base}-{id}.csv");
        csv_rows(
            &files
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} in {names:?}"))
                .1,
        )
    };
    let last = |rows: &[Vec<String>]| rows.last().expect("total").clone();
    // Two cases in January 2027 (one per unit), none late, incomplete, urgent or withdrawn.
    let cases = csv("cases_by_month");
    let jan = cases.iter().find(|r| r[0] == "2027-01").expect("January");
    assert_eq!(jan[1..], ["1", "1", "2"]);
    assert_eq!(last(&cases)[1..], ["1", "1", "2"]);
    assert_eq!(last(&csv("case_kinds"))[1..], ["2", "0", "0", "0", "0"]);
    // Decisions: one handover, one closed.
    let decisions = csv("decisions");
    assert_eq!(
        decisions.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(),
        ["Beslut", "1", "0", "0", "1", "2"]
    );
    // The handover, never confirmed; the reminders that escalated: the handover and the review.
    assert_eq!(last(&csv("handovers"))[1..3], ["1", "0"]);
    let escalations = csv("escalations");
    assert_eq!(last(&escalations)[1], "2", "{escalations:?}");
    // Deviations by rule and unit: three, one answered "no deviation"; the handover concerns
    // the sending unit (its submitter's) and the receiving one, the notes and the review both
    // units of the meeting's cases.
    let devs = csv("deviations");
    let handover = devs.iter().find(|r| r[0].starts_with("Mottagande enhet")).expect("row");
    assert_eq!(handover[1..], ["1", "1", "1", "0"], "{devs:?}");
    assert_eq!(last(&devs)[1..], ["3", "3", "3", "1"], "{devs:?}");
    let html = &files.iter().find(|(n, _)| n.ends_with(".html")).expect("html").1;
    assert!(html.contains("<svg") && html.contains("Avvikelser per regel och enhet"));
    for (name, body) in &files {
        assert!(
            !body.contains("@test.local") && !body.contains("Anna Berg") && !body.contains("Skolfrånvaro"),
            "{name}"
        );
    }
    // `samverkan report` writes the same numbers for January, at any time.
    let out = w.dir.path().join("januari.html");
    let (ok, stdout, stderr) = w.cli(&[
        "report",
        "--from",
        "2027-01-01",
        "--to",
        "2027-01-31",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("januari.html") && stdout.contains("januari-deviations.csv"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&out).expect("page");
    assert!(page.contains("uppföljningsrapport 2027-01-01 – 2027-01-31") && page.contains("<svg"));
    let devs = csv_rows(&std::fs::read_to_string(w.dir.path().join("januari-deviations.csv")).expect("csv"));
    assert_eq!(last(&devs)[1..], ["3", "3", "3", "1"], "{devs:?}");
    let (ok, _, stderr) = w.cli(&[
        "report",
        "--from",
        "2027-02-01",
        "--to",
        "2027-01-31",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert!(!ok && stderr.contains("before --from"), "{stderr}");

    // Once a year: moving on sends no second one.
    w.set_clock(ts("2027-02-03T12:00:00Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&owner, "INBOX").await, "Uppföljning av samverkan"), 1);
    assert_eq!(
        count(&fetch_folder(&ctrl, "INBOX").await, "Avvikelser 2027-02"),
        1,
        "one digest a month"
    );
}
