//! A relay's snapshot: the replica's state rebuilt as `SnapshotItem`s from one consistent
//! view. `crate::replica::apply_changes` stores each `…Put` change's state under its key, so
//! every stored value is the change that put it; the deletions (`CaDelete`, `OcspDelete`,
//! the KES and SSH `…Delete`s) are what the state no longer holds, as in the control plane's
//! snapshot.

use sigil_shared::replication::{
    CaState, Change, CrlEntry, Frame, KesIdentityState, KesKeyState, KesPolicyState, OcspEntry,
    SshCaState, SshGroupState, SshHostState, SshKrlState, SshUserState,
};
use sigil_storage::{ReadView, Store, StoreError};

use crate::schema::{applied_seq, cf};

/// Why a snapshot was not sent whole.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("reading the replica: {0}")]
    Store(#[from] StoreError),
    #[error("undecodable {cf} value in the replica: {source}")]
    Decode {
        cf: &'static str,
        source: postcard::Error,
    },
    #[error("downstream gone")]
    Disconnected,
}

/// The state column families, in the control plane's snapshot order.
const FAMILIES: &[&str] = &[
    cf::CAS,
    cf::CRLS,
    cf::OCSP,
    cf::KES_KEYS,
    cf::KES_POLICIES,
    cf::KES_IDENTITIES,
    cf::SSH_GROUPS,
    cf::SSH_CA,
    cf::SSH_USERS,
    cf::SSH_HOSTS,
];

/// The change that put `value` under `key` of `family`.
pub fn change_of(family: &'static str, key: &[u8], value: &[u8]) -> Result<Change, SnapshotError> {
    let decode = |source| SnapshotError::Decode { cf: family, source };
    fn de<'a, T: serde::Deserialize<'a>>(v: &'a [u8]) -> Result<T, postcard::Error> {
        postcard::from_bytes(v)
    }
    Ok(match family {
        cf::CAS => Change::CaPut(de::<CaState>(value).map_err(decode)?),
        cf::CRLS => Change::CrlPut(de::<CrlEntry>(value).map_err(decode)?),
        cf::OCSP => Change::OcspPut(de::<OcspEntry>(value).map_err(decode)?),
        cf::KES_KEYS => Change::KesKeyPut(de::<KesKeyState>(value).map_err(decode)?),
        cf::KES_POLICIES => Change::KesPolicyPut(de::<KesPolicyState>(value).map_err(decode)?),
        cf::KES_IDENTITIES => {
            Change::KesIdentityPut(de::<KesIdentityState>(value).map_err(decode)?)
        }
        cf::SSH_GROUPS => Change::SshGroupPut(de::<SshGroupState>(value).map_err(decode)?),
        cf::SSH_CA if key == cf::SSH_KRL => {
            Change::SshKrlPut(de::<SshKrlState>(value).map_err(decode)?)
        }
        cf::SSH_CA => Change::SshCaPut(de::<SshCaState>(value).map_err(decode)?),
        cf::SSH_USERS => Change::SshUserPut(de::<SshUserState>(value).map_err(decode)?),
        _ => Change::SshHostPut(de::<SshHostState>(value).map_err(decode)?),
    })
}

/// Emits `SnapshotBegin`, every item and `SnapshotEnd` of `view`; `emit` returns false once
/// the downstream is gone. Returns the sequence the snapshot reflects.
pub fn emit_view(
    view: &dyn ReadView,
    emit: &mut dyn FnMut(Frame) -> bool,
) -> Result<u64, SnapshotError> {
    let as_of = applied_seq(view);
    if !emit(Frame::SnapshotBegin { as_of }) {
        return Err(SnapshotError::Disconnected);
    }
    for &family in FAMILIES {
        let mut failed = None;
        view.scan(family, &[], None, &mut |k, v| {
            match change_of(family, k, v) {
                Ok(change) => {
                    if emit(Frame::SnapshotItem(change)) {
                        return true;
                    }
                    failed = Some(SnapshotError::Disconnected);
                }
                Err(e) => failed = Some(e),
            }
            false
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    if !emit(Frame::SnapshotEnd { as_of }) {
        return Err(SnapshotError::Disconnected);
    }
    Ok(as_of)
}

/// [`emit_view`] of one RocksDB snapshot of `store`.
pub fn emit(store: &dyn Store, emit: &mut dyn FnMut(Frame) -> bool) -> Result<u64, SnapshotError> {
    let mut out = Err(SnapshotError::Disconnected);
    store.with_snapshot(&mut |view| {
        out = emit_view(view, emit);
        Ok(())
    })?;
    out
}

#[cfg(test)]
mod tests;
