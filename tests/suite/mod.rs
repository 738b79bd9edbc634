//! Test modules of the integration binary.

mod adversarial;
mod amlsim_default;
mod behaviour;
mod calibrate;
mod cli;
pub mod common;
mod dir_checkpoint;
mod fuzz_corpus;
mod graph;
mod hardening_live;
mod hostile_input;
mod ingest;
mod kafka;
mod layout;
mod live;
mod mirror;
mod novelty;
mod observability;
mod replay;
mod rules;
mod serve;
mod serve_hardening;
mod side_refresh;
mod store_cli;
mod synth;
