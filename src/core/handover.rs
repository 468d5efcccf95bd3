//! Reading the handover information (seed 001, "Ärendeöverlämning efter beslut på
//! samverkansmöte"): what the receiving unit must get, and the consent without which nothing is
//! forwarded. Read from the sender's own text, like a submission: headings in any case, with
//! or without colon, inline or alone on a line, in any order.

use std::collections::BTreeMap;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::core::heading::{CONSENT_WORDS, Vocabulary, is_placeholder};

/// The parts of a handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Bakgrund och familjesituation, any guardian.
    Background,
    /// Aktuell situation.
    Situation,
    /// Funktionsnedsättning/problematik och tidigare utredningar/diagnos.
    Problems,
    /// Pågående insatser och planering.
    Interventions,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Background, Part::Situation, Part::Problems, Part::Interventions];

    /// The heading as the routine writes it.
    pub fn label_sv(self) -> &'static str {
        match self {
            Part::Background => "Bakgrund och familjesituation (ev. vårdnadshavare)",
            Part::Situation => "Aktuell situation",
            Part::Problems => "Funktionsnedsättning/problematik och tidigare utredningar/diagnos",
            Part::Interventions => "Pågående insatser och planering",
        }
    }
}

/// The heading vocabulary, one table: the headings the daemon writes into its request
/// ([`Part::label_sv`], read back as written, parenthesis and all) and the ways people shorten
/// them. `None` is the consent field. Matched by [`crate::core::heading`], like a submission's
/// headings: folded, misspellings within a small budget, only at a heading's position.
const HEADINGS: &[(Option<Part>, &[&str])] = &[
    (
        Some(Part::Background),
        &[
            "Bakgrund och familjesituation",
            "Bakgrund/familjesituation",
            "Bakgrund och familj",
            "Bakgrund/familj",
            "Bakgrund",
            "Familjesituation",
            "Familjesituation och vårdnadshavare",
            "Vårdnadshavare",
        ],
    ),
    (Some(Part::Situation), &["Aktuell situation", "Nuläge", "Nuvarande situation"]),
    (
        Some(Part::Problems),
        &[
            "Funktionsnedsättning/problematik och tidigare utredningar/diagnos",
            "Funktionsnedsättning/problematik och tidigare utredningar",
            "Funktionsnedsättning/problematik",
            "Funktionsnedsättning och problematik",
            "Funktionsnedsättning",
            "Problematik",
            "Problematik och diagnos",
            "Tidigare utredningar/diagnos",
            "Tidigare utredningar och diagnos",
            "Tidigare utredningar",
            "Utredningar/diagnos",
            "Diagnos",
            "Diagnoser",
        ],
    ),
    (
        Some(Part::Interventions),
        &[
            "Pågående insatser och planering",
            "Pågående insatser/planering",
            "Pågående insatser",
            "Insatser och planering",
            "Insatser",
            "Planering",
        ],
    ),
    (None, &["Samtycke"]),
];

static VOCABULARY: LazyLock<Vocabulary<Option<Part>>> = LazyLock::new(|| {
    let rows: Vec<(Option<Part>, &[&str], &'static [&'static str])> = HEADINGS
        .iter()
        .map(|&(part, aliases)| (part, aliases, if part.is_none() { CONSENT_WORDS } else { &[] }))
        .collect();
    Vocabulary::new(&rows)
});

const CONSENT_YES: &[&str] = &[
    "ja",
    "finns",
    "inhämtat",
    "inhämtats",
    "lämnat",
    "lämnats",
    "har lämnats",
    "ok",
    "yes",
];

/// What was read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub parts: BTreeMap<Part, String>,
    pub missing: Vec<Part>,
    /// The sender confirmed that consent was obtained.
    pub consent: bool,
}

fn heading(line: &str) -> Option<(Option<Part>, String)> {
    VOCABULARY.heading(line).map(|f| (f.field, f.rest.to_string()))
}

/// Reads the handover parts from the sender's own text.
pub fn read_handover(own_text: &str) -> Handover {
    let mut parts: BTreeMap<Part, Vec<String>> = BTreeMap::new();
    let mut consent_text: Option<String> = None;
    let mut current: Option<Option<Part>> = None;
    for line in own_text.lines() {
        if let Some((field, rest)) = heading(line) {
            current = Some(field);
            match field {
                Some(p) => {
                    let e = parts.entry(p).or_default();
                    if !rest.is_empty() {
                        e.push(rest);
                    }
                }
                None => consent_text = Some(rest),
            }
            continue;
        }
        match current {
            Some(Some(p)) => parts.entry(p).or_default().push(line.trim().to_string()),
            Some(None) if consent_text.as_deref().is_some_and(str::is_empty) => consent_text = Some(line.trim().to_string()),
            _ => {}
        }
    }
    let parts: BTreeMap<Part, String> = parts
        .into_iter()
        .filter_map(|(k, v)| {
            let text = v.join("\n").trim().to_string();
            // "-", "x", "saknas", "vet ej": the part is not filled in.
            (!is_placeholder(&text)).then_some((k, text))
        })
        .collect();
    let consent = consent_text.is_some_and(|c| {
        let c = c.to_lowercase();
        let c = c.trim_start_matches([':', ' ']);
        !c.starts_with("nej") && !c.starts_with("saknas") && !c.starts_with("ej") && CONSENT_YES.iter().any(|y| c.starts_with(y))
    });
    Handover {
        missing: Part::ALL.into_iter().filter(|p| !parts.contains_key(p)).collect(),
        parts,
        consent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_handover_with_consent() {
        let h = read_handover(
            "Hej, här kommer underlaget.\n\nBakgrund och familjesituation:\nBor med mamma. Pappa är vårdnadshavare.\n\nAktuell situation: Familjehem.\nFUNKTIONSNEDSÄTTNING/PROBLEMATIK och tidigare utredningar/diagnos – Autism, utredd 2023.\n- Pågående insatser och planering: Kontaktperson, LSS-ansökan.\nSamtycke: ja\n",
        );
        assert!(h.missing.is_empty(), "{h:?}");
        assert!(h.consent);
        assert_eq!(h.parts[&Part::Background], "Bor med mamma. Pappa är vårdnadshavare.");
        assert_eq!(h.parts[&Part::Problems], "Autism, utredd 2023.");
    }

    #[test]
    fn missing_parts_and_consent_are_named() {
        let h = read_handover("Bakgrund: Bor med mamma.\nAktuell situation:\n\nSamtycke: nej\n");
        assert_eq!(
            h.missing,
            vec![Part::Situation, Part::Problems, Part::Interventions],
            "an empty heading is missing"
        );
        assert!(!h.consent);
        assert!(read_handover("Samtycke finns").consent);
        assert!(!read_handover("Samtycke saknas").consent);
        assert!(!read_handover("Bakgrund: x").consent, "no consent line, no consent");
    }

    #[test]
    fn the_request_headings_read_back_as_written_and_shortened() {
        // The request as the daemon writes it (templates/sv/handover_request.txt.j2), filled in.
        let mut text = String::new();
        for p in Part::ALL {
            text.push_str(&format!("{}:\nSvar om {p:?}.\n\n", p.label_sv()));
        }
        text.push_str("Samtycke: ja\n");
        let h = read_handover(&text);
        assert!(h.missing.is_empty(), "{h:?}");
        assert!(h.consent);
        assert_eq!(h.parts[&Part::Background], "Svar om Background.");
        // Shortened, misspelled, typed without å/ä/ö, lettered.
        let h = read_handover(
            "A. Bakgrund och familjesituation: Bor med pappa.\nB) Aktuel situation – Skolfrånvaro.\n\
             c) Funktionsnedsattning: ADHD\n(d) Pagaende insatser: Kontaktperson.\nSamtycke finns\n",
        );
        assert!(h.missing.is_empty(), "{h:?}");
        assert!(h.consent);
        // A placeholder is no answer.
        let h = read_handover("Bakgrund: -\nAktuell situation: vet ej\nDiagnos: x\nInsatser: ?\n");
        assert_eq!(h.missing, Part::ALL.to_vec());
    }

    #[test]
    fn the_vocabulary_has_no_two_fields_one_line_could_match() {
        assert_eq!(VOCABULARY.conflicts(), Vec::<(String, String)>::new());
    }

    #[test]
    fn prose_is_not_a_heading() {
        let h = read_handover("Bakgrunden till detta är oklar.\nInsatserna har inte börjat.\n");
        assert!(h.parts.is_empty(), "{h:?}");
    }
}
