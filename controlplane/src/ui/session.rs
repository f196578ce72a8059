//! The console's sessions, in memory: a random 256-bit id in the cookie (kept here only as its
//! SHA-256, so a lookup's timing says nothing about stored ids), a per-session CSRF token, an
//! idle timeout and an absolute lifetime. Sans-io apart from the clock the caller passes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::config::ConsoleConfig;

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// The audit actor: `bearer:admin`, `apikey:<id>`, `mtls:<subject>`, `keyper:<user>`.
    pub actor: String,
    pub permissions: Vec<String>,
    /// The API key's id when signed in with one (checked again on every request).
    pub api_key: Option<String>,
    /// A Keyper user (checked again on every request).
    pub keyper: Option<KeyperUser>,
}

/// A Keyper user's session: their name and refresh token (its `Debug` never shows the token).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyperUser {
    pub username: String,
    pub refresh: String,
}

impl std::fmt::Debug for KeyperUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyperUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A live session as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub who: Who,
    pub csrf: String,
}

struct Entry {
    session: Session,
    created: Instant,
    last: Instant,
}

/// See the module documentation.
pub struct Sessions {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    idle: Duration,
    lifetime: Duration,
    max: usize,
}

impl std::fmt::Debug for Sessions {
    /// Never the ids or tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("idle", &self.idle)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// 32 bytes from the system's CSPRNG, base64url without padding (43 characters); `None` if
/// the generator failed (never a predictable token).
pub fn random_token() -> Option<String> {
    let mut b = [0u8; 32];
    SystemRandom::new().fill(&mut b).ok()?;
    Some(URL_SAFE_NO_PAD.encode(b))
}

fn key_of(id: &str) -> [u8; 32] {
    let mut k = [0u8; 32];
    k.copy_from_slice(digest(&SHA256, id.as_bytes()).as_ref());
    k
}

/// Constant-time comparison of two tokens; an empty expected token matches nothing.
pub fn token_matches(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

impl Sessions {
    pub fn new(cfg: &ConsoleConfig) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            idle: Duration::from_secs(cfg.idle_timeout_secs),
            lifetime: Duration::from_secs(cfg.max_lifetime_secs),
            max: cfg.max_sessions.max(1),
        }
    }

    fn live(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.last) < self.idle
            && now.saturating_duration_since(e.created) < self.lifetime
    }

    /// Starts a session: the cookie value (the session id) and the session; `None` if the
    /// random generator failed.
    pub fn create(&self, who: Who, now: Instant) -> Option<(String, Session)> {
        let id = random_token()?;
        let session = Session {
            who,
            csrf: random_token()?,
        };
        let mut m = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() >= self.max {
            m.retain(|_, e| self.live(e, now));
        }
        while m.len() >= self.max {
            let Some(oldest) = m.iter().min_by_key(|(_, e)| e.created).map(|(k, _)| *k) else {
                break;
            };
            m.remove(&oldest);
        }
        m.insert(
            key_of(&id),
            Entry {
                session: session.clone(),
                created: now,
                last: now,
            },
        );
        Some((id, session))
    }

    /// The live session of cookie value `id` (its idle timer restarted), or `None` (an
    /// expired one is removed).
    pub fn touch(&self, id: &str, now: Instant) -> Option<Session> {
        let key = key_of(id);
        let mut m = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let e = m.get_mut(&key)?;
        if !self.live(e, now) {
            m.remove(&key);
            return None;
        }
        e.last = now;
        Some(e.session.clone())
    }

    /// Replaces the permissions of a session (an API key's, read again).
    pub fn set_permissions(&self, id: &str, permissions: Vec<String>) {
        let mut m = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = m.get_mut(&key_of(id)) {
            e.session.who.permissions = permissions;
        }
    }

    /// Ends a session (sign-out, or its credential no longer valid).
    pub fn remove(&self, id: &str) -> Option<Session> {
        let mut m = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        m.remove(&key_of(id)).map(|e| e.session)
    }

    /// Sessions held (live or not yet swept).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Who {
        Who {
            actor: "bearer:admin".into(),
            permissions: vec!["*".into()],
            api_key: None,
            keyper: None,
        }
    }

    fn sessions(idle: u64, lifetime: u64, max: usize) -> Sessions {
        Sessions::new(&ConsoleConfig {
            idle_timeout_secs: idle,
            max_lifetime_secs: lifetime,
            max_sessions: max,
            ..ConsoleConfig::default()
        })
    }

    #[test]
    fn ids_and_tokens_are_random_256_bit() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        let s = sessions(60, 600, 10);
        let t = Instant::now();
        let (id1, s1) = s.create(who(), t).unwrap();
        let (id2, s2) = s.create(who(), t).unwrap();
        assert_ne!(id1, id2);
        assert_ne!(s1.csrf, s2.csrf);
        assert_ne!(id1, s1.csrf);
    }

    #[test]
    fn idle_timeout_and_lifetime() {
        let s = sessions(60, 600, 10);
        let t0 = Instant::now();
        let (id, _) = s.create(who(), t0).unwrap();
        assert!(s.touch("not-a-session", t0).is_none());
        // Each request restarts the idle timer...
        for i in 1..10 {
            assert!(s.touch(&id, t0 + Duration::from_secs(59 * i)).is_some());
        }
        // ...but not the lifetime.
        assert!(s.touch(&id, t0 + Duration::from_secs(600)).is_none());
        assert_eq!(s.len(), 0, "an expired session is removed");
        let (id, _) = s.create(who(), t0).unwrap();
        assert!(s.touch(&id, t0 + Duration::from_secs(60)).is_none(), "idle");
        let (id, _) = s.create(who(), t0).unwrap();
        assert!(s.remove(&id).is_some());
        assert!(s.touch(&id, t0).is_none(), "signed out");
    }

    #[test]
    fn bounded_oldest_first() {
        let s = sessions(60, 600, 2);
        let t0 = Instant::now();
        let (a, _) = s.create(who(), t0).unwrap();
        let (b, _) = s.create(who(), t0 + Duration::from_secs(1)).unwrap();
        let (c, _) = s.create(who(), t0 + Duration::from_secs(2)).unwrap();
        let t = t0 + Duration::from_secs(3);
        assert!(s.touch(&a, t).is_none());
        assert!(s.touch(&b, t).is_some() && s.touch(&c, t).is_some());
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn token_comparison() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abd", "abc"));
        assert!(!token_matches("", ""));
        assert!(!token_matches("abc", "abcd"));
    }
}
