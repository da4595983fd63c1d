//! The properties the fuzz targets check, one module per target.
//!
//! Each `check_*` takes the raw fuzzer input and panics when a property is violated, so that
//! libFuzzer reports the input as a crash and `tests/fuzz_regressions.rs` (which includes this
//! file with `#[path]`) can replay it under `cargo test`. That test is compiled as part of the
//! main package, so this code may only use the main package's dependencies (`icepeak`,
//! `serde_json`, `hmac`, `sha2`, `base64`) and the standard library.
//!
//! The submodules are named with explicit `#[path]`s: a path attribute is resolved relative to
//! this file's directory however this file itself was reached, which keeps both includers
//! (the fuzz crate's `lib.rs` and the regression test) pointing at the same files.

#[path = "properties/claim.rs"]
mod claim;
#[path = "properties/http_request.rs"]
mod http_request;
#[path = "properties/json.rs"]
mod json;
#[path = "properties/path.rs"]
mod path;
#[path = "properties/store_ops.rs"]
mod store_ops;
#[path = "properties/ws_message.rs"]
mod ws_message;

pub use claim::check_claim;
pub use http_request::check_http_request;
pub use json::check_json;
pub use path::check_path;
pub use store_ops::check_store_ops;
pub use ws_message::check_ws_message;
