//! End-to-end: answers to invitations from real clients' shapes, trust, key people declining,
//! the note-taker hand-over, reminders and the convenor's digest, on the real mail stack.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Stockholm;
use common::*;

const T: Duration = Duration::from_secs(30);

fn calendar(raw: &[u8]) -> Option<String> {
    let m = mail_parser::MessageParser::default().parse(raw)?;
    m.parts
        .iter()
        .find(|p| {
            use mail_parser::MimeHeaders;
            p.content_type()
                .is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some("calendar"))
        })
        .map(|p| String::from_utf8_lossy(p.contents()).replace("\r\n ", ""))
}

fn prop(ics: &str, name: &str) -> String {
    ics.lines()
        .find_map(|l| {
            let (h, v) = l.split_once(':')?;
            (h == name || h.starts_with(&format!("{name};"))).then(|| v.to_string())
        })
        .unwrap_or_default()
}

fn b64(s: &str) -> String {
    use std::fmt::Write;
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for (i, c) in b.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    let _ = write!(out, "\r\n");
    out
}

/// An Outlook/Exchange REPLY: no ORGANIZER, Windows time zone, base64 calendar part, Swedish
/// subject and COMMENT.
#[allow(clippy::too_many_arguments)]
fn outlook_reply(from: &str, name: &str, to: &str, uid: &str, seq: &str, partstat: &str, start_local: &str, id: &str) -> Vec<u8> {
    let subject = match partstat {
        "ACCEPTED" => "Accepterat",
        "DECLINED" => "Avböjt",
        _ => "Preliminärt",
    };
    let ics = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nATTENDEE;PARTSTAT={partstat};CN={name}:mailto:{from}\r\nCOMMENT;LANGUAGE=sv-SE:Tyvärr krockar det med ett annat möte.\r\nSUMMARY;LANGUAGE=sv-SE:{subject}: Samverkansmöte\r\nDTSTART;TZID=W. Europe Standard Time:{start_local}\r\nUID:{uid}\r\nSEQUENCE:{seq}\r\nDTSTAMP:20261123T120000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    format!(
        "From: {name} <{from}>\r\nTo: Samverkan <{to}>\r\nSubject: {subject}: Samverkansmöte\r\nMessage-ID: <{id}@exchange.kommun.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"_000_\"\r\n\r\n--_000_\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--_000_\r\nContent-Type: text/calendar; charset=\"utf-8\"; method=REPLY\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--_000_--\r\n",
        b64("Tyvärr krockar det med ett annat möte."),
        b64(&ics)
    )
    .into_bytes()
}

/// A Thunderbird REPLY: 8-bit UTF-8, Swedish subject, ORGANIZER included.
fn thunderbird_reply(from: &str, name: &str, to: &str, uid: &str, seq: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {name} <{from}>\r\nTo: {to}\r\nSubject: Accepterad: Samverkansmöte Samverkan IoF och ÄoF\r\nMessage-ID: <{id}@thunderbird.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"tb\"\r\n\r\n--tb\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{name} har accepterat din händelseinbjudan.\r\n--tb\r\nContent-Type: text/calendar; charset=UTF-8; method=REPLY\r\nContent-Transfer-Encoding: 8bit\r\n\r\nBEGIN:VCALENDAR\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\nVERSION:2.0\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{seq}\r\nDTSTAMP:20261123T120000Z\r\nORGANIZER;CN=Samverkan IoF och ÄoF:mailto:{to}\r\nATTENDEE;RSVP=TRUE;CN={name};PARTSTAT=ACCEPTED;ROLE=OPT-PARTICIPANT:mailto:{from}\r\nSUMMARY:Samverkansmöte Samverkan IoF och ÄoF\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n--tb--\r\n"
    )
    .into_bytes()
}

/// A Gmail REPLY: From the attendee with Sender calendar-notification@google.com and
/// Auto-Submitted: auto-generated; the calendar inline and again as invite.ics.
fn gmail_reply(from: &str, name: &str, to: &str, uid: &str, seq: &str, id: &str) -> Vec<u8> {
    let ics = format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nDTSTAMP:20261123T121212Z\r\nORGANIZER;CN=Samverkan:mailto:{to}\r\nUID:{uid}\r\nATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN={name};X-NUM-GUESTS=0:mailto:{from}\r\nSEQUENCE:{seq}\r\nSUMMARY:Samverkansmöte\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    format!(
        "MIME-Version: 1.0\r\nSender: Google Calendar <calendar-notification@google.com>\r\nAuto-Submitted: auto-generated\r\nMessage-ID: <{id}@google.com>\r\nSubject: Accepted: =?UTF-8?Q?Samverkansm=C3=B6te?=\r\nFrom: {name} <{from}>\r\nTo: {to}\r\nContent-Type: multipart/mixed; boundary=\"g1\"\r\n\r\n--g1\r\nContent-Type: multipart/alternative; boundary=\"g2\"\r\n\r\n--g2\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n{name} has accepted this invitation.\r\n--g2\r\nContent-Type: text/calendar; charset=\"UTF-8\"; method=REPLY\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{ics}--g2--\r\n--g1\r\nContent-Type: application/ics; name=\"invite.ics\"\r\nContent-Disposition: attachment; filename=\"invite.ics\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--g1--\r\n",
        b64(&ics)
    )
    .into_bytes()
}

async fn wait_answer(w: &World, address: &str, partstat: &str) {
    let pool = w.db().await;
    wait_for(T, &format!("{address} recorded as {partstat}"), || {
        let pool = pool.clone();
        let address = address.to_string();
        let partstat = partstat.to_string();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invitations WHERE address = $1 AND partstat = $2")
                .bind(&address)
                .bind(&partstat)
                .fetch_one(&pool)
                .await
                .ok()?;
            (n > 0).then_some(())
        }
    })
    .await;
    pool.close().await;
}

async fn inbox_with(user: &str, what: &str, pred: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
    wait_for(T, what, || async {
        let m = fetch_folder(user, "INBOX").await;
        pred(&m).then_some(m)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_from_real_clients_are_tracked_and_only_the_attendee_counts() {
    if skip() {
        return;
    }
    let w = World::with_schedule("scheduler_interval = \"1s\"", &fixed("FREQ=DAILY", "samverkansmöte", "1h"));
    w.set_clock(cutoff() - chrono::Duration::minutes(1));
    let _d = w.start();
    let (anna, lars, sara, mb) = (w.addr("anna"), w.addr("lars"), w.addr("sara"), w.mailbox());
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    send_raw(&lars, &[&mb], &submission(&lars, &mb, 2)).await;
    wait_for(T, "both cases", || async {
        (w.scalar("SELECT count(*) FROM cases").await == 2).then_some(())
    })
    .await;
    w.set_clock(cutoff() + chrono::Duration::seconds(1));
    let got = inbox_with(&anna, "the summons", |m| {
        m.iter().any(|r| calendar(r).is_some_and(|c| c.contains("METHOD:REQUEST")))
    })
    .await;
    let invite = got.iter().find(|r| calendar(r).is_some()).expect("invite");
    let ics = calendar(invite).expect("ics");
    let (uid, seq) = (prop(&ics, "UID"), prop(&ics, "SEQUENCE"));
    let start: DateTime<Utc> = chrono::NaiveDateTime::parse_from_str(&prop(&ics, "DTSTART"), "%Y%m%dT%H%M%SZ")
        .expect("start")
        .and_utc();
    let start_local = start.with_timezone(&Stockholm).format("%Y%m%dT%H%M%S").to_string();
    let id: i64 = w.scalar("SELECT id FROM meetings WHERE summoned_at != ''").await;

    // The cutoff digest reaches the convenor.
    let digest = inbox_with(&sara, "the cutoff digest", |m| {
        m.iter().any(|r| subject_of(r).starts_with("Sammanställning"))
    })
    .await;
    let d = digest
        .iter()
        .find(|r| subject_of(r).starts_with("Sammanställning"))
        .expect("digest");
    assert!(text_of(d).contains("Har inte svarat:     Anna Berg, Lars Ek"), "{}", text_of(d));

    // 1. Lars types "Accepterat: ..." (no calendar data) in the invitation's thread.
    let lars_invite = inbox_with(&lars, "Lars's summons", |m| m.iter().any(|r| calendar(r).is_some())).await;
    let lars_invite_id = header_of(lars_invite.iter().find(|r| calendar(r).is_some()).expect("inv"), "Message-ID").expect("id");
    let typed = format!(
        "From: {lars}\r\nTo: {mb}\r\nSubject: Accepterat: Samverkansmöte\r\nMessage-ID: <typed-1@kommun.test>\r\nIn-Reply-To: {lars_invite_id}\r\nReferences: {lars_invite_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJag kommer.\r\n"
    );
    send_raw(&lars, &[&mb], typed.as_bytes()).await;
    wait_answer(&w, &lars, "ACCEPTED").await;
    inbox_with(&sara, "the inferred-answer notice", |m| {
        m.iter().any(|r| subject_of(r).starts_with("Svar utan kalenderdata"))
    })
    .await;

    // 2. Anna (submitter and note taker) declines from Outlook.
    send_raw(
        &anna,
        &[&mb],
        &outlook_reply(&anna, "Anna Berg", &mb, &uid, &seq, "DECLINED", &start_local, "o1"),
    )
    .await;
    wait_answer(&w, &anna, "DECLINED").await;
    let alert = inbox_with(&sara, "the key-person alert", |m| {
        m.iter().any(|r| subject_of(r).starts_with("Viktig person kommer inte"))
    })
    .await;
    let a = text_of(alert.iter().find(|r| subject_of(r).starts_with("Viktig person")).expect("alert"));
    assert!(
        a.contains("anmälde ärende") && a.contains("är dokumentationsansvarig") && a.contains("gått vidare till Lars Ek"),
        "{a}"
    );
    assert!(a.contains("Tyvärr krockar det"), "the COMMENT reaches the convenor: {a}");
    inbox_with(&lars, "the note-taker hand-over", |m| {
        m.iter().any(|r| subject_of(r).starts_with("Du är dokumentationsansvarig"))
    })
    .await;

    // 3. The convenor accepts from Thunderbird.
    send_raw(
        &sara,
        &[&mb],
        &thunderbird_reply(&sara, "Sara Sammankallande", &mb, &uid, &seq, "t1"),
    )
    .await;
    wait_answer(&w, &sara, "ACCEPTED").await;

    // 3b. Lars answers again from Gmail: now known from calendar data.
    send_raw(&lars, &[&mb], &gmail_reply(&lars, "Lars Ek", &mb, &uid, &seq, "g1")).await;
    {
        let pool = w.db().await;
        wait_for(T, "Lars's Gmail answer recorded", || {
            let pool = pool.clone();
            let lars = lars.clone();
            async move {
                let src: String = sqlx::query_scalar("SELECT partstat_source FROM invitations WHERE address = $1")
                    .bind(&lars)
                    .fetch_one(&pool)
                    .await
                    .ok()?;
                (src == "icalendar").then_some(())
            }
        })
        .await;
        pool.close().await;
    }

    // 4. Answers for Anna from Lars's and from a stranger's address, and one for an unknown
    //    UID, change nothing and are reported.
    let by_lars = String::from_utf8(outlook_reply(&anna, "Anna Berg", &mb, &uid, &seq, "ACCEPTED", &start_local, "o2"))
        .expect("utf8")
        .replacen(&format!("From: Anna Berg <{anna}>"), &format!("From: Lars Ek <{lars}>"), 1);
    send_raw(&lars, &[&mb], by_lars.as_bytes()).await;
    let forged = String::from_utf8(outlook_reply(&anna, "Anna Berg", &mb, &uid, &seq, "ACCEPTED", &start_local, "o3"))
        .expect("utf8")
        .replacen(&format!("From: Anna Berg <{anna}>"), &format!("From: Eve <{}>", w.addr("eve")), 1);
    send_raw(&w.addr("eve"), &[&mb], forged.as_bytes()).await;
    let unknown = String::from_utf8(outlook_reply(
        &lars,
        "Lars Ek",
        &mb,
        "iof-aof-19990101@test.local",
        "0",
        "DECLINED",
        &start_local,
        "o4",
    ))
    .expect("utf8");
    send_raw(&lars, &[&mb], unknown.as_bytes()).await;
    inbox_with(&sara, "three rejected-answer notices", |m| {
        m.iter().filter(|r| subject_of(r).starts_with("Svar som inte kunde godtas")).count() >= 3
    })
    .await;
    let pool = w.db().await;
    let states: Vec<(String, String, String)> =
        sqlx::query_as("SELECT address, partstat, partstat_source FROM invitations WHERE meeting_id = $1 ORDER BY address")
            .bind(id)
            .fetch_all(&pool)
            .await
            .expect("q");
    pool.close().await;
    let find = |a: &str| states.iter().find(|s| s.0 == a).cloned().expect("invitee");
    assert_eq!(
        find(&anna),
        (anna.clone(), "DECLINED".into(), "icalendar".into()),
        "the forged acceptance changed nothing"
    );
    assert_eq!(
        find(&lars),
        (lars.clone(), "ACCEPTED".into(), "icalendar".into()),
        "the Gmail answer replaced the typed one"
    );
    assert_eq!(find(&sara), (sara.clone(), "ACCEPTED".into(), "icalendar".into()));
    assert_eq!(
        w.scalar("SELECT count(*) FROM intake WHERE outcome IN ('sender_mismatch', 'unknown_meeting')")
            .await,
        3
    );

    // meeting show has each answer, when and how it was known.
    let (ok, out, _) = w.cli(&["meeting", "show", &id.to_string()]);
    assert!(ok);
    assert!(
        out.contains("DECLINED") && out.contains("(from icalendar)") && out.contains("note taker: Lars Ek"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_invitees_get_exactly_one_reminder() {
    if skip() {
        return;
    }
    // The summons at the cutoff (11 January 11:00Z); "2 days before" has passed by then, so the
    // reminder comes three hours after the summons.
    let w = World::with_schedule(
        "scheduler_interval = \"1s\"",
        &fixed("FREQ=WEEKLY;BYDAY=TU", "samverkansmöte", "2d"),
    );
    w.set_clock(cutoff() - chrono::Duration::minutes(1));
    let _d = w.start();
    let (anna, lars, mb) = (w.addr("anna"), w.addr("lars"), w.mailbox());
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    send_raw(&lars, &[&mb], &submission(&lars, &mb, 2)).await;
    wait_for(T, "both cases", || async {
        (w.scalar("SELECT count(*) FROM cases").await == 2).then_some(())
    })
    .await;
    w.set_clock(cutoff() + chrono::Duration::seconds(1));
    let got = inbox_with(&anna, "the summons", |m| m.iter().any(|r| calendar(r).is_some())).await;
    let ics = calendar(got.iter().find(|r| calendar(r).is_some()).expect("invite")).expect("ics");
    let start: DateTime<Utc> = chrono::NaiveDateTime::parse_from_str(&prop(&ics, "DTSTART"), "%Y%m%dT%H%M%SZ")
        .expect("start")
        .and_utc();
    let start_local = start.with_timezone(&Stockholm).format("%Y%m%dT%H%M%S").to_string();
    send_raw(
        &anna,
        &[&mb],
        &outlook_reply(
            &anna,
            "Anna Berg",
            &mb,
            &prop(&ics, "UID"),
            &prop(&ics, "SEQUENCE"),
            "ACCEPTED",
            &start_local,
            "r1",
        ),
    )
    .await;
    wait_answer(&w, &anna, "ACCEPTED").await;
    w.settle().await;
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE kind = 'reminder'").await,
        0,
        "not right after the summons"
    );
    w.set_clock(cutoff() + chrono::Duration::hours(3) + chrono::Duration::seconds(5));
    let lars_mail = inbox_with(&lars, "Lars's reminder", |m| {
        m.iter().any(|r| subject_of(r).starts_with("Påminnelse"))
    })
    .await;
    let reminder = lars_mail
        .iter()
        .find(|r| subject_of(r).starts_with("Påminnelse"))
        .expect("reminder");
    assert!(
        calendar(reminder).is_some_and(|c| c.contains("METHOD:REQUEST")),
        "the reminder carries the invitation to accept"
    );
    // Until the meeting starts: still exactly one reminder, none to Anna.
    w.set_clock(meeting() - chrono::Duration::minutes(1));
    w.settle().await;
    assert_eq!(w.scalar("SELECT count(*) FROM outbox WHERE kind = 'reminder'").await, 1);
    let lars_mail = fetch_folder(&lars, "INBOX").await;
    assert_eq!(lars_mail.iter().filter(|r| subject_of(r).starts_with("Påminnelse")).count(), 1);
    assert!(
        !fetch_folder(&anna, "INBOX")
            .await
            .iter()
            .any(|r| subject_of(r).starts_with("Påminnelse"))
    );
    assert!(
        !fetch_folder(&w.addr("sara"), "INBOX")
            .await
            .iter()
            .any(|r| subject_of(r).starts_with("Påminnelse")),
        "the optional convenor is not nagged"
    );
}
