//! Replays the inputs under `tests/fuzz_regressions/<target>/` through the fuzz targets'
//! property checks, so that every crash the fuzzers found stays fixed even where cargo-fuzz
//! cannot run (it needs libFuzzer and `RUSTC_BOOTSTRAP`; this needs nothing but `cargo test`).
//!
//! To pin a new crash, copy the artifact libFuzzer wrote (`fuzz/artifacts/<target>/crash-…`)
//! into `tests/fuzz_regressions/<target>/` under a name saying what it caught.

#[path = "../fuzz/src/properties.rs"]
mod properties;

use std::fs;
use std::panic;
use std::path::PathBuf;

/// Runs `check` on every file of `tests/fuzz_regressions/<target>/` and reports all failures
/// by file name, not just the first.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions").join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    // An empty directory would make this test pass while checking nothing.
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());

    let failed: Vec<String> = files
        .iter()
        .filter(|file| {
            let data = fs::read(file).expect("readable regression input");
            panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: properties violated by {failed:#?}");
}

#[test]
fn path() {
    replay("path", properties::check_path);
}

#[test]
fn claim() {
    replay("claim", properties::check_claim);
}

#[test]
fn http_request() {
    replay("http_request", properties::check_http_request);
}

#[test]
fn json() {
    replay("json", properties::check_json);
}

#[test]
fn store_ops() {
    replay("store_ops", properties::check_store_ops);
}

#[test]
fn ws_message() {
    replay("ws_message", properties::check_ws_message);
}
