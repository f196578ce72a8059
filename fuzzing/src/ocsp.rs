//! OCSP: request DER (POST bodies), the GET path forms and certctl's by-serial path as the
//! data plane routes and decodes them, and the pre-signed responses the data plane reads and
//! splices.

use std::cell::RefCell;

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use sigil_dataplane::http::Method;
use sigil_dataplane::ocsp::{decode_get_path, select, select_by_serial, Found, OcspLookup};
use sigil_dataplane::routes::{route, Target};
use sigil_shared::ocsp::{
    decode_request, decode_request_first, encode_request_for_key, splice, HashAlg, IssuerHashes,
    ResponseStatus,
};

/// Any bytes as a DER OCSPRequest: both decoders agree, and every lookup key a request
/// yields encodes into a request that decodes to the same key.
pub fn ocsp_request(data: &[u8]) {
    let (full, first) = (decode_request(data), decode_request_first(data));
    assert_eq!(full.is_ok(), first.is_ok());
    let (Ok(req), Ok(first)) = (full, first) else {
        return;
    };
    assert_eq!(first.count, req.certs.len());
    assert_eq!(first.nonce, req.nonce);
    assert_eq!(first.cert.key(), req.certs[0].key());
    assert_eq!(first.cert.key_len(), first.cert.key().map(|k| k.0.len()));
    for c in &req.certs {
        let Some(k) = c.key() else { continue };
        let alg = k.alg().expect("key from a known algorithm");
        assert_eq!(k.issuer_prefix().len(), 1 + 2 * alg.digest_len());
        assert_eq!(k.serial(), c.serial);
        let der = encode_request_for_key(&k).expect("a decoded key encodes");
        let again = decode_request(&der).expect("an encoded request decodes");
        assert_eq!(again.certs.len(), 1);
        assert_eq!(again.certs[0].key().as_ref(), Some(&k));
    }
}

/// Remembers the keys looked up; finds nothing.
#[derive(Default)]
struct Recorder(RefCell<Vec<Vec<u8>>>);

impl OcspLookup for Recorder {
    fn lookup(&self, key: &[u8]) -> Option<Found> {
        self.0.borrow_mut().push(key.to_vec());
        None
    }
}

/// The issuer hashes certctl's by-serial path is answered for.
fn issuer_hashes() -> [IssuerHashes; 2] {
    [HashAlg::Sha1, HashAlg::Sha256].map(|alg| IssuerHashes {
        alg,
        name_hash: alg.digest(b"name"),
        key_hash: alg.digest(b"key"),
    })
}

/// Any text as a request path (query stripped, as the router does): the public listener's
/// path table, then the GET form's decoding (RFC 6960 A.1, with the mangled forms clients
/// send) or certctl's serial. What decodes re-decodes from its canonical encodings, and the
/// answer is the one the decoded request implies (nothing is stored: `unauthorized` when
/// exactly one CertID was asked about, after looking up exactly its key).
pub fn ocsp_get_path(data: &[u8]) {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let path = target.split('?').next().unwrap_or("");
    let routed = route(Method::Get, path);
    assert_eq!(route(Method::Head, path), routed);
    match routed {
        Target::OcspGet(encoded) => get_form(encoded),
        Target::OcspSerial { serial_hex, .. } => by_serial(serial_hex),
        _ => {}
    }
}

fn get_form(encoded: &str) {
    let Some(der) = decode_get_path(encoded) else {
        return;
    };
    assert!(!der.is_empty());
    let percent: String = STANDARD
        .encode(&der)
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    let mut forms = vec![URL_SAFE.encode(&der), URL_SAFE_NO_PAD.encode(&der), percent];
    // A leading '/' is a path separator (a DER request starts with 0x30, base64 'M').
    if der[0] < 0xfc {
        forms.push(STANDARD.encode(&der));
    }
    for form in forms {
        assert_eq!(decode_get_path(&form).as_ref(), Some(&der), "{form}");
    }
    let rec = Recorder::default();
    let status = select(&der, &rec, 0).status();
    let looked = rec.0.into_inner();
    match decode_request(&der) {
        Ok(req) if req.certs.len() == 1 => {
            let key = req.certs[0].key();
            assert_eq!(looked, key.into_iter().map(|k| k.0).collect::<Vec<_>>());
            assert_eq!(status, ResponseStatus::Unauthorized);
        }
        _ => {
            assert!(looked.is_empty());
            assert_eq!(status, ResponseStatus::MalformedRequest);
        }
    }
}

fn by_serial(serial_hex: &str) {
    let hashes = issuer_hashes();
    let rec = Recorder::default();
    let status = select_by_serial(&hashes, serial_hex, &rec, 0).status();
    let looked = rec.0.into_inner();
    if status == ResponseStatus::MalformedRequest {
        assert!(looked.is_empty());
        return;
    }
    assert_eq!(status, ResponseStatus::Unauthorized);
    // SHA-256 first, then SHA-1; the serial is the hex's canonical INTEGER content.
    assert_eq!(looked.len(), 2);
    let digits = hex::decode(serial_hex.trim_start_matches("0x")).expect("accepted hex");
    let serial = sigil_shared::der::canonical_uint(&digits).expect("accepted serial");
    assert!(serial.len() <= 20);
    assert_eq!(looked[0], hashes[1].key_for(serial).0);
    assert_eq!(looked[1], hashes[0].key_for(serial).0);
}

/// Any bytes as a stored response: reading its times and status never panics.
pub fn ocsp_response_times(data: &[u8]) {
    let _ = sigil_shared::ocsp::parse_response_times(data);
    let _ = sigil_shared::ocsp::status_response(data);
}

/// `splice::split` on any bytes never panics, and whatever it accepts reassembles into a
/// response of the predicted length; for DER input (what the control plane produces) that is
/// the input itself.
pub fn ocsp_splice(data: &[u8]) {
    if let Some(s) = splice::split(data) {
        let mut out = Vec::new();
        splice::assemble(&mut out, s.signed, s.certs);
        assert_eq!(
            out.len(),
            splice::assembled_len(s.signed.len(), s.certs.len())
        );
        if out.len() == data.len() {
            assert_eq!(out, data);
        }
        // Splitting the reassembled response gives the same parts.
        assert_eq!(splice::split(&out), Some(s));
    }
}
