//! Logging in to a token, and what happens after a refused PIN: a wrong PIN may be fixed on
//! the token (the PIN changed back) without restarting Sigil, so login is tried again — but
//! paced like the background probes (0.5 s, 1 s, 2 s, then every 4 s, per token whatever the
//! number of keys on it; once more right after the module was re-initialised, since a library
//! may only notice a PIN changed by another process then), and never while the token reports
//! that one more failure would lock the PIN (`CKF_USER_PIN_FINAL_TRY`) or that it is locked
//! (`CKF_USER_PIN_LOCKED`).

use std::time::Instant;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::super::availability::backoff;
use super::super::module::Active;
use super::super::P11Error;
use super::{State, Token};

/// The last refused login of a token.
#[derive(Debug, Clone)]
pub struct PinFailure {
    error: String,
    at: Instant,
    /// Refusals in a row.
    attempts: u32,
    /// The module generation of the last refusal.
    generation: u64,
}

impl Token {
    fn login_error(&self, detail: String) -> P11Error {
        P11Error::Login {
            token: self.label.clone(),
            detail,
        }
    }

    /// Whether a new attempt may follow `f` now: `Err` with the reason it may not.
    fn may_retry(
        &self,
        active: &Active<'_>,
        slot: Slot,
        f: &mut PinFailure,
        now: Instant,
    ) -> Result<(), P11Error> {
        let wait = backoff(f.attempts.saturating_sub(1));
        if f.generation == active.generation() && now.saturating_duration_since(f.at) < wait {
            // The same text as the refusal: the replica's state does not change.
            return Err(self.login_error(f.error.clone()));
        }
        if let Ok(info) = active.ctx().get_token_info(slot) {
            let why = if info.user_pin_locked() {
                Some("the token reports the user PIN locked")
            } else if info.user_pin_final_try() {
                Some("the token reports that one more wrong PIN locks it")
            } else {
                None
            };
            if let Some(why) = why {
                // Checked again after the next interval.
                f.at = now;
                f.generation = active.generation();
                return Err(self.login_error(format!(
                    "{}; {why}: not retried until the PIN is reset",
                    f.error
                )));
            }
        }
        Ok(())
    }

    pub(super) fn login(
        &self,
        active: &Active<'_>,
        st: &mut State,
        slot: Slot,
        session: &Session,
    ) -> Result<(), P11Error> {
        let now = Instant::now();
        if let Some(f) = st.pin_failure.as_mut() {
            self.may_retry(active, slot, f, now)?;
        }
        let env = self
            .pin_env
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let pin = std::env::var(&env).map_err(|_| {
            self.login_error(format!("environment variable {env} (the PIN) is not set"))
        })?;
        match session.login(UserType::User, Some(&AuthPin::from(pin))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                if let Some(f) = st.pin_failure.take() {
                    tracing::info!(token = %self.label, refused = f.attempts, "PKCS#11 login accepted again");
                }
                Ok(())
            }
            Err(e) => {
                let err = P11Error::call(&self.label, "C_Login", e);
                if !err.is_pin_error() {
                    return Err(err);
                }
                let attempts = st.pin_failure.as_ref().map_or(0, |f| f.attempts) + 1;
                if attempts == 1 {
                    tracing::error!(token = %self.label, error = %err, "PKCS#11 login refused; retrying at the probe interval");
                } else {
                    tracing::debug!(token = %self.label, error = %err, attempts, "PKCS#11 login refused again");
                }
                st.pin_failure = Some(PinFailure {
                    error: err.to_string(),
                    at: now,
                    attempts,
                    generation: active.generation(),
                });
                Err(self.login_error(err.to_string()))
            }
        }
    }
}
