//! Any bytes as an OpenSSH KRL: decoding never panics, and whatever decodes encodes again and
//! decodes to the same KRL (and that encoding is stable).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil_ssh::krl::Krl;

fuzz_target!(|data: &[u8]| {
    if let Ok(krl) = Krl::decode(data) {
        let bytes = krl.encode().expect("a decoded KRL encodes");
        let again = Krl::decode(&bytes).expect("an encoded KRL decodes");
        assert_eq!(again, krl);
        assert_eq!(again.encode().unwrap(), bytes);
        let _ = krl.revokes_cert(&[], 1, "");
    }
});
