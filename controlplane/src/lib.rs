//! Sigil control plane: the source of truth for CAs, certificates and revocation status.
//! It signs OCSP responses ahead of time, builds CRLs and pushes every change the data
//! plane needs over the replication stream (see ARCHITECTURE.md).

pub mod api;
pub mod audit;
pub mod authority;
pub mod ca;
pub mod config;
pub mod crl;
pub mod crypto;
pub mod db;
pub mod est;
pub mod metrics;
pub mod ocsp;
pub mod rbac;
pub mod replication;
pub mod server;
pub mod tls;
pub mod x509;
