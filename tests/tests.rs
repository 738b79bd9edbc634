//! The integration suite, one binary: ingest formats and dialects, bad input and
//! quarantine, event-time replay, live sources, the CLI and outside data.
//! Helpers live in `suite/common.rs`.

mod suite;
