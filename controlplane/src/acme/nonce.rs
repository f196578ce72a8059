//! `Replay-Nonce` values (RFC 8555 §6.5): stateless, MAC'd nonces with a used-set.
//!
//! A nonce is `base64url(expiry (8 bytes BE) || random (8) || HMAC-SHA256(key, both)[..16])`
//! under a key drawn at start. A nonce is accepted once: its MAC verifies, it has not expired
//! (validity [`VALIDITY_SECS`]) and it is not in the used-set, which it then enters until its
//! expiry. Nothing is stored: issuing a nonce (every response carries one) costs no write.
//!
//! The key is per process, so a restart or another control-plane node refuses the nonce
//! with `badNonce`, whose answer carries a fresh nonce that clients retry with (§6.5; certbot
//! does). That is also why no nonce can be used twice across nodes: each node accepts only
//! its own, and remembers which it accepted.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::{hmac, rand};
use sigil_acme::{b64u, b64u_decode};

/// How long a nonce is accepted.
pub const VALIDITY_SECS: u64 = 3600;
/// Used nonces remembered at most; when full, the expired ones are dropped, and if that is
/// not enough every nonce issued before now is refused (`badNonce`, then retried).
const MAX_USED: usize = 1_000_000;

#[derive(Debug)]
pub struct Nonces {
    key: hmac::Key,
    used: Mutex<Used>,
}

#[derive(Debug, Default)]
struct Used {
    /// nonce → expiry.
    set: HashMap<[u8; 16], u64>,
    /// Nonces expiring before this are refused (raised when the set overflowed).
    floor: u64,
}

fn now() -> u64 {
    sigil_shared::time::now_unix().max(0) as u64
}

impl Default for Nonces {
    fn default() -> Self {
        Self::new()
    }
}

impl Nonces {
    pub fn new() -> Self {
        let mut k = [0u8; 32];
        rand::fill(&mut k).expect("the system random generator failed");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &k),
            used: Mutex::new(Used::default()),
        }
    }

    /// A fresh nonce.
    pub fn issue(&self) -> String {
        self.issue_at(now())
    }

    fn issue_at(&self, now: u64) -> String {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&(now + VALIDITY_SECS).to_be_bytes());
        rand::fill(&mut b[8..16]).expect("the system random generator failed");
        let tag = hmac::sign(&self.key, &b[..16]);
        b[16..].copy_from_slice(&tag.as_ref()[..16]);
        b64u(&b)
    }

    /// Accepts `nonce` once; false if it is not one of ours, expired or used.
    pub fn consume(&self, nonce: &str) -> bool {
        self.consume_at(nonce, now())
    }

    fn consume_at(&self, nonce: &str, now: u64) -> bool {
        let Some(b) = b64u_decode(nonce).filter(|b| b.len() == 32) else {
            return false;
        };
        let tag = hmac::sign(&self.key, &b[..16]);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&tag.as_ref()[..16], &b[16..])) {
            return false;
        }
        let expiry = u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if expiry <= now || expiry <= used.floor {
            return false;
        }
        let id: [u8; 16] = b[..16].try_into().expect("16 bytes");
        if used.set.len() >= MAX_USED {
            used.set.retain(|_, e| *e > now);
            if used.set.len() >= MAX_USED {
                used.floor = now + VALIDITY_SECS;
                used.set.clear();
                return false;
            }
        }
        used.set.insert(id, expiry).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_and_expiry() {
        let n = Nonces::new();
        let a = n.issue();
        assert!(n.consume(&a));
        assert!(!n.consume(&a), "replayed");
        let b = n.issue_at(1000);
        assert!(!n.consume_at(&b, 1000 + VALIDITY_SECS), "expired");
        let c = n.issue_at(1000);
        assert!(n.consume_at(&c, 1001));
        // Another process's nonce, a forged one, garbage.
        assert!(!n.consume(&Nonces::new().issue()));
        let mut forged = b64u_decode(&n.issue()).unwrap();
        forged[0] ^= 1;
        assert!(!n.consume(&b64u(&forged)));
        assert!(!n.consume("not a nonce"));
    }
}
