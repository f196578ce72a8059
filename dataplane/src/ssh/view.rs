//! A core's SSH directory: users and hosts decoded from the replica on first use and kept in
//! bounded caches (names that are not there too, so unknown names cost one replica read per
//! eviction, not per request), and the CAs and KRL decoded once. Only this core touches it
//! (`RefCell`, no locks); `CoreState::sync` drops what the replication thread says changed.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use serde::de::DeserializeOwned;
use sigil_shared::replication::{SshCaState, SshHostState, SshKrlState, SshUserState};
use sigil_storage::Store;

use super::directory::{Looked, ReadError, SshGlobal};
use crate::schema::cf;

/// A bounded map from name to value, evicting in insertion order (no bookkeeping on hits; a
/// miss costs one replica read). Keys are client-chosen names, so the map keeps std's keyed
/// hasher.
#[derive(Debug)]
struct Fifo<V> {
    map: HashMap<Rc<str>, (V, u64)>,
    /// Insertion order; an element is live only while its generation is the map's.
    order: VecDeque<(Rc<str>, u64)>,
    generation: u64,
    max: usize,
}

impl<V: Clone> Fifo<V> {
    fn new(max: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
            max: max.max(1),
        }
    }

    fn get(&self, key: &str) -> Option<V> {
        self.map.get(key).map(|(v, _)| v.clone())
    }

    fn insert(&mut self, key: &str, value: V) {
        self.map.remove(key);
        while self.map.len() >= self.max {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|(_, g)| *g == generation) {
                self.map.remove(&old);
            }
        }
        self.generation += 1;
        let key: Rc<str> = key.into();
        self.map.insert(key.clone(), (value, self.generation));
        self.order.push_back((key, self.generation));
        if self.order.len() > 2 * self.max + 16 {
            // Stale elements left by removals: compact, so the queue stays bounded too.
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|(_, live)| live == g));
        }
    }

    fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

type Cached<T> = RefCell<Fifo<Option<Rc<T>>>>;

/// One core's SSH state.
#[derive(Debug)]
pub struct SshView {
    users: Cached<SshUserState>,
    hosts: Cached<SshHostState>,
    global: RefCell<Option<Rc<SshGlobal>>>,
}

impl SshView {
    /// Up to `max_entries` users and as many hosts.
    pub fn new(max_entries: usize) -> Self {
        Self {
            users: RefCell::new(Fifo::new(max_entries)),
            hosts: RefCell::new(Fifo::new(max_entries)),
            global: RefCell::new(None),
        }
    }

    pub fn user(&self, store: &dyn Store, username: &str) -> Looked<SshUserState> {
        cached(&self.users, store, cf::SSH_USERS, username, |u| {
            u.username == username
        })
    }

    pub fn host(&self, store: &dyn Store, hostname: &str) -> Looked<SshHostState> {
        cached(&self.hosts, store, cf::SSH_HOSTS, hostname, |h| {
            h.hostname == hostname
        })
    }

    pub fn global(&self, store: &dyn Store) -> Result<Rc<SshGlobal>, ReadError> {
        if let Some(g) = self.global.borrow().as_ref() {
            return Ok(g.clone());
        }
        let g = Rc::new(SshGlobal::of(
            read::<SshCaState>(store, cf::SSH_CA, cf::SSH_CA_USER)?,
            read::<SshCaState>(store, cf::SSH_CA, cf::SSH_CA_HOST)?,
            read::<SshKrlState>(store, cf::SSH_CA, cf::SSH_KRL)?,
        ));
        *self.global.borrow_mut() = Some(g.clone());
        Ok(g)
    }

    /// Drops what a replicated batch changed: the users and hosts it names (an entry for a
    /// name that was unknown included), and everything when a CA or the KRL changed.
    pub fn applied(&self, users: &[String], hosts: &[String], global: bool) {
        if global {
            self.clear();
            return;
        }
        let mut cache = self.users.borrow_mut();
        for u in users {
            cache.remove(u);
        }
        let mut cache = self.hosts.borrow_mut();
        for h in hosts {
            cache.remove(h);
        }
    }

    /// Drops everything (a CA or KRL change, a new replica).
    pub fn clear(&self) {
        self.users.borrow_mut().clear();
        self.hosts.borrow_mut().clear();
        *self.global.borrow_mut() = None;
    }

    /// Users and hosts cached, unknown names included.
    pub fn entries(&self) -> usize {
        self.users.borrow().len() + self.hosts.borrow().len()
    }
}

/// From the cache, else from the replica into the cache. A record that does not decode, or
/// is stored under another name than its own, counts as absent (logged).
fn cached<T: DeserializeOwned>(
    cache: &Cached<T>,
    store: &dyn Store,
    family: &str,
    name: &str,
    is_named: impl Fn(&T) -> bool,
) -> Looked<T> {
    if let Some(v) = cache.borrow().get(name) {
        return Ok(v);
    }
    let v = read::<T>(store, family, name.as_bytes())?.and_then(|t| {
        if is_named(&t) {
            Some(Rc::new(t))
        } else {
            tracing::error!(
                cf = family,
                name,
                "SSH record stored under another name; ignored"
            );
            None
        }
    });
    cache.borrow_mut().insert(name, v.clone());
    Ok(v)
}

fn read<T: DeserializeOwned>(
    store: &dyn Store,
    family: &str,
    key: &[u8],
) -> Result<Option<T>, ReadError> {
    let raw = store.get(family, key).map_err(|e| {
        tracing::error!(cf = family, error = %e, "replica read failed");
        ReadError
    })?;
    Ok(raw.and_then(|raw| match postcard::from_bytes(&raw) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(cf = family, error = %e, "SSH record does not decode; ignored");
            None
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_is_bounded_and_forgets_removed_entries() {
        let mut f = Fifo::new(3);
        for i in 0..10 {
            f.insert(&i.to_string(), i);
        }
        assert_eq!(f.len(), 3);
        assert_eq!((f.get("9"), f.get("6")), (Some(9), None));
        f.remove("9");
        assert_eq!(f.get("9"), None);
        f.insert("a", 1);
        f.insert("a", 2);
        assert_eq!((f.get("a"), f.len()), (Some(2), 3));
        for _ in 0..1000 {
            f.insert("b", 1);
            f.remove("b");
        }
        assert!(f.order.len() <= 2 * 3 + 16 + 1, "{}", f.order.len());
        f.clear();
        assert!(f.len() == 0 && f.order.is_empty());
    }
}
