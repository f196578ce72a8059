//! Any byte string: decoding an OCSP request never panics, and every key it yields has the
//! issuer prefix length its algorithm implies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = sigil_shared::ocsp::decode_request(data) {
        for c in &req.certs {
            if let Some(k) = c.key() {
                let alg = k.alg().expect("key from a known algorithm");
                assert_eq!(k.issuer_prefix().len(), 1 + 2 * alg.digest_len());
            }
        }
    }
});
