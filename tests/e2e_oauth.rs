//! End-to-end: OAuth2 login (XOAUTH2, OAUTHBEARER) with the real daemon against the loopback
//! mail stack in OAuth mode: a real token server process (npm oauth2-mock-server, started by
//! `tests/mailstack/start --oauth`), Dovecot checking every bearer token's signature, expiry
//! and user, and Postfix accepting mail on SMTPS only after AUTH through Dovecot.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

/// Starts the OAuth-mode stack; true when the documented opt-out is set.
fn skip_oauth() -> bool {
    use_oauth_stack();
    skip()
}

/// A client of the token server: its file in `dir/clients/` (see tests/oauth/server.mjs).
fn register(dir: &Path, client: &str, secret: &str, mailbox: &str, ttl: u64, refuse: Option<&str>) {
    let clients = dir.join("clients");
    std::fs::create_dir_all(&clients).expect("clients dir");
    let mut v = serde_json::json!({"secret": secret, "mailbox": mailbox, "ttl": ttl});
    if let Some(r) = refuse {
        v["refuse"] = r.into();
    }
    std::fs::write(clients.join(format!("{client}.json")), v.to_string()).expect("client file");
}

/// A world whose daemon logs in to IMAP and SMTP with OAuth2 tokens from `token_url` as
/// client `client` (secret in a file), with more `[oauth2]` keys in `extra`.
fn oauth_world(token_url: &str, client: &str, secret: &str, extra: &str) -> World {
    let w = World::new(true);
    std::fs::write(w.dir.path().join("client_secret"), secret).expect("secret file");
    w.edit_config(|c| {
        let c = c.replace("password_file = \"password\"", "auth = \"oauth2\"");
        format!(
            "{c}\n[oauth2]\nprovider = \"generic\"\ntoken_url = \"{token_url}\"\nclient_id = \"{client}\"\nclient_secret_file = \"client_secret\"\nscope = \"https://outlook.office365.com/.default\"\n{extra}\n"
        )
    });
    w
}

fn stack_oauth_dir() -> PathBuf {
    stack().oauth_dir.clone().expect("the stack runs in OAuth mode")
}

fn token_url() -> String {
    stack().token_url.clone().expect("the stack runs in OAuth mode")
}

/// Case numbers named in receipt subjects, counted.
fn receipt_cases(mails: &[Vec<u8>]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for raw in mails {
        let s = subject_of(raw);
        if let Some(no) = s.split_whitespace().find(|w| w.len() == 9 && w.as_bytes()[4] == b'-') {
            *m.entry(no.to_string()).or_default() += 1;
        }
    }
    m
}

/// Nothing secret in the daemon's log: neither the client secret nor any JWT.
fn assert_no_secrets(w: &World, secret: &str) {
    let log = w.log();
    assert!(!log.contains(secret), "the client secret is in the log");
    assert!(!log.contains("eyJ"), "a token or assertion is in the log:\n{log}");
}

fn count(log: &str, what: &str) -> usize {
    log.matches(what).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_read_and_receipt_sent_with_xoauth2() {
    if skip_oauth() {
        return;
    }
    let client = format!("basic-{}", std::process::id());
    let secret = "s3cret-basic-Q7";
    let w = oauth_world(&token_url(), &client, secret, "mechanism = \"xoauth2\"");
    register(&stack_oauth_dir(), &client, secret, &w.mailbox(), 3600, None);

    // check-config --connect walks the steps and says ok.
    let (ok, out, err) = w.cli(&["check-config", "--connect"]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("oauth2 token from") && out.contains("IMAP AUTHENTICATE (OAuth2)"),
        "{out}"
    );
    assert!(
        out.contains("SMTP AUTH XOAUTH2") && out.contains("check-config --connect: ok"),
        "{out}"
    );

    let mut d = w.start();
    let anna = w.addr("anna");
    send_raw(&anna, &[&w.mailbox()], &submission(&anna, &w.mailbox(), 1)).await;
    let receipts = wait_for(T, "the receipt in Anna's inbox", || async {
        let m = fetch_folder(&anna, "INBOX").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(receipts.len(), 1);
    assert!(subject_of(&receipts[0]).starts_with("Kvittens"), "{}", subject_of(&receipts[0]));
    wait_for(T, "the original in Behandlade", || async {
        (fetch_folder(&w.mailbox(), "Behandlade").await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'").await, 1);
    d.stop();
    let log = w.log();
    assert!(log.contains("OAuth2 token renewed"), "{log}");
    // Dovecot logged the daemon in with XOAUTH2, and Postfix took the receipt after SASL AUTH.
    let dovecot = std::fs::read_to_string(stack().dir.join("log/dovecot.log")).unwrap_or_default();
    assert!(
        dovecot.contains(&format!("user=<{}>, method=XOAUTH2", w.mailbox())),
        "no XOAUTH2 login in Dovecot's log"
    );
    let postfix = std::fs::read_to_string(stack().dir.join("log/postfix.log")).unwrap_or_default();
    assert!(
        postfix.contains(&format!("sasl_method=XOAUTH2, sasl_username={}", w.mailbox())),
        "no XOAUTH2 AUTH in Postfix's log"
    );
    assert_no_secrets(&w, secret);
}

/// Tokens that live 20 seconds, renewed while the daemon idles and works for over a minute:
/// every mail handled once, every receipt sent once, IMAP sessions replaced before their
/// token runs out (OAUTHBEARER here), and the renewals in the log without the token.
#[tokio::test(flavor = "multi_thread")]
async fn short_lived_tokens_are_renewed_and_nothing_is_lost_or_doubled() {
    if skip_oauth() {
        return;
    }
    let client = format!("short-{}", std::process::id());
    let secret = "s3cret-short-K2";
    let w = oauth_world(&token_url(), &client, secret, "mechanism = \"oauthbearer\"");
    register(&stack_oauth_dir(), &client, secret, &w.mailbox(), 20, None);
    let mut d = w.start();
    let anna = w.addr("anna");
    // Twelve mails, each after the next renewal: about three minutes of 20-second tokens.
    let n = 12;
    for i in 1..=n {
        send_raw(&anna, &[&w.mailbox()], &submission(&anna, &w.mailbox(), i)).await;
        wait_for(T, "the receipt", || async {
            (fetch_folder(&anna, "INBOX").await.len() == i as usize).then_some(())
        })
        .await;
        // Pace the run by the renewals themselves: the next mail after the next token.
        let renewed = count(&w.log(), "OAuth2 token renewed");
        wait_for(T, "the next token renewal", || async {
            (count(&w.log(), "OAuth2 token renewed") > renewed).then_some(())
        })
        .await;
    }
    let receipts = fetch_folder(&anna, "INBOX").await;
    let cases = receipt_cases(&receipts);
    assert_eq!(cases.len(), n as usize, "{cases:?}");
    assert!(cases.values().all(|c| *c == 1), "a receipt was sent twice: {cases:?}");
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, i64::from(n));
    assert_eq!(w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'").await, i64::from(n));
    assert_eq!(w.scalar("SELECT count(*) FROM outbox WHERE status != 'sent'").await, 0);
    assert!(fetch_folder(&w.mailbox(), "INBOX").await.is_empty());
    d.stop();
    let log = w.log();
    assert!(count(&log, "OAuth2 token renewed") > n as usize, "{log}");
    assert!(
        count(&log, "logging in with a fresh one") >= 3,
        "IMAP sessions were not replaced:\n{log}"
    );
    assert_eq!(count(&log, "intake interrupted"), 0, "a session ran past its token:\n{log}");
    let dovecot = std::fs::read_to_string(stack().dir.join("log/dovecot.log")).unwrap_or_default();
    assert!(dovecot.contains(&format!("user=<{}>, method=OAUTHBEARER", w.mailbox())));
    assert_no_secrets(&w, secret);
}

/// This test's own token server (the same script and signing key as the stack's), stopped
/// when the test ends however it ends.
struct OwnTokenServer {
    dir: PathBuf,
    url: String,
}

impl OwnTokenServer {
    fn new(dir: PathBuf) -> OwnTokenServer {
        std::fs::create_dir_all(&dir).expect("token server dir");
        std::fs::copy(stack_oauth_dir().join("jwk.json"), dir.join("jwk.json")).expect("the stack's signing key");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        std::fs::write(dir.join("port"), port.to_string()).expect("port file");
        let s = OwnTokenServer {
            url: format!("http://127.0.0.1:{port}/token"),
            dir,
        };
        s.run("start");
        s
    }

    fn run(&self, cmd: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mailstack/token-server");
        let st = std::process::Command::new(script)
            .arg(cmd)
            .arg(&self.dir)
            .status()
            .expect("token-server");
        assert!(st.success(), "token-server {cmd} failed");
    }
}

impl Drop for OwnTokenServer {
    fn drop(&mut self) {
        self.run("stop");
    }
}

/// The token server stopped for a while: the daemon keeps what it has, reads nothing it
/// cannot log in for, sends nothing without a token (no attempt counted against a mail), and
/// handles the backlog once the server is back, each mail once.
#[tokio::test(flavor = "multi_thread")]
async fn token_server_outage_loses_nothing() {
    if skip_oauth() {
        return;
    }
    let client = format!("outage-{}", std::process::id());
    let secret = "s3cret-outage-P4";
    let tmp = tempfile::tempdir().expect("tmp");
    let ts = OwnTokenServer::new(tmp.path().join("ts"));
    let w = oauth_world(&ts.url, &client, secret, "");
    register(&ts.dir, &client, secret, &w.mailbox(), 20, None);
    let mut d = w.start();
    let anna = w.addr("anna");
    send_raw(&anna, &[&w.mailbox()], &submission(&anna, &w.mailbox(), 1)).await;
    wait_for(T, "the first receipt", || async {
        (fetch_folder(&anna, "INBOX").await.len() == 1).then_some(())
    })
    .await;

    ts.run("stop");
    // Down long enough for the token to run out: intake loses its session and cannot log in.
    wait_for(Duration::from_secs(40), "intake to lose its login", || async {
        w.log().contains("intake interrupted").then_some(())
    })
    .await;
    assert!(w.log().contains("OAuth2 token renewal failing"), "{}", w.log());
    for i in 2..=4 {
        send_raw(&anna, &[&w.mailbox()], &submission(&anna, &w.mailbox(), i)).await;
    }
    // A case decided meanwhile by the CLI would queue mail too; here: nothing is read, nothing
    // is claimed while there is no token.
    wait_for(T, "the backlog in the inbox", || async {
        (fetch_folder(&w.mailbox(), "INBOX").await.len() == 3).then_some(())
    })
    .await;
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 1);

    ts.run("start");
    wait_for(Duration::from_secs(40), "the backlog's receipts", || async {
        (fetch_folder(&anna, "INBOX").await.len() == 4).then_some(())
    })
    .await;
    let cases = receipt_cases(&fetch_folder(&anna, "INBOX").await);
    assert_eq!(cases.len(), 4, "{cases:?}");
    assert!(cases.values().all(|c| *c == 1), "{cases:?}");
    assert_eq!(w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'").await, 4);
    assert_eq!(
        w.scalar("SELECT max(attempts) FROM outbox").await,
        1,
        "attempts were counted without a token"
    );
    d.stop();
    assert!(w.log().contains("OAuth2 token endpoint answers again"), "{}", w.log());
    assert_no_secrets(&w, secret);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, String::new());
    };
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).await.ok();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.ok();
    let code = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// An expired client secret (Entra ID's AADSTS7000222) and a wrong one (AADSTS7000215): the
/// admin-action state in /healthz, /metrics and `status`, one warn line with the advice, the
/// daemon keeps running without hammering the token endpoint, and no secret in the log.
#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_put_the_daemon_in_admin_action_needed() {
    if skip_oauth() {
        return;
    }
    for (kind, refuse, registered_secret, code) in [
        ("expired", Some("expired"), "s3cret-admin-X1", "AADSTS7000222"),
        ("wrong", None, "another-secret", "AADSTS7000215"),
    ] {
        let client = format!("admin-{kind}-{}", std::process::id());
        let secret = "s3cret-admin-X1";
        let w = oauth_world(&token_url(), &client, secret, "");
        register(&stack_oauth_dir(), &client, registered_secret, &w.mailbox(), 3600, refuse);
        let port = free_port();
        w.edit_config(|c| format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n{c}"));

        let (ok, out, _) = w.cli(&["check-config", "--connect"]);
        assert!(!ok, "{out}");
        assert!(
            out.contains("oauth2 token from") && out.contains("FAILED") && out.contains(code),
            "{out}"
        );
        assert!(out.contains("Certificates & secrets") || out.contains("client_secret"), "{out}");

        let mut d = w.start();
        let body = wait_for(T, "/healthz naming the admin action", || async {
            let (c, b) = http_get(port, "/healthz").await;
            (c == 503 && b.contains(code)).then_some(b)
        })
        .await;
        assert!(body.contains("administrator"), "{body}");
        let (_, metrics) = http_get(port, "/metrics").await;
        assert!(
            metrics.contains(&format!("samverkan_oauth_admin_action_needed{{code=\"invalid_client {code}\"}} 1")),
            "{metrics}"
        );
        let (ok, out, err) = w.cli(&["status"]);
        assert!(ok, "{err}");
        assert!(out.contains("ADMIN ACTION NEEDED") && out.contains(code), "{out}");
        // Still running, asking again only every few minutes: no crash loop, no tight loop.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(d.running(), "the daemon exited:\n{}", w.log());
        d.stop();
        let log = w.log();
        assert_eq!(count(&log, "admin action needed"), 1, "{log}");
        let asked = std::fs::read_to_string(stack_oauth_dir().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with(&format!(" {client}")))
            .count();
        assert!(asked <= 6, "the token endpoint was asked {asked} times");
        assert_no_secrets(&w, secret);
    }
}

/// A token the mail server refuses (valid, but for another mailbox: in Exchange terms the
/// service principal has no access to it): check-config names the step and the fix, and
/// the daemon retries with backoff and new tokens instead of crashing or spinning.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_the_mail_server_refuses_is_diagnosed() {
    if skip_oauth() {
        return;
    }
    let client = format!("refused-{}", std::process::id());
    let secret = "s3cret-refused-Z9";
    let w = oauth_world(&token_url(), &client, secret, "");
    register(&stack_oauth_dir(), &client, secret, "someone-else@test.local", 3600, None);
    let (ok, out, _) = w.cli(&["check-config", "--connect"]);
    assert!(!ok, "{out}");
    assert!(out.contains("oauth2 token from") && out.contains(": ok"), "{out}");
    assert!(
        out.contains("IMAP AUTHENTICATE (OAuth2)") && out.contains("New-ServicePrincipal"),
        "{out}"
    );
    assert!(out.contains("SMTP AUTH XOAUTH2") && out.contains("FAILED"), "{out}");

    let mut d = w.start();
    wait_for(T, "intake's warning", || async {
        w.log().contains("intake interrupted").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(d.running(), "the daemon exited:\n{}", w.log());
    d.stop();
    let log = w.log();
    assert!(log.contains("AUTHENTICATE"), "{log}");
    // Backoff (1 s, 2 s, ...), not a tight loop.
    assert!(count(&log, "OAuth2 token renewed") < 12, "{log}");
    assert_no_secrets(&w, secret);
}

/// The device flow: `samverkan auth login` signs in once (the test token server approves on
/// its second poll), the refresh token is stored, replaced every time the server rotates it,
/// and a restarted daemon goes on with the latest one (the server accepts no other).
#[tokio::test(flavor = "multi_thread")]
async fn device_flow_refresh_token_rotates_and_survives_a_restart() {
    if skip_oauth() {
        return;
    }
    let client = format!("device-{}", std::process::id());
    let secret = "s3cret-device-D3";
    let base = token_url().trim_end_matches("/token").to_string();
    let w = oauth_world(&token_url(), &client, secret, "");
    w.edit_config(|c| {
        c.replace("provider = \"generic\"", "provider = \"device\"").replace(
            &format!("token_url = \"{}\"", token_url()),
            &format!("token_url = \"{base}/device/token\"\ndevice_authorization_url = \"{base}/device/code\""),
        )
    });
    register(&stack_oauth_dir(), &client, secret, &w.mailbox(), 20, None);
    let server_current = || std::fs::read_to_string(stack_oauth_dir().join(format!("clients/{client}.refresh"))).unwrap_or_default();

    let (ok, out, err) = w.cli(&["auth", "login"]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("SV-TEST") && out.contains("/device") && out.contains("signed in"),
        "{out}"
    );
    let first = server_current();
    assert!(!first.is_empty());
    assert_eq!(
        w.text("SELECT refresh_token FROM oauth_state").await.as_deref(),
        Some(first.as_str())
    );

    let mut d = w.start();
    let anna = w.addr("anna");
    send_raw(&anna, &[&w.mailbox()], &submission(&anna, &w.mailbox(), 1)).await;
    wait_for(T, "the first receipt", || async {
        (fetch_folder(&anna, "INBOX").await.len() == 1).then_some(())
    })
    .await;
    // Rotated at least twice (20-second tokens), the database always holding the server's latest.
    wait_for(T, "two rotations stored", || async {
        let stored = w.text("SELECT refresh_token FROM oauth_state").await.unwrap_or_default();
        let n = count(&w.log(), "OAuth2 token renewed");
        (n >= 2 && stored != first && stored == server_current()).then_some(())
    })
    .await;
    d.stop();
    let before_restart = server_current();
    assert_eq!(
        w.text("SELECT refresh_token FROM oauth_state").await.as_deref(),
        Some(before_restart.as_str())
    );

    let mut d = w.start();
    send_raw(&anna, &[&w.mailbox()], &submission(&anna, &w.mailbox(), 2)).await;
    wait_for(T, "the receipt after the restart", || async {
        (fetch_folder(&anna, "INBOX").await.len() == 2).then_some(())
    })
    .await;
    d.stop();
    let log = w.log();
    assert!(!log.contains("AADSTS70000") && !log.contains("admin action needed"), "{log}");
    assert!(
        !log.contains(&first) && !log.contains(&before_restart),
        "a refresh token is in the log"
    );
    assert_no_secrets(&w, secret);
}

/// A fresh RSA key: (PKCS#8 private PEM, public PEM), made with the openssl binary.
fn rsa_key(dir: &Path) -> (String, String) {
    let key = dir.join("key.pem");
    let ok = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&key)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl")
        .success();
    assert!(ok, "openssl genpkey");
    let public = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .expect("openssl pkey");
    (
        std::fs::read_to_string(&key).expect("key"),
        String::from_utf8(public.stdout).expect("pem"),
    )
}

/// The Entra ID certificate credential (a signed client assertion) and the Google service
/// account (JWT bearer grant, `sub` = the mailbox): the token server checks each signature
/// against the registered public key, and `check-config --connect` logs in to IMAP and SMTP
/// with the tokens.
#[tokio::test(flavor = "multi_thread")]
async fn certificate_and_service_account_assertions_log_in() {
    if skip_oauth() {
        return;
    }
    let jwt_url = token_url().replace("/token", "/jwt/token");

    // Microsoft, certificate: private_key_jwt with x5t.
    let client = format!("cert-{}", std::process::id());
    let w = oauth_world(&jwt_url, &client, "unused", "");
    let (private, public) = rsa_key(w.dir.path());
    std::fs::write(w.dir.path().join("oauth-key.pem"), &private).expect("key");
    w.edit_config(|c| {
        c.replace("provider = \"generic\"", "provider = \"microsoft\"\ntenant = \"kommun.example\"")
            .replace(
                "client_secret_file = \"client_secret\"",
                "private_key_file = \"oauth-key.pem\"\ncertificate_thumbprint = \"0123456789ABCDEF0123456789ABCDEF01234567\"",
            )
            .replace("scope = \"https://outlook.office365.com/.default\"\n", "")
    });
    let clients = stack_oauth_dir().join("clients");
    let file = serde_json::json!({"mailbox": w.mailbox(), "public_key": public});
    std::fs::write(clients.join(format!("{client}.json")), file.to_string()).expect("client");
    let (ok, out, err) = w.cli(&["check-config", "--connect"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("check-config --connect: ok"), "{out}");
    // A key the server does not know: AADSTS700027 and its advice.
    let (_, other_public) = rsa_key(w.dir.path());
    let file = serde_json::json!({"mailbox": w.mailbox(), "public_key": other_public});
    std::fs::write(clients.join(format!("{client}.json")), file.to_string()).expect("client");
    let (ok, out, _) = w.cli(&["check-config", "--connect"]);
    assert!(
        !ok && out.contains("AADSTS700027") && out.contains("certificate_thumbprint"),
        "{out}"
    );

    // Google, service account acting as the mailbox.
    let w = oauth_world(&jwt_url, "unused", "unused", "");
    let (private, public) = rsa_key(w.dir.path());
    let email = format!("sv-{}@samverkan-test.iam.gserviceaccount.com", std::process::id());
    let sa = serde_json::json!({"type": "service_account", "client_email": email, "private_key": private, "private_key_id": "k1"});
    std::fs::write(w.dir.path().join("sa.json"), sa.to_string()).expect("sa");
    w.edit_config(|c| {
        c.replace("provider = \"generic\"", "provider = \"google\"")
            .replace("client_id = \"unused\"\n", "")
            .replace("client_secret_file = \"client_secret\"", "service_account_file = \"sa.json\"")
            .replace("scope = \"https://outlook.office365.com/.default\"\n", "")
    });
    let id: String = email
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
        .collect();
    let file = serde_json::json!({"mailbox": w.mailbox(), "public_key": public});
    std::fs::write(clients.join(format!("{id}.json")), file.to_string()).expect("client");
    let (ok, out, err) = w.cli(&["check-config", "--connect"]);
    assert!(ok, "{out}\n{err}");
    // Delegation for another mailbox only: unauthorized_client and its advice.
    let file = serde_json::json!({"mailbox": "someone-else@test.local", "public_key": public});
    std::fs::write(clients.join(format!("{id}.json")), file.to_string()).expect("client");
    let (ok, out, _) = w.cli(&["check-config", "--connect"]);
    assert!(
        !ok && out.contains("unauthorized_client") && out.contains("domain-wide delegation"),
        "{out}"
    );
}
