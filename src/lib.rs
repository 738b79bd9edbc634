//! mirrorflow: a streaming money-laundering flow detector.
//!
//! A transaction flows through these stages (see `ARCHITECTURE.md`):
//! source ([`ingest`]) -> event-time ordering ([`replay`] / watermarks) -> enrichment (FX
//! to USD) -> the event-time window -> detectors -> alert sinks ([`alerts`]). Stages pass
//! whole Arrow `RecordBatch`es over bounded channels ([`pipeline`]).

pub mod alerts;
pub mod app;
pub mod bench;
pub mod bench_graph;
pub mod bench_mirror;
pub mod bench_rules;
pub mod config;
pub mod error;
pub mod eval;
pub mod r#gen;
pub mod graph;
pub mod ingest;
pub mod metrics;
pub mod mirror;
pub mod money;
pub mod party;
pub mod pipeline;
pub mod replay;
pub mod rules;
pub mod schema;
pub mod serve;
pub mod store;

pub use error::{Error, Result};
