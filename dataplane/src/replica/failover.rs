//! Which control-plane URL the subscriber tries next, and after how long (sans I/O: the
//! subscriber reports how each attempt ended, [`Failover`] answers; docs/replication.md
//! "Failover").
//!
//! * The URLs are tried in order. An attempt that fails before the stream is established
//!   (no connection, a failed TLS handshake, an HTTP error such as a 401, a stream that ends
//!   or times out before its `Hello`) moves on to the next URL at once.
//! * After a whole round without an established stream the subscriber backs off —
//!   exponentially from `reconnect_min_ms` to `reconnect_max_ms`, jittered by the caller — and
//!   starts again from the first URL.
//! * After an established stream drops, the backoff is reset and the next attempt, after the
//!   shortest delay, is on the first URL again: the primary is preferred whenever it is up.
//! * A stream established on another URL than the previous one is a failover (counted and
//!   logged); the first stream counts when it is not on the first URL.

use std::time::Duration;

/// What to do next: attempt URL `index` after `delay` (before jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub index: usize,
    pub delay: Duration,
}

/// The failover plan over `len` URLs.
#[derive(Debug, Clone)]
pub struct Failover {
    len: usize,
    current: usize,
    min: Duration,
    max: Duration,
    backoff: Duration,
    /// The URL of the last established stream (the first URL before any).
    last_established: usize,
}

impl Failover {
    /// A plan over `len` URLs (at least one) starting with the first.
    pub fn new(len: usize, min: Duration, max: Duration) -> Self {
        Self {
            len: len.max(1),
            current: 0,
            min,
            max: max.max(min),
            backoff: min,
            last_established: 0,
        }
    }

    /// The URL to attempt now.
    pub fn current(&self) -> usize {
        self.current
    }

    /// The attempt on [`Failover::current`] established a stream (its `Hello` arrived).
    /// Returns the URL of the previous established stream when this one is a failover.
    pub fn established(&mut self) -> Option<usize> {
        let previous = std::mem::replace(&mut self.last_established, self.current);
        (previous != self.current).then_some(previous)
    }

    /// The attempt on [`Failover::current`] ended; `established` says whether its stream was
    /// established before it ended. Returns the next attempt.
    pub fn ended(&mut self, established: bool) -> Next {
        if established {
            self.backoff = self.min;
            self.current = 0;
            return Next {
                index: 0,
                delay: self.min,
            };
        }
        if self.current + 1 < self.len {
            self.current += 1;
            return Next {
                index: self.current,
                delay: Duration::ZERO,
            };
        }
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(self.max);
        self.current = 0;
        Next { index: 0, delay }
    }
}

/// `d` scaled by 0.75 + `seed` % 1000 / 2000, i.e. ±25 %, so that a fleet of data planes does
/// not reconnect in lockstep.
pub fn jitter_with(d: Duration, seed: u32) -> Duration {
    d.mul_f64(0.75 + f64::from(seed % 1000) / 2000.0)
}

/// [`jitter_with`] seeded by the clock's nanoseconds.
pub fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    jitter_with(d, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_millis(1000);

    fn next(index: usize, ms: u64) -> Next {
        Next {
            index,
            delay: Duration::from_millis(ms),
        }
    }

    #[test]
    fn failures_walk_the_list_then_back_off_from_the_top() {
        let mut f = Failover::new(3, MIN, MAX);
        assert_eq!(f.current(), 0);
        // Round 1: each failure moves on at once; after the last URL, the first backoff.
        assert_eq!(f.ended(false), next(1, 0));
        assert_eq!(f.ended(false), next(2, 0));
        assert_eq!(f.ended(false), next(0, 200));
        // Round 2, 3, 4: doubling up to the maximum.
        for delay in [400, 800, 1000, 1000] {
            assert_eq!(f.ended(false), next(1, 0));
            assert_eq!(f.ended(false), next(2, 0));
            assert_eq!(f.ended(false), next(0, delay));
        }
    }

    #[test]
    fn an_established_stream_resets_the_backoff_and_prefers_the_first_url() {
        let mut f = Failover::new(2, MIN, MAX);
        for _ in 0..3 {
            f.ended(false);
            f.ended(false);
        }
        assert_eq!(f.ended(false), next(1, 0));
        // The second URL works: a failover from the first.
        assert_eq!(f.established(), Some(0));
        // Its stream drops: the first URL again after the shortest delay.
        assert_eq!(f.ended(true), next(0, 200));
        // The first URL is still down, the second works again: no new failover.
        assert_eq!(f.ended(false), next(1, 0));
        assert_eq!(f.established(), None);
        // Both down now: the backoff starts over from the minimum.
        assert_eq!(f.ended(true), next(0, 200));
        assert_eq!(f.ended(false), next(1, 0));
        assert_eq!(f.ended(false), next(0, 200));
        assert_eq!(f.ended(false), next(1, 0));
        assert_eq!(f.ended(false), next(0, 400));
        // The first URL is back: failing back to it is a failover too.
        assert_eq!(f.established(), Some(1));
        assert_eq!(f.ended(true), next(0, 200));
        assert_eq!(f.established(), None);
    }

    #[test]
    fn a_single_url_behaves_as_before() {
        let mut f = Failover::new(1, MIN, MAX);
        assert_eq!(f.ended(false), next(0, 200));
        assert_eq!(f.ended(false), next(0, 400));
        assert_eq!(f.established(), None, "the first URL is never a failover");
        assert_eq!(f.ended(true), next(0, 200));
        assert_eq!(f.ended(false), next(0, 200));
        assert_eq!(f.ended(false), next(0, 400));
        // Degenerate input stays usable.
        let mut empty = Failover::new(0, MIN, Duration::ZERO);
        assert_eq!(empty.ended(false), next(0, 200));
        assert_eq!(empty.ended(false), next(0, 200));
    }

    #[test]
    fn the_first_stream_on_a_later_url_is_a_failover() {
        let mut f = Failover::new(2, MIN, MAX);
        assert_eq!(f.ended(false), next(1, 0));
        assert_eq!(f.established(), Some(0));
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        let d = Duration::from_millis(1000);
        assert_eq!(jitter_with(d, 0), Duration::from_millis(750));
        assert_eq!(jitter_with(d, 500), Duration::from_millis(1000));
        let top = jitter_with(d, 1999);
        assert!(top > Duration::from_millis(1249) && top < Duration::from_millis(1250));
        for _ in 0..100 {
            let j = jitter(d);
            assert!(j >= Duration::from_millis(750) && j < Duration::from_millis(1250));
        }
    }
}
