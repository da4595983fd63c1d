//! The real 20 MB MDN document as a data file: deep reads, writes below a section, the whole
//! document replaced over HTTP, and the saved file compared with the source.

mod common;

use std::io::Read;

use common::{Server, TempDir};
use serde_json::Value;

fn mdn_source() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/mdn-browser-compat-data.json.gz");
    let compressed = std::fs::read(path).expect("fixture");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice()).read_to_end(&mut text).expect("gunzip");
    text
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("server sent JSON")
}

#[test]
fn mdn_document_served_modified_replaced_and_saved() {
    let source = mdn_source();
    let mut model: Value = serde_json::from_slice(&source).expect("fixture is JSON");
    let dir = TempDir::new("mdn");
    let data_file = dir.path().join("mdn.json");
    std::fs::write(&data_file, &source).expect("write data file");
    let mut server = Server::start_in(dir, data_file.clone(), &[]);

    let deep = "/api/AbortController/__compat/support/chrome";
    let (status, body) = server.get(deep);
    assert_eq!(status, 200);
    assert_eq!(parse(&body), model["api"]["AbortController"]["__compat"]["support"]["chrome"]);
    assert_eq!(server.get("/api/AbortController/__compat/support/no-such-browser").0, 404);

    let (status, whole) = server.get("/");
    assert_eq!(status, 200);
    assert_eq!(parse(&whole), model, "the whole document reads back equal");

    let written = r#"{"version_added":"999","notes":["written by a test"]}"#;
    assert_eq!(server.put(&format!("{deep}?durable"), written).0, 202);
    model["api"]["AbortController"]["__compat"]["support"]["chrome"] = parse(written);
    assert_eq!(parse(&server.get("/api/AbortController").1), model["api"]["AbortController"]);
    assert_eq!(server.delete("/css?durable").0, 202);
    model.as_object_mut().expect("object").remove("css");
    assert_eq!(server.get("/css").0, 404);

    // Replace the whole document with the original source, over HTTP.
    let source_text = String::from_utf8(source).expect("UTF-8 fixture");
    assert_eq!(server.put("/", &source_text).0, 202);
    let original: Value = serde_json::from_str(&source_text).expect("fixture is JSON");
    assert_eq!(parse(&server.get("/").1), original);

    assert!(server.signal_and_wait("TERM").success());
    let saved = std::fs::read(&data_file).expect("saved file");
    assert_eq!(saved, serde_json::to_vec(&original).expect("serialize"), "compact, sorted, exact");
}
