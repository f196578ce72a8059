//! The core of Sigil's SSH key service: everything about OpenSSH keys, certificates, KRLs and
//! sshd's lookups that needs no I/O. The control plane validates keys, signs certificates and
//! writes KRLs with it; the data plane and the sshd helper (`sigil-authkeys`) answer sshd's
//! `AuthorizedKeysCommand` / `AuthorizedPrincipalsCommand` with it.
//!
//! What OpenSSH does, as facts its users rely on (OpenSSH `PROTOCOL.certkeys`,
//! `PROTOCOL.krl`, `krl.c`, `sshkey.c`, sshd(8)):
//! - [`key`]: public keys as authorized_keys lines, their blobs and SHA-256 fingerprints.
//! - [`cert`]: user and host certificates: what is signed, validity, principals, extensions.
//! - [`ca`]: CA keys — in memory ([`ca::SoftwareCa`]) or elsewhere ([`ca::ExternalCa`],
//!   raw HSM signatures turned into SSH signatures).
//! - [`krl`]: key revocation lists, written and read byte for byte as OpenSSH does.
//! - [`lookup`]: which keys and principals sshd gets for a user on a host, and the checks of
//!   the lookups' parameters.
//!
//! And what Keyper's clients send and expect: [`keyper`], its JSON shapes, DNs, dates and
//! durations.
//!
//! Randomness (CA keys, certificate nonces) comes from the operating system through
//! ssh-key's `OsRng`; [`cert::sign_with_nonce`] takes the nonce as an argument for tests.

pub mod ca;
pub mod cert;
pub mod error;
pub mod key;
pub mod keyper;
pub mod krl;
pub mod lookup;
pub mod wire;

pub use ca::{CaAlgorithm, CaSigner, ExternalCa, RawFormat, SoftwareCa};
pub use cert::{CertInfo, CertKind, CertRequest, SignedCert};
pub use error::{SignerError, SshError};
pub use key::ParsedKey;
pub use krl::{Krl, KrlError, RevokedCerts};
