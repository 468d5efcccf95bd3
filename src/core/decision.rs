//! Reading the meeting's decisions: one line per case, as the note taker or convenor writes
//! them in reply to the "beslutsunderlag" mail:
//!
//! ```text
//! 2026-0042: ÖVERLÄMNA till Vuxenenheten
//! 2026-0043: UPPFÖLJNING 2027-01-12
//! 2026-0044: LYFT till enhetschef
//! 2026-0045: AVSLUTAD
//! ```
//!
//! Case and spacing vary, the separator may be `:`, `-`, `–` or nothing, English keywords may be
//! used, and lines that carry no case number and no keyword (greetings, signatures, quoted mail)
//! are not decisions. A line that looks like a decision but cannot be read is reported with why.

use std::sync::LazyLock;

use chrono::NaiveDate;

use crate::core::heading::{Vocabulary, strip_line_prefix};

/// What the meeting decided for a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// ÖVERLÄMNA till UNIT: the case is handed over to that unit (seed 001).
    Handover { unit: String },
    /// UPPFÖLJNING DATE: back on the agenda of the first meeting on or after that date.
    FollowUp { date: NaiveDate },
    /// LYFT: lifted to the unit heads (escalation ladder, level 3).
    Escalate,
    /// LYFT till avdelningschef: lifted past the unit heads to the heads of department (level 4).
    EscalateDepartment,
    /// AVSLUTAD: closed.
    Close,
}

/// One decision line, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line as written (trimmed), to quote back.
    pub text: String,
    pub result: Result<(String, Decision), String>,
}

/// The keywords: (words that start the keyword, the decision kind). Data, not scattered tests.
/// Matched by [`crate::core::heading`], like the headings of a submission: case and diacritics
/// folded ("OVERLAMNA"), a misspelling within a small budget ("UPPFÖLNING"), and an exact
/// keyword may go on as a longer word ("överlämnas", "avslutade").
const KEYWORDS: &[(Kind, &[&str])] = &[
    (
        Kind::Handover,
        &["överlämna", "överlämnas", "överlämning", "handover", "hand over", "transfer"],
    ),
    (
        Kind::FollowUp,
        &["uppföljning", "uppfölj", "följ upp", "follow-up", "follow up", "followup"],
    ),
    (Kind::Escalate, &["lyft", "lyfta", "escalate", "escalated"]),
    (
        Kind::Close,
        &["avslutad", "avslutat", "avslutas", "avsluta", "avslut", "closed", "close"],
    ),
];

static VOCABULARY: LazyLock<Vocabulary<Kind>> = LazyLock::new(|| {
    let rows: Vec<(Kind, &[&str], &'static [&'static str])> = KEYWORDS.iter().map(|&(kind, words)| (kind, words, &[][..])).collect();
    Vocabulary::new(&rows)
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Handover,
    FollowUp,
    Escalate,
    Close,
}

/// The first `YYYY-NNNN` in `s`, with where it ends.
fn case_no(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(8)).find_map(|i| {
        let w = &b[i..i + 9];
        let ok = w[..4].iter().all(u8::is_ascii_digit) && w[4] == b'-' && w[5..].iter().all(u8::is_ascii_digit);
        let bounded = (i == 0 || !b[i - 1].is_ascii_alphanumeric()) && b.get(i + 9).is_none_or(|c| !c.is_ascii_alphanumeric());
        (ok && bounded).then(|| (String::from_utf8_lossy(w).into_owned(), i + 9))
    })
}

/// The keyword `rest` starts with (matched like a heading: folded, small misspellings), where
/// its word ends, and whether the word is a keyword exactly as written: not misspelled, and not
/// a longer word a keyword begins ("överlämnas", "avslutningsvis").
fn keyword(rest: &str) -> Option<(Kind, usize, bool)> {
    VOCABULARY.leading(rest).map(|f| {
        let end = rest.len() - f.rest.len();
        let word = crate::core::heading::fold(&rest[..end]);
        let exact = f.distance == 0
            && KEYWORDS
                .iter()
                .any(|(_, ws)| ws.iter().any(|w| crate::core::heading::fold(w) == word));
        (f.field, end, exact)
    })
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim().trim_end_matches(['.', ',']);
    ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%d/%m/%Y", "%d.%m.%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
}

/// Reads every decision line of a mail's own text (quoted lines, starting with `>`, are skipped).
pub fn read_decisions(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('>') {
            continue;
        }
        // Stop at a quoted earlier mail.
        let low = line.to_lowercase();
        if low.starts_with("-----ursprungligt meddelande")
            || low.starts_with("-----original message")
            || (low.starts_with("från:") && low.contains('@'))
        {
            break;
        }
        let bullet = strip_line_prefix(line);
        let Some((no, end)) = case_no(bullet) else {
            // Without a case number only the keyword itself, as written, makes a line a decision
            // (that lacks its number): prose ("Avslutningsvis …", "Lyfte frågan …",
            // "Överlämnas till …") is not.
            if keyword(bullet).is_some_and(|(_, _, exact)| exact) {
                out.push(Line {
                    text: line.to_string(),
                    result: Err("raden saknar ärendenummer (ÅÅÅÅ-NNNN)".into()),
                });
            }
            continue;
        };
        let rest = bullet[end..].trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | '–' | '—' | '.' | ','));
        let Some((kind, kw_end, _)) = keyword(rest) else {
            out.push(Line {
                text: line.to_string(),
                result: Err("beslutet kunde inte läsas: skriv ÖVERLÄMNA till ENHET, UPPFÖLJNING ÅÅÅÅ-MM-DD, LYFT eller AVSLUTAD".into()),
            });
            continue;
        };
        let arg = rest[kw_end..].trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | '–'));
        let result = match kind {
            Kind::Handover => {
                let unit = arg
                    .strip_prefix("till ")
                    .or_else(|| arg.strip_prefix("Till "))
                    .or_else(|| arg.strip_prefix("TILL "))
                    .or_else(|| arg.strip_prefix("to "))
                    .unwrap_or(arg)
                    .trim()
                    .trim_end_matches('.');
                if unit.is_empty() {
                    Err("ange vilken enhet ärendet överlämnas till (ÖVERLÄMNA till ENHET)".into())
                } else {
                    Ok((no, Decision::Handover { unit: unit.to_string() }))
                }
            }
            Kind::FollowUp => {
                let word = arg.split_whitespace().find(|w| w.chars().any(|c| c.is_ascii_digit())).unwrap_or("");
                match parse_date(word) {
                    Some(date) => Ok((no, Decision::FollowUp { date })),
                    None => Err("ange datum för uppföljningen som ÅÅÅÅ-MM-DD".into()),
                }
            }
            // "LYFT till avdelningschef" / "to the head of department": level 4.
            Kind::Escalate
                if ["avdelning", "department"]
                    .iter()
                    .any(|w| crate::core::heading::fold(arg).contains(w)) =>
            {
                Ok((no, Decision::EscalateDepartment))
            }
            Kind::Escalate => Ok((no, Decision::Escalate)),
            Kind::Close => Ok((no, Decision::Close)),
        };
        out.push(Line {
            text: line.to_string(),
            result,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<(String, Decision)> {
        read_decisions(text).into_iter().map(|l| l.result.expect("readable")).collect()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("d")
    }

    #[test]
    fn the_routines_four_decisions() {
        let got = ok(
            "2026-0042: ÖVERLÄMNA till Vuxenenheten\n2026-0043: UPPFÖLJNING 2027-01-12\n2026-0044: LYFT till enhetschef\n2026-0045: AVSLUTAD\n",
        );
        assert_eq!(
            got,
            vec![
                (
                    "2026-0042".into(),
                    Decision::Handover {
                        unit: "Vuxenenheten".into()
                    }
                ),
                ("2026-0043".into(), Decision::FollowUp { date: date("2027-01-12") }),
                ("2026-0044".into(), Decision::Escalate),
                ("2026-0045".into(), Decision::Close),
            ]
        );
    }

    #[test]
    fn variations_people_write() {
        let got = ok(
            "Hej!\n\n- 2026-0042 – överlämnas till barn och unga.\n* 2026-0043 uppföljning: 2027-1-12\n2026-0044:lyft\n  2026-0045 -  Avslutat  \n2026-0046: handover to Vuxenenheten\n2026-0047: follow-up 2027-02-09\n2026-0048: closed\n\nMvh Lars\n> 2026-0099: AVSLUTAD\n",
        );
        assert_eq!(got.len(), 7);
        assert_eq!(
            got[0],
            (
                "2026-0042".into(),
                Decision::Handover {
                    unit: "barn och unga".into()
                }
            )
        );
        assert_eq!(got[1].1, Decision::FollowUp { date: date("2027-01-12") });
        assert_eq!(got[2].1, Decision::Escalate);
        let level4 = read_decisions(
            "2026-0044: LYFT till avdelningschef\n2026-0045: escalate to the head of department\n2026-0046: LYFT till enhetschef\n",
        );
        let lifted: Vec<Decision> = level4.into_iter().map(|l| l.result.expect("read").1).collect();
        assert_eq!(
            lifted,
            vec![Decision::EscalateDepartment, Decision::EscalateDepartment, Decision::Escalate]
        );
        assert_eq!(got[3].1, Decision::Close);
        assert_eq!(
            got[4].1,
            Decision::Handover {
                unit: "Vuxenenheten".into()
            }
        );
        assert_eq!(got[5].1, Decision::FollowUp { date: date("2027-02-09") });
        assert_eq!(got[6].1, Decision::Close);
    }

    #[test]
    fn keywords_are_matched_like_headings() {
        let got = ok(
            "a) 2026-0042: OVERLAMNA till Vuxenenheten\nB. 2026-0043: UPPFÖLNING 2027-01-12\n2026-0044: Avslutade\n2026-0045: avslutat.\n",
        );
        assert_eq!(
            got.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
            vec![
                Decision::Handover {
                    unit: "Vuxenenheten".into()
                },
                Decision::FollowUp { date: date("2027-01-12") },
                Decision::Close,
                Decision::Close,
            ]
        );
        assert_eq!(VOCABULARY.conflicts(), Vec::<(String, String)>::new());
    }

    #[test]
    fn unreadable_lines_say_why_and_prose_is_not_a_decision() {
        let lines = read_decisions(
            "2026-0042: kanske senare\n2026-0043: UPPFÖLJNING nästa vår\nÖVERLÄMNA till Vuxenenheten\n2026-0044: ÖVERLÄMNA\nVi hade ett bra möte.\n",
        );
        assert_eq!(lines.len(), 4);
        assert!(lines[0].result.as_ref().is_err_and(|e| e.contains("kunde inte läsas")));
        assert!(lines[1].result.as_ref().is_err_and(|e| e.contains("datum")));
        assert!(lines[2].result.as_ref().is_err_and(|e| e.contains("saknar ärendenummer")));
        assert!(lines[3].result.as_ref().is_err_and(|e| e.contains("vilken enhet")));
    }

    /// Issue 15: a keyword that merely begins a word of prose does not make a decision line
    /// (a comment in the decisions' thread is a comment, not an unreadable decision).
    #[test]
    fn prose_beginning_with_a_keyword_is_not_a_decision() {
        for prose in [
            "Avslutningsvis: tack för ett bra möte.",
            "Lyftet av frågan diskuterades.",
            "Uppföljningen får vänta.",
            "Överlämningar tar tid.",
            "Closely related to last week.",
            "Transferring the notes later.",
            "Escalates quickly, I think.",
        ] {
            assert!(read_decisions(prose).is_empty(), "{prose}");
        }
        // The keyword itself without a number is still a decision that lacks its number.
        for line in [
            "AVSLUTAD",
            "Lyft till enhetschef",
            "Överlämna till Vuxenenheten",
            "Överlämnas till Vuxenenheten",
        ] {
            let got = read_decisions(line);
            assert!(
                got.len() == 1 && got[0].result.as_ref().is_err_and(|e| e.contains("saknar ärendenummer")),
                "{line}: {got:?}"
            );
        }
    }

    #[test]
    fn a_quoted_earlier_mail_ends_the_decisions() {
        let got = read_decisions("2026-0042: AVSLUTAD\n\n-----Ursprungligt meddelande-----\nFrån: Samverkan\n2026-0043: AVSLUTAD\n");
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "",
            "2026-",
            "2026-00421: x",
            "ÖÖÖ 2026-0042 ÖVERLÄMNA till",
            "2026-0042:\u{0}\u{ffff}",
            "x2026-0042 AVSLUTAD",
        ] {
            let _ = read_decisions(s);
        }
        assert!(
            read_decisions("x2026-0042 AVSLUTAD").iter().all(|l| l.result.is_err()),
            "a case number must stand alone"
        );
    }
}
