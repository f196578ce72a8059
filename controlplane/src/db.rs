//! The control plane's durable state on a [`Store`]: column families, typed records and the
//! replication log, whose records are appended in the same write batch as the change
//! ([`Db::write_group`], under `services::context::Context::commit`).
//!
//! Layout (see ARCHITECTURE.md):
//! | cf            | key                              | value                          |
//! |---------------|----------------------------------|--------------------------------|
//! | `cas`         | issuer id                        | [`CaRecord`]                   |
//! | `keys`        | `ca/{id}`, `responder/{id}`, `ssh/…` | secret sealed under the KEK (`secrets`) |
//! | `certs`       | issuer id `\0` serial            | [`CertRecord`]                 |
//! | `cert_ids`    | serial                           | issuer id                      |
//! | `revocations` | issuer id `\0` serial            | [`RevocationRecord`]           |
//! | `ocsp`        | CertIdKey                        | [`OcspEntry`]                  |
//! | `ocsp_due`    | due (u64 BE) issuer `\0` serial  | empty                          |
//! | `crls`        | issuer id                        | [`CrlEntry`]                   |
//! | `ca_settings` | issuer id                        | versioned issuer settings      |
//! | `repl_log`    | sequence (u64 BE)                | [`Record`]                     |
//! | `cert_meta`   | serial                           | [`CertMeta`]                   |
//! | `cert_lineage`| serial                           | [`CertLineage`] (renewals)     |
//! | `cert_archive`| serial                           | [`CertArchive`]                |
//! | `profiles`    | profile name                     | [`ProfileRecord`] (API-made)   |
//! | `kes_keys`    | key name                         | `KesKeyState` (wrapped only)   |
//! | `kes_policies`| policy name                      | `KesPolicyState`               |
//! | `kes_identities` | identity                      | `KesIdentityState`             |
//! | `scep`        | `ra/{issuer id}`, `req/{id}`     | [`ScepRa`], [`ScepRequest`]    |
//! | `meta`        | name                             | value                          |
//! | `acme_accounts` | account id                     | [`AcmeAccount`]                |
//! | `acme_account_keys` | JWK thumbprint (RFC 7638)  | account id                     |
//! | `acme_orders` | order id                         | [`AcmeOrder`]                  |
//! | `acme_authzs` | authorization id                 | [`AcmeAuthz`] (its challenges) |
//! | `acme_certs`  | serial                           | account id (the owner)         |

mod log_writer;
mod records;
pub mod secrets;
pub mod ssh;

pub use log_writer::LogWriter;
pub use records::*;

use std::sync::{Arc, Mutex};

use sigil_shared::replication::Record;
use sigil_storage::{ReadView, Store, StoreError};
use thiserror::Error;
use tokio::sync::watch;

pub mod cf {
    pub const CAS: &str = "cas";
    /// Secrets (`secrets::SecretName` entry → value sealed by `crypto::sealed`).
    pub const KEYS: &str = "keys";
    pub const CERTS: &str = "certs";
    pub const CERT_IDS: &str = "cert_ids";
    pub const REVOCATIONS: &str = "revocations";
    pub const OCSP: &str = "ocsp";
    pub const OCSP_DUE: &str = "ocsp_due";
    pub const CRLS: &str = "crls";
    pub const REPL_LOG: &str = "repl_log";
    pub const AUDIT: &str = "audit";
    /// One-time passwords for enrollment (id → `OtpRecord`; the secret only as a salted hash).
    pub const OTPS: &str = "otps";
    /// Facts about a certificate beside its fixed-layout record (serial → `CertMeta`).
    pub const CERT_META: &str = "cert_meta";
    /// Renewal chains (serial → `CertLineage`: renewed from, renewed by).
    pub const CERT_LINEAGE: &str = "cert_lineage";
    /// Archived certificates (serial → `CertArchive`), hidden from lists by default.
    pub const CERT_ARCHIVE: &str = "cert_archive";
    /// Issuance profiles made through the API (name → `ProfileRecord`).
    pub const PROFILES: &str = "profiles";
    /// Admin API keys (id → `ApiKeyRecord`; the secret only as a SHA-256 hash).
    pub const API_KEYS: &str = "api_keys";
    /// Mutable issuer settings (id → versioned `IssuerSettings`: enabled, name, profiles).
    pub const CA_SETTINGS: &str = "ca_settings";
    /// KES keys (name → `KesKeyState`: every version, its material wrapped under the KEK).
    pub const KES_KEYS: &str = "kes_keys";
    /// KES policies (name → `KesPolicyState`).
    pub const KES_POLICIES: &str = "kes_policies";
    /// KES identities (identity → `KesIdentityState`: the policy assigned to it).
    pub const KES_IDENTITIES: &str = "kes_identities";
    /// SSH users (name → `SshUserRecord`; the password only as a salted hash).
    pub const SSH_USERS: &str = "ssh_users";
    /// SSH hosts (name → `SshHostRecord`).
    pub const SSH_HOSTS: &str = "ssh_hosts";
    /// SSH groups (name → `SshGroupRecord`).
    pub const SSH_GROUPS: &str = "ssh_groups";
    /// The SSH CAs (`user`/`host` → `SshCaRecord`: key location and public key).
    pub const SSH_CAS: &str = "ssh_cas";
    /// The current SSH KRL (`krl` → `SshKrlState`).
    pub const SSH_KRL: &str = "ssh_krl";
    /// Revoked SSH keys (`k` ‖ SHA-256) and certificates (`s` ‖ serial).
    pub const SSH_REVOKED: &str = "ssh_revoked";
    /// SSH certificate serials in use (serial → `SerialRecord`).
    pub const SSH_SERIALS: &str = "ssh_serials";
    /// Which user holds a plain SSH key (SHA-256 → `KeyIndexRecord`).
    pub const SSH_KEY_INDEX: &str = "ssh_key_index";
    pub const META: &str = "meta";
    /// SCEP: the RA certificate of each CA that served SCEP (`ra/{issuer id}` → `ScepRa`) and
    /// requests pending approval (`req/{id}` → `ScepRequest`).
    pub const SCEP: &str = "scep";
    /// ACME accounts (id → `AcmeAccount`: key, contacts, status).
    pub const ACME_ACCOUNTS: &str = "acme_accounts";
    /// ACME account keys (RFC 7638 thumbprint → account id): one account per key.
    pub const ACME_ACCOUNT_KEYS: &str = "acme_account_keys";
    /// ACME orders (id → `AcmeOrder`).
    pub const ACME_ORDERS: &str = "acme_orders";
    /// ACME authorizations with their challenges (id → `AcmeAuthz`).
    pub const ACME_AUTHZS: &str = "acme_authzs";
    /// Certificates issued through ACME (serial → the owning account id), for revocation.
    pub const ACME_CERTS: &str = "acme_certs";
    pub const ALL: &[&str] = &[
        CAS,
        KEYS,
        CERTS,
        CERT_IDS,
        REVOCATIONS,
        OCSP,
        OCSP_DUE,
        CRLS,
        REPL_LOG,
        AUDIT,
        OTPS,
        CERT_META,
        API_KEYS,
        CA_SETTINGS,
        KES_KEYS,
        KES_POLICIES,
        KES_IDENTITIES,
        SSH_USERS,
        SSH_HOSTS,
        SSH_GROUPS,
        SSH_CAS,
        SSH_KRL,
        SSH_REVOKED,
        SSH_SERIALS,
        SSH_KEY_INDEX,
        META,
        CERT_LINEAGE,
        CERT_ARCHIVE,
        PROFILES,
        SCEP,
        ACME_ACCOUNTS,
        ACME_ACCOUNT_KEYS,
        ACME_ORDERS,
        ACME_AUTHZS,
        ACME_CERTS,
    ];
}

/// `meta` key of the newest committed sequence number.
pub const META_HEAD: &[u8] = b"repl_head";

#[derive(Debug, Error)]
pub enum DbError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("encoding: {0}")]
    Encode(String),
}

#[derive(Debug)]
struct LogState {
    head: u64,
    oldest: u64,
}

/// Typed access to the store plus the replication log's write point.
pub struct Db {
    store: Arc<dyn Store>,
    log: Mutex<LogState>,
    head_tx: watch::Sender<u64>,
    retain: u64,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("head", &self.head()).finish()
    }
}

pub fn serial_key(issuer_id: &str, serial: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(issuer_id.len() + 1 + serial.len());
    k.extend_from_slice(issuer_id.as_bytes());
    k.push(0);
    k.extend_from_slice(serial);
    k
}

pub fn issuer_prefix(issuer_id: &str) -> Vec<u8> {
    serial_key(issuer_id, &[])
}

pub fn due_key(due: i64, issuer_id: &str, serial: &[u8]) -> Vec<u8> {
    let mut k = (due.max(0) as u64).to_be_bytes().to_vec();
    k.extend_from_slice(&serial_key(issuer_id, serial));
    k
}

/// Splits a `due_key` into (due, issuer id, serial).
pub fn parse_due_key(k: &[u8]) -> Option<(i64, String, Vec<u8>)> {
    let due = i64::try_from(u64::from_be_bytes(k.get(..8)?.try_into().ok()?)).ok()?;
    let rest = &k[8..];
    let nul = rest.iter().position(|b| *b == 0)?;
    Some((
        due,
        String::from_utf8(rest[..nul].to_vec()).ok()?,
        rest[nul + 1..].to_vec(),
    ))
}

impl Db {
    /// Opens the typed layer; `retain` is the number of log records kept.
    pub fn open(store: Arc<dyn Store>, retain: u64) -> Result<Self, DbError> {
        let head = read_head(store.as_ref())?;
        let mut oldest = head + 1;
        store.scan(cf::REPL_LOG, &[], None, &mut |k, _| {
            if let Ok(b) = <[u8; 8]>::try_from(k) {
                oldest = u64::from_be_bytes(b);
            }
            false
        })?;
        let (head_tx, _) = watch::channel(head);
        Ok(Self {
            store,
            log: Mutex::new(LogState { head, oldest }),
            head_tx,
            retain: retain.max(1),
        })
    }

    /// Catches up with records that other writers sharing the store appended (other
    /// control-plane nodes on one PostgreSQL database): the head and the oldest retained
    /// record as the store has them; this node's streams are told of a new head. Returns the
    /// head.
    pub fn refresh(&self) -> Result<u64, DbError> {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let head = read_head(self.store.as_ref())?;
        if head <= log.head {
            return Ok(log.head);
        }
        let mut oldest = head + 1;
        self.store.scan(cf::REPL_LOG, &[], None, &mut |k, _| {
            if let Ok(b) = <[u8; 8]>::try_from(k) {
                oldest = u64::from_be_bytes(b);
            }
            false
        })?;
        log.head = head;
        log.oldest = oldest;
        drop(log);
        self.head_tx.send_replace(head);
        Ok(head)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Newest committed sequence number.
    pub fn head(&self) -> u64 {
        *self.head_tx.borrow()
    }

    /// Oldest sequence number still in the log (head + 1 when the log is empty).
    pub fn oldest_retained(&self) -> u64 {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).oldest
    }

    /// Notifies on every commit with the new head.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.head_tx.subscribe()
    }

    /// One commit: `batch` and `changes` through [`Db::write_group`], returning the new head
    /// (tests; the services commit several at a time).
    #[cfg(test)]
    pub fn write_replicated(
        &self,
        batch: sigil_storage::WriteBatch,
        changes: Vec<sigil_shared::replication::Change>,
    ) -> Result<u64, DbError> {
        self.write_group(|log| log.append(batch, changes))?
    }

    /// Up to `limit` log records with sequence > `after`, in order.
    pub fn read_log(&self, after: u64, limit: usize) -> Result<Vec<Record>, DbError> {
        let mut out = Vec::new();
        let mut err = None;
        self.store.scan(
            cf::REPL_LOG,
            &(after + 1).to_be_bytes(),
            None,
            &mut |_, v| {
                match Record::from_bytes(v) {
                    Ok(r) => out.push(r),
                    Err(e) => err = Some(e),
                }
                err.is_none() && out.len() < limit
            },
        )?;
        match err {
            Some(e) => Err(DbError::Corrupt {
                what: "replication record",
                detail: e.to_string(),
            }),
            None => Ok(out),
        }
    }

    pub fn get<T: serde::de::DeserializeOwned>(
        &self,
        cf: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, DbError> {
        get_from(self.store.as_ref(), cf, key)
    }

    /// Every value in `cf` under `prefix`, decoded.
    pub fn list<T: serde::de::DeserializeOwned>(
        &self,
        cf: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<T>, DbError> {
        list_from(self.store.as_ref(), cf, prefix)
    }

    pub fn get_raw(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self.store.get(cf, key)?)
    }
}

/// The newest committed sequence number as the store has it.
fn read_head(store: &dyn Store) -> Result<u64, DbError> {
    Ok(match store.get(cf::META, META_HEAD)? {
        Some(v) => u64::from_be_bytes(v.as_slice().try_into().map_err(|_| DbError::Corrupt {
            what: "replication head",
            detail: format!("{} bytes", v.len()),
        })?),
        None => 0,
    })
}

pub fn get_from<T: serde::de::DeserializeOwned>(
    view: &dyn ReadView,
    cf: &'static str,
    key: &[u8],
) -> Result<Option<T>, DbError> {
    match view.get(cf, key)? {
        Some(v) => decode(cf, &v).map(Some),
        None => Ok(None),
    }
}

pub fn list_from<T: serde::de::DeserializeOwned>(
    view: &dyn ReadView,
    cf: &'static str,
    prefix: &[u8],
) -> Result<Vec<T>, DbError> {
    let mut out = Vec::new();
    let mut err = None;
    view.scan_prefix(cf, prefix, &mut |_, v| {
        match decode(cf, v) {
            Ok(x) => out.push(x),
            Err(e) => err = Some(e),
        }
        err.is_none()
    })?;
    err.map_or(Ok(out), Err)
}

/// Encodes a stored value (postcard).
pub fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, DbError> {
    postcard::to_stdvec(v).map_err(|e| DbError::Encode(e.to_string()))
}

pub fn decode<T: serde::de::DeserializeOwned>(cf: &'static str, v: &[u8]) -> Result<T, DbError> {
    postcard::from_bytes(v).map_err(|e| DbError::Corrupt {
        what: cf,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::replication::Change;
    use sigil_storage::{MemStore, WriteBatch};

    fn db(retain: u64) -> Db {
        Db::open(Arc::new(MemStore::new(cf::ALL)), retain).unwrap()
    }

    #[test]
    fn commit_numbers_records_and_trims() {
        let d = db(3);
        let rx = d.subscribe();
        for i in 0..5 {
            let head = d
                .write_replicated(
                    WriteBatch::new(),
                    vec![Change::CaDelete {
                        issuer_id: format!("c{i}"),
                    }],
                )
                .unwrap();
            assert_eq!(head, i + 1);
        }
        assert!(rx.has_changed().unwrap());
        assert_eq!(d.oldest_retained(), 3);
        let recs = d.read_log(0, 100).unwrap();
        assert_eq!(
            recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        // Reopening recovers head and oldest from the store.
        let again = Db::open(d.store().clone(), 3).unwrap();
        assert_eq!((again.head(), again.oldest_retained()), (5, 3));
    }

    #[test]
    fn empty_change_list_does_not_advance() {
        let d = db(10);
        assert_eq!(d.write_replicated(WriteBatch::new(), vec![]).unwrap(), 0);
        assert_eq!(d.oldest_retained(), 1);
    }

    #[test]
    fn due_keys_sort_by_time_and_parse() {
        let a = due_key(5, "ca", &[1, 2]);
        let b = due_key(300, "a", &[0]);
        assert!(a < b);
        assert_eq!(parse_due_key(&a), Some((5, "ca".into(), vec![1, 2])));
    }
}
