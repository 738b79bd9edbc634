//! Time in one place: parsing a timestamp field, epoch units, and the one text form of
//! an event time (`format_ts`) that every alert, log line and report uses; also the
//! boolean field parser the readers share.
//!
//! Owns: `TsUnit`, `TsOptions`, `parse_ts`, `epoch_to_us`, `format_ts`, `parse_bool`,
//! and `parse_duration` (the config's "30d", "48h").
//! Must not: know about files, lines or batches.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Unit of integer timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsUnit {
    Seconds,
    Millis,
    Micros,
}

/// How timestamps are read.
#[derive(Debug, Clone, Default)]
pub struct TsOptions {
    /// strftime format (UTC unless it has `%z`); `None` for RFC 3339 and friends.
    pub format: Option<String>,
    /// Unit of bare integers; `None` guesses from the magnitude.
    pub unit: Option<TsUnit>,
}

/// Earliest and latest accepted event times (1900-01-01 .. 2200-01-01), in microseconds:
/// anything outside is a unit or format mistake, not a transaction.
pub const TS_MIN_US: i64 = -2_208_988_800_000_000;
pub const TS_MAX_US: i64 = 7_258_118_400_000_000;

/// Parses a timestamp into UTC microseconds since the epoch.
///
/// Without a format: RFC 3339 (`2026-03-01T14:05:09Z`, fractions and offsets allowed,
/// `T` or space), `YYYY-MM-DD HH:MM:SS` (UTC), `YYYY-MM-DD` (midnight UTC), or an epoch
/// number (seconds, millis or micros by `unit`, or by magnitude).
pub fn parse_ts(text: &[u8], opts: &TsOptions) -> Result<i64, &'static str> {
    let t = text.trim_ascii();
    if t.is_empty() {
        return Err("is empty");
    }
    let us = if let Some(fmt) = &opts.format {
        let s = std::str::from_utf8(t).map_err(|_| "is not text")?;
        if fmt.contains("%z") || fmt.contains("%:z") {
            DateTime::parse_from_str(s, fmt).map_err(|_| "does not match `input.ts-format`")?.timestamp_micros()
        } else {
            NaiveDateTime::parse_from_str(s, fmt)
                .or_else(|_| {
                    NaiveDate::parse_from_str(s, fmt).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
                })
                .map_err(|_| "does not match `input.ts-format`")?
                .and_utc()
                .timestamp_micros()
        }
    } else if t.iter().all(|b| b.is_ascii_digit())
        || (t[0] == b'-' && t.len() > 1 && t[1..].iter().all(u8::is_ascii_digit))
    {
        let s = std::str::from_utf8(t).expect("ascii digits");
        let n: i64 = s.parse().map_err(|_| "is out of range")?;
        epoch_to_us(n, opts.unit)?
    } else {
        parse_rfc3339ish(t).ok_or("is not an RFC 3339 timestamp")?
    };
    if !(TS_MIN_US..TS_MAX_US).contains(&us) {
        return Err("is outside 1900..2200");
    }
    Ok(us)
}

/// An epoch number in `unit` (or guessed from its magnitude) as microseconds.
pub fn epoch_to_us(n: i64, unit: Option<TsUnit>) -> Result<i64, &'static str> {
    let unit = unit.unwrap_or_else(|| {
        let a = n.unsigned_abs();
        if a < 100_000_000_000 {
            TsUnit::Seconds
        } else if a < 100_000_000_000_000 {
            TsUnit::Millis
        } else {
            TsUnit::Micros
        }
    });
    match unit {
        TsUnit::Seconds => n.checked_mul(1_000_000),
        TsUnit::Millis => n.checked_mul(1_000),
        TsUnit::Micros => Some(n),
    }
    .ok_or("is out of range")
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Most digits of a fraction of a second (attoseconds; only microseconds are kept).
const MAX_FRACTION_DIGITS: usize = 18;

/// Fast RFC 3339 reader (the common case on hot paths).
fn parse_rfc3339ish(t: &[u8]) -> Option<i64> {
    if t.len() < 10 || t[4] != b'-' || t[7] != b'-' {
        return None;
    }
    let y = digits(&t[0..4])? as i64;
    let mo = digits(&t[5..7])?;
    let d = digits(&t[8..10])?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let mut secs = days * 86_400;
    let mut micros = 0i64;
    let mut rest = &t[10..];
    if !rest.is_empty() {
        if !(rest[0] == b'T' || rest[0] == b't' || rest[0] == b' ') || rest.len() < 6 {
            return None;
        }
        let h = digits(&rest[1..3])?;
        if rest[3] != b':' {
            return None;
        }
        let mi = digits(&rest[4..6])?;
        let mut s = 0;
        rest = &rest[6..];
        if rest.first() == Some(&b':') {
            if rest.len() < 3 {
                return None;
            }
            s = digits(&rest[1..3])?;
            rest = &rest[3..];
        }
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs += h as i64 * 3600 + mi as i64 * 60 + s as i64;
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > MAX_FRACTION_DIGITS {
                return None;
            }
            let frac = &rest[1..1 + n];
            let mut v = 0i64;
            for (i, &c) in frac.iter().take(6).enumerate() {
                v += (c - b'0') as i64 * 10i64.pow(5 - i as u32);
            }
            micros = v;
            rest = &rest[1 + n..];
        }
        match rest {
            [] | [b'Z'] | [b'z'] => {}
            [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] | [sign @ (b'+' | b'-'), oh1, oh2, om1, om2] => {
                let oh = digits(&[*oh1, *oh2])? as i64;
                let om = digits(&[*om1, *om2])? as i64;
                // RFC 3339 offsets: hours 00-23, minutes 00-59 (`+99:99` would move the
                // event by days)
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = oh * 3600 + om * 60;
                secs += if *sign == b'+' { -off } else { off };
            }
            _ => return None,
        }
    }
    Some(secs * 1_000_000 + micros)
}

/// Parses a label flag (`True`, `false`, `1`, `0`, `yes`, `no`).
pub fn parse_bool(text: &[u8]) -> Option<bool> {
    match text.trim_ascii().to_ascii_lowercase().as_slice() {
        b"true" | b"t" | b"1" | b"yes" | b"y" => Some(true),
        b"false" | b"f" | b"0" | b"no" | b"n" => Some(false),
        _ => None,
    }
}

/// The start of the UTC day of `us` (µs). The window keeps, and the SQL rules read, whole
/// days from here: both must cut at the same instant.
pub fn day_start(us: i64) -> i64 {
    const DAY_US: i64 = 86_400_000_000;
    us.div_euclid(DAY_US) * DAY_US
}

/// Formats UTC microseconds as RFC 3339 (`2026-03-01T14:05:09Z`, fraction only when set).
/// Years 0-9999 are written digit by digit (the rules write two of these per result row:
/// chrono's `format` parses its pattern on every call, about 4,000 instructions a time);
/// other years go through chrono, as do values it cannot represent (written as the number).
pub fn format_ts(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return match DateTime::from_timestamp_micros(us) {
            Some(dt) if frac == 0 => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            None => us.to_string(),
        };
    }
    let sod = secs.rem_euclid(86_400);
    let mut b = [0u8; 27];
    let digits = |b: &mut [u8], at: usize, v: i64, n: usize| {
        let mut v = v;
        for i in (0..n).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    digits(&mut b, 0, y, 4);
    b[4] = b'-';
    digits(&mut b, 5, i64::from(m), 2);
    b[7] = b'-';
    digits(&mut b, 8, i64::from(d), 2);
    b[10] = b'T';
    digits(&mut b, 11, sod / 3600, 2);
    b[13] = b':';
    digits(&mut b, 14, sod % 3600 / 60, 2);
    b[16] = b':';
    digits(&mut b, 17, sod % 60, 2);
    let end = if frac == 0 {
        b[19] = b'Z';
        20
    } else {
        b[19] = b'.';
        digits(&mut b, 20, frac, 6);
        b[26] = b'Z';
        27
    };
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The proleptic Gregorian (year, month, day) of days since 1970-01-01 (Howard Hinnant's
/// algorithm; the inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses "30d", "48h", "15m", "10s", "500ms" (also "0").
pub fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| "expected a number and a unit like 30d, 48h, 15m, 10s, 500ms".to_string())?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        _ => return Err(format!("unknown unit `{unit}` (expected d, h, m, s or ms)")),
    };
    n.checked_mul(secs).map(std::time::Duration::from_secs).ok_or_else(|| "too long".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<i64, &'static str> {
        parse_ts(s.as_bytes(), &TsOptions::default())
    }

    #[test]
    fn reads_rfc3339_forms() {
        let base = 1_772_373_909_000_000; // 2026-03-01T14:05:09Z
        assert_eq!(p("2026-03-01T14:05:09Z"), Ok(base));
        assert_eq!(p("2026-03-01 14:05:09"), Ok(base));
        assert_eq!(p("2026-03-01T15:05:09+01:00"), Ok(base));
        assert_eq!(p("2026-03-01T08:05:09-0600"), Ok(base));
        assert_eq!(p("2026-03-01T14:05:09.25Z"), Ok(base + 250_000));
        assert_eq!(p("2026-03-01"), Ok(base - (14 * 3600 + 5 * 60 + 9) * 1_000_000));
        assert_eq!(format_ts(base), "2026-03-01T14:05:09Z");
    }

    #[test]
    fn formats_as_chrono_does_at_every_kind_of_instant() {
        let chrono_text = |us: i64| match DateTime::from_timestamp_micros(us) {
            Some(dt) if us % 1_000_000 == 0 => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            None => us.to_string(),
        };
        let mut v: Vec<i64> = vec![0, -1, 1, 1_000_000, -1_000_000, i64::MIN, i64::MAX, 951_782_400_000_000];
        // leap days, year ends, the years 0 and 9999 and past them, before 1970
        for (y, m, d) in [(2024, 2, 29), (2000, 2, 29), (1900, 3, 1), (1969, 12, 31), (0, 1, 1), (9999, 12, 31)] {
            let day = days_from_civil(y, m, d) * 86_400_000_000;
            v.extend([day, day - 1, day + 86_399_999_999, day + 86_400_000_000]);
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // within +-20,000 years of 1970, whole seconds half the time
            let us = (x % 1_262_277_040_000_000_000) as i64 - 631_138_520_000_000_000;
            v.push(if x & 1 == 0 { us / 1_000_000 * 1_000_000 } else { us });
        }
        for us in v {
            assert_eq!(format_ts(us), chrono_text(us), "{us}");
        }
        for (y, m, d) in [(1970, 1, 1), (2026, 3, 1), (1600, 2, 29), (-44, 3, 15)] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
    }

    #[test]
    fn reads_epochs() {
        assert_eq!(p("1772373909"), Ok(1_772_373_909_000_000));
        assert_eq!(p("1772373909000"), Ok(1_772_373_909_000_000));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(p("2026-02-30T00:00:00Z").is_err());
        assert!(p("yesterday").is_err());
        assert!(p("2026-03-01T25:00:00Z").is_err());
        assert!(p("").is_err());
        assert!(p("99999999999999999").is_err());
    }

    #[test]
    fn rejects_absurd_fields() {
        // offsets beyond RFC 3339 (hours 00-23, minutes 00-59)
        assert!(p("2026-03-01T14:05:09+99:99").is_err());
        assert!(p("2026-03-01T14:05:09+24:00").is_err());
        assert!(p("2026-03-01T14:05:09-0060").is_err());
        assert_eq!(p("2026-03-01T14:05:09+23:59"), Ok(1_772_373_909_000_000 - (23 * 3600 + 59 * 60) * 1_000_000));
        // a fraction of a million digits, a year of ten digits, an epoch of forty
        let long_frac = format!("2026-03-01T14:05:09.{}Z", "1".repeat(1_000_000));
        assert!(p(&long_frac).is_err());
        assert!(p("2026-03-01T14:05:09.123456789012345678Z").is_ok());
        assert!(p("2026-03-01T14:05:09.1234567890123456789Z").is_err());
        assert!(p("2026000000-03-01T14:05:09Z").is_err());
        assert!(p(&"9".repeat(40)).is_err());
        assert!(p("-9223372036854775808").is_err());
        let o = TsOptions { format: Some("%Y-%m-%d %H:%M:%S %z".into()), unit: None };
        assert!(parse_ts(b"2026-03-01 14:05:09 +9999", &o).is_err());
        assert!(parse_ts(b"+999999999-03-01 14:05:09 +0000", &o).is_err());
    }

    #[test]
    fn reads_custom_formats() {
        let o = TsOptions { format: Some("%Y/%m/%d %H:%M".into()), unit: None };
        assert_eq!(parse_ts(b"2022/09/01 00:20", &o), Ok(1_661_991_600_000_000));
    }
}
