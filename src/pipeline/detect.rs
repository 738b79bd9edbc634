//! The seam where detectors plug into the pipeline (`Detector`, `DetectCtx`,
//! `TxColumns`) is the core crate's, so that detector crates build without the pipeline.

pub use mirrorflow_core::detect::*;
