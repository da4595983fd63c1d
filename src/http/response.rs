//! Responses of the main port and how they are written on the wire.

use std::io::Write;
use std::ops::Deref;
use std::rc::Rc;

pub const JSON_UTF8: &str = "application/json; charset=utf-8";
pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html";
pub const TEXT_UTF8: &str = "text/plain; charset=utf-8";

/// The original's scotty fallback page for standard methods without a route (§3.1).
pub const NOT_FOUND_PAGE: &[u8] = b"<h1>404: File Not Found!</h1>";

/// A response body: owned, or shared with other responses (a large cached serialization
/// sent to many clients is one allocation, not one per client).
#[derive(Debug, Clone)]
pub enum Body {
    Owned(Vec<u8>),
    Shared(Rc<[u8]>),
}

impl Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Body::Owned(bytes) => bytes,
            Body::Shared(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl<T: AsRef<[u8]> + ?Sized> PartialEq<T> for Body {
    fn eq(&self, other: &T) -> bool {
        **self == *other.as_ref()
    }
}

impl Eq for Body {}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Owned(bytes)
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Self {
        Body::Owned(bytes.to_vec())
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Self {
        Body::Owned(text.as_bytes().to_vec())
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::Owned(text.into_bytes())
    }
}

impl From<Rc<[u8]>> for Body {
    fn from(bytes: Rc<[u8]>) -> Self {
        Body::Shared(bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Body,
    /// The connection is closed once this response is written.
    pub close: bool,
}

impl Response {
    /// A response without a body and without a Content-Type (202, 404 on GET, 503).
    pub fn empty(status: u16) -> Self {
        Response { status, content_type: None, body: Body::Owned(Vec::new()), close: false }
    }

    pub fn with_body(status: u16, content_type: &'static str, body: impl Into<Body>) -> Self {
        Response { status, content_type: Some(content_type), body: body.into(), close: false }
    }

    /// D1: a short `{"error": reason}` that a client can show as is.
    pub fn error(status: u16, reason: &str) -> Self {
        let body = serde_json::json!({ "error": reason }).to_string();
        Response::with_body(status, JSON, body)
    }

    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

/// What a response must say about the connection, given the request's version and wishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// HTTP/1.1 keep-alive is the default: no header.
    None,
    /// HTTP/1.0 clients keep the connection only when told so.
    KeepAlive,
    Close,
}

/// Appends the status line, headers and (unless `head_only`) an owned body to `out`. A shared
/// body is returned instead, to be queued after `out` without copying.
#[must_use = "a shared body must be sent after the head"]
pub fn encode(
    out: &mut Vec<u8>,
    response: &Response,
    connection: ConnectionHeader,
    head_only: bool,
) -> Option<Rc<[u8]>> {
    out.reserve(128 + if head_only { 0 } else { response.body.len() });
    // Writing into a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", response.status, reason_phrase(response.status));
    if let Some(content_type) = response.content_type {
        let _ = write!(out, "Content-Type: {content_type}\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n", response.body.len());
    match connection {
        ConnectionHeader::None => {}
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        ConnectionHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    match (&response.body, head_only) {
        (_, true) => None,
        (Body::Owned(bytes), false) => {
            out.extend_from_slice(bytes);
            None
        }
        (Body::Shared(bytes), false) => Some(bytes.clone()),
    }
}

pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(response: &Response, connection: ConnectionHeader, head_only: bool) -> String {
        let mut out = Vec::new();
        if let Some(shared) = encode(&mut out, response, connection, head_only) {
            out.extend_from_slice(&shared);
        }
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn empty_response_has_length_zero_and_no_type() {
        assert_eq!(
            encoded(&Response::empty(202), ConnectionHeader::None, false),
            "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn body_and_connection_headers() {
        let response = Response::with_body(200, JSON_UTF8, "{}");
        assert_eq!(
            encoded(&response, ConnectionHeader::Close, false),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
        assert!(encoded(&response, ConnectionHeader::KeepAlive, false).contains("keep-alive"));
    }

    #[test]
    fn head_keeps_the_length_but_not_the_body() {
        let page = Response::with_body(404, HTML, NOT_FOUND_PAGE);
        let text = encoded(&page, ConnectionHeader::None, true);
        assert!(text.ends_with("Content-Length: 29\r\n\r\n"), "{text}");
    }

    #[test]
    fn error_bodies_are_json_objects() {
        let response = Response::error(400, "bad \"input\"");
        assert_eq!(response.body, br#"{"error":"bad \"input\""}"#);
        assert_eq!(response.content_type, Some(JSON));
    }

    #[test]
    fn shared_bodies_are_handed_back_not_copied() {
        let shared: Rc<[u8]> = Rc::from(&b"[1,2,3]"[..]);
        let response = Response::with_body(200, JSON_UTF8, shared.clone());
        let mut out = Vec::new();
        let body = encode(&mut out, &response, ConnectionHeader::None, false);
        assert!(body.is_some_and(|b| Rc::ptr_eq(&b, &shared)));
        assert!(String::from_utf8_lossy(&out).ends_with("Content-Length: 7\r\n\r\n"));
        assert_eq!(response.body, b"[1,2,3]");
    }
}
