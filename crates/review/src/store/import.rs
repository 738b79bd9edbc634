//! `mirrorflow alerts import`: reads alerts (JSON lines, as `alerts.jsonl` holds them) and
//! checks every line before anything is stored.
//!
//! A line that is not an alert stops the import with its line number and field
//! (``line 3 of `x.jsonl`: field `amount_usd`: ...``): nothing of the file is stored, no
//! bad text becomes a zero, and no input makes it panic.
//!
//! Owns: reading and checking an import file.
//! Must not: write to the store (the caller `put`s what this returns).

use std::path::Path;

use mirrorflow_core::alert::Alert;
use mirrorflow_core::error::{Error, Result};

/// Longest `alert_id`, `rule_id` or `rule_version`, in characters.
const MAX_ID_CHARS: usize = 200;

/// Reads every alert of `path` (blank lines skipped); the first bad line is the error.
pub fn read_alerts(path: &Path) -> Result<Vec<Alert>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = |field: &str, problem: String| {
            let field = if field.is_empty() { String::new() } else { format!("field `{field}`: ") };
            Error::Usage(format!("line {} of `{}`: {field}{problem}", n + 1, path.display()))
        };
        let line = std::str::from_utf8(line).map_err(|e| at("", format!("not UTF-8 text ({e})")))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let a: Alert =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(line)).map_err(|e| {
                let field = e.path().to_string();
                let field = if field == "." { String::new() } else { field };
                let problem = e.into_inner().to_string();
                at(&field, if field.is_empty() { format!("not an alert: {problem}") } else { problem })
            })?;
        if let Some((field, problem)) = problem(&a) {
            return Err(at(field, problem));
        }
        out.push(a);
    }
    Ok(out)
}

/// The first field of `a` that the store cannot keep as it is, and why.
fn problem(a: &Alert) -> Option<(&'static str, String)> {
    for (field, v) in [("alert_id", &a.alert_id), ("rule_id", &a.rule_id), ("rule_version", &a.rule_version)] {
        if v.trim().is_empty() {
            return Some((field, "is empty".into()));
        }
        if v.chars().count() > MAX_ID_CHARS {
            return Some((field, format!("longer than {MAX_ID_CHARS} characters")));
        }
        if v.chars().any(char::is_control) {
            return Some((field, "holds a control character".into()));
        }
    }
    if !is_decimal(&a.amount_usd) {
        return Some(("amount_usd", format!("`{}` is not a decimal such as 1250.00", shown(&a.amount_usd))));
    }
    if !(a.score.is_finite() && (0.0..=1.0).contains(&a.score)) {
        return Some(("score", format!("{} is not in [0, 1]", a.score)));
    }
    let mut times = Vec::new();
    for (field, v) in [("first_ts", &a.first_ts), ("last_ts", &a.last_ts)] {
        match chrono::DateTime::parse_from_rfc3339(v) {
            Ok(t) => times.push(t),
            Err(e) => return Some((field, format!("`{}` is not an RFC 3339 time: {e}", shown(v)))),
        }
    }
    if times[0] > times[1] {
        return Some(("last_ts", "is before `first_ts`".into()));
    }
    None
}

/// Exact decimal text: an optional `-`, up to 20 digits, optionally `.` and up to 18 more.
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |x: &str, max: usize| !x.is_empty() && x.len() <= max && x.bytes().all(|b| b.is_ascii_digit());
    all_digits(int, 20) && frac.is_none_or(|f| all_digits(f, 18))
}

/// At most 40 characters of a bad value, escaped (never the whole of a huge one).
fn shown(v: &str) -> String {
    let mut out: String = v.chars().take(40).flat_map(char::escape_debug).collect();
    if v.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_decimal;

    #[test]
    fn decimals_are_plain_digit_text() {
        for ok in ["0", "1.5", "-12.50", "1250000.000001"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["", "-", "1.", ".5", "1.5é", "1e3", "NaN", "1,5", "+1", " 1", "１"] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }
}
