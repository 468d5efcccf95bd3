//! The watchdog decision: a task that stops keeping its promise to report again is reported
//! stalled (the daemon then stops feeding the systemd watchdog, and /healthz fails).

use std::sync::atomic::Ordering;

use samverkan::app::{App, Task};

#[tokio::test]
async fn a_wedged_task_is_noticed() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("config/demo.toml"))
        .expect("demo config")
        .replace("/tmp/samverkan-demo/samverkan.db", &dir.path().join("w.db").display().to_string())
        .replace("dir = \"../templates\"", &format!("dir = \"{}\"", root.join("templates").display()));
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).expect("write");
    let app = App::open_offline(samverkan::config::load(&path).expect("config"))
        .await
        .expect("app");

    assert!(app.stalled().is_empty(), "tasks that have not started are not stalled");
    for t in Task::ALL {
        app.alive(t, std::time::Duration::from_secs(60));
    }
    assert!(app.stalled().is_empty());
    // The intake loop promised to be back a second ago and is not: wedged.
    app.heartbeats[Task::Intake as usize].store(app.now().timestamp() - 1, Ordering::Relaxed);
    assert_eq!(app.stalled(), vec![Task::Intake]);
    let problems = samverkan::metrics::problems(&app, app.now()).await.expect("problems");
    assert!(
        problems.iter().any(|p| p.contains("intake task stopped making progress")),
        "{problems:?}"
    );
}
