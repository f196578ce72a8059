//! Degenerate ("certs-only") `SignedData` (RFC 5652 §5.1; RFC 8894 §3.4 and §4.2.1.2):
//!
//! ```text
//! SignedData ::= SEQUENCE {
//!   version 1, digestAlgorithms SET OF {} (empty),
//!   encapContentInfo SEQUENCE { eContentType id-data } (no eContent),
//!   certificates [0] IMPLICIT SET OF Certificate, signerInfos SET OF {} (empty) }
//! ```

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
use der::asn1::SetOfVec;
use der::{Any, Decode, Encode};
use x509_cert::Certificate;

use crate::{oids, Result, ScepError};

/// `ContentInfo` DER of a certs-only `SignedData` with `certs` (DER certificates; DER sorts
/// the set, so their order is not kept).
pub fn certs_only(certs: &[&[u8]]) -> Result<Vec<u8>> {
    let mut set = SetOfVec::new();
    for der in certs {
        let cert = Certificate::from_der(der)?;
        let choice = CertificateChoices::Certificate(cert);
        if !set.iter().any(|c| c == &choice) {
            set.insert(choice)?;
        }
    }
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oids::DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(set)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    Ok(ContentInfo {
        content_type: oids::SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

/// The certificates (DER) of a certs-only `SignedData` in a `ContentInfo`.
pub fn read_certs_only(der: &[u8]) -> Result<Vec<Vec<u8>>> {
    let ci = ContentInfo::from_der(der)?;
    if ci.content_type != oids::SIGNED_DATA {
        return Err(ScepError::Malformed("not a SignedData".into()));
    }
    let sd: SignedData = ci.content.decode_as()?;
    let mut out = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let CertificateChoices::Certificate(cert) = c {
            out.push(cert.to_der()?);
        }
    }
    Ok(out)
}
