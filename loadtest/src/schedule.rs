//! Open-loop arrival schedule: the intended send time of every request, fixed in advance.
//!
//! With a total rate `R` over `T` threads, thread `t` sends its `k`-th request at
//! `start + t/R + k·T/R`: each thread runs at `R/T` and the threads interleave, so the
//! combined arrivals are evenly spaced `1/R` apart. The time is a function of `k` alone, so a
//! late send does not shift later ones (no coordinated omission: a request that waits for a
//! free connection is measured from its intended time).

/// Nanoseconds per second.
const NS: f64 = 1e9;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Intended time of request 0, ns on the run's clock.
    first_ns: u64,
    /// Spacing of this thread's requests, ns.
    period_ns: f64,
}

impl Schedule {
    /// Thread `thread` of `threads` sharing `rate` requests/s, starting at `start_ns`.
    pub fn for_thread(start_ns: u64, rate: f64, threads: usize, thread: usize) -> Self {
        assert!(rate > 0.0 && threads > 0 && thread < threads);
        Schedule {
            first_ns: start_ns + (thread as f64 * NS / rate) as u64,
            period_ns: threads as f64 * NS / rate,
        }
    }

    /// Intended send time of request `k`.
    pub fn intended(&self, k: u64) -> u64 {
        self.first_ns + (k as f64 * self.period_ns) as u64
    }

    /// How many requests are due at `now_ns` (those with an intended time ≤ `now_ns`).
    pub fn due(&self, now_ns: u64) -> u64 {
        if now_ns < self.first_ns {
            return 0;
        }
        let mut k = ((now_ns - self.first_ns) as f64 / self.period_ns) as u64;
        // Float rounding: make `due` exactly consistent with `intended`.
        while self.intended(k + 1) <= now_ns {
            k += 1;
        }
        while k > 0 && self.intended(k) > now_ns {
            k -= 1;
        }
        if self.intended(k) <= now_ns {
            k + 1
        } else {
            k
        }
    }

    /// Index of the first request intended at or after `t_ns`.
    pub fn first_at_or_after(&self, t_ns: u64) -> u64 {
        if t_ns == 0 {
            return 0;
        }
        self.due(t_ns - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn threads_interleave_evenly() {
        // 4 threads at 1000/s in total: one request every millisecond, round robin.
        let s: Vec<Schedule> = (0..4)
            .map(|t| Schedule::for_thread(1_000, 1000.0, 4, t))
            .collect();
        let mut times: Vec<u64> = s
            .iter()
            .flat_map(|s| (0..10).map(|k| s.intended(k)))
            .collect();
        times.sort_unstable();
        for (i, t) in times.iter().enumerate() {
            assert_eq!(*t, 1_000 + i as u64 * 1_000_000);
        }
    }

    #[test]
    fn window_counts_match_the_rate() {
        // 3 threads at 2000/s: a 2 s window holds 4000 intended requests in total.
        let (start, rate, threads) = (5_000_000u64, 2000.0, 3);
        let (from, to) = (start + 1_000_000_000, start + 3_000_000_000);
        let n: u64 = (0..threads)
            .map(|t| {
                let s = Schedule::for_thread(start, rate, threads, t);
                s.first_at_or_after(to) - s.first_at_or_after(from)
            })
            .sum();
        assert_eq!(n, 4000);
    }

    proptest! {
        #[test]
        fn due_is_consistent_with_intended(
            start in 0u64..1_000_000_000,
            rate in 1.0f64..2_000_000.0,
            threads in 1usize..16,
            k in 0u64..10_000_000,
        ) {
            let s = Schedule::for_thread(start, rate, threads, threads - 1);
            let t = s.intended(k);
            // Request k is due at its own time; request k+1 is not yet due unless equal times.
            prop_assert!(s.due(t) > k);
            if s.intended(k + 1) > t {
                prop_assert_eq!(s.due(t), k + 1);
            }
            if t > 0 && (k == 0 || s.intended(k - 1) < t) {
                prop_assert_eq!(s.due(t - 1), k);
                prop_assert_eq!(s.first_at_or_after(t), k);
            }
            prop_assert!(s.intended(k + 1) >= t);
        }
    }
}
