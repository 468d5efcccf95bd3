//! Signed JWT assertions (RFC 7523) with ring: the certificate credential's client assertion
//! (`private_key_jwt`, Entra ID) and a Google service account's JWT bearer grant.
//! Neither the key nor the assertion is ever logged.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

/// An RSA signing key read from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
pub struct SigningKey(RsaKeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    pub fn from_pem(pem: &str) -> Result<SigningKey> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).context(
            "not an unencrypted PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----); convert with `openssl pkcs8 -topk8 -nocrypt`",
        )?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| anyhow::anyhow!("not a usable RSA key: {e}"))?;
        Ok(SigningKey(key))
    }

    /// `header.claims.signature`, RS256.
    pub fn sign(&self, header: &serde_json::Value, claims: &serde_json::Value) -> Result<String> {
        let msg = format!("{}.{}", B64URL.encode(header.to_string()), B64URL.encode(claims.to_string()));
        let mut sig = vec![0u8; self.0.public().modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg.as_bytes(), &mut sig)
            .map_err(|_| anyhow::anyhow!("signing the assertion failed"))?;
        Ok(format!("{msg}.{}", B64URL.encode(sig)))
    }
}

/// A random identifier for `jti`.
fn jti() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The client assertion for a certificate credential: `x5t` is the certificate's SHA-1
/// thumbprint (hex, as Entra ID shows it), `aud` the token endpoint, `iss` = `sub` = client id.
pub fn client_assertion(key: &SigningKey, thumbprint_hex: &str, client_id: &str, token_url: &str, now: i64) -> Result<String> {
    let raw = (0..thumbprint_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(thumbprint_hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .context("oauth2.certificate_thumbprint is not hex")?;
    if raw.len() != 20 {
        bail!("oauth2.certificate_thumbprint must be 40 hex digits (SHA-1)");
    }
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": B64URL.encode(&raw)});
    let claims = json!({
        "aud": token_url, "iss": client_id, "sub": client_id,
        "jti": jti(), "nbf": now, "iat": now, "exp": now + 600,
    });
    key.sign(&header, &claims)
}

/// A Google service account key file's fields samverkan uses.
#[derive(serde::Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceAccount({})", self.client_email)
    }
}

/// The JWT bearer grant's assertion: the service account acts as `subject` (the mailbox, by
/// domain-wide delegation) for `scope`.
pub fn bearer_assertion(sa: &ServiceAccount, key: &SigningKey, subject: &str, scope: &str, token_url: &str, now: i64) -> Result<String> {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": sa.private_key_id});
    let claims = json!({
        "iss": sa.client_email, "sub": subject, "scope": scope, "aud": token_url,
        "iat": now, "exp": now + 3600,
    });
    key.sign(&header, &claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    /// A 2048-bit test key made for these tests only.
    const TEST_KEY: &str = include_str!("testdata/test-key.pem");

    fn verify(key: &SigningKey, jwt: &str) -> (serde_json::Value, serde_json::Value) {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let sig = B64URL.decode(parts[2]).expect("sig");
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.0.public().as_ref().to_vec());
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .expect("signature verifies");
        let dec = |s: &str| serde_json::from_slice(&B64URL.decode(s).expect("b64")).expect("json");
        (dec(parts[0]), dec(parts[1]))
    }

    #[test]
    fn client_assertion_is_signed_and_names_the_certificate() {
        let key = SigningKey::from_pem(TEST_KEY).expect("key");
        let t = "0123456789ABCDEF0123456789ABCDEF01234567";
        let jwt = client_assertion(&key, t, "app-id", "https://login.example/token", 1_700_000_000).expect("jwt");
        let (h, c) = verify(&key, &jwt);
        assert_eq!(h["alg"], "RS256");
        assert_eq!(B64URL.decode(h["x5t"].as_str().expect("x5t")).expect("b64").len(), 20);
        assert_eq!(c["iss"], "app-id");
        assert_eq!(c["sub"], "app-id");
        assert_eq!(c["aud"], "https://login.example/token");
        assert_eq!(c["exp"], 1_700_000_600);
        assert!(client_assertion(&key, "12", "a", "b", 0).is_err());
    }

    #[test]
    fn bearer_assertion_acts_for_the_mailbox() {
        let key = SigningKey::from_pem(TEST_KEY).expect("key");
        let sa = ServiceAccount {
            client_email: "sv@proj.iam.gserviceaccount.com".into(),
            private_key: TEST_KEY.into(),
            private_key_id: "k1".into(),
        };
        let jwt = bearer_assertion(
            &sa,
            &key,
            "forum@kommun.se",
            "https://mail.google.com/",
            "https://oauth2.googleapis.com/token",
            10,
        )
        .expect("jwt");
        let (h, c) = verify(&key, &jwt);
        assert_eq!(h["kid"], "k1");
        assert_eq!(c["sub"], "forum@kommun.se");
        assert_eq!(c["iss"], "sv@proj.iam.gserviceaccount.com");
        assert_eq!(c["scope"], "https://mail.google.com/");
        assert!(format!("{key:?} {sa:?}").find("PRIVATE").is_none());
    }

    #[test]
    fn a_bad_key_is_explained() {
        let e = SigningKey::from_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n").expect_err("pkcs1");
        assert!(format!("{e:#}").contains("PKCS#8"), "{e:#}");
    }
}
