//! The documentation stays true: every key of the example configuration is in the
//! configuration reference, every template is in the template list, and the example and demo
//! configurations are valid.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Keys written as `key = ...`, also commented out (`# key = ...`), in the example file.
fn example_keys() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("config/samverkan.example.toml")).expect("example");
    let mut keys = Vec::new();
    for line in text.lines() {
        let l = line.trim().trim_start_matches('#').trim();
        let Some((k, _)) = l.split_once('=') else { continue };
        let k = k.trim();
        if !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !keys.contains(&k.to_string()) {
            keys.push(k.to_string());
        }
    }
    keys
}

#[test]
fn every_example_key_is_in_the_reference() {
    let reference = std::fs::read_to_string(root().join("docs/configuration.md")).expect("reference");
    let keys = example_keys();
    assert!(keys.len() > 40, "found only {keys:?}");
    let missing: Vec<&String> = keys.iter().filter(|k| !reference.contains(&format!("`{k}`"))).collect();
    assert!(
        missing.is_empty(),
        "keys of the example missing from docs/configuration.md: {missing:?}"
    );
}

#[test]
fn every_template_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/templates.md")).expect("doc");
    for name in samverkan::templates::REQUIRED {
        assert!(doc.contains(&format!("`{name}`")), "template {name} missing from docs/templates.md");
    }
}

#[test]
fn shipped_configurations_are_valid() {
    for f in ["config/samverkan.example.toml", "config/demo.toml"] {
        if let Err(e) = samverkan::config::load(&root().join(f)) {
            panic!("{e}");
        }
    }
}

/// The ```toml blocks of a docs page.
fn toml_blocks(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(doc)).expect("doc");
    text.split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(block, _)| block.to_string()))
        .collect()
}

/// The example configuration without the named sections (each up to the next `[` header).
fn example_without(sections: &[&str]) -> String {
    let text = std::fs::read_to_string(root().join("config/samverkan.example.toml")).expect("example");
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = sections.iter().any(|s| line.trim() == format!("[{s}]"));
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The admin guides' configurations are valid as written (with the example's other sections),
/// and every key they use is in the configuration reference.
#[test]
fn the_oauth_guides_configurations_are_valid() {
    let reference = std::fs::read_to_string(root().join("docs/configuration.md")).expect("reference");
    for doc in ["docs/microsoft365.md", "docs/google-workspace.md"] {
        let blocks = toml_blocks(doc);
        let full = blocks
            .iter()
            .find(|b| b.contains("[oauth2]"))
            .unwrap_or_else(|| panic!("{doc}: no [oauth2] block"));
        let mut configs = vec![full.clone()];
        // A fragment without a section header replaces the line holding its first key's
        // alternative (the certificate instead of the client secret).
        for frag in blocks.iter().filter(|b| !b.contains('[')) {
            configs.push(
                full.lines()
                    .map(|l| if l.starts_with("client_secret_file") { frag.trim_end() } else { l })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        for cfg in configs {
            let text = format!("{}\n{cfg}", example_without(&["imap", "smtp"]));
            if let Err(p) = samverkan::config::parse(&text, &root().join("config/samverkan.example.toml")) {
                panic!("{doc}: its configuration is not valid: {p:?}\n{cfg}");
            }
            for line in cfg.lines() {
                let Some((k, _)) = line.split_once(" = ") else { continue };
                assert!(
                    reference.contains(&format!("`{}`", k.trim())),
                    "{doc}: key {k} is not in docs/configuration.md"
                );
            }
        }
    }
}
