//! `store_ops`: put/delete sequences on [`Document`] against a model of spec §4, and the same
//! sequence through the write-ahead log's record format, whole, torn and damaged.
//!
//! Input layout (short inputs fall back to zeros):
//!
//! ```text
//! [cut: u16le] [zero padding] [flip offset: u16le] [flip mask] op*
//! op: [shape] segment-byte{path length} [value-byte if put]
//! ```

use icepeak::document::{Document, Modification};
use icepeak::json;
use icepeak::wal::record::{
    SEGMENT_HEADER, Scan, ScanError, encode_delete, encode_put, scan_segment,
};
use serde_json::{Map, Value};

/// Path segments come from a tiny alphabet so that ops collide on the same keys often; `""`
/// and a segment holding `/` are keys like any other (§2.1), `é` checks UTF-8 in records.
const SEGMENTS: [&str; 5] = ["a", "b", "", "a/b", "é"];

/// Values as a client would send them: whitespace, exact big numbers, escapes, a duplicate key
/// (first wins), nested objects that later paths walk into and arrays they replace.
const VALUES: [&str; 16] = [
    "null",
    "true",
    "0",
    "-1.50E+3",
    "123456789012345678901234567890.0000000001",
    "\"x\"",
    "\"\\u00e9\\n\"",
    "[]",
    "{}",
    "[1, \"a\", null]",
    "{\"a\": 1}",
    "{\"a\": {\"b\": []}}",
    "{\"b\": \"a\", \"a\": 2}",
    "{ \"a\" : { \"a\" : { \"a\" : null } } }",
    "{\"a\": 1, \"a\": 2}",
    "{\"\": {\"é\": false}}",
];

/// Enough ops to build and tear down nested documents, few enough to keep runs fast.
const MAX_OPS: usize = 64;

/// The parameters that pick where the encoded log is cut and damaged.
struct Damage {
    cut: usize,
    zero_padding: usize,
    flip_offset: usize,
    flip_mask: u8,
}

pub fn check_store_ops(data: &[u8]) {
    let byte = |index: usize| data.get(index).copied().unwrap_or(0);
    let damage = Damage {
        cut: usize::from(u16::from_le_bytes([byte(0), byte(1)])),
        zero_padding: usize::from(byte(2) % 16),
        flip_offset: usize::from(u16::from_le_bytes([byte(3), byte(4)])),
        flip_mask: byte(5).max(1),
    };
    let ops = decode_ops(data.get(6..).unwrap_or_default());

    // states[k]: the model after the first k ops; a new server starts from `{}`.
    let mut states = vec![Value::Object(Map::new())];
    let mut document = Document::default();
    let lookups = lookup_paths();
    for (index, op) in ops.iter().enumerate() {
        let model = model_apply(states[index].clone(), op);
        document.apply(op.modification());
        assert_eq!(document.root(), &model, "after op {index} {op:?}");
        // What the op wrote reads back (or is gone); every lookup is compared now and then,
        // which is plenty as documents change little between two ops.
        let expected = op.value.map(parse_value).or(op.path.is_empty().then_some(Value::Null));
        assert_eq!(document.get(&op.path), expected.as_ref(), "read back after op {index}");
        if index % 8 == 7 || index + 1 == ops.len() {
            for path in &lookups {
                assert_eq!(document.get(path), model_lookup(&model, path), "lookup {path:?}");
            }
        }
        states.push(model);
    }

    let (segment, ends) = encode_segment(&ops);
    check_whole_segment(&segment, &ops, &states);
    check_torn_segment(&segment, &ends, &states, &damage);
    check_damaged_segment(&segment, &ends, &states, &damage);
}

#[derive(Debug)]
struct Op {
    path: Vec<String>,
    /// `Some(JSON text)` for a put, `None` for a delete.
    value: Option<&'static str>,
}

impl Op {
    fn modification(&self) -> Modification {
        let path = self.path.clone();
        match self.value {
            Some(text) => Modification::Put { path, value: parse_value(text) },
            None => Modification::Delete { path },
        }
    }
}

fn parse_value(text: &str) -> Value {
    json::parse(text.as_bytes(), 16).expect("the VALUES table is valid JSON")
}

/// Shape byte: bits 0-1 are the path length (so root ops happen too), bits 2-3 equal to 3
/// make a delete (a quarter of the ops), anything else a put.
fn decode_ops(mut bytes: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        let Some((&shape, rest)) = bytes.split_first() else { break };
        let len = usize::from(shape % 4);
        let is_delete = (shape >> 2) % 4 == 3;
        let needed = len + usize::from(!is_delete);
        let Some((operands, rest)) = rest.split_at_checked(needed) else { break };
        let path =
            operands[..len].iter().map(|&b| SEGMENTS[usize::from(b) % SEGMENTS.len()].to_owned());
        let value = (!is_delete).then(|| VALUES[usize::from(operands[len]) % VALUES.len()]);
        ops.push(Op { path: path.collect(), value });
        bytes = rest;
    }
    ops
}

/// Spec §4 written as plainly as possible (recursive, copying), like the conformance suite's
/// model: put replaces any non-object on the way by an object, delete of the root leaves
/// `null`, a delete through a missing key or a non-object changes nothing.
fn model_apply(document: Value, op: &Op) -> Value {
    match op.value {
        Some(text) => model_put(document, &op.path, parse_value(text)),
        None => model_delete(document, &op.path),
    }
}

fn model_put(document: Value, path: &[String], value: Value) -> Value {
    let Some((key, rest)) = path.split_first() else { return value };
    let mut map = match document {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let child = map.remove(key).unwrap_or(Value::Null);
    map.insert(key.clone(), model_put(child, rest, value));
    Value::Object(map)
}

fn model_delete(document: Value, path: &[String]) -> Value {
    let Some((key, rest)) = path.split_first() else { return Value::Null };
    let Value::Object(mut map) = document else { return document };
    if rest.is_empty() {
        map.remove(key);
    } else if let Some(child) = map.remove(key) {
        map.insert(key.clone(), model_delete(child, rest));
    }
    Value::Object(map)
}

fn model_lookup<'v>(document: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(document, |node, key| node.as_object()?.get(key))
}

/// Every path of up to two segments from the alphabet, the root included.
fn lookup_paths() -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    for first in SEGMENTS {
        paths.push(vec![first.to_owned()]);
        for second in SEGMENTS {
            paths.push(vec![first.to_owned(), second.to_owned()]);
        }
    }
    paths
}

/// The segment file for `ops`, and the offset where each record ends.
fn encode_segment(ops: &[Op]) -> (Vec<u8>, Vec<usize>) {
    let mut segment = SEGMENT_HEADER.to_vec();
    let mut ends = Vec::new();
    for op in ops {
        match op.value {
            Some(text) => encode_put(&mut segment, &op.path, text.as_bytes()),
            None => encode_delete(&mut segment, &op.path),
        }
        ends.push(segment.len());
    }
    (segment, ends)
}

/// Replays `bytes` onto a new document; returns the scan and the document.
fn replay(bytes: &[u8]) -> (Result<Scan, ScanError>, Document) {
    let mut document = Document::default();
    let scan = scan_segment(bytes, |modification| document.apply(modification));
    (scan, document)
}

fn check_whole_segment(segment: &[u8], ops: &[Op], states: &[Value]) {
    let mut replayed = Vec::new();
    let scan = scan_segment(segment, |modification| replayed.push(modification));
    let expected = Scan { records: ops.len(), valid_len: segment.len() as u64, torn_tail: None };
    assert_eq!(scan, Ok(expected));
    let originals: Vec<Modification> = ops.iter().map(Op::modification).collect();
    assert_eq!(replayed, originals, "records decode to other modifications");
    assert_eq!(replay(segment).1.root(), &states[ops.len()]);
}

/// A crash can stop an append at any byte, and may leave zeros after it (allocated but never
/// written): replay must give the state after the records that survived whole, as a torn tail,
/// never as corruption.
///
/// Zeros are only added after a complete header: the scanner accepts a partial header as a
/// creation cut short, but zeros after one fail as `BadHeader`, which is outside what this
/// property pins (records, not headers).
fn check_torn_segment(segment: &[u8], ends: &[usize], states: &[Value], damage: &Damage) {
    let cut = damage.cut % (segment.len() + 1);
    let padding = if cut < SEGMENT_HEADER.len() { 0 } else { damage.zero_padding };
    let mut torn = segment[..cut].to_vec();
    torn.resize(cut + padding, 0);
    let (scan, document) = replay(&torn);

    // Zeros that happen to be the bytes the cut removed complete those records for real.
    let restored = segment[cut..].iter().take(padding).take_while(|&&byte| byte == 0).count();
    let records = ends.iter().take_while(|&&end| end <= cut + restored).count();
    // A cut inside the header leaves a file whose creation was interrupted: nothing is valid.
    let valid_len = match records {
        0 if cut < SEGMENT_HEADER.len() => 0,
        0 => SEGMENT_HEADER.len(),
        _ => ends[records - 1],
    };
    let leftover = torn.len() - valid_len;
    let expected = Scan {
        records,
        valid_len: valid_len as u64,
        torn_tail: (leftover > 0).then_some(leftover as u64),
    };
    assert_eq!(scan, Ok(expected), "cut at {cut} of {} + {padding} zeros", segment.len());
    assert_eq!(document.root(), &states[records], "state after a cut at {cut}");
}

/// One damaged byte in a record's checksum or payload (never its length, whose damage
/// re-frames the rest of the file): CRC-32C catches every such error, so replay must stop
/// exactly at that record, as corruption when records follow it and as a torn tail when it
/// was the last one.
fn check_damaged_segment(segment: &[u8], ends: &[usize], states: &[Value], damage: &Damage) {
    if ends.is_empty() {
        return;
    }
    let index = damage.flip_offset % ends.len();
    let start = if index == 0 { SEGMENT_HEADER.len() } else { ends[index - 1] };
    // Skip the 4-byte length field; the rest of the record (checksum and payload) is fair game.
    let covered = start + 4..ends[index];
    let offset = covered.start + damage.flip_offset / ends.len() % covered.len();
    let mut damaged = segment.to_vec();
    damaged[offset] ^= damage.flip_mask;

    let (scan, document) = replay(&damaged);
    let expected = if index + 1 == ends.len() {
        Ok(Scan {
            records: index,
            valid_len: start as u64,
            torn_tail: Some((segment.len() - start) as u64),
        })
    } else {
        Err(start as u64)
    };
    let outcome = scan.map_err(|error| match error {
        ScanError::Corrupt { offset, .. } => offset,
        ScanError::BadHeader => panic!("the header was not touched"),
    });
    assert_eq!(outcome, expected, "byte {offset} of record {index} damaged");
    assert_eq!(document.root(), &states[index], "state before the damaged record {index}");
}
