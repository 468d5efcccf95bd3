//! End-to-end: the routine around one person (issue 18, seed 003: housing with special service
//! and daily activity) walked through a year on the real mail stack, moving the daemon's clock:
//! registered ("Ny brukare"), the daily activity's contact person asked to book about four weeks
//! before the first meeting falls due (start + 6 months), booked ("Bokat: ..."), invited by
//! iMIP, an answer tracked, the notes asked for after the meeting and commented on by the other
//! party (a reminder, then "Kommenterat": no escalation), a new contact person who does not make
//! contact (a reminder, then the unit head told), the next meeting due on the date agreed at the
//! meeting, and "Avslutad" stopping the rhythm. Subjects and calendars carry the reference and
//! initials only, the log not even those.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(40);

async fn inbox_with(user: &str, what: &str, pred: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
    wait_for(T, what, || async {
        let m = fetch_folder(user, "INBOX").await;
        pred(&m).then_some(m)
    })
    .await
}

fn find<'a>(m: &'a [Vec<u8>], prefix: &str) -> &'a Vec<u8> {
    m.iter().find(|r| subject_of(r).starts_with(prefix)).unwrap_or_else(|| {
        panic!(
            "no mail starting {prefix:?} among {:?}",
            m.iter().map(|r| subject_of(r)).collect::<Vec<_>>()
        )
    })
}

fn count(m: &[Vec<u8>], prefix: &str) -> usize {
    m.iter().filter(|r| subject_of(r).starts_with(prefix)).count()
}

fn mail(from: &str, to: &str, subject: &str, in_reply_to: Option<&str>, body: &str, id: &str) -> Vec<u8> {
    let thread = in_reply_to
        .map(|r| format!("In-Reply-To: {r}\r\nReferences: {r}\r\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@outlook.test>\r\n{thread}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n\r\nMed vänliga hälsningar\r\nKommunen\r\n"
    )
    .into_bytes()
}

/// An answer in the thread of `request`, quoting it like Outlook.
fn answer(from: &str, to: &str, request: &[u8], body: &str, id: &str) -> Vec<u8> {
    let rid = header_of(request, "Message-ID").expect("message id");
    let quoted = format!("{body}\r\n\r\n-----Ursprungligt meddelande-----\r\nFrån: Samverkan\r\n\r\nBokat: 2020-01-01 10:00");
    mail(from, to, &format!("SV: {}", subject_of(request)), Some(&rid), &quoted, id)
}

/// A world without a meeting schedule whose forum has `tail` (units, members, routines; `{tag}`
/// replaced), planning every second, its daemon started on Monday 7 December 2026, 10:00.
fn world(tail: &str) -> (World, Daemon) {
    let w = World::new(false);
    let tag = w.tag.clone();
    w.edit_config(|c| {
        format!(
            "{}\n{}",
            c.replacen("[daemon]\n", "[daemon]\nscheduler_interval = \"1s\"\n", 1),
            tail.replace("{tag}", &tag)
        )
    });
    w.set_clock(ts("2026-12-07T09:00:00Z"));
    let d = w.start();
    (w, d)
}

const ROUTINE: &str = r#"
[[forum.unit]]
name = "Gruppbostaden Eken"
unit_head = { name = "Eva Enhetschef", address = "eva-{tag}@test.local" }

[[forum.unit]]
name = "Verkstaden"
unit_head = { name = "Olle Enhetschef", address = "olle-{tag}@test.local" }

[[forum.member]]
name = "Lisa Boende"
address = "lisa-{tag}@test.local"
unit = "Gruppbostaden Eken"

[[forum.member]]
name = "Dan Daglig"
address = "dan-{tag}@test.local"
unit = "Verkstaden"

[[forum.member]]
name = "Nina Ny"
address = "nina-{tag}@test.local"
unit = "Gruppbostaden Eken"

[[forum.routine]]
id = "boende-dv"
name = "Samverkansmöte boende och daglig verksamhet"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn one_person_through_a_year() {
    if skip() {
        return;
    }
    let (w, _d) = world(ROUTINE);
    let tag = w.tag.clone();
    let (dan, lisa, nina, eva, olle, mb) = (
        w.addr("dan"),
        w.addr("lisa"),
        w.addr("nina"),
        w.addr("eva"),
        w.addr("olle"),
        w.mailbox(),
    );

    // Registered: headings in any order and case, an Outlook signature; both contact persons
    // are told, the first meeting falls due on 1 June 2027 (start + 6 months).
    let body = "Hej!\r\n\r\nHär kommer en ny brukare.\r\n\r\nREFERENS: AB-12\r\nInitialer: A.B.\r\nkontaktansvarig boende: Lisa Boende\r\nStartdatum: 2026-12-01\r\nKontaktansvarig daglig verksamhet: dan-TAG@test.local\r\nFöreträdare: -";
    send_raw(
        &dan,
        &[&mb],
        &mail(&dan, &mb, "Ny brukare", None, &body.replace("TAG", &tag), "reg-1"),
    )
    .await;
    let m = inbox_with(&lisa, "the registration", |m| count(m, "Registrerad: AB-12 (A.B.)") == 1).await;
    let text = text_of(find(&m, "Registrerad"));
    assert!(text.contains("1 juni 2027") && text.contains("Dan Daglig"), "{text}");
    inbox_with(&dan, "the registration to the booker", |m| {
        count(m, "Registrerad: AB-12 (A.B.)") == 1
    })
    .await;

    // A registration with a name instead of initials and no start is refused, naming both.
    send_raw(
        &dan,
        &[&mb],
        &mail(
            &dan,
            &mb,
            "Ny brukare",
            None,
            "Referens: CD-3\r\nInitialer: Carl Dahl\r\nKontaktansvarig boende: lisa-TAG@test.local"
                .replace("TAG", &tag)
                .as_str(),
            "reg-2",
        ),
    )
    .await;
    let m = inbox_with(&dan, "the refusal", |m| count(m, "Kunde inte registreras: Ny brukare") == 1).await;
    let text = text_of(find(&m, "Kunde inte registreras"));
    assert!(
        text.contains("aldrig hela namnet") && text.contains("- Startdatum") && text.contains("Kontaktansvarig daglig verksamhet"),
        "{text}"
    );

    // Four weeks before 1 June (Tuesday 4 May 2027, 09:00 CEST) and not a minute before, the
    // booker (the daily activity's contact person) is asked to book.
    w.set_clock(ts("2027-05-04T06:59:00Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&dan, "INBOX").await, "Dags att boka"), 0, "not before its time");
    w.set_clock(ts("2027-05-04T07:00:01Z"));
    w.settle().await;
    let m = inbox_with(&dan, "the request to book", |m| count(m, "Dags att boka") == 1).await;
    let ask = find(&m, "Dags att boka").clone();
    assert!(
        subject_of(&ask).contains("AB-12 (A.B.)") && subject_of(&ask).contains("1 juni 2027"),
        "{}",
        subject_of(&ask)
    );
    assert_eq!(count(&fetch_folder(&lisa, "INBOX").await, "Dags att boka"), 0, "only the booker");

    // Booked, in answer to the request: both contact persons get an iMIP invitation (1 hour).
    send_raw(
        &dan,
        &[&mb],
        &answer(&dan, &mb, &ask, "Bokat: 2027-05-27 10:00, Verkstaden", "book-1"),
    )
    .await;
    let m = inbox_with(&lisa, "the invitation", |m| {
        count(m, "Samverkansmöte boende och daglig verksamhet AB-12 (A.B.)") == 1
    })
    .await;
    let ics = calendar_text(find(&m, "Samverkansmöte boende")).expect("a calendar");
    let p = |name: &str| prop(&ics, name).unwrap_or_default();
    assert_eq!(
        (p("METHOD"), p("DTSTART"), p("DTEND"), p("LOCATION")),
        (
            "REQUEST".into(),
            "20270527T080000Z".into(),
            "20270527T090000Z".into(),
            "Verkstaden".into()
        ),
        "{ics}"
    );
    assert_eq!(
        p("SUMMARY"),
        "Samverkansmöte boende och daglig verksamhet AB-12 (A.B.)",
        "reference and initials only"
    );
    assert!(!ics.contains("Carl") && !ics.contains("CD-3"), "{ics}");
    let uid = p("UID");
    inbox_with(&dan, "the booker's invitation", |m| count(m, "Samverkansmöte boende") == 1).await;

    // status and preview show the person: booked, and the question after the meeting.
    let (ok, out, _) = w.cli(&["status"]);
    assert!(ok && out.contains("routine iof-aof/boende-dv: 1 person(s) (booked 1)"), "{out}");
    let (ok, out, _) = w.cli(&["status", "--json"]);
    let st: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(ok, "{out}");
    assert_eq!(
        (
            &st["routines"][0]["routine"],
            &st["routines"][0]["active"],
            &st["routines"][0]["by_standing"]["booked"]
        ),
        (&serde_json::json!("boende-dv"), &serde_json::json!(1), &serde_json::json!(1)),
        "{st}"
    );
    let (ok, out, _) = w.cli(&["preview", "--days", "30"]);
    assert!(
        ok && out.contains("brukare AB-12 (A.B.): frågan vem som skrev anteckningarna"),
        "{out}"
    );
    assert!(!out.contains("2026-0"), "no case of this person's: {out}");

    // Lisa accepts from her calendar: tracked like a forum meeting's answer.
    let reply = format!(
        "From: Lisa Boende <{lisa}>\r\nTo: {mb}\r\nSubject: Accepterad: Samverkansmöte\r\nMessage-ID: <acc-1@thunderbird.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar; charset=UTF-8; method=REPLY\r\nContent-Transfer-Encoding: 8bit\r\n\r\nBEGIN:VCALENDAR\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\nVERSION:2.0\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20270505T120000Z\r\nORGANIZER:mailto:{mb}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{lisa}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    send_raw(&lisa, &[&mb], reply.as_bytes()).await;
    wait_for(T, "Lisa's answer recorded", || async {
        let pool = w.db().await;
        let p: Option<String> = sqlx::query_scalar("SELECT partstat FROM invitations WHERE address = $1")
            .bind(&lisa)
            .fetch_optional(&pool)
            .await
            .expect("partstat");
        pool.close().await;
        (p.as_deref() == Some("ACCEPTED")).then_some(())
    })
    .await;

    // Two days before, the one who has not answered (Dan) gets the one RSVP reminder: the same
    // REQUEST, so Accept/Decline work on it; Lisa, who accepted, gets none.
    w.set_clock(ts("2027-05-25T07:59:59Z"));
    w.settle().await;
    assert_eq!(
        count(&fetch_folder(&dan, "INBOX").await, "Påminnelse: svara på inbjudan"),
        0,
        "not before its time"
    );
    w.set_clock(ts("2027-05-25T08:00:01Z"));
    let m = inbox_with(&dan, "the RSVP reminder", |m| count(m, "Påminnelse: svara på inbjudan") == 1).await;
    let reminder = find(&m, "Påminnelse: svara på inbjudan");
    assert!(subject_of(reminder).contains("AB-12 (A.B.)"), "{}", subject_of(reminder));
    let ics = calendar_text(reminder).expect("the reminder carries the invitation");
    assert_eq!(
        (prop(&ics, "METHOD"), prop(&ics, "UID")),
        (Some("REQUEST".to_string()), Some(uid.clone())),
        "{ics}"
    );
    w.set_clock(ts("2027-05-26T08:00:00Z"));
    w.settle().await;
    assert_eq!(
        count(&fetch_folder(&dan, "INBOX").await, "Påminnelse: svara på inbjudan"),
        1,
        "only one"
    );
    assert_eq!(
        count(&fetch_folder(&lisa, "INBOX").await, "Påminnelse: svara på inbjudan"),
        0,
        "Lisa answered"
    );

    // After the meeting (Thursday 27 May, 10:00-11:00) both are asked who wrote the notes.
    w.set_clock(ts("2027-05-27T09:00:01Z"));
    w.settle().await;
    let m = inbox_with(&dan, "who wrote the notes", |m| count(m, "Vem skrev anteckningarna?") == 1).await;
    let notes_ask = find(&m, "Vem skrev anteckningarna?").clone();
    assert!(text_of(&notes_ask).contains("till den andra parten för"), "{}", text_of(&notes_ask));
    inbox_with(&lisa, "who wrote the notes, Lisa", |m| count(m, "Vem skrev anteckningarna?") == 1).await;

    // Dan wrote them, with the follow-up date agreed at the meeting: Lisa has a week
    // (5 working days: Thursday 3 June 09:00) to comment.
    send_raw(
        &dan,
        &[&mb],
        &answer(&dan, &mb, &notes_ask, "Anteckningar skickade.\r\nNästa möte: 2027-11-15", "notes-1"),
    )
    .await;
    let m = inbox_with(&lisa, "the notes to comment", |m| count(m, "Kommentera anteckningarna senast") == 1).await;
    let comment_req = find(&m, "Kommentera anteckningarna senast").clone();
    assert!(
        subject_of(&comment_req).contains("3 juni 2027 kl. 09.00"),
        "{}",
        subject_of(&comment_req)
    );
    let m = inbox_with(&dan, "the writer's confirmation", |m| {
        count(m, "Anteckningarna skickade: AB-12") == 1
    })
    .await;
    assert!(text_of(find(&m, "Anteckningarna skickade")).contains("15 november 2027"));

    // Reminded after 3 working days (Tuesday 1 June 09:00), then she comments: no escalation.
    w.set_clock(ts("2027-06-01T07:00:01Z"));
    w.settle().await;
    inbox_with(&lisa, "the comment reminder", |m| {
        count(m, "Påminnelse: kommentera anteckningarna för AB-12 (A.B.)") == 1
    })
    .await;
    send_raw(
        &lisa,
        &[&mb],
        &answer(&lisa, &mb, &comment_req, "Kommenterat, två små ändringar.", "comm-1"),
    )
    .await;
    inbox_with(&lisa, "the comment recorded", |m| count(m, "Kommentaren registrerad: AB-12") == 1).await;

    // A new contact person at the housing unit: Nina must contact Dan within a week.
    send_raw(
        &lisa,
        &[&mb],
        &mail(
            &lisa,
            &mb,
            "Ny kontaktansvarig",
            None,
            &format!("Referens: AB-12\r\nKontaktansvarig boende: Nina Ny <{nina}>"),
            "nk-1",
        ),
    )
    .await;
    let m = inbox_with(&nina, "the new contact person's task", |m| count(m, "Ta kontakt senast") == 1).await;
    let text = text_of(find(&m, "Ta kontakt senast"));
    assert!(text.contains("Dan Daglig"), "{text}");
    inbox_with(&lisa, "the change confirmed", |m| {
        count(m, "Ny kontaktansvarig registrerad: AB-12") == 1
    })
    .await;

    w.set_clock(ts("2027-06-03T07:00:01Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&eva, "INBOX").await, "Försenat"), 0, "the comment came in time");
    // Nina makes no contact: reminded after 3 working days, her unit head told after 5.
    w.set_clock(ts("2027-06-07T07:00:01Z"));
    w.settle().await;
    inbox_with(&nina, "the contact reminder", |m| count(m, "Påminnelse: ta kontakt") == 1).await;
    assert_eq!(count(&fetch_folder(&eva, "INBOX").await, "Försenat"), 0, "not before its time");
    w.set_clock(ts("2027-06-09T07:00:01Z"));
    w.settle().await;
    let m = inbox_with(&eva, "the escalation to the unit head", |m| count(m, "Försenat") == 1).await;
    let esc = find(&m, "Försenat");
    assert!(
        subject_of(esc).contains("AB-12 (A.B.)") && text_of(esc).contains("Nina Ny"),
        "{}",
        text_of(esc)
    );

    // The next meeting falls due on the agreed date (Monday 15 November 2027): the new booker
    // round starts four weeks before (Monday 18 October, 09:00 CEST).
    w.set_clock(ts("2027-10-18T07:00:01Z"));
    w.settle().await;
    let m = inbox_with(&dan, "the second request to book", |m| count(m, "Dags att boka") == 2).await;
    assert!(
        m.iter()
            .any(|r| subject_of(r).starts_with("Dags att boka") && subject_of(r).contains("15 november 2027")),
        "the agreed date"
    );
    let (ok, out, _) = w.cli(&["person", "show", "AB-12"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("2027-11-15 (agreed)") && out.contains(&nina) && out.contains("person_book"),
        "{out}"
    );
    let (ok, out, _) = w.cli(&["person", "list"]);
    assert!(
        ok && out.contains("AB-12 (A.B.)") && out.contains("due 2027-11-15 (booking asked)"),
        "{out}"
    );
    let (ok, out, _) = w.cli(&["preview", "--days", "40"]);
    assert!(
        ok && out.contains("brukare AB-12 (A.B.): eskalering om bokningen av samverkansmötet"),
        "{out}"
    );

    // "Avslutad": the rhythm stops; no escalation when the due date passes.
    send_raw(
        &dan,
        &[&mb],
        &mail(&dan, &mb, "Avslutad", None, "Referens: AB-12\r\nSlutdatum: 2027-10-31", "end-1"),
    )
    .await;
    inbox_with(&dan, "the end confirmed", |m| count(m, "Avslutad: AB-12") == 1).await;
    w.set_clock(ts("2027-11-16T07:00:01Z"));
    w.settle().await;
    assert_eq!(
        count(&fetch_folder(&olle, "INBOX").await, "Ej bokat"),
        0,
        "a person who left is not chased"
    );

    // Privacy: the log names neither the reference nor the initials nor a contact address.
    let log = w.log();
    assert!(!log.contains("AB-12") && !log.contains("A.B.") && !log.contains(&lisa), "{log}");
}

const SEED_000: &str = r#"
[[forum.unit]]
name = "Gruppbostaden Eken"
unit_head = { name = "Eva Enhetschef", address = "eva-{tag}@test.local" }

[[forum.unit]]
name = "Verksamhetsledning"

[[forum.member]]
name = "Lisa Boende"
address = "lisa-{tag}@test.local"
unit = "Gruppbostaden Eken"

[[forum.member]]
name = "Nina Ny"
address = "nina-{tag}@test.local"
unit = "Gruppbostaden Eken"

[[forum.member]]
name = "Vera Verksamhet"
address = "vera-{tag}@test.local"
unit = "Verksamhetsledning"

[[forum.routine]]
id = "genomforandeplan"
name = "Genomförandeplansmöte"
contacts = ["boende"]
books = "boende"
first_after_months = 12

[[forum.routine]]
id = "informationstraff"
name = "Informationsträff"
contacts = ["ansvarig"]
books = "ansvarig"
units = ["Gruppbostaden Eken"]
caller = "vera-{tag}@test.local"
first_due = "2027-03-01"
invite = ["lisa-{tag}@test.local"]
duration = "2h"
"#;

/// Seed 000, as configuration of the same machinery: the yearly implementation-plan meeting
/// per person (the contact person books and invites the case worker the registration names),
/// and the yearly information meeting per unit called by the deputy operations manager
/// (reminded in time, invitations once booked, due again a year later).
#[tokio::test(flavor = "multi_thread")]
async fn seed_000_plan_meeting_per_person_and_information_meeting_per_unit() {
    if skip() {
        return;
    }
    let (w, _d) = world(SEED_000);
    let (lisa, vera, hanna, mb) = (w.addr("lisa"), w.addr("vera"), w.addr("hanna"), w.mailbox());

    // The person's implementation-plan routine, named by "Rutin:", with the case worker invited.
    let body = format!(
        "Ny brukare\r\nRutin: genomforandeplan\r\nReferens: CD-7\r\nInitialer: C.D.\r\nStartdatum: 2026-12-01\r\nKontaktansvarig boende: {lisa}\r\nHandläggare: {hanna}"
    );
    send_raw(&lisa, &[&mb], &mail(&lisa, &mb, "Ny brukare", None, &body, "plan-1")).await;
    let m = inbox_with(&lisa, "the registration", |m| {
        count(m, "Registrerad: CD-7 (C.D.) i Genomförandeplansmöte") == 1
    })
    .await;
    assert!(
        text_of(find(&m, "Registrerad")).contains("1 december 2027"),
        "a year after the start"
    );

    // The unit's information meeting is followed without any mail: its caller is asked four
    // weeks before 1 March 2027 (Monday 1 February, 09:00) and not before.
    w.set_clock(ts("2027-02-01T07:59:00Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&vera, "INBOX").await, "Dags att boka"), 0);
    w.set_clock(ts("2027-02-01T08:00:01Z"));
    w.settle().await;
    let m = inbox_with(&vera, "the request to book the information meeting", |m| {
        count(m, "Dags att boka Informationsträff för Gruppbostaden Eken") == 1
    })
    .await;
    let ask = find(&m, "Dags att boka").clone();
    assert!(subject_of(&ask).contains("1 mars 2027"), "{}", subject_of(&ask));
    send_raw(
        &vera,
        &[&mb],
        &answer(&vera, &mb, &ask, "Bokat: 2027-02-24 18:00, Matsalen", "info-1"),
    )
    .await;
    let m = inbox_with(&lisa, "the information meeting's invitation", |m| {
        count(m, "Informationsträff Gruppbostaden Eken") == 1
    })
    .await;
    let ics = calendar_text(find(&m, "Informationsträff")).expect("ics");
    assert_eq!(
        (prop(&ics, "DTSTART"), prop(&ics, "DTEND"), prop(&ics, "LOCATION")),
        (
            Some("20270224T170000Z".into()),
            Some("20270224T190000Z".into()),
            Some("Matsalen".into())
        ),
        "two hours, as configured: {ics}"
    );
    inbox_with(&vera, "the caller's invitation", |m| {
        count(m, "Informationsträff Gruppbostaden Eken") == 1
    })
    .await;
    // After it, the next one falls due a year later; no notes are asked for.
    w.set_clock(ts("2027-02-24T19:00:01Z"));
    w.settle().await;
    let (ok, out, _) = w.cli(&["person", "show", "Gruppbostaden Eken"]);
    assert!(
        ok && out.contains("next meeting due: 2028-02-24 (yearly)") && out.contains("meetings held: 1"),
        "{out}"
    );
    assert_eq!(count(&fetch_folder(&vera, "INBOX").await, "Vem skrev"), 0);

    // The person's plan meeting: the contact person is asked on Wednesday 3 November 2027, books,
    // and the case worker the registration named is invited with her.
    w.set_clock(ts("2027-11-03T08:00:01Z"));
    w.settle().await;
    let m = inbox_with(&lisa, "the request to book the plan meeting", |m| {
        count(m, "Dags att boka Genomförandeplansmöte för CD-7 (C.D.)") == 1
    })
    .await;
    let ask = find(&m, "Dags att boka Genomförandeplansmöte").clone();
    send_raw(&lisa, &[&mb], &answer(&lisa, &mb, &ask, "Bokat: 2027-11-20 09:00", "plan-2")).await;
    inbox_with(&hanna, "the case worker's invitation", |m| {
        count(m, "Genomförandeplansmöte CD-7 (C.D.)") == 1
    })
    .await;
    // A new contact person before the meeting: she is invited (SEQUENCE 1), Lisa's invitation
    // is cancelled.
    let nina = w.addr("nina");
    let body = format!("Rutin: genomforandeplan\r\nReferens: CD-7\r\nKontaktansvarig boende: {nina}");
    send_raw(&lisa, &[&mb], &mail(&lisa, &mb, "Ny kontaktansvarig", None, &body, "plan-3")).await;
    let m = inbox_with(&nina, "the new contact person's invitation", |m| {
        count(m, "Genomförandeplansmöte CD-7 (C.D.)") == 1
    })
    .await;
    let ics = calendar_text(find(&m, "Genomförandeplansmöte CD-7")).expect("ics");
    assert_eq!(
        (prop(&ics, "METHOD"), prop(&ics, "SEQUENCE")),
        (Some("REQUEST".into()), Some("1".into())),
        "{ics}"
    );
    let m = inbox_with(&lisa, "the cancellation to the one replaced", |m| {
        count(m, "Inställt: Genomförandeplansmöte CD-7") == 1
    })
    .await;
    assert_eq!(
        prop(&calendar_text(find(&m, "Inställt")).expect("ics"), "METHOD").as_deref(),
        Some("CANCEL")
    );
    w.set_clock(ts("2027-11-20T09:00:01Z"));
    w.settle().await;
    let m = inbox_with(&nina, "the question after the plan meeting", |m| {
        count(m, "Vem skrev anteckningarna? Genomförandeplansmöte CD-7") == 1
    })
    .await;
    let ask = text_of(find(&m, "Vem skrev"));
    assert!(ask.contains("20 november 2028"), "due a year later: {ask}");
    assert!(!ask.contains("andra parten"), "one side: nobody else comments: {ask}");
    let (ok, out, _) = w.cli(&["status"]);
    assert!(
        ok && out.contains("routine iof-aof/genomforandeplan: 1 person(s) (later 1)")
            && out.contains("routine iof-aof/informationstraff: 1 person(s) (later 1)"),
        "{out}"
    );
}

/// Seed 001's escalation ladder, its top rung: a case lifted past the unit heads goes to the
/// head of department (level 4), tracked until acknowledged like level 3: a reminder after the
/// configured working days, "Mottaget" closes it, and nothing reaches the convenor then.
#[tokio::test(flavor = "multi_thread")]
async fn escalation_level_4_to_the_head_of_department_tracked_until_acknowledged() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let tag = w.tag.clone();
    w.edit_config(|c| {
        c.replacen("[daemon]\n", "[daemon]\nscheduler_interval = \"1s\"\n", 1).replacen(
            &format!("deputy_heads = [\"anna-{tag}@test.local\"]"),
            &format!(
                "deputy_heads = [\"anna-{tag}@test.local\"]\nunit_head = {{ name = \"Eva Enhetschef\", address = \"eva-{tag}@test.local\" }}\ndepartment_head = {{ name = \"Ada Avdelningschef\", address = \"ada-{tag}@test.local\" }}"
            ),
            1,
        )
    });
    // Monday 7 December 2026, 10:00.
    w.set_clock(ts("2026-12-07T09:00:00Z"));
    let _d = w.start();
    let (anna, eva, ada, sara, mb) = (w.addr("anna"), w.addr("eva"), w.addr("ada"), w.addr("sara"), w.mailbox());
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 1)).await;
    let m = inbox_with(&anna, "the receipt", |m| count(m, "Kvittens") == 1).await;
    let case_no = subject_of(find(&m, "Kvittens"))
        .split_whitespace()
        .nth(2)
        .expect("case")
        .to_string();

    // Level 3, then lifted again: level 4, the head of department.
    let (ok, out, err) = w.cli(&["case", "decide", &case_no, "--escalate"]);
    assert!(ok && out.contains("lyfts till enhetschef"), "{out}{err}");
    // The CLI queued the mail; a clock move wakes the daemon's sender at once (else within a minute).
    w.set_clock(w.now() + chrono::Duration::seconds(1));
    inbox_with(&eva, "level 3", |m| {
        count(m, &format!("Ärende {case_no} lyfts till enhetschef")) == 1
    })
    .await;
    let (ok, out, err) = w.cli(&["case", "decide", &case_no, "--escalate"]);
    assert!(
        ok && out.contains("lyfts till avdelningschef: sammanfattning skickad till Ada Avdelningschef"),
        "{out}{err}"
    );
    w.set_clock(w.now() + chrono::Duration::seconds(1));
    let m = inbox_with(&ada, "level 4", |m| {
        count(m, &format!("Ärende {case_no} lyfts till avdelningschef")) == 1
    })
    .await;
    let lifted = find(&m, "Ärende").clone();
    assert!(text_of(&lifted).contains("(nivå 4)"), "{}", text_of(&lifted));

    // Not acknowledged: reminded after 3 working days (Thursday 10 December, 09:00); the unit
    // heads' level-3 obligation was replaced, so the unit head is not reminded.
    w.set_clock(ts("2026-12-10T08:00:01Z"));
    w.settle().await;
    inbox_with(&ada, "the reminder", |m| {
        count(m, &format!("Påminnelse: kvittera ärende {case_no}")) == 1
    })
    .await;
    assert_eq!(count(&fetch_folder(&eva, "INBOX").await, "Påminnelse"), 0, "level 3 is done");
    send_raw(&ada, &[&mb], &answer(&ada, &mb, &lifted, "Mottaget.", "ack-4")).await;
    wait_for(T, "the acknowledgement recorded", || async {
        let pool = w.db().await;
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM obligations WHERE kind = 'escalation_ack' AND closed_at = ''")
            .fetch_one(&pool)
            .await
            .expect("open");
        pool.close().await;
        (open == 0).then_some(())
    })
    .await;
    // After the escalation deadline (7 working days: Wednesday 16 December) the convenor hears
    // nothing: it was acknowledged.
    w.set_clock(ts("2026-12-16T08:00:01Z"));
    w.settle().await;
    assert_eq!(count(&fetch_folder(&sara, "INBOX").await, "Okvitterat"), 0);
}

/// Seed 001's three-party meeting (trepartsmöte): a case worker asks the other unit's deputy
/// heads by mail; one of them appoints a case worker ("Utsedd: ..."), and both case workers are
/// told of each other. Without an answer: a reminder after 3 working days, then (no unit head
/// configured) the convenor after 7. A request naming an unknown unit is answered in Swedish.
#[tokio::test(flavor = "multi_thread")]
async fn three_party_request_appointed_and_one_escalated() {
    if skip() {
        return;
    }
    let (w, _d) = world("[[forum.member]]\nname = \"Kim Handläggare\"\naddress = \"kim-{tag}@test.local\"\nunit = \"Barn och unga\"\n");
    let (kim, lars, anna, sara, vilma, mb) = (
        w.addr("kim"),
        w.addr("lars"),
        w.addr("anna"),
        w.addr("sara"),
        w.addr("vilma"),
        w.mailbox(),
    );

    send_raw(&kim, &[&mb], &mail(&kim, &mb, "Trepartsmöte", None, "Enhet: Hemtjänsten", "tp-0")).await;
    let m = inbox_with(&kim, "the refusal", |m| count(m, "Kunde inte registreras: Trepartsmöte") == 1).await;
    assert!(text_of(find(&m, "Kunde inte")).contains("finns inte bland forumets enheter (Barn och unga, Vuxenenheten)"));

    let body = "Hej!\r\n\r\nEnhet: Vuxenenheten\r\nReferens: EF-4\r\nInitialer: E.F.\r\nBehov: Stöd i vardagen efter 65 år.";
    send_raw(&kim, &[&mb], &mail(&kim, &mb, "Förfrågan om trepartsmöte", None, body, "tp-1")).await;
    let m = inbox_with(&lars, "the request", |m| {
        count(m, "Förfrågan från Kim Handläggare: handläggare till trepartsmöte (EF-4 (E.F.))") == 1
    })
    .await;
    let request = find(&m, "Förfrågan från Kim").clone();
    assert!(text_of(&request).contains("Behov: Stöd i vardagen"), "{}", text_of(&request));
    inbox_with(&kim, "the request sent", |m| {
        count(m, "Skickad till Vuxenenheten: förfrågan om handläggare till trepartsmöte") == 1
    })
    .await;
    assert_eq!(
        count(&fetch_folder(&anna, "INBOX").await, "Förfrågan"),
        0,
        "only the named unit's deputy heads"
    );
    // A second request, to Barn och unga, that nobody answers.
    send_raw(&kim, &[&mb], &mail(&kim, &mb, "Trepartsmöte", None, "Enhet: Barn och unga", "tp-2")).await;
    inbox_with(&anna, "the second request", |m| count(m, "Förfrågan från Kim") == 1).await;

    // Thursday 10 December 09:00: both reminded; Lars appoints Vilma.
    w.set_clock(ts("2026-12-10T08:00:01Z"));
    w.settle().await;
    inbox_with(&lars, "the reminder", |m| {
        count(m, "Påminnelse: utse handläggare till trepartsmöte (Vuxenenheten)") == 1
    })
    .await;
    inbox_with(&anna, "the reminder, Anna", |m| {
        count(m, "Påminnelse: utse handläggare till trepartsmöte (Barn och unga)") == 1
    })
    .await;
    send_raw(
        &lars,
        &[&mb],
        &answer(&lars, &mb, &request, &format!("Utsedd: Vilma Vux <{vilma}>"), "tp-3"),
    )
    .await;
    let m = inbox_with(&kim, "the appointment", |m| count(m, "Handläggare utsedd till trepartsmöte:") == 1).await;
    assert!(text_of(find(&m, "Handläggare utsedd")).contains(&vilma));
    let m = inbox_with(&vilma, "the appointed case worker told", |m| {
        count(m, "Handläggare utsedd till trepartsmöte:") == 1
    })
    .await;
    assert!(text_of(find(&m, "Handläggare utsedd")).contains(&kim), "she learns whom to contact");
    // Kim books the pre-meeting in the appointment's thread: an invitation to both. (Vilma is
    // no forum member: her mail to the mailbox would go to quarantine.)
    let m = fetch_folder(&kim, "INBOX").await;
    let appointment = find(&m, "Handläggare utsedd").clone();
    send_raw(
        &kim,
        &[&mb],
        &answer(&kim, &mb, &appointment, "Bokat formöte: 2026-12-14 10:00, Rum 3", "tp-4"),
    )
    .await;
    let m = inbox_with(&kim, "the pre-meeting's invitation", |m| count(m, "Formöte EF-4 (E.F.)") == 1).await;
    let ics = calendar_text(find(&m, "Formöte")).expect("ics");
    assert_eq!(
        (prop(&ics, "METHOD"), prop(&ics, "DTSTART"), prop(&ics, "SUMMARY")),
        (
            Some("REQUEST".into()),
            Some("20261214T090000Z".into()),
            Some("Formöte EF-4 (E.F.)".into())
        ),
        "{ics}"
    );
    inbox_with(&vilma, "Vilma's invitation", |m| count(m, "Formöte EF-4 (E.F.)") == 1).await;

    // Wednesday 16 December: the unanswered one reaches the convenor (no unit head configured),
    // the answered one does not.
    w.set_clock(ts("2026-12-16T08:00:01Z"));
    w.settle().await;
    let m = inbox_with(&sara, "the escalation", |m| count(m, "Försenat: svaret om vilken handläggare") == 1).await;
    assert_eq!(count(&m, "Försenat"), 1, "only the unanswered request");
}
