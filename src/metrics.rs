//! Counters and the Prometheus text exposition (format 0.0.4) of the metrics port (§10).
//!
//! Every family of the original keeps its name, type and labels so dashboards keep working;
//! the GHC runtime metrics are replaced by the standard `process_*` ones, and the write-ahead
//! log and fan-out get families of their own. Label values come from fixed sets (canonical
//! methods, status codes), so clients cannot create new series.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// Buckets of the original's request histogram.
const HTTP_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// 0.001 · 2^k, k = 0..11, as the original's `icepeak_sync_duration`.
const SYNC_BUCKETS: [f64; 12] =
    [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048];
/// fsync latencies are usually far below a snapshot's.
const FSYNC_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0];

#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    pub fn observe(&mut self, seconds: f64) {
        for (bound, count) in self.bounds.iter().zip(&mut self.counts) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Values read at exposition time rather than counted.
pub struct Live {
    pub subscribers: u64,
    pub log_bytes: u64,
    pub log_written_bytes: u64,
    pub connections: u64,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    http: BTreeMap<(&'static str, u16), Histogram>,
    pub data_size_bytes: u64,
    pub data_written_bytes: u64,
    pub writes_accepted: u64,
    pub writes_refused: u64,
    pub broadcasts: u64,
    pub notifications_sent: u64,
    pub notification_bytes_queued: u64,
    pub skipped_updates: u64,
    pub connections_refused: u64,
    sync_duration: Histogram,
    fsync_duration: Histogram,
    started: SystemTime,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            http: BTreeMap::new(),
            data_size_bytes: 0,
            data_written_bytes: 0,
            writes_accepted: 0,
            writes_refused: 0,
            broadcasts: 0,
            notifications_sent: 0,
            notification_bytes_queued: 0,
            skipped_updates: 0,
            connections_refused: 0,
            sync_duration: Histogram::new(&SYNC_BUCKETS),
            fsync_duration: Histogram::new(&FSYNC_BUCKETS),
            started: SystemTime::now(),
        }
    }
}

/// The method label: one of the nine standard methods, or `INVALID` (§3.1).
pub fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] =
        ["GET", "POST", "HEAD", "PUT", "DELETE", "TRACE", "CONNECT", "OPTIONS", "PATCH"];
    STANDARD.iter().find(|m| **m == method).copied().unwrap_or("INVALID")
}

impl Metrics {
    pub fn observe_http(&mut self, method: &str, status: u16, elapsed: Duration) {
        self.http
            .entry((method_label(method), status))
            .or_insert_with(|| Histogram::new(&HTTP_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_snapshot(&mut self, elapsed: Duration, file_bytes: u64) {
        self.sync_duration.observe(elapsed.as_secs_f64());
        self.data_size_bytes = file_bytes;
        self.data_written_bytes += file_bytes;
    }

    pub fn observe_fsync(&mut self, elapsed: Duration) {
        self.fsync_duration.observe(elapsed.as_secs_f64());
    }

    pub fn render(&self, live: &Live) -> String {
        let mut out = String::with_capacity(8 * 1024);
        family(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "HTTP requests of the main port, by canonical method and status.",
        );
        for ((method, status), histogram) in &self.http {
            let labels = format!("method=\"{method}\",status=\"{status}\"");
            histogram.render(&mut out, "http_request_duration_seconds", &labels);
        }
        for name in ["icepeak_data_size", "icepeak_data_size_bytes"] {
            gauge(
                &mut out,
                name,
                "Size of the data file after the last snapshot, in bytes.",
                self.data_size_bytes as f64,
            );
        }
        gauge(
            &mut out,
            "icepeak_journal_size_bytes",
            "Bytes in the active write-ahead log segment.",
            live.log_bytes as f64,
        );
        for name in ["icepeak_data_written", "icepeak_data_written_bytes_total"] {
            counter(
                &mut out,
                name,
                "Bytes written to the data file by snapshots.",
                self.data_written_bytes,
            );
        }
        counter(
            &mut out,
            "icepeak_journal_written_bytes_total",
            "Bytes appended to the write-ahead log.",
            live.log_written_bytes,
        );
        gauge(
            &mut out,
            "icepeak_subscriber_count",
            "Open WebSocket connections.",
            live.subscribers as f64,
        );
        counter(
            &mut out,
            "icepeak_internal_queue_items_added",
            "Writes accepted.",
            self.writes_accepted,
        );
        counter(
            &mut out,
            "icepeak_internal_queue_items_removed",
            "Writes applied (equal to accepted: writes are applied at once).",
            self.writes_accepted,
        );
        family(
            &mut out,
            "icepeak_sync_duration",
            "histogram",
            "Duration of snapshots of the data file, in seconds.",
        );
        self.sync_duration.render(&mut out, "icepeak_sync_duration", "");
        counter(
            &mut out,
            "icepeak_internal_ws_queue_items_added",
            "Broadcast rounds of changes to subscribers.",
            self.broadcasts,
        );
        counter(
            &mut out,
            "icepeak_internal_ws_queue_items_removed",
            "Broadcast rounds completed.",
            self.broadcasts,
        );
        counter(
            &mut out,
            "icepeak_internal_ws_queue_skipped_updates",
            "Changes dropped before broadcast (never: updates are coalesced, not dropped).",
            0,
        );
        counter(
            &mut out,
            "icepeak_subscribers_skipped_updates_total",
            "Updates replaced by a newer value before a slow subscriber read them.",
            self.skipped_updates,
        );
        counter(
            &mut out,
            "icepeak_writes_refused_total",
            "Writes answered 503 because the disk was not keeping up or the log failed.",
            self.writes_refused,
        );
        family(
            &mut out,
            "icepeak_wal_fsync_duration_seconds",
            "histogram",
            "Duration of write-ahead log fsyncs (each covers a group of writes).",
        );
        self.fsync_duration.render(&mut out, "icepeak_wal_fsync_duration_seconds", "");
        counter(
            &mut out,
            "icepeak_notifications_sent_total",
            "WebSocket updates queued to subscribers.",
            self.notifications_sent,
        );
        counter(
            &mut out,
            "icepeak_notification_bytes_queued_total",
            "Bytes of WebSocket updates queued to subscribers.",
            self.notification_bytes_queued,
        );
        gauge(
            &mut out,
            "icepeak_connections",
            "Open client connections of the main port.",
            live.connections as f64,
        );
        counter(
            &mut out,
            "icepeak_connections_refused_total",
            "Connections closed at once because --max-connections was reached.",
            self.connections_refused,
        );
        self.render_process(&mut out);
        out
    }

    fn render_process(&self, out: &mut String) {
        let process = ProcessStats::read();
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            process.resident_bytes as f64,
        );
        gauge(out, "process_open_fds", "Open file descriptors.", process.open_fds as f64);
        let started = self.started.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        gauge(
            out,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds.",
            started.as_secs_f64(),
        );
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent in seconds.",
        );
        let _ = writeln!(out, "process_cpu_seconds_total {}", process.cpu_seconds);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

#[derive(Debug, Default)]
struct ProcessStats {
    resident_bytes: u64,
    open_fds: u64,
    cpu_seconds: f64,
}

impl ProcessStats {
    /// From /proc; on a system without it the values stay 0 rather than failing the scrape.
    fn read() -> ProcessStats {
        // SAFETY: sysconf has no preconditions.
        let page_size = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        // SAFETY: as above.
        let ticks =
            u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1);
        let resident_pages = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
        let open_fds =
            std::fs::read_dir("/proc/self/fd").map(|dir| dir.count() as u64).unwrap_or(0);
        // Fields 14 and 15 (utime, stime) follow the parenthesised command name.
        let cpu_ticks = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| {
                let after_name = text.rsplit_once(')')?.1;
                let fields: Vec<&str> = after_name.split_whitespace().collect();
                Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0);
        ProcessStats {
            resident_bytes: resident_pages * page_size,
            open_fds,
            cpu_seconds: cpu_ticks as f64 / ticks as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Live {
        Live { subscribers: 2, log_bytes: 12, log_written_bytes: 40, connections: 3 }
    }

    #[test]
    fn methods_are_canonical() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("get"), "INVALID");
        assert_eq!(method_label("YQUS"), "INVALID");
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_inf_equal_to_count() {
        let mut metrics = Metrics::default();
        metrics.observe_http("PUT", 202, Duration::from_millis(3));
        metrics.observe_http("PUT", 202, Duration::from_millis(30));
        metrics.observe_http("BREW", 400, Duration::from_millis(1));
        let text = metrics.render(&live());
        assert!(text.contains(
            "http_request_duration_seconds_bucket{method=\"PUT\",status=\"202\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_bucket{method=\"PUT\",status=\"202\",le=\"0.05\"} 2\n"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_bucket{method=\"PUT\",status=\"202\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_count{method=\"INVALID\",status=\"400\"} 1\n"
        ));
        assert!(!text.contains("BREW"));
    }

    #[test]
    fn every_sample_line_belongs_to_a_declared_family() {
        let text = Metrics::default().render(&live());
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap_or_default().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                let known = declared.iter().any(|family| {
                    name == family
                        || ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name == format!("{family}{s}"))
                });
                assert!(known, "sample without a family: {line}");
            }
        }
        assert!(text.contains("icepeak_subscriber_count 2\n"));
        assert!(text.contains("process_resident_memory_bytes"));
    }
}
