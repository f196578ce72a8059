//! The dashboard's certificate figures — counts by status and certificates issued and revoked
//! per day over the last [`DAYS`] days — from one scan of the certificate table, counted in the
//! background when the console starts, kept for [`FRESH`] (or ten times as long as the scan
//! took, so that recounting costs at most a tenth of a core however big the table) and
//! recounted in the background after that; pages show the figures they have and when they
//! were counted. A small table is simply counted again for every page. With 100,000 certificates a scan takes about as long as a page may
//! (docs/PERFORMANCE.md "Web console pages"), so no page waits for one once the first count
//! is done.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigil_shared::time::now_unix;

use crate::db::CertState;
use crate::services::certificates::{status_of, CertFilter, EXPIRING_WITHIN_SECS};
use crate::services::{ServiceError, Services};

/// Days in the issuance and revocation chart (today included).
pub const DAYS: usize = 14;
/// How long figures are shown without a recount being started.
const FRESH: Duration = Duration::from_secs(15);
/// A table counted faster than this (some 25,000 certificates) is counted again for every
/// page: small installations see exact figures.
pub const SYNC_BELOW: Duration = Duration::from_millis(40);

#[derive(Debug, Clone)]
pub struct CertStats {
    /// When counted (Unix seconds) and how long the scan took.
    pub counted_at: i64,
    pub took: Duration,
    /// `active`, `expiring`, `revoked`, `expired` (`expiring` are also `active`).
    pub by_status: BTreeMap<&'static str, u64>,
    /// Certificates per issuer id.
    pub by_issuer: BTreeMap<String, u64>,
    /// Per UTC day, oldest first; the last entry is today.
    pub issued: [u64; DAYS],
    pub revoked: [u64; DAYS],
}

impl CertStats {
    /// Counts every certificate (one scan).
    pub fn count(s: &Services) -> Result<Self, ServiceError> {
        let started = Instant::now();
        let now = now_unix();
        let today = now.div_euclid(86_400);
        let day = |t: i64| {
            let back = today - t.div_euclid(86_400);
            (0..DAYS as i64)
                .contains(&back)
                .then(|| DAYS - 1 - back as usize)
        };
        let mut st = Self {
            counted_at: now,
            took: Duration::ZERO,
            by_status: ["active", "expiring", "revoked", "expired"]
                .map(|k| (k, 0))
                .into(),
            by_issuer: BTreeMap::new(),
            issued: [0; DAYS],
            revoked: [0; DAYS],
        };
        s.certificates
            .scan_certs(&CertFilter::default(), &mut |c| {
                match st.by_issuer.get_mut(&c.issuer_id) {
                    Some(n) => *n += 1,
                    None => {
                        st.by_issuer.insert(c.issuer_id.clone(), 1);
                    }
                }
                let status = status_of(&c, now);
                *st.by_status.entry(status).or_default() += 1;
                if status == "active" && c.not_after - now <= EXPIRING_WITHIN_SECS {
                    *st.by_status.entry("expiring").or_default() += 1;
                }
                if let Some(d) = day(c.created_at) {
                    st.issued[d] += 1;
                }
                if let CertState::Revoked { time, .. } = c.state {
                    if let Some(d) = day(time) {
                        st.revoked[d] += 1;
                    }
                }
                true
            })?;
        st.took = started.elapsed();
        Ok(st)
    }
}

impl CertStats {
    /// How many certificates match a filter on at most the issuer or the status (`None`
    /// for other filters: unknown without a scan).
    pub fn matching(&self, issuer: Option<&str>, status: Option<&str>) -> Option<u64> {
        match (issuer, status) {
            (None, None) => Some(
                ["active", "revoked", "expired"]
                    .iter()
                    .map(|k| self.by_status.get(k).copied().unwrap_or(0))
                    .sum(),
            ),
            (None, Some(s)) => self.by_status.get(s).copied(),
            (Some(i), None) => Some(self.by_issuer.get(i).copied().unwrap_or(0)),
            (Some(_), Some(_)) => None,
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    stats: Option<(Instant, Arc<CertStats>)>,
    recounting: bool,
}

/// The last figures and whether a recount is under way.
#[derive(Debug, Default)]
pub struct StatsCache {
    slot: Mutex<Slot>,
}

impl StatsCache {
    /// The figures: counted now if there are none (or they are a small table's), else the
    /// last ones — starting a recount in the background when they
    /// are older than [`FRESH`] or ten scans. Runs on a blocking thread.
    pub fn get(self: &Arc<Self>, s: &Arc<Services>) -> Result<Arc<CertStats>, ServiceError> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let Some((at, stats)) = slot.stats.clone().filter(|(_, st)| st.took >= SYNC_BELOW) else {
            drop(slot);
            let fresh = Arc::new(CertStats::count(s)?);
            self.store(fresh.clone());
            return Ok(fresh);
        };
        if at.elapsed() >= FRESH.max(stats.took * 10) && !slot.recounting {
            self.recount(&mut slot, s);
        }
        Ok(stats)
    }

    /// Starts a count in the background (the console's start).
    pub fn warm(self: &Arc<Self>, s: &Arc<Services>) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.stats.is_none() && !slot.recounting {
            self.recount(&mut slot, s);
        }
    }

    fn recount(self: &Arc<Self>, slot: &mut Slot, s: &Arc<Services>) {
        {
            slot.recounting = true;
            let (this, s) = (self.clone(), s.clone());
            let spawned = std::thread::Builder::new()
                .name("console-stats".into())
                .spawn(move || {
                    match CertStats::count(&s) {
                        Ok(fresh) => this.store(Arc::new(fresh)),
                        Err(e) => {
                            tracing::warn!(error = %e, "console: recounting certificates failed")
                        }
                    }
                    this.slot
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .recounting = false;
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "console: no thread for the recount");
                slot.recounting = false;
            }
        }
    }

    fn store(&self, stats: Arc<CertStats>) {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).stats = Some((Instant::now(), stats));
    }
}
