//! What the errors users actually hit mean, in words an Exchange or Workspace admin
//! understands. One table per source: the token endpoint, IMAP, SMTP. docs/microsoft365.md
//! and docs/google-workspace.md carry the same table.

/// Token endpoint errors (OAuth2 `error`, and the AADSTS code in Entra ID's description) that
/// only an administrator can fix, as (code, advice). `None`: transient, try again.
pub fn token_error(error: &str, description: &str) -> Option<(String, String)> {
    let aadsts = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.starts_with("AADSTS"))
        .map(str::to_string);
    let code = match &aadsts {
        Some(a) => format!("{error} {a}"),
        None => error.to_string(),
    };
    let by_aadsts = aadsts
        .as_deref()
        .and_then(|a| AADSTS.iter().find(|(c, _)| *c == a).map(|(_, text)| (*text).to_string()));
    if let Some(text) = by_aadsts {
        return Some((code, text));
    }
    let text = match error {
        "invalid_client" => {
            "the token endpoint refused the client's credentials: check oauth2.client_id and the client secret (or the certificate and its thumbprint); a secret may have expired: create a new one in Entra ID > App registrations > Certificates & secrets"
        }
        "unauthorized_client" => {
            "the application may not use this grant: for Microsoft 365 grant the application permissions IMAP.AccessAsApp and SMTP.SendAsApp with admin consent; for Google allow the service account's client id for https://mail.google.com/ under domain-wide delegation"
        }
        "invalid_grant" => {
            "the grant was refused: a refresh token that was revoked or expired (run `samverkan auth login` again), or, for Google, a mailbox the service account may not act for"
        }
        "invalid_scope" => "the scope is not valid for this application: check oauth2.scope",
        "invalid_request" => "the token request was refused as malformed: check oauth2.tenant, oauth2.client_id and oauth2.token_url",
        "access_denied" => "access was denied by the identity provider: an administrator must allow the application",
        _ => return None,
    };
    Some((code, text.to_string()))
}

/// Entra ID's codes that an admin must act on, as seen in `error_description`.
const AADSTS: &[(&str, &str)] = &[
    (
        "AADSTS7000215",
        "the client secret is wrong: put the secret's *value* (not its id) in oauth2.client_secret_file",
    ),
    (
        "AADSTS7000222",
        "the client secret has expired: create a new one in Entra ID > App registrations > Certificates & secrets and replace oauth2.client_secret_file",
    ),
    (
        "AADSTS700016",
        "no application with this oauth2.client_id in the tenant: copy the Application (client) id from the app registration's overview",
    ),
    (
        "AADSTS90002",
        "the tenant was not found: oauth2.tenant must be the Directory (tenant) id or the tenant's domain",
    ),
    (
        "AADSTS700027",
        "the certificate assertion was refused: upload the certificate to the app registration and set oauth2.certificate_thumbprint to its thumbprint",
    ),
    ("AADSTS700082", "the refresh token has expired: run `samverkan auth login` again"),
    (
        "AADSTS50173",
        "the grant was revoked (a password change or an admin's sign-out): run `samverkan auth login` again",
    ),
    ("AADSTS70000", "the grant was refused or revoked: run `samverkan auth login` again"),
    (
        "AADSTS65001",
        "admin consent is missing: grant admin consent for the application's API permissions",
    ),
    (
        "AADSTS7000112",
        "the application is disabled in the tenant: enable the enterprise application",
    ),
];

/// Whether a server's `* BYE` ending a live IMAP session says that the session's token is no
/// longer good (Exchange Online: `* BYE Session invalidated - AccessTokenExpired`): then the
/// cached token is dropped and the next login fetches a new one, instead of failing once with it.
pub fn bye_means_token_expired(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "accesstokenexpired",
        "token expired",
        "token has expired",
        "session invalidated",
        "invalid_token",
        "authenticationfailed",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// Advice for an IMAP login failure with a token (the server's text and, for XOAUTH2/
/// OAUTHBEARER, its JSON error challenge).
pub fn imap_login(server_text: &str, challenge: Option<&str>) -> String {
    if server_text.contains("not connected") {
        return "User is authenticated but not connected: the service principal lacks access to this mailbox: `Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights FullAccess`".into();
    }
    let general = "AUTHENTICATE failed: the token was refused: check the scope (Microsoft: https://outlook.office365.com/.default), that the application has IMAP.AccessAsApp with admin consent, that `New-ServicePrincipal` was run with the *enterprise application's* object id, and that imap.user is the mailbox";
    match challenge.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => format!(
            "{general}; the server's error challenge: {c} (Google: the service account needs domain-wide delegation for https://mail.google.com/ and the mailbox must exist)"
        ),
        None => general.into(),
    }
}

/// Advice for an SMTP AUTH failure with a token.
pub fn smtp_login(server_text: &str) -> String {
    if server_text.contains("5.7.139") {
        return "SMTP AUTH is disabled for the tenant or the mailbox (535 5.7.139): `Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false`".into();
    }
    if server_text.contains("5.7.3") {
        return "535 5.7.3 authentication unsuccessful: the token was refused: the application needs SMTP.SendAsApp with admin consent, the service principal needs SendAs/FullAccess on the mailbox, and smtp.user must be that mailbox".into();
    }
    if server_text.contains("does not expect a challenge") {
        return "the server refused the token with an error challenge (Google's 334 answer): check domain-wide delegation for https://mail.google.com/ and that smtp.user is a mailbox of the domain".into();
    }
    "SMTP AUTH XOAUTH2 failed: check that the application may send as smtp.user and that SMTP AUTH is allowed for the mailbox".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_map_to_advice() {
        let (code, text) = token_error(
            "invalid_client",
            "AADSTS7000222: The provided client secret keys for app '1' are expired. Trace ID: x",
        )
        .expect("admin");
        assert_eq!(code, "invalid_client AADSTS7000222");
        assert!(text.contains("expired"), "{text}");
        assert!(token_error("invalid_client", "").expect("admin").1.contains("client_id"));
        assert!(token_error("temporarily_unavailable", "").is_none());
        assert!(token_error("server_error", "").is_none());
    }

    #[test]
    fn login_failures_map_to_advice() {
        assert!(imap_login("User is authenticated but not connected.", None).contains("FullAccess"));
        assert!(imap_login("AUTHENTICATE failed.", None).contains("New-ServicePrincipal"));
        let a = imap_login("x", Some("{\"status\":\"400\"}"));
        assert!(a.contains("delegation") && a.contains("New-ServicePrincipal"), "{a}");
        assert!(smtp_login("535 5.7.139 Authentication unsuccessful").contains("Set-CASMailbox"));
        assert!(smtp_login("535 5.7.3 Authentication unsuccessful").contains("SMTP.SendAsApp"));
        assert!(smtp_login("client error: This mechanism does not expect a challenge").contains("334"));
    }

    #[test]
    fn a_bye_about_the_token_is_told_from_other_byes() {
        for text in ["Session invalidated - AccessTokenExpired", "Session invalidated", "token expired"] {
            assert!(bye_means_token_expired(text), "{text}");
        }
        for text in ["Logging out", "Server shutting down.", "Disconnected for inactivity.", ""] {
            assert!(!bye_means_token_expired(text), "{text}");
        }
    }
}
