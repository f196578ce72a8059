//! A corpus from a running control plane: every certificate that has a pre-signed response.
//!
//! The admin API has no endpoint listing certificates, but the replication stream
//! (`GET /api/v1/replication/stream?after=0`, bearer `SIGIL_REPLICATION_TOKEN`) carries every
//! `OcspPut` — whose key is exactly the CertID (`alg ‖ issuerNameHash ‖ issuerKeyHash ‖
//! serial`) a client asks about — either as the retained log or as a snapshot. This reads it up
//! to the head announced in `Hello` and closes the connection.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::Duration;

use sigil_shared::ocsp::{encode_request_for_key, CertIdKey, HashAlg};
use sigil_shared::replication::{Change, Frame};

use super::certs::hash_names;
use super::{Corpus, CorpusError};

/// What to take from the stream.
#[derive(Debug, Clone)]
pub struct StreamQuery<'a> {
    /// Control plane admin listener, e.g. `http://127.0.0.1:9444`.
    pub base_url: &'a str,
    pub token: &'a str,
    /// Only these issuers (all when empty).
    pub issuers: &'a [String],
    pub hashes: &'a [HashAlg],
    pub timeout: Duration,
}

/// The replicated state the corpus needs: issuer ids and response keys.
#[derive(Debug, Default)]
struct State {
    issuers: BTreeSet<String>,
    keys: BTreeMap<CertIdKey, String>,
}

impl State {
    fn apply(&mut self, change: Change) {
        match change {
            Change::CaPut(ca) => {
                self.issuers.insert(ca.issuer_id);
            }
            Change::CaDelete { issuer_id } => {
                self.issuers.remove(&issuer_id);
                self.keys.retain(|_, i| *i != issuer_id);
            }
            Change::OcspPut(e) => {
                self.keys.insert(e.key, e.issuer_id);
            }
            Change::OcspDelete { key } => {
                self.keys.remove(&key);
            }
            Change::CrlPut(_) => {}
            // The key service's records are not part of an OCSP corpus.
            _ => {}
        }
    }
}

pub fn from_control_plane(q: &StreamQuery<'_>) -> Result<Corpus, CorpusError> {
    let err = |m: String| CorpusError::ControlPlane(m);
    let url = format!(
        "{}/api/v1/replication/stream?after=0",
        q.base_url.trim_end_matches('/')
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(q.timeout)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut resp = client
        .get(&url)
        .bearer_auth(q.token)
        .send()
        .map_err(|e| err(format!("GET {url}: {e}")))?;
    if resp.status().as_u16() != 200 {
        let status = resp.status();
        let body = resp.text().unwrap_or_default();
        return Err(err(format!("GET {url}: {status}: {body}")));
    }
    let mut state = State::default();
    let (mut head, mut pos) = (None, 0u64);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    while head.is_none_or(|h| pos < h) {
        match Frame::decode(&buf).map_err(|e| err(e.to_string()))? {
            Some((frame, used)) => {
                buf.drain(..used);
                match frame {
                    Frame::Hello { head: h, .. } => head = Some(h),
                    Frame::SnapshotBegin { .. } => state = State::default(),
                    Frame::SnapshotItem(c) => state.apply(c),
                    Frame::SnapshotEnd { as_of } => pos = as_of,
                    Frame::Record(r) => {
                        pos = r.seq;
                        state.apply(r.change);
                    }
                    Frame::Heartbeat { .. } => {}
                }
            }
            None => match resp.read(&mut chunk) {
                Ok(0) => return Err(err("the stream ended before its head".into())),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(err(format!("reading the stream: {e}"))),
            },
        }
    }
    let wanted = |issuer: &String| q.issuers.is_empty() || q.issuers.contains(issuer);
    let mut corpus = Corpus::default();
    for id in state.issuers.iter().filter(|i| wanted(i)) {
        corpus.header.push(("issuer".into(), id.clone()));
    }
    corpus.header.push(("hash".into(), hash_names(q.hashes)));
    corpus
        .header
        .push(("source".into(), format!("control plane {}", q.base_url)));
    for (key, issuer) in &state.keys {
        if wanted(issuer) && key.alg().is_some_and(|a| q.hashes.contains(&a)) {
            if let Some(req) = encode_request_for_key(key) {
                corpus.requests.push(req);
            }
        }
    }
    if corpus.requests.is_empty() {
        return Err(CorpusError::Empty);
    }
    Ok(corpus)
}
