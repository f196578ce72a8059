//! `[admin.console]`: the web console's sessions (docs/CONSOLE.md).

use serde::{Deserialize, Serialize};

/// `[admin.console]`: sessions of the web console under `/ui/` on the admin listener. A
/// session ends after `idle_timeout_secs` without a request, `max_lifetime_secs` after
/// sign-in whatever happens, or at sign-out; sessions live in the control plane's memory only
/// (a restart signs everyone out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console at all.
    pub enabled: bool,
    /// Seconds without a request before a session ends.
    pub idle_timeout_secs: u64,
    /// Seconds after sign-in before a session ends, however active.
    pub max_lifetime_secs: u64,
    /// Sessions held at most (memory bound; when full, the oldest session ends first).
    pub max_sessions: usize,
}

impl Default for ConsoleConfig {
    /// On; 30 minutes idle, 8 hours at most; 10 000 sessions.
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout_secs: 30 * 60,
            max_lifetime_secs: 8 * 3600,
            max_sessions: 10_000,
        }
    }
}

impl ConsoleConfig {
    /// Pushes a message for every invalid setting onto `errs`.
    pub fn check(&self, errs: &mut Vec<String>) {
        if self.idle_timeout_secs == 0 || self.max_lifetime_secs == 0 || self.max_sessions == 0 {
            errs.push(
                "admin.console.idle_timeout_secs, max_lifetime_secs and max_sessions must be at least 1"
                    .into(),
            );
        }
        if self.idle_timeout_secs > self.max_lifetime_secs {
            errs.push("admin.console.idle_timeout_secs must not exceed max_lifetime_secs".into());
        }
        if self.max_lifetime_secs > 7 * 86_400 {
            errs.push("admin.console.max_lifetime_secs must be at most 604800 (a week)".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CpConfig;

    #[test]
    fn defaults_and_checks() {
        let c: CpConfig =
            serde_json::from_str(r#"{"admin": {"console": {"idle_timeout_secs": 60}}}"#).unwrap();
        assert_eq!(c.admin.console.idle_timeout_secs, 60);
        assert_eq!(c.admin.console.max_lifetime_secs, 8 * 3600);
        c.validate().unwrap();
        let mut errs = Vec::new();
        ConsoleConfig {
            idle_timeout_secs: 100,
            max_lifetime_secs: 10,
            ..ConsoleConfig::default()
        }
        .check(&mut errs);
        assert_eq!(errs.len(), 1, "{errs:?}");
        let mut errs = Vec::new();
        ConsoleConfig {
            idle_timeout_secs: 0,
            max_lifetime_secs: 1_000_000,
            ..ConsoleConfig::default()
        }
        .check(&mut errs);
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}
