//! HTTP/1.1 on the main port: an incremental request parser (sans-IO) and response encoding.

pub mod parser;
pub mod response;

pub use parser::{Event, HttpError, Limits, Request, RequestParser, Version};
pub use response::{ConnectionHeader, Response};
