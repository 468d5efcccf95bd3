//! Mail texts: minijinja templates loaded from a directory at start-up, so operators can edit
//! them and a syntax error is reported (file and line) before the daemon reads any mail.
//!
//! Layout: `DIR/LANG/NAME.subject.j2`, `DIR/LANG/NAME.txt.j2` and optionally
//! `DIR/LANG/NAME.html.j2` (HTML templates are auto-escaped).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

/// The mails every installation must be able to render, per language.
pub const REQUIRED: &[&str] = &[
    "receipt",
    "incomplete",
    "completed",
    "updated",
    "withdrawn",
    "urgent",
    "no_parts",
    "invitation",
    "not_held",
    "reminder",
    "digest",
    "convenor_alert",
    "note_taker",
    "decisions_request",
    "decisions_confirm",
    "handover_request",
    "handover_incomplete",
    "handover_forward",
    "handover_sent",
    "confirmed",
    "escalation",
    "obligation_reminder",
    "obligation_escalation",
    "notes_review",
    "comment_ack",
    "comment_forward",
    "person",
    "person_reminder",
    "deviation_notice",
    "deviation_digest",
    "deviation_dismissed",
    "report_mail",
];

/// The pages (not mails) every installation must be able to render, per language.
pub const PAGES: &[&str] = &["report_page"];

/// A rendered mail text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    dir: PathBuf,
}

impl Templates {
    /// Loads the `*.j2` of each of `languages` (a subdirectory of `dir` each) and checks that the
    /// required ones exist. Languages no forum uses are not loaded: each parsed template stays in
    /// memory for the daemon's life.
    pub fn load(dir: &Path, languages: &[&str]) -> Result<Templates> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax.keep_trailing_newline(true).trim_blocks(true);
        env.set_syntax(syntax.build().context("template syntax configuration")?);
        let rd = std::fs::read_dir(dir).with_context(|| format!("cannot read templates directory {}", dir.display()))?;
        for lang in rd {
            let lang = lang?;
            if !lang.file_type()?.is_dir() {
                continue;
            }
            let lang_name = lang.file_name().to_string_lossy().into_owned();
            if !languages.contains(&lang_name.as_str()) {
                continue;
            }
            for f in std::fs::read_dir(lang.path())? {
                let f = f?;
                let name = f.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".j2") {
                    continue;
                }
                let src = std::fs::read_to_string(f.path()).with_context(|| format!("cannot read template {}", f.path().display()))?;
                env.add_template_owned(format!("{lang_name}/{name}"), src)
                    .with_context(|| format!("template {} has an error", f.path().display()))?;
            }
        }
        let t = Templates {
            env,
            dir: dir.to_path_buf(),
        };
        for lang in languages {
            for name in REQUIRED {
                for part in ["subject", "txt"] {
                    if t.env.get_template(&format!("{lang}/{name}.{part}.j2")).is_err() {
                        bail!("templates directory {} lacks {lang}/{name}.{part}.j2", dir.display());
                    }
                }
            }
            for name in PAGES {
                if t.env.get_template(&format!("{lang}/{name}.html.j2")).is_err() {
                    bail!("templates directory {} lacks {lang}/{name}.html.j2", dir.display());
                }
            }
        }
        Ok(t)
    }

    /// Renders the page `DIR/LANG/NAME.html.j2` (auto-escaped) with `ctx`: the report.
    pub fn page(&self, lang: &str, name: &str, ctx: &impl Serialize) -> Result<String> {
        self.env
            .get_template(&format!("{lang}/{name}.html.j2"))
            .and_then(|t| t.render(minijinja::value::Serde(ctx)))
            .with_context(|| format!("cannot render template {}/{lang}/{name}.html.j2", self.dir.display()))
    }

    /// Renders mail `name` in `lang` with `ctx`. The subject is one line, whitespace folded.
    pub fn render(&self, lang: &str, name: &str, ctx: &impl Serialize) -> Result<Rendered> {
        let get = |part: &str| self.env.get_template(&format!("{lang}/{name}.{part}.j2"));
        // Converted once for the mail's three parts (each render would convert it again).
        let ctx = minijinja::Value::from(minijinja::value::Serde(ctx));
        let render = |part: &str| -> Result<String> {
            get(part)
                .and_then(|t| t.render(&ctx))
                .with_context(|| format!("cannot render template {}/{lang}/{name}.{part}.j2", self.dir.display()))
        };
        let subject = render("subject")?.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = render("txt")?;
        // Every mail has an HTML part: the template's own, or the text laid out as paragraphs.
        let html = if get("html").is_ok() {
            render("html")?
        } else {
            text_to_html(&text, lang)
        };
        Ok(Rendered {
            subject,
            text,
            html: Some(html),
        })
    }
}

/// The plain text as a simple HTML document: paragraphs at blank lines, line breaks kept,
/// everything escaped.
pub fn text_to_html(text: &str, lang: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: Calibri, Arial, sans-serif; font-size: 11pt;\">\n",
        esc(lang)
    );
    for para in text
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim_end)
        .filter(|p| !p.trim().is_empty())
    {
        let lines: Vec<String> = para
            .lines()
            .map(|l| {
                let indent = l.len() - l.trim_start().len();
                format!("{}{}", "&nbsp;".repeat(indent), esc(l.trim_start()))
            })
            .collect();
        out.push_str("<p>");
        out.push_str(&lines.join("<br>\n"));
        out.push_str("</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Templates {
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"), &["sv", "en"]).expect("shipped templates load")
    }

    #[test]
    fn shipped_receipt_renders_in_swedish() {
        let ctx = serde_json::json!({
            "case_no": "2026-0001", "forum_name": "Samverkan IoF–ÄoF", "member_name": "Anna Berg",
            "received": "tisdag 8 december 2026 kl. 10.15", "convenor_name": "Sara S", "convenor_address": "sara@x",
            "meeting": {"kind": "samverkansmöte", "when": "tisdag 12 januari 2027 kl. 13.00", "place": "Stadshuset"},
            "missed": {"kind": "samverkansmöte", "when": "tisdag 8 december 2026 kl. 13.00", "cutoff": "måndag 7 december 2026 kl. 12.00", "place": ""},
            "has_schedule": true, "urgent": false,
            "sections": [{"label": "Namn och ålder", "text": "A.B. 14 år"}],
        });
        let r = shipped().render("sv", "receipt", &ctx).expect("render");
        assert!(r.subject.contains("2026-0001"), "{}", r.subject);
        assert!(r.text.contains("2026-0001") && r.text.contains("tisdag 8 december"), "{}", r.text);
        assert!(r.text.contains("Anmälan kom in efter sista tid för samverkansmötet tisdag 8 december 2026 kl. 13.00\n(sista tid var måndag 7 december 2026 kl. 12.00)"), "{}", r.text);
        assert!(
            r.text
                .contains("Ärendet tas upp på samverkansmötet tisdag 12 januari 2027 kl. 13.00, Stadshuset."),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("AKUT i ämnesraden"),
            "a late submitter is told how to raise an acute case: {}",
            r.text
        );
        assert!(r.text.contains("  - Namn och ålder: A.B. 14 år\n"), "{}", r.text);
        assert!(!r.subject.contains('\n'));
        let html = r.html.expect("html part");
        assert!(html.contains("IoF–ÄoF"));
    }

    #[test]
    fn incomplete_reply_names_each_missing_part_with_a_fill_in_template() {
        let ctx = serde_json::json!({
            "case_no": "2026-0002", "forum_name": "F", "member_name": "Lars Ek", "received": "måndag",
            "convenor_name": "Sara", "convenor_address": "sara@x",
            "missing_labels": ["Kort bakgrund", "Aktuell situation"],
        });
        let r = shipped().render("sv", "incomplete", &ctx).expect("render");
        assert_eq!(r.subject, "Komplettera ärende 2026-0002: kort bakgrund, aktuell situation saknas");
        assert!(r.text.contains("  - Kort bakgrund\n  - Aktuell situation\n"), "{}", r.text);
        assert!(
            r.text.contains("\nKort bakgrund:\n") && r.text.contains("\nAktuell situation:\n"),
            "{}",
            r.text
        );
        let done = serde_json::json!({"case_no": "2026-0002", "forum_name": "F", "member_name": "L",
            "updated_labels": ["Kort bakgrund"], "missing_labels": [], "meeting": null, "missed": null, "has_schedule": false,
            "after_cutoff_of": null, "convenor_name": "Sara"});
        let r = shipped().render("sv", "completed", &done).expect("render");
        assert!(
            r.text.contains("är nu komplett") && r.text.contains("Uppdaterat: Kort bakgrund."),
            "{}",
            r.text
        );
        let mut late = done.clone();
        late["after_cutoff_of"] = "tisdag 8 december 2026 kl. 13.00".into();
        let r = shipped().render("sv", "updated", &late).expect("render");
        assert!(
            r.text.contains("efter sista tid för mötet tisdag 8 december 2026 kl. 13.00"),
            "{}",
            r.text
        );
        let r = shipped()
            .render(
                "sv",
                "no_parts",
                &done
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.insert("labels".into(), serde_json::json!(["Namn och ålder", "Kort bakgrund"]));
                        o.insert("convenor_address".into(), "sara@x".into());
                        serde_json::Value::Object(o)
                    })
                    .expect("obj"),
            )
            .expect("render");
        assert!(
            r.text.contains("\nNamn och ålder:\n") && r.text.contains("inget ärende har lagts upp"),
            "{}",
            r.text
        );
        let r = shipped().render("sv", "withdrawn", &done).expect("render");
        assert_eq!(r.subject, "Ärende 2026-0002 är återkallat");
    }

    #[test]
    fn only_the_configured_languages_are_loaded() {
        let t = Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"), &["sv"]).expect("load");
        assert!(t.env.get_template("sv/receipt.subject.j2").is_ok());
        assert!(t.env.get_template("en/receipt.subject.j2").is_err(), "no forum writes English");
        let e = format!(
            "{:#}",
            Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"), &["fi"]).expect_err("no fi")
        );
        assert!(e.contains("lacks fi/"), "{e}");
    }

    #[test]
    fn every_mail_gets_an_html_part() {
        let h = text_to_html("Hej <Anna>,\n\nRad 1\n  - punkt\n\n", "sv");
        assert!(
            h.contains("<p>Hej &lt;Anna&gt;,</p>") && h.contains("<p>Rad 1<br>\n&nbsp;&nbsp;- punkt</p>"),
            "{h}"
        );
        assert!(h.contains("lang=\"sv\""));
    }

    #[test]
    fn html_is_escaped_and_missing_variables_fail() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("sv")).expect("mkdir");
        std::fs::write(dir.path().join("sv/receipt.subject.j2"), "S {{ x }}").expect("w");
        std::fs::write(dir.path().join("sv/receipt.txt.j2"), "T {{ x }}").expect("w");
        std::fs::write(dir.path().join("sv/receipt.html.j2"), "<p>{{ x }}</p>").expect("w");
        for name in &REQUIRED[1..] {
            std::fs::write(dir.path().join(format!("sv/{name}.subject.j2")), "s").expect("w");
            std::fs::write(dir.path().join(format!("sv/{name}.txt.j2")), "t").expect("w");
        }
        for name in PAGES {
            std::fs::write(dir.path().join(format!("sv/{name}.html.j2")), "<p>{{ x }}</p>").expect("w");
        }
        let t = Templates::load(dir.path(), &["sv"]).expect("load");
        let r = t.render("sv", "receipt", &serde_json::json!({"x": "<b>&"})).expect("render");
        assert_eq!(r.text, "T <b>&");
        assert_eq!(r.html.as_deref(), Some("<p>&lt;b&gt;&amp;</p>"));
        assert!(
            t.render("sv", "receipt", &serde_json::json!({})).is_err(),
            "undefined variables are errors"
        );
    }

    /// Issue 15 item 7: every obligation's reminder and escalation names what is late (never
    /// the stored kind), for which meeting or case, who was to act, and the deadline.
    #[test]
    fn every_reminder_and_escalation_names_what_whom_which_and_the_deadline() {
        let t = shipped();
        for kind in crate::core::obligation::KINDS {
            let meeting_kind = [
                crate::core::obligation::DECISIONS,
                crate::core::obligation::NOTES,
                crate::core::obligation::ADJUST,
            ]
            .contains(kind);
            let person_kind = kind.starts_with("person_") || *kind == crate::core::person::THREE_PARTY;
            let ctx = serde_json::json!({
                "obligation": kind, "what": crate::core::obligation::what_sv(kind), "escalation": true,
                "case_no": (!meeting_kind && !person_kind).then_some("2026-0042"), "unit": "Vuxenenheten",
                "person": person_kind.then_some("AB-12 (A.B.)"), "routine_name": person_kind.then_some("Samverkansmöte boende och daglig verksamhet"),
                "owners": ["Lars Ek", "Eva Ek"], "since": "måndag 7 december 2026 kl. 14.00",
                "deadline": "tisdag 15 december 2026 kl. 09.00", "undecided": ["2026-0043"],
                "date": "fredag 20 augusti 2027",
                "meeting": meeting_kind.then_some("samverkansmöte tisdag 8 december 2026 kl. 13.00"),
                "forum_name": "Samverkan", "convenor_name": "Sara", "convenor_address": "sara@x",
            });
            for lang in ["sv", "en"] {
                for template in ["obligation_reminder", "obligation_escalation"] {
                    let r = t.render(lang, template, &ctx).expect("render");
                    let all = format!("{}\n{}", r.subject, r.text);
                    let what = format!("{lang} {template} {kind}: {all}");
                    // The stored kind never shows ("Försenat: adjust"); in English "notes" is a word.
                    let raw = if lang == "sv" {
                        all.to_lowercase().contains(kind)
                    } else {
                        all.contains('_') || all.contains("adjust")
                    };
                    assert!(!raw, "{what}");
                    assert!(
                        all.contains("2026-0042") || all.contains("samverkansmöte tisdag 8 december") || all.contains("AB-12 (A.B.)"),
                        "{what}"
                    );
                    if *kind != crate::core::obligation::FOLLOW_UP {
                        assert!(all.contains("15 december 2026 kl. 09.00"), "the deadline: {what}");
                    }
                    if template == "obligation_escalation" {
                        assert!(all.contains("Lars Ek, Eva Ek"), "who was to act: {what}");
                    } else {
                        assert!(r.text.contains("Lars Ek, Eva Ek"), "whom it reminds: {what}");
                    }
                }
            }
        }
    }

    /// The deviation mails fill in the deviation form's fields (seed 001's "Avvikelserapport"):
    /// the units concerned, the event with its references, the date; never a stored rule id.
    #[test]
    fn deviation_mails_prefill_the_form() {
        let t = shipped();
        let d = serde_json::json!({
            "reference": "AVV-7", "rule": "handover_unconfirmed",
            "what": crate::core::deviation::rule("handover_unconfirmed").map(|r| r.sv),
            "case_no": "2027-0003", "meeting": null, "units": ["Vuxenenheten", "Barn och unga"],
            "due": "tisdag 26 januari 2027 kl. 09.00", "closed": null, "late_days": 4,
            "detected": "2027-01-26", "dismissed": false,
        });
        let base = serde_json::json!({ "forum_name": "Samverkan", "convenor_name": "Sara", "convenor_address": "sara@x" });
        let with = |extra: serde_json::Value| {
            let mut c = base.clone();
            c.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            c
        };
        for lang in ["sv", "en"] {
            let notice = t
                .render(lang, "deviation_notice", &with(serde_json::json!({ "d": d })))
                .expect("notice");
            let digest = t
                .render(
                    lang,
                    "deviation_digest",
                    &with(serde_json::json!({ "month": "2027-02", "deviations": [d], "units": ["Vuxenenheten"], "count": 1 })),
                )
                .expect("digest");
            for r in [&notice, &digest] {
                let all = format!("{}\n{}", r.subject, r.text);
                assert!(
                    all.contains("AVV-7") && all.contains("2027-0003") && all.contains("Vuxenenheten, Barn och unga"),
                    "{lang}: {all}"
                );
                assert!(all.contains("26 januari 2027") && all.contains("(4 "), "{lang}: {all}");
                assert!(!all.contains("handover_unconfirmed"), "{lang}: {all}");
                assert!(all.contains("Ingen avvikelse"), "{lang}: how to answer: {all}");
            }
            if lang == "sv" {
                for field in [
                    "Ange vilka verksamheter som avvikelsen avser: ",
                    "Beskriv händelsen",
                    "Ange förbättringsförslag:",
                    "Datum: 2027-01-26",
                ] {
                    assert!(notice.text.contains(field), "{field}: {}", notice.text);
                }
            }
            let ack = t
                .render(
                    lang,
                    "deviation_dismissed",
                    &with(serde_json::json!({ "name": "Kim", "recorded": ["AVV-7"], "unknown": ["AVV-99"] })),
                )
                .expect("ack");
            assert!(ack.text.contains("AVV-7") && ack.text.contains("AVV-99"), "{}", ack.text);
        }
    }

    #[test]
    fn syntax_error_names_the_file_and_missing_template_is_reported() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("sv")).expect("mkdir");
        std::fs::write(dir.path().join("sv/receipt.subject.j2"), "{% if %}").expect("w");
        let e = format!("{:#}", Templates::load(dir.path(), &["sv"]).expect_err("bad"));
        assert!(e.contains("receipt.subject.j2"), "{e}");
        std::fs::write(dir.path().join("sv/receipt.subject.j2"), "ok").expect("w");
        let e = format!("{:#}", Templates::load(dir.path(), &["sv"]).expect_err("missing txt"));
        assert!(e.contains("sv/receipt.txt.j2"), "{e}");
    }
}
