//! `mirrorflow serve`: the review API and page over the alert store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::{load_config, runtime};

#[derive(Args)]
pub struct ServeCmd {
    /// Store URL [default: the config's `output.store`].
    #[arg(long)]
    store: Option<String>,
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Store connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

impl ServeCmd {
    pub fn run(&self, config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
        let Self { store, addr, tokens, connections } = self;
        let cfg = load_config(config, |_| Ok(()))?;
        let Some(url) = store.clone().or(cfg.store.clone()) else {
            anyhow::bail!("the alert store is off (`output.store = \"off\"`): give --store")
        };
        let text = match tokens {
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read `{}`", p.display()))?,
            None => std::env::var("MIRRORFLOW_TOKENS").unwrap_or_default(),
        };
        let opts = mirrorflow::serve::ServeOptions {
            store: url,
            addr: addr.parse().with_context(|| format!("--addr {addr}: expected host:port"))?,
            tokens: mirrorflow::serve::parse_tokens(&text)?,
            connections: *connections,
            limits: cfg.serve.clone(),
        };
        runtime()?.block_on(mirrorflow::serve::serve(opts))?;
        Ok(ExitCode::SUCCESS)
    }
}
