//! What both binaries read while loading their configuration, before any port is bound: the
//! TOML file itself ([`toml_file`]), `${VAR}` secrets from the environment ([`env`]) and the PEM
//! certificate and key files the configuration names ([`pem`]), secret files only their owner
//! may read ([`secret`]). Every error names what to fix:
//! the file, the variable, or the configuration key and its file. Also the log both binaries
//! write to stderr ([`logging`]: text or JSON lines, colour only on a terminal).
//!
//! The configuration *types* are each binary's own (`sigil_controlplane::config`,
//! `sigil_dataplane::config`); this crate holds only the I/O they share.

pub mod env;
pub mod logging;
pub mod pem;
pub mod secret;
pub mod toml_file;

pub use env::{expand_env, EnvError};
pub use logging::{LogFormat, LogFormatError};
pub use pem::{certs, private_key, PemFileError};
pub use secret::{secret_file, SecretFileError};
pub use toml_file::{read_toml, TomlFileError};
