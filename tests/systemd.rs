//! The systemd unit: `systemd-analyze verify` accepts it and `systemd-analyze security` rates
//! its exposure below 2.0 ("OK").

use std::process::Command;

fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/samverkan.service")).expect("unit file");
    // verify checks that ExecStart's binary exists: point it at this build.
    let unit = unit.replace("/usr/bin/samverkan", env!("CARGO_BIN_EXE_samverkan"));
    let path = dir.join("samverkan.service");
    std::fs::write(&path, unit).expect("write unit");
    path
}

#[test]
fn unit_file_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().expect("tmp");
    let unit = unit_for_this_build(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (tests/run installs systemd)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let own: Vec<&str> = text.lines().filter(|l| l.contains("samverkan.service")).collect();
    assert!(out.status.success() && own.is_empty(), "systemd-analyze verify:\n{text}");

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("security");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for samverkan.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level < 2.0, "exposure {level} is not below 2.0:\n{text}");
}
