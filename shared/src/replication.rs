//! The replication stream: what the control plane pushes to data planes.
//!
//! Every change a data plane needs is a [`Change`]; the control plane appends it to its log as
//! a [`Record`] with a strictly increasing sequence number in the same write batch as the change
//! itself. On the wire the stream is a sequence of [`Frame`]s, each encoded as a 4-byte
//! big-endian length followed by that many bytes of postcard-encoded frame. See
//! `docs/replication.md` for the protocol.

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub mod digest;

use crate::ocsp::{CertIdKey, IssuerHashes};

/// Version of the frame encoding; a subscriber refuses a stream whose Hello carries another.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts (a CRL for millions of revocations fits well inside).
pub const MAX_FRAME_LEN: usize = 256 * 1024 * 1024;

/// A CA as the data plane needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaState {
    pub issuer_id: String,
    pub name: String,
    /// DER of the CA certificate.
    #[serde(with = "serde_bytes")]
    pub cert_der: Vec<u8>,
    /// Issuer name/key hashes, one entry per CertID hash algorithm.
    pub hashes: Vec<IssuerHashes>,
}

/// One pre-signed OCSP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OcspEntry {
    pub key: CertIdKey,
    pub issuer_id: String,
    /// Complete DER `OCSPResponse`.
    #[serde(with = "serde_bytes")]
    pub der: Vec<u8>,
    pub this_update: i64,
    pub next_update: i64,
}

/// A CA's current CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlEntry {
    pub issuer_id: String,
    #[serde(with = "serde_bytes")]
    pub der: Vec<u8>,
    pub number: u64,
    pub this_update: i64,
    pub next_update: i64,
}

/// A key of the KES-compatible key service as data planes need it: every version, each
/// wrapped under the fleet's key-encryption key (never the key material in the clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KesKeyState {
    pub name: String,
    /// Creation of version 1 (Unix seconds) and who created it (a KES identity or an admin
    /// API actor).
    pub created_at: i64,
    pub created_by: String,
    /// Oldest first; the newest encrypts. Version numbers start at 1 and only grow.
    pub versions: Vec<KesKeyVersion>,
}

/// One version of a [`KesKeyState`]: `sigil_kes::wrap` output and its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KesKeyVersion {
    pub version: u32,
    /// `sigil_kes::Algorithm` name (`AES256`, `ChaCha20`).
    pub algorithm: String,
    pub created_at: i64,
    /// The key-encryption key it is wrapped under, its AES-GCM nonce and sealed material
    /// (associated data: KEK id, key name, version; see `sigil_kes::wrap`).
    pub kek_id: String,
    pub nonce: [u8; 12],
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

/// A KES policy: request-path patterns allowed and denied (`sigil_kes::policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KesPolicyState {
    pub name: String,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub created_at: i64,
    pub created_by: String,
}

/// A KES identity (hex SHA-256 of a client certificate's SPKI) and the policy assigned to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KesIdentityState {
    pub identity: String,
    pub policy: String,
    pub created_at: i64,
    pub created_by: String,
}

/// An SSH user as data planes need it for `/api/authkeys` and `/api/authprinc`: never a
/// password hash or anything else only the control plane's management needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshUserState {
    pub username: String,
    /// A locked account gets no keys and no principals.
    pub locked: bool,
    /// Names (`cn`) of the groups the user belongs to.
    pub groups: Vec<String>,
    /// Principals certificates may carry for this user (`principal` of the Keyper API).
    pub principals: Vec<String>,
    pub keys: Vec<SshKeyEntry>,
    pub certs: Vec<SshCertEntry>,
}

/// One authorized public key of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKeyEntry {
    /// Stable id of this key entry (Keyper's `keyid`).
    pub key_id: String,
    pub name: String,
    /// The key as an authorized_keys line without options or comment: `type base64`.
    pub openssh: String,
    /// `SHA256:` and the unpadded base64 of SHA-256 over the key blob (OpenSSH's `%f`).
    pub fingerprint: String,
    /// End of validity (Unix seconds), or none.
    pub expires_at: Option<i64>,
    /// Names of the host groups this key is valid for; a host must share one.
    pub host_groups: Vec<String>,
}

/// An OpenSSH certificate Sigil signed for a user or a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshCertEntry {
    pub key_id: String,
    pub name: String,
    pub serial: u64,
    /// The certificate, one line: `type-cert-v01@openssh.com base64 [comment]`.
    pub openssh: String,
    /// Fingerprint of the certified public key (`SHA256:…`).
    pub fingerprint: String,
    pub principals: Vec<String>,
    pub valid_after: i64,
    pub valid_before: i64,
    pub host_groups: Vec<String>,
}

/// An SSH host: the groups it belongs to (which keys it accepts) and its certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHostState {
    pub hostname: String,
    pub groups: Vec<String>,
    pub certs: Vec<SshCertEntry>,
}

/// A group of users and hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshGroupState {
    pub name: String,
    pub description: String,
}

/// Which SSH certificate authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SshCaKind {
    User,
    Host,
}

/// The public key of an SSH CA (`/api/userca`, `/api/hostca`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshCaState {
    pub kind: SshCaKind,
    /// One line: `type base64 comment`.
    pub openssh: String,
}

/// The current OpenSSH KRL (PROTOCOL.krl), as served by `/api/krlca`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKrlState {
    /// Strictly increasing KRL version (also inside `krl`).
    pub version: u64,
    #[serde(with = "serde_bytes")]
    pub krl: Vec<u8>,
}

/// A change to replicated state. Applying the same change twice is harmless (puts overwrite,
/// deletes of missing keys are no-ops), but the sequence number makes it happen once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    CaPut(CaState),
    CaDelete { issuer_id: String },
    OcspPut(OcspEntry),
    OcspDelete { key: CertIdKey },
    CrlPut(CrlEntry),
    // The key service (issue 17). Appended: postcard encodes the variant index.
    KesKeyPut(KesKeyState),
    KesKeyDelete { name: String },
    KesPolicyPut(KesPolicyState),
    KesPolicyDelete { name: String },
    KesIdentityPut(KesIdentityState),
    KesIdentityDelete { identity: String },
    // The SSH key service (issue 18). Appended: postcard encodes the variant index.
    SshUserPut(SshUserState),
    SshUserDelete { username: String },
    SshHostPut(SshHostState),
    SshHostDelete { hostname: String },
    SshGroupPut(SshGroupState),
    SshGroupDelete { name: String },
    SshCaPut(SshCaState),
    SshKrlPut(SshKrlState),
}

/// A change with its position in the log and the time it was committed (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub committed_at: i64,
    pub change: Change,
}

/// What travels on the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// First frame. `head` is the newest committed sequence; `snapshot` tells whether a
    /// snapshot follows (the requested position was older than the retained log).
    Hello {
        version: u32,
        head: u64,
        oldest_retained: u64,
        snapshot: bool,
    },
    /// Start of a snapshot of the whole state as of sequence `as_of`: the subscriber must
    /// replace its state with the [`Frame::SnapshotItem`]s that follow.
    SnapshotBegin {
        as_of: u64,
    },
    SnapshotItem(Change),
    /// End of the snapshot: the subscriber commits its new state and `as_of` as its position.
    SnapshotEnd {
        as_of: u64,
    },
    /// A logged change, sent in sequence order without gaps.
    Record(Record),
    /// Sent when idle so the subscriber can measure lag and detect a dead connection.
    Heartbeat {
        head: u64,
        now: i64,
    },
}

#[derive(Debug, Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("undecodable frame: {0}")]
    Decode(#[from] postcard::Error),
}

impl Frame {
    /// Appends the frame with its length prefix.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        let body = postcard::to_extend(self, std::mem::take(out))?;
        *out = body;
        let len = out.len() - start - 4;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut v = Vec::new();
        self.encode_into(&mut v)?;
        Ok(v)
    }

    /// Decodes one frame from the front of `buf`: `Ok(None)` if more bytes are needed,
    /// otherwise the frame and how many bytes it used.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        if buf.len() < 4 + len {
            return Ok(None);
        }
        Ok(Some((postcard::from_bytes(&buf[4..4 + len])?, 4 + len)))
    }
}

impl Record {
    /// Encoding of a record as stored in the log (no length prefix).
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrameError> {
        Ok(postcard::to_stdvec(self)?)
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, FrameError> {
        Ok(postcard::from_bytes(b)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocsp::HashAlg;
    use proptest::prelude::*;

    fn arb_change() -> impl Strategy<Value = Change> {
        let bytes = || prop::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            (bytes(), "[a-z]{1,8}", bytes(), any::<i64>(), any::<i64>()).prop_map(
                |(k, id, der, t, n)| {
                    Change::OcspPut(OcspEntry {
                        key: CertIdKey(k),
                        issuer_id: id,
                        der,
                        this_update: t,
                        next_update: n,
                    })
                }
            ),
            bytes().prop_map(|k| Change::OcspDelete { key: CertIdKey(k) }),
            ("[a-z]{1,8}", bytes(), any::<u64>()).prop_map(|(id, der, number)| {
                Change::CrlPut(CrlEntry {
                    issuer_id: id,
                    der,
                    number,
                    this_update: 1,
                    next_update: 2,
                })
            }),
            ("[a-z]{1,8}", bytes()).prop_map(|(id, der)| Change::CaPut(CaState {
                issuer_id: id.clone(),
                name: id,
                cert_der: der.clone(),
                hashes: vec![IssuerHashes {
                    alg: HashAlg::Sha1,
                    name_hash: der.clone(),
                    key_hash: der
                }],
            })),
            "[a-z]{1,8}".prop_map(|id| Change::CaDelete { issuer_id: id }),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(changes in prop::collection::vec(arb_change(), 1..8), seq in any::<u64>()) {
            let mut wire = Vec::new();
            let frames: Vec<Frame> = changes.into_iter().enumerate().map(|(i, c)| {
                Frame::Record(Record { seq: seq.wrapping_add(i as u64), committed_at: 7, change: c })
            }).chain([Frame::Heartbeat { head: seq, now: 9 }]).collect();
            for f in &frames { f.encode_into(&mut wire).unwrap(); }
            let mut pos = 0;
            for f in &frames {
                // Feeding a prefix never yields a frame early.
                prop_assert!(Frame::decode(&wire[pos..pos + 3]).unwrap().is_none());
                let (got, used) = Frame::decode(&wire[pos..]).unwrap().unwrap();
                prop_assert_eq!(&got, f);
                pos += used;
            }
            prop_assert_eq!(pos, wire.len());
        }

        #[test]
        fn records_round_trip(c in arb_change(), seq in any::<u64>()) {
            let r = Record { seq, committed_at: 1, change: c };
            prop_assert_eq!(Record::from_bytes(&r.to_bytes().unwrap()).unwrap(), r);
        }
    }

    #[test]
    fn bytes_encode_like_sequences() {
        // `serde_bytes` fields decode in one copy instead of byte by byte; postcard writes both
        // forms identically, so records stored before the annotation still decode.
        #[derive(Serialize)]
        struct Seq(Vec<u8>);
        let data: Vec<u8> = (0..=255u8).collect();
        let as_seq = postcard::to_stdvec(&Seq(data.clone())).unwrap();
        let as_bytes = postcard::to_stdvec(&serde_bytes::ByteBuf::from(data)).unwrap();
        assert_eq!(as_seq, as_bytes);
    }

    #[test]
    fn oversized_length_is_refused() {
        let buf = [0xff, 0xff, 0xff, 0xff, 0];
        assert!(matches!(Frame::decode(&buf), Err(FrameError::TooLarge(_))));
    }
}
