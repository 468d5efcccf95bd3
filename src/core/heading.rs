//! Heading matching, shared by every reader of what people write: the submission reader
//! ([`crate::core::submission`]), the handover reader ([`crate::core::handover`]) and the
//! decision-line reader ([`crate::core::decision`]). Each reader keeps its own vocabulary (one
//! table each); how a line is matched against it is decided here, once:
//!
//! - **Where:** only at a heading's position, the start of a line (a bold run or a table cell is
//!   rendered at the start of a line by [`crate::mail::html`]), after list markers: bullets,
//!   dashes, numbers (`1.`, `2)`), letters (`A.`, `b)`, `(c)`) and roman numerals (`IV.`), in
//!   any mix ([`strip_line_prefix`]).
//! - **How:** like a person reads. Case and diacritics are folded (`fragestallning`,
//!   `Namn och alder`), whitespace runs are one space and spaces around `/ , & +` do not count
//!   ([`fold_key`]). Then a small edit distance is allowed, relative to the length of the alias
//!   ([`budget`]: none up to 5 letters, one up to 11, two beyond), so `Kort backgrund`,
//!   `Aktuel situation` and `frågeställnig` are their headings while `Namnet` is not `Namn`.
//!   A misspelling must start with the right letter and end on a word boundary.
//! - **Never too loose:** an exact (folded) match always wins over a misspelled one; among
//!   misspelled matches, the closest wins, and two different fields equally close is no match.
//!   Each vocabulary is checked by a unit test so that no two aliases of different fields lie
//!   within both their budgets of each other ([`vocabulary_conflicts`]).
//! - **What follows:** a heading is followed by a separator (`:`, `-`, `–`, `—`, `|`, a tab),
//!   a parenthetical or `/`-qualifier up to a colon, or the end of the line ([`heading_rest`]);
//!   otherwise it is prose ("Bakgrunden är …", "Fråga gärna …").
//! - **Empty answers:** [`is_placeholder`] tells a lone dash, `x`, `?`, `saknas`, `vet ej`,
//!   `N/A` and the like from an answer.
//!
//! Everything here is pure and linear in the length of the line (the matcher looks at no more
//! of a line than the longest alias plus its budget).

/// A vocabulary: canonical field → aliases, folded once.
pub struct Vocabulary<F> {
    entries: Vec<Entry<F>>,
    /// The longest folded alias, in characters: how much of a line is ever looked at.
    longest: usize,
    /// The first characters of the folded aliases: a line starting otherwise is no heading
    /// (a misspelling must start with the right letter), and is not folded at all.
    firsts: Vec<char>,
}

struct Entry<F> {
    field: F,
    key: Vec<char>,
    budget: usize,
    /// The value may follow the alias without a separator when it starts with one of these
    /// words ("Samtycke finns").
    bare_words: &'static [&'static str],
}

/// A heading found at the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a, F> {
    pub field: F,
    /// The text after the heading and its separator (trimmed, possibly empty).
    pub rest: &'a str,
    /// The edit distance of the match: 0 when the line spells the alias (up to case and
    /// diacritics).
    pub distance: usize,
}

impl<F: Copy + PartialEq> Vocabulary<F> {
    /// Builds a vocabulary from `(field, aliases, bare value words)` rows.
    pub fn new(rows: &[(F, &[&str], &'static [&'static str])]) -> Self {
        let mut entries = Vec::new();
        for &(field, aliases, bare_words) in rows {
            for alias in aliases {
                let key = fold_key(alias);
                let budget = if key.len() + budget(key.len()) < MAX_KEY {
                    budget(key.len())
                } else {
                    0
                };
                entries.push(Entry {
                    field,
                    budget,
                    key,
                    bare_words,
                });
            }
        }
        let longest = entries.iter().map(|e| e.key.len() + e.budget).max().unwrap_or(0);
        let mut firsts: Vec<char> = entries.iter().filter_map(|e| e.key.first().copied()).collect();
        firsts.sort_unstable();
        firsts.dedup();
        Vocabulary { entries, longest, firsts }
    }

    /// The heading `line` starts with, if any (see the module documentation).
    pub fn heading<'a>(&self, line: &'a str) -> Option<Found<'a, F>> {
        let body = strip_line_prefix(line);
        if body.is_empty() {
            return None;
        }
        self.find(body, true, |after, e| heading_rest(after, e.bare_words))
    }

    /// The word (alias) `s` starts with, matched like a heading but followed by anything: a
    /// keyword in front of its argument ("ÖVERLÄMNA till …"). An exact alias may be the start of
    /// a longer word ("överlämnas" by "överlämna"); `rest` is what follows that word.
    pub fn leading<'a>(&self, s: &'a str) -> Option<Found<'a, F>> {
        self.find(s, false, |after, _| Some(after))
    }

    /// Exact (folded) matches first, the longest that `follow` accepts; else the closest
    /// misspelled one within its budget (then the longest); equally close different fields are
    /// no match. With `whole_word` false an exact alias may go on as a longer word.
    fn find<'a>(&self, body: &'a str, whole_word: bool, follow: impl Fn(&'a str, &Entry<F>) -> Option<&'a str>) -> Option<Found<'a, F>> {
        let first = body.chars().find(|c| !c.is_whitespace()).map(fold_char)?;
        if self.firsts.binary_search(&first).is_err() {
            return None;
        }
        let folded = Folded::of(body, self.longest + 1);
        let mut best: Option<(usize, Found<'a, F>)> = None;
        for e in &self.entries {
            let n = e.key.len();
            if folded.len < n || folded.chars()[..n] != e.key[..] || (whole_word && !folded.boundary(n)) {
                continue;
            }
            if best.as_ref().is_some_and(|(len, _)| *len >= n) {
                continue;
            }
            let after = &body[folded.end(n)..];
            let after = if whole_word {
                after
            } else {
                after.trim_start_matches(char::is_alphabetic)
            };
            if let Some(rest) = follow(after, e) {
                best = Some((
                    n,
                    Found {
                        field: e.field,
                        rest,
                        distance: 0,
                    },
                ));
            }
        }
        if let Some((_, found)) = best {
            return Some(found);
        }
        let mut fuzzy: Vec<(usize, usize, Found<'a, F>)> = Vec::new();
        for e in &self.entries {
            if e.budget == 0 || folded.chars().first() != e.key.first() {
                continue;
            }
            let Some((distance, end)) = folded.closest_prefix(&e.key, e.budget).filter(|&(d, _)| d > 0) else {
                continue;
            };
            if let Some(rest) = follow(&body[folded.end(end)..], e) {
                fuzzy.push((
                    distance,
                    e.key.len(),
                    Found {
                        field: e.field,
                        rest,
                        distance,
                    },
                ));
            }
        }
        let closest = fuzzy.iter().map(|(d, _, _)| *d).min()?;
        let mut candidates = fuzzy.into_iter().filter(|(d, _, _)| *d == closest);
        let (_, mut len, mut found) = candidates.next()?;
        for (_, l, f) in candidates {
            if f.field != found.field {
                return None;
            }
            if l > len {
                (len, found) = (l, f);
            }
        }
        Some(found)
    }

    /// Pairs of aliases of different fields that one line could match both of: each alias
    /// against the word-boundary prefixes of the other, within their budgets together. A
    /// vocabulary must have none (checked by its reader's tests).
    pub fn conflicts(&self) -> Vec<(String, String)> {
        vocabulary_conflicts(&self.entries)
    }
}

fn vocabulary_conflicts<F: PartialEq>(entries: &[Entry<F>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in entries {
        for b in entries {
            if a.field == b.field || a.key.len() > b.key.len() {
                continue;
            }
            let limit = a.budget + b.budget;
            let close = (a.key.len().saturating_sub(limit)..=b.key.len().min(a.key.len() + limit))
                .filter(|&end| end == b.key.len() || !b.key[end].is_alphanumeric())
                .any(|end| levenshtein(&a.key, &b.key[..end]) <= limit);
            if close {
                out.push((a.key.iter().collect(), b.key.iter().collect()));
            }
        }
    }
    out
}

/// The longest alias (folded, plus its budget) the misspelling matcher looks at; longer ones
/// match only exactly (a test checks every vocabulary stays below it).
const MAX_KEY: usize = 128;

/// How many edits a misspelled alias of `len` folded characters may have.
pub fn budget(len: usize) -> usize {
    match len {
        0..=5 => 0,
        6..=11 => 1,
        _ => 2,
    }
}

/// A line's start, folded, with where each folded character ends in the original; on the
/// stack (at most [`MAX_KEY`] characters are ever looked at).
struct Folded {
    buf: [char; MAX_KEY],
    ends: [usize; MAX_KEY],
    len: usize,
}

/// Folds `s` character by character (see [`fold_key`]), handing each folded character and the
/// byte offset after it in `s` to `push` until it returns false.
fn fold_each(s: &str, mut push: impl FnMut(char, usize) -> bool) {
    let mut space_at: Option<usize> = None;
    let mut last: Option<char> = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if last.is_some() && space_at.is_none() {
                space_at = Some(i);
            }
            continue;
        }
        let f = fold_char(c);
        if let Some(at) = space_at.take()
            && !is_joiner(f)
            && last.is_some_and(|l| !is_joiner(l))
            && !push(' ', at)
        {
            return;
        }
        if !push(f, i + c.len_utf8()) {
            return;
        }
        last = Some(f);
    }
}

impl Folded {
    /// Folds at most `limit` (and at most [`MAX_KEY`]) characters of `s`.
    fn of(s: &str, limit: usize) -> Folded {
        let mut out = Folded {
            buf: ['\0'; MAX_KEY],
            ends: [0; MAX_KEY],
            len: 0,
        };
        let limit = limit.min(MAX_KEY);
        fold_each(s, |c, end| {
            if out.len >= limit {
                return false;
            }
            out.buf[out.len] = c;
            out.ends[out.len] = end;
            out.len += 1;
            true
        });
        out
    }

    fn chars(&self) -> &[char] {
        &self.buf[..self.len]
    }

    /// The byte offset in the original after the first `n` folded characters.
    fn end(&self, n: usize) -> usize {
        if n == 0 { 0 } else { self.ends[n - 1] }
    }

    /// Whether a word may end after `n` folded characters.
    fn boundary(&self, n: usize) -> bool {
        self.chars().get(n).is_none_or(|c| !c.is_alphanumeric())
    }

    /// The closest word-boundary prefix of the line to `key` within `budget` edits: its
    /// distance and length. Banded Levenshtein, `O(len × budget)`, on the stack.
    fn closest_prefix(&self, key: &[char], budget: usize) -> Option<(usize, usize)> {
        let line = &self.chars()[..self.len.min(key.len() + budget)];
        let width = line.len() + 1;
        if width > MAX_KEY || key.len() >= MAX_KEY {
            return None;
        }
        // Two rows on the stack; only the band |i - j| <= budget is computed, the rest stays
        // "too far" (budget + 1). prev[j]: distance between key[..i] and line[..j].
        let far = budget + 1;
        // Only the first `width` cells are used; the rows are swapped by reference (swapping
        // the arrays themselves copied them whole at every row: issue 20's profile).
        let (mut a, mut b) = ([far; MAX_KEY], [far; MAX_KEY]);
        let (mut prev, mut cur) = (&mut a[..width], &mut b[..width]);
        for (j, cell) in prev.iter_mut().enumerate().take(width.min(far)) {
            *cell = j;
        }
        for (i, &k) in key.iter().enumerate() {
            let row = i + 1;
            let lo = row.saturating_sub(budget);
            let hi = (row + budget).min(width - 1);
            if lo > hi {
                return None;
            }
            if lo == 0 {
                cur[0] = row;
            } else {
                cur[lo - 1] = far;
            }
            let mut row_min = if lo == 0 { row } else { far };
            for j in lo.max(1)..=hi {
                let sub = prev[j - 1] + usize::from(line[j - 1] != k);
                cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1).min(far);
                row_min = row_min.min(cur[j]);
            }
            if row_min > budget {
                return None;
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        (key.len().saturating_sub(budget)..width)
            .filter(|&end| self.boundary(end))
            .map(|end| (prev[end], end))
            .filter(|&(d, _)| d <= budget)
            .min_by_key(|&(d, end)| (d, end.abs_diff(key.len())))
    }
}

fn is_joiner(c: char) -> bool {
    matches!(c, '/' | ',' | '&' | '+')
}

/// An alias as the matcher compares it: lowercase, diacritics folded (`å ä → a`, `ö → o`,
/// `é → e`, …), whitespace runs one space, no spaces around `/ , & +`.
pub fn fold_key(s: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len());
    fold_each(s, |c, _| {
        out.push(c);
        true
    });
    out
}

/// One character, lowercased and without its diacritic.
pub fn fold_char(c: char) -> char {
    let c = if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    };
    match c {
        'å' | 'ä' | 'á' | 'à' | 'â' | 'ã' | 'æ' => 'a',
        'ö' | 'ø' | 'ó' | 'ò' | 'ô' | 'õ' => 'o',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'ü' | 'ú' | 'ù' | 'û' => 'u',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ç' => 'c',
        'ñ' => 'n',
        '–' | '—' | '‐' | '‑' => '-',
        c => c,
    }
}

/// `s` folded as a whole (see [`fold_key`]), as a string.
pub fn fold(s: &str) -> String {
    fold_key(s).into_iter().collect()
}

/// The edit distance between two folded strings.
pub fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Strips indentation and list markers in front of a possible heading: bullets and dashes
/// (`-`, `•`, `*`, `–`, …), markdown emphasis and `#`, numbers (`1.`, `2)`, `3 -`, `4:`),
/// letters (`A.`, `b)`, `(c)`) and roman numerals (`IV.`, `ii)`), in any mix.
pub fn strip_line_prefix(line: &str) -> &str {
    let mut s = line.trim_start();
    loop {
        let before = s.len();
        s = s.trim_start_matches([
            '-', '•', '*', '–', '—', '·', '▪', '◦', '‣', '_', '#', '○', '■', '□', '➢', '►', '\u{f0b7}', '\u{f0a7}', '§',
        ]);
        s = s.trim_start();
        // Numbering: "1.", "1)", "2 -", "3:".
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if (1..=2).contains(&digits) {
            let rest = s[digits..].trim_start();
            if let Some(r) = rest.strip_prefix(['.', ')', '-', ':', '–']) {
                s = r.trim_start();
            }
        }
        s = strip_letter_marker(s);
        if s.len() == before {
            return s;
        }
    }
}

/// Roman numerals a list goes up to, lowercase (uppercase is accepted too, not a mix).
const ROMAN: &[&str] = &["ii", "iii", "iv", "vi", "vii", "viii", "ix", "xi", "xii"];

/// A letter or roman-numeral list marker: `A.`, `b)`, `(c)`, `IV.`, `(ii)`, followed by
/// whitespace. "A.B. 14 år" and "I dag" are no markers.
fn strip_letter_marker(s: &str) -> &str {
    let (open, inner) = match s.strip_prefix('(') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let len = inner.bytes().take_while(u8::is_ascii_alphabetic).count();
    if len == 0 || len > 4 {
        return s;
    }
    let word = &inner[..len];
    let roman = ROMAN
        .iter()
        .any(|r| *r == word || r.eq_ignore_ascii_case(word) && word.bytes().all(|b| b.is_ascii_uppercase()));
    if len > 1 && !roman {
        return s;
    }
    let after = &inner[len..];
    let closed = if open {
        after.strip_prefix(')')
    } else {
        after.strip_prefix(['.', ')'])
    };
    match closed {
        Some(r) if r.starts_with(char::is_whitespace) => r.trim_start(),
        _ => s,
    }
}

/// After an alias: optional emphasis closers and a parenthetical, then a separator or the end
/// of the line. Returns the text after the separator, trimmed; `None` when the alias is
/// followed by running text (prose, not a heading), unless that text starts with one of
/// `bare_words` ("Samtycke finns").
pub fn heading_rest<'a>(after: &'a str, bare_words: &[&str]) -> Option<&'a str> {
    let mut s = skip_emphasis(after);
    if s.starts_with('(')
        && let Some(close) = s.find(')')
    {
        s = skip_emphasis(&s[close + 1..]);
    }
    // A qualifier after '/' or ',' up to a colon: "Aktuell problembild och
    // frågeställning/fråga till mötet:", "Namn och ålder, initialer räcker:".
    if s.starts_with(['/', ','])
        && let Some(colon) = s.find(':').filter(|&c| s[..c].chars().count() <= 60)
    {
        return Some(s[colon + 1..].trim());
    }
    if let Some(first) = s.chars().next()
        && matches!(first, ':' | '-' | '–' | '—' | '|' | '\t')
    {
        let rest = skip_emphasis(&s[first.len_utf8()..]);
        return Some(rest.trim_start_matches(':').trim());
    }
    let t = s.trim();
    if t.is_empty() {
        return Some("");
    }
    if bare_words.contains(&first_word(t).as_str()) {
        return Some(t);
    }
    None
}

fn skip_emphasis(s: &str) -> &str {
    s.trim_start_matches([' ', '*', '_']).trim_start_matches(' ')
}

/// The first word of `s`, lowercased.
pub fn first_word(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or_default()
        .to_lowercase()
}

/// Words that may follow a consent heading directly, without a separator ("Samtycke finns",
/// "Samtycke saknas", "Samtycke lämnat"): shared by the submission and handover vocabularies.
pub const CONSENT_WORDS: &[&str] = &[
    "finns",
    "ja",
    "nej",
    "saknas",
    "inhämtat",
    "inhämtats",
    "föreligger",
    "lämnat",
    "lämnats",
    "ok",
    "har",
    "ej",
    "inte",
    "är",
];

/// Answers that say nothing (compared folded, without surrounding punctuation).
const PLACEHOLDERS: &[&str] = &[
    "x",
    "xx",
    "xxx",
    "saknas",
    "vet ej",
    "vet inte",
    "ej kant",
    "inte kant",
    "okant",
    "n/a",
    "na",
    "n.a",
    "ingen uppgift",
    "inga uppgifter",
    "uppgift saknas",
    "uppgifter saknas",
    "fyll i",
    "fylls i",
    "fylls i senare",
    "kommer",
    "kommer senare",
    "aterkommer",
    "tbd",
    "tba",
    "ej ifyllt",
    "inte ifyllt",
];

/// Whether an answer is a placeholder: nothing but punctuation ("-", "–", ".", "?", "…"), or a
/// word that says the part is not filled in ("x", "saknas", "vet ej", "N/A", …).
pub fn is_placeholder(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() || !t.chars().any(char::is_alphanumeric) {
        return true;
    }
    if t.chars().count() > 30 {
        return false;
    }
    let inner = t.trim_matches(|c: char| !c.is_alphanumeric());
    PLACEHOLDERS.contains(&fold(inner).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum F {
        A,
        B,
    }

    fn vocab() -> Vocabulary<F> {
        Vocabulary::new(&[
            (F::A, &["Aktuell situation", "Namn och ålder", "Namn"], &[]),
            (F::B, &["Aktuell problembild", "Frågeställning"], &[]),
        ])
    }

    #[test]
    fn list_markers() {
        for line in [
            "A. Namn",
            "b) Namn",
            "(c) Namn",
            "IV. Namn",
            "(ii) Namn",
            "- 1. Namn",
            "• a) Namn",
            "  12) Namn",
            "**Namn",
        ] {
            assert_eq!(strip_line_prefix(line), "Namn", "{line}");
        }
        for line in ["A.B. 14 år", "I dag", "Ab. x", "IIV. x", "Iv. x", "(x"] {
            assert_eq!(strip_line_prefix(line), line, "{line}");
        }
    }

    #[test]
    fn folded_and_misspelled() {
        let v = vocab();
        let f = |l: &'static str| v.heading(l).map(|f| (f.field, f.rest, f.distance));
        assert_eq!(f("namn och alder: x"), Some((F::A, "x", 0)));
        assert_eq!(f("Aktuel situation: x"), Some((F::A, "x", 1)));
        assert_eq!(f("Aktuell situtation"), Some((F::A, "", 1)));
        assert_eq!(f("fragestallnig - x"), Some((F::B, "x", 1)));
        assert_eq!(f("C. Frågeställning:x"), Some((F::B, "x", 0)));
        // Prose, a wrong first letter, a word that goes on, too many edits.
        assert_eq!(f("Aktuell situation är oklar"), None);
        assert_eq!(f("Oktuell situation: x"), None);
        assert_eq!(f("Namnet: x"), None);
        assert_eq!(f("Aktul situation: x"), Some((F::A, "x", 2)));
        assert_eq!(f("Aktl sitton: x"), None);
        assert!(v.conflicts().is_empty());
    }

    #[test]
    fn the_banded_distance_is_the_plain_one_within_the_budget() {
        let keys = ["aktuell situation", "namn och alder", "bakgrund", "fragestallning"];
        let lines = [
            "aktuel situation: x",
            "aktuell situtation",
            "aktul situation - y",
            "namn och aldr: z",
            "namn o alder",
            "bakrund: a",
            "backgrund",
            "bakgrunden: b",
            "fragestallnig",
            "fraagestallningg c",
            "f",
            "",
        ];
        for key in keys {
            let key: Vec<char> = key.chars().collect();
            let b = budget(key.len());
            for line in lines {
                let folded = Folded::of(line, 200);
                let plain = (key.len().saturating_sub(b)..=folded.len.min(key.len() + b))
                    .filter(|&end| folded.boundary(end))
                    .map(|end| (levenshtein(&key, &folded.chars()[..end]), end))
                    .filter(|&(d, _)| d <= b)
                    .min_by_key(|&(d, end)| (d, end.abs_diff(key.len())));
                assert_eq!(folded.closest_prefix(&key, b), plain, "{key:?} {line:?}");
            }
        }
    }

    #[test]
    fn equally_close_fields_are_no_match() {
        let v = Vocabulary::new(&[(F::A, &["Planering"], &[]), (F::B, &["Placering"], &[])]);
        assert_eq!(v.conflicts().len(), 2);
        assert_eq!(v.heading("Planering: x").map(|f| f.field), Some(F::A));
        assert_eq!(v.heading("Plamering: x").map(|f| f.field), None);
    }

    #[test]
    fn placeholders() {
        for t in [
            "-", "–", ".", "x", "?", "saknas", "Vet ej.", "N/A", "...", "(saknas)", "okänt", " - ", "XX",
        ] {
            assert!(is_placeholder(t), "{t}");
        }
        for t in ["Xavier 9 år", "Saknas stöd i skolan", "Nej", "Ingen insats pågår", "A.B."] {
            assert!(!is_placeholder(t), "{t}");
        }
    }
}
