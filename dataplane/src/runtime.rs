//! Thread-per-core start-up: one monoio runtime per serving thread, pinned to a CPU, each with
//! its own SO_REUSEPORT listener (the kernel spreads connections), its own caches and stats.
//! Nothing mutable is shared between cores on the request path. With `[tls]`, each core also
//! has an SO_REUSEPORT listener on `tls.listen` serving the same routes over TLS
//! ([`crate::tls`]); both listeners share the core's `max_connections_per_core`.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::Duration;

use monoio::net::{ListenerOpts, TcpListener};
use rustls::ServerConfig;
use sigil_storage::Store;

use crate::config::{Driver, IndexConfig, KES_MAX_BODY};
use crate::core::CoreState;
use crate::http::{self, ConnectionSlots, HttpStats, Limits, Plain};
use crate::index::{Index, IndexStatus, IndexTrigger};
use crate::kes::{Forwarder, KesHandler, KesShared, KesStats, Keyring};
use crate::ops::{self, Ops};
use crate::relay::{RelayLog, RelayServer, Subscribed};
use crate::replica::{self, ReplicaDir, ReplicaError, ReplicationStatus};
use crate::routes::Router;
use crate::schema::applied_seq;
use crate::stats::{CoreStats, HTTP_COUNTERS};
use crate::tls::{self, TlsAccept, TlsError};
use crate::updates::{Broadcaster, Update};

/// Why the data plane could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The https listener's files (when not loaded with the configuration).
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("starting the {thread} thread: {source}")]
    Thread {
        thread: String,
        source: std::io::Error,
    },
    #[error("metrics listener {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving core {core} failed to start: {source}")]
    Core { core: usize, source: CoreError },
    #[error("the [kes] section was not loaded (its TLS files and key-encryption key)")]
    KesNotLoaded,
    #[error("the [relay] section was not loaded (its token and TLS files)")]
    RelayNotLoaded,
    #[error("opening the relay's retained log: {0}")]
    RelayLog(sigil_storage::StoreError),
    #[error("relay listener {addr}: {source}")]
    Relay {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving cores exited during start-up")]
    CoresExited,
    #[error("all serving cores exited")]
    Stopped,
}

/// Why one serving core could not start.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("building its runtime: {0}")]
    Runtime(std::io::Error),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// `map_err` for a thread that could not be spawned.
fn thread(name: &str) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Thread {
        thread: name.to_string(),
        source,
    }
}

/// A core's report from start-up: its listeners are bound, or why not.
type Bound = Result<(), (usize, CoreError)>;

/// Everything one core needs, moved into its thread.
struct CoreSetup {
    index: usize,
    cpu: Option<usize>,
    listen: SocketAddr,
    /// The https listener's address and TLS configuration.
    tls: Option<(SocketAddr, Arc<ServerConfig>)>,
    /// The key service's listener, TLS configuration, shared state and first keyring.
    kes: Option<KesSetup>,
    driver: Driver,
    store: Arc<dyn Store>,
    updates: Receiver<Update>,
    stats: Arc<CoreStats>,
    limits: Limits,
    max_connections: usize,
    cache_entries: usize,
    cache_bytes: usize,
    ssh_entries: usize,
    index_config: IndexConfig,
}

/// The key service's part of a core's setup.
#[derive(Clone)]
struct KesSetup {
    listen: SocketAddr,
    tls: Arc<ServerConfig>,
    shared: Arc<KesShared>,
    ring: Arc<Keyring>,
}

/// Runs the data plane until the process is stopped.
///
/// `loaded` is [`crate::setup::load`]'s: the configuration, the replication sources
/// ([`replica::Upstreams::load`] of `cfg.control_plane`, TLS files included; without one the
/// replica is served as it is), the https listener's TLS configuration ([`tls::load`] of
/// `cfg.tls`) and the key service's. `sigil-dp` loads them while checking its configuration so
/// that a bad file exits 64; when `tls` is `None` while `cfg.tls` is set, the files are loaded
/// here, still before any port is bound.
pub fn run(loaded: crate::setup::Loaded) -> Result<(), StartError> {
    let crate::setup::Loaded {
        config: cfg,
        upstream,
        tls,
        kes,
        relay,
    } = loaded;
    if cfg.kes.is_some() && kes.is_none() {
        return Err(StartError::KesNotLoaded);
    }
    if cfg.relay.is_some() && relay.is_none() {
        return Err(StartError::RelayNotLoaded);
    }
    let tls = match (&cfg.tls, tls) {
        (None, _) => None,
        (Some(t), Some(loaded)) => Some((t.listen, loaded)),
        (Some(t), None) => Some((t.listen, tls::load(t)?)),
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if cfg.threads == 0 { cpus } else { cfg.threads };
    let dir = ReplicaDir::new(&cfg.data_dir, cfg.cache.block_cache_mib << 20);
    let (name, store) = dir.open_current()?;
    let applied = applied_seq(store.as_ref());
    let status = Arc::new(ReplicationStatus::resumed_at(applied));
    status.current.set(store.clone());
    if let Err(e) = status.crls.load(store.as_ref()) {
        tracing::warn!(error = %e, "reading the replica's CRL nextUpdates failed");
    }
    tracing::info!(replica = %name, applied, "opened replica");

    let kek = kes.as_ref().map(|k| k.kek.clone());
    let kes = match (&cfg.kes, kes) {
        (Some(k), Some(loaded)) => {
            let ring = Keyring::load(store.as_ref(), loaded.kek.as_ref(), applied);
            tracing::info!(
                kek = loaded.kek.id(),
                keys = ring.key_names().count(),
                unusable = ring.unusable_keys,
                "key service keyring loaded"
            );
            Some(KesSetup {
                listen: k.listen,
                tls: loaded.tls,
                shared: Arc::new(KesShared {
                    admin: k.admin.as_ref().map(|a| a.to_ascii_lowercase()),
                    forwarder: Arc::new(Forwarder::new(
                        upstream.clone(),
                        Duration::from_millis(k.forward_timeout_ms),
                    )),
                    stats: (0..threads)
                        .map(|_| Arc::new(KesStats::default()))
                        .collect(),
                    started: std::time::Instant::now(),
                    audit: Arc::default(),
                    errors: Arc::default(),
                }),
                ring: Arc::new(ring),
            })
        }
        _ => None,
    };
    let (broadcaster, receivers) = Broadcaster::new(threads);
    let index_status = Arc::new(IndexStatus::default());
    let index = if cfg.index.enabled {
        let cores = broadcaster.clone();
        let mut trigger = IndexTrigger::spawn(
            cfg.data_dir.clone(),
            cfg.index.clone(),
            move |index: Arc<Index>| cores.send(&Update::Index(index)),
            index_status.clone(),
        )
        .map_err(thread("sigil-index"))?;
        trigger.request(&store);
        Some(trigger)
    } else {
        None
    };
    let relay = match (&cfg.relay, relay) {
        (Some(r), Some(loaded)) => Some(start_relay(r, loaded, &store, &status)?),
        _ => None,
    };
    let core_stats: Vec<Arc<CoreStats>> = (0..threads)
        .map(|_| Arc::new(CoreStats::default()))
        .collect();
    if let Some(addr) = cfg.metrics.listen {
        let local = ops::spawn(
            addr,
            Ops {
                cores: core_stats.clone(),
                replication: status.clone(),
                index: index_status,
                ready_max_lag_records: cfg.metrics.ready_max_lag_records,
                degraded_window_secs: cfg.metrics.degraded_window_secs,
                control_plane: upstream.is_some(),
                started: sigil_shared::time::now_unix(),
                data_dir: cfg.data_dir.clone(),
                kes: kes.as_ref().map(|k| k.shared.stats.clone()),
                relay: relay.clone(),
            },
        )
        .map_err(|source| StartError::Metrics { addr, source })?;
        tracing::info!(metrics = %local, "ops listener up");
    }

    let limits = Limits {
        max_header_bytes: cfg.http.max_header_bytes,
        max_body_bytes: cfg.http.max_body_bytes,
        idle_timeout: Duration::from_secs(cfg.http.idle_timeout_secs),
        request_timeout: Duration::from_secs(cfg.http.request_timeout_secs),
        write_timeout: Duration::from_secs(cfg.http.write_timeout_secs),
        errors: crate::http::ErrorStyle::Text,
    };
    let (bound_tx, bound_rx) = mpsc::channel::<Bound>();
    let mut handles = Vec::with_capacity(threads);
    for (index, updates) in receivers.into_iter().enumerate() {
        let setup = CoreSetup {
            index,
            cpu: cfg.pin_threads.then_some(index % cpus),
            listen: cfg.listen,
            tls: tls.clone(),
            kes: kes.clone(),
            driver: cfg.driver,
            store: store.clone(),
            updates,
            stats: core_stats[index].clone(),
            limits: limits.clone(),
            max_connections: cfg.max_connections_per_core,
            cache_entries: cfg.cache.max_entries_per_core,
            cache_bytes: cfg.cache.max_bytes_per_core,
            ssh_entries: cfg.cache.ssh_entries_per_core,
            index_config: cfg.index.clone(),
        };
        let tx = bound_tx.clone();
        let name = format!("sigil-core-{index}");
        handles.push(
            std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    if let Err(e) = run_core(setup, &tx) {
                        let _ = tx.send(Err((index, e)));
                    }
                })
                .map_err(thread(&name))?,
        );
    }
    drop(bound_tx);
    for _ in 0..threads {
        match bound_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err((core, source))) => return Err(StartError::Core { core, source }),
            Err(_) => return Err(StartError::CoresExited),
        }
    }
    let driver = match cfg.driver {
        Driver::Auto if monoio::utils::detect_uring() => "io_uring (auto)",
        Driver::Auto => "epoll (auto: io_uring unavailable)",
        Driver::IoUring => "io_uring",
        Driver::Epoll => "epoll",
    };
    let tls_listen = tls
        .as_ref()
        .map_or("off".into(), |(addr, _)| addr.to_string());
    let kes_listen = kes.as_ref().map_or("off".into(), |k| k.listen.to_string());
    tracing::info!(listen = %cfg.listen, %tls_listen, %kes_listen, threads, driver, "sigil-dp serving");

    match upstream {
        Some(upstream) => {
            replica::spawn_subscriber(
                cfg.control_plane.clone(),
                upstream,
                dir,
                (name, store),
                replica::Consumers {
                    broadcaster,
                    index,
                    relay,
                },
                status,
                kek,
            )
            .map_err(thread("sigil-replica"))?;
        }
        None => tracing::warn!("no control plane configured: serving the replica as it is"),
    }
    for h in handles {
        let _ = h.join();
    }
    Err(StartError::Stopped)
}

/// Opens the relay's retained log over the replica and starts its listener
/// ([`crate::relay`]).
fn start_relay(
    r: &crate::config::RelayConfig,
    loaded: crate::setup::RelayLoaded,
    store: &Arc<dyn Store>,
    status: &Arc<ReplicationStatus>,
) -> Result<Arc<RelayLog>, StartError> {
    let log =
        Arc::new(RelayLog::open(store.clone(), r.retain_records).map_err(StartError::RelayLog)?);
    let view = log.view();
    let server = RelayServer {
        log: log.clone(),
        upstream: {
            let status = status.clone();
            Box::new(move || Subscribed {
                synced: status.synced.load(Relaxed),
                upstream_head: status
                    .connected
                    .load(Relaxed)
                    .then(|| status.head.load(Relaxed)),
            })
        },
        token: loaded.token,
        tls: loaded.tls,
        heartbeat: Duration::from_secs(r.heartbeat_secs),
        max_downstreams: r.max_downstreams,
    };
    let tls = server.tls.is_some();
    let addr = r.listen;
    let local =
        crate::relay::spawn(addr, server).map_err(|source| StartError::Relay { addr, source })?;
    tracing::info!(relay = %local, tls, head = view.head, oldest_retained = view.oldest, "relay listener up");
    Ok(log)
}

fn run_core(s: CoreSetup, bound: &mpsc::Sender<Bound>) -> Result<(), CoreError> {
    if let Some(cpu) = s.cpu {
        if let Err(e) = monoio::utils::bind_to_cpu_set([cpu]) {
            tracing::warn!(core = s.index, cpu, error = ?e, "could not pin thread to CPU");
        }
    }
    let entries = 4096;
    // io_uring completions are delivered as task work; by default the kernel interrupts the
    // serving thread with an IPI for each (profiled: ~20 % of a saturated core). Cooperative
    // task running defers that work to the thread's next kernel entry, which the event loop
    // makes anyway. Kernels before 5.19 refuse the flag: fall back to the default ring.
    let coop = || {
        let mut b = io_uring::IoUring::builder();
        b.setup_coop_taskrun().setup_single_issuer();
        b
    };
    macro_rules! uring_runtime {
        ($driver:ty) => {
            match monoio::RuntimeBuilder::<$driver>::new().uring_builder(coop()).with_entries(entries).enable_timer().build() {
                Ok(rt) => Ok(rt),
                Err(e) => {
                    tracing::warn!(error = %e, "io_uring with COOP_TASKRUN unavailable; using default ring flags");
                    monoio::RuntimeBuilder::<$driver>::new().with_entries(entries).enable_timer().build()
                }
            }
        };
    }
    match s.driver {
        Driver::Auto => uring_runtime!(monoio::FusionDriver)
            .map_err(CoreError::Runtime)?
            .block_on(serve_core(s, bound)),
        Driver::IoUring => uring_runtime!(monoio::IoUringDriver)
            .map_err(CoreError::Runtime)?
            .block_on(serve_core(s, bound)),
        Driver::Epoll => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .map_err(CoreError::Runtime)?
            .block_on(serve_core(s, bound)),
    }
}

async fn serve_core(s: CoreSetup, bound: &mpsc::Sender<Bound>) -> Result<(), CoreError> {
    let opts = ListenerOpts::new()
        .reuse_port(true)
        .reuse_addr(true)
        .backlog(4096);
    let bind = |addr: SocketAddr| {
        TcpListener::bind_with_config(addr, &opts)
            .map_err(|source| CoreError::Bind { addr, source })
    };
    let listener = bind(s.listen)?;
    let tls = match s.tls {
        Some((addr, config)) => Some((bind(addr)?, config)),
        None => None,
    };
    let kes = match s.kes {
        Some(k) => Some((bind(k.listen)?, k)),
        None => None,
    };
    let core = Rc::new(
        CoreState::new(
            s.store,
            s.updates,
            s.stats,
            s.cache_entries,
            s.cache_bytes,
            &s.index_config,
        )
        .with_ssh_entries(s.ssh_entries),
    );
    if let Some((_, k)) = &kes {
        core.set_keyring(k.ring.clone());
    }
    let http_stats = Rc::new(HttpStats::default());
    monoio::spawn(housekeeping(core.clone(), http_stats.clone()));
    let router = Rc::new(Router::new(core.clone()));
    let limits = Rc::new(s.limits);
    let slots = Rc::new(ConnectionSlots::new(s.max_connections));
    if let Some((listener, config)) = tls {
        monoio::spawn(http::serve_with(
            listener,
            Rc::new(TlsAccept::new(config)),
            router.clone(),
            limits.clone(),
            http_stats.clone(),
            slots.clone(),
        ));
    }
    if let Some((listener, k)) = kes {
        // KES's limits: request bodies up to 1 MiB.
        let limits = Rc::new(Limits {
            max_body_bytes: KES_MAX_BODY,
            errors: crate::http::ErrorStyle::JsonMessage,
            ..(*limits).clone()
        });
        monoio::spawn(http::serve_with(
            listener,
            Rc::new(TlsAccept::with_peer_certificates(k.tls)),
            Rc::new(KesHandler::new(core.clone(), k.shared, s.index)),
            limits,
            http_stats.clone(),
            slots.clone(),
        ));
    }
    let _ = bound.send(Ok(()));
    http::serve_with(listener, Rc::new(Plain), router, limits, http_stats, slots).await;
    Ok(())
}

/// Every 100 ms: apply replication updates even when idle (so replaced replicas are released
/// and memory follows), and publish the HTTP layer's counters for the metrics thread.
async fn housekeeping(core: Rc<CoreState>, http: Rc<HttpStats>) {
    use std::sync::atomic::Ordering::Relaxed;
    loop {
        monoio::time::sleep(Duration::from_millis(100)).await;
        core.sync();
        let (entries, bytes) = core.cache_len();
        core.stats.set_cache_size(entries, bytes);
        core.stats.set_ssh_cache_entries(core.ssh_cache_entries());
        let vals: [u64; HTTP_COUNTERS.len()] = [
            http.connections_accepted.get(),
            http.connections_open.get(),
            http.connections_rejected.get(),
            http.requests.get(),
            http.bad_requests.get(),
            http.timeouts.get(),
            http.too_large.get(),
            http.tls_handshake_failures.get(),
        ];
        for (slot, v) in core.stats.http.iter().zip(vals) {
            slot.store(v, Relaxed);
        }
    }
}
