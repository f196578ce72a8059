//! Fixtures for the SSH tests: fresh keys, users, hosts, certificates, and a map behind
//! [`SshLookup`].

use std::collections::HashMap;
use std::rc::Rc;

use sigil_shared::replication::{
    SshCaKind, SshCaState, SshCertEntry, SshHostState, SshKeyEntry, SshKrlState, SshUserState,
};
use sigil_ssh::cert::{self, CertKind, CertRequest};
use sigil_ssh::krl::Krl;
use sigil_ssh::{CaAlgorithm, CaSigner, ParsedKey, SoftwareCa};

use super::directory::{Looked, ReadError, SshGlobal, SshLookup};

pub const NOW: i64 = 1_700_000_000;

/// A fresh Ed25519 public key.
pub fn fresh_key() -> ParsedKey {
    let k = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    ParsedKey::from_ssh_key(&k.public_key()).unwrap()
}

pub fn key_entry(
    key: &ParsedKey,
    id: &str,
    groups: &[&str],
    expires_at: Option<i64>,
) -> SshKeyEntry {
    SshKeyEntry {
        key_id: id.into(),
        name: id.into(),
        openssh: key.openssh.clone(),
        fingerprint: key.fingerprint.clone(),
        expires_at,
        host_groups: strings(groups),
    }
}

pub fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

pub fn user(name: &str, groups: &[&str], keys: Vec<SshKeyEntry>) -> SshUserState {
    SshUserState {
        username: name.into(),
        locked: false,
        groups: strings(groups),
        principals: vec![name.into(), "deploy".into()],
        keys,
        certs: Vec::new(),
    }
}

pub fn host(name: &str, groups: &[&str]) -> SshHostState {
    SshHostState {
        hostname: name.into(),
        groups: strings(groups),
        certs: Vec::new(),
    }
}

/// A certificate of `kind` by `ca` for a fresh key, valid NOW − 10 .. NOW + 10.
pub fn cert_entry(
    ca: &SoftwareCa,
    kind: CertKind,
    id: &str,
    serial: u64,
    groups: &[&str],
) -> SshCertEntry {
    let key = fresh_key();
    let signed = cert::sign(
        &CertRequest {
            kind,
            public_key: &key,
            serial,
            key_id: format!("{id}@sigil"),
            principals: vec!["alice".into()],
            valid_after: (NOW - 10) as u64,
            valid_before: (NOW + 10) as u64,
        },
        ca,
    )
    .unwrap();
    SshCertEntry {
        key_id: id.into(),
        name: id.into(),
        serial,
        openssh: signed.openssh,
        fingerprint: signed.fingerprint,
        principals: signed.principals,
        valid_after: NOW - 10,
        valid_before: NOW + 10,
        host_groups: strings(groups),
    }
}

pub fn ca_state(ca: &SoftwareCa, kind: SshCaKind) -> SshCaState {
    let key = ParsedKey::from_ssh_key(&ca.public_key()).unwrap();
    SshCaState {
        kind,
        openssh: format!("{} sigil-{kind:?}-ca", key.openssh),
    }
}

pub fn krl_state(krl: &Krl) -> SshKrlState {
    SshKrlState {
        version: krl.version,
        krl: krl.encode().unwrap(),
    }
}

/// Users and hosts in maps, keyed by the name they are stored under (which a test may make
/// differ from the record's own).
#[derive(Default)]
pub struct MapDir {
    pub users: HashMap<String, Rc<SshUserState>>,
    pub hosts: HashMap<String, Rc<SshHostState>>,
    pub global: Rc<SshGlobal>,
    /// Every read fails.
    pub broken: bool,
}

impl MapDir {
    pub fn add_user(&mut self, u: SshUserState) {
        self.users.insert(u.username.clone(), Rc::new(u));
    }

    pub fn add_host(&mut self, h: SshHostState) {
        self.hosts.insert(h.hostname.clone(), Rc::new(h));
    }
}

impl SshLookup for MapDir {
    fn ssh_user(&self, username: &str) -> Looked<SshUserState> {
        match self.broken {
            true => Err(ReadError),
            false => Ok(self.users.get(username).cloned()),
        }
    }

    fn ssh_host(&self, hostname: &str) -> Looked<SshHostState> {
        match self.broken {
            true => Err(ReadError),
            false => Ok(self.hosts.get(hostname).cloned()),
        }
    }

    fn ssh_global(&self) -> Result<Rc<SshGlobal>, ReadError> {
        match self.broken {
            true => Err(ReadError),
            false => Ok(self.global.clone()),
        }
    }
}
