//! Event-time ordering of historical ledgers: DataFusion's external sort, which spills
//! to disk beyond `replay.sort-memory-mb`, so ledgers larger than memory replay in order.
//!
//! Owns: the one place outside the rules crate that uses DataFusion: a `StreamingTable` whose
//! single partition is fed by the ingest thread, sorted by `(ts, seq)`. `seq` is the
//! arrival order here; the order stage then puts ties in time in `tx_id` order.
//! Must not: validate, filter or detect; pacing and watermarks live in the pipeline.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext, col};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::schema;

/// A partition whose batches come from a channel (the ingest thread).
struct ChannelPartition {
    schema: SchemaRef,
    rx: Mutex<Option<mpsc::Receiver<RecordBatch>>>,
}

impl std::fmt::Debug for ChannelPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelPartition")
    }
}

impl PartitionStream for ChannelPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rx = self.rx.lock().map(|mut g| g.take()).unwrap_or(None);
        let stream = futures::stream::unfold(rx, |rx| async move {
            let mut rx = rx?;
            rx.recv().await.map(|b| (Ok(b), Some(rx)))
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// Settings of the external sort.
#[derive(Debug, Clone)]
pub struct SortOptions {
    /// Memory for sorting before spilling to disk.
    pub memory_bytes: usize,
    /// Where spill files go (system temp dir if `None`).
    pub spill_dir: Option<PathBuf>,
    /// Rows per output batch.
    pub batch_rows: usize,
    /// The order stage's allowed lateness (µs): a ledger whose rows, in file order, never
    /// step back in event time by more than this is put in order by the order stage's
    /// reorder buffer alone, with the same result, and is not sorted.
    pub unsorted_within_us: i64,
}

/// Sorts the transactions batches sent on `input` by `(ts, seq)`; the returned stream
/// yields them in event-time order once the input is closed.
pub async fn sort_by_event_time(
    input: mpsc::Receiver<RecordBatch>,
    opts: &SortOptions,
) -> Result<SendableRecordBatchStream> {
    let ctx_err = |e| Error::datafusion("the event-time sort", e);
    let mut rt = RuntimeEnvBuilder::new().with_memory_limit(opts.memory_bytes, 1.0);
    if let Some(dir) = &opts.spill_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        rt = rt.with_temp_file_path(dir);
    }
    let runtime = rt.build_arc().map_err(ctx_err)?;
    let config = SessionConfig::new().with_target_partitions(1).with_batch_size(opts.batch_rows.clamp(1024, 65_536));
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let schema = schema::transactions_schema();
    let partition = Arc::new(ChannelPartition { schema: schema.clone(), rx: Mutex::new(Some(input)) });
    let table = StreamingTable::try_new(schema, vec![partition]).map_err(ctx_err)?;
    let df = ctx
        .read_table(Arc::new(table))
        .map_err(ctx_err)?
        .sort(vec![col(schema::tx::TS).sort(true, false), col(schema::tx::SEQ).sort(true, false)])
        .map_err(ctx_err)?;
    df.execute_stream().await.map_err(ctx_err)
}
