//! Identity and access: who is calling (a Bearer JWT, the session cookie, a service token, a
//! guest or nobody), the one policy table, ownership checks and sign-in.
//!
//! The [`middleware::authenticate`] middleware runs before routing and before any body is read;
//! handlers of owner-only actions call [`require_owner`].

pub mod handlers;
pub mod middleware;
pub mod oidc;
pub mod policy;
pub mod store;
pub mod tokens;

use std::collections::{HashMap, HashSet};
use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use crate::catalog::store as catalog_store;
use crate::config::{Settings, UnmappedPolicy};
use crate::db::Pool;
use crate::error::{ApiError, ErrorCode};

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
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let auth = settings.auth.clone().unwrap_or_default();
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
                t.token.0.len() >= 16,
                "auth.tokens.service {:?}: the token must be at least 16 characters",
                t.name
            );
            config_tokens.push(ConfigToken {
                name: t.name.clone(),
                hash: tokens::hash_token(&t.token.0),
                scopes: t.scopes.clone(),
                expires_at_ms,
            });
        }
        let mut providers = HashMap::new();
        for (name, p) in &auth.providers {
            providers.insert(name.clone(), oidc::Provider::new(name, p.clone())?);
        }
        Ok(Self {
            guest: settings.guest(),
            anonymous_read: settings.anonymous_read(),
            admins: auth.admins.iter().map(|a| ref_key(a)).collect(),
            unmapped: auth.unmapped,
            parent_groups: auth.parent_groups,
            base_url: auth.base_url.clone(),
            keys: tokens::Keys::from_settings(&auth.tokens),
            config_tokens,
            providers,
            max_token_days: auth.tokens.max_days.max(1),
            metrics_public: settings.server.metrics_public,
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
/// that has an owner, or is an admin. Entities with no owner at all are for admins only.
pub async fn require_owner(pool: &Pool, identity: &Identity, keys: Vec<String>, action: &str) -> Result<(), ApiError> {
    if identity.admin {
        return Ok(());
    }
    if let Principal::Service { .. } = identity.principal {
        return if identity.can_write_catalog() {
            Ok(())
        } else {
            Err(forbidden("This token lacks the catalog:write scope."))
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

/// The User (by annotation, then email, then name), its groups and, when configured, their
/// parent groups. Blocking (database).
pub fn resolve(pool: &Pool, auth: &AuthState, annotation: Option<&str>, person: &Person) -> Result<Resolved, ApiError> {
    let mut user: Option<String> = None;
    if let (Some(a), Some(login)) = (annotation, person.login.as_deref()) {
        user = catalog_store::entities_by_leaf(
            pool,
            "user",
            &format!("metadata.annotations.{}", a.to_lowercase()),
            login,
        )?
        .into_iter()
        .next();
    }
    if user.is_none()
        && let Some(email) = person.email.as_deref()
    {
        user = catalog_store::entities_by_leaf(pool, "user", "spec.profile.email", email)?.into_iter().next();
    }
    if user.is_none() {
        let name = person
            .login
            .clone()
            .or_else(|| person.email.as_deref().and_then(|e| e.split('@').next()).map(str::to_owned));
        if let Some(name) = name {
            let key = format!("user:default/{}", name.to_lowercase());
            if catalog_store::entity_exists(pool, &key)? {
                user = Some(key);
            }
        }
    }
    let who = person.email.clone().or_else(|| person.login.clone()).unwrap_or_else(|| "unknown".into());
    let Some(user) = user else {
        return match auth.unmapped {
            UnmappedPolicy::Reader => Ok(Resolved {
                sub: format!("person:{who}"),
                ownership: Vec::new(),
                reader_only: true,
                email: person.email.clone(),
            }),
            UnmappedPolicy::Deny => Err(forbidden(format!(
                "Signed in as {who}, but no User entity in the catalog matches (by spec.profile.email, by annotation or by name); ask an admin to add one."
            ))),
        };
    };
    let ownership = ownership_of(pool, auth, &user)?;
    Ok(Resolved { sub: user, ownership, reader_only: false, email: person.email.clone() })
}

/// The user, its groups (memberOf) and, when configured, their ancestors (childOf).
pub fn ownership_of(pool: &Pool, auth: &AuthState, user: &str) -> anyhow::Result<Vec<String>> {
    let mut out = vec![user.to_owned()];
    let mut frontier: Vec<String> =
        catalog_store::relation_targets(pool, &[user.to_owned()], "memberOf")?.into_iter().map(|(_, t)| t).collect();
    let mut depth = 0;
    while !frontier.is_empty() && depth < 20 {
        frontier.retain(|g| !out.contains(g));
        frontier.sort();
        frontier.dedup();
        out.extend(frontier.iter().cloned());
        if !auth.parent_groups {
            break;
        }
        frontier = catalog_store::relation_targets(pool, &frontier, "childOf")?.into_iter().map(|(_, t)| t).collect();
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
