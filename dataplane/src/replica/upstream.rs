//! Where the replication stream comes from: the control plane's admin base URL (`http://` or
//! `https://`, RFC 9110 §4.2.1–4.2.2), the bearer token and, for https, the TLS client
//! configuration ([`super::tls_client`]).

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use super::tls_client::{self, TlsClientError};
use crate::config::ControlPlaneLink;

/// The URL scheme: plain HTTP/1.1 or HTTP/1.1 over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// The port when the URL names none (RFC 9110 §4.2.1, §4.2.2).
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// `http[s]://host[:port][/base]` split into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub scheme: Scheme,
    /// As written in the URL (IPv6 addresses keep their brackets).
    pub host: String,
    pub port: u16,
    pub base_path: String,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!("{url:?}: not an http:// or https:// URL"));
        };
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let bad_port = || format!("{url:?}: bad port");
        // `[v6]`, `[v6]:port`, `host`, `host:port` (RFC 3986 §3.2.2–3.2.3).
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
                let port = match after {
                    "" => scheme.default_port(),
                    p => p
                        .strip_prefix(':')
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(bad_port)?,
                };
                (format!("[{h}]"), port)
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad_port())?),
                None => (authority.to_string(), scheme.default_port()),
            },
        };
        if host.is_empty() || host == "[]" {
            return Err(format!("{url:?}: missing host"));
        }
        let parsed = Self {
            scheme,
            host,
            port,
            base_path: format!("/{}", path.trim_end_matches('/'))
                .trim_end_matches('/')
                .to_string(),
        };
        if scheme == Scheme::Https {
            parsed.server_name().map_err(|e| format!("{url:?}: {e}"))?;
        }
        Ok(parsed)
    }

    /// The host without IPv6 brackets, for name resolution and TLS.
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The name the control plane's certificate must carry: the URL's host, a DNS name or an
    /// IP address (RFC 9110 §4.3.4; sent as SNI for DNS names, RFC 6066 §3).
    pub fn server_name(&self) -> Result<ServerName<'static>, String> {
        ServerName::try_from(self.bare_host().to_owned()).map_err(|_| {
            format!(
                "host {:?} is neither a DNS name nor an IP address",
                self.host
            )
        })
    }
}

impl std::fmt::Display for BaseUrl {
    /// `scheme://host:port[/base]`, the port always written: how logs and `/metrics` name a
    /// control-plane URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(
            f,
            "{scheme}://{}:{}{}",
            self.host, self.port, self.base_path
        )
    }
}

/// Why the replication source cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("control_plane.url {0}")]
    Url(String),
    #[error("control_plane.url lists {0} more than once")]
    Duplicate(String),
    #[error(transparent)]
    Tls(#[from] TlsClientError),
}

/// The replication source: URL, bearer token and, for `https://`, the TLS client
/// configuration.
#[derive(Clone)]
pub struct Upstream {
    pub url: BaseUrl,
    pub token: String,
    pub tls: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Upstream")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Parses `url` and, for `https://`, reads the TLS files of `link`
    /// ([`tls_client::load`]). Call before binding any port: errors are configuration errors.
    pub fn load(url: &str, token: String, link: &ControlPlaneLink) -> Result<Self, UpstreamError> {
        let url = BaseUrl::parse(url).map_err(UpstreamError::Url)?;
        let tls = match url.scheme {
            Scheme::Http => None,
            Scheme::Https => Some(tls_client::load(link)?),
        };
        Ok(Self { url, token, tls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_base_urls() {
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:9444").unwrap(),
            BaseUrl {
                scheme: Scheme::Http,
                host: "127.0.0.1".into(),
                port: 9444,
                base_path: String::new()
            }
        );
        assert_eq!(
            BaseUrl::parse("http://cp.example/sigil/")
                .unwrap()
                .base_path,
            "/sigil"
        );
        assert_eq!(BaseUrl::parse("http://cp.example").unwrap().port, 80);
        let shown = BaseUrl::parse("http://cp.example/sigil/")
            .unwrap()
            .to_string();
        assert_eq!(shown, "http://cp.example:80/sigil");
        assert_eq!(
            BaseUrl::parse("https://[::1]").unwrap().to_string(),
            "https://[::1]:443"
        );
        assert_eq!(BaseUrl::parse("http://[::1]:9444").unwrap().port, 9444);
        assert_eq!(BaseUrl::parse("http://[::1]").unwrap().host, "[::1]");
        assert!(BaseUrl::parse("http://[::1").is_err());
        assert!(BaseUrl::parse("http://[::1]x").is_err());
        assert!(BaseUrl::parse("http://[]:80").is_err());
        assert!(BaseUrl::parse("ftp://cp.example").is_err());
        assert!(BaseUrl::parse("http://:80").is_err());
        assert!(BaseUrl::parse("http://cp.example:http").is_err());
    }

    #[test]
    fn parses_https_base_urls_with_default_port_and_server_name() {
        let url = BaseUrl::parse("https://cp.example").unwrap();
        assert_eq!(
            url,
            BaseUrl {
                scheme: Scheme::Https,
                host: "cp.example".into(),
                port: 443,
                base_path: String::new()
            }
        );
        assert_eq!(
            url.server_name().unwrap(),
            ServerName::try_from("cp.example").unwrap()
        );
        let url = BaseUrl::parse("https://127.0.0.1:9444/sigil").unwrap();
        assert_eq!((url.port, url.base_path.as_str()), (9444, "/sigil"));
        assert!(matches!(
            url.server_name().unwrap(),
            ServerName::IpAddress(_)
        ));
        let v6 = BaseUrl::parse("https://[::1]").unwrap();
        assert_eq!((v6.bare_host(), v6.port), ("::1", 443));
        assert!(matches!(
            v6.server_name().unwrap(),
            ServerName::IpAddress(_)
        ));
        let err = BaseUrl::parse("https://cp example").unwrap_err();
        assert!(
            err.contains("neither a DNS name nor an IP address"),
            "{err}"
        );
    }

    #[test]
    fn https_upstream_needs_a_ca_file() {
        let link = ControlPlaneLink::default();
        let http = Upstream::load("http://127.0.0.1:9444", "t".into(), &link).unwrap();
        assert!(http.tls.is_none());
        let err = Upstream::load("https://127.0.0.1:9444", "t".into(), &link).unwrap_err();
        assert!(err.to_string().contains("control_plane.ca_file"), "{err}");
        let err = Upstream::load("gopher://x", "t".into(), &link).unwrap_err();
        assert!(err.to_string().starts_with("control_plane.url"), "{err}");
    }
}
