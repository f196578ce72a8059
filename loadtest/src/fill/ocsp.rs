//! N synthetic certificates' OCSP responses: a CA and delegated responder are created, and
//! certificate `i` (serial [`crate::synthetic_serial`]`(i)`) gets a `good` response per CertID
//! hash, signed on every core. What a load generator needs to build requests goes into
//! `fill.json` ([`crate::corpus::synthetic::Synthetic`] reads it).

use sigil_controlplane::ca::{self, CaRuntime, NewCa};
use sigil_controlplane::crypto::KeyAlgorithm;
use sigil_controlplane::db::CertState;
use sigil_controlplane::ocsp::sign_responses;
use sigil_controlplane::x509;
use sigil_shared::ocsp::HashAlg;
use sigil_shared::replication::Change;
use sigil_storage::Store;

use super::{write_header, write_parallel};
use crate::synthetic_serial;

/// Certificates per write batch.
const CHUNK: u64 = 4096;

/// Fills `store` with `count` certificates' responses signed by a new CA's responder (key
/// `alg`) at `now`; returns the `fill.json` fields that describe them.
pub fn fill(
    store: &dyn Store,
    count: u64,
    alg: KeyAlgorithm,
    threads: usize,
    now: i64,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let new = NewCa {
        id: "fill".into(),
        name: "fill".into(),
        subject: x509::parse_name("CN=Sigil Fill CA")?,
        key_algorithm: alg,
        not_before: now - 3600,
        not_after: now + 365 * 86_400,
    };
    let created = ca::create_ca(&new, None, now)?;
    let rt = CaRuntime::new(created.record, created.signer)?;
    let (_, responder, _) = ca::issue_responder(&rt, 14, now)?;
    write_header(store, vec![Change::CaPut(rt.state())])?;
    let make = |items: std::ops::Range<u64>| {
        let mut changes = Vec::with_capacity(2 * (items.end - items.start) as usize);
        for i in items {
            let entries = sign_responses(
                &rt,
                &responder,
                &synthetic_serial(i),
                CertState::Active,
                now,
                96 * 3600,
                &HashAlg::ALL,
            )
            .expect("signing with a software key");
            changes.extend(entries.into_iter().map(Change::OcspPut));
        }
        changes
    };
    let written = write_parallel(store, count, CHUNK, threads, "certificates", &make)?;
    let h = rt.hashes_for(HashAlg::Sha1);
    let info = serde_json::json!({
        "issuer_id": "fill",
        "count": written,
        "sha1_name_hash": hex::encode(&h.name_hash),
        "sha1_key_hash": hex::encode(&h.key_hash),
        "serial_base": "1000000000000000",
        "ca_pem": x509::cert_pem(&rt.record.cert_der),
    });
    Ok(match info {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("a JSON object"),
    })
}
