//! The text a server writes for a zset score when it packs a sorted set
//! into a listpack (`d2string`): its length decides the entry size.

use crate::server::Target;

/// Text of `v` as the target's `d2string` produces it.
pub fn score_text(v: f64, target: Target) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Integral values in ±2^52 print as integers on every line.
    if v.abs() < 4_503_599_627_370_496.0 && v.fract() == 0.0 {
        return format!("{}", v as i64);
    }
    if target >= Target::Redis8 {
        g_format(&format!("{v:e}"))
    } else {
        g_format(&format!("{v:.16e}"))
    }
}

/// Turns Rust's `d.ddde±x` text into C's `%g` layout (17 significant digits
/// at most, trailing zeros removed, exponent form below 1e-4 or at 1e17).
fn g_format(sci: &str) -> String {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if neg { "-" } else { "" };
    if !(-4..17).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_like_text() {
        assert_eq!(score_text(1.5, Target::Redis8), "1.5");
        assert_eq!(score_text(0.1, Target::Redis70), "0.10000000000000001");
        assert_eq!(score_text(1e300, Target::Redis8), "1e+300");
        assert_eq!(score_text(-2.5e-7, Target::Redis8), "-2.5e-07");
        assert_eq!(score_text(42.0, Target::Redis70), "42");
    }
}
