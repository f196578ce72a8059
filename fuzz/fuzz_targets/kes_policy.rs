#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sigil_fuzzing::kes_policy(data));
