//! Test modules of the integration binary.

mod cli;
pub mod common;
mod graph;
mod hostile_input;
mod ingest;
mod live;
mod mirror;
mod observability;
mod replay;
mod rules;
mod serve;
mod synth;
