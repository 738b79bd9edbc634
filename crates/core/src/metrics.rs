//! Prometheus metrics: one typed set, registered once, names as constants, the
//! `mirrorflow_` prefix, units in names, counters ending `_total`. Labels are bounded
//! (source kind, reject reason, rule, typology, severity, stage, status): never an
//! account, customer or alert id.
//!
//! Owns: `Metrics` (the process-wide set, `metrics()`) and the text exposition (the
//! product serves it over HTTP).
//! Must not: decide anything; stages report to it.

use std::sync::LazyLock;
use std::sync::atomic::AtomicBool;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Metric names.
pub mod names {
    pub const ROWS_READ: &str = "mirrorflow_rows_read_total";
    pub const ROWS_ACCEPTED: &str = "mirrorflow_rows_accepted_total";
    pub const ROWS_QUARANTINED: &str = "mirrorflow_rows_quarantined_total";
    pub const ROWS_OUTSIDE_RANGE: &str = "mirrorflow_rows_outside_range_total";
    pub const ALERTS: &str = "mirrorflow_alerts_total";
    pub const ALERT_VALUE_USD: &str = "mirrorflow_alert_value_usd_total";
    pub const STAGE_SECONDS: &str = "mirrorflow_stage_duration_seconds";
    pub const EVENT_TIME_LAG_SECONDS: &str = "mirrorflow_event_time_lag_seconds";
    pub const WATERMARK_SECONDS: &str = "mirrorflow_watermark_timestamp_seconds";
    pub const WINDOW_TRANSACTIONS: &str = "mirrorflow_window_transactions";
    pub const MIRROR_OPEN_LEGS: &str = "mirrorflow_mirror_open_legs";
    pub const STORE_WRITE_ERRORS: &str = "mirrorflow_store_write_errors_total";
    pub const ALERT_QUEUE: &str = "mirrorflow_alert_queue_alerts";
    pub const ALERT_QUEUE_OLDEST_AGE_SECONDS: &str = "mirrorflow_alert_queue_oldest_age_seconds";
    pub const REVIEW_DECISIONS: &str = "mirrorflow_review_decisions_total";
    pub const MIRROR_MATCHES: &str = "mirrorflow_mirror_matches_total";
    pub const LAST_BATCH_SECONDS: &str = "mirrorflow_last_batch_timestamp_seconds";
    pub const GRAPH_NODES: &str = "mirrorflow_graph_nodes";
    pub const GRAPH_EDGES: &str = "mirrorflow_graph_edges";
    pub const BUILD_INFO: &str = "mirrorflow_build_info";
    pub const UP: &str = "mirrorflow_up";
    pub const CHECKPOINTS: &str = "mirrorflow_checkpoints_total";
    pub const CHECKPOINT_SECONDS: &str = "mirrorflow_checkpoint_duration_seconds";
    pub const KAFKA_LAG: &str = "mirrorflow_kafka_consumer_lag_messages";
    pub const KAFKA_EVENT_TIME_LAG: &str = "mirrorflow_kafka_partition_event_time_lag_seconds";
    pub const SIDE_TABLE_REFRESHES: &str = "mirrorflow_side_table_refreshes_total";
    pub const SIDE_TABLE_ROWS: &str = "mirrorflow_side_table_rows";
    pub const HEAP_ALLOCATED: &str = "mirrorflow_heap_allocated_bytes";
    pub const HEAP_RESIDENT: &str = "mirrorflow_heap_resident_bytes";

    /// What `mirrorflow serve` exposes (the review queue; the pipeline's metrics belong to
    /// the job).
    pub const REVIEW: &[&str] = &[ALERT_QUEUE, ALERT_QUEUE_OLDEST_AGE_SECONDS, REVIEW_DECISIONS, BUILD_INFO, UP];
}

/// Which process is exposing metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposer {
    /// A replay or live run: everything but the review queue.
    Job,
    /// `mirrorflow serve`: the review queue (`names::REVIEW`).
    Review,
}

/// The process's metrics.
pub struct Metrics {
    pub registry: Registry,
    /// By `source` (replay, stdin, dir).
    pub rows_read: IntCounterVec,
    pub rows_accepted: IntCounterVec,
    /// By `source` and `reason`.
    pub rows_quarantined: IntCounterVec,
    /// Rows outside a replay's `--from` / `--to`, by `source`: read = accepted +
    /// quarantined + outside range.
    pub rows_outside_range: IntCounterVec,
    /// By `rule`, `typology`, `severity`.
    pub alerts: IntCounterVec,
    /// USD moved through alerted patterns, by `typology`.
    pub alert_value_usd: prometheus::CounterVec,
    /// Time per stage and batch: `ingest` (read and parse), each detector (`rules`, `graph`,
    /// `graph_peel`, `mirror`), `store`.
    pub stage_seconds: HistogramVec,
    /// Wall-clock now minus the newest event time (live runs; replays lag by design).
    pub event_time_lag_seconds: Gauge,
    pub watermark_seconds: Gauge,
    /// Wall-clock Unix time the last batch went through the detectors (stall detection).
    pub last_batch_seconds: Gauge,
    pub window_transactions: IntGauge,
    /// The temporal graph's window: accounts (or parties) and transfers.
    pub graph_nodes: IntGauge,
    pub graph_edges: IntGauge,
    pub mirror_open_legs: IntGauge,
    /// Mirror swaps matched, by `match` (linked, amount_and_time, crypto, netted).
    pub mirror_matches: IntCounterVec,
    pub store_write_errors: IntCounter,
    /// The review queue by `severity` and `status` (set by `mirrorflow serve` on scrape).
    pub alert_queue: IntGaugeVec,
    /// Age of the oldest alert awaiting a decision, by `severity` (serve, on scrape).
    pub alert_queue_oldest_age_seconds: prometheus::GaugeVec,
    /// Decisions in the append-only audit trail by the `status` moved to (serve, on
    /// scrape: a count of an append-only table is a counter).
    pub review_decisions: IntGaugeVec,
    pub up: IntGauge,
    /// Checkpoints a live run wrote (`run --checkpoint`).
    pub checkpoints: IntCounter,
    /// Time from a barrier reaching the sinks to its checkpoint being on disk.
    pub checkpoint_seconds: prometheus::Histogram,
    /// Messages behind the partition's end, by `topic` and `partition` (never ids).
    pub kafka_lag: IntGaugeVec,
    /// Wall clock minus the newest event time read from each partition (the event-time
    /// lag per source), by `topic` and `partition`.
    pub kafka_event_time_lag: prometheus::GaugeVec,
    /// Side tables read again while a live run went on, by `table` (accounts, fx_rates).
    pub side_table_refreshes: IntCounterVec,
    /// Rows of each side table in use, by `table`.
    pub side_table_rows: IntGaugeVec,
    /// The allocator's figures (`HEAP_PROBE`), set at each exposition.
    pub heap_allocated: IntGauge,
    pub heap_resident: IntGauge,
}

/// Registers `c` with `registry` and hands it back.
fn registered<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> prometheus::Result<C> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn build() -> prometheus::Result<Metrics> {
    let registry = Registry::new();
    let counter_vec = |name: &str, help: &str, labels: &[&str]| {
        registered(&registry, IntCounterVec::new(Opts::new(name, help), labels)?)
    };
    let gauge = |name: &str, help: &str| registered(&registry, IntGauge::new(name, help)?);
    let fgauge = |name: &str, help: &str| registered(&registry, Gauge::new(name, help)?);
    let alert_value_usd = registered(
        &registry,
        prometheus::CounterVec::new(
            Opts::new(names::ALERT_VALUE_USD, "USD moved through alerted patterns"),
            &["typology"],
        )?,
    )?;
    let stage_seconds = registered(
        &registry,
        HistogramVec::new(
            HistogramOpts::new(names::STAGE_SECONDS, "Time a stage spent on one batch")
                .buckets(vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["stage"],
        )?,
    )?;
    let alert_queue = registered(
        &registry,
        IntGaugeVec::new(
            Opts::new(names::ALERT_QUEUE, "Alerts in the review store by severity and status"),
            &["severity", "status"],
        )?,
    )?;
    let alert_queue_oldest_age_seconds = registered(
        &registry,
        prometheus::GaugeVec::new(
            Opts::new(names::ALERT_QUEUE_OLDEST_AGE_SECONDS, "Age of the oldest alert awaiting a decision"),
            &["severity"],
        )?,
    )?;
    // Read from the audit trail at each scrape: set, not incremented, but never falls (the
    // trail is append-only), so it is exposed as a counter.
    let review_decisions = registered(
        &registry,
        CounterTyped(IntGaugeVec::new(
            Opts::new(names::REVIEW_DECISIONS, "Review decisions recorded, by the status moved to"),
            &["status"],
        )?),
    )?
    .0;
    let build_info =
        registered(&registry, IntGaugeVec::new(Opts::new(names::BUILD_INFO, "The running build"), &["version"])?)?;
    build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    let store_write_errors =
        registered(&registry, IntCounter::new(names::STORE_WRITE_ERRORS, "Alert store write batches that failed")?)?;
    let checkpoints = registered(&registry, IntCounter::new(names::CHECKPOINTS, "Checkpoints written by a live run")?)?;
    let checkpoint_seconds = registered(
        &registry,
        prometheus::Histogram::with_opts(
            HistogramOpts::new(names::CHECKPOINT_SECONDS, "Time to write one checkpoint")
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )?,
    )?;
    let kafka_lag = registered(
        &registry,
        IntGaugeVec::new(
            Opts::new(names::KAFKA_LAG, "Messages between the consumer and the end of its partition"),
            &["topic", "partition"],
        )?,
    )?;
    let kafka_event_time_lag = registered(
        &registry,
        prometheus::GaugeVec::new(
            Opts::new(names::KAFKA_EVENT_TIME_LAG, "Wall clock minus the newest event time read from the partition"),
            &["topic", "partition"],
        )?,
    )?;
    Ok(Metrics {
        checkpoints,
        checkpoint_seconds,
        kafka_lag,
        kafka_event_time_lag,
        side_table_refreshes: counter_vec(
            names::SIDE_TABLE_REFRESHES,
            "Side tables read again while a live run went on",
            &["table"],
        )?,
        heap_allocated: gauge(
            names::HEAP_ALLOCATED,
            "Bytes the process has allocated and not freed (the allocator's count)",
        )?,
        heap_resident: gauge(
            names::HEAP_RESIDENT,
            "Bytes of the allocator's pages resident in memory (allocated, plus what it holds for reuse)",
        )?,
        side_table_rows: {
            let g = IntGaugeVec::new(Opts::new(names::SIDE_TABLE_ROWS, "Rows of the side table in use"), &["table"])?;
            registered(&registry, g)?
        },
        rows_read: counter_vec(names::ROWS_READ, "Transaction rows read", &["source"])?,
        rows_accepted: counter_vec(names::ROWS_ACCEPTED, "Transaction rows accepted", &["source"])?,
        rows_quarantined: counter_vec(
            names::ROWS_QUARANTINED,
            "Transaction rows quarantined, by reason",
            &["source", "reason"],
        )?,
        rows_outside_range: counter_vec(
            names::ROWS_OUTSIDE_RANGE,
            "Transaction rows outside the replayed time range",
            &["source"],
        )?,
        alerts: counter_vec(names::ALERTS, "Alerts written", &["rule", "typology", "severity"])?,
        alert_value_usd,
        stage_seconds,
        event_time_lag_seconds: fgauge(names::EVENT_TIME_LAG_SECONDS, "Wall clock minus the newest event time")?,
        watermark_seconds: fgauge(names::WATERMARK_SECONDS, "The watermark, as a Unix time")?,
        last_batch_seconds: fgauge(names::LAST_BATCH_SECONDS, "When the last batch was processed, as a Unix time")?,
        window_transactions: gauge(names::WINDOW_TRANSACTIONS, "Transactions in the event-time window")?,
        graph_nodes: gauge(names::GRAPH_NODES, "Nodes (accounts or parties) in the temporal graph window")?,
        graph_edges: gauge(names::GRAPH_EDGES, "Edges (transfers) in the temporal graph window")?,
        mirror_open_legs: gauge(names::MIRROR_OPEN_LEGS, "Foreign legs awaiting a mirror match")?,
        mirror_matches: counter_vec(names::MIRROR_MATCHES, "Mirror swaps matched, by how", &["match"])?,
        store_write_errors,
        alert_queue,
        alert_queue_oldest_age_seconds,
        review_decisions,
        up: gauge(names::UP, "1 while the process runs")?,
        registry,
    })
}

/// Exposes a gauge family as a counter (for counts read from append-only tables).
#[derive(Clone)]
struct CounterTyped(IntGaugeVec);

impl prometheus::core::Collector for CounterTyped {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut fams = self.0.collect();
        for f in &mut fams {
            f.set_field_type(prometheus::proto::MetricType::COUNTER);
            for m in f.mut_metric() {
                let v = m.get_gauge().get_value();
                let mut c = prometheus::proto::Counter::default();
                c.set_value(v);
                m.set_counter(c);
            }
        }
        fams
    }
}

/// Times `f` as one batch of `stage`.
pub fn timed<T>(stage: &str, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let out = f();
    metrics().stage_seconds.with_label_values(&[stage]).observe(t.elapsed().as_secs_f64());
    out
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| build().expect("metric names and labels are constants"));

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// The text exposition format of what `who` exposes.
pub fn encode(who: Exposer) -> String {
    let m = metrics();
    m.up.set(1);
    let heap = HEAP_PROBE.get().and_then(|probe| probe());
    if let Some((allocated, resident)) = heap {
        m.heap_allocated.set(i64::try_from(allocated).unwrap_or(i64::MAX));
        m.heap_resident.set(i64::try_from(resident).unwrap_or(i64::MAX));
    }
    let mut fams = m.registry.gather();
    let common = [names::BUILD_INFO, names::UP];
    fams.retain(|f| {
        let n = f.name();
        if n == names::HEAP_ALLOCATED || n == names::HEAP_RESIDENT {
            // both processes show them; without the binary's allocator there is no figure
            // to show (not a zero)
            return heap.is_some();
        }
        common.contains(&n) || (who == Exposer::Review) == names::REVIEW.contains(&n)
    });
    let mut buf = Vec::new();
    let _ = TextEncoder::new().encode(&fams, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// The allocator's figures, (allocated, resident) bytes, read at every exposition; set by
/// the binary, which owns the global allocator (library tests run without it and expose
/// no heap figures).
pub static HEAP_PROBE: std::sync::OnceLock<HeapProbe> = std::sync::OnceLock::new();

/// Reads the allocator's (allocated, resident) bytes; `None` when it cannot say.
pub type HeapProbe = fn() -> Option<(u64, u64)>;

/// Whether the job has started processing (`/ready`).
pub static READY: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_process_exposes_its_own_metrics_and_decisions_are_a_counter() {
        let m = metrics();
        m.review_decisions.with_label_values(&["dismissed"]).set(3);
        m.rows_read.with_label_values(&["replay"]).inc_by(0);
        let review = encode(Exposer::Review);
        assert!(review.contains("# TYPE mirrorflow_review_decisions_total counter"), "{review}");
        assert!(review.contains("mirrorflow_review_decisions_total{status=\"dismissed\"} 3"), "{review}");
        assert!(review.contains("mirrorflow_build_info{version=") && review.contains("mirrorflow_up 1"));
        assert!(!review.contains(names::ROWS_READ) && !review.contains(names::GRAPH_EDGES), "{review}");
        let job = encode(Exposer::Job);
        assert!(job.contains(names::ROWS_READ) && job.contains(names::GRAPH_EDGES), "{job}");
        assert!(!job.contains(names::REVIEW_DECISIONS) && job.contains("mirrorflow_up 1"), "{job}");
    }

    #[test]
    fn timed_observes_one_batch_of_its_stage() {
        let before = metrics().stage_seconds.with_label_values(&["test-stage"]).get_sample_count();
        assert_eq!(timed("test-stage", || 7), 7);
        assert_eq!(metrics().stage_seconds.with_label_values(&["test-stage"]).get_sample_count(), before + 1);
    }
}
