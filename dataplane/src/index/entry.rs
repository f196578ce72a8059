//! One response as stored in an index slot (sans-io). Slots start at 64-byte aligned
//! offsets; all integers are little-endian. Everything a probe compares (algorithm, issuer
//! slot, serial) sits in the slot's first cache line for serials of up to 48 octets, so a
//! probe that passes over another key's slot reads one line of it.
//!
//! | bytes | field |
//! |---|---|
//! | 0 | hash algorithm code of the CertID; 0 marks an empty slot |
//! | 1 | serial length `L` (≤ 20 octets, RFC 5280 §4.1.2.2; up to 255 accepted) |
//! | 2..4 | issuer slot (position in the index's issuer table) |
//! | 4..6 | certificate list id, or [`WHOLE`] when `body` is the complete response |
//! | 6 | flags: [`OUT_OF_LINE`] when `body` is in the overflow area, not in the slot |
//! | 7 | zero |
//! | 8..12 | `body` length |
//! | 12..16 | out-of-line `body`: its position in the overflow area, in 8-byte units |
//! | 16..16+L | serial (canonical INTEGER content octets) |
//! | `t`..`t`+8 | thisUpdate (Unix seconds), `t` = 16 + L rounded up to a multiple of 8 |
//! | `t`+8..`t`+16 | nextUpdate (Unix seconds) |
//! | `t`+16..`t`+32 | entity tag: the first 16 bytes of SHA-256 of the complete response |
//! | `t`+32.. | `body`, unless out of line |
//!
//! `body` is the signed part of the response (see `sigil_shared::ocsp::splice`) when the
//! certificate list id names a list, or the whole response.

/// Certificate list id meaning "the body is the complete response".
pub const WHOLE: u16 = u16::MAX;
/// Certificate list id meaning "no certificate list".
pub const NO_CERTS: u16 = u16::MAX - 1;
/// Flag: the body is stored in the overflow area.
pub const OUT_OF_LINE: u8 = 1;

/// Bytes before the serial.
const FIXED: usize = 16;

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

/// Offset of thisUpdate for a serial of `serial_len` octets.
const fn times_at(serial_len: usize) -> usize {
    (FIXED + serial_len).next_multiple_of(8)
}

/// Bytes an entry takes in its slot without its body (the minimum slot for it).
pub const fn head_len(serial_len: usize) -> usize {
    times_at(serial_len) + 32
}

/// Bytes an entry takes in its slot with its body inline, padded to a multiple of 8.
pub const fn inline_len(serial_len: usize, body_len: usize) -> usize {
    (head_len(serial_len) + body_len).next_multiple_of(8)
}

/// Appends `e` to `out`: the whole entry when `body_at` is `None`, otherwise only its head,
/// recording that the body is at position `body_at` (8-byte units) of the overflow area.
/// Padded to a multiple of 8. `e.alg` must not be 0.
pub fn encode(out: &mut Vec<u8>, e: &Entry<'_>, body_at: Option<u32>) {
    debug_assert!(e.alg != 0);
    debug_assert!(e.serial.len() <= u8::MAX as usize && e.body.len() <= u32::MAX as usize);
    let start = out.len();
    out.push(e.alg);
    out.push(e.serial.len() as u8);
    out.extend_from_slice(&e.issuer.to_le_bytes());
    out.extend_from_slice(&e.certs.to_le_bytes());
    out.push(if body_at.is_some() { OUT_OF_LINE } else { 0 });
    out.push(0);
    out.extend_from_slice(&(e.body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body_at.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(e.serial);
    out.resize(start + times_at(e.serial.len()), 0);
    out.extend_from_slice(&e.this_update.to_le_bytes());
    out.extend_from_slice(&e.next_update.to_le_bytes());
    out.extend_from_slice(&e.etag);
    if body_at.is_none() {
        out.extend_from_slice(e.body);
    }
    out.resize(start + (out.len() - start).next_multiple_of(8), 0);
}

/// Whether the slot at the start of `slot` holds the entry for `issuer` and `serial`:
/// `None` when the slot is empty (the end of a probe sequence) or cut short.
pub fn matches(slot: &[u8], issuer: u16, serial: &[u8]) -> Option<bool> {
    let h = slot.get(..FIXED)?;
    if h[0] == 0 {
        return None;
    }
    Some(
        h[1] as usize == serial.len()
            && u16::from_le_bytes([h[2], h[3]]) == issuer
            && slot.get(FIXED..FIXED + serial.len())? == serial,
    )
}

/// An entry decoded from its slot, borrowing nothing: its fields, and where its serial and
/// body lie in the file. A serving core carries it from the lookup to the response it writes
/// ([`entry`](Self::entry) gives the slices back without decoding again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// Byte offset of the entry's slot.
    pub offset: usize,
    /// Byte offset of the body: in the slot, or in the overflow area.
    body_at: usize,
    pub this_update: i64,
    pub next_update: i64,
    pub etag: [u8; 16],
    body_len: u32,
    pub issuer: u16,
    pub certs: u16,
    pub alg: u8,
    serial_len: u8,
}

impl Located {
    /// The entry in `file`, the file it was located in; `None` for another, shorter file.
    pub fn entry<'a>(&self, file: &'a [u8]) -> Option<Entry<'a>> {
        let serial_at = self.offset + FIXED;
        Some(Entry {
            alg: self.alg,
            issuer: self.issuer,
            certs: self.certs,
            this_update: self.this_update,
            next_update: self.next_update,
            etag: self.etag,
            serial: file.get(serial_at..serial_at + self.serial_len())?,
            body: file.get(self.body_at..self.body_at + self.body_len())?,
        })
    }

    pub fn serial_len(&self) -> usize {
        self.serial_len as usize
    }

    pub fn body_len(&self) -> usize {
        self.body_len as usize
    }
}

/// Decodes the head of the entry in the slot at `offset` of `file`, whose overflow area starts
/// at `overflow`; `None` if the slot is empty or anything does not fit in the file.
pub fn locate(file: &[u8], offset: usize, overflow: usize) -> Option<Located> {
    let slot = file.get(offset..)?;
    let h: &[u8; FIXED] = slot.get(..FIXED)?.try_into().ok()?;
    if h[0] == 0 {
        return None;
    }
    let serial_len = h[1];
    let body_len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    let t = times_at(serial_len as usize);
    // The serial lies before the times, so it fits if they do.
    let tail: &[u8; 32] = slot.get(t..t + 32)?.try_into().ok()?;
    let i64_at = |i: usize| i64::from_le_bytes(tail[i..i + 8].try_into().unwrap_or_default());
    let body_at = if h[6] & OUT_OF_LINE != 0 {
        let at = u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize;
        overflow.checked_add(at * 8)?
    } else {
        offset + t + 32
    };
    if body_at.checked_add(body_len as usize)? > file.len() {
        return None;
    }
    Some(Located {
        offset,
        body_at,
        this_update: i64_at(0),
        next_update: i64_at(8),
        etag: tail[16..32].try_into().unwrap_or_default(),
        body_len,
        issuer: u16::from_le_bytes([h[2], h[3]]),
        certs: u16::from_le_bytes([h[4], h[5]]),
        alg: h[0],
        serial_len,
    })
}

/// Decodes the entry in the slot at `offset` of `file`, whose overflow area starts at
/// `overflow`; `None` if the slot is empty or anything does not fit.
#[cfg(test)]
pub fn decode(file: &[u8], offset: usize, overflow: usize) -> Option<Entry<'_>> {
    locate(file, offset, overflow)?.entry(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encode_decode_round_trip(
            alg in 1u8.., issuer in any::<u16>(), certs in any::<u16>(),
            this_update in any::<i64>(), next_update in any::<i64>(), etag in any::<[u8; 16]>(),
            serial in proptest::collection::vec(any::<u8>(), 0..=255),
            body in proptest::collection::vec(any::<u8>(), 0..3000),
            lead in 0usize..4,
            out_of_line in any::<bool>(),
        ) {
            let e = Entry { alg, issuer, certs, this_update, next_update, etag, serial: &serial, body: &body };
            let mut file = vec![0u8; lead * 8];
            let body_at = out_of_line.then_some(lead as u32 + 1);
            encode(&mut file, &e, body_at);
            let end = file.len();
            prop_assert_eq!(end % 8, 0);
            let expected = if out_of_line {
                head_len(serial.len())
            } else {
                inline_len(serial.len(), body.len())
            };
            prop_assert_eq!(end - lead * 8, expected);
            // An overflow area right after the slot, the body at position lead + 1.
            let overflow = end;
            if out_of_line {
                file.resize(overflow + (lead + 1) * 8, 0xee);
                file.extend_from_slice(&body);
            }
            prop_assert_eq!(decode(&file, lead * 8, overflow), Some(e));
            prop_assert_eq!(matches(&file[lead * 8..], issuer, &serial), Some(true));
            prop_assert_eq!(matches(&file[lead * 8..], issuer ^ 1, &serial), Some(false));
            // A truncated entry is refused, never read past its end.
            let cut = if out_of_line { file.len() - 1 } else { lead * 8 + head_len(serial.len()) + body.len() - 1 };
            if out_of_line || !body.is_empty() {
                prop_assert_eq!(decode(&file[..cut], lead * 8, overflow), None);
            }
        }
    }

    #[test]
    fn an_empty_slot_is_no_entry() {
        let zeros = [0u8; 64];
        assert_eq!(decode(&zeros, 0, 0), None);
        assert_eq!(matches(&zeros, 0, &[]), None);
        assert_eq!(matches(&zeros[..8], 0, &[]), None);
    }

    #[test]
    fn the_compared_fields_fit_in_the_first_line() {
        const { assert!(FIXED + 48 <= 64) };
        assert_eq!(head_len(20), 72);
        assert_eq!(inline_len(20, 1), 80);
    }
}
