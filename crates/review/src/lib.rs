//! mirrorflow-review: what analysts work with once alerts exist.
//!
//! Owns: the alert store ([`store`]: SQLite or PostgreSQL, migrations, cases, decisions,
//! export and import) and the review API and page ([`serve`]: routes, bearer tokens,
//! bounds, cache), and [`shutdown_signal`], the stop request jobs and the server wait for.
//! Must not: detect anything, or depend on DataFusion, the pipeline or the product's config
//! (the binary passes each its own options).

pub mod serve;
pub mod store;

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
