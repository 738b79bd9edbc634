//! `[serve]` as written in the TOML, and its validation into `ServeLimits` (the product's
//! config only gathers the section).
//!
//! Owns: `RawServe`, `RawServe::validate`.
//! Must not: start anything.

use serde::Deserialize;

use super::ServeLimits;
use mirrorflow_core::time::parse_duration;

/// `[serve]`: the review API's bounds (`crate::serve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServe {
    /// Most bytes of served queue pages kept for reuse.
    pub queue_cache_bytes: u64,
    /// How long a served queue page may be reused ("1s").
    pub queue_cache_ttl: String,
    /// Largest request body accepted.
    pub max_body_bytes: u64,
    /// Longest note or decision reason, in characters.
    pub max_text_chars: u64,
}

impl RawServe {
    /// Checks every value (problems go to `errs`, named by key) and returns the limits.
    pub fn validate(&self, errs: &mut Vec<String>) -> ServeLimits {
        let queue_cache_ttl = parse_duration(&self.queue_cache_ttl).unwrap_or_else(|e| {
            errs.push(format!("`serve.queue-cache-ttl` = \"{}\": {e}", self.queue_cache_ttl));
            std::time::Duration::ZERO
        });
        for (key, v) in [("serve.max-body-bytes", self.max_body_bytes), ("serve.max-text-chars", self.max_text_chars)] {
            if v == 0 {
                errs.push(format!("`{key}` must be at least 1"));
            }
        }
        ServeLimits {
            queue_cache_bytes: usize::try_from(self.queue_cache_bytes).unwrap_or(usize::MAX),
            queue_cache_ttl,
            max_body_bytes: usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX),
            max_text_chars: usize::try_from(self.max_text_chars).unwrap_or(usize::MAX),
        }
    }
}
