//! The module graph stays as ARCHITECTURE.md draws it: no import circles among the shell's
//! modules, and the pure core uses nothing of the shell.
//!
//! Reads every `src/**/*.rs` (comments and string literals left out), collects per top-level
//! module (`src/X.rs`, `src/X/**`) the modules it names as `crate::Y` (`use crate::Y::…`,
//! `crate::Y::f()`, `use crate::{Y, Z::…}`), and checks the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Outside `core`, what the core may name: the validated configuration it decides with and the
/// parsed mail it reads (both pure: no clock, no network, no database).
const CORE_MAY_USE: &[&str] = &["core", "config", "mail::view", "mail::html"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code without comments and without the contents of string and char literals (a path in
/// a doc link or a message is no import).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !b.get(i.wrapping_sub(1)).is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&k| b[k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.push_str("' '");
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// Every path named after `crate::`, as its first two segments ("store::read", "app"), with
/// `crate::{A, B::c}` groups expanded.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `samverkan_crate::` or the like
        }
        let paths = if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(k, _)| k);
            let mut items = Vec::new();
            let mut depth = 0;
            let mut start = 0;
            for (k, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(group[start..k].trim().to_string());
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            items.push(group[start..end].trim().to_string());
            items
        } else {
            vec![rest.to_string()]
        };
        for p in paths {
            let first = ident(&p);
            if first.is_empty() {
                continue;
            }
            let second = p[first.len()..].strip_prefix("::").map(ident).unwrap_or("");
            out.push(if second.is_empty() || second.starts_with(char::is_uppercase) {
                first.to_string()
            } else {
                format!("{first}::{second}")
            });
        }
    }
    out
}

/// The module a file or a named path belongs to: the top-level module (`src/X.rs`), or for a
/// module that is a folder (`src/X/`) the submodule (`X::Y` for `src/X/Y.rs`, `X` for
/// `src/X/mod.rs`), so that a folder's parts count on their own towards other modules
/// (`oauth::diagnose` sits on top of `net` and `sender`, which use `oauth`).
fn node(path: &str) -> String {
    let mut parts = path.split("::");
    let first = parts.next().unwrap_or_default();
    match parts.next() {
        Some(second) if src().join(first).join(format!("{second}.rs")).is_file() => format!("{first}::{second}"),
        _ => first.to_string(),
    }
}

/// (the file's module, the file, the paths it names), for every file of the library.
fn references() -> Vec<(String, PathBuf, Vec<String>)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src()).expect("under src").to_path_buf();
        let path: Vec<String> = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .filter(|c| c != "mod")
            .collect();
        let top = path.first().cloned().unwrap_or_default();
        if top == "lib" || top == "main" {
            continue; // the crate root and the binary (which names the library as `samverkan::`)
        }
        let text = std::fs::read_to_string(&f).expect("read");
        out.push((node(&path.join("::")), rel, crate_paths(&code_only(&text))));
    }
    out
}

/// The graph of modules: module -> (module it names -> a file where it does).
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut g: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for (from, file, paths) in references() {
        let edges = g.entry(from.clone()).or_default();
        for p in paths {
            let to = node(&p);
            // A folder's files among themselves (`store::read` and `store`) are one unit.
            if to.split("::").next() != from.split("::").next() {
                edges.entry(to).or_insert_with(|| file.clone());
            }
        }
    }
    g
}

/// Every circle among `nodes` (one per strongly connected component of more than one module,
/// named by a shortest way round it), Tarjan's algorithm.
fn circles(g: &BTreeMap<String, BTreeMap<String, PathBuf>>, nodes: &BTreeSet<String>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeMap<String, PathBuf>>,
        nodes: &'a BTreeSet<String>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        sccs: Vec<Vec<String>>,
    }
    impl T<'_> {
        fn edges(&self, v: &str) -> Vec<String> {
            self.g
                .get(v)
                .map(|e| e.keys().filter(|w| self.nodes.contains(*w)).cloned().collect())
                .unwrap_or_default()
        }
        fn visit(&mut self, v: &str) {
            let i = self.index.len();
            self.index.insert(v.to_string(), i);
            self.low.insert(v.to_string(), i);
            self.stack.push(v.to_string());
            self.on.insert(v.to_string());
            for w in self.edges(v) {
                if !self.index.contains_key(&w) {
                    self.visit(&w);
                    let l = self.low[&w].min(self.low[v]);
                    self.low.insert(v.to_string(), l);
                } else if self.on.contains(&w) {
                    let l = self.index[&w].min(self.low[v]);
                    self.low.insert(v.to_string(), l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(&w);
                    let done = w == v;
                    scc.push(w);
                    if done {
                        break;
                    }
                }
                if scc.len() > 1 {
                    self.sccs.push(scc);
                }
            }
        }
    }
    let mut t = T {
        g,
        nodes,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        sccs: Vec::new(),
    };
    for n in nodes {
        if !t.index.contains_key(n) {
            t.visit(n);
        }
    }
    // Name each component by a shortest way round from its first module (breadth first).
    t.sccs
        .into_iter()
        .map(|scc| {
            let inside: BTreeSet<String> = scc.into_iter().collect();
            let start = inside.iter().next().cloned().unwrap_or_default();
            let mut prev: BTreeMap<String, String> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start.clone()]);
            let mut seen = BTreeSet::from([start.clone()]);
            let mut last = None;
            'bfs: while let Some(v) = queue.pop_front() {
                for w in g.get(&v).map(|e| e.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                    if !inside.contains(&w) {
                        continue;
                    }
                    if w == start {
                        last = Some(v.clone());
                        break 'bfs;
                    }
                    if seen.insert(w.clone()) {
                        prev.insert(w.clone(), v.clone());
                        queue.push_back(w);
                    }
                }
            }
            let mut path = vec![start.clone()];
            let mut v = last.unwrap_or_else(|| start.clone());
            let mut back = Vec::new();
            while v != start {
                back.push(v.clone());
                v = prev[&v].clone();
            }
            path.extend(back.into_iter().rev());
            path.push(start);
            if inside.len() > path.len() - 1 {
                let rest: Vec<String> = inside.iter().filter(|m| !path.contains(m)).cloned().collect();
                path.push(format!("(and through {})", rest.join(", ")));
            }
            path
        })
        .collect()
}

fn describe(g: &BTreeMap<String, BTreeMap<String, PathBuf>>, circle: &[String]) -> String {
    let mut s = circle.join(" -> ");
    let steps: Vec<String> = circle
        .windows(2)
        .filter_map(|w| {
            g.get(&w[0])
                .and_then(|e| e.get(&w[1]))
                .map(|f| format!("{} -> {} in src/{}", w[0], w[1], f.display()))
        })
        .collect();
    s.push_str(&format!(" [{}]", steps.join("; ")));
    s
}

#[test]
fn the_reader_sees_imports_not_comments_or_strings() {
    let code = code_only(
        "use crate::{app::App, store::{self, Tx}};\n// crate::intake\n/// [`crate::daemon`]\nlet s = \"crate::metrics\"; let c = '\"'; crate::sender::run(); r#\"crate::admin\"#;",
    );
    assert_eq!(crate_paths(&code), vec!["app", "store", "sender::run"]);
    assert_eq!(
        crate_paths("use crate::core::intake::Facts; crate::Foo"),
        vec!["core::intake", "Foo"]
    );
}

#[test]
fn the_circle_finder_names_a_circle() {
    let mut g: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into()).or_default().insert(b.into(), PathBuf::from(format!("{a}.rs")));
    }
    let nodes: BTreeSet<String> = ["a", "b", "c", "d"].into_iter().map(String::from).collect();
    assert_eq!(circles(&g, &nodes), vec![vec!["a", "b", "c", "a"]]);
    g.get_mut("c").expect("c").remove("a");
    assert!(circles(&g, &nodes).is_empty());
}

/// The core decides: it reads no clock, network, file or database, so it names nothing of the
/// shell (the store, the app, the IMAP and SMTP tasks, ...).
#[test]
fn the_core_uses_nothing_of_the_shell() {
    let mut wrong = Vec::new();
    for (top, file, paths) in references() {
        if top.split("::").next() != Some("core") {
            continue;
        }
        for p in paths {
            if !CORE_MAY_USE
                .iter()
                .any(|ok| p == *ok || p.split("::").next() == Some(ok) && !ok.contains("::"))
            {
                wrong.push(format!("src/{} names crate::{p}", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "the core uses the shell:\n{}", wrong.join("\n"));
}

/// No import circles among the shell's modules: each can be read (and changed) knowing only
/// what it names. `core` is left out here (everything may use it, and it uses only
/// `CORE_MAY_USE`, checked above).
#[test]
fn no_import_circles_among_the_shell_modules() {
    let g = graph();
    assert!(g.len() > 15, "found only {:?}", g.keys().collect::<Vec<_>>());
    let shell: BTreeSet<String> = g.keys().filter(|m| m.split("::").next() != Some("core")).cloned().collect();
    let found: Vec<String> = circles(&g, &shell).iter().map(|c| describe(&g, c)).collect();
    assert!(found.is_empty(), "import circles among the shell modules:\n{}", found.join("\n"));
}

/// `store` is the only place with SQL: no statement is run anywhere else.
#[test]
fn sql_only_in_the_store() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let wrong: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src().join("store")))
        .filter(|f| {
            let code = code_only(&std::fs::read_to_string(f).expect("read"));
            ["sqlx::query", "query_as(", "query_scalar(", ".execute("]
                .iter()
                .any(|s| code.contains(s))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(wrong.is_empty(), "SQL outside src/store:\n{}", wrong.join("\n"));
}
