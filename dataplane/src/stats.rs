//! Per-core counters. Each core writes only its own `CoreStats` (relaxed atomics, no
//! contention); the metrics endpoint sums them. With one writer per counter an increment is a
//! relaxed load and store ([`inc`]), not a locked read-modify-write: readers see every value
//! the writer stored, and no increment can be lost because nobody else writes. Rendered as Prometheus text (exposition
//! format 0.0.4) by hand: the set is small and fixed.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use sigil_shared::ocsp::ResponseStatus;

/// Request routes, for labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    OcspPost = 0,
    OcspGet = 1,
    Crl = 2,
    CaCert = 3,
    Other = 4,
    /// `/api/authkeys` (sshd's `AuthorizedKeysCommand`).
    SshAuthkeys = 5,
    /// `/api/authprinc` (`AuthorizedPrincipalsCommand`).
    SshAuthprinc = 6,
    /// The other SSH lookups: CA keys, the KRL, certificates.
    SshOther = 7,
}

const ROUTES: [&str; 8] = [
    "ocsp_post",
    "ocsp_get",
    "crl",
    "ca_cert",
    "other",
    "ssh_authkeys",
    "ssh_authprinc",
    "ssh_other",
];
const STATUSES: [u16; 8] = [200, 304, 400, 404, 405, 415, 500, 0];
/// Upper bounds of the latency histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
];
/// OCSP response statuses counted.
const OCSP_STATUSES: [&str; 4] = [
    "successful",
    "malformed_request",
    "try_later",
    "unauthorized",
];

#[derive(Debug, Default)]
pub struct CoreStats {
    requests: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
    latency: [[AtomicU64; BUCKETS.len() + 1]; ROUTES.len()],
    latency_sum_ns: [AtomicU64; ROUTES.len()],
    ocsp: [AtomicU64; OCSP_STATUSES.len()],
    /// When this core last answered `tryLater` (Unix seconds; 0 never).
    ocsp_try_later_at: AtomicI64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    index_lookups: AtomicU64,
    cache_entries: AtomicU64,
    cache_bytes: AtomicU64,
    /// SSH users and hosts cached (unknown names included).
    ssh_cache_entries: AtomicU64,
    /// Copies of the HTTP layer's per-core Cell counters, refreshed by the core's timer task.
    pub http: [AtomicU64; HTTP_COUNTERS.len()],
}

/// The HTTP layer's counters (`http::HttpStats`, in this order): name and help text.
pub const HTTP_COUNTERS: [(&str, &str); 8] = [
    (
        "connections_accepted_total",
        "Connections accepted on the public listeners (http, https, KES).",
    ),
    (
        "connections_open",
        "Connections open on the public listeners.",
    ),
    (
        "connections_rejected_total",
        "Connections closed at once because max_connections_per_core were open.",
    ),
    (
        "http_requests_parsed_total",
        "Requests parsed and passed to a handler.",
    ),
    (
        "http_bad_requests_total",
        "Requests answered 400 (malformed or ambiguous framing) or 501 (unknown transfer coding).",
    ),
    (
        "http_timeouts_total",
        "Requests answered 408, and writes abandoned after write_timeout_secs.",
    ),
    (
        "http_too_large_total",
        "Requests answered 413 (body) or 431 (header section).",
    ),
    (
        "tls_handshake_failures_total",
        "TLS connections closed before their handshake completed.",
    ),
];

/// Adds `n` to a counter that only the calling core writes (see the module comment).
fn inc(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

impl CoreStats {
    pub fn record(&self, route: Route, status: u16, elapsed: Duration) {
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len() - 1);
        inc(&self.requests[route as usize][s], 1);
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|x| secs <= *x)
            .unwrap_or(BUCKETS.len());
        inc(&self.latency[route as usize][b], 1);
        inc(
            &self.latency_sum_ns[route as usize],
            elapsed.as_nanos() as u64,
        );
    }

    /// Counts an OCSP answer given at `now` by its status; any status other than successful,
    /// malformedRequest and tryLater is counted as unauthorized. `tryLater` is only ever the
    /// answer for a response at or past its nextUpdate (`crate::ocsp::decide`): its time is
    /// kept for `/health/ready` ([`stale_ocsp`]).
    #[inline]
    pub fn ocsp_response(&self, status: ResponseStatus, now: i64) {
        let idx = match status {
            ResponseStatus::Successful => 0,
            ResponseStatus::MalformedRequest => 1,
            ResponseStatus::TryLater => {
                self.ocsp_try_later_at.store(now, Relaxed);
                2
            }
            _ => 3,
        };
        inc(&self.ocsp[idx], 1);
    }

    pub fn cache_hit(&self) {
        inc(&self.cache_hits, 1);
    }

    pub fn index_lookup(&self) {
        inc(&self.index_lookups, 1);
    }

    pub fn cache_miss(&self) {
        inc(&self.cache_misses, 1);
    }

    pub fn set_cache_size(&self, entries: usize, bytes: usize) {
        self.cache_entries.store(entries as u64, Relaxed);
        self.cache_bytes.store(bytes as u64, Relaxed);
    }

    pub fn set_ssh_cache_entries(&self, entries: usize) {
        self.ssh_cache_entries.store(entries as u64, Relaxed);
    }
}

fn sum<F: Fn(&CoreStats) -> u64>(cores: &[std::sync::Arc<CoreStats>], f: F) -> u64 {
    cores.iter().map(|c| f(c)).sum()
}

/// OCSP requests answered `tryLater` because the response held was past its nextUpdate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StaleOcsp {
    /// How many, since start.
    pub answered: u64,
    /// When the latest was answered (Unix seconds; 0 never).
    pub last_at: i64,
}

/// What the cores counted of [`StaleOcsp`]: a few loads per core, no scan.
pub fn stale_ocsp(cores: &[std::sync::Arc<CoreStats>]) -> StaleOcsp {
    StaleOcsp {
        answered: sum(cores, |c| c.ocsp[2].load(Relaxed)),
        last_at: cores
            .iter()
            .map(|c| c.ocsp_try_later_at.load(Relaxed))
            .max()
            .unwrap_or(0),
    }
}

/// Prometheus text for all cores.
pub fn render(cores: &[std::sync::Arc<CoreStats>], out: &mut String) {
    let _ = writeln!(out, "# HELP sigil_dp_requests_total Requests handled, by route and HTTP status.\n# TYPE sigil_dp_requests_total counter");
    for (r, route) in ROUTES.iter().enumerate() {
        for (s, status) in STATUSES.iter().enumerate() {
            let v = sum(cores, |c| c.requests[r][s].load(Relaxed));
            if v > 0 {
                let status = if *status == 0 {
                    "other".to_string()
                } else {
                    status.to_string()
                };
                let _ = writeln!(
                    out,
                    "sigil_dp_requests_total{{route=\"{route}\",status=\"{status}\"}} {v}"
                );
            }
        }
    }
    let _ = writeln!(out, "# HELP sigil_dp_request_duration_seconds Time to answer a parsed request.\n# TYPE sigil_dp_request_duration_seconds histogram");
    for (r, route) in ROUTES.iter().enumerate() {
        let mut cumulative = 0;
        for (b, le) in BUCKETS.iter().enumerate() {
            cumulative += sum(cores, |c| c.latency[r][b].load(Relaxed));
            let _ = writeln!(out, "sigil_dp_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}");
        }
        cumulative += sum(cores, |c| c.latency[r][BUCKETS.len()].load(Relaxed));
        let _ = writeln!(out, "sigil_dp_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}");
        let total_ns = sum(cores, |c| c.latency_sum_ns[r].load(Relaxed));
        let _ = writeln!(
            out,
            "sigil_dp_request_duration_seconds_sum{{route=\"{route}\"}} {}",
            total_ns as f64 / 1e9
        );
        let _ = writeln!(
            out,
            "sigil_dp_request_duration_seconds_count{{route=\"{route}\"}} {cumulative}"
        );
    }
    let _ = writeln!(out, "# HELP sigil_dp_ocsp_responses_total OCSP answers by OCSPResponseStatus; try_later: the response held was past its nextUpdate (never served).\n# TYPE sigil_dp_ocsp_responses_total counter");
    for (i, name) in OCSP_STATUSES.iter().enumerate() {
        let _ = writeln!(
            out,
            "sigil_dp_ocsp_responses_total{{status=\"{name}\"}} {}",
            sum(cores, |c| c.ocsp[i].load(Relaxed))
        );
    }
    let families: [(&str, &str, &str, u64); 6] = [
        (
            "cache_hits_total",
            "counter",
            "OCSP lookups answered from the per-core response cache.",
            sum(cores, |c| c.cache_hits.load(Relaxed)),
        ),
        (
            "cache_misses_total",
            "counter",
            "OCSP lookups the per-core response cache did not hold.",
            sum(cores, |c| c.cache_misses.load(Relaxed)),
        ),
        (
            "index_lookups_total",
            "counter",
            "OCSP lookups answered from the memory-mapped index (after a cache miss).",
            sum(cores, |c| c.index_lookups.load(Relaxed)),
        ),
        (
            "cache_entries",
            "gauge",
            "Rendered responses in the per-core caches, all cores.",
            sum(cores, |c| c.cache_entries.load(Relaxed)),
        ),
        (
            "cache_bytes",
            "gauge",
            "Bytes of rendered responses in the per-core caches, all cores.",
            sum(cores, |c| c.cache_bytes.load(Relaxed)),
        ),
        (
            "ssh_cache_entries",
            "gauge",
            "SSH users and hosts (unknown names included) in the per-core caches, all cores.",
            sum(cores, |c| c.ssh_cache_entries.load(Relaxed)),
        ),
    ];
    for (name, kind, help, v) in families {
        family(out, name, kind, help, v);
    }
    for (i, (name, help)) in HTTP_COUNTERS.iter().enumerate() {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let v = sum(cores, |c| c.http[i].load(Relaxed));
        family(out, name, kind, help, v);
    }
}

/// One sample-less-labels family `sigil_dp_{name}`: its `# HELP`, `# TYPE` and value.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP sigil_dp_{name} {help}\n# TYPE sigil_dp_{name} {kind}\nsigil_dp_{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn renders_sums_across_cores() {
        let a = Arc::new(CoreStats::default());
        let b = Arc::new(CoreStats::default());
        a.record(Route::OcspPost, 200, Duration::from_micros(30));
        b.record(Route::OcspPost, 200, Duration::from_millis(3));
        b.record(Route::Other, 404, Duration::from_micros(1));
        a.record(Route::SshAuthkeys, 200, Duration::from_micros(20));
        b.record(Route::SshOther, 404, Duration::from_micros(20));
        a.cache_hit();
        a.ocsp_response(ResponseStatus::TryLater, 100);
        b.ocsp_response(ResponseStatus::TryLater, 90);
        b.ocsp_response(ResponseStatus::Successful, 110);
        let cores = [a, b];
        assert_eq!(
            stale_ocsp(&cores),
            StaleOcsp {
                answered: 2,
                last_at: 100
            }
        );
        let mut out = String::new();
        render(&cores, &mut out);
        assert!(out.contains("sigil_dp_ocsp_responses_total{status=\"try_later\"} 2"));
        assert!(
            out.contains("sigil_dp_requests_total{route=\"ocsp_post\",status=\"200\"} 2"),
            "{out}"
        );
        assert!(out.contains(
            "sigil_dp_request_duration_seconds_bucket{route=\"ocsp_post\",le=\"0.00005\"} 1"
        ));
        assert!(out.contains("sigil_dp_request_duration_seconds_count{route=\"ocsp_post\"} 2"));
        assert!(out.contains("sigil_dp_cache_hits_total 1"));
        assert!(out.contains("sigil_dp_requests_total{route=\"ssh_authkeys\",status=\"200\"} 1"));
        assert!(out.contains("sigil_dp_requests_total{route=\"ssh_other\",status=\"404\"} 1"));
        assert!(out.contains(
            "sigil_dp_request_duration_seconds_bucket{route=\"ssh_authkeys\",le=\"0.000025\"} 1"
        ));
        assert!(out.contains("sigil_dp_request_duration_seconds_count{route=\"ssh_authprinc\"} 0"));
    }
}
