//! The SSH wire encoding (RFC 4251 §5) as far as KRLs and key blobs need it: `byte`, `uint32`,
//! `uint64` (big-endian), `string` (uint32 length, then the bytes).

/// The input ended inside a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// A cursor over SSH-encoded bytes; every read checks bounds.
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

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        if self.buf.len() < n {
            return Err(Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, Truncated> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, Truncated> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn string(&mut self) -> Result<&'a [u8], Truncated> {
        let len = self.u32()? as usize;
        self.bytes(len)
    }
}

/// Appends SSH-encoded fields.
pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A `string`. Panics past 4 GiB, which nothing here comes near (callers bound their input).
pub fn put_string(out: &mut Vec<u8>, v: &[u8]) {
    put_u32(out, u32::try_from(v.len()).expect("SSH string over 4 GiB"));
    out.extend_from_slice(v);
}

/// The key type named at the start of a key blob (its first `string`), if it is UTF-8.
pub fn blob_type(blob: &[u8]) -> Option<&str> {
    std::str::from_utf8(Reader::new(blob).string().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let mut out = Vec::new();
        put_u8(&mut out, 7);
        put_u32(&mut out, 0xdead_beef);
        put_u64(&mut out, u64::MAX - 1);
        put_string(&mut out, b"ssh-ed25519");
        let mut r = Reader::new(&out);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u32(), Ok(0xdead_beef));
        assert_eq!(r.u64(), Ok(u64::MAX - 1));
        assert_eq!(r.string(), Ok(&b"ssh-ed25519"[..]));
        assert!(r.is_empty());
        assert_eq!(blob_type(&out[13..]), Some("ssh-ed25519"));
    }

    #[test]
    fn bounds_are_checked() {
        assert_eq!(Reader::new(&[0, 0, 0]).u32(), Err(Truncated));
        assert_eq!(Reader::new(&[0, 0, 0, 2, 1]).string(), Err(Truncated));
        assert_eq!(Reader::new(&[0xff; 4]).string(), Err(Truncated));
        assert_eq!(Reader::new(&[]).u8(), Err(Truncated));
    }
}
