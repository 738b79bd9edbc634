//! `mirrorflow run`: run live on stdin or a followed directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use mirrorflow::app;
use mirrorflow::config::LiveSource;

use super::{load_config, progress_flag, runtime, set_out_dir, set_store, start_metrics};

#[derive(Args)]
pub struct RunCmd {
    /// Read NDJSON transactions from standard input.
    #[arg(long, conflicts_with = "dir")]
    stdin: bool,
    /// Follow this directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stop after this long without new data (e.g. 30s); default: run until Ctrl-C.
    #[arg(long)]
    idle_exit: Option<String>,
    #[arg(long)]
    progress: Option<String>,
    /// Alert store: a SQLite file, postgres://..., or off [default: OUT/alerts.db].
    #[arg(long)]
    store: Option<String>,
    /// Serve Prometheus metrics (/metrics, /health, /ready) on this address.
    #[arg(long)]
    metrics_addr: Option<String>,
}

impl RunCmd {
    pub fn run(&self, config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
        let Self { stdin, dir, out, idle_exit, progress, store, metrics_addr } = self;
        let cfg = load_config(config, |c| {
            if let Some(o) = out {
                set_out_dir(c, o);
            }
            if *stdin {
                c.live_source = LiveSource::Stdin;
            }
            if let Some(d) = dir {
                c.live_source = LiveSource::Dir(d.clone());
            }
            if let Some(i) = idle_exit {
                let d = mirrorflow::config::parse_duration(i).map_err(|e| anyhow::anyhow!("--idle-exit `{i}`: {e}"))?;
                c.idle_exit = (!d.is_zero()).then_some(d);
            }
            if let Some(url) = store {
                set_store(c, url);
            }
            progress_flag(progress.as_ref(), c)
        })?;
        let rt = runtime()?;
        if let Some(a) = metrics_addr {
            start_metrics(&rt, a)?;
        }
        let summary = rt.block_on(app::run_live(&cfg))?;
        print!("{}", summary.to_text(&cfg.out_dir));
        Ok(if summary.reconciled { ExitCode::SUCCESS } else { ExitCode::from(3) })
    }
}
