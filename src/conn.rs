//! One client connection as a state machine: bytes in, bytes out, no socket.
//!
//! The reactor reads the socket into [`Conn::receive`], calls [`Conn::process`] and writes
//! [`Conn::output`] back; this module decides what those bytes mean, in which order responses
//! leave, when to stop reading (a client that pipelines faster than it reads its answers) and
//! when the connection is over. Keeping sockets out makes all of it testable with plain bytes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use std::rc::Rc;

use crate::api::{self, ApiSettings};
use crate::auth::{self, Mode};
use crate::http::response::{self, Body, CONTINUE, ConnectionHeader, Response};
use crate::http::{Event, HttpError, Limits, Request, RequestParser, Version};
use crate::multi::{self, Context, MultiSubscription, Outcome};
use crate::outbuf::OutQueue;
use crate::path::{self, Query};
use crate::slab::Key;
use crate::state::State;
use crate::wal::Lsn;
use crate::ws::{self, ReadEnd, WsSession, WsSettings};
use std::time::SystemTime;
use tungstenite::protocol::frame::coding::CloseCode;

/// Past this much unsent output the connection stops parsing further pipelined requests (and
/// the reactor stops reading) until the client has read some of it.
pub const OUTPUT_HIGH_WATER: usize = 1 << 20;
/// After the last response of a closing connection, how long unread input is drained so that
/// the kernel does not answer it with a reset that would destroy the response in flight.
const LINGER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct ConnSettings {
    pub limits: Limits,
    pub api: ApiSettings,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub log_requests: bool,
    pub ws: WsSettings,
    /// §6.2.1: a multi-subscription connection must subscribe successfully within this.
    pub first_subscription_deadline: Duration,
}

/// An encoded reply: its head (and owned body), a shared body, and the log record it waits
/// for (0: none, log positions start at 1).
struct QueuedReply {
    bytes: Vec<u8>,
    shared: Option<Rc<[u8]>>,
    wait_for: Lsn,
}

impl QueuedReply {
    fn len(&self) -> usize {
        self.bytes.len() + self.shared.as_ref().map_or(0, |body| body.len())
    }

    fn write_into(self, output: &mut OutQueue) {
        output.push(self.bytes);
        if let Some(body) = self.shared {
            output.push_shared(body);
        }
    }
}

/// Which listener accepted the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The document API and WebSockets.
    Api,
    /// `--metrics`: the health check and the Prometheus text (§10.1).
    Metrics,
}

/// What the connection speaks now. An HTTP connection becomes a WebSocket one after a
/// successful upgrade, and stays so.
enum Protocol {
    Http,
    WebSocket(Box<WebSocketConn>),
}

struct WebSocketConn {
    session: WsSession,
    subscriptions: Subscriptions,
}

enum Subscriptions {
    /// The single-subscription protocol's one path (§6.1), registered after write `seq`.
    Single { path: Vec<String>, seq: u64 },
    /// `?method=reusable` (§6.2).
    Multi(MultiSubscription),
}

impl WebSocketConn {
    /// The next ping, or the first-subscription deadline if that comes first.
    fn next_deadline(&self) -> Option<Instant> {
        [self.session.next_deadline(), self.first_subscription_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// §6.0, §6.2.1: false for a peer that stopped answering pings or never subscribed in
    /// time; it is dropped without a close frame.
    fn on_timer(&mut self, settings: &ConnSettings, now: Instant, output: &mut OutQueue) -> bool {
        let missed_deadline = self.first_subscription_deadline().is_some_and(|d| now >= d);
        !missed_deadline && self.session.on_timer(&settings.ws, now, output)
    }

    fn first_subscription_deadline(&self) -> Option<Instant> {
        match &self.subscriptions {
            Subscriptions::Multi(multi) => multi.deadline(),
            Subscriptions::Single { .. } => None,
        }
    }
}

/// How a connection's updates are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateFormat {
    /// The bare value (§6.1).
    Bare,
    /// `{"type":"update","path":…,"value":…}` (§6.2.5).
    Envelope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Open,
    /// No further request is read; the connection ends once its output is written.
    Finishing,
    /// Output written and our side shut down; input is discarded until the peer closes or
    /// `until` passes.
    Lingering {
        until: Instant,
    },
    /// The reactor drops the socket.
    Done,
}

pub struct Conn {
    role: Role,
    protocol: Protocol,
    parser: RequestParser,
    input: Vec<u8>,
    /// Bytes of `input` already consumed by the parser; compacted lazily so that a burst of
    /// pipelined requests costs one move per read, not one per request.
    input_consumed: usize,
    output: OutQueue,
    /// Encoded responses that may not leave yet: a `?durable` reply until its log record is on
    /// disk, and every later response behind it, so that answers stay in request order.
    held: VecDeque<QueuedReply>,
    held_bytes: usize,
    /// An upgrade that arrived behind held replies: it switches the protocol only once they
    /// have left, so the 101 never overtakes them.
    deferred_upgrade: Option<Request>,
    lifecycle: Lifecycle,
    peer_closed: bool,
    head_started: Option<Instant>,
    last_activity: Instant,
}

impl Conn {
    pub fn new(settings: &ConnSettings, now: Instant, role: Role) -> Self {
        Conn {
            role,
            protocol: Protocol::Http,
            parser: RequestParser::new(settings.limits),
            input: Vec::new(),
            input_consumed: 0,
            output: OutQueue::default(),
            held: VecDeque::new(),
            held_bytes: 0,
            deferred_upgrade: None,
            lifecycle: Lifecycle::Open,
            peer_closed: false,
            head_started: None,
            last_activity: now,
        }
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    pub fn output(&mut self) -> &mut OutQueue {
        &mut self.output
    }

    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Responses written or waiting to be, in bytes: what pipelining is measured against.
    fn backlog(&self) -> usize {
        self.output.len() + self.held_bytes
    }

    pub fn waits_for_durability(&self) -> bool {
        !self.held.is_empty()
    }

    /// Lets out the held responses whose log records are now on disk, in order.
    pub fn release_durable(&mut self, durable: Lsn) {
        while self.held.front().is_some_and(|reply| reply.wait_for <= durable) {
            if let Some(reply) = self.held.pop_front() {
                self.held_bytes -= reply.len();
                reply.write_into(&mut self.output);
            }
        }
    }

    /// Whether the reactor should read more from the socket now.
    pub fn wants_input(&self) -> bool {
        match self.lifecycle {
            // A WebSocket client's frames (pongs, close) are read even while it is behind on
            // its updates; tungstenite consumes them as they come, so input stays small.
            // A client that sends requests without reading the replies is stopped at the same
            // bound as HTTP pipelining.
            Lifecycle::Open if matches!(self.protocol, Protocol::WebSocket(_)) => {
                !self.peer_closed && self.output.len() < OUTPUT_HIGH_WATER
            }
            Lifecycle::Open => !self.peer_closed && self.backlog() < OUTPUT_HIGH_WATER,
            Lifecycle::Lingering { .. } => !self.peer_closed,
            Lifecycle::Finishing | Lifecycle::Done => false,
        }
    }

    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        self.last_activity = now;
        if self.lifecycle != Lifecycle::Open {
            return;
        }
        if self.input_consumed > 0 {
            self.input.drain(..self.input_consumed);
            self.input_consumed = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// The peer will send nothing more.
    pub fn receive_eof(&mut self) {
        self.peer_closed = true;
        if let Lifecycle::Lingering { .. } = self.lifecycle {
            self.lifecycle = Lifecycle::Done;
        }
    }

    /// The socket failed: nothing more can be sent or received.
    pub fn abort(&mut self) {
        self.lifecycle = Lifecycle::Done;
    }

    /// Bytes went out on the socket.
    pub fn wrote(&mut self, now: Instant) {
        self.last_activity = now;
        if let Protocol::WebSocket(ws) = &mut self.protocol {
            ws.session.output_drained(&mut self.output);
        }
    }

    /// Graceful stop: a WebSocket client is told with close code 1001 (going away).
    pub fn going_away(&mut self) {
        if let Protocol::WebSocket(ws) = &mut self.protocol
            && ws.session.can_send()
        {
            ws.session.close(CloseCode::Away, "server shutting down", &mut self.output);
        }
    }

    /// Removes every subscription of this connection from the trie (on disconnect).
    pub fn unsubscribe_all(&self, state: &mut State, key: Key) {
        let Protocol::WebSocket(ws) = &self.protocol else { return };
        match &ws.subscriptions {
            Subscriptions::Single { path, .. } => {
                state.unsubscribe(path, key);
            }
            Subscriptions::Multi(multi) => {
                for path in multi.paths() {
                    state.unsubscribe(path, key);
                }
            }
        }
    }

    pub fn update_format(&self) -> Option<UpdateFormat> {
        match &self.protocol {
            Protocol::WebSocket(ws) => match ws.subscriptions {
                Subscriptions::Single { .. } => Some(UpdateFormat::Bare),
                Subscriptions::Multi(_) => Some(UpdateFormat::Envelope),
            },
            Protocol::Http => None,
        }
    }

    /// Whether the update of write `seq` at `path` is news to this connection: a subscription
    /// registered after that write already showed its effect in its initial value.
    pub fn wants_update(&self, path: &[String], seq: u64) -> bool {
        let Protocol::WebSocket(ws) = &self.protocol else { return false };
        match &ws.subscriptions {
            Subscriptions::Single { seq: registered, .. } => seq > *registered,
            Subscriptions::Multi(multi) => multi.registered_at(path).is_some_and(|r| seq > r),
        }
    }

    /// A value changed at a path this connection subscribed to; `frame` is the encoded update,
    /// shared with every other subscriber of that path. True if it replaced an unsent update.
    pub fn push_update(&mut self, path: &[String], frame: Rc<[u8]>) -> bool {
        match &mut self.protocol {
            Protocol::WebSocket(ws) => ws.session.push_update(path, frame, &mut self.output),
            Protocol::Http => false,
        }
    }

    /// Parses and answers every complete request in the input, in order, until the input runs
    /// dry or the output backlog is too large.
    pub fn process(&mut self, state: &mut State, settings: &ConnSettings, key: Key, now: Instant) {
        if self.held.is_empty()
            && let Some(request) = self.deferred_upgrade.take()
        {
            self.upgrade(state, settings, &request, key, now);
        }
        while self.lifecycle == Lifecycle::Open
            && self.deferred_upgrade.is_none()
            && self.backlog() < OUTPUT_HIGH_WATER
            && matches!(self.protocol, Protocol::Http)
        {
            let (consumed, outcome) = self.parser.advance(&self.input[self.input_consumed..]);
            self.input_consumed += consumed;
            match outcome {
                Ok(None) => break,
                Ok(Some(Event::Continue)) => self.queue(CONTINUE.to_vec()),
                Ok(Some(Event::Request(request)))
                    if self.role == Role::Api && ws::is_upgrade(&request) =>
                {
                    if self.held.is_empty() {
                        self.upgrade(state, settings, &request, key, now)
                    } else {
                        self.deferred_upgrade = Some(request);
                    }
                }
                Ok(Some(Event::Request(request))) => self.answer(state, settings, &request, now),
                Err(error) => self.refuse(error),
            }
        }
        if self.lifecycle == Lifecycle::Open
            && let Protocol::WebSocket(ws) = &mut self.protocol
        {
            let WebSocketConn { session, subscriptions } = &mut **ws;
            let (consumed, end) = session.read(
                &self.input[self.input_consumed..],
                &mut self.output,
                now,
                |message, session, output| match subscriptions {
                    // §6.1: anything a single-subscription client sends is ignored.
                    Subscriptions::Single { .. } => {}
                    // After our close frame only the client's close matters (§6.2.2).
                    Subscriptions::Multi(_) if !session.can_send() => {}
                    Subscriptions::Multi(multi) => {
                        let mut context = Context {
                            state: &mut *state,
                            auth: settings.api.auth.as_ref(),
                            subscriber: key,
                            max_depth: settings.api.max_depth,
                            max_reply_bytes: settings.limits.max_body_bytes,
                            now_unix: auth::unix_seconds(SystemTime::now()),
                        };
                        let mut removed = Vec::new();
                        let outcome =
                            multi.on_message(message, &mut context, |p| removed.push(p.to_vec()));
                        for path in &removed {
                            session.forget(path);
                        }
                        match outcome {
                            Outcome::Reply(text) => output.push_shared(ws::text_frame(&text)),
                            Outcome::Close(code, reason) => {
                                session.close(CloseCode::from(code), reason, output)
                            }
                        }
                    }
                },
            );
            self.input_consumed += consumed;
            if end == ReadEnd::Closed {
                self.lifecycle = Lifecycle::Finishing;
            }
        }
        if self.input_consumed == self.input.len() {
            self.input.clear();
            self.input_consumed = 0;
            if self.input.capacity() > 64 * 1024 {
                self.input = Vec::new();
            }
        }
        self.head_started = match (self.parser.reading_head(), self.head_started) {
            (true, Some(started)) => Some(started),
            (true, None) => Some(now),
            (false, _) => None,
        };
        if self.peer_closed && self.lifecycle == Lifecycle::Open {
            // Whatever is left is an incomplete request that can never be finished.
            self.lifecycle = Lifecycle::Finishing;
        }
    }

    fn answer(
        &mut self,
        state: &mut State,
        settings: &ConnSettings,
        request: &Request,
        now: Instant,
    ) {
        let reply = match self.role {
            Role::Api => {
                let started = Instant::now();
                let reply = api::handle(state, &settings.api, request, now);
                state.metrics.observe_http(
                    &request.method,
                    reply.response.status,
                    started.elapsed(),
                );
                reply
            }
            Role::Metrics => metrics_reply(state, request).into(),
        };
        if settings.log_requests {
            println!("{} {} {}", request.method, request.target, reply.response.status);
        }
        let connection = if reply.response.close || !request.keep_alive {
            ConnectionHeader::Close
        } else if request.version == Version::Http10 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::None
        };
        let wait_for = reply.wait_for.filter(|&lsn| lsn > state.durable_lsn());
        self.send_after(&reply.response, connection, request.method == "HEAD", wait_for);
        if connection == ConnectionHeader::Close {
            self.lifecycle = Lifecycle::Finishing;
        }
    }

    /// §6.0/§6.1: dispatch on `?method`, authorize, answer 101, register the subscription and
    /// only then read the initial value, so no update can fall between the two.
    fn upgrade(
        &mut self,
        state: &mut State,
        settings: &ConnSettings,
        request: &Request,
        key: Key,
        now: Instant,
    ) {
        let (raw_path, raw_query) = path::split_target(&request.target);
        let query = Query::parse(raw_query);
        match query.first("method") {
            None => {}
            Some(Some("reusable")) => return self.upgrade_multi(settings, request, now),
            Some(_) => {
                let body = b"Invalid 'method' query parameter value, expecting 'reusable'";
                let reason = "Unrecognised query parameter value";
                return self.refuse_upgrade(ws::reject(400, reason, "text/plain", body));
            }
        }
        let segments = path::parse_url_path(raw_path);
        if segments.len() > settings.api.max_depth {
            let reason = format!("the path is deeper than --max-depth {}", settings.api.max_depth);
            return self.refuse_upgrade(ws::reject(
                400,
                "Bad Request",
                response::TEXT_UTF8,
                reason.as_bytes(),
            ));
        }
        if let Some(verifier) = &settings.api.auth
            && let Err(error) =
                api::check_token(verifier, request, &query, &segments, Some(Mode::Read))
        {
            let body = error.http_body();
            return self.refuse_upgrade(ws::reject(
                401,
                "Unauthorized",
                response::JSON,
                body.as_bytes(),
            ));
        }
        let handshake = match ws::accept(request) {
            Ok(handshake) => handshake,
            Err(reason) => {
                let rejection =
                    ws::reject(400, "Bad Request", response::TEXT_UTF8, reason.as_bytes());
                return self.refuse_upgrade(rejection);
            }
        };
        self.output.push(handshake);
        state.subscribe(&segments, key);
        let initial = state.get_serialized(&segments).unwrap_or_else(|| Body::from("null"));
        self.output.push(ws::text_frame_header(initial.len()));
        match initial {
            Body::Owned(bytes) => self.output.push(bytes),
            Body::Shared(bytes) => self.output.push_shared(bytes),
        }
        let session = WsSession::new(&settings.ws, now, ws::TOO_BIG);
        let subscriptions = Subscriptions::Single { path: segments, seq: state.write_seq() };
        self.protocol = Protocol::WebSocket(Box::new(WebSocketConn { session, subscriptions }));
        self.head_started = None;
    }

    /// §6.2: the upgrade is always accepted (tokens come with each subscribe) and the URL path
    /// is ignored; the first-subscription deadline starts now.
    fn upgrade_multi(&mut self, settings: &ConnSettings, request: &Request, now: Instant) {
        match ws::accept(request) {
            Ok(handshake) => self.output.push(handshake),
            Err(reason) => {
                let rejection =
                    ws::reject(400, "Bad Request", response::TEXT_UTF8, reason.as_bytes());
                return self.refuse_upgrade(rejection);
            }
        }
        let session = WsSession::new(&settings.ws, now, multi::OVERSIZED);
        let deadline = now + settings.first_subscription_deadline;
        let subscriptions = Subscriptions::Multi(MultiSubscription::new(deadline));
        self.protocol = Protocol::WebSocket(Box::new(WebSocketConn { session, subscriptions }));
        self.head_started = None;
    }

    fn refuse_upgrade(&mut self, rejection: Vec<u8>) {
        self.queue(rejection);
        self.lifecycle = Lifecycle::Finishing;
    }

    /// A request that cannot be framed: answer it and close, because the position of the next
    /// request in the byte stream is unknown.
    fn refuse(&mut self, error: HttpError) {
        let response = Response::error(error.status, error.reason);
        self.send(&response, ConnectionHeader::Close, false);
        self.lifecycle = Lifecycle::Finishing;
    }

    fn send(&mut self, response: &Response, connection: ConnectionHeader, head_only: bool) {
        self.send_after(response, connection, head_only, None);
    }

    fn send_after(
        &mut self,
        response: &Response,
        connection: ConnectionHeader,
        head_only: bool,
        wait_for: Option<Lsn>,
    ) {
        let mut bytes = Vec::new();
        let shared = response::encode(&mut bytes, response, connection, head_only);
        self.enqueue(QueuedReply { bytes, shared, wait_for: wait_for.unwrap_or(0) });
    }

    /// Output that needs no durability itself but must not overtake a held reply.
    fn queue(&mut self, bytes: Vec<u8>) {
        self.enqueue(QueuedReply { bytes, shared: None, wait_for: 0 });
    }

    fn enqueue(&mut self, reply: QueuedReply) {
        if reply.wait_for == 0 && self.held.is_empty() {
            reply.write_into(&mut self.output);
        } else {
            self.held_bytes += reply.len();
            self.held.push_back(reply);
        }
    }

    /// Called by the reactor once all output is written: a finishing connection shuts its
    /// write side and lingers. Returns true when the reactor must shut down the write side.
    pub fn output_flushed(&mut self, now: Instant) -> bool {
        if self.lifecycle != Lifecycle::Finishing || self.has_output() || !self.held.is_empty() {
            return false;
        }
        self.lifecycle = if self.peer_closed {
            Lifecycle::Done
        } else {
            Lifecycle::Lingering { until: now + LINGER }
        };
        true
    }

    /// The earliest moment at which [`Conn::on_timer`] has something to do.
    pub fn next_deadline(&self, settings: &ConnSettings) -> Option<Instant> {
        match (self.lifecycle, &self.protocol) {
            (Lifecycle::Done, _) => None,
            (Lifecycle::Lingering { until }, _) => Some(until),
            // WebSocket connections live as long as they answer pings, not by idleness.
            (Lifecycle::Open, Protocol::WebSocket(ws)) => ws.next_deadline(),
            (Lifecycle::Open | Lifecycle::Finishing, _) => {
                let idle = self.last_activity + settings.idle_timeout;
                let head = self.head_started.map(|started| started + settings.header_timeout);
                Some(head.map_or(idle, |head| head.min(idle)))
            }
        }
    }

    pub fn on_timer(&mut self, settings: &ConnSettings, now: Instant) {
        match (self.lifecycle, &mut self.protocol) {
            (Lifecycle::Done, _) => {}
            (Lifecycle::Lingering { until }, _) => {
                if now >= until {
                    self.lifecycle = Lifecycle::Done;
                }
            }
            (Lifecycle::Open, Protocol::WebSocket(ws)) => {
                if !ws.on_timer(settings, now, &mut self.output) {
                    self.lifecycle = Lifecycle::Done;
                }
            }
            (Lifecycle::Open | Lifecycle::Finishing, _) => {
                let head_expired = self
                    .head_started
                    .is_some_and(|started| now >= started + settings.header_timeout);
                if head_expired && self.lifecycle == Lifecycle::Open {
                    // Slowloris: a head that takes too long is answered once, then closed.
                    let response = Response::error(408, "request head not received in time");
                    self.send(&response, ConnectionHeader::Close, false);
                    self.lifecycle = Lifecycle::Finishing;
                    self.head_started = None;
                    self.last_activity = now;
                } else if now >= self.last_activity + settings.idle_timeout {
                    self.lifecycle = Lifecycle::Done;
                }
            }
        }
    }
}

/// §10.1: `GET /healthcheck` is an empty 200; any other request gets the metrics text.
fn metrics_reply(state: &State, request: &Request) -> Response {
    let (raw_path, _) = path::split_target(&request.target);
    if request.method == "GET" && path::parse_url_path(raw_path) == ["healthcheck"] {
        return Response::empty(200);
    }
    Response::with_body(200, "text/plain; version=0.0.4", state.render_metrics())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> ConnSettings {
        ConnSettings {
            limits: Limits { max_head_bytes: 8192, max_headers: 64, max_body_bytes: 1000 },
            api: ApiSettings { max_depth: 64, auth: None },
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            log_requests: false,
            ws: WsSettings {
                ping_interval: None,
                pong_timeout: Duration::from_secs(1),
                max_message_size: 1 << 16,
            },
            first_subscription_deadline: Duration::from_secs(1),
        }
    }

    struct Harness {
        conn: Conn,
        state: State,
        settings: ConnSettings,
        key: Key,
        now: Instant,
    }

    impl Harness {
        fn new() -> Self {
            let settings = settings();
            let now = Instant::now();
            let key = crate::slab::Slab::default().insert(());
            let state = State::in_memory(json!({}));
            Harness { conn: Conn::new(&settings, now, Role::Api), state, settings, key, now }
        }

        fn feed(&mut self, bytes: &[u8]) -> String {
            self.conn.receive(bytes, self.now);
            self.conn.process(&mut self.state, &self.settings, self.key, self.now);
            self.drain()
        }

        fn drain(&mut self) -> String {
            let mut sink = Vec::new();
            while self.conn.output().write_to(&mut sink).unwrap_or(0) > 0 {}
            String::from_utf8_lossy(&sink).into_owned()
        }
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let mut h = Harness::new();
        let out = h.feed(
            b"PUT /a HTTP/1.1\r\nContent-Length: 1\r\n\r\n1GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        );
        let statuses: Vec<&str> = out.matches("HTTP/1.1 ").map(|_| "").collect();
        assert_eq!(statuses.len(), 3, "{out}");
        let first = out.find("202 Accepted").unwrap_or(usize::MAX);
        let second = out.find("200 OK").unwrap_or(usize::MAX);
        let third = out.find("404 Not Found").unwrap_or(usize::MAX);
        assert!(first < second && second < third, "{out}");
        assert!(out.contains("\r\n\r\n1HTTP/1.1 404"), "{out}");
        assert_eq!(h.conn.lifecycle(), Lifecycle::Open);
    }

    #[test]
    fn requests_split_across_reads() {
        let mut h = Harness::new();
        assert_eq!(h.feed(b"GET / HT"), "");
        assert_eq!(h.feed(b"TP/1.1\r\n"), "");
        let out = h.feed(b"\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("{}"), "{out}");
    }

    #[test]
    fn connection_close_finishes_then_lingers() {
        let mut h = Harness::new();
        let out = h.feed(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert_eq!(out.matches("HTTP/1.1 200").count(), 1, "no request after close: {out}");
        assert!(out.contains("Connection: close"));
        assert_eq!(h.conn.lifecycle(), Lifecycle::Finishing);
        assert!(h.conn.output_flushed(h.now));
        assert!(matches!(h.conn.lifecycle(), Lifecycle::Lingering { .. }));
        assert!(h.conn.wants_input());
        h.conn.receive_eof();
        assert_eq!(h.conn.lifecycle(), Lifecycle::Done);
    }

    #[test]
    fn http10_keep_alive_is_explicit() {
        let mut h = Harness::new();
        let out = h.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(out.contains("Connection: keep-alive"), "{out}");
        assert_eq!(h.conn.lifecycle(), Lifecycle::Open);
        let out = h.feed(b"GET / HTTP/1.0\r\n\r\n");
        assert!(out.contains("Connection: close"), "{out}");
        assert_eq!(h.conn.lifecycle(), Lifecycle::Finishing);
    }

    #[test]
    fn framing_errors_answer_and_close() {
        let mut h = Harness::new();
        let out = h.feed(b"PUT /a HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        assert!(out.contains("Connection: close"), "{out}");
        assert_eq!(h.conn.lifecycle(), Lifecycle::Finishing);
        assert_eq!(h.state.get(&["a".to_owned()]), None);
    }

    #[test]
    fn expect_continue_comes_before_the_answer() {
        let mut h = Harness::new();
        let out = h.feed(b"PUT /a HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(out, "HTTP/1.1 100 Continue\r\n\r\n");
        let out = h.feed(b"[]");
        assert!(out.starts_with("HTTP/1.1 202"), "{out}");
    }

    #[test]
    fn eof_after_a_partial_request_finishes() {
        let mut h = Harness::new();
        h.feed(b"GET / HTTP/1.1\r\nHost");
        h.conn.receive_eof();
        h.conn.process(&mut h.state, &h.settings, h.key, h.now);
        assert_eq!(h.conn.lifecycle(), Lifecycle::Finishing);
        assert!(h.conn.output_flushed(h.now));
        assert_eq!(h.conn.lifecycle(), Lifecycle::Done);
    }

    #[test]
    fn slow_head_times_out_with_408() {
        let mut h = Harness::new();
        h.feed(b"GET / HTTP/1.1\r\nX-Slow: a");
        let deadline = h.conn.next_deadline(&h.settings).unwrap_or(h.now);
        assert_eq!(deadline, h.now + h.settings.header_timeout);
        h.conn.on_timer(&h.settings, deadline);
        let out = h.drain();
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        assert_eq!(h.conn.lifecycle(), Lifecycle::Finishing);
    }

    #[test]
    fn idle_connections_time_out_silently() {
        let mut h = Harness::new();
        let deadline = h.conn.next_deadline(&h.settings).unwrap_or(h.now);
        assert_eq!(deadline, h.now + h.settings.idle_timeout);
        h.conn.on_timer(&h.settings, deadline);
        assert_eq!(h.conn.lifecycle(), Lifecycle::Done);
        assert_eq!(h.drain(), "");
    }

    #[test]
    fn output_backlog_pauses_parsing() {
        let mut h = Harness::new();
        let big = format!("\"{}\"", "x".repeat(900));
        let mut put =
            format!("PUT /big HTTP/1.1\r\nContent-Length: {}\r\n\r\n{big}", big.len()).into_bytes();
        put.extend_from_slice(b"GET /big HTTP/1.1\r\n\r\n");
        h.feed(&put);
        let one_get = b"GET /big HTTP/1.1\r\n\r\n".repeat(2000);
        h.conn.receive(&one_get, h.now);
        h.conn.process(&mut h.state, &h.settings, h.key, h.now);
        assert!(!h.conn.wants_input(), "backlog must stop reading");
        let pending = h.conn.output().len();
        assert!((OUTPUT_HIGH_WATER..OUTPUT_HIGH_WATER + 2000).contains(&pending), "{pending}");
        let out = h.drain();
        assert!(h.conn.wants_input());
        h.conn.process(&mut h.state, &h.settings, h.key, h.now);
        let rest = h.drain();
        assert_eq!(out.matches("200 OK").count() + rest.matches("200 OK").count(), 2000);
    }

    #[test]
    fn nothing_overtakes_a_reply_held_for_durability() {
        let mut h = Harness::new();
        // An in-memory state is always durable; pretend record 1 is not yet on disk by holding
        // by hand, then queue a continue, an error and an upgrade behind it.
        h.conn.held.push_back(QueuedReply { bytes: b"HELD ".to_vec(), shared: None, wait_for: 1 });
        h.conn.held_bytes = 5;
        let out = h.feed(b"PUT /a HTTP/1.1\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(out, "", "the 100 Continue waits behind the held reply");
        let upgrade = b"GET /a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let mut input = b"1".to_vec();
        input.extend_from_slice(upgrade);
        assert_eq!(h.feed(&input), "", "the 202 and the 101 wait too");
        h.conn.release_durable(1);
        let released = h.drain();
        assert!(
            released.starts_with("HELD HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202"),
            "{released}"
        );
        assert!(!released.contains("101"), "{released}");
        let out = h.feed(b"");
        assert!(out.starts_with("HTTP/1.1 101 Switching Protocols"), "{out}");
    }
}
