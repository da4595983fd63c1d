//! The smaller tools: the write-syscall floor, the fsync baseline, data generation, the naive
//! serde_json load, start-up timing and the snapshot-stall probe.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    addr, die, emit, proc_status_kb, quantile, self_cpu_secs, set_linger_zero, Http, Opts,
};

/// The write-syscall floor of S4: one thread writes 64 bytes to each of N loopback TCP
/// sockets (TCP_NODELAY, nobody reading, as a fan-out writes to many clients), `rounds` times.
/// N is bounded by the open-file limit (two descriptors per pair); the per-write cost is then
/// scaled to `--scale-to` sockets.
pub fn floor(opts: &Opts) {
    let n = opts.u64("k", 1000) as usize;
    let rounds = opts.u64("rounds", 20);
    let scale_to = opts.u64("scale-to", n as u64);
    let listener = TcpListener::bind(addr(0)).unwrap_or_else(|e| die(&e.to_string()));
    let port = listener.local_addr().expect("local addr").port();
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let client =
            TcpStream::connect(addr(port)).unwrap_or_else(|e| die(&format!("connect: {e}")));
        let (server, _) = listener.accept().unwrap_or_else(|e| die(&format!("accept: {e}")));
        server.set_nodelay(true).ok();
        server.set_nonblocking(true).ok();
        pairs.push((server, client));
    }
    let payload = [b'x'; 64];
    // One warm-up round.
    for (s, _) in &mut pairs {
        let _ = s.write(&payload);
    }
    let cpu0 = self_cpu_secs();
    let start = Instant::now();
    let mut failed = 0u64;
    for _ in 0..rounds {
        for (s, _) in &mut pairs {
            if s.write(&payload).map_or(true, |w| w != payload.len()) {
                failed += 1;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = self_cpu_secs() - cpu0;
    let writes = (rounds * n as u64) as f64;
    let per_write_us = elapsed * 1e6 / writes;
    for (s, c) in &pairs {
        set_linger_zero(s);
        set_linger_zero(c);
    }
    emit(&[
        ("sockets", n.to_string()),
        ("rounds", rounds.to_string()),
        ("failed", failed.to_string()),
        ("per_write_us", format!("{per_write_us:.3}")),
        ("cpu_per_write_us", format!("{:.3}", cpu * 1e6 / writes)),
        ("scaled_to", scale_to.to_string()),
        ("k_writes_ms", format!("{:.3}", per_write_us * scale_to as f64 / 1000.0)),
    ]);
}

/// One write of 64 bytes followed by one fdatasync (the call the write-ahead log uses), in a
/// loop, on the disk of `--dir`.
pub fn fsync(opts: &Opts) {
    let dir = opts.req("dir");
    let seconds = opts.f64("seconds", 3.0);
    let max = opts.u64("max", 100_000);
    let path = Path::new(&dir).join("fsync-baseline.log");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
    let payload = [b'y'; 64];
    let start = Instant::now();
    let limit = Duration::from_secs_f64(seconds);
    let mut n = 0u64;
    while n < max && start.elapsed() < limit {
        file.write_all(&payload).unwrap_or_else(|e| die(&e.to_string()));
        file.sync_data().unwrap_or_else(|e| die(&e.to_string()));
        n += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let _ = fs::remove_file(&path);
    emit(&[
        ("writes", n.to_string()),
        ("per_s", format!("{:.1}", n as f64 / elapsed)),
        ("avg_ms", format!("{:.3}", elapsed * 1e3 / n.max(1) as f64)),
    ]);
}

/// A deterministic JSON document of about `--bytes` bytes: user records under "users".
pub fn generate(opts: &Opts) {
    let out = opts.req("out");
    let bytes = opts.u64("bytes", 100_000_000);
    let file = File::create(&out).unwrap_or_else(|e| die(&format!("{out}: {e}")));
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let tags = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let cities = ["Amsterdam", "Utrecht", "Rotterdam", "Eindhoven", "Groningen", "Delft"];
    let mut written = 0u64;
    let mut i = 0u64;
    let put = |w: &mut BufWriter<File>, s: &str| {
        w.write_all(s.as_bytes()).unwrap_or_else(|e| die(&e.to_string()));
        s.len() as u64
    };
    written +=
        put(&mut w, "{\"meta\":{\"generator\":\"icepeak-loadgen\",\"version\":1},\"users\":{");
    while written < bytes.saturating_sub(300) || i == 0 {
        let mut x = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = || {
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51afd7ed558ccd);
            x ^= x >> 29;
            x
        };
        let record = format!(
            "{}\"u{i:08}\":{{\"active\":{},\"address\":{{\"city\":\"{}\",\"street\":\"{} Main Street\",\
             \"zip\":\"{:05}\"}},\"email\":\"user{i}@example.com\",\"id\":{i},\"name\":\"User Number {i}\",\
             \"score\":{}.{:02},\"tags\":[\"{}\",\"{}\"],\"visits\":{}}}",
            if i == 0 { "" } else { "," },
            next() % 2 == 0,
            cities[(next() % 6) as usize],
            next() % 1000,
            next() % 100_000,
            next() % 1000,
            next() % 100,
            tags[(next() % 6) as usize],
            tags[(next() % 6) as usize],
            next() % 1_000_000,
        );
        written += put(&mut w, &record);
        i += 1;
    }
    written += put(&mut w, "},\"zz_probe\":{\"records\":");
    written += put(&mut w, &format!("{i},\"status\":\"complete\"}}}}"));
    w.flush().unwrap_or_else(|e| die(&e.to_string()));
    emit(&[("out", out), ("bytes", written.to_string()), ("records", i.to_string())]);
}

/// The naive way to load a JSON file: read it whole, `serde_json::from_str` into a `Value`.
pub fn naive_load(opts: &Opts) {
    let path = opts.req("file");
    let start = Instant::now();
    let text = fs::read_to_string(&path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    drop(text);
    let elapsed = start.elapsed().as_secs_f64();
    std::hint::black_box(&value);
    emit(&[
        ("load_ms", format!("{:.1}", elapsed * 1e3)),
        ("hwm_kb", proc_status_kb("self", "VmHWM").unwrap_or(0).to_string()),
        ("rss_kb", proc_status_kb("self", "VmRSS").unwrap_or(0).to_string()),
    ]);
}

fn percent_encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A deep path near the end of the document (the last key at each level), and its value.
fn probe(doc: &Value) -> (String, Value) {
    let mut path = String::new();
    let mut v = doc;
    for _ in 0..8 {
        match v {
            Value::Object(map) if !map.is_empty() => {
                let (key, child) = map.iter().next_back().expect("non-empty");
                path.push('/');
                path.push_str(&percent_encode(key));
                v = child;
            }
            _ => break,
        }
    }
    (if path.is_empty() { "/".to_owned() } else { path }, v.clone())
}

/// Starts the command after `--`, and measures the time until a GET of a deep path of the data
/// file answers the right value; then the server's memory, then SIGTERM.
pub fn startup(opts: &Opts) {
    let port = opts.u64("port", 3000) as u16;
    let data = opts.req("data");
    let log = opts.req("log");
    let timeout = Duration::from_secs_f64(opts.f64("timeout", 60.0));
    if opts.rest.is_empty() {
        die("startup needs the server command after --");
    }
    let text = fs::read_to_string(&data).unwrap_or_else(|e| die(&format!("{data}: {e}")));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| die(&format!("{data}: {e}")));
    drop(text);
    let (probe_path, expected) = probe(&doc);
    drop(doc);
    let log_file = File::create(&log).unwrap_or_else(|e| die(&format!("{log}: {e}")));
    let start = Instant::now();
    let mut child = Command::new(&opts.rest[0])
        .args(&opts.rest[1..])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| die(&format!("spawn {}: {e}", opts.rest[0])));
    let pid = child.id();
    let mut attempts = 0u64;
    let mut wrong = 0u64;
    let ready = loop {
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            die(&format!(
                "not ready within {timeout:?} ({attempts} attempts, {wrong} wrong answers)"
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            die(&format!("server exited during start-up: {status}"));
        }
        attempts += 1;
        if let Ok(mut http) = Http::connect(port) {
            match http.request("GET", &probe_path, b"") {
                Ok((200, body)) => {
                    let ok = serde_json::from_slice::<Value>(&body).is_ok_and(|v| v == expected);
                    if ok {
                        break start.elapsed();
                    }
                    wrong += 1;
                }
                Ok(_) => wrong += 1,
                Err(_) => {}
            }
        }
        thread::sleep(Duration::from_millis(1));
    };
    let rss = proc_status_kb(&pid.to_string(), "VmRSS").unwrap_or(0);
    let hwm = proc_status_kb(&pid.to_string(), "VmHWM").unwrap_or(0);
    let stop_start = Instant::now();
    // SAFETY: signals our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let mut stopped = false;
    while stop_start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            stopped = true;
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    if !stopped {
        let _ = child.kill();
        let _ = child.wait();
    }
    emit(&[
        ("ready_ms", format!("{:.1}", ready.as_secs_f64() * 1e3)),
        ("probe", probe_path),
        ("attempts", attempts.to_string()),
        ("wrong", wrong.to_string()),
        ("rss_kb", rss.to_string()),
        ("hwm_kb", hwm.to_string()),
        ("stop_ms", format!("{:.0}", stop_start.elapsed().as_secs_f64() * 1e3)),
        ("stopped_by_sigterm", stopped.to_string()),
    ]);
}

/// The loop-stall probe: small PUTs at a fixed rate keep the document dirty (so snapshots
/// happen); a second connection GETs a small value in a loop and records each latency.
pub fn stall(opts: &Opts) {
    let port = opts.u64("port", 3000) as u16;
    let duration = Duration::from_secs_f64(opts.f64("duration", 10.0));
    let rate = opts.f64("put-rate", 200.0);
    let pause = Duration::from_micros(opts.u64("pause-us", 200));
    let mut http = Http::connect(port).unwrap_or_else(|e| die(&format!("connect: {e}")));
    match http.request("PUT", "/bench/probe", b"\"probe\"") {
        Ok((202, _)) => {}
        other => die(&format!("probe PUT: {other:?}")),
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let writer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut h = match Http::connect(port) {
                Ok(h) => h,
                Err(e) => return (0u64, 1u64, 0u64, Some(e.to_string())),
            };
            let (mut n, mut errors, mut max_us) = (0u64, 0u64, 0u64);
            let mut first_error = None;
            while !stop.load(Ordering::Relaxed) {
                let due = start + Duration::from_secs_f64(n as f64 / rate);
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                let t = Instant::now();
                let body = format!("{{\"n\":{n}}}");
                match h.request("PUT", &format!("/bench/s{}", n % 64), body.as_bytes()) {
                    Ok((202, _)) => {}
                    other => {
                        errors += 1;
                        first_error.get_or_insert(format!("{other:?}"));
                        if errors > 10 {
                            break;
                        }
                    }
                }
                max_us = max_us.max(t.elapsed().as_micros() as u64);
                n += 1;
            }
            (n, errors, max_us, first_error)
        })
    };
    let mut lats: Vec<(u64, u64)> = Vec::new();
    let mut get_errors = 0u64;
    while start.elapsed() < duration {
        let t = Instant::now();
        match http.request("GET", "/bench/probe", b"") {
            Ok((200, body)) if body == b"\"probe\"" => {}
            _ => {
                get_errors += 1;
                if get_errors > 10 {
                    break;
                }
                http = match Http::connect(port) {
                    Ok(h) => h,
                    Err(_) => break,
                };
            }
        }
        lats.push((t.elapsed().as_micros() as u64, t.duration_since(start).as_millis() as u64));
        thread::sleep(pause);
    }
    stop.store(true, Ordering::Relaxed);
    let (puts, put_errors, put_max_us, first_error) = writer.join().expect("writer");
    let mut top = lats.clone();
    top.sort_unstable_by_key(|x| std::cmp::Reverse(x.0));
    let top: Vec<String> = top.iter().take(5).map(|(l, at)| format!("{at}ms:{l}us")).collect();
    let mut sorted: Vec<u64> = lats.iter().map(|x| x.0).collect();
    sorted.sort_unstable();
    emit(&[
        ("gets", sorted.len().to_string()),
        ("get_errors", get_errors.to_string()),
        ("get_p50_us", quantile(&sorted, 0.5).to_string()),
        ("get_p99_us", quantile(&sorted, 0.99).to_string()),
        ("get_max_us", sorted.last().copied().unwrap_or(0).to_string()),
        ("puts", puts.to_string()),
        ("put_errors", put_errors.to_string()),
        ("put_max_us", put_max_us.to_string()),
        ("top", top.join(",")),
    ]);
    if let Some(e) = first_error {
        eprintln!("first PUT error: {e}");
    }
}
