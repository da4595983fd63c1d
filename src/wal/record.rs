//! The write-ahead log's on-disk format: a segment header, then framed records.
//!
//! ```text
//! segment: "ICEPKWAL" u32le(1) record*
//! record:  u32le(payload length ≥ 1) u32le(crc32c(payload)) payload
//! payload: u8 kind (1 put, 2 delete)
//!          u32le(segment count) { u32le(byte length) UTF-8 bytes }*
//!          put only: the value's JSON text as the client sent it, up to the end
//! ```
//!
//! Storing the client's JSON text rather than a re-serialization keeps appends cheap (the body
//! was already validated) and numbers exact. Replay tells a crash from damage: a broken record
//! that nothing valid can follow is a torn tail, anything else is corruption and stops
//! start-up, because silently skipping acknowledged writes in the middle of the log would lose
//! them without a trace.

use std::fmt;

use crate::document::Modification;
use crate::json;
use crate::storage::MAX_FILE_DEPTH;

use super::crc32c::crc32c;

/// The first bytes of every segment file: magic and format version 1.
pub const SEGMENT_HEADER: [u8; 12] = *b"ICEPKWAL\x01\x00\x00\x00";

/// The largest payload a record's length field can describe.
pub const MAX_PAYLOAD_LEN: usize = u32::MAX as usize;

const FRAME_LEN: usize = 8;
const KIND_PUT: u8 = 1;
const KIND_DELETE: u8 = 2;

/// Whether a put of `value_json_len` bytes at `path` fits in one record. Only bodies close to
/// 4 GiB do not; a caller whose body limit allows them must check before [`encode_put`].
#[must_use]
pub fn put_fits(path: &[String], value_json_len: usize) -> bool {
    payload_len(path, value_json_len).is_some_and(|len| len <= MAX_PAYLOAD_LEN)
}

/// Appends one put record to `out` (which may already hold other records: a batch is written
/// with one `write`).
///
/// # Panics
///
/// If the record would exceed [`MAX_PAYLOAD_LEN`]; see [`put_fits`].
pub fn encode_put(out: &mut Vec<u8>, path: &[String], value_json: &[u8]) {
    encode(out, KIND_PUT, path, value_json);
}

/// Appends one delete record to `out`.
///
/// # Panics
///
/// If the path alone exceeds [`MAX_PAYLOAD_LEN`], which no request can produce.
pub fn encode_delete(out: &mut Vec<u8>, path: &[String]) {
    encode(out, KIND_DELETE, path, b"");
}

fn payload_len(path: &[String], value_len: usize) -> Option<usize> {
    // kind byte + segment count, then a length and the bytes of each segment.
    path.iter().try_fold(value_len.checked_add(1 + 4)?, |len, segment| {
        len.checked_add(4)?.checked_add(segment.len())
    })
}

fn encode(out: &mut Vec<u8>, kind: u8, path: &[String], value: &[u8]) {
    // Every length below is bounded by the payload length, so checking the total once is
    // enough for the narrowing casts.
    let Some(len) = payload_len(path, value.len()).filter(|&len| len <= MAX_PAYLOAD_LEN) else {
        panic!("write-ahead log record larger than 4 GiB");
    };
    out.reserve(FRAME_LEN + len);
    let start = out.len();
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    out.extend_from_slice(&(path.len() as u32).to_le_bytes());
    for segment in path {
        out.extend_from_slice(&(segment.len() as u32).to_le_bytes());
        out.extend_from_slice(segment.as_bytes());
    }
    out.extend_from_slice(value);
    let crc = crc32c(&out[start + FRAME_LEN..]);
    out[start + 4..start + FRAME_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// The outcome of replaying one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Records passed to `apply`.
    pub records: usize,
    /// Bytes from the start of the file that are intact; the file can be truncated to this.
    pub valid_len: u64,
    /// Bytes after `valid_len` that were dropped as a torn tail (an interrupted append).
    pub torn_tail: Option<u64>,
}

/// Why a segment cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The file does not start with [`SEGMENT_HEADER`].
    BadHeader,
    /// The record at `offset` is damaged and intact data follows it.
    Corrupt { offset: u64, reason: String },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::BadHeader => f.write_str(
                "bad header at offset 0: not an icepeak-rs write-ahead log segment of version 1",
            ),
            ScanError::Corrupt { offset, reason } => {
                write!(f, "corrupt record at offset {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for ScanError {}

/// Replays a whole segment file's bytes, calling `apply` for each record in order.
///
/// On [`ScanError::Corrupt`], the records before the damaged one have already been applied.
///
/// # Errors
///
/// [`ScanError::BadHeader`] if this is not a segment file; [`ScanError::Corrupt`] for a damaged
/// record that is not a torn tail, or for any record whose checksum holds but whose payload
/// does not decode.
pub fn scan_segment(bytes: &[u8], mut apply: impl FnMut(Modification)) -> Result<Scan, ScanError> {
    let file_len = bytes.len() as u64;
    let Some(mut rest) = bytes.strip_prefix(&SEGMENT_HEADER) else {
        // Creating the segment was interrupted before the header was complete; a crash may
        // also leave the allocated rest of the file as zeros.
        let written = bytes.iter().rposition(|&byte| byte != 0).map_or(0, |last| last + 1);
        if SEGMENT_HEADER.starts_with(&bytes[..written]) {
            return Ok(Scan {
                records: 0,
                valid_len: 0,
                torn_tail: (file_len > 0).then_some(file_len),
            });
        }
        return Err(ScanError::BadHeader);
    };
    let mut records = 0;
    while !rest.is_empty() {
        let offset = file_len - rest.len() as u64;
        match split_frame(rest) {
            Ok((payload, after)) => {
                let modification = decode_payload(payload)
                    .map_err(|reason| ScanError::Corrupt { offset, reason })?;
                apply(modification);
                records += 1;
                rest = after;
            }
            Err(broken) if broken.is_torn_tail() => {
                return Ok(Scan { records, valid_len: offset, torn_tail: Some(rest.len() as u64) });
            }
            Err(broken) => {
                return Err(ScanError::Corrupt { offset, reason: broken.reason });
            }
        }
    }
    Ok(Scan { records, valid_len: file_len, torn_tail: None })
}

/// A record whose frame does not hold up.
struct BrokenFrame<'a> {
    reason: String,
    /// The bytes after the record's declared end (empty if it reaches the end of the file).
    after: &'a [u8],
}

impl BrokenFrame<'_> {
    /// Nothing valid follows: an interrupted append leaves part of one record, perhaps
    /// followed by zeros (space a crash left allocated but unwritten), never an intact record.
    /// A whole record further on means the damage is in the middle: corruption, not a crash.
    fn is_torn_tail(&self) -> bool {
        !holds_a_record(self.after)
    }
}

/// Whether an intact record (a length that fits and a matching checksum) starts anywhere in
/// `bytes`. Random bytes pass this with negligible probability: a length must fit in what is
/// left and 32 checksum bits must match.
fn holds_a_record(bytes: &[u8]) -> bool {
    (0..bytes.len()).any(|start| {
        let Some((frame, rest)) = bytes[start..].split_first_chunk::<FRAME_LEN>() else {
            return false;
        };
        let [l0, l1, l2, l3, c0, c1, c2, c3] = *frame;
        let length = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
        length > 0
            && length <= rest.len()
            && crc32c(&rest[..length]) == u32::from_le_bytes([c0, c1, c2, c3])
    })
}

/// Splits the record at the start of `rest` into its checked payload and the bytes after it.
fn split_frame(rest: &[u8]) -> Result<(&[u8], &[u8]), BrokenFrame<'_>> {
    let broken = |reason: String, after| Err(BrokenFrame { reason, after });
    let Some((frame, body)) = rest.split_first_chunk::<FRAME_LEN>() else {
        return broken(format!("only {} bytes of a record header", rest.len()), &[]);
    };
    let [l0, l1, l2, l3, c0, c1, c2, c3] = *frame;
    let declared_len = u32::from_le_bytes([l0, l1, l2, l3]);
    let declared_crc = u32::from_le_bytes([c0, c1, c2, c3]);
    if declared_len == 0 {
        return broken("record length 0".to_owned(), body);
    }
    let Some((payload, after)) =
        usize::try_from(declared_len).ok().and_then(|len| body.split_at_checked(len))
    else {
        // A damaged length field looks like an interrupted append; the bytes after the header
        // tell the two apart.
        return broken(
            format!(
                "record length {declared_len} runs past the end of the file ({} bytes left)",
                body.len()
            ),
            body,
        );
    };
    let actual_crc = crc32c(payload);
    if actual_crc != declared_crc {
        return broken(
            format!(
                "checksum mismatch (stored {declared_crc:#010x}, computed {actual_crc:#010x}) \
                 over {declared_len} bytes"
            ),
            after,
        );
    }
    Ok((payload, after))
}

fn decode_payload(payload: &[u8]) -> Result<Modification, String> {
    let mut reader = Reader(payload);
    let kind = reader.u8().ok_or("empty payload")?;
    if kind != KIND_PUT && kind != KIND_DELETE {
        return Err(format!("unknown record kind {kind}"));
    }
    let count = reader.u32().ok_or("segment count cut short")?;
    // Each segment takes at least its 4-byte length, which bounds the allocation by the
    // payload size whatever the count claims.
    let mut path = Vec::with_capacity((count as usize).min(reader.0.len() / 4));
    for index in 0..count {
        let len =
            reader.u32().ok_or_else(|| format!("length of path segment {index} cut short"))?;
        let bytes = reader
            .bytes(len)
            .ok_or_else(|| format!("path segment {index} ({len} bytes) runs past the record"))?;
        let segment = std::str::from_utf8(bytes)
            .map_err(|error| format!("path segment {index} is not UTF-8: {error}"))?;
        path.push(segment.to_owned());
    }
    if kind == KIND_DELETE {
        if !reader.0.is_empty() {
            return Err(format!(
                "{} unexpected bytes after a delete record's path",
                reader.0.len()
            ));
        }
        return Ok(Modification::Delete { path });
    }
    let value = json::parse(reader.0, MAX_FILE_DEPTH)
        .map_err(|error| format!("the put record's value: {error}"))?;
    Ok(Modification::Put { path, value })
}

/// Reads little-endian fields from the front of a payload; `None` when it is too short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u32(&mut self) -> Option<u32> {
        let (field, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*field))
    }

    fn bytes(&mut self, len: u32) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(usize::try_from(len).ok()?)?;
        self.0 = rest;
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| (*s).to_owned()).collect()
    }

    fn put(segments: &[&str], value_json: &str) -> Modification {
        Modification::Put {
            path: path(segments),
            value: json::parse(value_json.as_bytes(), MAX_FILE_DEPTH).expect("test JSON"),
        }
    }

    fn delete(segments: &[&str]) -> Modification {
        Modification::Delete { path: path(segments) }
    }

    /// A segment holding `records`, and the offset where each record starts.
    fn segment(records: &[(&[&str], Option<&str>)]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = SEGMENT_HEADER.to_vec();
        let mut starts = Vec::new();
        for (segments, value) in records {
            starts.push(bytes.len());
            match value {
                Some(value) => encode_put(&mut bytes, &path(segments), value.as_bytes()),
                None => encode_delete(&mut bytes, &path(segments)),
            }
        }
        (bytes, starts)
    }

    fn scan(bytes: &[u8]) -> (Result<Scan, ScanError>, Vec<Modification>) {
        let mut applied = Vec::new();
        let result = scan_segment(bytes, |m| applied.push(m));
        (result, applied)
    }

    const THREE: [(&[&str], Option<&str>); 3] = [
        (&["a", "b"], Some(r#"{"x": [1, 2, 3]}"#)),
        (&["a"], None),
        (&["c"], Some(r#""last one""#)),
    ];

    fn three_expected() -> Vec<Modification> {
        vec![put(&["a", "b"], r#"{"x": [1, 2, 3]}"#), delete(&["a"]), put(&["c"], r#""last one""#)]
    }

    #[test]
    fn round_trip() {
        let big = "123456789012345678901234567890.000000000000000000001e-400";
        let records: [(&[&str], Option<&str>); 8] = [
            (&[], Some(r#"{"root": true}"#)),
            (&[], None),
            (&["", ""], Some("null")),
            (&["ünïcödé", "日本", "🦀"], Some(r#""värde \u00e9 ✓""#)),
            (&["n"], Some(big)),
            (&["text"], Some("\"line\\nbreak\"")),
            (&["pretty"], Some("{\n  \"a\": 1,\r\n  \"b\": [\n    true\n  ]\n}\n")),
            (&["gone", "deep"], None),
        ];
        let (bytes, _) = segment(&records);
        let (result, applied) = scan(&bytes);
        let scan = result.expect("valid segment");
        assert_eq!(scan.records, records.len());
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert_eq!(scan.torn_tail, None);
        let expected = vec![
            put(&[], r#"{"root": true}"#),
            delete(&[]),
            put(&["", ""], "null"),
            put(&["ünïcödé", "日本", "🦀"], r#""värde é ✓""#),
            put(&["n"], big),
            put(&["text"], "\"line\\nbreak\""),
            put(&["pretty"], r#"{"a": 1, "b": [true]}"#),
            delete(&["gone", "deep"]),
        ];
        assert_eq!(applied, expected);
        let Modification::Put { value, .. } = &applied[4] else {
            panic!("a put");
        };
        // Digits are kept exactly, written the way the original writes numbers.
        let written: Option<serde_json::Number> =
            crate::number::canonical(big).and_then(|t| t.parse().ok());
        assert_eq!(value, &serde_json::Value::Number(written.expect("canonical")));
    }

    #[test]
    fn records_append_to_a_batch_buffer() {
        let mut batch = Vec::new();
        encode_put(&mut batch, &path(&["k"]), b"1");
        let first_len = batch.len();
        encode_delete(&mut batch, &path(&["k"]));
        assert!(batch.len() > first_len);
        let mut bytes = SEGMENT_HEADER.to_vec();
        bytes.extend_from_slice(&batch);
        let (result, applied) = scan(&bytes);
        assert_eq!(result.map(|s| s.records).ok(), Some(2));
        assert_eq!(applied, vec![put(&["k"], "1"), delete(&["k"])]);
    }

    #[test]
    fn put_fits_checks_the_length_field() {
        assert!(put_fits(&path(&["a"]), 1000));
        assert!(!put_fits(&path(&["a"]), MAX_PAYLOAD_LEN));
        assert!(!put_fits(&path(&["a"]), usize::MAX));
    }

    #[test]
    fn torn_at_every_byte_of_the_last_record() {
        let (bytes, starts) = segment(&THREE);
        let last = starts[2];
        let expected = three_expected();
        for cut in last..bytes.len() {
            let (result, applied) = scan(&bytes[..cut]);
            let scan = result.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert_eq!(applied, expected[..2], "cut at {cut}");
            assert_eq!(scan.records, 2);
            assert_eq!(scan.valid_len, last as u64, "cut at {cut}");
            let dropped = (cut - last) as u64;
            assert_eq!(scan.torn_tail, (dropped > 0).then_some(dropped), "cut at {cut}");
        }
        let (result, applied) = scan(&bytes);
        assert_eq!(result.map(|s| s.torn_tail).ok(), Some(None));
        assert_eq!(applied, expected);
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let (mut bytes, _) = segment(&THREE);
        let valid_len = bytes.len() as u64;
        bytes.resize(bytes.len() + 4096, 0);
        let (result, applied) = scan(&bytes);
        let scan = result.expect("torn tail");
        assert_eq!(applied, three_expected());
        assert_eq!(scan.valid_len, valid_len);
        assert_eq!(scan.torn_tail, Some(4096));
    }

    #[test]
    fn partly_written_last_record_followed_by_zeros_is_torn() {
        let (mut bytes, starts) = segment(&THREE);
        let last = starts[2];
        let record_len = bytes.len() - last;
        // The header made it to disk, the rest of the record and what follows did not.
        bytes[last + FRAME_LEN..].fill(0);
        bytes.resize(bytes.len() + 100, 0);
        let (result, applied) = scan(&bytes);
        let scan = result.expect("torn tail");
        assert_eq!(applied, three_expected()[..2]);
        assert_eq!(scan.valid_len, last as u64);
        assert_eq!(scan.torn_tail, Some((record_len + 100) as u64));
    }

    #[test]
    fn corrupted_middle_record_is_fatal() {
        let (bytes, starts) = segment(&THREE);
        for position in starts[1]..starts[2] {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x40;
            let (result, applied) = scan(&damaged);
            match result {
                // Also a damaged length that makes the record swallow the rest of the file:
                // the intact third record after it gives the damage away.
                Err(ScanError::Corrupt { offset, .. }) => {
                    assert_eq!(offset, starts[1] as u64, "byte {position}");
                }
                other => panic!("byte {position}: {other:?}"),
            }
            assert_eq!(applied, three_expected()[..1], "byte {position}");
        }
    }

    #[test]
    fn corrupt_error_names_the_offset() {
        let (mut bytes, starts) = segment(&THREE);
        bytes[starts[1] + FRAME_LEN + 2] ^= 1;
        let (result, _) = scan(&bytes);
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message
                .starts_with(&format!("corrupt record at offset {}: checksum mismatch", starts[1])),
            "{message}"
        );
    }

    #[test]
    fn flipped_byte_in_the_complete_last_record_is_torn() {
        let (mut bytes, starts) = segment(&THREE);
        let last_byte = bytes.len() - 1;
        bytes[last_byte] ^= 0xFF;
        let (result, applied) = scan(&bytes);
        let scan = result.expect("torn tail");
        assert_eq!(applied, three_expected()[..2]);
        assert_eq!(scan.valid_len, starts[2] as u64);
        assert_eq!(scan.torn_tail, Some((bytes.len() - starts[2]) as u64));
    }

    #[test]
    fn zero_length_record_before_data_is_corrupt() {
        let (mut bytes, starts) = segment(&THREE);
        bytes[starts[1]..starts[1] + 4].fill(0);
        let (result, _) = scan(&bytes);
        assert!(
            matches!(result, Err(ScanError::Corrupt { offset, .. }) if offset == starts[1] as u64)
        );
    }

    /// Frames `payload` with a correct checksum, so only decoding can reject it.
    fn with_valid_crc(payload: &[u8]) -> Vec<u8> {
        let mut bytes = SEGMENT_HEADER.to_vec();
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32c(payload).to_le_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn undecodable_payload_with_valid_checksum_is_corrupt() {
        let huge_count = [&[KIND_DELETE][..], &u32::MAX.to_le_bytes()].concat();
        let huge_segment = [&[KIND_PUT][..], &1u32.to_le_bytes(), &u32::MAX.to_le_bytes()].concat();
        let bad_utf8 =
            [&[KIND_DELETE][..], &1u32.to_le_bytes(), &2u32.to_le_bytes(), b"\xC3\x28"].concat();
        let bad_json = [&[KIND_PUT][..], &0u32.to_le_bytes(), b"{\"a\":"].concat();
        let no_value = [&[KIND_PUT][..], &0u32.to_le_bytes()].concat();
        let trailing = [&[KIND_DELETE][..], &0u32.to_le_bytes(), b"x"].concat();
        let cases: [(&[u8], &str); 7] = [
            (&[9, 0, 0, 0, 0], "unknown record kind 9"),
            (&[KIND_PUT, 0, 0], "segment count cut short"),
            (&huge_count, "length of path segment 0 cut short"),
            (&huge_segment, "path segment 0 (4294967295 bytes) runs past the record"),
            (&bad_utf8, "path segment 0 is not UTF-8"),
            (&bad_json, "the put record's value: invalid JSON"),
            (&trailing, "1 unexpected bytes after a delete record's path"),
        ];
        for (payload, reason_start) in cases {
            let (result, applied) = scan(&with_valid_crc(payload));
            match result {
                Err(ScanError::Corrupt { offset: 12, reason }) => {
                    assert!(reason.starts_with(reason_start), "{reason}");
                }
                other => panic!("{payload:?}: {other:?}"),
            }
            assert!(applied.is_empty());
        }
        let (result, _) = scan(&with_valid_crc(&no_value));
        assert!(matches!(result, Err(ScanError::Corrupt { offset: 12, .. })));
    }

    #[test]
    fn value_deeper_than_a_data_file_may_be_is_corrupt() {
        let too_deep =
            format!("{}{}", "[".repeat(MAX_FILE_DEPTH + 1), "]".repeat(MAX_FILE_DEPTH + 1));
        let (bytes, _) = segment(&[(&["deep"], Some(&too_deep))]);
        let (result, applied) = scan(&bytes);
        match result {
            Err(ScanError::Corrupt { offset: 12, reason }) => {
                assert!(reason.contains("nesting deeper than"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(applied.is_empty());
    }

    #[test]
    fn huge_declared_length_is_a_torn_tail() {
        let mut bytes = SEGMENT_HEADER.to_vec();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0xAB; 20]);
        let (result, _) = scan(&bytes);
        assert_eq!(result.ok(), Some(Scan { records: 0, valid_len: 12, torn_tail: Some(24) }));
    }

    #[test]
    fn header_cases() {
        for cut in 0..SEGMENT_HEADER.len() {
            let (result, _) = scan(&SEGMENT_HEADER[..cut]);
            let expected =
                Scan { records: 0, valid_len: 0, torn_tail: (cut > 0).then_some(cut as u64) };
            assert_eq!(result.ok(), Some(expected), "cut at {cut}");
        }
        let (result, _) = scan(&SEGMENT_HEADER);
        assert_eq!(result.ok(), Some(Scan { records: 0, valid_len: 12, torn_tail: None }));
        let mut version_2 = SEGMENT_HEADER;
        version_2[8] = 2;
        for bad in [&b"ICEPKWAX"[..], b"{}", b"ICEPKWAL\x02", &version_2] {
            let (result, _) = scan(bad);
            assert!(matches!(result, Err(ScanError::BadHeader)), "{bad:?}");
        }
        assert!(ScanError::BadHeader.to_string().contains("offset 0"));
    }

    #[test]
    fn values_keep_their_type() {
        let (bytes, _) = segment(&[(&["v"], Some("[1, \"two\", null, {}]"))]);
        let (_, applied) = scan(&bytes);
        assert_eq!(
            applied,
            vec![Modification::Put {
                path: path(&["v"]),
                value: json!([1, "two", Value::Null, {}])
            }]
        );
    }

    #[test]
    fn header_interrupted_before_zeros_is_a_torn_empty_segment() {
        for cut in 0..SEGMENT_HEADER.len() {
            let mut bytes = SEGMENT_HEADER[..cut].to_vec();
            bytes.extend_from_slice(&[0; 40]);
            let (result, applied) = scan(&bytes);
            let scan = result.unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            // From byte 9 on, the zeros complete the header (version 1 is 01 00 00 00).
            let header = if cut >= 9 { SEGMENT_HEADER.len() } else { 0 };
            let expected = (0, header as u64, Some((bytes.len() - header) as u64));
            assert_eq!((scan.records, scan.valid_len, scan.torn_tail), expected, "cut {cut}");
            assert!(applied.is_empty());
        }
    }
}
