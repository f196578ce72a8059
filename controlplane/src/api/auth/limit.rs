//! Rate limiting and bounded auditing of failed authentication on the admin listener
//! (`[admin.auth_limit]`), sans-io: callers pass the time, so tests drive a fake clock.
//!
//! - A token bucket per source (an IPv4 address, an IPv6 /64: one host's addresses count
//!   as one): a failure takes a token, a source with none left is refused (429) before its
//!   credentials are looked at, until `refill` gives one back. The buckets are the EST OTP
//!   limiter's ([`Buckets`]), bounded in number.
//! - An audit budget per window: each source's first `audit_per_source` events (failures and
//!   refusals), at most `audit_max` in all, are audited one by one; the rest are counted and
//!   make one summary when the window ends ([`AuthLimiter::roll`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::AuthLimitConfig;
use crate::est::limit::Buckets;

/// Sources named in a summary at most (the ones with the most events).
const SUMMARY_TOP: usize = 20;

/// The key of a source: the IPv4 address (also when IPv4-mapped), or the IPv6 /64.
pub fn source_key(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// A refusal: the source must wait `retry_after`; `audit` says whether to audit this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
    pub audit: bool,
}

impl Limited {
    /// `Retry-After` in whole seconds, rounded up (a retry then is not refused again).
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }
}

/// What a window's audit budget left out, per source.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Unaudited {
    pub failures: u64,
    pub refused: u64,
}

/// The events of one window that were not audited one by one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub window_secs: u64,
    /// Failures and refusals not audited one by one, all sources.
    pub failures: u64,
    pub refused: u64,
    /// Sources with unaudited events.
    pub sources: usize,
    /// The sources with the most unaudited events, most first.
    pub top: Vec<(String, Unaudited)>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    audited_total: u32,
    audited: HashMap<String, u32>,
    unaudited: HashMap<String, Unaudited>,
    /// Events of sources not tracked any more (the maps are full).
    overflow: Unaudited,
}

impl Window {
    fn new(start: Instant) -> Self {
        Self {
            start,
            audited_total: 0,
            audited: HashMap::new(),
            unaudited: HashMap::new(),
            overflow: Unaudited::default(),
        }
    }
}

/// The limiter of failed admin authentication.
#[derive(Debug)]
pub struct AuthLimiter {
    buckets: Buckets,
    window_len: Duration,
    per_source: u32,
    max_audited: u32,
    max_sources: usize,
    window: Window,
}

impl AuthLimiter {
    pub fn new(c: &AuthLimitConfig, now: Instant) -> Self {
        Self {
            buckets: Buckets::new(
                c.failures_per_source,
                Duration::from_secs(c.refill_secs),
                c.max_tracked_sources,
            ),
            window_len: Duration::from_secs(c.audit_window_secs.max(1)),
            per_source: c.audit_per_source,
            max_audited: c.audit_max,
            max_sources: c.max_tracked_sources.max(1),
            window: Window::new(now),
        }
    }

    /// `Ok` if `source` may authenticate now; otherwise the wait, and whether to audit the
    /// refusal.
    pub fn check(&mut self, source: &str, now: Instant) -> Result<(), Limited> {
        match self.buckets.check(source, now) {
            None => Ok(()),
            Some(retry_after) => Err(Limited {
                retry_after,
                audit: self.count(source, false),
            }),
        }
    }

    /// Records a failed authentication of `source`; whether to audit it one by one.
    pub fn fail(&mut self, source: &str, now: Instant) -> bool {
        self.buckets.fail(source, now);
        self.count(source, true)
    }

    /// Counts an event against the window's audit budget: `true` if it is audited.
    fn count(&mut self, source: &str, failure: bool) -> bool {
        let w = &mut self.window;
        let n = w.audited.get(source).copied().unwrap_or(0);
        let room = w.audited.contains_key(source) || w.audited.len() < self.max_sources;
        if room && n < self.per_source && w.audited_total < self.max_audited {
            w.audited.insert(source.to_string(), n + 1);
            w.audited_total += 1;
            return true;
        }
        let tracked = w.unaudited.contains_key(source) || w.unaudited.len() < self.max_sources;
        let slot = if tracked {
            w.unaudited.entry(source.to_string()).or_default()
        } else {
            &mut w.overflow
        };
        if failure {
            slot.failures += 1;
        } else {
            slot.refused += 1;
        }
        false
    }

    /// When the current window has ended: starts a new one and returns the summary of the
    /// ended one if anything in it went unaudited.
    pub fn roll(&mut self, now: Instant) -> Option<Summary> {
        if now.saturating_duration_since(self.window.start) < self.window_len {
            return None;
        }
        let ended = std::mem::replace(&mut self.window, Window::new(now));
        let mut all: Vec<(String, Unaudited)> = ended.unaudited.into_iter().collect();
        if ended.overflow != Unaudited::default() {
            all.push(("(untracked sources)".into(), ended.overflow));
        }
        if all.is_empty() {
            return None;
        }
        let failures = all.iter().map(|(_, u)| u.failures).sum();
        let refused = all.iter().map(|(_, u)| u.refused).sum();
        let sources = all.len();
        all.sort_by(|a, b| {
            (b.1.failures + b.1.refused)
                .cmp(&(a.1.failures + a.1.refused))
                .then_with(|| a.0.cmp(&b.0))
        });
        all.truncate(SUMMARY_TOP);
        Some(Summary {
            window_secs: self.window_len.as_secs(),
            failures,
            refused,
            sources,
            top: all,
        })
    }

    /// How often [`AuthLimiter::roll`] should be called.
    pub fn window_len(&self) -> Duration {
        self.window_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthLimitConfig {
        AuthLimitConfig {
            failures_per_source: 3,
            refill_secs: 10,
            max_tracked_sources: 100,
            audit_window_secs: 60,
            audit_per_source: 2,
            audit_max: 3,
        }
    }

    #[test]
    fn a_source_is_refused_after_its_burst_and_readmitted_after_refill() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(&config(), t0);
        for _ in 0..3 {
            assert_eq!(l.check("1.2.3.4", t0), Ok(()));
            l.fail("1.2.3.4", t0);
        }
        let refused = l.check("1.2.3.4", t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(10));
        assert_eq!(refused.retry_after_secs(), 10);
        // Other sources are not limited, failing or not.
        assert_eq!(l.check("5.6.7.8", t0), Ok(()));
        // Still refused just before the refill, admitted at it.
        let t = t0 + Duration::from_millis(9_500);
        let wait = l.check("1.2.3.4", t).unwrap_err();
        assert_eq!(wait.retry_after_secs(), 1, "rounded up");
        let t = t0 + Duration::from_secs(10);
        assert_eq!(l.check("1.2.3.4", t), Ok(()));
        // One token back: one more failure, then refused again.
        l.fail("1.2.3.4", t);
        assert!(l.check("1.2.3.4", t).is_err());
    }

    #[test]
    fn auditing_is_bounded_per_source_and_in_all_then_summarised() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(&config(), t0);
        // Per source: the first two events are audited.
        assert!(l.fail("a", t0));
        assert!(l.fail("a", t0));
        assert!(!l.fail("a", t0));
        let refused = l.check("a", t0).unwrap_err();
        assert!(!refused.audit);
        // In all: three per window.
        assert!(l.fail("b", t0));
        assert!(!l.fail("b", t0), "the window's budget is spent");
        assert!(!l.fail("c", t0));
        assert_eq!(
            l.roll(t0 + Duration::from_secs(59)),
            None,
            "window still open"
        );
        let s = l.roll(t0 + Duration::from_secs(60)).expect("a summary");
        assert_eq!((s.failures, s.refused, s.sources), (3, 1, 3));
        assert_eq!(s.window_secs, 60);
        assert_eq!(
            s.top[0],
            (
                "a".to_string(),
                Unaudited {
                    failures: 1,
                    refused: 1
                }
            )
        );
        // A new window: a fresh budget, and nothing to summarise when all was audited.
        let t1 = t0 + Duration::from_secs(60);
        assert!(l.fail("c", t1));
        assert_eq!(l.roll(t1 + Duration::from_secs(60)), None);
    }

    #[test]
    fn an_attack_from_many_sources_stays_bounded() {
        let t0 = Instant::now();
        let c = AuthLimitConfig {
            max_tracked_sources: 50,
            ..config()
        };
        let mut l = AuthLimiter::new(&c, t0);
        let mut audited = 0;
        for i in 0..10_000u32 {
            let src = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            let _ = l.check(&src, t0);
            audited += u32::from(l.fail(&src, t0));
        }
        assert_eq!(audited, 3, "audit_max per window");
        let s = l.roll(t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(s.failures, 10_000 - 3);
        assert_eq!(s.top.len(), SUMMARY_TOP);
        assert!(s.top.iter().any(|(k, _)| k == "(untracked sources)"));
        assert!(l.window.unaudited.len() <= 50 && l.window.audited.len() <= 50);
    }

    #[test]
    fn source_keys_group_a_hosts_addresses() {
        let k = |s: &str| source_key(&s.parse().unwrap());
        assert_eq!(k("192.0.2.7:4000"), "192.0.2.7");
        assert_eq!(k("[::ffff:192.0.2.7]:4000"), "192.0.2.7");
        assert_eq!(k("[2001:db8:1:2:3:4:5:6]:443"), "2001:db8:1:2::/64");
        assert_eq!(k("[2001:db8:1:2::ff]:1"), k("[2001:db8:1:2:aaaa::1]:2"));
        assert_ne!(k("[2001:db8:1:2::1]:1"), k("[2001:db8:1:3::1]:1"));
    }
}
