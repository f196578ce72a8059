//! Fills a data-plane replica with synthetic data, written the way the replication subscriber
//! writes it, so that `sigil-dp --data-dir D` serves it without a control plane
//! (`sigil_loadtest::fill`).
//!
//! * `sigil-fill-replica --data-dir D --count 10000000`: a CA and delegated responder, and a
//!   `good` response per certificate and CertID hash, signed on every core.
//! * `sigil-fill-replica --data-dir D --ssh`: the SSH key service's state at issue 18's scale
//!   (100,000 users with 300,000 Ed25519 keys, 10,000 hosts, 1,000 groups; `--ssh-*` to
//!   change), and `D/ssh-pairs.txt`, the (user, host) pairs of `sigil-load --scenario authkeys`.
//!
//! Both together fill one replica. Writes `D/fill.json` with what a load generator needs.

use std::time::Instant;

use anyhow::bail;
use clap::Parser;
use sigil_controlplane::crypto::KeyAlgorithm;
use sigil_loadtest::fill::{self, ssh::SshModel};

#[derive(Parser, Debug)]
#[command(about = "Fill a data-plane replica with synthetic OCSP responses and/or SSH users")]
struct Args {
    /// Data-plane data directory (must not hold a replica yet).
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// Certificates with pre-signed OCSP responses.
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Filling threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value = "ecdsa-p256")]
    key_algorithm: String,
    /// Also write a synthetic SSH directory (users, keys, hosts, groups, CAs, KRL).
    #[arg(long)]
    ssh: bool,
    #[arg(long, default_value_t = 100_000, requires = "ssh")]
    ssh_users: u64,
    /// Ed25519 keys, spread evenly over the users.
    #[arg(long, default_value_t = 300_000, requires = "ssh")]
    ssh_keys: u64,
    #[arg(long, default_value_t = 10_000, requires = "ssh")]
    ssh_hosts: u64,
    #[arg(long, default_value_t = 1_000, requires = "ssh")]
    ssh_groups: u64,
    /// Groups each user belongs to; each key is valid for one or two of them.
    #[arg(long, default_value_t = 3, requires = "ssh")]
    ssh_groups_per_user: u64,
    /// Keys in the KRL (removed keys: none of the users').
    #[arg(long, default_value_t = 1_000, requires = "ssh")]
    ssh_revoked: u64,
    /// (user, host) pairs written to ssh-pairs.txt (the first --ssh-users cover every user).
    #[arg(long, default_value_t = 200_000, requires = "ssh")]
    ssh_pairs: u64,
    /// Share of the pairs with a random host (mostly no key) instead of one the user has a
    /// key for.
    #[arg(long, default_value_t = 0.1, requires = "ssh")]
    ssh_miss_share: f64,
    /// Seed of every name, key and pair.
    #[arg(long, default_value_t = 1, requires = "ssh")]
    ssh_seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.count == 0 && !args.ssh {
        bail!("nothing to fill: give --count N (OCSP responses) and/or --ssh");
    }
    let alg = KeyAlgorithm::parse(&args.key_algorithm)
        .ok_or_else(|| anyhow::anyhow!("unknown key algorithm"))?;
    let now = sigil_shared::time::now_unix();
    let threads = args.threads.unwrap_or_else(fill::default_threads);
    let started = Instant::now();
    let store = fill::open_replica(&args.data_dir)?;
    let mut info = serde_json::Map::new();
    if args.count > 0 {
        info = fill::ocsp::fill(&*store, args.count, alg, threads, now)?;
        eprintln!(
            "wrote {} certificates ({} responses) in {:.1} s",
            args.count,
            args.count * 2,
            started.elapsed().as_secs_f64()
        );
    }
    if args.ssh {
        let model = SshModel {
            users: args.ssh_users,
            keys: args.ssh_keys,
            hosts: args.ssh_hosts,
            groups: args.ssh_groups,
            groups_per_user: args.ssh_groups_per_user,
            revoked: args.ssh_revoked,
            pairs: args.ssh_pairs,
            miss_share: args.ssh_miss_share,
            seed: args.ssh_seed,
            now,
        };
        let at = Instant::now();
        let ssh = fill::ssh::fill(
            &*store,
            &model,
            threads,
            &args.data_dir.join("ssh-pairs.txt"),
        )?;
        eprintln!(
            "wrote {} SSH users ({} keys), {} hosts, {} groups and {} pairs in {:.1} s; pairs by keys answered: {}",
            model.users,
            model.keys,
            model.hosts,
            model.groups,
            model.pairs,
            at.elapsed().as_secs_f64(),
            ssh["pairs_by_answered_keys"]
        );
        info.insert("ssh".into(), ssh);
    }
    info.insert(
        "seconds".into(),
        serde_json::json!(started.elapsed().as_secs_f64()),
    );
    std::fs::write(
        args.data_dir.join("fill.json"),
        serde_json::to_vec_pretty(&info)?,
    )?;
    Ok(())
}
