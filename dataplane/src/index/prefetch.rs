//! Software prefetch: start loading cache lines now, use them a little later.
//!
//! An index entry is a few hundred bytes that are almost never in the CPU caches. Once its
//! slot's address is known (from the key's hash), all its lines are requested together, so
//! their loads overlap instead of each waiting for the one before.

/// Asks for the cache lines of `len` bytes of `bytes` from `offset` (as far as they exist).
pub fn range(bytes: &[u8], offset: usize, len: usize) {
    let end = offset.saturating_add(len).min(bytes.len());
    if let Some(b) = bytes.get(offset..end) {
        slice(b);
    }
}

/// Asks for every cache line that `bytes` touches.
pub fn slice(bytes: &[u8]) {
    for b in bytes.iter().step_by(64) {
        line(b);
    }
    if let Some(last) = bytes.last() {
        line(last);
    }
}

#[cfg(target_arch = "x86_64")]
fn line(b: &u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch does not access memory architecturally (it cannot fault), and the
    // pointer comes from a live reference anyway.
    #[allow(unsafe_code)]
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(b).cast::<i8>());
    }
}

/// Elsewhere a no-op: the lookup is the same, only without the overlap.
#[cfg(not(target_arch = "x86_64"))]
fn line(_b: &u8) {}

#[cfg(test)]
mod tests {
    #[test]
    fn any_offset_is_harmless() {
        let v = vec![1u8; 200];
        super::slice(&v[3..190]);
        super::slice(&[]);
        super::range(&v, 150, 100);
        super::range(&v, 250, 10);
        super::range(&v, usize::MAX, 10);
    }
}
