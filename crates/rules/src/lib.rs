//! SQL rules: one file per rule (`sql/NNN_<rule>.sql`), header comments for metadata and
//! named parameters, evaluated over the event-time stream by DataFusion.
//!
//! Owns: reading rule files (the pack built into the binary, or a `rules.dir`), parsing
//! their headers, filling `{{param}}` placeholders from defaults and config overrides,
//! and planning every rule at start-up so all failures are reported together
//! ([`RuleSet::check`]). `engine` runs them per micro-batch (the `Detector`).
//! All `datafusion::` use for detection stays in this crate (`mirrorflow-rules`).
//!
//! A rule file starts with `-- key: value` lines: `rule`, `version`, `typology`,
//! `severity`, `score`, `description`, `narrative` (a template with `{column}` and
//! `{param}` placeholders), `episode_gap` (how long an episode stays open, e.g. `72h`),
//! `lookback` (how far back from an anchor the rule reads the window) and any number of `param: name = value` (a number, or a 'quoted string'). The SQL reads the tables `new_tx` (the micro-batch), `window_tx`
//! (the event-time window, the micro-batch included), `accounts` and `fx_rates`, and
//! returns one row per match with at least `subject`, `tx_ids` (list, time order),
//! `first_ts`, `last_ts` and `amount_usd`; every other column goes to the alert's
//! `details`. See `sql/README.md`.

mod config;
pub mod engine;
pub mod export;
pub mod steps;
pub mod utc_days;

pub use config::RawRules;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mirrorflow_core::alert::Severity;
use mirrorflow_core::error::{Error, Result};
use mirrorflow_core::money::parse_decimal;

/// The rule pack built into the binary (this repository's `sql/`).
pub const BUILTIN: &[(&str, &str)] = &[
    ("010_structuring.sql", include_str!("../../../sql/010_structuring.sql")),
    ("011_structuring_daily.sql", include_str!("../../../sql/011_structuring_daily.sql")),
    ("020_smurfing.sql", include_str!("../../../sql/020_smurfing.sql")),
    ("030_funnel_account.sql", include_str!("../../../sql/030_funnel_account.sql")),
    ("040_pass_through.sql", include_str!("../../../sql/040_pass_through.sql")),
    ("050_profile_mismatch.sql", include_str!("../../../sql/050_profile_mismatch.sql")),
    ("080_fan_in.sql", include_str!("../../../sql/080_fan_in.sql")),
    ("081_fan_out.sql", include_str!("../../../sql/081_fan_out.sql")),
    ("120_precursor_supplier.sql", include_str!("../../../sql/120_precursor_supplier.sql")),
    ("130_trade_based.sql", include_str!("../../../sql/130_trade_based.sql")),
];

/// A parameter value: a number (kept as its exact text) or a string.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Number(String),
    Text(String),
}

impl ParamValue {
    /// Parses `10000`, `0.5` or `'text'` (with `''` for a quote).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        if let Some(inner) = t.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            return Ok(ParamValue::Text(inner.replace("''", "'")));
        }
        match parse_decimal(t.as_bytes(), 18) {
            Ok(_) => Ok(ParamValue::Number(t.to_string())),
            Err(_) => Err(format!("`{t}` is neither a number nor a 'quoted string'")),
        }
    }

    /// The value as it goes into SQL: numbers bare, strings with quotes doubled (the rule
    /// places string parameters inside its own quotes).
    pub fn sql(&self) -> String {
        match self {
            ParamValue::Number(n) => n.clone(),
            ParamValue::Text(s) => s.replace('\'', "''"),
        }
    }

    /// The value as people read it (narratives).
    pub fn display(&self) -> String {
        match self {
            ParamValue::Number(n) | ParamValue::Text(n) => n.clone(),
        }
    }
}

/// The engine's episode gap for rules without an `episode_gap` header: 24 h (µs).
pub const DEFAULT_EPISODE_GAP_US: i64 = 24 * 3_600_000_000;

/// One rule: its header and SQL with parameters filled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The file name without `.sql` (`010_structuring`).
    pub id: String,
    pub version: String,
    pub typology: String,
    pub severity: Severity,
    pub score: f64,
    pub description: String,
    pub narrative: String,
    /// How long an episode of this rule stays open after its last evidence (header
    /// `episode_gap`, e.g. `72h` or `{{hold_days}}d`, filled from the parameters);
    /// `None`: the engine's default.
    pub episode_gap: Option<std::time::Duration>,
    /// The `episode_gap` header as written (placeholders unfilled).
    pub episode_gap_text: Option<String>,
    /// How far back from an anchoring row the rule reads `window_tx` (header `lookback`,
    /// e.g. `{{lookback_hours}}h`: placeholders are filled from the parameters); the
    /// engine hands the rule only that part of the window. `None`: the whole window.
    pub lookback: Option<String>,
    /// Parameters with their values (defaults, then config overrides).
    pub params: BTreeMap<String, ParamValue>,
    /// The SQL as written, with `{{param}}` placeholders.
    pub template: String,
    /// Where it came from.
    pub source: String,
    /// The accounts-table (KYC) columns the rule cannot judge without (header
    /// `needs: kyc (kind, country)`); empty: none. A ledger whose accounts table has no
    /// value in one of them runs without the rule, and says so.
    pub needs_kyc: Vec<String>,
}

impl Rule {
    /// Parses a rule file. `file_name` gives the id.
    pub fn parse(file_name: &str, text: &str, source: &str) -> std::result::Result<Rule, String> {
        let id = file_name.strip_suffix(".sql").unwrap_or(file_name).to_string();
        let mut header: BTreeMap<String, String> = BTreeMap::new();
        let mut params = BTreeMap::new();
        for line in text.lines() {
            let Some(c) = line.trim_start().strip_prefix("--") else {
                if line.trim().is_empty() {
                    continue;
                }
                break;
            };
            let c = c.trim();
            if c.is_empty() {
                // a bare `--` ends the header: comments after it are prose, even when
                // they read `-- word: ...`
                break;
            }
            let Some((k, v)) = c.split_once(':') else { continue };
            let (k, v) = (k.trim(), v.trim());
            if !k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') || k.is_empty() {
                continue;
            }
            if k == "param" {
                let (name, value) =
                    v.split_once('=').ok_or_else(|| format!("`-- param: {v}`: expected `name = value`"))?;
                let value = ParamValue::parse(value).map_err(|e| format!("param `{}`: {e}", name.trim()))?;
                params.insert(name.trim().to_string(), value);
            } else {
                header.insert(k.to_string(), v.to_string());
            }
        }
        let missing: Vec<String> = ["version", "typology", "severity", "description"]
            .iter()
            .filter(|k| !header.contains_key(**k))
            .map(|k| format!("`-- {k}:`"))
            .collect();
        if !missing.is_empty() {
            return Err(format!("the header has no {} line", missing.join(", ")));
        }
        let get = |k: &str| header.get(k).cloned().ok_or_else(|| format!("the header has no `-- {k}:` line"));
        if let Some(named) = header.get("rule")
            && named != &id
        {
            return Err(format!("the header names rule `{named}` but the file is `{file_name}`"));
        }
        let severity = match get("severity")?.as_str() {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => return Err(format!("severity `{other}`: expected low, medium, high or critical")),
        };
        let score: f64 = match header.get("score") {
            Some(s) => s
                .parse()
                .ok()
                .filter(|v: &f64| (0.0..=1.0).contains(v))
                .ok_or(format!("score `{s}`: expected a number in [0, 1]"))?,
            None => 0.5,
        };
        let needs_kyc = match header.get("needs") {
            None => Vec::new(),
            Some(v) => {
                let rest =
                    v.strip_prefix("kyc").ok_or_else(|| format!("needs `{v}`: expected `kyc (column, ...)`"))?.trim();
                let cols = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("needs `{v}`: expected `kyc (column, ...)`"))?;
                cols.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect()
            }
        };
        let mut rule = Rule {
            needs_kyc,
            episode_gap: None,
            episode_gap_text: header.get("episode_gap").cloned(),
            lookback: header.get("lookback").cloned(),
            id,
            version: get("version")?,
            typology: get("typology")?,
            severity,
            score,
            description: get("description")?,
            narrative: header.get("narrative").cloned().unwrap_or_default(),
            params,
            template: text.to_string(),
            source: source.to_string(),
        };
        for name in placeholders(&rule.template) {
            if !rule.params.contains_key(&name) {
                return Err(format!("the SQL uses `{{{{{name}}}}}` but no `-- param: {name} = ...` declares it"));
            }
        }
        rule.episode_gap = rule.episode_gap_duration()?;
        Ok(rule)
    }

    /// The SQL with every `{{param}}` replaced.
    pub fn sql(&self) -> String {
        self.fill(&self.template)
    }

    fn fill(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.params {
            out = out.replace(&format!("{{{{{k}}}}}"), &v.sql());
        }
        out
    }

    /// How long an episode of this rule stays open after its last evidence (µs): its
    /// `episode_gap`, else `default` (the engine's).
    pub fn episode_gap_us(&self, default: i64) -> i64 {
        self.episode_gap.map_or(default, |d| d.as_micros() as i64)
    }

    /// The `episode_gap` header with the parameters filled in, as a duration.
    pub fn episode_gap_duration(&self) -> std::result::Result<Option<std::time::Duration>, String> {
        let Some(t) = &self.episode_gap_text else { return Ok(None) };
        let text = self.fill(t);
        mirrorflow_core::time::parse_duration(text.trim()).map(Some).map_err(|e| format!("episode_gap `{text}`: {e}"))
    }

    /// The `lookback` header with the parameters filled in, as a duration.
    pub fn lookback_duration(&self) -> std::result::Result<Option<std::time::Duration>, String> {
        let Some(t) = &self.lookback else { return Ok(None) };
        let text = self.fill(t);
        mirrorflow_core::time::parse_duration(text.trim()).map(Some).map_err(|e| format!("lookback `{text}`: {e}"))
    }
}

/// The `{{name}}` placeholders of a template.
fn placeholders(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) => {
                out.push(after[..j].trim().to_string());
                rest = &after[j + 2..];
            }
            None => break,
        }
    }
    out
}

/// Rule settings from the config file.
#[derive(Debug, Clone)]
pub struct RulesConfig {
    /// Directory of rule files; `None`: the built-in pack.
    pub dir: Option<PathBuf>,
    /// Rule ids turned off.
    pub disabled: Vec<String>,
    /// Per rule id, parameter overrides (TOML values as text).
    pub params: BTreeMap<String, BTreeMap<String, ParamValue>>,
    /// Most new rows the rules judge in one step (`rules.step-rows`).
    pub step_rows: usize,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig { dir: None, disabled: Vec::new(), params: BTreeMap::new(), step_rows: engine::RULE_STEP_ROWS }
    }
}

/// The enabled rules.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Rules present but disabled by config.
    pub disabled: Vec<String>,
}

impl RuleSet {
    /// Loads the rules (built-in or from `cfg.dir`), applies overrides; every problem in
    /// every file is reported at once.
    pub fn load(cfg: &RulesConfig) -> Result<Self> {
        let mut files: Vec<(String, String, String)> = Vec::new();
        match &cfg.dir {
            None => {
                for (name, text) in BUILTIN {
                    files.push((name.to_string(), text.to_string(), format!("built-in sql/{name}")));
                }
            }
            Some(dir) => files = read_dir_rules(dir)?,
        }
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        let mut disabled = Vec::new();
        for (name, text, source) in files {
            match Rule::parse(&name, &text, &source) {
                Ok(mut rule) => {
                    if let Some(over) = cfg.params.get(&rule.id) {
                        for (k, v) in over {
                            match rule.params.get(k) {
                                None => errors.push(format!(
                                    "`rules.params.{}.{k}`: rule `{}` has no such parameter",
                                    rule.id, rule.id
                                )),
                                Some(d) if std::mem::discriminant(d) != std::mem::discriminant(v) => {
                                    errors.push(format!(
                                        "`rules.params.{}.{k}`: expected a {} like the default",
                                        rule.id,
                                        if matches!(d, ParamValue::Number(_)) { "number" } else { "string" }
                                    ))
                                }
                                Some(_) => {
                                    rule.params.insert(k.clone(), v.clone());
                                }
                            }
                        }
                    }
                    if let Err(e) = rule.lookback_duration() {
                        errors.push(format!("rule `{source}`: {e}"));
                    }
                    match rule.episode_gap_duration() {
                        Ok(gap) => rule.episode_gap = gap,
                        Err(e) => errors.push(format!("rule `{source}`: {e}")),
                    }
                    if cfg.disabled.contains(&rule.id) {
                        disabled.push(rule.id);
                    } else {
                        rules.push(rule);
                    }
                }
                Err(e) => errors.push(format!("rule `{source}`: {e}")),
            }
        }
        for id in cfg.params.keys().chain(cfg.disabled.iter()) {
            if !rules.iter().any(|r| &r.id == id) && !disabled.contains(id) {
                errors.push(format!("the config names rule `{id}`, which does not exist"));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Config(errors));
        }
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(RuleSet { rules, disabled })
    }
}

fn read_dir_rules(dir: &Path) -> Result<Vec<(String, String, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.ends_with(".sql") {
            continue;
        }
        let path = entry.path();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        files.push((name, text, path.display().to_string()));
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::input(dir, "no rule files (*.sql)"));
    }
    Ok(files)
}

/// The SQL rule whose band defines structured cash (the mirror stage's placements).
pub const STRUCTURING_RULE: &str = "010_structuring";

/// The structuring band `[band_floor_usd, ctr_threshold_usd)` of the SQL rule
/// `010_structuring`: the config's overrides of its parameters, else the built-in rule's
/// declared defaults, else (a rule that no longer declares them) the CTR threshold and
/// 80% of it. In USD micro-dollars.
pub fn structuring_band(overrides: Option<&std::collections::BTreeMap<String, ParamValue>>) -> (i128, i128) {
    let builtin = BUILTIN
        .iter()
        .find(|(name, _)| name.strip_suffix(".sql") == Some(STRUCTURING_RULE))
        .and_then(|(name, text)| Rule::parse(name, text, "built-in").ok());
    let param = |name: &str| -> Option<i128> {
        let v = overrides.and_then(|o| o.get(name)).or_else(|| builtin.as_ref().and_then(|r| r.params.get(name)))?;
        let t = v.display();
        mirrorflow_core::money::parse_decimal(t.trim().as_bytes(), mirrorflow_core::schema::USD_SCALE as u32)
            .ok()
            .filter(|v| *v > 0)
    };
    let ctr = param("ctr_threshold_usd").unwrap_or(mirrorflow_core::money::CTR_USD);
    let floor = param("band_floor_usd").filter(|f| *f < ctr).unwrap_or(ctr * 8 / 10);
    (floor, ctr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_pack_parses() {
        let set = RuleSet::load(&RulesConfig::default()).unwrap();
        assert!(set.rules.iter().any(|r| r.id == "010_structuring" && r.typology == "T1"));
        let r = &set.rules[0];
        assert!(!r.sql().contains("{{"), "every placeholder filled");
    }

    #[test]
    fn overrides_and_every_error_at_once() {
        let mut cfg = RulesConfig::default();
        cfg.params
            .insert("010_structuring".into(), [("min_deposits".to_string(), ParamValue::Number("3".into()))].into());
        let set = RuleSet::load(&cfg).unwrap();
        assert!(set.rules[0].sql().contains(">= 3"));
        cfg.params.insert("010_structuring".into(), [("nope".to_string(), ParamValue::Number("3".into()))].into());
        cfg.disabled.push("999_missing".into());
        let e = RuleSet::load(&cfg).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("999_missing"), "{e}");
    }

    #[test]
    fn the_header_ends_at_a_bare_comment_line() {
        let text = "-- version: 1\n-- typology: T1\n-- severity: high\n-- description: d\n--\n\
                    -- episode_gap: 14d, said in prose\nSELECT 1";
        let r = Rule::parse("x.sql", text, "x").unwrap();
        assert_eq!(r.episode_gap, None);
    }

    #[test]
    fn broken_headers_are_named() {
        let e = Rule::parse("x.sql", "-- version: 1\nSELECT 1", "x.sql").unwrap_err();
        assert!(e.contains("typology"), "{e}");
        let e = Rule::parse(
            "x.sql",
            "-- version: 1\n-- typology: T1\n-- severity: high\n-- description: d\nSELECT {{a}}",
            "x",
        )
        .unwrap_err();
        assert!(e.contains("{{a}}"), "{e}");
    }

    #[test]
    fn the_band_is_the_structuring_rules() {
        let (floor, ctr) = structuring_band(None);
        assert_eq!(
            (floor, ctr),
            (8_000 * mirrorflow_core::schema::USD_ONE, mirrorflow_core::money::CTR_USD),
            "010_structuring declares band_floor_usd = 8000"
        );
        let o: BTreeMap<String, ParamValue> =
            [("band_floor_usd".to_string(), ParamValue::Number("7500".into()))].into();
        assert_eq!(
            structuring_band(Some(&o)),
            (7_500 * mirrorflow_core::schema::USD_ONE, mirrorflow_core::money::CTR_USD)
        );
    }
}
