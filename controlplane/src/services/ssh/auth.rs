//! Keyper's logins and tokens: `POST /login` (user name and password → an access and a
//! refresh token and the user), `POST /refresh` (a refresh token → a new access token), and
//! the check of an access token on every other call ([`Ssh::authenticate`]).
//!
//! A login runs one PBKDF2 verification whether or not the user exists (so its time does not
//! tell), answers every failure with the same 401 text, and is audited (`ssh.login`, success
//! or failure with the reason; never the password). Failures are counted per user name in a
//! token bucket (`[ssh] login_failures_per_user`, `login_refill_secs`): with the bucket empty
//! a login is refused (401) without looking at the password. A locked account gets no
//! tokens; a token of a user since locked, deleted, or whose password changed, is refused.

use std::time::Instant;

use aws_lc_rs::digest;
use sigil_shared::time::now_unix;
use sigil_ssh::keyper::{LoginRequest, LoginResponse, RefreshResponse};
use sigil_storage::WriteBatch;

use super::token::{self, Claims, TokenType};
use super::{lock, password, Result, Ssh, SshError};
use crate::db::ssh::SshUserRecord;
use crate::services::context::Commit;
use crate::services::otps::random;

/// What every failed login is told.
pub const BAD_LOGIN: &str = "Bad username or password";

/// A Keyper user a valid access token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub username: String,
    /// A member of `[ssh] admin_group` (now, not when the token was issued).
    pub admin: bool,
}

/// A fingerprint of the user's password salt: a new password, a new salt, older tokens void.
fn password_version(u: &SshUserRecord) -> String {
    match &u.password {
        Some(p) => hex::encode(&digest::digest(&digest::SHA256, &p.salt).as_ref()[..6]),
        None => String::new(),
    }
}

fn jti() -> Result<String> {
    let h = hex::encode(random::<16>()?);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

impl Ssh {
    fn issue(&self, u: &SshUserRecord, t: TokenType, now: i64) -> Result<String> {
        let lifetime = match t {
            TokenType::Access => self.settings().access_token_secs,
            TokenType::Refresh => self.settings().refresh_token_secs,
        };
        let claims = Claims {
            iat: now,
            nbf: now,
            jti: jti()?,
            exp: now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
            identity: u.username.clone(),
            sub: u.username.clone(),
            fresh: false,
            token_type: t,
            user_claims: token::role_claim(self.is_admin(u)),
            pwv: password_version(u),
        };
        Ok(token::encode(&self.jwt_secret, &claims))
    }

    /// Records a login attempt of `username` (as the current actor).
    fn audit_login(&self, username: &str, ok: bool, details: serde_json::Value) -> Result<()> {
        let name: String = username.chars().take(64).collect();
        let commit = Commit::new(WriteBatch::new())
            .audit(("ssh.login", "ssh_user", &name), details)
            .succeeded(ok);
        self.cx.commit(commit)?;
        Ok(())
    }

    /// `POST /login` (see the module documentation).
    pub fn login(&self, req: &LoginRequest) -> Result<LoginResponse> {
        let username = req.username.as_str();
        let bucket: String = username.chars().take(64).collect();
        if let Some(wait) = lock(&self.login_failures).check(&bucket, Instant::now()) {
            self.audit_login(
                username,
                false,
                serde_json::json!({"reason": "rate_limited"}),
            )?;
            return Err(SshError::RateLimited(wait.as_secs().max(1)));
        }
        let user = self.find_user(username)?;
        let fits = req.password.len() <= password::MAX_LEN;
        let ok = match user.as_ref().and_then(|u| u.password.as_ref()) {
            Some(h) if fits => password::verify(h, &req.password),
            _ => {
                password::verify_nothing(if fits { &req.password } else { "" });
                false
            }
        };
        let known = user.is_some();
        let Some(u) = user.filter(|_| ok) else {
            lock(&self.login_failures).fail(&bucket, Instant::now());
            let reason = if known { "password" } else { "unknown_user" };
            self.audit_login(username, false, serde_json::json!({"reason": reason}))?;
            return Err(SshError::Unauthorized(BAD_LOGIN.into()));
        };
        if u.locked {
            self.audit_login(username, false, serde_json::json!({"reason": "locked"}))?;
            return Err(SshError::Unauthorized("account is locked".into()));
        }
        let now = now_unix();
        let access_token = self.issue(&u, TokenType::Access, now)?;
        let refresh_token = self.issue(&u, TokenType::Refresh, now)?;
        self.audit_login(
            username,
            true,
            serde_json::json!({"admin": self.is_admin(&u)}),
        )?;
        Ok(LoginResponse {
            access_token,
            refresh_token,
            user: self.user_view(&u),
        })
    }

    /// The user of a token of type `want`, if it is valid now and its user may still log in.
    fn token_user(&self, token: &str, want: TokenType) -> Result<Option<SshUserRecord>> {
        let Ok(claims) = token::decode(&self.jwt_secret, token, want, now_unix()) else {
            return Ok(None);
        };
        Ok(self
            .find_user(&claims.sub)?
            .filter(|u| !u.locked && password_version(u) == claims.pwv))
    }

    /// `POST /refresh`: a new access token for a valid refresh token.
    pub fn refresh(&self, refresh_token: &str) -> Result<RefreshResponse> {
        let u = self
            .token_user(refresh_token, TokenType::Refresh)?
            .ok_or_else(|| SshError::Unauthorized("invalid or expired refresh token".into()))?;
        Ok(RefreshResponse {
            access_token: self.issue(&u, TokenType::Access, now_unix())?,
        })
    }

    /// The Keyper user of a valid refresh token, as [`Ssh::authenticate`] for an access token
    /// (the console keeps a Keyper user's refresh token in the session and checks it on every
    /// request: a locked, deleted or re-passworded user is signed out at once).
    pub fn authenticate_refresh(&self, refresh_token: &str) -> Result<Option<AuthUser>> {
        Ok(self
            .token_user(refresh_token, TokenType::Refresh)?
            .map(|u| AuthUser {
                admin: self.is_admin(&u),
                username: u.username,
            }))
    }

    /// The Keyper user of a valid access token (`None`: invalid, expired, or its user is
    /// locked, deleted or has changed their password since).
    pub fn authenticate(&self, access_token: &str) -> Result<Option<AuthUser>> {
        Ok(self
            .token_user(access_token, TokenType::Access)?
            .map(|u| AuthUser {
                admin: self.is_admin(&u),
                username: u.username,
            }))
    }
}
