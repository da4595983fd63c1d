//! Strict RFC 8259 JSON parser producing [`serde_json::Value`].
//!
//! `serde_json::from_slice` does almost what icepeak needs, but not quite:
//!
//! * the first occurrence of a duplicate object key must win (`serde_json` keeps the last);
//! * the nesting depth must be limited while parsing, and no input may overflow the stack,
//!   however deep it is: this parser keeps its open containers on an explicit heap stack and
//!   never recurses, and it stops before building more levels than allowed;
//! * numbers keep their digits (the crate enables `serde_json`'s `arbitrary_precision`; only
//!   the exponent marker is normalised by `serde_json`, `1E5` becoming `1e+5`);
//! * errors carry a byte offset and a short reason that can go straight into an HTTP 400 body.
//!
//! Object keys come out sorted, because `serde_json`'s default `Map` is a `BTreeMap`.

use std::fmt;

use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// Parses one complete JSON text.
///
/// `max_depth` bounds the nesting as measured by [`depth`]. Parsing fails with
/// [`JsonErrorKind::TooDeep`] as soon as a value would sit deeper than `max_depth`, so no more
/// than `max_depth` levels are ever built; `max_depth == 0` rejects every document.
///
/// The returned value may still be as deep as `max_depth` allows; with a large limit, dropping
/// it runs `serde_json`'s recursive `Drop`, which is the caller's concern.
///
/// # Errors
///
/// Returns the first violation of RFC 8259 or of the depth limit, with its byte offset; see
/// [`JsonErrorKind`] for the reasons and where each one points.
pub fn parse(input: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    Parser::new(input).parse_document(max_depth)
}

/// Nesting depth of `value`: 1 for a scalar or an empty array/object, otherwise one more than
/// its deepest child.
///
/// Works without recursion, with memory proportional to the depth, so it is safe on values of
/// any depth.
#[must_use]
pub fn depth(value: &Value) -> usize {
    let mut deepest = 1;
    // `open[i]` yields the children of a container at level `i + 1`; those children sit at
    // level `i + 2`, i.e. `open.len() + 1` while `open[i]` is on top.
    let mut open: Vec<Children<'_>> = Vec::new();
    open.extend(Children::of(value));
    while let Some(children) = open.last_mut() {
        match children.next() {
            Some(child) => {
                deepest = deepest.max(open.len() + 1);
                open.extend(Children::of(child));
            }
            None => {
                open.pop();
            }
        }
    }
    deepest
}

/// Why a JSON text was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset into the input at which the problem was detected.
    pub offset: usize,
    /// What was wrong there.
    pub kind: JsonErrorKind,
}

/// The reasons [`parse`] can reject a text. Offsets are described per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// The input is empty or only whitespace; the offset is the input length.
    Empty,
    /// The input ended inside a value; the offset is the input length.
    UnexpectedEnd,
    /// A byte that cannot start or continue any token at that point (outside strings).
    UnexpectedByte(u8),
    /// A number breaking the JSON grammar (`01`, `1.`, `1e`, `-`); the offset is where a digit
    /// was required or a superfluous digit follows a leading zero.
    InvalidNumber,
    /// An unknown backslash escape, or `\u` without four hex digits; the offset is the backslash.
    InvalidEscape,
    /// A raw byte below 0x20 inside a string, which JSON requires to be escaped.
    ControlInString,
    /// String content that is not UTF-8; the offset is the first byte that is not.
    InvalidUtf8,
    /// A `\u` escape of a UTF-16 surrogate that is not part of a high+low pair; the offset is
    /// the backslash of the unpaired escape.
    LoneSurrogate,
    /// Something other than whitespace follows the value.
    TrailingCharacters,
    /// A value starting at the offset would be nested deeper than `limit`.
    TooDeep {
        /// The `max_depth` that was passed to [`parse`].
        limit: usize,
    },
}

impl JsonError {
    fn new(offset: usize, kind: JsonErrorKind) -> Self {
        Self { offset, kind }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match self.kind {
            JsonErrorKind::Empty => f.write_str("empty body"),
            JsonErrorKind::TooDeep { limit } => {
                write!(f, "JSON nesting deeper than {limit} levels")
            }
            JsonErrorKind::InvalidUtf8 => write!(f, "invalid UTF-8 in JSON text at byte {at}"),
            JsonErrorKind::UnexpectedEnd => {
                write!(f, "invalid JSON: unexpected end of input at byte {at}")
            }
            JsonErrorKind::UnexpectedByte(byte) if byte.is_ascii_graphic() => {
                write!(f, "invalid JSON: unexpected character '{}' at byte {at}", char::from(byte))
            }
            JsonErrorKind::UnexpectedByte(byte) => {
                write!(f, "invalid JSON: unexpected byte 0x{byte:02x} at byte {at}")
            }
            JsonErrorKind::InvalidNumber => write!(f, "invalid JSON: invalid number at byte {at}"),
            JsonErrorKind::InvalidEscape => {
                write!(f, "invalid JSON: invalid escape in string at byte {at}")
            }
            JsonErrorKind::ControlInString => {
                write!(f, "invalid JSON: control character in string at byte {at}")
            }
            JsonErrorKind::LoneSurrogate => {
                write!(f, "invalid JSON: unpaired surrogate escape at byte {at}")
            }
            JsonErrorKind::TrailingCharacters => {
                write!(f, "invalid JSON: trailing characters at byte {at}")
            }
        }
    }
}

impl std::error::Error for JsonError {}

/// Iterator over the direct children of an array or object, for [`depth`].
enum Children<'a> {
    Array(std::slice::Iter<'a, Value>),
    Object(serde_json::map::Values<'a>),
}

impl<'a> Children<'a> {
    fn of(value: &'a Value) -> Option<Self> {
        match value {
            Value::Array(items) => Some(Self::Array(items.iter())),
            Value::Object(map) => Some(Self::Object(map.values())),
            _ => None,
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<&'a Value> {
        match self {
            Self::Array(items) => items.next(),
            Self::Object(values) => values.next(),
        }
    }
}

/// A container whose closing bracket has not been reached yet.
enum Frame {
    Array(Vec<Value>),
    /// `key` names the member whose value is being parsed.
    Object {
        map: Map<String, Value>,
        key: String,
    },
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// Reused across strings with escapes, so that each of them costs a single exact-size
    /// allocation for its final `String`.
    scratch: String,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0, scratch: String::new() }
    }

    fn parse_document(&mut self, max_depth: usize) -> Result<Value, JsonError> {
        self.skip_whitespace();
        if self.pos == self.input.len() {
            return Err(JsonError::new(self.pos, JsonErrorKind::Empty));
        }
        let mut open: Vec<Frame> = Vec::new();
        // Each pass of this loop parses one value starting at `self.pos` (whitespace already
        // skipped). Opening a non-empty container pushes a frame and starts over for its first
        // child; a finished value falls through to the inner loop, which hands it to its parent.
        'value: loop {
            // The value starting here sits at level `open.len() + 1`.
            if open.len() >= max_depth {
                return Err(JsonError::new(self.pos, JsonErrorKind::TooDeep { limit: max_depth }));
            }
            let mut value = match self.peek() {
                Some(b'"') => Value::String(self.parse_string()?),
                Some(b'-' | b'0'..=b'9') => Value::Number(self.parse_number()?),
                Some(b'{') => {
                    self.pos += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        Value::Object(Map::new())
                    } else {
                        let key = self.parse_key()?;
                        open.push(Frame::Object { map: Map::new(), key });
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        Value::Array(Vec::new())
                    } else {
                        open.push(Frame::Array(Vec::new()));
                        continue 'value;
                    }
                }
                Some(b't') => {
                    self.expect_literal(b"true")?;
                    Value::Bool(true)
                }
                Some(b'f') => {
                    self.expect_literal(b"false")?;
                    Value::Bool(false)
                }
                Some(b'n') => {
                    self.expect_literal(b"null")?;
                    Value::Null
                }
                other => return Err(self.unexpected(other)),
            };
            // A closing bracket finishes the parent, which may in turn be the last child of its
            // own parent, so keep climbing until a comma asks for another value.
            loop {
                self.skip_whitespace();
                let Some(parent) = open.last_mut() else {
                    return self.finish_document(value);
                };
                value = match parent {
                    Frame::Array(items) => {
                        items.push(value);
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_whitespace();
                                continue 'value;
                            }
                            Some(b']') => {
                                self.pos += 1;
                                Value::Array(std::mem::take(items))
                            }
                            other => return Err(self.unexpected(other)),
                        }
                    }
                    Frame::Object { map, key } => {
                        // First occurrence wins: a repeated key's value has been fully parsed
                        // (and so validated) by now, and is simply dropped.
                        if let Entry::Vacant(slot) = map.entry(std::mem::take(key)) {
                            slot.insert(value);
                        }
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_whitespace();
                                *key = self.parse_key()?;
                                continue 'value;
                            }
                            Some(b'}') => {
                                self.pos += 1;
                                Value::Object(std::mem::take(map))
                            }
                            other => return Err(self.unexpected(other)),
                        }
                    }
                };
                open.pop();
            }
        }
    }

    /// Accepts the top-level value if only whitespace follows it (already skipped).
    fn finish_document(&self, value: Value) -> Result<Value, JsonError> {
        if self.pos < self.input.len() {
            return Err(JsonError::new(self.pos, JsonErrorKind::TrailingCharacters));
        }
        Ok(value)
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// The error for a byte (or the end of input) where something else was required.
    fn unexpected(&self, found: Option<u8>) -> JsonError {
        match found {
            Some(byte) => JsonError::new(self.pos, JsonErrorKind::UnexpectedByte(byte)),
            None => JsonError::new(self.input.len(), JsonErrorKind::UnexpectedEnd),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Parses `"key"` and the colon after it, leaving `self.pos` at the member's value.
    fn parse_key(&mut self) -> Result<String, JsonError> {
        match self.peek() {
            Some(b'"') => {}
            other => return Err(self.unexpected(other)),
        }
        let key = self.parse_string()?;
        self.skip_whitespace();
        match self.peek() {
            Some(b':') => self.pos += 1,
            other => return Err(self.unexpected(other)),
        }
        self.skip_whitespace();
        Ok(key)
    }

    fn expect_literal(&mut self, literal: &'static [u8]) -> Result<(), JsonError> {
        for (index, &expected) in literal.iter().enumerate() {
            let at = self.pos + index;
            match self.input.get(at) {
                Some(&byte) if byte == expected => {}
                Some(&byte) => return Err(JsonError::new(at, JsonErrorKind::UnexpectedByte(byte))),
                None => {
                    return Err(JsonError::new(self.input.len(), JsonErrorKind::UnexpectedEnd));
                }
            }
        }
        self.pos += literal.len();
        Ok(())
    }

    fn parse_number(&mut self) -> Result<Number, JsonError> {
        let input = self.input;
        let start = self.pos;
        let mut pos = start;
        if input.get(pos) == Some(&b'-') {
            pos += 1;
        }
        match input.get(pos) {
            Some(b'0') => {
                pos += 1;
                if let Some(b'0'..=b'9') = input.get(pos) {
                    return Err(JsonError::new(pos, JsonErrorKind::InvalidNumber));
                }
            }
            Some(b'1'..=b'9') => pos = skip_digits(input, pos + 1),
            _ => return Err(JsonError::new(pos, JsonErrorKind::InvalidNumber)),
        }
        if input.get(pos) == Some(&b'.') {
            pos = skip_required_digits(input, pos + 1)?;
        }
        if let Some(b'e' | b'E') = input.get(pos) {
            pos += 1;
            if let Some(b'+' | b'-') = input.get(pos) {
                pos += 1;
            }
            pos = skip_required_digits(input, pos)?;
        }
        self.pos = pos;
        // The grammar was checked above, so neither conversion can fail; if one ever did, the
        // number is still reported as invalid rather than panicking.
        let invalid = || JsonError::new(start, JsonErrorKind::InvalidNumber);
        let text = std::str::from_utf8(&input[start..pos]).map_err(|_| invalid())?;
        match crate::number::canonical(text) {
            Some(written) => written.parse::<Number>(),
            None => text.parse::<Number>(),
        }
        .map_err(|_| invalid())
    }

    /// Parses a string starting at its opening quote.
    fn parse_string(&mut self) -> Result<String, JsonError> {
        let input = self.input;
        let start = self.pos + 1;
        let stop = find_string_special(input, start);
        let plain = utf8_run(input, start, stop)?;
        if input.get(stop) == Some(&b'"') {
            self.pos = stop + 1;
            return Ok(plain.to_owned());
        }
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        text.push_str(plain);
        let outcome = self.parse_string_rest(&mut text, stop);
        let result = outcome.map(|()| text.as_str().to_owned());
        self.scratch = text;
        result
    }

    /// Continues a string at `pos`, where the plain run before it has ended, appending the
    /// decoded remainder to `text`.
    fn parse_string_rest(&mut self, text: &mut String, mut pos: usize) -> Result<(), JsonError> {
        let input = self.input;
        loop {
            match input.get(pos) {
                Some(b'"') => {
                    self.pos = pos + 1;
                    return Ok(());
                }
                Some(b'\\') => pos = decode_escape(input, pos, text)?,
                Some(_) => return Err(JsonError::new(pos, JsonErrorKind::ControlInString)),
                None => return Err(JsonError::new(input.len(), JsonErrorKind::UnexpectedEnd)),
            }
            let stop = find_string_special(input, pos);
            text.push_str(utf8_run(input, pos, stop)?);
            pos = stop;
        }
    }
}

fn skip_digits(input: &[u8], mut pos: usize) -> usize {
    while let Some(b'0'..=b'9') = input.get(pos) {
        pos += 1;
    }
    pos
}

fn skip_required_digits(input: &[u8], pos: usize) -> Result<usize, JsonError> {
    match input.get(pos) {
        Some(b'0'..=b'9') => Ok(skip_digits(input, pos + 1)),
        _ => Err(JsonError::new(pos, JsonErrorKind::InvalidNumber)),
    }
}

/// Validates `input[start..stop]` as UTF-8.
///
/// Runs always end at ASCII bytes (a quote, a backslash, a control byte) or at the end of input,
/// and ASCII never occurs inside a multi-byte sequence, so checking runs separately accepts
/// exactly what checking the whole string would.
fn utf8_run(input: &[u8], start: usize, stop: usize) -> Result<&str, JsonError> {
    std::str::from_utf8(&input[start..stop])
        .map_err(|error| JsonError::new(start + error.valid_up_to(), JsonErrorKind::InvalidUtf8))
}

const fn repeat_byte(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// Index of the first byte at or after `from` that ends a plain run inside a string: a quote,
/// a backslash or a control byte; `input.len()` if there is none.
fn find_string_special(input: &[u8], from: usize) -> usize {
    const LOW_BITS: u64 = repeat_byte(0x01);
    const HIGH_BITS: u64 = repeat_byte(0x80);
    // Strings are most of a large document, so test eight bytes at a time. `x - 0x01..01 & !x
    // & 0x80..80` flags the zero bytes of `x`; borrows can only add false flags above a true
    // one, so the lowest flag (the first byte, in little-endian order) is always exact.
    let mut pos = from;
    while let Some(chunk) = input.get(pos..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let quote = word ^ repeat_byte(b'"');
        let backslash = word ^ repeat_byte(b'\\');
        let flags = (quote.wrapping_sub(LOW_BITS) & !quote)
            | (backslash.wrapping_sub(LOW_BITS) & !backslash)
            | (word.wrapping_sub(repeat_byte(0x20)) & !word);
        let flags = flags & HIGH_BITS;
        if flags != 0 {
            return pos + (flags.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&byte) = input.get(pos) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            break;
        }
        pos += 1;
    }
    pos
}

/// Decodes the escape whose backslash is at `pos` into `text`; returns the position after it.
fn decode_escape(input: &[u8], pos: usize, text: &mut String) -> Result<usize, JsonError> {
    let decoded = match input.get(pos + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{08}',
        Some(b'f') => '\u{0c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => return decode_unicode_escape(input, pos, text),
        Some(_) => return Err(JsonError::new(pos, JsonErrorKind::InvalidEscape)),
        None => return Err(JsonError::new(input.len(), JsonErrorKind::UnexpectedEnd)),
    };
    text.push(decoded);
    Ok(pos + 2)
}

/// Decodes `\uXXXX` at `pos`, together with the low-surrogate escape that must follow a high
/// surrogate; returns the position after the escape(s).
fn decode_unicode_escape(input: &[u8], pos: usize, text: &mut String) -> Result<usize, JsonError> {
    let lone_surrogate = JsonError::new(pos, JsonErrorKind::LoneSurrogate);
    let unit = read_hex_escape(input, pos)?;
    let (code_point, end) = match unit {
        0xD800..=0xDBFF => {
            let low_pos = pos + 6;
            match (input.get(low_pos), input.get(low_pos + 1)) {
                (Some(b'\\'), Some(b'u')) => {}
                (None, _) | (Some(b'\\'), None) => {
                    return Err(JsonError::new(input.len(), JsonErrorKind::UnexpectedEnd));
                }
                _ => return Err(lone_surrogate),
            }
            let low = read_hex_escape(input, low_pos)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return Err(lone_surrogate);
            }
            let code_point = 0x1_0000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            (code_point, low_pos + 6)
        }
        _ => (unit, pos + 6),
    };
    // `from_u32` refuses exactly the lone low surrogates here: a paired code point is always
    // below 0x110000 and everything else is a valid scalar value.
    let decoded = char::from_u32(code_point).ok_or(lone_surrogate)?;
    text.push(decoded);
    Ok(end)
}

/// Reads the four hex digits of the `\u` escape whose backslash is at `pos`.
fn read_hex_escape(input: &[u8], pos: usize) -> Result<u32, JsonError> {
    let mut unit = 0;
    for at in pos + 2..pos + 6 {
        let Some(&byte) = input.get(at) else {
            return Err(JsonError::new(input.len(), JsonErrorKind::UnexpectedEnd));
        };
        let digit = char::from(byte)
            .to_digit(16)
            .ok_or(JsonError::new(pos, JsonErrorKind::InvalidEscape))?;
        unit = unit * 16 + digit;
    }
    Ok(unit)
}

/// The type of a JSON value as aeson names it in its error messages ("expected String, but
/// encountered Number"), which the original's error bodies carry.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMIT: usize = 512;

    fn ok(input: &str) -> Value {
        match parse(input.as_bytes(), LIMIT) {
            Ok(value) => value,
            Err(error) => panic!("{input:?} rejected: {error}"),
        }
    }

    fn fails(input: &[u8], offset: usize, kind: JsonErrorKind) {
        assert_eq!(
            parse(input, LIMIT),
            Err(JsonError { offset, kind }),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }

    /// serde_json's reading of `input`, with numbers written as the original writes them
    /// (which `parse` does, see `crate::number`).
    fn serde(input: &[u8]) -> Value {
        let value =
            serde_json::from_slice(input).expect("serde_json accepts the reference document");
        canonical_numbers(value)
    }

    fn canonical_numbers(value: Value) -> Value {
        match value {
            Value::Number(number) => match crate::number::canonical(&number.to_string()) {
                Some(text) => Value::Number(text.parse().expect("canonical numbers parse")),
                None => Value::Number(number),
            },
            Value::Array(items) => Value::Array(items.into_iter().map(canonical_numbers).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, canonical_numbers(v))).collect())
            }
            other => other,
        }
    }

    /// Runs `test` on a thread whose stack can absorb serde_json's recursive `Drop` of very
    /// deep values (which the parser itself never needs).
    fn with_big_stack(test: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(test)
            .expect("spawn test thread")
            .join()
            .expect("test thread succeeded");
    }

    #[test]
    fn parses_scalars_and_literals() {
        assert_eq!(ok("true"), json!(true));
        assert_eq!(ok("false"), json!(false));
        assert_eq!(ok("null"), Value::Null);
        assert_eq!(ok("\"hi\""), json!("hi"));
        assert_eq!(ok("0"), json!(0));
        assert_eq!(ok("[true,false,null]"), json!([true, false, null]));
    }

    #[test]
    fn rejects_malformed_literals() {
        use JsonErrorKind::*;
        fails(b"nul", 3, UnexpectedEnd);
        fails(b"nul1", 3, UnexpectedByte(b'1'));
        fails(b"tru e", 3, UnexpectedByte(b' '));
        fails(b"True", 0, UnexpectedByte(b'T'));
        fails(b"NaN", 0, UnexpectedByte(b'N'));
        fails(b"Infinity", 0, UnexpectedByte(b'I'));
        fails(b"-Infinity", 1, InvalidNumber);
        fails(b"[tru]", 4, UnexpectedByte(b']'));
        fails(b"truex", 4, TrailingCharacters);
        fails(b"undefined", 0, UnexpectedByte(b'u'));
    }

    #[test]
    fn whitespace_is_exactly_space_tab_newline_return() {
        use JsonErrorKind::*;
        assert_eq!(ok(" \t\n\r[ 1 ,\t2 ,\n{ \"a\" : 3 } ]\r\n\t "), json!([1, 2, {"a": 3}]));
        fails(b"\x0c1", 0, UnexpectedByte(0x0c));
        fails(b"[1,\x0b2]", 3, UnexpectedByte(0x0b));
        fails("\u{a0}1".as_bytes(), 0, UnexpectedByte(0xc2));
        fails(b"\xef\xbb\xbf1", 0, UnexpectedByte(0xef));
    }

    #[test]
    fn empty_input() {
        fails(b"", 0, JsonErrorKind::Empty);
        fails(b" \n\t\r", 4, JsonErrorKind::Empty);
    }

    #[test]
    fn trailing_characters() {
        use JsonErrorKind::TrailingCharacters;
        fails(b"1 2", 2, TrailingCharacters);
        fails(b"{\"a\":1} x", 8, TrailingCharacters);
        fails(b"[]]", 2, TrailingCharacters);
        fails(b"\"a\"\"b\"", 3, TrailingCharacters);
        fails(b"null,", 4, TrailingCharacters);
        fails(b"1\x00", 1, TrailingCharacters);
        fails(b"01", 1, JsonErrorKind::InvalidNumber);
    }

    #[test]
    fn structural_errors() {
        use JsonErrorKind::*;
        fails(b"[1,]", 3, UnexpectedByte(b']'));
        fails(b"{\"a\":1,}", 7, UnexpectedByte(b'}'));
        fails(b"[,1]", 1, UnexpectedByte(b','));
        fails(b"{,}", 1, UnexpectedByte(b','));
        fails(b"[1 2]", 3, UnexpectedByte(b'2'));
        fails(b"{\"a\" 1}", 5, UnexpectedByte(b'1'));
        fails(b"{\"a\":1 \"b\":2}", 7, UnexpectedByte(b'"'));
        fails(b"{\"a\":}", 5, UnexpectedByte(b'}'));
        fails(b"{\"a\"}", 4, UnexpectedByte(b'}'));
        fails(b"{'a':1}", 1, UnexpectedByte(b'\''));
        fails(b"['a']", 1, UnexpectedByte(b'\''));
        fails(b"{a:1}", 1, UnexpectedByte(b'a'));
        fails(b"{1:2}", 1, UnexpectedByte(b'1'));
        fails(b"{\"a\":1]", 6, UnexpectedByte(b']'));
        fails(b"[1}", 2, UnexpectedByte(b'}'));
        fails(b"]", 0, UnexpectedByte(b']'));
        fails(b"[", 1, UnexpectedEnd);
        fails(b"{", 1, UnexpectedEnd);
        fails(b"[1,", 3, UnexpectedEnd);
        fails(b"[1", 2, UnexpectedEnd);
        fails(b"{\"a\"", 4, UnexpectedEnd);
        fails(b"{\"a\":", 5, UnexpectedEnd);
        fails(b"{\"a\":1", 6, UnexpectedEnd);
        fails(b"{\"a\":1,", 7, UnexpectedEnd);
    }

    #[test]
    fn valid_numbers_match_serde_json() {
        for text in [
            "0",
            "-0",
            "1",
            "-1",
            "1.5",
            "-0.25",
            "1e-7",
            "6.02e23",
            "1E5",
            "2e+3",
            "0.0",
            "-0.0e-0",
            "10",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e400",
            "123.456e-789",
        ] {
            assert_eq!(ok(text), serde(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn numbers_keep_their_digits_written_as_the_original_writes_them() {
        let hundred_zeros = "0".repeat(400);
        for (text, written) in [
            ("12345678901234567890123", "12345678901234567890123"),
            ("-98765432109876543210987654321", "-98765432109876543210987654321"),
            ("3.14159265358979323846264338327950288", "3.14159265358979323846264338327950288"),
            ("0.1", "0.1"),
            ("-0", "0"),
            ("1.0", "1.0"),
            ("1e+400", &format!("1{hundred_zeros}")),
            ("-1.25e-10", "-1.25e-10"),
            ("1E5", "100000"),
            ("1.50E-3", "1.5e-3"),
        ] {
            let value = ok(text);
            assert_eq!(serde_json::to_string(&value).unwrap(), written);
            let wrapped = format!("{{\"n\":[{text}]}}");
            assert_eq!(
                serde_json::to_string(&ok(&wrapped)).unwrap(),
                format!("{{\"n\":[{written}]}}")
            );
        }
    }

    #[test]
    fn rejects_numbers_outside_the_grammar() {
        use JsonErrorKind::*;
        fails(b"01", 1, InvalidNumber);
        fails(b"-01", 2, InvalidNumber);
        fails(b"00", 1, InvalidNumber);
        fails(b"1.", 2, InvalidNumber);
        fails(b"[1.]", 3, InvalidNumber);
        fails(b"1.e5", 2, InvalidNumber);
        fails(b"1e", 2, InvalidNumber);
        fails(b"1e+", 3, InvalidNumber);
        fails(b"1E-x", 3, InvalidNumber);
        fails(b"-", 1, InvalidNumber);
        fails(b"-a", 1, InvalidNumber);
        fails(b"--1", 1, InvalidNumber);
        fails(b".5", 0, UnexpectedByte(b'.'));
        fails(b"+1", 0, UnexpectedByte(b'+'));
        fails(b"1.5.3", 3, TrailingCharacters);
        fails(b"[1x]", 2, UnexpectedByte(b'x'));
        fails(b"0x10", 1, TrailingCharacters);
    }

    #[test]
    fn string_escapes() {
        assert_eq!(ok(r#""\"\\\/\b\f\n\r\t""#), json!("\"\\/\u{8}\u{c}\n\r\t"));
        assert_eq!(ok(r#""\u0041\u00e9\u20AC\u0000""#), json!("Aé€\u{0}"));
        assert_eq!(ok(r#""\ud83d\ude00""#), json!("😀"));
        assert_eq!(ok(r#""\uD800\uDC00""#), json!("\u{10000}"));
        assert_eq!(ok(r#""\udbff\udfff""#), json!("\u{10ffff}"));
        assert_eq!(ok(r#""a\nb😀c\u00e9d""#), json!("a\nb😀céd"));
        assert_eq!(ok("\"\u{7f} é😀\""), json!("\u{7f} é😀"));
    }

    #[test]
    fn rejects_bad_escapes() {
        use JsonErrorKind::*;
        fails(br#""\x""#, 1, InvalidEscape);
        fails(br#""ab\q""#, 3, InvalidEscape);
        fails(br#""\'""#, 1, InvalidEscape);
        fails(br#""\U0041""#, 1, InvalidEscape);
        fails(br#""\u12G4""#, 1, InvalidEscape);
        fails(br#""\u12""#, 1, InvalidEscape);
        fails(br#""\ud83d\u12G4""#, 7, InvalidEscape);
        fails(br#""\"#, 2, UnexpectedEnd);
        fails(br#""\u12"#, 5, UnexpectedEnd);
        fails(br#""\ud83d"#, 7, UnexpectedEnd);
        fails(br#""\ud83d\"#, 8, UnexpectedEnd);
        fails(br#""\ud83d\ude0"#, 12, UnexpectedEnd);
    }

    #[test]
    fn rejects_lone_surrogates() {
        use JsonErrorKind::LoneSurrogate;
        fails(br#""\ud83d""#, 1, LoneSurrogate);
        fails(br#""\ude00""#, 1, LoneSurrogate);
        fails(br#""x\ud83d\u0041""#, 2, LoneSurrogate);
        fails(br#""\ud83d\ud83d\ude00""#, 1, LoneSurrogate);
        fails(br#""\ud83dx""#, 1, LoneSurrogate);
        fails(br#""\ud83d\n""#, 1, LoneSurrogate);
        fails(br#""\ude00\ud83d""#, 1, LoneSurrogate);
    }

    #[test]
    fn rejects_raw_control_characters_in_strings() {
        use JsonErrorKind::ControlInString;
        fails(b"\"a\nb\"", 2, ControlInString);
        fails(b"\"\x00\"", 1, ControlInString);
        fails(b"\"\x1f\"", 1, ControlInString);
        fails(b"\"\t\"", 1, ControlInString);
        fails(b"\"\\n\x01\"", 3, ControlInString);
        fails(b"{\"a\tb\":1}", 3, ControlInString);
    }

    #[test]
    fn rejects_invalid_utf8_in_strings() {
        use JsonErrorKind::InvalidUtf8;
        fails(b"\"\xff\"", 1, InvalidUtf8);
        fails(b"\"ab\xc3\"", 3, InvalidUtf8);
        fails(b"\"\xe2\x82\"", 1, InvalidUtf8);
        fails(b"\"\xed\xa0\x80\"", 1, InvalidUtf8);
        fails(b"\"\xc0\xaf\"", 1, InvalidUtf8);
        fails(b"\"\xf4\x90\x80\x80\"", 1, InvalidUtf8);
        fails(b"\"\\n\xff\"", 3, InvalidUtf8);
        fails("\"é\u{0}".as_bytes(), 3, JsonErrorKind::ControlInString);
        fails(b"\"\xc3\xa9\xff\"", 3, InvalidUtf8);
        fails(b"{\"\xff\":1}", 2, InvalidUtf8);
        fails(b"\"ab\xc3", 3, InvalidUtf8);
    }

    #[test]
    fn unterminated_strings() {
        fails(b"\"abc", 4, JsonErrorKind::UnexpectedEnd);
        fails(b"\"abc\\n", 6, JsonErrorKind::UnexpectedEnd);
        fails(b"[\"", 2, JsonErrorKind::UnexpectedEnd);
    }

    /// The string scanner tests eight bytes at a time; put every kind of interesting byte at
    /// every alignment around a word boundary.
    #[test]
    fn string_scanning_is_exact_at_every_alignment() {
        for before in 0..20 {
            let prefix = "a".repeat(before);
            for after in 0..12 {
                let suffix = "é".repeat(after);
                for special in [r"\n", r#"\""#, r"\\", r"\u00e9", "é", "😀", "\u{7f}", " ", "~"]
                {
                    let text = format!("\"{prefix}{special}{suffix}\"");
                    assert_eq!(ok(&text), serde(text.as_bytes()), "{text}");
                }
                let control = format!("\"{prefix}\u{1f}{suffix}\"");
                fails(control.as_bytes(), before + 1, JsonErrorKind::ControlInString);
                let mut broken = format!("\"{prefix}").into_bytes();
                broken.push(0xff);
                broken.extend_from_slice(format!("{suffix}\"").as_bytes());
                fails(&broken, before + 1, JsonErrorKind::InvalidUtf8);
                let unterminated = format!("\"{prefix}{suffix}");
                fails(unterminated.as_bytes(), unterminated.len(), JsonErrorKind::UnexpectedEnd);
            }
        }
    }

    #[test]
    fn first_duplicate_key_wins() {
        assert_eq!(ok(r#"{"a":1,"a":2}"#), json!({"a": 1}));
        assert_eq!(ok(r#"{"a":1,"b":2,"a":3}"#), json!({"a": 1, "b": 2}));
        assert_eq!(
            ok(r#"{"a":{"x":1,"x":[]},"a":[1,2],"b":{"a":0,"a":{"deep":true}}}"#),
            json!({"a": {"x": 1}, "b": {"a": 0}})
        );
        // Keys are compared after unescaping.
        assert_eq!(ok(r#"{"é":1,"\u00e9":2}"#), json!({"é": 1}));
    }

    #[test]
    fn duplicate_values_are_still_validated() {
        use JsonErrorKind::*;
        fails(br#"{"a":1,"a":[1,]}"#, 14, UnexpectedByte(b']'));
        fails(b"{\"a\":1,\"a\":\"\xff\"}", 12, InvalidUtf8);
        fails(br#"{"a":1,"a":01}"#, 12, InvalidNumber);
        assert_eq!(
            parse(br#"{"a":1,"a":[[[]]]}"#, 3),
            Err(JsonError { offset: 13, kind: TooDeep { limit: 3 } })
        );
    }

    #[test]
    fn object_keys_come_out_sorted() {
        let value = ok(r#"{"b":1,"c":2,"a":3}"#);
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"a":3,"b":1,"c":2}"#);
    }

    #[test]
    fn depth_of_values() {
        for (text, expected) in [
            ("1", 1),
            ("\"s\"", 1),
            ("[]", 1),
            ("{}", 1),
            ("[1]", 2),
            ("[[]]", 2),
            ("{\"a\":{}}", 2),
            ("[[1]]", 3),
            ("[[[]]]", 3),
            ("{\"a\":{\"b\":1}}", 3),
            ("[[[1]],2]", 4),
            ("[2,[[1]]]", 4),
            ("[{\"a\":[{}]}]", 4),
            ("{\"a\":[1,[2,[true]]],\"b\":0}", 5),
        ] {
            assert_eq!(depth(&ok(text)), expected, "{text}");
        }
    }

    #[test]
    fn depth_limit_boundaries() {
        for (text, expected_depth, offset_over_limit) in [
            ("1", 1, 0),
            ("[]", 1, 0),
            ("{}", 1, 0),
            ("[[1]]", 3, 2),
            ("[[[]]]", 3, 2),
            ("[ [ [ ] ] ]", 3, 4),
            ("{\"a\":{\"b\":1}}", 3, 10),
            ("{\"a\":{\"b\":{}}}", 3, 10),
            ("[{\"a\":[{}]}]", 4, 7),
            ("[0,{\"a\":[1,{\"b\":null}]}]", 5, 16),
            ("[[[1]],2]", 4, 3),
        ] {
            let input = text.as_bytes();
            let value = parse(input, expected_depth).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(depth(&value), expected_depth, "{text}");
            assert!(parse(input, expected_depth + 1).is_ok());
            let limit = expected_depth - 1;
            assert_eq!(
                parse(input, limit),
                Err(JsonError {
                    offset: offset_over_limit,
                    kind: JsonErrorKind::TooDeep { limit }
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn nested_arrays_and_objects_at_and_over_the_limit() {
        for levels in 1..40 {
            let arrays = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
            let objects = format!("{}1{}", "{\"k\":".repeat(levels), "}".repeat(levels));
            let mixed = format!("{}1{}", "[{\"k\":".repeat(levels), "}]".repeat(levels));
            for (text, value_depth) in
                [(arrays, levels + 1), (objects, levels + 1), (mixed, 2 * levels + 1)]
            {
                let parsed = parse(text.as_bytes(), value_depth).expect("at the limit");
                assert_eq!(depth(&parsed), value_depth);
                let error = parse(text.as_bytes(), value_depth - 1).expect_err("over the limit");
                assert_eq!(error.kind, JsonErrorKind::TooDeep { limit: value_depth - 1 });
            }
        }
    }

    #[test]
    fn zero_depth_rejects_everything() {
        let too_deep = JsonErrorKind::TooDeep { limit: 0 };
        for text in ["1", "null", "\"\"", "[]", "{}", "[1]", " 1"] {
            let error = parse(text.as_bytes(), 0).expect_err(text);
            assert_eq!(error.kind, too_deep, "{text}");
        }
        assert_eq!(parse(b"", 0).map_err(|e| e.kind), Err(JsonErrorKind::Empty));
    }

    #[test]
    fn hundred_thousand_unclosed_brackets() {
        with_big_stack(|| {
            let input = "[".repeat(100_000);
            assert_eq!(
                parse(input.as_bytes(), LIMIT),
                Err(JsonError { offset: LIMIT, kind: JsonErrorKind::TooDeep { limit: LIMIT } })
            );
            assert_eq!(
                parse(input.as_bytes(), usize::MAX),
                Err(JsonError { offset: 100_000, kind: JsonErrorKind::UnexpectedEnd })
            );
            let objects = "{\"a\":".repeat(100_000);
            assert_eq!(
                parse(objects.as_bytes(), LIMIT),
                Err(JsonError { offset: 5 * LIMIT, kind: JsonErrorKind::TooDeep { limit: LIMIT } })
            );
            assert_eq!(
                parse(objects.as_bytes(), usize::MAX).map_err(|e| e.kind),
                Err(JsonErrorKind::UnexpectedEnd)
            );
        });
    }

    #[test]
    fn hundred_thousand_levels_parse_without_recursion() {
        with_big_stack(|| {
            let levels = 100_000;
            let input = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
            assert_eq!(
                parse(input.as_bytes(), LIMIT).map_err(|e| e.kind),
                Err(JsonErrorKind::TooDeep { limit: LIMIT })
            );
            let value = parse(input.as_bytes(), usize::MAX).expect("no limit");
            assert_eq!(depth(&value), levels + 1);
            // Drop happens here, inside the big stack.
        });
    }

    #[test]
    fn depth_of_very_deep_values_is_iterative() {
        with_big_stack(|| {
            let mut value = json!([]);
            for level in 0..100_000 {
                value = if level % 2 == 0 {
                    Value::Array(vec![json!(1), value, json!([])])
                } else {
                    let mut map = Map::new();
                    map.insert("x".to_owned(), value);
                    map.insert("y".to_owned(), json!({}));
                    Value::Object(map)
                };
            }
            assert_eq!(depth(&value), 100_001);
        });
    }

    #[test]
    fn ordinary_documents_match_serde_json() {
        for text in [
            "[]",
            "{}",
            "0",
            "-0",
            "\"\"",
            "  [ 1 , 2 ]  ",
            r#"{"name":"Zoë","emoji":"😀","cjk":"日本語","rtl":"שלום"}"#,
            r#"{"escapes":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u0000\u001F"}"#,
            r#"[0,-0,1.5,-0.25,1e-7,6.02e23,1E5,2e+3,12345678901234567890123,-98765432109876543210987654321]"#,
            r#"{"nested":{"a":[true,false,null,{}],"b":[],"c":{"d":{"e":[[["x"]]]}}},"z":null}"#,
            "{\n  \"pretty\": [\n    1,\n    {\"x\": \"y\"}\n  ],\n  \"k\": \"v\"\n}\n",
            r#"{"":"empty key","a b":"space","\u0000":"nul key"}"#,
        ] {
            let ours = ok(text);
            let reference = serde(text.as_bytes());
            assert_eq!(ours, reference, "{text}");
            assert_eq!(
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&reference).unwrap()
            );
        }
    }

    #[test]
    fn error_messages() {
        let message = |input: &[u8]| parse(input, LIMIT).unwrap_err().to_string();
        assert_eq!(message(b""), "empty body");
        assert_eq!(message(b"  "), "empty body");
        assert_eq!(message(b"[1, 2"), "invalid JSON: unexpected end of input at byte 5");
        assert_eq!(message(b"[1x]"), "invalid JSON: unexpected character 'x' at byte 2");
        assert_eq!(message(b"\x0c"), "invalid JSON: unexpected byte 0x0c at byte 0");
        assert_eq!(message(b"\"ab\xff\""), "invalid UTF-8 in JSON text at byte 3");
        assert_eq!(message(b"01"), "invalid JSON: invalid number at byte 1");
        assert_eq!(message(br#""\x""#), "invalid JSON: invalid escape in string at byte 1");
        assert_eq!(message(b"\"\n\""), "invalid JSON: control character in string at byte 1");
        assert_eq!(message(br#""\ud800""#), "invalid JSON: unpaired surrogate escape at byte 1");
        assert_eq!(message(b"1 2"), "invalid JSON: trailing characters at byte 2");
        assert_eq!(
            parse(&[b'['; 600], LIMIT).unwrap_err().to_string(),
            "JSON nesting deeper than 512 levels"
        );
        let error: Box<dyn std::error::Error> = Box::new(parse(b"", 1).unwrap_err());
        assert_eq!(error.to_string(), "empty body");
    }

    use crate::test_support::XorShift;

    fn random_string(rng: &mut XorShift) -> String {
        const CHARS: &[char] = &[
            'a',
            'b',
            'z',
            'K',
            '0',
            ' ',
            '"',
            '\\',
            '/',
            '\n',
            '\t',
            '\u{0}',
            '\u{1f}',
            '\u{7f}',
            'é',
            'ß',
            '€',
            '日',
            '😀',
            '\u{fffd}',
            '\u{10ffff}',
            '\u{2028}',
        ];
        let length = if rng.one_in(20) { 40 + rng.below(200) } else { rng.below(12) };
        (0..length).map(|_| rng.pick(CHARS)).collect()
    }

    fn random_number(rng: &mut XorShift) -> Number {
        let mut text = String::new();
        if rng.one_in(2) {
            text.push('-');
        }
        let digits = |rng: &mut XorShift, text: &mut String, count: usize| {
            for _ in 0..count {
                text.push(char::from(b'0' + rng.below(10) as u8));
            }
        };
        if rng.one_in(4) {
            text.push('0');
        } else {
            text.push(char::from(b'1' + rng.below(9) as u8));
            let count = if rng.one_in(5) { rng.below(30) } else { rng.below(6) };
            digits(rng, &mut text, count);
        }
        if rng.one_in(3) {
            text.push('.');
            let count = 1 + rng.below(12);
            digits(rng, &mut text, count);
        }
        if rng.one_in(4) {
            text.push(rng.pick(&['e', 'E']));
            if let Some(sign) = rng.pick(&[None, Some('+'), Some('-')]) {
                text.push(sign);
            }
            let count = 1 + rng.below(3);
            digits(rng, &mut text, count);
        }
        text.parse().expect("generated numbers follow the grammar")
    }

    fn random_scalar(rng: &mut XorShift) -> Value {
        match rng.below(6) {
            0 => Value::Null,
            1 => Value::Bool(rng.one_in(2)),
            2 | 3 => Value::Number(random_number(rng)),
            _ => Value::String(random_string(rng)),
        }
    }

    /// Builds a document bottom-up from a pool of finished values, so that generating nested
    /// documents needs no recursion either.
    fn random_document(rng: &mut XorShift) -> Value {
        let mut pool: Vec<Value> = (0..1 + rng.below(8)).map(|_| random_scalar(rng)).collect();
        for _ in 0..rng.below(24) {
            let take = rng.below(pool.len().min(5) + 1);
            let children: Vec<Value> = (0..take)
                .map(|_| {
                    let index = rng.below(pool.len());
                    pool.swap_remove(index)
                })
                .collect();
            let container = if rng.one_in(2) {
                Value::Array(children)
            } else {
                Value::Object(
                    children.into_iter().map(|child| (random_string(rng), child)).collect(),
                )
            };
            pool.push(container);
            if rng.one_in(3) {
                pool.push(random_scalar(rng));
            }
        }
        if pool.len() == 1 || rng.one_in(2) { pool.swap_remove(0) } else { Value::Array(pool) }
    }

    #[test]
    fn random_documents_round_trip() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..500 {
            let document = random_document(&mut rng);
            for text in [
                serde_json::to_vec(&document).unwrap(),
                serde_json::to_vec_pretty(&document).unwrap(),
            ] {
                let parsed = parse(&text, LIMIT)
                    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&text)));
                assert_eq!(parsed, canonical_numbers(document.clone()));
                assert_eq!(parsed, serde(&text));
                assert_eq!(depth(&parsed), depth(&document));
            }
        }
    }

    /// Corrupts valid documents and checks that the parser accepts exactly what serde_json
    /// accepts (duplicate keys only change which value is kept, never validity), without ever
    /// panicking or reporting an offset beyond the input.
    #[test]
    fn corrupted_documents_agree_with_serde_json_on_validity() {
        const BYTES: &[u8] = b"\"\\,:[]{}0-.eE+ u\x00\x1f\xff\xc3\xa9\xed";
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..3000 {
            let mut text = serde_json::to_vec(&random_document(&mut rng)).unwrap();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(text.len() + 1);
                match rng.below(4) {
                    0 if at < text.len() => text[at] = rng.pick(BYTES),
                    1 if at < text.len() => {
                        text.remove(at);
                    }
                    2 => text.insert(at, rng.pick(BYTES)),
                    _ => text.truncate(at),
                }
            }
            let ours = parse(&text, LIMIT);
            let reference = serde_json::from_slice::<Value>(&text);
            assert_eq!(
                ours.is_ok(),
                reference.is_ok(),
                "{:?}: ours {ours:?}, serde_json {reference:?}",
                String::from_utf8_lossy(&text)
            );
            if let Err(error) = ours {
                assert!(error.offset <= text.len());
                assert!(!error.to_string().is_empty());
            }
        }
    }

    #[test]
    fn parses_a_multi_megabyte_document() {
        let mut text = String::from("{\"items\":[");
        let mut index = 0;
        while text.len() < 5 << 20 {
            if index > 0 {
                text.push(',');
            }
            text.push_str(&format!(
                r#"{{"id":{index},"name":"item {index} \"quoted\" é😀","tags":["a","b\n"],"#
            ));
            text.push_str(r#""score":-1.5e3,"big":123456789012345678901234567890,"#);
            text.push_str(r#""ok":true,"none":null,"nested":{"x":[1,2,3],"y":{}}}"#);
            index += 1;
        }
        text.push_str("]}");
        let value = ok(&text);
        assert_eq!(depth(&value), 6);
        assert_eq!(value["items"].as_array().map(Vec::len), Some(index));
        assert_eq!(value, serde(text.as_bytes()));
    }

    /// Compares against serde_json on the real 20 MB data set when it is available:
    /// `cargo test -- --ignored`.
    #[test]
    #[ignore = "needs /work/shared/data and gunzip"]
    fn real_world_document_matches_serde_json() {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/mdn-browser-compat-data.json.gz");
        if !std::path::Path::new(path).exists() {
            eprintln!("skipped: {path} not found");
            return;
        }
        let output =
            std::process::Command::new("gunzip").arg("-c").arg(path).output().expect("run gunzip");
        assert!(output.status.success());
        let value = parse(&output.stdout, LIMIT).expect("parses");
        assert_eq!(value, serde(&output.stdout));
    }
}
