//! Control-plane node loss on PostgreSQL (docs/STORAGE.md "Active and standby"): two `sigil-cp`
//! on one database (a throwaway PostgreSQL cluster), the second a standby that binds nothing
//! while the first holds the node lock. The active node is `kill -9`ed: the standby takes over
//! within seconds, with every certificate the first acknowledged; a data plane given both URLs
//! fails over to it and serves what the new node revokes and issues. The failover time is
//! printed.

use std::time::{Duration, Instant};

use sigil_storage_postgres::testing::TempPostgres;
use sigil_tests::dp::{cp_head, ocsp_request, wait_for, DataPlane};
use sigil_tests::pki::ocsp_verify;
use sigil_tests::{gen_csr, ControlPlane};

fn served(dp: &DataPlane, req: &[u8], files: &sigil_tests::CertFiles) -> String {
    let r = dp.post_ocsp("/", req);
    if r.status != 200 {
        return format!("HTTP {}", r.status);
    }
    ocsp_verify(&dp.work_dir(), &r.body, files, "sha1").1
}

#[test]
fn a_standby_takes_over_when_the_active_node_dies() {
    if sigil_tests::storage::is_postgres() {
        // It starts its own cluster; once per suite is enough.
        println!("runs in the RocksDB pass (it brings its own PostgreSQL)");
        return;
    }
    let pg = TempPostgres::start().expect("PostgreSQL (scripts/setup-debian.sh installs it)");
    pg.create_database("failover").unwrap();
    let url = pg.url("failover");
    let storage = "[storage]\nbackend = \"postgres\"\npostgres_standby = true\n";
    let mut active = ControlPlane::start_with(Some(storage), &[("SIGIL_POSTGRES_URL", &url)], true);
    let kek = active.kek_file();
    let mut standby = ControlPlane::spawn_on_database(
        &format!(
            "{storage}[secrets]\nkek_file = {:?}\n",
            kek.to_str().unwrap()
        ),
        &url,
    );
    let issuer = active.demo_issuer_id();
    let dir = active.work_dir();
    let first = active.issue(&issuer, &gen_csr(&dir, "before.example.com", &[]));
    let first_files = first.write(&dir, "before");
    let first_req = ocsp_request(&dir, &first_files, false);

    // The standby waits without binding: nothing answers on its port.
    std::thread::sleep(Duration::from_secs(2));
    assert!(standby.await_healthy(Duration::from_millis(500)).is_err());
    assert!(
        standby.logs().contains("standby"),
        "the standby says it waits:\n{}",
        standby.logs()
    );

    let dp = DataPlane::start(&format!("{},{}", active.url(""), standby.url("")));
    wait_for(
        Duration::from_secs(20),
        "the first certificate on the data plane",
        || {
            served(&dp, &first_req, &first_files)
                .contains(": good")
                .then_some(())
        },
    );

    active.kill9();
    let killed = Instant::now();
    standby
        .await_healthy(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the standby did not take over: {e}\n{}", standby.logs()));
    let took = killed.elapsed();
    println!(
        "failover: the standby served /health {:.1} s after kill -9 of the active node",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(20), "{took:?}");

    // Everything the first node acknowledged is there; the new node revokes and issues.
    let (status, _) = standby.api("GET", &format!("/api/v1/certificates/{}", first.id), None);
    assert_eq!(status, 200);
    let (status, body) = standby.revoke(&first.id, "keyCompromise");
    assert_eq!(status, 200, "{body}");
    let second = standby.issue(&issuer, &gen_csr(&dir, "after.example.com", &[]));
    let second_files = second.write(&dir, "after");
    let second_req = ocsp_request(&dir, &second_files, false);
    let head = cp_head(&standby);

    // The data plane moved to the new node and follows it, without a gap.
    let moved = Instant::now();
    wait_for(
        Duration::from_secs(60),
        "the data plane on the new node",
        || (dp.metric("sigil_dp_replication_applied_sequence") as u64 >= head).then_some(()),
    );
    println!(
        "the data plane applied the new node's head {:.1} s later",
        moved.elapsed().as_secs_f64()
    );
    assert!(served(&dp, &first_req, &first_files).contains(": revoked"));
    assert!(served(&dp, &second_req, &second_files).contains(": good"));
    assert_eq!(dp.metric("sigil_dp_replication_failovers_total"), 1.0);
    assert_eq!(
        dp.metric("sigil_dp_replication_snapshots_total"),
        0.0,
        "resumed, no snapshot"
    );
    let (s, audit) = standby.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(s, 200);
    assert_eq!(
        audit["valid"], true,
        "one audit chain across both nodes: {audit}"
    );
}
