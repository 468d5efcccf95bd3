//! Reading the handover information (seed 001, "Ärendeöverlämning efter beslut på
//! samverkansmöte"): what the receiving unit must get, and the consent without which nothing is
//! forwarded. Read from the sender's own text, like a submission: headings in any case, with
//! or without colon, inline or alone on a line, in any order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// The heading vocabulary (lowercase prefixes), one table. `None` is the consent field.
const HEADINGS: &[(Option<Part>, &[&str])] = &[
    (
        Some(Part::Background),
        &[
            "bakgrund och familjesituation",
            "bakgrund/familjesituation",
            "bakgrund",
            "familjesituation",
        ],
    ),
    (Some(Part::Situation), &["aktuell situation", "nuläge", "nuvarande situation"]),
    (
        Some(Part::Problems),
        &[
            "funktionsnedsättning/problematik och tidigare utredningar/diagnos",
            "funktionsnedsättning/problematik",
            "funktionsnedsättning",
            "problematik",
            "tidigare utredningar",
            "utredningar/diagnos",
            "diagnos",
        ],
    ),
    (
        Some(Part::Interventions),
        &[
            "pågående insatser och planering",
            "pågående insatser",
            "insatser och planering",
            "insatser",
            "planering",
        ],
    ),
    (None, &["samtycke"]),
];

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
    let t = line
        .trim()
        .trim_start_matches(['-', '*', '•', '–', ' '])
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ')')
        .trim();
    let t = t.trim_start_matches("**").trim();
    let low = t.to_lowercase();
    HEADINGS.iter().find_map(|(part, aliases)| {
        aliases
            .iter()
            .filter(|a| low.starts_with(*a))
            .max_by_key(|a| a.len())
            .and_then(|a| {
                let rest = &t[t.char_indices().nth(a.chars().count()).map_or(t.len(), |(i, _)| i)..];
                let rest = rest.trim_start_matches("**").trim_start();
                // A heading ends the line or is followed by a separator.
                if rest.is_empty() {
                    Some((*part, String::new()))
                } else if let Some(r) = rest
                    .strip_prefix(':')
                    .or_else(|| rest.strip_prefix('–'))
                    .or_else(|| rest.strip_prefix(" -"))
                    .or_else(|| rest.strip_prefix('-'))
                {
                    Some((*part, r.trim().to_string()))
                } else if part.is_none() {
                    // "Samtycke finns", "Samtycke ja".
                    Some((None, rest.trim().to_string()))
                } else {
                    None
                }
            })
    })
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
            (!text.is_empty()).then_some((k, text))
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
        let h = read_handover("Bakgrund: x\nAktuell situation:\n\nSamtycke: nej\n");
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
    fn prose_is_not_a_heading() {
        let h = read_handover("Bakgrunden till detta är oklar.\nInsatserna har inte börjat.\n");
        assert!(h.parts.is_empty(), "{h:?}");
    }
}
