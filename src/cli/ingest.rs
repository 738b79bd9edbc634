//! `mirrorflow ingest`: read and validate a ledger without detection.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use mirrorflow::app;

use super::load_config;

#[derive(Args)]
pub struct IngestCmd {
    ledger: PathBuf,
    /// Write refused rows here (quarantine.jsonl format).
    #[arg(long)]
    quarantine: Option<PathBuf>,
    /// Write the accepted rows to this Parquet file in the canonical schema.
    #[arg(long)]
    to_parquet: Option<PathBuf>,
}

impl IngestCmd {
    pub fn run(&self, config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
        let Self { ledger, quarantine, to_parquet } = self;
        let cfg = load_config(config, |_| Ok(()))?;
        let report = app::ingest(&cfg, ledger, quarantine.as_deref(), to_parquet.as_deref())?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(ExitCode::SUCCESS)
    }
}
