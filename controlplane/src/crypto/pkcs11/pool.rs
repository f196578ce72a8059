//! A counting semaphore bounding concurrent operations per token (capacity = session pool
//! size), with the counters the health report needs.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    capacity: usize,
    in_use: usize,
    waiting: usize,
    exhausted_total: u64,
}

#[derive(Debug)]
pub struct Semaphore {
    state: Mutex<State>,
    freed: Condvar,
}

/// Returned to the semaphore on drop.
#[derive(Debug)]
pub struct Permit<'a> {
    sem: &'a Semaphore,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut st = self.sem.state.lock().unwrap_or_else(|e| e.into_inner());
        st.in_use -= 1;
        drop(st);
        self.sem.freed.notify_one();
    }
}

/// (capacity, in use, waiting, times a caller had to wait).
pub type Counters = (usize, usize, usize, u64);

impl Semaphore {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                capacity: capacity.max(1),
                ..State::default()
            }),
            freed: Condvar::new(),
        }
    }

    pub fn set_capacity(&self, capacity: usize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.capacity = capacity.max(1);
        drop(st);
        self.freed.notify_all();
    }

    /// A permit, waiting up to `timeout`; `Err(waited)` when none became free.
    pub fn acquire(&self, timeout: Duration) -> Result<Permit<'_>, Duration> {
        let start = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.in_use >= st.capacity {
            st.exhausted_total += 1;
            st.waiting += 1;
            while st.in_use >= st.capacity {
                let left = timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    st.waiting -= 1;
                    return Err(start.elapsed());
                }
                st = self
                    .freed
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            st.waiting -= 1;
        }
        st.in_use += 1;
        Ok(Permit { sem: self })
    }

    pub fn counters(&self) -> Counters {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.capacity, st.in_use, st.waiting, st.exhausted_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_times_out() {
        let s = Semaphore::new(2);
        let a = s.acquire(Duration::ZERO).unwrap();
        let _b = s.acquire(Duration::ZERO).unwrap();
        assert!(s.acquire(Duration::from_millis(20)).is_err());
        assert_eq!(s.counters(), (2, 2, 0, 1));
        drop(a);
        let _c = s.acquire(Duration::ZERO).unwrap();
        s.set_capacity(3);
        let _d = s.acquire(Duration::ZERO).unwrap();
        assert_eq!(s.counters().1, 3);
    }
}
