//! `[admin.auth_limit]`: limits on failed authentication at the admin listener.

use serde::{Deserialize, Serialize};

/// `[admin.auth_limit]`: failed authentications on the admin listener — a missing or wrong
/// bearer token, API key or Keyper token on a management route, a failed Keyper login or
/// refresh — are limited per source (an IPv4 address, an IPv6 /64), one token bucket each, in
/// memory. A failure takes a token; a source whose bucket is empty is answered 429 with
/// `Retry-After` before its credentials are looked at, whatever they are, until a token comes
/// back (one every `refill_secs`). Other sources are never limited, nor clients that
/// authenticated with a trusted TLS certificate.
///
/// Auditing is bounded too: in each window of `audit_window_secs`, a source's first
/// `audit_per_source` failures (or refusals) are written to the audit log one by one, at most
/// `audit_max` in all; the rest are counted and written as one `auth.failure.summary` record
/// when the window ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthLimitConfig {
    /// Failures a source may make at once before it is refused.
    pub failures_per_source: u32,
    /// Seconds until a source may fail once more (the sustained rate).
    pub refill_secs: u64,
    /// Sources tracked at most (memory bound; when full, refilled buckets are dropped first,
    /// then the half that failed least recently).
    pub max_tracked_sources: usize,
    /// Length of an audit window.
    pub audit_window_secs: u64,
    /// Failures of one source audited one by one per window.
    pub audit_per_source: u32,
    /// Failures audited one by one per window, all sources together.
    pub audit_max: u32,
}

impl Default for AuthLimitConfig {
    /// 10 failures at once, then one every 6 s (10 a minute); 100 000 sources; per minute,
    /// the first 5 failures of each source and 100 in all audited one by one.
    fn default() -> Self {
        Self {
            failures_per_source: 10,
            refill_secs: 6,
            max_tracked_sources: 100_000,
            audit_window_secs: 60,
            audit_per_source: 5,
            audit_max: 100,
        }
    }
}

impl AuthLimitConfig {
    /// Pushes a message for every invalid setting onto `errs`.
    pub fn check(&self, errs: &mut Vec<String>) {
        for (key, value) in [
            ("failures_per_source", u64::from(self.failures_per_source)),
            ("refill_secs", self.refill_secs),
            ("max_tracked_sources", self.max_tracked_sources as u64),
            ("audit_window_secs", self.audit_window_secs),
            ("audit_per_source", u64::from(self.audit_per_source)),
            ("audit_max", u64::from(self.audit_max)),
        ] {
            if value == 0 {
                errs.push(format!("admin.auth_limit.{key} must be at least 1"));
            }
        }
        if self.refill_secs > 86_400 || self.audit_window_secs > 86_400 {
            errs.push(
                "admin.auth_limit.refill_secs and audit_window_secs must be at most 86400 (a day)"
                    .into(),
            );
        }
        if self.audit_per_source > self.audit_max {
            errs.push("admin.auth_limit.audit_per_source must not exceed audit_max".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CpConfig;

    #[test]
    fn defaults_parse_and_validate() {
        let c = CpConfig::default();
        assert_eq!(c.admin.auth_limit, AuthLimitConfig::default());
        c.validate().unwrap();
        let c: CpConfig = serde_json::from_str(
            r#"{"admin": {"auth_limit": {"failures_per_source": 3, "refill_secs": 30}}}"#,
        )
        .unwrap();
        assert_eq!(c.admin.auth_limit.failures_per_source, 3);
        assert_eq!(c.admin.auth_limit.refill_secs, 30);
        assert_eq!(c.admin.auth_limit.audit_max, 100, "the rest keep defaults");
        c.validate().unwrap();
        assert!(
            serde_json::from_str::<CpConfig>(r#"{"admin": {"auth_limit": {"failures": 3}}}"#)
                .is_err()
        );
    }

    #[test]
    fn invalid_settings_are_all_reported() {
        let zero = AuthLimitConfig {
            failures_per_source: 0,
            refill_secs: 0,
            max_tracked_sources: 0,
            audit_window_secs: 0,
            audit_per_source: 0,
            audit_max: 0,
        };
        let mut errs = Vec::new();
        zero.check(&mut errs);
        assert_eq!(errs.len(), 6, "{errs:?}");
        let mut errs = Vec::new();
        AuthLimitConfig {
            audit_per_source: 10,
            audit_max: 5,
            refill_secs: 100_000,
            ..AuthLimitConfig::default()
        }
        .check(&mut errs);
        assert_eq!(errs.len(), 2, "{errs:?}");
        let mut c = CpConfig::default();
        c.admin.auth_limit.refill_secs = 0;
        let errs = c.validate().unwrap_err();
        assert!(
            errs.iter().any(|e| e.starts_with("admin.auth_limit.")),
            "{errs:?}"
        );
    }

    #[test]
    fn config_debug_never_shows_the_tokens() {
        let mut c = CpConfig::default();
        c.admin.bearer_token = Some("admin-token-never-logged".into());
        c.replication.token = Some("repl-token-never-logged".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains("never-logged"), "{shown}");
        assert_eq!(shown.matches("[redacted]").count(), 2, "{shown}");
    }
}
