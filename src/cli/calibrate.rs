//! `mirrorflow calibrate`: derive amount floors from a ledger and write them as a config.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::load_config;

#[derive(Args)]
pub struct CalibrateCmd {
    ledger: PathBuf,
    /// Write the config here (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl CalibrateCmd {
    pub fn run(&self, config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
        let Self { ledger, out } = self;
        let cfg = load_config(config, |_| Ok(()))?;
        let c = mirrorflow::calibrate::measure(&cfg, ledger)?;
        let text = mirrorflow::calibrate::to_toml(&c, &cfg, ledger);
        match out {
            Some(p) => std::fs::write(p, &text).map_err(|e| anyhow::anyhow!("writing `{}`: {e}", p.display()))?,
            None => print!("{text}"),
        }
        Ok(ExitCode::SUCCESS)
    }
}
