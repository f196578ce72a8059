//! Requests for the synthetic replica `sigil-fill-replica` writes: certificate `i` has serial
//! [`crate::synthetic_serial`]`(i)` and the CA's SHA-1 hashes are in `fill.json`. Requests are
//! built on the fly, so a 10M-certificate replica needs no 10M-line corpus file.

use std::borrow::Cow;
use std::path::Path;

use sigil_shared::ocsp::{encode_request, CertIdFields, HashAlg};

use super::{Corpus, CorpusError, RequestSource};
use crate::synthetic_serial;

/// What `fill.json` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synthetic {
    pub issuer_id: String,
    pub count: u64,
    pub name_hash: Vec<u8>,
    pub key_hash: Vec<u8>,
}

impl Synthetic {
    pub fn from_fill_json(path: &Path) -> Result<Self, CorpusError> {
        let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, CorpusError> {
        let bad = |m: &str| CorpusError::Fill(m.to_owned());
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        let hex_field = |k: &str| {
            let s = v[k]
                .as_str()
                .ok_or_else(|| bad(&format!("no string {k}")))?;
            let b = hex::decode(s).map_err(|_| bad(&format!("{k} is not hex")))?;
            if b.len() != HashAlg::Sha1.digest_len() {
                return Err(bad(&format!("{k} is not a SHA-1 digest")));
            }
            Ok(b)
        };
        if v["serial_base"].as_str() != Some("1000000000000000") {
            return Err(bad("serial_base is not the one synthetic_serial uses"));
        }
        Ok(Synthetic {
            issuer_id: v["issuer_id"].as_str().unwrap_or("fill").to_owned(),
            count: v["count"].as_u64().ok_or_else(|| bad("no count"))?,
            name_hash: hex_field("sha1_name_hash")?,
            key_hash: hex_field("sha1_key_hash")?,
        })
    }

    /// Uses only the first `n` certificates.
    pub fn limit(mut self, n: Option<u64>) -> Self {
        if let Some(n) = n {
            self.count = self.count.min(n);
        }
        self
    }

    /// The first `count` requests as a corpus file.
    pub fn to_corpus(&self) -> Corpus {
        Corpus {
            header: vec![
                ("issuer".into(), self.issuer_id.clone()),
                ("hash".into(), "sha1".into()),
                ("source".into(), "sigil-fill-replica (synthetic)".into()),
            ],
            requests: (0..self.count)
                .map(|i| self.request_der(i).into_owned())
                .collect(),
        }
    }
}

impl RequestSource for Synthetic {
    fn len(&self) -> u64 {
        self.count
    }

    fn request_der(&self, i: u64) -> Cow<'_, [u8]> {
        let serial = synthetic_serial(i);
        Cow::Owned(encode_request(&[CertIdFields::new(
            HashAlg::Sha1,
            &self.name_hash,
            &self.key_hash,
            &serial,
        )]))
    }

    fn describe(&self) -> String {
        format!(
            "synthetic replica of {} certificates (issuer {})",
            self.count, self.issuer_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::ocsp::{decode_request, CertIdKey};

    #[test]
    fn reads_fill_json_and_builds_requests() {
        let json = serde_json::json!({
            "issuer_id": "fill", "count": 3, "serial_base": "1000000000000000",
            "sha1_name_hash": "11".repeat(20), "sha1_key_hash": "22".repeat(20),
        });
        let s = Synthetic::parse(&json.to_string()).unwrap();
        assert_eq!(s.count, 3);
        let der = s.request_der(2);
        let parsed = decode_request(&der).unwrap();
        assert_eq!(
            parsed.certs[0].key().unwrap(),
            CertIdKey::new(
                HashAlg::Sha1,
                &[0x11; 20],
                &[0x22; 20],
                &synthetic_serial(2)
            )
        );
        let c = s.clone().limit(Some(2)).to_corpus();
        assert_eq!(c.requests.len(), 2);
        assert_eq!(c.header_values("issuer"), vec!["fill"]);
        assert!(Synthetic::parse("{}").is_err());
        let short = json.to_string().replace(&"22".repeat(20), "22");
        assert!(Synthetic::parse(&short).is_err());
    }
}
