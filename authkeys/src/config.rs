//! `/etc/sigil/authkeys.toml`: where the data planes are, who this host is, how long sshd may
//! wait, where the last-good answers are kept.

use std::path::PathBuf;

use serde::Deserialize;

/// Default configuration file (`--config` or `SIGIL_AUTHKEYS_CONFIG` override it).
pub const DEFAULT_PATH: &str = "/etc/sigil/authkeys.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthkeysConfig {
    /// Data-plane base URLs (`http://` or `https://`), tried in order.
    pub urls: Vec<String>,
    /// This host's name in Sigil (the `host` of `/api/authkeys`).
    pub host: String,
    /// PEM CA certificates trusted for `https://` URLs (no system roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Total time for all attempts, in milliseconds (sshd has no timeout of its own).
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Last-good answers and the last KRL (root-owned, mode 0700).
    #[serde(default = "default_cache_dir")]
    pub cache_dir: PathBuf,
    /// The cached KRL is refreshed after a successful lookup when older than this.
    #[serde(default = "default_krl_refresh_secs")]
    pub krl_refresh_secs: u64,
    /// `syslog` (facility auth, the default) or `stderr`.
    #[serde(default)]
    pub log: LogTarget,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    #[default]
    Syslog,
    Stderr,
}

fn default_deadline_ms() -> u64 {
    2000
}

fn default_cache_dir() -> PathBuf {
    PathBuf::from("/var/cache/sigil-authkeys")
}

fn default_krl_refresh_secs() -> u64 {
    60
}

/// A data plane's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Without a trailing `/`; empty for the root.
    pub base_path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{s:?}: not an http:// or https:// URL"));
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (h, p) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: unclosed IPv6 address"))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("{s:?}: no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("{s:?}: bad port"))?,
            None if https => 443,
            None => 80,
        };
        Ok(Self {
            https,
            host,
            port,
            base_path: path.trim_end_matches('/').to_string(),
        })
    }
}

impl AuthkeysConfig {
    /// Every problem, one message each.
    pub fn validate(&self) -> Result<Vec<Url>, Vec<String>> {
        let mut errs = Vec::new();
        let mut urls = Vec::new();
        if self.urls.is_empty() {
            errs.push("urls: name at least one data plane".to_string());
        }
        for u in &self.urls {
            match Url::parse(u) {
                Ok(url) => {
                    if url.https && self.ca_file.is_none() {
                        errs.push(format!("urls: {u} is https:// but ca_file is not set"));
                    }
                    urls.push(url);
                }
                Err(e) => errs.push(format!("urls: {e}")),
            }
        }
        if !sigil_ssh::lookup::valid_hostname(&self.host) {
            errs.push(format!("host: {:?} is not a host name", self.host));
        }
        if !(50..=60_000).contains(&self.deadline_ms) {
            errs.push("deadline_ms must be between 50 and 60000".into());
        }
        if errs.is_empty() {
            Ok(urls)
        } else {
            Err(errs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://dp1.example.net:8443/sigil/").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.base_path.as_str()),
            (true, "dp1.example.net", 8443, "/sigil")
        );
        let u = Url::parse("http://[::1]").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://:80").is_err());
    }

    #[test]
    fn validation_reports_every_problem() {
        let cfg: AuthkeysConfig = toml::from_str(
            "urls = [\"https://dp\", \"gopher://x\"]\nhost = \"bad host\"\ndeadline_ms = 1",
        )
        .unwrap();
        let errs = cfg.validate().unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
    }
}
