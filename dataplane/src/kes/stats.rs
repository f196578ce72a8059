//! The key service's counters, under KES's metric names (minio/kes `internal/metric`): one
//! [`KesStats`] per core, written only by it, summed when `/v1/metrics` is rendered.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// KES's response-time buckets (seconds, 10 ms to 10 s).
const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 5.0, 10.0];

#[derive(Debug, Default)]
pub struct KesStats {
    success: AtomicU64,
    error: AtomicU64,
    failure: AtomicU64,
    active: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len() + 1],
    time_sum_ns: AtomicU64,
    pub(super) audit_events: AtomicU64,
    pub(super) error_events: AtomicU64,
}

/// One writer per counter: a relaxed load and store.
pub(super) fn inc(c: &AtomicU64, by: u64) {
    c.store(c.load(Relaxed).wrapping_add(by), Relaxed);
}

impl KesStats {
    /// A request answered with `status` after `elapsed`.
    pub fn record(&self, status: u16, elapsed: Duration) {
        inc(
            match status {
                500.. => &self.failure,
                400..=499 => &self.error,
                _ => &self.success,
            },
            1,
        );
        let secs = elapsed.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        inc(&self.buckets[i], 1);
        inc(&self.time_sum_ns, elapsed.as_nanos() as u64);
    }

    /// A request waiting on the control plane started (`true`) or ended.
    pub fn active(&self, started: bool) {
        let v = self.active.load(Relaxed);
        self.active
            .store(if started { v + 1 } else { v.saturating_sub(1) }, Relaxed);
    }
}

/// Requests answered so far, summed over the cores: (success, error (4xx), failure (5xx)),
/// for the ops listener's `sigil_dp_kes_requests_total`.
pub fn totals(cores: &[std::sync::Arc<KesStats>]) -> [u64; 3] {
    let sum = |f: fn(&KesStats) -> &AtomicU64| cores.iter().map(|c| f(c).load(Relaxed)).sum();
    [sum(|c| &c.success), sum(|c| &c.error), sum(|c| &c.failure)]
}

/// Process-wide values shown beside the counters.
#[derive(Debug, Clone, Copy)]
pub struct System {
    pub up_time: Duration,
    pub num_cpu: usize,
    pub num_cpu_used: usize,
    pub num_threads: usize,
}

/// Prometheus text (exposition format 0.0.4) of the summed counters.
pub fn render(cores: &[std::sync::Arc<KesStats>], sys: System) -> String {
    let sum =
        |f: fn(&KesStats) -> &AtomicU64| cores.iter().map(|c| f(c).load(Relaxed)).sum::<u64>();
    let mut out = String::with_capacity(4096);
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "kes_http_request_success",
        "counter",
        "Number of requests that have been served successfully.",
        sum(|c| &c.success).to_string(),
    );
    metric(
        "kes_http_request_error",
        "counter",
        "Number of request that failed due to some error. (HTTP 4xx status code)",
        sum(|c| &c.error).to_string(),
    );
    metric(
        "kes_http_request_failure",
        "counter",
        "Number of request that failed due to some internal failure. (HTTP 5xx status code)",
        sum(|c| &c.failure).to_string(),
    );
    metric(
        "kes_http_request_active",
        "gauge",
        "Number of active requests that are not finished, yet.",
        sum(|c| &c.active).to_string(),
    );
    metric(
        "kes_log_error_events",
        "counter",
        "Number of error log events written to the error log targets.",
        sum(|c| &c.error_events).to_string(),
    );
    metric(
        "kes_log_audit_events",
        "counter",
        "Number of audit log events written to the audit log targets.",
        sum(|c| &c.audit_events).to_string(),
    );
    metric(
        "kes_system_up_time",
        "gauge",
        "The time the server has been up and running in seconds.",
        sys.up_time.as_secs_f64().to_string(),
    );
    metric("kes_system_num_cpu", "gauge", "The number of logical CPUs available on the system. It may be larger than the number of usable CPUs.", sys.num_cpu.to_string());
    metric("kes_system_num_cpu_used", "gauge", "The number of logical CPUs usable by the server. It may be smaller than the number of available CPUs.", sys.num_cpu_used.to_string());
    metric(
        "kes_system_num_threads",
        "gauge",
        "The number of concurrent co-routines/threads that currently exists.",
        sys.num_threads.to_string(),
    );
    let name = "kes_http_response_time";
    let _ = writeln!(out, "# HELP {name} Histogram of request response times spawning from 10ms to 10s.\n# TYPE {name} histogram");
    let mut cumulative = 0u64;
    for (i, b) in BUCKETS.iter().enumerate() {
        cumulative += cores
            .iter()
            .map(|c| c.buckets[i].load(Relaxed))
            .sum::<u64>();
        let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
    }
    cumulative += cores
        .iter()
        .map(|c| c.buckets[BUCKETS.len()].load(Relaxed))
        .sum::<u64>();
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "{name}_sum {}", sum(|c| &c.time_sum_ns) as f64 / 1e9);
    let _ = writeln!(out, "{name}_count {cumulative}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_by_class_and_renders_kes_names() {
        let a = Arc::new(KesStats::default());
        let b = Arc::new(KesStats::default());
        a.record(200, Duration::from_millis(1));
        a.record(404, Duration::from_millis(20));
        b.record(502, Duration::from_secs(20));
        assert_eq!(totals(&[a.clone(), b.clone()]), [1, 1, 1]);
        let text = render(
            &[a, b],
            System {
                up_time: Duration::from_secs(3),
                num_cpu: 2,
                num_cpu_used: 2,
                num_threads: 4,
            },
        );
        assert!(text.contains("kes_http_request_success 1\n"), "{text}");
        assert!(text.contains("kes_http_request_error 1\n"));
        assert!(text.contains("kes_http_request_failure 1\n"));
        assert!(text.contains("kes_http_response_time_bucket{le=\"0.01\"} 1\n"));
        assert!(text.contains("kes_http_response_time_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("kes_http_response_time_count 3\n"));
    }
}
