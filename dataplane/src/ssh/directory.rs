//! What the lookups read, behind [`SshLookup`] (a core's [`super::SshView`] over the replica,
//! or a map in tests): users and hosts by exact name, and the SSH state every answer shares
//! ([`SshGlobal`]: the CAs' public keys and the KRL, each decoded once).

use std::rc::Rc;

use sigil_shared::replication::{SshCaKind, SshCaState, SshHostState, SshKrlState, SshUserState};
use sigil_ssh::key::ParsedKey;
use sigil_ssh::krl::Krl;

/// The replica could not be read (logged where it happened); answered 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadError;

/// A record by name: `Ok(None)` when there is none.
pub type Looked<T> = Result<Option<Rc<T>>, ReadError>;

/// Where the SSH lookups read from.
pub trait SshLookup {
    /// The user stored under exactly `username`.
    fn ssh_user(&self, username: &str) -> Looked<SshUserState>;
    /// The host stored under exactly `hostname`.
    fn ssh_host(&self, hostname: &str) -> Looked<SshHostState>;
    fn ssh_global(&self) -> Result<Rc<SshGlobal>, ReadError>;
}

/// A CA's public key as served (`/api/userca`, `/api/hostca`) and as a KRL names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaKey {
    /// `type base64 [comment]` and `\n`.
    pub line: Rc<[u8]>,
    /// The key's wire encoding.
    pub blob: Vec<u8>,
}

impl CaKey {
    /// The stored CA, if it is the `kind` expected and its line is a valid public key (else
    /// none, logged: nothing is served that sshd could not use).
    pub fn of(state: &SshCaState, kind: SshCaKind) -> Option<CaKey> {
        if state.kind != kind {
            tracing::error!(
                ?kind,
                "replicated SSH CA stored under the other kind; ignored"
            );
            return None;
        }
        match ParsedKey::parse(&state.openssh) {
            Ok(key) => {
                let mut line = key.to_line().into_bytes();
                line.push(b'\n');
                Some(CaKey {
                    line: line.into(),
                    blob: key.blob,
                })
            }
            Err(e) => {
                tracing::error!(?kind, error = %e, "replicated SSH CA key does not parse; not served");
                None
            }
        }
    }
}

/// The KRL: its bytes as the control plane wrote them (`/api/krlca`), and decoded once for
/// the lookups.
#[derive(Debug, Clone)]
pub struct KrlData {
    pub raw: Rc<[u8]>,
    /// `None` when the bytes do not decode: the lookups then answer nothing (fail closed).
    pub decoded: Option<Krl>,
}

impl KrlData {
    pub fn of(state: SshKrlState) -> KrlData {
        let decoded = match Krl::decode(&state.krl) {
            Ok(krl) => Some(krl),
            Err(e) => {
                tracing::error!(version = state.version, error = %e,
                    "replicated KRL does not decode; SSH lookups answer no keys until a new one arrives");
                None
            }
        };
        KrlData {
            raw: state.krl.into(),
            decoded,
        }
    }
}

/// What every SSH answer shares, as of the last `ssh_global` change.
#[derive(Debug, Clone, Default)]
pub struct SshGlobal {
    pub user_ca: Option<CaKey>,
    pub host_ca: Option<CaKey>,
    pub krl: Option<KrlData>,
}

/// The replicated KRL does not decode: the lookups allow nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KrlUnreadable;

impl SshGlobal {
    pub fn of(
        user_ca: Option<SshCaState>,
        host_ca: Option<SshCaState>,
        krl: Option<SshKrlState>,
    ) -> SshGlobal {
        SshGlobal {
            user_ca: user_ca.and_then(|s| CaKey::of(&s, SshCaKind::User)),
            host_ca: host_ca.and_then(|s| CaKey::of(&s, SshCaKind::Host)),
            krl: krl.map(KrlData::of),
        }
    }

    /// The KRL the lookups check against: none yet, or the decoded one.
    pub fn krl(&self) -> Result<Option<&Krl>, KrlUnreadable> {
        match &self.krl {
            None => Ok(None),
            Some(KrlData {
                decoded: Some(k), ..
            }) => Ok(Some(k)),
            Some(_) => Err(KrlUnreadable),
        }
    }

    /// The blob of the CA of `kind`, empty when there is none (a KRL's wildcard scope).
    pub fn ca_blob(&self, kind: SshCaKind) -> &[u8] {
        let ca = match kind {
            SshCaKind::User => &self.user_ca,
            SshCaKind::Host => &self.host_ca,
        };
        ca.as_ref().map_or(&[], |c| &c.blob[..])
    }
}
