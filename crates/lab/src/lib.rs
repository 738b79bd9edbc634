//! mirrorflow-lab: the tooling that measures the product, kept out of it. The binary
//! reaches it as `mirrorflow gen` and `mirrorflow eval`.
//!
//! Owns: the labelled synthetic ledger generator ([`r#gen`]) and the scorer of alerts
//! against labels ([`eval`]).
//! Must not: run detection, or be imported by a detector, the pipeline or the store; it
//! depends on the core crate only.

pub mod eval;
pub mod r#gen;
