//! Where the browser may be sent after sign-in: a path on this portal, never another site.

/// The longest `redirect` accepted.
const MAX_CHARS: usize = 2048;

/// Why a `redirect` is refused, in the words of an error message.
pub const RULE: &str = "redirect must be a path on this portal, such as /catalog: it starts with a single /, \
                        and has no backslash, control character or leading // (also once percent-decoded)";

/// Whether `redirect` (as the query string decoded it) is a relative path on this portal.
///
/// Browsers drop tabs and newlines from a `Location` and read `\` as `/`, so `/\t/evil.example`
/// or `/\evil.example` would leave the portal as surely as `//evil.example`. The value is judged
/// as sent, and its path once more percent-decoded, after dropping leading `/./` segments.
pub fn is_local(redirect: &str) -> bool {
    if redirect.len() > MAX_CHARS || !redirect.starts_with('/') {
        return false;
    }
    let refused = |c: char| c.is_control() || c == '\\';
    if redirect.chars().any(refused) {
        return false;
    }
    let path = redirect.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decoded(path);
    !decoded.chars().any(refused)
        && !strip_dot_segments(path).starts_with("//")
        && !strip_dot_segments(&decoded).starts_with("//")
}

/// `text` with its `%XX` escapes decoded (invalid UTF-8 replaced).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.filter(|_| bytes[i] == b'%').and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` without leading `/.` and `/..` segments (`/./x` is `/x`).
fn strip_dot_segments(mut path: &str) -> &str {
    loop {
        let rest = path.strip_prefix("/..").or_else(|| path.strip_prefix("/."));
        match rest {
            Some(rest) if rest.starts_with('/') => path = rest,
            _ => return path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_portal_are_accepted() {
        for ok in [
            "/",
            "/catalog",
            "/catalog?filter=kind%3Dapi",
            "/api/auth/me",
            "/apis/default/x#plans",
            "/a//b",
            "/x?q=%09",
        ] {
            assert!(is_local(ok), "{ok}");
        }
        for bad in [
            "",
            "catalog",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%5Cevil.example",
            "/./%2Fevil.example",
            "/.//evil.example",
            "/..//evil.example",
            "/\n/evil.example",
            "https://evil.example",
            " /catalog",
            "/x\u{7f}",
        ] {
            assert!(!is_local(bad), "{bad:?}");
        }
        assert!(!is_local(&format!("/{}", "a".repeat(MAX_CHARS))));
    }
}
