//! Command line, start-up and shut-down of the real binary (spec §8.2, §9.5, §11).

mod common;

use std::process::Command;

use common::{BIN, Server, TempDir, free_port};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env_remove("ICEPEAK_PORT").output().expect("run icepeak")
}

#[test]
fn help_describes_the_flags_and_exits_zero() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for flag in ["--data-file", "--port", "--max-body-size", "--max-depth", "--max-connections"] {
        assert!(text.contains(flag), "--help does not mention {flag}");
    }
}

#[test]
fn bad_flags_exit_one_with_usage_hint() {
    for args in [&["--no-such-flag"][..], &["--port", "notanumber"], &["--queue-capacity", "0"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--help"), "{args:?}: {stderr}");
    }
}

#[test]
fn corrupt_data_file_is_refused_and_left_untouched() {
    let dir = TempDir::new("corrupt");
    let path = dir.path().join("icepeak.json");
    std::fs::write(&path, b"{bad").expect("write");
    let port = free_port().to_string();
    let output = run(&["--data-file", path.to_str().expect("utf-8"), "--port", &port]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("Failed to decode the initial data in {}: ", path.display())),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&path).expect("read"), b"{bad");
}

#[test]
fn sqlite_is_refused_with_the_export_command() {
    let output = run(&["--sqlite", "--port", &free_port().to_string()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("sqlite3 icepeak.db"));
}

#[test]
fn busy_port_names_the_port() {
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = blocker.local_addr().expect("addr").port().to_string();
    let dir = TempDir::new("busy");
    let data = dir.path().join("d.json");
    let output = run(&[
        "--data-file",
        data.to_str().expect("utf-8"),
        "--host",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&port));
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert!(left.is_empty(), "a busy port must not leave files behind: {left:?}");
}

#[test]
fn missing_data_file_is_created_and_sigterm_saves_the_document() {
    let mut server = Server::start(&[]);
    assert_eq!(std::fs::read(&server.data_file).expect("created"), b"{}");
    assert_eq!(server.put("/foo/a", "123").0, 202);
    assert_eq!(server.put("/foo/b", r#"{"z":1,"y":[true]}"#).0, 202);
    let status = server.signal_and_wait("TERM");
    assert!(status.success(), "{status}");
    assert_eq!(
        std::fs::read_to_string(&server.data_file).expect("saved"),
        r#"{"foo":{"a":123,"b":{"y":[true],"z":1}}}"#
    );
}

#[test]
fn sigint_is_graceful_and_a_restart_keeps_the_data() {
    let mut server = Server::start_with_data(b"", &[]);
    assert_eq!(server.get("/").1, "{}");
    assert_eq!(server.put("/k", "\"v\"").0, 202);
    assert!(server.signal_and_wait("INT").success());
    server.launch();
    assert_eq!(server.get("/k").1, "\"v\"");
}

#[test]
fn very_deep_data_files_load_and_serve() {
    // The loader accepts 10,000 levels (the original had no limit); serializing and dropping
    // such a document must not overflow the stack.
    let depth = 10_000;
    let document = format!("{}1{}", "{\"a\":".repeat(depth - 1), "}".repeat(depth - 1));
    let mut server = Server::start_with_data(document.as_bytes(), &[]);
    assert_eq!(server.get("/").1, document);
    assert_eq!(server.put("/", "{}").0, 202, "replacing drops the deep value");
    assert!(server.alive());
    let too_deep = format!("{}1{}", "[".repeat(10_001), "]".repeat(10_001));
    let dir = TempDir::new("too-deep");
    let path = dir.path().join("d.json");
    std::fs::write(&path, &too_deep).expect("write");
    let output =
        run(&["--data-file", path.to_str().expect("utf-8"), "--port", &free_port().to_string()]);
    assert_eq!(output.status.code(), Some(1));
}
