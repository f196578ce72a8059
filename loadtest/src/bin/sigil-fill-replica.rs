//! Fills a data-plane replica with N synthetic certificates' OCSP responses.
//!
//! `sigil-fill-replica --data-dir D --count 10000000` creates a CA and delegated responder,
//! signs a `good` response per certificate and CertID hash on every core, and writes them
//! (with the CA, its CRL-less state and an applied sequence of 1) the way the replication
//! subscriber would. Writes `D/fill.json` with what a load generator needs to build requests.

use std::sync::mpsc;
use std::time::Instant;

use clap::Parser;
use sigil_controlplane::ca::{self, CaRuntime, NewCa};
use sigil_controlplane::crypto::KeyAlgorithm;
use sigil_controlplane::db::CertState;
use sigil_controlplane::ocsp::sign_responses;
use sigil_controlplane::x509;
use sigil_dataplane::replica::{apply_changes, ReplicaDir};
use sigil_dataplane::updates::Applied;
use sigil_loadtest::synthetic_serial;
use sigil_shared::ocsp::HashAlg;
use sigil_shared::replication::Change;
use sigil_storage::{Durability, WriteBatch};

#[derive(Parser, Debug)]
struct Args {
    /// Data-plane data directory (must not hold a replica yet).
    #[arg(long)]
    data_dir: std::path::PathBuf,
    #[arg(long)]
    count: u64,
    /// Signing threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value = "ecdsa-p256")]
    key_algorithm: String,
}

const CHUNK: u64 = 4096;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let alg = KeyAlgorithm::parse(&args.key_algorithm)
        .ok_or_else(|| anyhow::anyhow!("unknown key algorithm"))?;
    let now = sigil_shared::time::now_unix();
    let new = NewCa {
        id: "fill".into(),
        name: "fill".into(),
        subject: x509::parse_name("CN=Sigil Fill CA")?,
        key_algorithm: alg,
        not_before: now - 3600,
        not_after: now + 365 * 86_400,
    };
    let created = ca::create_ca(&new, None, now)?;
    let rt = CaRuntime::new(created.record, created.signer)?;
    let (_, responder, _) = ca::issue_responder(&rt, 14, now)?;

    let dir = ReplicaDir::new(&args.data_dir, 64 << 20);
    let (_, store) = dir.open_current()?;
    let mut batch = WriteBatch::new();
    apply_changes(
        &mut batch,
        [Change::CaPut(rt.state())],
        Some(1),
        &mut Applied::default(),
    )?;
    store.write(batch, Durability::Sync)?;

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let started = Instant::now();
    let (tx, rx) = mpsc::sync_channel::<WriteBatch>(threads * 2);
    let next = std::sync::atomic::AtomicU64::new(0);
    let written = std::thread::scope(|s| -> anyhow::Result<u64> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (rt, responder, next) = (&rt, &responder, &next);
            let count = args.count;
            s.spawn(move || loop {
                let start = next.fetch_add(CHUNK, std::sync::atomic::Ordering::Relaxed);
                if start >= count {
                    return;
                }
                let mut batch = WriteBatch::new();
                let mut changes = Vec::with_capacity(2 * CHUNK as usize);
                for i in start..(start + CHUNK).min(count) {
                    let entries = sign_responses(
                        rt,
                        responder,
                        &synthetic_serial(i),
                        CertState::Active,
                        now,
                        96 * 3600,
                        &HashAlg::ALL,
                    )
                    .expect("signing with a software key");
                    changes.extend(entries.into_iter().map(Change::OcspPut));
                }
                apply_changes(&mut batch, changes, None, &mut Applied::default())
                    .expect("encoding");
                if tx.send(batch).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut done = 0u64;
        for batch in rx {
            done += batch.len() as u64 / 2;
            store.write(batch, Durability::Buffered)?;
            if done % (CHUNK * 256) < CHUNK {
                eprintln!(
                    "{done} certificates, {:.0}/s",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(done)
    })?;
    let h = rt.hashes_for(HashAlg::Sha1);
    let info = serde_json::json!({
        "issuer_id": "fill",
        "count": args.count,
        "sha1_name_hash": hex::encode(&h.name_hash),
        "sha1_key_hash": hex::encode(&h.key_hash),
        "serial_base": "1000000000000000",
        "ca_pem": x509::cert_pem(&rt.record.cert_der),
        "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(
        args.data_dir.join("fill.json"),
        serde_json::to_vec_pretty(&info)?,
    )?;
    eprintln!(
        "wrote {written} certificates ({} responses) in {:.1} s",
        written * 2,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
