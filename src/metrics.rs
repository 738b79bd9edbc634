//! The small HTTP endpoint a streaming job serves (`/metrics`, `/health`, `/ready`). The
//! metrics themselves (`Metrics`, `metrics()`, names, the exposition) are the core
//! crate's, so every crate reports to the one registry; re-exported here.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

pub use mirrorflow_core::metrics::*;

/// Serves `/metrics`, `/health` and `/ready` on `addr` until the process ends; returns the
/// bound address.
pub async fn serve_metrics(addr: SocketAddr) -> crate::Result<SocketAddr> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(|| async { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], encode(Exposer::Job)) }),
        )
        .route("/health", get(|| async { "ok" }))
        .route(
            "/ready",
            get(|| async {
                if READY.load(Ordering::Relaxed) {
                    (axum::http::StatusCode::OK, "ready")
                } else {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| crate::Error::Usage(format!("--metrics-addr {addr}: cannot listen: {e}")))?;
    let bound = listener.local_addr().map_err(|e| crate::Error::Internal(format!("metrics address: {e}")))?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    tracing::info!(%bound, "metrics on /metrics");
    Ok(bound)
}
