//! The library's typed error, and whose fault each kind is.
//!
//! Owns: `Error` and `Result`. Every message is lowercase, without a trailing period, and
//! names its subject (a file, a rule, a config key) so a user knows what to fix.
//! Must not: format chains for the terminal; `main.rs` does that with anyhow.

use std::path::PathBuf;

/// Result with the library's error as the default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, grouped by whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's configuration is invalid; every problem is listed at once.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Config(Vec<String>),

    /// An input cannot be read at all (missing, wrong format, no header). Row-level
    /// problems never come here: they go to quarantine.
    #[error("cannot read `{path}`: {reason}")]
    Input { path: PathBuf, reason: String },

    /// A file or stream failed underneath us.
    #[error("i/o error on `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A user-facing request that makes no sense (bad flag value, bad arguments).
    #[error("{0}")]
    Usage(String),

    /// The alert store failed or refused (names the store, never its password).
    #[error("alert store {0}")]
    Store(String),

    /// Arrow failed: a bug of ours unless it came from a user's file.
    #[error("arrow error in {context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: arrow::error::ArrowError,
    },

    /// Parquet failed while reading or writing a named file.
    #[error("parquet error on `{path}`: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// The query engine failed (planning or execution). Boxed so that this crate, the
    /// bottom floor, does not depend on DataFusion.
    #[error("datafusion error in {context}: {source}")]
    DataFusion {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An invariant of ours broke: this is a bug to report.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl Error {
    /// An `Io` error for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An `Input` error for `path`.
    pub fn input(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Input { path: path.into(), reason: reason.into() }
    }

    /// An `Arrow` error with the place it happened.
    pub fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow { context: context.into(), source }
    }

    /// A `DataFusion` error with the place it happened.
    pub fn datafusion(context: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::DataFusion { context: context.into(), source: Box::new(source) }
    }
}
