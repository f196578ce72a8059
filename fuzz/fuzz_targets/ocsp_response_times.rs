//! Any byte string: reading times and status from a response never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sigil_shared::ocsp::parse_response_times(data);
    let _ = sigil_shared::ocsp::status_response(data);
});
