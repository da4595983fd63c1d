//! `ws_message`: client messages of the multi-subscription protocol (`icepeak::multi`) on one
//! connection, with and without authorization. The input is split on NUL bytes into a sequence
//! of messages (a leading `B` byte makes one binary), so state carries from one to the next.

use std::time::Instant;

use icepeak::auth::Verifier;
use icepeak::multi::{Context, MultiSubscription, Outcome};
use icepeak::slab::Slab;
use icepeak::state::State;
use icepeak::ws::Incoming;
use serde_json::{Value, json};

pub fn check_ws_message(data: &[u8]) {
    for auth in [None, Some(Verifier::new(Some("foo"))), Some(Verifier::new(None))] {
        run(data, auth.as_ref());
    }
}

fn run(data: &[u8], auth: Option<&Verifier>) {
    let mut state = State::in_memory(json!({"A": {"A": "A", "B": "B"}, "B": "B"}));
    let key = Slab::default().insert(());
    let mut subscription = MultiSubscription::new(Instant::now());
    for message in data.split(|&byte| byte == 0) {
        let incoming = match message.strip_prefix(b"B") {
            Some(_) => Incoming::Binary,
            None => Incoming::Text(String::from_utf8_lossy(message).into_owned()),
        };
        let mut context = Context {
            state: &mut state,
            auth,
            subscriber: key,
            max_depth: 64,
            max_reply_bytes: 1 << 16,
            now_unix: 1.7e9,
        };
        let mut removed = Vec::new();
        let outcome = subscription.on_message(incoming, &mut context, |p| removed.push(p.to_vec()));
        match outcome {
            Outcome::Close(code, reason) => {
                assert!((3002..=3005).contains(&code), "close code {code}");
                assert!(!reason.is_empty());
                // After a close nothing else is processed on the connection.
                break;
            }
            Outcome::Reply(bytes) => check_reply(&bytes),
        }
        // Every path the connection holds is registered in the trie and nowhere else.
        for path in subscription.paths() {
            assert!(
                state.subscribers(path).is_some_and(|s| s.contains(&key)),
                "{path:?} not registered"
            );
        }
        for path in &removed {
            assert!(state.subscribers(path).is_none(), "{path:?} still registered");
        }
    }
}

fn check_reply(bytes: &[u8]) {
    let reply: Value = serde_json::from_slice(bytes).expect("replies are JSON");
    let kind = reply["type"].as_str().expect("a type");
    assert!(kind == "subscribe" || kind == "unsubscribe", "{reply}");
    let code = reply["code"].as_u64().expect("a code");
    assert!([200, 400, 401, 403].contains(&code), "{reply}");
    assert!(reply["message"].is_string(), "{reply}");
    if code == 400 {
        assert!(reply.get("paths").is_none(), "a malformed request has no paths: {reply}");
    } else {
        assert!(reply["paths"].is_array(), "{reply}");
    }
}
