//! Backstage's template expressions, through minijinja (the only file that names it): `${{ }}`
//! in a step's input, `if` and `each`, and in skeleton files (`{{ }}` with `cookiecutterCompat`),
//! with nunjucks' habits where templates rely on them: objects and lists print as JSON,
//! undefined lookups chain to nothing, nothing is escaped, bare keys of an object literal
//! (`{defaultKind: 'group'}`) are names, and the filters Backstage ships (`parseRepoUrl`,
//! `parseEntityRef`, `pick`, `projectSlug`, `dump`). Each render has a fuel budget, so a template
//! cannot loop for ever.

use std::collections::HashMap;
use std::sync::Mutex;

use minijinja::value::{Kwargs, Value as MValue};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, syntax::SyntaxConfig};
use serde_json::{Map, Value};

/// The fuel one render may burn (instructions; a 200-file skeleton is far below it per file).
const FUEL: u64 = 2_000_000;

/// A template engine with Backstage's delimiters (`${{ }}`), or cookiecutter's (`{{ }}`).
pub struct Templater {
    env: Environment<'static>,
    known_filters: Mutex<HashMap<String, bool>>,
}

/// An expression or file that could not be rendered, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub String);

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn words(e: &Error) -> RenderError {
    let mut msg = match e.kind() {
        ErrorKind::UnknownFilter => "unknown filter".to_owned(),
        ErrorKind::OutOfFuel => "the template does too much work (its fuel ran out)".to_owned(),
        _ => e.kind().to_string(),
    };
    if let Some(detail) = e.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (line {line})"));
    }
    RenderError(msg)
}

impl Templater {
    /// `cookiecutter`: `{{ }}` instead of `${{ }}` (fetch:template's `cookiecutterCompat`).
    pub fn new(cookiecutter: bool) -> Self {
        let mut env = Environment::new();
        let mut syntax = SyntaxConfig::builder();
        if !cookiecutter {
            syntax.variable_delimiters("${{", "}}");
        }
        syntax.keep_trailing_newline(true);
        if let Ok(s) = syntax.build() {
            env.set_syntax(s);
        }
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_fuel(Some(FUEL));
        env.set_formatter(|out, _state, value| {
            if value.is_undefined() || value.is_none() {
                return Ok(());
            }
            match value.kind() {
                minijinja::value::ValueKind::Map | minijinja::value::ValueKind::Seq => {
                    let text = serde_json::to_string(value).map_err(|e| {
                        Error::new(ErrorKind::BadSerialization, "a value does not print as JSON").with_source(e)
                    })?;
                    out.write_str(&text).map_err(Error::from)
                }
                _ => write!(out, "{value}").map_err(Error::from),
            }
        });
        env.add_filter("parseRepoUrl", parse_repo_url);
        env.add_filter("parseEntityRef", parse_entity_ref);
        env.add_filter("pick", pick);
        env.add_filter("projectSlug", project_slug);
        env.add_filter("dump", dump);
        Self { env, known_filters: Mutex::new(HashMap::new()) }
    }

    /// Renders a template text.
    pub fn render(&self, source: &str, ctx: &MValue) -> Result<String, RenderError> {
        let source = bare_keys_quoted(source);
        self.env.render_str(&source, ctx).map_err(|e| words(&e))
    }

    /// Renders a step's input as Backstage does: every string rendered; a string that is one
    /// expression and nothing else (`${{ parameters.count }}`) keeps the JSON type of its value (a
    /// number, a list, an object); a value that renders to nothing leaves its key out. An error
    /// is answered in words (Backstage would keep the raw text; a clear failure is kinder).
    pub fn render_value(&self, v: &Value, ctx: &MValue) -> Result<Value, RenderError> {
        Ok(self.render_inner(v, ctx)?.unwrap_or(Value::Null))
    }

    fn render_inner(&self, v: &Value, ctx: &MValue) -> Result<Option<Value>, RenderError> {
        Ok(match v {
            Value::String(s) if s.contains("${{") => {
                if let Some(expr) = single_expression(s) {
                    let text = self.render(&format!("${{{{ ({expr}) | dump }}}}"), ctx)?;
                    if text.is_empty() {
                        return Ok(None);
                    }
                    Some(serde_json::from_str(&text).unwrap_or(Value::String(text)))
                } else {
                    let text = self.render(s, ctx)?;
                    if text.is_empty() { None } else { Some(Value::String(text)) }
                }
            }
            Value::Array(a) => Some(Value::Array(
                a.iter().map(|x| Ok(self.render_inner(x, ctx)?.unwrap_or(Value::Null))).collect::<Result<_, _>>()?,
            )),
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    if let Some(r) = self.render_inner(x, ctx)? {
                        out.insert(k.clone(), r);
                    }
                }
                Some(Value::Object(out))
            }
            other => Some(other.clone()),
        })
    }

    /// The filters a text names (inside `${{ }}`) that this engine does not have.
    pub fn unknown_filters(&self, source: &str) -> Vec<String> {
        let mut out = Vec::new();
        for name in filter_names(source) {
            let known = {
                let mut cache = self.known_filters.lock().unwrap_or_else(|e| e.into_inner());
                *cache.entry(name.clone()).or_insert_with(|| {
                    let probe = format!("${{{{ none | {name} }}}}");
                    !matches!(self.env.render_str(&probe, ()), Err(e) if e.kind() == ErrorKind::UnknownFilter)
                })
            };
            if !known && !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

/// The expression of a text that is exactly one `${{ expr }}`, nothing around it.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${{")?.strip_suffix("}}")?;
    (!inner.contains("${{") && !inner.contains("}}")).then_some(inner)
}

/// The names after `|` inside `${{ }}` (outside quoted strings).
fn filter_names(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in source.split("${{").skip(1) {
        let expr = part.split("}}").next().unwrap_or_default();
        let mut quote: Option<char> = None;
        let chars: Vec<char> = expr.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '|' => {
                    let rest: String = chars[i + 1..].iter().collect();
                    let name: String =
                        rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
                None => {}
            }
            i += 1;
        }
    }
    out
}

/// `{defaultKind: 'group'}` as nunjucks reads it: a bare key is a name, not a variable. Rewrites
/// bare keys after `{` or `,` inside `${{ }}` (outside strings) to quoted ones.
fn bare_keys_quoted(source: &str) -> std::borrow::Cow<'_, str> {
    if !source.contains("${{") || !source.contains('{') {
        return std::borrow::Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len() + 8);
    let mut rest = source;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start + 3]);
        let after = &rest[start + 3..];
        let end = after.find("}}").unwrap_or(after.len());
        out.push_str(&quote_keys(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn quote_keys(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    let (mut quote, mut depth): (Option<char>, Vec<char>) = (None, Vec::new());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        out.push(c);
        i += 1;
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '{' | '[' | '(' => depth.push(c),
            '}' | ']' | ')' => {
                depth.pop();
            }
            _ => {}
        }
        if (c == '{' || c == ',') && depth.last() == Some(&'{') {
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let start = j;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == '$') {
                j += 1;
            }
            let mut k = j;
            while k < chars.len() && chars[k].is_whitespace() {
                k += 1;
            }
            let is_ident = j > start && !chars[start].is_ascii_digit();
            if is_ident && k < chars.len() && chars[k] == ':' {
                out.extend(&chars[i..start]);
                out.push('"');
                out.extend(&chars[start..j]);
                out.push('"');
                i = j;
            }
        }
    }
    out
}

/// `github.com?owner=o&repo=r` into its parts, as Backstage's `parseRepoUrl` filter answers.
pub fn repo_url_parts(raw: &str) -> Result<Map<String, Value>, String> {
    let parsed =
        url::Url::parse(&format!("https://{raw}")).map_err(|e| format!("not a repository URL '{raw}': {e}"))?;
    let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("no host in '{raw}'"))?;
    let mut out = Map::new();
    out.insert("host".into(), Value::String(host.to_owned()));
    for (k, v) in parsed.query_pairs() {
        if ["owner", "repo", "organization", "workspace", "project"].contains(&k.as_ref()) {
            out.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    if !out.contains_key("repo") {
        return Err(format!("'{raw}' names no repo (repo=...)"));
    }
    let needs_owner = !host.contains("bitbucket") && !host.contains("azure");
    if needs_owner && !out.contains_key("owner") {
        return Err(format!("'{raw}' names no owner (owner=...)"));
    }
    Ok(out)
}

fn to_value(v: Value) -> MValue {
    MValue::from(minijinja::value::Serde(&v))
}

fn parse_repo_url(raw: String) -> Result<MValue, Error> {
    repo_url_parts(&raw)
        .map(|m| to_value(Value::Object(m)))
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("parseRepoUrl: {e}")))
}

fn project_slug(raw: String) -> Result<String, Error> {
    let parts =
        repo_url_parts(&raw).map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("projectSlug: {e}")))?;
    let text = |k: &str| parts.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(format!("{}/{}", text("owner"), text("repo")))
}

fn parse_entity_ref(raw: String, options: Option<MValue>, kwargs: Kwargs) -> Result<MValue, Error> {
    let opt = |name: &str| -> Option<String> {
        kwargs.get::<Option<String>>(name).ok().flatten().or_else(|| {
            options.as_ref().and_then(|o| o.get_attr(name).ok()).filter(|v| !v.is_undefined()).map(|v| v.to_string())
        })
    };
    let (kind, namespace) = (opt("defaultKind"), opt("defaultNamespace"));
    let bad = |why: &str| Error::new(ErrorKind::InvalidOperation, format!("parseEntityRef: '{raw}' {why}"));
    let (k, rest) = match raw.split_once(':') {
        Some((k, r)) => (Some(k.to_owned()), r),
        None => (kind, raw.as_str()),
    };
    let (ns, name) = match rest.split_once('/') {
        Some((n, m)) => (Some(n.to_owned()), m),
        None => (namespace.or(Some("default".to_owned())), rest),
    };
    let kind = k.filter(|k| !k.is_empty()).ok_or_else(|| bad("names no kind, and no defaultKind is given"))?;
    if name.is_empty() {
        return Err(bad("names no entity"));
    }
    let mut out = Map::new();
    out.insert("kind".into(), Value::String(kind));
    out.insert("namespace".into(), Value::String(ns.unwrap_or_else(|| "default".into())));
    out.insert("name".into(), Value::String(name.to_owned()));
    Ok(to_value(Value::Object(out)))
}

fn pick(obj: MValue, key: String) -> Result<MValue, Error> {
    let mut v = obj;
    for part in key.split('.') {
        v = v.get_attr(part).unwrap_or(MValue::UNDEFINED);
    }
    Ok(v)
}

fn dump(v: MValue) -> Result<String, Error> {
    if v.is_undefined() {
        return Ok(String::new());
    }
    serde_json::to_string(&v)
        .map_err(|e| Error::new(ErrorKind::BadSerialization, "dump: the value is no JSON").with_source(e))
}

/// The context a template's expressions read, as minijinja values.
pub fn context(v: &Value) -> MValue {
    MValue::from(minijinja::value::Serde(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> MValue {
        context(&json!({"parameters": {"name": "svc", "n": 3, "tags": ["a", "b"],
            "repoUrl": "github.com?owner=acme&repo=svc", "owner": "team-a"}, "steps": {"f": {"output": {"x": 1}}}}))
    }

    #[test]
    fn one_expression_keeps_its_type_and_text_stays_text() {
        let t = Templater::new(false);
        let c = ctx();
        assert_eq!(t.render_value(&json!("${{ parameters.n }}"), &c).unwrap(), json!(3));
        assert_eq!(t.render_value(&json!("${{ parameters.tags }}"), &c).unwrap(), json!(["a", "b"]));
        assert_eq!(t.render_value(&json!("n=${{ parameters.n }}"), &c).unwrap(), json!("n=3"));
        assert_eq!(t.render_value(&json!("${{ steps.f.output.x }}"), &c).unwrap(), json!(1));
        assert_eq!(t.render_value(&json!("${{ steps['f'].output.x }}"), &c).unwrap(), json!(1));
        // Nothing: the key is left out. Text around the expression keeps it text.
        assert_eq!(
            t.render_value(&json!({"a": "${{ parameters.missing.deeper }}", "b": 1}), &c).unwrap(),
            json!({"b": 1})
        );
        assert_eq!(t.render_value(&json!({"a": ["${{ parameters.name }}"]}), &c).unwrap(), json!({"a": ["svc"]}));
        assert_eq!(t.render_value(&json!(" ${{ parameters.n }}"), &c).unwrap(), json!(" 3"));
        // A text that looks like a number stays text when its value is text.
        let c2 = context(&json!({"parameters": {"s": "1", "b": false}}));
        assert_eq!(t.render_value(&json!("${{ parameters.s }}"), &c2).unwrap(), json!("1"));
        assert_eq!(t.render_value(&json!("${{ parameters.b }}"), &c2).unwrap(), json!(false));
    }

    #[test]
    fn backstage_filters() {
        let t = Templater::new(false);
        let c = ctx();
        let r = |s: &str| t.render_value(&json!(s), &c).unwrap();
        assert_eq!(
            r("${{ parameters.repoUrl | parseRepoUrl }}"),
            json!({"host": "github.com", "owner": "acme", "repo": "svc"})
        );
        assert_eq!(r("${{ (parameters.repoUrl | parseRepoUrl).owner }}"), json!("acme"));
        assert_eq!(r("${{ parameters.repoUrl | projectSlug }}"), json!("acme/svc"));
        assert_eq!(
            r("${{ parameters.owner | parseEntityRef({defaultKind: 'group', defaultNamespace: 'ops'}) }}"),
            json!({"kind": "group", "namespace": "ops", "name": "team-a"})
        );
        assert_eq!(
            r("${{ 'user:default/jo' | parseEntityRef }}"),
            json!({"kind": "user", "namespace": "default", "name": "jo"})
        );
        assert_eq!(r("${{ parameters | pick('name') }}"), json!("svc"));
        assert_eq!(r("${{ parameters.tags | dump }}"), json!("[\"a\",\"b\"]"));
        assert_eq!(r("x ${{ parameters.tags | dump }}"), json!("x [\"a\",\"b\"]"));
        assert!(t.render("${{ 'nope' | parseRepoUrl }}", &c).unwrap_err().0.contains("parseRepoUrl"));
    }

    #[test]
    fn unknown_filters_are_named() {
        let t = Templater::new(false);
        let src = "${{ parameters.name | lower | nosuch }} and ${{ x | projectSlug }} '${{ \"a|b\" }}'";
        assert_eq!(t.unknown_filters(src), ["nosuch"]);
    }

    #[test]
    fn cookiecutter_and_loops_are_bounded() {
        let t = Templater::new(true);
        assert_eq!(
            t.render("{{ cookiecutter.name }}", &context(&json!({"cookiecutter": {"name": "a"}}))).unwrap(),
            "a"
        );
        let slow = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        assert!(t.render(slow, &context(&json!({}))).unwrap_err().0.contains("fuel"));
    }
}
