//! WebSocket push through a real WebSocket client (tungstenite): the original's integration
//! scenarios, the multi-subscription protocol at scale, and the graceful 1001 on SIGTERM.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::Server;
use serde_json::{Value, json};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket, connect};

type Client = WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn open(server: &Server, path: &str) -> Client {
    let (socket, response) =
        connect(format!("ws://127.0.0.1:{}{path}", server.port)).expect("websocket upgrade");
    assert_eq!(response.status(), 101);
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    }
    socket
}

fn next_json(socket: &mut Client) -> Value {
    loop {
        match socket.read().expect("a message") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn read_after_write_through_the_first_frame() {
    let server = Server::start(&[]);
    for (path, body, root) in [
        ("/", "{}", json!({})),
        ("/", r#"{"so":{}}"#, json!({"so": {}})),
        ("/so", r#"{"cool":{}}"#, json!({"so": {"cool": {}}})),
        ("/so/hot", "{}", json!({"so": {"cool": {}, "hot": {}}})),
    ] {
        assert_eq!(server.put(&format!("{path}?durable"), body).0, 202);
        let mut socket = open(&server, "/");
        assert_eq!(next_json(&mut socket), root);
    }
}

#[test]
fn ten_clients_on_one_path_see_the_same_updates() {
    let server = Server::start(&[]);
    assert_eq!(server.put("/so/cool?durable", "null").0, 202);
    let mut clients: Vec<Client> = (0..10).map(|_| open(&server, "/so/cool")).collect();
    for client in &mut clients {
        assert_eq!(next_json(client), Value::Null);
    }
    assert_eq!(server.put("/so/cool", r#"{"status":"freezing"}"#).0, 202);
    for client in &mut clients {
        assert_eq!(next_json(client), json!({"status": "freezing"}));
    }
}

#[test]
fn one_connection_with_a_thousand_subscriptions() {
    let server = Server::start(&["--first-subscription-deadline-timeout", "30000000"]);
    let paths: Vec<String> = (0..1000).map(|i| format!("group{}/item{i}", i % 10)).collect();
    let mut socket = open(&server, "/?method=reusable");
    let request = json!({"type": "subscribe", "paths": paths});
    socket.send(Message::text(request.to_string())).expect("send");
    let reply = next_json(&mut socket);
    assert_eq!(reply["code"], 200);
    assert_eq!(reply["paths"].as_array().map(Vec::len), Some(1000));

    // One write touches the 100 paths of group3 at once; another touches group5 twice.
    let group3: serde_json::Map<String, Value> =
        (0..1000).filter(|i| i % 10 == 3).map(|i| (format!("item{i}"), json!(i))).collect();
    assert_eq!(server.put("/group3?durable", &Value::Object(group3).to_string()).0, 202);
    assert_eq!(server.put("/group5/item5?durable", "\"first\"").0, 202);
    assert_eq!(server.put("/group5/item5?durable", "\"latest\"").0, 202);
    assert_eq!(server.put("/unrelated?durable", "1").0, 202);

    let mut seen: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    while seen.get("group5/item5").and_then(|v| v.last()) != Some(&json!("latest")) {
        let update = next_json(&mut socket);
        assert_eq!(update["type"], "update");
        let path = update["path"].as_str().expect("path").to_owned();
        seen.entry(path).or_default().push(update["value"].clone());
    }
    let group3_updates: Vec<_> = seen.iter().filter(|(p, _)| p.starts_with("group3/")).collect();
    assert_eq!(group3_updates.len(), 100, "one message per notified path");
    for (path, values) in group3_updates {
        let index: u64 = path.trim_start_matches("group3/item").parse().expect("index");
        assert_eq!(values, &vec![json!(index)], "exactly one update for {path}");
    }
    assert!(seen.keys().all(|p| p.starts_with("group3/") || p == "group5/item5"), "{seen:?}");
}

#[test]
fn sigterm_closes_websockets_with_1001() {
    let mut server = Server::start(&[]);
    let mut socket = open(&server, "/x");
    assert_eq!(next_json(&mut socket), Value::Null);
    let status = server.signal_and_wait("TERM");
    assert!(status.success(), "{status}");
    match socket.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
}

#[test]
fn subscriptions_deeper_than_the_limit_are_refused() {
    let server = Server::start(&["--max-depth", "8"]);
    let deep: String = (0..9).map(|i| format!("/s{i}")).collect();
    match connect(format!("ws://127.0.0.1:{}{deep}", server.port)) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected a 400 refusal, got {other:?}"),
    }
    let shallow: String = (0..8).map(|i| format!("/s{i}")).collect();
    let mut socket = open(&server, &shallow);
    assert_eq!(next_json(&mut socket), Value::Null);
}

#[test]
fn every_write_is_notified_even_when_pipelined_into_one_loop_turn() {
    use std::io::Write;
    let server = Server::start(&[]);
    let mut socket = open(&server, "/counter");
    assert_eq!(next_json(&mut socket), Value::Null);
    let mut writer = server.connect();
    let burst: Vec<u8> = (0..30)
        .flat_map(|i| {
            format!("PUT /counter HTTP/1.1\r\nContent-Length: {}\r\n\r\n{i}", i.to_string().len())
                .into_bytes()
        })
        .collect();
    writer.write_all(&burst).expect("write");
    for _ in 0..30 {
        assert_eq!(common::read_response(&mut writer, false).map(|r| r.0), Some(202));
    }
    let seen: Vec<Value> = (0..30).map(|_| next_json(&mut socket)).collect();
    assert_eq!(
        seen,
        (0..30).map(|i| json!(i)).collect::<Vec<_>>(),
        "one update per write, in order"
    );
}
