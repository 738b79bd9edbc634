//! `[rules]` as written in the TOML, and its validation into `RulesConfig` (the product's
//! config only gathers the section).
//!
//! Owns: `RawRules`, `RawRules::validate`.
//! Must not: read rule files (`RuleSet::load` does, at start-up).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{ParamValue, RulesConfig};

/// `[rules]`: the SQL rule pack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRules {
    /// Run the SQL rules.
    pub enabled: bool,
    /// Rule directory; empty for the built-in pack.
    pub dir: String,
    /// Rule ids turned off.
    pub disabled: Vec<String>,
    /// Most new rows the rules judge in one step.
    pub step_rows: i64,
    /// Per rule id, parameter overrides.
    #[serde(default)]
    pub params: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

impl RawRules {
    /// Checks every parameter override (problems go to `errs`, named by key) and returns
    /// the rules' settings, parameters included even when the rules are off (other stages
    /// read the structuring band from them).
    pub fn validate(&self, errs: &mut Vec<String>) -> RulesConfig {
        let mut params = BTreeMap::new();
        for (rule, given) in &self.params {
            let mut m = BTreeMap::new();
            for (k, v) in given {
                let pv = match v {
                    toml::Value::Integer(i) => ParamValue::Number(i.to_string()),
                    toml::Value::Float(f) => ParamValue::Number(f.to_string()),
                    toml::Value::String(s) => ParamValue::Text(s.clone()),
                    other => {
                        errs.push(format!("`rules.params.{rule}.{k}` = {other}: expected a number or a string"));
                        continue;
                    }
                };
                m.insert(k.clone(), pv);
            }
            params.insert(rule.clone(), m);
        }
        if self.step_rows < 1024 {
            errs.push(format!("`rules.step-rows` = {}: must be at least 1024", self.step_rows));
        }
        RulesConfig {
            step_rows: self.step_rows.max(1024) as usize,
            dir: (!self.dir.is_empty()).then(|| self.dir.clone().into()),
            disabled: self.disabled.clone(),
            params,
        }
    }
}
