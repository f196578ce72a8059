//! What a run measures: latency histograms (HDR, microseconds), counts, errors by kind and
//! HTTP status, per second and in total.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Why a request did not count as a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The TCP connection (or TLS handshake) could not be established.
    Connect,
    /// No complete response within `--timeout`.
    Timeout,
    /// The connection broke (reset, closed mid-response, TLS alert).
    Io,
    /// The response could not be parsed (HTTP framing or the body a scenario expects).
    Parse,
    /// An HTTP status other than the one the scenario expects.
    HttpStatus,
    /// A content type other than the one the scenario expects.
    ContentType,
    /// OCSP `malformedRequest` (1).
    MalformedRequest,
    /// OCSP `internalError` (2).
    InternalError,
    /// OCSP `tryLater` (3).
    TryLater,
    /// OCSP `sigRequired` (5).
    SigRequired,
    /// OCSP `unauthorized` (6).
    Unauthorized,
    /// An OCSP response status outside RFC 6960's list.
    OcspStatus,
    /// Open loop: intended to be sent within the run but never sent before the drain ended.
    Unsent,
    /// A well-formed answer with the wrong content (for example a KES decryption giving back
    /// a data key that none of the scenario's ciphertexts holds).
    Content,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Parse,
        ErrorKind::HttpStatus,
        ErrorKind::ContentType,
        ErrorKind::MalformedRequest,
        ErrorKind::InternalError,
        ErrorKind::TryLater,
        ErrorKind::SigRequired,
        ErrorKind::Unauthorized,
        ErrorKind::OcspStatus,
        ErrorKind::Unsent,
        ErrorKind::Content,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Parse => "parse",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::ContentType => "content_type",
            ErrorKind::MalformedRequest => "malformed_request",
            ErrorKind::InternalError => "internal_error",
            ErrorKind::TryLater => "try_later",
            ErrorKind::SigRequired => "sig_required",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::OcspStatus => "ocsp_status",
            ErrorKind::Unsent => "unsent",
            ErrorKind::Content => "content",
        }
    }

    /// The kind for a non-successful OCSP `responseStatus` code.
    pub const fn from_ocsp_status(code: u8) -> ErrorKind {
        match code {
            1 => ErrorKind::MalformedRequest,
            2 => ErrorKind::InternalError,
            3 => ErrorKind::TryLater,
            5 => ErrorKind::SigRequired,
            6 => ErrorKind::Unauthorized,
            _ => ErrorKind::OcspStatus,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Error counts by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts([u64; ErrorKind::ALL.len()]);

impl ErrorCounts {
    pub fn add(&mut self, kind: ErrorKind, n: u64) {
        self.0[kind.index()] += n;
    }

    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn merge(&mut self, other: &ErrorCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// Non-zero counts by kind name.
    pub fn by_name(&self) -> BTreeMap<&'static str, u64> {
        ErrorKind::ALL
            .iter()
            .filter(|k| self.get(**k) > 0)
            .map(|k| (k.name(), self.get(*k)))
            .collect()
    }
}

/// Largest latency recorded exactly (an hour, in microseconds); larger values are clamped.
const MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Records `ns` nanoseconds (at least 1 µs, at most [`MAX_US`]).
pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record((ns / 1000).clamp(1, MAX_US));
}

/// One second of one worker (or, merged, of the run).
#[derive(Debug, Clone)]
pub struct Second {
    /// Index from the start of the measurement (0-based).
    pub index: u32,
    /// Successful responses completed in this second.
    pub ok: u64,
    pub errors: ErrorCounts,
    pub latency: Histogram<u64>,
}

impl Second {
    pub fn new(index: u32) -> Self {
        Second {
            index,
            ok: 0,
            errors: ErrorCounts::default(),
            latency: new_histogram(),
        }
    }

    pub fn merge(&mut self, other: &Second) {
        self.ok += other.ok;
        self.errors.merge(&other.errors);
        self.latency
            .add(&other.latency)
            .expect("histograms with equal bounds");
    }
}

/// Totals of one worker (or, merged, of the run).
#[derive(Debug, Clone)]
pub struct Totals {
    /// Successful responses to requests of the measurement window (drained ones included).
    pub ok: u64,
    /// Successful responses completed within the window (the throughput numerator).
    pub ok_in_window: u64,
    /// Responses (any outcome) completed within the window.
    pub completed_in_window: u64,
    pub errors: ErrorCounts,
    pub statuses: BTreeMap<u16, u64>,
    pub latency: Histogram<u64>,
    pub bytes: u64,
    /// Open loop: requests whose intended send time fell in the window.
    pub intended: u64,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            ok: 0,
            ok_in_window: 0,
            completed_in_window: 0,
            errors: ErrorCounts::default(),
            statuses: BTreeMap::new(),
            latency: new_histogram(),
            bytes: 0,
            intended: 0,
        }
    }
}

impl Totals {
    pub fn merge(&mut self, o: &Totals) {
        self.ok += o.ok;
        self.ok_in_window += o.ok_in_window;
        self.completed_in_window += o.completed_in_window;
        self.errors.merge(&o.errors);
        for (s, n) in &o.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.latency
            .add(&o.latency)
            .expect("histograms with equal bounds");
        self.bytes += o.bytes;
        self.intended += o.intended;
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles {
                p50: 0,
                p90: 0,
                p99: 0,
                p99_9: 0,
                max: 0,
                mean: 0.0,
            };
        }
        Percentiles {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_unique_and_indexed_in_order() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        let names: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert_eq!(ErrorKind::from_ocsp_status(6), ErrorKind::Unauthorized);
        assert_eq!(ErrorKind::from_ocsp_status(4), ErrorKind::OcspStatus);
    }

    #[test]
    fn counts_and_percentiles() {
        let mut e = ErrorCounts::default();
        e.add(ErrorKind::Timeout, 2);
        e.add(ErrorKind::Unauthorized, 1);
        assert_eq!(e.total(), 3);
        assert_eq!(
            e.by_name().into_iter().collect::<Vec<_>>(),
            vec![("timeout", 2), ("unauthorized", 1)]
        );
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            record_ns(&mut h, us * 1000);
        }
        record_ns(&mut h, 10); // below 1 µs: counted as 1 µs
        let p = Percentiles::of(&h);
        assert!((499..=501).contains(&p.p50), "{p:?}");
        assert!((989..=991).contains(&p.p99), "{p:?}");
        assert_eq!(p.max, 1000);
        assert_eq!(Percentiles::of(&new_histogram()).max, 0);
    }
}
