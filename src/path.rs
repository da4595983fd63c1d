//! Request targets → document paths and query parameters (spec §2.1, §2.2, §3.5).
//!
//! A document path is a list of text segments; the root is the empty list. The rules are the
//! original's, quirks included: empty segments are keys (`/foo/` is `["foo", ""]`), `+` stays a
//! plus in paths, `%2F` is a slash inside one key, invalid escapes stay literal text and invalid
//! UTF-8 after decoding becomes U+FFFD.

use std::borrow::Cow;

/// Splits a raw request-target into its path and its query (without the `?`).
///
/// Absolute-form targets (`http://host:port/a/b`) are addressed by their path, as Warp does.
pub fn split_target(target: &str) -> (&str, &str) {
    let target = strip_scheme_and_authority(target);
    match target.split_once('?') {
        Some((path, query)) => (path, query),
        None => (target, ""),
    }
}

fn strip_scheme_and_authority(target: &str) -> &str {
    let Some(colon) = target.find("://") else {
        return target;
    };
    let scheme = &target[..colon];
    let is_scheme = !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !is_scheme || target.starts_with('/') {
        return target;
    }
    let after_authority = &target[colon + 3..];
    match after_authority.find(['/', '?']) {
        Some(i) => &after_authority[i..],
        None => "",
    }
}

/// URL path → segments (§2.1): drop one leading `/`, split on every `/`, percent-decode each
/// segment on its own (so `%2F` stays inside its key).
pub fn parse_url_path(raw: &str) -> Vec<String> {
    if raw.is_empty() || raw == "/" {
        return Vec::new();
    }
    let raw = raw.strip_prefix('/').unwrap_or(raw);
    raw.split('/').map(|s| percent_decode(s, false)).collect()
}

/// Multi-subscription path strings (§2.2): a plain split on `/`, no decoding, empty segments
/// kept, so `""` is `[""]` and `"/A"` is `["", "A"]`.
pub fn split_plain(path: &str) -> Vec<String> {
    path.split('/').map(str::to_owned).collect()
}

/// Segments → a URL path that [`parse_url_path`] maps back to the same segments.
///
/// One list has no URL: `[""]` (a single empty key), because both `""` and `/` mean the root
/// (§2.1). It encodes to `/` like the root.
pub fn encode_url_path(segments: &[String]) -> String {
    let mut out = String::new();
    if segments.is_empty() {
        out.push('/');
    }
    for segment in segments {
        out.push('/');
        for &b in segment.as_bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push('%');
                out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
                out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
            }
        }
    }
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes `%XX` escapes; an escape that is not two hex digits is kept as literal text.
/// With `plus_is_space` (query strings only) `+` becomes a space.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    if !(text.contains('%') || plus_is_space && text.contains('+')) {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&hi), Some(&lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    out.push(hex_value(hi) << 4 | hex_value(lo));
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8_lossy(&out) {
        Cow::Borrowed(_) => String::from_utf8(out).unwrap_or_default(),
        Cow::Owned(lossy) => lossy,
    }
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Parsed query parameters in arrival order (§3.5): separators `&` and `;`, `+` is a space,
/// percent-decoded. A parameter written without `=` has no value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query {
    params: Vec<(String, Option<String>)>,
}

impl Query {
    pub fn parse(raw: &str) -> Self {
        let params = raw
            .split(['&', ';'])
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((key, value)) => {
                    (percent_decode(key, true), Some(percent_decode(value, true)))
                }
                None => (percent_decode(part, true), None),
            })
            .collect();
        Query { params }
    }

    /// The first occurrence of `key` (the original lets the first one win): `None` when absent,
    /// `Some(None)` when present without `=`.
    pub fn first(&self, key: &str) -> Option<Option<&str>> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, value)| value.as_deref())
    }

    /// The first occurrence of `key` that has a value (`?access_token` without `=` is absent).
    pub fn first_with_value(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, v)| k == key && v.is_some()).and_then(|(_, v)| v.as_deref())
    }

    /// D2: `?durable`, `?durable=` and any value but `false`/`0` ask for a durable write.
    pub fn is_durable(&self) -> bool {
        match self.first("durable") {
            None => false,
            Some(None) => true,
            Some(Some(value)) => value != "false" && value != "0",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(raw: &str) -> Vec<String> {
        parse_url_path(raw)
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn url_paths_follow_the_spec_table() {
        assert_eq!(segs(""), v(&[]));
        assert_eq!(segs("/"), v(&[]));
        assert_eq!(segs("/foo"), v(&["foo"]));
        assert_eq!(segs("/foo/bar"), v(&["foo", "bar"]));
        assert_eq!(segs("/foo/"), v(&["foo", ""]));
        assert_eq!(segs("//foo"), v(&["", "foo"]));
        assert_eq!(segs("/foo//bar"), v(&["foo", "", "bar"]));
        assert_eq!(segs("/a%2Fb"), v(&["a/b"]));
        assert_eq!(segs("/a%2fb"), v(&["a/b"]));
        assert_eq!(segs("/a%20b"), v(&["a b"]));
        assert_eq!(segs("/a+b"), v(&["a+b"]));
        assert_eq!(segs("/%E2%82%AC"), v(&["€"]));
        assert_eq!(segs("/./.."), v(&[".", ".."]));
    }

    #[test]
    fn invalid_escapes_stay_literal_and_bad_utf8_is_replaced() {
        assert_eq!(segs("/%zz"), v(&["%zz"]));
        assert_eq!(segs("/%"), v(&["%"]));
        assert_eq!(segs("/%2"), v(&["%2"]));
        assert_eq!(segs("/a%2"), v(&["a%2"]));
        assert_eq!(segs("/x%FFy"), v(&["x\u{fffd}y"]));
        assert_eq!(segs("/%C3"), v(&["\u{fffd}"]));
    }

    #[test]
    fn targets_split_into_path_and_query() {
        assert_eq!(split_target("/a/b?x=1"), ("/a/b", "x=1"));
        assert_eq!(split_target("/a/b"), ("/a/b", ""));
        assert_eq!(split_target("/?durable"), ("/", "durable"));
        assert_eq!(split_target("http://127.0.0.1:3000/abs/x"), ("/abs/x", ""));
        assert_eq!(split_target("http://h:1/p?q=2"), ("/p", "q=2"));
        assert_eq!(split_target("http://h:1"), ("", ""));
        assert_eq!(split_target("http://h:1?q"), ("", "q"));
        assert_eq!(split_target("/x://y"), ("/x://y", ""));
        assert_eq!(split_target("*"), ("*", ""));
    }

    #[test]
    fn plain_split_keeps_every_segment() {
        assert_eq!(split_plain("A/B"), v(&["A", "B"]));
        assert_eq!(split_plain("A"), v(&["A"]));
        assert_eq!(split_plain(""), v(&[""]));
        assert_eq!(split_plain("/A/B"), v(&["", "A", "B"]));
        assert_eq!(split_plain("A/"), v(&["A", ""]));
        assert_eq!(split_plain("a%2Fb"), v(&["a%2Fb"]));
    }

    #[test]
    fn encoding_round_trips() {
        let cases = [
            v(&[]),
            v(&["", ""]),
            v(&["a/b", "c d", "+", "%", "€", "?#", ""]),
            v(&["\u{fffd}", ".", ".."]),
        ];
        for segments in cases {
            assert_eq!(parse_url_path(&encode_url_path(&segments)), segments);
        }
        assert_eq!(parse_url_path(&encode_url_path(&v(&[""]))), v(&[]), "[\"\"] has no URL");
    }

    #[test]
    fn query_parameters() {
        let q = Query::parse("a=1&b=x+y;c=%41&a=2&flag&empty=");
        assert_eq!(q.first("a"), Some(Some("1")));
        assert_eq!(q.first("b"), Some(Some("x y")));
        assert_eq!(q.first("c"), Some(Some("A")));
        assert_eq!(q.first("flag"), Some(None));
        assert_eq!(q.first("empty"), Some(Some("")));
        assert_eq!(q.first("missing"), None);
        let q = Query::parse("t&t=&t=x");
        assert_eq!(q.first_with_value("t"), Some(""));
        assert_eq!(Query::parse("t").first_with_value("t"), None);
    }

    #[test]
    fn durable_values() {
        for durable in
            ["durable", "durable=", "durable=true", "durable=1", "durable=yes", "a=1;durable"]
        {
            assert!(Query::parse(durable).is_durable(), "{durable}");
        }
        for not_durable in ["", "durable=false", "durable=0", "durablex", "x=durable"] {
            assert!(!Query::parse(not_durable).is_durable(), "{not_durable}");
        }
        assert!(Query::parse("durable&durable=0").is_durable(), "first occurrence wins");
    }
}
