//! icepeak-rs: a JSON document store with push notifications, compatible with Icepeak.
//!
//! One document, addressed by URL paths, served over HTTP from a single-threaded mio reactor
//! that owns all state. The modules, in the order a request flows through them:
//!
//! | module | job |
//! | --- | --- |
//! | [`config`] | command line and environment, compatible with the original `icepeak` |
//! | [`app`] | start-up and shut-down around the reactor |
//! | [`server`] | the mio loop: sockets, readiness, timers; the only module touching sockets |
//! | [`slab`], [`timers`] | connection storage with generation-tagged keys; deadlines |
//! | [`conn`] | one connection as a sans-IO state machine: bytes in, bytes out |
//! | [`outbuf`] | a connection's pending output, written with vectored writes |
//! | [`http`] | the incremental request parser and response encoding |
//! | [`api`] | GET / PUT / DELETE on the document, the method filter |
//! | [`auth`] | HS256 JWT verification, the `icepeak` claim, the prefix check |
//! | [`path`] | request targets → path segments and query parameters |
//! | [`number`] | numbers written the way the original writes them |
//! | [`json`] | the iterative JSON parser (first key wins, depth limit, exact numbers) |
//! | [`state`] | the one owned state: document, write-ahead log, snapshot job |
//! | [`document`] | lookup, put and delete on the JSON tree |
//! | [`wal`] | the write-ahead log: records, segments, group-commit fsync thread, recovery |
//! | [`snapshot`] | snapshots written by a forked child process |
//! | [`storage`] | loading the data file and replacing it atomically |
//! | [`subscriptions`] | the trie of WebSocket subscriptions |
//! | [`multi`] | the multi-subscription protocol: messages in, replies or closes out |
//! | [`ws`] | WebSocket upgrade, frames via tungstenite, pings, coalescing for slow readers |
//! | [`signals`] | SIGTERM/SIGINT as a pollable pipe; the open-file limit |

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod conn;
pub mod document;
pub mod http;
pub mod json;
pub mod metrics;
pub mod multi;
pub mod number;
pub mod outbuf;
pub mod path;
pub mod server;
pub mod signals;
pub mod slab;
pub mod snapshot;
pub mod state;
pub mod storage;
pub mod subscriptions;
#[cfg(test)]
mod test_support;
pub mod timers;
pub mod wal;
pub mod ws;
