//! Pre-signing OCSP responses, sans-io: one `BasicOCSPResponse` per certificate and CertID
//! hash algorithm, signed ahead of time and served as bytes by the data plane. Signed by the
//! certificates service at issuance, revocation and refresh (`jobs::ocsp_refresh`).

use sigil_shared::ocsp::{CertStatus, HashAlg, SingleResponse};
use sigil_shared::replication::OcspEntry;

use crate::ca::{CaRuntime, Responder};
use crate::crypto::SignError;
use crate::db::CertState;
use sigil_shared::ocsp::RevocationReason;

/// The OCSP status a certificate state is reported with.
pub fn cert_status(state: CertState) -> CertStatus {
    match state {
        CertState::Active => CertStatus::Good,
        CertState::Revoked { time, reason } => CertStatus::Revoked {
            time,
            // RFC 5280 §5.3.1: the reason code SHOULD be absent rather than "unspecified".
            reason: (reason != RevocationReason::Unspecified).then_some(reason),
        },
    }
}

/// Signs the responses of one certificate for every algorithm in `algs`, valid from `now`
/// for `validity_secs`.
pub fn sign_responses(
    ca: &CaRuntime,
    responder: &Responder,
    serial: &[u8],
    state: CertState,
    now: i64,
    validity_secs: i64,
    algs: &[HashAlg],
) -> Result<Vec<OcspEntry>, SignError> {
    let status = cert_status(state);
    algs.iter()
        .map(|alg| {
            let key = ca.hashes_for(*alg).key_for(serial);
            let single = SingleResponse {
                cert_id: &key,
                status,
                this_update: now,
                next_update: now + validity_secs,
            };
            let data = responder.template.response_data(now, &single);
            let sig = responder.signer.sign(&data)?;
            Ok(OcspEntry {
                der: responder.template.finish(&data, &sig),
                key,
                issuer_id: ca.record.id.clone(),
                this_update: now,
                next_update: now + validity_secs,
            })
        })
        .collect()
}
