//! Any byte string as a KES policy write: parsing never panics, and a parsed policy's
//! patterns all start with '/' and have at most a trailing '*'.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil_kes::policy::Policy;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Policy::from_json(data) {
        for pattern in p.allow.iter().chain(&p.deny) {
            assert!(pattern.starts_with('/'));
            assert!(pattern.find('*').is_none_or(|i| i == pattern.len() - 1));
        }
        let _ = p.allows("/v1/key/decrypt/k");
    }
});
