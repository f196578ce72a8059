//! The server under test: `http://host[:port][/prefix]` or `https://…`.

use std::net::{SocketAddr, ToSocketAddrs};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum TargetError {
    #[error("URL {0:?} must start with http:// or https://")]
    Scheme(String),
    #[error("URL {0:?} has no host")]
    NoHost(String),
    #[error("URL {0:?} has a bad port")]
    Port(String),
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, std::io::Error),
}

/// A parsed target URL, resolved once.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub tls: bool,
    /// Host name as written (used for SNI and certificate checks).
    pub host: String,
    pub port: u16,
    /// `Host` header value.
    pub authority: String,
    /// Path prefix without a trailing `/` (empty for `/`).
    pub prefix: String,
    pub addr: SocketAddr,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(TargetError::Scheme(url.into()));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| TargetError::NoHost(url.into()))?;
            match after.strip_prefix(':') {
                Some(p) => (h, p.parse().map_err(|_| TargetError::Port(url.into()))?),
                None => (h, default_port),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| TargetError::Port(url.into()))?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return Err(TargetError::NoHost(url.into()));
        }
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| TargetError::Resolve(authority.into(), e))?
            .next()
            .ok_or_else(|| {
                TargetError::Resolve(authority.into(), std::io::ErrorKind::NotFound.into())
            })?;
        Ok(Target {
            url: url.into(),
            tls,
            host: host.into(),
            port,
            authority: authority.into(),
            prefix: path.trim_end_matches('/').into(),
            addr,
        })
    }

    /// The request target for a scenario path (which starts with `/`): the prefix joined with
    /// it; `/` alone stands for the prefix itself (`http://h/ocsp` + `/` → `/ocsp`).
    pub fn path(&self, rel: &str) -> String {
        match (self.prefix.is_empty(), rel) {
            (true, _) => rel.to_owned(),
            (false, "/") => self.prefix.clone(),
            (false, _) => format!("{}{rel}", self.prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!((t.tls, t.port, t.prefix.as_str()), (false, 8080, ""));
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path("/"), "/");
        assert_eq!(t.path("/crl/a.crl"), "/crl/a.crl");
        let t = Target::parse("https://localhost:9443/ocsp").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "localhost", 9443));
        assert_eq!(t.path("/"), "/ocsp");
        assert_eq!(t.path("/MEUw"), "/ocsp/MEUw");
        let t = Target::parse("http://[::1]:81").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 81));
        assert_eq!(Target::parse("http://127.0.0.1").unwrap().port, 80);
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("http://:80").is_err());
        assert!(Target::parse("http://h:x/").is_err());
    }
}
