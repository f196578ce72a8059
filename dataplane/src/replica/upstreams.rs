//! Every replication source of `control_plane.url`, in the order they are tried
//! ([`super::failover`]), and what `/metrics` shows of them ([`UpstreamStatus`]).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use super::tls_client;
use super::upstream::{BaseUrl, Scheme, Upstream, UpstreamError};
use crate::config::ControlPlaneLink;

/// The replication sources, all with the same token and TLS client configuration. Clones
/// share which source is active.
#[derive(Debug, Clone)]
pub struct Upstreams {
    list: Arc<[Upstream]>,
    /// Index of the source the replication stream was last established on (the first before
    /// any): where the key service forwards its mutations.
    active: Arc<AtomicUsize>,
}

impl Upstreams {
    /// Parses every URL (refusing one listed twice) and, for `https://`, reads the TLS files
    /// of `link` once ([`tls_client::load`]). Call before binding any port: errors are
    /// configuration errors.
    pub fn load(
        urls: &[String],
        token: String,
        link: &ControlPlaneLink,
    ) -> Result<Self, UpstreamError> {
        let mut parsed: Vec<BaseUrl> = Vec::with_capacity(urls.len());
        for url in urls {
            let u = BaseUrl::parse(url).map_err(UpstreamError::Url)?;
            let same = |p: &BaseUrl| {
                (p.scheme, p.host.to_ascii_lowercase(), p.port, &p.base_path)
                    == (u.scheme, u.host.to_ascii_lowercase(), u.port, &u.base_path)
            };
            if parsed.iter().any(same) {
                return Err(UpstreamError::Duplicate(u.to_string()));
            }
            parsed.push(u);
        }
        if parsed.is_empty() {
            return Err(UpstreamError::Url("names no URL".into()));
        }
        let tls = match parsed.iter().any(|u| u.scheme == Scheme::Https) {
            true => Some(tls_client::load(link)?),
            false => None,
        };
        let list = parsed
            .into_iter()
            .map(|url| Upstream {
                url,
                token: token.clone(),
                tls: tls.clone(),
            })
            .collect();
        Ok(Self {
            list,
            active: Arc::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Source `i`, in the configured order (the last for an index past the end; [`load`]
    /// never makes an empty list).
    ///
    /// [`load`]: Upstreams::load
    pub fn get(&self, i: usize) -> &Upstream {
        &self.list[i.min(self.list.len() - 1)]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.list.iter()
    }

    /// The source the replication stream was last established on (the first before any).
    pub fn active(&self) -> &Upstream {
        self.get(self.active.load(Relaxed))
    }

    pub(super) fn set_active(&self, i: usize) {
        self.active.store(i, Relaxed);
    }

    /// How logs and `/metrics` name each source ([`BaseUrl`]'s `Display`; never the token).
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|u| u.url.to_string()).collect()
    }
}

/// Which source the stream is on and how often it failed over; written by the subscriber,
/// read by `/metrics`.
#[derive(Debug, Default)]
pub struct UpstreamStatus {
    names: OnceLock<Vec<String>>,
    /// 1 + the index of the source the stream is established on; 0 while there is none.
    connected: AtomicUsize,
    pub failovers: AtomicU64,
}

impl UpstreamStatus {
    /// Names the sources (once, when the subscriber starts).
    pub fn set_names(&self, names: Vec<String>) {
        let _ = self.names.set(names);
    }

    pub fn set_connected(&self, index: Option<usize>) {
        self.connected.store(index.map_or(0, |i| i + 1), Relaxed);
    }

    /// The index of the source the stream is established on.
    pub fn connected(&self) -> Option<usize> {
        self.connected.load(Relaxed).checked_sub(1)
    }

    /// `sigil_dp_replication_upstream{url="…"}` (1 for the source the stream is established
    /// on, 0 for the others; no series without a control plane) and
    /// `sigil_dp_replication_failovers_total`, in Prometheus text.
    pub fn render(&self, out: &mut String) {
        let names = self.names.get().map_or(&[][..], Vec::as_slice);
        if !names.is_empty() {
            let name = "sigil_dp_replication_upstream";
            let _ = writeln!(
                out,
                "# HELP {name} 1 for the control_plane.url the replication stream is established \
                 on, 0 for the other configured URLs (all 0 while disconnected).\n# TYPE {name} gauge"
            );
            let connected = self.connected();
            for (i, url) in names.iter().enumerate() {
                let v = u8::from(connected == Some(i));
                let _ = writeln!(out, "{name}{{url=\"{}\"}} {v}", escape_label(url));
            }
        }
        crate::stats::family(
            out,
            "replication_failovers_total",
            "counter",
            "Replication streams established on another control_plane.url than the previous \
             stream (the first counts when not on the first URL).",
            self.failovers.load(Relaxed),
        );
    }
}

/// A Prometheus label value: backslash, double quote and line feed escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn loads_every_url_in_order_and_refuses_duplicates() {
        let link = ControlPlaneLink::default();
        let ups = Upstreams::load(
            &urls(&["http://cp-a:9444", "http://cp-b:9444/base/"]),
            "t".into(),
            &link,
        )
        .unwrap();
        assert_eq!(ups.names(), ["http://cp-a:9444", "http://cp-b:9444/base"]);
        assert!(ups.iter().all(|u| u.token == "t" && u.tls.is_none()));
        assert_eq!(ups.active().url.host, "cp-a");
        ups.clone().set_active(1);
        assert_eq!(
            ups.active().url.host,
            "cp-b",
            "clones share the active source"
        );

        let dup = Upstreams::load(
            &urls(&["http://cp-a", "http://CP-A:80/"]),
            "t".into(),
            &link,
        );
        let e = dup.unwrap_err().to_string();
        assert_eq!(e, "control_plane.url lists http://CP-A:80 more than once");
        let e = Upstreams::load(&urls(&["http://a", "http://b:x"]), "t".into(), &link)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("control_plane.url \"http://b:x\""), "{e}");
        let e = Upstreams::load(&urls(&["https://a"]), "t".into(), &link)
            .unwrap_err()
            .to_string();
        assert!(e.contains("control_plane.ca_file"), "{e}");
        assert!(Upstreams::load(&[], "t".into(), &link).is_err());
    }

    #[test]
    fn renders_which_source_is_connected() {
        let s = UpstreamStatus::default();
        let mut text = String::new();
        s.render(&mut text);
        assert!(!text.contains("replication_upstream"), "{text}");
        assert!(text.contains("sigil_dp_replication_failovers_total 0\n"));

        s.set_names(urls(&["http://a:1", "http://b:2/\"x\""]));
        s.set_connected(Some(1));
        s.failovers.store(3, Relaxed);
        assert_eq!(s.connected(), Some(1));
        let mut text = String::new();
        s.render(&mut text);
        assert!(text.contains("# TYPE sigil_dp_replication_upstream gauge\n"));
        assert!(text.contains("sigil_dp_replication_upstream{url=\"http://a:1\"} 0\n"));
        assert!(text.contains("sigil_dp_replication_upstream{url=\"http://b:2/\\\"x\\\"\"} 1\n"));
        assert!(text.contains("sigil_dp_replication_failovers_total 3\n"));
        s.set_connected(None);
        let mut text = String::new();
        s.render(&mut text);
        assert!(!text.contains("} 1\n"), "{text}");
    }
}
