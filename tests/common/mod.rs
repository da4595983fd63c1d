//! Black-box harness: starts the real `icepeak` binary on a free port with its own data
//! directory, and stops it at the end of the test.

#![allow(dead_code)] // each test crate uses a different part of the harness

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_icepeak");

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("icepeak-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
    pub data_file: PathBuf,
    pub args: Vec<String>,
}

impl Server {
    /// Starts on a fresh data directory (the data file does not exist yet).
    pub fn start(args: &[&str]) -> Server {
        let dir = TempDir::new("server");
        let data_file = dir.path().join("icepeak.json");
        Server::start_in(dir, data_file, args)
    }

    /// Starts with `content` as the data file.
    pub fn start_with_data(content: &[u8], args: &[&str]) -> Server {
        let dir = TempDir::new("server");
        let data_file = dir.path().join("icepeak.json");
        std::fs::write(&data_file, content).expect("write data file");
        Server::start_in(dir, data_file, args)
    }

    pub fn start_in(dir: TempDir, data_file: PathBuf, args: &[&str]) -> Server {
        let mut server = Server {
            child: None,
            port: free_port(),
            dir,
            data_file,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        server.launch();
        server
    }

    pub fn launch(&mut self) {
        let child = Command::new(BIN)
            .arg("--data-file")
            .arg(&self.data_file)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(&self.args)
            .env_remove("JWT_SECRET")
            .env_remove("ICEPEAK_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn icepeak");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("icepeak exited during start-up: {status}");
            }
            assert!(Instant::now() < deadline, "icepeak did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends a signal and waits for the exit status.
    pub fn signal_and_wait(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status =
            Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        assert!(status.map(|s| s.success()).unwrap_or(false), "kill -{signal}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "icepeak did not stop after SIG{signal}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        let status = self.signal_and_wait("TERM");
        assert!(status.success(), "stop: {status}");
        self.launch();
    }

    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        stream
    }

    /// GET through a real HTTP client: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        response_of(ureq::get(&self.url(path)).call())
    }

    pub fn put(&self, path: &str, body: &str) -> (u16, String) {
        response_of(ureq::put(&self.url(path)).send_string(body))
    }

    pub fn delete(&self, path: &str) -> (u16, String) {
        response_of(ureq::delete(&self.url(path)).call())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn response_of(result: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("request failed: {error}"),
    };
    let status = response.status();
    let mut body = String::new();
    response.into_reader().read_to_string(&mut body).expect("body");
    (status, body)
}

/// Reads one HTTP/1.1 response (Content-Length framed, as the server always sends) from a raw
/// stream: (status, headers, body). `head_only` for answers to HEAD.
pub fn read_response(stream: &mut TcpStream, head_only: bool) -> Option<(u16, String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; if head_only { 0 } else { length }];
    stream.read_exact(&mut body).ok()?;
    Some((status, head, body))
}

/// Sends raw bytes on a new connection and reads one response.
pub fn exchange(server: &Server, request: &[u8]) -> Option<(u16, String, Vec<u8>)> {
    let mut stream = server.connect();
    stream.write_all(request).ok()?;
    read_response(&mut stream, false)
}

/// True when the peer closes the connection within `timeout` (EOF or reset).
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + timeout;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}
