//! `control_plane.url`: one base URL (`url = "https://cp:8443"`) or a list tried in order
//! (`url = ["https://cp-a:8443", "https://cp-b:8443"]`, docs/replication.md "Failover").

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most URLs in `control_plane.url`: a failover list, not a fleet directory.
pub const MAX_CONTROL_PLANE_URLS: usize = 16;

/// The control plane's admin base URLs, in the order they are tried. Written back as a single
/// string when it holds one URL, as a list otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneUrls(Vec<String>);

impl ControlPlaneUrls {
    pub fn new(urls: Vec<String>) -> Self {
        Self(urls)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Checks each URL's scheme, that there is at least one and at most
    /// [`MAX_CONTROL_PLANE_URLS`], and that http:// and https:// are not mixed (a failover
    /// would otherwise send the replication token in clear text). Duplicates are found once
    /// the URLs are parsed (`replica::Upstreams::load`).
    pub(super) fn validate(&self, errs: &mut Vec<String>) {
        if self.0.is_empty() {
            errs.push("control_plane.url is an empty list: name at least one URL".into());
        }
        if self.0.len() > MAX_CONTROL_PLANE_URLS {
            errs.push(format!(
                "control_plane.url names {} URLs; at most {MAX_CONTROL_PLANE_URLS}",
                self.0.len()
            ));
        }
        for url in &self.0 {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errs.push(format!(
                    "control_plane.url {url:?} must be an http:// or https:// URL"
                ));
            }
        }
        let https = self.0.iter().filter(|u| u.starts_with("https://")).count();
        let http = self.0.iter().filter(|u| u.starts_with("http://")).count();
        if https > 0 && http > 0 {
            errs.push(
                "control_plane.url mixes http:// and https:// URLs: use one scheme for all \
                 (failing over to http:// would send the replication token in clear text)"
                    .into(),
            );
        }
    }

    /// Whether any URL asks for TLS.
    pub fn any_https(&self) -> bool {
        self.0.iter().any(|u| u.starts_with("https://"))
    }

    /// Whether any URL is plain http://.
    pub fn any_http(&self) -> bool {
        self.0.iter().any(|u| u.starts_with("http://"))
    }
}

impl From<&str> for ControlPlaneUrls {
    fn from(url: &str) -> Self {
        Self(vec![url.to_string()])
    }
}

impl From<String> for ControlPlaneUrls {
    fn from(url: String) -> Self {
        Self(vec![url])
    }
}

impl Serialize for ControlPlaneUrls {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => {
                let mut seq = s.serialize_seq(Some(many.len()))?;
                for url in many {
                    seq.serialize_element(url)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ControlPlaneUrls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UrlsVisitor;
        impl<'de> Visitor<'de> for UrlsVisitor {
            type Value = ControlPlaneUrls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a URL or a list of URLs")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ControlPlaneUrls::from(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut urls = Vec::new();
                while let Some(url) = seq.next_element::<String>()? {
                    if urls.len() > MAX_CONTROL_PLANE_URLS {
                        // Enough to report "too many"; the rest is not kept.
                        continue;
                    }
                    urls.push(url);
                }
                Ok(ControlPlaneUrls(urls))
            }
        }
        d.deserialize_any(UrlsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Holder {
        url: ControlPlaneUrls,
    }

    fn errors(urls: &[&str]) -> Vec<String> {
        let mut errs = Vec::new();
        ControlPlaneUrls(urls.iter().map(|u| u.to_string()).collect()).validate(&mut errs);
        errs
    }

    #[test]
    fn one_url_or_a_list_reads_and_writes_back_the_same() {
        let one: Holder = toml::from_str("url = \"http://cp:9444\"").unwrap();
        assert_eq!(one.url.as_slice(), ["http://cp:9444"]);
        assert_eq!(
            toml::to_string(&one).unwrap().trim(),
            "url = \"http://cp:9444\""
        );
        let two: Holder = toml::from_str("url = [\"https://a:8443\", \"https://b:8443\"]").unwrap();
        assert_eq!(two.url.as_slice(), ["https://a:8443", "https://b:8443"]);
        let again: Holder = toml::from_str(&toml::to_string(&two).unwrap()).unwrap();
        assert_eq!(again.url, two.url);
        let e = toml::from_str::<Holder>("url = 5").unwrap_err().to_string();
        assert!(e.contains("a URL or a list of URLs"), "{e}");
        assert!(toml::from_str::<Holder>("url = [5]").is_err());
    }

    #[test]
    fn lists_are_checked() {
        assert!(errors(&["http://a", "http://b"]).is_empty());
        assert!(errors(&["https://a", "https://b"]).is_empty());
        assert_eq!(
            errors(&[]),
            ["control_plane.url is an empty list: name at least one URL"]
        );
        let e = errors(&["https://a", "http://b"]);
        assert!(
            e.len() == 1 && e[0].contains("mixes http:// and https://"),
            "{e:?}"
        );
        let e = errors(&["http://a", "ftp://b"]);
        assert!(e.len() == 1 && e[0].contains("\"ftp://b\""), "{e:?}");
        let many: Vec<String> = (0..=MAX_CONTROL_PLANE_URLS)
            .map(|i| format!("http://cp-{i}"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            errors(&refs),
            ["control_plane.url names 17 URLs; at most 16"]
        );
        // A huge list is not kept whole.
        let text = format!("url = [{}]", vec!["\"http://x\""; 1000].join(","));
        let huge: Holder = toml::from_str(&text).unwrap();
        assert_eq!(huge.url.as_slice().len(), MAX_CONTROL_PLANE_URLS + 1);
    }
}
