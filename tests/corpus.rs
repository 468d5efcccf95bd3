//! Data-driven corpus test: every `.eml` in `tests/corpus/submissions/`
//! (mail people send to the forum mailbox) and `tests/corpus/replies/`
//! (answers to invitations, as calendar clients send them) is run through
//! `inspect` and compared with the `.json` beside it.
//!
//! `tests/corpus/handovers/` holds answers to the daemon's own handover request
//! (`templates/sv/handover_request.txt.j2`), filled in as people do; their `.json`
//! is the handover read from the sender's own text, as `followup` reads it.
//!
//! `UPDATE_EXPECT=1 cargo test --test corpus` rewrites the `.json` files from
//! the current output. Read every rewritten file before keeping it: the
//! expectation is what a human reader would extract, not what the code does.

use std::fs;
use std::path::{Path, PathBuf};

use samverkan::core::handover::read_handover;
use samverkan::core::inspect::inspect;
use samverkan::core::submission::own_text;
use samverkan::mail::view::parse;
use serde_json::Value;

/// The fixed member directory the corpus is written against (see
/// `tests/corpus/README.md`).
fn unit_of(address: &str) -> Option<String> {
    let unit = match address {
        "anna.berg@kommun.test" => "Barn och unga",
        "lars.ek@kommun.test" => "Vuxenenheten",
        "maria.lind@kommun.test" => "Äldreomsorg",
        "per.holm@kommun.test" => "Funktionsstöd",
        _ => return None,
    };
    Some(unit.to_string())
}

/// The corpus directories and the fewest mails each must hold (so a lost
/// directory or a bad glob cannot pass as green).
const CORPORA: &[(&str, usize)] = &[("submissions", 40), ("replies", 24)];

fn corpus_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus() {
    let mut files = Vec::new();
    for &(dir, at_least) in CORPORA {
        let found = corpus_files(dir);
        assert!(found.len() >= at_least, "corpus {dir} has only {} mails", found.len());
        files.extend(found);
    }
    check(&files, |raw| inspect(raw, &unit_of));
}

/// The handover corpus: what the handover reader takes from each answer.
#[test]
fn handovers() {
    let files = corpus_files("handovers");
    assert!(files.len() >= 4, "corpus handovers has only {} mails", files.len());
    check(&files, |raw| {
        let view = parse(raw).expect("a mail");
        serde_json::to_value(read_handover(&own_text(&view))).expect("serialize")
    });
}

/// The forum the routine corpus is read against (seed 003: a housing unit and a daily
/// activity; see `tests/corpus/README.md`).
const ROUTINE_CONFIG: &str = r#"
[database]
path = "corpus.db"
[imap]
host = "127.0.0.1"
tls = "none"
user = "brukare@kommun.test"
password_env = "SAMVERKAN_CORPUS_UNUSED"
[smtp]
host = "127.0.0.1"
tls = "none"
[[forum]]
id = "boende-dv"
name = "Boende och daglig verksamhet"
mailbox = "brukare@kommun.test"
convenor = { name = "Sektionschef", address = "sektion@kommun.test" }
[[forum.unit]]
name = "Gruppbostaden Eken"
[[forum.unit]]
name = "Verkstaden"
[[forum.member]]
name = "Lisa Lund"
address = "lisa.lund@kommun.test"
unit = "Gruppbostaden Eken"
[[forum.member]]
name = "Nina Nord"
address = "nina.nord@kommun.test"
unit = "Gruppbostaden Eken"
[[forum.member]]
name = "Dan Dahl"
address = "dan.dahl@kommun.test"
unit = "Verkstaden"
[[forum.routine]]
id = "boende-dv"
name = "Samverkansmöte boende och daglig verksamhet"
"#;

/// The routines around one person (issue 18): the `person` key of `inspect` with the routine's
/// configuration, for registrations, bookings, notes, comments, new contact persons and
/// endings as people write them (Outlook, HTML forms, iPhone, English, quoted requests).
#[test]
fn routines() {
    let cfg = samverkan::config::parse(ROUTINE_CONFIG, Path::new("/corpus/samverkan.toml")).expect("routine config");
    let files = corpus_files("routines");
    assert!(files.len() >= 12, "corpus routines has only {} mails", files.len());
    check(&files, |raw| {
        samverkan::core::inspect::inspect_with(raw, &|_| None, Some(&cfg))["person"].clone()
    });
}

/// Compares `read(mail)` with the `.json` beside each mail (or rewrites it, see the module
/// documentation).
fn check(files: &[PathBuf], read: impl Fn(&[u8]) -> Value) {
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for eml in files {
        let raw = fs::read(eml).expect("read eml");
        let actual = read(&raw);
        let json_path = eml.with_extension("json");
        if update {
            let mut text = serde_json::to_string_pretty(&actual).expect("serialize");
            text.push('\n');
            fs::write(&json_path, text).expect("write json");
            continue;
        }
        // "replies/001-….eml": the directory tells the corpora apart.
        let name = eml
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"))
            .unwrap_or(eml)
            .to_string_lossy()
            .into_owned();
        let expected: Value = match fs::read_to_string(&json_path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: bad json: {e}")),
            Err(e) => {
                failures.push(format!("{name}: no expectation ({e})"));
                continue;
            }
        };
        if actual != expected {
            eprintln!(
                "=== MISMATCH {name}\n--- expected\n{}\n--- actual\n{}\n",
                serde_json::to_string_pretty(&expected).unwrap_or_default(),
                serde_json::to_string_pretty(&actual).unwrap_or_default(),
            );
            failures.push(name);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus mails differ: {failures:#?}",
        failures.len(),
        files.len()
    );
}
