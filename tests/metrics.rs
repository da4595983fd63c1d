//! The metrics port through a real HTTP client, parsed by a real Prometheus text parser.

mod common;

use std::io::BufRead;

use common::{Server, free_port};

fn scrape(url: &str) -> prometheus_parse::Scrape {
    let response = ureq::get(url).call().expect("metrics");
    assert_eq!(response.header("Content-Type"), Some("text/plain; version=0.0.4"));
    let text = response.into_string().expect("body");
    let lines = text.as_bytes().lines().map(|line| line.map_err(|e| e.to_string()));
    prometheus_parse::Scrape::parse(lines.map(|l| l.map_err(std::io::Error::other)))
        .expect("valid Prometheus text exposition")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.samples.iter().find_map(|sample| {
        let matches =
            sample.metric == name && labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v));
        match (&sample.value, matches) {
            (prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v), true) => {
                Some(*v)
            }
            (prometheus_parse::Value::Untyped(v), true) => Some(*v),
            _ => None,
        }
    })
}

#[test]
fn metrics_parse_and_move_with_traffic() {
    let metrics_port = free_port();
    let address = format!("127.0.0.1:{metrics_port}");
    let server = Server::start(&["--metrics", &address]);
    let metrics_url = format!("http://{address}/metrics");
    let health = ureq::get(&format!("http://{address}/healthcheck")).call().expect("health");
    assert_eq!(health.status(), 200);
    assert_eq!(health.into_string().expect("body"), "");

    assert_eq!(server.put("/a", "1").0, 202);
    assert_eq!(server.put("/b?durable", "2").0, 202);
    assert_eq!(server.get("/nope").0, 404);
    let scraped = scrape(&metrics_url);
    for family in [
        "http_request_duration_seconds",
        "icepeak_data_size_bytes",
        "icepeak_journal_size_bytes",
        "icepeak_subscriber_count",
        "icepeak_sync_duration",
        "icepeak_subscribers_skipped_updates_total",
        "icepeak_wal_fsync_duration_seconds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(
            scraped
                .samples
                .iter()
                .any(|s| s.metric == family || s.metric.starts_with(&format!("{family}_"))),
            "family {family} missing"
        );
    }
    assert_eq!(value(&scraped, "icepeak_internal_queue_items_added", &[]), Some(2.0));
    assert_eq!(value(&scraped, "icepeak_subscriber_count", &[]), Some(0.0));
    assert!(value(&scraped, "icepeak_journal_written_bytes_total", &[]).unwrap_or(0.0) > 0.0);
    assert!(value(&scraped, "process_resident_memory_bytes", &[]).unwrap_or(0.0) > 0.0);
}
