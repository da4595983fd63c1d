//! `icepeak-token-gen`: prints a JWT whose `icepeak` claim whitelists the given paths, with the
//! original generator's flags and output (spec §7.5).

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

use icepeak::auth::{self, Claim, Grant};

const USAGE: &str = "\
Usage: icepeak-token-gen [-s|--jwt-secret JWT_SECRET] [-e|--expires EXPIRES_SECONDS]
                         [-p|--path PATH:MODES]
";

const ABOUT: &str = "\
Icepeak Token Generator - Generates and signs JSON Web Tokens for authentication and \
authorization in Icepeak.
";

const OPTIONS: &str = "\
Available options:
  -h,--help                Show this help text
  -s,--jwt-secret JWT_SECRET
                           Secret used for signing the JWT, defaults to the value of the
                           JWT_SECRET environment variable if present. If no secret is
                           passed, JWT tokens are not signed.
  -e,--expires EXPIRES_SECONDS
                           Generate a token that expires in EXPIRES_SECONDS seconds from now.
  -p,--path PATH:MODES     Adds the PATH to the whitelist, allowing the access modes MODES.
                           MODES can be 'r' (read), 'w' (write) or 'rw' (read/write). This
                           option may be used more than once.
";

#[derive(Debug, PartialEq, Eq)]
struct Options {
    secret: Option<String>,
    expires_in: Option<i64>,
    whitelist: Vec<Grant>,
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Generate(Options),
    Help,
}

fn main() -> ExitCode {
    let env_secret = std::env::var_os("JWT_SECRET");
    let (output, status) = match parse_args(std::env::args_os().skip(1), env_secret) {
        Ok(Command::Help) => (format!("{ABOUT}\n{USAGE}\n{OPTIONS}"), ExitCode::SUCCESS),
        Ok(Command::Generate(options)) => {
            let now = auth::unix_seconds(SystemTime::now());
            (format!("{}\n", generate(&options, now)), ExitCode::SUCCESS)
        }
        Err(message) => {
            // Nothing useful is left to do if stderr is gone too.
            let _ = write!(std::io::stderr(), "{message}\n\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    // `print!` would panic on a closed stdout; a failed write is a failed run instead.
    match std::io::stdout().write_all(output.as_bytes()) {
        Ok(()) => status,
        Err(_) => ExitCode::FAILURE,
    }
}

/// The token for `options` at time `now` (seconds since the epoch).
fn generate(options: &Options, now: f64) -> String {
    let claim = Claim { whitelist: options.whitelist.clone() };
    let mut claims = serde_json::Map::new();
    if let Some(expires) = options.expires_in.and_then(|seconds| expiry(now, seconds)) {
        claims.insert("exp".to_owned(), expires.into());
    }
    claims.insert("icepeak".to_owned(), claim.to_json());
    let claims_json = serde_json::Value::Object(claims).to_string();
    auth::encode_token(&claims_json, options.secret.as_deref().map(str::as_bytes))
}

/// `round(now + seconds)`, or `None` before the epoch, where the original emits no `exp`.
fn expiry(now: f64, seconds: i64) -> Option<i64> {
    // i64 seconds are exact in f64 up to 2^53, far beyond any useful expiry; larger values
    // saturate in the cast instead of wrapping.
    let expires = (now + seconds as f64).round_ties_even();
    (expires >= 0.0).then_some(expires as i64)
}

fn parse_args(
    args: impl IntoIterator<Item = OsString>,
    env_secret: Option<OsString>,
) -> Result<Command, String> {
    let mut options = Options {
        secret: env_secret.map(into_utf8).transpose()?,
        expires_in: None,
        whitelist: Vec::new(),
    };
    let mut args = args.into_iter().map(into_utf8);
    while let Some(arg) = args.next() {
        let arg = arg?;
        let (flag, inline_value) = split_flag(&arg);
        if matches!(flag, "-h" | "--help") {
            return Ok(Command::Help);
        }
        if !matches!(flag, "-s" | "--jwt-secret" | "-e" | "--expires" | "-p" | "--path") {
            return Err(format!("Invalid argument `{arg}'"));
        }
        let value = match inline_value {
            Some(value) => value.to_owned(),
            None => args
                .next()
                .transpose()?
                .ok_or_else(|| format!("Missing value for option {flag}"))?,
        };
        match flag {
            "-s" | "--jwt-secret" => options.secret = Some(value),
            "-e" | "--expires" => {
                let seconds = value
                    .parse()
                    .map_err(|_| format!("option {flag}: cannot parse value `{value}'"))?;
                options.expires_in = Some(seconds);
            }
            _ => options
                .whitelist
                .push(parse_grant(&value).map_err(|e| format!("option {flag}: {e}"))?),
        }
    }
    Ok(Command::Generate(options))
}

/// Splits `--flag=value` and `-xvalue` into flag and value; other arguments have no inline
/// value.
fn split_flag(arg: &str) -> (&str, Option<&str>) {
    if arg.starts_with("--") {
        match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (arg, None),
        }
    } else if arg.starts_with('-') && arg.len() > 2 && arg.is_char_boundary(2) {
        (&arg[..2], Some(&arg[2..]))
    } else {
        (arg, None)
    }
}

/// `PATH:MODES` (§2.3, §7.5): empty path segments are dropped, so `/`, `` and `//` are the
/// root; MODES is everything after the first `:` and must be exactly `r`, `w` or `rw`.
fn parse_grant(spec: &str) -> Result<Grant, String> {
    let (path, modes) = match spec.find(':') {
        Some(colon) => spec.split_at(colon),
        None => (spec, ""),
    };
    let (read, write) = match modes {
        ":r" => (true, false),
        ":w" => (false, true),
        ":rw" => (true, true),
        _ => return Err(format!("Invalid mode: {modes}")),
    };
    let prefix = path.split('/').filter(|segment| !segment.is_empty()).map(str::to_owned).collect();
    Ok(Grant { prefix, read, write })
}

fn into_utf8(text: OsString) -> Result<String, String> {
    text.into_string()
        .map_err(|text| format!("Argument is not valid UTF-8: {}", text.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use icepeak::auth::Verifier;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn options_from(list: &[&str]) -> Options {
        match parse_args(args(list), None) {
            Ok(Command::Generate(options)) => options,
            other => panic!("{list:?} gave {other:?}"),
        }
    }

    fn grant(prefix: &[&str], read: bool, write: bool) -> Grant {
        Grant { prefix: prefix.iter().map(|&s| s.to_owned()).collect(), read, write }
    }

    fn claims_of(token: &str) -> String {
        use base64::Engine as _;
        let claims = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn flag_forms() {
        let expected = Options {
            secret: Some("k".to_owned()),
            expires_in: Some(60),
            whitelist: vec![grant(&["a"], false, true), grant(&["b"], true, false)],
        };
        for list in [
            &["-s", "k", "-e", "60", "-p", "a:w", "-p", "b:r"][..],
            &["--jwt-secret", "k", "--expires", "60", "--path", "a:w", "--path", "b:r"],
            &["--jwt-secret=k", "--expires=60", "--path=a:w", "--path=b:r"],
            &["-sk", "-e60", "-pa:w", "-pb:r"],
        ] {
            assert_eq!(options_from(list), expected, "{list:?}");
        }
        assert_eq!(options_from(&["--jwt-secret=a=b"]).secret.as_deref(), Some("a=b"));
        assert_eq!(options_from(&["-s", "--path"]).secret.as_deref(), Some("--path"));
        assert_eq!(options_from(&["-e", "-5"]).expires_in, Some(-5));
    }

    #[test]
    fn secret_defaults_to_the_environment() {
        assert_eq!(options_from(&[]).secret, None);
        let from_env = parse_args(args(&[]), Some("env".into()));
        let Ok(Command::Generate(env_only)) = from_env else {
            panic!("{from_env:?}");
        };
        assert_eq!(env_only.secret.as_deref(), Some("env"));
        let flag_wins = parse_args(args(&["-s", "flag"]), Some("env".into()));
        let Ok(Command::Generate(both)) = flag_wins else {
            panic!("{flag_wins:?}");
        };
        assert_eq!(both.secret.as_deref(), Some("flag"));
        let empty = parse_args(args(&[]), Some("".into()));
        let Ok(Command::Generate(empty_env)) = empty else {
            panic!("{empty:?}");
        };
        assert_eq!(empty_env.secret.as_deref(), Some(""));
    }

    #[test]
    fn help_and_errors() {
        assert_eq!(parse_args(args(&["-h"]), None), Ok(Command::Help));
        assert_eq!(parse_args(args(&["-p", "a:r", "--help"]), None), Ok(Command::Help));
        let error = |list: &[&str]| parse_args(args(list), None).unwrap_err();
        assert_eq!(error(&["-p", "foo:wr"]), "option -p: Invalid mode: :wr");
        assert_eq!(error(&["-p", "foo"]), "option -p: Invalid mode: ");
        assert_eq!(error(&["--path", "foo:"]), "option --path: Invalid mode: :");
        assert_eq!(error(&["-p", "foo:x"]), "option -p: Invalid mode: :x");
        assert_eq!(error(&["-p", "a:b:r"]), "option -p: Invalid mode: :b:r");
        assert_eq!(error(&["-e", "soon"]), "option -e: cannot parse value `soon'");
        assert_eq!(error(&["-e"]), "Missing value for option -e");
        assert_eq!(error(&["--bogus"]), "Invalid argument `--bogus'");
        assert_eq!(error(&["positional"]), "Invalid argument `positional'");
    }

    #[test]
    fn path_segments_drop_empty_ones() {
        let list = ["-p", "/foo//bar/:w", "-p", "/:r", "-p", "//:rw", "-p", ":r"];
        assert_eq!(
            options_from(&list).whitelist,
            vec![
                grant(&["foo", "bar"], false, true),
                grant(&[], true, false),
                grant(&[], true, true),
                grant(&[], true, false),
            ]
        );
    }

    #[test]
    fn claims_json_matches_the_original() {
        let options = options_from(&["-s", "foo", "-e", "3600", "-p", "foo:r", "-p", "bar/baz:rw"]);
        let token = generate(&options, 1_699_996_400.4);
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
        assert_eq!(
            claims_of(&token),
            r#"{"exp":1700000000,"icepeak":{"version":1,"whitelist":[{"modes":["read"],"prefix":["foo"]},{"modes":["read","write"],"prefix":["bar","baz"]}]}}"#
        );
        let no_paths = generate(&options_from(&["-s", "foo"]), 0.0);
        assert_eq!(claims_of(&no_paths), r#"{"icepeak":{"version":1,"whitelist":[]}}"#);
    }

    #[test]
    fn expiry_rounds_and_is_omitted_before_the_epoch() {
        assert_eq!(expiry(100.4, 10), Some(110));
        assert_eq!(expiry(100.6, 10), Some(111));
        assert_eq!(expiry(100.0, -100), Some(0));
        assert_eq!(expiry(100.0, -101), None);
        assert_eq!(expiry(0.0, i64::MAX), Some(i64::MAX));
        let token = generate(&options_from(&["-e", "-1000", "-p", "a:r"]), 10.0);
        assert_eq!(
            claims_of(&token),
            r#"{"icepeak":{"version":1,"whitelist":[{"modes":["read"],"prefix":["a"]}]}}"#
        );
    }

    /// §15 C.56: whatever the generator writes, the server reads back the same whitelist.
    #[test]
    fn generated_tokens_verify_to_the_same_claim() {
        let now = 1_700_000_000.0;
        let list = ["-s", "k", "-e", "60", "-p", "a/b:rw", "-p", "/:r", "-p", "c:w"];
        let options = options_from(&list);
        let token = generate(&options, now);
        let claim = Verifier::new(Some("k")).verify(token.as_bytes(), now);
        assert_eq!(claim, Ok(Claim { whitelist: options.whitelist.clone() }));
        let expired = Verifier::new(Some("k")).verify(token.as_bytes(), now + 61.0);
        assert_eq!(expired, Err(auth::AuthError::Expired));

        let unsigned = generate(&Options { secret: None, ..options }, now);
        assert!(unsigned.ends_with('.'));
        let proxy = Verifier::new(None).verify(unsigned.as_bytes(), now);
        assert_eq!(proxy.map(|claim| claim.whitelist.len()), Ok(3));
        let strict = Verifier::new(Some("k")).verify(unsigned.as_bytes(), now);
        assert_eq!(strict, Err(auth::AuthError::SignatureInvalid));
    }
}
