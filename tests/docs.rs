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
