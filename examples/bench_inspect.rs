//! Throughput of inspect-level reading (parse + classify + submission) over
//! the test corpus, on one core:
//!
//! ```text
//! cargo run --release --example bench_inspect [-- ROUNDS]
//! ```

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use samverkan::core::inspect::inspect;

fn unit_of(address: &str) -> Option<String> {
    match address {
        "anna.berg@kommun.test" => Some("Barn och unga".into()),
        "lars.ek@kommun.test" => Some("Vuxenenheten".into()),
        _ => None,
    }
}

fn main() -> std::io::Result<()> {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/submissions");
    let mut mails = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "eml") {
            mails.push(std::fs::read(path)?);
        }
    }
    let bytes: usize = mails.iter().map(Vec::len).sum();
    // Warm up once.
    for m in &mails {
        black_box(inspect(m, &unit_of));
    }
    let start = Instant::now();
    for _ in 0..rounds {
        for m in &mails {
            black_box(inspect(black_box(m), &unit_of));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = (rounds * mails.len()) as f64;
    println!(
        "{} mails x {rounds} rounds in {secs:.2} s: {:.0} mails/s, {:.1} MB/s (avg {} bytes/mail)",
        mails.len(),
        n / secs,
        (rounds * bytes) as f64 / secs / 1e6,
        bytes / mails.len().max(1),
    );
    Ok(())
}
