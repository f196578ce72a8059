//! Server-side key generation (RFC 7030 §4.4): a new key of the client CSR's type, and a
//! PKCS#10 request (RFC 2986 §4) for it with the client CSR's subject and attributes, signed
//! by the new key, so that issuance runs the same checks as for any CSR.

use der::asn1::BitString;
use der::{Decode, Encode};
use sigil_shared::der::{canonical_uint, read_single, Reader, TAG_INTEGER, TAG_SEQUENCE};
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::crypto::{KeyAlgorithm, SignError, Signer, SoftwareSigner};

#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error("CSR: {0}")]
    Csr(String),
    #[error("key generation: {0}")]
    Key(#[from] SignError),
}

/// A key generated for the client and the request Sigil issues from.
#[derive(Debug)]
pub struct Generated {
    /// PKCS#8 (RFC 5958) private key, returned to the client.
    pub pkcs8: Vec<u8>,
    /// DER PKCS#10 for the new key.
    pub csr_der: Vec<u8>,
    pub algorithm: KeyAlgorithm,
}

/// The key type of a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7): EC P-256 or P-384, Ed25519,
/// RSA rounded to 2048/3072/4096 bits. `None` for anything else.
pub fn algorithm_of(spki_der: &[u8]) -> Option<KeyAlgorithm> {
    use const_oid::db::{rfc5912, rfc8410};
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der).ok()?;
    let oid = spki.algorithm.oid;
    if oid == rfc5912::ID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()?
            .decode_as::<const_oid::ObjectIdentifier>()
            .ok()?;
        return match curve {
            c if c == rfc5912::SECP_256_R_1 => Some(KeyAlgorithm::EcdsaP256),
            c if c == rfc5912::SECP_384_R_1 => Some(KeyAlgorithm::EcdsaP384),
            _ => None,
        };
    }
    if oid == rfc8410::ID_ED_25519 {
        return Some(KeyAlgorithm::Ed25519);
    }
    if oid == rfc5912::RSA_ENCRYPTION {
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1)
        let key = spki.subject_public_key.as_bytes()?;
        let seq = read_single(key, TAG_SEQUENCE).ok()?;
        let n = Reader::new(seq.value).read(TAG_INTEGER).ok()?;
        let bits = canonical_uint(n.value).ok()?.len() * 8;
        return Some(match bits {
            0..=2560 => KeyAlgorithm::Rsa2048,
            2561..=3584 => KeyAlgorithm::Rsa3072,
            _ => KeyAlgorithm::Rsa4096,
        });
    }
    None
}

/// Generates a key of the type of `client_csr`'s key and a CSR for it carrying the same
/// subject and attributes (extension requests: SANs). `client_csr` is DER and must already
/// have been verified.
pub fn generate_for(client_csr: &[u8]) -> Result<Generated, KeygenError> {
    let req = CertReq::from_der(client_csr).map_err(|e| KeygenError::Csr(e.to_string()))?;
    let spki = req
        .info
        .public_key
        .to_der()
        .map_err(|e| KeygenError::Csr(e.to_string()))?;
    let algorithm = algorithm_of(&spki).unwrap_or(KeyAlgorithm::EcdsaP256);
    let (signer, pkcs8) = SoftwareSigner::generate(algorithm)?;
    let csr_der = sign_request(&req.info, &signer).map_err(KeygenError::Csr)?;
    Ok(Generated {
        pkcs8,
        csr_der,
        algorithm,
    })
}

/// `template`'s subject and attributes with `signer`'s public key, signed by it.
fn sign_request(template: &CertReqInfo, signer: &dyn Signer) -> Result<Vec<u8>, String> {
    let e = |e: der::Error| e.to_string();
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: template.subject.clone(),
        public_key: SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).map_err(e)?,
        attributes: template.attributes.clone(),
    };
    let tbs = info.to_der().map_err(e)?;
    let signature = signer.sign(&tbs).map_err(|e| e.to_string())?;
    CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned::from_der(signer.signature_algorithm_der())
            .map_err(e)?,
        signature: BitString::from_bytes(&signature).map_err(e)?,
    }
    .to_der()
    .map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::verify_csr;

    /// A CSR for `CN=device-1` with SAN `DNS:device-1.example` made with `alg`.
    fn client_csr(alg: KeyAlgorithm) -> Vec<u8> {
        use x509_cert::attr::Attribute;
        use x509_cert::ext::pkix::name::GeneralName;
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::request::ExtensionReq;
        let san = SubjectAltName(vec![GeneralName::DnsName(
            der::asn1::Ia5String::new("device-1.example").unwrap(),
        )]);
        let ext = x509_cert::ext::Extension {
            extn_id: const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME,
            critical: false,
            extn_value: der::asn1::OctetString::new(san.to_der().unwrap()).unwrap(),
        };
        let ext_req = ExtensionReq(vec![ext]);
        let attr = Attribute {
            oid: const_oid::db::rfc5912::ID_EXTENSION_REQ,
            values: der::asn1::SetOfVec::try_from(vec![der::Any::encode_from(&ext_req).unwrap()])
                .unwrap(),
        };
        let (signer, _) = SoftwareSigner::generate(alg).unwrap();
        let template = CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject: crate::x509::parse_name("CN=device-1,O=Example").unwrap(),
            public_key: SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).unwrap(),
            attributes: der::asn1::SetOfVec::try_from(vec![attr]).unwrap(),
        };
        sign_request(&template, &signer).unwrap()
    }

    #[test]
    fn generated_request_keeps_subject_and_sans_with_a_new_key() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa2048,
        ] {
            let client = client_csr(alg);
            let theirs = verify_csr(&client).unwrap();
            assert_eq!(algorithm_of(&theirs.spki_der), Some(alg));
            let g = generate_for(&client).unwrap();
            assert_eq!(g.algorithm, alg);
            let ours = verify_csr(&g.csr_der).expect("generated CSR verifies");
            assert_eq!(ours.subject, theirs.subject);
            assert_eq!(ours.sans, theirs.sans);
            assert_ne!(ours.spki_der, theirs.spki_der, "a new key");
            let key = SoftwareSigner::from_pkcs8(alg, &g.pkcs8).unwrap();
            assert_eq!(key.public_key_der(), ours.spki_der.as_slice());
        }
    }

    #[test]
    fn unknown_key_types() {
        assert_eq!(algorithm_of(b"\x30\x00"), None);
        assert_eq!(algorithm_of(b"garbage"), None);
    }
}
