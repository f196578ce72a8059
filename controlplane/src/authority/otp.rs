//! One-time passwords for first enrollment (kipuka's `POST/GET/DELETE /admin/otp`).
//!
//! The secret is shown once, at creation; only a salted PBKDF2-HMAC-SHA256 hash is stored.
//! Using an OTP checks it in constant time and decrements `remaining_uses` durably (synced,
//! under a lock) before the caller may act on it, so a 1-use OTP can never be used twice,
//! also across a crash between the use and the response.

use std::num::NonZeroU32;

use aws_lc_rs::{pbkdf2, rand};
use serde::{Deserialize, Serialize};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::{Authority, AuthorityError, Result};
use crate::db::{cf, encode};

/// PBKDF2 iterations: ~25 ms per check on a current core; enrollment is rate limited anyway.
const ITERATIONS: u32 = 60_000;
/// Secret length in characters (base32, 5 bits each: 120 bits).
const SECRET_CHARS: usize = 24;
pub const MAX_TTL_SECS: u64 = 30 * 86_400;

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

/// Why an OTP was not accepted (the caller answers all of them alike: 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpRejected {
    Unknown,
    Expired,
    UsedUp,
}

pub(super) fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    rand::fill(&mut b).map_err(|_| AuthorityError::Internal("random generator failed".into()))?;
    Ok(b)
}

pub(super) fn uuid_v4() -> Result<String> {
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

fn secret() -> Result<String> {
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

impl Authority {
    /// Creates an OTP for `entity_id`; returns the record and the secret (shown only now).
    pub fn create_otp(
        &self,
        entity_id: &str,
        ttl: u64,
        max_uses: u32,
    ) -> Result<(OtpRecord, String)> {
        let entity_id = entity_id.trim();
        if entity_id.is_empty() || entity_id.len() > 255 || entity_id.chars().any(char::is_control)
        {
            return Err(AuthorityError::BadRequest(
                "entity_id must be 1–255 printable characters".into(),
            ));
        }
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(AuthorityError::BadRequest(format!(
                "ttl must be 1..={MAX_TTL_SECS} seconds"
            )));
        }
        if max_uses == 0 || max_uses > 1000 {
            return Err(AuthorityError::BadRequest(
                "max_uses must be 1..=1000".into(),
            ));
        }
        let otp = secret()?;
        let salt: [u8; 16] = random()?;
        let now = now_unix();
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
        self.commit_audited(
            ("otp.create", "otp", &rec.id),
            serde_json::json!({"entity_id": rec.entity_id, "ttl": ttl, "max_uses": max_uses}),
            batch,
            vec![],
        )?;
        Ok((rec, otp))
    }

    /// Active OTPs (not expired, uses left), oldest first.
    pub fn active_otps(&self) -> Result<Vec<OtpRecord>> {
        let now = now_unix();
        let mut all: Vec<OtpRecord> = self.db.list(cf::OTPS, &[])?;
        all.retain(|r| r.active(now));
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(all)
    }

    /// Deletes an active OTP; `NotFound` if it is unknown or no longer active.
    pub fn delete_otp(&self, id: &str) -> Result<()> {
        let _g = self.otp_lock.lock().unwrap_or_else(|e| e.into_inner());
        match self.db.get::<OtpRecord>(cf::OTPS, id.as_bytes())? {
            Some(r) if r.active(now_unix()) => {
                let mut batch = WriteBatch::new();
                batch.delete(cf::OTPS, id.as_bytes().to_vec());
                self.commit_audited(
                    ("otp.delete", "otp", id),
                    serde_json::json!({"entity_id": r.entity_id}),
                    batch,
                    vec![],
                )?;
                Ok(())
            }
            _ => Err(AuthorityError::NotFound(format!(
                "OTP {id:?} does not exist or has expired"
            ))),
        }
    }

    /// Checks `otp` for `entity_id` and, if it is valid, consumes one use durably (synced,
    /// audited) before returning. The hash is computed even when no OTP matches the entity, so
    /// the time taken does not reveal whether the entity has one.
    pub fn use_otp(
        &self,
        entity_id: &str,
        otp: &str,
    ) -> Result<std::result::Result<OtpRecord, OtpRejected>> {
        let _g = self.otp_lock.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_unix();
        let candidates: Vec<OtpRecord> = self
            .db
            .list::<OtpRecord>(cf::OTPS, &[])?
            .into_iter()
            .filter(|r| r.entity_id == entity_id)
            .collect();
        let mut found = None;
        for r in &candidates {
            let h = derive(&r.salt, otp);
            if aws_lc_rs::constant_time::verify_slices_are_equal(&h, &r.hash).is_ok() {
                found = Some(r.clone());
            }
        }
        if candidates.is_empty() {
            let _ = derive(&[0; 16], otp); // same work as one check
        }
        let outcome = match found {
            None => Err(OtpRejected::Unknown),
            Some(r) if r.expires <= now => Err(OtpRejected::Expired),
            Some(r) if r.remaining_uses == 0 => Err(OtpRejected::UsedUp),
            Some(mut r) => {
                r.remaining_uses -= 1;
                let mut batch = WriteBatch::new();
                batch.put(cf::OTPS, r.id.as_bytes().to_vec(), encode(&r)?);
                self.commit_audited(
                    ("otp.use", "otp", &r.id),
                    serde_json::json!({"entity_id": r.entity_id, "remaining_uses": r.remaining_uses}),
                    batch,
                    vec![],
                )?;
                Ok(r)
            }
        };
        Ok(outcome)
    }
}
