//! `/metrics` of the ops listener: the cores' counters (`stats::render`), then replication,
//! index, degradation and memory figures. Every family has `# HELP` and `# TYPE` and is named
//! in base units (`promtool check metrics` is clean: tests/tests/observability.rs).

use std::sync::atomic::Ordering::Relaxed;

use super::Ops;
use crate::stats::{self, family};

impl Ops {
    pub(super) fn metrics(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        stats::render(&self.cores, &mut out);
        let r = &self.replication;
        let ix = &self.index;
        let d = self.degraded();
        let out_ = &mut out;
        let mut gauge = |name: &str, help: &str, v: i64| family(out_, name, "gauge", help, v);
        gauge(
            "replication_applied_sequence",
            "Newest replication sequence applied to the replica.",
            r.applied.load(Relaxed) as i64,
        );
        gauge(
            "replication_head_sequence",
            "Newest replication sequence the control plane reported.",
            r.head.load(Relaxed) as i64,
        );
        gauge(
            "replication_lag_records",
            "Records between the control plane's head and the replica.",
            r.lag_records() as i64,
        );
        gauge(
            "replication_lag_seconds",
            "Age of the newest applied record while behind the head (0 when caught up).",
            r.lag_seconds(),
        );
        gauge(
            "replication_connected",
            "1 while the replication stream is connected.",
            i64::from(r.connected.load(Relaxed)),
        );
        gauge(
            "replication_synced",
            "1 once the replica holds a complete state (snapshot or caught-up log).",
            i64::from(r.synced.load(Relaxed)),
        );
        gauge(
            "replication_unreachable_seconds",
            "Seconds since the control plane was last reached, while it is not (0 when connected).",
            d.unreachable_secs(),
        );
        gauge(
            "index_entries",
            "OCSP responses in the current index.",
            ix.entries.load(Relaxed) as i64,
        );
        gauge(
            "index_memory_bytes",
            "Memory of the current index's hash table.",
            ix.memory_bytes.load(Relaxed) as i64,
        );
        gauge(
            "index_file_bytes",
            "Size of the current index's memory-mapped file.",
            ix.file_bytes.load(Relaxed) as i64,
        );
        gauge(
            "index_sequence",
            "Applied replication sequence the current index was built at.",
            ix.seq.load(Relaxed) as i64,
        );
        gauge(
            "index_skipped_records",
            "Replica records the last index build could not use (bad key or value).",
            ix.skipped.load(Relaxed) as i64,
        );
        gauge(
            "crls_stale",
            "CRLs held past their nextUpdate.",
            d.crls.stale as i64,
        );
        gauge(
            "crl_stale_seconds",
            "Seconds the stalest CRL held is past its nextUpdate (0 when none is).",
            d.crls.oldest_secs,
        );
        gauge(
            "degraded",
            "1 while the data plane is degraded (see /health/ready's degraded_reasons).",
            i64::from(!d.reasons().is_empty()),
        );
        let counters: [(&str, &str, u64); 5] = [
            (
                "replication_snapshots_total",
                "Snapshots received and switched in.",
                r.snapshots.load(Relaxed),
            ),
            (
                "replication_reconnects_total",
                "Replication stream reconnections.",
                r.reconnects.load(Relaxed),
            ),
            (
                "replication_records_applied_total",
                "Replication log records applied.",
                r.records_applied.load(Relaxed),
            ),
            (
                "index_builds_total",
                "OCSP index builds completed.",
                ix.builds.load(Relaxed),
            ),
            (
                "index_build_failures_total",
                "OCSP index builds that failed.",
                ix.failures.load(Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            family(&mut out, name, "counter", help, v);
        }
        r.upstreams.render(&mut out);
        family(
            &mut out,
            "index_last_build_seconds",
            "gauge",
            "Duration of the last completed index build.",
            ix.last_build_micros.load(Relaxed) as f64 / 1e6,
        );
        if let Some(kes) = &self.kes {
            let [success, error, failure] = crate::kes::kes_totals(kes);
            let name = "sigil_dp_kes_requests_total";
            out.push_str(&format!(
                "# HELP {name} Key service ([kes] listener) requests by result: success, error (4xx), failure (5xx).\n\
                 # TYPE {name} counter\n\
                 {name}{{result=\"success\"}} {success}\n\
                 {name}{{result=\"error\"}} {error}\n\
                 {name}{{result=\"failure\"}} {failure}\n"
            ));
        }
        if let Some(relay) = &self.relay {
            relay_metrics(relay, &mut out);
        }
        self.memory(&mut out);
        out
    }

    /// Resident memory (whole, anonymous and file-backed) and the replica's size on disk.
    fn memory(&self, out: &mut String) {
        if let Some(rss) = resident_bytes() {
            let help = "Resident set size of the process.";
            family(out, "resident_memory_bytes", "gauge", help, rss);
        }
        // Anonymous (heap: caches, index table) and file-backed (mapped index file and
        // binaries: page cache the kernel can reclaim).
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        for (field, name, help) in [
            (
                "RssAnon:",
                "resident_anon_bytes",
                "Anonymous resident memory (heap: caches, index table).",
            ),
            (
                "RssFile:",
                "resident_file_bytes",
                "File-backed resident memory (mapped index file, binaries).",
            ),
        ] {
            if let Some(kib) = status_kib(&status, field) {
                family(out, name, "gauge", help, kib * 1024);
            }
        }
        family(
            out,
            "replica_disk_bytes",
            "gauge",
            "Bytes on disk under the data directory (replicas, index files).",
            dir_size(&self.data_dir),
        );
    }
}

/// Resident set size from /proc/self/statm (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// A `kB` field of the text of /proc/self/status (Linux).
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The relay's families (`[relay]` on; docs/replication.md "Relays").
fn relay_metrics(relay: &crate::relay::RelayLog, out: &mut String) {
    let st = &relay.stats;
    let view = relay.view();
    let families: [(&str, &str, &str, u64); 5] = [
        (
            "relay_downstreams",
            "gauge",
            "Downstream data planes streaming from this relay now.",
            st.downstreams.load(Relaxed),
        ),
        (
            "relay_records_served_total",
            "counter",
            "Replication records the relay sent to downstreams.",
            st.records_served.load(Relaxed),
        ),
        (
            "relay_snapshots_served_total",
            "counter",
            "Snapshots the relay sent to downstreams.",
            st.snapshots_served.load(Relaxed),
        ),
        (
            "relay_behind_disconnects_total",
            "counter",
            "Downstream streams closed because the retained log no longer held their next record.",
            st.behind.load(Relaxed),
        ),
        (
            "relay_oldest_retained_sequence",
            "gauge",
            "Oldest record in the relay's retained log (applied sequence + 1 when empty).",
            view.oldest,
        ),
    ];
    for (name, kind, help, v) in families {
        family(out, name, kind, help, v);
    }
}
