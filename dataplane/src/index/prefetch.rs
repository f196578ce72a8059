//! Software prefetch: start loading cache lines now, use them a little later.
//!
//! An index entry is a few hundred bytes that are almost never in the CPU caches. Once its
//! first line has been read (to match the key), the remaining lines are requested together,
//! so their loads overlap instead of each waiting for the one before.

/// Asks the CPU to load `count` cache lines of `bytes` starting at `offset` into all cache
/// levels. Out-of-range offsets are ignored. A hint: no effect on results, no fault.
pub fn lines(bytes: &[u8], offset: usize, count: usize) {
    for i in 0..count {
        if let Some(b) = offset.checked_add(i * 64).and_then(|o| bytes.get(o)) {
            line(b);
        }
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
        super::lines(&v, 0, 4);
        super::lines(&v, 199, 2);
        super::lines(&v, usize::MAX - 10, 3);
        super::lines(&[], 0, 1);
    }
}
