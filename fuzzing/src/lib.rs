//! The bodies of Sigil's fuzz targets: one `pub fn <target>(data: &[u8])` per parser of
//! outside bytes. `fuzz/fuzz_targets/<target>.rs` (cargo fuzz, nightly) is a one-line
//! `fuzz_target!` calling it, and `tests/replay.rs` (stable, `cargo test`) feeds every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through the same function, so
//! what the fuzzer found stays tested without a fuzzer.
//!
//! Each target panics (an `assert!`) when an invariant breaks, not only when the parser
//! does: decoded input re-encodes and decodes to the same value, what one entry point accepts
//! the other agrees with, and so on. Targets are deterministic: an input either passes or
//! fails, in the fuzzer and in the replay alike.
//!
//! | module | targets |
//! |---|---|
//! | [`ocsp`] | `ocsp_request`, `ocsp_get_path`, `ocsp_response_times`, `ocsp_splice` |
//! | [`replication`] | `replication_frame` |
//! | [`http`] | `http_requests` (the data plane's request framing, pipelined) |
//! | [`est`] | `est_body`, `csr` |
//! | [`scep`] | `scep_message` |
//! | [`acme`] | `acme_jws` (JWS bodies, JWKs, http-01 answers, tls-alpn-01 certificates, identifiers) |
//! | [`kes`] | `kes_ciphertext`, `kes_policy`, `kes_request` |
//! | [`ssh`] | `ssh_public_key`, `ssh_cert`, `ssh_krl`, `ssh_lookup` |
//! | [`authkeys`] | `authkeys_answer` |
//! | [`config`] | `config_toml`, `config_files` |

pub mod acme;
pub mod authkeys;
pub mod config;
pub mod est;
pub mod http;
pub mod kes;
pub mod ocsp;
pub mod replication;
pub mod scep;
pub mod ssh;

pub use acme::acme_jws;
pub use authkeys::authkeys_answer;
pub use config::{config_files, config_toml};
pub use est::{csr, est_body};
pub use http::http_requests;
pub use kes::{kes_ciphertext, kes_policy, kes_request};
pub use ocsp::{ocsp_get_path, ocsp_request, ocsp_response_times, ocsp_splice};
pub use replication::replication_frame;
pub use scep::scep_message;
pub use ssh::{ssh_cert, ssh_krl, ssh_lookup, ssh_public_key};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target by name: the names of `fuzz/Cargo.toml`'s binaries and of the corpus folders.
pub const TARGETS: &[(&str, Target)] = &[
    ("ocsp_request", ocsp_request),
    ("ocsp_get_path", ocsp_get_path),
    ("ocsp_response_times", ocsp_response_times),
    ("ocsp_splice", ocsp_splice),
    ("replication_frame", replication_frame),
    ("http_requests", http_requests),
    ("est_body", est_body),
    ("csr", csr),
    ("scep_message", scep_message),
    ("acme_jws", acme_jws),
    ("kes_ciphertext", kes_ciphertext),
    ("kes_policy", kes_policy),
    ("kes_request", kes_request),
    ("ssh_public_key", ssh_public_key),
    ("ssh_cert", ssh_cert),
    ("ssh_krl", ssh_krl),
    ("ssh_lookup", ssh_lookup),
    ("authkeys_answer", authkeys_answer),
    ("config_toml", config_toml),
    ("config_files", config_files),
];
