//! End-to-end: after the meeting. Decisions by reply, a handover the receiving unit must confirm
//! (with its reminder and escalation, each exactly once), and a follow-up on a later agenda, on
//! the real mail stack. The meetings are fixed in January 2027 and the tests move the daemon's
//! clock over the meeting and the working days of the deadlines (the defaults of the routine).

mod common;

use std::time::Duration;

use chrono_tz::Europe::Stockholm;
use common::*;

const T: Duration = Duration::from_secs(40);

fn answer(from: &str, to: &str, subject: &str, in_reply_to: &str, body: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: SV: {subject}\r\nMessage-ID: <{id}@outlook.test>\r\nIn-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n\r\n-----Ursprungligt meddelande-----\r\nFrån: Samverkan\r\nSkickat: idag\r\n\r\n2026-0001: AVSLUTAD\r\n"
    )
    .into_bytes()
}

/// A daily samverkansmöte fixed in January 2027; the one the tests are about is on Tuesday 12
/// January 13:00–14:00 (its cutoff Monday 12:00), summoned an hour before it starts.
fn samverkan_daily() -> String {
    fixed("FREQ=DAILY", "samverkansmöte", "1h")
}

/// Moves the world through the meeting of 12 January: the summons an hour before, then the
/// meeting's end, after which the note taker gets the beslutsunderlag.
async fn hold_the_meeting(w: &World) {
    w.set_clock(meeting() - chrono::Duration::minutes(30));
    w.settle().await;
    w.set_clock(meeting() + chrono::Duration::hours(1) + chrono::Duration::minutes(1));
}

/// The case number in a receipt's subject ("Kvittens: ärende 2026-0001 ...").
async fn receipt_case(user: &str) -> String {
    let m = inbox_with(user, "the receipt", |m| count(m, "Kvittens") == 1).await;
    subject_of(find(&m, "Kvittens")).split_whitespace().nth(2).expect("no").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_handover_with_reminder_and_escalation_and_a_follow_up() {
    if skip() {
        return;
    }
    // The handover deadlines are the routine's defaults: a reminder after 3 working days, the
    // escalation after 7.
    let tail = "[forum.followup]\ndecisions_remind_after = \"1h\"\nadjusters = [\"lars-{tag}@test.local\"]";
    let w = World::with_tail("scheduler_interval = \"1s\"", &samverkan_daily(), tail);
    w.set_clock(cutoff() - chrono::Duration::minutes(1));
    let _d = w.start();
    let (anna, lars, sara, mb) = (w.addr("anna"), w.addr("lars"), w.addr("sara"), w.mailbox());
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    send_raw(&lars, &[&mb], &submission(&lars, &mb, 2)).await;
    let receipts = inbox_with(&lars, "Lars's receipt", |m| count(m, "Kvittens") == 1).await;
    let lars_case = subject_of(find(&receipts, "Kvittens"))
        .split_whitespace()
        .nth(2)
        .expect("no")
        .to_string();
    let receipts = inbox_with(&anna, "Anna's receipt", |m| count(m, "Kvittens") == 1).await;
    let anna_case = subject_of(find(&receipts, "Kvittens"))
        .split_whitespace()
        .nth(2)
        .expect("no")
        .to_string();

    // After the meeting, the note taker (Anna, first in the rotation) gets the beslutsunderlag.
    hold_the_meeting(&w).await;
    let m = wait_for(T, "the beslutsunderlag", || async {
        let m = fetch_folder(&anna, "INBOX").await;
        (count(&m, "Beslutsunderlag") == 1).then_some(m)
    })
    .await;
    let request = find(&m, "Beslutsunderlag");
    let text = text_of(request);
    assert!(
        text.contains(&anna_case) && text.contains(&lars_case) && text.contains("ÖVERLÄMNA till ENHET"),
        "{text}"
    );
    assert!(
        count(&fetch_folder(&sara, "INBOX").await, "Beslutsunderlag") == 1,
        "the convenor gets it too"
    );

    // Anna answers with the decisions (two lines wrong: a case not on the agenda, a unit that
    // does not exist).
    let follow_up_date = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).expect("date");
    let body = format!(
        "Hej!\r\n\r\n{anna_case}: Överlämna till månenheten\r\n{lars_case} - uppföljning {follow_up_date}\r\n2026-9999: AVSLUTAD\r\n\r\nMvh Anna"
    );
    let rid = header_of(request, "Message-ID").expect("id");
    send_raw(&anna, &[&mb], &answer(&anna, &mb, &subject_of(request), &rid, &body, "dec-1")).await;
    let m = inbox_with(&anna, "the first decisions confirmation", |m| {
        count(m, "Beslut: 2 rad(er) kunde inte") == 1
    })
    .await;
    let confirm = text_of(find(&m, "Beslut: 2"));
    assert!(
        confirm.contains("FEL   2026-9999: AVSLUTAD") && confirm.contains("finns inte") && confirm.contains("okänd enhet"),
        "{confirm}"
    );
    // She corrects it, and on the way writes a wrong line about Lars's case: a decision that
    // cannot be applied leaves that case's follow-up as it was.
    let body = format!("{lars_case}: Överlämna till månenheten\r\n{anna_case}: Överlämna till vuxenenheten\r\n");
    send_raw(&anna, &[&mb], &answer(&anna, &mb, &subject_of(request), &rid, &body, "dec-2")).await;
    let m = inbox_with(&anna, "the second decisions confirmation and the handover request", |m| {
        count(m, "Beslut: 1 rad(er) kunde inte") == 1 && count(m, "Överlämning av ärende") == 1
    })
    .await;
    let confirm = text_of(find(&m, "Beslut: 1"));
    assert!(confirm.contains("OK    ") && confirm.contains("okänd enhet"), "{confirm}");
    let pool = w.db().await;
    let (open_follow_ups,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM obligations o JOIN cases c ON c.id = o.case_id \
         WHERE c.case_no = $1 AND o.kind = 'follow_up' AND o.closed_at = ''",
    )
    .bind(&lars_case)
    .fetch_one(&pool)
    .await
    .expect("obligations");
    pool.close().await;
    assert_eq!(open_follow_ups, 1, "the failed line closed nothing");
    // #15.11: meeting list shows the meeting as held, with its cases decided (the follow-up
    // case moved to its follow-up meeting).
    let (ok, out, _) = w.cli(&["meeting", "list", "--days", "1"]);
    assert!(ok);
    let held = out
        .lines()
        .find(|l| l.contains("12 januari 2027"))
        .unwrap_or_else(|| panic!("no line for the meeting:\n{out}"));
    assert!(held.contains("held") && held.contains("1 case(s), all decided"), "{held}");

    // The notes are filed ("Klart" to the beslutsunderlag): the adjuster gets the review request.
    send_raw(
        &anna,
        &[&mb],
        &answer(
            &anna,
            &mb,
            &subject_of(request),
            &rid,
            "Klart, anteckningarna ligger i G:/Samverkan/2026.",
            "notes-1",
        ),
    )
    .await;
    let reviews = inbox_with(&lars, "the notes review request", |m| count(m, "Justera anteckningarna") == 1).await;
    let review = text_of(find(&reviews, "Justera anteckningarna"));
    assert!(review.contains("G:/Samverkan/2026") && review.contains("Justerat"), "{review}");

    // The handover information: first without consent (not forwarded), then complete.
    let req = find(&m, "Överlämning av ärende");
    assert!(text_of(req).contains("Pågående insatser och planering:"), "{}", text_of(req));
    let req_id = header_of(req, "Message-ID").expect("id");
    let parts = "Bakgrund och familjesituation: Bor med mamma.\r\nAktuell situation: Skolfrånvaro.\r\nFunktionsnedsättning/problematik och tidigare utredningar/diagnos: ADHD 2024.\r\nPågående insatser och planering: Kontaktperson.\r\n";
    send_raw(&anna, &[&mb], &answer(&anna, &mb, &subject_of(req), &req_id, parts, "ho-1")).await;
    let m = inbox_with(&anna, "the consent is missing", |m| {
        m.iter().any(|r| subject_of(r).contains("samtycke saknas"))
    })
    .await;
    assert!(text_of(m.iter().find(|r| subject_of(r).contains("samtycke saknas")).expect("x")).contains("Samtycke: ja"));
    assert!(
        !fetch_folder(&lars, "INBOX")
            .await
            .iter()
            .any(|r| subject_of(r).contains("bekräfta mottagandet")),
        "nothing forwarded without consent"
    );
    send_raw(
        &anna,
        &[&mb],
        &answer(&anna, &mb, &subject_of(req), &req_id, &format!("{parts}Samtycke: ja\r\n"), "ho-2"),
    )
    .await;

    // Lars (deputy head of Vuxenenheten) gets it; he stays silent: one reminder, then the
    // escalation to the convenor (the unit has no unit head configured), each once.
    let m = inbox_with(&lars, "the forwarded handover", |m| {
        m.iter().any(|r| subject_of(r).contains("bekräfta mottagandet"))
    })
    .await;
    let fwd = m.iter().find(|r| subject_of(r).contains("bekräfta mottagandet")).expect("fwd");
    assert!(
        text_of(fwd).contains("Skolfrånvaro") && text_of(fwd).contains("Mottaget"),
        "{}",
        text_of(fwd)
    );
    // Forwarded on Tuesday 12 January: the reminder on Friday the 15th at 09:00 (3 working
    // days), the escalation on Thursday the 21st (7), and neither a minute before.
    w.set_clock(ts("2027-01-15T07:59:00Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&lars, "INBOX").await, "Påminnelse: bekräfta mottagandet"), 0);
    w.set_clock(ts("2027-01-15T08:00:01Z"));
    inbox_with(&lars, "the reminder", |m| count(m, "Påminnelse: bekräfta mottagandet") == 1).await;
    w.set_clock(ts("2027-01-21T07:59:00Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&sara, "INBOX").await, "Obekräftad överlämning"), 0);
    w.set_clock(ts("2027-01-21T08:00:01Z"));
    inbox_with(&sara, "the escalation", |m| count(m, "Obekräftad överlämning") == 1).await;
    let (ok, out, _) = w.cli(&["status", "--json"]);
    assert!(ok);
    let st: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(st["unconfirmed_handovers"][0]["case_no"], anna_case.as_str(), "{st}");
    assert_eq!(st["unconfirmed_handovers"][0]["escalated"], true, "{st}");

    // Lars confirms: Anna is told, the handover is no longer listed, nothing more is sent.
    let fwd_id = header_of(fwd, "Message-ID").expect("id");
    send_raw(
        &lars,
        &[&mb],
        &answer(&lars, &mb, &subject_of(fwd), &fwd_id, "Mottaget, handläggare Eva Ek", "ok-1"),
    )
    .await;
    let m = inbox_with(&anna, "the confirmation", |m| {
        m.iter().any(|r| subject_of(r).contains("är bekräftad"))
    })
    .await;
    assert!(text_of(m.iter().find(|r| subject_of(r).contains("är bekräftad")).expect("c")).contains("Handläggare: Eva Ek"));
    // A week later: nothing more about it.
    w.set_clock(ts("2027-01-28T12:00:00Z"));
    w.settle().await;
    assert_eq!(
        count(&fetch_folder(&lars, "INBOX").await, "Påminnelse: bekräfta mottagandet"),
        1,
        "exactly one reminder"
    );
    assert_eq!(
        count(&fetch_folder(&sara, "INBOX").await, "Obekräftad överlämning"),
        1,
        "exactly one escalation"
    );
    let (_, out, _) = w.cli(&["status", "--json"]);
    let st: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(st["unconfirmed_handovers"], serde_json::json!([]), "{st}");

    // The follow-up case is on the first meeting on or after its date.
    let pool = w.db().await;
    let (status, start): (String, String) =
        sqlx::query_as("SELECT c.status, m.starts_at FROM cases c JOIN meetings m ON m.id = c.meeting_id WHERE c.case_no = $1")
            .bind(&lars_case)
            .fetch_one(&pool)
            .await
            .expect("the follow-up case has a meeting");
    pool.close().await;
    assert_eq!(status, "submitted");
    let start = chrono::DateTime::parse_from_rfc3339(&start)
        .expect("t")
        .with_timezone(&Stockholm)
        .date_naive();
    assert_eq!(start, follow_up_date, "a daily series: the meeting on the follow-up date itself");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_age_transfer_is_announced_six_months_ahead_and_listed_on_the_avstamningsmote() {
    if skip() {
        return;
    }
    // A daily avstämningsmöte; the one of 12 January is invited 90 s before it, and January is
    // an inventory month here.
    let w = World::with_tail(
        "scheduler_interval = \"1s\"",
        &fixed("FREQ=DAILY", "avstämningsmöte", "90s"),
        "[forum.followup]\ntransfer_inventory_months = [1]",
    );
    w.set_clock(meeting() - chrono::Duration::minutes(10));
    let _d = w.start();
    let (anna, lars, mb) = (w.addr("anna"), w.addr("lars"), w.mailbox());
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 7)).await;
    let m = inbox_with(&anna, "the receipt", |m| count(m, "Kvittens") == 1).await;
    let case_no = subject_of(find(&m, "Kvittens")).split_whitespace().nth(2).expect("no").to_string();

    // The person turns 19 in five months: inside the six-month notice, so the reminder goes now.
    let birthday = chrono::NaiveDate::from_ymd_opt(2027, 6, 11).expect("date");
    let (ok, out, err) = w.cli(&["case", "transfer", &case_no, "--on", &birthday.to_string(), "--to", "Vuxenenheten"]);
    assert!(ok, "{out}{err}");
    for who in [&anna, &lars] {
        let m = inbox_with(who, "the transfer reminder", |m| count(m, "Påminnelse: anmäl överföringen") == 1).await;
        assert!(text_of(find(&m, "Påminnelse: anmäl överföringen")).contains("minst sex månader före"));
    }
    // The avstämningsmöte's invitation lists it (January is an inventory month here).
    w.set_clock(meeting() - chrono::Duration::seconds(80));
    let m = wait_for(T, "the avstämningsmöte invitation", || async {
        let m = fetch_folder(&lars, "INBOX").await;
        m.iter()
            .any(|r| subject_of(r).starts_with("Kallelse: avstämningsmöte"))
            .then_some(m)
    })
    .await;
    let inv = text_of(find(&m, "Kallelse: avstämningsmöte"));
    assert!(inv.contains(&format!("ärende {case_no}: {birthday}")), "{inv}");
}

/// Issue 15, items 2, 5, 6 and 10: replies in the threads of the daemon's obligation mails.
/// Decisions are corrected by answering the beslutsunderlag again and the confirmation, and the
/// decisions stay open until every case has one; the handover information sent in answer to
/// the reminder is the handover, not a change of the case; an adjuster's question is a comment
/// (acknowledged and forwarded to the note taker), never an approval or a failed submission.
#[tokio::test(flavor = "multi_thread")]
async fn replies_in_obligation_threads_belong_to_the_obligation() {
    if skip() {
        return;
    }
    let tail = "[forum.followup]\ndecisions_remind_after = \"1h\"\nadjusters = [\"lars-{tag}@test.local\"]";
    let w = World::with_tail("scheduler_interval = \"1s\"", &samverkan_daily(), tail);
    w.set_clock(cutoff() - chrono::Duration::minutes(1));
    let _d = w.start();
    let (anna, lars, mb) = (w.addr("anna"), w.addr("lars"), w.mailbox());
    // Both before the cutoff, so both are on the agenda.
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    send_raw(&lars, &[&mb], &submission(&lars, &mb, 2)).await;
    let anna_case = receipt_case(&anna).await;
    let lars_case = receipt_case(&lars).await;
    let pool = w.db().await;
    let decisions_open = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM obligations WHERE kind = 'decisions' AND closed_at = ''")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    let no_parts = |m: &[Vec<u8>]| count(m, "Vi hittade ingen ärendeanmälan");

    hold_the_meeting(&w).await;
    let m = wait_for(T, "the beslutsunderlag", || async {
        let m = fetch_folder(&anna, "INBOX").await;
        (count(&m, "Beslutsunderlag") == 1).then_some(m)
    })
    .await;
    let request = find(&m, "Beslutsunderlag").clone();
    let agenda = text_of(&request);
    assert!(
        agenda.contains(&anna_case) && agenda.contains(&lars_case),
        "both on the agenda: {agenda}"
    );
    let rid = header_of(&request, "Message-ID").expect("id");

    // Item 6: one line accepted, one not: the decisions stay open, the confirmation names the
    // case still without a decision.
    let body = format!("{anna_case}: Överlämna till vuxenenheten\r\n{lars_case}: kanske senare\r\n");
    send_raw(&anna, &[&mb], &answer(&anna, &mb, &subject_of(&request), &rid, &body, "dec-1")).await;
    let m = inbox_with(&anna, "the first confirmation", |m| {
        count(m, "Beslut: 1 rad(er) kunde inte registreras") == 1
    })
    .await;
    let confirm = text_of(find(&m, "Beslut: 1 rad(er)"));
    assert!(confirm.contains(&format!("saknar beslut: {lars_case}")), "{confirm}");
    assert_eq!(decisions_open().await, 1, "a case has no decision yet");
    // Again to the beslutsunderlag, still wrong: read as decision lines again.
    let body = format!("{lars_case}: uppföljning nästa vår\r\n");
    send_raw(&anna, &[&mb], &answer(&anna, &mb, &subject_of(&request), &rid, &body, "dec-2")).await;
    let m = inbox_with(&anna, "the second confirmation", |m| {
        count(m, "Beslut: 1 rad(er) kunde inte registreras") == 2
    })
    .await;
    assert_eq!(no_parts(&m), 0);
    assert_eq!(decisions_open().await, 1);
    // The correction, in answer to the (second) confirmation only (Outlook's In-Reply-To).
    let second = m
        .iter()
        .filter(|r| subject_of(r).starts_with("Beslut: 1 rad(er)"))
        .find(|r| text_of(r).contains("nästa vår"))
        .expect("the second confirmation");
    let cid = header_of(second, "Message-ID").expect("id");
    let body = format!("{lars_case}: AVSLUTAD\r\n");
    send_raw(&anna, &[&mb], &answer(&anna, &mb, &subject_of(second), &cid, &body, "dec-3")).await;
    let m = inbox_with(&anna, "the corrected decisions confirmed", |m| count(m, "Beslut registrerade") == 1).await;
    assert_eq!(no_parts(&m), 0, "a correction is not a failed submission");
    wait_for(T, "the decisions closed", || async { (decisions_open().await == 0).then_some(()) }).await;

    // Item 2: the submitter answers the handover *reminder* (only its Message-ID in the
    // thread headers; it comes 3 working days after the request, on Friday the 15th): the
    // handover is forwarded and the case's parts stay as they were.
    w.set_clock(ts("2027-01-15T08:00:01Z"));
    let m = inbox_with(&anna, "the handover reminder", |m| {
        count(m, "Påminnelse: skicka överlämningen") == 1
    })
    .await;
    let reminder = find(&m, "Påminnelse: skicka överlämningen");
    let before: String = sqlx::query_scalar("SELECT sections_json FROM cases WHERE case_no = $1")
        .bind(&anna_case)
        .fetch_one(&pool)
        .await
        .expect("case");
    let parts = "Bakgrund och familjesituation: Bor med mamma.\r\nAktuell situation: HANDOVER-MARKÖR skolfrånvaro.\r\nFunktionsnedsättning/problematik och tidigare utredningar/diagnos: ADHD 2024.\r\nPågående insatser och planering: Kontaktperson.\r\nSamtycke: ja\r\n";
    let reminder_id = header_of(reminder, "Message-ID").expect("id");
    send_raw(
        &anna,
        &[&mb],
        &answer(&anna, &mb, &subject_of(reminder), &reminder_id, parts, "ho-1"),
    )
    .await;
    let m = inbox_with(&lars, "the forwarded handover", |m| {
        m.iter().any(|r| subject_of(r).contains("bekräfta mottagandet"))
    })
    .await;
    let fwd = m.iter().find(|r| subject_of(r).contains("bekräfta mottagandet")).expect("fwd");
    assert!(text_of(fwd).contains("HANDOVER-MARKÖR"), "{}", text_of(fwd));
    let after: String = sqlx::query_scalar("SELECT sections_json FROM cases WHERE case_no = $1")
        .bind(&anna_case)
        .fetch_one(&pool)
        .await
        .expect("case");
    assert_eq!(before, after, "the handover did not change the case's parts");
    let m = inbox_with(&anna, "the handover sent", |m| count(m, "Överlämning av ärende") >= 2).await;
    assert_eq!(count(&m, &format!("Ärende {anna_case} har uppdaterats")), 0);

    // Items 5 and 10: the notes are filed, the adjuster asks a question: a comment, not
    // "Justerat" (the review stays open) and not a failed submission.
    send_raw(
        &anna,
        &[&mb],
        &answer(&anna, &mb, &subject_of(&request), &rid, "Klart, i G:/Samverkan.", "notes-1"),
    )
    .await;
    let m = inbox_with(&lars, "the review request", |m| count(m, "Justera anteckningarna") == 1).await;
    let review = find(&m, "Justera anteckningarna");
    let review_id = header_of(review, "Message-ID").expect("id");
    send_raw(
        &lars,
        &[&mb],
        &answer(
            &lars,
            &mb,
            &subject_of(review),
            &review_id,
            "Oklart vad som menas i punkt 2.",
            "adj-1",
        ),
    )
    .await;
    let m = inbox_with(&lars, "the comment acknowledged", |m| count(m, "Kommentar mottagen") == 1).await;
    assert_eq!(no_parts(&m), 0);
    let m = inbox_with(&anna, "the comment forwarded to the note taker", |m| {
        count(m, "Kommentar från") == 1
    })
    .await;
    assert!(text_of(find(&m, "Kommentar från")).contains("Oklart vad som menas i punkt 2."));
    let adjust_open = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM obligations WHERE kind = 'adjust' AND closed_at = ''")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    assert_eq!(adjust_open().await, 1, "a question is not an approval");
    send_raw(
        &lars,
        &[&mb],
        &answer(&lars, &mb, &subject_of(review), &review_id, "Justerat.", "adj-2"),
    )
    .await;
    wait_for(T, "the review closed", || async { (adjust_open().await == 0).then_some(()) }).await;
    pool.close().await;
}
