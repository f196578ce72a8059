//! ACME (RFC 8555) without I/O: what the control plane's ACME server (`controlplane/src/acme`)
//! parses and checks, kept apart so it can be unit-, property- and fuzz-tested alone.
//!
//! | module | what |
//! |---|---|
//! | [`jws`] | flattened JWS (RFC 7515 §7.2.2) parsing and signature verification (ES256, ES384, RS256, EdDSA) |
//! | [`jwk`] | public JWKs, their RFC 7638 thumbprints and key authorizations (§8.1) |
//! | [`messages`] | request and resource bodies (accounts, orders, authorizations, challenges) |
//! | [`problem`] | RFC 7807 problem documents with the `urn:ietf:params:acme:error:*` types (§6.7) |
//! | [`http01`] | the http-01 response check (§8.3) |
//! | [`tls_alpn`] | the tls-alpn-01 certificate check (RFC 8737) |

pub mod http01;
pub mod jwk;
pub mod jws;
pub mod messages;
pub mod problem;
pub mod tls_alpn;

pub use jwk::{key_authorization, Jwk, JwkError};
pub use jws::{Jws, JwsError, KeyRef, Protected};
pub use problem::{Problem, ProblemType};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// base64url without padding (RFC 8555 §6.1 / RFC 7515 §2).
pub fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` on anything else (padding, `+`, `/`).
pub fn b64u_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn b64u_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let s = b64u(&bytes);
            prop_assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'));
            prop_assert_eq!(b64u_decode(&s), Some(bytes));
        }
    }

    #[test]
    fn padding_is_refused() {
        assert_eq!(b64u_decode("AA=="), None);
        assert_eq!(b64u_decode("AA"), Some(vec![0]));
    }
}
