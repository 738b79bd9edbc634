//! The four stages put together, with an in-memory source and a detector that records
//! what it is shown: rows reach the detectors in event-time order once disorder within the
//! allowed lateness is put back, a row later than that is quarantined as `late_event`,
//! rows outside `--from` / `--to` are counted apart, and the counts reconcile. The same
//! rows in other batchings reach the detector in the same order.

use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use source::SourceTx;

use super::*;
use crate::alerts::Alert;
use crate::config::ProgressMode;
use crate::error::Result;
use crate::ingest::{Chunk, IngestState, test_batch};
use mirrorflow_core::detect::TxColumns;
use mirrorflow_core::tables::{AccountsTable, FxTable};
use window::EventWindow;

const S: i64 = 1_000_000;

/// Sends its chunks, then ends.
struct VecSource(Vec<Chunk>);

impl Source for VecSource {
    fn inputs(&self) -> Vec<String> {
        vec!["<test>".into()]
    }

    fn run(self: Box<Self>, out: SourceTx, _progress: Arc<Progress>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            for c in self.0 {
                if out.send(c).await.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}

/// Records the tx_ids it is shown, in order.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Detector for Recorder {
    fn id(&self) -> &str {
        "recorder"
    }

    fn on_batch(&mut self, batch: &RecordBatch, _: &EventWindow, _: &DetectCtx) -> Result<Vec<Alert>> {
        let c = TxColumns::of(batch, "recorder")?;
        self.0.lock().expect("recorder").extend(c.ids.iter().flatten().map(str::to_string));
        Ok(Vec::new())
    }
}

fn chunk(rows: &[(&str, i64)], st: &mut IngestState) -> Chunk {
    let batch = test_batch(rows, st);
    Chunk { rows_read: batch.num_rows() as u64, batch, rejected: Vec::new() }
}

/// Runs `chunks` through a pipeline with 150 s of allowed lateness and the given range;
/// returns what the detector saw and the summary.
fn run(chunks: Vec<Chunk>, from_us: Option<i64>, to_us: Option<i64>, detect_rows: usize) -> (Vec<String>, Summary) {
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let settings = Settings {
        channel_capacity: 2,
        detect_rows,
        window_us: 86_400 * S,
        lateness_us: 150 * S,
        speed: 0.0,
        progress: ProgressMode::Off,
        write_ordered: false,
        store: None,
        store_retry: crate::store::RetryPolicy::default(),
        future_lead_us: None,
        kafka_sinks: None,
    };
    let ctx = DetectCtx { accounts: Arc::new(AccountsTable::empty()), fx: Arc::new(FxTable::bundled()) };
    let p = Pipeline::builder("replay", ctx, settings, out.path().to_path_buf())
        .detectors([Box::new(Recorder(seen.clone())) as Box<dyn Detector>])
        .range(from_us, to_us)
        .build();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let summary = rt.block_on(p.run(Box::new(VecSource(chunks)))).unwrap();
    let seen = seen.lock().unwrap().clone();
    (seen, summary)
}

#[test]
fn disorder_within_the_lateness_is_put_back_and_a_later_row_is_quarantined() {
    let mut st = IngestState::default();
    // `c` comes after `b` but within 150 s of the newest time: put back before `b`;
    // `d` is 250 s behind the newest time when it arrives: late
    let chunks = vec![
        chunk(&[("a", 1_000), ("b", 1_300)], &mut st),
        chunk(&[("c", 1_200), ("d", 1_050)], &mut st),
        chunk(&[("e", 1_400)], &mut st),
    ];
    let (seen, s) = run(chunks, None, None, 1_000);
    assert_eq!(seen, ["a", "c", "b", "e"]);
    assert_eq!((s.rows_read, s.rows_accepted, s.rows_quarantined, s.rows_outside_range), (5, 4, 1, 0));
    assert!(s.reconciled);
    assert_eq!(s.quarantined_by_reason.get("late_event"), Some(&1));
}

#[test]
fn rows_outside_the_range_are_counted_apart_and_counts_still_reconcile() {
    let mut st = IngestState::default();
    let chunks = vec![chunk(&[("a", 1_000), ("b", 2_000), ("c", 3_000), ("d", 4_000)], &mut st)];
    let (seen, s) = run(chunks, Some(2_000 * S), Some(4_000 * S), 1_000);
    assert_eq!(seen, ["b", "c"], "from is inclusive, to exclusive");
    assert_eq!((s.rows_read, s.rows_accepted, s.rows_quarantined, s.rows_outside_range), (4, 2, 0, 2));
    assert!(s.reconciled);
}

#[test]
fn the_detectors_see_the_same_order_whatever_the_batching() {
    let rows: Vec<(String, i64)> = (0..200).map(|i| (format!("t{i:03}"), 10_000 + (i * 37 % 100) + i * 10)).collect();
    let by = |size: usize| {
        let mut st = IngestState::default();
        let chunks: Vec<Chunk> = rows
            .chunks(size)
            .map(|c| chunk(&c.iter().map(|(id, t)| (id.as_str(), *t)).collect::<Vec<_>>(), &mut st))
            .collect();
        run(chunks, None, None, size)
    };
    let (one, s1) = by(200);
    let (small, s2) = by(7);
    assert_eq!(one, small);
    assert_eq!((s1.rows_accepted, s1.rows_quarantined), (s2.rows_accepted, s2.rows_quarantined));
    let mut sorted = one.clone();
    sorted.sort_by_key(|id| rows.iter().find(|r| &r.0 == id).map(|r| (r.1, id.clone())));
    assert_eq!(one, sorted, "event-time order, ties by arrival");
}
