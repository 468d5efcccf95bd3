//! Invitations checked by two independent parsers that mail clients use: Python's `icalendar`
//! package (with the `email` package for the MIME layout) and Mozilla's `ical.js`
//! (Thunderbird's parser), run on .ics files and whole mails written to a temp dir.
//!
//! The validators are `tests/validators/validate_ics.py` and `tests/validators/validate_ics.mjs`;
//! the expected values go to a sidecar JSON next to each file. Missing tools fail the test with
//! the command that installs them (`tests/run` runs both):
//!
//! ```text
//! pip install icalendar
//! npm ci --prefix tests/validators
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use mail_parser::{MessageParser, MimeHeaders};
use samverkan::core::ical::{Attendee, Event, Method, PartStat, Role, render, uid_for};
use samverkan::mail::compose::message_id;
use samverkan::mail::imip::{InviteDraft, build_invite};
use serde_json::{Value, json};

const TZ: &str = "Europe/Stockholm";

fn validators() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validators")
}

/// Fails with install instructions unless both parsers are there.
fn require_tools() {
    let python = Command::new("python3").args(["-c", "import icalendar"]).output();
    match python {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "Python's icalendar package is missing ({}). Install it with: pip install icalendar \
             (python3 -m pip install icalendar, so that it goes to the python3 on PATH)",
            String::from_utf8_lossy(&o.stderr).trim().lines().last().unwrap_or("import failed")
        ),
        Err(e) => panic!("python3 cannot be run ({e}). Install Python 3, then: pip install icalendar"),
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "node cannot be run. Install Node.js 18 or newer (Debian: apt-get install nodejs npm), then: npm ci --prefix tests/validators"
        ),
    }
    assert!(
        validators().join("node_modules/ical.js/package.json").is_file(),
        "Mozilla's ical.js is missing from tests/validators/node_modules. Install it with: npm ci --prefix tests/validators"
    );
}

/// 13:00 (or `h`:00) local time in Stockholm on a date, in UTC, by chrono-tz.
fn stockholm(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    let local = NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, 0, 0))
        .expect("valid date");
    Stockholm
        .from_local_datetime(&local)
        .single()
        .expect("unambiguous local time")
        .with_timezone(&Utc)
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn attendee(name: &str, address: &str) -> Attendee {
    Attendee {
        name: name.into(),
        address: address.into(),
        role: Role::Required,
        partstat: PartStat::NeedsAction,
    }
}

fn base_event(start: DateTime<Utc>) -> Event {
    let local_date = start.with_timezone(&Stockholm).date_naive();
    Event {
        uid: uid_for("iof-aof", local_date, "kommun.test"),
        sequence: 0,
        dtstamp: Utc.with_ymd_and_hms(2026, 1, 15, 8, 30, 5).single().expect("time"),
        start,
        end: start + Duration::hours(1),
        summary: "Samverkansmöte IoF–ÄoF".into(),
        location: Some("Stadshuset, sal Älven".into()),
        description: Some("Ärenden: 2026-0001 (A.B., 14 år)\nLänk: https://möte.kommun.test/j/123?a=1;b=2".into()),
        organizer_name: "Samverkan IoF–ÄoF".into(),
        organizer_address: "samverkan@kommun.test".into(),
        attendees: vec![attendee("Anna Berg", "anna.berg@kommun.test")],
        cancelled: false,
    }
}

/// One invitation to generate and check.
struct Case {
    name: &'static str,
    method: Method,
    event: Event,
    html: bool,
    /// Expected SUMMARY/LOCATION/DESCRIPTION/CNs where they differ from the inputs (hostile
    /// inputs are cleaned); merged over the defaults.
    overrides: Value,
}

fn cases() -> Vec<Case> {
    let winter = stockholm(2026, 12, 8, 13);
    let mut v = Vec::new();

    v.push(Case {
        name: "request_one",
        method: Method::Request,
        event: base_event(winter),
        html: true,
        overrides: json!({}),
    });

    let mut ev = base_event(winter);
    let first = ["Åsa", "Örjan", "Märta", "Lars-Åke", "Karin", "Björn"];
    let last = ["Öberg", "Ängström", "Berg, jr", "Sjöqvist", "Hallén"];
    ev.attendees = (0..30)
        .map(|i| Attendee {
            name: format!("{} {}", first[i % first.len()], last[i % last.len()]),
            address: format!("deltagare{i:02}@kommun.test"),
            role: if i % 4 == 3 { Role::Optional } else { Role::Required },
            partstat: PartStat::NeedsAction,
        })
        .collect();
    v.push(Case {
        name: "request_thirty",
        method: Method::Request,
        event: ev,
        html: false,
        overrides: json!({}),
    });

    let mut ev = base_event(winter);
    ev.sequence = 4;
    ev.summary =
        "Avstämningsmöte IoF–ÄoF: inventering av kända kommande övergångar, planerade överlämningar; gemensamma frågor \\ trender".into();
    ev.location =
        Some("Förvaltningshuset, våning 3; sammanträdesrum \"Åkerbäret\", ingång från Storgatan 12 – ring på vid receptionen".into());
    ev.description = Some(
        "Dagordning:\n1. Presentationsrunda, val av ordförande, sekreterare och två justerare (en från varje förvaltning).\n\
         2. Ärenden: 2026-0001 (A.B., 14 år); 2026-0002 (C.D., 18 år) – övergång vid 19 års ålder, ärendet anmäls minst sex månader före födelsedagen.\n\
         3. Övriga frågor; nästa möte.\n\nTeams: https://teams.kommun.test/l/meetup-join/19%3ameeting_abc?context=%7b%22Tid%22%3a%22x%22%7d\n\
         Sökväg på filservern: \\\\fil01\\samverkan\\2026\\"
            .repeat(3),
    );
    v.push(Case {
        name: "long_swedish",
        method: Method::Request,
        event: ev,
        html: true,
        overrides: json!({}),
    });

    let mut ev = base_event(winter);
    ev.sequence = 2;
    ev.cancelled = true;
    ev.attendees.push(attendee("Örjan Sjöqvist", "orjan.sjoqvist@kommun.test"));
    v.push(Case {
        name: "cancel",
        method: Method::Cancel,
        event: ev,
        html: true,
        overrides: json!({}),
    });

    // Around the switches: CEST from 2026-03-29 02:00, CET from 2026-10-25 03:00.
    for (name, (y, m, d), want) in [
        ("dst_spring_before", (2026, 3, 28), "20260328T120000Z"),
        ("dst_spring_after", (2026, 3, 29), "20260329T110000Z"),
        ("dst_autumn_before", (2026, 10, 24), "20261024T110000Z"),
        ("dst_autumn_after", (2026, 10, 25), "20261025T120000Z"),
    ] {
        let start = stockholm(y, m, d, 13);
        assert_eq!(utc(start), want, "chrono-tz conversion for {name}");
        v.push(Case {
            name,
            method: Method::Request,
            event: base_event(start),
            html: true,
            overrides: json!({}),
        });
    }

    let mut ev = base_event(winter);
    ev.summary = "Möte\r\nATTENDEE:mailto:evil@evil.test\r\nEND:VEVENT".into();
    ev.location = Some("Rum 1\rMETHOD:CANCEL\u{2028}Plan 2\u{7}".into());
    ev.description = None;
    ev.organizer_name = "Samverkan: IoF, ÄoF; \"forum\"".into();
    ev.attendees = vec![
        attendee(
            "\"Anna\";RSVP=FALSE;ROLE=CHAIR:mailto:evil@evil.test\r\nX-EVIL:1",
            "anna.berg@kommun.test",
        ),
        attendee("", "utan.namn@kommun.test"),
        attendee("Caret^nName^'", "caret@kommun.test"),
    ];
    v.push(Case {
        name: "hostile",
        method: Method::Request,
        event: ev,
        html: false,
        overrides: json!({
            "summary": "Möte\nATTENDEE:mailto:evil@evil.test\nEND:VEVENT",
            "location": "Rum 1\nMETHOD:CANCEL\nPlan 2",
            "organizer": {"cn": "Samverkan: IoF, ÄoF; forum", "address": "samverkan@kommun.test"},
            "attendees": [
                {"cn": "Anna;RSVP=FALSE;ROLE=CHAIR:mailto:evil@evil.test X-EVIL:1", "address": "anna.berg@kommun.test",
                 "role": "REQ-PARTICIPANT", "partstat": "NEEDS-ACTION", "rsvp": true},
                {"cn": null, "address": "utan.namn@kommun.test",
                 "role": "REQ-PARTICIPANT", "partstat": "NEEDS-ACTION", "rsvp": true},
                {"cn": "Caret^nName^'", "address": "caret@kommun.test",
                 "role": "REQ-PARTICIPANT", "partstat": "NEEDS-ACTION", "rsvp": true}
            ],
        }),
    });
    v
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Required => "REQ-PARTICIPANT",
        Role::Optional => "OPT-PARTICIPANT",
    }
}

/// The sidecar: what a parser must read back, from the inputs (not from the output).
fn expected(c: &Case) -> Value {
    let ev = &c.event;
    let method = match c.method {
        Method::Request => "REQUEST",
        Method::Cancel => "CANCEL",
    };
    let rsvp = c.method == Method::Request;
    let mut v = json!({
        "method": method,
        "uid": ev.uid,
        "sequence": ev.sequence,
        "dtstamp": utc(ev.dtstamp),
        "dtstart": utc(ev.start),
        "dtend": utc(ev.end),
        "summary": ev.summary,
        "location": ev.location,
        "description": ev.description,
        "status": if ev.cancelled || c.method == Method::Cancel { "CANCELLED" } else { "CONFIRMED" },
        "organizer": {"cn": ev.organizer_name, "address": ev.organizer_address},
        "attendees": ev.attendees.iter().map(|a| json!({
            "cn": a.name, "address": a.address, "role": role(a.role), "partstat": "NEEDS-ACTION", "rsvp": rsvp,
        })).collect::<Vec<_>>(),
        "local_start": {"tz": TZ, "time": ev.start.with_timezone(&Stockholm).format("%Y-%m-%dT%H:%M").to_string()},
        "mail": {"html": c.html, "to": ev.attendees.iter().map(|a| a.address.clone()).collect::<Vec<_>>()},
    });
    if let (Some(obj), Some(over)) = (v.as_object_mut(), c.overrides.as_object()) {
        for (k, val) in over {
            obj.insert(k.clone(), val.clone());
        }
    }
    v
}

fn draft(c: &Case, ics: String) -> InviteDraft {
    let prefix = if c.method == Method::Cancel { "Inställt" } else { "Inbjudan" };
    InviteDraft {
        from_name: c.event.organizer_name.clone(),
        from_address: c.event.organizer_address.clone(),
        to: c.event.attendees.iter().map(|a| (a.name.clone(), a.address.clone())).collect(),
        subject: format!("{prefix}: Samverkansmöte IoF–ÄoF"),
        text: "Hej!\n\nVälkommen till samverkansmötet. Svara med knapparna i kalenderinbjudan.\n".into(),
        html: c.html.then(|| "<p>Hej!</p><p>Välkommen till samverkansmötet.</p>".into()),
        message_id: message_id("invite", &format!("{}/{}", c.event.uid, c.event.sequence), "kommun.test"),
        method: c.method,
        ics,
    }
}

/// The decoded text/calendar part of a mail, found by content type.
fn calendar_part(mail: &[u8]) -> Vec<u8> {
    let m = MessageParser::default().parse(mail).expect("the mail parses");
    m.parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some("calendar"))
        })
        .expect("a text/calendar part")
        .contents()
        .to_vec()
}

fn run(dir: &Path, program: &str, script: &str, files: &[PathBuf]) {
    let out = Command::new(program)
        .arg(validators().join(script))
        .args(files)
        .current_dir(validators())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {script}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{script}: {}", text.trim());
    if !out.status.success() {
        panic!("{script} failed ({}); files kept in {}:\n{text}", out.status, dir.display());
    }
}

#[test]
fn invitations_parse_in_python_icalendar_and_ical_js() {
    require_tools();
    let tmp = tempfile::Builder::new().prefix("samverkan-ical-").tempdir().expect("temp dir");
    let dir = tmp.path().to_path_buf();
    let (mut ics_files, mut all_files) = (Vec::new(), Vec::new());
    for c in cases() {
        let ics = render(c.method, &c.event);
        let mail = build_invite(&draft(&c, ics.clone())).expect("build invite");
        let from_mail = calendar_part(&mail);
        assert_eq!(
            from_mail,
            ics.as_bytes(),
            "{}: the mail's calendar part differs from the rendered object",
            c.name
        );

        let write = |ext: &str, bytes: &[u8]| {
            let p = dir.join(format!("{}.{ext}", c.name));
            std::fs::write(&p, bytes).expect("write");
            p
        };
        write("json", serde_json::to_string_pretty(&expected(&c)).expect("json").as_bytes());
        let ics_path = write("ics", ics.as_bytes());
        let from_mail_path = write("from-mail.ics", &from_mail);
        let eml_path = write("eml", &mail);
        ics_files.extend([ics_path.clone(), from_mail_path.clone()]);
        all_files.extend([ics_path, from_mail_path, eml_path]);
    }

    let result = std::panic::catch_unwind(|| {
        run(&dir, "python3", "validate_ics.py", &all_files);
        run(&dir, "node", "validate_ics.mjs", &ics_files);
    });
    if let Err(e) = result {
        let _ = tmp.keep();
        std::panic::resume_unwind(e);
    }
}
