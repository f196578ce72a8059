//! SCEP (RFC 8894) input on the control plane: a `PKIOperation` body (a pkiMessage: CMS
//! SignedData around an EnvelopedData), the PKCS#10 request inside it, GetCACert-style
//! certs-only bodies.

use sigil_scep::reply::{cert_rep, Ra, Reply};
use sigil_scep::{certs, csr, FailInfo, PkiMessage};
use std::sync::OnceLock;

/// The RA of `scep/testdata` (its key is public: only this target uses it).
pub fn ra() -> &'static Ra {
    static RA: OnceLock<Ra> = OnceLock::new();
    RA.get_or_init(|| {
        Ra::new(
            include_bytes!("../../scep/testdata/ra.key.der"),
            include_bytes!("../../scep/testdata/ra.crt.der"),
        )
        .unwrap()
    })
}

/// Any bytes as a PKIOperation body: parsing, the signature check and opening the envelope
/// never panic; a parsed message gets a CertRep FAILURE that parses back with the same
/// transactionID, its nonce as recipientNonce, and a signature that verifies. The same bytes
/// as a CSR (challengePassword) and as a certs-only body never panic either.
pub fn scep_message(data: &[u8]) {
    if let Ok(msg) = PkiMessage::parse(data) {
        let verified = msg.verify();
        let _ = ra().open(&msg);
        let rep = cert_rep(ra(), &msg, Reply::Failure(FailInfo::BadMessageCheck)).unwrap();
        let back = PkiMessage::parse(&rep).unwrap();
        back.verify().unwrap();
        assert_eq!(back.transaction_id, msg.transaction_id);
        assert_eq!(back.recipient_nonce.as_deref(), Some(&msg.sender_nonce[..]));
        assert_eq!(back.fail_info, Some(FailInfo::BadMessageCheck));
        if verified.is_ok() {
            // A verified message stays verified when parsed again.
            PkiMessage::parse(data).unwrap().verify().unwrap();
        }
    }
    let _ = csr::challenge_password(data);
    if let Ok(list) = certs::read_certs_only(data) {
        let refs: Vec<&[u8]> = list.iter().map(Vec::as_slice).collect();
        if let Ok(again) = certs::certs_only(&refs) {
            let mut a = certs::read_certs_only(&again).unwrap();
            let mut b = list.clone();
            a.sort();
            b.sort();
            b.dedup();
            assert_eq!(a, b);
        }
    }
}
