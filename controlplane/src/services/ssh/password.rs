//! Keyper passwords: PBKDF2-HMAC-SHA256 (aws-lc-rs, FIPS-validated, already a dependency;
//! OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256 is 600,000 iterations) with a 16-byte
//! random salt. The iteration count is stored with each hash, so it can be raised later
//! without invalidating stored ones. Argon2id would be stronger against GPUs, but needs a
//! new crate outside aws-lc-rs; a login is rate limited per user anyway.

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;

use super::SshError;
use crate::db::ssh::PasswordHash;
use crate::services::otps::random;

/// Iterations of new hashes.
#[cfg(not(test))]
pub const ITERATIONS: u32 = 600_000;
/// Unit tests hash many passwords; the stored count is what verification uses.
#[cfg(test)]
pub const ITERATIONS: u32 = 1_000;

/// Longest accepted password (bytes).
pub const MAX_LEN: usize = 1024;

fn derive(iterations: u32, salt: &[u8; 16], password: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = NonZeroU32::new(iterations.max(1)).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

/// Checks `password` (and its confirmation, when given) against the length rules.
pub fn check(password: &str, confirm: Option<&str>, min_len: usize) -> Result<(), SshError> {
    if confirm.is_some_and(|c| c != password) {
        return Err(SshError::invalid(
            "confirmPassword",
            "does not match userPassword",
        ));
    }
    if password.len() < min_len || password.len() > MAX_LEN {
        return Err(SshError::invalid(
            "userPassword",
            format!("{min_len} to {MAX_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A new salted hash of `password`.
pub fn hash(password: &str) -> Result<PasswordHash, SshError> {
    let salt: [u8; 16] = random()?;
    Ok(PasswordHash {
        iterations: ITERATIONS,
        salt,
        hash: derive(ITERATIONS, &salt, password),
    })
}

/// Whether `password` matches `stored` (constant-time comparison).
pub fn verify(stored: &PasswordHash, password: &str) -> bool {
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(stored.iterations.max(1)).unwrap_or(NonZeroU32::MIN),
        &stored.salt,
        password.as_bytes(),
        &stored.hash,
    )
    .is_ok()
}

/// The work of one [`verify`] with nothing to compare (unknown users, users without a
/// password), so the answer time does not tell whether the user exists.
pub fn verify_nothing(password: &str) {
    std::hint::black_box(derive(ITERATIONS, &[0; 16], password));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse").unwrap();
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct horsE"));
        let again = hash("correct horse").unwrap();
        assert_ne!(h.salt, again.salt, "salted");
        assert_ne!(h.hash, again.hash);
        assert!(!format!("{h:?}").contains(&hex::encode(h.hash)));
        assert!(check("abc", Some("abd"), 1).is_err());
        assert!(check("abc", None, 8).is_err());
        assert!(check("abcdefgh", Some("abcdefgh"), 8).is_ok());
    }
}
