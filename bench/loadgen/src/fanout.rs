//! S4 fan-out: K subscribers on one path (or Redis channel) plus idle subscribers elsewhere; one
//! writer PUTs (or PUBLISHes) `[seq,t_ns]` at a fixed rate; every delivery is timed against the
//! send instant embedded in the value. Receiving runs on one thread over mio (edge-triggered);
//! the writer is a second thread with a keep-alive connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tungstenite::client::client_with_config;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::util::{
    addr, die, emit, parse_pair, proc_cpu_secs, proc_status_kb, quantile, self_cpu_secs,
    set_linger_zero, Http, Opts,
};

/// A socket that, once non-blocking, reports WouldBlock after a short read without asking
/// the kernel again: a short read drained the receive queue, and with edge-triggered epoll any
/// later data raises a new event. Saves one read syscall per message in the load generator.
pub struct Sock {
    pub s: TcpStream,
    short_reads: bool,
    drained: bool,
}

impl Sock {
    pub fn new(s: TcpStream) -> Sock {
        Sock { s, short_reads: false, drained: false }
    }

    pub fn go_nonblocking(&mut self) -> io::Result<()> {
        self.s.set_nonblocking(true)?;
        self.short_reads = true;
        Ok(())
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.s.read(buf)?;
        if self.short_reads && n > 0 && n < buf.len() {
            self.drained = true;
        }
        Ok(n)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.s.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.s.flush()
    }
}

pub fn ws_config() -> WebSocketConfig {
    // Small buffers: 11,000 connections with tungstenite's default 128 KiB each would cost GBs.
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

/// Opens a single-subscription WebSocket on `path` and reads its first frame (the current
/// value), blocking; then switches the socket to non-blocking.
pub fn ws_connect(port: u16, path: &str) -> Result<WebSocket<Sock>, String> {
    let s = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let url = format!("ws://127.0.0.1:{port}{path}");
    let (mut ws, _) = client_with_config(url.as_str(), Sock::new(s), Some(ws_config()))
        .map_err(|e| format!("handshake on {path}: {e}"))?;
    match ws.read() {
        Ok(Message::Text(_)) => {}
        Ok(other) => return Err(format!("first frame on {path} is not text: {other:?}")),
        Err(e) => return Err(format!("no first frame on {path}: {e}")),
    }
    ws.get_mut().go_nonblocking().map_err(|e| e.to_string())?;
    Ok(ws)
}

/// A Redis connection in subscriber mode, parsed by hand (RESP2 arrays of bulk strings).
pub struct RedisConn {
    pub sock: Sock,
    buf: Vec<u8>,
}

impl RedisConn {
    pub fn connect(port: u16) -> Result<RedisConn, String> {
        let s = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
            .map_err(|e| format!("connect to redis: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        Ok(RedisConn { sock: Sock::new(s), buf: Vec::with_capacity(256) })
    }

    /// Sends a command and reads one reply, blocking (set-up only).
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
        self.sock.s.write_all(&resp_command(args)).map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((used, items)) = parse_resp(&self.buf) {
                self.buf.drain(..used);
                return Ok(items);
            }
            let n = self.sock.s.read(&mut chunk).map_err(|e| format!("redis read: {e}"))?;
            if n == 0 {
                return Err("redis closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

pub fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One RESP2 reply: a simple string/integer/error line, a bulk string, or an array of those.
/// Returns the bytes used and the items (a scalar reply is one item).
pub fn parse_resp(buf: &[u8]) -> Option<(usize, Vec<Vec<u8>>)> {
    fn line(buf: &[u8], from: usize) -> Option<(usize, &[u8])> {
        let end = buf[from..].windows(2).position(|w| w == b"\r\n")? + from;
        Some((end + 2, &buf[from..end]))
    }
    fn item(buf: &[u8], from: usize) -> Option<(usize, Vec<u8>)> {
        let (next, l) = line(buf, from)?;
        match l.first()? {
            b'$' => {
                let n: isize = std::str::from_utf8(&l[1..]).ok()?.parse().ok()?;
                if n < 0 {
                    return Some((next, Vec::new()));
                }
                let end = next + n as usize;
                if buf.len() < end + 2 {
                    return None;
                }
                Some((end + 2, buf[next..end].to_vec()))
            }
            _ => Some((next, l.to_vec())),
        }
    }
    if buf.first()? == &b'*' {
        let (mut pos, l) = line(buf, 0)?;
        let n: usize = std::str::from_utf8(&l[1..]).ok()?.parse().ok()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let (next, it) = item(buf, pos)?;
            items.push(it);
            pos = next;
        }
        Some((pos, items))
    } else {
        let (pos, it) = item(buf, 0)?;
        Some((pos, vec![it]))
    }
}

// The size difference does not matter: one value per connection, never moved after set-up.
#[allow(clippy::large_enum_variant)]
enum Sub {
    Ws(WebSocket<Sock>),
    Redis(RedisConn),
}

impl Sub {
    fn fd(&self) -> i32 {
        match self {
            Sub::Ws(ws) => ws.get_ref().s.as_raw_fd(),
            Sub::Redis(r) => r.sock.s.as_raw_fd(),
        }
    }
    fn sock(&mut self) -> &mut Sock {
        match self {
            Sub::Ws(ws) => ws.get_mut(),
            Sub::Redis(r) => &mut r.sock,
        }
    }
}

#[derive(Default, Clone)]
struct Track {
    last_seq: u64,
    got: u64,
    disorder: u64,
    dead: bool,
}

struct WriterReport {
    sent: u64,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    receivers_mismatch: u64,
    ack_p99_us: u64,
    last_send: Instant,
    first_send: Instant,
}

pub fn run(opts: &Opts) {
    let proto = opts.str("proto", "ws");
    let port = opts.u64("port", 3000) as u16;
    let k = opts.u64("k", 100) as usize;
    let others = opts.u64("others", 1000) as usize;
    let rate = opts.f64("rate", 100.0);
    let duration = opts.f64("duration", 10.0);
    let settle = opts.f64("settle", 3.0);
    let pid = opts.u64("pid", 0) as u32;
    let puts = (rate * duration).round().max(1.0) as u64;
    let redis = match proto.as_str() {
        "ws" => false,
        "redis" => true,
        other => die(&format!("unknown --proto {other}")),
    };

    let base = Instant::now();
    // Prepare the value so that every subscriber's first frame is the same known one.
    if !redis {
        let mut http = Http::connect(port).unwrap_or_else(|e| die(&format!("connect: {e}")));
        let (status, _) = http
            .request("PUT", "/fan/x", b"[0,0]")
            .unwrap_or_else(|e| die(&format!("initial PUT: {e}")));
        if status != 202 {
            die(&format!("initial PUT answered {status}"));
        }
    }

    // Connect: the unrelated subscribers first, then the K on the hot path.
    let setup_start = Instant::now();
    let mut subs: Vec<Sub> = Vec::with_capacity(k + others);
    for i in 0..others + k {
        let hot = i >= others;
        let sub = if redis {
            let mut c = RedisConn::connect(port).unwrap_or_else(|e| die(&e));
            let channel = if hot { "fan".to_owned() } else { format!("other:{i}") };
            let reply = c
                .command(&[b"SUBSCRIBE", channel.as_bytes()])
                .unwrap_or_else(|e| die(&format!("SUBSCRIBE: {e}")));
            if reply.first().map(Vec::as_slice) != Some(b"subscribe") {
                die("unexpected SUBSCRIBE reply");
            }
            c.sock.go_nonblocking().unwrap_or_else(|e| die(&e.to_string()));
            Sub::Redis(c)
        } else {
            let path = if hot { "/fan/x".to_owned() } else { format!("/other/{i}") };
            Sub::Ws(
                ws_connect(port, &path).unwrap_or_else(|e| die(&format!("subscriber {i}: {e}"))),
            )
        };
        subs.push(sub);
    }
    let setup_secs = setup_start.elapsed().as_secs_f64();

    let mut poll = Poll::new().unwrap_or_else(|e| die(&e.to_string()));
    for (i, sub) in subs.iter().enumerate() {
        poll.registry()
            .register(&mut SourceFd(&sub.fd()), Token(i), Interest::READABLE)
            .unwrap_or_else(|e| die(&format!("register: {e}")));
    }
    thread::sleep(Duration::from_millis(300));
    let rss_kb = if pid > 0 { proc_status_kb(&pid.to_string(), "VmRSS").unwrap_or(0) } else { 0 };

    // Measurement window starts.
    let server_cpu0 = if pid > 0 { proc_cpu_secs(pid) } else { None };
    let self_cpu0 = self_cpu_secs();
    let window_start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        thread::spawn(move || writer(redis, port, rate, puts, k, base, stop))
    };

    let mut tracks = vec![Track::default(); subs.len()];
    let mut latencies: Vec<u64> = Vec::with_capacity((k as u64 * puts).min(50_000_000) as usize);
    // Per PUT: the latest delivery (fan-out completion time).
    let mut fan_done = vec![0u64; puts as usize + 1];
    // Per PUT: how many hot subscribers got it.
    let mut seq_count = vec![0u32; puts as usize + 1];
    let mut spurious = 0u64;
    let mut conn_errors = 0u64;
    let mut first_conn_error: Option<String> = None;
    let mut complete = 0usize;
    let mut last_delivery = window_start;
    let mut events = Events::with_capacity(4096);
    let mut chunk = vec![0u8; 65536];
    let mut batch: Vec<(Option<(u64, u64)>, u64)> = Vec::with_capacity(64);
    let hard_deadline = window_start + Duration::from_secs_f64(duration + settle + 30.0);
    let mut writer_done_at: Option<Instant> = None;
    let mut writer_handle = Some(writer);
    let mut report: Option<WriterReport> = None;
    loop {
        let now = Instant::now();
        if complete == k && writer_done_at.is_some() {
            break;
        }
        if let Some(done) = writer_done_at {
            if now >= done + Duration::from_secs_f64(settle) {
                break;
            }
        }
        if now >= hard_deadline {
            stop.store(true, Ordering::Relaxed);
            break;
        }
        if writer_done_at.is_none() && writer_handle.as_ref().is_some_and(|h| h.is_finished()) {
            report = writer_handle.take().map(|h| h.join().expect("writer thread"));
            writer_done_at = Some(Instant::now());
            continue;
        }
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(20))) {
            if e.kind() != io::ErrorKind::Interrupted {
                die(&format!("poll: {e}"));
            }
        }
        for ev in events.iter() {
            let idx = ev.token().0;
            let hot = idx >= others;
            let sub = &mut subs[idx];
            let track = &mut tracks[idx];
            if track.dead {
                continue;
            }
            sub.sock().drained = false;
            batch.clear();
            match sub {
                Sub::Ws(ws) => loop {
                    match ws.read() {
                        Ok(Message::Text(t)) => {
                            let now_ns = base.elapsed().as_nanos() as u64;
                            batch.push((parse_pair(t.as_bytes()), now_ns));
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            break
                        }
                        Err(e) => {
                            conn_errors += 1;
                            first_conn_error
                                .get_or_insert_with(|| format!("subscriber {idx}: {e}"));
                            track.dead = true;
                            break;
                        }
                    }
                },
                Sub::Redis(r) => loop {
                    match r.sock.read(&mut chunk) {
                        Ok(0) => {
                            conn_errors += 1;
                            first_conn_error
                                .get_or_insert_with(|| format!("subscriber {idx}: closed"));
                            track.dead = true;
                            break;
                        }
                        Ok(n) => {
                            r.buf.extend_from_slice(&chunk[..n]);
                            let now_ns = base.elapsed().as_nanos() as u64;
                            let mut used = 0;
                            while let Some((u, items)) = parse_resp(&r.buf[used..]) {
                                used += u;
                                if items.len() == 3 && items[0] == b"message" {
                                    batch.push((parse_pair(&items[2]), now_ns));
                                }
                            }
                            r.buf.drain(..used);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            conn_errors += 1;
                            first_conn_error
                                .get_or_insert_with(|| format!("subscriber {idx}: {e}"));
                            track.dead = true;
                            break;
                        }
                    }
                },
            }
            for &(pair, now_ns) in &batch {
                if !hot {
                    spurious += 1;
                    continue;
                }
                let Some((seq, sent)) = pair else {
                    conn_errors += 1;
                    first_conn_error
                        .get_or_insert_with(|| format!("subscriber {idx}: bad payload"));
                    continue;
                };
                if seq == 0 {
                    continue;
                }
                if seq <= track.last_seq {
                    track.disorder += 1;
                    continue;
                }
                track.last_seq = seq;
                track.got += 1;
                let lat = now_ns.saturating_sub(sent);
                latencies.push(lat);
                if let Some(slot) = fan_done.get_mut(seq as usize) {
                    *slot = (*slot).max(lat);
                }
                if let Some(c) = seq_count.get_mut(seq as usize) {
                    *c += 1;
                }
                if seq == puts {
                    complete += 1;
                }
                last_delivery = Instant::now();
            }
        }
    }
    let window_end = Instant::now();
    let server_cpu1 = if pid > 0 { proc_cpu_secs(pid) } else { None };
    let self_cpu1 = self_cpu_secs();
    let report = match report {
        Some(r) => r,
        None => {
            stop.store(true, Ordering::Relaxed);
            writer_handle.take().map(|h| h.join().expect("writer thread")).expect("writer")
        }
    };

    for sub in &subs {
        match sub {
            Sub::Ws(ws) => set_linger_zero(&ws.get_ref().s),
            Sub::Redis(r) => set_linger_zero(&r.sock.s),
        }
    }
    drop(subs);

    let hot = &tracks[others..];
    let delivered: u64 = hot.iter().map(|t| t.got).sum();
    let expected = report.ok * k as u64;
    // A PUT that no subscriber received was replaced by a newer write to the same path before
    // the server broadcast (writes applied in one loop turn are merged: subscribers get the
    // latest value). A PUT that some subscribers got and others did not is a per-connection
    // loss (or per-connection coalescing of a slow reader).
    let last_seq = report.ok as usize;
    let skipped_puts = (1..=last_seq).filter(|&s| seq_count[s] == 0).count() as u64;
    let lost: u64 = (1..=last_seq)
        .filter(|&s| seq_count[s] > 0)
        .map(|s| (k as u64).saturating_sub(u64::from(seq_count[s])))
        .sum();
    let not_final = hot.iter().filter(|t| t.last_seq != puts).count();
    let disorder: u64 = hot.iter().map(|t| t.disorder).sum();
    let dead = tracks.iter().filter(|t| t.dead).count();
    latencies.sort_unstable();
    let mut fan: Vec<u64> = fan_done[1..].to_vec();
    fan.sort_unstable();
    let window = window_end.duration_since(window_start).as_secs_f64();
    let active = last_delivery.duration_since(report.first_send).as_secs_f64().max(1e-9);
    let server_cpu = match (server_cpu0, server_cpu1) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    let self_cpu = self_cpu1 - self_cpu0;
    let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
    emit(&[
        ("proto", proto.clone()),
        ("k", k.to_string()),
        ("others", others.to_string()),
        ("rate", format!("{rate}")),
        ("puts_sent", report.sent.to_string()),
        ("puts_ok", report.ok.to_string()),
        ("put_errors", report.errors.to_string()),
        ("receivers_mismatch", report.receivers_mismatch.to_string()),
        ("ack_p99_us", report.ack_p99_us.to_string()),
        ("expected", expected.to_string()),
        ("delivered", delivered.to_string()),
        ("lost", lost.to_string()),
        ("skipped_puts", skipped_puts.to_string()),
        ("missing", expected.saturating_sub(delivered).to_string()),
        ("not_final", not_final.to_string()),
        ("disorder", disorder.to_string()),
        ("spurious", spurious.to_string()),
        ("conn_errors", conn_errors.to_string()),
        ("dead", dead.to_string()),
        ("notif_per_s", format!("{:.0}", delivered as f64 / active)),
        ("lat_p50_us", us(quantile(&latencies, 0.50))),
        ("lat_p99_us", us(quantile(&latencies, 0.99))),
        ("lat_max_us", us(latencies.last().copied().unwrap_or(0))),
        ("fan_p50_us", us(quantile(&fan, 0.50))),
        ("fan_max_us", us(fan.last().copied().unwrap_or(0))),
        ("server_cpu_s", format!("{server_cpu:.3}")),
        ("cpu_per_notif_us", format!("{:.3}", server_cpu * 1e6 / delivered.max(1) as f64)),
        ("server_cpu_pct", format!("{:.1}", 100.0 * server_cpu / window)),
        ("loadgen_cpu_pct", format!("{:.1}", 100.0 * self_cpu / window)),
        ("server_rss_kb", rss_kb.to_string()),
        ("setup_s", format!("{setup_secs:.2}")),
        ("window_s", format!("{window:.2}")),
    ]);
    let missing: Vec<String> = (1..=report.ok as usize)
        .filter(|&s| seq_count[s] > 0 && (seq_count[s] as usize) < k)
        .take(20)
        .map(|s| format!("{s}:{}", seq_count[s]))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "PUTs delivered to some subscribers but not all (seq:receivers, first 20): {}",
            missing.join(" ")
        );
    }
    if let Some(e) = report.first_error {
        eprintln!("first writer error: {e}");
    }
    if let Some(e) = first_conn_error {
        eprintln!("first subscriber error: {e}");
    }
    let _ = report.last_send;
}

fn writer(
    redis: bool,
    port: u16,
    rate: f64,
    puts: u64,
    k: usize,
    base: Instant,
    stop: Arc<AtomicBool>,
) -> WriterReport {
    let start = Instant::now();
    let mut r = WriterReport {
        sent: 0,
        ok: 0,
        errors: 0,
        first_error: None,
        receivers_mismatch: 0,
        ack_p99_us: 0,
        last_send: start,
        first_send: start,
    };
    let mut acks = Vec::with_capacity(puts as usize);
    let mut http = None;
    let mut rconn = None;
    if redis {
        match RedisConn::connect(port) {
            Ok(c) => rconn = Some(c),
            Err(e) => {
                r.first_error = Some(e);
                return r;
            }
        }
    } else {
        match Http::connect(port) {
            Ok(c) => http = Some(c),
            Err(e) => {
                r.first_error = Some(e.to_string());
                return r;
            }
        }
    }
    for seq in 1..=puts {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = start + Duration::from_secs_f64((seq - 1) as f64 / rate);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let sent_at = Instant::now();
        if seq == 1 {
            r.first_send = sent_at;
        }
        let t = sent_at.duration_since(base).as_nanos() as u64;
        let body = format!("[{seq},{t}]");
        r.sent += 1;
        let result: Result<(), String> = if let Some(h) = http.as_mut() {
            match h.request("PUT", "/fan/x", body.as_bytes()) {
                Ok((202, _)) => Ok(()),
                Ok((s, b)) => Err(format!("PUT answered {s}: {}", String::from_utf8_lossy(&b))),
                Err(e) => Err(format!("PUT failed: {e}")),
            }
        } else {
            let c = rconn.as_mut().expect("redis connection");
            match c.command(&[b"PUBLISH", b"fan", body.as_bytes()]) {
                Ok(items) => {
                    let n = items.first().and_then(|i| {
                        std::str::from_utf8(i.strip_prefix(b":")?).ok()?.parse::<usize>().ok()
                    });
                    if n != Some(k) {
                        r.receivers_mismatch += 1;
                    }
                    Ok(())
                }
                Err(e) => Err(format!("PUBLISH failed: {e}")),
            }
        };
        acks.push(sent_at.elapsed().as_micros() as u64);
        r.last_send = sent_at;
        match result {
            Ok(()) => r.ok += 1,
            Err(e) => {
                r.errors += 1;
                r.first_error.get_or_insert(e);
                if r.errors > 10 {
                    break;
                }
            }
        }
    }
    acks.sort_unstable();
    r.ack_p99_us = quantile(&acks, 0.99);
    r
}
