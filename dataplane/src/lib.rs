//! Sigil data plane: serves pre-signed OCSP responses, CRLs and CA certificates from a local
//! replica of the control plane's state, one pinned monoio runtime per core (see
//! ARCHITECTURE.md).

pub mod answer;
pub mod blocking_stream;
pub mod cache;
pub mod config;
pub mod core;
pub mod http;
pub mod index;
pub mod kes;
pub mod ocsp;
pub mod ops;
pub mod relay;
pub mod render;
pub mod replica;
pub mod routes;
pub mod runtime;
pub mod schema;
pub mod setup;
pub mod ssh;
pub mod stats;
pub mod tls;
pub mod updates;
