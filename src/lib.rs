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
pub use mirrorflow_detect::{graph, mirror, novelty, party};
/// The lab (generator and scorer), reached by `mirrorflow gen` and `mirrorflow eval`.
pub use mirrorflow_lab::{eval, r#gen};
pub mod app;
pub mod calibrate;
pub mod config;
pub mod ingest;
pub mod metrics;
pub mod pipeline;
pub mod replay;
pub mod rules;
pub mod serve;
pub mod store;

pub use error::{Error, Result};

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or, on Unix, SIGTERM (what
/// `docker stop` and Kubernetes send). Jobs flush what they read; the server drains.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
