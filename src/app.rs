//! Start-up and shut-down around the reactor: open the data, bind, log, run, save.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::api::ApiSettings;
use crate::auth::Verifier;
use crate::config::Config;
use crate::conn::ConnSettings;
use crate::http::Limits;
use crate::server::{self, Reactor, Server};
use crate::signals;
use crate::state::{PersistenceSettings, State};
use crate::ws::WsSettings;

/// Headers per request; a browser sends about 20, a token-carrying client a few more.
const MAX_HEADERS: usize = 128;
/// Client messages: the multi-subscription protocol allows exactly 1,000,000 bytes (§6.2.2).
const MAX_WEBSOCKET_MESSAGE: usize = 1_000_000;
/// Without `--sync-interval` (the original then rewrote the file after every write) the data
/// file is brought up to date this often while writes happen.
const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(10);
/// A log larger than this triggers a snapshot early, bounding start-up replay time and disk use.
const SNAPSHOT_LOG_BYTES: u64 = 64 << 20;

/// A reason to stop with a non-zero exit status; `Display` is the line for stderr.
#[derive(Debug)]
pub struct Fatal(pub String);

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

pub fn settings_from(config: &Config) -> ConnSettings {
    ConnSettings {
        limits: Limits {
            max_head_bytes: config.max_header_size,
            max_headers: MAX_HEADERS,
            max_body_bytes: config.max_body_size,
        },
        api: ApiSettings {
            max_depth: config.max_depth,
            auth: config.enable_jwt_auth.then(|| Verifier::new(config.jwt_secret.as_deref())),
        },
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        log_requests: config.log_requests,
        ws: WsSettings {
            ping_interval: config.websocket_ping_interval,
            pong_timeout: config.websocket_pong_timeout,
            max_message_size: MAX_WEBSOCKET_MESSAGE,
        },
        first_subscription_deadline: config.first_subscription_deadline,
    }
}

pub fn run(config: Config) -> Result<(), Fatal> {
    if config.sqlite {
        return Err(Fatal(
            "--sqlite is not supported by icepeak-rs. Export the document to a JSON data file \
             with: sqlite3 icepeak.db \"select value from icepeak\" > icepeak.json \
             and start with --data-file icepeak.json"
                .to_owned(),
        ));
    }
    for warning in &config.warnings {
        println!("WARNING: {warning}");
    }
    // The ports first: a busy port must not leave a freshly created data file behind.
    let address = SocketAddr::new(config.host, config.port);
    let listener = server::listen(address).map_err(|error| bind_failure(&address, &error))?;
    let metrics_listener = match &config.metrics {
        Some((host, port)) => Some(bind_metrics(host, *port)?),
        None => None,
    };
    let reactor =
        Reactor::new().map_err(|e| Fatal(format!("Cannot create the event loop: {e}")))?;
    let (state, messages) =
        State::open(&config.data_file, persistence_settings(&config), reactor.waker())
            .map_err(Fatal)?;
    for message in messages {
        println!("{message}");
    }
    if let Err(error) = signals::raise_open_file_limit() {
        eprintln!("Could not raise the open file limit: {error}");
    }
    let server = Server::new(
        reactor,
        listener,
        metrics_listener,
        state,
        settings_from(&config),
        config.max_connections,
    )
    .map_err(|e| Fatal(format!("Cannot start the event loop: {e}")))?;
    log_startup(&config);
    let state = server.run().map_err(|e| Fatal(format!("The event loop failed: {e}")))?;
    println!("\nTermination sequence initiated ...");
    state
        .shut_down()
        .map_err(|e| Fatal(format!("Could not write {}: {e}", config.data_file.display())))
}

fn persistence_settings(config: &Config) -> PersistenceSettings {
    PersistenceSettings {
        snapshot_interval: config.sync_interval.unwrap_or(DEFAULT_SNAPSHOT_INTERVAL),
        snapshot_log_bytes: SNAPSHOT_LOG_BYTES,
        fsync_interval: config.fsync_interval,
        max_waiting: config.queue_capacity,
        log_snapshots: config.sync_log,
    }
}

/// `--metrics HOST:PORT`, with the original's Warp host preferences (`*`, `*4`, `!4` for all
/// IPv4 interfaces, `*6`, `!6` for IPv6) besides names and addresses.
fn bind_metrics(host: &str, port: u16) -> Result<std::net::TcpListener, Fatal> {
    let host = match host {
        "*" | "*4" | "!4" => "0.0.0.0",
        "*6" | "!6" => "::",
        other => other,
    };
    std::net::TcpListener::bind((host, port))
        .map_err(|e| Fatal(format!("Cannot listen on the metrics address {host}:{port}: {e}")))
}

fn bind_failure(address: &SocketAddr, error: &io::Error) -> Fatal {
    if error.kind() == io::ErrorKind::AddrInUse {
        Fatal(format!(
            "Cannot listen on port {}: the address {address} is already in use",
            address.port()
        ))
    } else {
        Fatal(format!("Cannot listen on {address} (port {}): {error}", address.port()))
    }
}

/// The original's start-up lines (§9.5), so that log-based checks keep working.
fn log_startup(config: &Config) {
    println!("Listening on port {}.", config.port);
    match (config.enable_jwt_auth, &config.jwt_secret) {
        (true, Some(_)) => {
            println!("JWT authorization enabled and secret provided, tokens will be verified.")
        }
        (true, None) => println!(
            "JWT authorization enabled but no secret provided, tokens will NOT be verified.\n\
             WARNING: without --jwt-secret or JWT_SECRET anyone can forge a token; run this \
             only behind a proxy that verifies them."
        ),
        (false, Some(_)) => {
            println!("WARNING a JWT secret has been provided, but JWT authorization is disabled.")
        }
        (false, None) => println!("JWT authorization disabled."),
    }
    if let Some((host, port)) = &config.metrics {
        println!("Metrics and healthcheck provided on {host}:{port} (/metrics, /healthcheck)");
    }
    println!("Queue capacity is set to {}.", config.queue_capacity);
    let interval = config.sync_interval.unwrap_or(DEFAULT_SNAPSHOT_INTERVAL);
    println!("Sync: every {} microseconds.", interval.as_micros());
    println!(
        "Write-ahead log on: every write is logged before it is acknowledged; fsync within {} ms, \
         at once for ?durable.",
        config.fsync_interval.as_millis()
    );
    println!("System online. ** robot sounds **");
}
