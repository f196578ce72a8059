//! Rate limiting of failed OTP attempts (sans-io: callers pass the time): one token bucket per
//! key, where a failure takes a token and an attempt needs one left. Kept in memory, so a
//! restart forgets it (a restart is not something an attacker can cause cheaply).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::EstConfig;

/// Token buckets keyed by string, with a bounded number of keys.
#[derive(Debug)]
pub struct Buckets {
    burst: f64,
    /// Time to regain one token.
    refill: Duration,
    max_keys: usize,
    map: HashMap<String, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Buckets {
    /// `burst` failures at once, then one more per `refill`; at most `max_keys` keys tracked.
    pub fn new(burst: u32, refill: Duration, max_keys: usize) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill: refill.max(Duration::from_millis(1)),
            max_keys: max_keys.max(1),
            map: HashMap::new(),
        }
    }

    fn level(&self, b: &Bucket, now: Instant) -> f64 {
        let regained =
            now.saturating_duration_since(b.at).as_secs_f64() / self.refill.as_secs_f64();
        (b.tokens + regained).min(self.burst)
    }

    /// `None` if `key` may try now; otherwise how long until it may.
    pub fn check(&self, key: &str, now: Instant) -> Option<Duration> {
        let b = self.map.get(key)?;
        let level = self.level(b, now);
        if level >= 1.0 {
            None
        } else {
            Some(self.refill.mul_f64(1.0 - level))
        }
    }

    /// Records a failure of `key`.
    pub fn fail(&mut self, key: &str, now: Instant) {
        if !self.map.contains_key(key) && self.map.len() >= self.max_keys {
            self.evict(now);
        }
        let level = self.map.get(key).map_or(self.burst, |b| self.level(b, now));
        self.map.insert(
            key.to_string(),
            Bucket {
                tokens: (level - 1.0).max(0.0),
                at: now,
            },
        );
    }

    /// Makes room: drops buckets that have refilled (they hold no state), then, if that was
    /// not enough, the fullest half (the keys that failed least recently).
    fn evict(&mut self, now: Instant) {
        let burst = self.burst;
        let levels: Vec<(String, f64)> = self
            .map
            .iter()
            .map(|(k, b)| (k.clone(), self.level(b, now)))
            .collect();
        for (k, l) in &levels {
            if *l >= burst {
                self.map.remove(k);
            }
        }
        if self.map.len() >= self.max_keys {
            let mut rest: Vec<(String, f64)> =
                levels.into_iter().filter(|(_, l)| *l < burst).collect();
            rest.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (k, _) in rest.into_iter().take(self.max_keys / 2 + 1) {
                self.map.remove(&k);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Which of the limits refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// How long until both limits allow an attempt.
    pub wait: Duration,
    /// The entity id's bucket is empty.
    pub entity: bool,
    /// The source address's bucket is empty.
    pub source: bool,
}

/// The limits EST applies to failed OTP attempts.
#[derive(Debug)]
pub struct OtpLimiter {
    /// Per claimed entity id (whether it exists or not).
    pub entity: Buckets,
    /// Per client IP address.
    pub source: Buckets,
}

impl OtpLimiter {
    /// The limits of `[public.est]`.
    pub fn from_config(c: &EstConfig) -> Self {
        Self {
            entity: Buckets::new(
                c.failures_per_entity,
                Duration::from_secs(c.entity_refill_secs),
                c.max_tracked_keys,
            ),
            source: Buckets::new(
                c.failures_per_source,
                Duration::from_secs(c.source_refill_secs),
                c.max_tracked_keys,
            ),
        }
    }
}

impl Default for OtpLimiter {
    /// `[public.est]`'s defaults: per entity 5 failures, then one per minute; per source
    /// address 20 failures, then one every 6 s; 100 000 keys each at most.
    fn default() -> Self {
        Self::from_config(&EstConfig::default())
    }
}

impl OtpLimiter {
    /// `None` if `entity` from `source` may try an OTP now; otherwise which limit refuses and
    /// the wait.
    pub fn check(&self, entity: &str, source: &str, now: Instant) -> Option<Limited> {
        match (
            self.entity.check(entity, now),
            self.source.check(source, now),
        ) {
            (None, None) => None,
            (a, b) => Some(Limited {
                wait: a.unwrap_or_default().max(b.unwrap_or_default()),
                entity: a.is_some(),
                source: b.is_some(),
            }),
        }
    }

    pub fn fail(&mut self, entity: &str, source: &str, now: Instant) {
        self.entity.fail(entity, now);
        self.source.fail(source, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let mut b = Buckets::new(3, Duration::from_secs(10), 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.check("e", t0), None);
            b.fail("e", t0);
        }
        let wait = b.check("e", t0).expect("limited after the burst");
        assert_eq!(wait, Duration::from_secs(10));
        assert_eq!(b.check("other", t0), None);
        assert!(b.check("e", t0 + Duration::from_secs(5)).is_some());
        assert_eq!(b.check("e", t0 + Duration::from_secs(10)), None);
        // One token regained: one more failure, then limited again.
        b.fail("e", t0 + Duration::from_secs(10));
        assert!(b.check("e", t0 + Duration::from_secs(10)).is_some());
        // Never more than the burst after a long pause.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            b.fail("e", later);
        }
        assert!(b.check("e", later).is_some());
    }

    #[test]
    fn keys_are_bounded() {
        let mut b = Buckets::new(2, Duration::from_secs(60), 10);
        let t0 = Instant::now();
        for i in 0..100 {
            b.fail(&format!("k{i}"), t0);
            assert!(b.len() <= 10);
        }
        // Refilled buckets go first.
        let mut b = Buckets::new(1, Duration::from_secs(1), 2);
        b.fail("old", t0);
        b.fail("mid", t0 + Duration::from_millis(1500));
        b.fail("new", t0 + Duration::from_millis(1600));
        assert_eq!(b.len(), 2);
        assert!(b.check("mid", t0 + Duration::from_millis(1600)).is_some());
    }

    #[test]
    fn limiter_combines_entity_and_source() {
        let mut l = OtpLimiter {
            entity: Buckets::new(2, Duration::from_secs(60), 10),
            source: Buckets::new(3, Duration::from_secs(60), 10),
        };
        let t = Instant::now();
        l.fail("a", "1.2.3.4", t);
        l.fail("a", "1.2.3.4", t);
        let e = l.check("a", "5.6.7.8", t).expect("entity limited");
        assert!(e.entity && !e.source);
        assert_eq!(l.check("b", "1.2.3.4", t), None);
        l.fail("b", "1.2.3.4", t);
        let s = l.check("c", "1.2.3.4", t).expect("source limited");
        assert!(!s.entity && s.source);
        assert_eq!(s.wait, Duration::from_secs(60));
        let both = l.check("a", "1.2.3.4", t).expect("both limited");
        assert!(both.entity && both.source);
        assert_eq!(l.check("c", "5.6.7.8", t), None);
    }

    #[test]
    fn limits_come_from_the_config() {
        let c = EstConfig {
            failures_per_entity: 1,
            entity_refill_secs: 90,
            ..EstConfig::default()
        };
        let mut l = OtpLimiter::from_config(&c);
        let t = Instant::now();
        l.fail("a", "1.2.3.4", t);
        assert_eq!(
            l.check("a", "1.2.3.4", t).unwrap().wait,
            Duration::from_secs(90)
        );
        let d = OtpLimiter::default();
        assert_eq!((d.entity.burst, d.source.burst), (5.0, 20.0));
        assert_eq!(d.source.refill, Duration::from_secs(6));
    }
}
