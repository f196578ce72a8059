//! The replication log as the stream endpoint (`crate::replication`) and the health views see
//! it: its head and retained range, the records after a position, a consistent snapshot of
//! everything the data planes hold, and a probe that the store answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sigil_shared::ocsp::all_issuer_hashes;
use sigil_shared::replication::digest::StateDigest;
use sigil_shared::replication::{
    CaState, Change, CrlEntry, Frame, KesIdentityState, KesKeyState, KesPolicyState, OcspEntry,
    Record, SshCaState, SshKrlState,
};
use sigil_storage::ReadView;
use tokio::sync::watch;

use super::context::Context;
use super::error::Internal;
use crate::db::ssh::{SshCaRecord, SshGroupRecord, SshHostRecord, SshUserRecord};
use crate::db::{cf, decode, CaRecord, DbError, META_HEAD};
use crate::metrics::SubscriberHandle;

/// Why a snapshot was not sent whole.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("subscriber disconnected")]
    Disconnected,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// See the module documentation.
pub struct Replication {
    cx: Arc<Context>,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("head", &self.head())
            .finish()
    }
}

impl Replication {
    pub(super) fn new(cx: Arc<Context>) -> Self {
        Self { cx }
    }

    /// Newest committed sequence number.
    pub fn head(&self) -> u64 {
        self.cx.db().head()
    }

    /// Oldest sequence number still in the log (head + 1 when the log is empty).
    pub fn oldest_retained(&self) -> u64 {
        self.cx.db().oldest_retained()
    }

    /// Notified with the new head after every commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.cx.db().subscribe()
    }

    /// Up to `limit` records with sequence > `after`, in order.
    pub fn read_log(&self, after: u64, limit: usize) -> Result<Vec<Record>, Internal> {
        Ok(self.cx.db().read_log(after, limit)?)
    }

    /// The idle heartbeat interval of a stream (`replication.heartbeat_secs`).
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.cx.settings().replication.heartbeat_secs)
    }

    /// Counts a subscriber (and its position, for the lag metric) until the handle drops.
    pub fn subscriber(&self, after: u64) -> SubscriberHandle {
        self.cx.metrics().subscriber(after)
    }

    /// A read from the store, timed: how long it took and whether the database answered.
    pub fn probe(&self) -> (Duration, Result<(), Internal>) {
        let started = Instant::now();
        let read = self.cx.db().store().get(cf::META, META_HEAD);
        let answered = read
            .map(|_| ())
            .map_err(|e| Internal::from(DbError::from(e)));
        (started.elapsed(), answered)
    }

    /// Emits a snapshot of the replicated state from one consistent view of the store:
    /// `SnapshotBegin`, every CA, CRL and OCSP response, every KES key (all its versions,
    /// wrapped), policy and identity, and the SSH key service's groups, CAs (public keys),
    /// KRL, users and hosts (as data planes get them: no password hashes) as
    /// `SnapshotItem`s, `SnapshotEnd`.
    /// `emit` returns false once the subscriber is gone. Returns the sequence number the
    /// snapshot reflects.
    pub fn snapshot(&self, emit: &mut dyn FnMut(Frame) -> bool) -> Result<u64, SnapshotError> {
        let mut as_of = 0;
        let mut outcome: Result<(), SnapshotError> = Ok(());
        let store = self.cx.db().store();
        let scanned = store.with_snapshot(&mut |view: &dyn ReadView| {
            as_of = view
                .get(cf::META, META_HEAD)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map_or(0, u64::from_be_bytes);
            outcome = emit_snapshot(view, as_of, emit);
            Ok(())
        });
        scanned.map_err(|e| Internal::from(DbError::from(e)))?;
        outcome.map(|()| as_of)
    }

    /// The digest of the replicated state (per record kind: count and hash), from the same
    /// consistent view and items a snapshot sends, so a data plane that has applied
    /// everything up to `as_of` reports the same digest.
    pub fn digest(&self) -> Result<StateDigest, SnapshotError> {
        let mut digest = StateDigest::new(0);
        let mut failed = None;
        self.snapshot(&mut |frame| match frame {
            Frame::SnapshotBegin { as_of } => {
                digest = StateDigest::new(as_of);
                true
            }
            Frame::SnapshotItem(change) => match digest.add_change(&change) {
                Ok(_) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            },
            _ => true,
        })?;
        match failed {
            Some(e) => Err(SnapshotError::Internal(Internal::from(DbError::Corrupt {
                what: "snapshot item",
                detail: e.to_string(),
            }))),
            None => Ok(digest),
        }
    }
}

/// The frames of a snapshot of `view`, stopping at the first error or disconnect.
fn emit_snapshot(
    view: &dyn ReadView,
    as_of: u64,
    emit: &mut dyn FnMut(Frame) -> bool,
) -> Result<(), SnapshotError> {
    let mut failed: Option<SnapshotError> = None;
    let mut push = |frame: Result<Frame, DbError>| {
        if failed.is_some() {
            return false;
        }
        match frame {
            Ok(f) => {
                if !emit(f) {
                    failed = Some(SnapshotError::Disconnected);
                }
            }
            Err(e) => failed = Some(Internal::from(e).into()),
        }
        failed.is_none()
    };
    if push(Ok(Frame::SnapshotBegin { as_of })) {
        let cfs = [
            cf::CAS,
            cf::CRLS,
            cf::OCSP,
            cf::KES_KEYS,
            cf::KES_POLICIES,
            cf::KES_IDENTITIES,
            cf::SSH_GROUPS,
            cf::SSH_CAS,
            cf::SSH_KRL,
            cf::SSH_USERS,
            cf::SSH_HOSTS,
        ];
        for cf in cfs {
            view.scan(cf, &[], None, &mut |_, v| push(snapshot_item(cf, v)))
                .map_err(|e| Internal::from(DbError::from(e)))?;
        }
        push(Ok(Frame::SnapshotEnd { as_of }));
    }
    failed.map_or(Ok(()), Err)
}

/// The snapshot item of a stored value of `cf` (`cas`, `crls`, `ocsp`, a KES or SSH one).
fn snapshot_item(cf: &'static str, v: &[u8]) -> Result<Frame, DbError> {
    let change = match cf {
        cf::CAS => Change::CaPut(ca_state(&decode::<CaRecord>(cf, v)?)?),
        cf::CRLS => Change::CrlPut(decode::<CrlEntry>(cf, v)?),
        cf::KES_KEYS => Change::KesKeyPut(decode::<KesKeyState>(cf, v)?),
        cf::KES_POLICIES => Change::KesPolicyPut(decode::<KesPolicyState>(cf, v)?),
        cf::KES_IDENTITIES => Change::KesIdentityPut(decode::<KesIdentityState>(cf, v)?),
        cf::SSH_GROUPS => Change::SshGroupPut(decode::<SshGroupRecord>(cf, v)?.state()),
        cf::SSH_CAS => {
            let ca = decode::<SshCaRecord>(cf, v)?;
            Change::SshCaPut(SshCaState {
                kind: ca.kind,
                openssh: ca.openssh,
            })
        }
        cf::SSH_KRL => Change::SshKrlPut(decode::<SshKrlState>(cf, v)?),
        cf::SSH_USERS => Change::SshUserPut(decode::<SshUserRecord>(cf, v)?.state()),
        cf::SSH_HOSTS => Change::SshHostPut(decode::<SshHostRecord>(cf, v)?.state()),
        _ => Change::OcspPut(decode::<OcspEntry>(cf, v)?),
    };
    Ok(Frame::SnapshotItem(change))
}

/// What a data plane keeps of a CA.
fn ca_state(r: &CaRecord) -> Result<CaState, DbError> {
    let hashes = all_issuer_hashes(&r.cert_der).map_err(|e| DbError::Corrupt {
        what: "CA certificate",
        detail: e.to_string(),
    })?;
    Ok(CaState {
        issuer_id: r.id.clone(),
        name: r.name.clone(),
        cert_der: r.cert_der.clone(),
        hashes,
    })
}
