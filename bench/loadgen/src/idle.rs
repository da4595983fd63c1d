//! S5: open N idle connections (WebSockets, or Redis clients that sent one PING) and read the
//! server's resident memory before and after.

use std::thread;
use std::time::{Duration, Instant};

use crate::fanout::{ws_connect, RedisConn};
use crate::util::{die, emit, proc_status_kb, set_linger_zero, Opts};

pub fn run(opts: &Opts) {
    let proto = opts.str("proto", "ws");
    let port = opts.u64("port", 3000) as u16;
    let n = opts.u64("n", 10_000) as usize;
    let pid = opts.req("pid");
    let distinct = opts.str("paths", "distinct") == "distinct";
    let settle = Duration::from_millis(opts.u64("settle-ms", 1000));
    let rss = |what: &str| {
        proc_status_kb(&pid, "VmRSS")
            .unwrap_or_else(|| die(&format!("no VmRSS for {pid} ({what})")))
    };
    thread::sleep(settle);
    let before = rss("before");
    let start = Instant::now();
    let mut ws_conns = Vec::new();
    let mut redis_conns = Vec::new();
    for i in 0..n {
        match proto.as_str() {
            "ws" => {
                let path = if distinct { format!("/idle/{i}") } else { "/idle".to_owned() };
                ws_conns.push(
                    ws_connect(port, &path)
                        .unwrap_or_else(|e| die(&format!("connection {i}: {e}"))),
                );
            }
            "redis" => {
                let mut c = RedisConn::connect(port).unwrap_or_else(|e| die(&e));
                let reply = c.command(&[b"PING"]).unwrap_or_else(|e| die(&e));
                if reply.first().map(Vec::as_slice) != Some(b"+PONG") {
                    die("unexpected PING reply");
                }
                redis_conns.push(c);
            }
            other => die(&format!("unknown --proto {other}")),
        }
    }
    let connect_s = start.elapsed().as_secs_f64();
    thread::sleep(settle);
    let after = rss("after");
    let self_rss = proc_status_kb("self", "VmRSS").unwrap_or(0);
    for c in &ws_conns {
        set_linger_zero(&c.get_ref().s);
    }
    for c in &redis_conns {
        set_linger_zero(&c.sock.s);
    }
    emit(&[
        ("proto", proto),
        ("n", n.to_string()),
        ("rss_before_kb", before.to_string()),
        ("rss_after_kb", after.to_string()),
        (
            "bytes_per_conn",
            format!("{:.0}", (after as f64 - before as f64) * 1024.0 / n.max(1) as f64),
        ),
        ("connect_s", format!("{connect_s:.2}")),
        ("loadgen_rss_kb", self_rss.to_string()),
    ]);
}
