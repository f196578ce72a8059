//! The enrollment secrets service: one-time passwords for first enrollment (kipuka's
//! `POST/GET/DELETE /admin/otp`, used by EST). It owns the OTP lock: a use decrements exactly
//! once, and creation counts the active OTPs of an entity without a race.
//!
//! The secret is shown once, at creation; only a salted PBKDF2-HMAC-SHA256 hash is stored.
//! Using an OTP checks it in constant time and decrements `remaining_uses` durably (synced,
//! under a lock) before the caller may act on it, so a 1-use OTP can never be used twice,
//! also across a crash between the use and the response.
//!
//! An entity has at most [`MAX_ACTIVE_PER_ENTITY`] active OTPs, and a use always runs exactly
//! that many PBKDF2 derivations (the entity's OTPs, padded with dummy ones), so the answer
//! time tells neither whether the entity exists nor how many OTPs it has.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use aws_lc_rs::{pbkdf2, rand};
use serde::{Deserialize, Serialize};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use thiserror::Error;

use super::context::{retry_conflicts, Commit, Context};
use super::error::{ErrorKind, Internal};
use crate::db::{cf, encode};

/// PBKDF2 iterations: ~25 ms per check on a current core; enrollment is rate limited anyway.
const ITERATIONS: u32 = 60_000;
/// Secret length in characters (base32, 5 bits each: 120 bits).
const SECRET_CHARS: usize = 24;
pub const MAX_TTL_SECS: u64 = 30 * 86_400;
/// Active (unexpired, uses left) OTPs one entity may have at once; also the number of PBKDF2
/// derivations every use runs, whatever the entity has.
pub const MAX_ACTIVE_PER_ENTITY: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpRecord {
    pub id: String,
    pub entity_id: String,
    pub created: i64,
    pub expires: i64,
    pub max_uses: u32,
    pub remaining_uses: u32,
    pub salt: [u8; 16],
    pub hash: [u8; 32],
}

impl OtpRecord {
    pub fn active(&self, now: i64) -> bool {
        self.expires > now && self.remaining_uses > 0
    }
}

/// What the enrollment secrets service fails with.
#[derive(Debug, Error)]
pub enum OtpError {
    #[error("entity_id must be 1–255 printable characters")]
    InvalidEntity,
    #[error("ttl must be 1..={MAX_TTL_SECS} seconds")]
    InvalidTtl,
    #[error("max_uses must be 1..=1000")]
    InvalidMaxUses,
    #[error(
        "entity {entity:?} already has {active} active OTPs, the most one entity may have \
         ({MAX_ACTIVE_PER_ENTITY}): delete one (DELETE /admin/otp/{{id}}) or wait until one \
         expires or is used up"
    )]
    TooManyActive { entity: String, active: usize },
    #[error("OTP {id:?} does not exist or has expired")]
    NotFound { id: String },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl OtpError {
    /// What the operation read changed before its commit (another node's write): run it
    /// again ([`crate::services::context::retry_conflicts`]).
    pub(super) fn is_write_conflict(&self) -> bool {
        matches!(self, Self::Internal(i) if i.is_write_conflict())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::TooManyActive { .. } => ErrorKind::Conflict,
            Self::Internal(e) => e.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}

super::error::internal_from!(OtpError);

type Result<T, E = OtpError> = std::result::Result<T, E>;

/// Why an OTP was not accepted (the caller answers all of them alike: 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpRejected {
    Unknown,
    Expired,
    UsedUp,
}

pub(super) fn random<const N: usize>() -> Result<[u8; N], Internal> {
    let mut b = [0u8; N];
    rand::fill(&mut b).map_err(|_| Internal::Random)?;
    Ok(b)
}

fn uuid_v4() -> Result<String, Internal> {
    let mut b: [u8; 16] = random()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

fn secret() -> Result<String, Internal> {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let b: [u8; SECRET_CHARS] = random()?;
    Ok(b.iter()
        .map(|x| ALPHABET[(x & 31) as usize] as char)
        .collect())
}

fn iterations() -> NonZeroU32 {
    NonZeroU32::new(ITERATIONS).unwrap_or(NonZeroU32::MIN)
}

fn derive(salt: &[u8; 16], otp: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations(),
        salt,
        otp.as_bytes(),
        &mut out,
    );
    out
}

/// The index of the first of the first `slots` candidates whose hash is `derive(salt)`.
/// Runs `derive` and a constant-time comparison exactly `slots` times whatever `candidates`
/// holds: candidates past `slots` are not checked, missing ones are made up by dummies.
fn find_match(
    candidates: &[OtpRecord],
    slots: usize,
    mut derive: impl FnMut(&[u8; 16]) -> [u8; 32],
) -> Option<usize> {
    const DUMMY_SALT: [u8; 16] = [0; 16];
    const DUMMY_HASH: [u8; 32] = [0; 32];
    let mut found = None;
    for i in 0..slots {
        let (salt, hash) = candidates
            .get(i)
            .map_or((&DUMMY_SALT, &DUMMY_HASH), |r| (&r.salt, &r.hash));
        let equal = aws_lc_rs::constant_time::verify_slices_are_equal(&derive(salt), hash).is_ok();
        if equal && i < candidates.len() && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// See the module documentation.
pub struct Otps {
    cx: Arc<Context>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for Otps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Otps").finish_non_exhaustive()
    }
}

impl Otps {
    pub(super) fn new(cx: Arc<Context>) -> Self {
        Self {
            cx,
            lock: Mutex::new(()),
        }
    }

    /// Creates an OTP for `entity_id`; returns the record and the secret (shown only now).
    pub fn create_otp(
        &self,
        entity_id: &str,
        ttl: u64,
        max_uses: u32,
    ) -> Result<(OtpRecord, String)> {
        let entity_id = entity_id.trim();
        if entity_id.is_empty()
            || entity_id.chars().count() > 255
            || entity_id.chars().any(char::is_control)
        {
            return Err(OtpError::InvalidEntity);
        }
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(OtpError::InvalidTtl);
        }
        if max_uses == 0 || max_uses > 1000 {
            return Err(OtpError::InvalidMaxUses);
        }
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_unix();
        let active = self
            .cx
            .db()
            .list::<OtpRecord>(cf::OTPS, &[])?
            .iter()
            .filter(|r| r.entity_id == entity_id && r.active(now))
            .count();
        if active >= MAX_ACTIVE_PER_ENTITY {
            return Err(OtpError::TooManyActive {
                entity: entity_id.into(),
                active,
            });
        }
        let otp = secret()?;
        let salt: [u8; 16] = random()?;
        let rec = OtpRecord {
            id: uuid_v4()?,
            entity_id: entity_id.to_string(),
            created: now,
            expires: now + ttl as i64,
            max_uses,
            remaining_uses: max_uses,
            hash: derive(&salt, &otp),
            salt,
        };
        let mut batch = WriteBatch::new();
        batch.put(cf::OTPS, rec.id.as_bytes().to_vec(), encode(&rec)?);
        self.cx.commit(Commit::new(batch).audit(
            ("otp.create", "otp", &rec.id),
            serde_json::json!({"entity_id": rec.entity_id, "ttl": ttl, "max_uses": max_uses}),
        ))?;
        Ok((rec, otp))
    }

    /// Active OTPs (not expired, uses left), oldest first.
    pub fn active_otps(&self) -> Result<Vec<OtpRecord>> {
        let now = now_unix();
        let mut all: Vec<OtpRecord> = self.cx.db().list(cf::OTPS, &[])?;
        all.retain(|r| r.active(now));
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(all)
    }

    /// Deletes an active OTP; `NotFound` if it is unknown or no longer active.
    pub fn delete_otp(&self, id: &str) -> Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match self.cx.db().get::<OtpRecord>(cf::OTPS, id.as_bytes())? {
            Some(r) if r.active(now_unix()) => {
                let mut batch = WriteBatch::new();
                batch.delete(cf::OTPS, id.as_bytes().to_vec());
                // Fenced as read: a use on another node meanwhile is not undone silently.
                let fenced = Commit::new(batch).expect_value(
                    cf::OTPS,
                    id.as_bytes().to_vec(),
                    Some(encode(&r)?),
                );
                self.cx.commit(fenced.audit(
                    ("otp.delete", "otp", id),
                    serde_json::json!({"entity_id": r.entity_id}),
                ))?;
                Ok(())
            }
            _ => Err(OtpError::NotFound { id: id.into() }),
        }
    }

    /// Checks `otp` for `entity_id` and, if it is valid, consumes one use durably (synced,
    /// audited) before returning.
    ///
    /// Always exactly [`MAX_ACTIVE_PER_ENTITY`] derivations and constant-time comparisons: the
    /// entity's active OTPs (at most that many, see `create_otp`), then its newest inactive ones
    /// (so an expired or used-up OTP is reported as such while a slot is free; otherwise it is
    /// `Unknown`), then dummies. The time taken reveals neither whether the entity has OTPs nor
    /// how many. (Only active OTPs stored before the cap existed could exceed it; they are all
    /// checked, never refused.)
    ///
    /// The use is fenced on the OTP's record as read: if another node used it meanwhile, the
    /// commit fails and the check runs again against what that node left (a one-use OTP is
    /// then used up).
    pub fn use_otp(
        &self,
        entity_id: &str,
        otp: &str,
    ) -> Result<std::result::Result<OtpRecord, OtpRejected>> {
        retry_conflicts(
            || self.use_otp_once(entity_id, otp),
            OtpError::is_write_conflict,
        )
    }

    fn use_otp_once(
        &self,
        entity_id: &str,
        otp: &str,
    ) -> Result<std::result::Result<OtpRecord, OtpRejected>> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_unix();
        let mut candidates: Vec<OtpRecord> = self
            .cx
            .db()
            .list::<OtpRecord>(cf::OTPS, &[])?
            .into_iter()
            .filter(|r| r.entity_id == entity_id)
            .collect();
        // Active first, newest first within each group.
        candidates.sort_by_key(|r| (!r.active(now), std::cmp::Reverse(r.created)));
        let active = candidates.iter().filter(|r| r.active(now)).count();
        let slots = MAX_ACTIVE_PER_ENTITY.max(active);
        let found =
            find_match(&candidates, slots, |salt| derive(salt, otp)).map(|i| &candidates[i]);
        let outcome = match found.cloned() {
            None => Err(OtpRejected::Unknown),
            Some(r) if r.expires <= now => Err(OtpRejected::Expired),
            Some(r) if r.remaining_uses == 0 => Err(OtpRejected::UsedUp),
            Some(mut r) => {
                let read = encode(&r)?;
                r.remaining_uses -= 1;
                let mut batch = WriteBatch::new();
                batch.put(cf::OTPS, r.id.as_bytes().to_vec(), encode(&r)?);
                let fenced =
                    Commit::new(batch).expect_value(cf::OTPS, r.id.as_bytes().to_vec(), Some(read));
                self.cx.commit(fenced.audit(
                    ("otp.use", "otp", &r.id),
                    serde_json::json!({"entity_id": r.entity_id, "remaining_uses": r.remaining_uses}),
                ))?;
                Ok(r)
            }
        };
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u8) -> OtpRecord {
        OtpRecord {
            id: format!("id{n}"),
            entity_id: "e".into(),
            created: i64::from(n),
            expires: i64::MAX,
            max_uses: 1,
            remaining_uses: 1,
            salt: [n; 16],
            hash: [n; 32],
        }
    }

    /// A stand-in for PBKDF2 that counts its calls: the hash of salt `[n; 16]` is `[n; 32]`
    /// for the guessed `n`, anything else otherwise.
    fn counting(guess: u8, calls: &mut usize) -> impl FnMut(&[u8; 16]) -> [u8; 32] + '_ {
        move |salt| {
            *calls += 1;
            if salt[0] == guess {
                [guess; 32]
            } else {
                [0xff; 32]
            }
        }
    }

    #[test]
    fn always_the_same_number_of_derivations() {
        let slots = MAX_ACTIVE_PER_ENTITY;
        for have in 0..=slots {
            let cands: Vec<OtpRecord> = (1..=have as u8).map(rec).collect();
            for guess in [1u8, have as u8, 99] {
                let mut calls = 0;
                let got = find_match(&cands, slots, counting(guess, &mut calls));
                assert_eq!(calls, slots, "{have} OTPs, guess {guess}");
                let want =
                    (guess >= 1 && usize::from(guess) <= have).then(|| usize::from(guess) - 1);
                assert_eq!(got, want, "{have} OTPs, guess {guess}");
            }
        }
        // The dummy (zero salt, zero hash) never matches, even if the derivation gave zeros.
        let mut calls = 0;
        assert_eq!(find_match(&[], slots, counting(0, &mut calls)), None);
        assert_eq!(calls, slots);
        // Candidates past the slots are not checked.
        let cands: Vec<OtpRecord> = (1..=8).map(rec).collect();
        let mut calls = 0;
        assert_eq!(find_match(&cands, slots, counting(7, &mut calls)), None);
        assert_eq!(calls, slots);
    }
}
