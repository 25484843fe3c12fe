//! portolan's own tokens: short-lived HS256 access tokens, refresh tokens and the sign-in state,
//! signed with the configured keys (the first signs, all verify); and service tokens, which are
//! random, shown once and kept only as SHA-256.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::TokenSettings;

pub const ISSUER: &str = "portolan";
/// The prefix of service tokens, so a Bearer value can be told apart from a JWT.
pub const SERVICE_PREFIX: &str = "ptk_";
pub const SCOPES: &[&str] = &[
    "catalog:write",
    "offerings:write",
    "usage:write",
    "kpi:write",
    "plan:write",
    "deploy:write",
    "gateway:check",
    "admin",
];

/// The claims of an access or refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The User entity ref, or `person:<email or login>` for an unmapped reader.
    pub sub: String,
    /// Ownership refs (ref keys): the user, its groups and, when configured, their parents.
    #[serde(default)]
    pub ent: Vec<String>,
    /// Reader-only (an unmapped person allowed in to read).
    #[serde(default)]
    pub ro: bool,
    #[serde(default)]
    pub email: Option<String>,
    /// The sign-in session: one id from sign-in on, kept by every refresh; logging out revokes
    /// it, and a refresh token of a revoked session gets 401.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `access` or `refresh`.
    pub typ: String,
    pub iss: String,
    pub exp: u64,
    pub iat: u64,
}

pub struct Keys {
    keys: Vec<Vec<u8>>,
    pub ttl_secs: u64,
    pub refresh_ttl_secs: u64,
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `n` bytes from the operating system's random source.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    buf
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A random URL-safe string of 32 bytes of entropy.
pub fn random_token() -> String {
    b64(&random_bytes(32))
}

/// The stored form of a service token.
pub fn hash_token(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// A new service token: its secret value (shown once) and its hash.
pub fn new_service_token() -> (String, String) {
    let value = format!("{SERVICE_PREFIX}{}", random_token());
    let hash = hash_token(&value);
    (value, hash)
}

impl Keys {
    /// The configured keys, or a temporary one (with a warning) when none is configured.
    pub fn from_settings(settings: &TokenSettings) -> Self {
        let mut keys: Vec<Vec<u8>> =
            settings.signing_keys.iter().filter(|k| !k.is_empty()).map(|k| k.expose().as_bytes().to_vec()).collect();
        if keys.is_empty() {
            tracing::warn!(
                "No [auth.tokens] signing_keys configured: using a temporary key; sign-ins will not survive a restart."
            );
            keys.push(random_bytes(32));
        }
        Self { keys, ttl_secs: settings.ttl_secs.max(30), refresh_ttl_secs: settings.refresh_ttl_secs.max(60) }
    }

    /// Signs any claims with the current key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(&self.keys[0]))?)
    }

    /// Verifies a token signed by any configured key (signature, `exp`, `iss`).
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = 5;
        self.keys
            .iter()
            .find_map(|k| jsonwebtoken::decode::<T>(token, &DecodingKey::from_secret(k), &validation).ok())
            .map(|d| d.claims)
    }

    /// A MAC of `message` under the current key (URL-safe base64), for values the server hands
    /// out and checks itself (the UI's CSRF token).
    pub fn mac(&self, message: &[u8]) -> String {
        b64(&Self::mac_with(&self.keys[0], message))
    }

    /// Whether `tag` is the MAC of `message` under any configured key (constant time).
    pub fn mac_matches(&self, message: &[u8], tag: &str) -> bool {
        self.keys
            .iter()
            .any(|k| subtle::ConstantTimeEq::ct_eq(b64(&Self::mac_with(k, message)).as_bytes(), tag.as_bytes()).into())
    }

    fn mac_with(key: &[u8], message: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        Mac::update(&mut mac, message);
        Mac::finalize(mac).into_bytes().to_vec()
    }

    /// An access or refresh token for this person, in a new session.
    pub fn issue(
        &self,
        sub: &str,
        ent: &[String],
        ro: bool,
        email: Option<&str>,
        refresh: bool,
    ) -> anyhow::Result<String> {
        self.issue_in_session(sub, ent, ro, email, refresh, &random_token())
    }

    /// An access or refresh token for this person in the sign-in session `sid`.
    pub fn issue_in_session(
        &self,
        sub: &str,
        ent: &[String],
        ro: bool,
        email: Option<&str>,
        refresh: bool,
        sid: &str,
    ) -> anyhow::Result<String> {
        let now = now_secs();
        let ttl = if refresh { self.refresh_ttl_secs } else { self.ttl_secs };
        self.sign(&Claims {
            sub: sub.to_owned(),
            ent: ent.to_vec(),
            ro,
            email: email.map(str::to_owned),
            sid: Some(sid.to_owned()),
            typ: if refresh { "refresh" } else { "access" }.into(),
            iss: ISSUER.into(),
            exp: now + ttl,
            iat: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn keys(list: &[&str]) -> Keys {
        Keys::from_settings(&TokenSettings {
            signing_keys: list.iter().map(|k| Secret::new(k.to_string())).collect(),
            ..TokenSettings::default()
        })
    }

    #[test]
    fn tokens_verify_with_any_configured_key_and_not_with_others() {
        let old = keys(&["old-key"]);
        let token = old.issue("user:default/a", &["user:default/a".into()], false, None, false).unwrap();
        let rotated = keys(&["new-key", "old-key"]);
        let c: Claims = rotated.verify(&token).expect("the old key still verifies");
        assert_eq!(c.sub, "user:default/a");
        assert!(keys(&["other"]).verify::<Claims>(&token).is_none());
        let mut tampered = token.clone();
        tampered.pop();
        assert!(rotated.verify::<Claims>(&tampered).is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let k = keys(&["k"]);
        let mut c: Claims = k.verify(&k.issue("user:default/a", &[], false, None, false).unwrap()).unwrap();
        c.exp = now_secs() - 60;
        assert!(k.verify::<Claims>(&k.sign(&c).unwrap()).is_none());
    }

    #[test]
    fn service_tokens_are_random_and_stored_as_sha256() {
        let (a, ha) = new_service_token();
        let (b, _) = new_service_token();
        assert_ne!(a, b);
        assert!(a.starts_with(SERVICE_PREFIX) && a.len() > 40);
        assert_eq!(ha, hash_token(&a));
        assert_eq!(ha.len(), 64);
        assert!(!ha.contains(&a));
    }
}
