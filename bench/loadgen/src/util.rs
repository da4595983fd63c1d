//! Small helpers: options, /proc readings, percentiles, a keep-alive HTTP/1.1 client.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// `--name value` options; everything after `--` is kept in `rest`.
pub struct Opts {
    map: HashMap<String, String>,
    pub rest: Vec<String>,
}

impl Opts {
    pub fn parse(args: &[String]) -> Opts {
        let mut map = HashMap::new();
        let mut rest = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if a == "--" {
                rest = args[i + 1..].to_vec();
                break;
            }
            let Some(name) = a.strip_prefix("--") else { die(&format!("unexpected argument {a}")) };
            let Some(value) = args.get(i + 1) else { die(&format!("--{name} needs a value")) };
            map.insert(name.to_owned(), value.clone());
            i += 2;
        }
        Opts { map, rest }
    }

    pub fn str(&self, name: &str, default: &str) -> String {
        self.map.get(name).cloned().unwrap_or_else(|| default.to_owned())
    }

    pub fn req(&self, name: &str) -> String {
        self.map.get(name).cloned().unwrap_or_else(|| die(&format!("--{name} is required")))
    }

    pub fn u64(&self, name: &str, default: u64) -> u64 {
        match self.map.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("--{name}: not a number: {v}"))),
        }
    }

    pub fn f64(&self, name: &str, default: f64) -> f64 {
        match self.map.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("--{name}: not a number: {v}"))),
        }
    }
}

pub fn die(message: &str) -> ! {
    eprintln!("loadgen: {message}");
    std::process::exit(2)
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Raises the soft open-file limit to the hard one (10,000+ sockets per run).
pub fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on our own process with valid pointers.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// utime + stime of a process (all its threads), in seconds.
pub fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck())
}

/// A `Vm*` line of /proc/<pid>/status in KiB ("self" for our own).
pub fn proc_status_kb(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds used by this process so far (user + system, all threads).
pub fn self_cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        t(ru.ru_utime) + t(ru.ru_stime)
    }
}

/// Value at quantile `q` (0..=1) of a sorted slice.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Closes with RST instead of FIN: 10,000 client sockets per run would otherwise sit in
/// TIME_WAIT and use up the ephemeral ports for the next repetition.
pub fn set_linger_zero(stream: &impl AsRawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: valid fd and a pointer to a correctly sized struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// A blocking keep-alive HTTP/1.1 client for one connection.
pub struct Http {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    pub fn connect(port: u16) -> io::Result<Http> {
        let stream = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        Ok(Http { stream, buf: Vec::with_capacity(8192) })
    }

    /// Sends one request and reads its whole response: (status, body).
    pub fn request(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        let mut req = if body.is_empty() && method == "GET" {
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
        } else {
            format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes()
        };
        req.extend_from_slice(body);
        self.stream.write_all(&req)?;
        self.read_response()
    }

    fn read_response(&mut self) -> io::Result<(u16, Vec<u8>)> {
        let mut chunk = [0u8; 16384];
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end])
                    .map_err(|_| io::Error::other("response head is not UTF-8"))?;
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| io::Error::other(format!("bad status line: {head}")))?;
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .ok_or_else(|| io::Error::other(format!("no Content-Length in: {head}")))?;
                let total = end + 4 + length;
                while self.buf.len() < total {
                    let n = self.stream.read(&mut chunk)?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                let body = self.buf[end + 4..total].to_vec();
                self.buf.drain(..total);
                return Ok((status, body));
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses the payload `[seq,t_ns]` that the fan-out writers send.
pub fn parse_pair(p: &[u8]) -> Option<(u64, u64)> {
    let mut nums = [0u64; 2];
    let mut idx = 0;
    let mut in_num = false;
    for &b in p {
        if b.is_ascii_digit() {
            if idx >= 2 {
                return None;
            }
            nums[idx] = nums[idx] * 10 + u64::from(b - b'0');
            in_num = true;
        } else if in_num {
            in_num = false;
            idx += 1;
        }
    }
    if in_num {
        idx += 1;
    }
    (idx == 2).then_some((nums[0], nums[1]))
}

/// Formats `key=value` pairs on one line (the output format run.sh reads).
pub fn emit(pairs: &[(&str, String)]) {
    let line: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{}", line.join(" "));
}
