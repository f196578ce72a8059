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
    /// Data planes whose `/metrics` the dashboard reads (name, applied sequence, lag, OCSP,
    /// KES and SSH request rates): `[[admin.console.data_planes]] name, metrics_url`.
    pub data_planes: Vec<DataPlaneProbe>,
}

/// One data plane the dashboard shows: a name and its ops listener's metrics URL
/// (`http://host:port/metrics`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPlaneProbe {
    pub name: String,
    pub metrics_url: String,
}

impl Default for ConsoleConfig {
    /// On; 30 minutes idle, 8 hours at most; 10 000 sessions.
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout_secs: 30 * 60,
            max_lifetime_secs: 8 * 3600,
            max_sessions: 10_000,
            data_planes: Vec::new(),
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
        if self.data_planes.len() > 256 {
            errs.push("admin.console.data_planes: at most 256".into());
        }
        let mut names = std::collections::HashSet::new();
        for dp in &self.data_planes {
            let name_ok = !dp.name.trim().is_empty()
                && dp.name.len() <= 64
                && !dp.name.chars().any(char::is_control);
            if !name_ok || !names.insert(dp.name.as_str()) {
                errs.push(format!(
                    "admin.console.data_planes: name {:?} must be 1 to 64 printable characters, unique",
                    dp.name
                ));
            }
            if !dp.metrics_url.starts_with("http://")
                || reqwest::Url::parse(&dp.metrics_url).is_err()
            {
                errs.push(format!(
                    "admin.console.data_planes: metrics_url {:?} must be an http:// URL (a data plane's ops listener)",
                    dp.metrics_url
                ));
            }
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
        let c: CpConfig = serde_json::from_str(
            r#"{"admin": {"console": {"data_planes": [
                {"name": "eu-1", "metrics_url": "http://10.0.0.5:9090/metrics"},
                {"name": "eu-1", "metrics_url": "https://x/metrics"}]}}}"#,
        )
        .unwrap();
        let mut errs = Vec::new();
        c.admin.console.check(&mut errs);
        assert_eq!(errs.len(), 2, "a duplicate name and an https URL: {errs:?}");
    }
}
