//! Sigil control plane: the source of truth for CAs, certificates and revocation status.
//! It signs OCSP responses ahead of time, builds CRLs and pushes every change the data
//! plane needs over the replication stream (see ARCHITECTURE.md).
//!
//! Layers, outside in: [`cli`] and [`server`] start things; [`api`] (admin listener) and
//! [`est`] (public listener) are the protocols, thin over [`services`], which own the state
//! and its locks and commit through one path; [`jobs`] run in the background over the same
//! services. Beneath: sans-io building blocks ([`x509`], [`ocsp`], [`crl`], [`crypto`],
//! [`rbac`], [`audit`]'s chain) and the typed store ([`db`]).

pub mod acme;
pub mod api;
pub mod audit;
pub mod ca;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod crl;
pub mod crypto;
pub mod db;
pub mod est;
pub mod jobs;
pub mod metrics;
pub mod ocsp;
pub mod rbac;
pub mod replication;
pub mod scep;
pub mod server;
pub mod services;
pub mod tls;
pub mod ui;
pub mod x509;
