//! Round trips between the requester and RA sides, and bad input (never a panic).

use crate::attrs::{FailInfo, MessageType, PkiStatus};
use crate::envelope::ContentCipher;
use crate::reply::{cert_rep, Ra, Reply};
use crate::request::{Outcome, Requester};
use crate::{certs, csr, PkiMessage, ScepError};

const RA_KEY: &[u8] = include_bytes!("../testdata/ra.key.der");
const RA_CERT: &[u8] = include_bytes!("../testdata/ra.crt.der");
const CLIENT_KEY: &[u8] = include_bytes!("../testdata/client.key.der");
const CLIENT_CERT: &[u8] = include_bytes!("../testdata/client.crt.der");
const CSR: &[u8] = include_bytes!("../testdata/client.csr.der");

fn parties() -> (Ra, Requester) {
    (
        Ra::new(RA_KEY, RA_CERT).unwrap(),
        Requester::new(CLIENT_KEY, CLIENT_CERT).unwrap(),
    )
}

#[test]
fn pkcsreq_round_trip_with_every_cipher() {
    let (ra, client) = parties();
    for cipher in [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
        ContentCipher::DesCbc,
        ContentCipher::DesEde3Cbc,
    ] {
        let (der, nonce) = client
            .request(MessageType::PkcsReq, "tx-1", CSR, &ra.cert, cipher)
            .unwrap();
        let msg = PkiMessage::parse(&der).unwrap();
        msg.verify().unwrap();
        assert_eq!(msg.message_type, MessageType::PkcsReq);
        assert_eq!(msg.transaction_id, "tx-1");
        assert_eq!(msg.sender_nonce, nonce);
        assert_eq!(msg.signer_der, CLIENT_CERT);
        let opened = ra.open(&msg).unwrap();
        assert_eq!(opened.plain, CSR);
        assert_eq!(opened.cipher, cipher);
        assert_eq!(
            csr::challenge_password(&opened.plain).unwrap().as_deref(),
            Some("s3cret-otp")
        );

        // The answer: the "issued" certificate (any DER certificate will do here).
        let rep = cert_rep(
            &ra,
            &msg,
            Reply::Success {
                cert_der: RA_CERT,
                cipher,
            },
        )
        .unwrap();
        let (parsed, outcome) = client.read_reply(&rep, &nonce).unwrap();
        assert_eq!(parsed.signer_der, RA_CERT);
        assert_eq!(parsed.transaction_id, "tx-1");
        assert_eq!(parsed.pki_status, Some(PkiStatus::Success));
        assert_eq!(outcome, Outcome::Issued(vec![RA_CERT.to_vec()]));
    }
}

#[test]
fn failure_and_pending_replies() {
    let (ra, client) = parties();
    let (der, nonce) = client
        .request(
            MessageType::PkcsReq,
            "tx-2",
            CSR,
            &ra.cert,
            ContentCipher::Aes256Cbc,
        )
        .unwrap();
    let msg = PkiMessage::parse(&der).unwrap();
    for info in [
        FailInfo::BadAlg,
        FailInfo::BadMessageCheck,
        FailInfo::BadRequest,
        FailInfo::BadTime,
        FailInfo::BadCertId,
    ] {
        let rep = cert_rep(&ra, &msg, Reply::Failure(info)).unwrap();
        let (_, outcome) = client.read_reply(&rep, &nonce).unwrap();
        assert_eq!(outcome, Outcome::Failed(info));
    }
    let rep = cert_rep(&ra, &msg, Reply::Pending).unwrap();
    assert_eq!(client.read_reply(&rep, &nonce).unwrap().1, Outcome::Pending);
    // A reply to another request's nonce is refused.
    assert!(client.read_reply(&rep, &[0u8; 16]).is_err());
}

#[test]
fn tampered_messages_fail_the_check() {
    let (ra, client) = parties();
    let (der, _) = client
        .request(
            MessageType::PkcsReq,
            "tx-3",
            CSR,
            &ra.cert,
            ContentCipher::Aes128Cbc,
        )
        .unwrap();
    // Flip every byte in turn: parse may fail (malformed) or succeed, but a parsed message
    // never verifies and opens to the original CSR unless the flip missed everything
    // signed; nothing panics.
    for i in 0..der.len() {
        let mut bad = der.clone();
        bad[i] ^= 0x01;
        if let Ok(msg) = PkiMessage::parse(&bad) {
            if msg.verify().is_ok() {
                // Only unsigned parts (the signer's certificate outside its key, the
                // algorithm parameters) may change without breaking the signature.
                continue;
            }
            let _ = ra.open(&msg);
        }
    }
    // A wrong signature is a message check failure.
    let mut msg = PkiMessage::parse(&der).unwrap();
    msg.content.as_mut().unwrap()[10] ^= 0xff;
    assert!(matches!(msg.verify(), Err(ScepError::BadMessageCheck(_))));
}

#[test]
fn envelope_for_someone_else_is_refused() {
    let (ra, client) = parties();
    // Encrypted to the client's own certificate instead of the RA's.
    let (der, _) = client
        .request(
            MessageType::PkcsReq,
            "tx-4",
            CSR,
            &client.cert,
            ContentCipher::Aes128Cbc,
        )
        .unwrap();
    let msg = PkiMessage::parse(&der).unwrap();
    msg.verify().unwrap();
    assert!(matches!(ra.open(&msg), Err(ScepError::BadMessageCheck(_))));
}

#[test]
fn garbage_is_malformed() {
    for input in [
        &b""[..],
        b"\x30\x00",
        b"\x30\x80\x00\x00",
        b"not der at all",
        RA_CERT,
    ] {
        assert!(matches!(
            PkiMessage::parse(input),
            Err(ScepError::Malformed(_))
        ));
    }
}

#[test]
fn certs_only_round_trip() {
    let der = certs::certs_only(&[RA_CERT, CLIENT_CERT, RA_CERT]).unwrap();
    let mut got = certs::read_certs_only(&der).unwrap();
    got.sort();
    let mut want = vec![RA_CERT.to_vec(), CLIENT_CERT.to_vec()];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn ra_key_must_match_its_certificate() {
    assert!(Ra::new(RA_KEY, CLIENT_CERT).is_err());
    Ra::new(RA_KEY, RA_CERT).unwrap();
    assert!(crate::reply::cert_matches_key(RA_KEY, RA_CERT));
}

#[test]
fn generated_keys_work_as_ra_keys() {
    let (pkcs8, spki) = crate::reply::generate_rsa(2048).unwrap();
    assert!(!pkcs8.is_empty() && !spki.is_empty());
    assert!(crate::reply::generate_rsa(1024).is_err());
}

#[test]
fn constructed_encrypted_content_is_read() {
    // Go's pkcs7 sends `[0]` constructed around one OCTET STRING; rewrite ours that way.
    let (ra, client) = parties();
    let (der, _) = client
        .request(
            MessageType::PkcsReq,
            "tx-5",
            CSR,
            &ra.cert,
            ContentCipher::Aes128Cbc,
        )
        .unwrap();
    let msg = PkiMessage::parse(&der).unwrap();
    let env = msg.content.clone().unwrap();
    let rebuilt = rebuild_constructed(&env);
    let mut m2 = msg.clone();
    m2.content = Some(rebuilt);
    assert_eq!(ra.open(&m2).unwrap().plain, CSR);
}

/// `ContentInfo(EnvelopedData)` with its encryptedContent re-encoded in constructed form.
fn rebuild_constructed(env: &[u8]) -> Vec<u8> {
    use der::{Decode, Encode};
    let ci = cms::content_info::ContentInfo::from_der(env).unwrap();
    let mut ed: cms::enveloped_data::EnvelopedData = ci.content.decode_as().unwrap();
    let ct = ed.encrypted_content.encrypted_content.take().unwrap();
    let ed_der = ed.to_der().unwrap();
    // Append `[0] constructed { OCTET STRING ct }` to the EncryptedContentInfo, by hand.
    let inner = der::asn1::OctetString::new(ct.as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let mut a0 = vec![0xa0];
    push_len(&mut a0, inner.len());
    a0.extend(inner);
    // Fields of EnvelopedData: version, recipientInfos, encryptedContentInfo.
    let any: Vec<der::Any> = decode_seq(&ed_der);
    let mut eci: Vec<u8> = any[2].value().to_vec();
    eci.extend(a0);
    let mut eci_tlv = vec![0x30];
    push_len(&mut eci_tlv, eci.len());
    eci_tlv.extend(eci);
    let mut body = any[0].to_der().unwrap();
    body.extend(any[1].to_der().unwrap());
    body.extend(eci_tlv);
    let mut ed_tlv = vec![0x30];
    push_len(&mut ed_tlv, body.len());
    ed_tlv.extend(body);
    let mut explicit = vec![0xa0];
    push_len(&mut explicit, ed_tlv.len());
    explicit.extend(ed_tlv);
    let mut ci_body = crate::oids::ENVELOPED_DATA.to_der().unwrap();
    ci_body.extend(explicit);
    let mut out = vec![0x30];
    push_len(&mut out, ci_body.len());
    out.extend(ci_body);
    out
}

fn decode_seq(der_bytes: &[u8]) -> Vec<der::Any> {
    use der::{Decode, Reader};
    let outer = der::Any::from_der(der_bytes).unwrap();
    let mut r = der::SliceReader::new(outer.value()).unwrap();
    let mut v = Vec::new();
    while !r.is_finished() {
        v.push(der::Any::decode(&mut r).unwrap());
    }
    v
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
}
