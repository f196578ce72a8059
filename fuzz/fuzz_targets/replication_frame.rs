//! Any byte string: frame decoding never panics and re-encoding a decoded frame decodes to
//! the same frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil_shared::replication::Frame;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, used))) = Frame::decode(data) {
        assert!(used <= data.len());
        let again = frame.encode().expect("decoded frame re-encodes");
        let (back, _) = Frame::decode(&again).unwrap().unwrap();
        assert_eq!(back, frame);
    }
});
