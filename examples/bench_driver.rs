//! Per-statement cost of sqlx's `Any` driver (what the store uses) against the native SQLite
//! driver, on the same migrated database file: the same indexed read 5,000 times through each,
//! three rounds, alternating. Run: `cargo run --release --example bench_driver`.

use std::time::Instant;

use sqlx::Executor;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("probe.db");
    let store = samverkan::store::Store::open(&p).await?;
    let any = store.pool().clone();
    let native = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect(&format!("sqlite://{}", p.display()))
        .await?;
    native.execute("PRAGMA journal_mode = WAL").await?;
    const N: u32 = 5000;
    for round in 0..3 {
        let t = Instant::now();
        for i in 0..N {
            let _: i64 = sqlx::query_scalar("SELECT count(*) FROM intake WHERE message_id = $1")
                .bind(format!("m{i}"))
                .fetch_one(&any)
                .await?;
        }
        let a = t.elapsed();
        let t = Instant::now();
        for i in 0..N {
            let _: i64 = sqlx::query_scalar("SELECT count(*) FROM intake WHERE message_id = $1")
                .bind(format!("m{i}"))
                .fetch_one(&native)
                .await?;
        }
        let n = t.elapsed();
        println!(
            "round {round}: Any {:.1} µs/statement, native SQLite {:.1} µs/statement",
            a.as_secs_f64() * 1e6 / f64::from(N),
            n.as_secs_f64() * 1e6 / f64::from(N)
        );
    }
    Ok(())
}
