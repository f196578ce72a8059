//! The dashboard's data planes by name (`[[admin.console.data_planes]]`): each one's
//! `/metrics` read over plain HTTP (its ops listener), all at once on their own threads with a
//! short timeout, at most every [`REFRESH`]; request rates are the counters' growth between two
//! reads. A data plane that does not answer shows why; the page never waits longer than the
//! timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::DataPlaneProbe;

/// How long a read may take.
const TIMEOUT: Duration = Duration::from_millis(400);
/// Reads are reused for this long.
const REFRESH: Duration = Duration::from_secs(5);
/// A `/metrics` answer larger than this is refused.
const MAX_BODY: usize = 4 << 20;

/// What one read found: counter totals and gauges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub applied: Option<f64>,
    pub lag_records: Option<f64>,
    pub lag_seconds: Option<f64>,
    pub ocsp: f64,
    pub kes: f64,
    pub ssh: f64,
}

/// One data plane's row.
#[derive(Debug, Clone)]
pub struct DataPlaneRow {
    pub name: String,
    pub result: Result<Sample, String>,
    /// Requests a second since the previous read: OCSP, KES, SSH.
    pub rates: Option<[f64; 3]>,
}

/// Sums a Prometheus text exposition's samples into a [`Sample`].
pub fn parse(text: &str) -> Sample {
    let mut s = Sample::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        match name {
            "sigil_dp_replication_applied_sequence" => s.applied = Some(v),
            "sigil_dp_replication_lag_records" => s.lag_records = Some(v),
            "sigil_dp_replication_lag_seconds" => s.lag_seconds = Some(v),
            "sigil_dp_kes_requests_total" => s.kes += v,
            "sigil_dp_requests_total" if labels.contains("route=\"ssh_") => s.ssh += v,
            "sigil_dp_requests_total" if labels.contains("route=\"ocsp_") => s.ocsp += v,
            _ => {}
        }
    }
    s
}

fn read(url: &str) -> Result<Sample, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.get(url).send().map_err(|e| {
        if e.is_timeout() {
            "no answer within 400 ms".to_string()
        } else if e.is_connect() {
            "connection refused or unreachable".to_string()
        } else {
            "request failed".to_string()
        }
    })?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let body = resp
        .bytes()
        .map_err(|_| "reading the answer failed".to_string())?;
    if body.len() > MAX_BODY {
        return Err("answer too large".into());
    }
    Ok(parse(&String::from_utf8_lossy(&body)))
}

#[derive(Debug, Default)]
struct Last {
    at: Option<Instant>,
    rows: Vec<DataPlaneRow>,
    /// The previous successful read of each data plane, for rates.
    previous: HashMap<String, (Instant, Sample)>,
}

/// The configured data planes and their last reads.
#[derive(Debug)]
pub struct Fleet {
    probes: Vec<DataPlaneProbe>,
    last: Mutex<Last>,
}

impl Fleet {
    pub fn new(probes: Vec<DataPlaneProbe>) -> Self {
        Self {
            probes,
            last: Mutex::new(Last::default()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    /// Every configured data plane's row: read again when the last reads are older than
    /// [`REFRESH`]. Runs on a blocking thread.
    pub fn rows(&self) -> Vec<DataPlaneRow> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.at.is_some_and(|at| at.elapsed() < REFRESH) {
            return last.rows.clone();
        }
        let reads: Vec<(Instant, Result<Sample, String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .probes
                .iter()
                .map(|p| s.spawn(|| (Instant::now(), read(&p.metrics_url))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| (Instant::now(), Err("internal error".into())))
                })
                .collect()
        });
        let mut rows = Vec::with_capacity(reads.len());
        for (p, (at, result)) in self.probes.iter().zip(reads) {
            let rates = match (&result, last.previous.get(&p.name)) {
                (Ok(now), Some((then, before))) => {
                    let secs = at.duration_since(*then).as_secs_f64().max(1e-3);
                    let rate = |a: f64, b: f64| ((a - b).max(0.0)) / secs;
                    Some([
                        rate(now.ocsp, before.ocsp),
                        rate(now.kes, before.kes),
                        rate(now.ssh, before.ssh),
                    ])
                }
                _ => None,
            };
            if let Ok(sample) = &result {
                last.previous.insert(p.name.clone(), (at, sample.clone()));
            }
            rows.push(DataPlaneRow {
                name: p.name.clone(),
                result,
                rates,
            });
        }
        last.at = Some(Instant::now());
        last.rows = rows.clone();
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summed_by_kind() {
        let text = "# HELP x\n\
            sigil_dp_replication_applied_sequence 42\n\
            sigil_dp_replication_lag_seconds 0.5\n\
            sigil_dp_requests_total{route=\"ocsp_post\",status=\"200\"} 10\n\
            sigil_dp_requests_total{route=\"ocsp_get\",status=\"200\"} 5\n\
            sigil_dp_requests_total{route=\"ssh_authkeys\",status=\"200\"} 7\n\
            sigil_dp_requests_total{route=\"crl\",status=\"200\"} 100\n\
            sigil_dp_kes_requests_total{result=\"success\"} 3\n\
            sigil_dp_kes_requests_total{result=\"error\"} 1\n\
            garbage line\n";
        let s = parse(text);
        assert_eq!(s.applied, Some(42.0));
        assert_eq!(s.lag_seconds, Some(0.5));
        assert_eq!((s.ocsp, s.kes, s.ssh), (15.0, 4.0, 7.0));
        assert_eq!(s.lag_records, None);
    }

    #[test]
    fn an_unreachable_data_plane_says_so_within_the_timeout() {
        let fleet = Fleet::new(vec![DataPlaneProbe {
            name: "gone".into(),
            metrics_url: "http://127.0.0.1:9/metrics".into(),
        }]);
        let started = Instant::now();
        let rows = fleet.rows();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(rows[0].result.is_err(), "{rows:?}");
    }
}
