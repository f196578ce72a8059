//! A data plane caught up with its control plane: the same head, the same state digest.

use std::time::{Duration, Instant};

use crate::dp::{cp_head, DataPlane};
use crate::ControlPlane;

/// Waits (up to 60 s) until `dp` has applied `cp`'s head and its state digest, taken at that
/// head, equals the control plane's (`/api/v1/replication/digest`); a CRL regenerated
/// meanwhile moves the head, so both are read again until they meet. Returns the head.
pub fn assert_converged(cp: &ControlPlane, dp: &DataPlane, what: &str) -> u64 {
    let start = Instant::now();
    loop {
        let head = cp_head(cp);
        let applied = dp.metric("sigil_dp_replication_applied_sequence") as u64;
        if applied == head {
            let (s, c) = cp.api("GET", "/api/v1/replication/digest", None);
            assert_eq!(s, 200, "{c}");
            let d = dp.digest();
            if c["as_of"] == d["as_of"] {
                assert_eq!(d, c, "{what}: the digest differs from the control plane's");
                return head;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: applied {applied}, head {head}\n{}",
            dp.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
