// Rebuild when a migration changes: they are embedded with sqlx::migrate!.
//
// Linux/glibc: link the binary with packed relative relocations (DT_RELR) when the linker can:
// the ~1.6 MiB of `.rela.dyn` entries of a position-independent Rust binary shrink to a few KiB,
// and that is resident memory the dynamic loader would otherwise touch at every start
// (BENCHMARKS.md, "Idle RSS"). Needs glibc 2.36 at run time (Debian 12); the .deb says so.
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations/sqlite");
    println!("cargo:rerun-if-changed=migrations/postgres");
    println!("cargo:rerun-if-changed=build.rs");
    let linux_gnu =
        std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu && linker_takes("-Wl,-z,pack-relative-relocs") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C compiler driver rustc links with accepts `flag` (an unknown `-z` option is
/// only a warning for GNU ld, so warnings count as no).
fn linker_takes(flag: &str) -> bool {
    let Ok(out) = std::env::var("OUT_DIR") else { return false };
    let src = std::path::Path::new(&out).join("relr_probe.c");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let r = Command::new(cc)
        .arg(&src)
        .arg("-o")
        .arg(std::path::Path::new(&out).join("relr_probe"))
        .arg(flag)
        .stdin(Stdio::null())
        .output();
    matches!(r, Ok(o) if o.status.success() && o.stderr.is_empty())
}
