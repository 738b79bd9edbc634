//! `mirrorflow rules`: list, check or print the SQL rules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use mirrorflow::app;

use super::load_config;

#[derive(Args)]
pub struct RulesCmd {
    #[command(subcommand)]
    rules: RulesCommand,
}

impl RulesCmd {
    pub fn run(&self, config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
        let Self { rules } = self;
        let dir = match rules {
            RulesCommand::List { dir, .. } | RulesCommand::Check { dir } | RulesCommand::Sql { dir, .. } => dir.clone(),
        };
        let cfg = load_config(config, |_| Ok(()))?;
        let mut rules_cfg = cfg.rules.clone().unwrap_or_default();
        if let Some(d) = dir {
            rules_cfg.dir = Some(d);
        }
        let set = mirrorflow::rules::RuleSet::load(&rules_cfg)?;
        match rules {
            RulesCommand::List { params, .. } => {
                for r in &set.rules {
                    println!(
                        "{:<28} v{:<3} {:<4} {:<8} {}",
                        r.id,
                        r.version,
                        r.typology,
                        r.severity.as_str(),
                        r.description
                    );
                    if *params {
                        for (k, v) in &r.params {
                            println!("{:<34}{k} = {}", "", v.display());
                        }
                    }
                }
                for d in &set.disabled {
                    println!("{d:<28} (disabled)");
                }
            }
            RulesCommand::Check { .. } => {
                let side = app::load_side_tables(None, None, &cfg)?;
                mirrorflow::rules::engine::SqlRules::try_new(&set, std::sync::Arc::new(side.accounts), &side.fx)?;
                println!("{} rule(s) parsed and planned: ok", set.rules.len());
            }
            RulesCommand::Sql { ids, json, .. } => {
                let unknown: Vec<&String> = ids.iter().filter(|id| !set.rules.iter().any(|r| &r.id == *id)).collect();
                if !unknown.is_empty() {
                    let known: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
                    anyhow::bail!(
                        "no enabled rule {}; the enabled rules are {}",
                        unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                        known.join(", ")
                    );
                }
                let mut sql = mirrorflow::rules::export::rules_sql(&set);
                sql.retain(|r| ids.is_empty() || ids.contains(&r.id));
                if *json {
                    println!("{}", serde_json::to_string_pretty(&sql)?);
                } else {
                    print!("{}", mirrorflow::rules::export::format_rules_sql(&sql));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// List the enabled rules (id, version, typology, severity, description).
    List {
        /// Also show every parameter and its value.
        #[arg(long)]
        params: bool,
        /// Rule directory (default: `rules.dir`, or the built-in pack).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Parse and plan every rule; report every failure at once (exit 2 if any).
    Check {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the SQL of the enabled rules with their parameters filled (what the engine runs).
    Sql {
        /// Only these rule ids (default: every enabled rule).
        ids: Vec<String>,
        /// Rule directory (default: `rules.dir`, or the built-in pack).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print a JSON array of {id, version, source, sql} instead.
        #[arg(long)]
        json: bool,
    },
}
