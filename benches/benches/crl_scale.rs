//! CRLs at scale (issue 23): the size and build time of a complete CRL with 1,000,000
//! revocations, of the same revocations over 16 shards, and of a delta CRL after 1,000 more
//! revocations (reading the base back, computing the changes, signing). P-256 CA, software key.
//!
//! Run: `cargo bench -p sigil-benches --bench crl_scale` (`SIGIL_CRL_ENTRIES` changes the
//! count). Prints a markdown table; results in docs/PERFORMANCE.md.

use std::time::Instant;

use sigil_controlplane::ca::{self, CaRuntime, NewCa};
use sigil_controlplane::crl::scope::{partition, Scope};
use sigil_controlplane::crl::{build, delta, CrlSpec, RevokedEntry};
use sigil_controlplane::crypto::KeyAlgorithm;
use sigil_controlplane::x509;
use sigil_shared::ocsp::RevocationReason;

fn ca() -> CaRuntime {
    let now = sigil_shared::time::now_unix();
    let new = NewCa {
        id: "bench".into(),
        name: "bench".into(),
        subject: x509::parse_name("CN=Bench CA,O=Sigil").unwrap(),
        key_algorithm: KeyAlgorithm::EcdsaP256,
        not_before: now - 60,
        not_after: now + 86_400 * 365,
    };
    let created = ca::create_ca(&new, None, now).unwrap();
    CaRuntime::new(created.record, created.signer).unwrap()
}

fn entries(n: usize, now: i64) -> Vec<RevokedEntry> {
    (0..n)
        .map(|i| RevokedEntry {
            serial: x509::random_serial(),
            time: now - (i as i64 % 86_400),
            reason: RevocationReason::ALL[i % 3 * 2], // unspecified, cACompromise… a mix
            remove: false,
        })
        .collect()
}

/// This thread's CPU time so far (Linux `/proc/thread-self/schedstat`), seconds: the figures
/// below are CPU time, so that other work on the machine does not inflate them.
fn cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

fn mib(b: usize) -> f64 {
    b as f64 / 1_048_576.0
}

fn main() {
    let n: usize = std::env::var("SIGIL_CRL_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let ca = ca();
    let now = sigil_shared::time::now_unix();
    let revoked = entries(n, now);
    let spec = |number| CrlSpec {
        number,
        this_update: now,
        next_update: now + 7 * 86_400,
        ..CrlSpec::default()
    };
    println!("| CRL | entries | size | build, CPU seconds (signature included) |");
    println!("|---|---:|---:|---:|");

    let t = Instant::now();
    let full = build(&ca, &spec(1), &revoked).unwrap();
    let full_time = t.elapsed();
    println!(
        "| complete | {n} | {:.1} MiB | {:.2} s |",
        mib(full.len()),
        full_time.as_secs_f64()
    );

    let shards = 16;
    let (t, c) = (Instant::now(), cpu());
    let mut sizes = Vec::new();
    let scopes: Vec<Scope> = Scope::all(&[shards]).into_iter().skip(1).collect();
    let lists = partition(&scopes, &revoked, |r| &r.serial);
    for (scope, list) in scopes.iter().zip(lists) {
        let url = scope.url("http://pki.example", "bench");
        let s = CrlSpec {
            idp: Some(&url),
            ..spec(1)
        };
        sizes.push((list.len(), build(&ca, &s, &list).unwrap().len()));
    }
    let (shard_time, shard_cpu) = (t.elapsed(), cpu() - c);
    let total: usize = sizes.iter().map(|s| s.1).sum();
    println!(
        "| {shards} shards (each) | ~{} | {:.2} MiB | {:.3} s ({shard_cpu:.2} s all {shards}, with the partition; wall {:.2} s) |",
        sizes[0].0,
        mib(total / sizes.len()),
        shard_cpu / f64::from(shards),
        shard_time.as_secs_f64()
    );

    let mut now_revoked = revoked.clone();
    now_revoked.extend(entries(1_000, now));
    let t = Instant::now();
    let listed = delta::listed(&full).unwrap();
    let read = t.elapsed();
    let changes = delta::entries(&listed, &now_revoked, now);
    let diffed = t.elapsed();
    let d = build(
        &ca,
        &CrlSpec {
            delta_of: Some(1),
            ..spec(2)
        },
        &changes,
    )
    .unwrap();
    let total_delta = t.elapsed();
    println!(
        "| delta after 1,000 more | {} | {:.1} KiB | {:.2} s (base read back {:.2} s, diff {:.2} s) |",
        changes.len(),
        d.len() as f64 / 1024.0,
        total_delta.as_secs_f64(),
        read.as_secs_f64(),
        (diffed - read).as_secs_f64()
    );
}
