//! `sigil-load`: load generator for Sigil's data plane (and later services). See
//! docs/LOADTEST.md and `sigil-load --help`.

mod cli;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use sigil_loadtest::corpus::certs::from_certificates;
use sigil_loadtest::corpus::ssh_pairs::SshPairs;
use sigil_loadtest::corpus::stream::{from_control_plane, StreamQuery};
use sigil_loadtest::corpus::synthetic::Synthetic;
use sigil_loadtest::corpus::{parse_hashes, Corpus, RequestSource};
use sigil_loadtest::engine::{self, window_seconds, Mode, RunConfig};
use sigil_loadtest::report::{self, Report, Round, Rounds};
use sigil_loadtest::scenario::{post, Authkeys, Crl, Kes, OcspGet, OcspPost, Post, Scenario};
use sigil_loadtest::target::Target;

use cli::{Cli, Command, CorpusArgs, KesCipher, ModeName, RunArgs, ScenarioName};

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(&args),
        Command::Corpus(args) => corpus(&args).map(|()| 0),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("sigil-load: {e:#}");
            std::process::exit(1);
        }
    }
}

fn corpus(a: &CorpusArgs) -> anyhow::Result<()> {
    let hashes = parse_hashes(&a.hash).map_err(anyhow::Error::msg)?;
    let corpus = if let Some(issuer) = &a.issuer {
        let id = a.issuer_ids.first().map(String::as_str);
        from_certificates(issuer, id, &a.cert, &hashes)?
    } else if let Some(url) = &a.control_plane {
        let token = a
            .token
            .as_deref()
            .context("--control-plane needs SIGIL_REPLICATION_TOKEN (or --token)")?;
        from_control_plane(&StreamQuery {
            base_url: url,
            token,
            issuers: &a.issuer_ids,
            hashes: &hashes,
            timeout: std::time::Duration::from_secs(60),
        })?
    } else if let Some(fill) = &a.fill {
        if hashes != [sigil_shared::ocsp::HashAlg::Sha1] {
            bail!("a synthetic replica's fill.json has SHA-1 issuer hashes only");
        }
        Synthetic::from_fill_json(fill)?.limit(a.count).to_corpus()
    } else {
        bail!("give one source: --issuer with --cert, --control-plane, or --fill");
    };
    corpus.write(&a.out)?;
    if a.out.as_os_str() != "-" {
        eprintln!(
            "wrote {} requests to {}",
            corpus.requests.len(),
            a.out.display()
        );
    }
    Ok(())
}

/// Random bytes from the system's CSPRNG (data keys, ivs and nonces of kes-decrypt's
/// ciphertexts, which must not repeat under the key).
fn system_random(buf: &mut [u8]) {
    aws_lc_rs::rand::fill(buf).expect("the system's random generator");
}

/// The KES scenarios: key name, items, and for kes-decrypt the key's material.
fn kes_scenario(a: &RunArgs) -> anyhow::Result<Arc<dyn Scenario>> {
    use base64::Engine as _;
    let name = a
        .kes_key
        .as_deref()
        .context("KES scenarios need --kes-key NAME")?;
    if !sigil_kes::name::valid_name(name) {
        bail!("--kes-key {name:?} is not a valid KES key name");
    }
    let items = usize::try_from(a.items.unwrap_or(1000))?;
    if items == 0 {
        bail!("--items must be at least 1");
    }
    Ok(match a.scenario {
        ScenarioName::KesDecrypt => {
            let b64 = a
                .kes_key_b64
                .as_deref()
                .context("kes-decrypt needs the key's material: --kes-key-b64 BASE64")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| <[u8; sigil_kes::KEY_SIZE]>::try_from(b).ok())
                .context("--kes-key-b64 must be 32 bytes in standard base64")?;
            let algorithm = match a.kes_cipher {
                KesCipher::Aes256 => sigil_kes::Algorithm::Aes256,
                KesCipher::Chacha20 => sigil_kes::Algorithm::ChaCha20,
            };
            let key = sigil_kes::SecretKey::new(algorithm, bytes);
            Arc::new(Kes::decrypt(name, &key, items, &mut system_random))
        }
        ScenarioName::KesEncrypt => Arc::new(Kes::encrypt(name, items, &mut system_random)),
        _ => Arc::new(Kes::generate(name, items)),
    })
}

fn scenario(a: &RunArgs) -> anyhow::Result<Arc<dyn Scenario>> {
    if matches!(
        a.scenario,
        ScenarioName::KesDecrypt | ScenarioName::KesEncrypt | ScenarioName::KesGenerate
    ) {
        return kes_scenario(a);
    }
    if a.scenario == ScenarioName::Authkeys {
        let pairs = match (&a.corpus, &a.synthetic) {
            (Some(c), _) => SshPairs::read(c)?,
            (None, Some(f)) => SshPairs::from_fill_json(f)?,
            (None, None) => bail!("authkeys needs --corpus PAIRS_FILE or --synthetic fill.json"),
        }
        .limit(a.items);
        if pairs.pairs.is_empty() {
            bail!("authkeys: no (user, host) pairs");
        }
        return Ok(Arc::new(Authkeys::new(&pairs)));
    }
    if a.scenario == ScenarioName::Post {
        let headers = a
            .headers
            .iter()
            .map(|h| post::parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        let bodies = a
            .bodies
            .iter()
            .map(|f| std::fs::read(f).with_context(|| format!("reading {}", f.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let paths = match &a.path_file {
            Some(f) => std::fs::read_to_string(f)
                .with_context(|| format!("reading {}", f.display()))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            None => vec![a.path.clone()],
        };
        return Ok(Arc::new(Post::new(
            paths,
            headers,
            bodies,
            a.expect_status,
        )?));
    }
    if a.scenario == ScenarioName::Crl {
        if a.issuer_ids.is_empty() {
            bail!("the crl scenario needs --issuer-id");
        }
        return Ok(Arc::new(Crl::new(&a.issuer_ids)));
    }
    let source: Arc<dyn RequestSource> = match (&a.corpus, &a.synthetic) {
        (Some(c), _) => {
            let corpus = Corpus::read(c)?;
            if corpus.requests.is_empty() {
                bail!("{}: no requests", c.display());
            }
            Arc::new(corpus)
        }
        (None, Some(f)) => {
            let s = Synthetic::from_fill_json(f)?.limit(a.items);
            if s.count == 0 {
                bail!("{}: no certificates", f.display());
            }
            Arc::new(s)
        }
        (None, None) => bail!("OCSP scenarios need --corpus or --synthetic"),
    };
    Ok(match a.scenario {
        ScenarioName::OcspGet => Arc::new(OcspGet::new(source)),
        _ => Arc::new(OcspPost::new(source)),
    })
}

fn run(a: &RunArgs) -> anyhow::Result<i32> {
    let mode = match (a.mode, a.rate) {
        (ModeName::Closed, None) => Mode::Closed,
        (ModeName::Closed, Some(_)) => bail!("--rate is for --mode open"),
        (ModeName::Open, Some(rate)) => Mode::Open { rate },
        (ModeName::Open, None) => bail!("--mode open needs --rate"),
    };
    if a.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let scenario = scenario(a)?;
    let target = Target::parse(&a.url)?;
    let compare = a.compare.as_deref().map(Target::parse).transpose()?;
    let any_tls = target.tls || compare.as_ref().is_some_and(|c| c.tls);
    let tls = if any_tls || a.cacert.is_some() {
        let client = a.cert.as_deref().zip(a.key.as_deref());
        Some(sigil_loadtest::tls::client_config(
            a.cacert.as_deref(),
            client,
        )?)
    } else {
        None
    };
    let seed = a.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        t.map_or(1, |d| d.as_nanos() as u64)
    });
    let base = RunConfig {
        target,
        mode,
        connections: a.connections,
        threads: a.threads,
        cpus: a.cpus.clone(),
        duration: a.duration,
        warmup: a.warmup,
        timeout: a.timeout,
        dist: a.dist,
        seed,
        tls,
        busy_poll: a.busy_poll,
    };
    let json_to_stdout = a.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let mut out: Box<dyn Write> = if json_to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let live = !a.quiet && std::io::stderr().is_terminal();
    let multi = a.rounds > 1 || compare.is_some();

    let mut runs = Vec::new();
    let mut rounds = Vec::new();
    for round in 1..=a.rounds {
        let mut cfgs = vec![base.clone()];
        if let Some(c) = &compare {
            cfgs.push(RunConfig {
                target: c.clone(),
                ..base.clone()
            });
        }
        let mut tput = Vec::new();
        for cfg in cfgs {
            let r = run_one(&cfg, &scenario, live)?;
            if multi {
                writeln!(
                    out,
                    "round {round}: {} {} req/s, p99 {}, {} errors",
                    r.target,
                    report::group(r.throughput.round() as u64),
                    report::us(r.latency_us.p99),
                    r.errors.total
                )?;
            } else {
                write!(out, "{}", r.table())?;
            }
            tput.push(r.throughput);
            runs.push(r);
        }
        let compare_throughput = tput.get(1).copied();
        rounds.push(Round {
            round,
            throughput: tput[0],
            compare_throughput,
            ratio: compare_throughput.map(|b| if b > 0.0 { tput[0] / b } else { 0.0 }),
        });
    }
    let errors: u64 = runs.iter().map(|r| r.errors.total).sum();
    let per_round = if compare.is_some() { 2 } else { 1 };
    if let Some(path) = &a.plot {
        let last: Vec<&Report> = runs[runs.len() - per_round..].iter().collect();
        let title = format!("sigil-load: {}", last[0].description);
        sigil_loadtest::plot::write_svg(path, &title, &last).map_err(anyhow::Error::msg)?;
    }
    let json = if multi {
        let all = Rounds::new(rounds, runs);
        write!(out, "{}", all.table(&a.url, a.compare.as_deref()))?;
        serde_json::to_string_pretty(&all)?
    } else {
        serde_json::to_string_pretty(&runs[0])?
    };
    if let Some(path) = &a.json {
        write_json(path, &json)?;
    }
    out.flush()?;
    Ok(if errors > 0 { 2 } else { 0 })
}

fn run_one(cfg: &RunConfig, scenario: &Arc<dyn Scenario>, live: bool) -> anyhow::Result<Report> {
    let n = window_seconds(cfg.duration);
    let mut on_second = |s: &sigil_loadtest::stats::Second| {
        if live {
            eprint!("\r\x1b[2K{}", report::progress_line(s, n));
        }
    };
    let result = engine::run(cfg, scenario.clone(), &mut on_second)?;
    if live {
        eprint!("\r\x1b[2K");
    }
    Ok(Report::new(
        cfg,
        scenario.name(),
        scenario.describe(),
        &result,
    ))
}

fn write_json(path: &Path, json: &str) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        println!("{json}");
    } else {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
