//! End-to-end tests of the replication stream (`docs/replication.md`): a subscriber written
//! with reqwest's blocking client decodes the frames with `sigil_shared`.

use std::time::{Duration, Instant};

use sigil_shared::ocsp::HashAlg;
use sigil_shared::replication::{Change, Frame, Record};
use sigil_tests::pki::ocsp_text;
use sigil_tests::stream::{current_head, describe_change, ocsp_put_for, Subscriber};
use sigil_tests::{gen_csr, ControlPlane, Issued};

/// Reads frames until a Record with `seq >= target` has been seen; returns the Records.
/// `expect_first` is the seq the first Record must have.
fn read_records_until(sub: &mut Subscriber, expect_first: u64, target: u64) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut next = expect_first;
    while next <= target {
        match sub.next(Duration::from_secs(15)) {
            Frame::Record(r) => {
                assert_eq!(
                    r.seq, next,
                    "records out of order (gap or duplicate); frames: {:#?}",
                    sub.log
                );
                next += 1;
                out.push(r);
            }
            Frame::Heartbeat { .. } => {}
            other => panic!("unexpected frame {other:?}; frames: {:#?}", sub.log),
        }
    }
    out
}

/// Issues certificates named `<prefix>-<i>` (CSRs generated first).
fn issue_many(cp: &ControlPlane, issuer: &str, prefix: &str, n: usize) -> Vec<Issued> {
    let csrs: Vec<String> = (0..n)
        .map(|i| gen_csr(&cp.work_dir(), &format!("{prefix}-{i}.example.com"), &[]))
        .collect();
    csrs.iter().map(|c| cp.issue(issuer, c)).collect()
}

fn assert_ocsp_puts(changes: &[&Change], certs: &[Issued], what: &str) {
    for c in certs {
        for alg in HashAlg::ALL {
            assert!(
                changes
                    .iter()
                    .any(|ch| ocsp_put_for(ch, &c.serial_bytes(), alg).is_some()),
                "{what}: no OcspPut for serial {} ({alg:?}); changes: {:#?}",
                c.serial,
                changes
                    .iter()
                    .map(|c| describe_change(c))
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn wrong_token_is_refused() {
    let cp = ControlPlane::start();
    let (status, _) = Subscriber::connect_with(&cp, 0, "not-the-replication-token");
    assert_eq!(status, 401, "replication stream with a wrong token");
    let (status, _) = Subscriber::connect_with(&cp, 0, sigil_tests::ADMIN_TOKEN);
    assert_eq!(status, 401, "replication stream with the admin token");
    let r = cp.request(
        "GET",
        &sigil_tests::stream::stream_path(0),
        None,
        None,
        None,
    );
    assert_eq!(
        r.status,
        401,
        "replication stream without a token: {}",
        r.text()
    );
    assert!(
        r.json()["error"].is_string(),
        "401 body is not a JSON error: {}",
        r.text()
    );
}

#[test]
fn every_record_exactly_once_across_reconnect() {
    let cp = ControlPlane::start();
    let issuer = cp.demo_issuer_id();
    let mut records: Vec<Record> = Vec::new();

    let mut sub = Subscriber::connect(&cp, 0);
    let (head0, oldest, snapshot) = sub.hello();
    println!("hello: head={head0} oldest_retained={oldest} snapshot={snapshot}");
    assert!(
        !snapshot,
        "after=0 on a fresh control plane must not need a snapshot"
    );

    let first_batch = std::thread::scope(|s| {
        let issuing = s.spawn(|| issue_many(&cp, &issuer, "first", 5));
        let mut target = None;
        let mut next = 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if target.is_none() && issuing.is_finished() {
                target = Some(current_head(&cp));
            }
            if let Some(t) = target {
                if next > t {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "did not reach head {target:?}; frames: {:#?}",
                sub.log
            );
            match sub.next_until(Instant::now() + Duration::from_millis(200)) {
                Some(Frame::Record(r)) => {
                    assert_eq!(r.seq, next, "records out of order; frames: {:#?}", sub.log);
                    next += 1;
                    records.push(r);
                }
                Some(Frame::Heartbeat { .. }) | None => {}
                Some(other) => panic!("unexpected frame {other:?}; frames: {:#?}", sub.log),
            }
        }
        issuing.join().expect("issuing thread")
    });
    drop(sub);
    let last_seen = records.last().map_or(0, |r| r.seq);
    println!(
        "first connection: {} records, last seq {last_seen}",
        records.len()
    );

    let second_batch = issue_many(&cp, &issuer, "second", 5);
    let mut sub = Subscriber::connect(&cp, last_seen);
    let (head, _, snapshot) = sub.hello();
    assert!(
        !snapshot,
        "resuming at {last_seen} (head {head}) must not need a snapshot"
    );
    assert!(
        head > last_seen,
        "head {head} did not move after 5 more issuances"
    );
    records.extend(read_records_until(&mut sub, last_seen + 1, head));

    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    let max = *seqs.last().unwrap();
    assert_eq!(
        seqs,
        (1..=max).collect::<Vec<_>>(),
        "records are not exactly 1..={max}"
    );
    assert!(max >= head, "never reached head {head}");

    let changes: Vec<&Change> = records.iter().map(|r| &r.change).collect();
    assert_ocsp_puts(&changes, &first_batch, "first batch (live)");
    assert_ocsp_puts(&changes, &second_batch, "second batch (after reconnect)");
    assert!(
        changes.iter().any(|c| matches!(c, Change::CaPut(_))),
        "no CaPut in the log"
    );
    assert!(
        changes.iter().any(|c| matches!(c, Change::CrlPut(_))),
        "no CrlPut in the log"
    );
}

#[test]
fn old_position_gets_snapshot() {
    let cp = ControlPlane::start_with_config("[replication]\nretain_records = 5\n");
    let issuer = cp.demo_issuer_id();
    let certs = issue_many(&cp, &issuer, "snap", 10);

    let mut sub = Subscriber::connect(&cp, 1);
    let (head, oldest, snapshot) = sub.hello();
    println!("hello: head={head} oldest_retained={oldest} snapshot={snapshot}");
    assert!(
        snapshot,
        "after=1 with retain_records=5 and head {head} must get a snapshot (oldest {oldest})"
    );
    let as_of = match sub.next_non_heartbeat(Duration::from_secs(10)) {
        Frame::SnapshotBegin { as_of } => as_of,
        other => panic!("expected SnapshotBegin, got {other:?}"),
    };
    let mut items: Vec<Change> = Vec::new();
    loop {
        match sub.next_non_heartbeat(Duration::from_secs(30)) {
            Frame::SnapshotItem(c) => items.push(c),
            Frame::SnapshotEnd { as_of: end } => {
                assert_eq!(
                    end, as_of,
                    "SnapshotEnd.as_of differs from SnapshotBegin.as_of"
                );
                break;
            }
            other => panic!("unexpected frame inside the snapshot: {other:?}"),
        }
    }
    println!("snapshot as of {as_of}: {} items", items.len());
    assert!(
        as_of >= head,
        "snapshot as_of {as_of} is older than the head {head} announced in Hello"
    );
    let refs: Vec<&Change> = items.iter().collect();
    assert_ocsp_puts(&refs, &certs, "snapshot");
    assert!(
        items.iter().any(|c| matches!(c, Change::CaPut(_))),
        "no CaPut in the snapshot"
    );

    let extra = issue_many(&cp, &issuer, "after-snap", 1);
    let recs = read_records_until(&mut sub, as_of + 1, as_of + 1);
    println!(
        "first record after the snapshot: seq {} {}",
        recs[0].seq,
        describe_change(&recs[0].change)
    );
    // Read on until the new certificate's responses have arrived.
    let mut changes: Vec<Change> = recs.into_iter().map(|r| r.change).collect();
    let mut next = as_of + 2;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !HashAlg::ALL.iter().all(|a| {
        changes
            .iter()
            .any(|c| ocsp_put_for(c, &extra[0].serial_bytes(), *a).is_some())
    }) {
        assert!(
            Instant::now() < deadline,
            "no OcspPut for the certificate issued after the snapshot"
        );
        changes.extend(
            read_records_until(&mut sub, next, next)
                .into_iter()
                .map(|r| r.change),
        );
        next += 1;
    }
}

#[test]
fn stream_pushes_without_polling() {
    let cp = ControlPlane::start();
    let issuer = cp.demo_issuer_id();
    let cert = &issue_many(&cp, &issuer, "push", 1)[0];
    let head = current_head(&cp);
    let mut sub = Subscriber::connect(&cp, head);
    let (h, _, snapshot) = sub.hello();
    assert!(
        !snapshot,
        "subscribing at head {head} (now {h}) must not need a snapshot"
    );

    let start = Instant::now();
    let (status, body) = cp.revoke(&cert.id, "keyCompromise");
    assert_eq!(status, 200, "revoke: {body}");
    let acked = start.elapsed();

    let serial = cert.serial_bytes();
    let deadline = start + Duration::from_secs(10);
    let (delay, der) = loop {
        let Some(frame) = sub.next_until(deadline) else {
            panic!("no revoked OcspPut within 10 s; frames: {:#?}", sub.log);
        };
        let at = start.elapsed();
        if let Frame::Record(r) = frame {
            if let Some(e) = HashAlg::ALL
                .iter()
                .find_map(|a| ocsp_put_for(&r.change, &serial, *a))
            {
                let text = ocsp_text(&cp.work_dir(), &e.der);
                if text.contains("Cert Status: revoked") {
                    break (at, e.der.clone());
                }
            }
        }
    };
    println!("revocation acknowledged after {acked:?}; revoked OcspPut received after {delay:?}");
    assert!(!der.is_empty());
    assert!(
        delay < Duration::from_secs(2),
        "revoked OcspPut took {delay:?} (limit 2 s)"
    );
}
