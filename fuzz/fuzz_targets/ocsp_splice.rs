//! `splice::split` on arbitrary bytes never panics, and whatever it accepts reassembles into a
//! response of the predicted length; for DER input (what the control plane produces) that is
//! the input itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_shared::ocsp::splice;

fuzz_target!(|data: &[u8]| {
    if let Some(s) = splice::split(data) {
        let mut out = Vec::new();
        splice::assemble(&mut out, s.signed, s.certs);
        assert_eq!(out.len(), splice::assembled_len(s.signed.len(), s.certs.len()));
        if out.len() == data.len() {
            assert_eq!(out, data);
        }
        // Splitting the reassembled response gives the same parts.
        assert_eq!(splice::split(&out), Some(s));
    }
});
