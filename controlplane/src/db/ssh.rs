//! Stored records of the SSH key service (postcard), and what of them the data planes get
//! (`sigil_shared::replication::Ssh*State`: never a password hash, a profile field or an
//! index).
//!
//! | cf              | key                                   | value                  |
//! |-----------------|---------------------------------------|------------------------|
//! | `ssh_users`     | user name                             | [`SshUserRecord`]      |
//! | `ssh_hosts`     | host name                             | [`SshHostRecord`]      |
//! | `ssh_groups`    | group name                            | [`SshGroupRecord`]     |
//! | `ssh_cas`       | `user`, `host`                        | [`SshCaRecord`]        |
//! | `ssh_krl`       | `krl`                                 | `SshKrlState`          |
//! | `ssh_revoked`   | `k` ‖ SHA-256 of a key blob           | [`RevokedKeyRecord`]   |
//! |                 | `s` ‖ serial (u64 BE)                 | [`RevokedCertRecord`]  |
//! | `ssh_serials`   | serial (u64 BE), both CAs             | [`SerialRecord`]       |
//! | `ssh_key_index` | SHA-256 of a user's key blob          | [`KeyIndexRecord`]     |
//! | `keys`          | `ssh/user-ca`, `ssh/host-ca`          | OpenSSH private key (software CAs), sealed |
//! |                 | `ssh/jwt`                             | 32-byte token secret, sealed |
//! | `meta`          | `ssh_krl_version`                     | u64 BE, the newest KRL version |

use serde::{Deserialize, Serialize};
use sigil_shared::replication::{
    SshCaKind, SshCertEntry, SshGroupState, SshHostState, SshKeyEntry, SshUserState,
};
use sigil_ssh::keyper::DurationUnit;
use sigil_ssh::CaAlgorithm;

use super::KeyRef;

/// `keys` entry of the user CA's OpenSSH private key (software CAs).
pub const KEY_USER_CA: &[u8] = b"ssh/user-ca";
/// `keys` entry of the host CA's OpenSSH private key (software CAs).
pub const KEY_HOST_CA: &[u8] = b"ssh/host-ca";
/// `keys` entry of the HS256 secret of Keyper tokens.
pub const KEY_JWT: &[u8] = b"ssh/jwt";
/// `meta` entry of the newest KRL version.
pub const META_KRL_VERSION: &[u8] = b"ssh_krl_version";
/// `meta` entry every SSH change gives a new value: the fence that makes SSH changes serial
/// across control-plane nodes (`services::ssh::Ssh::serially`).
pub const META_SSH_VERSION: &[u8] = b"ssh_version";
/// `ssh_krl` key of the current KRL.
pub const KRL_KEY: &[u8] = b"krl";

/// `ssh_cas` key of a CA.
pub fn ca_key(kind: SshCaKind) -> &'static [u8] {
    match kind {
        SshCaKind::User => b"user",
        SshCaKind::Host => b"host",
    }
}

/// `ssh_revoked` key of a revoked plain key.
pub fn revoked_key_key(sha256: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'k');
    k.extend_from_slice(sha256);
    k
}

/// `ssh_revoked` key of a revoked certificate.
pub fn revoked_cert_key(serial: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b's');
    k.extend_from_slice(&serial.to_be_bytes());
    k
}

/// A salted PBKDF2-HMAC-SHA256 password hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    pub iterations: u32,
    pub salt: [u8; 16],
    pub hash: [u8; 32],
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// A certificate Sigil signed, with the public key it certifies (Keyper shows it as `key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshCertRecord {
    pub entry: SshCertEntry,
    /// `type base64`.
    pub public_key: String,
}

/// A Keyper user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshUserRecord {
    pub username: String,
    pub given_name: String,
    pub sn: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub locked: bool,
    /// Group names, sorted.
    pub groups: Vec<String>,
    pub principals: Vec<String>,
    /// Certificate validity (`duration` × `durationUnit`).
    pub duration: u64,
    pub duration_unit: DurationUnit,
    pub password: Option<PasswordHash>,
    pub keys: Vec<SshKeyEntry>,
    pub certs: Vec<SshCertRecord>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SshUserRecord {
    /// What data planes get.
    pub fn state(&self) -> SshUserState {
        SshUserState {
            username: self.username.clone(),
            locked: self.locked,
            groups: self.groups.clone(),
            principals: self.principals.clone(),
            keys: self.keys.clone(),
            certs: self.certs.iter().map(|c| c.entry.clone()).collect(),
        }
    }
}

/// A Keyper host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHostRecord {
    pub hostname: String,
    pub description: String,
    /// Group names, sorted.
    pub groups: Vec<String>,
    /// Principals beside the host name in its certificates.
    pub principals: Vec<String>,
    /// User names (Keyper's `owners`).
    pub owners: Vec<String>,
    pub duration: u64,
    pub duration_unit: DurationUnit,
    pub certs: Vec<SshCertRecord>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SshHostRecord {
    /// What data planes get.
    pub fn state(&self) -> SshHostState {
        SshHostState {
            hostname: self.hostname.clone(),
            groups: self.groups.clone(),
            certs: self.certs.iter().map(|c| c.entry.clone()).collect(),
        }
    }
}

/// A group; its members are the users and hosts naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshGroupRecord {
    pub name: String,
    pub description: String,
    /// The host whose creation made this group (Keyper's per-host group); deleted with it.
    pub autocreated_for: Option<String>,
    pub created_at: i64,
}

impl SshGroupRecord {
    pub fn state(&self) -> SshGroupState {
        SshGroupState {
            name: self.name.clone(),
            description: self.description.clone(),
        }
    }
}

/// An SSH certificate authority: where its key lives and its public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshCaRecord {
    pub kind: SshCaKind,
    pub algorithm: CaAlgorithm,
    /// `Software`: OpenSSH private key in `keys` ([`KEY_USER_CA`], [`KEY_HOST_CA`]);
    /// `Pkcs11`: the token key labelled `key_label`.
    pub key: KeyRef,
    /// DER SubjectPublicKeyInfo of a PKCS#11 key (checked against the token's); empty for
    /// software keys.
    #[serde(with = "serde_bytes")]
    pub spki: Vec<u8>,
    /// `type base64 comment`.
    pub openssh: String,
    pub fingerprint: String,
    pub created_at: i64,
}

/// Who a revoked key or certificate belonged to: `user:<name>` or `host:<name>`.
pub fn owner(kind: SshCaKind, name: &str) -> String {
    match kind {
        SshCaKind::User => format!("user:{name}"),
        SshCaKind::Host => format!("host:{name}"),
    }
}

/// A revoked plain key (listed in the KRL by SHA-256, forever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedKeyRecord {
    pub fingerprint: String,
    pub owner: String,
    pub key_id: String,
    pub revoked_at: i64,
}

/// A revoked certificate (listed in the KRL by serial under its CA until it expires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedCertRecord {
    pub kind: SshCaKind,
    pub serial: u64,
    pub owner: String,
    pub key_id: String,
    pub valid_before: i64,
    pub revoked_at: i64,
}

/// A certificate serial in use (serials are unique across both CAs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialRecord {
    pub kind: SshCaKind,
    pub owner: String,
    pub key_id: String,
}

/// The user holding a plain key (a key belongs to one user at most).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyIndexRecord {
    pub username: String,
    pub key_id: String,
}
