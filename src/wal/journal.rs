//! The original Icepeak's journal, `<data file>.journal` (spec §8.4), read once for migration.
//!
//! One compact JSON object per line:
//! `{"op":"put","path":["a","b"],"value":<any>}` or `{"op":"delete","path":["a"]}`. The
//! original never fsyncs it, so a torn or garbled line is expected after a crash; like the
//! original, such a line is skipped with a log line rather than stopping start-up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::document::Modification;
use crate::json;
use crate::storage::MAX_FILE_DEPTH;

/// `<data file>.journal`.
#[must_use]
pub fn journal_path(data_file: &Path) -> PathBuf {
    let mut name = OsString::from(data_file.as_os_str());
    name.push(".journal");
    PathBuf::from(name)
}

/// Decodes one journal line (without its `\n`). Keys may come in any order and extra keys are
/// ignored, as the original's decoder does; the first of duplicate keys wins.
///
/// The value may be nested up to [`MAX_FILE_DEPTH`] levels, like a data file; a line that
/// parses but is rejected drops its value here, so deep values need the server's big stack
/// (serde_json's `Drop` recurses).
///
/// # Errors
///
/// A one-line reason when the line is not a modification.
pub fn parse_line(line: &[u8]) -> Result<Modification, String> {
    // One level more than a data file, for the entry object around the value.
    let entry = json::parse(line, MAX_FILE_DEPTH + 1).map_err(|error| error.to_string())?;
    let Value::Object(mut entry) = entry else {
        return Err("entry is not a JSON object".to_owned());
    };
    let op = match entry.get("op") {
        Some(Value::String(op)) if op == "put" || op == "delete" => op.clone(),
        Some(Value::String(op)) => return Err(format!("unknown \"op\" {op:?}")),
        Some(_) => return Err("\"op\" is not a string".to_owned()),
        None => return Err("no \"op\"".to_owned()),
    };
    let path = take_path(&mut entry)?;
    if op == "delete" {
        return Ok(Modification::Delete { path });
    }
    let value = entry.remove("value").ok_or_else(|| "put entry without \"value\"".to_owned())?;
    // The document must stay loadable: a put creates path + value levels.
    if path.len() + json::depth(&value) > MAX_FILE_DEPTH {
        return Err(format!("path and value together are deeper than {MAX_FILE_DEPTH} levels"));
    }
    Ok(Modification::Put { path, value })
}

fn take_path(entry: &mut Map<String, Value>) -> Result<Vec<String>, String> {
    let Some(Value::Array(segments)) = entry.remove("path") else {
        return Err("no \"path\" array".to_owned());
    };
    segments
        .into_iter()
        .map(|segment| match segment {
            Value::String(segment) => Ok(segment),
            _ => Err("\"path\" holds something other than strings".to_owned()),
        })
        .collect()
}

/// The outcome of [`replay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replay {
    pub applied: usize,
    pub failed: usize,
}

/// Applies every line in order; a line that does not parse (e.g. a torn last line) is skipped
/// and reported through `log` as "Failed to recover journal entry <n>: <error>", `n` being the
/// 1-based line number. Blank lines (e.g. after the final newline) are not entries.
pub fn replay(
    bytes: &[u8],
    mut apply: impl FnMut(Modification),
    mut log: impl FnMut(String),
) -> Replay {
    let mut outcome = Replay::default();
    for (index, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
        if is_blank(line) {
            continue;
        }
        match parse_line(line) {
            Ok(modification) => {
                apply(modification);
                outcome.applied += 1;
            }
            Err(error) => {
                log(format!("Failed to recover journal entry {}: {error}", index + 1));
                outcome.failed += 1;
            }
        }
    }
    outcome
}

/// Only JSON whitespace; `\r` covers journals whose line endings were converted to CRLF.
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|byte| matches!(byte, b' ' | b'\t' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| (*s).to_owned()).collect()
    }

    fn replay_all(bytes: &[u8]) -> (Replay, Vec<Modification>, Vec<String>) {
        let mut applied = Vec::new();
        let mut logged = Vec::new();
        let outcome = replay(bytes, |m| applied.push(m), |line| logged.push(line));
        (outcome, applied, logged)
    }

    #[test]
    fn journal_sits_next_to_the_data_file() {
        assert_eq!(journal_path(Path::new("icepeak.json")), PathBuf::from("icepeak.json.journal"));
        assert_eq!(
            journal_path(Path::new("/data/db.json")),
            PathBuf::from("/data/db.json.journal")
        );
    }

    #[test]
    fn examples_from_the_spec() {
        assert_eq!(
            parse_line(br#"{"op":"put","path":["this","is","a","path"],"value":{"x":[1,true]}}"#),
            Ok(Modification::Put {
                path: path(&["this", "is", "a", "path"]),
                value: json!({"x": [1, true]}),
            })
        );
        assert_eq!(
            parse_line(br#"{"op":"delete","path":["foo"]}"#),
            Ok(Modification::Delete { path: path(&["foo"]) })
        );
    }

    #[test]
    fn root_operations() {
        assert_eq!(
            parse_line(br#"{"op":"put","path":[],"value":null}"#),
            Ok(Modification::Put { path: Vec::new(), value: Value::Null })
        );
        assert_eq!(
            parse_line(br#"{"op":"delete","path":[]}"#),
            Ok(Modification::Delete { path: Vec::new() })
        );
    }

    #[test]
    fn key_order_whitespace_extra_and_duplicate_keys() {
        assert_eq!(
            parse_line(b" { \"value\" : 1 ,\t\"path\" : [ \"a\" ] , \"op\" : \"put\", \"x\": 0 } "),
            Ok(Modification::Put { path: path(&["a"]), value: json!(1) })
        );
        assert_eq!(
            parse_line(br#"{"op":"delete","path":["first"],"path":["second"],"value":5}"#),
            Ok(Modification::Delete { path: path(&["first"]) })
        );
    }

    #[test]
    fn values_keep_exact_numbers_and_escaped_newlines() {
        let Ok(Modification::Put { value, .. }) =
            parse_line(br#"{"op":"put","path":["n"],"value":[100000000000000000000000.5e-3]}"#)
        else {
            panic!("a put");
        };
        // Every digit kept, written the way the original writes numbers.
        assert_eq!(
            serde_json::to_string(&value).ok().as_deref(),
            Some("[1.000000000000000000000005e+20]")
        );
        let (outcome, applied, logged) = replay_all(
            b"{\"op\":\"put\",\"path\":[\"t\"],\"value\":\"one\\ntwo\"}\n\
              {\"op\":\"delete\",\"path\":[\"t\"]}\n",
        );
        assert_eq!(outcome, Replay { applied: 2, failed: 0 });
        assert!(logged.is_empty());
        assert_eq!(applied[0], Modification::Put { path: path(&["t"]), value: json!("one\ntwo") });
    }

    #[test]
    fn torn_last_line_is_skipped_and_logged() {
        let journal = b"{\"op\":\"put\",\"path\":[\"a\"],\"value\":1}\n\
                        {\"op\":\"delete\",\"path\":[\"b\"]}\n\
                        {\"op\":\"put\",\"path\":[\"c\"],\"val";
        let (outcome, applied, logged) = replay_all(journal);
        assert_eq!(outcome, Replay { applied: 2, failed: 1 });
        assert_eq!(
            applied,
            vec![
                Modification::Put { path: path(&["a"]), value: json!(1) },
                Modification::Delete { path: path(&["b"]) },
            ]
        );
        assert_eq!(logged.len(), 1);
        assert!(
            logged[0].starts_with("Failed to recover journal entry 3: invalid JSON"),
            "{}",
            logged[0]
        );
    }

    #[test]
    fn crlf_line_endings_and_blank_lines() {
        let journal =
            b"{\"op\":\"delete\",\"path\":[\"a\"]}\r\n\r\n\n{\"op\":\"delete\",\"path\":[]}\r\n";
        let (outcome, applied, logged) = replay_all(journal);
        assert_eq!(outcome, Replay { applied: 2, failed: 0 });
        assert_eq!(applied[1], Modification::Delete { path: Vec::new() });
        assert!(logged.is_empty());
        assert_eq!(replay_all(b"").0, Replay::default());
        assert_eq!(replay_all(b"\n").0, Replay::default());
    }

    #[test]
    fn garbage_lines_count_as_failed_with_their_line_numbers() {
        let journal = b"garbage\n\
                        \n\
                        {\"op\":\"put\",\"path\":[\"ok\"],\"value\":true}\n\
                        [1,2]\n\
                        {\"op\":\"move\",\"path\":[]}\n\
                        {\"op\":\"put\",\"path\":[]}\n\
                        {\"op\":\"delete\",\"path\":[1]}\n\
                        {\"op\":\"delete\",\"path\":\"a\"}\n\
                        {\"path\":[]}\n\
                        \x00\x00\x00\n";
        let (outcome, applied, logged) = replay_all(journal);
        assert_eq!(outcome, Replay { applied: 1, failed: 8 });
        assert_eq!(applied.len(), 1);
        let numbers: Vec<&str> = logged
            .iter()
            .filter_map(|line| line.strip_prefix("Failed to recover journal entry "))
            .filter_map(|rest| rest.split(':').next())
            .collect();
        assert_eq!(numbers, ["1", "4", "5", "6", "7", "8", "9", "10"]);
        assert!(logged[1].ends_with("entry is not a JSON object"));
        assert!(logged[2].ends_with("unknown \"op\" \"move\""));
        assert!(logged[3].ends_with("put entry without \"value\""));
    }

    #[test]
    fn entries_too_deep_to_load_again_are_refused() {
        let path: Vec<String> = (0..6000).map(|i| format!("\"s{i}\"")).collect();
        let value = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let line = format!(r#"{{"op":"put","path":[{}],"value":{value}}}"#, path.join(","));
        let error = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || parse_line(line.as_bytes()).err())
            .and_then(|handle| handle.join().map_err(|_| std::io::Error::other("panicked")))
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(error.contains("deeper than"), "{error}");
    }
}
