//! `claim`: JWT decoding, verification and the `icepeak` claim (spec §7).
//!
//! The same input is read three ways, each failing fast when it does not fit:
//! 1. as a whole token, verified with several secrets and in proxy mode;
//! 2. as `header JSON` LF `claims JSON`, signed here with the right key, so the fuzzer reaches
//!    the header and claim checks without having to forge base64 or a MAC;
//! 3. as the JSON of an `icepeak` claim, wrapped into a token with `encode_token`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use icepeak::auth::{AuthError, Claim, Mode, Verifier, authorize, encode_token};
use icepeak::auth::{MAX_TOKEN_BYTES, parse_icepeak_claim};
use icepeak::json;
use serde_json::Value;
use sha2::Sha256;

/// Secrets on both sides of HMAC's 64-byte block (longer keys are hashed first), the empty
/// one (a secret, not proxy mode) and the original's test secret `foo` (spec §7.5).
const SECRETS: [&str; 4] = [
    "foo",
    "",
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
    "a secret longer than one HMAC-SHA256 block, so that HMAC hashes it before use........",
];

/// 2023-11-14, like the library's tests: seeds carry `exp`/`nbf` on both sides of it.
const NOW: f64 = 1_700_000_000.0;

/// Same bound as the library's token JSON (`MAX_TOKEN_JSON_DEPTH`).
const TOKEN_JSON_DEPTH: usize = 64;

pub fn check_claim(data: &[u8]) {
    check_token(data);
    if let Some(newline) = data.iter().position(|&byte| byte == b'\n') {
        check_signed_parts(&data[..newline], &data[newline + 1..]);
    }
    check_claim_json(data);
}

/// HMAC-SHA256 computed with the `hmac` crate's own keying, independently of the library's
/// block-key shortcut.
fn mac(secret: &[u8], signing_input: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(signing_input);
    mac.finalize().into_bytes().to_vec()
}

/// Reading 1: with a secret, `Ok` only for a token whose third part is the canonical base64url of the
/// MAC of the first two; the proxy accepts whatever the secret accepts; a token the proxy
/// accepts passes the secret check too once signed, unless its dates refuse it.
fn check_token(token: &[u8]) {
    let proxy = Verifier::new(None).verify(token, NOW);
    check_result(token, &proxy);
    for secret in SECRETS {
        let verified = Verifier::new(Some(secret)).verify(token, NOW);
        check_result(token, &verified);
        if let Ok(claim) = &verified {
            let parts: Vec<&[u8]> = token.split(|&byte| byte == b'.').collect();
            let [header, claims, signature] = parts[..] else {
                panic!("accepted a token of {} parts", parts.len());
            };
            let signing_input = &token[..header.len() + 1 + claims.len()];
            let expected = URL_SAFE_NO_PAD.encode(mac(secret.as_bytes(), signing_input));
            let signature = String::from_utf8_lossy(signature);
            assert_eq!(signature, expected, "accepted without a valid MAC under {secret:?}");
            assert_eq!(proxy.as_ref(), Ok(claim), "the proxy refused what the secret accepts");
        }
    }
    if proxy.is_ok() {
        let unsigned = &token[..token.iter().rposition(|&byte| byte == b'.').unwrap_or(0)];
        let secret = SECRETS[token.len() % SECRETS.len()];
        let signed = sign(unsigned, secret);
        if signed.len() > MAX_TOKEN_BYTES {
            return;
        }
        let verified = Verifier::new(Some(secret)).verify(&signed, NOW);
        assert_signed_agrees(&verified, &proxy);
    }
}

/// `header.claims` plus the canonical signature under `secret`.
fn sign(signing_input: &[u8], secret: &str) -> Vec<u8> {
    let mut token = signing_input.to_vec();
    token.push(b'.');
    token.extend(URL_SAFE_NO_PAD.encode(mac(secret.as_bytes(), signing_input)).into_bytes());
    token
}

/// A correctly signed token gets the proxy's verdict, or a date refusal that only the secret
/// mode checks; never a bad signature.
fn assert_signed_agrees(verified: &Result<Claim, AuthError>, proxy: &Result<Claim, AuthError>) {
    let dates = matches!(verified, Err(AuthError::Expired | AuthError::UsedTooEarly));
    assert!(verified == proxy || dates, "signed: {verified:?}, proxy: {proxy:?}");
}

/// Reading 2: a token built here from two JSON texts.
fn check_signed_parts(header: &[u8], claims: &[u8]) {
    let secret = SECRETS[(header.len() + claims.len()) % SECRETS.len()];
    let mut signing_input = URL_SAFE_NO_PAD.encode(header).into_bytes();
    signing_input.push(b'.');
    signing_input.extend(URL_SAFE_NO_PAD.encode(claims).into_bytes());
    let token = sign(&signing_input, secret);
    let verified = Verifier::new(Some(secret)).verify(&token, NOW);
    let proxy = Verifier::new(None).verify(&token, NOW);
    check_result(&token, &verified);
    check_result(&token, &proxy);
    assert_signed_agrees(&verified, &proxy);

    // With the header the library writes, `encode_token` must produce this very token.
    if header == br#"{"alg":"HS256","typ":"JWT"}"#
        && let Ok(claims) = std::str::from_utf8(claims)
    {
        let encoded = encode_token(claims, Some(secret.as_bytes()));
        assert_eq!(encoded.as_bytes(), token, "encode_token disagrees with HS256");
    }
}

/// Reading 3: any valid `icepeak` claim, signed with `encode_token`, verifies to itself, and its
/// canonical JSON (`Claim::to_json`) parses back to the same claim.
fn check_claim_json(data: &[u8]) {
    // One level is taken by the wrapping `{"icepeak": …}`.
    let Ok(value) = json::parse(data, TOKEN_JSON_DEPTH - 1) else { return };
    let Ok(claim) = parse_icepeak_claim(&value) else { return };
    assert_eq!(parse_icepeak_claim(&claim.to_json()).as_ref(), Ok(&claim), "to_json round trip");

    let text = std::str::from_utf8(data).expect("JSON that parsed is UTF-8");
    let claims = format!(r#"{{"icepeak":{text}}}"#);
    let secret = SECRETS[data.len() % SECRETS.len()];
    let token = encode_token(&claims, Some(secret.as_bytes()));
    if token.len() > MAX_TOKEN_BYTES {
        return;
    }
    let verified = Verifier::new(Some(secret)).verify(token.as_bytes(), NOW);
    assert_eq!(verified.as_ref(), Ok(&claim), "a signed valid claim was refused");
    check_result(token.as_bytes(), &verified);
}

/// What holds for any verdict: error bodies are JSON, and `authorize` follows the claim's
/// grants.
fn check_result(token: &[u8], result: &Result<Claim, AuthError>) {
    let claim = match result {
        Err(error) => {
            let body = error.http_body();
            assert!(serde_json::from_str::<Value>(&body).is_ok(), "401 body {body:?}");
            let _ = error.multi_sub_detail();
            return;
        }
        Ok(claim) => claim,
    };
    // In proxy mode nothing but the claim decides; prefixes are paths the claim itself names.
    let proxy = Verifier::new(None);
    for grant in claim.whitelist.iter().take(4) {
        for mode in [Mode::Read, Mode::Write] {
            let allowed = authorize(&proxy, Some(token), &grant.prefix, Some(mode), NOW);
            assert_eq!(allowed.is_ok(), claim.allows(&grant.prefix, mode), "{grant:?} {mode:?}");
            let granted = match mode {
                Mode::Read => grant.read,
                Mode::Write => grant.write,
            };
            assert!(!granted || allowed.is_ok(), "{grant:?} does not cover its own prefix");
        }
        let other = authorize(&proxy, Some(token), &grant.prefix, None, NOW);
        assert_eq!(other, Err(AuthError::NotAllowed), "methods without a mode");
    }
}
