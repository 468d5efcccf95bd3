//! iCalendar invitations (RFC 5545 objects with RFC 5546 iTIP methods, sent by RFC 6047 iMIP).
//!
//! [`render`] turns one [`Event`] into the text of a `VCALENDAR` with `METHOD:REQUEST` or
//! `METHOD:CANCEL` that Outlook, Gmail, Apple Calendar and Thunderbird show as a meeting with
//! Accept/Decline buttons. Pure: no I/O and no clock (`DTSTAMP` is an input).
//!
//! # Why a small writer of our own, not the `icalendar` or `calcard` crate
//!
//! An invitation is about twenty fixed content lines, and what matters is exactly the part the
//! crates leave to the caller or get subtly wrong for mail from untrusted names and texts:
//!
//! - `icalendar` 0.17 writes a parameter value that starts and ends with `"` verbatim (so a
//!   display name like `"x";ROLE=CHAIR:"` becomes extra parameters), keeps `"` and control
//!   characters in parameters, leaves a bare CR in TEXT values and does not escape
//!   CAL-ADDRESS values, so CR/LF from a name could still start a new property; it also adds
//!   a `DTSTAMP` from the clock when one is missing.
//! - `calcard` 0.3 writes `\r` and `\"` escapes that RFC 5545 does not define (parameter values
//!   have no escapes at all; clients would show the backslashes) and brings a large dependency
//!   tree (mail-builder, a second MIME stack) for a writer we use twenty lines of.
//!
//! Both would need the same sanitising in front of them that this module does anyway, so the
//! writer here is the few lines left over: escaping, quoting and folding, each tested below and
//! checked end to end by two independent parsers that clients use (Python's `icalendar` and
//! Mozilla's `ical.js`) in `tests/ical_validation.rs`. `calcard` stays the crate for *reading*
//! replies.
//!
//! # Output rules
//!
//! - CRLF line ends; content lines folded so that no physical line exceeds 75 octets (the
//!   leading space of a continuation line counts), never inside a UTF-8 sequence.
//! - TEXT values (UID, SUMMARY, LOCATION, DESCRIPTION) escape `\`, `;`, `,` and line breaks
//!   (CRLF, CR, LF, U+0085, U+2028, U+2029 all become `\n`); other control characters are
//!   dropped (TAB is kept, as RFC 5545 allows it).
//! - Parameter values (`CN`) lose `"` and control characters (runs of whitespace collapse to
//!   one space), write `^` as `^^` (RFC 6868) and are quoted when they contain `:`, `;` or `,`.
//! - Calendar addresses lose control characters and whitespace.
//!
//! So no input string can start a new content line or add a parameter.
//! Times are written in UTC (`...Z`), the most portable form for single events: no
//! `VTIMEZONE` needed.

use chrono::{DateTime, NaiveDate, Utc};

/// The iTIP method: the calendar's `METHOD` and the MIME `method=` parameter, which must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// An invitation or an update of one (`REQUEST`).
    Request,
    /// A cancellation, of the whole meeting or for the attendees listed (`CANCEL`).
    Cancel,
}

impl Method {
    /// The iTIP name: `REQUEST` or `CANCEL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// An attendee's participation role (`ROLE=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `REQ-PARTICIPANT`: expected to attend (e.g. summoned to a collaboration meeting).
    Required,
    /// `OPT-PARTICIPANT`: welcome, not required.
    Optional,
}

impl Role {
    /// The RFC 5545 value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Required => "REQ-PARTICIPANT",
            Role::Optional => "OPT-PARTICIPANT",
        }
    }
}

/// An attendee's participation status (`PARTSTAT=`) as the organizer knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartStat {
    /// `NEEDS-ACTION`: not answered yet; what a new or significantly changed invitation carries.
    NeedsAction,
    /// `ACCEPTED`.
    Accepted,
    /// `DECLINED`.
    Declined,
    /// `TENTATIVE`.
    Tentative,
    /// `DELEGATED`.
    Delegated,
}

impl PartStat {
    /// The RFC 5545 value.
    pub fn as_str(self) -> &'static str {
        match self {
            PartStat::NeedsAction => "NEEDS-ACTION",
            PartStat::Accepted => "ACCEPTED",
            PartStat::Declined => "DECLINED",
            PartStat::Tentative => "TENTATIVE",
            PartStat::Delegated => "DELEGATED",
        }
    }
}

/// One invited person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    /// Display name (`CN`); may be empty.
    pub name: String,
    /// E-mail address, without `mailto:`.
    pub address: String,
    /// Required or optional.
    pub role: Role,
    /// Participation status as last known.
    pub partstat: PartStat,
}

/// One meeting occurrence, as sent in an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable per occurrence, from [`uid_for`], e.g. `iof-aof-20261208@kommun.test`.
    pub uid: String,
    /// Raised on every significant change and on cancellation.
    pub sequence: u32,
    /// When this version of the invitation was made (the send time).
    pub dtstamp: DateTime<Utc>,
    /// Start, written in UTC.
    pub start: DateTime<Utc>,
    /// End, written in UTC.
    pub end: DateTime<Utc>,
    /// Title, e.g. `Samverkansmöte IoF–ÄoF`. Never personal data.
    pub summary: String,
    /// Place or video link.
    pub location: Option<String>,
    /// Body text: only case numbers and initials+age (the caller's duty), plus a link or place.
    pub description: Option<String>,
    /// Organizer's display name (`CN`).
    pub organizer_name: String,
    /// Organizer's address: the forum mailbox, where replies go.
    pub organizer_address: String,
    /// Everyone invited (for [`Method::Cancel`]: everyone whose invitation is withdrawn).
    pub attendees: Vec<Attendee>,
    /// `STATUS:CANCELLED` instead of `STATUS:CONFIRMED` (always cancelled with [`Method::Cancel`]).
    pub cancelled: bool,
}

/// The UID of a forum's meeting on a local date: `"{forum_id}-{YYYYMMDD}@{domain}"`.
pub fn uid_for(forum_id: &str, local_date: NaiveDate, domain: &str) -> String {
    format!("{forum_id}-{}@{domain}", local_date.format("%Y%m%d"))
}

/// Renders the calendar object for `method`: CRLF line ends, folded at 75 octets.
///
/// With [`Method::Request`] every attendee gets `RSVP=TRUE` (Thunderbird shows buttons only
/// then); with [`Method::Cancel`] the status is `CANCELLED` whatever `ev.cancelled` says, and
/// attendees carry no RSVP.
pub fn render(method: Method, ev: &Event) -> String {
    let mut lines: Vec<String> = vec![
        "BEGIN:VCALENDAR".into(),
        "PRODID:-//samverkan//samverkan//SV".into(),
        "VERSION:2.0".into(),
        "CALSCALE:GREGORIAN".into(),
        format!("METHOD:{}", method.as_str()),
        "BEGIN:VEVENT".into(),
        format!("UID:{}", text(&ev.uid)),
        format!("SEQUENCE:{}", ev.sequence),
        format!("DTSTAMP:{}", utc(ev.dtstamp)),
        format!("DTSTART:{}", utc(ev.start)),
        format!("DTEND:{}", utc(ev.end)),
        format!("SUMMARY:{}", text(&ev.summary)),
    ];
    if let Some(location) = &ev.location {
        lines.push(format!("LOCATION:{}", text(location)));
    }
    if let Some(description) = &ev.description {
        lines.push(format!("DESCRIPTION:{}", text(description)));
    }
    lines.push(format!(
        "ORGANIZER{}:mailto:{}",
        cn(&ev.organizer_name),
        address(&ev.organizer_address)
    ));
    for a in &ev.attendees {
        let rsvp = if method == Method::Request { ";RSVP=TRUE" } else { "" };
        lines.push(format!(
            "ATTENDEE{};ROLE={};PARTSTAT={}{rsvp}:mailto:{}",
            cn(&a.name),
            a.role.as_str(),
            a.partstat.as_str(),
            address(&a.address)
        ));
    }
    let cancelled = ev.cancelled || method == Method::Cancel;
    lines.push(format!("STATUS:{}", if cancelled { "CANCELLED" } else { "CONFIRMED" }));
    lines.push("TRANSP:OPAQUE".into());
    lines.push("END:VEVENT".into());
    lines.push("END:VCALENDAR".into());

    let mut out = String::new();
    for line in &lines {
        fold_into(&mut out, line);
    }
    out
}

/// The longest a physical line may be, in octets, without its CRLF (RFC 5545 §3.1).
const MAX_OCTETS: usize = 75;

/// Appends `line` folded (CRLF + space) so that no physical line exceeds [`MAX_OCTETS`]
/// octets, splitting only at UTF-8 character boundaries; ends it with CRLF.
fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    // The first physical line has the whole width; continuation lines lose one to the space.
    let mut width = MAX_OCTETS;
    while rest.len() > width {
        let mut cut = width;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push_str(head);
        out.push_str("\r\n ");
        rest = tail;
        width = MAX_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

/// A UTC date-time in RFC 5545 form, `YYYYMMDDTHHMMSSZ`.
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 §3.3.11); every line break becomes `\n`, other control
/// characters but TAB are dropped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `;CN=value` for a display name, or nothing when the cleaned name is empty. `"` and control
/// characters are removed (whitespace collapsed) since RFC 5545 parameter values have no
/// escapes; the value is quoted when it contains `:`, `;` or `,`. A `^` is written `^^`
/// (RFC 6868), since Thunderbird, Apple and Python's icalendar read `^n` and `^'` in a
/// parameter as a line break and a quote.
fn cn(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|&c| c != '"')
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ").replace('^', "^^");
    if cleaned.is_empty() {
        return String::new();
    }
    let mut out = String::from(";CN=");
    if cleaned.contains([':', ';', ',']) {
        out.push('"');
        out.push_str(&cleaned);
        out.push('"');
    } else {
        out.push_str(&cleaned);
    }
    out
}

/// A calendar address without control characters or whitespace (so it stays one value).
fn address(a: &str) -> String {
    a.chars().filter(|c| !c.is_control() && !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDateTime, TimeZone};
    use chrono_tz::Europe::Stockholm;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().expect("valid time")
    }

    fn event() -> Event {
        Event {
            uid: uid_for("iof-aof", NaiveDate::from_ymd_opt(2026, 12, 8).expect("date"), "kommun.test"),
            sequence: 0,
            dtstamp: at(2026, 11, 20, 9, 30),
            start: at(2026, 12, 8, 12, 0),
            end: at(2026, 12, 8, 13, 0),
            summary: "Samverkansmöte IoF–ÄoF".into(),
            location: Some("Stadshuset, rum 3".into()),
            description: Some("Ärenden: 2026-0001 (A.B., 14 år)".into()),
            organizer_name: "Samverkan IoF–ÄoF".into(),
            organizer_address: "samverkan@kommun.test".into(),
            attendees: vec![
                Attendee {
                    name: "Anna Berg".into(),
                    address: "anna.berg@kommun.test".into(),
                    role: Role::Required,
                    partstat: PartStat::NeedsAction,
                },
                Attendee {
                    name: "Berg, Karin".into(),
                    address: "karin.berg@kommun.test".into(),
                    role: Role::Optional,
                    partstat: PartStat::NeedsAction,
                },
            ],
            cancelled: false,
        }
    }

    /// Undoes folding: removes every CRLF followed by a space.
    fn unfold(s: &str) -> String {
        s.replace("\r\n ", "")
    }

    /// The unfolded content lines.
    fn lines(s: &str) -> Vec<String> {
        unfold(s).split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    fn prop<'a>(lines: &'a [String], name: &str) -> Vec<&'a str> {
        lines
            .iter()
            .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with([':', ';'])))
            .map(String::as_str)
            .collect()
    }

    fn assert_well_formed(s: &str) {
        assert!(s.ends_with("\r\n"), "no final CRLF");
        assert!(!s.replace("\r\n", "").contains(['\r', '\n']), "bare CR or LF in {s:?}");
        for l in s.split("\r\n") {
            assert!(l.len() <= MAX_OCTETS, "{} octets: {l:?}", l.len());
        }
    }

    #[test]
    fn request_shape() {
        let s = render(Method::Request, &event());
        assert_well_formed(&s);
        let expected = "BEGIN:VCALENDAR\r\n\
            PRODID:-//samverkan//samverkan//SV\r\n\
            VERSION:2.0\r\n\
            CALSCALE:GREGORIAN\r\n\
            METHOD:REQUEST\r\n\
            BEGIN:VEVENT\r\n\
            UID:iof-aof-20261208@kommun.test\r\n\
            SEQUENCE:0\r\n\
            DTSTAMP:20261120T093000Z\r\n\
            DTSTART:20261208T120000Z\r\n\
            DTEND:20261208T130000Z\r\n\
            SUMMARY:Samverkansmöte IoF–ÄoF\r\n\
            LOCATION:Stadshuset\\, rum 3\r\n\
            DESCRIPTION:Ärenden: 2026-0001 (A.B.\\, 14 år)\r\n\
            ORGANIZER;CN=Samverkan IoF–ÄoF:mailto:samverkan@kommun.test\r\n\
            ATTENDEE;CN=Anna Berg;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:\r\n \
            mailto:anna.berg@kommun.test\r\n\
            ATTENDEE;CN=\"Berg, Karin\";ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=T\r\n \
            RUE:mailto:karin.berg@kommun.test\r\n\
            STATUS:CONFIRMED\r\n\
            TRANSP:OPAQUE\r\n\
            END:VEVENT\r\n\
            END:VCALENDAR\r\n";
        assert_eq!(s, expected);
    }

    #[test]
    fn cancel_shape() {
        let mut ev = event();
        ev.sequence = 3;
        ev.attendees.truncate(1);
        let s = render(Method::Cancel, &ev);
        assert_well_formed(&s);
        let l = lines(&s);
        assert_eq!(prop(&l, "METHOD"), ["METHOD:CANCEL"]);
        assert_eq!(prop(&l, "STATUS"), ["STATUS:CANCELLED"]);
        assert_eq!(prop(&l, "UID"), ["UID:iof-aof-20261208@kommun.test"]);
        assert_eq!(prop(&l, "SEQUENCE"), ["SEQUENCE:3"]);
        assert_eq!(
            prop(&l, "ATTENDEE"),
            ["ATTENDEE;CN=Anna Berg;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:anna.berg@kommun.test"]
        );
        assert_eq!(l.iter().filter(|l| l.as_str() == "BEGIN:VEVENT").count(), 1);
    }

    #[test]
    fn cancelled_flag_sets_status_on_request() {
        let mut ev = event();
        ev.cancelled = true;
        assert_eq!(prop(&lines(&render(Method::Request, &ev)), "STATUS"), ["STATUS:CANCELLED"]);
    }

    #[test]
    fn no_location_or_description_means_no_lines() {
        let mut ev = event();
        ev.location = None;
        ev.description = None;
        let l = lines(&render(Method::Request, &ev));
        assert!(prop(&l, "LOCATION").is_empty() && prop(&l, "DESCRIPTION").is_empty());
    }

    #[test]
    fn uid_is_forum_date_domain() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 9).expect("date");
        assert_eq!(uid_for("iof-aof", d, "kommun.test"), "iof-aof-20260309@kommun.test");
    }

    #[test]
    fn folds_at_exactly_75_octets() {
        // "SUMMARY:" is 8 octets; 67 more ASCII make exactly 75: no fold.
        let mut out = String::new();
        fold_into(&mut out, &format!("SUMMARY:{}", "a".repeat(67)));
        assert_eq!(out, format!("SUMMARY:{}\r\n", "a".repeat(67)));
        // One more octet folds, and the continuation holds the rest after a space.
        let mut out = String::new();
        fold_into(&mut out, &format!("SUMMARY:{}", "a".repeat(68)));
        assert_eq!(out, format!("SUMMARY:{}\r\n a\r\n", "a".repeat(67)));
    }

    #[test]
    fn folding_never_splits_multibyte_characters() {
        // Put each Swedish character (2 octets; the en dash is 3) across the 75-octet boundary
        // of the first line and of a continuation line, at every offset.
        for ch in ['å', 'ä', 'ö', 'Å', 'Ä', 'Ö', '–'] {
            for pad in 60..80 {
                let value = format!("{}{}{}", "x".repeat(pad), ch.to_string().repeat(40), "slut");
                let line = format!("SUMMARY:{value}");
                let mut out = String::new();
                fold_into(&mut out, &line);
                assert_well_formed(&out);
                // Each physical line is valid UTF-8 on its own.
                for phys in out.as_bytes().split(|&b| b == b'\n') {
                    assert!(std::str::from_utf8(phys).is_ok(), "split inside a character: {out:?}");
                }
                // Lines are filled: a line is shorter than 75 only when the next character
                // would not fit.
                let phys: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
                for (i, p) in phys.iter().enumerate().take(phys.len() - 1) {
                    let next = phys[i + 1].chars().nth(1).expect("continuation has a character");
                    assert!(p.len() + next.len_utf8() > MAX_OCTETS, "underfilled line {p:?}");
                }
                assert_eq!(unfold(&out), format!("{line}\r\n"));
            }
        }
    }

    #[test]
    fn folded_request_with_long_swedish_text_round_trips() {
        let mut ev = event();
        ev.description = Some("Förhandsinformation: ärendena gäller övergång från barn- och ungdomsenheten till vuxenenheten – ålder 18–19 år; se även tidigare överenskommelser, punkt 4.".repeat(5));
        let s = render(Method::Request, &ev);
        assert_well_formed(&s);
        let l = lines(&s);
        let d = prop(&l, "DESCRIPTION");
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("överenskommelser\\, punkt 4.Förhandsinformation"));
    }

    #[test]
    fn text_values_are_escaped() {
        let mut ev = event();
        ev.summary = r"Möte; IoF, ÄoF \ plan".into();
        ev.location = Some("Rum 3,\nplan 2; C:\\dir".into());
        ev.description = Some("Rad 1\r\nRad 2\rRad 3\nRad 4\u{2028}Rad 5\tflik\u{7}".into());
        let l = lines(&render(Method::Request, &ev));
        assert_eq!(prop(&l, "SUMMARY"), [r"SUMMARY:Möte\; IoF\, ÄoF \\ plan"]);
        assert_eq!(prop(&l, "LOCATION"), [r"LOCATION:Rum 3\,\nplan 2\; C:\\dir"]);
        assert_eq!(prop(&l, "DESCRIPTION"), ["DESCRIPTION:Rad 1\\nRad 2\\nRad 3\\nRad 4\\nRad 5\tflik"]);
    }

    #[test]
    fn cn_is_cleaned_and_quoted() {
        assert_eq!(cn("Anna Berg"), ";CN=Anna Berg");
        assert_eq!(cn(r#"Berg, "Anna": IoF"#), r#";CN="Berg, Anna: IoF""#);
        assert_eq!(cn("a;b"), r#";CN="a;b""#);
        assert_eq!(cn("Mailto:x"), r#";CN="Mailto:x""#);
        assert_eq!(cn(r#""x";ROLE=CHAIR:""#), r#";CN="x;ROLE=CHAIR:""#);
        assert_eq!(cn("Anna\r\n Berg\t"), ";CN=Anna Berg");
        assert_eq!(cn(" \"\" \r\n"), "");
        assert_eq!(cn("Anna^nBerg^'"), ";CN=Anna^^nBerg^^'");
    }

    #[test]
    fn injection_cannot_add_properties_or_parameters() {
        let mut ev = event();
        ev.summary = "Möte\r\nATTENDEE:mailto:evil@evil.test\r\nEND:VEVENT".into();
        ev.location = Some("x\nMETHOD:CANCEL".into());
        ev.organizer_name = "Org\r\nATTENDEE:mailto:evil@evil.test".into();
        ev.organizer_address = "samverkan@kommun.test\r\nATTENDEE:mailto:evil@evil.test".into();
        ev.attendees[0].name = "\"Anna\";RSVP=FALSE;ROLE=CHAIR:mailto:evil@evil.test\r\nX-EVIL:1".into();
        ev.attendees[0].address = "anna@kommun.test\nX-EVIL:1".into();
        let s = render(Method::Request, &ev);
        assert_well_formed(&s);
        let l = lines(&s);
        let names: Vec<&str> = l.iter().map(|l| l.split([':', ';']).next().unwrap_or("")).collect();
        assert_eq!(
            names,
            [
                "BEGIN",
                "PRODID",
                "VERSION",
                "CALSCALE",
                "METHOD",
                "BEGIN",
                "UID",
                "SEQUENCE",
                "DTSTAMP",
                "DTSTART",
                "DTEND",
                "SUMMARY",
                "LOCATION",
                "DESCRIPTION",
                "ORGANIZER",
                "ATTENDEE",
                "ATTENDEE",
                "STATUS",
                "TRANSP",
                "END",
                "END"
            ]
        );
        assert_eq!(prop(&l, "METHOD"), ["METHOD:REQUEST"]);
        assert_eq!(prop(&l, "SUMMARY"), ["SUMMARY:Möte\\nATTENDEE:mailto:evil@evil.test\\nEND:VEVENT"]);
        assert_eq!(
            prop(&l, "ORGANIZER"),
            [r#"ORGANIZER;CN="Org ATTENDEE:mailto:evil@evil.test":mailto:samverkan@kommun.testATTENDEE:mailto:evil@evil.test"#]
        );
        // The hostile name stays inside one quoted CN; the real parameters follow it.
        assert_eq!(
            prop(&l, "ATTENDEE")[0],
            r#"ATTENDEE;CN="Anna;RSVP=FALSE;ROLE=CHAIR:mailto:evil@evil.test X-EVIL:1";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:anna@kommun.testX-EVIL:1"#
        );
    }

    fn stockholm_13(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        let local = NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(13, 0, 0))
            .expect("date");
        Stockholm
            .from_local_datetime(&local)
            .single()
            .expect("unambiguous")
            .with_timezone(&Utc)
    }

    #[test]
    fn meetings_around_dst_switches_are_in_utc() {
        // Europe/Stockholm: CEST from 2026-03-29 02:00, CET from 2026-10-25 03:00.
        let cases = [
            ((2026, 3, 28), "20260328T120000Z"),
            ((2026, 3, 29), "20260329T110000Z"),
            ((2026, 10, 24), "20261024T110000Z"),
            ((2026, 10, 25), "20261025T120000Z"),
        ];
        for ((y, m, d), want) in cases {
            let mut ev = event();
            ev.start = stockholm_13(y, m, d);
            ev.end = ev.start + chrono::Duration::hours(1);
            let l = lines(&render(Method::Request, &ev));
            assert_eq!(prop(&l, "DTSTART"), [format!("DTSTART:{want}")]);
            let end = NaiveDateTime::parse_from_str(want, "%Y%m%dT%H%M%SZ").expect("parse") + chrono::Duration::hours(1);
            assert_eq!(prop(&l, "DTEND"), [format!("DTEND:{}", end.format("%Y%m%dT%H%M%SZ"))]);
        }
    }
}
