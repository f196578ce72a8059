//! The load engine: one thread per core (optionally pinned), each driving its share of the
//! connections on non-blocking sockets with its own epoll instance (mio).
//!
//! * **Closed loop**: every connection sends its next request as soon as the previous response
//!   is complete; latency is measured from the actual send time.
//! * **Open loop**: requests are due at fixed times ([`crate::schedule::Schedule`]); a due
//!   request goes out on any idle connection, and waits for one otherwise. Latency is measured
//!   from the *intended* time, so a slow server is charged for the queueing it causes.
//!
//! Timeline: connections are set up, then warm-up (`--warmup`: requests sent, not measured),
//! the measurement window (`--duration`), and a drain of at most `--timeout` for the
//! requests of the window still in flight. Throughput counts responses completed within the
//! window; latency covers the requests sent (closed) or intended (open) within it.

pub mod conn;
mod recorder;
mod worker;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::dist::{Chooser, Dist};
use crate::scenario::Scenario;
use crate::stats::{Second, Totals};
use crate::target::Target;
use crate::tls::TlsError;
use conn::TlsParams;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Maximum throughput: each connection keeps one request in flight.
    Closed,
    /// Constant arrival rate in requests per second (all threads together).
    Open { rate: f64 },
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Closed => f.write_str("closed"),
            Mode::Open { rate } => write!(f, "open at {rate} req/s"),
        }
    }
}

/// Everything a run needs besides the scenario.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: Target,
    pub mode: Mode,
    pub connections: usize,
    pub threads: usize,
    /// CPUs to pin threads to (thread `t` on `cpus[t % len]`); empty: no pinning.
    pub cpus: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    /// Per request (and per connection attempt); also bounds the final drain.
    pub timeout: Duration,
    pub dist: Dist,
    pub seed: u64,
    /// Required for `https://` targets.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Poll for readiness without ever sleeping in `epoll_wait` (the worker's CPU stays at
    /// 100 %). On loopback a response's receive processing runs on the *server's* core, and
    /// when the client sleeps that includes waking it (an inter-processor interrupt, costly
    /// in a VM); a client that never sleeps takes that cost off the server being measured,
    /// as a client on another machine would.
    pub busy_poll: bool,
}

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("starting a worker thread: {0}")]
    Spawn(std::io::Error),
    #[error("worker {0}: {1}")]
    Worker(usize, String),
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub totals: Totals,
    /// One entry per second of the measurement window (the last may be partial).
    pub seconds: Vec<Second>,
    pub window: Duration,
    /// Threads actually used (at most one per connection).
    pub threads: usize,
}

/// What all workers of a run share.
pub(crate) struct Shared {
    pub target: Target,
    pub tls: Option<TlsParams>,
    pub scenario: Arc<dyn Scenario>,
    pub chooser: Chooser,
    pub mode: Mode,
    pub threads: usize,
    pub seed: u64,
    pub warmup_ns: u64,
    pub duration_ns: u64,
    pub timeout_ns: u64,
    pub busy_poll: bool,
    pub base: Instant,
    pub barrier: Barrier,
    pub start_ns: OnceLock<u64>,
}

/// Seconds (rounded up) in the measurement window.
pub fn window_seconds(window: Duration) -> u32 {
    window.as_nanos().div_ceil(1_000_000_000) as u32
}

/// Runs `scenario` as configured; `on_second` sees each second of the window once every
/// thread has finished it.
pub fn run(
    cfg: &RunConfig,
    scenario: Arc<dyn Scenario>,
    on_second: &mut dyn FnMut(&Second),
) -> Result<RunResult, EngineError> {
    if cfg.connections == 0 {
        return Err(EngineError::Config(
            "--connections must be at least 1".into(),
        ));
    }
    if cfg.duration.is_zero() {
        return Err(EngineError::Config("--duration must be positive".into()));
    }
    if let Mode::Open { rate } = cfg.mode {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(EngineError::Config("--rate must be positive".into()));
        }
    }
    let tls = match (cfg.target.tls, &cfg.tls) {
        (false, _) => None,
        (true, None) => return Err(TlsError::NoCa.into()),
        (true, Some(config)) => Some(TlsParams {
            config: config.clone(),
            server_name: crate::tls::server_name(&cfg.target.host)?,
        }),
    };
    let chooser = Chooser::new(cfg.dist, scenario.items()).map_err(EngineError::Config)?;
    let threads = cfg.threads.clamp(1, cfg.connections);
    let shared = Arc::new(Shared {
        target: cfg.target.clone(),
        tls,
        scenario,
        chooser,
        mode: cfg.mode,
        threads,
        seed: cfg.seed,
        warmup_ns: cfg.warmup.as_nanos() as u64,
        duration_ns: cfg.duration.as_nanos() as u64,
        timeout_ns: cfg.timeout.as_nanos().max(1_000_000) as u64,
        busy_poll: cfg.busy_poll,
        base: Instant::now(),
        barrier: Barrier::new(threads + 1),
        start_ns: OnceLock::new(),
    });
    let (tx, rx) = mpsc::channel::<Second>();
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let connections = cfg.connections / threads + usize::from(t < cfg.connections % threads);
        let cpu = (!cfg.cpus.is_empty()).then(|| cfg.cpus[t % cfg.cpus.len()]);
        let (shared, tx) = (shared.clone(), tx.clone());
        let h = std::thread::Builder::new()
            .name(format!("sigil-load-{t}"))
            .spawn(move || worker::run(t, connections, cpu, &shared, tx));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                // The spawned workers wait at the barrier: this process is about to exit.
                return Err(EngineError::Spawn(e));
            }
        }
    }
    drop(tx);
    shared.barrier.wait(); // every worker has set up its connections
    let start = shared.base.elapsed().as_nanos() as u64 + 1_000_000;
    shared.start_ns.set(start).expect("set once");
    shared.barrier.wait();

    let window = cfg.duration;
    let mut seconds = Vec::with_capacity(window_seconds(window) as usize);
    let mut partial: BTreeMap<u32, (usize, Second)> = BTreeMap::new();
    for s in rx {
        let entry = partial
            .entry(s.index)
            .or_insert_with(|| (0, Second::new(s.index)));
        entry.0 += 1;
        entry.1.merge(&s);
        if entry.0 == threads {
            let (_, done) = partial.remove(&s.index).expect("present");
            on_second(&done);
            seconds.push(done);
        }
    }
    let mut totals = Totals::default();
    for (t, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(w)) => totals.merge(&w),
            Ok(Err(e)) => return Err(EngineError::Worker(t, e)),
            Err(_) => return Err(EngineError::Worker(t, "panicked".into())),
        }
    }
    Ok(RunResult {
        totals,
        seconds,
        window,
        threads,
    })
}
