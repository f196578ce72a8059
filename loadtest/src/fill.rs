//! Synthetic data-plane replicas for scale runs (`sigil-fill-replica`), written straight into a
//! replica directory the way the replication subscriber writes it: [`ReplicaDir`]'s `CURRENT`
//! layout, every record through [`sigil_dataplane::replica::apply_changes`], the applied
//! sequence number 1 — so `sigil-dp --data-dir D` serves it without a control plane.
//!
//! | module | what |
//! |---|---|
//! | [`ocsp`] | N certificates' pre-signed `good` responses (real signatures, both CertID hashes) |
//! | [`ssh`] | the SSH key service's state: users with real Ed25519 keys, hosts, groups, CAs, a KRL, and the (user, host) pairs `sigil-load --scenario authkeys` asks for |
//!
//! Both may go into the same replica (one data plane serving OCSP and `/api/authkeys`).

pub mod ocsp;
pub mod ssh;

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use sigil_dataplane::replica::{apply_changes, ReplicaDir};
use sigil_dataplane::updates::Applied;
use sigil_shared::replication::Change;
use sigil_storage::{Durability, Store, WriteBatch};

/// Opens (creating it if needed) the active replica under `data_dir`.
pub fn open_replica(data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let dir = ReplicaDir::new(data_dir, 64 << 20);
    let (_, store) = dir.open_current()?;
    Ok(store)
}

/// Writes `changes` and the applied sequence number 1 in one synced batch.
pub fn write_header(store: &dyn Store, changes: Vec<Change>) -> anyhow::Result<()> {
    let mut batch = WriteBatch::new();
    apply_changes(&mut batch, changes, Some(1), &mut Applied::default())?;
    store.write(batch, Durability::Sync)?;
    Ok(())
}

/// Makes the changes of items `0..count` on `threads` threads, `chunk` items per batch
/// (`make` returns a chunk's changes), and writes the batches as they come; `label` names
/// the items in progress lines on stderr. Returns the number of items written.
pub fn write_parallel(
    store: &dyn Store,
    count: u64,
    chunk: u64,
    threads: usize,
    label: &str,
    make: &(dyn Fn(Range<u64>) -> Vec<Change> + Sync),
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let threads = threads.max(1);
    let chunk = chunk.max(1);
    let (tx, rx) = mpsc::sync_channel::<(u64, WriteBatch)>(threads * 2);
    let next = AtomicU64::new(0);
    std::thread::scope(|s| -> anyhow::Result<u64> {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let start = next.fetch_add(chunk, Ordering::Relaxed);
                if start >= count {
                    return;
                }
                let end = (start + chunk).min(count);
                let mut batch = WriteBatch::new();
                apply_changes(&mut batch, make(start..end), None, &mut Applied::default())
                    .expect("encoding replicated records");
                if tx.send((end - start, batch)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut done = 0u64;
        for (n, batch) in rx {
            store.write(batch, Durability::Buffered)?;
            let before = done;
            done += n;
            if done / (chunk * 256) != before / (chunk * 256) {
                eprintln!(
                    "{done} {label}, {:.0}/s",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(done)
    })
}

/// The default number of filling threads: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use sigil_dataplane::schema::{applied_seq, cf};
    use sigil_dataplane::ssh::{
        answer, Endpoint, Input, Looked, ReadError, Reply, SshGlobal, SshLookup, SshView,
    };
    use sigil_shared::ocsp::{CertIdKey, HashAlg};
    use sigil_shared::replication::{OcspEntry, SshHostState, SshUserState};

    use super::ssh::SshModel;
    use super::*;
    use crate::corpus::ssh_pairs::SshPairs;
    use crate::corpus::synthetic::Synthetic;
    use crate::scenario::authkeys::key_lines;

    /// The replica as a data-plane core reads it.
    struct Core {
        view: SshView,
        store: Arc<dyn Store>,
    }

    impl SshLookup for Core {
        fn ssh_user(&self, username: &str) -> Looked<SshUserState> {
            self.view.user(&*self.store, username)
        }
        fn ssh_host(&self, hostname: &str) -> Looked<SshHostState> {
            self.view.host(&*self.store, hostname)
        }
        fn ssh_global(&self) -> Result<Rc<SshGlobal>, ReadError> {
            self.view.global(&*self.store)
        }
    }

    #[test]
    fn ocsp_and_ssh_fill_one_replica_the_data_plane_answers_from() {
        let dir = tempfile::tempdir().unwrap();
        let now = sigil_shared::time::now_unix();
        let model = SshModel {
            users: 300,
            keys: 900,
            hosts: 120,
            groups: 20,
            pairs: 500,
            ..SshModel::target(now)
        };
        let pairs_path = dir.path().join("ssh-pairs.txt");
        let (ocsp, ssh) = {
            let store = open_replica(dir.path()).unwrap();
            let alg = sigil_controlplane::crypto::KeyAlgorithm::parse("ecdsa-p256").unwrap();
            let ocsp = ocsp::fill(&*store, 10, alg, 2, now).unwrap();
            let ssh = ssh::fill(&*store, &model, 2, &pairs_path).unwrap();
            (ocsp, ssh)
        };
        // Reopened as sigil-dp opens it: CURRENT, then the replica it names.
        let store = open_replica(dir.path()).unwrap();
        assert_eq!(applied_seq(&*store), 1);

        let mut json = serde_json::Value::Object(ocsp);
        json["ssh"] = ssh;
        let synthetic = Synthetic::parse(&json.to_string()).unwrap();
        assert_eq!(synthetic.count, 10);
        for i in [0, 9] {
            let key = CertIdKey::new(
                HashAlg::Sha1,
                &synthetic.name_hash,
                &synthetic.key_hash,
                &crate::synthetic_serial(i),
            );
            let raw = store.get(cf::OCSP, &key.0).unwrap().expect("a response");
            let entry: OcspEntry = postcard::from_bytes(&raw).unwrap();
            assert_eq!((entry.key, entry.issuer_id.as_str()), (key, "fill"));
        }

        let pairs = SshPairs::read(&pairs_path).unwrap();
        assert_eq!(pairs.pairs.len(), 500);
        assert_eq!(json["ssh"]["pairs"], 500);
        let core = Core {
            view: SshView::new(1000),
            store,
        };
        let mut by_keys = [0usize; 4];
        let mut expiring = 0;
        for p in &pairs.pairs {
            let query = format!("username={}&host={}", p.username, p.host);
            let input = Input {
                query: Some(&query),
                body: None,
                content_type: None,
            };
            let Reply::Text(text) = answer(Endpoint::AuthKeys, &input, &core, now) else {
                panic!("{query}: not a text answer");
            };
            assert!(key_lines(text.as_bytes()), "{text:?}");
            let n = text.lines().count();
            assert_eq!(Some(n as u32), p.expected, "{query}: {text}");
            by_keys[n.min(3)] += 1;
            expiring += text.matches("expiry-time=").count();
        }
        // Most lookups find 1 to 3 keys; some (random hosts) none.
        assert!(by_keys[0] > 0 && by_keys[0] < 100, "{by_keys:?}");
        assert!(by_keys[1] > 0 && by_keys[2] > 0, "{by_keys:?}");
        // A third of the keys expire (and are served with the option until then).
        assert!(expiring > 0, "no expiring key served");
        let user = core.ssh_user("user000000").unwrap().unwrap();
        assert_eq!(user.keys.len(), 3);
    }
}
