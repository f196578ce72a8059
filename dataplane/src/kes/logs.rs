//! KES's audit and error log streams (`/v1/log/audit`, `/v1/log/error`, and the older API's
//! `/trace` forms): newline-delimited JSON events, for as long as the client stays.
//!
//! One [`LogHub`] per stream, shared by every core. A request publishes its event only while
//! someone is subscribed (one relaxed load otherwise: the request path takes no lock when
//! nobody traces). Subscribers poll the hub's bounded ring every 100 ms; one that falls more
//! than [`KEEP`] events behind skips what it missed. An idle stream sends a bare newline every
//! 30 s (JSON decoders skip it) so that a stream whose client left is noticed and ended.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::BodyStream;

/// Events kept for subscribers that poll late.
pub const KEEP: usize = 4096;
const POLL: Duration = Duration::from_millis(100);
const KEEPALIVE: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct LogHub {
    subscribers: AtomicUsize,
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    /// Sequence number of the next event.
    next: u64,
    events: VecDeque<(u64, Arc<[u8]>)>,
}

impl LogHub {
    /// Whether anyone listens (then building an event is worth it).
    pub fn active(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) > 0
    }

    /// Publishes one event line (without its newline) if anyone listens; whether it did.
    pub fn publish(&self, line: impl FnOnce() -> Vec<u8>) -> bool {
        if !self.active() {
            return false;
        }
        let mut line = line();
        line.push(b'\n');
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let seq = ring.next;
        ring.next += 1;
        ring.events.push_back((seq, line.into()));
        while ring.events.len() > KEEP {
            ring.events.pop_front();
        }
        true
    }

    /// A stream of the events published from now on.
    pub fn subscribe(self: &Arc<Self>) -> Subscription {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        let next = self.ring.lock().unwrap_or_else(|p| p.into_inner()).next;
        Subscription {
            hub: self.clone(),
            next,
        }
    }

    /// Every event from `from` on, concatenated, and the next sequence number.
    fn since(&self, from: u64) -> (Vec<u8>, u64) {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (seq, line) in &ring.events {
            if *seq >= from {
                out.extend_from_slice(line);
            }
        }
        (out, ring.next)
    }
}

/// One client's stream.
pub struct Subscription {
    hub: Arc<LogHub>,
    next: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl BodyStream for Subscription {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = Option<Vec<u8>>> + '_>> {
        Box::pin(async move {
            let idle_since = Instant::now();
            loop {
                let (events, next) = self.hub.since(self.next);
                self.next = next;
                if !events.is_empty() {
                    return Some(events);
                }
                if idle_since.elapsed() >= KEEPALIVE {
                    return Some(b"\n".to_vec());
                }
                monoio::time::sleep(POLL).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_subscribers_only() {
        let hub = Arc::new(LogHub::default());
        assert!(!hub.publish(|| b"{}".to_vec()), "nobody listens");
        let sub = hub.subscribe();
        assert!(hub.active());
        assert!(hub.publish(|| b"{\"a\":1}".to_vec()));
        assert!(hub.publish(|| b"{\"a\":2}".to_vec()));
        let (events, next) = hub.since(sub.next);
        assert_eq!(events, b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(next, 2);
        for _ in 0..KEEP + 10 {
            hub.publish(|| b"x".to_vec());
        }
        assert_eq!(hub.since(0).0.len(), KEEP * 2, "the ring is bounded");
        drop(sub);
        assert!(!hub.active());
    }
}
