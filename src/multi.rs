//! The multi-subscription protocol (`ws://host/?method=reusable`, spec §6.2): one connection,
//! many subscriptions, driven by JSON messages. Sans-IO: a client message in, a reply or a
//! close out; the connection code moves the bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::auth::{Mode, Verifier};
use crate::json;
use crate::path::split_plain;
use crate::slab::Key;
use crate::state::State;
use crate::storage::to_compact_json;
use crate::ws::Incoming;

const SUBSCRIBED: &str = "You've been successfully subscribed to the paths";
/// Path segments one connection may hold subscribed, summed over its distinct paths: a trie
/// node costs hundreds of bytes, and a 1 MB message could otherwise ask for a million.
pub const MAX_SEGMENTS_PER_CONNECTION: usize = 16_384;
const UNSUBSCRIBED: &str = "You've been successfully unsubscribed from the paths";
pub const OVERSIZED: (u16, &str) = (3001, "Received a payload size that is out of bounds");
const BINARY: (u16, &str) = (3002, "Received a payload using Binary instead of Text");
const NOT_JSON: (u16, &str) = (3003, "Received a payload that resulted in a JSON decode error");
const NOT_OBJECT: (u16, &str) = (3004, "Received a JSON payload which is not an object");
const BAD_TYPE: (u16, &str) =
    (3005, "Received a payload with a missing or unexpected value for 'type'");

/// What the connection must do with a client message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this JSON text to the client.
    Reply(Vec<u8>),
    /// Close the connection with this code and reason (§6.2.2).
    Close(u16, &'static str),
}

/// What a message needs besides the connection's own subscriptions.
pub struct Context<'a> {
    pub state: &'a mut State,
    /// `Some` with `--enable-jwt-auth`; a verifier without secret parses claims unverified (D9).
    pub auth: Option<&'a Verifier>,
    pub subscriber: Key,
    pub max_depth: usize,
    /// Largest subscribe reply built; more is refused before anything is registered.
    pub max_reply_bytes: usize,
    pub now_unix: f64,
}

pub struct MultiSubscription {
    /// Subscribed paths and the write sequence number each was (last) registered after.
    paths: BTreeMap<Vec<String>, u64>,
    /// Segments over `paths`, against `MAX_SEGMENTS_PER_CONNECTION`.
    segment_count: usize,
    /// A successful subscribe happened; before that the first-subscription deadline applies.
    subscribed_once: bool,
    deadline: Instant,
}

impl MultiSubscription {
    pub fn new(deadline: Instant) -> Self {
        MultiSubscription {
            paths: BTreeMap::new(),
            segment_count: 0,
            subscribed_once: false,
            deadline,
        }
    }

    pub fn paths(&self) -> impl Iterator<Item = &Vec<String>> {
        self.paths.keys()
    }

    /// After which write `path` was registered, if it is subscribed.
    pub fn registered_at(&self, path: &[String]) -> Option<u64> {
        self.paths.get(path).copied()
    }

    /// §6.2.1: the moment the connection is dropped unless it has subscribed successfully.
    pub fn deadline(&self) -> Option<Instant> {
        (!self.subscribed_once).then_some(self.deadline)
    }

    /// Handles one client message. `unsubscribed` receives the paths removed, so that their
    /// pending updates can be discarded.
    pub fn on_message(
        &mut self,
        message: Incoming,
        context: &mut Context<'_>,
        mut unsubscribed: impl FnMut(&[String]),
    ) -> Outcome {
        let text = match message {
            Incoming::Binary => return close(BINARY),
            Incoming::Text(text) => text,
        };
        let Ok(request) = json::parse(text.as_bytes(), context.max_depth) else {
            return close(NOT_JSON);
        };
        let Value::Object(request) = request else { return close(NOT_OBJECT) };
        match request.get("type").and_then(Value::as_str) {
            Some("subscribe") => self.subscribe(&request, context),
            Some("unsubscribe") => self.unsubscribe(&request, context, &mut unsubscribed),
            _ => close(BAD_TYPE),
        }
    }

    fn subscribe(&mut self, request: &Map<String, Value>, context: &mut Context<'_>) -> Outcome {
        let paths = match string_array(request, "paths") {
            Ok(paths) => paths,
            Err(detail) => {
                return malformed(
                    "subscribe",
                    &format!("Subscribe paths are missing or malformed: {detail}"),
                );
            }
        };
        let token = match request.get("token") {
            None | Some(Value::Null) => None,
            Some(Value::String(token)) => Some(token.as_str()),
            Some(other) => {
                let detail = format!(
                    "Subscribe token is not a string: Error in $.token: parsing Text failed, \
                     expected String, but encountered {}",
                    json::type_name(other)
                );
                return malformed("subscribe", &detail);
            }
        };
        let segments: Vec<Vec<String>> = paths.iter().map(|p| split_plain(p)).collect();
        if let Some(verifier) = context.auth
            && let Err(refusal) = authorize(verifier, token, &paths, &segments, context.now_unix)
        {
            return refusal;
        }
        if let Err(detail) = self.check_limits(&segments, context.max_depth) {
            return malformed("subscribe", &detail);
        }
        // D8: values are read and paths registered in the same step of the loop, so no write
        // can fall between them; the reply is built first so that an oversized one registers
        // nothing.
        let Some(reply) =
            subscribed_reply(&paths, &segments, context.state, context.max_reply_bytes)
        else {
            let detail = format!(
                "Subscription limit reached: the reply would exceed {} bytes; subscribe to fewer \
                 or smaller paths",
                context.max_reply_bytes
            );
            return malformed("subscribe", &detail);
        };
        let registered = context.state.write_seq();
        for path in segments {
            context.state.subscribe(&path, context.subscriber);
            let length = path.len();
            if self.paths.insert(path, registered).is_none() {
                self.segment_count += length;
            }
        }
        self.subscribed_once = true;
        Outcome::Reply(reply)
    }

    /// Bounded memory per connection: each path within `--max-depth`, all of them within
    /// `MAX_SEGMENTS_PER_CONNECTION`.
    fn check_limits(&self, segments: &[Vec<String>], max_depth: usize) -> Result<(), String> {
        if let Some(path) = segments.iter().find(|path| path.len() > max_depth) {
            return Err(format!(
                "Subscription limit reached: a path of {} segments is deeper than --max-depth {max_depth}",
                path.len()
            ));
        }
        let mut added = 0;
        let mut new_paths = BTreeSet::new();
        for path in segments {
            if !self.paths.contains_key(path) && new_paths.insert(path) {
                added += path.len();
            }
        }
        if self.segment_count + added > MAX_SEGMENTS_PER_CONNECTION {
            return Err(format!(
                "Subscription limit reached: at most {MAX_SEGMENTS_PER_CONNECTION} path segments \
                 per connection"
            ));
        }
        Ok(())
    }

    fn unsubscribe(
        &mut self,
        request: &Map<String, Value>,
        context: &mut Context<'_>,
        unsubscribed: &mut impl FnMut(&[String]),
    ) -> Outcome {
        let paths = match string_array(request, "paths") {
            Ok(paths) => paths,
            Err(detail) => {
                let detail = format!("Unsubscribe paths are missing or malformed: {detail}");
                return malformed("unsubscribe", &detail);
            }
        };
        let mut removed = Vec::new();
        for path in paths {
            let segments = split_plain(&path);
            if self.paths.remove(&segments).is_some() {
                self.segment_count -= segments.len();
                context.state.unsubscribe(&segments, context.subscriber);
                unsubscribed(&segments);
                removed.push(path);
            }
        }
        reply(json!({
            "type": "unsubscribe",
            "paths": removed,
            "code": 200,
            "message": UNSUBSCRIBED,
            "extra": {},
        }))
    }
}

/// §6.2.3: all or nothing; 401 without a token, 403 for a bad token or any path without read.
fn authorize(
    verifier: &Verifier,
    token: Option<&str>,
    paths: &[String],
    segments: &[Vec<String>],
    now_unix: f64,
) -> Result<(), Outcome> {
    let Some(token) = token else {
        return Err(reply(json!({
            "type": "subscribe",
            "code": 401,
            "message": "No authorisation token provided",
            "extra": null,
            "paths": paths,
        })));
    };
    let claim = verifier.verify(token.as_bytes(), now_unix).map_err(|error| {
        reply(json!({
            "type": "subscribe",
            "code": 403,
            "message": format!("Error while extracting claim from JWT: {}", error.multi_sub_detail()),
            "extra": null,
            "paths": paths,
        }))
    })?;
    let refused: Vec<&Vec<String>> =
        segments.iter().filter(|path| !claim.allows(path, Mode::Read)).collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(reply(json!({
        "type": "subscribe",
        "code": 403,
        "message": "Some paths are not authorised by the provided JWT claim",
        "extra": { "unauthorisedPaths": refused },
        "paths": paths,
    })))
}

/// The 200 answer with every requested path's current value, in request order. Assembled as
/// text so that large values are serialized once and never cloned into a temporary tree.
fn subscribed_reply(
    paths: &[String],
    segments: &[Vec<String>],
    state: &State,
    max_bytes: usize,
) -> Option<Vec<u8>> {
    let mut out = br#"{"type":"subscribe","code":200,"message":"#.to_vec();
    out.extend_from_slice(&to_compact_json(&Value::from(SUBSCRIBED)));
    out.extend_from_slice(br#","extra":{},"paths":["#);
    for (i, (path, segments)) in paths.iter().zip(segments).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"path":"#);
        out.extend_from_slice(&to_compact_json(&Value::from(path.as_str())));
        out.extend_from_slice(br#","value":"#);
        out.extend_from_slice(&to_compact_json(state.get(segments).unwrap_or(&Value::Null)));
        out.push(b'}');
        if out.len() > max_bytes {
            return None;
        }
    }
    out.extend_from_slice(b"]}");
    Some(out)
}

/// `{"type":"update","path":…,"value":…}` for one subscribed path (§6.2.5).
pub fn update_message(path: &[String], value_json: &[u8]) -> Vec<u8> {
    let mut out = br#"{"type":"update","path":"#.to_vec();
    out.extend_from_slice(&to_compact_json(&Value::from(path.join("/"))));
    out.extend_from_slice(br#","value":"#);
    out.extend_from_slice(value_json);
    out.push(b'}');
    out
}

/// The `paths` field as strings, or an aeson-style reason (§6.2.3; only its prefix matters).
fn string_array(request: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    let Some(value) = request.get(key) else {
        return Err(format!("Error in $: key \"{key}\" not found"));
    };
    let Value::Array(items) = value else {
        return Err(format!(
            "Error in $.{key}: parsing [] failed, expected Array, but encountered {}",
            json::type_name(value)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) => Ok(text.clone()),
            other => Err(format!(
                "Error in $.{key}[{i}]: parsing Text failed, expected String, but encountered {}",
                json::type_name(other)
            )),
        })
        .collect()
}

fn malformed(kind: &str, detail: &str) -> Outcome {
    let mut message = kind.to_owned();
    if let Some(first) = message.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    reply(json!({
        "type": kind,
        "code": 400,
        "message": format!("{message} request payload is malformed"),
        "extra": detail,
    }))
}

fn reply(value: Value) -> Outcome {
    Outcome::Reply(to_compact_json(&value))
}

fn close((code, reason): (u16, &'static str)) -> Outcome {
    Outcome::Close(code, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Slab;

    const FIXED_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpY2VwZWFrIjp7IndoaXRlbGlzdCI6W3sicHJlZml4IjpbImZvbyJdLCJtb2RlcyI6WyJyZWFkIl19LHsicHJlZml4IjpbImJhciIsImJheiJdLCJtb2RlcyI6WyJyZWFkIiwid3JpdGUiXX1dLCJ2ZXJzaW9uIjoxfX0.KeOHokJZuN-sPmIIGSDgRQFBtT4x-hoGgTtxhm2R5P8";

    struct Harness {
        state: State,
        key: Key,
        subscription: MultiSubscription,
        verifier: Option<Verifier>,
    }

    impl Harness {
        fn new(auth: Option<Verifier>) -> Self {
            let document = json!({"A": {"A": "A", "B": "B"}, "B": "B", "foo": {"x": 1}});
            Harness {
                state: State::in_memory(document),
                key: Slab::default().insert(()),
                subscription: MultiSubscription::new(Instant::now()),
                verifier: auth,
            }
        }

        fn send(&mut self, text: &str) -> Outcome {
            let mut context = Context {
                state: &mut self.state,
                auth: self.verifier.as_ref(),
                subscriber: self.key,
                max_depth: 64,
                max_reply_bytes: 4096,
                now_unix: 1.7e9,
            };
            self.subscription.on_message(Incoming::Text(text.to_owned()), &mut context, |_| {})
        }

        fn reply(&mut self, text: &str) -> Value {
            match self.send(text) {
                Outcome::Reply(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                other => panic!("expected a reply, got {other:?}"),
            }
        }
    }

    #[test]
    fn close_codes_follow_the_parsing_order() {
        let mut h = Harness::new(None);
        for (text, code) in [
            ("Hello", 3003),
            ("", 3003),
            ("3", 3004),
            ("[1]", 3004),
            ("{}", 3005),
            (r#"{"type":"Subscribe"}"#, 3005),
            (r#"{"type":5}"#, 3005),
        ] {
            assert!(matches!(h.send(text), Outcome::Close(c, _) if c == code), "{text}");
        }
        let mut context = Context {
            state: &mut h.state,
            auth: None,
            subscriber: h.key,
            max_depth: 64,
            max_reply_bytes: 4096,
            now_unix: 0.0,
        };
        assert_eq!(
            h.subscription.on_message(Incoming::Binary, &mut context, |_| {}),
            close(BINARY)
        );
    }

    #[test]
    fn subscribe_answers_values_in_request_order_and_registers() {
        let mut h = Harness::new(None);
        let answer = h.reply(r#"{"type":"subscribe","paths":["A/B","NULL","A/B"]}"#);
        assert_eq!(
            answer,
            json!({"type": "subscribe", "code": 200, "message": SUBSCRIBED, "extra": {},
                   "paths": [{"path": "A/B", "value": "B"}, {"path": "NULL", "value": null},
                             {"path": "A/B", "value": "B"}]})
        );
        assert!(h.subscription.deadline().is_none(), "the deadline is met");
        assert_eq!(h.subscription.paths().count(), 2);
        let unsubscribed = h.reply(r#"{"type":"unsubscribe","paths":["A/B","A/B","X"]}"#);
        assert_eq!(unsubscribed["paths"], json!(["A/B"]));
        assert_eq!(h.subscription.paths().count(), 1);
    }

    #[test]
    fn malformed_fields_get_400_without_paths() {
        let mut h = Harness::new(None);
        for (text, prefix) in [
            (r#"{"type":"subscribe"}"#, "Subscribe paths are missing or malformed: "),
            (r#"{"type":"subscribe","paths":[1]}"#, "Subscribe paths are missing or malformed: "),
            (
                r#"{"type":"subscribe","paths":["a"],"token":5}"#,
                "Subscribe token is not a string: ",
            ),
            (
                r#"{"type":"unsubscribe","paths":"a"}"#,
                "Unsubscribe paths are missing or malformed: ",
            ),
        ] {
            let answer = h.reply(text);
            assert_eq!(answer["code"], 400, "{text}");
            assert!(answer.get("paths").is_none(), "{text}");
            assert!(answer["extra"].as_str().unwrap_or_default().starts_with(prefix), "{answer}");
        }
        assert!(h.subscription.deadline().is_some(), "failures do not meet the deadline");
    }

    #[test]
    fn authorization_is_all_or_nothing() {
        let mut h = Harness::new(Some(Verifier::new(Some("foo"))));
        let answer = h.reply(r#"{"type":"subscribe","paths":["foo/x"]}"#);
        assert_eq!((answer["code"].clone(), answer["extra"].clone()), (json!(401), Value::Null));
        let bad = h.reply(r#"{"type":"subscribe","paths":["foo/x"],"token":"garbage"}"#);
        assert_eq!(bad["code"], 403);
        assert!(bad["message"].as_str().unwrap_or_default().starts_with("Error while extracting"));
        let text =
            format!(r#"{{"type":"subscribe","paths":["foo/x","B"],"token":"{FIXED_TOKEN}"}}"#);
        let partial = h.reply(&text);
        assert_eq!(partial["extra"], json!({"unauthorisedPaths": [["B"]]}));
        assert_eq!(h.subscription.paths().count(), 0, "nothing subscribed");
        let text = format!(r#"{{"type":"subscribe","paths":["foo/x"],"token":"{FIXED_TOKEN}"}}"#);
        assert_eq!(h.reply(&text)["code"], 200);
    }

    #[test]
    fn update_messages_echo_the_path() {
        let path = split_plain("/A/B");
        assert_eq!(update_message(&path, b"7"), br#"{"type":"update","path":"/A/B","value":7}"#);
    }

    #[test]
    fn limits_bound_memory_per_connection() {
        let mut h = Harness::new(None);
        let deep = vec!["a"; 65].join("/");
        let answer = h.reply(&format!(r#"{{"type":"subscribe","paths":["{deep}"]}}"#));
        assert_eq!(answer["code"], 400);
        assert!(answer["extra"].as_str().unwrap_or_default().contains("--max-depth 64"));
        let many: Vec<String> =
            (0..MAX_SEGMENTS_PER_CONNECTION / 4 + 1).map(|i| format!("\"p{i}/b/c/d\"")).collect();
        let answer = h.reply(&format!(r#"{{"type":"subscribe","paths":[{}]}}"#, many.join(",")));
        assert_eq!(answer["code"], 400, "{answer}");
        assert_eq!(h.subscription.paths().count(), 0, "nothing registered");
        // Re-subscribing paths already held costs nothing more.
        assert_eq!(h.reply(r#"{"type":"subscribe","paths":["A/A"]}"#)["code"], 200);
        let again: Vec<&str> = vec!["\"A/A\""; 300];
        let answer = h.reply(&format!(r#"{{"type":"subscribe","paths":[{}]}}"#, again.join(",")));
        assert_eq!(answer["code"], 400, "a 300-fold reply exceeds the 4096-byte bound");
        assert!(answer["extra"].as_str().unwrap_or_default().contains("exceed 4096 bytes"));
        assert_eq!(h.reply(r#"{"type":"unsubscribe","paths":["A/A"]}"#)["paths"], json!(["A/A"]));
        assert_eq!(h.subscription.segment_count, 0);
    }
}
