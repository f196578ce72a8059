//! Results as people and programs read them: the live progress line, the final table, the
//! `--json` report, and the rounds of `--rounds` / `--compare`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::engine::{Mode, RunConfig, RunResult};
use crate::stats::{Percentiles, Second};

/// One run, as written by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub scenario: String,
    pub description: String,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Open loop: the target arrival rate (requests/s).
    pub rate: Option<f64>,
    pub connections: usize,
    pub threads: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub dist: String,
    /// Requests of the window (sent in it, or intended in it for the open loop): ok + errors.
    pub requests: u64,
    pub ok: u64,
    pub errors: Errors,
    /// HTTP statuses of the window's responses.
    pub statuses: BTreeMap<String, u64>,
    /// Successful responses completed within the window, per second.
    pub throughput: f64,
    /// Responses (and failures) completed within the window, per second: the delivered rate.
    pub response_rate: f64,
    /// Open loop: requests whose intended time fell within the window.
    pub intended: Option<u64>,
    pub bytes: u64,
    pub latency_us: Percentiles,
    pub series: Vec<SecondReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    pub total: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
}

/// One second of the window.
#[derive(Debug, Clone, Serialize)]
pub struct SecondReport {
    pub second: u32,
    /// Length of this second within the window (the last one may be shorter).
    pub length_s: f64,
    pub ok: u64,
    pub errors: u64,
    /// Successful responses per second.
    pub throughput: f64,
    pub latency_us: Percentiles,
}

impl SecondReport {
    pub fn of(s: &Second, window_s: f64) -> Self {
        let length_s = (window_s - f64::from(s.index)).clamp(1e-9, 1.0);
        SecondReport {
            second: s.index,
            length_s,
            ok: s.ok,
            errors: s.errors.total(),
            throughput: s.ok as f64 / length_s,
            latency_us: Percentiles::of(&s.latency),
        }
    }
}

impl Report {
    pub fn new(cfg: &RunConfig, scenario: &str, description: String, r: &RunResult) -> Self {
        let t = &r.totals;
        let window_s = r.window.as_secs_f64();
        let (mode, rate) = match cfg.mode {
            Mode::Closed => ("closed", None),
            Mode::Open { rate } => ("open", Some(rate)),
        };
        Report {
            target: cfg.target.url.clone(),
            scenario: scenario.to_owned(),
            description,
            mode,
            rate,
            connections: cfg.connections,
            threads: r.threads,
            duration_s: window_s,
            warmup_s: cfg.warmup.as_secs_f64(),
            dist: cfg.dist.to_string(),
            requests: t.ok + t.errors.total(),
            ok: t.ok,
            errors: Errors {
                total: t.errors.total(),
                by_kind: t.errors.by_name(),
            },
            statuses: t
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            throughput: t.ok_in_window as f64 / window_s,
            response_rate: t.completed_in_window as f64 / window_s,
            intended: rate.map(|_| t.intended),
            bytes: t.bytes,
            latency_us: Percentiles::of(&t.latency),
            series: r
                .seconds
                .iter()
                .map(|s| SecondReport::of(s, window_s))
                .collect(),
        }
    }

    /// The final table.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let rate = self
            .rate
            .map_or_else(String::new, |r| format!(" at {} req/s", group(r as u64)));
        let _ = writeln!(o, "target      {}", self.target);
        let _ = writeln!(o, "scenario    {}", self.description);
        let _ = writeln!(
            o,
            "load        {} loop{rate}, {} connections, {} thread(s), {} items, {:.1} s (+{:.1} s warm-up)",
            self.mode, self.connections, self.threads, self.dist, self.duration_s, self.warmup_s
        );
        let _ = writeln!(
            o,
            "requests    {} ok, {} errors",
            group(self.ok),
            group(self.errors.total)
        );
        let _ = write!(
            o,
            "throughput  {} req/s",
            group(self.throughput.round() as u64)
        );
        if let (Some(rate), Some(intended)) = (self.rate, self.intended) {
            let _ = write!(
                o,
                " (delivered {} responses/s = {:.2}% of the target; {} intended)",
                group(self.response_rate.round() as u64),
                100.0 * self.response_rate / rate,
                group(intended)
            );
        }
        let _ = writeln!(o);
        let l = &self.latency_us;
        let _ = writeln!(
            o,
            "latency     {:>10} {:>10} {:>10} {:>10} {:>10}",
            "p50", "p90", "p99", "p99.9", "max"
        );
        let _ = writeln!(
            o,
            "            {:>10} {:>10} {:>10} {:>10} {:>10}",
            us(l.p50),
            us(l.p90),
            us(l.p99),
            us(l.p99_9),
            us(l.max)
        );
        if self.errors.total > 0 {
            let _ = writeln!(o, "errors by kind");
            for (k, n) in &self.errors.by_kind {
                let _ = writeln!(o, "  {k:<18} {:>12}", group(*n));
            }
        }
        let others: Vec<String> = self
            .statuses
            .iter()
            .filter(|(s, _)| s.as_str() != "200")
            .map(|(s, n)| format!("{s}: {}", group(*n)))
            .collect();
        if !others.is_empty() {
            let _ = writeln!(o, "statuses    {}", others.join(", "));
        }
        o
    }
}

/// The live line for one finished second.
pub fn progress_line(s: &Second, n_seconds: u32) -> String {
    let p = Percentiles::of(&s.latency);
    format!(
        "[{:>3}/{} s] {:>10} req/s  p99 {:>9}  errors {}",
        s.index + 1,
        n_seconds,
        group(s.ok),
        us(p.p99),
        group(s.errors.total())
    )
}

/// A count with thousands separators: `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds in a readable unit.
pub fn us(v: u64) -> String {
    match v {
        0..=9_999 => format!("{v} µs"),
        10_000..=9_999_999 => format!("{:.2} ms", v as f64 / 1e3),
        _ => format!("{:.2} s", v as f64 / 1e6),
    }
}

/// `--rounds` / `--compare`: every run, and the throughput per round.
#[derive(Debug, Clone, Serialize)]
pub struct Rounds {
    pub rounds: Vec<Round>,
    pub median_throughput: f64,
    pub compare_median_throughput: Option<f64>,
    /// Median of the per-round ratios target ÷ compare.
    pub median_ratio: Option<f64>,
    pub runs: Vec<Report>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub round: usize,
    pub throughput: f64,
    pub compare_throughput: Option<f64>,
    pub ratio: Option<f64>,
}

impl Rounds {
    pub fn new(rounds: Vec<Round>, runs: Vec<Report>) -> Self {
        let med = |v: Vec<f64>| (!v.is_empty()).then(|| median(v));
        Rounds {
            median_throughput: median(rounds.iter().map(|r| r.throughput).collect()),
            compare_median_throughput: med(rounds
                .iter()
                .filter_map(|r| r.compare_throughput)
                .collect()),
            median_ratio: med(rounds.iter().filter_map(|r| r.ratio).collect()),
            rounds,
            runs,
        }
    }

    pub fn table(&self, target: &str, compare: Option<&str>) -> String {
        let mut o = String::new();
        match compare {
            Some(c) => {
                let _ = writeln!(o, "A = {target}\nB = {c}");
                let _ = writeln!(
                    o,
                    "| round | A req/s | B req/s | A ÷ B |\n|---:|---:|---:|---:|"
                );
            }
            None => {
                let _ = writeln!(o, "| round | req/s |\n|---:|---:|");
            }
        }
        for r in &self.rounds {
            let a = group(r.throughput.round() as u64);
            match (r.compare_throughput, r.ratio) {
                (Some(b), Some(x)) => {
                    let b = group(b.round() as u64);
                    let _ = writeln!(o, "| {} | {a} | {b} | {x:.3} |", r.round);
                }
                _ => {
                    let _ = writeln!(o, "| {} | {a} |", r.round);
                }
            }
        }
        let m = group(self.median_throughput.round() as u64);
        match (self.compare_median_throughput, self.median_ratio) {
            (Some(b), Some(x)) => {
                let b = group(b.round() as u64);
                let _ = writeln!(o, "| median | {m} | {b} | {x:.3} |");
            }
            _ => {
                let _ = writeln!(o, "| median | {m} |");
            }
        }
        o
    }
}

/// Median (mean of the middle two for an even count); 0 for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(us(412), "412 µs");
        assert_eq!(us(12_345), "12.35 ms");
        assert_eq!(us(12_345_678), "12.35 s");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn rounds_table() {
        let r = Rounds::new(
            vec![
                Round {
                    round: 1,
                    throughput: 100.0,
                    compare_throughput: Some(50.0),
                    ratio: Some(2.0),
                },
                Round {
                    round: 2,
                    throughput: 90.0,
                    compare_throughput: Some(60.0),
                    ratio: Some(1.5),
                },
                Round {
                    round: 3,
                    throughput: 80.0,
                    compare_throughput: Some(80.0),
                    ratio: Some(1.0),
                },
            ],
            vec![],
        );
        assert_eq!(r.median_ratio, Some(1.5));
        assert_eq!(r.median_throughput, 90.0);
        let t = r.table("http://a/", Some("http://b/"));
        assert!(t.contains("| 2 | 90 | 60 | 1.500 |"), "{t}");
        assert!(t.contains("| median | 90 | 60 | 1.500 |"), "{t}");
    }
}
