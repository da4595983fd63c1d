//! Start-up and shut-down around the reactor: open the data, bind, log, run, save.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::api::ApiSettings;
use crate::config::Config;
use crate::conn::ConnSettings;
use crate::http::Limits;
use crate::server::Server;
use crate::signals;
use crate::state::State;

/// Headers per request; a browser sends about 20, a token-carrying client a few more.
const MAX_HEADERS: usize = 128;

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
            deny_all_unauthenticated: config.enable_jwt_auth,
        },
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        log_requests: config.log_requests,
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
    let (state, notice) = State::open(&config.data_file).map_err(|e| Fatal(e.to_string()))?;
    if let Some(notice) = notice {
        println!("{notice}");
    }
    if let Err(error) = signals::raise_open_file_limit() {
        eprintln!("Could not raise the open file limit: {error}");
    }
    let address = SocketAddr::new(config.host, config.port);
    let server = Server::bind(
        address,
        state,
        settings_from(&config),
        config.max_connections,
    )
    .map_err(|error| bind_failure(&address, &error))?;
    log_startup(&config);
    let mut state = server
        .run()
        .map_err(|e| Fatal(format!("The event loop failed: {e}")))?;
    println!("\nTermination sequence initiated ...");
    state.save().map_err(|e| {
        Fatal(format!(
            "Could not write {}: {e}",
            config.data_file.display()
        ))
    })
}

fn bind_failure(address: &SocketAddr, error: &io::Error) -> Fatal {
    if error.kind() == io::ErrorKind::AddrInUse {
        Fatal(format!(
            "Cannot listen on port {}: the address {address} is already in use",
            address.port()
        ))
    } else {
        Fatal(format!(
            "Cannot listen on {address} (port {}): {error}",
            address.port()
        ))
    }
}

/// The original's start-up lines (§9.5), so that log-based checks keep working.
fn log_startup(config: &Config) {
    println!("Listening on port {}.", config.port);
    match (config.enable_jwt_auth, &config.jwt_secret) {
        (true, _) => println!(
            "WARNING: JWT authorization is enabled but token verification is not available in \
             this build: every request is refused with 401."
        ),
        (false, Some(_)) => {
            println!("WARNING a JWT secret has been provided, but JWT authorization is disabled.")
        }
        (false, None) => println!("JWT authorization disabled."),
    }
    if config.metrics.is_some() {
        println!("WARNING: --metrics is accepted but the metrics listener is not available yet.");
    }
    println!("Queue capacity is set to {}.", config.queue_capacity);
    println!("Sync: the data file is written when the server stops (SIGTERM or SIGINT).");
    println!("System online. ** robot sounds **");
}
