#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sigil_fuzzing::acme_jws(data));
