//! Sign-in providers: a generic OIDC provider (discovery read lazily on first use, ID token
//! checked against the provider's JWKS) and GitHub (user and email from its API). The
//! authorization code flow with PKCE runs on the oauth2 crate over our own reqwest client,
//! with redirects off.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::Person;
use crate::config::{ProviderType, SignInProviderSettings};
use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenReply = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenReply,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The parts of an OIDC discovery document we use.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

pub struct Provider {
    pub name: String,
    pub settings: SignInProviderSettings,
    http: reqwest::Client,
    discovery: Mutex<Option<Discovery>>,
    jwks: Mutex<Option<JwkSet>>,
}

/// What `start` must remember for the callback.
pub struct Started {
    pub url: String,
    pub csrf: String,
    pub verifier: String,
}

fn unavailable(provider: &str) -> ApiError {
    ApiError::with_code(
        ErrorCode::Unavailable,
        format!("The sign-in provider '{provider}' could not be reached or answered wrongly; try again later."),
    )
}

fn refused(provider: &str, why: &str) -> ApiError {
    ApiError::with_code(ErrorCode::Unauthenticated, format!("Sign-in with '{provider}' failed: {why}."))
}

/// Runs one oauth2 request on our reqwest client.
async fn send(http: reqwest::Client, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, std::io::Error> {
    let (parts, body) = req.into_parts();
    let mut builder = http.request(parts.method, parts.uri.to_string()).body(body);
    for (k, v) in parts.headers.iter() {
        builder = builder.header(k, v);
    }
    let res = builder.send().await.map_err(std::io::Error::other)?;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.map_err(std::io::Error::other)?;
    let mut out =
        oauth2::http::Response::builder().status(status).body(bytes.to_vec()).map_err(std::io::Error::other)?;
    *out.headers_mut() = headers;
    Ok(out)
}

async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T, reqwest::Error> {
    http.get(url).send().await?.error_for_status()?.json().await
}

impl Provider {
    pub fn new(name: &str, settings: SignInProviderSettings) -> anyhow::Result<Self> {
        if settings.kind == ProviderType::Oidc {
            anyhow::ensure!(settings.issuer.is_some(), "auth.providers.{name}: an oidc provider needs an issuer");
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .user_agent("portolan")
            .build()?;
        Ok(Self { name: name.to_owned(), settings, http, discovery: Mutex::new(None), jwks: Mutex::new(None) })
    }

    fn issuer(&self) -> &str {
        self.settings.issuer.as_deref().unwrap_or_default().trim_end_matches('/')
    }

    /// The discovery document, read on first use and kept once it was read successfully.
    async fn discovery(&self) -> Result<Discovery, ApiError> {
        let mut cached = self.discovery.lock().await;
        if let Some(d) = cached.as_ref() {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer());
        let doc: Discovery = get_json(&self.http, &url).await.map_err(|e| {
            tracing::warn!(provider = %self.name, error = %e.without_url(), "OIDC discovery failed.");
            unavailable(&self.name)
        })?;
        if doc.issuer.trim_end_matches('/') != self.issuer() {
            tracing::warn!(provider = %self.name, "The discovery document names another issuer.");
            return Err(unavailable(&self.name));
        }
        *cached = Some(doc.clone());
        Ok(doc)
    }

    async fn endpoints(&self) -> Result<(String, String), ApiError> {
        match self.settings.kind {
            ProviderType::Oidc => {
                let d = self.discovery().await?;
                Ok((d.authorization_endpoint, d.token_endpoint))
            }
            ProviderType::Github => {
                let web = self.settings.github_url.as_deref().unwrap_or("https://github.com").trim_end_matches('/');
                Ok((format!("{web}/login/oauth/authorize"), format!("{web}/login/oauth/access_token")))
            }
        }
    }

    async fn client(&self, redirect: &str) -> Result<OAuthClient, ApiError> {
        let (auth, token) = self.endpoints().await?;
        let bad = |_| unavailable(&self.name);
        Ok(oauth2::Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.settings.client_secret.expose().to_owned()))
            .set_auth_uri(AuthUrl::new(auth).map_err(bad)?)
            .set_token_uri(TokenUrl::new(token).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(|_| ApiError::input("bad callback URL"))?))
    }

    fn scopes(&self) -> Vec<String> {
        if !self.settings.scopes.is_empty() {
            return self.settings.scopes.clone();
        }
        match self.settings.kind {
            ProviderType::Oidc => vec!["openid".into(), "email".into(), "profile".into()],
            ProviderType::Github => vec!["read:user".into(), "user:email".into()],
        }
    }

    /// The provider's authorization URL for a new sign-in (PKCE S256, CSRF state, nonce).
    pub async fn start(&self, redirect: &str, nonce: &str) -> Result<Started, ApiError> {
        let client = self.client(redirect).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
        for s in self.scopes() {
            req = req.add_scope(Scope::new(s));
        }
        if self.settings.kind == ProviderType::Oidc {
            req = req.add_extra_param("nonce", nonce.to_owned());
        }
        let (url, csrf) = req.url();
        Ok(Started { url: url.to_string(), csrf: csrf.secret().clone(), verifier: verifier.secret().clone() })
    }

    /// Exchanges the code and finds out who signed in.
    pub async fn finish(&self, redirect: &str, code: &str, verifier: &str, nonce: &str) -> Result<Person, ApiError> {
        let client = self.client(redirect).await?;
        let http = self.http.clone();
        let call = move |req: oauth2::HttpRequest| send(http.clone(), req);
        let reply = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&call)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    refused(&self.name, &format!("the provider refused the code ({})", r.error().as_ref()))
                }
                RequestTokenError::Request(_) => unavailable(&self.name),
                _ => refused(&self.name, "the provider's token answer could not be read"),
            })?;
        match self.settings.kind {
            ProviderType::Oidc => {
                let id_token =
                    reply.extra_fields().id_token.as_deref().ok_or_else(|| refused(&self.name, "no ID token"))?;
                self.verify_id_token(id_token, nonce).await
            }
            ProviderType::Github => self.github_person(reply.access_token().secret()).await,
        }
    }

    async fn jwks(&self, reload: bool) -> Result<JwkSet, ApiError> {
        let mut cached = self.jwks.lock().await;
        if !reload && let Some(set) = cached.as_ref() {
            return Ok(set.clone());
        }
        let d = self.discovery().await?;
        let set: JwkSet = get_json(&self.http, &d.jwks_uri).await.map_err(|e| {
            tracing::warn!(provider = %self.name, error = %e.without_url(), "Reading the provider's JWKS failed.");
            unavailable(&self.name)
        })?;
        *cached = Some(set.clone());
        Ok(set)
    }

    /// Signature (against the JWKS), issuer, audience, expiry and nonce.
    async fn verify_id_token(&self, id_token: &str, nonce: &str) -> Result<Person, ApiError> {
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|_| refused(&self.name, "the ID token is malformed"))?;
        if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(refused(&self.name, "the ID token is not signed with a public key"));
        }
        let pick = |set: &JwkSet| match header.kid.as_deref() {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let jwk = match pick(&self.jwks(false).await?) {
            Some(k) => k,
            None => {
                pick(&self.jwks(true).await?).ok_or_else(|| refused(&self.name, "the ID token's key is unknown"))?
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| refused(&self.name, "the provider's key is unusable"))?;
        let mut v = Validation::new(header.alg);
        let issuer = self.issuer().to_owned();
        v.set_issuer(&[format!("{issuer}/"), issuer]);
        v.set_audience(&[&self.settings.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 30;
        let data = jsonwebtoken::decode::<IdClaims>(id_token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let why = match e.kind() {
                K::ExpiredSignature => "the ID token has expired",
                K::InvalidAudience => "the ID token is for another client",
                K::InvalidIssuer => "the ID token is from another issuer",
                K::InvalidSignature => "the ID token's signature is wrong",
                _ => "the ID token is invalid",
            };
            refused(&self.name, why)
        })?;
        if data.claims.nonce.as_deref() != Some(nonce) {
            return Err(refused(&self.name, "the ID token's nonce does not match"));
        }
        // An address the provider says is unverified does not map anyone.
        let email = data.claims.email.filter(|_| data.claims.email_verified != Some(false));
        Ok(Person { email, login: data.claims.preferred_username })
    }

    /// GitHub: the login from `/user`, the primary verified email from `/user/emails`.
    async fn github_person(&self, token: &str) -> Result<Person, ApiError> {
        #[derive(Deserialize)]
        struct User {
            login: String,
            #[serde(default)]
            email: Option<String>,
        }
        #[derive(Deserialize)]
        struct Email {
            email: String,
            #[serde(default)]
            primary: bool,
            #[serde(default)]
            verified: bool,
        }
        let api = self.settings.github_api_url.as_deref().unwrap_or("https://api.github.com").trim_end_matches('/');
        let get = |path: &str| {
            self.http
                .get(format!("{api}{path}"))
                .bearer_auth(token)
                .header("accept", "application/vnd.github+json")
                .send()
        };
        let fail = |e: reqwest::Error| {
            tracing::warn!(provider = %self.name, error = %e.without_url(), "Reading the GitHub user failed.");
            unavailable(&self.name)
        };
        let user: User =
            get("/user").await.and_then(|r| r.error_for_status()).map_err(fail)?.json().await.map_err(fail)?;
        let emails: Vec<Email> = match get("/user/emails").await.and_then(|r| r.error_for_status()) {
            Ok(r) => r.json().await.map_err(fail)?,
            Err(_) => Vec::new(),
        };
        let email = emails.iter().find(|e| e.primary && e.verified).map(|e| e.email.clone()).or(user.email);
        Ok(Person { email, login: Some(user.login) })
    }
}
