//! The JSON document and the three operations on it (spec §4): lookup, put and delete.
//!
//! Every walk is a loop over the path, never recursion, so a long path cannot exhaust the stack.

use serde_json::{Map, Value};

/// One write, as received and as it will be logged.
#[derive(Debug, Clone, PartialEq)]
pub enum Modification {
    Put { path: Vec<String>, value: Value },
    Delete { path: Vec<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    root: Value,
}

impl Default for Document {
    /// A brand-new server starts from `{}`.
    fn default() -> Self {
        Document::new(Value::Object(Map::new()))
    }
}

impl Document {
    pub fn new(root: Value) -> Self {
        Document { root }
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    /// §4.1: objects are walked by key; anything else on the way (arrays included) means
    /// "not found".
    pub fn get(&self, path: &[String]) -> Option<&Value> {
        let mut current = &self.root;
        for segment in path {
            current = current.as_object()?.get(segment)?;
        }
        Some(current)
    }

    pub fn apply(&mut self, modification: Modification) {
        match modification {
            Modification::Put { path, value } => self.put(&path, value),
            Modification::Delete { path } => self.delete(&path),
        }
    }

    /// §4.2: a non-object on the way is replaced by an object holding the rest of the path.
    pub fn put(&mut self, path: &[String], value: Value) {
        let mut current = &mut self.root;
        for segment in path {
            if !current.is_object() {
                *current = Value::Object(Map::new());
            }
            let Value::Object(map) = current else {
                unreachable!("replaced by an object just above");
            };
            current = map.entry(segment.as_str()).or_insert(Value::Null);
        }
        *current = value;
    }

    /// §4.3: deleting the root leaves `null`; a missing path is a no-op; emptied parents stay.
    pub fn delete(&mut self, path: &[String]) {
        let Some((last, parents)) = path.split_last() else {
            self.root = Value::Null;
            return;
        };
        let mut current = &mut self.root;
        for segment in parents {
            match current.as_object_mut().and_then(|map| map.get_mut(segment)) {
                Some(child) => current = child,
                None => return,
            }
        }
        if let Value::Object(map) = current {
            map.remove(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(path: &str) -> Vec<String> {
        if path.is_empty() { Vec::new() } else { path.split('/').map(str::to_owned).collect() }
    }

    fn put(before: Value, path: &str, value: Value) -> Value {
        let mut doc = Document::new(before);
        doc.put(&p(path), value);
        doc.root().clone()
    }

    fn delete(before: Value, path: &str) -> Value {
        let mut doc = Document::new(before);
        doc.delete(&p(path));
        doc.root().clone()
    }

    #[test]
    fn put_examples_from_the_spec() {
        assert_eq!(put(json!(null), "x", json!("Robert")), json!({"x": "Robert"}));
        assert_eq!(put(json!({"x": "Arian"}), "x", json!("Robert")), json!({"x": "Robert"}));
        assert_eq!(
            put(json!({"y": "Arian"}), "x", json!("Robert")),
            json!({"x": "Robert", "y": "Arian"})
        );
        assert_eq!(put(json!(null), "x/y", json!("Stefan")), json!({"x": {"y": "Stefan"}}));
        assert_eq!(
            put(json!({"x": {"y": "Nuno"}, "z": null}), "x/y", json!("Stefan")),
            json!({"x": {"y": "Stefan"}, "z": null})
        );
        assert_eq!(put(json!({"a": 5}), "a/b", json!(1)), json!({"a": {"b": 1}}));
        assert_eq!(put(json!({"a": [1, 2]}), "a/0", json!(9)), json!({"a": {"0": 9}}));
        assert_eq!(put(json!({"a": {"b": 1, "c": 2}}), "a", json!("C")), json!({"a": "C"}));
        assert_eq!(put(json!({"a": 1}), "", json!(5)), json!(5));
        assert_eq!(put(json!(5), "x", json!(1)), json!({"x": 1}));
    }

    #[test]
    fn delete_examples_from_the_spec() {
        assert_eq!(delete(json!({"a": 1}), "b"), json!({"a": 1}));
        assert_eq!(delete(json!({"a": 5}), "a/b"), json!({"a": 5}));
        assert_eq!(delete(json!({"a": {"b": 1}}), "a/b"), json!({"a": {}}));
        assert_eq!(delete(json!({"a": 1}), ""), json!(null));
        assert_eq!(delete(json!("s"), "a"), json!("s"));
    }

    #[test]
    fn lookup_never_indexes_arrays_or_scalars() {
        let doc = Document::new(json!({"a": [1, 2], "s": "x", "n": null}));
        assert_eq!(doc.get(&p("a/0")), None);
        assert_eq!(doc.get(&p("s/b")), None);
        assert_eq!(doc.get(&p("n")), Some(&json!(null)));
        assert_eq!(doc.get(&p("m")), None);
        assert_eq!(doc.get(&[]), Some(&json!({"a": [1, 2], "s": "x", "n": null})));
    }

    #[test]
    fn put_then_delete_is_not_found_and_writes_are_idempotent() {
        let starts = [json!(null), json!({}), json!({"a": {"b": 1}}), json!([1]), json!("s")];
        for start in starts {
            for path in ["a", "a/b", "a/b/c", "x//y"] {
                let path = p(path);
                let mut doc = Document::new(start.clone());
                doc.put(&path, json!({"v": 1}));
                let once = doc.clone();
                doc.put(&path, json!({"v": 1}));
                assert_eq!(doc, once);
                doc.delete(&path);
                let deleted = doc.clone();
                doc.delete(&path);
                assert_eq!(doc, deleted);
                assert_eq!(doc.get(&path), None);
            }
        }
    }

    #[test]
    fn long_paths_do_not_recurse() {
        let path: Vec<String> = (0..100_000).map(|i| (i % 7).to_string()).collect();
        // The value is built and dropped on a big stack: serde_json's Drop recurses, our code
        // must not.
        let result = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                let mut doc = Document::default();
                doc.put(&path, json!(1));
                let found = doc.get(&path) == Some(&json!(1));
                doc.delete(&path);
                found && doc.get(&path).is_none()
            })
            .and_then(|handle| handle.join().map_err(|_| std::io::Error::other("panicked")));
        assert!(result.unwrap_or(false));
    }
}
