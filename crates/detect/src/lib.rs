//! mirrorflow-detect: the detectors that are not SQL, each behind the core crate's
//! `Detector` seam.
//!
//! Owns: the temporal graph engine ([`graph`]: time-respecting cycles, fan and
//! scatter-gather flows), peel chains and on-ramps ([`peel`]: per-wallet state, no graph), mirror-swap matching ([`mirror`]: placements,
//! legs, netting, crypto settlement, network matches), party resolution ([`party`]) and
//! counterparty novelty ([`novelty`]). Each detector owns its config struct.
//! Must not: depend on DataFusion, the pipeline, the store or the product's config; read
//! files; or key a decision on a memo, an industry name or one dataset's amount range.

pub mod graph;
pub mod mirror;
pub mod novelty;
pub mod party;
pub mod peel;
