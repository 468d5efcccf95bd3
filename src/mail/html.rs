//! HTML to plain text, tuned for the HTML that Outlook, Outlook on the web,
//! Gmail, Apple Mail and Thunderbird put in mail.
//!
//! A single forward pass over the input, no DOM: block elements become line
//! breaks, table rows become one line each (`heading: text` for the two-cell
//! rows of Outlook form tables, `a | b | c` otherwise), list items get `- `,
//! `<blockquote>` lines get `> `, entities are decoded, and `<head>`,
//! `<script>`, `<style>` and comments are dropped. It never panics and runs in
//! time linear in the input (nested tables deeper than [`MAX_TABLE_DEPTH`] are
//! flattened so that joining cells cannot go quadratic).

use crate::core::heading::strip_line_prefix;

/// Tables nested deeper than this are rendered as plain blocks.
const MAX_TABLE_DEPTH: usize = 16;

/// Renders mail HTML as plain text with `\n` line breaks.
pub fn html_to_text(html: &str) -> String {
    let mut r = Renderer::new(html.len());
    r.run(html);
    r.finish()
}

/// An output buffer that collapses whitespace and blank lines.
#[derive(Default)]
struct Sink {
    buf: String,
    /// A space is owed before the next visible character.
    space: bool,
    /// A bold run opened at the start of the current line (after list markers) and is open.
    bold_heading: bool,
    /// Such a bold run ended: a tab is owed before the next visible character on the line, so
    /// that `<b>Namn och ålder</b> Ella` reads as heading and text (`Namn och ålder\tElla`).
    tab: bool,
}

impl Sink {
    fn at_line_start(&self) -> bool {
        self.buf.is_empty() || self.buf.ends_with('\n')
    }

    /// Whether the current line holds nothing but quote marks and list markers.
    fn at_heading_position(&self) -> bool {
        // Only the last few bytes can be a heading position: looking no further back keeps a
        // long line with many bold runs linear.
        let bytes = self.buf.as_bytes();
        let from = bytes.len().saturating_sub(48);
        let start = match bytes[from..].iter().rposition(|&b| b == b'\n') {
            Some(p) => from + p + 1,
            None if from == 0 => 0,
            None => return false,
        };
        let line = self.buf[start..].trim_start_matches(['>', ' ']);
        // A marker like "A." needs the space that follows it (owed, not yet written).
        line.is_empty() || line.len() <= 12 && strip_line_prefix(&format!("{line} ")).is_empty()
    }

    fn open_bold(&mut self) {
        self.bold_heading = self.at_heading_position();
    }

    fn close_bold(&mut self) {
        // A bold heading that ends in its colon needs no tab.
        if std::mem::take(&mut self.bold_heading) && !self.at_heading_position() && !self.buf.ends_with(':') {
            self.tab = true;
        }
    }

    fn push_char(&mut self, c: char, quote: usize) {
        if c.is_whitespace() || c == '\u{200b}' || c == '\u{feff}' {
            if !self.at_line_start() {
                self.space = true;
            }
            return;
        }
        if self.at_line_start() {
            for _ in 0..quote {
                self.buf.push_str("> ");
            }
            self.tab = false;
        } else if std::mem::take(&mut self.tab) {
            self.buf.push('\t');
        } else if self.space {
            self.buf.push(' ');
        }
        self.space = false;
        self.buf.push(c);
    }

    /// Pushes text verbatim (already collapsed), e.g. a rendered table row.
    fn push_block_text(&mut self, text: &str, quote: usize) {
        self.block();
        for line in text.split('\n') {
            if !line.is_empty() {
                for _ in 0..quote {
                    self.buf.push_str("> ");
                }
                self.buf.push_str(line);
            }
            self.buf.push('\n');
        }
        self.space = false;
    }

    /// Ends the current line unless already at the start of one.
    fn block(&mut self) {
        self.space = false;
        self.tab = false;
        self.bold_heading = false;
        if !self.at_line_start() {
            self.buf.push('\n');
        }
    }

    /// A hard line break (`<br>`): allows one empty line, never more.
    fn hard_break(&mut self) {
        self.space = false;
        self.tab = false;
        self.bold_heading = false;
        if !self.buf.is_empty() && !self.buf.ends_with("\n\n") {
            self.buf.push('\n');
        }
    }

    fn into_trimmed(self) -> String {
        let mut s = self.buf;
        let end = s.trim_end().len();
        s.truncate(end);
        let start = s.len() - s.trim_start().len();
        s.drain(..start);
        s
    }
}

/// A table being rendered: finished cells of the current row and the open cell.
struct Table {
    cells: Vec<String>,
    cell: Option<Sink>,
}

impl Table {
    fn new() -> Self {
        Table {
            cells: Vec::new(),
            cell: None,
        }
    }

    fn close_cell(&mut self) {
        if let Some(cell) = self.cell.take() {
            self.cells.push(cell.into_trimmed());
        }
    }

    /// Closes the row and returns its rendering (empty when all cells are empty).
    fn close_row(&mut self) -> String {
        self.close_cell();
        let cells: Vec<String> = self.cells.drain(..).filter(|c| !c.is_empty()).collect();
        match cells.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [head, text] => {
                let head = heading_cell(head);
                if head.ends_with(':') {
                    format!("{head} {text}")
                } else {
                    format!("{head}: {text}")
                }
            }
            many => many.join(" | "),
        }
    }
}

/// A form's heading cell as one line. A Word form puts grey guidance under the heading in the
/// same cell ("Kort bakgrund" / "diagnoser, tidigare utredningar"); the guidance belongs to the
/// heading and is put in brackets after it, where the reader skips it. A heading broken over
/// two lines ("Aktuell problembild och" / "frågeställning") is joined.
fn heading_cell(head: &str) -> String {
    let mut lines = head.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut out = lines.next().unwrap_or_default().to_string();
    let mut guidance = String::new();
    for line in lines {
        let continues = out.ends_with(['/', ',', '&', '+']) || [" och", " samt", " eller"].iter().any(|w| out.to_lowercase().ends_with(w));
        if guidance.is_empty() && continues {
            out.push(' ');
            out.push_str(line);
        } else {
            if !guidance.is_empty() {
                guidance.push(' ');
            }
            guidance.push_str(line);
        }
    }
    if guidance.is_empty() {
        return out;
    }
    let colon = out.ends_with(':') || guidance.ends_with(':');
    let out = out.trim_end_matches(':').trim_end();
    let guidance = guidance.trim_end_matches(':').trim();
    let guidance = guidance.strip_prefix('(').and_then(|g| g.strip_suffix(')')).unwrap_or(guidance);
    format!("{out} ({guidance}){}", if colon { ":" } else { "" })
}

struct Renderer {
    out: Sink,
    tables: Vec<Table>,
    /// `<table>` tags seen beyond [`MAX_TABLE_DEPTH`] and not yet closed.
    overflow_tables: usize,
    quote: usize,
    pre: usize,
    in_head: bool,
}

impl Renderer {
    fn new(cap: usize) -> Self {
        Renderer {
            out: Sink {
                buf: String::with_capacity(cap / 2),
                ..Sink::default()
            },
            tables: Vec::new(),
            overflow_tables: 0,
            quote: 0,
            pre: 0,
            in_head: false,
        }
    }

    /// The sink text currently goes to: the open cell of the innermost table
    /// that has one, else the main output. A table without an open cell
    /// (text between `<table>` and `<td>`) writes to its parent.
    fn sink(&mut self) -> &mut Sink {
        for t in self.tables.iter_mut().rev() {
            if let Some(cell) = t.cell.as_mut() {
                return cell;
            }
        }
        &mut self.out
    }

    /// Which quote depth applies to the current sink (cells render unquoted;
    /// the quote is applied when the row lands in the main output).
    fn sink_quote(&self) -> usize {
        if self.tables.iter().any(|t| t.cell.is_some()) {
            0
        } else {
            self.quote
        }
    }

    fn text(&mut self, s: &str) {
        if self.in_head {
            // Text cannot live in <head>: a browser closes it implicitly.
            if s.trim().is_empty() {
                return;
            }
            self.in_head = false;
        }
        let quote = self.sink_quote();
        let pre = self.pre > 0;
        let sink = self.sink();
        let mut rest = s;
        while let Some(pos) = rest.find('&') {
            push_str(sink, &rest[..pos], quote, pre);
            let (decoded, used) = decode_entity(&rest[pos..]);
            match decoded {
                Entity::Char(c) => push_str_char(sink, c, quote, pre),
                Entity::Nothing => {}
                Entity::Literal => push_str_char(sink, '&', quote, pre),
            }
            rest = &rest[pos + used..];
        }
        push_str(sink, rest, quote, pre);
    }

    fn block(&mut self) {
        self.sink().block();
    }

    fn open_table(&mut self) {
        if self.tables.len() >= MAX_TABLE_DEPTH {
            self.overflow_tables += 1;
            self.block();
            return;
        }
        self.block();
        self.tables.push(Table::new());
    }

    fn close_table(&mut self) {
        if self.overflow_tables > 0 {
            self.overflow_tables -= 1;
            self.block();
            return;
        }
        if let Some(mut t) = self.tables.pop() {
            let row = t.close_row();
            self.emit_row(&row);
        }
        self.block();
    }

    fn emit_row(&mut self, row: &str) {
        if row.is_empty() {
            return;
        }
        let quote = self.sink_quote();
        self.sink().push_block_text(row, quote);
    }

    fn close_row(&mut self) {
        if self.overflow_tables > 0 {
            self.block();
            return;
        }
        let row = match self.tables.last_mut() {
            Some(t) => t.close_row(),
            None => {
                self.block();
                return;
            }
        };
        self.emit_row(&row);
    }

    fn open_cell(&mut self) {
        if self.overflow_tables > 0 {
            self.sink().push_char(' ', 0);
            return;
        }
        if self.tables.is_empty() {
            // A stray cell outside any table: treat as an implicit table.
            self.tables.push(Table::new());
        }
        if let Some(t) = self.tables.last_mut() {
            t.close_cell();
            t.cell = Some(Sink::default());
        }
    }

    fn close_cell(&mut self) {
        if self.overflow_tables > 0 {
            return;
        }
        if let Some(t) = self.tables.last_mut() {
            t.close_cell();
        }
    }

    fn tag(&mut self, name: &str, closing: bool, self_closing: bool) {
        if self.in_head {
            if closing && name == "head" || name == "body" {
                self.in_head = false;
                return;
            }
            if is_head_content(name) {
                return;
            }
            // Any other element closes <head> implicitly, as in a browser.
            self.in_head = false;
        }
        match name {
            "head" if !closing && !self_closing => self.in_head = true,
            "br" => self.sink().hard_break(),
            "b" | "strong" => {
                if closing {
                    self.sink().close_bold();
                } else if !self_closing {
                    self.sink().open_bold();
                }
            }
            "table" => {
                if closing {
                    self.close_table();
                } else if !self_closing {
                    self.open_table();
                }
            }
            "tr" => self.close_row(),
            "td" | "th" => {
                if closing {
                    self.close_cell();
                } else {
                    self.open_cell();
                }
            }
            "li" => {
                self.block();
                if !closing {
                    let quote = self.sink_quote();
                    let sink = self.sink();
                    sink.push_char('-', quote);
                    sink.space = true;
                }
            }
            "blockquote" => {
                self.block();
                if closing {
                    self.quote = self.quote.saturating_sub(1);
                } else if !self_closing {
                    self.quote = self.quote.saturating_add(1);
                }
            }
            "pre" => {
                self.block();
                if closing {
                    self.pre = self.pre.saturating_sub(1);
                } else if !self_closing {
                    self.pre = self.pre.saturating_add(1);
                }
            }
            "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul" | "ol" | "dl" | "dt" | "dd" | "hr" | "address" | "article"
            | "aside" | "section" | "header" | "footer" | "nav" | "center" | "form" | "fieldset" | "figure" | "figcaption" | "main"
            | "caption" | "thead" | "tbody" | "tfoot" | "body" | "html" | "title" => self.block(),
            _ => {}
        }
    }

    fn run(&mut self, html: &str) {
        let bytes = html.as_bytes();
        let mut pos = 0;
        let mut text_start = 0;
        while let Some(off) = memchr(b'<', &bytes[pos..]) {
            let lt = pos + off;
            let next = bytes.get(lt + 1).copied();
            match next {
                Some(b'!') => {
                    self.text(&html[text_start..lt]);
                    pos = if bytes[lt..].starts_with(b"<!--") {
                        find(bytes, lt + 4, b"-->").map_or(bytes.len(), |e| e + 3)
                    } else {
                        memchr(b'>', &bytes[lt..]).map_or(bytes.len(), |e| lt + e + 1)
                    };
                    text_start = pos;
                }
                Some(b'?') => {
                    self.text(&html[text_start..lt]);
                    pos = memchr(b'>', &bytes[lt..]).map_or(bytes.len(), |e| lt + e + 1);
                    text_start = pos;
                }
                Some(c) if c.is_ascii_alphabetic() || c == b'/' => {
                    self.text(&html[text_start..lt]);
                    let closing = c == b'/';
                    let name_start = if closing { lt + 2 } else { lt + 1 };
                    let mut name_end = name_start;
                    while name_end < bytes.len()
                        && (bytes[name_end].is_ascii_alphanumeric() || matches!(bytes[name_end], b':' | b'-' | b'_'))
                    {
                        name_end += 1;
                    }
                    let end = tag_end(bytes, name_end);
                    let self_closing = end > 0 && bytes.get(end - 1) == Some(&b'/');
                    let name = html[name_start..name_end].to_ascii_lowercase();
                    pos = (end + 1).min(bytes.len());
                    text_start = pos;
                    if !closing && matches!(name.as_str(), "script" | "style" | "xml" | "title") {
                        // Raw text: skip to the matching end tag.
                        let close = format!("</{name}");
                        pos = find_ci(bytes, pos, close.as_bytes())
                            .map_or(bytes.len(), |e| memchr(b'>', &bytes[e..]).map_or(bytes.len(), |g| e + g + 1));
                        text_start = pos;
                        if name == "title" {
                            self.block();
                        }
                        continue;
                    }
                    if !name.is_empty() {
                        self.tag(&name, closing, self_closing);
                    }
                    if !closing && name == "div" && is_signature_block(&html[name_end..end.min(html.len())]) {
                        // The client marked its signature: a "--" line, as in plain text.
                        let quote = self.sink_quote();
                        let sink = self.sink();
                        sink.block();
                        sink.push_char('-', quote);
                        sink.push_char('-', quote);
                        sink.block();
                    }
                }
                _ => {
                    // A literal '<' in text.
                    pos = lt + 1;
                }
            }
        }
        self.text(&html[text_start.min(html.len())..]);
    }

    fn finish(mut self) -> String {
        while !self.tables.is_empty() {
            self.close_table();
        }
        self.out.into_trimmed()
    }
}

/// A `<div>` the mail client put around the sender's signature: Outlook on the web and new
/// Outlook (`id="Signature"`), Outlook mobile, Gmail (`gmail_signature`), Thunderbird
/// (`moz-signature`), Apple Mail (`AppleMailSignature`).
fn is_signature_block(attrs: &str) -> bool {
    let lower = attrs.to_ascii_lowercase();
    [
        "\"signature\"",
        "=signature ",
        "=signature>",
        "gmail_signature",
        "moz-signature",
        "ms-outlook-mobile-signature",
        "applemailsignature",
    ]
    .iter()
    .any(|m| lower.contains(m))
}

/// Elements that may appear inside `<head>` (Office adds `o:`, `v:`, `w:`).
fn is_head_content(name: &str) -> bool {
    matches!(name, "meta" | "link" | "base" | "noscript" | "head" | "html")
        || name.starts_with("o:")
        || name.starts_with("v:")
        || name.starts_with("w:")
}

fn push_str(sink: &mut Sink, s: &str, quote: usize, pre: bool) {
    for c in s.chars() {
        push_str_char(sink, c, quote, pre);
    }
}

fn push_str_char(sink: &mut Sink, c: char, quote: usize, pre: bool) {
    match c {
        '\n' if pre => sink.hard_break(),
        '\u{ad}' => {} // soft hyphen
        _ => sink.push_char(c, quote),
    }
}

/// Index of the `>` that ends a tag whose attributes start at `from`
/// (quotes respected); `bytes.len()` when there is none.
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => {
                // Only a quote right after '=' (possibly spaced) opens a value.
                let mut j = i;
                while j > from && bytes[j - 1].is_ascii_whitespace() {
                    j -= 1;
                }
                if j > from && bytes[j - 1] == b'=' {
                    quote = Some(b);
                }
            }
            None if b == b'>' => return i,
            None => {}
        }
        i += 1;
    }
    bytes.len()
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn find_ci(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

enum Entity {
    Char(char),
    /// Decodes to nothing (e.g. `&zwnj;`).
    Nothing,
    /// Not an entity: the `&` is literal.
    Literal,
}

/// Decodes the entity at the start of `s` (which starts with `&`); returns it
/// and the number of bytes consumed.
fn decode_entity(s: &str) -> (Entity, usize) {
    let body_end = s
        .as_bytes()
        .iter()
        .take(34)
        .skip(1)
        .position(|&b| b == b';' || !(b.is_ascii_alphanumeric() || b == b'#'));
    let Some(end) = body_end.map(|p| p + 1) else {
        return (Entity::Literal, 1);
    };
    if s.as_bytes().get(end) != Some(&b';') {
        return (Entity::Literal, 1);
    }
    let body = &s[1..end];
    let used = end + 1;
    if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        return match code {
            None => (Entity::Literal, 1),
            Some(0) => (Entity::Char('\u{fffd}'), used),
            Some(c) => (Entity::Char(windows_1252_c1(c)), used),
        };
    }
    match named_entity(body) {
        Some(Some(c)) => (Entity::Char(c), used),
        Some(None) => (Entity::Nothing, used),
        None => (Entity::Literal, 1),
    }
}

/// Browsers read numeric references in 0x80..=0x9F as Windows-1252.
fn windows_1252_c1(code: u32) -> char {
    match code {
        0x80 => '€',
        0x82 => '‚',
        0x84 => '„',
        0x85 => '…',
        0x91 => '‘',
        0x92 => '’',
        0x93 => '“',
        0x94 => '”',
        0x95 => '•',
        0x96 => '–',
        0x97 => '—',
        0x99 => '™',
        _ => char::from_u32(code).unwrap_or('\u{fffd}'),
    }
}

/// Named entities seen in Swedish mail. `Some(None)` decodes to nothing.
fn named_entity(name: &str) -> Option<Option<char>> {
    let c = match name {
        "nbsp" => ' ',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "aring" => 'å',
        "auml" => 'ä',
        "ouml" => 'ö',
        "Aring" => 'Å',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "eacute" => 'é',
        "Eacute" => 'É',
        "egrave" => 'è',
        "Egrave" => 'È',
        "aacute" => 'á',
        "agrave" => 'à',
        "uuml" => 'ü',
        "Uuml" => 'Ü',
        "oslash" => 'ø',
        "Oslash" => 'Ø',
        "aelig" => 'æ',
        "AElig" => 'Æ',
        "ccedil" => 'ç',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "ntilde" => 'ñ',
        "szlig" => 'ß',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "laquo" => '«',
        "raquo" => '»',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "deg" => '°',
        "sect" => '§',
        "para" => '¶',
        "times" => '×',
        "divide" => '÷',
        "plusmn" => '±',
        "frac12" => '½',
        "ensp" | "emsp" | "thinsp" => ' ',
        "shy" | "zwnj" | "zwj" | "lrm" | "rlm" => return Some(None),
        _ => return None,
    };
    Some(Some(c))
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn outlook_paragraphs_and_entities() {
        let html = "<html><head><style>p.MsoNormal{margin:0}</style></head><body>\
            <p class=MsoNormal><b>Namn och &aring;lder</b><o:p></o:p></p>\
            <p class=MsoNormal>A.B. 14 &#229;r, bor hos mamma &amp; pappa<o:p></o:p></p>\
            <p class=MsoNormal><o:p>&nbsp;</o:p></p>\
            <p class=MsoNormal>&Ouml;vrigt &#xF6; &lt;x&gt; &quot;q&quot; &eacute;&nbsp;&nbsp;slut</p>\
            </body></html>";
        assert_eq!(
            html_to_text(html),
            "Namn och ålder\nA.B. 14 år, bor hos mamma & pappa\nÖvrigt ö <x> \"q\" é slut"
        );
    }

    #[test]
    fn form_table_two_cells_become_heading_colon_text() {
        let html = "<table><tr><td><b>Namn och ålder</b></td><td>C.D. 9 år</td></tr>\
            <tr><td>Kort bakgrund:</td><td><p>ADHD.</p><p>Utredd 2024.</p></td></tr>\
            <tr><td>a</td><td>b</td><td>c</td></tr>\
            <tr><td>&nbsp;</td><td>ensam</td></tr></table>";
        assert_eq!(
            html_to_text(html),
            "Namn och ålder: C.D. 9 år\nKort bakgrund: ADHD.\nUtredd 2024.\na | b | c\nensam"
        );
    }

    #[test]
    fn bold_run_at_line_start_ends_in_a_tab() {
        let html = "<p><b>Namn och ålder</b> Ella, 11 år</p><p>A. <strong>Kort bakgrund:</strong> ADHD</p><p>b) <b>Nuläge</b> skola</p>\
            <p>Hon har <b>inte</b> fått stöd.</p><p><b>Bara rubrik</b></p><p><b>Fet</b><br>rad</p>";
        assert_eq!(
            html_to_text(html),
            "Namn och ålder\tElla, 11 år\nA. Kort bakgrund: ADHD\nb) Nuläge\tskola\nHon har inte fått stöd.\nBara rubrik\nFet\nrad"
        );
    }

    #[test]
    fn guidance_in_a_heading_cell_belongs_to_the_heading() {
        let html = "<table><tr><td><p><b>Kort bakgrund</b></p><p style='color:gray'>Diagnoser, tidigare utredningar</p></td>\
            <td>ADHD</td></tr><tr><td><p>Aktuell problembild och</p><p>frågeställning</p></td><td>Vem?</td></tr>\
            <tr><td><p>Namn och ålder:</p><p>(initialer räcker)</p></td><td>E 3 år</td></tr></table>";
        assert_eq!(
            html_to_text(html),
            "Kort bakgrund (Diagnoser, tidigare utredningar): ADHD\nAktuell problembild och frågeställning: Vem?\n\
             Namn och ålder (initialer räcker): E 3 år"
        );
    }

    #[test]
    fn many_bold_runs_on_one_line_stay_linear() {
        let html = format!("<p>{}</p>", "x <b>y</b> ".repeat(200_000));
        let text = html_to_text(&html);
        assert_eq!(text.len(), "x y ".len() * 200_000 - 1);
        assert!(!text.contains('\t'));
    }

    #[test]
    fn marked_signature_blocks_start_with_a_rule() {
        let html = "<div>Text</div><div id=\"Signature\"><div>Lars Ek</div></div>";
        assert_eq!(html_to_text(html), "Text\n--\nLars Ek");
        let html = "<div dir=ltr>Text<br><div class=\"gmail_signature\" data-smartmail=\"gmail_signature\">Per</div></div>";
        assert_eq!(html_to_text(html), "Text\n--\nPer");
        assert_eq!(html_to_text("<div id=\"signatures-list\">x</div>"), "x");
    }

    #[test]
    fn lists_comments_scripts_and_breaks() {
        let html = "<!-- [if mso]>x<![endif]--><ul><li>ett</li><li>två</li></ul>\
            <script>var a = '<p>no</p>';</script>rad<br>ny rad<br><br><br>efter";
        assert_eq!(html_to_text(html), "- ett\n- två\nrad\nny rad\n\nefter");
    }

    #[test]
    fn blockquote_lines_are_marked() {
        let html = "<div>Svar</div><blockquote type=cite><div>Namn: X</div><div>rad 2</div></blockquote>";
        assert_eq!(html_to_text(html), "Svar\n> Namn: X\n> rad 2");
    }

    #[test]
    fn unclosed_head_is_closed_by_content() {
        assert_eq!(html_to_text("<head><meta charset=utf-8><p>Hej</p>"), "Hej");
        assert_eq!(html_to_text("<head><title>T</title>Hej"), "Hej");
    }

    #[test]
    fn broken_input_does_not_panic() {
        for s in [
            "<",
            "<a",
            "<a href='>",
            "&",
            "&#;",
            "&#x110000;",
            "<!--",
            "<td>",
            "</tr></table>",
            "<table><td><table>",
            "<script>",
            "a<b",
            "<p\u{e5}>",
            "&#99999999999;",
        ] {
            let _ = html_to_text(s);
        }
        assert_eq!(html_to_text("a < b & c"), "a < b & c");
    }
}
