//! `mirrorflow produce`: replay a ledger onto a Kafka topic.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::runtime;

#[derive(Args)]
pub struct ProduceCmd {
    /// A ledger directory or one transactions file (CSV or NDJSON).
    ledger: PathBuf,
    /// Bootstrap servers (host:port,...).
    #[arg(long)]
    kafka: String,
    #[arg(long)]
    topic: String,
    /// Partitions of the topic when it is created here (an existing topic is kept).
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// 0: as fast as the broker takes them; N: N x real time (event time).
    #[arg(long, default_value_t = 0.0)]
    speed: f64,
    /// Move records up to this far out of event-time order (e.g. 30m), seeded.
    #[arg(long)]
    disorder: Option<String>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// json (data-contract objects) or csv (the ledger's CSV records).
    #[arg(long, default_value = "json")]
    format: String,
    /// Produce a side table of the ledger instead of its transactions: accounts (keyed
    /// by account_id) or fx_rates (keyed by date/currency), onto a compacted topic that
    /// `live.accounts = "kafka:TOPIC"` (or `live.fx-rates`) reads.
    #[arg(long)]
    table: Option<String>,
}

impl ProduceCmd {
    pub fn run(&self) -> anyhow::Result<ExitCode> {
        let disorder = match &self.disorder {
            Some(d) => mirrorflow::config::parse_duration(d).map_err(|e| anyhow::anyhow!("--disorder `{d}`: {e}"))?,
            None => std::time::Duration::ZERO,
        };
        anyhow::ensure!(self.speed >= 0.0 && self.speed.is_finite(), "--speed must be 0 or a positive factor");
        anyhow::ensure!(self.partitions >= 1, "--partitions must be at least 1");
        let csv = match self.format.as_str() {
            "json" => false,
            "csv" => true,
            other => anyhow::bail!("--format `{other}`: expected json or csv"),
        };
        let opts = mirrorflow::produce::ProduceOptions {
            brokers: self.kafka.clone(),
            topic: self.topic.clone(),
            partitions: self.partitions,
            speed: self.speed,
            disorder,
            seed: self.seed,
            csv,
            client: Vec::new(),
            table: self.table.clone(),
        };
        let report = runtime()?.block_on(mirrorflow::produce::produce(&self.ledger, &opts))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(ExitCode::SUCCESS)
    }
}
