//! `mirrorflow eval`: score alerts against labels.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct EvalCmd {
    /// labels.csv from `gen` (or IBM AMLSim's alert transactions file).
    #[arg(long)]
    labels: PathBuf,
    /// alerts.jsonl of a run.
    #[arg(long)]
    alerts: PathBuf,
    /// populations.csv from `gen`: counts alerts on look-alike populations.
    #[arg(long)]
    populations: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl EvalCmd {
    pub fn run(&self) -> anyhow::Result<ExitCode> {
        let Self { labels, alerts, populations, json } = self;
        let opts = mirrorflow::eval::EvalOptions {
            labels: labels.clone(),
            alerts: alerts.clone(),
            populations: populations.clone(),
        };
        let report = mirrorflow::eval::evaluate(&opts)?;
        if *json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.to_table());
        }
        Ok(ExitCode::SUCCESS)
    }
}
