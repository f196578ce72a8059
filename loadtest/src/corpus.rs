//! Corpora of real OCSP requests, and the file format `sigil-load corpus` writes:
//!
//! ```text
//! # sigil-load corpus v1
//! # issuer: demo
//! # source: control plane http://127.0.0.1:9444
//! MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ…   (one base64 DER OCSPRequest per line)
//! ```
//!
//! Header lines are `# key: value` (a key may repeat, e.g. one `issuer` line per CA); other
//! lines starting with `#` and blank lines are ignored.
//!
//! Sources: certificate files ([`certs`]), a running control plane's replication stream
//! ([`stream`]) and the synthetic replica of `sigil-fill-replica` ([`synthetic`]). The SSH
//! `authkeys` scenario reads (user, host) pairs instead ([`ssh_pairs`]).

pub mod certs;
pub mod ssh_pairs;
pub mod stream;
pub mod synthetic;

use std::borrow::Cow;
use std::path::Path;

use base64::Engine;
use sigil_shared::ocsp::HashAlg;
use thiserror::Error;

/// First line of a corpus file.
pub const MAGIC: &str = "# sigil-load corpus v1";

#[derive(Debug, Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a sigil-load corpus (first line must be {MAGIC:?})")]
    Magic,
    #[error("line {0}: not base64")]
    Base64(usize),
    #[error("header value must be one line: {0:?}")]
    HeaderValue(String),
    #[error("{0}")]
    Certificate(String),
    #[error("control plane: {0}")]
    ControlPlane(String),
    #[error("fill.json: {0}")]
    Fill(String),
    #[error("the corpus is empty")]
    Empty,
}

/// Requests a scenario can send, by index.
pub trait RequestSource: Send + Sync {
    /// Number of distinct requests (at least 1).
    fn len(&self) -> u64;
    /// DER of request `i` (`i < len()`).
    fn request_der(&self, i: u64) -> Cow<'_, [u8]>;
    /// One line for reports.
    fn describe(&self) -> String;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A corpus held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Corpus {
    /// `(key, value)` header lines in order.
    pub header: Vec<(String, String)>,
    pub requests: Vec<Vec<u8>>,
}

impl Corpus {
    /// Values of header `key`, in order.
    pub fn header_values(&self, key: &str) -> Vec<&str> {
        let it = self.header.iter().filter(|(k, _)| k == key);
        it.map(|(_, v)| v.as_str()).collect()
    }

    pub fn to_text(&self) -> Result<String, CorpusError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = String::with_capacity(64 + self.requests.len() * 120);
        out.push_str(MAGIC);
        out.push('\n');
        for (k, v) in &self.header {
            let bad = |s: &str| s.contains(['\n', '\r']) || s.trim() != s;
            if bad(k) || bad(v) || k.contains([':', ' ']) || k.is_empty() {
                return Err(CorpusError::HeaderValue(format!("{k}: {v}")));
            }
            out.push_str(&format!("# {k}: {v}\n"));
        }
        for r in &self.requests {
            out.push_str(&b64.encode(r));
            out.push('\n');
        }
        Ok(out)
    }

    pub fn parse(text: &str) -> Result<Self, CorpusError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut lines = text.lines().enumerate();
        match lines.find(|(_, l)| !l.trim().is_empty()) {
            Some((_, l)) if l.trim() == MAGIC => {}
            _ => return Err(CorpusError::Magic),
        }
        let mut corpus = Corpus::default();
        for (n, line) in lines {
            let line = line.trim();
            if let Some(comment) = line.strip_prefix('#') {
                if let Some((k, v)) = comment.split_once(':') {
                    let k = k.trim();
                    if !k.is_empty() && !k.contains(' ') {
                        corpus.header.push((k.to_owned(), v.trim().to_owned()));
                    }
                }
            } else if !line.is_empty() {
                let der = b64.decode(line).map_err(|_| CorpusError::Base64(n + 1))?;
                corpus.requests.push(der);
            }
        }
        Ok(corpus)
    }

    pub fn read(path: &Path) -> Result<Self, CorpusError> {
        let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn write(&self, path: &Path) -> Result<(), CorpusError> {
        let io = |source| CorpusError::Io {
            path: path.display().to_string(),
            source,
        };
        if path.as_os_str() == "-" {
            use std::io::Write;
            return std::io::stdout()
                .write_all(self.to_text()?.as_bytes())
                .map_err(io);
        }
        std::fs::write(path, self.to_text()?).map_err(io)
    }
}

impl RequestSource for Corpus {
    fn len(&self) -> u64 {
        self.requests.len() as u64
    }

    fn request_der(&self, i: u64) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.requests[i as usize])
    }

    fn describe(&self) -> String {
        let issuers = self.header_values("issuer");
        format!(
            "corpus of {} requests (issuer {})",
            self.requests.len(),
            if issuers.is_empty() {
                "?".to_owned()
            } else {
                issuers.join(", ")
            }
        )
    }
}

/// `--hash sha1|sha256|both`.
pub fn parse_hashes(s: &str) -> Result<Vec<HashAlg>, String> {
    match s {
        "both" | "all" => Ok(HashAlg::ALL.to_vec()),
        _ => s
            .split(',')
            .map(|h| HashAlg::from_name(h.trim()).ok_or_else(|| format!("unknown hash {h:?}")))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_it_writes_and_ignores_comments() {
        let c = Corpus {
            header: vec![
                ("issuer".into(), "demo".into()),
                ("hash".into(), "sha1".into()),
            ],
            requests: vec![vec![0x30, 0x03, 1, 2, 3], vec![]],
        };
        let text = c.to_text().unwrap();
        assert!(text.starts_with("# sigil-load corpus v1\n# issuer: demo\n"));
        assert_eq!(
            Corpus::parse(&text).unwrap(),
            Corpus {
                requests: vec![vec![0x30, 0x03, 1, 2, 3]],
                ..c.clone()
            }
        );
        let with_noise = format!("\n{text}\n# just a comment\n#\n\n");
        assert_eq!(Corpus::parse(&with_noise).unwrap().requests.len(), 1);
        assert!(matches!(Corpus::parse("MEUw\n"), Err(CorpusError::Magic)));
        assert!(matches!(
            Corpus::parse(&format!("{MAGIC}\n!!!\n")),
            Err(CorpusError::Base64(2))
        ));
        let bad = Corpus {
            header: vec![("issuer".into(), "a\nb".into())],
            requests: vec![],
        };
        assert!(bad.to_text().is_err());
    }

    #[test]
    fn hash_lists() {
        assert_eq!(parse_hashes("sha1").unwrap(), vec![HashAlg::Sha1]);
        assert_eq!(parse_hashes("both").unwrap(), HashAlg::ALL.to_vec());
        assert_eq!(
            parse_hashes("sha256,sha1").unwrap(),
            vec![HashAlg::Sha256, HashAlg::Sha1]
        );
        assert!(parse_hashes("md5").is_err());
    }

    proptest! {
        #[test]
        fn corpus_files_round_trip(
            header in proptest::collection::vec(
                ("[a-z_][a-z0-9_-]{0,12}", "([!-~]([ -~]{0,30}[!-~])?)?"), 0..5),
            requests in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 1..200), 0..30),
        ) {
            let c = Corpus { header, requests };
            let back = Corpus::parse(&c.to_text().unwrap()).unwrap();
            prop_assert_eq!(back, c);
        }
    }
}
