//! `mirrorflow config`: print the embedded default configuration.

use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct ConfigCmd {}

impl ConfigCmd {
    pub fn run(&self) -> anyhow::Result<ExitCode> {
        print!("{}", mirrorflow::config::DEFAULT_TOML);
        Ok(ExitCode::SUCCESS)
    }
}
