//! The routines around one person (issue 18; seeds 003 and 000): a person followed by named
//! contact persons in the units, a meeting that falls due on a rhythm (the start + some months,
//! then at least every N months, or the date agreed at the last meeting), and the small
//! deadlines around it. Pure: the rhythm, the reading of the routine's mails ("Ny brukare",
//! "Bokat:", "Anteckningar skickade", "Kommenterat", "Ny kontaktansvarig", "Kontakt tagen",
//! "Avslutad") and which routine a mail is for.
//!
//! The person is pseudonymous: a local reference and initials, never a name or a personal
//! identity number; subjects, calendar items and logs carry only those.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::{Config, Forum, Routine};
use crate::core::heading::{Vocabulary, fold, is_placeholder};
use crate::core::obligation::{on_working_day, on_working_day_before};
use crate::core::schedule::local;
use crate::mail::view::MailView;

/// Obligation kinds of these routines (in `obligations.kind`; `data_json.person_id` names the
/// person).
pub const BOOK: &str = "person_book";
pub const NOTES_SENT: &str = "person_notes_sent";
pub const NOTES_COMMENT: &str = "person_notes_comment";
pub const NEW_CONTACT: &str = "person_new_contact";
/// Seed 001: a unit's deputy heads must appoint a case worker to a three-party meeting.
pub const THREE_PARTY: &str = "three_party";

/// The meetings' kind in `meetings.kind`, and their occurrence prefix.
pub const MEETING_KIND: &str = "person";

/// Person statuses.
pub const ACTIVE: &str = "active";
pub const LEFT: &str = "left";

/// What the next meeting's due date rests on.
pub const FIRST: &str = "first";
pub const YEARLY: &str = "yearly";
pub const AGREED: &str = "agreed";

/// `months` after `day` (the last day of a shorter month for the 31st).
pub fn months_after(day: NaiveDate, months: u32) -> NaiveDate {
    day.checked_add_months(Months::new(months))
        .unwrap_or(day + Duration::days(i64::from(months) * 30))
}

/// When the first meeting falls due: the start + `first_after_months` (seed 003: about six
/// months after the person started at the daily activity).
pub fn first_due(started: NaiveDate, r: &Routine) -> NaiveDate {
    months_after(started, r.first_after_months)
}

/// When the next meeting falls due after one held on `held`: the date agreed at the meeting
/// if one was mailed back, but never later than `every_months` after it (seed 003: "minst en
/// gång per år"), and never on or before the meeting itself. Returns the date and its basis.
pub fn next_due(held: NaiveDate, agreed: Option<NaiveDate>, r: &Routine) -> (NaiveDate, &'static str) {
    let limit = months_after(held, r.every_months);
    match agreed {
        Some(d) if d > held && d <= limit => (d, AGREED),
        _ => (limit, YEARLY),
    }
}

/// When the booker is asked to book: `ask_before` the due date, at the reminder time of the
/// working day on or before it (never on a Sunday or Midsommarafton; a date already passed is
/// asked at once by the obligation engine).
pub fn ask_at(due: NaiveDate, r: &Routine, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    on_working_day_before(local(tz, due.and_time(at)) - r.ask_before, tz, at)
}

/// When an unbooked meeting is escalated to the booker's unit head: the morning of the due
/// date, or of the next working day when it is a day off.
pub fn overdue_at(due: NaiveDate, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    on_working_day(local(tz, due.and_time(at)), tz, at)
}

/// The label a person goes by in subjects, calendars and logs: "AB-12 (A.B.)".
pub fn label(reference: &str, initials: &str) -> String {
    if initials.is_empty() {
        reference.to_string()
    } else {
        format!("{reference} ({initials})")
    }
}

/// Where a person stands, for `person list`, `status` and the preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// A meeting is booked ahead.
    Booked,
    /// Falls due within the ask period (the booker has been or is about to be asked).
    DueSoon,
    /// The due date has passed with no meeting booked.
    Overdue,
    /// Nothing to do yet.
    Later,
    /// Left the routine.
    Left,
}

/// Where a person stands at `now`.
pub fn standing(
    status: &str,
    due: Option<NaiveDate>,
    booked_ahead: bool,
    r: &Routine,
    tz: Tz,
    at: NaiveTime,
    now: DateTime<Utc>,
) -> Standing {
    if status == LEFT {
        return Standing::Left;
    }
    if booked_ahead {
        return Standing::Booked;
    }
    match due {
        Some(d) if overdue_at(d, tz, at) <= now => Standing::Overdue,
        Some(d) if ask_at(d, r, tz, at) <= now => Standing::DueSoon,
        _ => Standing::Later,
    }
}

// ---------------------------------------------------------------------------------------------
// The routine's mails.

/// What a mail to the routine says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    /// "Ny brukare": a person joins the routine.
    Register,
    /// "Bokat: 2027-06-03 10:00, Verkstaden".
    Booked,
    /// "Anteckningar skickade": the sender wrote the notes and sent them to the other party.
    NotesSent,
    /// "Kommenterat" / "Inga kommentarer": the other party has commented on the notes.
    Commented,
    /// "Ny kontaktansvarig": a new contact person for one side.
    NewContact,
    /// "Kontakt tagen": the new contact person has contacted the other unit.
    ContactMade,
    /// "Avslutad": the person leaves the routine.
    Left,
    /// Seed 001: a case worker asks another unit's deputy heads for a case worker to a
    /// three-party meeting ("Trepartsmöte", with "Enhet: ...").
    ThreeParty,
    /// "Utsedd: Eva Ek <eva.ek@kommun.se>": a deputy head appoints that case worker.
    Appointed,
}

impl Verb {
    pub fn label_sv(self) -> &'static str {
        match self {
            Verb::Register => "Ny brukare",
            Verb::Booked => "Bokat",
            Verb::NotesSent => "Anteckningar skickade",
            Verb::Commented => "Kommenterat",
            Verb::NewContact => "Ny kontaktansvarig",
            Verb::ContactMade => "Kontakt tagen",
            Verb::Left => "Avslutad",
            Verb::ThreeParty => "Trepartsmöte",
            Verb::Appointed => "Utsedd",
        }
    }
}

/// The verbs, one table: Swedish as the routine writes them, the ways people shorten them, and
/// English equivalents.
const VERBS: &[(Verb, &[&str])] = &[
    (
        Verb::Register,
        &[
            "Ny brukare",
            "Ny kund",
            "Ny person",
            "Registrera brukare",
            "New client",
            "New person",
        ],
    ),
    (
        Verb::Booked,
        &["Bokat", "Bokad", "Mötet bokat", "Bokat formöte", "Bokat trepartsmöte", "Booked"],
    ),
    (
        Verb::NotesSent,
        &[
            "Anteckningar skickade",
            "Anteckningarna skickade",
            "Anteckningarna är skickade",
            "Anteckningar skickat",
            "Notes sent",
        ],
    ),
    (
        Verb::Commented,
        &["Kommenterat", "Kommenterad", "Inga kommentarer", "Commented", "No comments"],
    ),
    (
        Verb::NewContact,
        &[
            "Ny kontaktansvarig",
            "Byte av kontaktansvarig",
            "Ny kontaktman",
            "New contact person",
        ],
    ),
    (
        Verb::ContactMade,
        &["Kontakt tagen", "Kontakten tagen", "Kontakt har tagits", "Contact made"],
    ),
    (Verb::Left, &["Avslutad", "Avslutat", "Har slutat", "Ended", "Left the service"]),
    (
        Verb::ThreeParty,
        &[
            "Trepartsmöte",
            "Förfrågan om trepartsmöte",
            "Begäran om trepartsmöte",
            "Förfrågan trepartsmöte",
            "Three-party meeting",
        ],
    ),
    (Verb::Appointed, &["Utsedd", "Utsedd handläggare", "Appointed"]),
];

static VERB_VOCABULARY: LazyLock<Vocabulary<Verb>> = LazyLock::new(|| {
    let rows: Vec<(Verb, &[&str], &'static [&'static str])> = VERBS.iter().map(|&(v, a)| (v, a, &[][..])).collect();
    Vocabulary::new(&rows)
});

/// The fields of the routine's mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Reference,
    Initials,
    Start,
    /// The contact person of the routine's side with this index.
    Contact(usize),
    /// The person's representative (företrädare), invited when the person wishes.
    Representative,
    /// The case worker (handläggare, seed 000).
    CaseWorker,
    /// The follow-up date agreed at the meeting.
    NextMeeting,
    /// The day the person left.
    EndDate,
    /// Seed 001's three-party request: the unit asked for a case worker.
    Unit,
    /// ... and what the contact is about (forwarded to that unit's deputy heads only).
    Need,
}

const FIXED: &[(Field, &[&str])] = &[
    (
        Field::Reference,
        &["Referens", "Lokal referens", "Referensnummer", "Ref", "Reference", "Ref nr"],
    ),
    (Field::Initials, &["Initialer", "Initials"]),
    (
        Field::Start,
        &["Startdatum", "Start", "Började", "Började den", "Startade", "Start date", "Started"],
    ),
    (Field::Representative, &["Företrädare", "God man", "Förvaltare", "Representative"]),
    (Field::CaseWorker, &["Handläggare", "Biståndshandläggare", "Case worker"]),
    (
        Field::NextMeeting,
        &[
            "Nästa möte",
            "Uppföljning",
            "Datum för uppföljning",
            "Uppföljningsdatum",
            "Next meeting",
            "Follow-up",
        ],
    ),
    (Field::EndDate, &["Slutdatum", "Sista dag", "End date"]),
    (Field::Unit, &["Enhet", "Önskad enhet", "Till enhet", "Unit"]),
    (Field::Need, &["Behov", "Frågeställning", "Needs"]),
];

/// The field vocabulary of a routine: the fixed headings and "Kontaktansvarig <side>" for each
/// of its sides ("Kontaktansvarig på <side>", "Kontaktman <side>", "Contact person <side>").
fn fields(contacts: &[String]) -> Vocabulary<Field> {
    let contact: Vec<Vec<String>> = contacts
        .iter()
        .map(|side| {
            let mut v = Vec::new();
            for lead in [
                "Kontaktansvarig",
                "Kontaktansvarige",
                "Kontaktansvarig på",
                "Kontaktman",
                "Contact person",
            ] {
                v.push(format!("{lead} {side}"));
                v.push(format!("{lead} {side}et"));
            }
            v.push(format!("Kontaktansvarig, {side}"));
            v
        })
        .collect();
    let contact_refs: Vec<Vec<&str>> = contact.iter().map(|v| v.iter().map(String::as_str).collect()).collect();
    let mut rows: Vec<(Field, &[&str], &'static [&'static str])> = FIXED.iter().map(|&(f, a)| (f, a, &[][..])).collect();
    for (i, aliases) in contact_refs.iter().enumerate() {
        rows.push((Field::Contact(i), aliases.as_slice(), &[][..]));
    }
    Vocabulary::new(&rows)
}

/// A contact person as written: resolved to a member's address, or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// The member's address, when the text names one (by address or by name).
    pub address: Option<String>,
    /// As written (for the answer when it names nobody known).
    pub text: String,
}

/// A routine mail, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    pub routine: String,
    pub verb: Verb,
    pub reference: Option<String>,
    pub initials: Option<String>,
    pub start: Option<NaiveDate>,
    /// The contact person per side index, as written.
    pub contacts: Vec<(usize, Named)>,
    pub representative: Option<String>,
    pub case_worker: Option<String>,
    /// "Bokat:": the local start.
    pub booked_at: Option<NaiveDateTime>,
    /// "Bokat:": the place (after the time), if any.
    pub place: Option<String>,
    pub next_meeting: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    /// Three-party request: the unit asked (its configured name), and what it is about.
    pub unit: Option<String>,
    pub need: Option<String>,
    /// "Utsedd:": the appointed case worker's address.
    pub appointed: Option<String>,
    /// "Bokat formöte: ...": the booking is the case workers' pre-meeting (seed 001).
    pub pre_meeting: bool,
    /// What is missing or not understood, in Swedish, for the answer (empty: complete).
    pub problems: Vec<String>,
}

/// The address in `text` ("Lisa Berg <lisa@k.se>", "lisa@k.se"), lowercased.
fn address_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '(' | ')' | '[' | ']' | '"'))
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | ':' | '\'')))
        .find(|w| {
            let mut parts = w.split('@');
            matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(d), None) if !a.is_empty() && d.contains('.'))
        })
        .map(str::to_ascii_lowercase)
}

/// A member named in `text`: by address (or alias), else by the member's name exactly (case
/// and diacritics folded).
pub fn named(forum: &Forum, text: &str) -> Named {
    let text = text.trim().to_string();
    let address = match address_in(&text) {
        Some(a) => forum.member(&a).map(|m| m.address.clone()),
        None => {
            let want = fold(text.trim_end_matches('.'));
            let mut hits = forum.members.iter().filter(|m| fold(&m.name) == want);
            match (hits.next(), hits.next()) {
                (Some(m), None) => Some(m.address.clone()),
                _ => None,
            }
        }
    };
    Named { address, text }
}

/// A date as people write it: 2027-06-03, 2027-6-3, 3/6 2027, 3 juni 2027, 20270603.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim().trim_end_matches(['.', ',']);
    let first = s.split_whitespace().next()?;
    for f in ["%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%d.%m.%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(first, f) {
            return Some(d);
        }
    }
    if let Some((dm, y)) = s.split_once(' ')
        && let Some((d, m)) = dm.split_once('/')
        && let (Ok(d), Ok(m), Ok(y)) = (d.parse(), m.parse(), y.split_whitespace().next().unwrap_or("").parse())
    {
        return NaiveDate::from_ymd_opt(y, m, d);
    }
    const MONTHS: [&str; 12] = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ];
    const MONTHS_EN: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let words: Vec<String> = s
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_matches([',', '.']).to_lowercase())
        .collect();
    if let [d, m, y] = words.as_slice() {
        let month = MONTHS.iter().chain(MONTHS_EN.iter()).position(|x| x == m).map(|i| i % 12 + 1)?;
        return NaiveDate::from_ymd_opt(y.parse().ok()?, month as u32, d.parse().ok()?);
    }
    None
}

/// "2027-06-03 10:00, Verkstaden" / "3 juni 2027 kl. 10.00 i Verkstaden": the local start and
/// the place after it.
pub fn parse_booking(s: &str) -> (Option<NaiveDateTime>, Option<String>) {
    let s = s.trim();
    let words: Vec<&str> = s.split_whitespace().collect();
    // The date: its first one to three words.
    for n in (1..=3.min(words.len())).rev() {
        let date_text = words[..n].join(" ");
        let Some(day) = parse_date(&date_text).filter(|_| n == 1 || !words[0].contains('-')) else {
            continue;
        };
        let mut rest = &words[n..];
        if rest
            .first()
            .is_some_and(|w| matches!(w.to_lowercase().as_str(), "kl" | "kl." | "klockan" | "at"))
        {
            rest = &rest[1..];
        }
        let Some(t) = rest.first() else { return (None, None) };
        let t_clean = t.trim_end_matches([',', ';']);
        let time = ["%H:%M", "%H.%M", "%H"].iter().find_map(|f| {
            NaiveTime::parse_from_str(t_clean, f).ok().or_else(|| {
                t_clean
                    .parse::<u32>()
                    .ok()
                    .filter(|h| *h < 24 && *f == "%H")
                    .and_then(|h| NaiveTime::from_hms_opt(h, 0, 0))
            })
        });
        let Some(time) = time else { return (None, None) };
        let place = rest[1..]
            .join(" ")
            .trim_start_matches([',', ';', '-', '–', ' '])
            .trim_start_matches("i ")
            .trim_start_matches("in ")
            .trim_start_matches("på ")
            .trim()
            .to_string();
        return (Some(day.and_time(time)), Some(place).filter(|p| !p.is_empty()));
    }
    (None, None)
}

/// Initials from a reference-free text ("A.B.", "AB", "A B"): letters only, at most four,
/// written "A.B."; `None` when the text holds more than initials (a full name is refused).
pub fn initials(text: &str) -> Option<String> {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let parts = text
        .split(|c: char| c.is_whitespace() || c == '.')
        .filter(|w| !w.is_empty())
        .count();
    let ok = (1..=4).contains(&letters.len()) && (parts == letters.len() || parts == 1 && letters.len() <= 3);
    ok.then(|| letters.iter().map(|c| format!("{}.", c.to_uppercase())).collect())
}

/// The verb of a mail: its subject (without reply and forward prefixes, also only its first
/// words) or the first line of its own text.
fn verb_of(subject: &str, own: &str) -> Option<(Verb, String)> {
    // The own text's first line first: an answer in a thread keeps the old subject.
    if let Some(first) = own.lines().map(str::trim).find(|l| !l.is_empty())
        && let Some(f) = VERB_VOCABULARY
            .heading(first)
            .or_else(|| VERB_VOCABULARY.heading(first.trim_end_matches(['.', '!'])))
            // "Kommenterat, två små ändringar." / "Kontakt tagen! Vi ses på fredag."
            .or_else(|| VERB_VOCABULARY.heading(first.split([',', ';', '.', '!']).next().unwrap_or("")))
    {
        return Some((f.field, f.rest.to_string()));
    }
    let mut s = subject.trim();
    loop {
        let lower = s.to_lowercase();
        let Some(p) = ["sv:", "re:", "vb:", "fw:", "fwd:", "aw:", "svar:", "ang:"]
            .iter()
            .find(|p| lower.starts_with(*p))
        else {
            break;
        };
        s = s[p.len()..].trim_start();
    }
    if let Some(f) = VERB_VOCABULARY.heading(s) {
        return Some((f.field, f.rest.to_string()));
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    (1..=3.min(words.len())).rev().find_map(|n| {
        VERB_VOCABULARY
            .heading(&words[..n].join(" "))
            .filter(|f| f.distance == 0)
            .map(|f| (f.field, words[n..].join(" ")))
    })
}

/// Reads a mail to the forum as a routine mail, if it is one: the verb from the subject or the
/// first line, the fields by heading (any case and order, misspelled within the shared budget,
/// HTML and Outlook forms rendered as "heading: text" lines by `mail::html`), quotes and
/// signatures cut (`own_text`). `None`: not a routine mail (or the forum has no routine).
pub fn read(forum: &Forum, subject: &str, own: &str) -> Option<Command> {
    let (verb, rest) = verb_of(subject, own)?;
    let three_party = matches!(verb, Verb::ThreeParty | Verb::Appointed);
    // Which routine: a forum with several names it ("Rutin: genomforandeplan"); else its first.
    // A three-party request is seed 001's, any forum's, no routine's.
    let routine = match (three_party, forum.routines.first()) {
        (true, _) => None,
        // "Bokat:" in the thread of a three-party appointment (seed 001, a forum without routines).
        (false, None) if verb == Verb::Booked => None,
        (false, None) => return None,
        (false, Some(first)) => Some(
            forum
                .routines
                .iter()
                .find(|r| own.lines().any(|l| fold(l).starts_with(&format!("rutin: {}", fold(&r.id)))))
                .unwrap_or(first),
        ),
    };
    let sides: &[String] = routine.map(|r| r.contacts.as_slice()).unwrap_or_default();
    let vocabulary = fields(sides);
    let mut cmd = Command {
        pre_meeting: verb == Verb::Booked && fold(own).contains("formote"),
        unit: None,
        need: None,
        appointed: None,
        routine: routine.map(|r| r.id.clone()).unwrap_or_default(),
        verb,
        reference: None,
        initials: None,
        start: None,
        contacts: Vec::new(),
        representative: None,
        case_worker: None,
        booked_at: None,
        place: None,
        next_meeting: None,
        end_date: None,
        problems: Vec::new(),
    };
    let mut values: Vec<(Field, String)> = Vec::new();
    let mut current: Option<usize> = None;
    for line in own.lines() {
        if let Some(f) = vocabulary.heading(line) {
            values.push((f.field, f.rest.to_string()));
            current = Some(values.len() - 1);
        } else if let Some(i) = current
            && values[i].1.is_empty()
            && !line.trim().is_empty()
        {
            // A heading on its own line, its value on the next.
            values[i].1 = line.trim().to_string();
            current = None;
        } else if line.trim().is_empty() {
            current = None;
        }
    }
    if verb == Verb::Booked && !rest.is_empty() {
        let (at, place) = parse_booking(&rest);
        cmd.booked_at = at;
        cmd.place = place;
    }
    if verb == Verb::Booked && cmd.booked_at.is_none() {
        // "Bokat" in the subject, the time on the first line of the text.
        if let Some(first) = own.lines().map(str::trim).find(|l| !l.is_empty()) {
            let body = VERB_VOCABULARY.heading(first).map(|f| f.rest).unwrap_or(first);
            let (at, place) = parse_booking(body);
            cmd.booked_at = at;
            cmd.place = place;
        }
    }
    for (field, value) in values {
        let value = value.trim().to_string();
        if value.is_empty() || is_placeholder(&value) {
            continue;
        }
        match field {
            // As written (a unit's name for a routine per unit); a registration keeps its first word.
            Field::Reference => cmd.reference = Some(value.chars().take(80).collect::<String>().trim_end_matches('.').to_string()),
            Field::Initials => match initials(&value) {
                Some(i) => cmd.initials = Some(i),
                None => cmd
                    .problems
                    .push("Initialer: skriv bara initialer (t.ex. A.B.), aldrig hela namnet".into()),
            },
            Field::Start => match parse_date(&value) {
                Some(d) => cmd.start = Some(d),
                None => cmd
                    .problems
                    .push(format!("Startdatum: \"{value}\" är inget datum (skriv t.ex. 2026-12-01)")),
            },
            Field::Contact(i) => cmd.contacts.push((i, named(forum, &value))),
            Field::Representative => cmd.representative = Some(value),
            Field::CaseWorker => cmd.case_worker = Some(value),
            Field::NextMeeting => match parse_date(&value) {
                Some(d) => cmd.next_meeting = Some(d),
                None => cmd
                    .problems
                    .push(format!("Nästa möte: \"{value}\" är inget datum (skriv t.ex. 2027-12-01)")),
            },
            Field::EndDate => cmd.end_date = parse_date(&value),
            Field::Unit => {
                let want = fold(value.trim_end_matches('.'));
                match forum.units.iter().find(|u| fold(&u.name) == want) {
                    Some(u) => cmd.unit = Some(u.name.clone()),
                    None => {
                        let names: Vec<&str> = forum.units.iter().map(|u| u.name.as_str()).collect();
                        cmd.problems.push(format!(
                            "Enhet: \"{value}\" finns inte bland forumets enheter ({})",
                            names.join(", ")
                        ));
                    }
                }
            }
            Field::Need => cmd.need = Some(value),
        }
    }
    if verb == Verb::ThreeParty && cmd.unit.is_none() && !cmd.problems.iter().any(|p| p.starts_with("Enhet")) {
        cmd.problems
            .push("Enhet (den enhet vars handläggare ni vill bjuda in till trepartsmötet)".into());
    }
    if verb == Verb::Appointed {
        cmd.appointed = address_in(&rest).or_else(|| own.lines().take(3).find_map(address_in));
        if cmd.appointed.is_none() {
            cmd.problems
                .push("Utsedd: skriv handläggarens namn och e-postadress, t.ex. \"Utsedd: Eva Ek <eva.ek@kommun.se>\"".into());
        }
    }
    let Some(routine) = routine else { return Some(cmd) };
    if verb == Verb::Register {
        if cmd.reference.is_none() {
            cmd.problems
                .push("Referens (brukarens lokala referens, aldrig personnummer)".into());
        }
        if cmd.start.is_none() && !cmd.problems.iter().any(|p| p.starts_with("Startdatum")) {
            cmd.problems.push("Startdatum".into());
        }
        for (i, side) in routine.contacts.iter().enumerate() {
            match cmd.contacts.iter().find(|(j, _)| *j == i) {
                None => cmd.problems.push(format!("Kontaktansvarig {side}")),
                Some((_, n)) if n.address.is_none() => cmd.problems.push(format!(
                    "Kontaktansvarig {side}: \"{}\" finns inte bland forumets medlemmar (skriv e-postadressen)",
                    n.text
                )),
                Some(_) => {}
            }
        }
    }
    if verb == Verb::Booked && cmd.booked_at.is_none() {
        cmd.problems.push("Tid: skriv \"Bokat: 2027-06-03 10:00, plats\"".into());
    }
    if verb == Verb::NewContact {
        match cmd.contacts.first() {
            None => cmd.problems.push(format!(
                "Ny kontaktansvarig: skriv under vilken rubrik, t.ex. \"Kontaktansvarig {}: namn@kommun.se\"",
                routine.contacts.first().map(String::as_str).unwrap_or("")
            )),
            Some((_, n)) if n.address.is_none() => cmd.problems.push(format!(
                "Kontaktansvarig: \"{}\" finns inte bland forumets medlemmar (skriv e-postadressen)",
                n.text
            )),
            Some(_) => {}
        }
    }
    Some(cmd)
}

/// Routes a mail to a routine: the forum it is for has routines, the sender is one of its
/// members, and the mail reads as a routine mail. The one hook intake needs (pure).
pub fn route<'c>(cfg: &'c Config, v: &MailView, own: &str) -> Option<(&'c Forum, Command)> {
    let forum = crate::core::intake::forum_for(cfg, v)?;
    if crate::core::classify::classify(v) != crate::core::classify::Kind::Submission {
        return None;
    }
    forum.member(v.from.as_deref()?)?;
    read(forum, &v.subject, own).map(|c| (forum, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Deadline;
    use crate::core::testing::ts;
    use chrono_tz::Europe::Stockholm;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn nine() -> NaiveTime {
        NaiveTime::from_hms_opt(9, 0, 0).expect("t")
    }

    pub(crate) fn routine() -> Routine {
        Routine {
            id: "boende-dv".into(),
            name: "Samverkansmöte boende och daglig verksamhet".into(),
            contacts: vec!["boende".into(), "daglig verksamhet".into()],
            books: "daglig verksamhet".into(),
            first_after_months: 6,
            every_months: 12,
            ask_before: Duration::days(28),
            rsvp_reminder: Duration::days(2),
            duration: Duration::hours(1),
            place: String::new(),
            invite: Vec::new(),
            comment_remind_after: Deadline::WorkingDays(3),
            comment_within: Deadline::WorkingDays(5),
            contact_remind_after: Deadline::WorkingDays(3),
            contact_within: Deadline::WorkingDays(5),
            escalate_to: Vec::new(),
            units: Vec::new(),
            caller: None,
            first_due: None,
        }
    }

    #[test]
    fn the_first_meeting_falls_due_six_months_after_the_start_then_yearly() {
        let r = routine();
        assert_eq!(first_due(d("2026-12-07"), &r), d("2027-06-07"));
        // The 31st: the last day of the shorter month.
        assert_eq!(first_due(d("2026-08-31"), &r), d("2027-02-28"));
        assert_eq!(next_due(d("2027-06-03"), None, &r), (d("2028-06-03"), YEARLY));
    }

    #[test]
    fn an_agreed_date_counts_but_never_later_than_a_year() {
        let r = routine();
        assert_eq!(next_due(d("2027-06-03"), Some(d("2027-12-01")), &r), (d("2027-12-01"), AGREED));
        // Later than a year: "minst en gång per år" wins.
        assert_eq!(next_due(d("2027-06-03"), Some(d("2028-09-01")), &r), (d("2028-06-03"), YEARLY));
        // On or before the meeting itself is no follow-up date.
        assert_eq!(next_due(d("2027-06-03"), Some(d("2027-06-03")), &r), (d("2028-06-03"), YEARLY));
    }

    #[test]
    fn the_booker_is_asked_four_weeks_ahead_on_a_working_day_across_dst() {
        let r = routine();
        // Due Monday 5 April 2027 (summer time since 28 March): asked Monday 8 March 09:00 CET.
        assert_eq!(ask_at(d("2027-04-05"), &r, Stockholm, nine()), ts("2027-03-08T08:00:00Z"));
        // Due Monday 1 November 2027 (winter time since 31 October): asked Monday 4 October 09:00 CEST.
        assert_eq!(ask_at(d("2027-11-01"), &r, Stockholm, nine()), ts("2027-10-04T07:00:00Z"));
        // Four weeks before 22 July 2027 is Thursday 24 June, the day before Midsommarafton: kept.
        assert_eq!(ask_at(d("2027-07-22"), &r, Stockholm, nine()), ts("2027-06-24T07:00:00Z"));
        // Four weeks before Friday 22 January 2027 is Friday 25 December: Wednesday 23 December.
        assert_eq!(ask_at(d("2027-01-22"), &r, Stockholm, nine()), ts("2026-12-23T08:00:00Z"));
        // Due on Midsommarafton 2027 (Friday 25 June): overdue the Monday after, 09:00.
        assert_eq!(overdue_at(d("2027-06-25"), Stockholm, nine()), ts("2027-06-28T07:00:00Z"));
    }

    #[test]
    fn standing_follows_the_rhythm_and_a_leaving_person_stops_it() {
        let r = routine();
        let due = Some(d("2027-06-07"));
        let at = |s: &str| standing(ACTIVE, due, false, &r, Stockholm, nine(), ts(s));
        assert_eq!(at("2027-04-01T00:00:00Z"), Standing::Later);
        assert_eq!(at("2027-05-10T07:00:00Z"), Standing::DueSoon);
        assert_eq!(at("2027-06-07T07:00:00Z"), Standing::Overdue);
        assert_eq!(
            standing(ACTIVE, due, true, &r, Stockholm, nine(), ts("2027-06-07T07:00:00Z")),
            Standing::Booked
        );
        assert_eq!(
            standing(LEFT, due, false, &r, Stockholm, nine(), ts("2027-06-07T07:00:00Z")),
            Standing::Left
        );
    }

    #[test]
    fn dates_and_bookings_as_people_write_them() {
        assert_eq!(parse_date("2027-06-03"), Some(d("2027-06-03")));
        assert_eq!(parse_date("3 juni 2027"), Some(d("2027-06-03")));
        assert_eq!(parse_date("3/6 2027"), Some(d("2027-06-03")));
        assert_eq!(parse_date("June 3 2027"), None);
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("t");
        assert_eq!(
            parse_booking("2027-06-03 10:00, Verkstaden"),
            (Some(t("2027-06-03 10:00")), Some("Verkstaden".into()))
        );
        assert_eq!(
            parse_booking("3 juni 2027 kl. 10.30 i Verkstaden"),
            (Some(t("2027-06-03 10:30")), Some("Verkstaden".into()))
        );
        assert_eq!(parse_booking("2027-06-03 13:15"), (Some(t("2027-06-03 13:15")), None));
        assert_eq!(parse_booking("nästa vecka"), (None, None));
    }

    #[test]
    fn initials_only_never_a_name() {
        assert_eq!(initials("AB").as_deref(), Some("A.B."));
        assert_eq!(initials("a.b.").as_deref(), Some("A.B."));
        assert_eq!(initials("Å Ö").as_deref(), Some("Å.Ö."));
        assert_eq!(initials("Anna Berg"), None);
        assert_eq!(initials("Anna"), None);
    }

    /// A forum for seed 003: a housing unit and a daily activity, their contact persons and heads.
    pub(crate) const ROUTINE_CONFIG: &str = r#"
[database]
path = "test.db"
[imap]
host = "127.0.0.1"
tls = "none"
user = "samverkan@kommun.test"
password_env = "SAMVERKAN_TEST_UNUSED"
[smtp]
host = "127.0.0.1"
tls = "none"
[[forum]]
id = "boende-dv"
name = "Boende och daglig verksamhet"
mailbox = "brukare@kommun.test"
convenor = { name = "Sektionschef Boende", address = "sektion@kommun.test" }
[[forum.unit]]
name = "Gruppbostaden Eken"
unit_head = { name = "Eva Enhetschef", address = "eva.chef@kommun.test" }
[[forum.unit]]
name = "Verkstaden"
unit_head = { name = "Olle Enhetschef", address = "olle.chef@kommun.test" }
[[forum.member]]
name = "Lisa Boende"
address = "lisa@kommun.test"
unit = "Gruppbostaden Eken"
[[forum.member]]
name = "Dan Daglig"
address = "dan@kommun.test"
unit = "Verkstaden"
[[forum.member]]
name = "Nina Ny"
address = "nina@kommun.test"
unit = "Gruppbostaden Eken"
[[forum.routine]]
id = "boende-dv"
name = "Samverkansmöte boende och daglig verksamhet"
"#;

    fn forum() -> Forum {
        crate::config::parse(ROUTINE_CONFIG, std::path::Path::new("/t.toml"))
            .expect("routine config")
            .forums
            .remove(0)
    }

    #[test]
    fn the_config_defaults_match_seed_003() {
        let f = forum();
        let r = &f.routines[0];
        assert_eq!((r.first_after_months, r.every_months), (6, 12));
        assert_eq!((r.duration, r.ask_before), (Duration::hours(1), Duration::days(28)));
        assert_eq!(r.rsvp_reminder, Duration::days(2), "as the forum's");
        assert_eq!(r.books, "daglig verksamhet");
        assert_eq!(r.booking_side(), 1);
        assert_eq!(r.comment_within, Deadline::WorkingDays(5));
        assert_eq!(f.escalation_for(r, "dan@kommun.test"), vec!["olle.chef@kommun.test".to_string()]);
    }

    #[test]
    fn every_routine_mistake_is_named_by_its_key() {
        let bad = format!(
            "{ROUTINE_CONFIG}books = \"boendet\"\nevery_months = 0\ncomment_within = 2\ninvite = [\"okand@kommun.test\"]\nrsvp_reminder = \"90d\"\n\
             [[forum.routine]]\nid = \"boende-dv\"\nname = \"Info\"\ncontacts = [\"ansvarig\"]\nbooks = \"ansvarig\"\n\
             units = [\"Okänd enhet\"]\nfirst_due = \"1 mars\"\n"
        );
        let problems = crate::config::parse(&bad, std::path::Path::new("/t.toml")).expect_err("invalid");
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "forum[0].routine[0].books",
            "forum[0].routine[0].every_months",
            "forum[0].routine[0].comment_within",
            "forum[0].routine[0].invite[0]",
            "forum[0].routine[0].rsvp_reminder",
            "forum[0].routine[1].id",
            "forum[0].routine[1].units[0]",
            "forum[0].routine[1].caller",
            "forum[0].routine[1].first_due",
        ] {
            assert!(keys.contains(&key), "{key} not named: {problems:?}");
        }
    }

    #[test]
    fn a_registration_in_any_order_and_case() {
        let f = forum();
        let c = read(
            &f,
            "Ny brukare",
            "Hej!\n\nREFERENS: AB-12\nkontaktansvarig daglig verksamhet: Dan Daglig <dan@kommun.test>\n\
             Startdatum: 2026-12-01\nKontaktansvarig boende - lisa@kommun.test\nInitialer: A.B.\nFöreträdare: -\n\n\
             Med vänlig hälsning\nDan",
        )
        .expect("routine mail");
        assert_eq!(c.verb, Verb::Register);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.reference.as_deref(), Some("AB-12"));
        assert_eq!(c.initials.as_deref(), Some("A.B."));
        assert_eq!(c.start, Some(d("2026-12-01")));
        let addr = |i: usize| c.contacts.iter().find(|(j, _)| *j == i).and_then(|(_, n)| n.address.clone());
        assert_eq!(addr(0).as_deref(), Some("lisa@kommun.test"));
        assert_eq!(addr(1).as_deref(), Some("dan@kommun.test"));
        assert_eq!(c.representative, None, "a placeholder is no answer");
    }

    #[test]
    fn a_registration_names_what_is_missing_in_swedish() {
        let f = forum();
        let c = read(
            &f,
            "Sv: ny brukare",
            "Referens: AB-12\nKontaktansvarig boendet: Okänd Person\nInitialer: Anna Berg\n",
        )
        .expect("routine mail");
        assert_eq!(
            c.problems,
            vec![
                "Initialer: skriv bara initialer (t.ex. A.B.), aldrig hela namnet".to_string(),
                "Startdatum".into(),
                "Kontaktansvarig boende: \"Okänd Person\" finns inte bland forumets medlemmar (skriv e-postadressen)".into(),
                "Kontaktansvarig daglig verksamhet".into(),
            ]
        );
    }

    #[test]
    fn english_headings_and_a_heading_on_its_own_line() {
        let f = forum();
        let c = read(
            &f,
            "New client",
            "Reference:\nCD-7\nStart date: 1 December 2026\nContact person boende: lisa@kommun.test\nContact person daglig verksamhet: Dan Daglig\n",
        )
        .expect("routine mail");
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.reference.as_deref(), Some("CD-7"));
        assert_eq!(c.start, Some(d("2026-12-01")));
    }

    #[test]
    fn the_other_verbs() {
        let f = forum();
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("t");
        let c = read(
            &f,
            "Sv: Dags att boka samverkansmöte AB-12 (A.B.)",
            "Bokat: 2027-06-03 10:00, Verkstaden\n\n> citat",
        )
        .expect("b");
        assert_eq!(
            (c.verb, c.booked_at, c.place.as_deref()),
            (Verb::Booked, Some(t("2027-06-03 10:00")), Some("Verkstaden"))
        );
        let c = read(&f, "Bokat: 2027-06-03 10:00", "Referens: AB-12").expect("b");
        assert_eq!(
            (c.booked_at, c.place.as_deref(), c.reference.as_deref()),
            (Some(t("2027-06-03 10:00")), None, Some("AB-12"))
        );
        let c = read(&f, "Bokat", "nästa vecka någon gång").expect("b");
        assert_eq!(c.problems, vec!["Tid: skriv \"Bokat: 2027-06-03 10:00, plats\"".to_string()]);
        let c = read(
            &f,
            "Re: Vem skrev anteckningarna?",
            "Anteckningar skickade.\nNästa möte: 2027-12-01\n",
        )
        .expect("n");
        assert_eq!((c.verb, c.next_meeting), (Verb::NotesSent, Some(d("2027-12-01"))));
        assert_eq!(read(&f, "Sv: x", "Inga kommentarer").map(|c| c.verb), Some(Verb::Commented));
        assert_eq!(
            read(&f, "Sv: x", "Kommenterat, två små ändringar.").map(|c| c.verb),
            Some(Verb::Commented)
        );
        assert_eq!(read(&f, "Sv: x", "Kommentarer till punkt 2 nedan"), None, "prose is not the verb");
        let c = read(&f, "Ny kontaktansvarig AB-12", "Kontaktansvarig boende: nina@kommun.test").expect("k");
        assert_eq!(c.verb, Verb::NewContact);
        assert_eq!(
            c.contacts,
            vec![(
                0,
                Named {
                    address: Some("nina@kommun.test".into()),
                    text: "nina@kommun.test".into()
                }
            )]
        );
        assert_eq!(
            read(&f, "Sv: Ny kontaktansvarig", "Kontakt tagen!").map(|c| c.verb),
            Some(Verb::ContactMade)
        );
        assert_eq!(
            read(&f, "Avslutad", "Referens: AB-12\nSlutdatum: 2027-08-31").map(|c| (c.verb, c.end_date)),
            Some((Verb::Left, Some(d("2027-08-31"))))
        );
        assert_eq!(read(&f, "Ärende till samverkansmötet", "Namn och ålder: A.B. 15 år"), None);
        assert_eq!(
            read(&f, "Avslutade ärenden i december", "Hej"),
            None,
            "a longer word is not the verb"
        );
    }

    #[test]
    fn a_three_party_request_and_the_appointment() {
        let f = forum();
        let c = read(
            &f,
            "Förfrågan om trepartsmöte",
            "Hej!\nEnhet: verkstaden\nReferens: AB-12\nBehov: stöd i vardagen efter 65\n",
        )
        .expect("tp");
        assert_eq!(
            (c.verb, c.unit.as_deref(), c.problems.len()),
            (Verb::ThreeParty, Some("Verkstaden"), 0)
        );
        let c = read(&f, "Trepartsmöte", "Enhet: Hemtjänsten").expect("tp");
        assert_eq!(
            c.problems,
            vec!["Enhet: \"Hemtjänsten\" finns inte bland forumets enheter (Gruppbostaden Eken, Verkstaden)".to_string()]
        );
        let c = read(&f, "SV: Förfrågan om trepartsmöte", "Utsedd: Eva Ek <Eva.Ek@kommun.test>\n\nMvh").expect("u");
        assert_eq!((c.verb, c.appointed.as_deref()), (Verb::Appointed, Some("eva.ek@kommun.test")));
        assert_eq!(read(&f, "SV: x", "Utsedd: Eva").map(|c| c.problems.len()), Some(1));
    }

    #[test]
    fn the_vocabularies_have_no_two_fields_one_line_could_match() {
        assert_eq!(VERB_VOCABULARY.conflicts(), Vec::<(String, String)>::new());
        assert_eq!(fields(&routine().contacts).conflicts(), Vec::<(String, String)>::new());
    }
}
