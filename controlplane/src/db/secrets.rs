//! The `keys` column family: the control plane's secrets, each sealed under the key-encryption
//! key (`crypto::sealed`; the store itself only sees bytes).
//!
//! | key                 | [`SecretName`]                      | sealed plaintext                     |
//! |---------------------|-------------------------------------|--------------------------------------|
//! | `ca/{id}`           | [`SecretKind::CaKey`], CA id         | PKCS#8 of a software CA key          |
//! | `responder/{id}`    | [`SecretKind::ResponderKey`], CA id  | PKCS#8 of its delegated responder    |
//! | `ssh/user-ca`       | [`SecretKind::SshCaKey`], `user`     | OpenSSH private key (software CA)    |
//! | `ssh/host-ca`       | [`SecretKind::SshCaKey`], `host`     | OpenSSH private key (software CA)    |
//! | `ssh/jwt`           | [`SecretKind::SshTokenSecret`], `keyper` | the 32-byte HS256 secret of Keyper tokens |
//! | `scep-ra/{id}`      | [`SecretKind::ScepRaKey`], CA id     | PKCS#8 of its SCEP RA's RSA key      |
//!
//! Before Sigil sealed them (data directories written before the migration) the same entries
//! held the plaintext itself; `services::secrets` rewrites them sealed at start-up.

/// What a secret is: part of the associated data it is sealed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretKind {
    CaKey,
    ResponderKey,
    SshCaKey,
    SshTokenSecret,
    ScepRaKey,
}

impl SecretKind {
    /// The kind's name in the associated data, the audit log and errors.
    pub fn label(self) -> &'static str {
        match self {
            Self::CaKey => "ca-key",
            Self::ResponderKey => "responder-key",
            Self::SshCaKey => "ssh-ca-key",
            Self::SshTokenSecret => "ssh-token-secret",
            Self::ScepRaKey => "scep-ra-key",
        }
    }
}

/// A secret's kind and id: where it is stored and what it is sealed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName {
    pub kind: SecretKind,
    pub id: String,
}

const SSH_USER_CA: &str = "ssh/user-ca";
const SSH_HOST_CA: &str = "ssh/host-ca";
const SSH_JWT: &str = "ssh/jwt";
/// The id of the one token secret.
const KEYPER: &str = "keyper";

impl SecretName {
    /// A software CA's private key.
    pub fn ca_key(issuer_id: &str) -> Self {
        Self {
            kind: SecretKind::CaKey,
            id: issuer_id.into(),
        }
    }

    /// The private key of a software CA's delegated OCSP responder.
    pub fn responder_key(issuer_id: &str) -> Self {
        Self {
            kind: SecretKind::ResponderKey,
            id: issuer_id.into(),
        }
    }

    /// A software SSH CA's private key (`user` or `host`).
    pub fn ssh_ca_key(kind: sigil_shared::replication::SshCaKind) -> Self {
        use sigil_shared::replication::SshCaKind;
        Self {
            kind: SecretKind::SshCaKey,
            id: match kind {
                SshCaKind::User => "user",
                SshCaKind::Host => "host",
            }
            .into(),
        }
    }

    /// The HS256 secret Keyper tokens are signed with.
    pub fn ssh_token_secret() -> Self {
        Self {
            kind: SecretKind::SshTokenSecret,
            id: KEYPER.into(),
        }
    }

    /// The RSA key of a CA's SCEP RA.
    pub fn scep_ra_key(issuer_id: &str) -> Self {
        Self {
            kind: SecretKind::ScepRaKey,
            id: issuer_id.into(),
        }
    }

    /// Its key in the `keys` column family.
    pub fn entry(&self) -> Vec<u8> {
        match self.kind {
            SecretKind::CaKey => format!("ca/{}", self.id).into_bytes(),
            SecretKind::ResponderKey => format!("responder/{}", self.id).into_bytes(),
            SecretKind::SshCaKey => format!("ssh/{}-ca", self.id).into_bytes(),
            SecretKind::SshTokenSecret => SSH_JWT.as_bytes().to_vec(),
            SecretKind::ScepRaKey => format!("scep-ra/{}", self.id).into_bytes(),
        }
    }

    /// The secret stored under `entry`; `None` for a key this version does not write.
    pub fn from_entry(entry: &[u8]) -> Option<Self> {
        let s = std::str::from_utf8(entry).ok()?;
        let name = |kind, id: &str| {
            (!id.is_empty()).then(|| Self {
                kind,
                id: id.into(),
            })
        };
        match s {
            SSH_USER_CA => name(SecretKind::SshCaKey, "user"),
            SSH_HOST_CA => name(SecretKind::SshCaKey, "host"),
            SSH_JWT => name(SecretKind::SshTokenSecret, KEYPER),
            _ => {
                if let Some(id) = s.strip_prefix("ca/") {
                    name(SecretKind::CaKey, id)
                } else if let Some(id) = s.strip_prefix("responder/") {
                    name(SecretKind::ResponderKey, id)
                } else if let Some(id) = s.strip_prefix("scep-ra/") {
                    name(SecretKind::ScepRaKey, id)
                } else {
                    None
                }
            }
        }
    }
}

impl std::fmt::Display for SecretName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.label(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::replication::SshCaKind;

    #[test]
    fn entries_round_trip_and_match_the_ssh_layout() {
        for name in [
            SecretName::ca_key("demo"),
            SecretName::responder_key("demo-root"),
            SecretName::ssh_ca_key(SshCaKind::User),
            SecretName::ssh_ca_key(SshCaKind::Host),
            SecretName::ssh_token_secret(),
            SecretName::scep_ra_key("demo"),
        ] {
            assert_eq!(SecretName::from_entry(&name.entry()), Some(name));
        }
        assert_eq!(
            SecretName::ssh_ca_key(SshCaKind::User).entry(),
            crate::db::ssh::KEY_USER_CA
        );
        assert_eq!(
            SecretName::ssh_ca_key(SshCaKind::Host).entry(),
            crate::db::ssh::KEY_HOST_CA
        );
        assert_eq!(
            SecretName::ssh_token_secret().entry(),
            crate::db::ssh::KEY_JWT
        );
        for unknown in [&b"ca/"[..], b"ssh/other", b"x/y", b"\xff"] {
            assert_eq!(SecretName::from_entry(unknown), None);
        }
    }
}
