//! The entity model: entity references, kinds and Backstage's field-format rules.
//!
//! Values are parsed once at the edge (`EntityRef::parse`, `is_valid_*`) so that the rest of the
//! catalog can rely on them.

use std::fmt;

/// The namespace an entity lives in when its descriptor names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A reference to an entity: `kind:namespace/name`.
///
/// Identity is case-insensitive, as in Backstage: two refs that differ only in case name the same
/// entity. The original spelling is kept for display; [`EntityRef::key`] gives the lower-cased
/// identity used for storage and comparison.
#[derive(Debug, Clone, Eq)]
pub struct EntityRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl PartialEq for EntityRef {
    fn eq(&self, other: &Self) -> bool {
        self.kind.eq_ignore_ascii_case(&other.kind)
            && self.namespace.eq_ignore_ascii_case(&other.namespace)
            && self.name.eq_ignore_ascii_case(&other.name)
    }
}

impl std::hash::Hash for EntityRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}

/// Why a string could not be read as an entity reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("entity reference must not be empty")]
    Empty,
    #[error("entity reference \"{0}\" has no kind, and this field has no default kind")]
    MissingKind(String),
    #[error("entity reference \"{0}\" has an empty kind, namespace or name")]
    EmptyPart(String),
    #[error("entity reference \"{0}\" has more than one ':' or '/'")]
    Malformed(String),
}

impl EntityRef {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self { kind: kind.to_owned(), namespace: namespace.to_owned(), name: name.to_owned() }
    }

    /// Parses `[kind:][namespace/]name`, filling the kind and namespace from the defaults.
    ///
    /// This follows Backstage's `parseEntityRef`: a field such as `spec.owner` has a default kind
    /// (`group`) and inherits the namespace of the entity that names it.
    pub fn parse(input: &str, default_kind: Option<&str>, default_namespace: &str) -> Result<Self, RefError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(RefError::Empty);
        }
        let (kind, rest) = match input.split_once(':') {
            Some((k, rest)) => (Some(k), rest),
            None => (None, input),
        };
        let (namespace, name) = match rest.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, rest),
        };
        if name.contains(':') || name.contains('/') {
            return Err(RefError::Malformed(input.to_owned()));
        }
        let kind = match kind.or(default_kind) {
            Some(k) => k,
            None => return Err(RefError::MissingKind(input.to_owned())),
        };
        let namespace = namespace.unwrap_or(default_namespace);
        if kind.is_empty() || namespace.is_empty() || name.is_empty() {
            return Err(RefError::EmptyPart(input.to_owned()));
        }
        Ok(Self::new(kind, namespace, name))
    }

    /// The lower-cased `kind:namespace/name` that identifies the entity.
    pub fn key(&self) -> String {
        let mut s = String::with_capacity(self.kind.len() + self.namespace.len() + self.name.len() + 2);
        for (i, part) in [&self.kind, &self.namespace, &self.name].into_iter().enumerate() {
            if i == 1 {
                s.push(':');
            } else if i == 2 {
                s.push('/');
            }
            s.extend(part.chars().map(|c| c.to_ascii_lowercase()));
        }
        s
    }
}

impl fmt::Display for EntityRef {
    /// Formats the ref as Backstage's `stringifyEntityRef` does (in `relations[].targetRef`,
    /// events and every view): `kind:namespace/name`, all lower-cased. The entity's own fields
    /// keep their case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// `metadata.name`: 1–63 characters, alphanumeric at both ends, `-_.` inside.
pub fn is_valid_object_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    b.iter().all(|&c| alnum(c) || c == b'-' || c == b'_' || c == b'.')
}

/// A DNS label (used for namespaces): 1–63 lower-case alphanumerics and `-`, alphanumeric ends.
pub fn is_valid_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return false;
    }
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    ok(b[0]) && ok(b[b.len() - 1]) && b.iter().all(|&c| ok(c) || c == b'-')
}

/// A DNS subdomain: up to 253 characters of dot-separated DNS labels.
pub fn is_valid_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_valid_dns_label)
}

/// `kind`: a letter, then letters and digits, at most 63.
pub fn is_valid_kind(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b.len() <= 63 && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
}

/// `apiVersion`: `[dns-subdomain/]version` where version is 1–63 alphanumerics.
pub fn is_valid_api_version(s: &str) -> bool {
    let version_ok = |v: &str| !v.is_empty() && v.len() <= 63 && v.bytes().all(|c| c.is_ascii_alphanumeric());
    match s.split_once('/') {
        Some((prefix, version)) => is_valid_dns_subdomain(prefix) && version_ok(version),
        None => version_ok(s),
    }
}

/// Label and annotation keys: `[dns-subdomain/]name`, the name an object name.
pub fn is_valid_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_valid_dns_subdomain(prefix) && is_valid_object_name(name),
        None => is_valid_object_name(s),
    }
}

/// Label values: empty, or an object name.
pub fn is_valid_label_value(s: &str) -> bool {
    s.is_empty() || is_valid_object_name(s)
}

/// Tags: 1–63 of `[a-z0-9:+#]`, words joined by single `-`.
pub fn is_valid_tag(s: &str) -> bool {
    if s.is_empty() || s.len() > 63 {
        return false;
    }
    s.split('-').all(|w| {
        !w.is_empty()
            && w.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b':' | b'+' | b'#'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ref_without_kind_takes_the_default_kind_and_inherited_namespace() {
        let r = EntityRef::parse("team-a", Some("group"), "ops").unwrap();
        assert_eq!(r.key(), "group:ops/team-a");
    }

    #[test]
    fn a_full_ref_keeps_its_own_kind_and_namespace() {
        let r = EntityRef::parse("User:Dev/Guest", Some("group"), "default").unwrap();
        assert_eq!(r.key(), "user:dev/guest");
        assert_eq!(r.name, "Guest");
    }

    #[test]
    fn refs_are_written_lower_cased_whole_as_backstage_does() {
        let r = EntityRef::parse("LENDING", Some("System"), "Default").unwrap();
        assert_eq!(r.to_string(), "system:default/lending");
        assert_eq!(r.name, "LENDING", "the parsed parts keep their case");
    }

    #[test]
    fn refs_compare_case_insensitively() {
        let a = EntityRef::parse("component:default/Foo", None, "default").unwrap();
        let b = EntityRef::parse("Component:DEFAULT/foo", None, "default").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_ref_without_kind_where_none_is_defaulted_is_rejected() {
        assert_eq!(EntityRef::parse("foo", None, "default"), Err(RefError::MissingKind("foo".into())));
    }

    #[test]
    fn malformed_and_empty_refs_are_rejected() {
        assert!(EntityRef::parse("", Some("group"), "default").is_err());
        assert!(EntityRef::parse("a:b/c/d", None, "default").is_err());
        assert!(EntityRef::parse("a:/c", None, "default").is_err());
    }

    #[test]
    fn names_follow_backstage_rules() {
        assert!(is_valid_object_name("a"));
        assert!(is_valid_object_name("playback-sdk_1.0"));
        assert!(!is_valid_object_name("-a"));
        assert!(!is_valid_object_name("a-"));
        assert!(!is_valid_object_name("${{ values.name | dump }}"));
        assert!(!is_valid_object_name(&"a".repeat(64)));
        assert!(is_valid_object_name(&"a".repeat(63)));
    }

    #[test]
    fn namespaces_are_lower_case_dns_labels() {
        assert!(is_valid_dns_label("development"));
        assert!(!is_valid_dns_label("Dev"));
        assert!(!is_valid_dns_label("a_b"));
    }

    #[test]
    fn tags_label_keys_and_api_versions() {
        assert!(is_valid_tag("java"));
        assert!(is_valid_tag("c++"));
        assert!(!is_valid_tag("Java"));
        assert!(!is_valid_tag("a--b"));
        assert!(is_valid_label_key("backstage.io/techdocs-ref"));
        assert!(!is_valid_label_key("Backstage.io/x"));
        assert!(is_valid_api_version("backstage.io/v1alpha1"));
        assert!(is_valid_api_version("v1"));
        assert!(!is_valid_api_version("backstage.io/"));
        assert!(is_valid_kind("Component"));
        assert!(!is_valid_kind("1Component"));
    }
}
