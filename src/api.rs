//! The document API of the main port (spec §3): one parsed request in, one response out.
//!
//! No sockets here: the connection code hands over a complete request and writes back what this
//! returns, which keeps every rule of the API testable with plain values.

use std::time::{Instant, SystemTime};

use crate::auth::{self, Mode, Verifier};

use crate::http::Request;
use crate::http::response::{HTML, JSON, JSON_UTF8, NOT_FOUND_PAGE, Response};
use crate::json::{self, JsonErrorKind};
use crate::path::{self, Query};
use crate::state::State;
use crate::wal::{Lsn, WalError};

/// The standard methods of the original's http-types; any other method, including a
/// lower-case `get`, is collapsed to `INVALID` and refused by the method filter.
const STANDARD_METHODS: [&str; 9] =
    ["GET", "POST", "HEAD", "PUT", "DELETE", "TRACE", "CONNECT", "OPTIONS", "PATCH"];

pub fn is_standard_method(method: &str) -> bool {
    STANDARD_METHODS.contains(&method)
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Path segments plus JSON nesting a PUT may create (D14).
    pub max_depth: usize,
    /// `--enable-jwt-auth`: every request needs a token that allows its path and mode.
    pub auth: Option<Verifier>,
}

/// What the connection must do with a handled request.
#[derive(Debug)]
pub struct Reply {
    pub response: Response,
    /// `?durable` was asked for: the response may only leave once this log record is on disk.
    pub wait_for: Option<Lsn>,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply { response, wait_for: None }
    }
}

pub fn handle(state: &mut State, settings: &ApiSettings, request: &Request, now: Instant) -> Reply {
    let method = request.method.as_str();
    if !is_standard_method(method) {
        return Response::with_body(400, JSON, "{}").into();
    }
    let (raw_path, raw_query) = path::split_target(&request.target);
    let segments = path::parse_url_path(raw_path);
    let query = Query::parse(raw_query);
    if let Some(verifier) = &settings.auth
        && let Err(error) =
            check_token(verifier, request, &query, &segments, Mode::for_method(method))
    {
        return Response::with_body(401, JSON, error.http_body()).into();
    }
    match method {
        "GET" => match state.get_serialized(&segments) {
            Some(bytes) => Response::with_body(200, JSON_UTF8, bytes).into(),
            None => Response::empty(404).into(),
        },
        "PUT" => {
            let value = match parse_body(&request.body, segments.len(), settings.max_depth) {
                Ok(value) => value,
                Err(response) => return response.into(),
            };
            let written = state.put(segments, value, &request.body, now);
            accepted(state, written, &query)
        }
        "DELETE" => {
            let written = state.delete(segments, now);
            accepted(state, written, &query)
        }
        _ => Response::with_body(404, HTML, NOT_FOUND_PAGE).into(),
    }
}

/// §7.2–§7.3: the token from `Authorization: Bearer` or `?access_token`, verified and checked
/// against the path; `mode` is `None` for methods no claim can allow.
pub fn check_token(
    verifier: &Verifier,
    request: &Request,
    query: &Query,
    segments: &[String],
    mode: Option<Mode>,
) -> Result<(), auth::AuthError> {
    let token =
        auth::find_token(request.header("authorization"), query.first_with_value("access_token"));
    auth::authorize(verifier, token, segments, mode, auth::unix_seconds(SystemTime::now()))
}

/// 202 for a logged write; with `?durable` it waits for its fsync. A write the log refused was
/// not applied: 503, empty for back-pressure as in the original, with a reason for a failure.
fn accepted(state: &mut State, written: Result<Lsn, WalError>, query: &Query) -> Reply {
    match written {
        Ok(lsn) => {
            let durable = query.is_durable();
            if durable {
                state.want_durable(lsn);
            }
            Reply { response: Response::empty(202), wait_for: durable.then_some(lsn) }
        }
        Err(WalError::Busy) => {
            state.metrics.writes_refused += 1;
            Response::empty(503).into()
        }
        Err(WalError::Failed(reason)) => {
            state.metrics.writes_refused += 1;
            Response::error(503, &reason).into()
        }
    }
}

/// D1/D14: a body that is not one JSON value, or that would nest too deep at its path, is a
/// 400 with a reason; nothing is stored.
fn parse_body(
    body: &[u8],
    path_segments: usize,
    max_depth: usize,
) -> Result<serde_json::Value, Response> {
    let too_deep = || {
        Response::error(
            400,
            &format!("too deep: path segments plus JSON nesting exceed --max-depth {max_depth}"),
        )
    };
    let Some(value_depth_limit) = max_depth.checked_sub(path_segments).filter(|&d| d > 0) else {
        return Err(too_deep());
    };
    json::parse(body, value_depth_limit).map_err(|error| match error.kind {
        JsonErrorKind::TooDeep { .. } => too_deep(),
        _ => Response::error(400, &error.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;
    use serde_json::json;

    fn settings() -> ApiSettings {
        ApiSettings { max_depth: 8, auth: None }
    }

    fn request(method: &str, target: &str, body: &str) -> Request {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            version: Version::Http11,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            keep_alive: true,
        }
    }

    fn state() -> State {
        State::in_memory(json!({}))
    }

    fn call(state: &mut State, method: &str, target: &str, body: &str) -> Reply {
        handle(state, &settings(), &request(method, target, body), Instant::now())
    }

    #[test]
    fn put_get_delete() {
        let mut state = state();
        let reply = call(&mut state, "PUT", "/a/b", r#"{"c": 1}"#);
        assert_eq!(reply.response, Response::empty(202));
        assert_eq!(reply.wait_for, None);
        let got = call(&mut state, "GET", "/a", "").response;
        assert_eq!((got.status, &got.body[..]), (200, &br#"{"b":{"c":1}}"#[..]));
        assert_eq!(got.content_type, Some(JSON_UTF8));
        assert_eq!(call(&mut state, "DELETE", "/a/b", "").response.status, 202);
        assert_eq!(call(&mut state, "GET", "/a/b", "").response, Response::empty(404));
    }

    #[test]
    fn large_reads_are_cached_until_the_next_write() {
        let mut state = state();
        let big = format!("\"{}\"", "x".repeat(100_000));
        assert_eq!(call(&mut state, "PUT", "/big", &big).response.status, 202);
        for _ in 0..2 {
            assert_eq!(call(&mut state, "GET", "/big", "").response.body, big.as_bytes());
        }
        assert_eq!(call(&mut state, "PUT", "/big", "1").response.status, 202);
        assert_eq!(call(&mut state, "GET", "/big", "").response.body, b"1");
        assert_eq!(call(&mut state, "PUT", "/big", &big).response.status, 202);
        assert_eq!(call(&mut state, "GET", "/big", "").response.body, big.as_bytes());
        assert_eq!(call(&mut state, "DELETE", "/big", "").response.status, 202);
        assert_eq!(call(&mut state, "GET", "/big", "").response.status, 404);
    }

    #[test]
    fn durable_flag_follows_the_query() {
        let mut state = state();
        assert!(call(&mut state, "PUT", "/x?durable", "1").wait_for.is_some());
        assert!(call(&mut state, "DELETE", "/x?durable=true", "").wait_for.is_some());
        assert!(call(&mut state, "PUT", "/x?durable=false", "1").wait_for.is_none());
    }

    #[test]
    fn method_filter_and_fallback() {
        let mut state = state();
        for method in ["YQUS", "get", "INVALID"] {
            let response = call(&mut state, method, "/", "").response;
            assert_eq!((response.status, &response.body[..]), (400, &b"{}"[..]));
            assert_eq!(response.content_type, Some(JSON));
        }
        for method in ["POST", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT"] {
            let response = call(&mut state, method, "/x", "1").response;
            assert_eq!(response.status, 404);
            assert_eq!(response.body, NOT_FOUND_PAGE);
        }
        assert_eq!(state.get(&[]), Some(&json!({})));
    }

    #[test]
    fn malformed_bodies_are_400_and_store_nothing() {
        let mut state = state();
        for body in ["", "{bad", "1 2", "NaN"] {
            let response = call(&mut state, "PUT", "/x", body).response;
            assert_eq!(response.status, 400, "{body:?}");
            let error: serde_json::Value =
                serde_json::from_slice(&response.body).unwrap_or_default();
            assert!(error["error"].is_string(), "{body:?}");
        }
        assert_eq!(state.get(&[]), Some(&json!({})));
    }

    #[test]
    fn depth_counts_path_segments_and_nesting() {
        let mut state = state();
        // max_depth 8: 3 segments + depth 5 is the limit.
        assert_eq!(call(&mut state, "PUT", "/a/b/c", "[[[[1]]]]").response.status, 202);
        let refused = call(&mut state, "PUT", "/a/b/c", "[[[[[1]]]]]").response;
        assert_eq!(refused.status, 400);
        assert!(String::from_utf8_lossy(&refused.body).contains("--max-depth 8"));
        assert_eq!(call(&mut state, "PUT", "/1/2/3/4/5/6/7/8", "1").response.status, 400);
        assert_eq!(call(&mut state, "PUT", "/1/2/3/4/5/6/7", "1").response.status, 202);
        assert_eq!(call(&mut state, "GET", "/1/2/3/4/5/6/7/8/9", "").response.status, 404);
    }

    #[test]
    fn tokens_are_checked_after_the_method_filter() {
        let mut state = state();
        let settings = ApiSettings { max_depth: 8, auth: Some(Verifier::new(Some("foo"))) };
        let now = Instant::now();
        let response = handle(&mut state, &settings, &request("GET", "/foo", ""), now).response;
        assert_eq!(
            (response.status, &response.body[..]),
            (401, &br#"{"error":"invalid token format"}"#[..])
        );
        let response = handle(&mut state, &settings, &request("YQUS", "/", ""), now).response;
        assert_eq!(response.status, 400, "the method filter runs before auth");
        // The spec's fixed token: foo read, bar/baz read+write.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpY2VwZWFrIjp7IndoaXRlbGlzdCI6W3sicHJlZml4IjpbImZvbyJdLCJtb2RlcyI6WyJyZWFkIl19LHsicHJlZml4IjpbImJhciIsImJheiJdLCJtb2RlcyI6WyJyZWFkIiwid3JpdGUiXX1dLCJ2ZXJzaW9uIjoxfX0.KeOHokJZuN-sPmIIGSDgRQFBtT4x-hoGgTtxhm2R5P8";
        let get = request("GET", &format!("/foo/x?access_token={token}"), "");
        assert_eq!(handle(&mut state, &settings, &get, now).response.status, 404);
        let mut put = request("PUT", "/foo/x", "1");
        put.headers.push(("Authorization".to_owned(), format!("Bearer {token}").into_bytes()));
        let response = handle(&mut state, &settings, &put, now).response;
        assert_eq!(
            (response.status, &response.body[..]),
            (401, &br#"{"error":"not allowed"}"#[..])
        );
        let mut put = request("PUT", "/bar/baz/x", "1");
        put.headers.push(("Authorization".to_owned(), format!("Bearer {token}").into_bytes()));
        assert_eq!(handle(&mut state, &settings, &put, now).response.status, 202);
    }
}
