//! Errors of the PKCS#11 backend and how each is recovered from.

use cryptoki::error::{Error as CkError, RvError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum P11Error {
    #[error("PKCS#11 module {module}: {detail}")]
    Module { module: String, detail: String },
    #[error("token {token:?}: {detail}")]
    Token { token: String, detail: String },
    #[error("token {token:?}: {op}: {source}")]
    Call {
        token: String,
        op: &'static str,
        #[source]
        source: CkError,
    },
    #[error("token {token:?}: login failed: {detail}")]
    Login { token: String, detail: String },
    #[error("token {token:?}: {detail}")]
    Key { token: String, detail: String },
    #[error("token {token:?}: session pool exhausted (waited {waited_ms} ms for one of {pool} sessions)")]
    PoolExhausted {
        token: String,
        pool: usize,
        waited_ms: u64,
    },
    #[error("{0}")]
    Unsupported(String),
    /// Every replica of the key is out of rotation: their last errors (the background prober
    /// brings them back).
    #[error("{0}")]
    Down(String),
}

/// What a failed call says about the state it ran in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The library lost its state (`CKR_CRYPTOKI_NOT_INITIALIZED`: it was finalized or reset,
    /// so no session of any token survives): finalize, initialize, log in and look keys up
    /// again, then retry once.
    Reinitialize,
    /// The token or its slot failed (removed, device error): forget this token's sessions and
    /// slot, find the slot again, log in, look keys up again, then retry once. Other tokens of
    /// the module keep their sessions; re-initialising the module is left to the background
    /// prober, which does it only when no healthy replica uses the module.
    Rediscover,
    /// The sessions or handles are gone (closed, logged out, object handles invalid): open
    /// new sessions, log in, look keys up again, then retry once.
    /// `forget` when the session handles themselves are invalid (never close them: their
    /// numbers may already belong to someone else's session).
    Reopen { forget: bool },
    /// Nothing to recover (bad mechanism, wrong PIN, missing key): fail.
    None,
}

impl P11Error {
    pub fn call(token: &str, op: &'static str, source: CkError) -> Self {
        P11Error::Call {
            token: token.to_string(),
            op,
            source,
        }
    }

    pub fn recovery(&self) -> Recovery {
        let P11Error::Call {
            source: CkError::Pkcs11(rv, _),
            ..
        } = self
        else {
            return Recovery::None;
        };
        match rv {
            RvError::CryptokiNotInitialized => Recovery::Reinitialize,
            RvError::DeviceRemoved
            | RvError::DeviceError
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::SlotIdInvalid
            | RvError::GeneralError => Recovery::Rediscover,
            RvError::SessionHandleInvalid | RvError::SessionClosed => {
                Recovery::Reopen { forget: true }
            }
            RvError::UserNotLoggedIn | RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid => {
                Recovery::Reopen { forget: false }
            }
            _ => Recovery::None,
        }
    }

    /// A PIN error: logging in again could lock the token, so further attempts are paced
    /// and stop while the token says one more failure would lock the PIN.
    pub fn is_pin_error(&self) -> bool {
        matches!(
            self,
            P11Error::Call {
                source: CkError::Pkcs11(
                    RvError::PinIncorrect
                        | RvError::PinLocked
                        | RvError::PinExpired
                        | RvError::PinInvalid
                        | RvError::PinLenRange,
                    _
                ),
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    fn call(rv: RvError) -> P11Error {
        P11Error::call("t", "C_Sign", CkError::Pkcs11(rv, Function::Sign))
    }

    #[test]
    fn only_a_lost_library_reinitialises_the_module() {
        assert_eq!(
            call(RvError::CryptokiNotInitialized).recovery(),
            Recovery::Reinitialize
        );
        for rv in [
            RvError::DeviceRemoved,
            RvError::DeviceError,
            RvError::TokenNotPresent,
            RvError::SlotIdInvalid,
            RvError::GeneralError,
        ] {
            assert_eq!(call(rv).recovery(), Recovery::Rediscover, "{rv:?}");
        }
        assert_eq!(
            call(RvError::SessionHandleInvalid).recovery(),
            Recovery::Reopen { forget: true }
        );
        assert_eq!(call(RvError::PinIncorrect).recovery(), Recovery::None);
        assert!(call(RvError::PinIncorrect).is_pin_error());
        assert_eq!(P11Error::Down("x".into()).recovery(), Recovery::None);
    }
}
