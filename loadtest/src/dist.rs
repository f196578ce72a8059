//! Which item (corpus entry, issuer, …) the next request is for: uniform, Zipf or in order.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::RngExt;
use rand_distr::{Distribution, Zipf};

/// `--dist`: `uniform`, `zipf` (exponent 1.0), `zipf:S` or `sequential`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Uniform,
    /// Item `i` (0-based) is chosen with probability ∝ 1/(i+1)^s: the first items are hot.
    Zipf(f64),
    /// Items 0, 1, 2, … in order across all connections and threads, wrapping after the last:
    /// each item is used once per pass (requests that can succeed only once, e.g. revoking a
    /// certificate).
    Sequential,
}

impl FromStr for Dist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uniform" => Ok(Dist::Uniform),
            "zipf" => Ok(Dist::Zipf(1.0)),
            "sequential" => Ok(Dist::Sequential),
            _ => match s.strip_prefix("zipf:").map(str::parse::<f64>) {
                Some(Ok(e)) if e.is_finite() && e >= 0.0 => Ok(Dist::Zipf(e)),
                _ => Err(format!(
                    "{s:?}: expected uniform, sequential, zipf or zipf:EXPONENT (≥ 0)"
                )),
            },
        }
    }
}

impl std::fmt::Display for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dist::Uniform => f.write_str("uniform"),
            Dist::Zipf(s) => write!(f, "zipf:{s}"),
            Dist::Sequential => f.write_str("sequential"),
        }
    }
}

/// Draws item indices in `[0, n)`.
#[derive(Debug, Clone)]
pub struct Chooser {
    n: u64,
    zipf: Option<Zipf<f64>>,
    /// `sequential`: the next item, shared by every clone (one per load thread).
    next: Option<Arc<AtomicU64>>,
}

impl Chooser {
    /// `n` must be at least 1.
    pub fn new(dist: Dist, n: u64) -> Result<Self, String> {
        if n == 0 {
            return Err("no items to choose from".into());
        }
        let zipf = match dist {
            Dist::Uniform | Dist::Sequential => None,
            Dist::Zipf(s) => Some(Zipf::new(n as f64, s).map_err(|e| format!("zipf: {e}"))?),
        };
        let next = (dist == Dist::Sequential).then(|| Arc::new(AtomicU64::new(0)));
        Ok(Chooser { n, zipf, next })
    }

    pub fn items(&self) -> u64 {
        self.n
    }

    pub fn choose(&self, rng: &mut SmallRng) -> u64 {
        match (&self.zipf, &self.next) {
            _ if self.n == 1 => 0,
            (_, Some(next)) => next.fetch_add(1, Ordering::Relaxed) % self.n,
            (None, None) => rng.random_range(0..self.n),
            // Zipf samples ranks 1..=n as floats.
            (Some(z), None) => (z.sample(rng) as u64).clamp(1, self.n) - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses() {
        assert_eq!("uniform".parse::<Dist>(), Ok(Dist::Uniform));
        assert_eq!("zipf".parse::<Dist>(), Ok(Dist::Zipf(1.0)));
        assert_eq!("zipf:1.1".parse::<Dist>(), Ok(Dist::Zipf(1.1)));
        assert!("zipf:-1".parse::<Dist>().is_err());
        assert!("zipf:x".parse::<Dist>().is_err());
        assert!("normal".parse::<Dist>().is_err());
        assert_eq!("sequential".parse::<Dist>(), Ok(Dist::Sequential));
        assert_eq!(Dist::Sequential.to_string(), "sequential");
        assert_eq!(Dist::Zipf(1.1).to_string(), "zipf:1.1");
    }

    #[test]
    fn choices_stay_in_bounds() {
        let mut rng = SmallRng::seed_from_u64(7);
        for dist in [
            Dist::Uniform,
            Dist::Zipf(0.0),
            Dist::Zipf(1.1),
            Dist::Zipf(3.0),
            Dist::Sequential,
        ] {
            for n in [1u64, 2, 3, 1000, 10_000_000] {
                let c = Chooser::new(dist, n).unwrap();
                for _ in 0..5_000 {
                    assert!(c.choose(&mut rng) < n, "{dist} n={n}");
                }
            }
        }
        assert!(Chooser::new(Dist::Uniform, 0).is_err());
    }

    #[test]
    fn uniform_covers_and_zipf_skews() {
        let mut rng = SmallRng::seed_from_u64(1);
        let n = 10u64;
        let draws = 100_000;
        let count = |c: &Chooser, rng: &mut SmallRng| {
            let mut hist = vec![0u32; n as usize];
            for _ in 0..draws {
                hist[c.choose(rng) as usize] += 1;
            }
            hist
        };
        let u = count(&Chooser::new(Dist::Uniform, n).unwrap(), &mut rng);
        assert!(u.iter().all(|c| (9_000..11_000).contains(c)), "{u:?}");
        let z = count(&Chooser::new(Dist::Zipf(1.1), n).unwrap(), &mut rng);
        // P(rank 1) = 1 / H(10, 1.1) ≈ 0.36; strictly decreasing in expectation.
        assert!((33_000..39_000).contains(&z[0]), "{z:?}");
        assert!(z[0] > z[1] && z[1] > z[4] && z[4] > z[9], "{z:?}");
    }

    #[test]
    fn sequential_is_in_order_across_clones() {
        let mut rng = SmallRng::seed_from_u64(3);
        let a = Chooser::new(Dist::Sequential, 3).unwrap();
        let b = a.clone();
        let got: Vec<u64> = (0..7)
            .map(|i| if i % 2 == 0 { &a } else { &b }.choose(&mut rng))
            .collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
    }
}
