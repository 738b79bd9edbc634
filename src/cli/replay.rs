//! `mirrorflow replay`: replay a historical ledger in event time.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use mirrorflow::app;

use super::{load_config, progress_flag, runtime, set_out_dir, set_store, start_metrics};

#[derive(Args)]
pub struct ReplayCmd {
    /// Ledger directory (transactions.*, accounts.*, fx_rates.*) or a transactions file.
    ledger: PathBuf,
    /// Output directory (alerts.jsonl, quarantine.jsonl, summary.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only events at or after this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// Only events before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// 0 replays as fast as possible; N replays at N x real time.
    #[arg(long)]
    speed: Option<f64>,
    /// Progress display: auto, bar, log, off.
    #[arg(long)]
    progress: Option<String>,
    /// Start from the checkpoint a previous run left in this directory.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// End by writing a checkpoint to this directory (open episodes stay open and
    /// carry over to the run that resumes from it).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Alert store: a SQLite file, postgres://..., or off [default: OUT/alerts.db].
    #[arg(long)]
    store: Option<String>,
    /// Serve Prometheus metrics (/metrics, /health, /ready) on this address.
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Keep serving metrics this long after the run ends (e.g. 30s), for a last scrape.
    #[arg(long)]
    metrics_hold: Option<String>,
}

impl ReplayCmd {
    pub fn run(&self, config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
        let Self { ledger, out, from, to, speed, progress, resume, checkpoint, store, metrics_addr, metrics_hold } =
            self;
        let cfg = load_config(config, |c| {
            if let Some(o) = out {
                set_out_dir(c, o);
            }
            if let Some(url) = store {
                set_store(c, url);
            }
            if let Some(s) = speed {
                anyhow::ensure!(*s >= 0.0 && s.is_finite(), "--speed {s}: expected 0 or a positive factor");
                c.speed = *s;
            }
            progress_flag(progress.as_ref(), c)
        })?;
        let args = app::ReplayArgs {
            from: from.clone(),
            to: to.clone(),
            resume: resume.clone(),
            checkpoint: checkpoint.clone(),
        };
        let rt = runtime()?;
        if let Some(a) = metrics_addr {
            start_metrics(&rt, a)?;
        }
        let hold = match metrics_hold {
            Some(h) => {
                Some(mirrorflow::config::parse_duration(h).map_err(|e| anyhow::anyhow!("--metrics-hold {h}: {e}"))?)
            }
            None => None,
        };
        let summary = rt.block_on(app::replay(&cfg, ledger, &args))?;
        print!("{}", summary.to_text(&cfg.out_dir));
        if let Some(h) = hold.filter(|_| metrics_addr.is_some()) {
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            rt.block_on(async {
                tokio::select! {
                    _ = tokio::time::sleep(h) => {}
                    _ = mirrorflow::shutdown_signal() => {}
                }
            });
        }
        Ok(if summary.reconciled { ExitCode::SUCCESS } else { ExitCode::from(3) })
    }
}
