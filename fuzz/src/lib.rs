//! Property checks for the fuzz targets in `fuzz_targets/`, kept in a library so that the main
//! package's `tests/fuzz_regressions.rs` can replay found inputs through the very same code.

pub mod properties;
