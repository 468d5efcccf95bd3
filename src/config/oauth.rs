//! The `[oauth2]` section: one token provider shared by `[imap]` and `[smtp]` when their
//! `auth = "oauth2"`. Validated like the rest of the configuration: every problem named by its key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{Problem, SecretSource};

/// As written in the file.
#[derive(Debug, Deserialize)]
pub struct RawOAuth2 {
    provider: String,
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    client_secret_env: Option<String>,
    client_secret_credential: Option<String>,
    private_key_file: Option<PathBuf>,
    private_key_env: Option<String>,
    private_key_credential: Option<String>,
    certificate_thumbprint: Option<String>,
    service_account_file: Option<PathBuf>,
    service_account_env: Option<String>,
    service_account_credential: Option<String>,
    token_url: Option<String>,
    device_authorization_url: Option<String>,
    scope: Option<String>,
    #[serde(default)]
    mechanism: Option<String>,
    #[serde(default, with = "humantime_serde")]
    renew_before: Option<Duration>,
    ca_file: Option<PathBuf>,
}

/// Who hands out the tokens, and how samverkan proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// Entra ID client credentials grant, with a client secret or a certificate.
    Microsoft,
    /// A Google service account with domain-wide delegation (JWT bearer grant, `sub` = mailbox).
    Google,
    /// Any OAuth2 server's client credentials grant.
    Generic,
    /// The device authorization grant (RFC 8628) with a stored refresh token.
    Device,
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Microsoft => "microsoft",
            Provider::Google => "google",
            Provider::Generic => "generic",
            Provider::Device => "device",
        }
    }
}

/// How the client proves its identity to the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A client secret (sent in the request body).
    Secret(SecretSource),
    /// An RSA private key (PKCS#8 PEM) whose certificate is registered with the application:
    /// a signed client assertion (RFC 7523 `private_key_jwt`); `thumbprint` is the certificate's
    /// SHA-1 thumbprint as Entra ID shows it (hex).
    Certificate { key: SecretSource, thumbprint: String },
    /// A Google service account key file (JSON with `client_email` and `private_key`).
    ServiceAccount(SecretSource),
    /// No client authentication (a public client: the device flow).
    None,
}

/// The SASL mechanism for IMAP (SMTP always uses XOAUTH2, the one lettre speaks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// XOAUTH2 when the server offers it, else OAUTHBEARER.
    Auto,
    Xoauth2,
    OauthBearer,
}

#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub provider: Provider,
    pub client_id: String,
    pub credential: Credential,
    pub token_url: String,
    pub device_authorization_url: Option<String>,
    pub scope: String,
    pub mechanism: Mechanism,
    /// Renew this long before a token expires (at most a third of the token's lifetime).
    pub renew_before: Duration,
    /// A CA for the token endpoint (an internal OAuth2 server); default the Mozilla roots.
    pub ca_file: Option<PathBuf>,
}

impl OAuthConfig {
    /// The secrets this provider needs, with the key they are configured under.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        match &self.credential {
            Credential::Secret(s) => vec![("oauth2.client_secret", s)],
            Credential::Certificate { key, .. } => vec![("oauth2.private_key", key)],
            Credential::ServiceAccount(s) => vec![("oauth2.service_account", s)],
            Credential::None => Vec::new(),
        }
    }
}

pub const MICROSOFT_SCOPE: &str = "https://outlook.office365.com/.default";
pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

fn source_of(
    key: &str,
    file: Option<PathBuf>,
    env: Option<String>,
    cred: Option<String>,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<SecretSource> {
    let mut found: Vec<SecretSource> = Vec::new();
    found.extend(file.map(|p| SecretSource::File(if p.is_absolute() { p } else { base.join(p) })));
    found.extend(env.map(SecretSource::Env));
    found.extend(cred.map(SecretSource::Credential));
    if found.len() > 1 {
        problems.push(Problem {
            key: format!("oauth2.{key}_file"),
            message: format!("set exactly one of {key}_file, {key}_env, {key}_credential"),
        });
    }
    found.pop()
}

/// An `https://` URL, or `http://` to a loopback host (a test token server).
fn url_of(key: &str, u: &str, problems: &mut Vec<Problem>) {
    match url::Url::parse(u) {
        Ok(p) if p.scheme() == "https" => {}
        Ok(p) if p.scheme() == "http" && matches!(p.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {}
        Ok(_) => problems.push(Problem {
            key: format!("oauth2.{key}"),
            message: format!("{u:?}: must be an https:// URL (http:// only to a loopback host)"),
        }),
        Err(e) => problems.push(Problem {
            key: format!("oauth2.{key}"),
            message: format!("{u:?} is not a URL: {e}"),
        }),
    }
}

/// Validates `[oauth2]`; `None` (with problems) when it cannot be used.
pub fn validate(raw: RawOAuth2, base: &Path, problems: &mut Vec<Problem>) -> Option<OAuthConfig> {
    let before = problems.len();
    let need = |key: &str, v: &Option<String>, why: &str, problems: &mut Vec<Problem>| -> String {
        match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => {
                problems.push(Problem {
                    key: format!("oauth2.{key}"),
                    message: format!("needed {why}"),
                });
                String::new()
            }
        }
    };
    let provider = match raw.provider.as_str() {
        "microsoft" => Provider::Microsoft,
        "google" => Provider::Google,
        "generic" => Provider::Generic,
        "device" => Provider::Device,
        other => {
            problems.push(Problem {
                key: "oauth2.provider".into(),
                message: format!("must be \"microsoft\", \"google\", \"generic\" or \"device\", not {other:?}"),
            });
            return None;
        }
    };
    let why = format!("with provider = \"{}\"", provider.name());
    let secret = source_of(
        "client_secret",
        raw.client_secret_file,
        raw.client_secret_env,
        raw.client_secret_credential,
        base,
        problems,
    );
    let key = source_of(
        "private_key",
        raw.private_key_file,
        raw.private_key_env,
        raw.private_key_credential,
        base,
        problems,
    );
    let account = source_of(
        "service_account",
        raw.service_account_file,
        raw.service_account_env,
        raw.service_account_credential,
        base,
        problems,
    );
    let unused = |key: &str, set: bool, problems: &mut Vec<Problem>| {
        if set {
            problems.push(Problem {
                key: format!("oauth2.{key}"),
                message: format!("not used {why}"),
            });
        }
    };
    let (client_id, credential, token_url, scope) = match provider {
        Provider::Microsoft => {
            let tenant = need("tenant", &raw.tenant, &why, problems);
            if !tenant.is_empty() && !tenant.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c)) {
                problems.push(Problem {
                    key: "oauth2.tenant".into(),
                    message: format!("{tenant:?}: the directory (tenant) id, a GUID, or the tenant's domain name"),
                });
            }
            let client_id = need("client_id", &raw.client_id, &why, problems);
            unused("service_account_file", account.is_some(), problems);
            let credential = match (secret, key, raw.certificate_thumbprint) {
                (Some(s), None, None) => Credential::Secret(s),
                (None, Some(k), Some(t)) => {
                    let t = t.replace([':', ' '], "").to_ascii_uppercase();
                    if t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                        problems.push(Problem {
                            key: "oauth2.certificate_thumbprint".into(),
                            message: "the certificate's SHA-1 thumbprint: 40 hex digits, as Entra ID shows it under Certificates & secrets"
                                .into(),
                        });
                    }
                    Credential::Certificate { key: k, thumbprint: t }
                }
                (None, Some(_), None) => {
                    problems.push(Problem {
                        key: "oauth2.certificate_thumbprint".into(),
                        message: "needed with private_key_file: the certificate's thumbprint from Entra ID".into(),
                    });
                    Credential::None
                }
                (None, None, Some(_)) => {
                    problems.push(Problem {
                        key: "oauth2.private_key_file".into(),
                        message: "needed with certificate_thumbprint: the certificate's private key (PEM)".into(),
                    });
                    Credential::None
                }
                (Some(_), Some(_), _) | (Some(_), None, Some(_)) => {
                    problems.push(Problem {
                        key: "oauth2.client_secret_file".into(),
                        message: "use either a client secret or a certificate (private_key_file + certificate_thumbprint), not both".into(),
                    });
                    Credential::None
                }
                (None, None, None) => {
                    problems.push(Problem {
                        key: "oauth2.client_secret_file".into(),
                        message: "needed: a client secret (client_secret_file, _env or _credential) or a certificate (private_key_file + certificate_thumbprint)".into(),
                    });
                    Credential::None
                }
            };
            let url = raw
                .token_url
                .clone()
                .unwrap_or_else(|| format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"));
            (
                client_id,
                credential,
                url,
                raw.scope.clone().unwrap_or_else(|| MICROSOFT_SCOPE.into()),
            )
        }
        Provider::Google => {
            unused("client_secret_file", secret.is_some(), problems);
            unused("private_key_file", key.is_some(), problems);
            unused("tenant", raw.tenant.is_some(), problems);
            let credential = match account {
                Some(a) => Credential::ServiceAccount(a),
                None => {
                    problems.push(Problem {
                        key: "oauth2.service_account_file".into(),
                        message: format!("needed {why}: the service account's JSON key"),
                    });
                    Credential::None
                }
            };
            (
                raw.client_id.clone().unwrap_or_default(),
                credential,
                raw.token_url.clone().unwrap_or_else(|| GOOGLE_TOKEN_URL.into()),
                raw.scope.clone().unwrap_or_else(|| GOOGLE_SCOPE.into()),
            )
        }
        Provider::Generic | Provider::Device => {
            unused("tenant", raw.tenant.is_some(), problems);
            unused("service_account_file", account.is_some(), problems);
            let client_id = need("client_id", &raw.client_id, &why, problems);
            let url = need("token_url", &raw.token_url, &why, problems);
            let scope = need("scope", &raw.scope, &why, problems);
            let credential = match (secret, key, provider == Provider::Device) {
                (Some(s), None, _) => Credential::Secret(s),
                (None, Some(k), _) => match raw.certificate_thumbprint {
                    Some(t) => Credential::Certificate { key: k, thumbprint: t },
                    None => {
                        problems.push(Problem {
                            key: "oauth2.certificate_thumbprint".into(),
                            message: "needed with private_key_file".into(),
                        });
                        Credential::None
                    }
                },
                (None, None, true) => Credential::None,
                (None, None, false) => {
                    problems.push(Problem {
                        key: "oauth2.client_secret_file".into(),
                        message: format!("needed {why}: client_secret_file, client_secret_env or client_secret_credential"),
                    });
                    Credential::None
                }
                (Some(_), Some(_), _) => {
                    problems.push(Problem {
                        key: "oauth2.client_secret_file".into(),
                        message: "use either a client secret or a private key, not both".into(),
                    });
                    Credential::None
                }
            };
            (client_id, credential, url, scope)
        }
    };
    if !token_url.is_empty() {
        url_of("token_url", &token_url, problems);
    }
    let device_authorization_url = match (&provider, raw.device_authorization_url) {
        (Provider::Device, Some(u)) => {
            url_of("device_authorization_url", &u, problems);
            Some(u)
        }
        (Provider::Device, None) => {
            need("device_authorization_url", &None, &why, problems);
            None
        }
        (_, Some(_)) => {
            unused("device_authorization_url", true, problems);
            None
        }
        (_, None) => None,
    };
    let mechanism = match raw.mechanism.as_deref().unwrap_or("auto") {
        "auto" => Mechanism::Auto,
        "xoauth2" => Mechanism::Xoauth2,
        "oauthbearer" => Mechanism::OauthBearer,
        other => {
            problems.push(Problem {
                key: "oauth2.mechanism".into(),
                message: format!("must be \"auto\", \"xoauth2\" or \"oauthbearer\", not {other:?}"),
            });
            Mechanism::Auto
        }
    };
    let renew_before = raw.renew_before.unwrap_or(Duration::from_secs(300));
    if renew_before < Duration::from_secs(1) {
        problems.push(Problem {
            key: "oauth2.renew_before".into(),
            message: "must be at least 1s".into(),
        });
    }
    if problems.len() > before {
        return None;
    }
    Some(OAuthConfig {
        provider,
        client_id,
        credential,
        token_url,
        device_authorization_url,
        scope,
        mechanism,
        renew_before,
        ca_file: raw.ca_file.map(|p| if p.is_absolute() { p } else { base.join(p) }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const BASE: &str = r#"
[database]
path = "x.db"
[imap]
host = "outlook.office365.com"
user = "samverkan@kommun.test"
IMAP_AUTH
[smtp]
host = "smtp.office365.com"
tls = "starttls"
user = "samverkan@kommun.test"
SMTP_AUTH
[[forum]]
id = "iof-aof"
name = "Samverkan"
mailbox = "samverkan@kommun.test"
convenor = { name = "Sara", address = "sara@kommun.test" }
"#;

    fn config(imap: &str, smtp: &str, oauth: &str) -> Result<crate::config::Config, Vec<Problem>> {
        let text = BASE.replace("IMAP_AUTH", imap).replace("SMTP_AUTH", smtp);
        parse(&format!("{text}\n{oauth}"), Path::new("/etc/samverkan/samverkan.toml"))
    }

    fn keys(p: Vec<Problem>) -> Vec<String> {
        p.into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn microsoft_with_a_secret_needs_five_lines() {
        let c = config(
            "auth = \"oauth2\"",
            "auth = \"oauth2\"",
            "[oauth2]\nprovider = \"microsoft\"\ntenant = \"kommun.onmicrosoft.com\"\nclient_id = \"abc\"\nclient_secret_credential = \"oauth\"",
        )
        .expect("valid");
        let o = c.oauth2.clone().expect("oauth2");
        assert_eq!(
            o.token_url,
            "https://login.microsoftonline.com/kommun.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(o.scope, MICROSOFT_SCOPE);
        assert_eq!(o.credential, Credential::Secret(SecretSource::Credential("oauth".into())));
        assert!(c.imap.oauth2);
        assert_eq!(c.smtp.oauth2_user.as_deref(), Some("samverkan@kommun.test"));
        // No password is asked for; the client secret is.
        assert_eq!(
            c.secrets().iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec!["oauth2.client_secret"]
        );
    }

    #[test]
    fn certificate_and_google_are_configured_by_their_keys() {
        let c = config(
            "auth = \"oauth2\"",
            "password_env = \"P\"",
            "[oauth2]\nprovider = \"microsoft\"\ntenant = \"t\"\nclient_id = \"abc\"\nprivate_key_file = \"key.pem\"\ncertificate_thumbprint = \"01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67\"",
        )
        .expect("valid");
        match c.oauth2.expect("oauth2").credential {
            Credential::Certificate { key, thumbprint } => {
                assert_eq!(key, SecretSource::File("/etc/samverkan/key.pem".into()));
                assert_eq!(thumbprint, "0123456789ABCDEF0123456789ABCDEF01234567");
            }
            other => panic!("{other:?}"),
        }
        let c = config(
            "auth = \"oauth2\"",
            "auth = \"oauth2\"",
            "[oauth2]\nprovider = \"google\"\nservice_account_file = \"/etc/samverkan/sa.json\"",
        )
        .expect("valid");
        let o = c.oauth2.expect("oauth2");
        assert_eq!((o.token_url.as_str(), o.scope.as_str()), (GOOGLE_TOKEN_URL, GOOGLE_SCOPE));
    }

    #[test]
    fn every_oauth_mistake_is_named_by_its_key() {
        let p = keys(config("auth = \"oauth2\"", "", "").expect_err("no [oauth2]"));
        assert!(p.contains(&"oauth2".to_string()), "{p:?}");
        let p = keys(config("auth = \"token\"", "", "").expect_err("bad auth"));
        assert!(p.contains(&"imap.auth".to_string()), "{p:?}");
        let p = keys(config("auth = \"oauth2\"\npassword_env = \"X\"", "", "[oauth2]\nprovider = \"microsoft\"").expect_err("bad"));
        for k in [
            "imap.password_file",
            "oauth2.tenant",
            "oauth2.client_id",
            "oauth2.client_secret_file",
        ] {
            assert!(p.contains(&k.to_string()), "{k} in {p:?}");
        }
        let p = keys(
            config(
                "auth = \"oauth2\"",
                "",
                "[oauth2]\nprovider = \"generic\"\nclient_id = \"x\"\nclient_secret_env = \"S\"\ntoken_url = \"http://login.example/token\"\nscope = \"s\"\nmechanism = \"plain\"\nprivate_key_file = \"k\"\nthumbprint = \"x\"",
            )
            .expect_err("bad"),
        );
        for k in [
            "oauth2.token_url",
            "oauth2.mechanism",
            "oauth2.client_secret_file",
            "oauth2.thumbprint",
        ] {
            assert!(p.contains(&k.to_string()), "{k} in {p:?}");
        }
        let p = keys(config("", "", "[oauth2]\nprovider = \"azure\"").expect_err("bad"));
        assert!(p.contains(&"oauth2.provider".to_string()), "{p:?}");
        let p = keys(
            config(
                "password_env = \"I\"",
                "password_env = \"S\"",
                "[oauth2]\nprovider = \"google\"\nservice_account_file = \"sa.json\"",
            )
            .expect_err("unused"),
        );
        assert_eq!(p, vec!["oauth2".to_string()]);
        let p = keys(
            config(
                "auth = \"oauth2\"",
                "auth = \"oauth2\"",
                "[oauth2]\nprovider = \"device\"\nclient_id = \"x\"\ntoken_url = \"https://l/t\"\nscope = \"s\"",
            )
            .expect_err("no device url"),
        );
        assert!(p.contains(&"oauth2.device_authorization_url".to_string()), "{p:?}");
    }
}
