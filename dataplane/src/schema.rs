//! The replica's schema: its column families and the applied sequence number stored with every
//! batch (ARCHITECTURE.md, "Storage layout (data plane)"). Written by the replication
//! subscriber (`crate::replica`), read by the serving cores (`crate::core`) and the index
//! builder (`crate::index`).

use sigil_storage::ReadView;

/// Column families of a replica.
pub mod cf {
    /// CertID key → `OcspEntry` (postcard).
    pub const OCSP: &str = "ocsp";
    /// issuer id → `CaState`.
    pub const CAS: &str = "cas";
    /// issuer id → `CrlEntry`.
    pub const CRLS: &str = "crls";
    /// `applied_seq` → u64 BE.
    pub const META: &str = "meta";
    /// Key service (issue 17): key name → `KesKeyState` (material wrapped under the KEK).
    pub const KES_KEYS: &str = "kes_keys";
    /// policy name → `KesPolicyState`.
    pub const KES_POLICIES: &str = "kes_policies";
    /// identity → `KesIdentityState`.
    pub const KES_IDENTITIES: &str = "kes_identities";
    /// SSH key service (issue 18): username → `SshUserState`.
    pub const SSH_USERS: &str = "ssh_users";
    /// hostname → `SshHostState`.
    pub const SSH_HOSTS: &str = "ssh_hosts";
    /// group name → `SshGroupState`.
    pub const SSH_GROUPS: &str = "ssh_groups";
    /// `user` / `host` → `SshCaState`; `krl` → `SshKrlState`.
    pub const SSH_CA: &str = "ssh_ca";
    /// The relay's retained log (`[relay]`, docs/replication.md "Relays"): sequence (u64 BE)
    /// → the applied `Record` as postcard bytes, written in the batch that applies it.
    pub const RELAY_LOG: &str = "relay_log";
    pub const ALL: &[&str] = &[
        OCSP,
        CAS,
        CRLS,
        META,
        KES_KEYS,
        KES_POLICIES,
        KES_IDENTITIES,
        SSH_USERS,
        SSH_HOSTS,
        SSH_GROUPS,
        SSH_CA,
        RELAY_LOG,
    ];
    /// Keys in [`SSH_CA`].
    pub const SSH_CA_USER: &[u8] = b"user";
    pub const SSH_CA_HOST: &[u8] = b"host";
    pub const SSH_KRL: &[u8] = b"krl";
}

/// Key in [`cf::META`] of the applied sequence number (u64 BE), written in the same batch as
/// the records it covers.
pub const META_APPLIED: &[u8] = b"applied_seq";

/// The applied sequence number stored in a replica; 0 for an empty one.
pub fn applied_seq(view: &dyn ReadView) -> u64 {
    view.get(cf::META, META_APPLIED)
        .ok()
        .flatten()
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(0, u64::from_be_bytes)
}
