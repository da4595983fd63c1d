//! The reactor: one mio loop on one thread that owns the sockets, the connections and the
//! [`State`]. It moves bytes between sockets and [`Conn`]s and runs their timers; what the bytes
//! mean is decided elsewhere. This is the only module that touches sockets.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::sync::Arc;

use crate::conn::{Conn, ConnSettings, Lifecycle, Role, UpdateFormat};
use crate::multi;
use crate::signals::SignalPipe;
use crate::slab::{Key, Slab};
use crate::state::State;
use crate::timers::Timers;
use crate::wal::Lsn;
use crate::ws;

const LISTENER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);
/// The fsync thread wakes the loop through this token when log records became durable.
const WAKER: Token = Token(usize::MAX - 2);
const METRICS_LISTENER: Token = Token(usize::MAX - 3);
/// One shared read buffer for all connections: idle connections hold no input memory.
const READ_BUFFER_SIZE: usize = 64 * 1024;
/// Reads per connection per turn, so one fast client cannot starve the others.
const ROUNDS_PER_TURN: usize = 16;
/// How long accepting pauses when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

struct Client {
    stream: TcpStream,
    conn: Conn,
    interest: Interest,
    /// No `WouldBlock` seen since the last readiness event: there may be more to read.
    readable: bool,
    /// The timer entry this client waits for; older entries in the heap are stale.
    scheduled: Option<Instant>,
    /// Listed in `Server::awaiting_durability`.
    awaiting_durability: bool,
    /// Counted in `icepeak_subscriber_count` (a WebSocket connection).
    counted_as_websocket: bool,
    role: Role,
}

/// The poll instance and the waker the fsync thread needs, created before the state so that
/// the state's log can be given the waker.
pub struct Reactor {
    poll: Poll,
    waker: Arc<Waker>,
}

impl Reactor {
    pub fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Reactor { poll, waker })
    }

    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }
}

/// Binds the main port (mio's listener: SO_REUSEADDR and a backlog of 1024, so that bursts of
/// new clients are not dropped before the loop accepts them).
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(address)
}

pub struct Server {
    poll: Poll,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    signals: SignalPipe,
    clients: Slab<Client>,
    timers: Timers,
    state: State,
    settings: ConnSettings,
    max_connections: usize,
    accept_paused_until: Option<Instant>,
    /// Clients that still had work when their turn ended.
    unfinished: Vec<Key>,
    /// Clients holding `?durable` replies until the log is fsynced.
    awaiting_durability: Vec<Key>,
    /// The durable log position up to which held replies were last released.
    released_up_to: Lsn,
    read_buffer: Box<[u8]>,
    stopping: bool,
}

impl Server {
    pub fn new(
        reactor: Reactor,
        mut listener: TcpListener,
        metrics_listener: Option<std::net::TcpListener>,
        state: State,
        settings: ConnSettings,
        max_connections: usize,
    ) -> io::Result<Server> {
        let Reactor { poll, .. } = reactor;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let metrics_listener = match metrics_listener {
            Some(std_listener) => {
                std_listener.set_nonblocking(true)?;
                let mut listener = TcpListener::from_std(std_listener);
                poll.registry().register(&mut listener, METRICS_LISTENER, Interest::READABLE)?;
                Some(listener)
            }
            None => None,
        };
        let mut signals = SignalPipe::install()?;
        poll.registry().register(signals.source(), SIGNALS, Interest::READABLE)?;
        Ok(Server {
            poll,
            listener,
            metrics_listener,
            signals,
            clients: Slab::default(),
            timers: Timers::default(),
            state,
            settings,
            max_connections,
            accept_paused_until: None,
            unfinished: Vec::new(),
            awaiting_durability: Vec::new(),
            released_up_to: 0,
            read_buffer: vec![0; READ_BUFFER_SIZE].into_boxed_slice(),
            stopping: false,
        })
    }

    /// Runs until SIGTERM or SIGINT, then hands the state back for the final save.
    pub fn run(mut self) -> io::Result<State> {
        let mut events = Events::with_capacity(1024);
        while !self.stopping {
            let timeout = self.poll_timeout(Instant::now());
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER | METRICS_LISTENER => {
                        if self.accept_paused_until.is_none() {
                            self.accept(now);
                        }
                    }
                    SIGNALS => {
                        let received = self.signals.take();
                        self.stopping |= received.terminate;
                    }
                    WAKER => self.state.collect_sync_results(),
                    token => {
                        let Some(key) = Key::from_token(token.0) else {
                            continue;
                        };
                        let Some(client) = self.clients.get_mut(key) else {
                            // A connection that closed earlier in this batch, or before it.
                            continue;
                        };
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            client.readable = true;
                        }
                        self.drive(key, now);
                    }
                }
            }
            for key in std::mem::take(&mut self.unfinished) {
                self.drive(key, now);
            }
            self.fire_timers(now);
            // Fsyncs are requested once per iteration, after every write in it was appended:
            // one fsync covers them all (group commit).
            self.broadcast(now);
            self.state.housekeeping(now);
            // Records become durable through the fsync thread or when a snapshot rotates the
            // log (which syncs the old segment itself); either way the waiting replies go now.
            if self.state.durable_lsn() > self.released_up_to {
                self.released_up_to = self.state.durable_lsn();
                self.release_durable(now);
            }
            if self.accept_paused_until.is_some_and(|until| until <= now) {
                self.accept_paused_until = None;
                self.accept(now);
            }
        }
        self.say_goodbye();
        Ok(self.state)
    }

    /// On SIGTERM/SIGINT: WebSocket clients get a 1001 close frame, written without waiting
    /// (a client that does not read gets the TCP close alone).
    fn say_goodbye(&mut self) {
        let now = Instant::now();
        let keys: Vec<Key> = self.clients.keys().collect();
        for key in keys {
            if let Some(client) = self.clients.get_mut(key) {
                client.conn.going_away();
                write_pending(client, now);
            }
        }
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.unfinished.is_empty() {
            return Some(Duration::ZERO);
        }
        let next = [self.timers.next(), self.accept_paused_until, self.state.next_deadline()]
            .into_iter()
            .flatten()
            .min()?;
        // Round up so that the deadline has passed when poll returns.
        Some(next.saturating_duration_since(now) + Duration::from_millis(1))
    }

    /// Accepts from both listeners until they would block.
    fn accept(&mut self, now: Instant) {
        self.accept_from(Role::Api, now);
        if self.metrics_listener.is_some() {
            self.accept_from(Role::Metrics, now);
        }
    }

    fn accept_from(&mut self, role: Role, now: Instant) {
        loop {
            let accepted = match (role, &self.metrics_listener) {
                (Role::Metrics, Some(listener)) => listener.accept(),
                (Role::Metrics, None) => return,
                (Role::Api, _) => self.listener.accept(),
            };
            match accepted {
                Ok((stream, _)) => {
                    if self.clients.len() >= self.max_connections {
                        // Refused: closing at once keeps the backlog moving and costs nothing.
                        drop(stream);
                        self.state.metrics.connections_refused += 1;
                        continue;
                    }
                    self.add_client(stream, role, now);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if is_out_of_descriptors(&error) => {
                    eprintln!("accept failed ({error}); pausing new connections briefly");
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
                // Aborted handshakes and the like concern one connection, not the listener.
                Err(_) => {}
            }
        }
    }

    fn add_client(&mut self, stream: TcpStream, role: Role, now: Instant) {
        let _ = stream.set_nodelay(true);
        let client = Client {
            stream,
            conn: Conn::new(&self.settings, now, role),
            interest: Interest::READABLE,
            readable: true,
            scheduled: None,
            awaiting_durability: false,
            counted_as_websocket: false,
            role,
        };
        if role == Role::Api {
            self.state.connections += 1;
        }
        let key = self.clients.insert(client);
        let registered = match self.clients.get_mut(key) {
            Some(client) => self.poll.registry().register(
                &mut client.stream,
                Token(key.to_token()),
                Interest::READABLE,
            ),
            None => return,
        };
        if registered.is_err() {
            self.clients.remove(key);
            if role == Role::Api {
                self.state.connections -= 1;
            }
            return;
        }
        self.drive(key, now);
    }

    /// Reads, processes and writes for one client until it would block, then updates its
    /// interest and timer, or drops it when it is done.
    fn drive(&mut self, key: Key, now: Instant) {
        let Server {
            clients,
            state,
            settings,
            read_buffer,
            unfinished,
            awaiting_durability,
            poll,
            timers,
            ..
        } = self;
        let Some(client) = clients.get_mut(key) else {
            return;
        };
        let mut more_to_read = false;
        for round in 0..ROUNDS_PER_TURN {
            if client.readable && client.conn.wants_input() {
                match client.stream.read(read_buffer) {
                    Ok(0) => {
                        client.readable = false;
                        client.conn.receive_eof();
                    }
                    Ok(n) => {
                        client.conn.receive(&read_buffer[..n], now);
                        // A short read emptied the socket buffer. Reading again would only
                        // return WouldBlock: with edge-triggered epoll every later arrival
                        // raises a new event, so skipping that syscall loses nothing and saves
                        // a third of the syscalls of a small keep-alive request.
                        if n < read_buffer.len() {
                            client.readable = false;
                        }
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        client.readable = false;
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => client.conn.abort(),
                }
            }
            client.conn.process(state, settings, key, now);
            write_pending(client, now);
            more_to_read = client.readable && client.conn.wants_input();
            if !more_to_read || round + 1 == ROUNDS_PER_TURN {
                break;
            }
        }
        if client.conn.lifecycle() == Lifecycle::Done {
            close_client(clients, state, poll, key);
            return;
        }
        if more_to_read {
            unfinished.push(key);
        }
        if !client.counted_as_websocket && client.conn.update_format().is_some() {
            client.counted_as_websocket = true;
            state.websockets += 1;
        }
        if client.conn.waits_for_durability() && !client.awaiting_durability {
            client.awaiting_durability = true;
            awaiting_durability.push(key);
        }
        let wanted = if client.conn.has_output() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if wanted != client.interest {
            if poll
                .registry()
                .reregister(&mut client.stream, Token(key.to_token()), wanted)
                .is_err()
            {
                close_client(clients, state, poll, key);
                return;
            }
            client.interest = wanted;
        }
        if let Some(deadline) = client.conn.next_deadline(settings)
            && client.scheduled.is_none_or(|scheduled| deadline < scheduled)
        {
            client.scheduled = Some(deadline);
            timers.schedule(deadline, key);
        }
    }

    /// Pushes the changes since the last call to the subscribers they reach (§5). Each notified
    /// path's value is serialized and framed once; its subscribers share the bytes.
    fn broadcast(&mut self, now: Instant) {
        let notifications = self.state.take_notifications();
        if notifications.is_empty() {
            return;
        }
        self.state.metrics.broadcasts += 1;
        let mut notified = Vec::new();
        let (mut sent, mut bytes, mut skipped) = (0, 0, 0);
        for notification in &notifications {
            let Server { state, clients, .. } = self;
            let path = &notification.path;
            let Some(subscribers) = state.subscribers(path) else { continue };
            let (mut bare, mut envelope) = (None, None);
            for &key in subscribers {
                let Some(client) = clients.get_mut(key) else { continue };
                if !client.conn.wants_update(path, notification.seq) {
                    continue;
                }
                let frame = match client.conn.update_format() {
                    Some(UpdateFormat::Bare) => {
                        bare.get_or_insert_with(|| ws::text_frame(&notification.value))
                    }
                    Some(UpdateFormat::Envelope) => envelope.get_or_insert_with(|| {
                        ws::text_frame(&multi::update_message(path, &notification.value))
                    }),
                    None => continue,
                };
                sent += 1;
                bytes += frame.len() as u64;
                if client.conn.push_update(path, frame.clone()) {
                    skipped += 1;
                }
                notified.push(key);
            }
        }
        self.state.metrics.notifications_sent += sent;
        self.state.metrics.notification_bytes_queued += bytes;
        self.state.metrics.skipped_updates += skipped;
        notified.sort_unstable();
        notified.dedup();
        for key in notified {
            self.drive(key, now);
        }
    }

    /// The log is durable further: let out the replies that waited for it.
    fn release_durable(&mut self, now: Instant) {
        let durable = self.state.durable_lsn();
        for key in std::mem::take(&mut self.awaiting_durability) {
            let Some(client) = self.clients.get_mut(key) else { continue };
            client.awaiting_durability = false;
            client.conn.release_durable(durable);
            self.drive(key, now);
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            let Some(client) = self.clients.get_mut(key) else {
                continue;
            };
            if client.scheduled != Some(at) {
                continue;
            }
            client.scheduled = None;
            client.conn.on_timer(&self.settings, now);
            self.drive(key, now);
        }
        // Deadlines that moved earlier leave their old entries behind; drop them in bulk.
        if self.timers.len() > 2 * self.clients.len() + 1024 {
            let clients = &self.clients;
            self.timers.retain(|at, key| clients.get(key).is_some_and(|c| c.scheduled == Some(at)));
        }
    }
}

/// Drops a connection and every subscription it held, in the same step.
fn close_client(clients: &mut Slab<Client>, state: &mut State, poll: &Poll, key: Key) {
    if let Some(mut client) = clients.remove(key) {
        let _ = poll.registry().deregister(&mut client.stream);
        client.conn.unsubscribe_all(state, key);
        if client.counted_as_websocket {
            state.websockets -= 1;
        }
        if client.role == Role::Api {
            state.connections -= 1;
        }
    }
}

/// Writes until the output is empty or the socket is full.
fn write_pending(client: &mut Client, now: Instant) {
    while client.conn.has_output() {
        match client.conn.output().write_to(&mut client.stream) {
            Ok(0) => break,
            Ok(_) => client.conn.wrote(now),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                client.conn.abort();
                return;
            }
        }
    }
    if client.conn.output_flushed(now) {
        let _ = client.stream.shutdown(Shutdown::Write);
    }
}

fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}
