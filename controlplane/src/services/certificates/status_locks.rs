//! The locks under which a certificate's status changes: a revocation or release from hold
//! reads, checks and commits one certificate's state under its stripe's lock, so that two
//! changes of one certificate never interleave, while changes of different certificates run
//! (and commit together, group commit) concurrently. The OCSP refresh job, which re-checks a
//! whole batch of certificates before committing re-signed responses, takes every stripe.
//! (One global lock serialised every revocation behind the previous one's fsync.)

use std::sync::{Mutex, MutexGuard};

/// Stripes: enough that concurrent revocations rarely share one.
const STRIPES: usize = 64;

#[derive(Debug)]
pub(super) struct StatusLocks {
    stripes: Vec<Mutex<()>>,
}

fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StatusLocks {
    pub(super) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn stripe(id: &str) -> usize {
        // FNV-1a over the id in lowercase (ids are hex serials, read case-insensitively: one
        // certificate, one stripe, however it was spelled).
        let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x100_0000_01b3)
        });
        (h % STRIPES as u64) as usize
    }

    /// The lock of certificate `id` (its normalised id, the lowercase hex serial).
    pub(super) fn one(&self, id: &str) -> MutexGuard<'_, ()> {
        lock(&self.stripes[Self::stripe(id)])
    }

    /// Every stripe, taken in order (so that two callers of `all`, or `all` and `one`, never
    /// deadlock).
    pub(super) fn all(&self) -> Vec<MutexGuard<'_, ()>> {
        self.stripes.iter().map(lock).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_id_one_stripe_and_all_excludes_one() {
        let l = Arc::new(StatusLocks::new());
        assert_eq!(StatusLocks::stripe("ab01"), StatusLocks::stripe("AB01"));
        let spread: std::collections::HashSet<usize> = (0..1000)
            .map(|i| StatusLocks::stripe(&format!("{i:040x}")))
            .collect();
        assert!(spread.len() > STRIPES / 2, "ids spread over the stripes");
        let all = l.all();
        let l2 = l.clone();
        let t = std::thread::spawn(move || {
            let _g = l2.one("ab01");
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "one() waits while all() is held");
        drop(all);
        t.join().unwrap();
        // Two different stripes do not wait for each other.
        let (a, b) = (0..)
            .map(|i| format!("{i:x}"))
            .try_fold(None::<String>, |first, id| match first {
                None => Ok(Some(id)),
                Some(f) if StatusLocks::stripe(&f) != StatusLocks::stripe(&id) => Err((f, id)),
                Some(f) => Ok(Some(f)),
            })
            .unwrap_err();
        let _ga = l.one(&a);
        let _gb = l.one(&b);
    }
}
