//! mirrorflow-core: the bottom floor of mirrorflow. Every other crate of the workspace
//! builds on it and nothing here imports upward.
//!
//! Owns: the schema of the data contract ([`schema`]), exact money ([`money`]), time
//! ([`time`]), the library's error ([`error`]) and the alert model ([`alert`]).
//! Must not: depend on DataFusion, on a detector, on the pipeline or on any I/O beyond
//! what a type needs to describe itself.

pub mod alert;
pub mod error;
pub mod money;
pub mod schema;
pub mod time;

pub use error::{Error, Result};
