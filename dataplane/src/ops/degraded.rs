//! Whether a ready data plane is degraded — serving, but not everything as it would with its
//! control plane — and why: `/health/ready`'s `degraded` and `degraded_reasons`, and
//! `sigil_dp_degraded`. Degraded is any of:
//!
//! - the control plane is unreachable (the replication stream is down): revocations, new
//!   certificates, refreshed responses and key changes do not arrive. A data plane configured
//!   without a control plane serves its replica as it is and is never degraded for this;
//! - a CRL is at or past its nextUpdate (it is still served: RFC 5280 §5.1.2.5 lets the
//!   relying party decide);
//! - within the last `[metrics] degraded_window_secs`, an OCSP request was answered `tryLater`
//!   because the response held was at or past its nextUpdate (such a response is never served).
//!
//! Degraded does not make the data plane unready: a synced replica still serves the key
//! service, SSH lookups, CRLs and every OCSP response before its nextUpdate, so a load
//! balancer should keep it. Sans-io and cheap: the inputs are a few atomics of the
//! replication status, the CRL deadlines (one entry per CA) and the serving cores' counters —
//! never a scan of the OCSP responses.

use crate::replica::StaleCrls;
use crate::stats::StaleOcsp;

/// The replication stream as the ops listener sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub connected: bool,
    /// When anything last arrived from the control plane, else when the process started
    /// (Unix seconds).
    pub since: i64,
}

/// What degradation is judged on, read at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    pub now: i64,
    /// `None` when no control plane is configured.
    pub link: Option<Link>,
    pub crls: StaleCrls,
    pub ocsp: StaleOcsp,
    pub window_secs: u64,
}

impl Inputs {
    /// Seconds the control plane has been unreachable (0 while connected or not configured).
    pub fn unreachable_secs(&self) -> i64 {
        match self.link {
            Some(l) if !l.connected => (self.now - l.since).max(0),
            _ => 0,
        }
    }

    /// Whether an OCSP request was answered `tryLater` within the window.
    pub fn recent_stale_ocsp(&self) -> bool {
        self.ocsp.last_at > 0
            && self.now.saturating_sub(self.ocsp.last_at) < self.window_secs as i64
    }

    /// Why the data plane is degraded; empty when it is not.
    pub fn reasons(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.link.is_some_and(|l| !l.connected) {
            why.push(format!(
                "control plane unreachable: nothing received for {} s",
                self.unreachable_secs()
            ));
        }
        let c = self.crls;
        if c.stale > 0 {
            why.push(format!(
                "{} of {} CRLs past nextUpdate (the oldest by {} s), still served",
                c.stale, c.held, c.oldest_secs
            ));
        }
        if self.recent_stale_ocsp() {
            why.push(format!(
                "OCSP answered tryLater (response past nextUpdate) {} s ago, {} times since start",
                (self.now - self.ocsp.last_at).max(0),
                self.ocsp.answered
            ));
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Inputs {
        Inputs {
            now: 1_000,
            link: Some(Link {
                connected: true,
                since: 990,
            }),
            crls: StaleCrls {
                held: 2,
                stale: 0,
                oldest_secs: 0,
            },
            ocsp: StaleOcsp::default(),
            window_secs: 60,
        }
    }

    #[test]
    fn connected_fresh_and_no_try_later_is_not_degraded() {
        let i = healthy();
        assert!(i.reasons().is_empty());
        assert_eq!(i.unreachable_secs(), 0);
        // Without a control plane there is nothing to reach.
        let standalone = Inputs { link: None, ..i };
        assert!(standalone.reasons().is_empty());
    }

    #[test]
    fn each_cause_is_reported() {
        let i = Inputs {
            link: Some(Link {
                connected: false,
                since: 958,
            }),
            crls: StaleCrls {
                held: 3,
                stale: 1,
                oldest_secs: 17,
            },
            ocsp: StaleOcsp {
                answered: 5,
                last_at: 998,
            },
            ..healthy()
        };
        assert_eq!(i.unreachable_secs(), 42);
        assert_eq!(
            i.reasons(),
            [
                "control plane unreachable: nothing received for 42 s",
                "1 of 3 CRLs past nextUpdate (the oldest by 17 s), still served",
                "OCSP answered tryLater (response past nextUpdate) 2 s ago, 5 times since start",
            ]
        );
    }

    #[test]
    fn try_later_counts_within_the_window_only() {
        let at = |last_at| Inputs {
            ocsp: StaleOcsp {
                answered: 1,
                last_at,
            },
            ..healthy()
        };
        assert!(at(941).recent_stale_ocsp());
        assert!(!at(940).recent_stale_ocsp());
        assert!(at(940).reasons().is_empty());
    }
}
