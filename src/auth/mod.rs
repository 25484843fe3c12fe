//! Identity and access: who is calling (a Bearer JWT, the session cookie, a service token, a
//! guest or nobody), the access rules routes carry, ownership checks and sign-in.
//!
//! The [`middleware::authenticate`] middleware runs before routing and before any body is read;
//! handlers of owner-only actions call [`require_owner`].
//!
//! Its store (`store.rs`: `service_tokens`, `revoked_sessions`) is private; nothing outside auth
//! reads it. Of the catalog, auth reads Users, Groups, their `ownedBy`/`memberOf`/`childOf`
//! relations and provenance through `crate::catalog::facade`, judges trust with
//! `catalog::rules`, and serves the signed-in User through `catalog::read` with the catalog's
//! handler data (`catalog::Catalog`); nothing else.

pub mod cross_site;
pub mod handlers;
pub mod middleware;
pub mod oidc;
pub mod policy;
pub mod redirect;
pub mod routes;
mod store;
pub mod tokens;

use std::collections::{HashMap, HashSet};
use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use crate::catalog::facade as catalog_store;
use crate::catalog::rules::{CatalogRules, Provenance};
use crate::config::{AuthSettings, ServerSettings, SignInProviderSettings, SignInResolver, UnmappedPolicy};
use crate::db::Pool;
use crate::error::{ApiError, ErrorCode};

/// The prefix of every API key a gateway checks (`ptl_...`): never a portal credential, so the
/// middleware treats a Bearer API key as no credential at all.
pub const API_KEY_PREFIX: &str = "ptl_";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// Guest mode: no credentials, and allowed everything.
    Guest,
    /// A signed-in person (`sub` is a User ref, or `person:<login>` for an unmapped reader).
    User {
        sub: String,
        email: Option<String>,
    },
    Service {
        id: String,
        name: String,
    },
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub principal: Principal,
    /// Ref keys the caller owns through (user, groups, parents).
    pub ownership: Vec<String>,
    pub admin: bool,
    pub reader_only: bool,
    /// Service-token scopes.
    pub scopes: Vec<String>,
}

impl Identity {
    /// Who an audit record or a status update names: the User ref, `service:<name>`, `guest`
    /// or `anonymous`.
    pub fn actor(&self) -> String {
        match &self.principal {
            Principal::User { sub, .. } => sub.clone(),
            Principal::Service { name, .. } => format!("service:{name}"),
            Principal::Guest => "guest".into(),
            Principal::Anonymous => "anonymous".into(),
        }
    }

    pub fn anonymous() -> Self {
        Self {
            principal: Principal::Anonymous,
            ownership: Vec::new(),
            admin: false,
            reader_only: true,
            scopes: Vec::new(),
        }
    }
    pub fn guest() -> Self {
        Self { principal: Principal::Guest, ownership: Vec::new(), admin: true, reader_only: false, scopes: Vec::new() }
    }
    pub fn is_anonymous(&self) -> bool {
        self.principal == Principal::Anonymous
    }
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
    /// May change the catalog at all (owner checks come on top).
    pub fn can_write_catalog(&self) -> bool {
        match self.principal {
            Principal::Anonymous => false,
            Principal::Guest => true,
            Principal::User { .. } => !self.reader_only,
            Principal::Service { .. } => self.admin || self.has_scope("catalog:write"),
        }
    }
}

impl FromRequest for Identity {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Ok(req.extensions().get::<Identity>().cloned().unwrap_or_else(Identity::anonymous)))
    }
}

/// A service token from config, kept only as its hash.
pub struct ConfigToken {
    pub name: String,
    pub hash: String,
    pub scopes: Vec<String>,
    pub expires_at_ms: Option<i64>,
}

/// Everything auth needs at run time, built once at start.
pub struct AuthState {
    pub guest: bool,
    pub anonymous_read: bool,
    pub admins: HashSet<String>,
    pub unmapped: UnmappedPolicy,
    pub parent_groups: bool,
    pub base_url: Option<String>,
    pub keys: tokens::Keys,
    pub config_tokens: Vec<ConfigToken>,
    pub providers: HashMap<String, oidc::Provider>,
    /// The catalog rules: only Users and Groups from locations allowed to hold them count.
    pub rules: CatalogRules,
    /// `auth.tokens.max_days`: the longest lifetime of a service token made through the API.
    pub max_token_days: u32,
    /// `server.metrics_public`: `/metrics` answers anyone.
    pub metrics_public: bool,
}

/// `kind:namespace/name`, lower-cased, with `default` for a missing namespace.
pub fn ref_key(text: &str) -> String {
    let t = text.trim().to_lowercase();
    match t.split_once(':') {
        Some((kind, rest)) if !rest.contains('/') => format!("{kind}:default/{rest}"),
        _ => t,
    }
}

impl AuthState {
    /// Sign-in and tokens from `[auth]` (absent: guest mode), the server's `metrics_public`, and
    /// the catalog's rules (which locations may hold Users and Groups sign-in trusts).
    pub fn from_settings(
        settings: Option<&AuthSettings>,
        server: &ServerSettings,
        catalog_rules: &[crate::catalog::rules::RuleSetting],
    ) -> anyhow::Result<Self> {
        let auth = settings.cloned().unwrap_or_default();
        let mut config_tokens = Vec::new();
        for t in &auth.tokens.service {
            for s in &t.scopes {
                anyhow::ensure!(
                    tokens::SCOPES.contains(&s.as_str()),
                    "auth.tokens.service {:?}: unknown scope {s:?} (known: {})",
                    t.name,
                    tokens::SCOPES.join(", ")
                );
            }
            let expires_at_ms = match &t.expires_at {
                None => None,
                Some(e) => Some(
                    chrono::DateTime::parse_from_rfc3339(e)
                        .map_err(|_| anyhow::anyhow!("auth.tokens.service {:?}: expires_at is not RFC 3339", t.name))?
                        .timestamp_millis(),
                ),
            };
            anyhow::ensure!(
                t.token.expose().len() >= 16,
                "auth.tokens.service {:?}: the token must be at least 16 characters",
                t.name
            );
            config_tokens.push(ConfigToken {
                name: t.name.clone(),
                hash: tokens::hash_token(t.token.expose()),
                scopes: t.scopes.clone(),
                expires_at_ms,
            });
        }
        let mut providers = HashMap::new();
        for (name, p) in &auth.providers {
            anyhow::ensure!(
                p.user_annotation.is_some() || !p.sign_in.resolvers.contains(&SignInResolver::UserAnnotation),
                "auth.providers.{name}: the userAnnotation resolver needs user_annotation"
            );
            providers.insert(name.clone(), oidc::Provider::new(name, p.clone())?);
        }
        Ok(Self {
            guest: crate::config::guest(settings),
            anonymous_read: crate::config::anonymous_read(settings),
            admins: auth.admins.iter().map(|a| ref_key(a)).collect(),
            unmapped: auth.unmapped,
            parent_groups: auth.parent_groups,
            base_url: auth.base_url.clone(),
            keys: tokens::Keys::from_settings(&auth.tokens),
            config_tokens,
            providers,
            rules: CatalogRules::new(catalog_rules)?,
            max_token_days: auth.tokens.max_days.max(1),
            metrics_public: server.metrics_public,
        })
    }

    /// The identity a verified access token stands for.
    pub fn identity_from_claims(&self, c: tokens::Claims) -> Identity {
        let admin = !c.ro && c.ent.iter().any(|r| self.admins.contains(r));
        Identity {
            principal: Principal::User { sub: c.sub, email: c.email },
            ownership: c.ent,
            admin,
            reader_only: c.ro,
            scopes: Vec::new(),
        }
    }

    pub fn service_identity(&self, id: String, name: String, scopes: Vec<String>) -> Identity {
        Identity {
            admin: scopes.iter().any(|s| s == "admin"),
            principal: Principal::Service { id, name },
            ownership: Vec::new(),
            reader_only: false,
            scopes,
        }
    }
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::with_code(ErrorCode::Forbidden, message)
}

/// Allows the caller to act on these entities (ref keys) only when it owns every one of them
/// that has an owner, or is an admin. Entities with no owner at all are for admins only. Service
/// tokens act on no one's behalf: they need the `catalog:write` scope.
pub async fn require_owner(pool: &Pool, identity: &Identity, keys: Vec<String>, action: &str) -> Result<(), ApiError> {
    require_owner_as(pool, identity, keys, action, "catalog:write").await
}

/// [`require_owner`], with the scope a service token needs for this action named (subscriptions
/// and keys need `offerings:write`: `catalog:write` is not enough).
pub async fn require_owner_as(
    pool: &Pool,
    identity: &Identity,
    keys: Vec<String>,
    action: &str,
    scope: &str,
) -> Result<(), ApiError> {
    if identity.admin {
        return Ok(());
    }
    if let Principal::Service { .. } = identity.principal {
        return if identity.has_scope(scope) {
            Ok(())
        } else {
            Err(forbidden(format!("This token lacks the {scope} scope.")))
        };
    }
    if !identity.can_write_catalog() {
        return Err(forbidden(format!("Only owners or admins may {action}.")));
    }
    let pool = pool.clone();
    let rows = web::block(move || catalog_store::relation_targets(&pool, &keys, "ownedBy")).await??;
    if rows.is_empty() {
        return Err(forbidden(format!("Only admins may {action}: none of the entities involved has an owner.")));
    }
    let mut owners: HashMap<&str, Vec<&str>> = HashMap::new();
    for (source, target) in &rows {
        owners.entry(source.as_str()).or_default().push(target.as_str());
    }
    for (entity, targets) in owners {
        if !targets.iter().any(|t| identity.ownership.iter().any(|o| o == t)) {
            return Err(forbidden(format!(
                "Only owners or admins may {action}: {entity} is owned by {}.",
                targets.join(", ")
            )));
        }
    }
    Ok(())
}

/// What a provider says about the person who signed in.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub email: Option<String>,
    pub login: Option<String>,
}

/// The result of mapping a person to the catalog.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub sub: String,
    pub ownership: Vec<String>,
    pub reader_only: bool,
    pub email: Option<String>,
}

/// The resolvers a provider tries, in order: its `sign_in.resolvers`, else the annotation (when
/// `user_annotation` is set) and then the email.
pub fn resolvers_of(p: &SignInProviderSettings) -> Vec<SignInResolver> {
    if !p.sign_in.resolvers.is_empty() {
        return p.sign_in.resolvers.clone();
    }
    let mut out = Vec::new();
    if p.user_annotation.is_some() {
        out.push(SignInResolver::UserAnnotation);
    }
    out.push(SignInResolver::EmailMatchingUserEntityProfileEmail);
    out
}

/// Keeps the entities of `kind` among `keys` that came from a location the catalog rules let
/// hold that kind: data anyone may register never stands for a person or a team.
pub fn trusted(pool: &Pool, auth: &AuthState, kind: &str, keys: &[String]) -> anyhow::Result<Vec<String>> {
    let mut ok: Vec<String> = catalog_store::provenance_of(pool, keys)?
        .into_iter()
        .filter(|p| {
            let from =
                Provenance { origin: &p.origin, location: (&p.location_kind, &p.location_target), source: &p.source };
            auth.rules.check(kind, from).is_ok()
        })
        .map(|p| p.entity_ref)
        .collect();
    ok.sort();
    ok.dedup();
    Ok(ok)
}

/// The User entities one resolver finds for a person (trusted ones only).
fn candidates(
    pool: &Pool,
    auth: &AuthState,
    provider: &SignInProviderSettings,
    resolver: SignInResolver,
    person: &Person,
) -> anyhow::Result<Vec<String>> {
    let email = person.email.as_deref().map(str::to_lowercase);
    let by_name = |name: Option<String>| -> anyhow::Result<Vec<String>> {
        let Some(name) = name.filter(|n| !n.is_empty()) else { return Ok(Vec::new()) };
        let key = format!("user:default/{}", name.to_lowercase());
        let found = trusted(pool, auth, "User", std::slice::from_ref(&key))?;
        // A name never maps onto a User that declares another person's email.
        let bodies = catalog_store::bodies_by_keys(pool, &found)?;
        Ok(bodies
            .into_iter()
            .filter(|(_, body)| {
                let declared = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.pointer("/spec/profile/email").and_then(|e| e.as_str()).map(str::to_lowercase));
                match declared {
                    None => true,
                    Some(declared) => email.as_deref() == Some(declared.as_str()),
                }
            })
            .map(|(key, _)| key)
            .collect())
    };
    // The trusted Users whose search leaf `key` equals `value`.
    let by_leaf = |key: &str, value: &str| -> anyhow::Result<Vec<String>> {
        trusted(pool, auth, "User", &catalog_store::entities_by_leaf(pool, "user", key, value)?)
    };
    match resolver {
        SignInResolver::EmailMatchingUserEntityProfileEmail => match &email {
            Some(e) => by_leaf("spec.profile.email", e),
            None => Ok(Vec::new()),
        },
        SignInResolver::EmailLocalPartMatchingUserEntityName => {
            by_name(email.as_deref().and_then(|e| e.split('@').next()).map(str::to_owned))
        }
        SignInResolver::UsernameMatchingUserEntityName => by_name(person.login.clone()),
        SignInResolver::UserAnnotation => match (&provider.user_annotation, &person.login) {
            (Some(a), Some(login)) => by_leaf(&format!("metadata.annotations.{}", a.to_lowercase()), login),
            _ => Ok(Vec::new()),
        },
    }
}

/// Maps a signed-in person to a User with the provider's resolvers, in order: the first that
/// finds exactly one User wins; one that finds several refuses the sign-in (never "the
/// first"). Then the user's groups and, when configured, their parents. Blocking (database).
pub fn resolve(
    pool: &Pool,
    auth: &AuthState,
    provider: &SignInProviderSettings,
    person: &Person,
) -> Result<Resolved, ApiError> {
    let who = person.email.clone().or_else(|| person.login.clone()).unwrap_or_else(|| "unknown".into());
    let mut user: Option<String> = None;
    for resolver in resolvers_of(provider) {
        let found = candidates(pool, auth, provider, resolver, person)?;
        match found.as_slice() {
            [] => continue,
            [one] => {
                user = Some(one.clone());
                break;
            }
            many => {
                tracing::warn!(
                    resolver = ?resolver,
                    users = %many.join(", "),
                    "Sign-in refused: several User entities match one person."
                );
                return Err(forbidden(format!(
                    "Signed in as {who}, but {} User entities match ({}): {}. An admin must make the match unique.",
                    many.len(),
                    resolver_name(resolver),
                    many.join(", ")
                )));
            }
        }
    }
    let Some(user) = user else {
        return match auth.unmapped {
            UnmappedPolicy::Reader => Ok(Resolved {
                sub: format!("person:{who}"),
                ownership: Vec::new(),
                reader_only: true,
                email: person.email.clone(),
            }),
            UnmappedPolicy::Deny => Err(forbidden(format!(
                "Signed in as {who}, but no User entity in the catalog matches ({}); ask an admin to add one.",
                resolvers_of(provider).into_iter().map(resolver_name).collect::<Vec<_>>().join(", ")
            ))),
        };
    };
    // The resolvers found a trusted User: only its groups are left to read.
    let ownership = groups_of(pool, auth, &user)?;
    Ok(Resolved { sub: user, ownership, reader_only: false, email: person.email.clone() })
}

fn resolver_name(r: SignInResolver) -> &'static str {
    match r {
        SignInResolver::EmailMatchingUserEntityProfileEmail => "by spec.profile.email",
        SignInResolver::EmailLocalPartMatchingUserEntityName => "by the email's local part as the User's name",
        SignInResolver::UsernameMatchingUserEntityName => "by the login as the User's name",
        SignInResolver::UserAnnotation => "by the user annotation",
    }
}

/// The ownership refs of a User that sign-in may still stand for: the user, its groups and,
/// when configured, their ancestors. `None` when the User is gone or comes from a location not
/// allowed to hold Users.
pub fn ownership_of(pool: &Pool, auth: &AuthState, user: &str) -> anyhow::Result<Option<Vec<String>>> {
    if trusted(pool, auth, "User", &[user.to_owned()])?.is_empty() {
        return Ok(None);
    }
    groups_of(pool, auth, user).map(Some)
}

/// A trusted user, its groups (memberOf) and, when configured, their ancestors (childOf). Only
/// Groups from locations allowed to hold Groups count.
fn groups_of(pool: &Pool, auth: &AuthState, user: &str) -> anyhow::Result<Vec<String>> {
    let mut out = vec![user.to_owned()];
    let mut frontier: Vec<String> =
        catalog_store::relation_targets(pool, &[user.to_owned()], "memberOf")?.into_iter().map(|(_, t)| t).collect();
    let mut depth = 0;
    while !frontier.is_empty() && depth < 20 {
        frontier.retain(|g| !out.contains(g));
        frontier.sort();
        frontier.dedup();
        let groups = trusted(pool, auth, "Group", &frontier)?;
        out.extend(groups.iter().cloned());
        if !auth.parent_groups {
            break;
        }
        frontier = catalog_store::relation_targets(pool, &groups, "childOf")?.into_iter().map(|(_, t)| t).collect();
        depth += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_normalised_to_keys() {
        assert_eq!(ref_key("group:Platform"), "group:default/platform");
        assert_eq!(ref_key("user:default/Jane"), "user:default/jane");
    }
}
