//! `http_request`: the sans-IO request parser must reach the same verdict however the byte
//! stream is cut into reads (the contract in `icepeak::http::parser`'s module doc).

use icepeak::http::parser::{Event, HttpError, Limits, Request, RequestParser};

/// Tight limits make every refusal (431, 413, too many headers) reachable with short inputs.
const SMALL: Limits = Limits { max_head_bytes: 120, max_headers: 4, max_body_bytes: 16 };
/// Roomy limits let realistic pipelined requests through.
const ROOMY: Limits = Limits { max_head_bytes: 2048, max_headers: 32, max_body_bytes: 1024 };

pub fn check_http_request(data: &[u8]) {
    // Read sizes taken from the input itself, so the fuzzer steers the cuts: the first three
    // bytes give a cycle of 1..=32-byte reads.
    let cycle: Vec<usize> = data.iter().take(3).map(|&byte| usize::from(byte % 32) + 1).collect();
    for limits in [SMALL, ROOMY] {
        let whole = feed(limits, data, &[data.len().max(1)]);
        check_transcript(&whole, limits);
        for sizes in [&[1][..], &cycle, &[7, 1, 64]] {
            if sizes.is_empty() {
                continue;
            }
            let split = feed(limits, data, sizes);
            assert_eq!(split.outcome(), whole.outcome(), "reads of {sizes:?}, {limits:?}");
        }
    }
}

/// What a connection sees when it feeds a stream to the parser the way `advance` asks:
/// append each read to a buffer, advance until the parser needs more, drop what it consumed.
#[derive(Debug)]
struct Transcript {
    events: Vec<Event>,
    error: Option<HttpError>,
    /// Bytes never consumed; meaningless after an error, when it depends on the reads.
    unconsumed: Vec<u8>,
}

impl Transcript {
    /// Everything that must not depend on the reads. `Continue` may: it is only sent when the
    /// body has not arrived with the head.
    fn outcome(&self) -> (Vec<&Request>, Option<HttpError>, &[u8]) {
        let unconsumed = if self.error.is_some() { &[][..] } else { &self.unconsumed[..] };
        (self.requests().collect(), self.error, unconsumed)
    }

    fn requests(&self) -> impl Iterator<Item = &Request> {
        self.events.iter().filter_map(|event| match event {
            Event::Request(request) => Some(request),
            Event::Continue => None,
        })
    }
}

/// Feeds `data` in reads whose sizes cycle through `sizes` (all non-zero).
fn feed(limits: Limits, data: &[u8], sizes: &[usize]) -> Transcript {
    let mut parser = RequestParser::new(limits);
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    let mut rest = data;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (read, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        buffer.extend_from_slice(read);
        loop {
            let (consumed, outcome) = parser.advance(&buffer);
            assert!(consumed <= buffer.len(), "consumed {consumed} of {} bytes", buffer.len());
            buffer.drain(..consumed);
            match outcome {
                Ok(Some(event)) => {
                    // An event that consumes nothing would let a caller loop on the same bytes.
                    assert!(consumed > 0, "{event:?} without consuming input");
                    events.push(event);
                }
                Ok(None) => break,
                Err(error) => return Transcript { events, error: Some(error), unconsumed: buffer },
            }
        }
    }
    Transcript { events, error: None, unconsumed: buffer }
}

fn check_transcript(transcript: &Transcript, limits: Limits) {
    for request in transcript.requests() {
        assert!(request.body.len() <= limits.max_body_bytes, "body over the limit");
        assert!(request.headers.len() <= limits.max_headers, "too many headers accepted");
    }
    // `Continue` is emitted at most once per request, and only before its request.
    let mut continued = false;
    for event in &transcript.events {
        match event {
            Event::Continue => {
                assert!(!continued, "two Continue events for one request");
                continued = true;
            }
            Event::Request(_) => continued = false,
        }
    }
    if let Some(error) = transcript.error {
        assert!(matches!(error.status, 400 | 413 | 431 | 501), "unexpected status {error}");
    }
}
