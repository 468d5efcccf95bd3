//! One planner pass ("what is due now") against an existing database, timed; used by
//! `bench/run` (scenario 5, scale of state). Also creates an empty database with the project's
//! schema (the migrations) for the harness to fill.
//!
//! ```text
//! cargo run --release --example bench_plan -- init DB
//! cargo run --release --example bench_plan -- plan CONFIG ROUNDS
//! ```
//!
//! `plan` prints one JSON object: the meetings read, the actions planned, and per round the
//! milliseconds of `store.meeting_views(now - 1 day, now + 400 days)` (what the scheduler reads),
//! of `store.last_note_takers()`, and of `core::plan::plan(...)`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use samverkan::store::Store;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match args.first().map(String::as_str) {
        Some("init") => {
            let db = args.get(1).context("init DB")?;
            rt.block_on(async {
                let store = Store::open(Path::new(db)).await?;
                store.close().await;
                Ok(())
            })
        }
        Some("plan") => {
            let cfg_path = args.get(1).context("plan CONFIG ROUNDS")?;
            let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20);
            let cfg = samverkan::config::load(Path::new(cfg_path)).map_err(|e| anyhow::anyhow!("{e}"))?;
            rt.block_on(plan(cfg, rounds))
        }
        _ => bail!("usage: bench_plan init DB | bench_plan plan CONFIG ROUNDS"),
    }
}

async fn plan(cfg: samverkan::config::Config, rounds: usize) -> Result<()> {
    let store = Store::open_config(&cfg.database).await?;
    let mut views_ms = Vec::new();
    let mut notes_ms = Vec::new();
    let mut plan_ms = Vec::new();
    let mut total_ms = Vec::new();
    let (mut meetings_read, mut actions_planned, mut invitations, mut agenda) = (0, 0, 0, 0);
    // One warm-up pass (page cache, statement cache), then the timed rounds.
    for round in 0..=rounds {
        let now = chrono::Utc::now();
        let t0 = Instant::now();
        let meetings = store
            .meeting_views(now - chrono::Duration::days(1), now + chrono::Duration::days(400))
            .await?;
        let t1 = Instant::now();
        let last = store.last_note_takers().await?;
        let t2 = Instant::now();
        let actions = samverkan::core::plan::plan(&meetings, &cfg, &last, now, now);
        let t3 = Instant::now();
        std::hint::black_box(&actions);
        if round == 0 {
            meetings_read = meetings.len();
            actions_planned = actions.len();
            invitations = meetings.iter().map(|m| m.invitations.len()).sum::<usize>();
            agenda = meetings.iter().map(|m| m.cases.len()).sum::<usize>();
            continue;
        }
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        views_ms.push(ms(t0, t1));
        notes_ms.push(ms(t1, t2));
        plan_ms.push(ms(t2, t3));
        total_ms.push(ms(t0, t3));
    }
    store.close().await;
    println!(
        "{}",
        serde_json::json!({
            "meetings_read": meetings_read,
            "invitations_read": invitations,
            "agenda_cases_read": agenda,
            "actions_planned": actions_planned,
            "meeting_views_ms": views_ms,
            "last_note_takers_ms": notes_ms,
            "plan_ms": plan_ms,
            "total_ms": total_ms,
        })
    );
    Ok(())
}
