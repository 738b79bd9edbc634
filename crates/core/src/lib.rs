//! mirrorflow-core: the bottom floor of mirrorflow. Every other crate of the workspace
//! builds on it and nothing here imports upward.
//!
//! Owns: the schema of the data contract ([`schema`]), exact money ([`money`]), time
//! ([`time`]), the library's error ([`error`]), the alert model ([`alert`]), the
//! quarantine record ([`quarantine`]), the side tables ([`tables`]) and the enrichment of
//! rows by them ([`enrich`]), and the detector seam ([`detect`], [`window`]).
//! Must not: depend on DataFusion, on a detector, on the pipeline or on any I/O beyond
//! what a type needs to describe itself.

pub mod alert;
pub mod detect;
pub mod enrich;
pub mod episode;
pub mod error;
pub mod metrics;
pub mod money;
pub mod quarantine;
pub mod schema;
pub mod tables;
pub mod time;
pub mod window;

pub use error::{Error, Result};
