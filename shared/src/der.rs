//! Minimal DER (ITU-T X.690 §10) reader and writer.
//!
//! Written by hand rather than using the `der` crate because the data plane decodes an OCSP
//! request per HTTP request and the control plane encodes two responses per certificate per
//! refresh: both want zero-copy parsing and a single allocation per encoding.

use thiserror::Error;

/// Errors from the minimal DER reader.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum DerError {
    #[error("truncated DER element")]
    Truncated,
    #[error("unsupported DER length encoding")]
    BadLength,
    #[error("unexpected DER tag {found:#04x}, expected {expected:#04x}")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("trailing bytes after DER element")]
    TrailingData,
    #[error("invalid INTEGER encoding")]
    BadInteger,
}

pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_BIT_STRING: u8 = 0x03;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_NULL: u8 = 0x05;
pub const TAG_OID: u8 = 0x06;
pub const TAG_ENUMERATED: u8 = 0x0a;
pub const TAG_GENERALIZED_TIME: u8 = 0x18;
pub const TAG_SEQUENCE: u8 = 0x30;

/// Context-specific constructed tag `[n]`.
pub const fn ctx_cons(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific primitive tag `[n]`.
pub const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

/// One decoded TLV: its tag, its value bytes and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// A cursor over a sequence of DER elements. Only single-byte tags and definite lengths of up
/// to four octets are accepted, which covers every structure Sigil parses.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads the next element, whatever its tag.
    pub fn read_any(&mut self) -> Result<Tlv<'a>, DerError> {
        let buf = self.buf;
        let (&tag, rest) = buf.split_first().ok_or(DerError::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::BadLength); // multi-byte tags are never used here
        }
        let (&first, rest) = rest.split_first().ok_or(DerError::Truncated)?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err(if n == 0 || n > 4 {
                    DerError::BadLength
                } else {
                    DerError::Truncated
                });
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            if len < 0x80 || rest[0] == 0 {
                return Err(DerError::BadLength); // not minimal: not DER
            }
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err(DerError::Truncated);
        }
        let header = buf.len() - rest.len();
        let tlv = Tlv {
            tag,
            value: &rest[..len],
            raw: &buf[..header + len],
        };
        self.buf = &rest[len..];
        Ok(tlv)
    }

    /// Reads the next element and checks its tag.
    pub fn read(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.read_any()?;
        if tlv.tag != tag {
            return Err(DerError::UnexpectedTag {
                expected: tag,
                found: tlv.tag,
            });
        }
        Ok(tlv)
    }

    /// Reads the next element if it carries `tag`.
    pub fn read_optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.read(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DerError::TrailingData)
        }
    }
}

/// Parses exactly one element spanning all of `buf`.
pub fn read_single(buf: &[u8], tag: u8) -> Result<Tlv<'_>, DerError> {
    let mut r = Reader::new(buf);
    let tlv = r.read(tag)?;
    r.finish()?;
    Ok(tlv)
}

/// Canonical content octets of a non-negative INTEGER: redundant leading zero octets removed
/// (a client may send a non-minimal serial; the lookup key must not depend on that).
pub fn canonical_uint(content: &[u8]) -> Result<&[u8], DerError> {
    if content.is_empty() {
        return Err(DerError::BadInteger);
    }
    let mut c = content;
    while c.len() > 1 && c[0] == 0 && c[1] & 0x80 == 0 {
        c = &c[1..];
    }
    Ok(c)
}

/// Appends a DER length.
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Size of a TLV whose value is `len` bytes long.
pub fn tlv_len(len: usize) -> usize {
    1 + len
        + match len {
            0..=0x7f => 1,
            0x80..=0xff => 2,
            0x100..=0xffff => 3,
            0x1_0000..=0xff_ffff => 4,
            _ => 5,
        }
}

/// Appends a TLV.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    push_len(out, value.len());
    out.extend_from_slice(value);
}

/// Appends a tag and the header for a value of `len` bytes (the caller appends the value).
pub fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    push_len(out, len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_non_minimal_and_truncated() {
        assert_eq!(
            Reader::new(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0])
                .read_any()
                .unwrap_err(),
            DerError::BadLength
        );
        assert_eq!(
            Reader::new(&[0x30, 0x05, 0]).read_any().unwrap_err(),
            DerError::Truncated
        );
        assert_eq!(
            Reader::new(&[0x30, 0x80]).read_any().unwrap_err(),
            DerError::BadLength
        );
        assert_eq!(
            Reader::new(&[]).read_any().unwrap_err(),
            DerError::Truncated
        );
        assert_eq!(
            read_single(&[0x05, 0x00, 0x00], TAG_NULL).unwrap_err(),
            DerError::TrailingData
        );
    }

    #[test]
    fn canonical_uint_strips_redundant_zeros() {
        assert_eq!(canonical_uint(&[0, 0, 0x7f]).unwrap(), &[0x7f]);
        assert_eq!(canonical_uint(&[0, 0x80]).unwrap(), &[0, 0x80]);
        assert_eq!(canonical_uint(&[0]).unwrap(), &[0]);
        assert!(canonical_uint(&[]).is_err());
    }

    proptest! {
        #[test]
        fn tlv_round_trip(tag in prop::sample::select(vec![0x02u8, 0x04, 0x30, 0xa0, 0x80]),
                          value in prop::collection::vec(any::<u8>(), 0..70_000)) {
            let mut out = Vec::new();
            push_tlv(&mut out, tag, &value);
            prop_assert_eq!(out.len(), tlv_len(value.len()));
            let tlv = read_single(&out, tag).unwrap();
            prop_assert_eq!(tlv.value, &value[..]);
            prop_assert_eq!(tlv.raw, &out[..]);
        }
    }
}
