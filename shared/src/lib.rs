//! Wire and domain types shared by Sigil's control plane and data plane.
//!
//! Nothing in this crate performs I/O: it turns bytes into values and values into bytes.
//! - [`der`]: a minimal DER reader/writer used on hot paths (OCSP request decoding, response
//!   encoding) where the generic RustCrypto types would allocate too much.
//! - [`ocsp`]: OCSP request decoding and encoding, CertID keys, BasicOCSPResponse encoding
//!   (RFC 6960).
//! - [`replication`]: the replication stream's records and framing (see `docs/replication.md`).
//! - [`time`]: Unix-seconds helpers and ASN.1 time encodings.

pub mod der;
pub mod ocsp;
pub mod pem;
pub mod replication;
pub mod revocation;
pub mod time;
