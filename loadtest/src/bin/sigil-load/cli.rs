//! Command line of `sigil-load`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sigil_loadtest::dist::Dist;

#[derive(Parser, Debug)]
#[command(
    name = "sigil-load",
    version,
    about = "HTTP/1.1 load generator for Sigil (OCSP, CRL, KES, SSH): open and closed loop, TLS, HDR latency",
    long_about = "HTTP/1.1 load generator for Sigil (OCSP, CRL, KES, SSH): open and closed loop, \
                  TLS, HDR latency.\n\nExit status: 0 when every request succeeded, 2 when some failed \
                  (see the errors by kind), 1 when the run could not be made.\n\nSee \
                  docs/LOADTEST.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load a server and report throughput, latency and errors.
    Run(Box<RunArgs>),
    /// Write a corpus of OCSP requests (one base64 DER request per line).
    Corpus(CorpusArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScenarioName {
    /// OCSP over POST (`application/ocsp-request`).
    OcspPost,
    /// OCSP over GET (`/{base64}`).
    OcspGet,
    /// CRL download (`/crl/{issuer}.crl`).
    Crl,
    /// KES decrypt (`PUT /v1/key/decrypt/{name}`) of data keys encrypted here with
    /// --kes-key-b64.
    KesDecrypt,
    /// KES encrypt (`PUT /v1/key/encrypt/{name}`) of 32-byte data keys.
    KesEncrypt,
    /// KES generate (`PUT /v1/key/generate/{name}`): a data key and its ciphertext.
    KesGenerate,
    /// SSH authorized keys (`GET /api/authkeys?username=…&host=…`) over (user, host) pairs:
    /// --corpus PAIRS_FILE or --synthetic fill.json (of `sigil-fill-replica --ssh`).
    Authkeys,
    /// `POST --path` with a body from a --body file (one item per file), the --header
    /// headers, answered with --expect-status (e.g. issuance on sigil-cp or cfssl).
    Post,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KesCipher {
    /// AES-256-GCM under HMAC-SHA256(key, iv) (KES's `AES256`).
    Aes256,
    /// ChaCha20-Poly1305 under HChaCha20(key, iv) (KES's `ChaCha20`).
    Chacha20,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeName {
    /// Maximum throughput: each connection sends its next request when the response is in.
    Closed,
    /// Constant arrival rate (`--rate`), latency from each request's intended send time.
    Open,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Target base URL: `http://host:port[/prefix]` or `https://…` (needs --cacert).
    pub url: String,
    #[arg(long, value_enum, default_value = "ocsp-post")]
    pub scenario: ScenarioName,
    /// Corpus file of OCSP requests (`sigil-load corpus`); for authkeys, a file of (user,
    /// host) pairs (`ssh-pairs.txt` of `sigil-fill-replica --ssh`).
    #[arg(long, conflicts_with = "synthetic")]
    pub corpus: Option<PathBuf>,
    /// fill.json of a `sigil-fill-replica` replica: requests built on the fly.
    #[arg(long)]
    pub synthetic: Option<PathBuf>,
    /// With --synthetic: use only the first N certificates (authkeys: pairs). KES scenarios: N distinct
    /// request bodies (contexts `{"bucket":"bucket/object-<i>"}`), default 1000.
    #[arg(long)]
    pub items: Option<u64>,
    /// KES scenarios: the key's name on the server.
    #[arg(long)]
    pub kes_key: Option<String>,
    /// kes-decrypt: the key's material (32 bytes, base64), as imported into the server
    /// (`PUT /v1/key/import/NAME {"key": ..., "cipher": ...}`); the ciphertexts are made with it.
    #[arg(long, env = "SIGIL_LOAD_KES_KEY_B64", hide_env_values = true)]
    pub kes_key_b64: Option<String>,
    /// kes-decrypt: the key's algorithm.
    #[arg(long, value_enum, default_value = "aes256")]
    pub kes_cipher: KesCipher,
    /// post: the request path (after the URL's prefix).
    #[arg(long, default_value = "/", conflicts_with = "path_file")]
    pub path: String,
    /// post: a file of request paths, one per line (one item each; e.g. revocations, with
    /// `--dist sequential`).
    #[arg(long)]
    pub path_file: Option<PathBuf>,
    /// post: a request body file (repeat for several items, chosen by --dist).
    #[arg(long = "body")]
    pub bodies: Vec<PathBuf>,
    /// post: a request header, `Name: value` (repeat).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// post: the status every answer must have.
    #[arg(long, default_value_t = 200)]
    pub expect_status: u16,
    /// CRL scenario: issuer ids (repeat or comma-separate).
    #[arg(long = "issuer-id", value_delimiter = ',')]
    pub issuer_ids: Vec<String>,
    #[arg(long, value_enum, default_value = "closed")]
    pub mode: ModeName,
    /// Open loop: requests per second, all threads together.
    #[arg(long)]
    pub rate: Option<f64>,
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Load threads (each drives its share of the connections).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Pin thread t to CPU cpus[t % n], e.g. `--cpus 1,2`.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Never sleep in epoll_wait: keeps the server's core from paying for waking the client
    /// (on loopback a response's receive processing, wake-up included, runs on the sender's
    /// core). The load threads' CPUs stay at 100 %.
    #[arg(long)]
    pub busy_poll: bool,
    /// Measurement window: `10s`, `500ms`, `2m` or plain seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before the measurement starts (not measured).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// A request without a complete response after this long fails (`timeout`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Item choice: `uniform`, `zipf`, `zipf:EXPONENT` or `sequential` (each item once per
    /// pass, in order, across all connections: one-shot requests such as revocations).
    #[arg(long, default_value = "uniform")]
    pub dist: Dist,
    /// Random seed (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the JSON report to FILE (`-`: stdout; the table then goes to stderr).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw latency percentiles and throughput per second into an SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Second target: alternate rounds against URL and this one, report the ratios.
    #[arg(long)]
    pub compare: Option<String>,
    /// Rounds (each: a run against the target, then against --compare if given).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// CA certificate(s) (PEM) that https targets are verified against.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM, PKCS#8/PKCS#1/SEC1) for mutual TLS.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// No progress line even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct CorpusArgs {
    /// Output file (`-`: stdout).
    #[arg(long, short, default_value = "-")]
    pub out: PathBuf,
    /// Issuing CA certificate (PEM or DER) of the --cert files.
    #[arg(long, requires = "cert", conflicts_with_all = ["control_plane", "fill"])]
    pub issuer: Option<PathBuf>,
    /// Leaf certificate files or directories (PEM, several per file allowed, or DER).
    #[arg(long, num_args = 1.., requires = "issuer")]
    pub cert: Vec<PathBuf>,
    /// Control plane admin URL: every certificate with a pre-signed response, read from the
    /// replication stream (bearer token SIGIL_REPLICATION_TOKEN).
    #[arg(long, conflicts_with = "fill")]
    pub control_plane: Option<String>,
    #[arg(long, env = "SIGIL_REPLICATION_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// fill.json of a `sigil-fill-replica` replica.
    #[arg(long)]
    pub fill: Option<PathBuf>,
    /// With --fill: the first N certificates (default: all).
    #[arg(long)]
    pub count: Option<u64>,
    /// Issuer ids: only these (--control-plane), or the name written in the header (--issuer).
    #[arg(long = "issuer-id", value_delimiter = ',')]
    pub issuer_ids: Vec<String>,
    /// CertID hash: sha1, sha256 or both.
    #[arg(long, default_value = "sha1")]
    pub hash: String,
}

/// `10s`, `500ms`, `2m`, `1.5` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Duration::from_secs_f64(v * scale)),
        _ => Err(format!("{s:?}: expected e.g. 10s, 500ms, 2m")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
