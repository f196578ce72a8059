//! `sigil-authkeys`: sshd's `AuthorizedKeysCommand` (and `AuthorizedPrincipalsCommand`) helper
//! for Sigil (docs/SSH.md). Blocking I/O, no runtime: it asks the configured data planes in
//! order (`/api/authkeys`, `/api/authprinc`) within a total deadline, prints what sshd may
//! read, keeps it as the user's last-good answer, and refreshes the cached KRL now and then.
//! When no data plane answers it serves the last-good answer, minus keys that expired since
//! or that the cached KRL revokes; with nothing cached it prints nothing and fails.
//!
//! | module | role |
//! |---|---|
//! | `config` | the TOML file and its checks |
//! | `fetch` | one GET within the deadline (plain or rustls) |
//! | `answer` | what may be printed: line checks, expiry, KRL |
//! | `cache` | last-good answers and the KRL, atomic writes, root-owned |
//! | `log` | syslog (auth) or stderr |

pub mod answer;
pub mod cache;
pub mod config;
pub mod fetch;
pub mod log;

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use sigil_ssh::key::ParsedKey;
use sigil_ssh::krl::Krl;

use cache::Cache;
use config::{AuthkeysConfig, Url};
use log::Logger;

/// What sshd asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `%u [%f]`: the user's authorized keys.
    Keys {
        user: String,
        fingerprint: Option<String>,
    },
    /// `%u %f %s [%i]`: the principals a certificate may log in as.
    Principals {
        user: String,
        fingerprint: String,
        serial: u64,
        key_id: Option<String>,
    },
}

/// What to print and how to exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    /// 0: the answer (possibly empty) is authoritative or from the cache; 1: no answer.
    pub exit: u8,
}

/// Largest answer read for one user.
const MAX_ANSWER: usize = 1 << 20;
/// Largest KRL read.
const MAX_KRL: usize = 64 << 20;

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn now_unix() -> i64 {
    sigil_shared::time::now_unix()
}

/// Answers `mode`.
pub fn run(cfg: &AuthkeysConfig, urls: &[Url], mode: &Mode, log: &Logger) -> Outcome {
    let deadline = Instant::now() + Duration::from_millis(cfg.deadline_ms);
    let tls = match &cfg.ca_file {
        Some(path) => match fetch::tls_config(path) {
            Ok(c) => Some(c),
            Err(e) => {
                log.error(&format!("ca_file: {e}; https data planes are skipped"));
                None
            }
        },
        None => None,
    };
    let cache = Cache::open(&cfg.cache_dir, log);
    let (path, cache_name, user) = match mode {
        // The fingerprint sshd offers is not sent: the data plane would then answer that key
        // only, and the cached last-good answer must hold every key of the user (sshd picks
        // the offered key out of it itself).
        Mode::Keys { user, .. } => (
            format!(
                "/api/authkeys?username={}&host={}",
                query_escape(user),
                query_escape(&cfg.host)
            ),
            format!("keys-{user}"),
            user,
        ),
        Mode::Principals {
            user,
            fingerprint,
            serial,
            ..
        } => (
            format!(
                "/api/authprinc?username={}&host={}&fingerprint={}&serial={serial}",
                query_escape(user),
                query_escape(&cfg.host),
                query_escape(fingerprint)
            ),
            format!("princ-{user}"),
            user,
        ),
    };
    for url in urls {
        match fetch::get(url, &path, tls.as_ref(), deadline, MAX_ANSWER) {
            Ok(body) => {
                let text = String::from_utf8_lossy(&body);
                let (answer, dropped) = match mode {
                    Mode::Keys { .. } => answer::keys(&text, None, now_unix()),
                    Mode::Principals { .. } => answer::principals(&text),
                };
                if dropped > 0 {
                    log.warn(&format!(
                        "{} answered {dropped} line(s) for {user} that are not for sshd; dropped",
                        display(url)
                    ));
                }
                if let Err(e) = cache.store(&cache_name, answer.as_bytes()) {
                    log.warn(&format!("caching the answer for {user}: {e}"));
                }
                refresh_revocations(cfg, url, tls.as_ref(), &cache, deadline, log);
                return Outcome {
                    stdout: answer,
                    exit: 0,
                };
            }
            Err(e) => log.warn(&format!("{}: {e}", display(url))),
        }
    }
    from_cache(&cache, &cache_name, mode, user, log)
}

fn display(url: &Url) -> String {
    format!(
        "{}://{}:{}{}",
        if url.https { "https" } else { "http" },
        url.host,
        url.port,
        url.base_path
    )
}

/// Refreshes the cached KRL and user CA key when older than `krl_refresh_secs` (within what
/// is left of the deadline; a failure keeps the old ones).
fn refresh_revocations(
    cfg: &AuthkeysConfig,
    url: &Url,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    cache: &Cache,
    deadline: Instant,
    log: &Logger,
) {
    let fresh = |name: &str| {
        cache.modified(name).is_some_and(|at| {
            SystemTime::now()
                .duration_since(at)
                .is_ok_and(|age| age.as_secs() < cfg.krl_refresh_secs)
        })
    };
    if !fresh("krl") {
        match fetch::get(url, "/api/krlca", tls, deadline, MAX_KRL) {
            Ok(krl) if Krl::decode(&krl).is_ok() => {
                if let Err(e) = cache.write("krl", &krl) {
                    log.warn(&format!("caching the KRL: {e}"));
                }
            }
            Ok(_) => log.error(&format!(
                "{}: /api/krlca is not a KRL; kept the cached one",
                display(url)
            )),
            Err(e) => log.warn(&format!("{}: refreshing the KRL: {e}", display(url))),
        }
    }
    if !fresh("userca") {
        if let Ok(ca) = fetch::get(url, "/api/userca", tls, deadline, MAX_ANSWER) {
            let text = String::from_utf8_lossy(&ca);
            if text
                .lines()
                .next()
                .is_some_and(|l| ParsedKey::parse(l).is_ok())
            {
                let _ = cache.write("userca", text.as_bytes());
            }
        }
    }
}

/// No data plane answered: the last-good answer, filtered again.
fn from_cache(cache: &Cache, name: &str, mode: &Mode, user: &str, log: &Logger) -> Outcome {
    let Some((cached, _)) = cache.read(name) else {
        log.error(&format!(
            "no data plane answered and nothing is cached for {user}; no keys"
        ));
        return Outcome {
            stdout: String::new(),
            exit: 1,
        };
    };
    let krl = cache.read("krl").and_then(|(b, _)| Krl::decode(&b).ok());
    if krl.is_none() {
        log.warn("no cached KRL: serving the cached answer checked for expiry only");
    }
    let text = String::from_utf8_lossy(&cached);
    let stdout = match mode {
        Mode::Keys { .. } => {
            let (out, dropped) = answer::keys(&text, krl.as_ref(), now_unix());
            log.warn(&format!(
                "no data plane answered: served {} cached key(s) for {user}, dropped {dropped} expired or revoked",
                out.lines().count()
            ));
            out
        }
        Mode::Principals { serial, key_id, .. } => {
            let ca = cache.read("userca").and_then(|(b, _)| {
                ParsedKey::parse(String::from_utf8_lossy(&b).lines().next()?).ok()
            });
            let revoked = match (&krl, &ca) {
                (Some(krl), Some(ca)) => {
                    krl.revokes_cert(&ca.blob, *serial, key_id.as_deref().unwrap_or(""))
                }
                _ => false,
            };
            if revoked {
                log.warn(&format!("no data plane answered; certificate serial {serial} of {user} is in the cached KRL: no principals"));
                String::new()
            } else {
                log.warn(&format!(
                    "no data plane answered: served cached principals for {user}"
                ));
                answer::principals(&text).0
            }
        }
    };
    Outcome { stdout, exit: 0 }
}
