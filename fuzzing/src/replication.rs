//! The replication stream as a data plane reads it: length-prefixed postcard frames, one
//! after another, and the log records they carry.

use sigil_shared::replication::{Frame, Record};

/// Any bytes as the stream: frames are decoded from the front until one is incomplete or
/// undecodable (where the data plane's session ends); each re-encodes to a frame that decodes
/// to the same value and is no longer than what it was read from. The same bytes as a stored
/// log record round-trip too.
pub fn replication_frame(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((frame, used))) = Frame::decode(rest) {
        assert!((4..=rest.len()).contains(&used));
        let again = frame.encode().expect("decoded frame re-encodes");
        assert!(again.len() <= used);
        let (back, back_used) = Frame::decode(&again).unwrap().unwrap();
        assert_eq!(back, frame);
        assert_eq!(back_used, again.len());
        rest = &rest[used..];
    }
    if let Ok(record) = Record::from_bytes(data) {
        let bytes = record.to_bytes().expect("decoded record re-encodes");
        assert_eq!(Record::from_bytes(&bytes).unwrap(), record);
    }
}
