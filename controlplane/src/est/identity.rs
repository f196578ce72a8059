//! Who a request may enroll as (sans-io): the names in a CSR an OTP's entity id must match
//! (RFC 7030 §3.2.3 leaves the binding to the server), and the checks on a TLS client
//! certificate presented for re-enrollment (RFC 7030 §3.3.2, §4.2.2).

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use der::{Decode, Tag, Tagged};
use sigil_shared::der::{read_single, Reader, TAG_BIT_STRING, TAG_SEQUENCE};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::crypto::{KeyAlgorithm, VerifiedCsr};
use crate::services::certificates::san_string;

/// The commonName (2.5.4.3) values of `name`, as text.
pub fn common_names(name: &Name) -> Vec<String> {
    let mut out = Vec::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid != const_oid::db::rfc4519::CN {
                continue;
            }
            let v = atv.value.value();
            let text = match atv.value.tag() {
                Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
                    String::from_utf8(v.to_vec()).ok()
                }
                Tag::BmpString => {
                    let units: Vec<u16> = v
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16(&units).ok()
                }
                _ => None,
            };
            out.extend(text);
        }
    }
    out
}

/// The value of a SAN without its `DNS:` / `IP:` / `email:` / `URI:` prefix.
fn san_value(n: &GeneralName) -> String {
    let s = san_string(n);
    s.split_once(':').map_or(s.clone(), |(_, v)| v.to_string())
}

/// Whether the CSR names `entity`: a commonName equal to it, or a SAN whose value is (DNS
/// names compared without regard to ASCII case, RFC 4343).
pub fn csr_names_entity(csr: &VerifiedCsr, entity: &str) -> bool {
    common_names(&csr.subject).iter().any(|cn| cn == entity)
        || csr.sans.iter().any(|n| match n {
            GeneralName::DnsName(d) => d.as_str().eq_ignore_ascii_case(entity),
            other => san_value(other) == entity,
        })
}

/// Whether a renewal CSR keeps the current certificate's subject and SANs (RFC 7030 §4.2.2:
/// "MUST be identical"); SANs are compared as a set. `current_sans` as stored
/// (`DNS:name`, ...).
pub fn keeps_identity(csr: &VerifiedCsr, current: &Name, current_sans: &[String]) -> bool {
    let mut want: Vec<&str> = current_sans.iter().map(String::as_str).collect();
    let got_owned: Vec<String> = csr.sans.iter().map(san_string).collect();
    let mut got: Vec<&str> = got_owned.iter().map(String::as_str).collect();
    want.sort_unstable();
    want.dedup();
    got.sort_unstable();
    got.dedup();
    csr.subject == *current && want == got
}

/// A client certificate whose signature verified against the CA key.
#[derive(Debug, Clone)]
pub struct Presented {
    pub serial: Vec<u8>,
    pub subject: Name,
}

fn verification_alg(alg: KeyAlgorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        KeyAlgorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::Ed25519 => &signature::ED25519,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        KeyAlgorithm::RsaPss2048 | KeyAlgorithm::RsaPss3072 | KeyAlgorithm::RsaPss4096 => {
            &signature::RSA_PSS_2048_8192_SHA256
        }
    }
}

/// Checks that `cert_der` is signed by the CA whose key is `ca_spki` (algorithm `ca_alg`,
/// signature AlgorithmIdentifier `ca_sig_alg`): RFC 5280 §4.1.1.2/§4.1.1.3 over the exact
/// TBSCertificate bytes. The caller still checks that the certificate is in the database,
/// unrevoked and valid now.
pub fn verify_issued_by(
    cert_der: &[u8],
    ca_spki: &[u8],
    ca_alg: KeyAlgorithm,
    ca_sig_alg: &[u8],
) -> Result<Presented, String> {
    let outer = read_single(cert_der, TAG_SEQUENCE).map_err(|e| e.to_string())?;
    let mut r = Reader::new(outer.value);
    let tbs = r.read(TAG_SEQUENCE).map_err(|e| e.to_string())?;
    let sig_alg = r.read(TAG_SEQUENCE).map_err(|e| e.to_string())?;
    let sig = r.read(TAG_BIT_STRING).map_err(|e| e.to_string())?;
    r.finish().map_err(|e| e.to_string())?;
    if sig_alg.raw != ca_sig_alg {
        return Err("its signature algorithm is not the CA's".into());
    }
    let signature = match sig.value.split_first() {
        Some((0, s)) => s,
        _ => return Err("malformed signature".into()),
    };
    let (_, key) =
        sigil_shared::ocsp::subject_public_key_bits(ca_spki).map_err(|e| e.to_string())?;
    UnparsedPublicKey::new(verification_alg(ca_alg), key)
        .verify(tbs.raw, signature)
        .map_err(|_| "it is not signed by this CA".to_string())?;
    let cert = Certificate::from_der(cert_der).map_err(|e| e.to_string())?;
    Ok(Presented {
        serial: cert.tbs_certificate.serial_number.as_bytes().to_vec(),
        subject: cert.tbs_certificate.subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Signer, SoftwareSigner};
    use crate::x509::{self, CertSpec};

    fn csr(subject: &str, sans: Vec<GeneralName>) -> VerifiedCsr {
        VerifiedCsr {
            subject: x509::parse_name(subject).unwrap(),
            spki_der: vec![],
            sans,
            rsa_key: false,
        }
    }

    fn dns(s: &str) -> GeneralName {
        GeneralName::DnsName(der::asn1::Ia5String::new(s).unwrap())
    }

    #[test]
    fn entity_matches_cn_or_san() {
        let c = csr(
            "CN=device-001,O=Example",
            vec![dns("Device-001.Example.com")],
        );
        assert!(csr_names_entity(&c, "device-001"));
        assert!(csr_names_entity(&c, "device-001.example.com"));
        assert!(!csr_names_entity(&c, "Example"));
        assert!(!csr_names_entity(&c, "device-00"));
        let ip = csr(
            "O=Example",
            vec![GeneralName::IpAddress(
                der::asn1::OctetString::new(vec![10, 0, 0, 1]).unwrap(),
            )],
        );
        assert!(csr_names_entity(&ip, "10.0.0.1"));
    }

    #[test]
    fn renewal_keeps_subject_and_san_set() {
        let current = x509::parse_name("CN=a,O=b").unwrap();
        let stored = vec!["DNS:x.example".to_string(), "DNS:y.example".to_string()];
        let same = csr("CN=a,O=b", vec![dns("y.example"), dns("x.example")]);
        assert!(keeps_identity(&same, &current, &stored));
        let fewer = csr("CN=a,O=b", vec![dns("x.example")]);
        assert!(!keeps_identity(&fewer, &current, &stored));
        let other = csr("CN=z,O=b", vec![dns("x.example"), dns("y.example")]);
        assert!(!keeps_identity(&other, &current, &stored));
    }

    #[test]
    fn client_certificate_signature() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::RsaPss2048,
        ] {
            let (ca, _) = SoftwareSigner::generate(alg).unwrap();
            let (other, _) = SoftwareSigner::generate(alg).unwrap();
            let (leaf, _) = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
            let spec = CertSpec {
                serial: vec![0x42, 1],
                issuer: x509::parse_name("CN=CA").unwrap(),
                subject: x509::parse_name("CN=device").unwrap(),
                spki_der: leaf.public_key_der().to_vec(),
                not_before: 1_700_000_000,
                not_after: 1_800_000_000,
                extensions: vec![],
            };
            let der = x509::sign_certificate(&spec, &ca).unwrap();
            let sig_alg = ca.signature_algorithm_der();
            let ok = verify_issued_by(&der, ca.public_key_der(), alg, sig_alg).unwrap();
            assert_eq!(ok.serial, vec![0x42, 1]);
            assert_eq!(common_names(&ok.subject), ["device"]);
            assert!(verify_issued_by(&der, other.public_key_der(), alg, sig_alg).is_err());
            let mut tampered = der.clone();
            let i = der.len() / 3;
            tampered[i] ^= 1;
            assert!(verify_issued_by(&tampered, ca.public_key_der(), alg, sig_alg).is_err());
        }
    }
}
