//! The key service's state as the serving cores see it: every key unwrapped (in memory only),
//! the policies and the identity assignments, as of one applied sequence number. Built by the
//! replication thread from the replica (whose records hold key material only wrapped under
//! the KEK) and handed to each core whole: a core reads it without locks, and a change is
//! visible on a core's next request after the thread applied it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sigil_kes::policy::Policy;
use sigil_kes::wrap::{KeyMaterial, Wrapped};
use sigil_kes::KeyWrapper;
use sigil_shared::replication::{KesIdentityState, KesKeyState, KesPolicyState};
use sigil_storage::ReadView;

use crate::schema::cf;

/// Versions of a key tried by a decryption that names none, newest first.
pub const MAX_DECRYPT_VERSIONS: usize = 8;

/// One version of a key, unwrapped.
#[derive(Debug)]
pub struct KeyVersion {
    pub version: u32,
    pub created_at: i64,
    pub material: KeyMaterial,
}

/// A key with every version (oldest first; the newest encrypts).
#[derive(Debug)]
pub struct Key {
    pub name: String,
    pub created_at: i64,
    pub created_by: String,
    pub versions: Vec<KeyVersion>,
}

impl Key {
    /// The version that encrypts, generates and computes HMACs.
    pub fn newest(&self) -> &KeyVersion {
        self.versions
            .last()
            .expect("a key has at least one version")
    }

    /// Version `version`, if the key has it.
    pub fn version(&self, version: u32) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.version == version)
    }
}

/// A policy as stored, with its rules ready to evaluate.
#[derive(Debug)]
pub struct PolicyEntry {
    pub state: KesPolicyState,
    pub rules: Policy,
}

/// The key service's state as of `seq`.
#[derive(Debug, Default)]
pub struct Keyring {
    /// Applied sequence number of the replica when it was read.
    pub seq: u64,
    keys: HashMap<Box<str>, Arc<Key>>,
    /// Key names in order, for listing.
    names: Vec<Box<str>>,
    policies: BTreeMap<String, PolicyEntry>,
    identities: BTreeMap<String, KesIdentityState>,
    /// Keys left out because their material did not unwrap (logged when read).
    pub unusable_keys: u64,
}

impl Keyring {
    /// Reads the key service's column families of `view` and unwraps every key with `kek`.
    /// A record that does not decode or unwrap is logged and left out: its key answers
    /// "key does not exist" rather than the whole service failing.
    pub fn load<V: ReadView + ?Sized>(view: &V, kek: &dyn KeyWrapper, seq: u64) -> Self {
        let mut ring = Keyring {
            seq,
            ..Keyring::default()
        };
        scan(view, cf::KES_KEYS, |state: KesKeyState| {
            match unwrap_key(kek, &state) {
                Ok(key) => {
                    ring.keys.insert(state.name.into(), Arc::new(key));
                }
                Err(e) => {
                    ring.unusable_keys += 1;
                    tracing::error!(key = %state.name, error = %e, "KES key cannot be unwrapped; not served");
                }
            }
        });
        scan(view, cf::KES_POLICIES, |state: KesPolicyState| {
            let rules = Policy {
                allow: state.allow.iter().cloned().collect(),
                deny: state.deny.iter().cloned().collect(),
            };
            ring.policies
                .insert(state.name.clone(), PolicyEntry { state, rules });
        });
        scan(view, cf::KES_IDENTITIES, |state: KesIdentityState| {
            ring.identities.insert(state.identity.clone(), state);
        });
        let mut names: Vec<Box<str>> = ring.keys.keys().cloned().collect();
        names.sort_unstable();
        ring.names = names;
        ring
    }

    /// The key named `name` (no allocation: the lookup borrows `name`).
    pub fn key(&self, name: &str) -> Option<&Arc<Key>> {
        self.keys.get(name)
    }

    /// Key names in order.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }

    pub fn policy(&self, name: &str) -> Option<&PolicyEntry> {
        self.policies.get(name)
    }

    pub fn policies(&self) -> impl Iterator<Item = &PolicyEntry> {
        self.policies.values()
    }

    pub fn identity(&self, identity: &str) -> Option<&KesIdentityState> {
        self.identities.get(identity)
    }

    pub fn identities(&self) -> impl Iterator<Item = &KesIdentityState> {
        self.identities.values()
    }

    /// Whether `identity`'s policy allows `path` (KES: a matching deny wins, otherwise an
    /// allow must match; no policy or a deleted one allows nothing).
    pub fn allows(&self, identity: &str, path: &str) -> bool {
        self.identities
            .get(identity)
            .and_then(|i| self.policies.get(&i.policy))
            .is_some_and(|p| p.rules.allows(path))
    }
}

fn scan<T: serde::de::DeserializeOwned, V: ReadView + ?Sized>(
    view: &V,
    cf: &str,
    mut each: impl FnMut(T),
) {
    let res = view.scan(cf, &[], None, &mut |k, v| {
        match postcard::from_bytes::<T>(v) {
            Ok(t) => each(t),
            Err(e) => tracing::error!(cf, key = %String::from_utf8_lossy(k), error = %e, "undecodable key-service record; skipped"),
        }
        true
    });
    if let Err(e) = res {
        tracing::error!(cf, error = %e, "reading the key service's records failed");
    }
}

/// Unwraps every version of `state`.
fn unwrap_key(
    kek: &dyn KeyWrapper,
    state: &KesKeyState,
) -> Result<Key, sigil_kes::wrap::UnwrapError> {
    let mut versions = Vec::with_capacity(state.versions.len());
    for v in &state.versions {
        let wrapped = Wrapped {
            kek_id: v.kek_id.clone(),
            nonce: v.nonce,
            sealed: v.sealed.clone(),
        };
        versions.push(KeyVersion {
            version: v.version,
            created_at: v.created_at,
            material: kek.unwrap(&state.name, v.version, &wrapped)?,
        });
    }
    if versions.is_empty() {
        return Err(sigil_kes::wrap::UnwrapError::NotAuthentic);
    }
    versions.sort_by_key(|v| v.version);
    Ok(Key {
        name: state.name.clone(),
        created_at: state.created_at,
        created_by: state.created_by.clone(),
        versions,
    })
}
