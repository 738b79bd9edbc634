//! `mirrorflow run`: run live on stdin, a followed directory or a Kafka topic.

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
    #[arg(long, conflicts_with = "kafka")]
    dir: Option<PathBuf>,
    /// Consume a Kafka topic from these brokers (host:port,...), as a member of `--group`.
    #[arg(long, conflicts_with = "stdin", requires = "topic")]
    kafka: Option<String>,
    /// The Kafka topic to consume.
    #[arg(long)]
    topic: Option<String>,
    /// The Kafka consumer group [default: kafka.group, "mirrorflow"].
    #[arg(long)]
    group: Option<String>,
    /// Kafka message payloads: json (data-contract objects) or csv (one record each).
    #[arg(long)]
    format: Option<String>,
    /// Take periodic checkpoints in this directory, and resume from the one there.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Processing time between checkpoints (e.g. 10s) [default: live.checkpoint-interval].
    #[arg(long)]
    checkpoint_interval: Option<String>,
    /// Also publish every alert to this Kafka topic (exactly once with --checkpoint).
    #[arg(long)]
    alerts_topic: Option<String>,
    /// Also publish every quarantined record to this Kafka topic.
    #[arg(long)]
    quarantine_topic: Option<String>,
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
        let Self {
            stdin,
            dir,
            kafka,
            topic,
            group,
            format,
            checkpoint,
            checkpoint_interval,
            alerts_topic,
            quarantine_topic,
            out,
            idle_exit,
            progress,
            store,
            metrics_addr,
        } = self;
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
            if let Some(b) = kafka {
                c.live_source = LiveSource::Kafka;
                c.kafka.brokers = b.clone();
            }
            if let Some(t) = topic {
                c.kafka.topic = t.clone();
            }
            if let Some(g) = group {
                c.kafka.group = g.clone();
            }
            if let Some(f) = format {
                c.kafka.csv = match f.as_str() {
                    "json" => false,
                    "csv" => true,
                    other => anyhow::bail!("--format `{other}`: expected json or csv"),
                };
            }
            if let Some(t) = alerts_topic {
                c.kafka.alerts_topic = t.clone();
            }
            if let Some(t) = quarantine_topic {
                c.kafka.quarantine_topic = t.clone();
            }
            if let Some(d) = checkpoint {
                c.checkpoint_dir = Some(d.clone());
            }
            if let Some(i) = checkpoint_interval {
                let d = mirrorflow::config::parse_duration(i)
                    .map_err(|e| anyhow::anyhow!("--checkpoint-interval `{i}`: {e}"))?;
                anyhow::ensure!(!d.is_zero(), "--checkpoint-interval must be longer than 0s");
                c.checkpoint_interval = d;
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
