//! The document API through a real HTTP client and raw sockets (spec §3, §4).

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Server, exchange, read_response};

#[test]
fn put_get_delete_round_trip() {
    let server = Server::start(&[]);
    assert_eq!(server.get("/"), (200, "{}".to_owned()));
    assert_eq!(server.put("/foo/a", "123"), (202, String::new()));
    assert_eq!(server.get("/foo/a"), (200, "123".to_owned()));
    assert_eq!(server.get("/foo"), (200, r#"{"a":123}"#.to_owned()));
    assert_eq!(server.get("/missing"), (404, String::new()));
    assert_eq!(server.delete("/foo/a"), (202, String::new()));
    assert_eq!(server.get("/foo/a"), (404, String::new()));
    assert_eq!(server.get("/"), (200, r#"{"foo":{}}"#.to_owned()));
}

#[test]
fn response_headers_follow_the_original() {
    let server = Server::start(&[]);
    let response = ureq::get(&server.url("/")).call().expect("get");
    assert_eq!(response.header("Content-Type"), Some("application/json; charset=utf-8"));
    let accepted = ureq::put(&server.url("/x?durable")).send_string("1").expect("put");
    assert_eq!(accepted.status(), 202);
    assert_eq!(accepted.header("Content-Type"), None);
}

#[test]
fn values_round_trip_exactly_with_sorted_keys() {
    let server = Server::start(&[]);
    // Numbers come back the way the original writes them: 1e2 as 100, 1e-7 as 1.0e-7.
    let body = r#"{ "b": 12345678901234567890123, "a": {"d": [1.5, -0.25, 1e-7, 1e2, 1.50], "c": null}, "B": "é\n" }"#;
    assert_eq!(server.put("/v", body).0, 202);
    assert_eq!(
        server.get("/v").1,
        r#"{"B":"é\n","a":{"c":null,"d":[1.5,-0.25,1.0e-7,100,1.5]},"b":12345678901234567890123}"#
    );
    assert_eq!(server.put("/d", r#"{"k":1,"k":2}"#).0, 202);
    assert_eq!(server.get("/d").1, r#"{"k":1}"#, "the first duplicate key wins");
}

#[test]
fn malformed_bodies_get_400_with_a_reason() {
    let server = Server::start(&[]);
    for body in ["", "{bad", "1 2", "NaN", "[1,]"] {
        let (status, text) = server.put("/x", body);
        assert_eq!(status, 400, "{body:?}");
        assert!(text.starts_with(r#"{"error":""#), "{body:?}: {text}");
    }
    assert_eq!(server.get("/"), (200, "{}".to_owned()));
}

#[test]
fn method_filter_and_fallback_page() {
    let server = Server::start(&[]);
    let (status, head, body) =
        exchange(&server, b"YQUS / HTTP/1.1\r\nHost: x\r\n\r\n").expect("response");
    assert_eq!((status, body.as_slice()), (400, &b"{}"[..]));
    assert!(head.contains("Content-Type: application/json\r\n"), "{head}");
    let (status, _, body) =
        exchange(&server, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1")
            .expect("response");
    assert_eq!((status, body.as_slice()), (404, &b"<h1>404: File Not Found!</h1>"[..]));
}

#[test]
fn paths_keep_the_original_quirks() {
    let server = Server::start(&[]);
    for (path, value) in [("/foo/", "1"), ("/a%2Fb", "2"), ("/a+b", "3"), ("/%E2%82%AC", "4")] {
        assert_eq!(server.put(path, value).0, 202, "{path}");
    }
    assert_eq!(server.get("/").1, r#"{"a+b":3,"a/b":2,"foo":{"":1},"€":4}"#);
}

#[test]
fn keep_alive_and_pipelining_answer_in_order() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(
            b"PUT /p HTTP/1.1\r\nContent-Length: 5\r\n\r\n\"one\"GET /p HTTP/1.1\r\n\r\n\
              HEAD / HTTP/1.1\r\n\r\nDELETE /p HTTP/1.1\r\n\r\nGET /p HTTP/1.1\r\n\r\n",
        )
        .expect("write");
    let mut statuses = Vec::new();
    for head_only in [false, false, true, false, false] {
        let (status, _, body) = read_response(&mut stream, head_only).expect("response");
        statuses.push((status, String::from_utf8_lossy(&body).into_owned()));
    }
    assert_eq!(
        statuses,
        [(202, ""), (200, "\"one\""), (404, ""), (202, ""), (404, "")]
            .map(|(s, b)| (s, b.to_owned()))
    );
    // The connection is still usable afterwards.
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(read_response(&mut stream, false).map(|r| r.0), Some(200));
}

#[test]
fn chunked_bodies_and_expect_continue() {
    let server = Server::start(&[]);
    let (status, _, _) = exchange(
        &server,
        b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"a\":\r\n3\r\n[1]\r\n1\r\n}\r\n0\r\nTrailer: x\r\n\r\n",
    )
    .expect("response");
    assert_eq!(status, 202);
    assert_eq!(server.get("/c").1, r#"{"a":[1]}"#);

    let mut stream = server.connect();
    stream
        .write_all(b"PUT /e HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut stream, false).map(|r| r.0), Some(100));
    stream.write_all(b"true").expect("write");
    assert_eq!(read_response(&mut stream, false).map(|r| r.0), Some(202));
    assert_eq!(server.get("/e").1, "true");
}

#[test]
fn http10_and_connection_close_end_the_connection() {
    let server = Server::start(&[]);
    for request in [&b"GET / HTTP/1.0\r\n\r\n"[..], b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"]
    {
        let mut stream = server.connect();
        stream.write_all(request).expect("write");
        let (status, head, _) = read_response(&mut stream, false).expect("response");
        assert_eq!(status, 200);
        assert!(head.contains("Connection: close"), "{head}");
        assert!(common::closed_within(&mut stream, Duration::from_secs(5)));
    }
    let mut stream = server.connect();
    stream.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").expect("write");
    let (_, head, _) = read_response(&mut stream, false).expect("response");
    assert!(head.contains("Connection: keep-alive"), "{head}");
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
    assert_eq!(read_response(&mut stream, false).map(|r| r.0), Some(200));
}
