//! A worker's statistics: totals for the requests of the measurement window, and the current
//! second (sent to the main thread as each second ends).

use std::sync::mpsc::Sender;

use super::conn::Completed;
use crate::stats::{record_ns, ErrorKind, Second, Totals};

const SEC: u64 = 1_000_000_000;

pub(super) struct Recorder {
    pub totals: Totals,
    second: Second,
    tx: Sender<Second>,
    n_seconds: u32,
    /// Measurement window `[measure, end)`, ns on the run's clock (unset: `u64::MAX`).
    measure: u64,
    end: u64,
}

impl Recorder {
    pub fn new(tx: Sender<Second>, n_seconds: u32) -> Self {
        Recorder {
            totals: Totals::default(),
            second: Second::new(0),
            tx,
            n_seconds,
            measure: u64::MAX,
            end: u64::MAX,
        }
    }

    pub fn set_window(&mut self, measure: u64, end: u64) {
        (self.measure, self.end) = (measure, end);
    }

    fn in_window(&self, now: u64) -> bool {
        now >= self.measure && now < self.end
    }

    /// A response arrived at `now` for a request intended at `intended`; `counted`: the
    /// request belongs to the window.
    pub fn completed(&mut self, intended: u64, counted: bool, c: &Completed, now: u64) {
        let latency = now.saturating_sub(intended);
        if self.in_window(now) {
            self.totals.completed_in_window += 1;
            record_ns(&mut self.second.latency, latency);
            match c.result {
                Ok(()) => {
                    self.totals.ok_in_window += 1;
                    self.second.ok += 1;
                }
                Err(k) => self.second.errors.add(k, 1),
            }
        }
        if counted {
            let t = &mut self.totals;
            record_ns(&mut t.latency, latency);
            *t.statuses.entry(c.status).or_default() += 1;
            t.bytes += c.bytes as u64;
            match c.result {
                Ok(()) => t.ok += 1,
                Err(k) => t.errors.add(k, 1),
            }
        }
    }

    /// A request (or, `Connect`, a connection attempt) failed without a response.
    pub fn error(&mut self, kind: ErrorKind, counted: bool, now: u64) {
        if counted {
            self.totals.errors.add(kind, 1);
        }
        if self.in_window(now) {
            // A failed connection attempt is not a response to any request.
            if kind != ErrorKind::Connect {
                self.totals.completed_in_window += 1;
            }
            self.second.errors.add(kind, 1);
        }
    }

    /// Sends every second that has ended by `now`.
    pub fn roll(&mut self, now: u64) {
        while self.second.index < self.n_seconds
            && now
                >= (self
                    .measure
                    .saturating_add((u64::from(self.second.index) + 1) * SEC))
                .min(self.end)
        {
            self.send_second();
        }
    }

    fn send_second(&mut self) {
        let next = Second::new(self.second.index + 1);
        let done = std::mem::replace(&mut self.second, next);
        let _ = self.tx.send(done);
    }

    /// Sends the remaining seconds (empty ones included) and returns the totals.
    pub fn finish(mut self) -> Totals {
        while self.second.index < self.n_seconds {
            self.send_second();
        }
        self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_drain_are_counted_apart() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut r = Recorder::new(tx, 2);
        r.set_window(SEC, 3 * SEC);
        let ok = Completed {
            status: 200,
            result: Ok(()),
            bytes: 10,
            close: false,
        };
        let bad = Completed {
            result: Err(ErrorKind::Unauthorized),
            ..ok
        };
        // Warm-up request answered in the window: throughput, not latency totals.
        r.completed(SEC / 2, false, &ok, SEC + 1);
        r.completed(SEC + 10, true, &ok, SEC + 500_000 + 10);
        r.roll(2 * SEC);
        r.completed(2 * SEC, true, &bad, 2 * SEC + 1000);
        r.error(ErrorKind::Connect, true, 2 * SEC + 5);
        r.error(ErrorKind::Timeout, true, 2 * SEC + 6);
        // Drain: counted in the totals only.
        r.completed(3 * SEC - 1, true, &ok, 3 * SEC + 7);
        let t = r.finish();
        assert_eq!((t.ok, t.ok_in_window, t.completed_in_window), (2, 2, 4));
        assert_eq!(t.errors.get(ErrorKind::Unauthorized), 1);
        assert_eq!(t.errors.get(ErrorKind::Connect), 1);
        assert_eq!(t.errors.get(ErrorKind::Timeout), 1);
        assert_eq!(t.latency.len(), 3);
        assert_eq!(t.statuses[&200], 3);
        assert_eq!(t.bytes, 30);
        let seconds: Vec<Second> = rx.iter().collect();
        assert_eq!(seconds.len(), 2);
        assert_eq!((seconds[0].index, seconds[0].ok), (0, 2));
        assert_eq!(seconds[0].latency.len(), 2);
        assert_eq!(seconds[0].latency.min(), 500);
        assert_eq!((seconds[1].index, seconds[1].ok), (1, 0));
        assert_eq!(seconds[1].errors.total(), 3);
    }
}
