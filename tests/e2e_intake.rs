//! End-to-end: the real daemon binary against the real loopback Dovecot + Postfix.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(20);

/// Case numbers named in receipt subjects, counted.
fn receipt_cases(mails: &[Vec<u8>]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for raw in mails {
        let s = subject_of(raw);
        if let Some(no) = s.split_whitespace().find(|w| w.len() == 9 && w.as_bytes()[4] == b'-') {
            *m.entry(no.to_string()).or_default() += 1;
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_becomes_a_case_and_a_receipt_over_tls() {
    if skip() {
        return;
    }
    let w = World::new(true);
    // A fixed date, so the case number's year does not depend on when the test runs (the year
    // is Stockholm's: on 31 December after 23:00 UTC it is already the next).
    w.set_clock(ts("2027-03-02T09:00:00Z"));
    let mut d = w.start();
    let anna = w.addr("anna");
    send_raw(&anna, &[&w.mailbox()], &submission(&anna, &w.mailbox(), 1)).await;

    let receipts = wait_for(T, "the receipt in Anna's inbox", || async {
        let m = fetch_folder(&anna, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(receipts.len(), 1);
    let r = &receipts[0];
    let subject = subject_of(r);
    let year = "2027";
    assert_eq!(subject, format!("Kvittens: ärende {year}-0001 har tagits emot"));
    let text = text_of(r);
    assert!(text.contains("Hej Anna Berg"), "{text}");
    assert!(text.contains(&format!("{year}-0001")), "{text}");
    assert_eq!(header_of(r, "Auto-Submitted").as_deref(), Some("auto-generated"));
    assert!(
        header_of(r, "In-Reply-To").is_some_and(|v| v.contains("sub-1-")),
        "receipt threads under the submission"
    );

    // The case is in SQLite, the original moved to the processed folder, the inbox empty.
    wait_for(T, "the original in Behandlade", || async {
        (fetch_folder(&w.mailbox(), "Behandlade").await.len() == 1).then_some(())
    })
    .await;
    assert!(fetch_folder(&w.mailbox(), "INBOX").await.is_empty());
    assert_eq!(w.scalar("SELECT count(*) FROM cases WHERE status = 'submitted'").await, 1);
    assert_eq!(w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'").await, 1);

    // status shows it.
    let (ok, out, err) = w.cli(&["status", "--json"]);
    assert!(ok, "{err}");
    let st: serde_json::Value = serde_json::from_str(&out).expect("status json");
    assert_eq!(st["forums"][0]["cases"], 1);
    assert_eq!(st["outbox_sent"], 1);
    assert!(st["mailboxes"][0]["last_sync_at"].is_string(), "{st}");

    let took = d.stop();
    assert!(took < Duration::from_secs(5), "SIGTERM stop took {took:?}");
    let log = w.log();
    assert!(log.contains("samverkan stopped"), "{log}");
    // #15.16: the admin sees the receipt leave, by outbox id, kind and case, never an address.
    let sent = log
        .lines()
        .find(|l| l.contains("mail handed to SMTP"))
        .unwrap_or_else(|| panic!("no line for the mail handed to SMTP:\n{log}"));
    assert!(
        sent.contains("INFO") && sent.contains("kind=receipt") && sent.contains("case=") && sent.contains("outbox="),
        "{sent}"
    );
    assert!(!sent.contains('@'), "{sent}");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_member_goes_to_quarantine_without_reply() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let _d = w.start();
    let stranger = w.addr("stranger");
    send_raw(&stranger, &[&w.mailbox()], &submission(&stranger, &w.mailbox(), 9)).await;
    wait_for(T, "the mail in Karantan", || async {
        (fetch_folder(&w.mailbox(), "Karantan").await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 0, "no backscatter");
    assert_eq!(w.scalar("SELECT count(*) FROM intake WHERE outcome = 'not_member'").await, 1);
    assert!(fetch_folder(&stranger, "INBOX").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn automatic_mail_and_duplicates_are_never_answered() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let _d = w.start();
    let anna = w.addr("anna");
    let mb = w.mailbox();
    // An out-of-office from a member.
    let ooo = plain_mail(
        &anna,
        &mb,
        "Autosvar: Ärendeanmälan",
        "Jag är ledig till måndag.",
        "ooo-1@outlook.test",
    );
    let ooo = [b"Auto-Submitted: auto-replied\r\n".as_slice(), &ooo].concat();
    send_raw(&anna, &[&mb], &ooo).await;
    // The same submission twice (same Message-ID), and once more under a new Message-ID.
    let sub = submission(&anna, &mb, 3);
    send_raw(&anna, &[&mb], &sub).await;
    send_raw(&anna, &[&mb], &sub).await;
    let resent = String::from_utf8(sub.clone()).expect("utf8").replace("<sub-3-", "<resent-sub-3-");
    send_raw(&anna, &[&mb], resent.as_bytes()).await;

    wait_for(T, "four mails processed", || async {
        (fetch_folder(&mb, "Behandlade").await.len() == 4).then_some(())
    })
    .await;
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 1);
    assert_eq!(w.scalar("SELECT count(*) FROM intake WHERE outcome = 'duplicate'").await, 2);
    assert_eq!(w.scalar("SELECT count(*) FROM intake WHERE outcome = 'ignored'").await, 1);
    let inbox = wait_for(T, "the one receipt", || async {
        let m = fetch_folder(&anna, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    // The four mails are processed (their effects committed): one mail to Anna was queued,
    // ever, and it is the one in her inbox.
    assert_eq!(w.queued_to(&anna).await, 1, "exactly one receipt: {:?}", receipt_cases(&inbox));
    assert_eq!(fetch_folder(&anna, "INBOX").await.len(), 1);
}

/// Mail that waited while the daemon was down is read in one batch and handled in one
/// transaction: each mail must still see what the earlier mails of the batch did (a completing
/// answer finds the case made two mails before, a resent submission is a duplicate).
#[tokio::test(flavor = "multi_thread")]
async fn one_batch_sees_its_own_earlier_mails() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let anna = w.addr("anna");
    let lars = w.addr("lars");
    let mb = w.mailbox();
    let first = plain_mail(
        &lars,
        &mb,
        "Nytt ärende",
        "Namn och ålder: M.S. 45 år\r\n\r\nMvh Lars",
        "batch-inc-1@outlook.test",
    );
    let answer = format!(
        "From: {lars}\r\nTo: {mb}\r\nSubject: SV: Nytt ärende\r\nMessage-ID: <batch-inc-2@outlook.test>\r\nIn-Reply-To: <batch-inc-1@outlook.test>\r\nReferences: <batch-inc-1@outlook.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nKort bakgrund: Missbruk.\r\nAktuell situation: Boendestöd.\r\nFrågeställning: Vem ansvarar?\r\n"
    );
    let sub = submission(&anna, &mb, 7);
    let resent = String::from_utf8(sub.clone()).expect("utf8").replace("<sub-7-", "<resent-sub-7-");
    let mails: [(&str, &[u8]); 5] = [
        (&lars, &first),
        (&lars, answer.as_bytes()),
        (&anna, &sub),
        (&anna, &sub),
        (&anna, resent.as_bytes()),
    ];
    // One at a time, so the UIDs (the order of handling) are the order sent.
    for (n, (from, raw)) in mails.iter().enumerate() {
        send_raw(from, &[&mb], raw).await;
        wait_for(T, "delivered", || async {
            (fetch_folder(&mb, "INBOX").await.len() > n).then_some(())
        })
        .await;
    }
    let _d = w.start();
    wait_for(T, "five mails processed", || async {
        (fetch_folder(&mb, "Behandlade").await.len() == 5).then_some(())
    })
    .await;
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases").await,
        2,
        "the answer and the resends made no case"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE status = 'submitted'").await,
        2,
        "the answer completed the case"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM intake WHERE outcome = 'duplicate'").await, 2);
    let to_lars = wait_for(T, "the request and the confirmation", || async {
        let m = fetch_folder(&lars, "INBOX").await;
        (m.len() >= 2).then_some(m)
    })
    .await;
    // Both are queued by the one batch: the sender and Postfix may deliver them in either order.
    let subjects: Vec<String> = to_lars.iter().map(|m| subject_of(m)).collect();
    assert!(subjects.iter().any(|s| s.starts_with("Komplettera ärende ")), "{subjects:?}");
    assert!(subjects.iter().any(|s| s.ends_with("är nu komplett")), "{subjects:?}");
    wait_for(T, "the one receipt to anna", || async {
        (!fetch_folder(&anna, "INBOX").await.is_empty()).then_some(())
    })
    .await;
    // All five are processed: these are all the mails ever queued for them.
    assert_eq!(w.queued_to(&anna).await, 1, "exactly one receipt");
    assert_eq!(w.queued_to(&lars).await, 2);
    assert_eq!(fetch_folder(&anna, "INBOX").await.len(), 1);
    assert_eq!(fetch_folder(&lars, "INBOX").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_and_crashes_repeat_nothing() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let anna = w.addr("anna");
    let lars = w.addr("lars");
    let mb = w.mailbox();
    let mut d = w.start();
    for n in 0..6 {
        let from = if n % 2 == 0 { &anna } else { &lars };
        send_raw(from, &[&mb], &submission(from, &mb, n)).await;
    }
    wait_for(T, "some cases", || async {
        (w.scalar("SELECT count(*) FROM cases").await >= 3).then_some(())
    })
    .await;
    d.stop();
    // Mail arrives while the daemon is down.
    for n in 6..10 {
        let from = if n % 2 == 0 { &anna } else { &lars };
        send_raw(from, &[&mb], &submission(from, &mb, n)).await;
    }
    let mut d = w.start();
    wait_for(T, "cases after restart", || async {
        (w.scalar("SELECT count(*) FROM cases").await >= 7).then_some(())
    })
    .await;
    d.kill(); // a crash, possibly mid-batch
    for n in 10..12 {
        send_raw(&anna, &[&mb], &submission(&anna, &mb, n)).await;
    }
    let mut d = w.start();
    wait_for(T, "all 12 cases", || async {
        (w.scalar("SELECT count(*) FROM cases").await == 12).then_some(())
    })
    .await;
    wait_for(T, "all receipts sent", || async {
        (w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'").await == 12).then_some(())
    })
    .await;
    wait_for(T, "inbox empty", || async {
        fetch_folder(&mb, "INBOX").await.is_empty().then_some(())
    })
    .await;
    d.stop();

    assert_eq!(
        w.scalar("SELECT count(DISTINCT message_id) FROM cases").await,
        12,
        "one case per submission"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 12, "one receipt per case");
    let mut all = fetch_folder(&anna, "INBOX").await;
    all.extend(fetch_folder(&lars, "INBOX").await);
    let per_case = receipt_cases(&all);
    assert_eq!(per_case.len(), 12, "{per_case:?}");
    // Only a mail in flight at the SIGKILL may arrive twice.
    let doubled: Vec<_> = per_case.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.len() <= 1, "more than one duplicate receipt: {doubled:?}");
    assert_eq!(fetch_folder(&mb, "Behandlade").await.len(), 12);

    // The log, at debug level, holds no personal data: no names, addresses, subjects or text.
    let log = w.log();
    assert!(log.contains("mail handled"), "{log}");
    for secret in [
        "Testperson",
        "ADHD",
        "Stödboende",
        "Ärendeanmälan",
        "Anna",
        "Lars",
        &anna,
        &lars,
        "@test.local",
    ] {
        assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
    }
}

/// SMTP with STARTTLS on the submission port and a password (AUTH PLAIN after the handshake),
/// the daemon's own SMTP session (src/smtp.rs, pipelining MAIL/RCPT/DATA): `check-config
/// --connect` logs in, a receipt goes out; with a wrong password check-config names the step
/// and the server's answer.
#[tokio::test(flavor = "multi_thread")]
async fn smtp_starttls_with_a_password_sends_and_a_wrong_one_is_named() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let s = stack();
    let plain = format!("port = {}\ntls = \"none\"", s.smtp_port);
    let starttls = format!(
        "port = {}\ntls = \"starttls\"\nca_file = \"{}\"\nuser = \"{}\"\npassword_file = \"password\"",
        s.smtp_port,
        s.ca_file.display(),
        w.mailbox()
    );
    // The [smtp] section comes after [imap], whose port differs: replace the last match.
    w.edit_config(|c| {
        let at = c.rfind(&plain).expect("the plain [smtp] settings");
        format!("{}{}{}", &c[..at], starttls, &c[at + plain.len()..])
    });
    let (ok, out, err) = w.cli(&["check-config", "--connect"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("check-config --connect: ok"), "{out}");

    w.set_clock(ts("2027-03-02T09:00:00Z"));
    let mut d = w.start();
    let anna = w.addr("anna");
    send_raw(&anna, &[&w.mailbox()], &submission(&anna, &w.mailbox(), 1)).await;
    let receipts = inbox_with(&anna, "the receipt over STARTTLS", |m| !m.is_empty()).await;
    assert_eq!(subject_of(&receipts[0]), "Kvittens: ärende 2027-0001 har tagits emot");
    d.stop();

    std::fs::write(w.dir.path().join("password"), "not-the-password").expect("password file");
    let (ok, out, _) = w.cli(&["check-config", "--connect"]);
    assert!(!ok, "{out}");
    assert!(out.contains("FAILED") && out.contains("AUTH PLAIN") && out.contains("535"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_config_and_missing_secret_are_clear_errors() {
    if skip() {
        return;
    }
    let w = World::new(false);
    std::fs::remove_file(w.dir.path().join("password")).expect("rm");
    let (ok, _out, err) = w.cli(&["check-config"]);
    assert!(ok, "a missing secret is only a warning in check-config: {err}");
    assert!(err.contains("warning: imap.password"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samverkan"))
        .args(["run", "--config"])
        .arg(&w.config_path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("imap.password") && err.contains("cannot read password file"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn incomplete_submission_is_completed_by_a_reply_and_withdrawn() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let _d = w.start();
    let lars = w.addr("lars");
    let mb = w.mailbox();
    let first = plain_mail(
        &lars,
        &mb,
        "Nytt ärende",
        "Namn och ålder: M.S. 45 år\r\n\r\nMvh Lars",
        "inc-1@outlook.test",
    );
    send_raw(&lars, &[&mb], &first).await;
    let asked = wait_for(T, "the request to complete", || async {
        let m = fetch_folder(&lars, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    let subject = subject_of(&asked[0]);
    assert!(
        subject.starts_with("Komplettera ärende ")
            && subject.ends_with("kort bakgrund, aktuell situation, aktuell problembild och frågeställning saknas"),
        "{subject}"
    );
    let text = text_of(&asked[0]);
    assert!(text.contains("  - Kort bakgrund") && !text.contains("  - Namn och ålder"), "{text}");
    assert_eq!(w.scalar("SELECT count(*) FROM cases WHERE status = 'incomplete'").await, 1);
    let case_no = subject
        .split_whitespace()
        .nth(2)
        .expect("case number")
        .trim_end_matches(':')
        .to_string();

    // Lars answers in the thread, as Outlook does: In-Reply-To the request, quoted text below.
    let request_id = header_of(&asked[0], "Message-ID").expect("message id");
    let answer = format!(
        "From: {lars}\r\nTo: {mb}\r\nSubject: SV: {subject}\r\nMessage-ID: <inc-2@outlook.test>\r\nIn-Reply-To: {request_id}\r\nReferences: {request_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nKort bakgrund: Missbruk.\r\nAktuell situation: Boendestöd.\r\nFrågeställning: Vem ansvarar?\r\n\r\n-----Ursprungligt meddelande-----\r\nFrån: Samverkan\r\n\r\nKort bakgrund:\r\n"
    );
    send_raw(&lars, &[&mb], answer.as_bytes()).await;
    let done = wait_for(T, "the confirmation", || async {
        let m = fetch_folder(&lars, "INBOX").await;
        (m.len() >= 2).then_some(m)
    })
    .await;
    assert_eq!(subject_of(&done[1]), format!("Ärende {case_no} är nu komplett"));
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 1, "the answer made no new case");
    assert_eq!(w.scalar("SELECT count(*) FROM cases WHERE status = 'submitted'").await, 1);

    // Withdrawal by case number in the subject alone.
    let withdraw = plain_mail(
        &lars,
        &mb,
        &format!("Ärende {case_no}"),
        "Återkalla\r\n\r\nMvh Lars",
        "inc-3@outlook.test",
    );
    send_raw(&lars, &[&mb], &withdraw).await;
    let all = wait_for(T, "the withdrawal confirmation", || async {
        let m = fetch_folder(&lars, "INBOX").await;
        (m.len() >= 3).then_some(m)
    })
    .await;
    assert_eq!(subject_of(&all[2]), format!("Ärende {case_no} är återkallat"));
    assert_eq!(w.scalar("SELECT count(*) FROM cases WHERE status = 'withdrawn'").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn urgent_case_is_forwarded_at_once_to_the_convenor_and_the_units_concerned() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let _d = w.start();
    let anna = w.addr("anna");
    let mb = w.mailbox();
    let body = "Namn och ålder: P.Q. 16 år\r\nKort bakgrund: Självskadebeteende.\r\nAktuell situation: Inlagd.\r\nFrågeställning: Vem tar över?\r\nBerörda enheter: Vuxenenheten\r\n\r\nMvh Anna";
    send_raw(
        &anna,
        &[&mb],
        &plain_mail(&anna, &mb, "AKUT: ärendeanmälan", body, "urgent-1@outlook.test"),
    )
    .await;
    for who in ["sara", "lars"] {
        let got = wait_for(T, "the urgent forward", || async {
            let m = fetch_folder(&w.addr(who), "INBOX").await;
            (!m.is_empty()).then_some(m)
        })
        .await;
        assert!(subject_of(&got[0]).starts_with("AKUT ärende "), "{}", subject_of(&got[0]));
        let text = text_of(&got[0]);
        assert!(
            text.contains("Självskadebeteende") && text.contains("Anna Berg (Barn och unga)"),
            "{text}"
        );
    }
    // Anna gets her receipt, not the forward.
    let own = wait_for(T, "Anna's receipt", || async {
        let m = fetch_folder(&anna, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(own.len(), 1);
    assert!(subject_of(&own[0]).starts_with("Kvittens"));
}

/// 12:00 local the day before the meeting is the cutoff (seed 001); arrival is the server's
/// INTERNALDATE, not the Date header.
#[tokio::test(flavor = "multi_thread")]
async fn cutoff_on_both_sides_of_noon_the_day_before() {
    if skip() {
        return;
    }
    use chrono::TimeZone;
    let w = World::weekly(false);
    let _d = w.start();
    let anna = w.addr("anna");
    let lars = w.addr("lars");
    let mb = w.mailbox();
    let day_before = w.meeting_day - chrono::Duration::days(1);
    let at = |h, m, s| {
        chrono_tz::Europe::Stockholm
            .from_local_datetime(&day_before.and_hms_opt(h, m, s).expect("time"))
            .single()
            .expect("unambiguous")
            .fixed_offset()
    };
    // Date headers say the opposite of the arrival times: only INTERNALDATE counts.
    append_at(&mb, "INBOX", &submission(&anna, &mb, 41), at(11, 59, 0)).await;
    append_at(&mb, "INBOX", &submission(&lars, &mb, 42), at(12, 0, 30)).await;

    let weekday_date = |d: chrono::NaiveDate| {
        let s = d.format_localized("%A %-d %B %Y", chrono::Locale::sv_SE).to_string();
        format!("{s} kl. 13.00")
    };
    let in_time = wait_for(T, "Anna's receipt", || async {
        let m = fetch_folder(&anna, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    let text = text_of(&in_time[0]);
    assert!(
        text.contains(&format!(
            "Ärendet tas upp på samverkansmötet {}, Stadshuset, sal 3.",
            weekday_date(w.meeting_day)
        )),
        "{text}"
    );
    assert!(!text.contains("efter sista tid"), "{text}");
    assert!(text.contains("  - Namn och ålder: Testperson 41, 14 år"), "{text}");

    let late = wait_for(T, "Lars's receipt", || async {
        let m = fetch_folder(&lars, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    let text = text_of(&late[0]);
    let next = w.meeting_day + chrono::Duration::days(7);
    assert!(
        text.contains(&format!("efter sista tid för samverkansmötet {}", weekday_date(w.meeting_day))),
        "{text}"
    );
    assert!(
        text.contains(&format!("Ärendet tas upp på samverkansmötet {}", weekday_date(next))),
        "{text}"
    );
    assert!(text.contains("AKUT i ämnesraden"), "{text}");
    let on_meeting = w
        .scalar("SELECT count(*) FROM cases c JOIN meetings m ON m.id = c.meeting_id WHERE m.kind = 'samverkansmote'")
        .await;
    assert_eq!(on_meeting, 2);
    assert_eq!(
        w.scalar("SELECT count(DISTINCT meeting_id) FROM cases").await,
        2,
        "two different meetings"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_mail_that_is_no_submission_is_answered_without_a_case() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let _d = w.start();
    let lars = w.addr("lars");
    let mb = w.mailbox();
    send_raw(
        &lars,
        &[&mb],
        &plain_mail(
            &lars,
            &mb,
            "Fråga",
            "Hej! Vilken tid börjar mötet?\r\n\r\nMvh Lars",
            "q-1@outlook.test",
        ),
    )
    .await;
    let got = wait_for(T, "the answer", || async {
        let m = fetch_folder(&lars, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(subject_of(&got[0]), "Vi hittade ingen ärendeanmälan i ditt mejl");
    assert!(text_of(&got[0]).contains("Aktuell problembild och frågeställning:"));
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM intake WHERE outcome = 'no_parts'").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quarantined_mail_is_handled_after_the_sender_is_made_a_member() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let mut d = w.start();
    let stina = w.addr("stina");
    let mb = w.mailbox();
    send_raw(&stina, &[&mb], &submission(&stina, &mb, 5)).await;
    wait_for(T, "the quarantine", || async {
        (fetch_folder(&mb, "Karantan").await.len() == 1).then_some(())
    })
    .await;
    let (ok, out, _) = w.cli(&["quarantine", "list"]);
    assert!(
        ok && out.contains("not_member") && !out.contains("stina"),
        "no personal data in the list: {out}"
    );
    d.stop();

    // The admin adds Stina to the forum and reprocesses.
    let cfg = std::fs::read_to_string(&w.config_path).expect("cfg");
    std::fs::write(
        &w.config_path,
        format!("{cfg}\n[[forum.member]]\nname = \"Stina Ström\"\naddress = \"{stina}\"\nunit = \"Barn och unga\"\n"),
    )
    .expect("w");
    let (ok, out, err) = w.cli(&["quarantine", "reprocess", "--all"]);
    assert!(ok && out.contains("1 mail(s) moved back"), "{out}{err}");
    let _d = w.start();
    let got = wait_for(T, "Stina's receipt", || async {
        let m = fetch_folder(&stina, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert!(subject_of(&got[0]).starts_with("Kvittens"));
    let (_, out, _) = w.cli(&["quarantine", "list"]);
    assert!(out.contains("the quarantine is empty"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_wipes_personal_data_of_closed_cases_after_the_retention_time() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let mut d = w.start();
    let anna = w.addr("anna");
    let mb = w.mailbox();
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 8)).await;
    wait_for(T, "the receipt sent", || async {
        (w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'").await == 1).then_some(())
    })
    .await;
    d.stop();
    let pool = w.db().await;
    let case_no: String = sqlx::query_scalar("SELECT case_no FROM cases")
        .fetch_one(&pool)
        .await
        .expect("case");
    pool.close().await;
    let (ok, out, err) = w.cli(&["case", "decide", &case_no, "--close"]);
    assert!(ok, "{out}{err}");
    // Today nothing is old enough.
    let (ok, out, _) = w.cli(&["purge", "--dry-run", "--store-only"]);
    assert!(ok && out.contains("would be wiped: 0"), "{out}");
    // The dry run lists every kind of stored personal data.
    for kind in ["obligations", "outbox", "invitees", "note takers", "Message-IDs"] {
        assert!(out.contains(kind), "{kind} missing from {out}");
    }
    // A year and more later, the parts and the submitter are gone; the number and status stay.
    let cfg = samverkan::config::load(&w.config_path).expect("cfg");
    let app = samverkan::app::App::open_offline(cfg).await.expect("app");
    let rep = samverkan::admin::purge_store(&app, chrono::Utc::now() + chrono::Duration::days(400), false)
        .await
        .expect("purge");
    assert_eq!((rep.store.cases, rep.store.outbox), (1, 1));
    let bodies: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox_body")
        .fetch_one(app.store.pool())
        .await
        .expect("count");
    assert_eq!(bodies, 0, "the sent receipt's bytes went with its row");
    let (sections, submitter, status): (String, String, String) = sqlx::query_as("SELECT sections_json, submitter, status FROM cases")
        .fetch_one(app.store.pool())
        .await
        .expect("row");
    assert_eq!((sections.as_str(), submitter.as_str(), status.as_str()), ("{}", "", "closed"));
    app.store.close().await;
    let (ok, _, err) = w.cli(&["case", "decide", &case_no, "--escalate"]);
    assert!(!ok && err.contains("wiped by the retention purge"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_are_served_on_loopback() {
    if skip() {
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let w = World::new(false);
    let cfg = std::fs::read_to_string(&w.config_path).expect("cfg");
    std::fs::write(&w.config_path, format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n{cfg}")).expect("w");
    let _d = w.start();
    let anna = w.addr("anna");
    let mb = w.mailbox();
    send_raw(&anna, &[&mb], &submission(&anna, &mb, 11)).await;
    let get = |path: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        Some(out)
    };
    let metrics = wait_for(T, "metrics with the sent receipt", || async {
        let m = get("/metrics").await?;
        m.contains("samverkan_mails_sent_total{kind=\"receipt\"} 1").then_some(m)
    })
    .await;
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    for line in [
        "samverkan_mails_read_total{kind=\"submission\"} 1",
        "samverkan_cases{status=\"submitted\"} 1",
        "samverkan_outbox_pending 0",
        "samverkan_quarantined 0",
        "# TYPE samverkan_last_sync_timestamp_seconds gauge",
        "samverkan_lease_held{lease=\"intake\"} 1",
        "samverkan_lease_held{lease=\"scheduler\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    // The receipt can be sent before the pass that read its mail has recorded the sync (a few
    // ms later): until then /healthz says the mailbox has not been read yet.
    let health = wait_for(T, "/healthz ok", || async {
        let h = get("/healthz").await?;
        h.starts_with("HTTP/1.1 200 OK").then_some(h)
    })
    .await;
    assert!(health.ends_with("ok\n"), "{health}");
    assert!(get("/nope").await.expect("404").starts_with("HTTP/1.1 404"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forum_can_write_in_english() {
    if skip() {
        return;
    }
    let w = World::new(false);
    let cfg = std::fs::read_to_string(&w.config_path).expect("cfg");
    std::fs::write(
        &w.config_path,
        cfg.replacen(
            "name = \"Samverkan IoF och ÄoF\"\n",
            "name = \"Samverkan IoF och ÄoF\"\nlanguage = \"en\"\n",
            1,
        ),
    )
    .expect("w");
    let _d = w.start();
    let lars = w.addr("lars");
    let mb = w.mailbox();
    send_raw(
        &lars,
        &[&mb],
        &plain_mail(
            &lars,
            &mb,
            "Case",
            "Namn och ålder: A.B. 15 år\r\n\r\nMvh Lars",
            "en-1@outlook.test",
        ),
    )
    .await;
    let got = wait_for(T, "the English answer", || async {
        let m = fetch_folder(&lars, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    let text = text_of(&got[0]);
    assert!(text.starts_with("Hello Lars Ek"), "{text}");
    assert!(
        text.contains("Kort bakgrund"),
        "the headings to fill in stay as the reader knows them: {text}"
    );
    assert!(
        mail_parser::MessageParser::default()
            .parse(&got[0])
            .is_some_and(|m| m.body_html(0).is_some()),
        "an HTML part too"
    );
}
