//! JSON numbers written as the original writes them (spec §3.7), so that data files and
//! responses stay byte-compatible: aeson keeps a number as coefficient × 10^exponent and prints
//! integers with an exponent of 0..=1024 as plain digits (`1e2` → `100`, `-0` → `0`), and
//! everything else in Haskell's "generic" scientific form (`1.50` → `1.5`, `1e-7` → `1.0e-7`).
//!
//! One difference remains: serde_json stores a positive exponent as `e+7` where aeson writes
//! `e7` (only for non-integers of 10^7 and more, or integers past 10^1024).

/// The original's text for a JSON number that passed the grammar, or `None` when `text` is
/// already written that way (every plain integer but `-0`: the common case costs nothing).
///
/// The original is not stable across a save and reload for a few numbers: it writes
/// `193456789012341.0` as `1.93456789012341e14`, which it reads back as an integer and then
/// writes as `193456789012341`. A document here must not change when it is saved and loaded,
/// so the text is taken to that fixed point at once (at most a few rounds: each one only moves
/// from the fraction form to the integer form).
pub fn canonical(text: &str) -> Option<String> {
    if is_plain_decimal(text) {
        return None;
    }
    let mut current = written_once(text)?;
    for _ in 0..4 {
        match written_once(&current) {
            Some(next) if next != current => current = next,
            _ => break,
        }
    }
    Some(current)
}

/// Fixed notation the original writes unchanged (`12.5`, `-0.25`, `1500.0`): the common
/// non-integer form, recognised without allocating. The original prints x in fixed notation
/// when 0.1 ≤ |x| < 10^7, without trailing zeros in the fraction (or just `.0`).
fn is_plain_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let Some((integer, fraction)) = unsigned.split_once('.') else { return false };
    if fraction.contains(['e', 'E']) || fraction.is_empty() {
        return false;
    }
    let fraction_written = fraction == "0" || !fraction.ends_with('0');
    if integer == "0" {
        return fraction_written && !fraction.starts_with('0');
    }
    fraction_written && integer.len() <= 7 && !integer.starts_with('0')
}

/// One save by the original.
fn written_once(text: &str) -> Option<String> {
    let plain_integer = !text.contains(['.', 'e', 'E']);
    if plain_integer && text != "-0" {
        return None;
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], parse_exponent(&unsigned[at + 1..])),
        None => (unsigned, 0),
    };
    let (integer_digits, fraction_digits) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let coefficient = format!("{integer_digits}{fraction_digits}");
    let coefficient = coefficient.trim_start_matches('0');
    let exponent = exponent.saturating_sub(fraction_digits.len() as i64);
    let sign = if negative && !coefficient.is_empty() { "-" } else { "" };
    if (0..=1024).contains(&exponent) {
        if coefficient.is_empty() {
            return Some("0".to_owned());
        }
        let zeros = "0".repeat(exponent as usize);
        return Some(format!("{sign}{coefficient}{zeros}"));
    }
    Some(format!("{sign}{}", generic(coefficient, exponent)))
}

/// The exponent as written, saturating: the grammar allows any number of digits.
fn parse_exponent(text: &str) -> i64 {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = digits.bytes().fold(0i64, |value, digit| {
        value.saturating_mul(10).saturating_add(i64::from(digit - b'0'))
    });
    if negative { -magnitude } else { magnitude }
}

/// Haskell's `formatScientific Generic Nothing` of coefficient × 10^exponent (coefficient
/// without leading zeros, empty for zero): fixed notation for 0.1 ≤ x < 10^7, else exponent.
fn generic(coefficient: &str, exponent: i64) -> String {
    // Decimal digits d1 d2 … and e with value 0.d1d2… × 10^e, as `toDecimalDigits` gives them.
    let (digits, e) = if coefficient.is_empty() {
        ("0", 0)
    } else {
        let digits = coefficient.trim_end_matches('0');
        let trailing_zeros = (coefficient.len() - digits.len()) as i64;
        (digits, exponent.saturating_add(trailing_zeros).saturating_add(digits.len() as i64))
    };
    if !(0..=7).contains(&e) {
        let (first, rest) = digits.split_at(1);
        return match (digits, rest) {
            ("0", _) => "0.0e0".to_owned(),
            (_, "") => format!("{first}.0e{}", e.saturating_sub(1)),
            _ => format!("{first}.{rest}e{}", e.saturating_sub(1)),
        };
    }
    if e == 0 {
        return format!("0.{digits}");
    }
    // 1 ≤ e ≤ 7: the first e digits (zero-padded) before the point, the rest after it.
    let e = e as usize;
    let integer: String = digits.chars().chain(std::iter::repeat('0')).take(e).collect();
    let fraction = digits.get(e..).filter(|f| !f.is_empty()).unwrap_or("0");
    format!("{integer}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> String {
        canonical(text).unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn integers_with_a_small_exponent_are_plain_digits() {
        assert_eq!(written("123"), "123");
        assert_eq!(written("-5"), "-5");
        assert_eq!(written("12345678901234567890123"), "12345678901234567890123");
        assert_eq!(written("1e2"), "100");
        assert_eq!(written("1E+2"), "100");
        assert_eq!(written("1.5e3"), "1500");
        assert_eq!(written("-0"), "0");
        assert_eq!(written("0e5"), "0");
        assert_eq!(written("-0.0e3"), "0");
        assert!(canonical("42").is_none(), "plain integers cost nothing");
    }

    #[test]
    fn other_numbers_use_the_generic_form() {
        assert_eq!(written("1.5"), "1.5");
        assert_eq!(written("1.50"), "1.5");
        assert_eq!(written("1.0"), "1.0");
        assert_eq!(written("10e-1"), "1.0");
        assert_eq!(written("-0.25"), "-0.25");
        assert_eq!(written("0.1"), "0.1");
        assert_eq!(written("0.0"), "0.0");
        assert_eq!(written("-0.0"), "0.0");
        assert_eq!(written("1e-7"), "1.0e-7");
        assert_eq!(written("0.01"), "1.0e-2");
        assert_eq!(written("1500.0"), "1500.0");
        assert_eq!(written("1234567.5"), "1234567.5");
        assert_eq!(written("12345678.5"), "1.23456785e7");
        assert_eq!(written("6.02e23"), "602000000000000000000000");
        assert_eq!(written("1e1026"), "1.0e1026");
        assert_eq!(written("-1.25e-10"), "-1.25e-10");
    }

    #[test]
    fn values_are_unchanged() {
        for text in ["1.5", "1.50", "1e-7", "12345678.5", "6.02e23", "-0.25", "1500.0", "1e2"] {
            let before: f64 = text.parse().unwrap_or(f64::NAN);
            let after: f64 = written(text).parse().unwrap_or(f64::NAN);
            assert_eq!(before, after, "{text}");
        }
    }

    #[test]
    fn plain_decimals_take_the_fast_path_and_agree_with_the_slow_one() {
        for text in ["12.5", "-0.25", "1500.0", "0.5", "1234567.891", "5.07", "123.4"] {
            assert!(is_plain_decimal(text), "{text}");
            assert_eq!(written_once(text).as_deref(), Some(text), "{text}");
        }
        for text in ["123.40", "0.05", "-0.0", "0.0", "12345678.5", "1.5e3", "01.5"] {
            assert!(!is_plain_decimal(text), "{text}");
        }
    }

    #[test]
    fn saving_and_loading_changes_nothing() {
        assert_eq!(written("193456789012341.0"), "193456789012341", "the original's second save");
        assert_eq!(written("1e1025"), format!("1{}", "0".repeat(1025)));
        for text in ["1.5", "1.0e-7", "12345678.5", "1e1026", "1500.0", "0.0", "-0.25", "1e2"] {
            let once = written(text);
            // serde_json spells a positive exponent `e+N`; that must read back the same.
            let reread = once.replace('e', "e+").replace("e+-", "e-");
            assert_eq!(written(&reread), once, "{text}");
        }
    }

    #[test]
    fn huge_exponents_saturate() {
        assert_eq!(written("1e99999999999999999999999"), format!("1.0e{}", i64::MAX - 1));
        assert_eq!(written("1e-99999999999999999999999"), format!("1.0e{}", -i64::MAX));
    }
}
