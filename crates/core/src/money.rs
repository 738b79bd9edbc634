//! Exact decimal money: parsing, formatting and USD conversion on scaled `i128`s.
//!
//! Owns: the text <-> fixed-point conversions used by every reader and writer.
//! Must not: go through a float. A value that cannot be represented exactly at the
//! target scale is an error, never rounded silently.

use arrow::datatypes::i256;

/// Why a text is not an acceptable decimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// Not a decimal number at all (`12,5x`).
    NotDecimal,
    /// More fractional digits than the scale holds, and they are not zeros.
    TooPrecise,
    /// Too large for 38 digits.
    Overflow,
    /// A zero whose exponent puts it beyond 38 digits either side of the scale (other
    /// digits there are `Overflow` or `TooPrecise`): refused before any scaling.
    Exponent,
}

impl std::fmt::Display for DecimalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecimalError::NotDecimal => "is not a decimal",
            DecimalError::TooPrecise => "has more fractional digits than are kept",
            DecimalError::Overflow => "is too large",
            DecimalError::Exponent => "has an exponent out of range",
        })
    }
}

/// Most digits a decimal holds (Decimal128's precision).
const MAX_DIGITS: i64 = 38;

/// Parses `text` as an exact decimal scaled by `10^scale`.
///
/// Accepts an optional sign, digits with an optional `.`, and an optional exponent
/// (`1.5e3`, as JSON numbers may have). Leading/trailing ASCII spaces are ignored.
pub fn parse_decimal(text: &[u8], scale: u32) -> Result<i128, DecimalError> {
    let text = text.trim_ascii();
    let (neg, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exp) = match body.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => {
            let e = std::str::from_utf8(&body[i + 1..])
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                .ok_or(DecimalError::NotDecimal)?;
            (&body[..i], e)
        }
        None => (body, 0),
    };
    let mut digits: i128 = 0;
    let mut frac_digits: i32 = 0;
    let mut seen_dot = false;
    let mut n_digits = 0usize;
    // Trailing fractional zeros beyond what we can hold are fine; count them lazily.
    let mut pending_zeros: i32 = 0;
    for &b in mantissa {
        match b {
            b'0'..=b'9' => {
                n_digits += 1;
                if seen_dot && b == b'0' {
                    pending_zeros += 1;
                    continue;
                }
                for _ in 0..pending_zeros {
                    digits = digits.checked_mul(10).ok_or(DecimalError::Overflow)?;
                    frac_digits += 1;
                }
                pending_zeros = 0;
                digits = digits
                    .checked_mul(10)
                    .and_then(|d| d.checked_add((b - b'0') as i128))
                    .ok_or(DecimalError::Overflow)?;
                if seen_dot {
                    frac_digits += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(DecimalError::NotDecimal),
        }
    }
    if n_digits == 0 {
        return Err(DecimalError::NotDecimal);
    }
    // value = digits * 10^(exp - frac_digits); we want value * 10^scale. The shift is
    // bounded before any scaling: a value needs at most 38 digits, so a shift beyond
    // +-38 is refused at once, whatever the digits (`0e-2147483000` costs no loop).
    let shift = scale as i64 + exp as i64 - frac_digits as i64;
    if !(-MAX_DIGITS..=MAX_DIGITS).contains(&shift) {
        return Err(match (digits, shift > 0) {
            (0, _) => DecimalError::Exponent,
            (_, true) => DecimalError::Overflow,
            (_, false) => DecimalError::TooPrecise,
        });
    }
    let scaled = if shift >= 0 {
        let mut v = digits;
        for _ in 0..shift {
            v = v.checked_mul(10).ok_or(DecimalError::Overflow)?;
        }
        v
    } else {
        let mut v = digits;
        for _ in 0..(-shift) {
            if v % 10 != 0 {
                return Err(DecimalError::TooPrecise);
            }
            v /= 10;
        }
        v
    };
    if scaled > 10i128.pow(38) - 1 {
        return Err(DecimalError::Overflow);
    }
    Ok(if neg { -scaled } else { scaled })
}

/// Formats a value scaled by `10^scale` as plain decimal text without trailing zeros.
pub fn format_decimal(value: i128, scale: u32) -> String {
    let neg = value < 0;
    let abs = value.unsigned_abs();
    let one = 10u128.pow(scale);
    let int = abs / one;
    let mut frac = abs % one;
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    out.push_str(&int.to_string());
    if frac != 0 {
        let mut width = scale as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        out.push('.');
        out.push_str(&format!("{frac:0width$}"));
    }
    out
}

/// The Currency Transaction Report threshold (31 CFR 1010.311), in USD micro-dollars: law,
/// not a fit. Used where the structuring rule does not declare `ctr_threshold_usd`.
pub const CTR_USD: i128 = 10_000 * crate::schema::USD_ONE;

/// Largest USD value one row may have, at scale 6: 1e15 USD (a thousand trillion, far
/// beyond any real payment). The detectors sum USD values as Decimal128(38, 6), which
/// holds up to 1e32 USD: with rows below this bound a sum overflows only past 1e17 rows,
/// so no SQL rule or window total can overflow. A row above it is quarantined
/// (`usd_out_of_range`) by the enrich stage, never fatal.
pub const MAX_USD_PER_ROW: i128 = 10i128.pow(15 + 6);

/// `amount` (scale 18) times `rate` (USD per unit, scale 18), rounded half away from zero
/// to scale 6 (micro-dollars). `None` if the result does not fit.
pub fn to_usd(amount: i128, rate: i128) -> Option<i128> {
    // Fast path: the product fits in 128 bits (amounts below ~1.7e20 units at rates
    // near 1); same rounding as the 256-bit path below.
    if let Some(p) = amount.checked_mul(rate) {
        let (d, h) = (10i128.pow(30), 5 * 10i128.pow(29));
        let r = if p < 0 { p.checked_sub(h).map(|x| x / d) } else { p.checked_add(h).map(|x| x / d) };
        if r.is_some() {
            return r;
        }
    }
    let product = i256::from_i128(amount).checked_mul(i256::from_i128(rate))?;
    // scale 36 -> scale 6
    let divisor = i256::from_i128(10i128.pow(30));
    let half = i256::from_i128(5 * 10i128.pow(29));
    let rounded = if product.is_negative() {
        product.checked_sub(half)?.checked_div(divisor)?
    } else {
        product.checked_add(half)?.checked_div(divisor)?
    };
    rounded.to_i128()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u32 = 18;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_decimal(b"9500.00", S), Ok(9500 * 10i128.pow(18)));
        assert_eq!(parse_decimal(b"0.1", S), Ok(10i128.pow(17)));
        assert_eq!(parse_decimal(b" 12 ", S), Ok(12 * 10i128.pow(18)));
        assert_eq!(parse_decimal(b"1.5e3", S), Ok(1500 * 10i128.pow(18)));
        assert_eq!(parse_decimal(b"-2", S), Ok(-2 * 10i128.pow(18)));
        assert_eq!(parse_decimal(b"0.000000000000000001", S), Ok(1));
        assert_eq!(parse_decimal(b"1.0000000000000000000000", S), Ok(10i128.pow(18)));
    }

    #[test]
    fn rejects_what_is_not_exact() {
        assert_eq!(parse_decimal(b"12,5x", S), Err(DecimalError::NotDecimal));
        assert_eq!(parse_decimal(b"", S), Err(DecimalError::NotDecimal));
        assert_eq!(parse_decimal(b".", S), Err(DecimalError::NotDecimal));
        assert_eq!(parse_decimal(b"1.2.3", S), Err(DecimalError::NotDecimal));
        assert_eq!(parse_decimal(b"0.0000000000000000001", S), Err(DecimalError::TooPrecise));
        assert_eq!(parse_decimal(b"1e40", S), Err(DecimalError::Overflow));
    }

    #[test]
    fn absurd_exponents_are_decided_without_scaling() {
        // each of these once looped once per unit of exponent (13 s of CPU per row)
        assert_eq!(parse_decimal(b"0e-2147483000", S), Err(DecimalError::Exponent));
        assert_eq!(parse_decimal(b"0e2147483647", S), Err(DecimalError::Exponent));
        assert_eq!(parse_decimal(b"1e-2147483000", S), Err(DecimalError::TooPrecise));
        assert_eq!(parse_decimal(b"1e-2147483648", S), Err(DecimalError::TooPrecise));
        assert_eq!(parse_decimal(b"1e2147483647", S), Err(DecimalError::Overflow));
        assert_eq!(parse_decimal(b"5.0e-2147483647", S), Err(DecimalError::TooPrecise));
        assert_eq!(parse_decimal(b"0e-57", S), Err(DecimalError::Exponent));
        assert_eq!(parse_decimal(b"0e-56", S), Ok(0));
        assert_eq!(parse_decimal(b"0e-20", S), Ok(0));
        assert_eq!(parse_decimal(b"1e99999999999", S), Err(DecimalError::NotDecimal));
        // the bounds themselves still work
        assert_eq!(parse_decimal(b"1e-18", S), Ok(1));
        assert_eq!(parse_decimal(b"1e-19", S), Err(DecimalError::TooPrecise));
        assert_eq!(parse_decimal(b"1e19", S), Ok(10i128.pow(37)));
        assert_eq!(parse_decimal(b"1e20", S), Err(DecimalError::Overflow));
        assert_eq!(parse_decimal(b"100e-20", S), Ok(1));
    }

    #[test]
    fn formats_round_trip() {
        for s in ["0", "1", "9500", "0.1", "123.456", "0.000000000000000001", "-7.25"] {
            let v = parse_decimal(s.as_bytes(), S).unwrap();
            assert_eq!(format_decimal(v, S), s);
        }
    }

    #[test]
    fn converts_to_usd_with_rounding() {
        let amount = parse_decimal(b"100", S).unwrap();
        let rate = parse_decimal(b"0.0583", S).unwrap();
        assert_eq!(to_usd(amount, rate), Some(5_830_000));
        let rate = parse_decimal(b"0.0000005", S).unwrap(); // 0.00005 USD -> rounds to 0.00005
        assert_eq!(to_usd(amount, rate), Some(50));
    }
}
