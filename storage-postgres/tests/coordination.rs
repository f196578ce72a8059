//! Several control-plane nodes on one database (issue 21), each a `PgStore` here: a lease has
//! one holder among them and is lost with its connection; one node's writes wake the others'
//! listeners, never its own.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigil_storage::{Durability, Expect, Store, StoreError, WriteBatch};
use sigil_storage_postgres::testing::TempPostgres;
use sigil_storage_postgres::{PgOptions, PgStore};

static DB: AtomicUsize = AtomicUsize::new(0);

/// A new database: its name and its URL.
fn fresh(pg: &TempPostgres) -> (String, String) {
    let name = format!("c{}", DB.fetch_add(1, Ordering::Relaxed));
    pg.create_database(&name).unwrap();
    let url = pg.url(&name);
    (name, url)
}

/// One node of several on the database (no node lock).
fn node(url: &str, notify_writes: bool) -> PgStore {
    let mut o = PgOptions::new(url);
    o.exclusive = false;
    o.notify_writes = notify_writes;
    PgStore::open(&o, &["a"]).unwrap()
}

fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The lock rows of lease `name` as `pg_locks` shows the two-`int4` advisory form: `classid` is
/// the first key (the store's lease class, 0x5347_4C31), `objid` the second (as an oid, so
/// `hashtext`'s negative values wrap), `objsubid` 2.
fn lease_locks(name: &str) -> String {
    format!(
        "FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = {} \
         AND objid = hashtext('{name}')::oid AND objsubid = 2 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        0x5347_4C31u32
    )
}

fn lease_holders(pg: &TempPostgres, db: &str, name: &str) -> Vec<u32> {
    pg.psql(db, &format!("SELECT pid {}", lease_locks(name)))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

fn put(s: &PgStore, key: &str) {
    let mut b = WriteBatch::new();
    b.put("a", key.as_bytes().to_vec(), b"v".to_vec());
    s.write(b, Durability::Sync).unwrap();
}

#[test]
fn nodes_share_leases_and_hear_each_others_writes() {
    let pg = TempPostgres::start().unwrap();
    one_holder_among_nodes(&pg);
    a_lease_ends_with_its_connection(&pg);
    a_stalled_holder_loses_its_lease(&pg);
    other_nodes_writes_wake_the_listener(&pg);
}

fn one_holder_among_nodes(pg: &TempPostgres) {
    let (db, url) = fresh(pg);
    let (a, b) = (node(&url, false), node(&url, false));
    let held = a.try_lease("jobs").unwrap().expect("a free lease is taken");
    assert!(held.is_held());
    assert!(b.try_lease("jobs").unwrap().is_none(), "A holds it");
    let other = b.try_lease("other").unwrap().expect("another name is free");
    assert_eq!(lease_holders(pg, &db, "jobs").len(), 1);
    drop(held);
    let mut taken = None;
    eventually(
        "B takes the lease A dropped",
        Duration::from_secs(5),
        || {
            taken = b.try_lease("jobs").unwrap();
            taken.is_some()
        },
    );
    assert!(taken.as_ref().unwrap().is_held() && other.is_held());
    assert!(a.try_lease("jobs").unwrap().is_none(), "B holds it now");
    drop(taken);
    drop(other);
    assert!(
        lease_holders(pg, &db, "jobs").is_empty() && lease_holders(pg, &db, "other").is_empty(),
        "a dropped lease is unlocked by the time the drop returns"
    );
}

/// A holder whose connection the server ends (a network cut, an operator) loses the lease, and
/// another node can take it.
fn a_lease_ends_with_its_connection(pg: &TempPostgres) {
    let (db, url) = fresh(pg);
    let (a, b) = (node(&url, false), node(&url, false));
    let held = a.try_lease("jobs").unwrap().unwrap();
    assert!(b.try_lease("jobs").unwrap().is_none());
    let ended = pg
        .psql(
            &db,
            &format!(
                "SELECT count(pg_terminate_backend(pid)) {}",
                lease_locks("jobs")
            ),
        )
        .unwrap();
    assert_eq!(ended.trim(), "1", "one backend held the lease");
    eventually("A sees its lease lost", Duration::from_secs(5), || {
        !held.is_held()
    });
    eventually("B takes the lease", Duration::from_secs(5), || {
        b.try_lease("jobs").unwrap().is_some()
    });
}

/// Sends SIGCONT to the backend when dropped (also when the test fails while it is stopped).
struct Stopped(u32);

impl Stopped {
    fn stop(pid: u32) -> Self {
        signal("-STOP", pid);
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(sig: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

/// A holding connection that still exists but no longer answers (a stalled server or path:
/// here its backend is stopped) loses the lease by the health check, before TCP would tell.
fn a_stalled_holder_loses_its_lease(pg: &TempPostgres) {
    let (db, url) = fresh(pg);
    let (a, b) = (node(&url, false), node(&url, false));
    let held = a.try_lease("jobs").unwrap().unwrap();
    let pids = lease_holders(pg, &db, "jobs");
    assert_eq!(pids.len(), 1);
    let stopped = Stopped::stop(pids[0]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(held.is_held(), "not lost before a health check times out");
    eventually(
        "the health check declares it lost",
        Duration::from_secs(6),
        || !held.is_held(),
    );
    drop(stopped);
    drop(held);
    eventually(
        "B takes it once A let it go",
        Duration::from_secs(5),
        || b.try_lease("jobs").unwrap().is_some(),
    );
}

fn listeners(pg: &TempPostgres, db: &str) -> String {
    pg.psql(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND query = 'LISTEN sigil_kv_writes' AND pid <> pg_backend_pid()",
    )
    .unwrap()
    .trim()
    .to_string()
}

fn other_nodes_writes_wake_the_listener(pg: &TempPostgres) {
    let (db, url) = fresh(pg);
    let (a, b) = (node(&url, true), node(&url, true));
    let quiet = node(&url, false);
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    let watching = b
        .watch_writes(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    assert!(watching, "PostgreSQL has other writers to watch for");
    let count = || wakes.load(Ordering::SeqCst);
    eventually(
        "a first wake once listening",
        Duration::from_secs(3),
        || count() >= 1,
    );

    let before = count();
    put(&a, "from-a");
    eventually("A's write wakes B", Duration::from_secs(3), || {
        count() > before
    });

    std::thread::sleep(Duration::from_millis(300));
    let before = count();
    put(&b, "from-b");
    // A write that does not happen (its precondition fails) is not announced.
    let mut batch = WriteBatch::new();
    batch.put("a", b"never".to_vec(), b"v".to_vec());
    let expect = [Expect {
        cf: "a",
        key: b"from-a".to_vec(),
        value: None,
    }];
    let refused = a.write_checked(&expect, batch, Durability::Sync);
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    // Nor is the write of a node that does not announce its writes.
    put(&quiet, "from-quiet");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        count(),
        before,
        "no wake for B's own write or for unannounced ones"
    );

    // The listening connection ends: B listens again, wakes (writes may have gone unheard
    // meanwhile) and hears A's writes again.
    assert_eq!(listeners(pg, &db), "1");
    let ended = pg
        .psql(
            &db,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND query = 'LISTEN sigil_kv_writes' \
             AND pid <> pg_backend_pid()",
        )
        .unwrap();
    assert_eq!(ended.trim(), "1");
    eventually(
        "B wakes once listening again",
        Duration::from_secs(5),
        || count() > before,
    );
    eventually("one listener again", Duration::from_secs(5), || {
        listeners(pg, &db) == "1"
    });
    let before = count();
    put(&a, "again");
    eventually("A's write wakes B again", Duration::from_secs(3), || {
        count() > before
    });

    drop(b);
    eventually(
        "the listener goes with its store",
        Duration::from_secs(5),
        || listeners(pg, &db) == "0",
    );
}
