//! Test modules of the integration binary.

mod adversarial;
mod amlsim_default;
mod behaviour;
mod cli;
mod fuzz_corpus;
pub mod common;
mod graph;
mod hardening_live;
mod hostile_input;
mod ingest;
mod live;
mod mirror;
mod observability;
mod replay;
mod rules;
mod serve;
mod store_cli;
mod serve_hardening;
mod synth;
