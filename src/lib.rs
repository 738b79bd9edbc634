//! mirrorflow: a streaming money-laundering flow detector.
//!
//! A transaction flows through these stages (see `ARCHITECTURE.md`):
//! source ([`ingest`]) -> event-time ordering ([`replay`] / watermarks) -> enrichment (FX
//! to USD) -> the event-time window -> detectors -> alert sinks ([`alerts`]). Stages pass
//! whole Arrow `RecordBatch`es over bounded channels ([`pipeline`]).

pub mod alerts;
/// The bottom floor, re-exported at the paths the rest of the crate has used.
pub use mirrorflow_core::{error, money, schema};
/// The detectors outside SQL (graph, mirror, novelty, party).
pub use mirrorflow_detect::{graph, mirror, novelty, party, peel};
/// The readers (CSV, NDJSON, Parquet; contract and outside layouts) and the side tables' loaders.
pub use mirrorflow_ingest as ingest;
/// The lab (generator and scorer), reached by `mirrorflow gen` and `mirrorflow eval`.
pub use mirrorflow_lab::{eval, r#gen};
/// The review side (the alert store and the review API), and the stop signal both the
/// jobs and the server wait for.
pub use mirrorflow_review::{serve, shutdown_signal, store};
/// The SQL rule pack and its streaming engine (the DataFusion crate).
pub use mirrorflow_rules as rules;
pub mod app;
pub mod calibrate;
pub mod config;
pub mod metrics;
pub mod pipeline;
pub mod produce;

pub use error::{Error, Result};
