//! The rule pack as SQL text: every enabled rule with its parameters filled, what the
//! engine runs (`mirrorflow rules sql`, and the input of `mirrorflow-bench rules`, which
//! runs the same SQL in DuckDB).
//!
//! Owns: `RuleSql`, `rules_sql`, `format_rules_sql`.
//! Must not: run anything.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::RuleSet;

/// One enabled rule's SQL with its parameters filled: what the engine runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSql {
    pub id: String,
    pub version: String,
    /// Where the rule came from (`built-in sql/010_structuring.sql` or a path).
    pub source: String,
    /// How long an episode stays open after its last evidence (the rule's `episode_gap`,
    /// else the engine's default), in microseconds.
    pub episode_gap_us: i64,
    pub sql: String,
}

/// The SQL of every rule of `set`, in rule order.
pub fn rules_sql(set: &RuleSet) -> Vec<RuleSql> {
    set.rules
        .iter()
        .map(|r| RuleSql {
            id: r.id.clone(),
            version: r.version.clone(),
            source: r.source.clone(),
            episode_gap_us: r.episode_gap_us(crate::DEFAULT_EPISODE_GAP_US),
            sql: r.sql(),
        })
        .collect()
}

/// `rules` as a SQL script: each rule after a comment naming it, ended by `;`.
pub fn format_rules_sql(rules: &[RuleSql]) -> String {
    let mut out = String::new();
    for r in rules {
        let _ = writeln!(out, "-- ==== {} v{} ({}), parameters filled ====", r.id, r.version, r.source);
        let _ = writeln!(out, "{}\n;\n", r.sql.trim_end().trim_end_matches(';').trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::RulesConfig;

    #[test]
    fn the_rules_sql_has_every_parameter_filled() {
        let set = RuleSet::load(&RulesConfig::default()).unwrap();
        let sql = rules_sql(&set);
        assert_eq!(sql.len(), set.rules.len());
        assert!(sql.iter().any(|r| r.id == "010_structuring" && r.source.contains("010_structuring.sql")));
        let gaps: BTreeMap<&str, i64> = sql.iter().map(|r| (r.id.as_str(), r.episode_gap_us)).collect();
        assert_eq!(gaps["010_structuring"], 14 * 86_400_000_000, "the header's episode_gap ({{hold_days}}d, 14 days)");
        for r in &sql {
            assert!(!r.sql.contains("{{"), "{}: a placeholder left", r.id);
        }
        let text = format_rules_sql(&sql[..1]);
        assert!(text.starts_with(&format!("-- ==== {} v{} (", sql[0].id, sql[0].version)), "{text}");
        assert!(text.ends_with("\n;\n\n"), "{text}");
        let back: Vec<RuleSql> = serde_json::from_str(&serde_json::to_string(&sql).unwrap()).unwrap();
        assert_eq!(back, sql);
    }
}
