//! Command line and environment configuration.
//!
//! The flags of the original `icepeak` server (spec §11) are accepted with the same names, value
//! syntax and environment fallbacks, so existing command lines keep working; icepeak-rs adds its
//! own limits and timeouts (D13, D14) and rejects values that would make the server hang or spin.
//!
//! One table, `FLAGS`, drives parsing, environment fallback and the `--help` text: a flag cannot
//! be accepted without being documented, nor documented without being accepted.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::num::IntErrorKind;
use std::path::PathBuf;
use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Upper bound for every interval and timeout. Far beyond any sensible setting (about 31 years),
/// yet small enough that adding it to an `Instant` cannot overflow, which would panic.
const MAX_SECONDS: u64 = 1_000_000_000;
const MAX_MICROSECONDS: u64 = MAX_SECONDS * 1_000_000;

/// Smallest accepted `--max-header-size`: below this, ordinary browser requests would be refused.
const MIN_HEADER_SIZE: usize = KIB;
const MAX_BODY_SIZE_LIMIT: usize = 1024 * MIB;
/// Equal to `storage::MAX_FILE_DEPTH` (kept here so the CLI needs nothing from storage).
const MAX_DEPTH_LIMIT: usize = 10_000;

/// Everything the server needs to know from its command line and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `--data-file`: the JSON snapshot of the document.
    pub data_file: PathBuf,
    /// `--host`: the address the HTTP/WebSocket listener binds to.
    pub host: IpAddr,
    /// `--port`, else `$ICEPEAK_PORT`, else 3000.
    pub port: u16,
    /// `--enable-jwt-auth`.
    pub enable_jwt_auth: bool,
    /// `--jwt-secret`, else `$JWT_SECRET`; an empty variable still counts as a (empty) secret.
    pub jwt_secret: Option<String>,
    /// `--metrics HOST:PORT`: where the Prometheus and health-check server listens, if anywhere.
    pub metrics: Option<(String, u16)>,
    /// `--queue-capacity`: kept from the original, always greater than 0.
    pub queue_capacity: usize,
    /// `--sync-interval`: how often the snapshot is written; `None` lets the server decide.
    pub sync_interval: Option<Duration>,
    /// `--fsync-interval`: the most recent writes a power loss may take.
    pub fsync_interval: Duration,
    /// `--journaling`: accepted for compatibility; the write-ahead log is always on.
    pub journaling: bool,
    /// `--sync-log`: log how long each snapshot took.
    pub sync_log: bool,
    /// `--sentry-dsn`, else `$SENTRY_DSN`: accepted and ignored (D17).
    pub sentry_dsn: Option<String>,
    /// `--disable-sentry-logging`: accepted and ignored (D17).
    pub disable_sentry_logging: bool,
    /// `--sqlite`: not supported (D15); the caller refuses to start with export instructions.
    pub sqlite: bool,
    /// `--websocket-ping-interval`: `None` when pings are disabled (0 or negative).
    pub websocket_ping_interval: Option<Duration>,
    /// `--websocket-pong-timeout`.
    pub websocket_pong_timeout: Duration,
    /// `--first-subscription-deadline-timeout` (given in microseconds).
    pub first_subscription_deadline: Duration,
    /// `--max-body-size`: largest accepted request body, in bytes.
    pub max_body_size: usize,
    /// `--max-header-size`: largest accepted request head, in bytes.
    pub max_header_size: usize,
    /// `--max-depth`: path segments plus JSON nesting of a stored value.
    pub max_depth: usize,
    /// `--max-connections`: open connections beyond this are refused.
    pub max_connections: usize,
    /// `--header-timeout`: the whole request head must arrive within it.
    pub header_timeout: Duration,
    /// `--idle-timeout`: idle keep-alive connections are closed after it.
    pub idle_timeout: Duration,
    /// `--log-requests`: one log line per request.
    pub log_requests: bool,
    /// Non-fatal notes for the start-up log (ignored flags, ignored environment values).
    pub warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_file: PathBuf::from("icepeak.json"),
            // All interfaces, so that the server is reachable when it runs in a container.
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 3000,
            enable_jwt_auth: false,
            jwt_secret: None,
            metrics: None,
            queue_capacity: 256,
            sync_interval: None,
            fsync_interval: Duration::from_millis(100),
            journaling: false,
            sync_log: false,
            sentry_dsn: None,
            disable_sentry_logging: false,
            sqlite: false,
            websocket_ping_interval: Some(Duration::from_secs(30)),
            websocket_pong_timeout: Duration::from_secs(30),
            first_subscription_deadline: Duration::from_secs(1),
            // The 20 MB MDN document fits; a body of small numbers grows about 30 times once
            // parsed (exact numbers are kept as text), so the bound also bounds memory.
            max_body_size: 32 * MIB,
            // A 4 KB token must fit, with room for everything else a proxy adds.
            max_header_size: 64 * KIB,
            max_depth: 512,
            // 2,000 idle connections must not lock out a new client.
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            log_requests: false,
            warnings: Vec::new(),
        }
    }
}

/// What the command line asks for.
// Built once at start-up and unpacked at once, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Config),
    Help,
}

/// A command line the server cannot start with; the message names the offending flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

/// Parses the arguments (without the program name) against the environment `env`.
///
/// Environment values are read first and flags override them. An environment value that does
/// not parse is ignored with a warning, as the original silently ignores a bad `ICEPEAK_PORT`.
///
/// # Errors
///
/// An unknown flag, a positional argument, a missing or invalid value, a value given to a
/// switch, or `--sqlite` with `--file`. The message names the flag.
pub fn parse_args<I, S>(args: I, env: impl Fn(&str) -> Option<String>) -> Result<Command, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Help wins wherever it appears, even next to a mistake: someone who asks for help while
    // getting a flag wrong needs the help more than the error.
    if args.iter().any(|arg| matches!(arg.to_str(), Some("-h" | "--help"))) {
        return Ok(Command::Help);
    }

    let mut builder = Builder::new();
    builder.apply_env(&env);

    let mut remaining = args.into_iter();
    while let Some(arg) = remaining.next() {
        let (name, inline_value) = split_arg(arg)?;
        let spec = find_flag(&name)
            .ok_or_else(|| CliError(format!("unknown option {}", quoted(&name))))?;
        match spec.action {
            Action::Help | Action::Switch(_) if inline_value.is_some() => {
                return Err(CliError(format!("{}: takes no value", spec.long)));
            }
            Action::Help => return Ok(Command::Help),
            Action::Switch(apply) => apply(&mut builder),
            Action::Text { apply, .. } => {
                let value = take_value(spec, inline_value, &mut remaining)?;
                let text = value
                    .to_str()
                    .ok_or_else(|| CliError(format!("{}: value is not valid UTF-8", spec.long)))?;
                apply(&mut builder, text).map_err(|reason| invalid_value(spec, text, &reason))?;
            }
            Action::Path { apply, .. } => {
                let value = take_value(spec, inline_value, &mut remaining)?;
                let shown = value.to_string_lossy().into_owned();
                apply(&mut builder, value)
                    .map_err(|reason| invalid_value(spec, &shown, &reason))?;
            }
        }
    }
    builder.finish().map(Command::Run)
}

/// Parses `<integer><unit>` with unit `ms`, `s` or `m` (case-sensitive), the original's syntax.
/// Zero is allowed here; the flags that take a duration reject it.
///
/// # Errors
///
/// `no amount specified` (empty, or not starting with a digit), `invalid unit` (none, or not
/// one of the three), or `invalid amount` (not a whole number, or too large).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "expected a whole number and a unit, e.g. 500ms, 5s or 1m";
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("no amount specified ({EXPECTED})"));
    }
    // The unit is the trailing run of letters, so that "1.5s" is a bad amount, as in the
    // original, rather than the unknown unit ".5s".
    let (amount, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let scale: fn(u64) -> Option<Duration> = match unit {
        "ms" => |n| Some(Duration::from_millis(n)),
        "s" => |n| Some(Duration::from_secs(n)),
        "m" => |n| n.checked_mul(60).map(Duration::from_secs),
        "" => return Err(format!("invalid unit: none given ({EXPECTED})")),
        _ => return Err(format!("invalid unit {} ({EXPECTED})", quoted(unit))),
    };
    let count: u64 = amount.parse().map_err(|error: std::num::ParseIntError| {
        let problem = match error.kind() {
            IntErrorKind::PosOverflow => "too large",
            _ => "not a whole number",
        };
        format!("invalid amount {}: {problem}", quoted(amount))
    })?;
    scale(count).ok_or_else(|| format!("invalid amount {}: too large", quoted(amount)))
}

/// The `--help` text, generated from the flag table.
pub fn usage() -> String {
    let defaults = Config::default();
    let labels: Vec<String> = FLAGS.iter().map(FlagSpec::label).collect();
    let description_column = INDENT
        + labels.iter().map(String::len).filter(|&len| len <= MAX_INLINE_LABEL).max().unwrap_or(0)
        + GAP;

    let mut lines: Vec<String> = INTRO.lines().map(str::to_owned).collect();
    for group in Group::ALL {
        lines.push(String::new());
        lines.push(format!("{}:", group.title()));
        for (spec, label) in FLAGS.iter().zip(&labels) {
            if spec.group == group {
                push_flag_help(&mut lines, spec, label, &defaults, description_column);
            }
        }
    }
    lines.push(String::new());
    lines.extend(OUTRO.lines().map(str::to_owned));

    let mut text = lines.join("\n");
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------------
// The flag table

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Storage,
    Network,
    Limits,
    WebSocket,
    Auth,
    Operations,
}

impl Group {
    const ALL: [Group; 6] = [
        Group::Storage,
        Group::Network,
        Group::Limits,
        Group::WebSocket,
        Group::Auth,
        Group::Operations,
    ];

    fn title(self) -> &'static str {
        match self {
            Group::Storage => "Storage",
            Group::Network => "Network",
            Group::Limits => "Limits",
            Group::WebSocket => "WebSocket",
            Group::Auth => "Auth",
            Group::Operations => "Operations",
        }
    }
}

/// Flag values are applied to this rather than to `Config` alone, because some checks (the
/// backend conflict, the `SQLite` file name) depend on which flags were given, not on values.
struct Builder {
    config: Config,
    file_backend_requested: bool,
    data_file_given: bool,
}

type ApplyText = fn(&mut Builder, &str) -> Result<(), String>;
type ApplyPath = fn(&mut Builder, OsString) -> Result<(), String>;

#[derive(Clone, Copy)]
enum Action {
    Help,
    Switch(fn(&mut Builder)),
    Text {
        value_name: &'static str,
        apply: ApplyText,
    },
    /// Only for file names, which need not be UTF-8.
    Path {
        value_name: &'static str,
        apply: ApplyPath,
    },
}

#[derive(Clone, Copy)]
struct FlagSpec {
    long: &'static str,
    short: Option<&'static str>,
    group: Group,
    action: Action,
    help: &'static str,
    /// Read when the flag is absent; only for `Action::Text` flags.
    env: Option<&'static str>,
    /// Kept so that the original's command lines still work; marked in the help.
    compat: bool,
    /// The default as shown in the help, derived from `Config::default()` so it cannot drift.
    shown_default: fn(&Config) -> Option<String>,
}

impl FlagSpec {
    const fn new(long: &'static str, group: Group, action: Action, help: &'static str) -> Self {
        FlagSpec {
            long,
            short: None,
            group,
            action,
            help,
            env: None,
            compat: false,
            shown_default: |_| None,
        }
    }

    const fn switch(
        long: &'static str,
        group: Group,
        help: &'static str,
        apply: fn(&mut Builder),
    ) -> Self {
        FlagSpec::new(long, group, Action::Switch(apply), help)
    }

    const fn text(
        long: &'static str,
        value_name: &'static str,
        group: Group,
        help: &'static str,
        apply: ApplyText,
    ) -> Self {
        FlagSpec::new(long, group, Action::Text { value_name, apply }, help)
    }

    const fn short(self, short: &'static str) -> Self {
        FlagSpec { short: Some(short), ..self }
    }

    const fn env(self, variable: &'static str) -> Self {
        FlagSpec { env: Some(variable), ..self }
    }

    const fn compat(self) -> Self {
        FlagSpec { compat: true, ..self }
    }

    const fn shown_default(self, shown_default: fn(&Config) -> Option<String>) -> Self {
        FlagSpec { shown_default, ..self }
    }

    fn value_name(&self) -> Option<&'static str> {
        match self.action {
            Action::Text { value_name, .. } | Action::Path { value_name, .. } => Some(value_name),
            Action::Help | Action::Switch(_) => None,
        }
    }

    /// The flag as the help shows it, e.g. `--port PORT` or `-h, --help`.
    fn label(&self) -> String {
        let mut label = match self.short {
            Some(short) => format!("{short}, {}", self.long),
            None => self.long.to_owned(),
        };
        if let Some(value_name) = self.value_name() {
            label.push(' ');
            label.push_str(value_name);
        }
        label
    }
}

static FLAGS: &[FlagSpec] = &[
    // Storage
    FlagSpec::new(
        "--data-file",
        Group::Storage,
        Action::Path {
            value_name: "PATH",
            apply: |builder, value| {
                if value.is_empty() {
                    return Err("must not be empty".into());
                }
                builder.config.data_file = PathBuf::from(value);
                builder.data_file_given = true;
                Ok(())
            },
        },
        "The data file: a plain JSON document, the same format as the original Icepeak's",
    )
    .shown_default(|config| Some(config.data_file.display().to_string())),
    FlagSpec::text(
        "--sync-interval",
        "DURATION",
        Group::Storage,
        "How often the document is written to the data file while writes happen \
         (default: 10s, or sooner when the write-ahead log passes 64 MiB)",
        |builder, value| {
            builder.config.sync_interval = Some(parse_interval(value)?);
            Ok(())
        },
    ),
    FlagSpec::text(
        "--fsync-interval",
        "DURATION",
        Group::Storage,
        "How often the write-ahead log is flushed to disk: a power loss can take at most \
         the writes of this last interval (?durable writes are flushed before the answer)",
        |builder, value| {
            builder.config.fsync_interval = parse_interval(value)?;
            Ok(())
        },
    )
    .shown_default(|config| Some(format_duration(config.fsync_interval))),
    FlagSpec::switch(
        "--file",
        Group::Storage,
        "Store the document in a JSON file: the only backend, and the default",
        |builder| builder.file_backend_requested = true,
    )
    .compat(),
    FlagSpec::switch(
        "--sqlite",
        Group::Storage,
        "Not supported: explains how to export an SQLite database to a JSON data file",
        |builder| builder.config.sqlite = true,
    )
    .compat(),
    FlagSpec::switch(
        "--journaling",
        Group::Storage,
        "No further effect: the write-ahead log is always on",
        |builder| builder.config.journaling = true,
    )
    .compat(),
    FlagSpec::switch(
        "--sync-log",
        Group::Storage,
        "Log how long each write of the data file takes",
        |builder| builder.config.sync_log = true,
    )
    .compat(),
    // Network
    FlagSpec::text(
        "--host",
        "ADDRESS",
        Group::Network,
        "IP address to listen on (0.0.0.0 or :: for all interfaces)",
        |builder, value| {
            builder.config.host = value
                .parse()
                .map_err(|_| "expected an IP address such as 0.0.0.0, 127.0.0.1 or ::1")?;
            Ok(())
        },
    )
    .shown_default(|config| Some(config.host.to_string())),
    FlagSpec::text(
        "--port",
        "PORT",
        Group::Network,
        "TCP port of the HTTP and WebSocket API",
        |builder, value| {
            builder.config.port = parse_port(value)?;
            Ok(())
        },
    )
    .env("ICEPEAK_PORT")
    .shown_default(|config| Some(config.port.to_string())),
    FlagSpec::text(
        "--metrics",
        "HOST:PORT",
        Group::Network,
        "Serve Prometheus metrics and /healthcheck on this address (default: off)",
        |builder, value| {
            builder.config.metrics = Some(parse_metrics_address(value)?);
            Ok(())
        },
    ),
    // Limits
    FlagSpec::text(
        "--max-body-size",
        "BYTES",
        Group::Limits,
        "Largest request body; a larger one is answered 413",
        |builder, value| {
            let size = parse_count(value, 1)?;
            // A write-ahead log record holds a body in at most 4 GiB; keep well below.
            if size > MAX_BODY_SIZE_LIMIT {
                return Err(format!("at most {MAX_BODY_SIZE_LIMIT} (1 GiB)"));
            }
            builder.config.max_body_size = size;
            Ok(())
        },
    )
    .shown_default(|config| Some(format_bytes(config.max_body_size))),
    FlagSpec::text(
        "--max-header-size",
        "BYTES",
        Group::Limits,
        "Largest request head (request line and headers); a larger one is answered 431",
        |builder, value| {
            builder.config.max_header_size = parse_count(value, MIN_HEADER_SIZE)?;
            Ok(())
        },
    )
    .shown_default(|config| Some(format_bytes(config.max_header_size))),
    FlagSpec::text(
        "--max-depth",
        "N",
        Group::Limits,
        "Deepest value a PUT may create, counting path segments plus JSON nesting",
        |builder, value| {
            let depth = parse_count(value, 1)?;
            // Everything written must load again: the data file and log loaders stop at
            // storage::MAX_FILE_DEPTH (10,000) levels.
            if depth > MAX_DEPTH_LIMIT {
                return Err(format!("at most {MAX_DEPTH_LIMIT}"));
            }
            builder.config.max_depth = depth;
            Ok(())
        },
    )
    .shown_default(|config| Some(config.max_depth.to_string())),
    FlagSpec::text(
        "--max-connections",
        "N",
        Group::Limits,
        "Most connections open at once; further ones are refused",
        |builder, value| {
            builder.config.max_connections = parse_count(value, 1)?;
            Ok(())
        },
    )
    .shown_default(|config| Some(config.max_connections.to_string())),
    FlagSpec::text(
        "--header-timeout",
        "SECONDS",
        Group::Limits,
        "The whole request head must arrive within this time",
        |builder, value| {
            builder.config.header_timeout = parse_seconds(value)?;
            Ok(())
        },
    )
    .shown_default(|config| Some(config.header_timeout.as_secs().to_string())),
    FlagSpec::text(
        "--idle-timeout",
        "SECONDS",
        Group::Limits,
        "Idle keep-alive connections are closed after this time",
        |builder, value| {
            builder.config.idle_timeout = parse_seconds(value)?;
            Ok(())
        },
    )
    .shown_default(|config| Some(config.idle_timeout.as_secs().to_string())),
    FlagSpec::text(
        "--queue-capacity",
        "N",
        Group::Limits,
        "Writes are answered 503 while this many ?durable answers wait for the disk",
        |builder, value| {
            builder.config.queue_capacity = parse_count(value, 1)?;
            Ok(())
        },
    )
    .compat()
    .shown_default(|config| Some(config.queue_capacity.to_string())),
    // WebSocket
    FlagSpec::text(
        "--websocket-ping-interval",
        "SECONDS",
        Group::WebSocket,
        "Seconds between pings to each WebSocket client; 0 or less disables pings",
        |builder, value| {
            builder.config.websocket_ping_interval = parse_ping_interval(value)?;
            Ok(())
        },
    )
    .shown_default(|config| {
        Some(match config.websocket_ping_interval {
            Some(interval) => interval.as_secs().to_string(),
            None => "0".to_owned(),
        })
    }),
    FlagSpec::text(
        "--websocket-pong-timeout",
        "SECONDS",
        Group::WebSocket,
        "A client with no pong for the ping interval plus this time is disconnected",
        |builder, value| {
            builder.config.websocket_pong_timeout = parse_seconds(value)?;
            Ok(())
        },
    )
    .shown_default(|config| Some(config.websocket_pong_timeout.as_secs().to_string())),
    FlagSpec::text(
        "--first-subscription-deadline-timeout",
        "MICROSECONDS",
        Group::WebSocket,
        "A multi-subscription client (?method=reusable) must subscribe within this time",
        |builder, value| {
            builder.config.first_subscription_deadline = parse_microseconds(value)?;
            Ok(())
        },
    )
    .shown_default(|config| Some(config.first_subscription_deadline.as_micros().to_string())),
    // Auth
    FlagSpec::switch(
        "--enable-jwt-auth",
        Group::Auth,
        "Require a JWT with an 'icepeak' claim for reads, writes and subscriptions",
        |builder| builder.config.enable_jwt_auth = true,
    ),
    FlagSpec::text(
        "--jwt-secret",
        "SECRET",
        Group::Auth,
        "HS256 secret that token signatures are verified with; without it, tokens are \
         accepted unverified",
        |builder, value| {
            builder.config.jwt_secret = Some(value.to_owned());
            Ok(())
        },
    )
    .env("JWT_SECRET"),
    // Operations
    FlagSpec::switch("--log-requests", Group::Operations, "Log one line per request", |builder| {
        builder.config.log_requests = true
    }),
    FlagSpec::text(
        "--sentry-dsn",
        "DSN",
        Group::Operations,
        "Ignored with a warning: icepeak-rs has no Sentry client",
        |builder, value| {
            builder.config.sentry_dsn = Some(value.to_owned());
            Ok(())
        },
    )
    .env("SENTRY_DSN")
    .compat(),
    FlagSpec::switch(
        "--disable-sentry-logging",
        Group::Operations,
        "Ignored with a warning: icepeak-rs has no Sentry client",
        |builder| builder.config.disable_sentry_logging = true,
    )
    .compat(),
    FlagSpec::new("--help", Group::Operations, Action::Help, "Print this help and exit")
        .short("-h"),
];

fn find_flag(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|spec| spec.long == name || spec.short == Some(name))
}

// ---------------------------------------------------------------------------------------------
// Parsing

impl Builder {
    fn new() -> Self {
        Builder { config: Config::default(), file_backend_requested: false, data_file_given: false }
    }

    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) {
        for spec in FLAGS {
            let (Some(variable), Action::Text { apply, .. }) = (spec.env, spec.action) else {
                continue;
            };
            let Some(value) = env(variable) else {
                continue;
            };
            if let Err(reason) = apply(self, &value) {
                let fallback = match (spec.shown_default)(&Config::default()) {
                    Some(default) => format!("; using {default}"),
                    None => String::new(),
                };
                self.config
                    .warnings
                    .push(format!("ignoring {variable}={}: {reason}{fallback}", quoted(&value)));
            }
        }
    }

    fn finish(mut self) -> Result<Config, CliError> {
        let config = &mut self.config;
        if config.sqlite && self.file_backend_requested {
            return Err(CliError(
                "--sqlite and --file cannot be combined: choose one storage backend".to_owned(),
            ));
        }
        // The original's SQLite default, so that the caller's export hint names the right file.
        if config.sqlite && !self.data_file_given {
            config.data_file = PathBuf::from("icepeak.db");
        }
        if config.journaling {
            config.warnings.push(
                "--journaling has no further effect: the write-ahead log is always on".to_owned(),
            );
        }
        // An empty SENTRY_DSN is a common way of "not setting" it; only a real one is news.
        let dsn_given = config.sentry_dsn.as_deref().is_some_and(|dsn| !dsn.is_empty());
        if dsn_given || config.disable_sentry_logging {
            config.warnings.push(
                "Sentry is not supported: --sentry-dsn, SENTRY_DSN and --disable-sentry-logging \
                 are ignored; errors are only logged"
                    .to_owned(),
            );
        }
        Ok(self.config)
    }
}

/// Splits `--flag=value` into name and inline value; `--flag` has none.
fn split_arg(arg: OsString) -> Result<(String, Option<OsString>), CliError> {
    match arg.into_string() {
        Ok(text) => split_text_arg(text),
        Err(raw) => split_non_utf8_arg(raw),
    }
}

fn split_text_arg(text: String) -> Result<(String, Option<OsString>), CliError> {
    if !text.starts_with('-') || text == "-" {
        return Err(CliError(format!("unexpected argument {}", quoted(&text))));
    }
    match text.split_once('=') {
        Some((name, value)) if name.starts_with("--") => {
            Ok((name.to_owned(), Some(OsString::from(value))))
        }
        _ => Ok((text, None)),
    }
}

/// Only `--data-file=<bytes>` makes sense for a non-UTF-8 argument; the flag name itself must
/// be UTF-8, and the value is left to the flag to accept or refuse.
#[cfg(unix)]
fn split_non_utf8_arg(raw: OsString) -> Result<(String, Option<OsString>), CliError> {
    use std::os::unix::ffi::OsStringExt;

    let bytes = raw.into_vec();
    let flag = bytes.iter().position(|&byte| byte == b'=').and_then(|equals| {
        let name = std::str::from_utf8(&bytes[..equals]).ok()?;
        name.starts_with("--").then(|| (name.to_owned(), equals))
    });
    match flag {
        Some((name, equals)) => {
            let value = OsString::from_vec(bytes[equals + 1..].to_vec());
            Ok((name, Some(value)))
        }
        None => Err(not_utf8_argument(&String::from_utf8_lossy(&bytes))),
    }
}

#[cfg(not(unix))]
fn split_non_utf8_arg(raw: OsString) -> Result<(String, Option<OsString>), CliError> {
    Err(not_utf8_argument(&raw.to_string_lossy()))
}

fn not_utf8_argument(lossy: &str) -> CliError {
    CliError(format!("unexpected argument {}: not valid UTF-8", quoted(lossy)))
}

fn take_value(
    spec: &FlagSpec,
    inline_value: Option<OsString>,
    remaining: &mut impl Iterator<Item = OsString>,
) -> Result<OsString, CliError> {
    // The next argument is the value even if it starts with '-': ping intervals may be negative.
    inline_value.or_else(|| remaining.next()).ok_or_else(|| {
        let value_name = spec.value_name().unwrap_or("a value");
        CliError(format!("{}: missing value (expected {value_name})", spec.long))
    })
}

fn invalid_value(spec: &FlagSpec, value: &str, reason: &str) -> CliError {
    CliError(format!("{}: invalid value {}: {reason}", spec.long, quoted(value)))
}

/// Quotes user input for a message, escaping control characters so it cannot garble a terminal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.escape_debug())
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|&port| port != 0)
        .ok_or_else(|| "expected an integer from 1 to 65535".to_owned())
}

/// `HOST:PORT`, split at the first ':' as the original does (so IPv6 literals cannot be used).
fn parse_metrics_address(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text.split_once(':').ok_or("no port specified (expected HOST:PORT)")?;
    if host.is_empty() {
        return Err("no host specified (expected HOST:PORT)".to_owned());
    }
    let port =
        parse_port(port).map_err(|reason| format!("invalid port {}: {reason}", quoted(port)))?;
    Ok((host.to_owned(), port))
}

fn parse_count(text: &str, min: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(count) if count >= min => Ok(count),
        _ if min <= 1 => Err("expected an integer greater than 0".to_owned()),
        _ => Err(format!("expected an integer of at least {min}")),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) if (1..=MAX_SECONDS).contains(&seconds) => Ok(Duration::from_secs(seconds)),
        _ => Err(format!("expected a whole number of seconds from 1 to {MAX_SECONDS}")),
    }
}

fn parse_microseconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(micros) if (1..=MAX_MICROSECONDS).contains(&micros) => Ok(Duration::from_micros(micros)),
        _ => Err(format!("expected a whole number of microseconds from 1 to {MAX_MICROSECONDS}")),
    }
}

/// The original treats 0 and negative intervals as "no pings", so they stay valid here.
fn parse_ping_interval(text: &str) -> Result<Option<Duration>, String> {
    let seconds: i64 = text
        .parse()
        .map_err(|_| "expected a whole number of seconds (0 or less disables pings)".to_owned())?;
    match u64::try_from(seconds) {
        Ok(0) | Err(_) => Ok(None),
        Ok(seconds) if seconds <= MAX_SECONDS => Ok(Some(Duration::from_secs(seconds))),
        Ok(_) => Err(format!("expected at most {MAX_SECONDS} seconds")),
    }
}

/// A duration flag: the original's syntax, but a zero interval would make the server spin (D13).
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval.is_zero() {
        Err("must be greater than zero".to_owned())
    } else if interval > Duration::from_secs(MAX_SECONDS) {
        Err(format!("must be at most {MAX_SECONDS}s"))
    } else {
        Ok(interval)
    }
}

// ---------------------------------------------------------------------------------------------
// Help text

const INTRO: &str = "\
icepeak: a JSON document store with push notifications (icepeak-rs, compatible with Icepeak)

Usage: icepeak [OPTIONS]

Options take a value as '--flag VALUE' or '--flag=VALUE'; if a flag is repeated, the last wins.
DURATION is a whole number with a unit: ms, s or m (for example 500ms, 5s or 1m).";

const OUTRO: &str = "\
[compat] marks flags of the original Icepeak that are kept so its command lines keep working.";

/// Help lines stay under 100 columns.
const WIDTH: usize = 99;
const INDENT: usize = 2;
const GAP: usize = 2;
/// Longer labels get a line of their own, so one long flag does not squeeze every description.
const MAX_INLINE_LABEL: usize = 36;

fn push_flag_help(
    lines: &mut Vec<String>,
    spec: &FlagSpec,
    label: &str,
    defaults: &Config,
    description_column: usize,
) {
    let text_width = WIDTH.saturating_sub(description_column).max(20);
    let description =
        if spec.compat { format!("[compat] {}", spec.help) } else { spec.help.to_owned() };
    let mut notes = Vec::new();
    if let Some(default) = (spec.shown_default)(defaults) {
        notes.push(format!("default: {default}"));
    }
    if let Some(variable) = spec.env {
        notes.push(format!("env: {variable}"));
    }
    let mut text = wrap(&description, text_width);
    if !notes.is_empty() {
        text.extend(wrap(&format!("({})", notes.join(", ")), text_width));
    }

    let indent = " ".repeat(INDENT);
    let pad = " ".repeat(description_column);
    let mut text = text.into_iter();
    if INDENT + label.len() + GAP <= description_column {
        let first = text.next().unwrap_or_default();
        let label_width = description_column - INDENT;
        lines.push(format!("{indent}{label:<label_width$}{first}").trim_end().to_owned());
    } else {
        lines.push(format!("{indent}{label}"));
    }
    lines.extend(text.map(|line| format!("{pad}{line}")));
}

/// Greedy word wrap; a word longer than `width` gets a line of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Shows a duration in the largest unit `parse_duration` accepts that represents it exactly.
fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis != 0 && millis.is_multiple_of(60_000) {
        format!("{}m", millis / 60_000)
    } else if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

fn format_bytes(bytes: usize) -> String {
    if bytes != 0 && bytes.is_multiple_of(MIB) {
        format!("{bytes} = {} MiB", bytes / MIB)
    } else if bytes != 0 && bytes.is_multiple_of(KIB) {
        format!("{bytes} = {} KiB", bytes / KIB)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(args: &[&str]) -> Result<Command, CliError> {
        parse_args(args.iter().copied(), no_env)
    }

    fn parse_with_env(args: &[&str], vars: &[(&str, &str)]) -> Result<Command, CliError> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        parse_args(args.iter().copied(), move |name| {
            vars.iter().find(|(variable, _)| variable == name).map(|(_, value)| value.clone())
        })
    }

    fn config(args: &[&str]) -> Config {
        config_with_env(args, &[])
    }

    fn config_with_env(args: &[&str], vars: &[(&str, &str)]) -> Config {
        match parse_with_env(args, vars) {
            Ok(Command::Run(config)) => config,
            other => panic!("{args:?}: expected a config, got {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        match parse(args) {
            Err(CliError(message)) => message,
            Ok(other) => panic!("{args:?}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let config = config(&[]);
        assert_eq!(config, Config::default());
        assert_eq!(config.data_file, PathBuf::from("icepeak.json"));
        assert_eq!(config.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(config.port, 3000);
        assert!(!config.enable_jwt_auth);
        assert_eq!(config.jwt_secret, None);
        assert_eq!(config.metrics, None);
        assert_eq!(config.queue_capacity, 256);
        assert_eq!(config.sync_interval, None);
        assert_eq!(config.fsync_interval, Duration::from_millis(100));
        assert!(!config.journaling && !config.sync_log && !config.sqlite);
        assert_eq!(config.sentry_dsn, None);
        assert!(!config.disable_sentry_logging);
        assert_eq!(config.websocket_ping_interval, Some(Duration::from_secs(30)));
        assert_eq!(config.websocket_pong_timeout, Duration::from_secs(30));
        assert_eq!(config.first_subscription_deadline, Duration::from_secs(1));
        assert_eq!(config.max_body_size, 32 * 1024 * 1024);
        assert!(config.max_body_size > 20_000_000);
        assert_eq!(config.max_header_size, 64 * 1024);
        assert_eq!(config.max_depth, 512);
        assert_eq!(config.max_connections, 10_000);
        assert_eq!(config.header_timeout, Duration::from_secs(10));
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
        assert!(!config.log_requests);
        assert!(config.warnings.is_empty());
    }

    type Check = fn(&Config) -> bool;

    /// One sample per flag; `every_flag_has_a_sample` keeps this in step with `FLAGS`.
    const SAMPLES: &[(&str, Option<&str>, Check)] = &[
        ("--data-file", Some("/tmp/x.json"), |c| {
            c.data_file == std::path::Path::new("/tmp/x.json")
        }),
        ("--sync-interval", Some("5s"), |c| c.sync_interval == Some(Duration::from_secs(5))),
        ("--fsync-interval", Some("20ms"), |c| c.fsync_interval == Duration::from_millis(20)),
        ("--file", None, |c| !c.sqlite),
        ("--sqlite", None, |c| c.sqlite),
        ("--journaling", None, |c| c.journaling),
        ("--sync-log", None, |c| c.sync_log),
        ("--host", Some("127.0.0.1"), |c| c.host == IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ("--port", Some("4000"), |c| c.port == 4000),
        ("--metrics", Some("127.0.0.1:9090"), |c| {
            c.metrics == Some(("127.0.0.1".to_owned(), 9090))
        }),
        ("--max-body-size", Some("1000"), |c| c.max_body_size == 1000),
        ("--max-header-size", Some("2048"), |c| c.max_header_size == 2048),
        ("--max-depth", Some("7"), |c| c.max_depth == 7),
        ("--max-connections", Some("50"), |c| c.max_connections == 50),
        ("--header-timeout", Some("3"), |c| c.header_timeout == Duration::from_secs(3)),
        ("--idle-timeout", Some("4"), |c| c.idle_timeout == Duration::from_secs(4)),
        ("--queue-capacity", Some("10"), |c| c.queue_capacity == 10),
        ("--websocket-ping-interval", Some("5"), |c| {
            c.websocket_ping_interval == Some(Duration::from_secs(5))
        }),
        ("--websocket-pong-timeout", Some("6"), |c| {
            c.websocket_pong_timeout == Duration::from_secs(6)
        }),
        ("--first-subscription-deadline-timeout", Some("5000"), |c| {
            c.first_subscription_deadline == Duration::from_millis(5)
        }),
        ("--enable-jwt-auth", None, |c| c.enable_jwt_auth),
        ("--jwt-secret", Some("s"), |c| c.jwt_secret.as_deref() == Some("s")),
        ("--log-requests", None, |c| c.log_requests),
        ("--sentry-dsn", Some("https://k@sentry.invalid/1"), |c| {
            c.sentry_dsn.as_deref() == Some("https://k@sentry.invalid/1")
        }),
        ("--disable-sentry-logging", None, |c| c.disable_sentry_logging),
    ];

    #[test]
    fn every_flag_has_a_sample() {
        for spec in FLAGS {
            if matches!(spec.action, Action::Help) {
                continue;
            }
            assert!(
                SAMPLES.iter().any(|(name, _, _)| *name == spec.long),
                "no sample for {}",
                spec.long
            );
        }
        for (name, _, _) in SAMPLES {
            assert!(find_flag(name).is_some(), "sample for unknown flag {name}");
        }
    }

    #[test]
    fn every_flag_in_both_forms() {
        for &(name, value, check) in SAMPLES {
            match value {
                Some(value) => {
                    let separate = config(&[name, value]);
                    assert!(check(&separate), "{name} {value}: {separate:?}");
                    let joined = format!("{name}={value}");
                    let joined_config = config(&[&joined]);
                    assert!(check(&joined_config), "{joined}: {joined_config:?}");
                    assert_eq!(separate, joined_config, "{name}");
                }
                None => {
                    let switched = config(&[name]);
                    assert!(check(&switched), "{name}: {switched:?}");
                }
            }
        }
    }

    #[test]
    fn port_from_env_and_flag_precedence() {
        assert_eq!(config_with_env(&[], &[("ICEPEAK_PORT", "3001")]).port, 3001);
        assert_eq!(config_with_env(&["--port=3002"], &[("ICEPEAK_PORT", "9999")]).port, 3002);
        assert_eq!(
            config_with_env(&["--port", "3002"], &[("ICEPEAK_PORT", "notanumber")]).port,
            3002
        );
    }

    #[test]
    fn unusable_port_env_falls_back_to_3000_with_a_warning() {
        for bad in ["notanumber", "", "0", "70000", "-1", "30.5"] {
            let config = config_with_env(&[], &[("ICEPEAK_PORT", bad)]);
            assert_eq!(config.port, 3000, "ICEPEAK_PORT={bad}");
            assert!(
                config
                    .warnings
                    .iter()
                    .any(|w| w.contains("ICEPEAK_PORT") && w.ends_with("using 3000")),
                "{:?}",
                config.warnings
            );
        }
    }

    #[test]
    fn jwt_secret_from_env_and_flag_precedence() {
        let from_env = config_with_env(&[], &[("JWT_SECRET", "envsecret")]);
        assert_eq!(from_env.jwt_secret.as_deref(), Some("envsecret"));
        let empty = config_with_env(&[], &[("JWT_SECRET", "")]);
        assert_eq!(empty.jwt_secret.as_deref(), Some(""));
        let flag = config_with_env(&["--jwt-secret", "flag"], &[("JWT_SECRET", "envsecret")]);
        assert_eq!(flag.jwt_secret.as_deref(), Some("flag"));
        // A secret may be anything, including something that looks like a flag.
        let dashed = config(&["--jwt-secret", "--port"]);
        assert_eq!(dashed.jwt_secret.as_deref(), Some("--port"));
        assert_eq!(config(&["--jwt-secret="]).jwt_secret.as_deref(), Some(""));
        assert_eq!(config(&["--jwt-secret=a=b"]).jwt_secret.as_deref(), Some("a=b"));
    }

    #[test]
    fn sentry_from_env_and_flag_precedence_with_warning() {
        let from_env = config_with_env(&[], &[("SENTRY_DSN", "https://e@s/1")]);
        assert_eq!(from_env.sentry_dsn.as_deref(), Some("https://e@s/1"));
        assert!(from_env.warnings.iter().any(|w| w.contains("Sentry")));

        let flag = config_with_env(&["--sentry-dsn", "https://f@s/1"], &[("SENTRY_DSN", "x")]);
        assert_eq!(flag.sentry_dsn.as_deref(), Some("https://f@s/1"));
        assert!(flag.warnings.iter().any(|w| w.contains("Sentry")));

        let disabled = config(&["--disable-sentry-logging"]);
        assert!(disabled.warnings.iter().any(|w| w.contains("Sentry")));

        let empty = config_with_env(&[], &[("SENTRY_DSN", "")]);
        assert_eq!(empty.sentry_dsn.as_deref(), Some(""));
        assert!(empty.warnings.is_empty(), "{:?}", empty.warnings);
    }

    #[test]
    fn journaling_warns() {
        let config = config(&["--journaling"]);
        assert_eq!(
            config.warnings,
            vec!["--journaling has no further effect: the write-ahead log is always on"]
        );
    }

    /// The BAD cases of `conformance/tests/test_cli.py`, with the flag the message must name.
    const BAD: &[(&[&str], &str)] = &[
        (&["--port=notanumber"], "--port"),
        (&["--port", "70000"], "--port"),
        (&["--port", "-1"], "--port"),
        (&["--port"], "--port"),
        (&["--sync-interval", "10"], "--sync-interval"),
        (&["--sync-interval", "1h"], "--sync-interval"),
        (&["--sync-interval", "1.5s"], "--sync-interval"),
        (&["--sync-interval", "s"], "--sync-interval"),
        (&["--sync-interval", "0s"], "--sync-interval"),
        (&["--sync-interval", "0ms"], "--sync-interval"),
        (&["--metrics", "127.0.0.1"], "--metrics"),
        (&["--metrics", "127.0.0.1:abc"], "--metrics"),
        (&["--queue-capacity", "0"], "--queue-capacity"),
        (&["--queue-capacity", "-1"], "--queue-capacity"),
        (&["--queue-capacity", "abc"], "--queue-capacity"),
        (&["--websocket-pong-timeout", "0"], "--websocket-pong-timeout"),
        (&["--websocket-pong-timeout", "-1"], "--websocket-pong-timeout"),
        (&["--first-subscription-deadline-timeout", "0"], "--first-subscription-deadline-timeout"),
        (&["--first-subscription-deadline-timeout", "-5"], "--first-subscription-deadline-timeout"),
        (&["--websocket-ping-interval", "abc"], "--websocket-ping-interval"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];

    #[test]
    fn conformance_bad_cases_are_errors_naming_the_flag() {
        for &(args, flag) in BAD {
            let mut full = vec!["--data-file", "ports.json"];
            full.extend_from_slice(args);
            let message = error(&full);
            assert!(message.contains(flag), "{args:?}: {message}");
        }
    }

    #[test]
    fn error_messages_carry_the_original_wording() {
        assert_eq!(
            error(&["--port=notanumber"]),
            "--port: invalid value 'notanumber': expected an integer from 1 to 65535"
        );
        assert!(error(&["--port", "0"]).contains("from 1 to 65535"));
        assert!(error(&["--sync-interval", "10"]).contains("invalid unit"));
        assert!(error(&["--sync-interval", "1h"]).contains("invalid unit"));
        assert!(error(&["--sync-interval", "s"]).contains("no amount specified"));
        assert!(error(&["--sync-interval", "0s"]).contains("greater than zero"));
        assert!(error(&["--metrics", "127.0.0.1"]).contains("no port specified"));
        assert!(error(&["--metrics", "127.0.0.1:abc"]).contains("'abc'"));
        assert!(error(&["--metrics", ":9090"]).contains("no host specified"));
        // Split at the first colon, so an IPv6 literal leaves a port that does not parse.
        assert!(error(&["--metrics", "::1:9090"]).contains("--metrics"));
        assert!(error(&["--metrics", "a:1:2"]).contains("--metrics"));
    }

    #[test]
    fn conformance_good_cases_are_accepted() {
        let good: &[&[&str]] = &[
            &["--sync-interval", "500ms"],
            &["--sync-interval", "5s"],
            &["--sync-interval", "1m"],
            &["--sync-interval", "1s", "--journaling", "--sync-log"],
            &["--queue-capacity", "1"],
            &["--websocket-ping-interval", "0"],
            &["--websocket-ping-interval", "10", "--websocket-pong-timeout", "3"],
            &["--first-subscription-deadline-timeout", "5000"],
            &["--file"],
            &["--enable-jwt-auth", "--jwt-secret", "s"],
            &["--sentry-dsn", "https://key@sentry.invalid/1", "--disable-sentry-logging"],
            &[
                "--data-file=ports.json",
                "--port=4000",
                "--queue-capacity=10",
                "--sync-interval=1s",
                "--websocket-ping-interval=5",
                "--websocket-pong-timeout=5",
                "--first-subscription-deadline-timeout=5000000",
            ],
        ];
        for args in good {
            let mut full = vec!["--data-file", "ports.json"];
            full.extend_from_slice(args);
            assert!(matches!(parse(&full), Ok(Command::Run(_))), "{args:?}");
        }
    }

    #[test]
    fn ping_interval_zero_or_negative_disables_pings() {
        for value in ["0", "-1", "-30"] {
            let config = config(&["--websocket-ping-interval", value]);
            assert_eq!(config.websocket_ping_interval, None, "{value}");
        }
        assert!(error(&["--websocket-ping-interval", "2000000000"]).contains("at most"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("007s"), Ok(Duration::from_secs(7)));

        for no_amount in ["", "s", "ms", "-5s", ".5s", "+5s", " 5s"] {
            let message = parse_duration(no_amount).unwrap_err();
            assert!(message.starts_with("no amount specified"), "{no_amount:?}: {message}");
        }
        for bad_unit in ["10", "1h", "5S", "5MS", "5sec", "5μs"] {
            let message = parse_duration(bad_unit).unwrap_err();
            assert!(message.starts_with("invalid unit"), "{bad_unit:?}: {message}");
        }
        for bad_amount in ["1.5s", "1_000ms", "5 s"] {
            let message = parse_duration(bad_amount).unwrap_err();
            assert!(message.starts_with("invalid amount"), "{bad_amount:?}: {message}");
        }
        for too_large in ["99999999999999999999999s", "18446744073709551615m"] {
            let message = parse_duration(too_large).unwrap_err();
            assert!(message.contains("too large"), "{too_large:?}: {message}");
        }
    }

    #[test]
    fn duration_flags_reject_zero_and_absurd_values() {
        for flag in ["--sync-interval", "--fsync-interval"] {
            assert!(error(&[flag, "0ms"]).contains(flag));
            assert!(error(&[flag, "0m"]).contains(flag));
            assert!(error(&[flag, "18446744073709551615s"]).contains("at most"));
        }
    }

    #[test]
    fn limits_reject_nonsense() {
        for (flag, bad) in [
            ("--max-body-size", "0"),
            ("--max-body-size", "2000000000"),
            ("--max-depth", "10001"),
            ("--max-header-size", "1023"),
            ("--max-depth", "0"),
            ("--max-connections", "-3"),
            ("--header-timeout", "0"),
            ("--idle-timeout", "1.5"),
            ("--host", "localhost"),
            ("--data-file", ""),
        ] {
            let message = error(&[flag, bad]);
            assert!(message.starts_with(flag), "{flag} {bad}: {message}");
        }
        assert_eq!(config(&["--max-header-size", "1024"]).max_header_size, 1024);
        assert_eq!(config(&["--host", "::1"]).host, "::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn help_wins_wherever_it_appears() {
        for args in [
            &["-h"][..],
            &["--help"],
            &["--port", "4000", "--help"],
            &["--no-such-flag", "-h"],
            &["--port=notanumber", "--help"],
            &["--sqlite", "--file", "-h"],
        ] {
            assert_eq!(parse(args).unwrap(), Command::Help, "{args:?}");
        }
        assert!(error(&["--help=yes"]).starts_with("--help"));
    }

    #[test]
    fn unknown_flags_and_positional_arguments() {
        assert_eq!(error(&["--no-such-flag"]), "unknown option '--no-such-flag'");
        assert!(error(&["--no-such-flag=1"]).contains("'--no-such-flag'"));
        assert!(error(&["-x"]).contains("'-x'"));
        assert!(error(&["icepeak.json"]).contains("unexpected argument 'icepeak.json'"));
        assert!(error(&["-"]).contains("unexpected argument"));
        assert!(error(&["--"]).contains("'--'"));
        assert!(error(&[""]).contains("unexpected argument"));
        assert!(error(&["--data-file", "a", "b"]).contains("'b'"));
    }

    #[test]
    fn missing_value() {
        for spec in FLAGS {
            if let Some(value_name) = spec.value_name() {
                let message = error(&[spec.long]);
                assert_eq!(
                    message,
                    format!("{}: missing value (expected {value_name})", spec.long)
                );
            }
        }
    }

    #[test]
    fn switch_given_a_value() {
        for spec in FLAGS {
            if let Action::Switch(_) = spec.action {
                let message = error(&[&format!("{}=yes", spec.long)]);
                assert_eq!(message, format!("{}: takes no value", spec.long));
            }
        }
    }

    #[test]
    fn last_duplicate_wins() {
        assert_eq!(config(&["--port", "4000", "--port=4001"]).port, 4001);
        let data_file = config(&["--data-file", "a.json", "--data-file=b.json"]).data_file;
        assert_eq!(data_file, PathBuf::from("b.json"));
        let ping = config(&["--websocket-ping-interval=0", "--websocket-ping-interval", "7"]);
        assert_eq!(ping.websocket_ping_interval, Some(Duration::from_secs(7)));
        let journaling = config(&["--journaling", "--journaling"]);
        assert_eq!(journaling.warnings.len(), 1);
    }

    #[test]
    fn sqlite_backend() {
        let sqlite = config(&["--sqlite"]);
        assert!(sqlite.sqlite);
        assert_eq!(sqlite.data_file, PathBuf::from("icepeak.db"));
        let named = config(&["--data-file", "x.db", "--sqlite"]);
        assert_eq!(named.data_file, PathBuf::from("x.db"));
        for args in [&["--sqlite", "--file"], &["--file", "--sqlite"]] {
            let message = error(args);
            assert!(message.contains("--sqlite") && message.contains("--file"), "{message}");
        }
        assert!(!config(&["--file", "--file"]).sqlite);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments() {
        use std::os::unix::ffi::OsStringExt;
        let raw = |bytes: &[u8]| OsString::from_vec(bytes.to_vec());

        let separate = parse_args([raw(b"--data-file"), raw(b"d\xffta.json")], no_env).unwrap();
        let joined = parse_args([raw(b"--data-file=d\xffta.json")], no_env).unwrap();
        assert_eq!(separate, joined);
        let Command::Run(config) = separate else {
            panic!("expected a config");
        };
        assert_eq!(config.data_file, PathBuf::from(raw(b"d\xffta.json")));

        let port = parse_args([raw(b"--port"), raw(b"\xff")], no_env).unwrap_err();
        assert_eq!(port.0, "--port: value is not valid UTF-8");
        let joined_port = parse_args([raw(b"--port=\xff")], no_env).unwrap_err();
        assert_eq!(joined_port.0, "--port: value is not valid UTF-8");
        let flag = parse_args([raw(b"--po\xffrt")], no_env).unwrap_err();
        assert!(flag.0.contains("not valid UTF-8"), "{flag}");
        let positional = parse_args([raw(b"\xff=x")], no_env).unwrap_err();
        assert!(positional.0.contains("not valid UTF-8"), "{positional}");
        let unknown = parse_args([raw(b"--nope=\xff")], no_env).unwrap_err();
        assert_eq!(unknown.0, "unknown option '--nope'");
    }

    #[test]
    fn messages_escape_control_characters() {
        let message = error(&["--port", "1\n\u{1b}[2J"]);
        assert!(!message.contains('\n') && !message.contains('\u{1b}'), "{message:?}");
    }

    #[test]
    fn usage_documents_every_accepted_flag() {
        let text = usage();
        assert!(text.contains("Usage: icepeak [OPTIONS]"));
        assert!(text.contains("--data-file"));
        for spec in FLAGS {
            assert!(text.contains(&spec.label()), "{} missing from usage", spec.long);
            if let Some(short) = spec.short {
                assert!(matches!(parse(&[short]), Ok(Command::Help)) || find_flag(short).is_some());
            }
            if let Some(variable) = spec.env {
                assert!(text.contains(variable), "{variable} missing from usage");
            }
        }
        for group in Group::ALL {
            assert!(text.contains(&format!("\n{}:\n", group.title())));
        }
    }

    /// The label line of `spec` in the help, plus its continuation lines.
    fn help_entry(text: &str, spec: &FlagSpec) -> String {
        let label = format!("  {}", spec.label());
        let mut lines = text.lines().skip_while(|line| {
            !((line.starts_with(&label) && line[label.len()..].starts_with(' ')) || *line == label)
        });
        let first = lines.next().unwrap_or_else(|| panic!("no help entry for {}", spec.long));
        let continuation = lines.take_while(|line| line.starts_with("   "));
        std::iter::once(first).chain(continuation).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn usage_marks_compat_flags_and_shows_defaults() {
        let text = usage();
        for spec in FLAGS {
            let entry = help_entry(&text, spec);
            assert_eq!(spec.compat, entry.contains("[compat]"), "{}:\n{entry}", spec.long);
        }
        for name in [
            "--file",
            "--sqlite",
            "--journaling",
            "--sync-log",
            "--sentry-dsn",
            "--disable-sentry-logging",
            "--queue-capacity",
        ] {
            assert!(find_flag(name).is_some_and(|spec| spec.compat), "{name}");
        }
        assert!(text.contains("default: 3000, env: ICEPEAK_PORT"));
        assert!(text.contains("default: 100ms"));
        assert!(text.contains("default: icepeak.json"));
    }

    #[test]
    fn usage_lines_fit_in_100_columns() {
        for line in usage().lines() {
            assert!(line.chars().count() < 100, "too long: {line}");
            assert_eq!(line, line.trim_end(), "trailing whitespace: {line:?}");
        }
    }

    #[test]
    fn shown_defaults_parse_back_to_the_defaults() {
        let defaults = Config::default();
        for spec in FLAGS {
            let Some(shown) = (spec.shown_default)(&defaults) else {
                continue;
            };
            let value = shown.split(" = ").next().unwrap_or(&shown);
            let parsed = config(&[spec.long, value]);
            let expected = if spec.long == "--data-file" {
                // Giving --data-file explicitly is the only observable difference.
                Config::default()
            } else {
                defaults.clone()
            };
            assert_eq!(parsed, expected, "{} {value}", spec.long);
        }
    }

    #[test]
    fn every_env_flag_takes_text() {
        for spec in FLAGS {
            if spec.env.is_some() {
                assert!(matches!(spec.action, Action::Text { .. }), "{}", spec.long);
            }
        }
    }

    #[test]
    fn odd_inputs_never_panic() {
        let values = [
            "",
            "-",
            "=",
            "0",
            "-1",
            "1",
            "99999999999999999999999",
            "-99999999999999999999",
            "1.5",
            "ms",
            "1m",
            "0s",
            "\u{0}",
            "é",
            ":",
            "a:b",
            "::",
            "1:",
            ":1",
            "--help2",
            "1e3",
        ];
        for spec in FLAGS {
            if matches!(spec.action, Action::Help) {
                continue;
            }
            for value in values {
                let _ = parse(&[spec.long, value]);
                let _ = parse(&[&format!("{}={value}", spec.long)]);
                let _ = parse_with_env(&[], &[(spec.env.unwrap_or("X"), value)]);
            }
            let _ = parse(&[spec.long, spec.long, spec.long]);
        }
        for value in values {
            let _ = parse_duration(value);
        }
    }
}
