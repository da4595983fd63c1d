//! Sans-IO incremental HTTP/1.x request parser (RFC 9112) on top of `httparse`.
//!
//! The connection hands [`RequestParser::advance`] everything it has received and not yet
//! consumed; the parser answers how many bytes it consumed and whether a request (or a
//! `100 Continue` cue, or a refusal) came out of them. Head bytes stay in the caller's buffer
//! until the head is complete, because `httparse` needs the head contiguous; body bytes are
//! copied into the request and consumed at once, so the caller never holds a body twice.
//!
//! Every decision depends only on the byte stream, never on how it was split into reads: the
//! same stream fed at once or one byte at a time yields the same requests and the same error.
//! The one exception is [`Event::Continue`], which is emitted only if the head was complete
//! while the body was not yet fully present in the input (a client that already sent its
//! whole body has nothing to wait for).

use std::fmt;
use std::mem;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request head (blank lines before the request-line included), and also the
    /// largest trailer section of a chunked body.
    pub max_head_bytes: usize,
    pub max_headers: usize,
    /// Largest (de-chunked) body; exactly this many bytes are accepted.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Exactly as sent (case kept).
    pub method: String,
    /// Raw request-target as sent: origin-form "/a?b", absolute-form "http://h:1/a", or "*".
    pub target: String,
    pub version: Version,
    /// In arrival order, names as sent, raw values (surrounding whitespace removed by httparse).
    pub headers: Vec<(String, Vec<u8>)>,
    /// De-chunked.
    pub body: Vec<u8>,
    /// HTTP/1.1: true unless a Connection header lists "close". HTTP/1.0: only if Connection
    /// lists "keep-alive" (and not "close"), and never when the body was chunked.
    pub keep_alive: bool,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The head asked for `Expect: 100-continue` (HTTP/1.1 only) and a body is still to come:
    /// the caller writes "HTTP/1.1 100 Continue\r\n\r\n" now. Emitted at most once per request,
    /// and not when the request is refused (413 etc.).
    Continue,
    Request(Request),
}

/// A request that cannot be answered normally; the caller answers `status` with `reason` as
/// body and then closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub reason: &'static str,
}

impl HttpError {
    const MALFORMED_HEAD: Self = Self::new(400, "malformed request head");
    const HEAD_TOO_LARGE: Self = Self::new(431, "request head too large");
    const TOO_MANY_HEADERS: Self = Self::new(431, "too many header fields");
    const FRAMING_CONFLICT: Self =
        Self::new(400, "both Transfer-Encoding and Content-Length are present");
    const INVALID_CONTENT_LENGTH: Self = Self::new(400, "invalid Content-Length");
    const CONFLICTING_CONTENT_LENGTH: Self = Self::new(400, "conflicting Content-Length values");
    const EMPTY_TRANSFER_ENCODING: Self = Self::new(400, "empty Transfer-Encoding");
    const UNSUPPORTED_TRANSFER_CODING: Self = Self::new(501, "unsupported transfer coding");
    const BODY_TOO_LARGE: Self = Self::new(413, "request body too large");
    const MALFORMED_CHUNKED_BODY: Self = Self::new(400, "malformed chunked body");
    const CHUNK_SIZE_LINE_TOO_LONG: Self = Self::new(400, "chunk-size line too long");
    const TRAILERS_TOO_LARGE: Self = Self::new(431, "chunked trailer section too large");

    const fn new(status: u16, reason: &'static str) -> Self {
        Self { status, reason }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for HttpError {}

/// Real clients send a few hex digits and rarely an extension; anything this long only
/// serves to make us spin on a line we ignore anyway.
const MAX_CHUNK_SIZE_LINE: usize = 4096;

pub struct RequestParser {
    limits: Limits,
    config: httparse::ParserConfig,
    phase: Phase,
}

enum Phase {
    Head(HeadScan),
    Body(PendingRequest),
}

impl Default for Phase {
    fn default() -> Self {
        Phase::Head(HeadScan::default())
    }
}

struct PendingRequest {
    request: Request,
    framing: BodyFraming,
}

enum BodyFraming {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
}

impl RequestParser {
    pub fn new(limits: Limits) -> Self {
        // Spelled out although these are httparse's defaults: lenient parsing of requests is
        // how request smuggling starts, so a future default flip must not loosen us silently.
        let mut config = httparse::ParserConfig::default();
        config
            .allow_multiple_spaces_in_request_line_delimiters(false)
            .allow_space_before_first_header_name(false)
            .ignore_invalid_headers_in_requests(false);
        Self { limits, config, phase: Phase::default() }
    }

    /// `input` is everything the connection has received and not yet consumed (the caller drops
    /// the first `consumed` bytes after every call and calls again with the remainder plus new
    /// bytes). Returns how many bytes were consumed and the outcome: Ok(None) = need more bytes.
    /// After an Event::Request the parser is ready for the next request (pipelining); bytes after
    /// the request are NOT consumed (after a WebSocket upgrade they are WebSocket bytes).
    pub fn advance(&mut self, input: &[u8]) -> (usize, Result<Option<Event>, HttpError>) {
        let mut consumed = 0;
        let outcome = self.advance_counting(input, &mut consumed);
        (consumed, outcome)
    }

    /// True once any byte of the current request has been seen and its head is not yet
    /// complete (the caller runs a header-read timeout while this holds). Blank lines before
    /// the request-line count, so that trickling them cannot dodge the timeout.
    pub fn reading_head(&self) -> bool {
        matches!(&self.phase, Phase::Head(scan) if scan.saw_input)
    }

    /// True while the head is complete and the body is being received.
    pub fn reading_body(&self) -> bool {
        matches!(self.phase, Phase::Body(_))
    }

    fn advance_counting(
        &mut self,
        input: &[u8],
        consumed: &mut usize,
    ) -> Result<Option<Event>, HttpError> {
        let Phase::Head(scan) = &mut self.phase else {
            return self.receive_body(input, consumed);
        };
        let skipped = scan.skip_blank_lines(input, self.limits.max_head_bytes)?;
        *consumed += skipped;
        let rest = input.get(skipped..).unwrap_or_default();
        let Some(head_len) = scan.find_head_end(rest, self.limits.max_head_bytes)? else {
            return Ok(None);
        };
        let (head, body_input) = rest.split_at(head_len.min(rest.len()));
        let (pending, expects_continue) = parse_head(&self.config, &self.limits, head)?;
        *consumed += head.len();
        self.phase = Phase::Body(pending);
        match self.receive_body(body_input, consumed)? {
            Some(event) => Ok(Some(event)),
            None if expects_continue => Ok(Some(Event::Continue)),
            None => Ok(None),
        }
    }

    fn receive_body(
        &mut self,
        input: &[u8],
        consumed: &mut usize,
    ) -> Result<Option<Event>, HttpError> {
        let Phase::Body(pending) = &mut self.phase else {
            return Ok(None);
        };
        let body = &mut pending.request.body;
        let (used, complete) = match &mut pending.framing {
            BodyFraming::Length { remaining } => {
                let taken = take_up_to(*remaining, input);
                body.extend_from_slice(taken);
                *remaining -= taken.len() as u64;
                (taken.len(), *remaining == 0)
            }
            BodyFraming::Chunked(decoder) => decoder.decode(input, body, &self.limits)?,
        };
        *consumed += used;
        if !complete {
            return Ok(None);
        }
        match mem::take(&mut self.phase) {
            Phase::Body(finished) => Ok(Some(Event::Request(finished.request))),
            Phase::Head(_) => Ok(None),
        }
    }
}

/// The prefix of `input` that still belongs to a body part of `remaining` bytes.
fn take_up_to(remaining: u64, input: &[u8]) -> &[u8] {
    let count = usize::try_from(remaining).map_or(input.len(), |wanted| wanted.min(input.len()));
    input.get(..count).unwrap_or(input)
}

/// Progress through a head that is not complete yet. Offsets are into the caller's input,
/// which keeps the head's bytes in place (unconsumed) until the head is complete, so they
/// stay valid from one call to the next.
#[derive(Debug, Default)]
struct HeadScan {
    saw_input: bool,
    /// Blank lines before the request-line: consumed at once, but charged to the head limit
    /// so that an endless stream of them is still refused.
    blank_line_bytes: usize,
    request_line_started: bool,
    /// Bytes of the method already known to be token characters.
    method_checked: usize,
    method_complete: bool,
    /// No empty line starts before this offset.
    end_search_from: usize,
}

impl HeadScan {
    /// Skips the empty lines RFC 9112 §2.2 lets a server ignore before a request-line; returns
    /// how many bytes of `input` they took.
    fn skip_blank_lines(
        &mut self,
        input: &[u8],
        max_head_bytes: usize,
    ) -> Result<usize, HttpError> {
        if !input.is_empty() {
            self.saw_input = true;
        }
        let mut skipped = 0;
        while !self.request_line_started {
            let line_len = match input.get(skipped..).unwrap_or_default() {
                [b'\r', b'\n', ..] => 2,
                [b'\n', ..] => 1,
                [b'\r', _, ..] => return Err(HttpError::MALFORMED_HEAD),
                [] | [b'\r'] => break,
                [_, ..] => {
                    self.request_line_started = true;
                    break;
                }
            };
            skipped += line_len;
            self.blank_line_bytes += line_len;
            // Checked per line, not once at the end, so that the verdict does not depend on
            // how much of the stream one call happens to see.
            if self.blank_line_bytes > max_head_bytes {
                return Err(HttpError::HEAD_TOO_LARGE);
            }
        }
        Ok(skipped)
    }

    /// Returns the length of the head once `input` (starting at the request-line) holds all of
    /// it. Only the bytes that arrived since the last call are searched.
    fn find_head_end(
        &mut self,
        input: &[u8],
        max_head_bytes: usize,
    ) -> Result<Option<usize>, HttpError> {
        if !self.request_line_started {
            return Ok(None);
        }
        // A head ending beyond the budget is refused whatever it holds, so nothing past it is
        // ever looked at; this also keeps a huge first read from costing more than the limit.
        let budget = max_head_bytes.saturating_sub(self.blank_line_bytes);
        let window = input.get(..budget).unwrap_or(input);
        self.check_method(window)?;
        if let Some(head_len) = self.search_empty_line(window) {
            return Ok(Some(head_len));
        }
        if input.len() >= budget {
            return Err(HttpError::HEAD_TOO_LARGE);
        }
        Ok(None)
    }

    /// Refuses non-HTTP traffic (a TLS ClientHello, say) at its first byte instead of waiting
    /// for an empty line that may never come. httparse checks the whole head again later.
    fn check_method(&mut self, window: &[u8]) -> Result<(), HttpError> {
        if self.method_complete {
            return Ok(());
        }
        for &byte in window.get(self.method_checked..).unwrap_or_default() {
            if byte == b' ' && self.method_checked > 0 {
                self.method_complete = true;
                return Ok(());
            }
            if !is_token_char(byte) {
                return Err(HttpError::MALFORMED_HEAD);
            }
            self.method_checked += 1;
        }
        Ok(())
    }

    /// Finds the end of the first empty line (LF, optional CR, LF: this covers CRLF CRLF as
    /// well as the bare-LF forms). A candidate cut off by the end of `window` is searched
    /// again on the next call, so each byte is looked at a bounded number of times.
    fn search_empty_line(&mut self, window: &[u8]) -> Option<usize> {
        let mut position = self.end_search_from.min(window.len());
        work::head_bytes_scanned(window.len() - position);
        while let Some(offset) =
            window.get(position..).unwrap_or_default().iter().position(|&byte| byte == b'\n')
        {
            let line_feed = position + offset;
            match (window.get(line_feed + 1), window.get(line_feed + 2)) {
                (Some(b'\n'), _) => return Some(line_feed + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(line_feed + 3),
                (None, _) | (Some(b'\r'), None) => {
                    self.end_search_from = line_feed;
                    return None;
                }
                _ => position = line_feed + 1,
            }
        }
        self.end_search_from = window.len();
        None
    }
}

/// RFC 9110 tchar.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Parses a complete head (its last bytes are the empty line) and decides the body framing.
/// Also returns whether the client waits for `100 Continue`.
fn parse_head(
    config: &httparse::ParserConfig,
    limits: &Limits,
    head: &[u8],
) -> Result<(PendingRequest, bool), HttpError> {
    work::httparse_call();
    // Every header line takes at least three bytes ("a:\n"), so this never reports too many
    // headers falsely, and a generous max_headers does not cost an allocation per request.
    let slot_count = limits.max_headers.min(head.len() / 3 + 1);
    let mut slots = vec![httparse::EMPTY_HEADER; slot_count];
    let mut parsed = httparse::Request::new(&mut slots);
    match config.parse_request(&mut parsed, head) {
        Ok(httparse::Status::Complete(len)) if len == head.len() => {}
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TOO_MANY_HEADERS),
        _ => return Err(HttpError::MALFORMED_HEAD),
    }
    let (Some(method), Some(target), Some(minor_version)) =
        (parsed.method, parsed.path, parsed.version)
    else {
        return Err(HttpError::MALFORMED_HEAD);
    };
    let version = match minor_version {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Err(HttpError::MALFORMED_HEAD),
    };
    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|header| (header.name.to_owned(), header.value.to_vec()))
        .collect();

    let framing = body_framing(&headers, limits)?;
    let chunked = matches!(framing, BodyFraming::Chunked(_));
    let keep_alive = keep_alive(&headers, version, chunked);
    let expects_continue = version == Version::Http11
        && list_elements(&headers, "expect")
            .any(|element| element.eq_ignore_ascii_case(b"100-continue"));
    let request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        version,
        headers,
        body: Vec::new(),
        keep_alive,
    };
    Ok((PendingRequest { request, framing }, expects_continue))
}

fn body_framing(headers: &[(String, Vec<u8>)], limits: &Limits) -> Result<BodyFraming, HttpError> {
    let has_transfer_encoding = field_values(headers, "transfer-encoding").next().is_some();
    let has_content_length = field_values(headers, "content-length").next().is_some();
    // RFC 9112 §6.3 lets a server pick Transfer-Encoding here, but two framings that
    // intermediaries may read differently is the classic smuggling setup: refuse it.
    if has_transfer_encoding && has_content_length {
        return Err(HttpError::FRAMING_CONFLICT);
    }
    if has_transfer_encoding {
        let mut codings =
            list_elements(headers, "transfer-encoding").filter(|coding| !coding.is_empty());
        return match (codings.next(), codings.next()) {
            (None, _) => Err(HttpError::EMPTY_TRANSFER_ENCODING),
            (Some(coding), None) if coding.eq_ignore_ascii_case(b"chunked") => {
                Ok(BodyFraming::Chunked(ChunkedDecoder::default()))
            }
            _ => Err(HttpError::UNSUPPORTED_TRANSFER_CODING),
        };
    }
    if has_content_length {
        let length = content_length(headers)?;
        // Refused before the body arrives (and before any 100 Continue) so that the client
        // does not send it in vain.
        if length > u64::try_from(limits.max_body_bytes).unwrap_or(u64::MAX) {
            return Err(HttpError::BODY_TOO_LARGE);
        }
        return Ok(BodyFraming::Length { remaining: length });
    }
    Ok(BodyFraming::Length { remaining: 0 })
}

/// RFC 9110 §8.6: repeated fields or list elements are tolerated only when they all agree.
fn content_length(headers: &[(String, Vec<u8>)]) -> Result<u64, HttpError> {
    let elements = || list_elements(headers, "content-length");
    if elements().any(|element| element.is_empty() || !element.iter().all(u8::is_ascii_digit)) {
        return Err(HttpError::INVALID_CONTENT_LENGTH);
    }
    let mut agreed = None;
    for element in elements() {
        let length = parse_decimal(element).ok_or(HttpError::BODY_TOO_LARGE)?;
        match agreed {
            Some(previous) if previous != length => {
                return Err(HttpError::CONFLICTING_CONTENT_LENGTH);
            }
            _ => agreed = Some(length),
        }
    }
    agreed.ok_or(HttpError::INVALID_CONTENT_LENGTH)
}

/// `None` when the digits do not fit in a u64.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits
        .iter()
        .try_fold(0u64, |value, &digit| value.checked_mul(10)?.checked_add(u64::from(digit - b'0')))
}

fn keep_alive(headers: &[(String, Vec<u8>)], version: Version, chunked: bool) -> bool {
    let mut lists_close = false;
    let mut lists_keep_alive = false;
    for option in list_elements(headers, "connection") {
        lists_close |= option.eq_ignore_ascii_case(b"close");
        lists_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
    }
    match version {
        Version::Http11 => !lists_close,
        // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing as far
        // as an HTTP/1.0 intermediary is concerned; answer it, but do not trust what follows.
        Version::Http10 => lists_keep_alive && !lists_close && !chunked,
    }
}

fn field_values<'a>(
    headers: &'a [(String, Vec<u8>)],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |(header_name, _)| header_name.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_slice())
}

/// The comma-separated elements of every field called `name`, trimmed, empty ones included.
fn list_elements<'a>(
    headers: &'a [(String, Vec<u8>)],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> {
    field_values(headers, name)
        .flat_map(|value| value.split(|&byte| byte == b','))
        .map(trim_optional_whitespace)
}

fn trim_optional_whitespace(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Incremental decoder for `Transfer-Encoding: chunked`. Framing bytes go through one at a
/// time; chunk data is copied out in bulk as soon as it arrives, so nothing is buffered.
/// Chunk framing requires CRLF (no bare LF): a lenient chunk parser is a smuggling vector.
#[derive(Debug, Default)]
struct ChunkedDecoder {
    state: ChunkState,
    size_line_len: usize,
    trailer_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    SizeDigits {
        size: u64,
        has_digit: bool,
    },
    /// Whitespace after the size, allowed only before an extension (BWS ";").
    SizeWhitespace {
        size: u64,
    },
    Extension {
        size: u64,
    },
    SizeLineFeed {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    DataCarriageReturn,
    DataLineFeed,
    TrailerLineStart,
    TrailerLine,
    TrailerLineFeed {
        ends_section: bool,
    },
    Done,
}

impl Default for ChunkState {
    fn default() -> Self {
        ChunkState::SizeDigits { size: 0, has_digit: false }
    }
}

impl ChunkedDecoder {
    /// Decodes as much of `input` as possible into `body`; returns the bytes used and whether
    /// the body (trailers included) is complete. Stops right after the final CRLF.
    fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        limits: &Limits,
    ) -> Result<(usize, bool), HttpError> {
        let mut used = 0;
        while self.state != ChunkState::Done {
            let rest = input.get(used..).unwrap_or_default();
            if rest.is_empty() {
                return Ok((used, false));
            }
            used += self.consume(rest, body, limits)?;
        }
        Ok((used, true))
    }

    /// Takes the next piece of non-empty `input` that the current state can use.
    fn consume(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        limits: &Limits,
    ) -> Result<usize, HttpError> {
        use ChunkState::*;
        let Some(&byte) = input.first() else {
            return Ok(0);
        };
        let malformed = Err(HttpError::MALFORMED_CHUNKED_BODY);
        if matches!(
            self.state,
            SizeDigits { .. } | SizeWhitespace { .. } | Extension { .. } | SizeLineFeed { .. }
        ) {
            self.size_line_len += 1;
            if self.size_line_len > MAX_CHUNK_SIZE_LINE {
                return Err(HttpError::CHUNK_SIZE_LINE_TOO_LONG);
            }
        }
        if matches!(self.state, TrailerLineStart | TrailerLine | TrailerLineFeed { .. }) {
            self.trailer_len += 1;
            if self.trailer_len > limits.max_head_bytes {
                return Err(HttpError::TRAILERS_TOO_LARGE);
            }
        }
        self.state = match self.state {
            SizeDigits { size, has_digit } => {
                if let Some(digit) = hex_digit_value(byte) {
                    let size = size
                        .checked_mul(16)
                        .and_then(|size| size.checked_add(digit))
                        .ok_or(HttpError::MALFORMED_CHUNKED_BODY)?;
                    SizeDigits { size, has_digit: true }
                } else {
                    let next = match byte {
                        _ if !has_digit => return malformed,
                        b' ' | b'\t' => SizeWhitespace { size },
                        b';' => Extension { size },
                        b'\r' => SizeLineFeed { size },
                        _ => return malformed,
                    };
                    // Refused as soon as the size is known: no point receiving data that will
                    // be thrown away.
                    let total = u64::try_from(body.len()).unwrap_or(u64::MAX).saturating_add(size);
                    if total > u64::try_from(limits.max_body_bytes).unwrap_or(u64::MAX) {
                        return Err(HttpError::BODY_TOO_LARGE);
                    }
                    next
                }
            }
            SizeWhitespace { size } => match byte {
                b' ' | b'\t' => SizeWhitespace { size },
                b';' => Extension { size },
                _ => return malformed,
            },
            Extension { size } => match byte {
                b'\r' => SizeLineFeed { size },
                b'\t' => Extension { size },
                0x00..=0x1f | 0x7f => return malformed,
                _ => Extension { size },
            },
            SizeLineFeed { size } => match byte {
                b'\n' if size == 0 => TrailerLineStart,
                b'\n' => Data { remaining: size },
                _ => return malformed,
            },
            Data { remaining } => {
                let taken = take_up_to(remaining, input);
                body.extend_from_slice(taken);
                let remaining = remaining - taken.len() as u64;
                self.state = if remaining == 0 { DataCarriageReturn } else { Data { remaining } };
                return Ok(taken.len());
            }
            DataCarriageReturn => match byte {
                b'\r' => DataLineFeed,
                _ => return malformed,
            },
            DataLineFeed => match byte {
                b'\n' => {
                    self.size_line_len = 0;
                    ChunkState::default()
                }
                _ => return malformed,
            },
            TrailerLineStart => match byte {
                b'\r' => TrailerLineFeed { ends_section: true },
                b'\n' => return malformed,
                _ => TrailerLine,
            },
            TrailerLine => match byte {
                b'\r' => TrailerLineFeed { ends_section: false },
                b'\n' => return malformed,
                _ => TrailerLine,
            },
            TrailerLineFeed { ends_section } => match byte {
                b'\n' if ends_section => Done,
                b'\n' => TrailerLineStart,
                _ => return malformed,
            },
            Done => return Ok(0),
        };
        Ok(1)
    }
}

fn hex_digit_value(byte: u8) -> Option<u64> {
    char::from(byte).to_digit(16).map(u64::from)
}

/// Counts the parser's costly steps so that tests can prove trickled input costs linear work.
#[cfg(test)]
mod work {
    use std::cell::Cell;

    thread_local! {
        static HTTPARSE_CALLS: Cell<usize> = const { Cell::new(0) };
        static HEAD_BYTES_SCANNED: Cell<usize> = const { Cell::new(0) };
    }

    pub fn httparse_call() {
        HTTPARSE_CALLS.with(|calls| calls.set(calls.get() + 1));
    }

    pub fn head_bytes_scanned(count: usize) {
        HEAD_BYTES_SCANNED.with(|scanned| scanned.set(scanned.get() + count));
    }

    /// (httparse calls, head bytes scanned) since the last call, on this thread.
    pub fn take() -> (usize, usize) {
        (
            HTTPARSE_CALLS.with(|calls| calls.replace(0)),
            HEAD_BYTES_SCANNED.with(|scanned| scanned.replace(0)),
        )
    }
}

#[cfg(not(test))]
mod work {
    pub fn httparse_call() {}
    pub fn head_bytes_scanned(_count: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits =
        Limits { max_head_bytes: 8192, max_headers: 64, max_body_bytes: 1 << 20 };

    /// What a connection sees when it feeds a stream to the parser the way `advance` asks.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Transcript {
        events: Vec<Event>,
        error: Option<HttpError>,
        unconsumed: Vec<u8>,
    }

    impl Transcript {
        fn requests(&self) -> Vec<&Request> {
            self.events
                .iter()
                .filter_map(|event| match event {
                    Event::Request(request) => Some(request),
                    Event::Continue => None,
                })
                .collect()
        }

        fn only_request(&self) -> &Request {
            assert_eq!(self.error, None, "{self:#?}");
            let requests = self.requests();
            assert_eq!(requests.len(), 1, "{self:#?}");
            requests[0]
        }

        fn status(&self) -> Option<u16> {
            self.error.map(|error| error.status)
        }
    }

    fn feed_pieces<'a>(
        parser: &mut RequestParser,
        pieces: impl IntoIterator<Item = &'a [u8]>,
    ) -> Transcript {
        let mut buffer = Vec::new();
        let mut events = Vec::new();
        for piece in pieces {
            buffer.extend_from_slice(piece);
            loop {
                let (consumed, outcome) = parser.advance(&buffer);
                assert!(consumed <= buffer.len());
                buffer.drain(..consumed);
                match outcome {
                    Ok(Some(event)) => events.push(event),
                    Ok(None) => break,
                    Err(error) => {
                        return Transcript {
                            events,
                            error: Some(error),
                            // How much was left over depends on how much was fed
                            // before the error, which is of no interest.
                            unconsumed: Vec::new(),
                        };
                    }
                }
            }
        }
        Transcript { events, error: None, unconsumed: buffer }
    }

    fn feed_with(limits: Limits, stream: &[u8]) -> Transcript {
        feed_pieces(&mut RequestParser::new(limits), [stream])
    }

    fn feed(stream: &[u8]) -> Transcript {
        feed_with(LIMITS, stream)
    }

    fn status_of(stream: &[u8]) -> Option<u16> {
        feed(stream).status()
    }

    #[test]
    fn simple_get() {
        let stream = b"GET /a/b?c=d HTTP/1.1\r\nHost: example\r\nX-Thing: v\r\n\r\n";
        let mut parser = RequestParser::new(LIMITS);
        assert!(!parser.reading_head());
        let (consumed, outcome) = parser.advance(stream);
        assert_eq!(consumed, stream.len());
        let Ok(Some(Event::Request(request))) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/a/b?c=d");
        assert_eq!(request.version, Version::Http11);
        assert_eq!(
            request.headers,
            vec![("Host".to_owned(), b"example".to_vec()), ("X-Thing".to_owned(), b"v".to_vec())]
        );
        assert_eq!(request.body, b"");
        assert!(request.keep_alive);
        assert_eq!(request.header("host"), Some(&b"example"[..]));
        assert_eq!(request.header("HOST"), Some(&b"example"[..]));
        assert_eq!(request.header("missing"), None);
        assert!(!parser.reading_head());
        assert!(!parser.reading_body());
        assert_eq!(parser.advance(b""), (0, Ok(None)));
    }

    #[test]
    fn header_lookup_returns_first_match() {
        let request = feed(b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n").only_request().clone();
        assert_eq!(request.header("X-a"), Some(&b"1"[..]));
        assert_eq!(request.headers.len(), 2);
    }

    #[test]
    fn method_case_and_target_forms_are_kept() {
        let request = feed(b"get http://h:1/a?b HTTP/1.1\r\n\r\n").only_request().clone();
        assert_eq!(request.method, "get");
        assert_eq!(request.target, "http://h:1/a?b");
        let request = feed(b"OPTIONS * HTTP/1.0\r\n\r\n").only_request().clone();
        assert_eq!(request.target, "*");
        assert_eq!(request.version, Version::Http10);
    }

    #[test]
    fn reading_head_and_body_follow_the_request() {
        let mut parser = RequestParser::new(LIMITS);
        assert_eq!(parser.advance(b"POST / HT"), (0, Ok(None)));
        assert!(parser.reading_head());
        assert!(!parser.reading_body());
        let head = b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n";
        let mut input = head.to_vec();
        input.extend_from_slice(b"ab");
        assert_eq!(parser.advance(&input), (input.len(), Ok(None)));
        assert!(!parser.reading_head());
        assert!(parser.reading_body());
        let (consumed, outcome) = parser.advance(b"cdGET");
        assert_eq!(consumed, 2);
        let Ok(Some(Event::Request(request))) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(request.body, b"abcd");
        assert!(!parser.reading_head());
        assert!(!parser.reading_body());
        assert_eq!(parser.advance(b"GET"), (0, Ok(None)));
        assert!(parser.reading_head());
    }

    #[test]
    fn pipelined_requests_in_one_buffer() {
        let first = b"GET /1 HTTP/1.1\r\n\r\n".as_slice();
        let second = b"POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc".as_slice();
        let third = b"GET /3 HTTP/1.1\r\nConnection: close\r\n\r\n".as_slice();
        let stream = [first, second, third].concat();
        let mut parser = RequestParser::new(LIMITS);
        let mut offset = 0;
        let mut targets = Vec::new();
        for expected_len in [first.len(), second.len(), third.len()] {
            let (consumed, outcome) = parser.advance(&stream[offset..]);
            assert_eq!(consumed, expected_len);
            offset += consumed;
            let Ok(Some(Event::Request(request))) = outcome else {
                panic!("{outcome:?}");
            };
            targets.push((request.target, request.body, request.keep_alive));
        }
        assert_eq!(
            targets,
            vec![
                ("/1".to_owned(), b"".to_vec(), true),
                ("/2".to_owned(), b"abc".to_vec(), true),
                ("/3".to_owned(), b"".to_vec(), false)
            ]
        );
        assert_eq!(parser.advance(&stream[offset..]), (0, Ok(None)));
    }

    #[test]
    fn bytes_after_a_request_are_not_consumed() {
        let head = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        let mut stream = head.to_vec();
        stream.extend_from_slice(b"\x81\x85websocket bytes");
        let (consumed, outcome) = RequestParser::new(LIMITS).advance(&stream);
        assert_eq!(consumed, head.len());
        assert!(matches!(outcome, Ok(Some(Event::Request(_)))));
    }

    #[test]
    fn content_length_body() {
        let transcript = feed(b"PUT /x HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world");
        assert_eq!(transcript.only_request().body, b"hello world");
        assert!(transcript.unconsumed.is_empty());
        // Body bytes are consumed as they arrive, so the caller never holds them twice.
        let mut parser = RequestParser::new(LIMITS);
        let head = b"PUT /x HTTP/1.1\r\nContent-Length: 11\r\n\r\nhel";
        assert_eq!(parser.advance(head), (head.len(), Ok(None)));
        assert_eq!(parser.advance(b"lo "), (3, Ok(None)));
        let (consumed, outcome) = parser.advance(b"worldGET");
        assert_eq!(consumed, 5);
        let Ok(Some(Event::Request(request))) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(request.body, b"hello world");
    }

    #[test]
    fn body_is_empty_without_framing_headers() {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let stream = format!("{method} / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
            let transcript = feed(stream.as_bytes());
            assert_eq!(transcript.requests().len(), 2);
            assert!(transcript.requests().iter().all(|request| request.body.is_empty()));
        }
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let stream = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;name=value\r\nhello\r\n\
            6 ; a=\"quoted; \\\" \" ;b\r\n world\r\n\
            000a\r\n0123456789\r\n\
            0;last\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let transcript = feed(stream);
        assert_eq!(transcript.error, None);
        let requests = transcript.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].body, b"hello world0123456789");
        assert_eq!(requests[0].header("trailer-a"), None);
        assert_eq!(requests[1].target, "/");
        let plain =
            feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(plain.only_request().body, b"abc");
        let listed = feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: , chunked ,\r\n\r\n0\r\n\r\n");
        assert_eq!(listed.only_request().body, b"");
    }

    #[test]
    fn chunked_body_is_consumed_as_it_arrives() {
        let mut parser = RequestParser::new(LIMITS);
        let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123";
        assert_eq!(parser.advance(head), (head.len(), Ok(None)));
        assert!(parser.reading_body());
        assert_eq!(parser.advance(b"456"), (3, Ok(None)));
        assert_eq!(parser.advance(b"789\r\n0\r\n"), (8, Ok(None)));
        let (consumed, outcome) = parser.advance(b"\r\nnext");
        assert_eq!(consumed, 2);
        let Ok(Some(Event::Request(request))) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(request.body, b"0123456789");
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        let stream = b"GET /a HTTP/1.1\nHost: h\nX: y\n\nPOST /b HTTP/1.1\nContent-Length: 2\n\nhi\
            GET /c HTTP/1.1\r\nA: b\n\r\nGET /d HTTP/1.1\r\n\nGET /e HTTP/1.0\n\n";
        let transcript = feed(stream);
        assert_eq!(transcript.error, None);
        let targets: Vec<&str> =
            transcript.requests().iter().map(|request| request.target.as_str()).collect();
        assert_eq!(targets, ["/a", "/b", "/c", "/d", "/e"]);
        assert_eq!(transcript.requests()[0].header("x"), Some(&b"y"[..]));
        assert_eq!(transcript.requests()[1].body, b"hi");
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let transcript = feed(b"\r\n\r\n\nGET / HTTP/1.1\r\n\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
        assert_eq!(transcript.error, None);
        assert_eq!(transcript.requests().len(), 2);
        let mut parser = RequestParser::new(LIMITS);
        assert_eq!(parser.advance(b"\r\n\r"), (2, Ok(None)));
        assert!(parser.reading_head());
        assert_eq!(status_of(b"\r\rGET / HTTP/1.1\r\n\r\n"), Some(400));
        let few = Limits { max_head_bytes: 32, ..LIMITS };
        assert_eq!(feed_with(few, &b"\r\n".repeat(17)).status(), Some(431));
        let mut exact = b"\r\n".repeat(4);
        exact.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let fits = Limits { max_head_bytes: exact.len(), ..LIMITS };
        assert_eq!(feed_with(fits, &exact).error, None);
        let tight = Limits { max_head_bytes: exact.len() - 1, ..LIMITS };
        assert_eq!(feed_with(tight, &exact).status(), Some(431));
    }

    #[test]
    fn malformed_heads_are_400() {
        let cases: &[&[u8]] = &[
            // obs-fold, first header and later header
            b"GET / HTTP/1.1\r\n Folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n\tcontinued\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n continued\r\n\r\n",
            // whitespace between name and colon
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",
            // bare CR
            b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
            b"GET / HTTP/1.1\rA: b\r\n\r\n",
            b"GET /\r HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\r\n\r\n",
            // request-line shapes
            b"GET  / HTTP/1.1\r\n\r\n",
            b" GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            // header syntax
            b"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: nul\0byte\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(status_of(case), Some(400), "{}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn non_http_traffic_is_refused_at_once() {
        // The start of a TLS ClientHello: no line end in sight, yet refused straight away.
        let client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
        let mut parser = RequestParser::new(LIMITS);
        let (_, outcome) = parser.advance(client_hello);
        assert_eq!(outcome.map_err(|error| error.status), Err(400));
        let mut parser = RequestParser::new(LIMITS);
        assert_eq!(parser.advance(b"\x16").1.map_err(|error| error.status), Err(400));
        let mut with_lines = client_hello.to_vec();
        with_lines.extend_from_slice(b"\n\n\r\n\r\n");
        assert_eq!(status_of(&with_lines), Some(400));
    }

    #[test]
    fn content_length_rules() {
        let body_of = |value: &str| {
            let stream = format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\nhello");
            let transcript = feed(stream.as_bytes());
            transcript.error.map_or_else(
                || Ok(transcript.only_request().body.clone()),
                |error| Err(error.status),
            )
        };
        assert_eq!(body_of("5"), Ok(b"hello".to_vec()));
        assert_eq!(body_of("005"), Ok(b"hello".to_vec()));
        assert_eq!(body_of("5, 5"), Ok(b"hello".to_vec()));
        assert_eq!(body_of("5,5 ,5"), Ok(b"hello".to_vec()));
        for invalid in
            ["abc", "-1", "+1", "1x", "1 2", "", "5,", ",5", "5,,5", "0x5", "5;", "\t", "\"5\""]
        {
            assert_eq!(body_of(invalid), Err(400), "{invalid:?}");
        }
        assert_eq!(body_of("5, 6"), Err(400));
        let repeated =
            feed(b"POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc");
        assert_eq!(repeated.only_request().body, b"abc");
        let conflicting =
            feed(b"POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 4\r\n\r\nabcd");
        assert_eq!(conflicting.status(), Some(400));
    }

    #[test]
    fn body_size_limit() {
        let limits = Limits { max_body_bytes: 10, ..LIMITS };
        let with_length = |length: &str| {
            let head = format!("POST / HTTP/1.1\r\nContent-Length: {length}\r\n\r\n");
            // No body bytes at all: the refusal must come from the head alone.
            RequestParser::new(limits).advance(head.as_bytes())
        };
        assert_eq!(with_length("10").1, Ok(None));
        assert_eq!(with_length("11").1.map_err(|error| error.status), Err(413));
        assert_eq!(with_length("18446744073709551615").1.map_err(|error| error.status), Err(413));
        assert_eq!(with_length("18446744073709551616").1.map_err(|error| error.status), Err(413));
        assert_eq!(
            with_length("99999999999999999999999999").1.map_err(|error| error.status),
            Err(413)
        );
        let exact = feed_with(limits, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
        assert_eq!(exact.only_request().body, b"0123456789");
    }

    #[test]
    fn chunked_body_size_limit() {
        let limits = Limits { max_body_bytes: 10, ..LIMITS };
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let exact = format!("{head}4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n");
        assert_eq!(feed_with(limits, exact.as_bytes()).only_request().body, b"0123456789");
        let over = format!("{head}4\r\n0123\r\n7\r\n");
        assert_eq!(feed_with(limits, over.as_bytes()).status(), Some(413));
        let single = format!("{head}b;ext\r\n");
        assert_eq!(feed_with(limits, single.as_bytes()).status(), Some(413));
        let huge = format!("{head}ffffffffffffffff\r\n");
        assert_eq!(feed_with(limits, huge.as_bytes()).status(), Some(413));
    }

    #[test]
    fn malformed_chunked_bodies_are_400() {
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let cases = [
            "g\r\n",
            "\r\n",
            ";ext\r\n",
            " 5\r\n",
            "5 \r\nhello\r\n0\r\n\r\n",
            "-5\r\n",
            "0x5\r\n",
            "5\nhello\r\n0\r\n\r\n",
            "5\r\nhelloX\r\n0\r\n\r\n",
            "5\r\nhello\n0\r\n\r\n",
            "5\r\nhello\r0\r\n\r\n",
            "5;a\nb\r\nhello\r\n",
            "5;a\x01\r\n",
            "10000000000000000\r\n",
            "0\r\n\n",
            "0\r\nTrailer: x\n\r\n",
            "0\r\nTrailer: x\rY\r\n\r\n",
            "0\r\r\n",
        ];
        let limits = Limits { max_body_bytes: usize::MAX, ..LIMITS };
        for case in cases {
            let stream = format!("{head}{case}");
            assert_eq!(feed_with(limits, stream.as_bytes()).status(), Some(400), "{case:?}");
        }
        let long_extension = format!("{head}5;{}\r\n", "x".repeat(MAX_CHUNK_SIZE_LINE));
        assert_eq!(feed(long_extension.as_bytes()).status(), Some(400));
        let long_digits =
            format!("{head}{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(MAX_CHUNK_SIZE_LINE));
        assert_eq!(feed(long_digits.as_bytes()).status(), Some(400));
        let many_zeros = format!("{head}{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(100));
        assert_eq!(feed(many_zeros.as_bytes()).only_request().body, b"hello");
    }

    #[test]
    fn oversized_trailers_are_refused() {
        let limits = Limits { max_head_bytes: 256, ..LIMITS };
        let mut stream = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
        for _ in 0..100 {
            stream.extend_from_slice(b"Trailer: value\r\n");
        }
        stream.extend_from_slice(b"\r\n");
        assert_eq!(feed_with(limits, &stream).status(), Some(431));
    }

    #[test]
    fn transfer_encoding_rules() {
        let status_with = |codings: &str| {
            let stream =
                format!("POST / HTTP/1.1\r\nTransfer-Encoding: {codings}\r\n\r\n0\r\n\r\n");
            status_of(stream.as_bytes())
        };
        assert_eq!(status_with("chunked"), None);
        assert_eq!(status_with("CHUNKED"), None);
        for unsupported in
            ["gzip, chunked", "identity", "xchunked", "gzip", "chunked, chunked", "chunked;q=1"]
        {
            assert_eq!(status_with(unsupported), Some(501), "{unsupported:?}");
        }
        assert_eq!(status_with(""), Some(400));
        assert_eq!(status_with(" , "), Some(400));
        let split = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(status_of(split), Some(501));
        let both =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n";
        assert_eq!(status_of(both), Some(400));
        let both_unsupported =
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\nhello";
        assert_eq!(status_of(both_unsupported), Some(400));
    }

    #[test]
    fn expect_100_continue() {
        let mut parser = RequestParser::new(LIMITS);
        let head = b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parser.advance(head), (head.len(), Ok(Some(Event::Continue))));
        assert!(parser.reading_body());
        assert_eq!(parser.advance(b""), (0, Ok(None)));
        assert_eq!(parser.advance(b"hel"), (3, Ok(None)));
        let (consumed, outcome) = parser.advance(b"lo");
        assert_eq!(consumed, 2);
        assert!(matches!(outcome, Ok(Some(Event::Request(request))) if request.body == b"hello"));

        // Part of the body in the same read still leaves the client waiting.
        let mut with_some_body = head.to_vec();
        with_some_body.extend_from_slice(b"he");
        let mut parser = RequestParser::new(LIMITS);
        assert_eq!(
            parser.advance(&with_some_body),
            (with_some_body.len(), Ok(Some(Event::Continue)))
        );

        let chunked =
            b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
        let transcript = feed_pieces(
            &mut RequestParser::new(LIMITS),
            [chunked.as_slice(), b"2\r\nhi\r\n0\r\n\r\n"],
        );
        assert_eq!(transcript.events.first(), Some(&Event::Continue));
        assert_eq!(transcript.events.iter().filter(|event| **event == Event::Continue).count(), 1);
        assert_eq!(transcript.only_request().body, b"hi");
    }

    #[test]
    fn no_continue_when_nothing_to_wait_for() {
        let without = |stream: &[u8]| {
            let transcript = feed(stream);
            assert!(!transcript.events.contains(&Event::Continue), "{transcript:#?}");
            transcript
        };
        // The whole body is already here.
        without(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
        without(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        // No body at all.
        without(b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        without(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
        // HTTP/1.0 clients do not know 100 Continue.
        let mut parser = RequestParser::new(LIMITS);
        let head = b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parser.advance(head), (head.len(), Ok(None)));
        // Refused requests.
        let limits = Limits { max_body_bytes: 4, ..LIMITS };
        let mut parser = RequestParser::new(limits);
        let head = b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parser.advance(head).1.map_err(|error| error.status), Err(413));
        let refused =
            b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
        let transcript = feed_with(limits, refused);
        assert_eq!(transcript.events, []);
        assert_eq!(transcript.status(), Some(413));
        let transcript =
            feed(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(transcript.events, []);
        assert_eq!(transcript.status(), Some(501));
    }

    #[test]
    fn keep_alive_rules() {
        let keep_alive = |version: &str, connection: Option<&str>| {
            let header =
                connection.map(|value| format!("Connection: {value}\r\n")).unwrap_or_default();
            let stream = format!("GET / HTTP/{version}\r\n{header}\r\n");
            feed(stream.as_bytes()).only_request().keep_alive
        };
        assert!(keep_alive("1.1", None));
        assert!(!keep_alive("1.1", Some("close")));
        assert!(!keep_alive("1.1", Some("CLOSE")));
        assert!(!keep_alive("1.1", Some("Upgrade, close")));
        assert!(keep_alive("1.1", Some("keep-alive")));
        assert!(keep_alive("1.1", Some("closed")));
        assert!(!keep_alive("1.0", None));
        assert!(keep_alive("1.0", Some("keep-alive")));
        assert!(keep_alive("1.0", Some("Keep-Alive")));
        assert!(keep_alive("1.0", Some("foo ,  keep-alive ")));
        assert!(!keep_alive("1.0", Some("keep-alive, close")));
        assert!(!keep_alive("1.0", Some("keep-alive-ish")));
        let two_headers =
            feed(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
        assert!(!two_headers.only_request().keep_alive);
        let chunked_10 = feed(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        assert!(!chunked_10.only_request().keep_alive);
    }

    #[test]
    fn head_size_limit() {
        let limits = Limits { max_head_bytes: 64, ..LIMITS };
        let exact = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(64 - 23));
        assert_eq!(exact.len(), 64);
        assert_eq!(feed_with(limits, exact.as_bytes()).error, None);
        let over = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(64 - 22));
        assert_eq!(feed_with(limits, over.as_bytes()).status(), Some(431));
        // Refused without waiting for the end of the head.
        let long_line = format!("GET /{} HTTP/1.1", "a".repeat(100));
        let mut parser = RequestParser::new(limits);
        assert_eq!(parser.advance(long_line.as_bytes()).1.map_err(|error| error.status), Err(431));
        let mut parser = RequestParser::new(limits);
        assert_eq!(parser.advance(&long_line.as_bytes()[..63]), (0, Ok(None)));
        assert_eq!(
            parser.advance(&long_line.as_bytes()[..64]).1.map_err(|error| error.status),
            Err(431)
        );
    }

    /// A request-line and `count` header lines, without the final empty line.
    fn head_with_headers(count: usize) -> Vec<u8> {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..count {
            head.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        head
    }

    #[test]
    fn megabyte_header_block_is_refused_with_linear_work() {
        let limits = Limits { max_head_bytes: 64 * 1024, max_headers: 100, max_body_bytes: 1024 };
        let head = head_with_headers((1usize << 20).div_ceil(50));
        assert!(head.len() >= 1 << 20);
        work::take();
        let transcript = feed_pieces(&mut RequestParser::new(limits), head.chunks(4096));
        assert_eq!(transcript.status(), Some(431));
        let (httparse_calls, scanned) = work::take();
        assert_eq!(httparse_calls, 0);
        assert!(scanned <= limits.max_head_bytes + 4096, "{scanned}");
    }

    #[test]
    fn large_heads_cost_one_httparse_call() {
        let limits = Limits { max_head_bytes: 2 << 20, max_headers: 100_000, max_body_bytes: 1024 };
        let header_count = (1 << 20) / 50;
        let mut head = head_with_headers(header_count);
        head.extend_from_slice(b"\r\n");
        work::take();
        let transcript = feed_pieces(&mut RequestParser::new(limits), head.chunks(4096));
        assert_eq!(transcript.only_request().headers.len(), header_count);
        let (httparse_calls, scanned) = work::take();
        assert_eq!(httparse_calls, 1);
        let calls = head.len().div_ceil(4096);
        assert!(scanned <= head.len() + 2 * calls, "{scanned}");

        // One byte at a time: every call looks at the new byte and at most two old ones.
        let mut trickled = head_with_headers(64 * 1024 / 50);
        trickled.extend_from_slice(b"\r\n");
        let transcript = feed_pieces(&mut RequestParser::new(limits), trickled.chunks(1));
        assert_eq!(transcript.only_request().headers.len(), 64 * 1024 / 50);
        let (httparse_calls, scanned) = work::take();
        assert_eq!(httparse_calls, 1);
        assert!(scanned <= 3 * trickled.len(), "{scanned}");
    }

    #[test]
    fn too_many_headers() {
        let mut stream = b"GET / HTTP/1.1\r\n".to_vec();
        for index in 0..10_000 {
            stream.extend_from_slice(format!("X-Header-{index}: v\r\n").as_bytes());
        }
        stream.extend_from_slice(b"\r\n");
        // Over the byte limit first...
        assert_eq!(feed(&stream).status(), Some(431));
        // ...and over the count limit when the byte limit allows it.
        let roomy = Limits { max_head_bytes: 1 << 20, max_headers: 100, max_body_bytes: 0 };
        let transcript = feed_with(roomy, &stream);
        assert_eq!(transcript.error, Some(HttpError::TOO_MANY_HEADERS));

        let count = |headers: usize, max_headers: usize| {
            let mut stream = b"GET / HTTP/1.1\r\n".to_vec();
            for _ in 0..headers {
                stream.extend_from_slice(b"a:\n");
            }
            stream.extend_from_slice(b"\n");
            feed_with(Limits { max_headers, ..LIMITS }, &stream).status()
        };
        assert_eq!(count(64, 64), None);
        assert_eq!(count(65, 64), Some(431));
        assert_eq!(count(0, 0), None);
        assert_eq!(count(1, 0), Some(431));
    }

    #[test]
    fn four_kilobyte_header_value_is_accepted() {
        let value = "v".repeat(4096);
        let stream = format!("GET / HTTP/1.1\r\nX-Big: {value}\r\n\r\n");
        assert_eq!(feed(stream.as_bytes()).only_request().header("x-big"), Some(value.as_bytes()));
    }

    #[test]
    fn header_values_keep_raw_bytes() {
        let transcript = feed(b"GET / HTTP/1.1\r\nX: caf\xc3\xa9 \xff\tq\r\n\r\n");
        assert_eq!(transcript.only_request().header("x"), Some(&b"caf\xc3\xa9 \xff\tq"[..]));
    }

    /// Tiny deterministic generator, so the split test needs no extra dependency.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, bound: usize) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            usize::try_from(self.0 >> 33).unwrap_or(0) % bound.max(1)
        }
    }

    fn without_continue(transcript: Transcript) -> Transcript {
        Transcript {
            events: transcript
                .events
                .into_iter()
                .filter(|event| *event != Event::Continue)
                .collect(),
            ..transcript
        }
    }

    #[test]
    fn outcome_does_not_depend_on_how_input_is_split() {
        let small = Limits { max_head_bytes: 120, max_headers: 4, max_body_bytes: 16 };
        let long = "a".repeat(112);
        let blank_lines = "\r\n".repeat(61);
        // (stream, requests it yields, status of the error that ends it)
        let streams: Vec<(Vec<u8>, usize, Option<u16>)> = vec![
            (
                b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
                  \r\n\r\nPUT /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
                  3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\nGET /4 HTTP/1.0\nConnection: keep-alive\n\nGET /5 HT"
                    .to_vec(),
                4,
                None,
            ),
            (
                b"GET /a HTTP/1.1\nA: b\n\r\nGET /b HTTP/1.1\r\n\nPOST /c HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nxyz"
                    .to_vec(),
                3,
                None,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;e=\"x\"\r\nabcd\r\n0\r\n\r\n\
                  POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef"
                    .to_vec(),
                3,
                None,
            ),
            (
                b"GET /\xce\xbb HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nX: \xff\r\n\r\nGET /\xff HTTP/1.1\r\n\r\n".to_vec(),
                2,
                Some(400),
            ),
            (
                b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\nGET / HTTP/1.1\r\n\r\n".to_vec(),
                1,
                Some(400),
            ),
            (
                b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n01234567890123456".to_vec(),
                1,
                Some(413),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n9\r\n012345678\r\n0\r\n\r\n"
                    .to_vec(),
                0,
                Some(413),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n".to_vec(),
                0,
                Some(400),
            ),
            (
                format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTrailer: {long}\r\n\r\n").into_bytes(),
                0,
                Some(431),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec(),
                0,
                Some(501),
            ),
            (
                format!("GET / HTTP/1.1\r\nX: {long}\r\n\r\n").into_bytes(),
                0,
                Some(431),
            ),
            (
                b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n".to_vec(),
                0,
                Some(431),
            ),
            (format!("{blank_lines}GET / HTTP/1.1\r\n\r\n").into_bytes(), 0, Some(431)),
            (b"\r\n\r\n\rGET / HTTP/1.1\r\n\r\n".to_vec(), 0, Some(400)),
            (b"GET / HTTP/1.1\r\n Folded: x\r\n\r\n".to_vec(), 0, Some(400)),
            (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(), 0, Some(400)),
            (b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n".to_vec(), 0, Some(400)),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n".to_vec(), 0, Some(400)),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
                0,
                Some(400),
            ),
        ];
        for (stream, expected_requests, expected_status) in &streams {
            let name = String::from_utf8_lossy(stream);
            let whole = without_continue(feed_with(small, stream));
            assert_eq!(whole.requests().len(), *expected_requests, "{name}");
            assert_eq!(whole.status(), *expected_status, "{name}");
            let mut splits: Vec<Vec<usize>> = (0..=stream.len()).map(|split| vec![split]).collect();
            splits.push((1..stream.len()).collect());
            let mut random = Lcg(stream.len() as u64);
            for _ in 0..200 {
                let mut points: Vec<usize> =
                    (0..random.below(8)).map(|_| random.below(stream.len() + 1)).collect();
                points.sort_unstable();
                splits.push(points);
            }
            for points in splits {
                let mut pieces = Vec::new();
                let mut start = 0;
                for &point in &points {
                    pieces.push(&stream[start..point]);
                    start = point;
                }
                pieces.push(&stream[start..]);
                let mut parser = RequestParser::new(small);
                let split = without_continue(feed_pieces(&mut parser, pieces));
                assert_eq!(split, whole, "{name} split at {points:?}");
            }
        }
    }
}
