//! kipuka's `certificate_chain` entries from DER certificates (sans-io): subject, issuer,
//! serial as `0A:1B:…`, validity and a key description such as `ECDSA P-384` or `RSA 4096`.

use const_oid::ObjectIdentifier;
use der::asn1::UintRef;
use der::Decode;
use serde::Serialize;
use sigil_shared::time::rfc3339;
use spki::SubjectPublicKeyInfoOwned;

use crate::x509::{decode_cert, unix_of};

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// RSAPublicKey (RFC 8017 §A.1.1).
#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    _public_exponent: UintRef<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainEntry {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub key_algorithm: String,
}

/// `0A:1B:2C` form of a serial's value (leading zero octets dropped, at least one kept).
pub fn serial_hex(bytes: &[u8]) -> String {
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    super::super::admin::colon_hex(&bytes[first..])
}

/// `ECDSA P-256`, `RSA 4096`, `RSA-PSS 2048`, `Ed25519`; the OID for anything else.
pub fn describe_key(spki: &SubjectPublicKeyInfoOwned) -> String {
    let oid = spki.algorithm.oid;
    let rsa_bits = || {
        RsaPublicKey::from_der(spki.subject_public_key.raw_bytes())
            .ok()
            .map(|k| {
                let m = k.modulus.as_bytes();
                m.first()
                    .map_or(0, |b| (m.len() - 1) * 8 + (8 - b.leading_zeros() as usize))
            })
    };
    match oid {
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            match curve {
                Some(P256) => "ECDSA P-256".into(),
                Some(P384) => "ECDSA P-384".into(),
                Some(P521) => "ECDSA P-521".into(),
                Some(other) => format!("ECDSA {other}"),
                None => "ECDSA".into(),
            }
        }
        RSA => rsa_bits().map_or_else(|| "RSA".into(), |b| format!("RSA {b}")),
        RSA_PSS => rsa_bits().map_or_else(|| "RSA-PSS".into(), |b| format!("RSA-PSS {b}")),
        ED25519 => "Ed25519".into(),
        ED448 => "Ed448".into(),
        other => other.to_string(),
    }
}

/// The entry of one DER certificate.
pub fn entry(cert_der: &[u8]) -> Result<ChainEntry, der::Error> {
    let c = decode_cert(cert_der)?;
    let t = &c.tbs_certificate;
    Ok(ChainEntry {
        subject: t.subject.to_string(),
        issuer: t.issuer.to_string(),
        serial: serial_hex(t.serial_number.as_bytes()),
        not_before: rfc3339(unix_of(&t.validity.not_before)),
        not_after: rfc3339(unix_of(&t.validity.not_after)),
        key_algorithm: describe_key(&t.subject_public_key_info),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{create_ca, NewCa};
    use crate::crypto::KeyAlgorithm;

    #[test]
    fn serials_drop_leading_zero_octets() {
        assert_eq!(serial_hex(&[0x00, 0x8a, 0x01]), "8A:01");
        assert_eq!(serial_hex(&[0x01]), "01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x0a, 0x1b, 0x2c]), "0A:1B:2C");
    }

    #[test]
    fn entries_describe_subject_validity_and_key() {
        for (alg, expected) in [
            (KeyAlgorithm::EcdsaP256, "ECDSA P-256"),
            (KeyAlgorithm::EcdsaP384, "ECDSA P-384"),
            (KeyAlgorithm::Ed25519, "Ed25519"),
            (KeyAlgorithm::Rsa2048, "RSA 2048"),
        ] {
            let new = NewCa {
                id: "t".into(),
                name: "t".into(),
                subject: crate::x509::parse_name("CN=Test Root,O=Sigil").unwrap(),
                key_algorithm: alg,
                not_before: 1_700_000_000,
                not_after: 1_800_000_000,
            };
            let ca = create_ca(&new, None, 1_700_000_000).unwrap();
            let e = entry(&ca.record.cert_der).unwrap();
            assert_eq!(e.key_algorithm, expected);
            assert_eq!(e.subject, e.issuer);
            assert_eq!(e.subject, ca.record.subject);
            assert_eq!(e.not_before, "2023-11-14T22:13:20Z");
            assert_eq!(e.not_after, rfc3339(1_800_000_000));
            assert!(e.serial.len() >= 2 && e.serial.split(':').all(|p| p.len() == 2));
        }
    }
}
