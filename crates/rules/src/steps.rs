//! CTE materialization: a rule's `WITH` parts that are read more than once are computed
//! once per batch and handed to the rest of the query as tables.
//!
//! DataFusion inlines a CTE wherever it is named, so a rule whose `gate` or `cash` part
//! is read by three later parts would scan and join the window three times. DuckDB
//! materializes such CTEs; so does mirrorflow, here: the rule's SQL is split into steps,
//! each materialized CTE a query of its own whose result is registered under the CTE's
//! name before the next step runs. Semantics do not change (CTEs are pure); only the
//! work does.
//!
//! Owns: splitting a rule's SQL into steps. Must not: run anything.

use datafusion::sql::sqlparser::ast::{CteAsMaterialized, Query, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// One query of a rule's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `Some(name)`: a materialized CTE, registered as table `name` for the later steps.
    /// `None`: the rule's result.
    pub table: Option<String>,
    pub sql: String,
}

/// Splits `sql` into steps: every CTE read more than once becomes a step of its own, carrying the CTEs it needs inline; the last
/// step is the rule's query. SQL that does not parse as one query is one step (the
/// planner then reports what is wrong with it).
pub fn split(sql: &str) -> Vec<Step> {
    let whole = || vec![Step { table: None, sql: sql.to_string() }];
    let Ok(mut statements) = Parser::parse_sql(&GenericDialect {}, sql) else { return whole() };
    if statements.len() != 1 {
        return whole();
    }
    let Statement::Query(query) = statements.remove(0) else { return whole() };
    let mut query: Query = *query;
    let Some(with) = query.with.take() else { return whole() };
    if with.recursive {
        return whole();
    }
    let ctes = with.cte_tables;
    let body = query.to_string();
    let texts: Vec<String> = ctes.iter().map(|c| c.query.to_string()).collect();
    let names: Vec<String> = ctes.iter().map(|c| c.alias.name.value.clone()).collect();
    // How often each CTE is read by the later CTEs and the body.
    let uses = |i: usize| -> usize {
        texts[i + 1..].iter().map(|t| count_word(t, &names[i])).sum::<usize>() + count_word(&body, &names[i])
    };
    let materialize: Vec<bool> = (0..ctes.len())
        .map(|i| match ctes[i].materialized {
            Some(CteAsMaterialized::Materialized) => true,
            Some(CteAsMaterialized::NotMaterialized) => false,
            None => uses(i) > 1,
        })
        .collect();
    if !materialize.iter().any(|m| *m) {
        return whole();
    }
    // Each step inlines the CTEs before it that are not materialized (unused ones are
    // harmless: the planner drops them).
    let with_inline = |upto: usize, query: &str| -> String {
        let inline: Vec<String> =
            (0..upto).filter(|&j| !materialize[j]).map(|j| format!("{} AS ({})", names[j], texts[j])).collect();
        if inline.is_empty() { query.to_string() } else { format!("WITH {} {query}", inline.join(", ")) }
    };
    let mut steps = Vec::new();
    for i in 0..ctes.len() {
        if materialize[i] {
            steps.push(Step { table: Some(names[i].clone()), sql: with_inline(i, &texts[i]) });
        }
    }
    steps.push(Step { table: None, sql: with_inline(ctes.len(), &body) });
    steps
}

/// Occurrences of `word` as a whole identifier in `text` (ASCII case-insensitive).
fn count_word(text: &str, word: &str) -> usize {
    let t = text.to_ascii_lowercase();
    let w = word.to_ascii_lowercase();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut n = 0;
    let mut from = 0;
    while let Some(p) = t[from..].find(&w) {
        let start = from + p;
        let end = start + w.len();
        let before = t[..start].chars().next_back();
        let after = t[end..].chars().next();
        // `x.cash` and `cash.x` are a column and a qualifier, not a read of table `cash`
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) && before != Some('.') && after != Some('.') {
            n += 1;
        }
        from = end;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctes_read_twice_become_steps_and_the_rest_stay_inline() {
        let sql = "WITH a AS (SELECT x FROM t), b AS (SELECT x FROM a WHERE x > 1), \
                   c AS (SELECT x FROM b) SELECT * FROM b JOIN c ON b.x = c.x";
        let steps = split(sql);
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert_eq!(steps[0].table.as_deref(), Some("b"));
        assert!(steps[0].sql.starts_with("WITH a AS (SELECT x FROM t)"), "{}", steps[0].sql);
        assert_eq!(steps[1].table, None);
        // `b` is a table now: the last step inlines only a and c
        assert!(
            steps[1].sql.contains("c AS (SELECT x FROM b)") && !steps[1].sql.contains("b AS ("),
            "{}",
            steps[1].sql
        );
    }

    #[test]
    fn hints_and_plain_queries() {
        let one = split("WITH a AS (SELECT 1 AS x) SELECT x FROM a");
        assert_eq!(one.len(), 1);
        let twice = split("WITH a AS (SELECT 1 AS x) SELECT a.x FROM a JOIN a AS a2 ON a.x = a2.x");
        assert_eq!(twice.len(), 2);
        assert_eq!(split("SELEC nonsense").len(), 1);
    }

    #[test]
    fn counts_whole_identifiers_only() {
        assert_eq!(count_word("select cash, cash_totals.x, c.cash, cash.y from cash join cashier", "cash"), 2);
    }
}
