//! A template's form page (one JSON Schema object of `spec.parameters`) as HTML fields, and the
//! posted fields back as the values the scaffolder's API takes. Pure: the catalog's choices for
//! the pickers are read by the handler (`super::create`) and handed in.
//!
//! What is supported: `string` (a text input; `ui:widget: password` or `textarea`), `number` and
//! `integer` (a number input), `boolean` (a checkbox), `enum` (a select, labelled by `enumNames`
//! when given), arrays of strings (a textarea, one item per line), arrays of `enum` items (a
//! checkbox each), `ui:field: EntityPicker` and `OwnerPicker` (a select of catalog entities, or a
//! text input with suggestions past [`MAX_SELECT`] of them), `RepoUrlPicker` (host, owner and
//! repository, composed into `host?owner=o&repo=r`); `title`, `description`, `default`,
//! `required` and `ui:order`. Anything else (objects, other arrays) is a textarea holding JSON.

use maud::{Markup, html};
use serde_json::{Map, Value, json};

/// Past this many catalog choices, a picker is a text input with suggestions, not a select.
pub const MAX_SELECT: usize = 300;

/// One choice of a select or a checkbox group: the text the form carries, its label and the
/// JSON value it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub text: String,
    pub label: String,
    pub value: Value,
}

/// Where a picker's choices come from: catalog filters (`kind=group,spec.type=team`), any of
/// which an entity may match; none: every entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    pub filters: Vec<String>,
}

/// How a field is asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Text,
    Password,
    Textarea,
    Number,
    Integer,
    Checkbox,
    Select(Vec<Choice>),
    /// An array of enum items: a checkbox each.
    Multi(Vec<Choice>),
    /// An array of strings: one per line.
    Lines,
    /// EntityPicker, OwnerPicker: catalog entity refs.
    Pick(Picker),
    /// RepoUrlPicker: `host?owner=o&repo=r`, the host one of these (any when empty).
    RepoUrl(Vec<String>),
    /// Anything else, as JSON text.
    Json,
}

/// One property of a form page.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub required: bool,
    pub default: Option<Value>,
    pub input: Input,
}

impl Field {
    /// The form's name of this field's input (`v:<property>`; a repo URL's parts add `:host`,
    /// `:owner`, `:repo`).
    pub fn key(&self) -> String {
        format!("v:{}", self.name)
    }

    pub fn secret(&self) -> bool {
        self.input == Input::Password
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn strings_of(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn choices(items: &[Value], names: Option<&Vec<Value>>) -> Vec<Choice> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| Choice {
            text: text_of(v),
            label: names.and_then(|n| n.get(i)).map(text_of).unwrap_or_else(|| text_of(v)),
            value: v.clone(),
        })
        .collect()
}

/// A picker's catalog filters from its `ui:options`: `catalogFilter` (an object or a list of
/// them; `kind` may be a list), else `allowedKinds`, else `default_kinds`.
pub fn picker(options: &Value, default_kinds: &[&str]) -> Picker {
    let mut filters = Vec::new();
    let objects: Vec<&Map<String, Value>> = match &options["catalogFilter"] {
        Value::Object(o) => vec![o],
        Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    for o in objects {
        let rest: Vec<String> = o
            .iter()
            .filter(|(k, _)| k.as_str() != "kind")
            .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
            .collect();
        let kinds = o.get("kind").map(strings_of).unwrap_or_default();
        if kinds.is_empty() {
            if !rest.is_empty() {
                filters.push(rest.join(","));
            }
        } else {
            for k in kinds {
                filters.push(
                    std::iter::once(format!("kind={}", k.to_lowercase()))
                        .chain(rest.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
        }
    }
    if filters.is_empty() {
        let kinds: Vec<String> = match options.get("allowedKinds") {
            Some(v) => strings_of(v),
            None => default_kinds.iter().map(|k| (*k).to_owned()).collect(),
        };
        filters = kinds.iter().map(|k| format!("kind={}", k.to_lowercase())).collect();
    }
    Picker { filters }
}

/// The fields of a form page, in `ui:order` (`*` for the rest), else as written.
pub fn fields(page: &Value) -> Vec<Field> {
    let required: Vec<&str> = page["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(props) = page["properties"].as_object() else { return Vec::new() };
    let mut names: Vec<&String> = props.keys().collect();
    if let Some(order) = page["ui:order"].as_array() {
        let order: Vec<&str> = order.iter().filter_map(Value::as_str).collect();
        let rank = |n: &str| {
            order.iter().position(|o| *o == n).or_else(|| order.iter().position(|o| *o == "*")).unwrap_or(order.len())
        };
        names.sort_by_key(|n| rank(n));
    }
    names.into_iter().map(|name| field(name, &props[name], required.contains(&name.as_str()))).collect()
}

fn field(name: &str, p: &Value, required: bool) -> Field {
    let options = &p["ui:options"];
    let kind = p["type"].as_str().unwrap_or(if p.get("enum").is_some() { "string" } else { "" });
    let input = match (p["ui:field"].as_str(), p["ui:widget"].as_str()) {
        (Some("EntityPicker"), _) => Input::Pick(picker(options, &[])),
        (Some("OwnerPicker"), _) => Input::Pick(picker(options, &["Group", "User"])),
        (Some("RepoUrlPicker"), _) => Input::RepoUrl(strings_of(&options["allowedHosts"])),
        _ if p["enum"].is_array() => Input::Select(choices(
            p["enum"].as_array().map(Vec::as_slice).unwrap_or_default(),
            p["enumNames"].as_array(),
        )),
        (_, Some("password")) => Input::Password,
        (_, Some("textarea")) => Input::Textarea,
        _ => match kind {
            "string" => Input::Text,
            "number" => Input::Number,
            "integer" => Input::Integer,
            "boolean" => Input::Checkbox,
            "array" if p["items"]["enum"].is_array() => Input::Multi(choices(
                p["items"]["enum"].as_array().map(Vec::as_slice).unwrap_or_default(),
                p["items"]["enumNames"].as_array(),
            )),
            "array" if p["items"]["type"] == "string" || p["items"].is_null() => Input::Lines,
            "" => Input::Text,
            _ => Input::Json,
        },
    };
    Field {
        name: name.to_owned(),
        title: p["title"].as_str().unwrap_or(name).to_owned(),
        description: p["description"].as_str().map(str::to_owned),
        required,
        default: p.get("default").cloned(),
        input,
    }
}

/// Backstage's RepoUrlPicker value: `host?owner=o&repo=r`.
pub fn repo_url(host: &str, owner: &str, repo: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("owner", owner)
        .append_pair("repo", repo)
        .finish();
    format!("{host}?{q}")
}

/// The host, owner and repository of a RepoUrlPicker value.
pub fn repo_parts(v: &str) -> (String, String, String) {
    let (host, q) = v.split_once('?').unwrap_or((v, ""));
    let mut out = (host.to_owned(), String::new(), String::new());
    for (k, val) in url::form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "owner" => out.1 = val.into_owned(),
            "repo" => out.2 = val.into_owned(),
            _ => {}
        }
    }
    out
}

/// The value a field's posted inputs give (none when left empty: the key is left out, as
/// Backstage's form leaves it). Text that is no number stays text, so the values' check names it.
pub fn read(f: &Field, form: &[(String, String)]) -> Option<Value> {
    let key = f.key();
    let all = |k: &str| -> Vec<&str> { form.iter().filter(|(n, _)| n == k).map(|(_, v)| v.as_str()).collect() };
    let one = |k: &str| all(k).first().copied().unwrap_or("").to_owned();
    let text = one(&key);
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    match &f.input {
        Input::Text | Input::Password | Input::Textarea => nonempty(text).map(Value::String),
        Input::Pick(_) => nonempty(text.trim().to_owned()).map(Value::String),
        Input::Number | Input::Integer => {
            let t = nonempty(text.trim().to_owned())?;
            Some(match (t.parse::<i64>(), t.parse::<f64>()) {
                (Ok(i), _) => json!(i),
                (_, Ok(x)) if x.is_finite() => json!(x),
                _ => Value::String(t),
            })
        }
        Input::Checkbox => Some(Value::Bool(all(&key).contains(&"true"))),
        Input::Select(cs) => {
            let t = nonempty(text)?;
            Some(cs.iter().find(|c| c.text == t).map(|c| c.value.clone()).unwrap_or(Value::String(t)))
        }
        Input::Multi(cs) => {
            let got = all(&key);
            let picked: Vec<Value> =
                cs.iter().filter(|c| got.contains(&c.text.as_str())).map(|c| c.value.clone()).collect();
            (!picked.is_empty()).then_some(Value::Array(picked))
        }
        Input::Lines => {
            let lines: Vec<Value> =
                text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.to_owned())).collect();
            (!lines.is_empty()).then_some(Value::Array(lines))
        }
        Input::RepoUrl(_) => {
            let (host, owner, repo) =
                (one(&format!("{key}:host")), one(&format!("{key}:owner")), one(&format!("{key}:repo")));
            (!owner.trim().is_empty() || !repo.trim().is_empty())
                .then(|| Value::String(repo_url(host.trim(), owner.trim(), repo.trim())))
        }
        Input::Json => {
            let t = nonempty(text.trim().to_owned())?;
            Some(serde_json::from_str(&t).unwrap_or(Value::String(t)))
        }
    }
}

/// `values` with this page's fields replaced by what the form posted.
pub fn merge(values: &mut Map<String, Value>, fields: &[Field], form: &[(String, String)]) {
    for f in fields {
        match read(f, form) {
            Some(v) => values.insert(f.name.clone(), v),
            None => values.remove(&f.name),
        };
    }
}

/// The property a problem's JSON pointer (`/values/name/0`) is about.
pub fn property_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/values/")?;
    let first = rest.split('/').next()?;
    Some(first.replace("~1", "/").replace("~0", "~"))
}

/// A problem's JSON pointer in words: `/values/tags/1` is `tags › item 2`.
pub fn path_words(path: &str) -> String {
    let rest = path.strip_prefix("/values").unwrap_or(path);
    let words: Vec<String> = rest
        .split('/')
        .filter(|k| !k.is_empty())
        .map(|k| match k.parse::<usize>() {
            Ok(i) => format!("item {}", i + 1),
            Err(_) => k.replace("~1", "/").replace("~0", "~"),
        })
        .collect();
    if words.is_empty() { "the values".into() } else { words.join(" › ") }
}

/// The form page (index) holding a property, if any.
pub fn page_of(pages: &[Value], property: &str) -> Option<usize> {
    pages.iter().position(|p| p["properties"].get(property).is_some())
}

/// A value for people (the Review page): a secret masked, a boolean in words, a list joined.
pub fn display(f: &Field, v: Option<&Value>) -> String {
    let Some(v) = v else { return "(not given)".into() };
    if f.secret() {
        return "••••••••".into();
    }
    let label = |v: &Value, cs: &[Choice]| cs.iter().find(|c| &c.value == v).map(|c| c.label.clone());
    match (&f.input, v) {
        (_, Value::Bool(b)) => (if *b { "yes" } else { "no" }).into(),
        (Input::Select(cs), v) => label(v, cs).unwrap_or_else(|| text_of(v)),
        (Input::Multi(cs), Value::Array(a)) => {
            a.iter().map(|x| label(x, cs).unwrap_or_else(|| text_of(x))).collect::<Vec<_>>().join(", ")
        }
        (Input::Lines, Value::Array(a)) => a.iter().map(text_of).collect::<Vec<_>>().join(", "),
        (_, v) => text_of(v),
    }
}

/// What one field's inputs need to be drawn.
pub struct Drawn<'a> {
    /// Its place on the page (the ids of its inputs).
    pub index: usize,
    /// The value so far (else its default).
    pub value: Option<&'a Value>,
    /// What the values' check said about it.
    pub errors: Vec<String>,
    /// A picker's catalog choices: (ref, label).
    pub choices: &'a [(String, String)],
}

/// A field as HTML: its label tied to its input, its description and errors linked through
/// `aria-describedby`; a checkbox group or a repository's three inputs in a fieldset.
pub fn render(f: &Field, d: &Drawn) -> Markup {
    let id = format!("f-{}", d.index);
    let hint_id = format!("{id}-hint");
    let err_id = format!("{id}-error");
    let mut described: Vec<&str> = Vec::new();
    if f.description.is_some() {
        described.push(&hint_id);
    }
    if !d.errors.is_empty() {
        described.push(&err_id);
    }
    let described = (!described.is_empty()).then(|| described.join(" "));
    let invalid = (!d.errors.is_empty()).then_some("true");
    let value = d.value.or(f.default.as_ref());
    let text = value.map(text_of).unwrap_or_default();
    let key = f.key();
    let label = html! {
        label for=(id) { (f.title) @if f.required { " " span class="req" { "(required)" } } }
    };
    let hint = html! { @if let Some(h) = &f.description { p class="hint" id=(hint_id) { (h) } } };
    let errors = html! {
        @if !d.errors.is_empty() {
            p class="error" id=(err_id) { @for (i, e) in d.errors.iter().enumerate() { @if i > 0 { br; } (e) } }
        }
    };
    let control = match &f.input {
        Input::Text => html! {
            input type="text" id=(id) name=(key) value=(text) required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid];
        },
        Input::Pick(_) if d.choices.is_empty() => html! {
            input type="text" id=(id) name=(key) value=(text) required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid];
        },
        Input::Pick(_) if d.choices.len() > MAX_SELECT => html! {
            input type="text" id=(id) name=(key) value=(text) list={ (id) "-list" } autocomplete="off"
                required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid];
            datalist id={ (id) "-list" } { @for (r, l) in d.choices { option value=(r) { (l) } } }
        },
        Input::Pick(_) => html! {
            select id=(id) name=(key) required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid] {
                option value="" selected[text.is_empty()] { "Choose…" }
                @if !text.is_empty() && !d.choices.iter().any(|(r, _)| *r == text) { option value=(text) selected { (text) } }
                @for (r, l) in d.choices { option value=(r) selected[*r == text] { (l) " (" (r) ")" } }
            }
        },
        Input::Password => html! {
            input type="password" id=(id) name=(key) value=(text) autocomplete="new-password"
                required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid];
        },
        Input::Textarea | Input::Json => html! {
            textarea id=(id) name=(key) rows="4" required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid] {
                (if f.input == Input::Json { value.map(|v| if v.is_string() { text_of(v) } else { v.to_string() }).unwrap_or_default() } else { text.clone() })
            }
        },
        Input::Lines => html! {
            textarea id=(id) name=(key) rows="4" required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid] {
                (value.map(|v| match v { Value::Array(a) => a.iter().map(text_of).collect::<Vec<_>>().join("\n"), v => text_of(v) }).unwrap_or_default())
            }
        },
        Input::Number | Input::Integer => html! {
            input type="text" inputmode=(if f.input == Input::Integer { "numeric" } else { "decimal" }) id=(id) name=(key) value=(text)
                required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid];
        },
        Input::Select(cs) => html! {
            select id=(id) name=(key) required[f.required] aria-describedby=[described.as_deref()] aria-invalid=[invalid] {
                @if value.is_none() || !f.required { option value="" selected[value.is_none()] { "Choose…" } }
                @for c in cs { option value=(c.text) selected[value == Some(&c.value)] { (c.label) } }
            }
        },
        Input::Checkbox | Input::Multi(_) | Input::RepoUrl(_) => html! {},
    };
    match &f.input {
        Input::Checkbox => html! {
            div class="field check" {
                input type="checkbox" id=(id) name=(key) value="true" checked[value == Some(&Value::Bool(true))]
                    aria-describedby=[described.as_deref()] aria-invalid=[invalid];
                " " (label) (hint) (errors)
            }
        },
        Input::Multi(cs) => {
            let picked = |c: &Choice| value.and_then(Value::as_array).is_some_and(|a| a.contains(&c.value));
            html! {
                fieldset class="field" aria-describedby=[described.as_deref()] {
                    legend { (f.title) @if f.required { " " span class="req" { "(required)" } } }
                    (hint)
                    @for (i, c) in cs.iter().enumerate() {
                        div class="check" {
                            input type="checkbox" id={ (id) "-" (i) } name=(key) value=(c.text) checked[picked(c)];
                            " " label for={ (id) "-" (i) } { (c.label) }
                        }
                    }
                    (errors)
                }
            }
        }
        Input::RepoUrl(hosts) => {
            let (host, owner, repo) = repo_parts(&text);
            let host =
                if host.is_empty() { hosts.first().cloned().unwrap_or_else(|| "github.com".into()) } else { host };
            html! {
                fieldset class="field" aria-describedby=[described.as_deref()] {
                    legend { (f.title) @if f.required { " " span class="req" { "(required)" } } }
                    (hint)
                    div class="repo" {
                        label for={ (id) "-host" } { "Host" }
                        @if hosts.is_empty() {
                            input type="text" id={ (id) "-host" } name={ (key) ":host" } value=(host);
                        } @else {
                            select id={ (id) "-host" } name={ (key) ":host" } {
                                @for h in hosts { option value=(h) selected[*h == host] { (h) } }
                            }
                        }
                        label for=(id) { "Owner" }
                        input type="text" id=(id) name={ (key) ":owner" } value=(owner) aria-invalid=[invalid];
                        label for={ (id) "-repo" } { "Repository" }
                        input type="text" id={ (id) "-repo" } name={ (key) ":repo" } value=(repo) aria-invalid=[invalid];
                    }
                    (errors)
                }
            }
        }
        _ => html! { div class="field" { (label) (hint) (control) (errors) } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Value {
        json!({
            "title": "Service",
            "required": ["name", "owner"],
            "properties": {
                "name": {"type": "string", "title": "Name", "description": "Lower case"},
                "token": {"type": "string", "ui:widget": "password"},
                "notes": {"type": "string", "ui:widget": "textarea"},
                "replicas": {"type": "integer", "default": 2},
                "ratio": {"type": "number"},
                "public": {"type": "boolean", "default": true},
                "tier": {"type": "string", "enum": ["gold", "silver"], "enumNames": ["Gold", "Silver"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "zones": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "uniqueItems": true},
                "owner": {"type": "string", "ui:field": "OwnerPicker"},
                "system": {"type": "string", "ui:field": "EntityPicker", "ui:options": {"catalogFilter": [{"kind": ["System", "Domain"]}, {"kind": "Component", "spec.type": "service"}]}},
                "repo": {"type": "string", "ui:field": "RepoUrlPicker", "ui:options": {"allowedHosts": ["github.com", "gitlab.com"]}},
                "extra": {"type": "object"}
            }
        })
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_page_becomes_fields_with_their_inputs() {
        let f = fields(&page());
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(&names[..3], &["name", "token", "notes"]);
        assert!(f[0].required && !f[1].required);
        assert_eq!(f[0].title, "Name");
        assert_eq!(f[1].title, "token", "the property's name without a title");
        assert_eq!(f[1].input, Input::Password);
        assert_eq!(f[2].input, Input::Textarea);
        assert_eq!(f[3].input, Input::Integer);
        assert_eq!(f[3].default, Some(json!(2)));
        assert_eq!(f[4].input, Input::Number);
        assert_eq!(f[5].input, Input::Checkbox);
        match &f[6].input {
            Input::Select(cs) => assert_eq!((cs[0].text.as_str(), cs[0].label.as_str()), ("gold", "Gold")),
            other => panic!("{other:?}"),
        }
        assert_eq!(f[7].input, Input::Lines);
        assert!(matches!(&f[8].input, Input::Multi(cs) if cs.len() == 2));
        assert_eq!(f[9].input, Input::Pick(Picker { filters: vec!["kind=group".into(), "kind=user".into()] }));
        assert_eq!(
            f[10].input,
            Input::Pick(Picker {
                filters: vec!["kind=system".into(), "kind=domain".into(), "kind=component,spec.type=service".into()]
            })
        );
        assert_eq!(f[11].input, Input::RepoUrl(vec!["github.com".into(), "gitlab.com".into()]));
        assert_eq!(f[12].input, Input::Json);
    }

    #[test]
    fn ui_order_orders_the_fields() {
        let p = json!({"ui:order": ["c", "*", "a"], "properties": {"a": {}, "b": {}, "c": {}}});
        let names: Vec<String> = fields(&p).into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["c", "b", "a"]);
    }

    #[test]
    fn pickers_read_their_options() {
        assert_eq!(picker(&json!({"allowedKinds": ["Group"]}), &[]).filters, ["kind=group"]);
        assert!(picker(&Value::Null, &[]).filters.is_empty(), "an EntityPicker without a filter lists everything");
        assert_eq!(
            picker(&json!({"catalogFilter": {"kind": "Group", "spec.type": "team"}}), &[]).filters,
            ["kind=group,spec.type=team"]
        );
    }

    #[test]
    fn the_form_becomes_the_values_the_api_takes() {
        let f = fields(&page());
        let posted = form(&[
            ("v:name", "pricing"),
            ("v:token", "s3cret"),
            ("v:notes", ""),
            ("v:replicas", "3"),
            ("v:ratio", "0.5"),
            ("v:public", "true"),
            ("v:tier", "silver"),
            ("v:tags", "a\n\n b \n"),
            ("v:zones", "b"),
            ("v:owner", "group:default/team-a"),
            ("v:system", ""),
            ("v:repo:host", "gitlab.com"),
            ("v:repo:owner", "acme"),
            ("v:repo:repo", "pricing web"),
            ("v:extra", "{\"k\": 1}"),
        ]);
        let mut values = Map::new();
        values.insert("notes".into(), json!("old"));
        values.insert("elsewhere".into(), json!("kept"));
        merge(&mut values, &f, &posted);
        assert_eq!(
            Value::Object(values),
            json!({"elsewhere": "kept", "name": "pricing", "token": "s3cret", "replicas": 3, "ratio": 0.5, "public": true,
                   "tier": "silver", "tags": ["a", "b"], "zones": ["b"], "owner": "group:default/team-a",
                   "repo": "gitlab.com?owner=acme&repo=pricing+web", "extra": {"k": 1}})
        );
        // An unchecked box is false; text that is no number stays text for the check to name.
        let mut values = Map::new();
        merge(&mut values, &f, &form(&[("v:replicas", "many")]));
        assert_eq!(values["public"], json!(false));
        assert_eq!(values["replicas"], json!("many"));
        assert!(!values.contains_key("name"), "an empty field is left out");
    }

    #[test]
    fn repo_urls_round_trip() {
        let v = repo_url("github.com", "acme", "a&b");
        assert_eq!(v, "github.com?owner=acme&repo=a%26b");
        assert_eq!(repo_parts(&v), ("github.com".into(), "acme".into(), "a&b".into()));
    }

    #[test]
    fn problems_are_placed_and_said_in_words() {
        assert_eq!(property_of("/values/name"), Some("name".into()));
        assert_eq!(property_of("/values/a~1b/0"), Some("a/b".into()));
        assert_eq!(property_of("/values"), None);
        assert_eq!(path_words("/values/tags/1"), "tags › item 2");
        assert_eq!(path_words("/values"), "the values");
        let pages = vec![json!({"properties": {"a": {}}}), json!({"properties": {"b": {}}})];
        assert_eq!(page_of(&pages, "b"), Some(1));
        assert_eq!(page_of(&pages, "c"), None);
    }

    #[test]
    fn the_review_masks_secrets_and_says_values_in_words() {
        let f = fields(&page());
        assert_eq!(display(&f[1], Some(&json!("s3cret"))), "••••••••");
        assert_eq!(display(&f[5], Some(&json!(false))), "no");
        assert_eq!(display(&f[6], Some(&json!("gold"))), "Gold");
        assert_eq!(display(&f[7], Some(&json!(["a", "b"]))), "a, b");
        assert_eq!(display(&f[0], None), "(not given)");
    }

    #[test]
    fn fields_render_with_labels_hints_and_errors() {
        let f = fields(&page());
        let html =
            render(&f[0], &Drawn { index: 0, value: None, errors: vec!["name: is required".into()], choices: &[] })
                .into_string();
        assert!(html.contains(r#"<label for="f-0">Name <span class="req">(required)</span></label>"#), "{html}");
        assert!(html.contains(r#"aria-describedby="f-0-hint f-0-error""#), "{html}");
        assert!(html.contains(r#"aria-invalid="true""#) && html.contains("name: is required"), "{html}");
        let choices = vec![("group:default/a".to_owned(), "Team A".to_owned())];
        let html = render(
            &f[9],
            &Drawn { index: 9, value: Some(&json!("group:default/a")), errors: vec![], choices: &choices },
        )
        .into_string();
        assert!(
            html.contains(r#"<option value="group:default/a" selected>Team A (group:default/a)</option>"#),
            "{html}"
        );
        let html = render(&f[5], &Drawn { index: 5, value: None, errors: vec![], choices: &[] }).into_string();
        assert!(html.contains("checked"), "the default shows: {html}");
        let html =
            render(&f[1], &Drawn { index: 1, value: Some(&json!("x")), errors: vec![], choices: &[] }).into_string();
        assert!(html.contains(r#"type="password""#), "{html}");
    }
}
