//! Any text as an authorized_keys-style key line: parsing never panics, and an accepted key
//! is canonical — its `openssh` form parses to the same key, its fingerprint is the SHA-256 of
//! its blob, and its blob parses on its own.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil_ssh::key::{fingerprint_of_blob, sha256_of_fingerprint, ParsedKey};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(k) = ParsedKey::parse(line) {
        assert!(!k.openssh.contains(['\n', '\r', '\0']));
        assert_eq!(k.openssh.split(' ').count(), 2);
        let again = ParsedKey::parse(&k.openssh).unwrap();
        assert_eq!((&again.blob, &again.fingerprint), (&k.blob, &k.fingerprint));
        assert_eq!(fingerprint_of_blob(&k.blob), k.fingerprint);
        assert_eq!(sha256_of_fingerprint(&k.fingerprint), Some(k.sha256));
        assert_eq!(ParsedKey::from_blob(&k.blob).unwrap().openssh, k.openssh);
    }
});
