//! The document API of the main port (spec §3): one parsed request in, one response out.
//!
//! No sockets here: the connection code hands over a complete request and writes back what this
//! returns, which keeps every rule of the API testable with plain values.

use crate::document::Modification;
use crate::http::Request;
use crate::http::response::{HTML, JSON, JSON_UTF8, NOT_FOUND_PAGE, Response};
use crate::json::{self, JsonErrorKind};
use crate::path::{self, Query};
use crate::state::State;
use crate::storage::to_compact_json;

/// The standard methods of the original's http-types; any other method, including a
/// lower-case `get`, is collapsed to `INVALID` and refused by the method filter.
const STANDARD_METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "TRACE", "CONNECT", "OPTIONS", "PATCH",
];

pub fn is_standard_method(method: &str) -> bool {
    STANDARD_METHODS.contains(&method)
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Path segments plus JSON nesting a PUT may create (D14).
    pub max_depth: usize,
    /// `--enable-jwt-auth` was given but this build cannot verify tokens yet: refuse every
    /// request rather than serve it unprotected.
    pub deny_all_unauthenticated: bool,
}

/// What the connection must do with a handled request.
#[derive(Debug)]
pub struct Reply {
    pub response: Response,
    /// `?durable` was asked for: the response may only leave once the write is on disk.
    pub durable: bool,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply {
            response,
            durable: false,
        }
    }
}

pub fn handle(state: &mut State, settings: &ApiSettings, request: &Request) -> Reply {
    let method = request.method.as_str();
    if !is_standard_method(method) {
        return Response::with_body(400, JSON, "{}").into();
    }
    if settings.deny_all_unauthenticated {
        return Response::with_body(401, JSON, r#"{"error":"invalid token format"}"#).into();
    }
    let (raw_path, raw_query) = path::split_target(&request.target);
    let segments = path::parse_url_path(raw_path);
    match method {
        "GET" => match state.get(&segments) {
            Some(value) => Response::with_body(200, JSON_UTF8, to_compact_json(value)).into(),
            None => Response::empty(404).into(),
        },
        "PUT" => {
            let value = match parse_body(&request.body, segments.len(), settings.max_depth) {
                Ok(value) => value,
                Err(response) => return response.into(),
            };
            state.apply(Modification::Put {
                path: segments,
                value,
            });
            Reply {
                response: Response::empty(202),
                durable: Query::parse(raw_query).is_durable(),
            }
        }
        "DELETE" => {
            state.apply(Modification::Delete { path: segments });
            Reply {
                response: Response::empty(202),
                durable: Query::parse(raw_query).is_durable(),
            }
        }
        _ => Response::with_body(404, HTML, NOT_FOUND_PAGE).into(),
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
        ApiSettings {
            max_depth: 8,
            deny_all_unauthenticated: false,
        }
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
        handle(state, &settings(), &request(method, target, body))
    }

    #[test]
    fn put_get_delete() {
        let mut state = state();
        let reply = call(&mut state, "PUT", "/a/b", r#"{"c": 1}"#);
        assert_eq!(reply.response, Response::empty(202));
        assert!(!reply.durable);
        let got = call(&mut state, "GET", "/a", "").response;
        assert_eq!((got.status, got.body), (200, br#"{"b":{"c":1}}"#.to_vec()));
        assert_eq!(got.content_type, Some(JSON_UTF8));
        assert_eq!(call(&mut state, "DELETE", "/a/b", "").response.status, 202);
        assert_eq!(
            call(&mut state, "GET", "/a/b", "").response,
            Response::empty(404)
        );
    }

    #[test]
    fn durable_flag_follows_the_query() {
        let mut state = state();
        assert!(call(&mut state, "PUT", "/x?durable", "1").durable);
        assert!(call(&mut state, "DELETE", "/x?durable=true", "").durable);
        assert!(!call(&mut state, "PUT", "/x?durable=false", "1").durable);
    }

    #[test]
    fn method_filter_and_fallback() {
        let mut state = state();
        for method in ["YQUS", "get", "INVALID"] {
            let response = call(&mut state, method, "/", "").response;
            assert_eq!(
                (response.status, response.body.as_slice()),
                (400, &b"{}"[..])
            );
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
        assert_eq!(
            call(&mut state, "PUT", "/a/b/c", "[[[[1]]]]")
                .response
                .status,
            202
        );
        let refused = call(&mut state, "PUT", "/a/b/c", "[[[[[1]]]]]").response;
        assert_eq!(refused.status, 400);
        assert!(String::from_utf8_lossy(&refused.body).contains("--max-depth 8"));
        assert_eq!(
            call(&mut state, "PUT", "/1/2/3/4/5/6/7/8", "1")
                .response
                .status,
            400
        );
        assert_eq!(
            call(&mut state, "PUT", "/1/2/3/4/5/6/7", "1")
                .response
                .status,
            202
        );
        assert_eq!(
            call(&mut state, "GET", "/1/2/3/4/5/6/7/8/9", "")
                .response
                .status,
            404
        );
    }

    #[test]
    fn jwt_without_verifier_fails_closed() {
        let mut state = state();
        let settings = ApiSettings {
            max_depth: 8,
            deny_all_unauthenticated: true,
        };
        let response = handle(&mut state, &settings, &request("GET", "/", "")).response;
        assert_eq!(response.status, 401);
        let response = handle(&mut state, &settings, &request("YQUS", "/", "")).response;
        assert_eq!(response.status, 400, "the method filter runs before auth");
    }
}
