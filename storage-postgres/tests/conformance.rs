//! The storage conformance suite and the PostgreSQL-specific promises, against a real
//! PostgreSQL server (Debian's, started in a temporary directory).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sigil_storage::{Durability, ReadView, Store, WriteBatch};
use sigil_storage_postgres::testing::TempPostgres;
use sigil_storage_postgres::{OpenError, PgOptions, PgStore};

static DB: AtomicUsize = AtomicUsize::new(0);

fn fresh(pg: &TempPostgres) -> String {
    let name = format!("t{}", DB.fetch_add(1, Ordering::Relaxed));
    pg.create_database(&name).unwrap();
    pg.url(&name)
}

fn open(url: &str) -> PgStore {
    PgStore::open(&PgOptions::new(url), &["a", "b"]).unwrap()
}

#[test]
fn passes_conformance_and_keeps_its_promises() {
    let pg = TempPostgres::start().unwrap();
    sigil_storage::conformance::run_all(&|cfs| {
        Box::new(PgStore::open(&PgOptions::new(fresh(&pg)), cfs).unwrap())
    });
    scans_page_in_order_and_see_one_snapshot(&pg);
    a_bulk_batch_is_one_transaction(&pg);
    writes_survive_reopening(&pg);
    nodes_starting_together_migrate_once(&pg);
    one_node_per_database(&pg);
    checked_writes_hold_across_nodes(&pg);
    a_newer_schema_is_refused(&pg);
    wrong_password_fails_fast(&pg);
}

fn scans_page_in_order_and_see_one_snapshot(pg: &TempPostgres) {
    let s = open(&fresh(pg));
    let mut b = WriteBatch::new();
    for i in 0u32..1000 {
        b.put("a", i.to_be_bytes().to_vec(), vec![1]);
    }
    s.write(b, Durability::Sync).unwrap();
    let mut seen = Vec::new();
    s.scan("a", &[], None, &mut |k, _| {
        seen.push(u32::from_be_bytes(k.try_into().unwrap()));
        if seen.len() == 1 {
            // Written while the scan runs (on another connection): not part of its view.
            let mut b = WriteBatch::new();
            b.put("a", 5000u32.to_be_bytes().to_vec(), vec![2]);
            s.write(b, Durability::Sync).unwrap();
        }
        true
    })
    .unwrap();
    assert_eq!(
        seen,
        (0..1000).collect::<Vec<_>>(),
        "every page, in order, one snapshot"
    );
    let mut n = 0;
    s.scan(
        "a",
        &300u32.to_be_bytes(),
        Some(&700u32.to_be_bytes()),
        &mut |_, _| {
            n += 1;
            true
        },
    )
    .unwrap();
    assert_eq!(n, 400);
    assert_eq!(
        s.last("a").unwrap().unwrap().0,
        5000u32.to_be_bytes().to_vec()
    );
}

fn a_bulk_batch_is_one_transaction(pg: &TempPostgres) {
    let s = open(&fresh(pg));
    let mut b = WriteBatch::new();
    for i in 0u32..10_000 {
        b.put("a", i.to_be_bytes().to_vec(), vec![0; 64]);
    }
    b.put("a", 1u32.to_be_bytes().to_vec(), b"last".to_vec());
    b.delete("a", 2u32.to_be_bytes().to_vec());
    s.write(b, Durability::Buffered).unwrap();
    assert_eq!(s.get("a", &1u32.to_be_bytes()).unwrap().unwrap(), b"last");
    assert_eq!(s.get("a", &2u32.to_be_bytes()).unwrap(), None);
    // A batch that fails part-way (a value over PostgreSQL's 1 GB field limit is not needed:
    // an unknown column family is refused before anything is sent) leaves nothing.
    let mut b = WriteBatch::new();
    b.put("b", b"x".to_vec(), b"y".to_vec());
    b.put("zz", b"x".to_vec(), b"y".to_vec());
    assert!(s.write(b, Durability::Sync).is_err());
    assert_eq!(s.get("b", b"x").unwrap(), None);
}

fn writes_survive_reopening(pg: &TempPostgres) {
    let url = fresh(pg);
    {
        let s = open(&url);
        let mut b = WriteBatch::new();
        b.put("b", b"kept".to_vec(), b"yes".to_vec());
        s.write(b, Durability::Sync).unwrap();
    }
    let s = open(&url);
    assert_eq!(s.get("b", b"kept").unwrap().unwrap(), b"yes");
}

fn nodes_starting_together_migrate_once(pg: &TempPostgres) {
    let url = fresh(pg);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut o = PgOptions::new(url);
                o.exclusive = false;
                PgStore::open(&o, &["a"]).map(|_| ())
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let db = url.rsplit('/').next().unwrap();
    let rows = pg
        .psql(
            db,
            "SELECT version FROM sigil_schema_migrations ORDER BY version",
        )
        .unwrap();
    assert_eq!(rows.trim(), "1");
}

fn one_node_per_database(pg: &TempPostgres) {
    let url = fresh(pg);
    let first = open(&url);
    let mut o = PgOptions::new(&url);
    o.connect_timeout = Duration::from_secs(1);
    let err = PgStore::open(&o, &["a", "b"]).unwrap_err();
    assert!(matches!(err, OpenError::Busy { .. }), "{err}");
    drop(first);
    // Released when the first store's lock connection closes; the wait absorbs the delay.
    o.connect_timeout = Duration::from_secs(10);
    PgStore::open(&o, &["a", "b"]).unwrap();
}

/// Two stores on one database stand for two control-plane nodes: their checked writes see
/// each other's.
fn checked_writes_hold_across_nodes(pg: &TempPostgres) {
    let url = fresh(pg);
    let nodes: Vec<PgStore> = (0..2)
        .map(|_| {
            let mut o = PgOptions::new(&url);
            o.exclusive = false;
            PgStore::open(&o, &["a", "b"]).unwrap()
        })
        .collect();
    let done = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for (i, node) in nodes.iter().enumerate() {
            for t in 0..2u8 {
                let done = &done;
                scope.spawn(move || {
                    let mut mine = 0;
                    while mine < 30 {
                        if sigil_storage::conformance::try_increment(node, &[i as u8, t]) {
                            mine += 1;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 120);
    sigil_storage::conformance::assert_counted(&nodes[1], 120);
}

fn a_newer_schema_is_refused(pg: &TempPostgres) {
    let url = fresh(pg);
    drop(open(&url));
    let db = url.rsplit('/').next().unwrap();
    pg.psql(
        db,
        "INSERT INTO sigil_schema_migrations (version, description) VALUES (99, 'future')",
    )
    .unwrap();
    let err = PgStore::open(&PgOptions::new(&url), &["a"]).unwrap_err();
    assert!(matches!(err, OpenError::Schema { .. }), "{err}");
    assert!(err.to_string().contains("version 99"), "{err}");
}

fn wrong_password_fails_fast(pg: &TempPostgres) {
    let url = pg.url("postgres").replace("sigil-test-password", "wrong");
    let started = Instant::now();
    let err = PgStore::open(&PgOptions::new(&url), &["a"]).unwrap_err();
    assert!(matches!(err, OpenError::Connect { .. }), "{err}");
    assert!(
        err.to_string().contains("28P01"),
        "the server's reason: {err}"
    );
    assert!(
        !err.to_string().contains("wrong"),
        "no password in errors: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not retried for the whole wait"
    );
}

#[test]
fn nothing_listening_gives_up_after_the_wait() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = PgOptions::new(format!("postgresql://sigil:pw@127.0.0.1:{port}/sigil"));
    o.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = PgStore::open(&o, &["a"]).unwrap_err();
    assert!(matches!(err, OpenError::Connect { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(!format!("{o:?}").contains("pw@"), "Debug hides the URL");
}

#[test]
fn bad_urls_are_refused_before_connecting() {
    for url in [
        "postgresql://[::1",
        "host=localhost port=notanumber",
        "postgresql://",
        "dbname=sigil",
    ] {
        let err = PgStore::open(&PgOptions::new(url), &["a"]).unwrap_err();
        assert!(matches!(err, OpenError::Url(_)), "{url}: {err}");
    }
}

fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_verifies_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, cn) in [
        ("ca", "sigil test PostgreSQL CA"),
        ("other", "someone else's CA"),
    ] {
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
            d,
        );
    }
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
        d,
    );
    std::fs::write(d.join("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
        d,
    );
    let pg = TempPostgres::start_tls(&d.join("server.pem"), &d.join("server.key")).unwrap();
    let url = format!("{}?sslmode=require", fresh(&pg));

    let mut o = PgOptions::new(&url);
    o.ca_file = Some(d.join("ca.pem"));
    let s = PgStore::open(&o, &["a"]).unwrap();
    let mut b = WriteBatch::new();
    b.put("a", b"over".to_vec(), b"tls".to_vec());
    s.write(b, Durability::Sync).unwrap();
    assert_eq!(s.get("a", b"over").unwrap().unwrap(), b"tls");

    let err = PgStore::open(&PgOptions::new(&url), &["a"]).unwrap_err();
    assert!(
        matches!(err, OpenError::Tls(_)),
        "require without a CA: {err}"
    );

    let mut o = PgOptions::new(&url);
    o.ca_file = Some(d.join("other.pem"));
    o.connect_timeout = Duration::from_secs(1);
    let err = PgStore::open(&o, &["a"]).unwrap_err();
    assert!(
        matches!(err, OpenError::Connect { .. }),
        "an unknown server certificate: {err}"
    );

    // The server takes TCP connections over TLS only: a client that will not do TLS is refused.
    let mut o = PgOptions::new(url.replace("sslmode=require", "sslmode=disable"));
    o.connect_timeout = Duration::from_secs(1);
    assert!(PgStore::open(&o, &["a"]).is_err());
}
