//! One response as stored in an index file (sans-io). Entries start at 8-byte aligned
//! offsets; all integers are little-endian.
//!
//! | bytes | field |
//! |---|---|
//! | 0 | hash algorithm code of the CertID |
//! | 1 | serial length (≤ 20 octets, RFC 5280 §4.1.2.2; up to 255 accepted) |
//! | 2..4 | issuer slot (position in the index's issuer table) |
//! | 4..6 | certificate list id, or [`WHOLE`] when `body` is the complete response |
//! | 6..8 | zero |
//! | 8..12 | `body` length |
//! | 12..16 | zero |
//! | 16..24 | thisUpdate (Unix seconds) |
//! | 24..32 | nextUpdate (Unix seconds) |
//! | 32..48 | entity tag: the first 16 bytes of SHA-256 of the complete response |
//! | 48.. | serial (canonical INTEGER content octets), then `body` |
//!
//! `body` is the signed part of the response (see `sigil_shared::ocsp::splice`) when the
//! certificate list id names a list, or the whole response.

/// Certificate list id meaning "the body is the complete response".
pub const WHOLE: u16 = u16::MAX;
/// Certificate list id meaning "no certificate list".
pub const NO_CERTS: u16 = u16::MAX - 1;

pub const HEADER: usize = 48;

/// A decoded entry, borrowing from the index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub alg: u8,
    pub issuer: u16,
    pub certs: u16,
    pub this_update: i64,
    pub next_update: i64,
    pub etag: [u8; 16],
    pub serial: &'a [u8],
    pub body: &'a [u8],
}

/// Appends `e` to `out` (whose length must be a multiple of 8), padded to a multiple of 8.
pub fn encode(out: &mut Vec<u8>, e: &Entry<'_>) {
    debug_assert_eq!(out.len() % 8, 0);
    debug_assert!(e.serial.len() <= u8::MAX as usize && e.body.len() <= u32::MAX as usize);
    out.push(e.alg);
    out.push(e.serial.len() as u8);
    out.extend_from_slice(&e.issuer.to_le_bytes());
    out.extend_from_slice(&e.certs.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(e.body.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&e.this_update.to_le_bytes());
    out.extend_from_slice(&e.next_update.to_le_bytes());
    out.extend_from_slice(&e.etag);
    out.extend_from_slice(e.serial);
    out.extend_from_slice(e.body);
    out.resize(out.len().next_multiple_of(8), 0);
}

/// Decodes the entry at the start of `buf`; `None` if it does not fit.
pub fn decode(buf: &[u8]) -> Option<Entry<'_>> {
    let h: &[u8; HEADER] = buf.get(..HEADER)?.try_into().ok()?;
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let i64_at = |i: usize| i64::from_le_bytes(h[i..i + 8].try_into().unwrap_or_default());
    let serial_len = h[1] as usize;
    let body_len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let rest = buf.get(HEADER..HEADER + serial_len + body_len)?;
    let (serial, body) = rest.split_at(serial_len);
    Some(Entry {
        alg: h[0],
        issuer: u16_at(2),
        certs: u16_at(4),
        this_update: i64_at(16),
        next_update: i64_at(24),
        etag: h[32..48].try_into().unwrap_or_default(),
        serial,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encode_decode_round_trip(
            alg in any::<u8>(), issuer in any::<u16>(), certs in any::<u16>(),
            this_update in any::<i64>(), next_update in any::<i64>(), etag in any::<[u8; 16]>(),
            serial in proptest::collection::vec(any::<u8>(), 0..=255),
            body in proptest::collection::vec(any::<u8>(), 0..3000),
            lead in 0usize..4,
        ) {
            let e = Entry { alg, issuer, certs, this_update, next_update, etag, serial: &serial, body: &body };
            let mut out = vec![0u8; lead * 8];
            encode(&mut out, &e);
            prop_assert_eq!(out.len() % 8, 0);
            prop_assert_eq!(out.len() - lead * 8, (HEADER + serial.len() + body.len()).next_multiple_of(8));
            prop_assert_eq!(decode(&out[lead * 8..]), Some(e));
            // A truncated entry is refused, never read past its end.
            let cut = lead * 8 + HEADER + serial.len() + body.len() - 1;
            prop_assert_eq!(decode(&out[lead * 8..cut]), None);
        }
    }
}
