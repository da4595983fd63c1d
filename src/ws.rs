//! WebSocket connections (spec §6): the upgrade, frames through tungstenite without giving it
//! the socket, liveness pings, and per-subscription coalescing of updates for slow readers.
//!
//! tungstenite works on a `WebSocketContext` over an in-memory stream: reads come from the
//! connection's input buffer (WouldBlock when it is empty) and writes land in a buffer that the
//! connection moves into its one output queue. The socket stays with the reactor, the 101 always
//! precedes the first frame, and WouldBlock from the socket never reaches tungstenite.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader};
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Error, Message};

use crate::http::Request;
use crate::outbuf::OutQueue;

/// Past this much unsent output, updates are coalesced per subscription instead of queued: a
/// client that does not read costs at most this plus one pending value per subscription.
pub const OUTPUT_BOUND: usize = 64 * 1024;
/// D14: the single-subscription protocol closes an oversized client message with 1009.
pub const TOO_BIG: (u16, &str) = (1009, "message too big");

#[derive(Debug, Clone)]
pub struct WsSettings {
    /// `None`: no pings and no dead-peer detection (§6.0).
    pub ping_interval: Option<Duration>,
    pub pong_timeout: Duration,
    /// Largest client message; more is closed with 1009 (the original had no bound).
    pub max_message_size: usize,
}

/// True for a request that asks for a WebSocket (§1: an `Upgrade: websocket` header, any case).
pub fn is_upgrade(request: &Request) -> bool {
    request.header("upgrade").is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"websocket"))
}

/// The `101 Switching Protocols` answer, or why the handshake is not a valid RFC 6455 one.
pub fn accept(request: &Request) -> Result<Vec<u8>, &'static str> {
    if request.method != "GET" {
        return Err("a WebSocket upgrade must be a GET request");
    }
    if request.header("sec-websocket-version").map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err("unsupported Sec-WebSocket-Version (expected 13)");
    }
    let key = request
        .header("sec-websocket-key")
        .map(<[u8]>::trim_ascii)
        .filter(|key| !key.is_empty())
        .ok_or("missing Sec-WebSocket-Key")?;
    let accept = tungstenite::handshake::derive_accept_key(key);
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes())
}

/// A handshake refusal as the original sends it (§6.0, §6.1), with a Content-Length (D16).
pub fn reject(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// One server text frame, encoded once and shared by every subscriber it goes to.
pub fn text_frame(payload: &[u8]) -> Rc<[u8]> {
    let frame = Frame::message(payload.to_vec(), OpCode::Data(Data::Text), true);
    let mut out = Vec::with_capacity(payload.len() + 10);
    // Formatting into a Vec cannot fail.
    let _ = frame.format(&mut out);
    Rc::from(out)
}

/// The header of a server text frame carrying `len` payload bytes: the payload can then be
/// queued after it without copying (a large shared value).
pub fn text_frame_header(len: usize) -> Vec<u8> {
    let header = FrameHeader { opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
    let mut out = Vec::with_capacity(10);
    // Formatting into a Vec cannot fail.
    let _ = header.format(len as u64, &mut out);
    out
}

/// The in-memory stream tungstenite reads from and writes to.
struct MemoryStream<'a> {
    input: &'a [u8],
    read: usize,
    output: &'a mut Vec<u8>,
}

impl Read for MemoryStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.read..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read += n;
        Ok(n)
    }
}

impl Write for MemoryStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the client sent, as far as the protocols care.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Binary,
}

/// How reading ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// All input consumed; more may come.
    NeedMore,
    /// The close handshake is complete (or the peer broke the protocol after we closed).
    Closed,
}

pub struct WsSession {
    context: WebSocketContext,
    last_pong: Instant,
    next_ping: Option<Instant>,
    pings_sent: u64,
    /// Coalesced updates waiting for the output to drain, keyed by subscription.
    pending: BTreeMap<Vec<String>, Rc<[u8]>>,
    /// The close frame for a client message over the size bound.
    oversized: (CloseCode, &'static str),
}

impl WsSession {
    /// `oversized` is the close a too-large client message gets: 1009 for the
    /// single-subscription protocol (D14), 3001 for the multi-subscription one (§6.2.2).
    pub fn new(settings: &WsSettings, now: Instant, oversized: (u16, &'static str)) -> WsSession {
        let config = WebSocketConfig::default()
            // Idle connections should cost little: tungstenite allocates this per connection.
            .read_buffer_size(1024)
            .write_buffer_size(0)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(settings.max_message_size))
            .max_frame_size(Some(settings.max_message_size));
        WsSession {
            context: WebSocketContext::new(Role::Server, Some(config)),
            last_pong: now,
            next_ping: settings.ping_interval.map(|interval| now + interval),
            pings_sent: 0,
            pending: BTreeMap::new(),
            oversized: (CloseCode::from(oversized.0), oversized.1),
        }
    }

    /// Decodes every complete message in `input`; control frames are answered by tungstenite.
    /// Returns the bytes consumed, the data messages, and how reading ended. Frames that must
    /// go out (pongs, close replies) are appended to `output`.
    pub fn read(
        &mut self,
        input: &[u8],
        output: &mut OutQueue,
        now: Instant,
        mut on_message: impl FnMut(Incoming, &mut WsSession, &mut OutQueue),
    ) -> (usize, ReadEnd) {
        let mut consumed = 0;
        let mut written = Vec::new();
        let end = loop {
            let mut stream =
                MemoryStream { input: &input[consumed..], read: 0, output: &mut written };
            let result = self.context.read(&mut stream);
            consumed += stream.read;
            output.push(std::mem::take(&mut written));
            match result {
                Ok(Message::Text(text)) => {
                    on_message(Incoming::Text(text.as_str().to_owned()), self, output)
                }
                Ok(Message::Binary(_)) => on_message(Incoming::Binary, self, output),
                Ok(Message::Pong(_)) => self.last_pong = now,
                Ok(Message::Ping(_) | Message::Close(_) | Message::Frame(_)) => {}
                Err(Error::Io(error)) if error.kind() == io::ErrorKind::WouldBlock => {
                    break ReadEnd::NeedMore;
                }
                Err(Error::Capacity(_)) => {
                    let (code, reason) = self.oversized;
                    self.close(code, reason, output);
                    break ReadEnd::NeedMore;
                }
                Err(Error::Utf8(_)) => {
                    self.close(CloseCode::Invalid, "invalid UTF-8 in a text message", output);
                    break ReadEnd::NeedMore;
                }
                Err(Error::Protocol(_)) if self.context.can_write() => {
                    self.close(CloseCode::Protocol, "protocol error", output);
                    break ReadEnd::NeedMore;
                }
                Err(_) => break ReadEnd::Closed,
            }
        };
        self.flush(output);
        (consumed, end)
    }

    /// Starts the close handshake with `code` and `reason` (the peer's reply ends it).
    pub fn close(&mut self, code: CloseCode, reason: &str, output: &mut OutQueue) {
        self.pending.clear();
        let frame = CloseFrame { code, reason: reason.to_owned().into() };
        self.send_control(output, |context, stream| context.close(stream, Some(frame)));
    }

    fn flush(&mut self, output: &mut OutQueue) {
        self.send_control(output, |_, _| Ok(()));
    }

    /// Runs a tungstenite write (a close, a ping, or nothing but pending pongs) and flushes
    /// what it produced into `output`. The memory stream never blocks, so nothing stays behind.
    fn send_control(
        &mut self,
        output: &mut OutQueue,
        write: impl FnOnce(&mut WebSocketContext, &mut MemoryStream<'_>) -> tungstenite::Result<()>,
    ) {
        let mut written = Vec::new();
        let mut stream = MemoryStream { input: &[], read: 0, output: &mut written };
        let _ = write(&mut self.context, &mut stream);
        let _ = self.context.flush(&mut stream);
        output.push(written);
    }

    /// False once a close frame was sent or received: no more data frames may follow.
    pub fn can_send(&self) -> bool {
        self.context.can_write()
    }

    /// Queues an update for `subscription`, or keeps it as the latest pending value when the
    /// client is behind (D7).
    /// Returns true when an older pending value was replaced (a skipped update).
    pub fn push_update(
        &mut self,
        subscription: &[String],
        frame: Rc<[u8]>,
        output: &mut OutQueue,
    ) -> bool {
        if !self.can_send() {
            return false;
        }
        if output.len() < OUTPUT_BOUND && self.pending.is_empty() {
            output.push_shared(frame);
            false
        } else {
            self.pending.insert(subscription.to_vec(), frame).is_some()
        }
    }

    /// Drops the pending update of a subscription that ended.
    pub fn forget(&mut self, subscription: &[String]) {
        self.pending.remove(subscription);
    }

    /// After a write: once the client has caught up, the latest pending values go out.
    pub fn output_drained(&mut self, output: &mut OutQueue) {
        if output.len() < OUTPUT_BOUND && !self.pending.is_empty() {
            for (_, frame) in std::mem::take(&mut self.pending) {
                output.push_shared(frame);
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_ping
    }

    /// Sends the due ping (payloads 1, 2, 3, …) and then checks liveness as the original does:
    /// dead when no pong came for `interval + pong_timeout`. Returns false for a dead peer,
    /// which is dropped without a close frame.
    pub fn on_timer(&mut self, settings: &WsSettings, now: Instant, output: &mut OutQueue) -> bool {
        let (Some(due), Some(interval)) = (self.next_ping, settings.ping_interval) else {
            return true;
        };
        if now < due {
            return true;
        }
        self.next_ping = Some(due + interval);
        if self.can_send() {
            self.pings_sent += 1;
            let ping = Message::Ping(self.pings_sent.to_string().into_bytes().into());
            self.send_control(output, |context, stream| context.write(stream, ping));
        }
        now.checked_sub(interval + settings.pong_timeout)
            .is_none_or(|limit| self.last_pong >= limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;

    fn upgrade_request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".to_owned(),
            target: "/a".to_owned(),
            version: Version::Http11,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(),
            body: Vec::new(),
            keep_alive: true,
        }
    }

    fn drain(output: &mut OutQueue) -> Vec<u8> {
        let mut sink = Vec::new();
        while output.write_to(&mut sink).unwrap_or(0) > 0 {}
        sink
    }

    /// A masked client frame, as a browser sends it.
    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![0x80 | opcode];
        assert!(payload.len() < 126);
        out.push(0x80 | payload.len() as u8);
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn settings() -> WsSettings {
        WsSettings {
            ping_interval: Some(Duration::from_secs(1)),
            pong_timeout: Duration::from_secs(1),
            max_message_size: 100,
        }
    }

    #[test]
    fn handshake_accept_key_follows_rfc6455() {
        let request = upgrade_request(&[
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ]);
        assert!(is_upgrade(&request));
        let response = String::from_utf8(accept(&request).unwrap_or_default()).unwrap_or_default();
        assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{response}");
        assert!(
            response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{response}"
        );
        let old = upgrade_request(&[("Upgrade", "websocket"), ("Sec-WebSocket-Key", "x")]);
        assert!(accept(&old).is_err());
    }

    #[test]
    fn text_frames_are_unmasked_and_exact() {
        assert_eq!(&*text_frame(b"null"), b"\x81\x04null");
        for len in [0, 125, 126, 65535, 65536] {
            let payload = vec![b'x'; len];
            let mut split = text_frame_header(len);
            split.extend_from_slice(&payload);
            assert_eq!(split, &*text_frame(&payload), "{len}");
        }
        let long = vec![b'x'; 300];
        let frame = text_frame(&long);
        assert_eq!(&frame[..4], &[0x81, 126, 1, 44]);
        assert_eq!(frame.len(), 304);
    }

    #[test]
    fn text_is_delivered_and_pings_answered() {
        let now = Instant::now();
        let mut session = WsSession::new(&settings(), now, TOO_BIG);
        let mut output = OutQueue::default();
        let mut input = client_frame(0x1, b"hello");
        input.extend(client_frame(0x9, b"p"));
        let mut seen = Vec::new();
        let (consumed, end) =
            session.read(&input, &mut output, now, |message, _, _| seen.push(message));
        assert_eq!((consumed, end), (input.len(), ReadEnd::NeedMore));
        assert_eq!(seen, vec![Incoming::Text("hello".to_owned())]);
        assert_eq!(drain(&mut output), b"\x8a\x01p", "pong with the ping's payload");
    }

    #[test]
    fn close_is_echoed_then_the_session_ends() {
        let now = Instant::now();
        let mut session = WsSession::new(&settings(), now, TOO_BIG);
        let mut output = OutQueue::default();
        let input = client_frame(0x8, b"\x0f\xa0bye");
        let (_, end) = session.read(&input, &mut output, now, |_, _, _| {});
        assert_eq!(end, ReadEnd::Closed);
        assert_eq!(drain(&mut output), b"\x88\x05\x0f\xa0bye");
        assert!(!session.can_send());
    }

    #[test]
    fn oversized_messages_close_with_1009() {
        let now = Instant::now();
        let mut session = WsSession::new(&settings(), now, TOO_BIG);
        let mut output = OutQueue::default();
        let input = client_frame(0x1, &[b'a'; 120]);
        session.read(&input, &mut output, now, |_, _, _| {});
        let sent = drain(&mut output);
        assert_eq!(&sent[..4], &[0x88, 17, 0x03, 0xf1], "close 1009: {sent:?}");
    }

    #[test]
    fn slow_readers_get_the_latest_value_per_subscription() {
        let now = Instant::now();
        let mut session = WsSession::new(&settings(), now, TOO_BIG);
        let mut output = OutQueue::default();
        let path = vec!["a".to_owned()];
        output.extend_from_slice(&vec![0; OUTPUT_BOUND]);
        let skipped = (0..100)
            .filter(|i| {
                session.push_update(&path, text_frame(i.to_string().as_bytes()), &mut output)
            })
            .count();
        assert_eq!(output.len(), OUTPUT_BOUND, "nothing queued past the bound");
        assert_eq!(skipped, 99);
        let _ = drain(&mut output);
        session.output_drained(&mut output);
        assert_eq!(drain(&mut output), b"\x81\x0299");
    }

    #[test]
    fn pings_count_up_and_silent_peers_die() {
        let start = Instant::now();
        let settings = settings();
        let mut session = WsSession::new(&settings, start, TOO_BIG);
        let mut output = OutQueue::default();
        let second = Duration::from_secs(1);
        assert!(session.on_timer(&settings, start + second, &mut output));
        assert!(session.on_timer(&settings, start + 2 * second, &mut output));
        assert_eq!(drain(&mut output), b"\x89\x011\x89\x012");
        assert!(!session.on_timer(&settings, start + 3 * second, &mut output), "no pong for 3 s");
        let mut polite = WsSession::new(&settings, start, TOO_BIG);
        let pong = client_frame(0xA, b"2");
        polite.read(&pong, &mut output, start + 2 * second, |_, _, _| {});
        assert!(polite.on_timer(&settings, start + 3 * second, &mut output));
    }
}
