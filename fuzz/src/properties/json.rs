//! `json`: the iterative parser (`icepeak::json`) against its own output and against
//! `serde_json`, which is strict in the same ways except where the module doc says otherwise.

use std::collections::HashSet;

use icepeak::json::{JsonErrorKind, depth, parse};
use serde_json::Value;

/// The document limit of the fuzz target: large enough for real nesting, small enough that
/// `serde_json`'s recursive `Drop` and serialisation stay cheap.
const MAX_DEPTH: usize = 128;

/// `serde_json` refuses more than 127 nested containers (its recursion limit), where `parse`
/// allows `MAX_DEPTH`; below this the two must agree.
const COMPARABLE_DEPTH: usize = 100;

pub fn check_json(data: &[u8]) {
    let ours = parse(data, MAX_DEPTH);
    match &ours {
        Ok(value) => check_accepted(data, value),
        Err(error) => {
            assert!(error.offset <= data.len(), "error offset past the input: {error:?}");
            let _ = error.to_string();
        }
    }

    // Compare with serde_json unless the input is (or may be) too deep for either side.
    let too_deep = match &ours {
        Ok(value) => depth(value) > COMPARABLE_DEPTH,
        Err(error) => matches!(error.kind, JsonErrorKind::TooDeep { .. }),
    };
    if too_deep || nesting_bound(data) > COMPARABLE_DEPTH {
        return;
    }
    let theirs = serde_json::from_slice::<Value>(data);
    match (&ours, &theirs) {
        (Ok(ours), Ok(theirs)) => {
            // serde_json lets the last duplicate key win, we keep the first.
            if !has_duplicate_keys(data) {
                assert_eq!(ours, &canonical_numbers(theirs), "parsed differently from serde_json");
            }
        }
        (Err(_), Err(_)) => {}
        _ => panic!("acceptance differs: ours {ours:?}, serde_json {theirs:?}"),
    }
}

/// serde_json keeps number text as written; `parse` writes numbers the way the original
/// does (`icepeak::number`). Applied to serde_json's value, the two must then agree.
fn canonical_numbers(value: &Value) -> Value {
    match value {
        Value::Number(number) => match icepeak::number::canonical(&number.to_string()) {
            Some(text) => Value::Number(text.parse().expect("canonical numbers parse")),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(canonical_numbers).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical_numbers(v))).collect())
        }
        other => other.clone(),
    }
}

fn check_accepted(data: &[u8], value: &Value) {
    let levels = depth(value);
    assert!(levels <= MAX_DEPTH, "depth {levels} over the limit {MAX_DEPTH}");
    assert_eq!(levels, depth_recursive(value), "depth() disagrees with the definition");

    // The limit applies to the text, dropped duplicate values included (they are parsed and
    // validated too), and it is exact: the text's own depth passes, one less is refused.
    let nesting = text_depth(data);
    assert!(levels <= nesting, "value depth {levels} over the text's {nesting}");
    if levels < nesting {
        assert!(has_duplicate_keys(data), "depth {levels} of a text {nesting} deep");
    }
    assert_eq!(parse(data, nesting).as_ref(), Ok(value));
    let one_less = parse(data, nesting - 1).map_err(|error| error.kind);
    assert_eq!(one_less, Err(JsonErrorKind::TooDeep { limit: nesting - 1 }));

    let text = serde_json::to_vec(value).expect("a Value always serialises");
    assert_eq!(parse(&text, MAX_DEPTH).as_ref(), Ok(value), "re-parse of {:?}", text_of(&text));
}

/// The nesting of valid JSON text as `depth` would measure it if no value were dropped: a
/// scalar or an empty container inside `n` containers sits at level `n + 1`.
fn text_depth(data: &[u8]) -> usize {
    let (mut open, mut deepest, mut pos) = (0usize, 0usize, 0usize);
    while let Some(&byte) = data.get(pos) {
        match byte {
            b'[' | b'{' => {
                open += 1;
                deepest = deepest.max(open);
            }
            b']' | b'}' => open -= 1,
            b',' | b':' | b' ' | b'\t' | b'\n' | b'\r' => {}
            // Scalars (keys too, which sit at the level of their values).
            _ => deepest = deepest.max(open + 1),
        }
        pos = if byte == b'"' { string_end(data, pos) } else { pos + 1 };
    }
    deepest
}

/// The definition `depth` documents, written the obvious way (the input is at most
/// `MAX_DEPTH` deep here, so recursion is safe).
fn depth_recursive(value: &Value) -> usize {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => Box::new(std::iter::empty()),
    };
    1 + children.map(depth_recursive).max().unwrap_or(0)
}

/// An upper bound on the nesting of `data`: the most brackets open at once, counting brackets
/// inside strings too (which only makes the bound larger).
fn nesting_bound(data: &[u8]) -> usize {
    let (mut open, mut most) = (0usize, 0usize);
    for &byte in data {
        match byte {
            b'[' | b'{' => {
                open += 1;
                most = most.max(open);
            }
            b']' | b'}' => open = open.saturating_sub(1),
            _ => {}
        }
    }
    most
}

/// Whether some object in `data` (valid JSON: both parsers accepted it) repeats a key. Keys
/// are compared decoded, so `"a"` and `"\u0061"` are the same key.
fn has_duplicate_keys(data: &[u8]) -> bool {
    // One entry per open container: the keys seen so far if it is an object.
    let mut open: Vec<Option<HashSet<String>>> = Vec::new();
    let mut pos = 0;
    while let Some(&byte) = data.get(pos) {
        match byte {
            b'{' => open.push(Some(HashSet::new())),
            b'[' => open.push(None),
            b'}' | b']' => {
                open.pop();
            }
            b'"' => {
                let end = string_end(data, pos);
                let rest = data.get(end..).unwrap_or_default();
                let is_key = rest.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b':');
                if let (true, Some(Some(keys))) = (is_key, open.last_mut()) {
                    let key: String = serde_json::from_slice(&data[pos..end]).expect("valid key");
                    if !keys.insert(key) {
                        return true;
                    }
                }
                pos = end;
                continue;
            }
            _ => {}
        }
        pos += 1;
    }
    false
}

/// The offset just after the string literal whose opening quote is at `start`.
fn string_end(data: &[u8], start: usize) -> usize {
    let mut pos = start + 1;
    while let Some(&byte) = data.get(pos) {
        match byte {
            b'\\' => pos += 2,
            b'"' => return pos + 1,
            _ => pos += 1,
        }
    }
    data.len()
}

fn text_of(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
