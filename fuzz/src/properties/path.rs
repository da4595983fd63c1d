//! `path`: request targets → document paths (spec §2.1), plain multi-subscription splits
//! (§2.2) and query strings (§3.5).

use icepeak::path::{Query, encode_url_path, parse_url_path, split_plain, split_target};

pub fn check_path(data: &[u8]) {
    // Request targets reach the library as `&str`; the HTTP layer has replaced invalid UTF-8 by
    // then, so a lossy conversion is the realistic input.
    let text = String::from_utf8_lossy(data);

    let (path, query) = split_target(&text);
    let segments = parse_url_path(path);
    assert_round_trip(&segments);
    check_query(query);

    // The plain split sees arbitrary segment lists, `[""]` and segments holding `%`, `?` and
    // non-ASCII among them, so it also feeds the encoder lists a parser never produces.
    let plain = split_plain(&text);
    assert!(!plain.is_empty(), "split_plain({text:?}) returned no segment");
    assert_eq!(plain.join("/"), *text, "split_plain must keep every byte");
    assert_round_trip(&plain);

    check_query(&text);
}

/// `parse_url_path(encode_url_path(s)) == s`, except for `[""]`, which has no URL form: both
/// `""` and `/` are the root (see `encode_url_path`).
fn assert_round_trip(segments: &[String]) {
    let encoded = encode_url_path(segments);
    let expected: &[String] = if segments == [""] { &[] } else { segments };
    assert_eq!(parse_url_path(&encoded), expected, "via {encoded:?}");
    // The encoding escapes `?` and starts with `/`, so it is a whole origin-form target.
    assert_eq!(split_target(&encoded), (encoded.as_str(), ""), "target {encoded:?}");
}

fn check_query(raw: &str) {
    let query = Query::parse(raw);
    // The server asks for exactly these; they must not panic on any parse result.
    let _ = query.is_durable();
    let _ = query.first_with_value("access_token");
    // A parameter named after the first key is found, and it is the first one written.
    if let Some(first) = raw.split(['&', ';']).find(|part| !part.is_empty()) {
        let key = first.split_once('=').map_or(first, |(key, _)| key);
        let key = icepeak::path::percent_decode(key, true);
        assert!(query.first(&key).is_some(), "{key:?} missing from the query {raw:?}");
    }
}
