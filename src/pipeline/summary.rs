//! `summary.json`: what a run read, kept, refused and found, so scripts and outside test
//! suites can drive mirrorflow without parsing terminal text.
//!
//! Owns: the `Summary` shape and its reconciliation rule:
//! `rows_read = rows_accepted + rows_quarantined + rows_outside_range`.
//! Must not: compute anything the stages did not count.

use std::collections::BTreeMap;

use serde::Serialize;

/// The end-of-run summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub mirrorflow_version: String,
    /// `replay`, `run` or `ingest`.
    pub command: String,
    /// What was read (paths, or `<stdin>`).
    pub inputs: Vec<String>,
    /// Records read from the transactions inputs.
    pub rows_read: u64,
    /// Records that passed validation, ordering and the time range and went through
    /// detection.
    pub rows_accepted: u64,
    /// Records refused (see `quarantine.jsonl`).
    pub rows_quarantined: u64,
    /// Valid records outside `--from`/`--to`.
    pub rows_outside_range: u64,
    /// Whether `rows_read = rows_accepted + rows_quarantined + rows_outside_range`.
    pub reconciled: bool,
    /// Quarantined records by reason.
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Side tables: rows read and refused.
    pub accounts_rows: u64,
    pub fx_rate_rows: u64,
    pub side_table_rows_quarantined: u64,
    /// Side tables read again while a live run went on (`live.side-refresh`); the row
    /// counts above are those of the tables in use at the end.
    #[serde(default)]
    pub side_table_refreshes: u64,
    /// Channel values outside the contract's list, with counts (kept, not refused).
    pub unknown_channels: BTreeMap<String, u64>,
    /// Rows with no FX rate for their currency (`amount_usd` null), by currency.
    pub rows_without_fx_rate: BTreeMap<String, u64>,
    /// Event time of the first and last accepted row (RFC 3339).
    pub first_event_time: Option<String>,
    pub last_event_time: Option<String>,
    /// Alerts written, in all, by rule and by typology.
    pub alerts_written: u64,
    pub alerts_by_rule: BTreeMap<String, u64>,
    pub alerts_by_typology: BTreeMap<String, u64>,
    /// Rows in the event-time window at the end, and the largest it held.
    pub window_rows_at_end: u64,
    pub window_rows_max: u64,
    /// A live run restarted in the same output directory: what the alert files kept from
    /// earlier runs held (absent when there were none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_alerts: Option<KeptAlertsSummary>,
    /// A followed directory's files (absent for other sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir_files: Option<DirFiles>,
    /// A replay: whether its ledger was sorted or read in file order (absent for other
    /// commands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_order: Option<ReplayOrder>,
    /// What the alert store took (absent when it is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSummary>,
    /// What each detector could not judge, or judged little of (no ids): a stage that saw
    /// no eligible rows, rules that stepped aside for want of KYC. Also logged.
    pub detector_notes: Vec<DetectorNote>,
    /// Wall-clock timings.
    pub timings: Timings,
}

pub use mirrorflow_core::detect::{DetectorNote, thousands};

/// The alert files earlier live runs left in the output directory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeptAlertsSummary {
    /// Kept `alerts.<time>.jsonl` files read.
    pub files: u64,
    /// Distinct alert ids they hold.
    pub alert_ids: u64,
    /// Alerts this run found again and did not write, since a kept file holds them.
    pub not_written_again: u64,
    /// Kept files whose torn last line (a crash mid-write) was cut off.
    pub torn_lines_cut: Vec<String>,
}

/// How a replay put its ledger in event-time order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayOrder {
    /// `file order` (its rows never step back in event time by more than
    /// `pipeline.allowed-lateness`, so the reorder buffer alone orders them) or `sorted`.
    pub method: String,
    /// The largest step back in event time of the kept rows in file order, in seconds
    /// (when read in file order; a sorted ledger's first read stops at the first step
    /// larger than the allowed lateness).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub largest_step_back_s: Option<f64>,
    /// Seconds the first read (the order and duplicate check) took.
    pub scan_s: f64,
}

/// What `run --dir` did with the files it saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DirFiles {
    /// Files read (from their start).
    pub read: u64,
    /// Empty files skipped (with a warning; read if they grow).
    pub empty_skipped: u64,
    /// Times a plain CSV/NDJSON file grew after it was read and what was appended was read.
    pub growth_read: u64,
    /// Files that changed after they were read and could not be read again (compressed or
    /// Parquet files that grew, files that shrank), each with a warning.
    pub changed_unread: u64,
}

/// Alerts written to the alert store by this run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreSummary {
    /// Backend and location (no password).
    pub store: String,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Batches (or spool files) the store did not take after every try.
    pub write_errors: u64,
    /// Tries that failed and were made again (`output.store-write-attempts`).
    pub retries: u64,
    /// Alerts an earlier run left in the spool, stored at the start of this one.
    pub from_spool: u64,
    /// Alerts of this run kept in the spool instead of the store.
    pub spooled: u64,
    /// The spool file, when this run used it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spool: Option<String>,
    /// Why the store did not take every alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Wall-clock timings of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub total_seconds: f64,
    /// Accepted rows per wall-clock second.
    pub rows_per_second: f64,
    /// Busy seconds by stage: `source` (the source's task from start to the end of its
    /// input: reading, parsing and a replay's sort, overlapping the stages after it),
    /// `order`, `enrich` (micro-batching included), `window`, `detect:<detector id>` (its
    /// `on_batch` and `on_finish`; detectors run side by side, so these add up to more
    /// than their share of the wall time), `detect:<id>/<part>` (a detector's own parts:
    /// each SQL rule, which also run side by side) and `sinks`. `mirrorflow-bench pipeline` reports
    /// them per million rows.
    pub stages: BTreeMap<String, f64>,
}

impl Summary {
    /// Fills `reconciled`.
    pub fn reconcile(&mut self) {
        self.reconciled = self.rows_read == self.rows_accepted + self.rows_quarantined + self.rows_outside_range;
    }

    /// The few lines printed at the end of a run.
    pub fn to_text(&self, out_dir: &std::path::Path) -> String {
        let mut s = format!(
            "rows read {}  accepted {}  quarantined {}  outside range {}  ({})\n",
            self.rows_read,
            self.rows_accepted,
            self.rows_quarantined,
            self.rows_outside_range,
            if self.reconciled { "reconciled" } else { "NOT RECONCILED" }
        );
        if !self.quarantined_by_reason.is_empty() {
            let r: Vec<String> = self.quarantined_by_reason.iter().map(|(k, v)| format!("{k} {v}")).collect();
            s.push_str(&format!("quarantined by reason: {}\n", r.join(", ")));
        }
        if let (Some(a), Some(b)) = (&self.first_event_time, &self.last_event_time) {
            s.push_str(&format!("event time {a} .. {b}\n"));
        }
        s.push_str(&format!("alerts written {}", self.alerts_written));
        if !self.alerts_by_typology.is_empty() {
            let r: Vec<String> = self.alerts_by_typology.iter().map(|(k, v)| format!("{k} {v}")).collect();
            s.push_str(&format!(" ({})", r.join(", ")));
        }
        s.push('\n');
        s.push_str(&format!(
            "time {:.2}s ({:.0} rows/s)\noutputs in {}: alerts.jsonl, quarantine.jsonl, summary.json\n",
            self.timings.total_seconds,
            self.timings.rows_per_second,
            out_dir.display()
        ));
        s
    }
}
