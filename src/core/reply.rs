//! Reading answers to meeting invitations: iTIP `REPLY` and `COUNTER` (RFC 5546) as real
//! clients send them by iMIP (RFC 6047), and answers that carry nothing but a subject.
//!
//! [`read_reply`] is pure: a parsed [`MailView`] in, a [`Reply`] out. It never panics, whatever
//! the input (the calendar parser runs under `catch_unwind` as a last line of defence).
//!
//! # Calendar answers
//!
//! The calendar parts of the mail (`text/calendar` parts and `.ics` attachments, in MIME order)
//! are tried one by one; the first that yields an answer wins. Gmail sends the same object twice
//! (inline and as `invite.ics`), Apple sends only an attachment without `method=`.
//!
//! - The method is the MIME `method=` parameter, else the calendar's `METHOD` (as
//!   [`classify`](crate::core::classify) decides it). Only `REPLY` and `COUNTER` are answers; a
//!   part with another method (a forwarded `REQUEST`) makes the whole mail no answer.
//! - The event is the first `VEVENT` that has a usable `ATTENDEE`, trying the master (no
//!   `RECURRENCE-ID`) before the overrides of single occurrences.
//! - The attendee: one whose address equals the mail's From or Reply-To (Nextcloud and Baikal
//!   send from a no-reply address with the attendee in Reply-To), else the first with a
//!   `PARTSTAT` other than `NEEDS-ACTION`, else the first. The address is the `mailto:` value,
//!   or the `EMAIL` parameter when the value is not a mail address (`urn:uuid:…`), lowercased.
//! - `PARTSTAT` of a `REPLY` must be `ACCEPTED`, `DECLINED`, `TENTATIVE` or `DELEGATED`
//!   (attendees with another status are not candidates). A `COUNTER` is a proposal, so the
//!   attendee's `NEEDS-ACTION` (or a missing `PARTSTAT`) is reported as `TENTATIVE`.
//! - Outlook/Exchange omit `ORGANIZER` in replies; nothing here needs it.
//! - Times become UTC basic format (`20261208T120000Z`). A `TZID` that names a `VTIMEZONE` in
//!   the calendar is resolved by that `VTIMEZONE`'s rules whatever its name (RFC 5545 3.2.19,
//!   3.6.5; Outlook's `Customized Time Zone`), see [`crate::core::vtimezone`]; any other by
//!   `calcard`, which knows IANA names, Windows names (`W. Europe Standard Time`) and Exchange's
//!   numeric zone ids. `DATE` values stay dates (`20261208`). A time whose zone cannot be
//!   resolved (a `TZID` with neither, or a floating time) is kept as local wall-clock time
//!   **without** `Z`, so it can never pass for UTC, and [`Reply::unresolved_tzid`] names the
//!   zone; callers match answers on `UID`/`SEQUENCE`, not on times. A local
//!   time that falls into a DST gap takes the offset in force before the gap (RFC 5545 §3.3.5);
//!   one that occurs twice takes the earlier instant.
//! - The comment is the event's `COMMENT` (Outlook, Exchange), else the attendee's
//!   `X-RESPONSE-COMMENT` parameter (Google Calendar's "reply with note"). `COMMENT` is
//!   unescaped by the parser (`\,` `\;` `\\` `\n`), the parameter by RFC 6868 (`^n` `^^` `^'`);
//!   line ends are normalised and the text trimmed. Blank comments (Outlook sends `COMMENT:\n`)
//!   are `None`.
//!
//! # Subject-only answers
//!
//! When no calendar part yields an answer (none at all, a TNEF `winmail.dat` from on-premises
//! Exchange, a broken `.ics`), the subject is read against [`ANSWER_SUBJECTS`]: the prefixes
//! Outlook, Gmail, Thunderbird and Apple write, in English and Swedish. The attendee is then the
//! From address; `uid` and `sequence` are `None` and the answer is matched by the invitation's
//! Message-ID in `in_reply_to`.
//!
//! A prefix must start the subject. `SV: Accepterat: …` or `Re: Accepted: …` is a person
//! answering (or forwarding) an answer, not an answer to the invitation: it is not read as one
//! and goes to the human path, where someone reads it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use calcard::common::PartialDateTime;
use calcard::common::timezone::Tz;
use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarMethod, ICalendarParameterName,
    ICalendarParameterValue, ICalendarParticipationStatus, ICalendarProperty, ICalendarValue,
};
use chrono::{NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone};
use serde::Serialize;

use std::collections::HashMap;

use crate::core::vtimezone::{self, Zone};
use crate::mail::view::MailView;

/// The attendee accepts.
pub const ACCEPTED: &str = "ACCEPTED";
/// The attendee declines.
pub const DECLINED: &str = "DECLINED";
/// The attendee may come (also every `COUNTER`).
pub const TENTATIVE: &str = "TENTATIVE";
/// The attendee sends someone else (see [`Reply::delegated_to`]).
pub const DELEGATED: &str = "DELEGATED";

/// Subject prefixes of answers to an invitation (lowercase, matched case-insensitively at the
/// start of the trimmed subject) and the participation status each one means.
///
/// Longer prefixes that share a start with shorter ones need no special order: every entry
/// ends in `:`, so `preliminärt:` cannot match `Preliminärt accepterat: …`.
pub const ANSWER_SUBJECTS: &[(&str, &str)] = &[
    // Outlook, Thunderbird and Gmail in English. Gmail: "Accepted: <title> @ <date> (<addr>)".
    ("accepted:", ACCEPTED),
    ("declined:", DECLINED),
    ("tentative:", TENTATIVE),
    ("tentatively accepted:", TENTATIVE),
    // Thunderbird in English writes "Invitation Declined:".
    ("invitation declined:", DECLINED),
    ("invitation accepted:", ACCEPTED),
    // Outlook and Gmail in Swedish.
    ("accepterat:", ACCEPTED),
    ("avböjt:", DECLINED),
    ("preliminärt:", TENTATIVE),
    ("preliminärt accepterat:", TENTATIVE),
    // Thunderbird in Swedish.
    ("accepterad:", ACCEPTED),
    ("inbjudan avvisades:", DECLINED),
    ("preliminär:", TENTATIVE),
    // Apple in Swedish, and the participle people type themselves.
    ("inbjudan accepterad:", ACCEPTED),
    ("inbjudan avböjd:", DECLINED),
    ("avböjd:", DECLINED),
];

/// One answer to a meeting invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// The `VEVENT` `UID`; `None` for subject-only answers.
    pub uid: Option<String>,
    /// The occurrence answered (`RECURRENCE-ID`) as UTC basic format `20261208T120000Z`, or
    /// `20261208` for a `DATE`; local time without `Z` when its zone is unknown.
    pub recurrence_id: Option<String>,
    /// The answering attendee's address, lowercased, without `mailto:`.
    pub attendee: String,
    /// `ACCEPTED`, `DECLINED`, `TENTATIVE` or `DELEGATED`.
    pub partstat: String,
    /// The `SEQUENCE` of the invitation answered.
    pub sequence: Option<u32>,
    /// The attendee's note: `COMMENT`, else Google's `X-RESPONSE-COMMENT` parameter; unescaped
    /// and trimmed.
    pub comment: Option<String>,
    /// `icalendar` (read from calendar data) or `subject` (read from the subject alone).
    pub source: String,
    /// The delegate's address from `DELEGATED-TO`, lowercased.
    pub delegated_to: Option<String>,
    /// `COUNTER`: the proposed start (`DTSTART`), UTC.
    pub proposed_start: Option<String>,
    /// `COUNTER`: the proposed end (`DTEND`, or `DTSTART` + `DURATION`), UTC.
    pub proposed_end: Option<String>,
    /// `COUNTER`: the start the proposal replaces, from Outlook's `X-MS-OLK-ORIGINALSTART`, UTC.
    pub original_start: Option<String>,
    /// The mail's In-Reply-To and References ids, in that order, without duplicates: to find
    /// the invitation by its Message-ID when there is no `UID`.
    pub in_reply_to: Vec<String>,
    /// A `TZID` of a reported time that is neither a known zone name nor defined by a
    /// `VTIMEZONE` in the calendar: that time is local wall-clock time without `Z`, and this
    /// says so. Absent (and not serialised) when every zone was resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unresolved_tzid: Option<String>,
}

/// Reads the answer to a meeting invitation from a mail; see the module documentation.
/// `None` when the mail carries no readable answer.
pub fn read_reply(v: &MailView) -> Option<Reply> {
    let mut foreign_method = false;
    for part in &v.calendars {
        let Some(ical) = parse_calendar(&part.text) else {
            continue;
        };
        let method = part.effective_method().or_else(|| calendar_method(&ical).map(str::to_string));
        let counter = match method.as_deref() {
            Some("REPLY") => false,
            Some("COUNTER") => true,
            Some(_) => {
                foreign_method = true;
                continue;
            }
            None => continue,
        };
        if let Some(reply) = read_calendar(&ical, counter, v) {
            return Some(reply);
        }
    }
    if foreign_method {
        return None;
    }
    let partstat = answer_in_subject(&v.subject)?;
    Some(Reply {
        uid: None,
        recurrence_id: None,
        attendee: v.from.clone().filter(|a| !a.is_empty())?,
        partstat: partstat.to_string(),
        sequence: None,
        comment: None,
        source: "subject".to_string(),
        delegated_to: None,
        proposed_start: None,
        proposed_end: None,
        original_start: None,
        in_reply_to: reply_ids(v),
        unresolved_tzid: None,
    })
}

/// The participation status an answer subject stands for ([`ANSWER_SUBJECTS`]), if the subject
/// starts with one of the prefixes.
pub fn answer_in_subject(subject: &str) -> Option<&'static str> {
    let subject = subject.trim_start().to_lowercase();
    ANSWER_SUBJECTS
        .iter()
        .find(|(prefix, _)| subject.starts_with(prefix))
        .map(|&(_, partstat)| partstat)
}

/// Parses one calendar object; `None` when it is not one. A panic in the parser on hostile
/// input counts as "not a calendar".
fn parse_calendar(text: &str) -> Option<ICalendar> {
    catch_unwind(AssertUnwindSafe(|| ICalendar::parse(text))).ok()?.ok()
}

/// The `METHOD` of the `VCALENDAR`, uppercased.
fn calendar_method(ical: &ICalendar) -> Option<&str> {
    let root = ical
        .components
        .iter()
        .find(|c| c.component_type == ICalendarComponentType::VCalendar)?;
    match root.property(&ICalendarProperty::Method)?.values.first()? {
        ICalendarValue::Method(ICalendarMethod::Reply) => Some("REPLY"),
        ICalendarValue::Method(ICalendarMethod::Counter) => Some("COUNTER"),
        ICalendarValue::Method(_) | ICalendarValue::Text(_) => Some("OTHER"),
        _ => None,
    }
}

/// How the calendar's `TZID`s are resolved: a `VTIMEZONE` in the object by its own rules
/// (RFC 5545 3.2.19, whatever its name), else a name `calcard` knows (IANA, Windows, Exchange's
/// numeric ids, or a `VTIMEZONE` that names one in `X-LIC-LOCATION`/`X-MICROSOFT-CDO-TZID`).
struct Zones<'a> {
    embedded: HashMap<String, Zone>,
    resolver: TzResolver<&'a str>,
}

impl Zones<'_> {
    fn of(ical: &ICalendar) -> Zones<'_> {
        Zones {
            embedded: vtimezone::zones(ical),
            resolver: ical.build_tz_resolver(),
        }
    }

    /// A wall-clock time in zone `id` as UTC; `None` when the zone is unknown or floating.
    fn to_utc(&self, id: &str, t: NaiveDateTime) -> Option<NaiveDateTime> {
        if let Some(zone) = self.embedded.get(id) {
            return zone.local_to_utc(t);
        }
        match self.resolver.resolve(id) {
            Some(tz) if !tz.is_floating() => local_to_utc(&tz, t),
            _ => None,
        }
    }

    fn knows(&self, id: &str) -> bool {
        self.embedded.contains_key(id) || self.resolver.resolve(id).is_some_and(|tz| !tz.is_floating())
    }
}

fn read_calendar(ical: &ICalendar, counter: bool, v: &MailView) -> Option<Reply> {
    let resolver = Zones::of(ical);
    let events = ical
        .components
        .iter()
        .filter(|c| c.component_type == ICalendarComponentType::VEvent);
    let (masters, overrides): (Vec<_>, Vec<_>) = events.partition(|e| !e.has_property(&ICalendarProperty::RecurrenceId));
    masters
        .into_iter()
        .chain(overrides)
        .find_map(|event| read_event(event, counter, v, &resolver))
}

/// One `ATTENDEE` line, read.
struct Attendee {
    address: String,
    /// The `PARTSTAT` as the answer reports it; `None` when it is no answer.
    partstat: Option<&'static str>,
    /// Whether the line says `NEEDS-ACTION` (explicitly or by omission).
    needs_action: bool,
    delegated_to: Option<String>,
    /// Google's `X-RESPONSE-COMMENT` parameter, RFC 6868-decoded.
    note: Option<String>,
}

fn read_event(event: &ICalendarComponent, counter: bool, v: &MailView, resolver: &Zones) -> Option<Reply> {
    let attendees: Vec<Attendee> = event
        .properties(&ICalendarProperty::Attendee)
        .filter_map(|entry| read_attendee(entry, counter))
        .filter(|a| a.partstat.is_some())
        .collect();
    let own = |a: &&Attendee| {
        [v.from.as_deref(), v.reply_to.as_deref()]
            .into_iter()
            .flatten()
            .any(|addr| addr == a.address)
    };
    let chosen = attendees
        .iter()
        .find(own)
        .or_else(|| attendees.iter().find(|a| !a.needs_action))
        .or_else(|| attendees.first())?;

    let time = |prop: &ICalendarProperty| event.property(prop).and_then(|entry| resolve_time(entry, resolver));
    let original_prop = ICalendarProperty::Other("X-MS-OLK-ORIGINALSTART".into());
    let mut reported = vec![ICalendarProperty::RecurrenceId];
    if counter {
        reported.extend([ICalendarProperty::Dtstart, ICalendarProperty::Dtend, original_prop.clone()]);
    }
    let unresolved_tzid = reported
        .iter()
        .flat_map(|prop| event.properties(prop))
        .filter(
            |entry| !matches!(entry.values.first(), Some(ICalendarValue::PartialDateTime(p)) if p.hour.is_none() || p.tz_hour.is_some()),
        )
        .filter_map(|entry| entry.tz_id())
        .find(|id| !resolver.knows(id))
        .map(str::to_string);
    let (proposed_start, proposed_end, original_start) = if counter {
        let start = time(&ICalendarProperty::Dtstart);
        let end = time(&ICalendarProperty::Dtend).or_else(|| {
            let duration = event.property(&ICalendarProperty::Duration)?.values.first()?;
            match duration {
                ICalendarValue::Duration(d) => start?.plus(d.to_time_delta()?),
                _ => None,
            }
        });
        let original = event.properties(&original_prop).find_map(|entry| resolve_time(entry, resolver));
        (
            start.map(|t| t.to_string()),
            end.map(|t| t.to_string()),
            original.map(|t| t.to_string()),
        )
    } else {
        (None, None, None)
    };

    Some(Reply {
        uid: text_of(event, &ICalendarProperty::Uid),
        recurrence_id: time(&ICalendarProperty::RecurrenceId).map(|t| t.to_string()),
        attendee: chosen.address.clone(),
        partstat: chosen.partstat?.to_string(),
        sequence: event
            .property(&ICalendarProperty::Sequence)
            .and_then(|entry| entry.values.first())
            .and_then(|value| match value {
                ICalendarValue::Integer(i) => u32::try_from(*i).ok(),
                ICalendarValue::Text(t) => t.trim().parse().ok(),
                _ => None,
            }),
        comment: comment_of(event).or_else(|| chosen.note.clone()),
        source: "icalendar".to_string(),
        delegated_to: chosen.delegated_to.clone(),
        proposed_start,
        proposed_end,
        original_start,
        in_reply_to: reply_ids(v),
        unresolved_tzid,
    })
}

fn read_attendee(entry: &ICalendarEntry, counter: bool) -> Option<Attendee> {
    let address = entry.calendar_address().and_then(mail_address).or_else(|| {
        entry
            .parameters(&ICalendarParameterName::Email)
            .find_map(|p| p.as_text().and_then(mail_address))
    })?;
    let status = entry.parameter(&ICalendarParameterName::Partstat);
    let needs_action = matches!(
        status,
        None | Some(ICalendarParameterValue::Partstat(ICalendarParticipationStatus::NeedsAction))
    );
    let partstat = match status {
        Some(ICalendarParameterValue::Partstat(p)) => match p {
            ICalendarParticipationStatus::Accepted => Some(ACCEPTED),
            ICalendarParticipationStatus::Declined => Some(DECLINED),
            ICalendarParticipationStatus::Tentative => Some(TENTATIVE),
            ICalendarParticipationStatus::Delegated => Some(DELEGATED),
            _ => None,
        },
        _ => None,
    }
    .or((counter && needs_action).then_some(TENTATIVE));
    let delegated_to = entry
        .parameters(&ICalendarParameterName::DelegatedTo)
        .find_map(|p| p.as_text().and_then(mail_address));
    let note = entry
        .params
        .iter()
        .filter(|p| {
            matches!(&p.name, ICalendarParameterName::Other(name)
                if name.eq_ignore_ascii_case("X-RESPONSE-COMMENT"))
        })
        .find_map(|p| p.value.as_text())
        .map(decode_rfc6868)
        .and_then(|t| clean_text(&t));
    Some(Attendee {
        address,
        partstat,
        needs_action,
        delegated_to,
        note,
    })
}

/// Decodes RFC 6868 parameter escapes: `^n` newline, `^'` double quote, `^^` caret.
fn decode_rfc6868(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '^' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') | Some('N') => out.push('\n'),
            Some('\'') => out.push('"'),
            Some('^') => out.push('^'),
            Some(other) => {
                out.push('^');
                out.push(other);
            }
            None => out.push('^'),
        }
    }
    out
}

/// Line ends normalised to `\n`, trimmed; `None` when blank.
fn clean_text(text: &str) -> Option<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A calendar address as a lowercased mail address: `mailto:` stripped (any case), `None`
/// when what is left is not an address (`urn:uuid:…`).
fn mail_address(value: &str) -> Option<String> {
    let value = value.trim().trim_matches('"');
    let value = match value.split_once(':') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mailto") => rest,
        _ => value,
    };
    let value = value.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, domain) = value.split_once('@')?;
    let plausible = !local.is_empty() && !domain.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == ':' || c == '/');
    plausible.then(|| value.to_lowercase())
}

fn text_of(event: &ICalendarComponent, prop: &ICalendarProperty) -> Option<String> {
    event
        .property(prop)?
        .values
        .first()?
        .as_text()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn comment_of(event: &ICalendarComponent) -> Option<String> {
    event
        .properties(&ICalendarProperty::Comment)
        .filter_map(|entry| entry.values.first()?.as_text())
        .map(|t| t.replace("\r\n", "\n").replace('\r', "\n").trim().to_string())
        .find(|t| !t.is_empty())
}

fn reply_ids(v: &MailView) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in v.in_reply_to.iter().chain(&v.references) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// A time read from a calendar and resolved as far as its zone allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Instant {
    /// A `DATE` value.
    Date(NaiveDate),
    /// A date-time in UTC.
    Utc(NaiveDateTime),
    /// A date-time whose zone is unknown (floating, or an unresolvable `TZID`).
    Local(NaiveDateTime),
}

impl Instant {
    fn plus(self, delta: TimeDelta) -> Option<Instant> {
        match self {
            Instant::Date(d) => d.and_hms_opt(0, 0, 0)?.checked_add_signed(delta).map(|t| Instant::Date(t.date())),
            Instant::Utc(t) => t.checked_add_signed(delta).map(Instant::Utc),
            Instant::Local(t) => t.checked_add_signed(delta).map(Instant::Local),
        }
    }
}

impl std::fmt::Display for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Instant::Date(d) => write!(f, "{}", d.format("%Y%m%d")),
            Instant::Utc(t) => write!(f, "{}", t.format("%Y%m%dT%H%M%SZ")),
            Instant::Local(t) => write!(f, "{}", t.format("%Y%m%dT%H%M%S")),
        }
    }
}

/// A date or date-time as written in a calendar, before its `TZID` is applied.
enum Written {
    Date(NaiveDate),
    /// With its UTC offset (`Z` is 0).
    Fixed(NaiveDateTime, i32),
    /// Without an offset: local to the `TZID`, or floating.
    Local(NaiveDateTime),
}

/// The time of a date/date-time property (`DTSTART`, `RECURRENCE-ID`, …), or of an `X-`
/// property whose value is a date-time written as text (`X-MS-OLK-ORIGINALSTART`).
fn resolve_time(entry: &ICalendarEntry, resolver: &Zones) -> Option<Instant> {
    let written = match entry.values.first()? {
        ICalendarValue::PartialDateTime(p) => written_of_partial(p)?,
        ICalendarValue::Text(t) => written_of_text(t)?,
        _ => return None,
    };
    Some(match written {
        Written::Date(d) => Instant::Date(d),
        Written::Fixed(t, offset) => Instant::Utc(t.checked_sub_signed(TimeDelta::seconds(i64::from(offset)))?),
        Written::Local(t) => match entry.tz_id() {
            Some(id) if resolver.knows(id) => Instant::Utc(resolver.to_utc(id, t)?),
            _ => Instant::Local(t),
        },
    })
}

fn written_of_partial(p: &PartialDateTime) -> Option<Written> {
    let date = NaiveDate::from_ymd_opt(i32::from(p.year?), u32::from(p.month?), u32::from(p.day?))?;
    let Some(hour) = p.hour else {
        return Some(Written::Date(date));
    };
    let time = date.and_hms_opt(
        u32::from(hour),
        u32::from(p.minute.unwrap_or(0)),
        u32::from(p.second.unwrap_or(0)).min(59),
    )?;
    Some(match p.tz_hour {
        Some(h) => {
            let secs = i32::from(h) * 3600 + i32::from(p.tz_minute.unwrap_or(0)) * 60;
            Written::Fixed(time, if p.tz_minus { -secs } else { secs })
        }
        None => Written::Local(time),
    })
}

/// `20261208`, `20261208T130000` or `20261208T130000Z`.
fn written_of_text(text: &str) -> Option<Written> {
    let text = text.trim();
    if let Some(utc) = text.strip_suffix(['Z', 'z']) {
        let t = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?;
        return Some(Written::Fixed(t, 0));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S") {
        return Some(Written::Local(t));
    }
    NaiveDate::parse_from_str(text, "%Y%m%d").ok().map(Written::Date)
}

/// A wall-clock time in `tz` as UTC. A time that occurs twice (autumn) is the earlier instant;
/// one that does not occur (spring gap) is read with the offset in force before the gap.
fn local_to_utc(tz: &Tz, t: NaiveDateTime) -> Option<NaiveDateTime> {
    if let Some(dt) = tz.from_local_datetime(&t).earliest() {
        return Some(dt.naive_utc());
    }
    let before = t.checked_sub_signed(TimeDelta::days(1))?;
    let offset = tz.offset_from_utc_datetime(&before).fix().local_minus_utc();
    t.checked_sub_signed(TimeDelta::seconds(i64::from(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::view::CalendarPart;

    fn view(subject: &str, from: &str, calendars: &[(&str, Option<&str>)]) -> MailView {
        MailView {
            subject: subject.to_string(),
            from: Some(from.to_string()),
            calendars: calendars
                .iter()
                .map(|(text, method)| CalendarPart {
                    method: method.map(str::to_string),
                    text: text.replace('\n', "\r\n"),
                })
                .collect(),
            ..MailView::default()
        }
    }

    const WINDOWS_TZ: &str = "BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
";

    fn calendar(method: &str, event: &str) -> String {
        format!(
            "BEGIN:VCALENDAR\nMETHOD:{method}\nPRODID:Microsoft Exchange Server 2010\nVERSION:2.0\n{WINDOWS_TZ}BEGIN:VEVENT\n{event}END:VEVENT\nEND:VCALENDAR\n"
        )
    }

    #[test]
    fn windows_tzid_recurrence_id_is_utc() {
        let ics = calendar(
            "REPLY",
            "ATTENDEE;PARTSTAT=ACCEPTED;CN=Lars Ek:mailto:Lars.Ek@Kommun.test
UID:iof-aof-20261208@kommun.test
RECURRENCE-ID;TZID=\"W. Europe Standard Time\":20261208T130000
SEQUENCE:3
",
        );
        let r = read_reply(&view("Accepterat: x", "lars.ek@kommun.test", &[(&ics, None)])).expect("reply");
        assert_eq!(r.recurrence_id.as_deref(), Some("20261208T120000Z"));
        assert_eq!(r.uid.as_deref(), Some("iof-aof-20261208@kommun.test"));
        assert_eq!(r.attendee, "lars.ek@kommun.test");
        assert_eq!(r.partstat, ACCEPTED);
        assert_eq!(r.sequence, Some(3));
        assert_eq!(r.source, "icalendar");
        assert_eq!(r.proposed_start, None);
    }

    #[test]
    fn a_zone_defined_in_the_calendar_is_resolved_by_its_rules_whatever_its_name() {
        let tz = WINDOWS_TZ.replace("W. Europe Standard Time", "Customized Time Zone");
        for (local, utc) in [("20261208T130000", "20261208T120000Z"), ("20260610T130000", "20260610T110000Z")] {
            let ics = format!(
                "BEGIN:VCALENDAR\nMETHOD:REPLY\nVERSION:2.0\n{tz}BEGIN:VEVENT\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a@kommun.test\n\
                 UID:u\nRECURRENCE-ID;TZID=Customized Time Zone:{local}\nEND:VEVENT\nEND:VCALENDAR\n"
            );
            let r = read_reply(&view("x", "a@kommun.test", &[(&ics, None)])).expect("reply");
            assert_eq!(r.recurrence_id.as_deref(), Some(utc));
            assert_eq!(r.unresolved_tzid, None);
        }
    }

    #[test]
    fn summer_time_date_values_and_unknown_zones() {
        let mk = |line: &str| {
            calendar(
                "REPLY",
                &format!("ATTENDEE;PARTSTAT=DECLINED:mailto:a@kommun.test\nUID:u\n{line}\n"),
            )
        };
        let rid = |line: &str| read_reply(&view("x", "a@kommun.test", &[(&mk(line), None)])).and_then(|r| r.recurrence_id);
        assert_eq!(
            rid("RECURRENCE-ID;TZID=W. Europe Standard Time:20260610T130000").as_deref(),
            Some("20260610T110000Z")
        );
        assert_eq!(
            rid("RECURRENCE-ID;TZID=Europe/Stockholm:20261208T130000").as_deref(),
            Some("20261208T120000Z")
        );
        assert_eq!(rid("RECURRENCE-ID;VALUE=DATE:20261208").as_deref(), Some("20261208"));
        assert_eq!(rid("RECURRENCE-ID:20261208T120000Z").as_deref(), Some("20261208T120000Z"));
        // Unknown zone: no panic, no fake UTC, and the answer says which zone was unknown.
        assert_eq!(
            rid("RECURRENCE-ID;TZID=Mars Standard Time:20261208T130000").as_deref(),
            Some("20261208T130000")
        );
        let r = read_reply(&view(
            "x",
            "a@kommun.test",
            &[(&mk("RECURRENCE-ID;TZID=Mars Standard Time:20261208T130000"), None)],
        ));
        assert_eq!(r.and_then(|r| r.unresolved_tzid).as_deref(), Some("Mars Standard Time"));
        let r = read_reply(&view(
            "x",
            "a@kommun.test",
            &[(&mk("RECURRENCE-ID;TZID=Europe/Stockholm:20261208T130000"), None)],
        ));
        assert_eq!(r.and_then(|r| r.unresolved_tzid), None);
        // Spring gap: 02:30 does not exist on 29 March 2026; read with +01:00.
        assert_eq!(
            rid("RECURRENCE-ID;TZID=Europe/Stockholm:20260329T023000").as_deref(),
            Some("20260329T013000Z")
        );
    }

    #[test]
    fn attendee_choice() {
        let ics = calendar(
            "REPLY",
            "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:maria.lind@kommun.test
ATTENDEE;PARTSTAT=DECLINED:mailto:per.holm@kommun.test
ATTENDEE;PARTSTAT=ACCEPTED:mailto:anna.berg@kommun.test
UID:u
",
        );
        // From matches the third.
        let r = read_reply(&view("x", "anna.berg@kommun.test", &[(&ics, None)])).expect("r");
        assert_eq!((r.attendee.as_str(), r.partstat.as_str()), ("anna.berg@kommun.test", ACCEPTED));
        // Reply-To matches (Nextcloud/Baikal send from noreply).
        let mut v = view("x", "noreply@moln.kommun.test", &[(&ics, None)]);
        v.reply_to = Some("per.holm@kommun.test".into());
        let r = read_reply(&v).expect("r");
        assert_eq!((r.attendee.as_str(), r.partstat.as_str()), ("per.holm@kommun.test", DECLINED));
        // No match: the first with an answer, never NEEDS-ACTION in a REPLY.
        let r = read_reply(&view("x", "someone@else.test", &[(&ics, None)])).expect("r");
        assert_eq!(r.attendee, "per.holm@kommun.test");
        // From is an attendee that has not answered: it is no candidate in a REPLY.
        let r = read_reply(&view("x", "maria.lind@kommun.test", &[(&ics, None)])).expect("r");
        assert_eq!(r.attendee, "per.holm@kommun.test");
    }

    #[test]
    fn attendee_by_email_parameter_and_delegation() {
        let ics = calendar(
            "REPLY",
            "ATTENDEE;EMAIL=Maria.Lind@kommun.test;PARTSTAT=DELEGATED;DELEGATED-TO=\"mailto:Karin.Sjo@kommun.test\":urn:uuid:8f1c
UID:u
",
        );
        let r = read_reply(&view("x", "maria.lind@kommun.test", &[(&ics, None)])).expect("r");
        assert_eq!(r.attendee, "maria.lind@kommun.test");
        assert_eq!(r.partstat, DELEGATED);
        assert_eq!(r.delegated_to.as_deref(), Some("karin.sjo@kommun.test"));
    }

    #[test]
    fn reply_without_answer_status_is_no_calendar_answer() {
        let ics = calendar("REPLY", "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:a@kommun.test\nUID:u\n");
        assert_eq!(read_reply(&view("Hej", "a@kommun.test", &[(&ics, None)])), None);
        // ... but the subject still answers.
        let r = read_reply(&view("Avböjt: Möte", "a@kommun.test", &[(&ics, None)])).expect("r");
        assert_eq!((r.partstat.as_str(), r.source.as_str()), (DECLINED, "subject"));
    }

    #[test]
    fn counter_fields() {
        let ics = calendar(
            "COUNTER",
            "ATTENDEE;PARTSTAT=NEEDS-ACTION;CN=Per Holm:mailto:per.holm@kommun.test
UID:iof-aof-20261208@kommun.test
DTSTART;TZID=W. Europe Standard Time:20261208T090000
DTEND;TZID=W. Europe Standard Time:20261208T100000
X-MS-OLK-ORIGINALSTART;TZID=\"W. Europe Standard Time\":20261208T130000
X-MS-OLK-ORIGINALEND;TZID=\"W. Europe Standard Time\":20261208T140000
SEQUENCE:1
",
        );
        let r = read_reply(&view("Ny tid föreslås: x", "per.holm@kommun.test", &[(&ics, Some("COUNTER"))])).expect("r");
        assert_eq!(r.partstat, TENTATIVE);
        assert_eq!(r.proposed_start.as_deref(), Some("20261208T080000Z"));
        assert_eq!(r.proposed_end.as_deref(), Some("20261208T090000Z"));
        assert_eq!(r.original_start.as_deref(), Some("20261208T120000Z"));
        assert_eq!(r.sequence, Some(1));

        // DURATION instead of DTEND; UTC original start; an explicit TENTATIVE.
        let ics = calendar(
            "COUNTER",
            "ATTENDEE;PARTSTAT=TENTATIVE:mailto:per.holm@kommun.test
UID:u
DTSTART:20261208T080000Z
DURATION:PT1H30M
X-MS-OLK-ORIGINALSTART:20261208T120000Z
",
        );
        let r = read_reply(&view("x", "per.holm@kommun.test", &[(&ics, None)])).expect("r");
        assert_eq!(r.proposed_end.as_deref(), Some("20261208T093000Z"));
        assert_eq!(r.original_start.as_deref(), Some("20261208T120000Z"));
    }

    #[test]
    fn comment_is_unescaped_and_trimmed() {
        let ics = calendar(
            "REPLY",
            "ATTENDEE;PARTSTAT=DECLINED:mailto:a@kommun.test
COMMENT;LANGUAGE=sv-SE:\\n
COMMENT;LANGUAGE=sv-SE:  Tyvärr\\, jag är på utbildning\\; Åsa kommer i stället.\\nMvh\\\\Anna\\N
UID:u
",
        );
        let r = read_reply(&view("x", "a@kommun.test", &[(&ics, None)])).expect("r");
        assert_eq!(
            r.comment.as_deref(),
            Some("Tyvärr, jag är på utbildning; Åsa kommer i stället.\nMvh\\Anna")
        );
        let blank = calendar("REPLY", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@kommun.test\nCOMMENT:\\n\nUID:u\n");
        let r = read_reply(&view("x", "a@kommun.test", &[(&blank, None)])).expect("r");
        assert_eq!(r.comment, None);
    }

    #[test]
    fn google_response_comment_parameter() {
        let ics = calendar(
            "REPLY",
            "ATTENDEE;PARTSTAT=DECLINED;CN=Anna Berg;X-RESPONSE-COMMENT=\"Krockar^n med ^'BBIC^' ^^ utredning\";X-NUM-GUESTS=0:mailto:anna.berg@kommun.test\nUID:u\n",
        );
        let r = read_reply(&view("Avböjt: x", "anna.berg@kommun.test", &[(&ics, None)])).expect("r");
        assert_eq!(r.comment.as_deref(), Some("Krockar\n med \"BBIC\" ^ utredning"));
        // COMMENT wins when both are there.
        let ics = calendar(
            "REPLY",
            "ATTENDEE;PARTSTAT=DECLINED;x-response-comment=B:mailto:a@kommun.test\nCOMMENT:A\nUID:u\n",
        );
        let r = read_reply(&view("x", "a@kommun.test", &[(&ics, None)])).expect("r");
        assert_eq!(r.comment.as_deref(), Some("A"));
    }

    #[test]
    fn subject_vocabulary() {
        let cases = [
            ("Accepted: Samverkansmöte", Some(ACCEPTED)),
            ("Declined: Samverkansmöte", Some(DECLINED)),
            ("Tentative: Samverkansmöte", Some(TENTATIVE)),
            ("Tentatively Accepted: Samverkansmöte @ Tue 8 Dec 2026", Some(TENTATIVE)),
            ("Invitation Declined: Samverkansmöte", Some(DECLINED)),
            ("Accepterat: Samverkansmöte", Some(ACCEPTED)),
            ("AVBÖJT: Samverkansmöte", Some(DECLINED)),
            ("Preliminärt: Samverkansmöte", Some(TENTATIVE)),
            ("Preliminärt accepterat: Samverkansmöte", Some(TENTATIVE)),
            ("Accepterad: Samverkansmöte", Some(ACCEPTED)),
            ("Inbjudan avvisades: Samverkansmöte", Some(DECLINED)),
            ("Preliminär: Samverkansmöte", Some(TENTATIVE)),
            ("Inbjudan accepterad: Samverkansmöte", Some(ACCEPTED)),
            ("Inbjudan avböjd: Samverkansmöte", Some(DECLINED)),
            ("  accepterat:Samverkansmöte", Some(ACCEPTED)),
            ("SV: Accepterat: Samverkansmöte", None),
            ("Re: Accepted: Samverkansmöte", None),
            ("Accepterat att skjuta upp mötet", None),
            ("Preliminärt schema", None),
            ("Samverkansmöte", None),
            ("", None),
        ];
        for (subject, want) in cases {
            assert_eq!(answer_in_subject(subject), want, "{subject:?}");
        }
        let mut v = view("Avböjt: Samverkansmöte", "anna.berg@kommun.test", &[]);
        v.in_reply_to = vec!["inv-1@kommun.test".into()];
        v.references = vec!["inv-0@kommun.test".into(), "inv-1@kommun.test".into()];
        let r = read_reply(&v).expect("r");
        assert_eq!(r.source, "subject");
        assert_eq!(r.attendee, "anna.berg@kommun.test");
        assert_eq!((r.uid, r.sequence), (None, None));
        assert_eq!(r.in_reply_to, ["inv-1@kommun.test", "inv-0@kommun.test"]);
    }

    #[test]
    fn first_readable_part_wins_and_foreign_methods_are_no_answer() {
        let good = calendar("REPLY", "ATTENDEE;PARTSTAT=TENTATIVE:mailto:a@kommun.test\nUID:u\n");
        let v = view("x", "a@kommun.test", &[("garbage", Some("REPLY")), (&good, None)]);
        assert_eq!(read_reply(&v).map(|r| r.partstat), Some(TENTATIVE.to_string()));
        let request = calendar("REQUEST", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@kommun.test\nUID:u\n");
        let v = view("Accepterat: x", "a@kommun.test", &[(&request, Some("REQUEST"))]);
        assert_eq!(read_reply(&v), None);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let inputs = [
            "",
            "BEGIN:VCALENDAR",
            "BEGIN:VCALENDAR\nMETHOD:REPLY\nBEGIN:VEVENT\nATTENDEE;PARTSTAT=ACCEPTED:mailto:\n",
            "BEGIN:VCALENDAR\nMETHOD:REPLY\nBEGIN:VEVENT\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a@b\nRECURRENCE-ID;TZID=:99999999T999999\nSEQUENCE:-4\nDTSTART:2026\nEND:VEVENT\nEND:VCALENDAR\n",
            "BEGIN:VCALENDAR\nMETHOD:COUNTER\nBEGIN:VEVENT\nATTENDEE:mailto:a@b\nDTSTART;VALUE=DATE:20261208\nDURATION:P99999999W\nX-MS-OLK-ORIGINALSTART:x\nEND:VEVENT\nEND:VCALENDAR\n",
            "\u{feff}BEGIN:VCALENDAR\n;;;:::\n\u{0}\u{7f}BEGIN:VEVENT\nEND:VTODO\nEND:VCALENDAR\nEND:VCALENDAR\n",
        ];
        for text in inputs {
            let _ = read_reply(&view("x", "a@b", &[(text, None), (text, Some("REPLY"))]));
        }
    }
}
