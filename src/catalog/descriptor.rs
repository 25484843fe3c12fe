//! Descriptor files: multi-document YAML (or JSON) into raw entity documents.
//!
//! A file is split at its `---` document markers so that each document parses on its own: one
//! broken document is its own error (with its index and line) and does not hide its siblings.
//! Limits on size, nesting, documents and alias expansion bound the memory an input can take.

use serde_json::Value;

/// The most bytes one descriptor file may have.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
/// The most documents one descriptor file may hold.
pub const MAX_DOCUMENTS: usize = 10_000;
/// The deepest nesting a document may have.
pub const MAX_DEPTH: usize = 64;
/// The most aliases (and anchors) one YAML document may use.
const MAX_ALIASES: usize = 1_000;
/// The most values one YAML document may have once its aliases are expanded.
const MAX_NODES: usize = 1_000_000;

/// One document of a descriptor file.
#[derive(Debug)]
pub struct Document {
    /// Position in the file, counting every document Backstage's parser would count.
    pub index: usize,
    /// The 1-based line of the document's first content (past its `---` marker, blank lines
    /// and comments): where a finding about the entity points.
    pub line: usize,
    pub body: Result<Value, String>,
}

/// Splits and parses a descriptor file. Empty documents are skipped (their index still counts);
/// a file-level problem (too large, not UTF-8) is returned as `Err`.
pub fn parse_file(bytes: &[u8], file_name: &str) -> Result<Vec<Document>, String> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!("file is {} bytes, more than the limit of {} bytes", bytes.len(), MAX_FILE_BYTES));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("file is not valid UTF-8: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if file_name.ends_with(".json") {
        return Ok(vec![Document {
            index: 0,
            line: 1,
            body: serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}")).and_then(check_depth),
        }]);
    }
    let segments = split_documents(text);
    if segments.len() > MAX_DOCUMENTS {
        return Err(format!("file has {} documents, more than the limit of {MAX_DOCUMENTS}", segments.len()));
    }
    let mut out = Vec::new();
    for (index, seg) in segments.into_iter().enumerate() {
        if is_blank(seg.text) {
            continue;
        }
        let body = parse_yaml(seg.text, seg.line).and_then(|v| match v {
            Value::Null => Err(String::new()),
            v => check_depth(v),
        });
        // A document holding only `~` or `null` is empty, like a blank one.
        if matches!(&body, Err(e) if e.is_empty()) {
            continue;
        }
        let first = seg.text.lines().position(|l| {
            let t = l.trim();
            !(t.is_empty() || t.starts_with('#') || t.starts_with('%'))
        });
        out.push(Document { index, line: seg.line + first.unwrap_or(0), body });
    }
    Ok(out)
}

struct Segment<'a> {
    text: &'a str,
    line: usize,
}

/// Cuts the stream at lines that start a document (`---`) or end one (`...`).
///
/// Text before the first marker is a document only if it holds something besides comments and
/// directives, which is how YAML parsers count documents.
fn split_documents(text: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut explicit = false;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let is_start = trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---\t");
        let is_end = trimmed == "..." || trimmed.starts_with("... ");
        if is_start || is_end {
            let prior = &text[start..offset];
            if explicit || !is_blank(prior) {
                segments.push(Segment { text: prior, line: start_line });
            }
            if is_start {
                // Content may follow the marker on the same line (`--- !tag` or `--- {a: 1}`).
                let rest = &line[3..];
                start = offset + 3;
                start_line = i + 1;
                explicit = true;
                let _ = rest;
            } else {
                start = offset + line.len();
                start_line = i + 2;
                explicit = false;
            }
        }
        offset += line.len();
    }
    let last = &text[start..];
    if explicit || !is_blank(last) {
        segments.push(Segment { text: last, line: start_line });
    }
    segments
}

/// True when the text holds only whitespace, comments and directives.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t.starts_with('%')
    })
}

fn parse_yaml(text: &str, first_line: usize) -> Result<Value, String> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1,
            max_depth: MAX_DEPTH,
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ALIASES,
            max_nodes: MAX_NODES,
        },
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| {
        let msg = e.to_string();
        let msg = plain_message(msg.lines().next().unwrap_or(""));
        match e.location() {
            Some(loc) => {
                format!("YAML error at line {}: {}", loc.line() as usize + first_line - 1, strip_location(&msg))
            }
            None => format!("YAML error: {msg}"),
        }
    })
}

/// The parser's messages in the user's words: its budget (limits) and duplicate-key messages
/// name library types and options.
fn plain_message(msg: &str) -> String {
    if let Some(breach) = msg.strip_prefix("budget breached: ") {
        let what = breach.split([' ', '{', '(']).next().unwrap_or_default();
        return match what {
            "Depth" => format!("document is nested deeper than {MAX_DEPTH} levels"),
            "Documents" => "more than one document where one was expected".to_owned(),
            "InputBytes" | "ScalarBytes" | "CommentBytes" => "document is too large".to_owned(),
            _ => format!(
                "document expands past the alias limit (at most {MAX_ALIASES} aliases and anchors, and \
                 {MAX_NODES} values once aliases are expanded)"
            ),
        };
    }
    if let Some(rest) = msg.strip_prefix("duplicate mapping key") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or_default();
        return match key.strip_prefix(": ") {
            Some(k) => format!("duplicate key \"{k}\""),
            None => "duplicate key".to_owned(),
        };
    }
    msg.to_owned()
}

/// The parser's own message repeats the (document-relative) position; ours is file-relative.
fn strip_location(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

fn check_depth(v: Value) -> Result<Value, String> {
    fn depth(v: &Value, d: usize) -> bool {
        if d > MAX_DEPTH {
            return false;
        }
        match v {
            Value::Array(a) => a.iter().all(|x| depth(x, d + 1)),
            Value::Object(o) => o.values().all(|x| depth(x, d + 1)),
            _ => true,
        }
    }
    if depth(&v, 0) { Ok(v) } else { Err(format!("document is nested deeper than {MAX_DEPTH} levels")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Document> {
        parse_file(text.as_bytes(), "x.yaml").unwrap()
    }

    #[test]
    fn a_multi_document_file_yields_each_document_with_its_index() {
        let d = docs("a: 1\n---\nb: 2\n---\n---\nc: 3\n");
        let idx: Vec<usize> = d.iter().map(|d| d.index).collect();
        assert_eq!(idx, vec![0, 1, 3]);
        assert_eq!(d[2].line, 6);
    }

    #[test]
    fn a_leading_marker_does_not_make_an_empty_first_document() {
        let d = docs("# comment\n---\na: 1\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].index, 0);
    }

    #[test]
    fn one_broken_document_does_not_hide_its_siblings() {
        let d = docs("a: 1\n---\nb: [\n---\nc: 3\n");
        assert!(d[0].body.is_ok());
        let err = d[1].body.as_ref().unwrap_err();
        assert!(err.starts_with("YAML error at line"), "{err}");
        assert!(d[2].body.is_ok());
    }

    #[test]
    fn a_duplicate_key_is_a_parse_error() {
        let d = docs("a: 1\na: 2\n");
        assert!(d[0].body.is_err());
    }

    #[test]
    fn an_alias_bomb_is_rejected_quickly() {
        let mut s = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let mut prev = 'a';
        for c in 'b'..='j' {
            s.push_str(&format!(
                "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = c;
        }
        let started = std::time::Instant::now();
        let d = docs(&s);
        assert!(d[0].body.is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn limit_and_duplicate_key_messages_are_in_the_users_words() {
        let d = docs("apiVersion: v1\nkind: A\nkind: B\n");
        assert_eq!(d[0].body.as_ref().unwrap_err(), "YAML error at line 3: duplicate key \"kind\"");
        // Past the alias budget (the same message as a billion-laughs expansion past the node budget).
        let bomb = format!("a: &a lol\nb: [{}]\n", vec!["*a"; MAX_ALIASES + 1].join(", "));
        let err = docs(&bomb).remove(0).body.unwrap_err();
        assert!(err.contains("document expands past the alias limit"), "{err}");
        for e in [&err, d[0].body.as_ref().unwrap_err()] {
            assert!(!e.contains("budget") && !e.contains("Events") && !e.contains("DuplicateKeyPolicy"), "{e}");
        }
    }

    #[test]
    fn json_files_are_read_as_one_document() {
        let d = parse_file(br#"{"kind": "Component"}"#, "x.json").unwrap();
        assert_eq!(d.len(), 1);
        assert!(d[0].body.is_ok());
    }
}
