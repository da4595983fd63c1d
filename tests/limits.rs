//! Bad input and limits (D14): every refusal is a clear answer, and the server keeps serving.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, closed_within, exchange, read_response};

fn assert_serves(server: &mut Server) {
    assert!(server.alive(), "server died");
    assert_eq!(server.get("/").0, 200);
}

#[test]
fn body_limit_is_exact_and_checked_before_reading() {
    let mut server = Server::start(&["--max-body-size", "100"]);
    let at_limit = format!("\"{}\"", "a".repeat(98));
    assert_eq!(server.put("/b", &at_limit).0, 202);
    let over = format!("\"{}\"", "a".repeat(99));
    assert_eq!(server.put("/b", &over).0, 413);
    let started = Instant::now();
    let response =
        exchange(&server, b"PUT /b HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n\"aaaa");
    assert_eq!(response.map(|r| r.0), Some(413));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.get("/b").1, at_limit);
    assert_serves(&mut server);
}

#[test]
fn oversized_head_is_431() {
    let mut server = Server::start(&["--max-header-size", "4096"]);
    let mut request = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 8192));
    request.extend_from_slice(b"\r\n\r\n");
    assert_eq!(exchange(&server, &request).map(|r| r.0), Some(431));
    // A 3 KB token-sized header still passes.
    let mut request = b"GET / HTTP/1.1\r\nAuthorization: Bearer ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 3000));
    request.extend_from_slice(b"\r\n\r\n");
    assert_eq!(exchange(&server, &request).map(|r| r.0), Some(200));
    assert_serves(&mut server);
}

#[test]
fn depth_limit_counts_path_and_value() {
    let mut server = Server::start(&["--max-depth", "10"]);
    assert_eq!(server.put("/a/b", &format!("{}{}", "[".repeat(8), "]".repeat(8))).0, 202);
    let (status, body) = server.put("/a/b", &format!("{}{}", "[".repeat(9), "]".repeat(9)));
    assert_eq!(status, 400);
    assert!(body.contains("--max-depth 10"), "{body}");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(server.put("/x", &deep).0, 400);
    assert_eq!(server.put(&"/s".repeat(10), "1").0, 400);
    assert_serves(&mut server);
}

#[test]
fn framing_attacks_are_400() {
    let mut server = Server::start(&[]);
    for request in [
        &b"PUT /s HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n1\r\n0\r\n\r\n"[..],
        b"PUT /s HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n12",
        b"PUT /s HTTP/1.1\r\nContent-Length: -1\r\n\r\n1",
        b"PUT /s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    ] {
        let status = exchange(&server, request).map(|r| r.0);
        assert!(status.is_none() || status == Some(400), "{status:?} for {request:?}");
    }
    assert_eq!(
        exchange(&server, b"PUT /s HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").map(|r| r.0),
        Some(501)
    );
    assert_eq!(server.get("/s").0, 404, "nothing was stored");
    assert_serves(&mut server);
}

#[test]
fn slow_heads_are_cut_off_and_idle_connections_closed() {
    let mut server = Server::start(&["--header-timeout", "1", "--idle-timeout", "2"]);
    let mut slow = server.connect();
    slow.write_all(b"GET / HTTP/1.1\r\nX-Slow: a").expect("write");
    let started = Instant::now();
    let response = read_response(&mut slow, false);
    assert_eq!(response.map(|r| r.0), Some(408));
    assert!(started.elapsed() < Duration::from_secs(4));

    let mut idle = server.connect();
    let started = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(6)));
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_serves(&mut server);
}

#[test]
fn connections_over_the_limit_are_refused_and_the_rest_served() {
    let mut server = Server::start(&["--max-connections", "3"]);
    let held: Vec<TcpStream> = (0..3).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut refused = server.connect();
    assert!(closed_within(&mut refused, Duration::from_secs(5)), "fourth connection refused");
    let mut first = held.into_iter().next().expect("held");
    first.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(read_response(&mut first, false).map(|r| r.0), Some(200));
    drop(first);
    std::thread::sleep(Duration::from_millis(200));
    assert_serves(&mut server);
}

fn rss_kb(server: &Server) -> u64 {
    let pid = server.child.as_ref().map(|c| c.id()).expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

#[test]
fn clients_that_do_not_read_share_one_copy_of_a_large_document() {
    let mut server = Server::start(&[]);
    let big = format!("\"{}\"", "x".repeat(4 << 20));
    assert_eq!(server.put("/big", &big).0, 202);
    assert_eq!(server.get("/big").1.len(), big.len());
    let before = rss_kb(&server);
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(b"GET /big HTTP/1.1\r\n\r\n").expect("write");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let grown_mb = (rss_kb(&server).saturating_sub(before)) / 1024;
    // 40 private copies would be 160 MB; shared, the growth is the sockets' bookkeeping.
    assert!(grown_mb < 40, "RSS grew by {grown_mb} MB for 40 readers of one 4 MB value");
    drop(idle);
    assert_serves(&mut server);
}
