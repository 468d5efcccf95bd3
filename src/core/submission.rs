//! Reading a case submission (ärendeanmälan) as people write it in Outlook.
//!
//! The reader works on [`MailView::text`] (HTML already rendered to lines,
//! Outlook form tables to `heading: text`). It
//!
//! 1. cuts the mail's own text before the first signature, disclaimer or
//!    quoted earlier mail ([`cut_kind`]);
//! 2. finds heading lines with the vocabulary in [`HEADINGS`] (one table,
//!    canonical field → aliases). A heading sits at the start of a line, after
//!    an optional bullet, number or markdown `**`, and is followed by a
//!    separator (`:`, `-`, `–`, `—`, a tab) or the end of the line, so prose
//!    such as "Fråga gärna om något är oklart" never opens a section;
//! 3. gives each heading the text up to the next heading: the rest of its own
//!    line plus the lines after it;
//! 4. when the own text has no sections and the mail forwards an earlier one
//!    (`VB:`/`Fw:` subject, or a forward marker), reads the forwarded part
//!    instead, skipping its header block.
//!
//! Everything is pure and linear in the size of the text.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;

use crate::core::heading::{CONSENT_WORDS, Vocabulary, first_word, is_placeholder, strip_line_prefix};
use crate::mail::view::MailView;

/// The four sections a submission must have (seed 001).
#[derive(Serialize, serde::Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[serde(rename_all = "snake_case")]
pub enum SectionKey {
    /// Namn och ålder: name (or initials) and age.
    NameAge,
    /// Kort bakgrund: background, diagnoses, earlier investigations.
    Background,
    /// Aktuell situation: ongoing interventions and planning.
    Situation,
    /// Aktuell problembild och frågeställning: the problem and the question.
    Question,
}

impl SectionKey {
    /// All sections in canonical order.
    pub const ALL: [SectionKey; 4] = [
        SectionKey::NameAge,
        SectionKey::Background,
        SectionKey::Situation,
        SectionKey::Question,
    ];

    /// The heading as the routine (seed 001) writes it, for replies to the submitter.
    pub fn label_sv(self) -> &'static str {
        match self {
            SectionKey::NameAge => "Namn och ålder",
            SectionKey::Background => "Kort bakgrund",
            SectionKey::Situation => "Aktuell situation",
            SectionKey::Question => "Aktuell problembild och frågeställning",
        }
    }
}

/// Whether consent to discuss the case was obtained.
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    /// Consent obtained.
    Ja,
    /// No consent.
    Nej,
    /// Anonymous consultation: no consent needed, initials only.
    Anonym,
}

/// What a submission mail says, read from its text.
#[derive(Serialize, Clone, PartialEq, Eq, Debug, Default)]
pub struct Submission {
    /// The non-empty sections found.
    pub sections: BTreeMap<SectionKey, String>,
    /// The sections not found or empty, in canonical order.
    pub missing: Vec<SectionKey>,
    /// The sender marked the case as urgent (akut, brådskande).
    pub urgent: bool,
    /// The consent field, when given.
    pub consent: Option<Consent>,
    /// Units concerned: the "Berörda enheter" field, then the units of Cc'd
    /// members; deduplicated (case-insensitively), in first-seen order.
    pub units: Vec<String>,
    /// The mail withdraws a case ("Återkallar ärendet").
    pub withdraw: bool,
    /// A case number like `2026-0042` from the subject.
    pub case_ref: Option<String>,
    /// The sender's own text ([`own_text`]), read on the way: the routine readers of the same
    /// mail take it from here instead of cutting the text again.
    #[serde(skip)]
    pub own_text: String,
}

/// A field a heading can open.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Section(SectionKey),
    Units,
    Consent,
    /// "Anonym konsultation": consent is [`Consent::Anonym`] unless answered "nej".
    Anonymous,
    Urgent,
}

/// One row of the heading vocabulary.
struct Heading {
    field: Field,
    /// Aliases, matched case-insensitively. A space matches any run of
    /// whitespace; `/`, `,`, `&` and `+` may have spaces around them.
    aliases: &'static [&'static str],
    /// The value may follow the alias without a separator when it starts with
    /// one of [`CONSENT_WORDS`] ("Samtycke finns", "Samtycke saknas").
    bare_value: bool,
}

/// The heading vocabulary: canonical field → aliases. The only place that
/// knows how people spell headings.
const HEADINGS: &[Heading] = &[
    Heading {
        field: Field::Section(SectionKey::NameAge),
        aliases: &[
            "Namn och ålder",
            "Namn/ålder",
            "Namn, ålder",
            "Namn & ålder",
            "Namn + ålder",
            "Namn samt ålder",
            "Initialer och ålder",
            "Initialer/ålder",
            "Initialer, ålder",
            "Namn eller initialer och ålder",
            "Namn/initialer och ålder",
            "Namn",
        ],
        bare_value: false,
    },
    Heading {
        field: Field::Section(SectionKey::Background),
        aliases: &[
            "Kort bakgrund",
            "Bakgrund",
            "Kort bakgrund, diagnoser och tidigare utredningar",
            "Bakgrund, diagnoser och tidigare utredningar",
            "Kort bakgrund/diagnoser",
            "Bakgrund/diagnoser",
        ],
        bare_value: false,
    },
    Heading {
        field: Field::Section(SectionKey::Situation),
        aliases: &[
            "Aktuell situation",
            "Nuläge",
            "Nuvarande situation",
            "Aktuell situation/planering",
            "Aktuell situation och planering",
            "Aktuell situation, pågående insatser och planering",
            "Pågående insatser och planering",
            "Nuläge och planering",
        ],
        bare_value: false,
    },
    Heading {
        field: Field::Section(SectionKey::Question),
        aliases: &[
            "Aktuell problembild och frågeställning",
            "Problembild",
            "Frågeställning",
            "Frågeställningar",
            "Fråga till mötet",
            "Frågeställning till mötet",
            "Problembild/frågeställning",
            "Problembild och frågeställning",
            "Aktuell problembild",
            "Aktuell problembild/frågeställning",
            "Fråga",
        ],
        bare_value: false,
    },
    Heading {
        field: Field::Units,
        aliases: &[
            "Berörda enheter",
            "Berörd enhet",
            "Enheter",
            "Berörda verksamheter",
            "Inblandade enheter",
        ],
        bare_value: false,
    },
    Heading {
        field: Field::Consent,
        aliases: &["Samtycke"],
        bare_value: true,
    },
    Heading {
        field: Field::Anonymous,
        aliases: &["Anonym konsultation", "Anonymt ärende"],
        bare_value: false,
    },
    Heading {
        field: Field::Urgent,
        aliases: &["Akut", "Akut ärende", "Brådskande"],
        bare_value: false,
    },
];

/// Consent words, checked after "anonym": negations first.
const CONSENT_NO: &[&str] = &["nej", "ej", "inte", "saknas", "icke", "no", "ingen", "inget"];
const CONSENT_YES: &[&str] = &[
    "ja",
    "finns",
    "inhämtat",
    "inhämtats",
    "föreligger",
    "yes",
    "lämnat",
    "lämnats",
    "givet",
    "givits",
    "muntligt",
    "skriftligt",
    "ok",
    "x",
];

/// Words that mark a mail as urgent; a negation just before cancels them.
const URGENT_WORDS: &[&str] = &["akut", "brådskande", "brådskar"];
const NEGATIONS: &[&str] = &["inte", "ej", "icke", "ingen", "inget", "ingenting", "ej.", "no", "not"];

/// Lines that end the own text: signatures and closings (prefix, then a
/// non-letter or the end of the line).
const SIGNATURE_STARTS: &[&str] = &[
    "med vänliga hälsningar",
    "med vänlig hälsning",
    "med bästa hälsningar",
    "vänliga hälsningar",
    "vänlig hälsning",
    "bästa hälsningar",
    "hälsningar",
    "hälsning",
    "mvh",
    "best regards",
    "kind regards",
    "regards",
    "skickat från min",
    "skickat från outlook",
    "sent from my",
    "sent from outlook",
    "hämta outlook för",
    "get outlook for",
    "tack på förhand",
    "tack för hjälpen",
    "fråga gärna",
    "hör gärna av dig",
    "hör av dig om",
    "återkom gärna",
    // An out-of-hours note under a signature's name: neither a part nor urgency.
    "vid akuta ärenden",
    "vid brådskande ärenden",
    "i akuta ärenden",
    "vid akut ärende",
];

/// Closing lines that end the own text when they stand alone ("Tack!").
const CLOSING_LINES: &[&str] = &["tack", "tackar", "tack så mycket", "stort tack", "tack så länge", "thanks"];

/// Lines that start the footer an e-service form or another program puts under what a person
/// filled in (prefix, then a non-letter or the end of the line). They end the last part like a
/// signature, but only below a heading: at the top of a mail they are no trailer.
const FOOTER_STARTS: &[&str] = &[
    "inskickad av",
    "inskickat av",
    "insänd av",
    "insänt av",
    "ifylld av",
    "skickad via",
    "skickat via",
    "skickad från e-tjänsten",
    "skickat från e-tjänsten",
    "detta meddelande skickades automatiskt",
    "detta meddelande har skickats automatiskt",
    "detta meddelande är automatiskt",
    "detta är ett automatiskt",
    "det här är ett automatiskt",
    "det här meddelandet skickades automatiskt",
    "meddelandet skickades automatiskt",
    "meddelandet har skickats automatiskt",
    "meddelandet är automatiskt",
    "svara inte på detta",
    "svara inte på det här",
    "det går inte att svara på",
    "du kan inte svara på",
    "this message was sent automatically",
    "this message has been sent automatically",
    "this is an automatically generated",
    "this is an automated",
    "please do not reply",
    "do not reply to this",
];

/// Lines that start a disclaimer (prefix).
const DISCLAIMER_STARTS: &[&str] = &[
    "detta e-postmeddelande",
    "detta e-post",
    "detta e-mail",
    "detta mejl",
    "detta meddelande kan innehålla",
    "detta meddelande är avsett",
    "this e-mail may contain",
    "this email may contain",
    "this e-mail and any",
    "this email and any",
    "this message may contain",
    "the information contained in this",
    "tänk på miljön",
    "think about the environment",
    "när du skickar e-post till",
    "när du skickar ett e-postmeddelande",
];

/// Lines that start a forwarded mail without a dashed rule: Apple Mail and iPhone Mail
/// ("Början på vidarebefordrat brev:", with the forwarded mail behind "> "), and the same words
/// some clients write without dashes. Dashed rules with "forward"/"vidarebefordra" in them
/// (Gmail, Thunderbird, Yahoo) are recognised by [`cut_kind`] itself.
const FORWARD_MARKERS: &[&str] = &[
    "begin forwarded message",
    "början på vidarebefordra",
    "vidarebefordrat meddelande:",
    "vidarebefordrat brev:",
    "forwarded message:",
];

/// Header names in the block Outlook, Gmail, Apple Mail and Thunderbird put
/// above a quoted or forwarded mail.
const QUOTE_HEADERS: &[&str] = &[
    "från",
    "from",
    "skickat",
    "sent",
    "datum",
    "date",
    "till",
    "to",
    "kopia",
    "cc",
    "ämne",
    "subject",
    "prioritet",
    "importance",
    "bilagor",
    "attachments",
    "svara till",
    "reply-to",
];

/// Subject prefixes, stripped when reading the subject; the forward ones
/// mark a forwarded mail.
const REPLY_PREFIXES: &[&str] = &["sv", "re", "aw", "antw", "vs", "ang", "svar"];
const FORWARD_PREFIXES: &[&str] = &["vb", "fw", "fwd", "vs", "wg", "tr"];

/// Reads a submission from a parsed mail. `unit_of` maps a forum member's
/// address to the name of their unit.
/// The sender's own text of a mail: normalised, and cut before the signature, disclaimer or
/// quoted earlier mail, as the submission reader sees it. For other readers of people's
/// answers (handover information, "Mottaget").
pub fn own_text(v: &MailView) -> String {
    let text = normalize(&v.text);
    let lines: Vec<&str> = text.lines().collect();
    let end = first_cut(&lines, 0).map_or(lines.len(), |(i, _)| i);
    lines[..end].join("\n")
}

pub fn read_submission(v: &MailView, unit_of: &dyn Fn(&str) -> Option<String>) -> Submission {
    let text = normalize(&v.text);
    let lines: Vec<&str> = text.lines().collect();
    let (subject_rest, forwarded_subject) = strip_subject_prefixes(&v.subject);

    let own_end = first_cut(&lines, 0).map_or(lines.len(), |(i, _)| i);
    let own = &lines[..own_end];
    let mut read = read_fields(own);

    // A forwarded submission: read the forwarded part when the own text has
    // no sections. Nested forwards are followed one level at a time.
    let mut start = 0;
    while read.sections.is_empty() {
        let Some((q, kind)) = first_quote(&lines, start) else {
            break;
        };
        if !(forwarded_subject || kind == CutKind::Forward) {
            break;
        }
        let (body, end) = forwarded_body(&lines, q);
        let fwd = read_fields(&body);
        if !fwd.sections.is_empty() {
            // The forwarded part gives the case; the forwarder's note may
            // still say that it is urgent, give consent or name units.
            let note = std::mem::replace(&mut read, fwd);
            read.urgent |= note.urgent;
            read.withdraw = note.withdraw;
            read.consent = read.consent.or(note.consent);
            let mut units = note.units;
            units.append(&mut read.units);
            read.units = units;
            break;
        }
        // Continue after what was just read, so every line is looked at a
        // bounded number of times.
        start = end.max(q + 1);
    }

    let mut sub = Submission {
        missing: SectionKey::ALL.iter().copied().filter(|k| !read.sections.contains_key(k)).collect(),
        sections: read.sections,
        urgent: read.urgent || has_urgent_word(&v.subject),
        consent: read.consent,
        units: Vec::new(),
        withdraw: read.withdraw || starts_with_withdraw(&subject_rest.to_lowercase()),
        case_ref: find_case_ref(&v.subject),
        own_text: own.join("\n"),
    };

    let mut seen: Vec<String> = Vec::new();
    let candidates = read.units.into_iter().chain(v.cc.iter().filter_map(|a| unit_of(a)));
    for unit in candidates {
        let key = unit.to_lowercase();
        if !seen.contains(&key) {
            seen.push(key);
            sub.units.push(unit);
        }
    }
    sub
}

/// What [`read_fields`] found in a run of lines.
#[derive(Default)]
struct Read {
    sections: BTreeMap<SectionKey, String>,
    urgent: bool,
    consent: Option<Consent>,
    units: Vec<String>,
    withdraw: bool,
}

/// Reads headings and their text from the own (already cut) lines.
fn read_fields(lines: &[&str]) -> Read {
    let mut read = Read::default();
    // Collected blocks: field and its lines.
    let mut blocks: Vec<(Field, &str, Vec<&str>)> = Vec::new();
    let mut preamble: Vec<&str> = Vec::new();
    for line in lines {
        if let Some((field, rest)) = match_heading(line) {
            blocks.push((field, line, vec![rest]));
        } else if let Some((_, _, body)) = blocks.last_mut() {
            // Guidance under a heading alone on its line (a form's heading cell as Outlook
            // writes it in plain text: "Kort bakgrund" / "(diagnoser, …)<tab>answer") belongs to
            // the heading, not to the answer.
            let guidance = body.iter().all(|l| l.trim().is_empty()) && line.trim_start().starts_with('(');
            match line.find(')').filter(|_| guidance) {
                Some(close) => body.push(&line[close + 1..]),
                None => body.push(line),
            }
        } else {
            preamble.push(line);
        }
    }

    read.withdraw = preamble_withdraws(&preamble);
    if preamble.iter().any(|l| has_urgent_word(l)) {
        read.urgent = true;
    }

    let mut anonymous: Option<bool> = None;
    for (field, heading_line, body) in &blocks {
        let text = match field {
            Field::Section(_) => join_block(body),
            _ => field_value(body),
        };
        match field {
            Field::Section(key) => {
                if key != &SectionKey::Background && has_urgent_word(&text) {
                    read.urgent = true;
                }
                // "-", "x", "?", "saknas", "vet ej": the part is not filled in.
                if is_placeholder(&text) {
                    continue;
                }
                read.sections
                    .entry(*key)
                    .and_modify(|t| {
                        t.push('\n');
                        t.push_str(&text);
                    })
                    .or_insert(text);
            }
            Field::Units if is_placeholder(&text) => {}
            Field::Units => read.units.extend(split_units(&text)),
            Field::Consent => {
                if let Some(c) = consent_of(&text) {
                    read.consent = Some(c);
                }
            }
            Field::Anonymous => {
                let first = first_word(&text);
                anonymous = Some(!CONSENT_NO.contains(&first.as_str()));
            }
            Field::Urgent => {
                // "Akut: ja" or "Akut: svar behövs i dag" is urgent, "Akut: nej"
                // is not; a bare "AKUT" line is, an unfilled "Akut:" is not.
                let urgent = if text.is_empty() {
                    !heading_line.contains(':')
                } else {
                    !CONSENT_NO.contains(&first_word(&text).as_str())
                };
                read.urgent |= urgent;
            }
        }
    }
    if read.consent.is_none() && anonymous == Some(true) {
        read.consent = Some(Consent::Anonym);
    }
    read
}

/// The value of a short field (units, consent, urgency): the text on the
/// heading's line, else the lines after it up to the first blank line. What
/// follows is not part of any section (a trailing "Datum" row, say).
fn field_value(body: &[&str]) -> String {
    let Some((inline, rest)) = body.split_first() else {
        return String::new();
    };
    if !inline.trim().is_empty() {
        return inline.trim().to_string();
    }
    let lines: Vec<&str> = rest
        .iter()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .copied()
        .collect();
    join_block(&lines)
}

/// Joins a block's lines: each trimmed, runs of blank lines collapsed to one,
/// no blank lines at the ends.
fn join_block(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        blank = false;
        // A tab inside a line is a cell boundary or the end of a bold run: a space in the text.
        if line.contains('\t') {
            out.push_str(&line.replace('\t', " "));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The heading vocabulary, folded once for [`Vocabulary::heading`].
static VOCABULARY: LazyLock<Vocabulary<Field>> = LazyLock::new(|| {
    let rows: Vec<(Field, &[&str], &'static [&'static str])> = HEADINGS
        .iter()
        .map(|h| (h.field, h.aliases, if h.bare_value { CONSENT_WORDS } else { &[] }))
        .collect();
    Vocabulary::new(&rows)
});

/// If the line is a heading, returns its field and the text after the
/// separator (possibly empty).
fn match_heading(line: &str) -> Option<(Field, &str)> {
    VOCABULARY.heading(line).map(|f| (f.field, f.rest))
}

fn consent_of(text: &str) -> Option<Consent> {
    let lower = text.lines().next().unwrap_or_default().to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    if words.iter().any(|w| w.starts_with("anonym")) {
        Some(Consent::Anonym)
    } else if words.iter().any(|w| CONSENT_NO.contains(w)) {
        Some(Consent::Nej)
    } else if words.iter().any(|w| CONSENT_YES.contains(w)) {
        Some(Consent::Ja)
    } else {
        None
    }
}

/// Splits a "Berörda enheter" value on commas, semicolons, new lines, and on
/// "och"/"samt"/"&" between two capitalised names ("Vuxenenheten och
/// Äldreomsorg"), not inside a name ("Barn och unga").
fn split_units(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in text.split(['\n', ',', ';', '|']) {
        let mut rest = piece;
        'outer: loop {
            for joiner in [" och ", " samt ", " & "] {
                let mut from = 0;
                while let Some(pos) = rest[from..].find(joiner).map(|p| p + from) {
                    let next = rest[pos + joiner.len()..].trim_start();
                    if next.chars().next().is_some_and(char::is_uppercase) {
                        push_unit(&mut out, &rest[..pos]);
                        rest = next;
                        continue 'outer;
                    }
                    from = pos + joiner.len();
                }
            }
            push_unit(&mut out, rest);
            break;
        }
    }
    out
}

fn push_unit(out: &mut Vec<String>, raw: &str) {
    let unit = strip_line_prefix(raw).trim().trim_end_matches(['.', ':']).trim();
    if unit.chars().any(char::is_alphabetic) {
        out.push(unit.to_string());
    }
}

/// Why a line ends the own text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CutKind {
    Signature,
    Disclaimer,
    /// A quoted earlier mail in a reply (or an ambiguous marker).
    Quote,
    /// A forward marker.
    Forward,
    /// An e-service or program footer (only below a heading, see [`FOOTER_STARTS`]).
    Footer,
}

/// The first line at or after `from` that ends the own text. A footer, and a signature that
/// starts with a name ([`is_name_signature`]), end it only below a heading; whether one came
/// before is looked up once per line, so the whole is linear.
fn first_cut(lines: &[&str], from: usize) -> Option<(usize, CutKind)> {
    let mut seen_heading = false;
    let mut checked = from;
    for i in from..lines.len() {
        let kind = cut_kind(lines, i);
        let name = kind.is_none() && is_name_line(lines[i]);
        if (name || kind == Some(CutKind::Footer)) && !seen_heading {
            seen_heading = lines[checked..i].iter().any(|l| match_heading(l).is_some());
            checked = i;
        }
        match kind {
            Some(CutKind::Footer) if !seen_heading => {}
            Some(k) => return Some((i, k)),
            None if name && seen_heading && is_name_signature(lines, i) => return Some((i, CutKind::Signature)),
            None => {}
        }
    }
    None
}

/// The first quote or forward marker at or after `from`.
fn first_quote(lines: &[&str], from: usize) -> Option<(usize, CutKind)> {
    (from..lines.len()).find_map(|i| match cut_kind(lines, i) {
        Some(k @ (CutKind::Quote | CutKind::Forward)) => Some((i, k)),
        _ => None,
    })
}

/// Whether line `i` ends the own text, and why.
fn cut_kind(lines: &[&str], i: usize) -> Option<CutKind> {
    let line = lines[i].trim();
    if line.is_empty() {
        return None;
    }
    if line.starts_with('>') {
        return Some(CutKind::Quote);
    }
    let lower = line.to_lowercase();
    if line == "--" || line == "—" || line == "-- " {
        return Some(CutKind::Signature);
    }
    if line.starts_with("--") || line.starts_with("__") {
        if lower.contains("forward") || lower.contains("vidarebefordra") {
            return Some(CutKind::Forward);
        }
        if [
            "ursprungligt meddelande",
            "original message",
            "originalmeddelande",
            "originalnachricht",
        ]
        .iter()
        .any(|m| lower.contains(m))
        {
            return Some(CutKind::Quote);
        }
        if line.chars().all(|c| c == '_') && line.len() >= 8 && next_is_header_block(lines, i + 1) {
            return Some(CutKind::Quote);
        }
    }
    if FORWARD_MARKERS.iter().any(|m| lower.starts_with(m)) {
        return Some(CutKind::Forward);
    }
    if is_attribution(lines, i, &lower) {
        return Some(CutKind::Quote);
    }
    if is_header_line(&lower) && header_block_len(lines, i) >= 3 {
        return Some(CutKind::Quote);
    }
    if starts_with_phrase(&lower, SIGNATURE_STARTS)
        || is_slash_signoff(line)
        || CLOSING_LINES.contains(&lower.trim_end_matches(['!', '.', ',', ' ']))
    {
        return Some(CutKind::Signature);
    }
    if DISCLAIMER_STARTS.iter().any(|p| lower.starts_with(p)) {
        return Some(CutKind::Disclaimer);
    }
    if starts_with_phrase(&lower, FOOTER_STARTS) {
        return Some(CutKind::Footer);
    }
    None
}

/// "Den 3 mars 2026 kl. 10:12 skrev Anna Berg <…>:", "On …, … wrote:",
/// also when Gmail wraps the address onto the next line.
fn is_attribution(lines: &[&str], i: usize, lower: &str) -> bool {
    if lower.len() > 300 {
        return false;
    }
    let opener = lower.starts_with("den ")
        || lower.starts_with("on ")
        || lower.starts_with("am ")
        || lower.starts_with(|c: char| c.is_ascii_digit())
        || lower.contains('@');
    if !opener {
        return false;
    }
    let has_verb = lower
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| matches!(w, "skrev" | "wrote" | "schrieb"));
    if has_verb && lower.trim_end().ends_with(':') {
        return true;
    }
    has_verb
        && (lower.starts_with("den ") || lower.starts_with("on "))
        && lines.get(i + 1).is_some_and(|n| n.trim_end().ends_with(':') && n.len() < 200)
}

fn is_header_line(lower: &str) -> bool {
    let Some((name, _)) = lower.split_once(':') else {
        return false;
    };
    let name = name.trim().trim_matches('*');
    QUOTE_HEADERS.contains(&name)
}

/// How many header lines follow one another from `i` (blank lines end it).
fn header_block_len(lines: &[&str], i: usize) -> usize {
    lines[i..]
        .iter()
        .take(8)
        .take_while(|l| is_header_line(&l.trim().to_lowercase()))
        .count()
}

fn next_is_header_block(lines: &[&str], from: usize) -> bool {
    lines[from.min(lines.len())..]
        .iter()
        .position(|l| !l.trim().is_empty())
        .is_some_and(|p| header_block_len(lines, from + p) >= 2)
}

/// The own text of the mail forwarded under marker line `q` (its header block skipped, cut
/// before its signature or its own quotes), and the line where it ends in `lines`. iPhone and
/// Apple Mail put the whole forwarded mail behind "> ": that run of lines is taken without
/// one level of quote marks.
fn forwarded_body<'a>(lines: &[&'a str], q: usize) -> (Vec<&'a str>, usize) {
    let first = (q + 1..lines.len()).find(|&i| !lines[i].trim().is_empty());
    if let Some(first) = first
        && lines[first].trim_start().starts_with('>')
    {
        let run = lines[first..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('>'))
            .count();
        let inner: Vec<&str> = lines[first..first + run]
            .iter()
            .map(|l| {
                let l = l.trim_start();
                let l = l.strip_prefix('>').unwrap_or(l);
                l.strip_prefix(' ').unwrap_or(l)
            })
            .collect();
        let start = skip_header_block(&inner, 0);
        let end = first_cut(&inner, start).map_or(inner.len(), |(i, _)| i);
        return (inner[start..end].to_vec(), first + run);
    }
    let start = skip_quote_header(lines, q);
    let end = first_cut(lines, start).map_or(lines.len(), |(i, _)| i);
    (lines[start..end].to_vec(), end)
}

/// The first line of the quoted mail's own text after marker line `q`.
fn skip_quote_header(lines: &[&str], q: usize) -> usize {
    // The marker itself may be the first header line (Outlook's "Från:" block).
    if is_header_line(&lines[q].trim().to_lowercase()) {
        skip_header_block(lines, q)
    } else {
        skip_header_block(lines, q + 1)
    }
}

/// The first line at or after `from` that is not blank, a header line or a rule.
fn skip_header_block(lines: &[&str], from: usize) -> usize {
    let mut i = from;
    while i < lines.len() {
        let l = lines[i].trim();
        if l.is_empty() || is_header_line(&l.to_lowercase()) || l.chars().all(|c| c == '_' || c == '-') {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// `lower` starts with one of `phrases` followed by a non-letter or the end.
fn starts_with_phrase(lower: &str, phrases: &[&str]) -> bool {
    phrases
        .iter()
        .any(|p| lower.strip_prefix(p).is_some_and(|rest| !rest.starts_with(char::is_alphanumeric)))
}

/// A signature that starts with the sender's name and no closing words: a name line followed
/// within three lines by a contact line ("Tel 010-…", "Mobil", "E-post"), or a last short
/// block after a blank line that starts with a name ("Per", "Karin Sjö" / "Hemtjänsten"),
/// both only below a heading (the caller, [`first_cut`], knows; above the parts a short
/// capitalised line is anything, "Återkalla"). `lines[i]` is a name line ([`is_name_line`]).
/// A name right under a heading that is alone on its line is that heading's answer.
fn is_name_signature(lines: &[&str], i: usize) -> bool {
    let contact = lines[i + 1..].iter().take(3).any(|l| {
        let lower = l.trim().to_lowercase();
        starts_with_phrase(&lower, CONTACT_STARTS)
    });
    if contact {
        return true;
    }
    let blank_before = i == 0 || lines[i - 1].trim().is_empty();
    let answer_of = lines[..i]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| match_heading(l))
        .is_some_and(|(_, rest)| rest.is_empty());
    if !blank_before || answer_of {
        return false;
    }
    // The block runs to the next blank line and is short; after it, the end or another cut.
    // At most four lines are looked at, so that a long run of name-like lines stays linear.
    let block = lines[i..].iter().take(4).take_while(|l| !l.trim().is_empty()).count();
    let after = lines[i + block..].iter().position(|l| !l.trim().is_empty()).map(|p| i + block + p);
    block <= 3
        && lines[i..i + block].iter().all(|l| l.trim().chars().count() <= 50)
        && after.is_none_or(|a| {
            matches!(
                cut_kind(lines, a),
                Some(CutKind::Quote | CutKind::Forward | CutKind::Disclaimer | CutKind::Footer)
            )
        })
}

/// Lines of a signature's contact details (prefix, then a non-letter).
const CONTACT_STARTS: &[&str] = &[
    "tel", "telefon", "tfn", "mobil", "mob", "växel", "e-post", "epost", "mail", "direkt",
];

/// One to three capitalised words of letters (a name), no sentence punctuation, not a heading.
fn is_name_line(line: &str) -> bool {
    let t = line.trim();
    if !t.starts_with(char::is_uppercase) || t.len() > 160 || t.chars().count() > 40 {
        return false;
    }
    let mut words = 0;
    for w in t.split_whitespace() {
        words += 1;
        let name_like = w.starts_with(char::is_uppercase)
            && w.chars().all(|c| c.is_alphabetic() || c == '-')
            && w.chars().skip(1).any(char::is_lowercase);
        if words > 3 || !name_like {
            return false;
        }
    }
    match_heading(t).is_none()
}

/// A Swedish sign-off like "/Anna" or "/Anna B".
fn is_slash_signoff(line: &str) -> bool {
    line.strip_prefix('/')
        .is_some_and(|rest| rest.starts_with(char::is_alphabetic) && rest.chars().count() <= 30 && rest.split_whitespace().count() <= 3)
}

fn is_greeting(lower: &str) -> bool {
    ["hej", "hejsan", "hallå", "god morgon", "goddag", "hi", "hello", "till "]
        .iter()
        .any(|g| lower.strip_prefix(g).is_some_and(|r| !r.starts_with(char::is_alphabetic)))
}

/// The own text (before any heading) starts with a withdrawal: "Återkallar
/// ärendet", "Hej! Vi återkallar …". A greeting line is skipped.
fn preamble_withdraws(preamble: &[&str]) -> bool {
    let mut meaningful = preamble.iter().map(|l| l.trim()).filter(|l| !l.is_empty());
    for _ in 0..2 {
        let Some(line) = meaningful.next() else {
            return false;
        };
        let lower = line.to_lowercase();
        if is_greeting(&lower) {
            // "Hej, vi återkallar …" on the greeting line itself.
            if let Some(pos) = lower.find([',', '!', '.']) {
                let after = lower[pos + 1..].trim();
                if !after.is_empty() {
                    return starts_with_withdraw(after);
                }
            }
            continue;
        }
        return starts_with_withdraw(&lower);
    }
    false
}

fn starts_with_withdraw(lower: &str) -> bool {
    let mut s = lower.trim_start();
    for p in ["vi ", "jag "] {
        if let Some(r) = s.strip_prefix(p) {
            s = r.trim_start();
        }
    }
    for p in ["vill ", "önskar "] {
        if let Some(r) = s.strip_prefix(p) {
            s = r.trim_start();
        }
    }
    s.starts_with("återkall")
}

/// The text contains an urgency word that is not negated ("inte akut").
fn has_urgent_word(text: &str) -> bool {
    let lower = text.to_lowercase();
    let mut prev = "";
    for word in lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if URGENT_WORDS.contains(&word) && !NEGATIONS.contains(&prev) {
            return true;
        }
        prev = word;
    }
    false
}

/// Strips reply and forward prefixes and `[tags]` from a subject; returns the
/// rest and whether a forward prefix was seen.
fn strip_subject_prefixes(subject: &str) -> (String, bool) {
    let mut s = subject.trim();
    let mut forwarded = false;
    loop {
        if let Some(rest) = s.strip_prefix('[')
            && let Some(close) = rest.find(']')
        {
            s = rest[close + 1..].trim_start();
            continue;
        }
        let Some((prefix, rest)) = s.split_once(':') else {
            break;
        };
        let p = prefix.trim().to_lowercase();
        if FORWARD_PREFIXES.contains(&p.as_str()) && p != "vs" {
            forwarded = true;
        } else if !REPLY_PREFIXES.contains(&p.as_str()) {
            break;
        }
        s = rest.trim_start();
    }
    (s.to_string(), forwarded)
}

/// The first `YYYY-NNNN` case number in the subject.
pub fn find_case_ref(subject: &str) -> Option<String> {
    let b = subject.as_bytes();
    (0..b.len().saturating_sub(8)).find_map(|i| {
        let w = &b[i..i + 9];
        let ok = w[..4].iter().all(u8::is_ascii_digit)
            && w[4] == b'-'
            && w[5..].iter().all(u8::is_ascii_digit)
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b.get(i + 9).is_none_or(|c| !c.is_ascii_alphanumeric());
        ok.then(|| subject[i..i + 9].to_string())
    })
}

/// Normalises line ends and the spaces Outlook puts in text.
fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{a0}', '\u{202f}'], " ")
        .replace('\u{200b}', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Submission {
        read_with(text, "Ärendeanmälan")
    }

    fn read_with(text: &str, subject: &str) -> Submission {
        let v = MailView {
            text: text.to_string(),
            subject: subject.to_string(),
            ..MailView::default()
        };
        read_submission(&v, &|_| None)
    }

    fn section(s: &Submission, k: SectionKey) -> Option<&str> {
        s.sections.get(&k).map(String::as_str)
    }

    #[test]
    fn the_submission_carries_the_own_text_as_own_text_cuts_it() {
        for text in [
            "Namn och ålder: A.B. 14 år\r\nKort bakgrund: x\r\n\r\nMvh\r\nAnna\r\n",
            "Hej\n\n-----Ursprungligt meddelande-----\nFrån: x\nNamn och ålder: C 3 år\n",
            "> citat\nNamn och ålder: B 9 år",
            "",
        ] {
            let v = MailView {
                text: text.to_string(),
                subject: "Ärendeanmälan".into(),
                ..MailView::default()
            };
            let s = read_submission(&v, &|_| None);
            assert_eq!(s.own_text, own_text(&v), "{text:?}");
        }
        assert_eq!(
            read("Namn och ålder: A 3 år\n\nMed vänlig hälsning\nAnna").own_text,
            "Namn och ålder: A 3 år\n"
        );
    }

    #[test]
    fn inline_and_own_line_headings() {
        let s = read(
            "Hej!\n\n1. Namn och ålder: A.B. 14 år\n2) Kort bakgrund\nADHD.\n\n\n\nUtredd 2024.\n\
             • AKTUELL SITUATION –\nBor hemma.\n**Frågeställning**\nVem ansvarar?\n",
        );
        assert_eq!(section(&s, SectionKey::NameAge), Some("A.B. 14 år"));
        assert_eq!(section(&s, SectionKey::Background), Some("ADHD.\n\nUtredd 2024."));
        assert_eq!(section(&s, SectionKey::Situation), Some("Bor hemma."));
        assert_eq!(section(&s, SectionKey::Question), Some("Vem ansvarar?"));
        assert!(s.missing.is_empty());
    }

    #[test]
    fn the_vocabulary_has_no_two_fields_one_line_could_match() {
        assert_eq!(VOCABULARY.conflicts(), Vec::<(String, String)>::new());
    }

    #[test]
    fn lettered_roman_and_bulleted_lists() {
        for prefix in ["A. ", "a) ", "(a) ", "I. ", "i) ", "- ", "• ", "1. ", "– ", "▪ "] {
            let text = format!(
                "{p}Namn och ålder\nElla, 11 år\n{p}Kort bakgrund\nADHD.\n{p}Aktuell situation\nSkola.\n\
                 {p}Aktuell problembild och frågeställning\nVem?\n",
                p = prefix
            );
            let s = read(&text);
            assert!(s.missing.is_empty(), "{prefix:?}: {s:?}");
            assert_eq!(section(&s, SectionKey::NameAge), Some("Ella, 11 år"), "{prefix:?}");
        }
    }

    #[test]
    fn misspelled_and_ascii_headings() {
        let s = read("Namn och alder: E 11 ar\nKort backgrund: ADHD\nAktuel situation: Skola\nfragestallnig: Vem?\n");
        assert!(s.missing.is_empty(), "{s:?}");
        assert_eq!(section(&s, SectionKey::Background), Some("ADHD"));
        let s = read("Namn: E\nAktuell situtation\nBor hemma.\nFrågeställnig\nVem?\n");
        assert_eq!(section(&s, SectionKey::Situation), Some("Bor hemma."));
        assert_eq!(section(&s, SectionKey::Question), Some("Vem?"));
        // Never in running text, never a word that goes on.
        let s = read("Namn: E\nBakgrund: Hon har aktuel situation hemma.\nAktuella situationen: oklar\n");
        assert_eq!(section(&s, SectionKey::Situation), None);
        assert_eq!(
            section(&s, SectionKey::Background),
            Some("Hon har aktuel situation hemma.\nAktuella situationen: oklar")
        );
    }

    #[test]
    fn placeholder_answers_are_missing() {
        for answer in ["-", "–", ".", "x", "?", "saknas", "Vet ej", "N/A", "...", "X."] {
            let s = read(&format!(
                "Namn: E 3 år\nKort bakgrund: ADHD\nAktuell situation: {answer}\nFrågeställning: Vem?"
            ));
            assert_eq!(s.missing, [SectionKey::Situation], "{answer:?}");
        }
    }

    #[test]
    fn fraga_in_prose_is_not_a_heading() {
        let s = read(
            "Namn/ålder: C 9 år\nBakgrund: Jag har en fråga om bakgrunden\nFråga gärna om något är oklart\n\
             Jag har en fråga om bakgrunden.\n",
        );
        assert_eq!(section(&s, SectionKey::NameAge), Some("C 9 år"));
        assert_eq!(section(&s, SectionKey::Background), Some("Jag har en fråga om bakgrunden"));
        assert_eq!(section(&s, SectionKey::Question), None);
        assert_eq!(s.missing, [SectionKey::Situation, SectionKey::Question]);
    }

    #[test]
    fn heading_variants() {
        for line in [
            "Namn :  Ella",
            "Namn – Ella",
            "Namn - Ella",
            "namn och ålder:Ella",
            "- Namn, ålder: Ella",
            "* Initialer/ålder: Ella",
            "3 - Namn och ålder: Ella",
            "**Namn och ålder:** Ella",
            "Namn och ålder (initialer vid anonym konsultation): Ella",
            "Namn och ålder\tElla",
        ] {
            let s = read(line);
            assert_eq!(section(&s, SectionKey::NameAge), Some("Ella"), "{line}");
        }
        for line in ["Namnet är X", "Namnbyte: Ella", "Bakgrunden är X", "Frågan är X"] {
            assert!(read(line).sections.is_empty(), "{line}");
        }
    }

    #[test]
    fn empty_heading_counts_as_missing() {
        let s = read("Namn och ålder: A 3 år\nKort bakgrund:\nAktuell situation:\n   \nFrågeställning: Hur?");
        assert_eq!(s.missing, [SectionKey::Background, SectionKey::Situation]);
    }

    #[test]
    fn cut_before_signature_disclaimer_and_quote() {
        let s = read("Namn och ålder: A 3 år\nFrågeställning: Hur?\n\nMed vänliga hälsningar\nAnna\nFråga: inte denna\n");
        assert_eq!(section(&s, SectionKey::Question), Some("Hur?"));
        let s = read("Frågeställning: Hur?\nDetta e-postmeddelande kan innehålla sekretess.\nBakgrund: x");
        assert_eq!(section(&s, SectionKey::Background), None);
        let s = read("Frågeställning: Hur?\nDen 3 mars 2026 kl. 10:12 skrev Anna Berg <anna.berg@kommun.test>:\n> Bakgrund: x");
        assert_eq!(section(&s, SectionKey::Background), None);
        assert_eq!(section(&s, SectionKey::Question), Some("Hur?"));
        let s = read("Tack!\n\nFrån: Anna Berg\nSkickat: den 3 mars 2026 10:12\nTill: Forum\nÄmne: Anmälan\n\nBakgrund: x");
        assert!(s.sections.is_empty());
        let s = read("ok\n-----Ursprungligt meddelande-----\nBakgrund: x");
        assert!(s.sections.is_empty());
        // "VH" (vårdnadshavare) is not a sign-off.
        let s = read("Kort bakgrund: x\nVH har gett samtycke.\n");
        assert_eq!(section(&s, SectionKey::Background), Some("x\nVH har gett samtycke."));
        let s = read("Frågeställning: Hur?\nTack!\nAnna");
        assert_eq!(section(&s, SectionKey::Question), Some("Hur?"));
    }

    #[test]
    fn forwarded_submission_is_read_from_the_forward() {
        let text = "Hej, skickar vidare Annas anmälan.\n/Lars\n\n-----Ursprungligt meddelande-----\n\
            Från: Anna Berg <anna.berg@kommun.test>\nSkickat: den 3 mars 2026 10:12\nTill: Lars Ek\nÄmne: Anmälan\n\n\
            Namn och ålder: A 3 år\nBakgrund: ADHD\n\nMvh Anna\n";
        let s = read_with(text, "VB: Anmälan");
        assert_eq!(section(&s, SectionKey::NameAge), Some("A 3 år"));
        assert_eq!(section(&s, SectionKey::Background), Some("ADHD"));
        // A reply does not read the quote.
        let s = read_with(text, "SV: Anmälan");
        assert!(s.sections.is_empty());
    }

    #[test]
    fn iphone_forward_behind_quote_marks() {
        let text = "Se nedan, anmäler till nästa möte.\n\nSkickat från min iPhone\n\nBörjan på vidarebefordrat brev:\n\n\
            > Från: Karin Sjö <karin.sjo@kommun.test>\n> Datum: 3 mars 2026 kl. 10:12:45 CET\n> Till: Anna Berg <anna.berg@kommun.test>\n\
            > Ämne: Anmälan\n> \n> Namn och ålder: E 3 år\n> Kort bakgrund: ADHD\n>\n> Frågeställning: Vem?\n> \n> Mvh Karin\n\
            > > Namn: gammal\n";
        for subject in ["VB: Anmälan", "Fwd: Anmälan", "Anmälan"] {
            let s = read_with(text, subject);
            assert_eq!(section(&s, SectionKey::NameAge), Some("E 3 år"), "{subject}");
            assert_eq!(section(&s, SectionKey::Question), Some("Vem?"), "{subject}");
            assert_eq!(s.missing, [SectionKey::Situation], "{subject}");
        }
        // A reply quoting an earlier mail is not a forward.
        let reply = "Tack!\n\nDen 3 mars 2026 kl. 10:12 skrev Karin Sjö <karin.sjo@kommun.test>:\n> Namn och ålder: E 3 år\n";
        assert!(read_with(reply, "SV: Anmälan").sections.is_empty());
        // Dashed forward rules of other clients, Swedish and English.
        for marker in [
            "---------- Vidarebefordrat meddelande ---------",
            "-------- Forwarded Message --------",
            "----- Forwarded Message -----",
            "Begin forwarded message:",
        ] {
            let s = read_with(
                &format!("FYI\n\n{marker}\nFrån: Karin\nÄmne: Anmälan\n\nNamn och ålder: E 3 år\n"),
                "Anmälan",
            );
            assert_eq!(section(&s, SectionKey::NameAge), Some("E 3 år"), "{marker}");
        }
    }

    #[test]
    fn a_signature_that_starts_with_a_name() {
        let s = read("Frågeställning: Vem?\n\nPer\n");
        assert_eq!(section(&s, SectionKey::Question), Some("Vem?"));
        let s = read("Frågeställning: Vem?\n\nKarin Sjö\nHemtjänsten\n\nDen 3 mars 2026 skrev Lars <l@k.test>:\n> x\n");
        assert_eq!(section(&s, SectionKey::Question), Some("Vem?"));
        let s = read("Frågeställning: Vem?\nPer Holm\nBiträdande enhetschef\nTel 010-123 45 67\n");
        assert_eq!(section(&s, SectionKey::Question), Some("Vem?"));
        // A long run of name-like lines is read in linear time (and is the answer).
        let s = read(&format!("Frågeställning: Vem?\n{}", "Per Holm\n".repeat(20_000)));
        assert_eq!(
            section(&s, SectionKey::Question).map(str::len),
            Some("Vem?".len() + "\nPer Holm".len() * 20_000)
        );
        // An answer that is a capitalised word is an answer.
        let s = read("Frågeställning:\n\nUmgänge\n");
        assert_eq!(section(&s, SectionKey::Question), Some("Umgänge"));
        let s = read("Aktuell situation: Bor hemma.\n\nSkola\nFritids\nKorttids\nHabilitering\n");
        assert_eq!(
            section(&s, SectionKey::Situation),
            Some("Bor hemma.\n\nSkola\nFritids\nKorttids\nHabilitering")
        );
    }

    #[test]
    fn guidance_under_a_heading_belongs_to_the_heading() {
        let s = read("Kort bakgrund\n(diagnoser, tidigare utredningar)\tADHD.\nAktuell situation\n\n(pågående insatser)\nSkola.\n");
        assert_eq!(section(&s, SectionKey::Background), Some("ADHD."));
        assert_eq!(section(&s, SectionKey::Situation), Some("Skola."));
        // In the answer, a bracket is the answer's own.
        let s = read("Kort bakgrund: ADHD.\n(utredd 2024)\n");
        assert_eq!(section(&s, SectionKey::Background), Some("ADHD.\n(utredd 2024)"));
    }

    #[test]
    fn e_service_footer_and_out_of_hours_note_end_the_text() {
        let s = read(
            "Namn och ålder: E 3 år\nFrågeställning: Vem?\n\nInskickad av\nAnna Berg, Barn och unga\n\
             Detta meddelande skickades automatiskt från e-tjänsten.\n",
        );
        assert_eq!(section(&s, SectionKey::Question), Some("Vem?"));
        let s = read("Frågeställning: Vem?\nAnna Berg\nBiträdande enhetschef\nVid akuta ärenden ring 08-123 45 67\n");
        assert_eq!(section(&s, SectionKey::Question), Some("Vem?\nAnna Berg\nBiträdande enhetschef"));
        assert!(!s.urgent);
        // Above every heading it is no trailer.
        let s = read("Inskickad av: Anna Berg\nNamn och ålder: E 3 år\n");
        assert_eq!(section(&s, SectionKey::NameAge), Some("E 3 år"));
    }

    #[test]
    fn optional_fields() {
        let s = read_with(
            "Namn: A\nBerörda enheter: Barn och unga, Vuxenenheten och Äldreomsorg; Funktionsstöd.\n\
             Samtycke finns ej\nAkut: nej\n",
            "SV: Kvittens ärende 2026-0042",
        );
        assert_eq!(s.units, ["Barn och unga", "Vuxenenheten", "Äldreomsorg", "Funktionsstöd"]);
        assert_eq!(s.consent, Some(Consent::Nej));
        assert!(!s.urgent);
        assert_eq!(s.case_ref.as_deref(), Some("2026-0042"));
        assert!(read("Anonym konsultation\nNamn: A").consent == Some(Consent::Anonym));
        assert!(read("Samtycke:\nJa, muntligt").consent == Some(Consent::Ja));
        assert!(read_with("Namn: A", "AKUT: anmälan").urgent);
        assert!(!read("Frågeställning: ärendet är inte akut").urgent);
        assert!(read("Akut: ja").urgent);
        assert!(!read("Bakgrund: inlagd akut 2024").urgent);
    }

    #[test]
    fn withdrawal() {
        assert!(read("Återkalla").withdraw);
        assert!(read("Hej!\n\nVi återkallar ärendet, det har löst sig.\n\nMvh").withdraw);
        assert!(read("Hej, återkallar ärendet.").withdraw);
        assert!(!read("Hej!\nKan ni återkalla kallelsen?").withdraw);
    }

    #[test]
    fn case_ref_pattern() {
        assert_eq!(find_case_ref("Ärende 2026-0042"), Some("2026-0042".into()));
        assert_eq!(find_case_ref("Möte 2026-03-14"), None);
        assert_eq!(find_case_ref("Tel 2026-004212"), None);
        assert_eq!(find_case_ref("2026-0042"), Some("2026-0042".into()));
    }
}
