#![no_main]
//! Thin wrapper: the property lives in src/properties/, shared with tests/fuzz_regressions.rs.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| icepeak_fuzz::properties::check_ws_message(data));
