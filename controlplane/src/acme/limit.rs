//! ACME rate limits (in memory, per process): new accounts per source address and new orders
//! per account, each in a sliding hour. Refused requests get `rateLimited` and `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(3600);
/// Keys tracked at most; when full, the keys with nothing left in the window go first.
const MAX_KEYS: usize = 100_000;

/// A sliding-window counter per key.
#[derive(Debug)]
pub struct Window {
    limit: u32,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Window {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one for `key`, or returns the seconds until one is allowed.
    pub fn hit(&self, key: &str) -> Result<(), u64> {
        self.hit_at(key, Instant::now())
    }

    fn hit_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() >= MAX_KEYS && !hits.contains_key(key) {
            hits.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let q = hits.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        if q.len() >= self.limit as usize {
            let oldest = *q.front().expect("limit is at least 1");
            let wait = WINDOW.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        q.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_slides() {
        let w = Window::new(2);
        let t = Instant::now();
        assert!(w.hit_at("a", t).is_ok());
        assert!(w.hit_at("a", t).is_ok());
        let wait = w.hit_at("a", t + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, 3590);
        assert!(w.hit_at("b", t).is_ok());
        assert!(w.hit_at("a", t + WINDOW).is_ok());
    }
}
