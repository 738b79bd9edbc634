//! Test modules of the integration binary.

pub mod common;
mod cli;
mod ingest;
mod live;
mod replay;
mod synth;
