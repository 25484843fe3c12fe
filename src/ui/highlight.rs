//! A small, dependency-free highlighter for API definitions that Swagger UI does not render
//! (AsyncAPI, GraphQL, gRPC, or anything else): mapping keys, comments, strings and the
//! keywords of the schema languages get a class, everything else stays plain text. Output is
//! escaped by maud.

use maud::{Markup, html};

const KEYWORDS: &[&str] = &[
    "type",
    "query",
    "mutation",
    "subscription",
    "input",
    "enum",
    "interface",
    "union",
    "scalar",
    "schema",
    "extend",
    "directive",
    "fragment",
    "implements",
    "message",
    "service",
    "rpc",
    "returns",
    "syntax",
    "package",
    "import",
    "option",
    "repeated",
    "optional",
    "oneof",
    "map",
    "stream",
];

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Class {
    Plain,
    Key,
    Comment,
    Str,
    Keyword,
}

/// Splits one line into classed pieces.
pub fn tokens(line: &str) -> Vec<(Class, &str)> {
    let mut out = Vec::new();
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    if trimmed.starts_with('#') || trimmed.starts_with("//") {
        push(&mut out, Class::Plain, indent);
        push(&mut out, Class::Comment, trimmed);
        return out;
    }
    // A mapping key: `key:` or `- key:` or `"key":` at the start of the line.
    let (dash, rest) = match trimmed.strip_prefix("- ") {
        Some(r) => (&trimmed[..2], r),
        None => ("", trimmed),
    };
    if let Some(end) = key_end(rest) {
        push(&mut out, Class::Plain, indent);
        push(&mut out, Class::Plain, dash);
        push(&mut out, Class::Key, &rest[..end]);
        words(&mut out, &rest[end..], false);
        return out;
    }
    words(&mut out, line, true);
    out
}

/// The length of a key (with its colon) at the start of `s`, if there is one.
fn key_end(s: &str) -> Option<usize> {
    let quoted = s.starts_with('"') || s.starts_with('\'');
    let body_end = if quoted {
        let q = s.as_bytes()[0];
        s[1..].bytes().position(|b| b == q).map(|i| i + 2)?
    } else {
        s.bytes().position(|b| !(b.is_ascii_alphanumeric() || b"_-.$/{}".contains(&b)))?
    };
    if body_end == 0 || !s[body_end..].starts_with(':') {
        return None;
    }
    let after = &s[body_end + 1..];
    (after.is_empty() || after.starts_with(' ')).then_some(body_end + 1)
}

/// Strings, trailing comments and (where `keywords`) schema-language keywords in the rest.
fn words<'a>(out: &mut Vec<(Class, &'a str)>, s: &'a str, keywords: bool) {
    let mut start = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' {
            let end = s[i + 1..].find('"').map(|j| i + j + 2).unwrap_or(s.len());
            push(out, Class::Plain, &s[start..i]);
            push(out, Class::Str, &s[i..end]);
            (start, i) = (end, end);
            continue;
        }
        if b == b'#' && (i == 0 || bytes[i - 1] == b' ') {
            push(out, Class::Plain, &s[start..i]);
            push(out, Class::Comment, &s[i..]);
            return;
        }
        if keywords && b.is_ascii_alphabetic() && (i == 0 || !is_word(bytes[i - 1])) {
            let end = s[i..].bytes().position(|c| !is_word(c)).map(|j| i + j).unwrap_or(s.len());
            if KEYWORDS.contains(&&s[i..end]) {
                push(out, Class::Plain, &s[start..i]);
                push(out, Class::Keyword, &s[i..end]);
                start = end;
            }
            i = end;
            continue;
        }
        i += 1;
    }
    push(out, Class::Plain, &s[start..]);
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn push<'a>(out: &mut Vec<(Class, &'a str)>, class: Class, s: &'a str) {
    if !s.is_empty() {
        out.push((class, s));
    }
}

/// The definition as `<pre><code>` with classed spans.
pub fn render(text: &str) -> Markup {
    html! {
        pre class="definition" tabindex="0" { code {
            @for line in text.lines() {
                @for (class, piece) in tokens(line) {
                    @match class {
                        Class::Plain => (piece),
                        Class::Key => span class="hl-key" { (piece) },
                        Class::Comment => span class="hl-comment" { (piece) },
                        Class::Str => span class="hl-str" { (piece) },
                        Class::Keyword => span class="hl-kw" { (piece) },
                    }
                }
                "\n"
            }
        } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(line: &str) -> Vec<(Class, String)> {
        tokens(line).into_iter().map(|(c, s)| (c, s.to_owned())).collect()
    }

    #[test]
    fn yaml_keys_strings_and_comments() {
        assert_eq!(
            classes("  title: \"Pets\" # the name"),
            vec![
                (Class::Plain, "  ".into()),
                (Class::Key, "title:".into()),
                (Class::Plain, " ".into()),
                (Class::Str, "\"Pets\"".into()),
                (Class::Plain, " ".into()),
                (Class::Comment, "# the name".into()),
            ]
        );
        assert_eq!(classes("- name: id")[0], (Class::Plain, "- ".into()));
        assert_eq!(classes("  - name: id")[2], (Class::Key, "name:".into()));
        assert_eq!(classes("# all of it"), vec![(Class::Comment, "# all of it".into())]);
        // A URL's colon is not a key's.
        assert!(classes("url: http://x").iter().filter(|(c, _)| *c == Class::Key).count() == 1);
        assert!(!classes("http://x/y").iter().any(|(c, _)| *c == Class::Key));
    }

    #[test]
    fn schema_language_keywords_are_whole_words() {
        let c = classes("type Query { types: [Type] }");
        assert_eq!(c[0], (Class::Keyword, "type".into()));
        assert!(!c.iter().any(|(k, s)| *k == Class::Keyword && s != "type"));
        let c = classes("service Pets { rpc Get (A) returns (B); }");
        let kws: Vec<&str> = c.iter().filter(|(k, _)| *k == Class::Keyword).map(|(_, s)| s.as_str()).collect();
        assert_eq!(kws, ["service", "rpc", "returns"]);
    }

    #[test]
    fn rendering_keeps_every_character_and_escapes() {
        let text = "a: <b>\n# c & d\ntype X";
        let html = render(text).into_string();
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains("c &amp; d"));
        let plain: String = tokens("  key: \"v\" # x").iter().map(|(_, s)| *s).collect();
        assert_eq!(plain, "  key: \"v\" # x");
    }
}
