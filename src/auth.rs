//! JWT authentication and authorisation (spec §7): HS256 tokens carrying an `icepeak` claim
//! that whitelists path prefixes for reading and writing.
//!
//! Everything here is pure: the caller supplies the token bytes and the current time, so every
//! rule is testable with fixed values and the whole decode path can be fuzzed.
//!
//! Where this differs from the original's JWT library (README "Deliberate differences"):
//!
//! * D10: the header `alg` must be absent or exactly `"HS256"`; `none`, `RS256`, `HS512`, …
//!   make the token undecodable, with or without a secret.
//! * D11: `exp` and `nbf` are read as the numbers they are (`1.7e9` is 1 700 000 000, not 17).
//! * D18: a token has exactly three dot-separated parts; more are not ignored but rejected.
//!
//! As in the original, a `null` header field or registered claim counts as absent, `aud` is
//! only type-checked when it is an array (of strings), and `iat`, `aud`, `iss`, `sub`, `jti`
//! are never checked against anything.
//!
//! Base64url decoding is strict: padding, characters outside the URL-safe alphabet and
//! non-canonical trailing bits (e.g. `AB` instead of `AA` for one zero byte) are all rejected.
//! The original compared the signature *text* with the canonical encoding of the MAC, so it
//! refused non-canonical signatures too; for the header and claims strictness only refuses
//! tokens no encoder produces.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::Key;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::json;

type HmacSha256 = Hmac<Sha256>;

/// Tokens longer than this are refused before any decoding work. Real tokens are a few hundred
/// bytes; the bound keeps a hostile one from costing more than a few microseconds.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A token's claims nest six levels deep at most (claims, `icepeak`, `whitelist`, entry,
/// `prefix`, segment); the limit only has to keep hostile nesting cheap.
const MAX_TOKEN_JSON_DEPTH: usize = 64;

/// The header `icepeak-token-gen` and [`encode_token`] emit, keys sorted like the original's.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What a request wants to do with the document at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

impl Mode {
    /// The mode an HTTP method needs (§7.3 step 7): `None` for every method other than GET,
    /// PUT and DELETE, which no claim can allow.
    #[must_use]
    pub fn for_method(method: &str) -> Option<Mode> {
        match method {
            "GET" => Some(Mode::Read),
            "PUT" | "DELETE" => Some(Mode::Write),
            _ => None,
        }
    }
}

/// One whitelist entry: the modes it grants on every path that starts with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub prefix: Vec<String>,
    pub read: bool,
    pub write: bool,
}

impl Grant {
    fn allows(&self, path: &[String], mode: Mode) -> bool {
        let grants_mode = match mode {
            Mode::Read => self.read,
            Mode::Write => self.write,
        };
        grants_mode && path.starts_with(&self.prefix)
    }
}

/// The parsed `icepeak` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub whitelist: Vec<Grant>,
}

impl Claim {
    /// Whether some grant covers `path` in `mode`. Prefixes compare whole segments, so `["a"]`
    /// covers `/a/b` and `/a/` but not `/ab`; `[]` covers everything, the root included.
    #[must_use]
    pub fn allows(&self, path: &[String], mode: Mode) -> bool {
        self.whitelist.iter().any(|grant| grant.allows(path, mode))
    }

    /// The claim as the original's token generator writes it:
    /// `{"version":1,"whitelist":[{"modes":["read","write"],"prefix":[...]}]}` (keys sorted,
    /// `read` before `write`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let whitelist = self
            .whitelist
            .iter()
            .map(|grant| {
                let modes: Vec<&str> = [(grant.read, "read"), (grant.write, "write")]
                    .into_iter()
                    .filter_map(|(granted, name)| granted.then_some(name))
                    .collect();
                serde_json::json!({ "modes": modes, "prefix": grant.prefix })
            })
            .collect::<Vec<_>>();
        serde_json::json!({ "version": 1, "whitelist": whitelist })
    }
}

/// Why a request was refused. The variants mirror the original's error type, because both the
/// 401 bodies ([`AuthError::http_body`]) and the multi-subscription 403 messages
/// ([`AuthError::multi_sub_detail`]) are derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Neither a `Bearer` Authorization header nor an `access_token` query parameter.
    TokenNotFound,
    /// Not a well-formed HS256 JWT: parts, base64url, JSON, header or registered claims.
    InvalidToken,
    /// The MAC does not match (only checked when a secret is configured).
    SignatureInvalid,
    /// `now > exp` (only checked when a secret is configured).
    Expired,
    /// `now <= nbf` (only checked when a secret is configured).
    UsedTooEarly,
    /// The `icepeak` claim is missing or malformed; the message is aeson-style.
    Claim(String),
    /// A valid claim that does not grant the mode on the path.
    NotAllowed,
}

impl AuthError {
    /// The body of the 401 answer (§7.4), always `application/json`.
    #[must_use]
    pub fn http_body(&self) -> String {
        match self {
            AuthError::TokenNotFound | AuthError::InvalidToken => {
                r#"{"error":"invalid token format"}"#.to_owned()
            }
            // Deliberately uninformative in the original since 2017, and clients match on it.
            AuthError::SignatureInvalid | AuthError::Expired | AuthError::UsedTooEarly => {
                r#"{"data":null}"#.to_owned()
            }
            AuthError::Claim(message) => serde_json::json!({ "error": message }).to_string(),
            AuthError::NotAllowed => r#"{"error":"not allowed"}"#.to_owned(),
        }
    }

    /// The error as the original's `show` renders it, for the multi-subscription 403 message
    /// `Error while extracting claim from JWT: <detail>` (§6.2.3).
    ///
    /// `NotAllowed` has no counterpart there (the original reports unauthorised paths in
    /// `extra.unauthorisedPaths` instead) and renders as `NotAllowed`.
    #[must_use]
    pub fn multi_sub_detail(&self) -> String {
        let verification = |name: &str| format!("VerificationError {name}");
        match self {
            AuthError::TokenNotFound => verification("TokenNotFound"),
            AuthError::InvalidToken => verification("TokenInvalid"),
            AuthError::SignatureInvalid => verification("TokenSignatureInvalid"),
            AuthError::Expired => verification("TokenExpired"),
            AuthError::UsedTooEarly => verification("TokenUsedTooEarly"),
            AuthError::Claim(message) => format!("ClaimError {}", haskell_show(message)),
            AuthError::NotAllowed => "NotAllowed".to_owned(),
        }
    }
}

/// Checks tokens against one configuration: with a secret tokens are fully verified; without
/// one (the deployment sits behind a verifying proxy, §7.1) they are decoded and their claim
/// enforced, but signature, `exp` and `nbf` are not checked.
#[derive(Clone)]
pub struct Verifier {
    /// Keyed once here; each verification works on a clone.
    mac: Option<HmacSha256>,
}

impl std::fmt::Debug for Verifier {
    // The derived form would print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("verifies_signatures", &self.verifies_signatures())
            .finish()
    }
}

impl Verifier {
    /// `secret` is used as its UTF-8 bytes; `Some("")` is an (empty) secret, not proxy mode.
    #[must_use]
    pub fn new(secret: Option<&str>) -> Self {
        Verifier { mac: secret.map(|secret| keyed_mac(secret.as_bytes())) }
    }

    /// False in proxy mode, where nothing vouches for the token's origin.
    #[must_use]
    pub fn verifies_signatures(&self) -> bool {
        self.mac.is_some()
    }

    /// Decodes and checks a token at time `now` (seconds since the epoch) and returns its
    /// `icepeak` claim. The first failing step (§7.3) decides the error.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidToken`], [`AuthError::SignatureInvalid`], [`AuthError::Expired`],
    /// [`AuthError::UsedTooEarly`] or [`AuthError::Claim`], in that order of checking.
    pub fn verify(&self, token: &[u8], now: f64) -> Result<Claim, AuthError> {
        let token = DecodedToken::decode(token).ok_or(AuthError::InvalidToken)?;
        if let Some(mac) = &self.mac {
            let signature =
                URL_SAFE_NO_PAD.decode(token.signature).map_err(|_| AuthError::SignatureInvalid)?;
            let mut mac = mac.clone();
            mac.update(token.signing_input);
            mac.verify_slice(&signature).map_err(|_| AuthError::SignatureInvalid)?;
            if token.expires.is_some_and(|expires| now > expires) {
                return Err(AuthError::Expired);
            }
            if token.not_before.is_some_and(|not_before| now <= not_before) {
                return Err(AuthError::UsedTooEarly);
            }
        }
        let claim = token
            .claims
            .get("icepeak")
            .ok_or_else(|| AuthError::Claim("Icepeak claim missing.".to_owned()))?;
        parse_icepeak_claim(claim).map_err(AuthError::Claim)
    }
}

/// The token a request carries (§7.2): the first Authorization header if it starts with
/// exactly `Bearer ` (a non-Bearer header is ignored), else `access_token`, which the caller
/// takes from the first `access_token` query parameter that has a value.
#[must_use]
pub fn find_token<'a>(
    authorization: Option<&'a [u8]>,
    access_token: Option<&'a str>,
) -> Option<&'a [u8]> {
    authorization
        .and_then(|value| value.strip_prefix(b"Bearer "))
        .or(access_token.map(str::as_bytes))
}

/// The whole check for an HTTP request or a single-subscription upgrade: a token must be
/// present and valid, and its claim must grant `mode` on `path`. `mode` is `None` for methods
/// no claim can allow; those still need a valid token, so that a bad token is reported as such.
///
/// # Errors
///
/// The [`AuthError`] to answer with, via [`AuthError::http_body`].
pub fn authorize(
    verifier: &Verifier,
    token: Option<&[u8]>,
    path: &[String],
    mode: Option<Mode>,
    now: f64,
) -> Result<(), AuthError> {
    let claim = verifier.verify(token.ok_or(AuthError::TokenNotFound)?, now)?;
    match mode {
        Some(mode) if claim.allows(path, mode) => Ok(()),
        _ => Err(AuthError::NotAllowed),
    }
}

/// Seconds since the epoch as [`Verifier::verify`] expects them (negative before 1970).
#[must_use]
pub fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// An HS256 token with the header `{"alg":"HS256","typ":"JWT"}` around `claims_json`, used
/// verbatim. Without a secret the signature part is empty (`header.claims.`), which only a
/// server without a secret accepts, as with the original's generator.
#[must_use]
pub fn encode_token(claims_json: &str, secret: Option<&[u8]>) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(HEADER_JSON);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims_json, &mut token);
    let signature = secret.map(|secret| {
        let mut mac = keyed_mac(secret);
        mac.update(token.as_bytes());
        mac.finalize().into_bytes()
    });
    token.push('.');
    if let Some(signature) = signature {
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    }
    token
}

/// HMAC-SHA256 keyed with `secret`.
///
/// `new_from_slice` cannot fail for HMAC but still returns a `Result`; preparing the key the
/// way RFC 2104 does (hash a key longer than one block, zero-pad to the block size) lets the
/// infallible block-sized constructor take it, with an identical MAC (the tests pin this
/// against Python's `hmac` for keys of 0, 64, 65 and 100 bytes).
fn keyed_mac(secret: &[u8]) -> HmacSha256 {
    let mut block = Key::<HmacSha256>::default();
    if secret.len() > block.len() {
        let digest = Sha256::digest(secret);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..secret.len()].copy_from_slice(secret);
    }
    HmacSha256::new(&block)
}

/// A token after step 1 of §7.3: well-formed, with its registered claims type-checked.
struct DecodedToken<'a> {
    /// `header.claims` exactly as received: the MAC covers these bytes, not a re-encoding.
    signing_input: &'a [u8],
    signature: &'a [u8],
    expires: Option<f64>,
    not_before: Option<f64>,
    claims: Map<String, Value>,
}

impl<'a> DecodedToken<'a> {
    fn decode(token: &'a [u8]) -> Option<Self> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let mut parts = token.split(|&byte| byte == b'.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let signing_input = &token[..header.len() + 1 + claims.len()];

        let header = decode_json_object(header)?;
        let alg_ok = optional(&header, "alg").is_none_or(|alg| alg == "HS256");
        if !alg_ok || !["typ", "cty", "kid"].iter().all(|&key| is_string(&header, key)) {
            return None;
        }

        let claims = decode_json_object(claims)?;
        if !["iss", "sub", "jti"].iter().all(|&key| is_string(&claims, key))
            || !audience_is_valid(&claims)
        {
            return None;
        }
        let expires = numeric_date(&claims, "exp")?;
        let not_before = numeric_date(&claims, "nbf")?;
        numeric_date(&claims, "iat")?;

        Some(DecodedToken { signing_input, signature, expires, not_before, claims })
    }
}

fn decode_json_object(part: &[u8]) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match json::parse(&bytes, MAX_TOKEN_JSON_DEPTH).ok()? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// An optional JWT field: `null` counts as absent, as in the original's JSON decoding.
fn optional<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// Absent or a string.
fn is_string(object: &Map<String, Value>, key: &str) -> bool {
    optional(object, key).is_none_or(Value::is_string)
}

/// The original reads `aud` leniently: an array must hold only strings, but a value of any
/// other type is ignored rather than rejected. `aud` is never checked against anything.
fn audience_is_valid(claims: &Map<String, Value>) -> bool {
    match claims.get("aud") {
        Some(Value::Array(audiences)) => audiences.iter().all(Value::is_string),
        _ => true,
    }
}

/// `Some(None)` when absent, `Some(Some(seconds))` for a number, `None` (undecodable) for
/// anything else. Numbers beyond `f64` become ±infinity: an `exp` too large never expires and
/// an `nbf` too large is never reached.
fn numeric_date(claims: &Map<String, Value>, key: &str) -> Option<Option<f64>> {
    match optional(claims, key) {
        None => Some(None),
        Some(Value::Number(number)) => number.as_str().parse::<f64>().ok().map(Some),
        Some(_) => None,
    }
}

/// Parses the value of the `icepeak` claim (§7.3 step 6):
/// `{"version": 1, "whitelist": [{"prefix": [<string>...], "modes": ["read"|"write"...]}...]}`.
/// Extra fields are ignored.
///
/// # Errors
///
/// An aeson-style message naming where the value went wrong, e.g.
/// `Error in $: key "whitelist" not found` or
/// `Error in $.whitelist[0].modes[0]: Invalid mode value.`.
pub fn parse_icepeak_claim(value: &Value) -> Result<Claim, String> {
    let claim = expect_object(value, "$", "icepeak claim")?;
    let version = required(claim, "$", "version")?;
    match version {
        Value::Number(number) if is_exactly_one(number.as_str()) => {}
        Value::Number(_) => return Err("Error in $: unsupported version".to_owned()),
        other => return Err(type_error("$.version", "Int", "Number", other)),
    }
    let entries = expect_array(required(claim, "$", "whitelist")?, "$.whitelist")?;
    let whitelist = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_grant(entry, &format!("$.whitelist[{index}]")))
        .collect::<Result<_, _>>()?;
    Ok(Claim { whitelist })
}

fn parse_grant(value: &Value, at: &str) -> Result<Grant, String> {
    let entry = expect_object(value, at, "path and modes")?;

    let prefix_at = format!("{at}.prefix");
    let prefix = expect_array(required(entry, at, "prefix")?, &prefix_at)?
        .iter()
        .enumerate()
        .map(|(index, segment)| match segment {
            Value::String(segment) => Ok(segment.clone()),
            other => Err(type_error(&format!("{prefix_at}[{index}]"), "Text", "String", other)),
        })
        .collect::<Result<_, _>>()?;

    let modes_at = format!("{at}.modes");
    let mut grant = Grant { prefix, read: false, write: false };
    for (index, mode) in expect_array(required(entry, at, "modes")?, &modes_at)?.iter().enumerate()
    {
        let mode_at = format!("{modes_at}[{index}]");
        match mode {
            Value::String(mode) if mode == "read" => grant.read = true,
            Value::String(mode) if mode == "write" => grant.write = true,
            Value::String(_) => return Err(format!("Error in {mode_at}: Invalid mode value.")),
            other => return Err(type_error(&mode_at, "mode string", "String", other)),
        }
    }
    Ok(grant)
}

fn required<'v>(object: &'v Map<String, Value>, at: &str, key: &str) -> Result<&'v Value, String> {
    object.get(key).ok_or_else(|| format!("Error in {at}: key \"{key}\" not found"))
}

fn expect_object<'v>(
    value: &'v Value,
    at: &str,
    what: &str,
) -> Result<&'v Map<String, Value>, String> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(type_error(at, what, "Object", other)),
    }
}

fn expect_array<'v>(value: &'v Value, at: &str) -> Result<&'v [Value], String> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(type_error(at, "[]", "Array", other)),
    }
}

fn type_error(at: &str, what: &str, expected: &str, found: &Value) -> String {
    let found = crate::json::type_name(found);
    format!("Error in {at}: parsing {what} failed, expected {expected}, but encountered {found}")
}

/// Whether a JSON number text denotes exactly 1 (`1`, `1.0`, `10e-1`, `0.1E+1`). Decided on
/// the digits rather than through `f64`, which would round `1.0000000000000000001` to 1 where
/// the original refuses it as not an integer.
fn is_exactly_one(number: &str) -> bool {
    if number.starts_with('-') {
        return false;
    }
    let (mantissa, exponent) = match number.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent),
        None => (number, "0"),
    };
    // Beyond i64 the exponent cannot be cancelled by the at most 16 KiB of digits a token has.
    let Ok(exponent) = exponent.parse::<i64>() else {
        return false;
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{integer}{fraction}");
    let significant = digits.trim_start_matches('0');
    let unit = significant.trim_end_matches('0');
    if unit != "1" {
        return false;
    }
    let dropped_zeros = significant.len() - unit.len();
    i128::from(exponent) - fraction.len() as i128 + dropped_zeros as i128 == 0
}

/// Haskell's `show` for a string, which is how the original prints a `ClaimError` message:
/// quotes, backslash escapes, and decimal escapes for anything outside printable ASCII.
fn haskell_show(text: &str) -> String {
    let mut shown = String::with_capacity(text.len() + 2);
    shown.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => shown.push_str("\\\""),
            '\\' => shown.push_str("\\\\"),
            '\n' => shown.push_str("\\n"),
            '\t' => shown.push_str("\\t"),
            '\r' => shown.push_str("\\r"),
            ' '..='~' => shown.push(c),
            _ => {
                let _ = write!(shown, "\\{}", u32::from(c));
                // `\&` ends a numeric escape that a digit would otherwise extend.
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    shown.push_str("\\&");
                }
            }
        }
    }
    shown.push('"');
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The original's integration-test token (§7.5): secret `foo`, whitelist `foo`:read and
    /// `bar/baz`:read+write, no `exp`.
    const FIXED_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpY2VwZWFrIjp7IndoaXRlbGlzdCI6W3sicHJlZml4IjpbImZvbyJdLCJtb2RlcyI6WyJyZWFkIl19LHsicHJlZml4IjpbImJhciIsImJheiJdLCJtb2RlcyI6WyJyZWFkIiwid3JpdGUiXX1dLCJ2ZXJzaW9uIjoxfX0.KeOHokJZuN-sPmIIGSDgRQFBtT4x-hoGgTtxhm2R5P8";
    const FIXED_CLAIMS: &str = r#"{"icepeak":{"whitelist":[{"prefix":["foo"],"modes":["read"]},{"prefix":["bar","baz"],"modes":["read","write"]}],"version":1}}"#;
    const ALL: &str = r#"{"version":1,"whitelist":[{"prefix":[],"modes":["read","write"]}]}"#;
    /// An arbitrary but realistic "now" (2023-11-14).
    const NOW: f64 = 1_700_000_000.0;

    fn path(text: &str) -> Vec<String> {
        text.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    fn segments(list: &[&str]) -> Vec<String> {
        list.iter().map(|&s| s.to_owned()).collect()
    }

    fn foo() -> Verifier {
        Verifier::new(Some("foo"))
    }

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    /// A token with a hand-written header, signed with `foo` like a correct issuer would.
    fn with_header(header: &str, claims: &str) -> String {
        let unsigned = format!("{}.{}", b64(header), b64(claims));
        let mut mac = keyed_mac(b"foo");
        mac.update(unsigned.as_bytes());
        format!("{unsigned}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn signed(claims: &str) -> String {
        encode_token(claims, Some(b"foo"))
    }

    fn verify_foo(token: &str) -> Result<Claim, AuthError> {
        foo().verify(token.as_bytes(), NOW)
    }

    fn everything() -> Claim {
        Claim { whitelist: vec![Grant { prefix: vec![], read: true, write: true }] }
    }

    fn claims_with(extra: &str) -> String {
        format!(r#"{{{extra}"icepeak":{ALL}}}"#)
    }

    #[test]
    fn fixed_token_verifies_and_yields_its_whitelist() {
        let claim = verify_foo(FIXED_TOKEN).unwrap();
        assert_eq!(
            claim.whitelist,
            vec![
                Grant { prefix: segments(&["foo"]), read: true, write: false },
                Grant { prefix: segments(&["bar", "baz"]), read: true, write: true },
            ]
        );
    }

    #[test]
    fn encode_token_reproduces_the_fixed_token() {
        assert_eq!(encode_token(FIXED_CLAIMS, Some(b"foo")), FIXED_TOKEN);
    }

    /// Vectors from Python's `hmac`, around the 64-byte block size where HMAC starts hashing
    /// the key, plus the empty key.
    #[test]
    fn signatures_match_python_for_every_key_length() {
        let claims =
            r#"{"icepeak":{"version":1,"whitelist":[{"modes":["read","write"],"prefix":[]}]}}"#;
        let cases: [(Vec<u8>, &str); 4] = [
            (b"".to_vec(), "YdCNd5IG0PBwTZa8z8gVKU0vylzBG9H-PYCV5FEx3TI"),
            (vec![b'k'; 64], "5z7pP7PlmusBSWuxRbFymRvlVSV_vghatt6q6-ho1Kc"),
            (vec![b'k'; 65], "0z169OCl6oskGD0y5zD0T5I3eRealL_qcvUU-ZQepjA"),
            (vec![b'k'; 100], "AJBCi9AjjRyq-zr4NU7A-TqpCSpq35ftJySQN5fNLIs"),
        ];
        for (key, signature) in cases {
            let token = encode_token(claims, Some(&key));
            assert_eq!(token.rsplit('.').next(), Some(signature), "key length {}", key.len());
            let secret = String::from_utf8(key).unwrap();
            let verified = Verifier::new(Some(&secret)).verify(token.as_bytes(), NOW);
            assert_eq!(verified, Ok(everything()));
        }
    }

    #[test]
    fn wrong_secret_or_tampering_is_a_bad_signature() {
        let other = Verifier::new(Some("bar"));
        assert_eq!(other.verify(FIXED_TOKEN.as_bytes(), NOW), Err(AuthError::SignatureInvalid));
        let empty = Verifier::new(Some(""));
        assert_eq!(empty.verify(FIXED_TOKEN.as_bytes(), NOW), Err(AuthError::SignatureInvalid));

        // The fixed token's header and signature around claims that grant everything.
        let [header, _, signature] = FIXED_TOKEN.split('.').collect::<Vec<_>>()[..] else {
            panic!("the fixed token has three parts");
        };
        let forged = format!("{header}.{}.{signature}", b64(&claims_with("")));
        assert_eq!(verify_foo(&forged), Err(AuthError::SignatureInvalid));
    }

    #[test]
    fn signature_part_must_be_the_canonical_encoding_of_the_mac() {
        let (signing_input, signature) = FIXED_TOKEN.rsplit_once('.').unwrap();
        let cases = [
            String::new(),
            format!("{signature}="),
            format!("{signature}A"),
            signature[..signature.len() - 1].to_owned(),
            // `P8` → `P9`: same 32 bytes, but the trailing bits are not zero.
            format!("{}9", &signature[..signature.len() - 1]),
            signature.replace('-', "+"),
            "!!!!".to_owned(),
        ];
        for bad in cases {
            let token = format!("{signing_input}.{bad}");
            assert_eq!(verify_foo(&token), Err(AuthError::SignatureInvalid), "{token}");
        }
    }

    #[test]
    fn parts_must_be_exactly_three() {
        let header = b64(HEADER_JSON);
        let claims = b64(&claims_with(""));
        let cases = [
            String::new(),
            "..".to_owned(),
            "...".to_owned(),
            header.clone(),
            format!("{header}.{claims}"),
            format!("{FIXED_TOKEN}.extra"),
            format!("{FIXED_TOKEN}."),
        ];
        for token in cases {
            assert_eq!(verify_foo(&token), Err(AuthError::InvalidToken), "{token}");
            let proxy = Verifier::new(None).verify(token.as_bytes(), NOW);
            assert_eq!(proxy, Err(AuthError::InvalidToken), "{token}");
        }
    }

    #[test]
    fn header_and_claims_must_be_strict_base64url_json_objects() {
        let header = b64(HEADER_JSON);
        let claims = b64(&claims_with(""));
        let cases = [
            "!!!.@@@.###".to_owned(),
            format!("{header}=.{claims}.sig"),
            format!("{header}.{claims}=.sig"),
            format!("{header}.%%%%.abc"),
            format!("{}.{claims}.sig", b64("not json")),
            format!("{}.{claims}.sig", b64("[1,2]")),
            format!("{header}.{}.sig", b64("{nope")),
            format!("{header}.{}.sig", b64("[]")),
            format!("{header}.{}.sig", b64("\"icepeak\"")),
            format!("{header}.{}.sig", b64("{} x")),
            // Standard-alphabet characters are not base64url.
            format!(
                "{}.{claims}.sig",
                URL_SAFE_NO_PAD.encode("{\"typ\":\"JWT>>?\"}").replace('-', "+")
            ),
            // `e30` is `{}`; `e31` carries non-zero trailing bits.
            format!("e31.{claims}.sig"),
            format!("{header}.{}.sig", b64(&"[".repeat(100))),
        ];
        for token in cases {
            assert_eq!(verify_foo(&token), Err(AuthError::InvalidToken), "{token}");
        }
        // The canonical `e30` header (`{}`: no alg at all) is fine.
        let token = with_header("{}", &claims_with(""));
        assert!(token.starts_with("e30."));
        assert_eq!(verify_foo(&token), Ok(everything()));
    }

    #[test]
    fn header_alg_must_be_absent_or_hs256() {
        let claims = claims_with("");
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"alg":"ES256"}"#,
            r#"{"alg":""}"#,
            r#"{"alg":["HS256"]}"#,
            r#"{"alg":256}"#,
        ] {
            let token = with_header(header, &claims);
            assert_eq!(verify_foo(&token), Err(AuthError::InvalidToken), "{header}");
            let unsigned = format!("{}.{}.", b64(header), b64(&claims));
            let proxy = Verifier::new(None).verify(unsigned.as_bytes(), NOW);
            assert_eq!(proxy, Err(AuthError::InvalidToken), "{header}");
        }
        for header in [
            r#"{"typ":"JWT"}"#,
            r#"{"alg":null}"#,
            r#"{"alg":"HS256","typ":"JWT","cty":"x","kid":"k","x5u":5}"#,
        ] {
            let token = with_header(header, &claims);
            assert_eq!(verify_foo(&token), Ok(everything()), "{header}");
        }
    }

    #[test]
    fn header_fields_must_have_their_types() {
        for header in [r#"{"alg":"HS256","typ":1}"#, r#"{"cty":true}"#, r#"{"kid":{}}"#] {
            let token = with_header(header, &claims_with(""));
            assert_eq!(verify_foo(&token), Err(AuthError::InvalidToken), "{header}");
        }
    }

    #[test]
    fn registered_claims_must_have_their_types() {
        for extra in [
            r#""exp":"tomorrow","#,
            r#""nbf":true,"#,
            r#""iat":[1],"#,
            r#""iss":5,"#,
            r#""sub":{},"#,
            r#""jti":1,"#,
            r#""aud":[1],"#,
            r#""aud":["a",null],"#,
        ] {
            let token = signed(&claims_with(extra));
            assert_eq!(verify_foo(&token), Err(AuthError::InvalidToken), "{extra}");
        }
        for extra in [
            r#""exp":null,"nbf":null,"iat":null,"iss":null,"sub":null,"jti":null,"#,
            r#""iss":"me","sub":"you","jti":"1","iat":1e99,"#,
            r#""aud":"a","#,
            r#""aud":["a","b"],"#,
            // The original ignores an `aud` that is neither a string nor an array.
            r#""aud":5,"#,
            r#""aud":{"x":1},"#,
        ] {
            let token = signed(&claims_with(extra));
            assert_eq!(verify_foo(&token), Ok(everything()), "{extra}");
        }
    }

    #[test]
    fn expiry_boundary() {
        let token = signed(&claims_with(r#""exp":1700000000,"#));
        let at = |now| foo().verify(token.as_bytes(), now);
        assert_eq!(at(NOW - 10.0), Ok(everything()));
        assert_eq!(at(NOW), Ok(everything()), "valid during the second exp");
        assert_eq!(at(NOW + 0.001), Err(AuthError::Expired));
        assert_eq!(at(NOW + 10.0), Err(AuthError::Expired));
    }

    #[test]
    fn not_before_boundary() {
        let token = signed(&claims_with(r#""nbf":1700000000,"#));
        let at = |now| foo().verify(token.as_bytes(), now);
        assert_eq!(at(NOW - 10.0), Err(AuthError::UsedTooEarly));
        assert_eq!(at(NOW), Err(AuthError::UsedTooEarly), "not yet valid at nbf");
        assert_eq!(at(NOW + 0.001), Ok(everything()));
    }

    #[test]
    fn dates_are_read_as_real_numbers() {
        let cases = [
            (r#""exp":1.7e9,"#, NOW, Ok(everything())),
            (r#""exp":1.7E+9,"#, NOW + 1.0, Err(AuthError::Expired)),
            (r#""exp":1700000000.5,"#, NOW + 0.4, Ok(everything())),
            (r#""exp":1700000000.5,"#, NOW + 0.6, Err(AuthError::Expired)),
            (r#""exp":4.1e9,"#, NOW, Ok(everything())),
            (r#""exp":0,"#, NOW, Err(AuthError::Expired)),
            (r#""exp":-5,"#, NOW, Err(AuthError::Expired)),
            (r#""exp":1e400,"#, NOW, Ok(everything())),
            (r#""exp":-1e400,"#, NOW, Err(AuthError::Expired)),
            (r#""exp":170000000000000000000000,"#, NOW, Ok(everything())),
            (r#""nbf":4.1e9,"#, NOW, Err(AuthError::UsedTooEarly)),
            (r#""nbf":1.0e9,"#, NOW, Ok(everything())),
            (r#""nbf":1e400,"#, NOW, Err(AuthError::UsedTooEarly)),
            (r#""nbf":-1e400,"#, NOW, Ok(everything())),
            (r#""nbf":1e-400,"#, NOW, Ok(everything())),
        ];
        for (extra, now, expected) in cases {
            let token = signed(&claims_with(extra));
            assert_eq!(foo().verify(token.as_bytes(), now), expected, "{extra} at {now}");
        }
    }

    /// JwtSpec: secret `2o8357cEuc2o835cmsoei`, now = 12512.
    #[test]
    fn original_jwt_spec_cases() {
        let secret = "2o8357cEuc2o835cmsoei";
        let verifier = Verifier::new(Some(secret));
        let now = 12512.0;
        let token = |extra: &str| encode_token(&claims_with(extra), Some(secret.as_bytes()));
        let verify = |token: String| verifier.verify(token.as_bytes(), now);
        assert_eq!(verify(token("")), Ok(everything()));
        assert_eq!(verify(token(r#""exp":12502,"#)), Err(AuthError::Expired));
        assert_eq!(verify(token(r#""nbf":12522,"#)), Err(AuthError::UsedTooEarly));
        let other = encode_token(&claims_with(""), Some(b"other"));
        assert_eq!(verify(other), Err(AuthError::SignatureInvalid));
    }

    #[test]
    fn checks_run_in_order() {
        // A bad signature wins over expiry and a broken claim; expiry wins over nbf and claim.
        let expired_and_early = claims_with(r#""exp":1,"nbf":9e99,"#);
        let broken_claim = r#"{"exp":1,"icepeak":"x"}"#;
        let wrong_key = encode_token(&expired_and_early, Some(b"bar"));
        assert_eq!(verify_foo(&wrong_key), Err(AuthError::SignatureInvalid));
        assert_eq!(verify_foo(&signed(&expired_and_early)), Err(AuthError::Expired));
        assert_eq!(verify_foo(&signed(broken_claim)), Err(AuthError::Expired));
        let early = claims_with(r#""nbf":9e99,"#).replace(ALL, r#""x""#);
        assert_eq!(verify_foo(&signed(&early)), Err(AuthError::UsedTooEarly));
    }

    #[test]
    fn proxy_mode_skips_signature_and_dates_but_enforces_the_claim() {
        let proxy = Verifier::new(None);
        assert!(!proxy.verifies_signatures());
        let verify = |token: &str| proxy.verify(token.as_bytes(), NOW);
        assert_eq!(verify(&encode_token(&claims_with(""), None)), Ok(everything()));
        let expired = encode_token(&claims_with(r#""exp":1,"nbf":9e99,"#), None);
        assert_eq!(verify(&expired), Ok(everything()));
        assert_eq!(verify(&encode_token(&claims_with(""), Some(b"x"))), Ok(everything()));
        let garbage_signature = format!("{}!!", encode_token(&claims_with(""), None));
        assert_eq!(verify(&garbage_signature), Ok(everything()));
        assert_eq!(
            verify(&encode_token(r#"{"sub":"x"}"#, None)),
            Err(AuthError::Claim("Icepeak claim missing.".to_owned()))
        );
        assert_eq!(verify("garbage"), Err(AuthError::InvalidToken));

        // With a secret, the same unsigned token fails at the signature.
        let unsigned = encode_token(&claims_with(""), None);
        assert_eq!(verify_foo(&unsigned), Err(AuthError::SignatureInvalid));
        let empty_secret = Verifier::new(Some(""));
        assert_eq!(empty_secret.verify(unsigned.as_bytes(), NOW), Err(AuthError::SignatureInvalid));
    }

    #[test]
    fn oversize_tokens_are_refused_before_decoding() {
        let padding = "x".repeat(MAX_TOKEN_BYTES);
        let big = signed(&format!(r#"{{"pad":"{padding}","icepeak":{ALL}}}"#));
        assert!(big.len() > MAX_TOKEN_BYTES);
        assert_eq!(verify_foo(&big), Err(AuthError::InvalidToken));
        let proxy = Verifier::new(None);
        assert_eq!(proxy.verify(big.as_bytes(), NOW), Err(AuthError::InvalidToken));

        let fits = "x".repeat(MAX_TOKEN_BYTES / 2);
        let token = signed(&format!(r#"{{"pad":"{fits}","icepeak":{ALL}}}"#));
        assert!(token.len() <= MAX_TOKEN_BYTES);
        assert_eq!(verify_foo(&token), Ok(everything()));
    }

    #[test]
    fn non_utf8_tokens_are_invalid() {
        assert_eq!(foo().verify(b"\xff\xfe.\x80.\x00", NOW), Err(AuthError::InvalidToken));
        let claims = URL_SAFE_NO_PAD.encode(b"{\"icepeak\":\"\xff\"}");
        let token = format!("{}.{claims}.", b64(HEADER_JSON));
        let proxy = Verifier::new(None);
        assert_eq!(proxy.verify(token.as_bytes(), NOW), Err(AuthError::InvalidToken));
    }

    #[test]
    fn duplicate_claim_keys_keep_the_first() {
        let claims = format!(
            r#"{{"icepeak":{ALL},"icepeak":{{"version":1,"whitelist":[]}},"exp":1e99,"exp":1}}"#
        );
        assert_eq!(verify_foo(&signed(&claims)), Ok(everything()));
    }

    fn claim_error(icepeak: &str) -> String {
        let value = json::parse(icepeak.as_bytes(), 64).unwrap();
        parse_icepeak_claim(&value).unwrap_err()
    }

    #[test]
    fn icepeak_claim_errors() {
        let cases = [
            (r#"{"version":1}"#, r#"Error in $: key "whitelist" not found"#),
            (r#"{"whitelist":[]}"#, r#"Error in $: key "version" not found"#),
            (r#"{"version":2,"whitelist":[]}"#, "Error in $: unsupported version"),
            (r#"{"version":1.5,"whitelist":[]}"#, "Error in $: unsupported version"),
            (r#"{"version":-1,"whitelist":[]}"#, "Error in $: unsupported version"),
            (
                r#"{"version":1.0000000000000000001,"whitelist":[]}"#,
                "Error in $: unsupported version",
            ),
            (r#"{"version":11e-1,"whitelist":[]}"#, "Error in $: unsupported version"),
            (
                r#"{"version":1e99999999999999999999,"whitelist":[]}"#,
                "Error in $: unsupported version",
            ),
            (
                r#"{"version":"1","whitelist":[]}"#,
                "Error in $.version: parsing Int failed, expected Number, but encountered String",
            ),
            (r#"{"version":2}"#, "Error in $: unsupported version"),
            (
                r#""icepeak""#,
                "Error in $: parsing icepeak claim failed, expected Object, but encountered String",
            ),
            (
                "[1]",
                "Error in $: parsing icepeak claim failed, expected Object, but encountered Array",
            ),
            (
                "null",
                "Error in $: parsing icepeak claim failed, expected Object, but encountered Null",
            ),
            (
                r#"{"version":1,"whitelist":{}}"#,
                "Error in $.whitelist: parsing [] failed, expected Array, but encountered Object",
            ),
            (
                r#"{"version":1,"whitelist":[true]}"#,
                "Error in $.whitelist[0]: parsing path and modes failed, expected Object, but encountered Boolean",
            ),
            (
                r#"{"version":1,"whitelist":[{"prefix":["foo"]}]}"#,
                r#"Error in $.whitelist[0]: key "modes" not found"#,
            ),
            (
                r#"{"version":1,"whitelist":[{"modes":["read"]}]}"#,
                r#"Error in $.whitelist[0]: key "prefix" not found"#,
            ),
            (
                r#"{"version":1,"whitelist":[{"prefix":[],"modes":["read"]},{"prefix":"a","modes":[]}]}"#,
                "Error in $.whitelist[1].prefix: parsing [] failed, expected Array, but encountered String",
            ),
            (
                r#"{"version":1,"whitelist":[{"prefix":["a",1],"modes":[]}]}"#,
                "Error in $.whitelist[0].prefix[1]: parsing Text failed, expected String, but encountered Number",
            ),
            (
                r#"{"version":1,"whitelist":[{"prefix":[],"modes":"read"}]}"#,
                "Error in $.whitelist[0].modes: parsing [] failed, expected Array, but encountered String",
            ),
            (
                r#"{"version":1,"whitelist":[{"prefix":[],"modes":["admin"]}]}"#,
                "Error in $.whitelist[0].modes[0]: Invalid mode value.",
            ),
            (
                r#"{"version":1,"whitelist":[{"prefix":[],"modes":["read","Write"]}]}"#,
                "Error in $.whitelist[0].modes[1]: Invalid mode value.",
            ),
            (
                r#"{"version":1,"whitelist":[{"prefix":[],"modes":[null]}]}"#,
                "Error in $.whitelist[0].modes[0]: parsing mode string failed, expected String, but encountered Null",
            ),
        ];
        for (icepeak, message) in cases {
            assert_eq!(claim_error(icepeak), message, "{icepeak}");
        }
    }

    #[test]
    fn icepeak_claim_accepts_equivalent_forms() {
        for version in ["1", "1.0", "1.000", "1e0", "10e-1", "0.1E+1", "100E-2"] {
            let icepeak = format!(r#"{{"version":{version},"whitelist":[],"extra":true}}"#);
            let value = json::parse(icepeak.as_bytes(), 64).unwrap();
            assert_eq!(parse_icepeak_claim(&value), Ok(Claim { whitelist: vec![] }), "{version}");
        }
        let value = json::parse(
            br#"{"version":1,"whitelist":[{"prefix":["a"],"modes":["write","write"],"x":0},{"prefix":[],"modes":[]}]}"#,
            64,
        )
        .unwrap();
        let claim = parse_icepeak_claim(&value).unwrap();
        assert_eq!(
            claim.whitelist,
            vec![
                Grant { prefix: segments(&["a"]), read: false, write: true },
                Grant { prefix: vec![], read: false, write: false },
            ]
        );
    }

    #[test]
    fn claim_errors_through_verify() {
        assert_eq!(
            verify_foo(&signed(r#"{"sub":"x"}"#)),
            Err(AuthError::Claim("Icepeak claim missing.".to_owned()))
        );
        assert_eq!(
            verify_foo(&signed(r#"{"icepeak":null}"#)),
            Err(AuthError::Claim(
                "Error in $: parsing icepeak claim failed, expected Object, but encountered Null"
                    .to_owned()
            ))
        );
        assert_eq!(
            verify_foo(&signed(r#"{"icepeak":{"version":2,"whitelist":[]}}"#)),
            Err(AuthError::Claim("Error in $: unsupported version".to_owned()))
        );
    }

    /// The prefix table of §7.3 step 7.
    #[test]
    fn prefixes_compare_whole_segments() {
        let only = |prefix: &[&str]| Claim {
            whitelist: vec![Grant { prefix: segments(prefix), read: true, write: false }],
        };
        let requests: [&[&str]; 6] = [&["a"], &["a", "b"], &["ab"], &[], &["a", ""], &["", "a"]];
        let table: [(&[&str], [bool; 6]); 3] = [
            (&["a"], [true, true, false, false, true, false]),
            (&[], [true; 6]),
            (&["a", "b"], [false, true, false, false, false, false]),
        ];
        for (prefix, expected) in table {
            let claim = only(prefix);
            for (request, allowed) in requests.iter().zip(expected) {
                assert_eq!(
                    claim.allows(&segments(request), Mode::Read),
                    allowed,
                    "prefix {prefix:?}, path {request:?}"
                );
                assert!(!claim.allows(&segments(request), Mode::Write));
            }
        }
    }

    /// AccessControlSpec and §15 C.53–C.55.
    #[test]
    fn access_control_spec() {
        let empty = Claim { whitelist: vec![] };
        assert!(!empty.allows(&[], Mode::Read));
        assert!(!empty.allows(&path("foo"), Mode::Write));

        let all = everything();
        for p in ["", "foo", "a/b/c"] {
            assert!(all.allows(&path(p), Mode::Read));
            assert!(all.allows(&path(p), Mode::Write));
        }

        let grant = |prefix: &str, read, write| Grant { prefix: path(prefix), read, write };
        let claim = Claim {
            whitelist: vec![
                grant("foo", true, false),
                grant("foo/bar", false, true),
                grant("a/b", true, true),
            ],
        };
        let cases = [
            ("foo/1", Mode::Read, true),
            ("foo/bar", Mode::Read, true),
            ("foo/bar/1", Mode::Write, true),
            ("foo/bar", Mode::Write, true),
            ("foo/bar/x", Mode::Read, true),
            ("a/b/c", Mode::Read, true),
            ("a/b", Mode::Write, true),
            ("foo/1", Mode::Write, false),
            ("a", Mode::Read, false),
            ("a/c", Mode::Write, false),
            ("foo", Mode::Write, false),
            ("", Mode::Read, false),
        ];
        for (p, mode, allowed) in cases {
            assert_eq!(claim.allows(&path(p), mode), allowed, "{p} {mode:?}");
        }
    }

    #[test]
    fn fixed_token_authorisation() {
        let verifier = foo();
        let check = |p: &str, method: &str| {
            authorize(
                &verifier,
                Some(FIXED_TOKEN.as_bytes()),
                &path(p),
                Mode::for_method(method),
                NOW,
            )
        };
        assert_eq!(check("foo/1", "GET"), Ok(()));
        assert_eq!(check("bar/baz/x", "PUT"), Ok(()));
        assert_eq!(check("bar/baz", "DELETE"), Ok(()));
        assert_eq!(check("foo/1", "PUT"), Err(AuthError::NotAllowed));
        assert_eq!(check("bar", "PUT"), Err(AuthError::NotAllowed));
        assert_eq!(check("", "GET"), Err(AuthError::NotAllowed));
        assert_eq!(check("foobar", "GET"), Err(AuthError::NotAllowed));
        assert_eq!(
            authorize(
                &verifier,
                Some(FIXED_TOKEN.as_bytes()),
                &segments(&["foo", ""]),
                Some(Mode::Read),
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn other_methods_are_never_allowed_but_tokens_are_still_checked() {
        let verifier = foo();
        let all = signed(&claims_with(""));
        for method in ["POST", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get"] {
            assert_eq!(Mode::for_method(method), None);
            let result = authorize(&verifier, Some(all.as_bytes()), &path("foo"), None, NOW);
            assert_eq!(result, Err(AuthError::NotAllowed));
        }
        assert_eq!(
            authorize(&verifier, None, &path("foo"), None, NOW),
            Err(AuthError::TokenNotFound)
        );
        assert_eq!(
            authorize(&verifier, Some(b"garbage"), &path("foo"), None, NOW),
            Err(AuthError::InvalidToken)
        );
        let expired = signed(&claims_with(r#""exp":1,"#));
        assert_eq!(
            authorize(&verifier, Some(expired.as_bytes()), &path("foo"), None, NOW),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn token_lookup() {
        let t = "tok";
        assert_eq!(find_token(Some(b"Bearer abc"), Some(t)), Some(&b"abc"[..]));
        assert_eq!(find_token(Some(b"Bearer "), Some(t)), Some(&b""[..]));
        assert_eq!(find_token(Some(b"Basic eHl6"), Some(t)), Some(&b"tok"[..]));
        assert_eq!(find_token(Some(b"bearer abc"), Some(t)), Some(&b"tok"[..]));
        assert_eq!(find_token(Some(b"Bearer  abc"), None), Some(&b" abc"[..]));
        assert_eq!(find_token(Some(b"Bearer"), None), None);
        assert_eq!(find_token(Some(b"Basic x"), None), None);
        assert_eq!(find_token(None, Some(t)), Some(&b"tok"[..]));
        assert_eq!(find_token(None, None), None);
        assert_eq!(find_token(Some(b"Bearer \xff"), None), Some(&b"\xff"[..]));
    }

    #[test]
    fn http_bodies() {
        let cases = [
            (AuthError::TokenNotFound, r#"{"error":"invalid token format"}"#),
            (AuthError::InvalidToken, r#"{"error":"invalid token format"}"#),
            (AuthError::SignatureInvalid, r#"{"data":null}"#),
            (AuthError::Expired, r#"{"data":null}"#),
            (AuthError::UsedTooEarly, r#"{"data":null}"#),
            (
                AuthError::Claim("Icepeak claim missing.".to_owned()),
                r#"{"error":"Icepeak claim missing."}"#,
            ),
            (
                AuthError::Claim(r#"Error in $: key "whitelist" not found"#.to_owned()),
                r#"{"error":"Error in $: key \"whitelist\" not found"}"#,
            ),
            (AuthError::NotAllowed, r#"{"error":"not allowed"}"#),
        ];
        for (error, body) in cases {
            assert_eq!(error.http_body(), body, "{error:?}");
        }
    }

    #[test]
    fn multi_sub_details() {
        let cases = [
            (AuthError::TokenNotFound, "VerificationError TokenNotFound"),
            (AuthError::InvalidToken, "VerificationError TokenInvalid"),
            (AuthError::SignatureInvalid, "VerificationError TokenSignatureInvalid"),
            (AuthError::Expired, "VerificationError TokenExpired"),
            (AuthError::UsedTooEarly, "VerificationError TokenUsedTooEarly"),
            (
                AuthError::Claim("Icepeak claim missing.".to_owned()),
                r#"ClaimError "Icepeak claim missing.""#,
            ),
            (
                AuthError::Claim(r#"Error in $: key "version" not found"#.to_owned()),
                r#"ClaimError "Error in $: key \"version\" not found""#,
            ),
            (
                AuthError::Claim("a\\b\n\u{e9}1\u{7f}x".to_owned()),
                r#"ClaimError "a\\b\n\233\&1\127x""#,
            ),
            (AuthError::NotAllowed, "NotAllowed"),
        ];
        for (error, detail) in cases {
            assert_eq!(error.multi_sub_detail(), detail, "{error:?}");
        }
    }

    #[test]
    fn claim_json_round_trips() {
        let claim = Claim {
            whitelist: vec![
                Grant { prefix: segments(&["foo"]), read: true, write: false },
                Grant { prefix: segments(&["bar", "baz"]), read: true, write: true },
                Grant { prefix: vec![], read: false, write: true },
            ],
        };
        assert_eq!(
            claim.to_json().to_string(),
            r#"{"version":1,"whitelist":[{"modes":["read"],"prefix":["foo"]},{"modes":["read","write"],"prefix":["bar","baz"]},{"modes":["write"],"prefix":[]}]}"#
        );
        assert_eq!(parse_icepeak_claim(&claim.to_json()), Ok(claim.clone()));
        let claims = serde_json::json!({ "icepeak": claim.to_json() }).to_string();
        assert_eq!(verify_foo(&signed(&claims)), Ok(claim));
    }

    #[test]
    fn unsigned_tokens_have_an_empty_signature_part() {
        let token = encode_token("{}", None);
        assert_eq!(token, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.");
    }

    #[test]
    fn unix_seconds_handles_both_sides_of_the_epoch() {
        use std::time::Duration;
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1500)), 1.5);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(2)), -2.0);
    }

    #[test]
    fn debug_output_hides_the_key() {
        let shown = format!("{:?}", Verifier::new(Some("hunter2")));
        assert_eq!(shown, "Verifier { verifies_signatures: true }");
    }
}
