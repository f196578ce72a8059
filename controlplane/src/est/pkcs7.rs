//! DER structures EST answers with, encoded by hand (sans-io): the certs-only CMS message
//! (RFC 7030 §4.1.3, RFC 5652 §5) and CSR attributes (RFC 7030 §4.5.2).

use sigil_shared::der::{ctx_cons, push_tlv, TAG_INTEGER, TAG_OID, TAG_SEQUENCE};

/// `SET` / `SET OF` tag.
const TAG_SET: u8 = 0x31;
/// id-signedData 1.2.840.113549.1.7.2 (RFC 5652 §5.1), content octets.
const ID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// id-data 1.2.840.113549.1.7.1 (RFC 5652 §4), content octets.
const ID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];

/// A degenerate ("certs-only") `SignedData` in a `ContentInfo` (RFC 5652 §5.1; RFC 7030
/// §4.1.3 and §4.2.3 carry certificates this way; `openssl pkcs7 -print_certs` reads it):
///
/// ```text
/// ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
/// SignedData ::= SEQUENCE {
///   version CMSVersion (1), digestAlgorithms SET OF {} (empty),
///   encapContentInfo SEQUENCE { eContentType id-data } (no eContent),
///   certificates [0] IMPLICIT SET OF Certificate, signerInfos SET OF {} (empty) }
/// ```
///
/// `certs` are DER certificates. DER orders a SET OF by the elements' encodings (X.690
/// §11.6), so the certificates appear sorted, not in the given order; RFC 5652 gives the set
/// no order anyway.
pub fn certs_only(certs: &[&[u8]]) -> Vec<u8> {
    let mut sorted: Vec<&[u8]> = certs.to_vec();
    // Distinct complete DER encodings are never prefixes of each other, so plain
    // lexicographic order is X.690's zero-padded comparison.
    sorted.sort_unstable();
    sorted.dedup();
    let cert_set: Vec<u8> = sorted.concat();

    let mut signed = Vec::with_capacity(cert_set.len() + 32);
    push_tlv(&mut signed, TAG_INTEGER, &[1]);
    push_tlv(&mut signed, TAG_SET, &[]);
    let mut encap = Vec::new();
    push_tlv(&mut encap, TAG_OID, ID_DATA);
    push_tlv(&mut signed, TAG_SEQUENCE, &encap);
    push_tlv(&mut signed, ctx_cons(0), &cert_set);
    push_tlv(&mut signed, TAG_SET, &[]);

    let mut signed_seq = Vec::with_capacity(signed.len() + 8);
    push_tlv(&mut signed_seq, TAG_SEQUENCE, &signed);
    let mut info = Vec::with_capacity(signed_seq.len() + 24);
    push_tlv(&mut info, TAG_OID, ID_SIGNED_DATA);
    push_tlv(&mut info, ctx_cons(0), &signed_seq);
    let mut out = Vec::with_capacity(info.len() + 8);
    push_tlv(&mut out, TAG_SEQUENCE, &info);
    out
}

/// `CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID` (RFC 7030 §4.5.2) holding only the
/// `oid` alternative: each entry asks the client to include that attribute or extension.
/// `oids` are the content octets of each OBJECT IDENTIFIER.
pub fn csr_attrs(oids: &[&[u8]]) -> Vec<u8> {
    let mut content = Vec::new();
    for oid in oids {
        push_tlv(&mut content, TAG_OID, oid);
    }
    let mut out = Vec::with_capacity(content.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &content);
    out
}

/// Certificates of a certs-only message made by [`certs_only`] (or any DER SignedData with a
/// `certificates` field), in their encoded order; `None` if it is not one.
pub fn certs_of(der: &[u8]) -> Option<Vec<Vec<u8>>> {
    use sigil_shared::der::{read_single, Reader};
    let info = read_single(der, TAG_SEQUENCE).ok()?;
    let mut r = Reader::new(info.value);
    if r.read(TAG_OID).ok()?.value != ID_SIGNED_DATA {
        return None;
    }
    let explicit = r.read(ctx_cons(0)).ok()?;
    r.finish().ok()?;
    let signed = read_single(explicit.value, TAG_SEQUENCE).ok()?;
    let mut s = Reader::new(signed.value);
    s.read(TAG_INTEGER).ok()?;
    s.read(TAG_SET).ok()?;
    s.read(TAG_SEQUENCE).ok()?;
    let set = s.read_optional(ctx_cons(0)).ok()??;
    let mut certs = Reader::new(set.value);
    let mut out = Vec::new();
    while !certs.is_empty() {
        out.push(certs.read(TAG_SEQUENCE).ok()?.raw.to_vec());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fake_cert(body: &[u8]) -> Vec<u8> {
        let mut c = Vec::new();
        push_tlv(&mut c, TAG_SEQUENCE, body);
        c
    }

    #[test]
    fn empty_certs_only_is_openssls_plus_an_empty_certificates_field() {
        // `openssl crl2pkcs7 -nocrl -outform DER` (OpenSSL 3.0), which omits the empty
        // certificates field that Sigil writes as `a0 00`.
        let openssl: &[u8] = &[
            0x30, 0x23, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0,
            0x16, 0x30, 0x14, 0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86,
            0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0x31, 0x00,
        ];
        let mut expected = openssl.to_vec();
        expected[1] += 2;
        expected[14] += 2;
        expected[16] += 2;
        expected.splice(35..35, [0xa0, 0x00]);
        assert_eq!(certs_only(&[]), expected);
        assert_eq!(certs_of(&expected), Some(vec![]));
    }

    #[test]
    fn set_of_is_sorted_and_deduplicated() {
        let a = fake_cert(&[2, 1, 9]);
        let b = fake_cert(&[2, 1, 1]);
        let der = certs_only(&[&a, &b, &a]);
        assert_eq!(certs_of(&der), Some(vec![b, a]));
    }

    #[test]
    fn csr_attrs_sequence_of_oids() {
        let san = [0x55, 0x1d, 0x11]; // 2.5.29.17
        assert_eq!(
            csr_attrs(&[&san]),
            vec![0x30, 0x05, 0x06, 0x03, 0x55, 0x1d, 0x11]
        );
        assert_eq!(csr_attrs(&[]), vec![0x30, 0x00]);
    }

    proptest! {
        #[test]
        fn certs_round_trip(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..5)) {
            let certs: Vec<Vec<u8>> = bodies.iter().map(|b| fake_cert(b)).collect();
            let refs: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
            let mut expected = certs.clone();
            expected.sort();
            expected.dedup();
            prop_assert_eq!(certs_of(&certs_only(&refs)), Some(expected));
        }
    }
}
