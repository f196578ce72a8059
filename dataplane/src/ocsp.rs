//! Choosing the OCSP answer for a request (sans-io: request + lookup → answer). Every OCSP
//! route answers by the same rule, [`decide`]: the DER request of a POST or GET ([`select`])
//! and certctl's by-serial path ([`select_by_serial`]).

mod get_path;

pub use get_path::decode_get_path;

use std::rc::Rc;

use sigil_shared::ocsp::{decode_request_first, HashAlg, IssuerHashes, ResponseStatus};

use crate::index::{CoreIndex, Located};
use crate::render::Rendered;

/// Where pre-signed responses come from (a core's cache, index and replica, or a map in
/// tests).
pub trait OcspLookup {
    fn lookup(&self, key: &[u8]) -> Option<Found>;
}

/// A pre-signed response that was found.
#[derive(Debug, Clone)]
pub enum Found {
    /// Rendered and cached by this core.
    Rendered(Rc<Rendered>),
    /// In the index, decoded once by the lookup (headers are written when serving).
    Indexed { index: CoreIndex, entry: Located },
}

impl Found {
    pub fn next_update(&self) -> i64 {
        match self {
            Found::Rendered(r) => r.next_update,
            Found::Indexed { entry, .. } => entry.next_update,
        }
    }
}

/// Lookup keys up to this long are built on the stack: algorithm, two SHA-512-sized hashes
/// and a 63-octet serial.
const KEY_ON_STACK: usize = 192;

/// The answer to one OCSP request.
#[derive(Debug, Clone)]
pub enum Answer {
    Found(Found),
    /// An unsuccessful OCSPResponse with this status.
    Error(ResponseStatus),
}

impl Answer {
    /// The OCSPResponseStatus the answer carries (RFC 6960 §4.2.1).
    #[inline]
    pub fn status(&self) -> ResponseStatus {
        match self {
            Answer::Found(_) => ResponseStatus::Successful,
            Answer::Error(status) => *status,
        }
    }
}

/// The rule every OCSP route answers by, once the request is understood (RFC 6960 §2.3): a
/// response before its nextUpdate is served; one at or past it never is, `tryLater` instead;
/// none at all → `unauthorized` (not a certificate this responder answers for; never `good`).
#[inline]
pub fn decide(found: Option<Found>, now: i64) -> Answer {
    match found {
        Some(r) if r.next_update() > now => Answer::Found(r),
        Some(_) => Answer::Error(ResponseStatus::TryLater),
        None => Answer::Error(ResponseStatus::Unauthorized),
    }
}

/// Selects the pre-signed response for a DER request (RFC 6960 §4.1, RFC 5019 §2.1):
/// undecodable → `malformedRequest`; more than one CertID → `malformedRequest` (RFC 5019
/// clients send exactly one; a pre-signed response answers exactly one); a hash algorithm or
/// issuer we do not sign for, or an unknown serial → `unauthorized` (never `good`); a
/// response past its nextUpdate → `tryLater` (it is never served).
pub fn select(der: &[u8], lookup: &impl OcspLookup, now: i64) -> Answer {
    let Ok(req) = decode_request_first(der) else {
        return Answer::Error(ResponseStatus::MalformedRequest);
    };
    if req.count != 1 {
        return Answer::Error(ResponseStatus::MalformedRequest);
    }
    let Some(len) = req.cert.key_len() else {
        return Answer::Error(ResponseStatus::Unauthorized);
    };
    let found = with_key(len, |key| req.cert.write_key(key), |key| lookup.lookup(key));
    decide(found, now)
}

/// certctl's `GET …/ocsp/{issuer_id}/{serial_hex}` for an issuer with `hashes`: the serial is
/// the hex of its INTEGER content octets, optionally after `0x` (else `malformedRequest`);
/// the response for the SHA-256 CertID is preferred, the SHA-1 one taken otherwise; then the
/// same rule as [`select`] ([`decide`]).
pub fn select_by_serial(
    hashes: &[IssuerHashes],
    serial_hex: &str,
    lookup: &impl OcspLookup,
    now: i64,
) -> Answer {
    let mut buf = [0u8; MAX_SERIAL_HEX / 2];
    let Some(serial) = serial_from_hex(serial_hex, &mut buf) else {
        return Answer::Error(ResponseStatus::MalformedRequest);
    };
    let found = [HashAlg::Sha256, HashAlg::Sha1]
        .iter()
        .filter_map(|alg| hashes.iter().find(|h| h.alg == *alg))
        .find_map(|h| {
            with_key(
                h.key_len(serial.len()),
                |out| h.write_key(serial, out),
                |k| lookup.lookup(k),
            )
        });
    decide(found, now)
}

/// Longest serial accepted in hex (64 octets, leading zeros included).
const MAX_SERIAL_HEX: usize = 128;

/// The canonical serial (INTEGER content octets) of certctl's hex form; leading zero octets
/// are allowed and normalised away before the RFC 5280 §4.1.2.2 limit of 20 octets applies.
fn serial_from_hex<'b>(hex: &str, buf: &'b mut [u8; MAX_SERIAL_HEX / 2]) -> Option<&'b [u8]> {
    let digits = hex.trim_start_matches("0x").as_bytes();
    if digits.len() % 2 != 0 || digits.len() > MAX_SERIAL_HEX {
        return None;
    }
    let raw = &mut buf[..digits.len() / 2];
    hex::decode_to_slice(digits, raw).ok()?;
    let serial = sigil_shared::der::canonical_uint(raw).ok()?;
    (serial.len() <= 20).then_some(serial)
}

/// Calls `f` with the `len`-byte key `fill` writes. The key is on the stack (no allocation
/// per request); only a serial longer than any RFC 5280 serial (20 octets) by far needs the
/// heap.
#[inline(always)]
fn with_key<R>(len: usize, fill: impl FnOnce(&mut [u8]), f: impl FnOnce(&[u8]) -> R) -> R {
    let mut stack = [0u8; KEY_ON_STACK];
    let mut heap = Vec::new();
    let key = match stack.get_mut(..len) {
        Some(k) => k,
        None => {
            heap.resize(len, 0);
            &mut heap[..]
        }
    };
    fill(key);
    f(key)
}

#[cfg(test)]
mod tests;
